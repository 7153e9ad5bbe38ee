//! The Internet checksum (RFC 1071), shared with the drivers: see [`netif::checksum`].

pub use netif::checksum::{checksum, finish, fold, pseudo_header, sum, update};
