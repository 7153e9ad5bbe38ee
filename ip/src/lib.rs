#![forbid(unsafe_code)]
pub mod checksum;
