//! The socket API of tapip and the runtime that drives the stack.
//!
//! [`Stack`] owns the protocol core (behind one lock), the stack thread that feeds it frames
//! and runs its timers, and the device drivers. Sockets are handles into it; their calls
//! block on a per-socket condition variable until the stack thread wakes them; a [`Poller`]
//! waits on many sockets at once.
#![forbid(unsafe_code)]

pub mod error;
pub mod poller;
pub mod raw;
pub mod runtime;
pub mod socket;
pub mod tcp;
pub mod udp;

pub use error::SocketError;
pub use poller::{Event, Poller};
pub use raw::RawSocket;
pub use runtime::{Core, Stack, StackConfig};
pub use socket::{poll, Domain, Interest, PollFd, SockOpt, SockOptName, Socket, Type};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
