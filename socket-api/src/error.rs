//! Socket errors: a `thiserror` enum inside, `std::io::Error` with the right kind outside.

use std::io;
use transport::{TransportError, UnknownAlgorithm};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    #[error("socket is closed")]
    Closed,
    #[error("the stack has shut down")]
    StackDown,
    #[error("operation timed out")]
    TimedOut,
    #[error("operation would block")]
    WouldBlock,
    /// A reset after the peer's FIN (CLOSE-WAIT): Linux's EPIPE.
    #[error("broken pipe: the peer reset the connection after closing it")]
    ResetAfterFin,
    /// The socket's receive or send timeout (`SO_RCVTIMEO`, `SO_SNDTIMEO`) passed: Linux
    /// says EAGAIN, which std reports as `WouldBlock`.
    #[error("operation would block: the socket's timeout passed")]
    Elapsed,
    #[error("network is unreachable")]
    NetworkUnreachable,
    #[error("host is unreachable")]
    HostUnreachable,
    #[error("message too long")]
    TooLong,
    #[error("address not available")]
    AddrNotAvailable,
    #[error("too many open sockets")]
    TooManySockets,
    #[error("invalid argument: {0}")]
    InvalidInput(&'static str),
    #[error("no buffer space available")]
    NoBufferSpace,
    #[error("interrupted")]
    Interrupted,
    #[error("address already in use")]
    AddrInUse,
    #[error("connection refused")]
    ConnectionRefused,
    #[error("destination address required")]
    DestinationRequired,
    #[error("permission denied: {0}")]
    PermissionDenied(&'static str),
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    #[error("socket is shut down")]
    ShutDown,
    #[error("connection reset by peer")]
    ConnectionReset,
    #[error("connection aborted")]
    ConnectionAborted,
    #[error("socket is not connected")]
    NotConnected,
    #[error("socket is already connected")]
    AlreadyConnected,
    /// A send on a stream socket that is not connected: EPIPE, as Linux says.
    #[error("broken pipe: the socket is not connected")]
    SendNotConnected,
    #[error("the connection is closed")]
    ConnectionClosed,
    #[error("protocol error: the peer reported a parameter problem")]
    ProtocolError,
    #[error(transparent)]
    UnknownCongestion(#[from] UnknownAlgorithm),
    /// No interface by the address given, or no route to the group to pick one by
    /// (Linux's ENODEV).
    #[error("no such device: no interface has that address, and no route leads to the group")]
    NoDevice,
    /// `bind_device` named an interface the stack does not have (Linux's ENODEV).
    #[error("no such device: {0}")]
    UnknownDevice(String),
}

/// The kinds follow what `std::net` reports for the matching Linux errors; where std has
/// no kind of its own (EBADF for a closed socket, EMSGSIZE, EMFILE) the nearest is used:
/// a closed socket is `NotConnected`, a stopped stack `BrokenPipe`, a datagram too long
/// `InvalidInput`, too many sockets `OutOfMemory`, EPROTO (a parameter problem) `Other`.
impl From<SocketError> for io::Error {
    fn from(e: SocketError) -> io::Error {
        use io::ErrorKind as K;
        let kind = match e {
            SocketError::Closed => K::NotConnected,
            SocketError::StackDown => K::BrokenPipe,
            SocketError::TimedOut => K::TimedOut,
            SocketError::WouldBlock => K::WouldBlock,
            SocketError::Elapsed => K::WouldBlock,
            SocketError::ResetAfterFin => K::BrokenPipe,
            SocketError::NetworkUnreachable => K::NetworkUnreachable,
            SocketError::HostUnreachable => K::HostUnreachable,
            SocketError::TooLong => K::InvalidInput,
            SocketError::AddrNotAvailable => K::AddrNotAvailable,
            SocketError::TooManySockets => K::OutOfMemory,
            SocketError::InvalidInput(_) => K::InvalidInput,
            SocketError::UnknownCongestion(_) => K::InvalidInput,
            SocketError::NoBufferSpace => K::OutOfMemory,
            SocketError::Interrupted => K::Interrupted,
            SocketError::AddrInUse => K::AddrInUse,
            SocketError::ConnectionRefused => K::ConnectionRefused,
            SocketError::DestinationRequired => K::NotConnected,
            SocketError::PermissionDenied(_) => K::PermissionDenied,
            SocketError::Unsupported(_) => K::Unsupported,
            SocketError::ShutDown => K::BrokenPipe,
            SocketError::ConnectionReset => K::ConnectionReset,
            SocketError::ConnectionAborted => K::ConnectionAborted,
            SocketError::NotConnected => K::NotConnected,
            SocketError::AlreadyConnected => K::AlreadyExists,
            SocketError::SendNotConnected => K::BrokenPipe,
            SocketError::ConnectionClosed => K::BrokenPipe,
            SocketError::ProtocolError => K::Other,
            SocketError::NoDevice | SocketError::UnknownDevice(_) => K::Other,
        };
        io::Error::new(kind, e)
    }
}

impl From<TransportError> for SocketError {
    fn from(e: TransportError) -> SocketError {
        match e {
            TransportError::TooManySockets => SocketError::TooManySockets,
            TransportError::BadHandle => SocketError::Closed,
            TransportError::NotSupported => SocketError::InvalidInput("operation not supported"),
            TransportError::BadProtocol => SocketError::InvalidInput("bad protocol"),
            TransportError::Send(s) => s.into(),
            TransportError::AddrInUse => SocketError::AddrInUse,
            TransportError::AddrNotAvailable => SocketError::AddrNotAvailable,
            TransportError::NoPorts => SocketError::AddrNotAvailable,
            TransportError::AlreadyBound => SocketError::InvalidInput("socket is already bound"),
            TransportError::NotConnected => SocketError::NotConnected,
            TransportError::DestinationRequired => SocketError::DestinationRequired,
            TransportError::ConnectionClosed => SocketError::ConnectionClosed,
            TransportError::BroadcastDenied => {
                SocketError::PermissionDenied("broadcast needs SO_BROADCAST")
            }
            TransportError::Invalid(why) => SocketError::InvalidInput(why),
            TransportError::ShutDown => SocketError::ShutDown,
            TransportError::Soft(e) => e.into(),
            TransportError::Tcp(e) => e.into(),
            TransportError::InProgress => SocketError::WouldBlock,
            TransportError::AlreadyConnected => SocketError::AlreadyConnected,
            TransportError::SendNotConnected => SocketError::SendNotConnected,
            TransportError::TooManyGroups => SocketError::NoBufferSpace,
            TransportError::Group(g) => match g {
                ip::GroupError::NotMulticast(_) => {
                    SocketError::InvalidInput("not a multicast address")
                }
                ip::GroupError::NoInterface => SocketError::NoDevice,
                ip::GroupError::TooMany => SocketError::NoBufferSpace,
                ip::GroupError::NotMember(_) => SocketError::AddrNotAvailable,
            },
        }
    }
}

impl From<transport::SoftError> for SocketError {
    fn from(e: transport::SoftError) -> SocketError {
        match e {
            transport::SoftError::ConnectionRefused => SocketError::ConnectionRefused,
            transport::SoftError::HostUnreachable => SocketError::HostUnreachable,
            transport::SoftError::NetworkUnreachable => SocketError::NetworkUnreachable,
            transport::SoftError::ProtocolError => SocketError::ProtocolError,
            transport::SoftError::MessageTooLong => SocketError::TooLong,
        }
    }
}

impl From<transport::TcpError> for SocketError {
    fn from(e: transport::TcpError) -> SocketError {
        use transport::TcpError as T;
        match e {
            T::Refused => SocketError::ConnectionRefused,
            T::Reset => SocketError::ConnectionReset,
            T::TimedOut => SocketError::TimedOut,
            T::HostUnreachable => SocketError::HostUnreachable,
            T::NetUnreachable => SocketError::NetworkUnreachable,
            T::Aborted => SocketError::ConnectionAborted,
            T::ProtocolError => SocketError::ProtocolError,
            T::ResetAfterFin => SocketError::ResetAfterFin,
        }
    }
}

impl From<ip::SendError> for SocketError {
    fn from(e: ip::SendError) -> SocketError {
        match e {
            ip::SendError::NoRoute => SocketError::NetworkUnreachable,
            ip::SendError::TooLong => SocketError::TooLong,
            ip::SendError::BadSource => SocketError::AddrNotAvailable,
            ip::SendError::Broadcast => SocketError::InvalidInput("broadcast not permitted"),
            ip::SendError::Unspecified => SocketError::InvalidInput("0.0.0.0 is not a destination"),
            ip::SendError::QueueFull | ip::SendError::ArpQueueFull => SocketError::NoBufferSpace,
            ip::SendError::ZeroTtl => SocketError::InvalidInput("TTL must be 1 to 255"),
            ip::SendError::BadHeader => {
                SocketError::InvalidInput("the IP header given is malformed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn errors_map_to_the_io_kinds_std_uses() {
        let kind = |e: SocketError| io::Error::from(e).kind();
        assert_eq!(kind(SocketError::TimedOut), ErrorKind::TimedOut);
        assert_eq!(kind(SocketError::WouldBlock), ErrorKind::WouldBlock);
        assert_eq!(
            kind(SocketError::HostUnreachable),
            ErrorKind::HostUnreachable
        );
        assert_eq!(
            kind(SocketError::NetworkUnreachable),
            ErrorKind::NetworkUnreachable
        );
        assert_eq!(
            kind(SocketError::AddrNotAvailable),
            ErrorKind::AddrNotAvailable
        );
        assert_eq!(
            kind(SocketError::InvalidInput("x")),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(SocketError::from(TransportError::Send(
                ip::SendError::NoRoute
            ))),
            ErrorKind::NetworkUnreachable
        );
        assert_eq!(
            kind(TransportError::BadHandle.into()),
            ErrorKind::NotConnected
        );
        // The message survives the conversion.
        let e = io::Error::from(SocketError::TooLong);
        assert_eq!(e.to_string(), "message too long");
    }
}
