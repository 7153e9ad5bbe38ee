//! A DNS stub resolver (RFC 1035, RFC 1123 6.1.3): a name's IPv4 addresses from the DNS
//! servers the stack was given ([`Stack::set_dns_servers`]) or a DHCP lease named, over a
//! UDP socket of the stack with a random source port and query id (RFC 5452).
//!
//! Each server is asked in turn, twice round, 2 s each; an answer counts only if it comes
//! from the server asked, to the port asked from, with our id and our question. A name
//! that does not exist ends the search at once. Answers that need TCP (truncated) are an
//! error: there is no TCP fallback.

pub mod wire;

use crate::runtime::Stack;
use crate::udp::UdpSocket;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

const PORT: u16 = 53;
/// Servers asked at most (resolv.conf's `MAXNS`).
pub const MAX_SERVERS: usize = 3;
const TRY_TIMEOUT: Duration = Duration::from_secs(2);
const ROUNDS: usize = 2;

impl Stack {
    /// The DNS servers to ask, first the ones set, then those of DHCP leases; at most 3.
    pub fn dns_servers(&self) -> Vec<Ipv4Addr> {
        let mut all = self.configured_dns();
        for d in self.dhcp_status() {
            for s in d.lease.map(|l| l.dns).unwrap_or_default() {
                if !all.contains(&s) {
                    all.push(s);
                }
            }
        }
        all.truncate(MAX_SERVERS);
        all
    }

    /// The IPv4 addresses of `name`: an address literal is itself, `localhost` is
    /// 127.0.0.1, anything else is asked of the DNS servers ([`Stack::dns_servers`]).
    /// Errors: a malformed name (`InvalidInput`), a name that does not exist or has no
    /// IPv4 address (`NotFound`), no server or no answer (`TimedOut`, or the last
    /// server's error).
    pub fn resolve(&self, name: &str) -> io::Result<Vec<Ipv4Addr>> {
        if let Ok(a) = name.parse::<Ipv4Addr>() {
            return Ok(vec![a]);
        }
        if name.eq_ignore_ascii_case("localhost") || name.eq_ignore_ascii_case("localhost.") {
            return Ok(vec![Ipv4Addr::LOCALHOST]);
        }
        let invalid = |e: wire::NameError| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("name '{name}': {e}"))
        };
        let id = crate::runtime::os_random_u64() as u16;
        let query = wire::query(id, name).map_err(invalid)?;
        let servers = self.dns_servers();
        if servers.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name}: no DNS server to ask (none set, none from DHCP)"),
            ));
        }
        let socket = UdpSocket::bind(self, "0.0.0.0:0")?;
        let mut last = None;
        let mut buf = vec![0u8; 1500];
        for _ in 0..ROUNDS {
            for &server in &servers {
                let to = SocketAddr::V4(SocketAddrV4::new(server, PORT));
                if let Err(e) = socket.send_to(&query, to) {
                    last = Some(e);
                    continue;
                }
                match wait_answer(&socket, to, &mut buf, id, name) {
                    Ok(Ok(addrs)) if addrs.is_empty() => {
                        return Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("{name}: no IPv4 address"),
                        ))
                    }
                    Ok(Ok(addrs)) => return Ok(addrs),
                    Ok(Err(wire::AnswerError::NoSuchName)) => {
                        return Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("{name}: name not found ({server})"),
                        ))
                    }
                    Ok(Err(e)) => last = Some(io::Error::other(format!("{server}: {e}"))),
                    Err(e) => last = Some(e),
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::TimedOut)))
            .map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))
    }
}

/// Wait up to 2 s for the answer from `server`; datagrams that are not it are skipped.
fn wait_answer(
    socket: &UdpSocket,
    server: SocketAddr,
    buf: &mut [u8],
    id: u16,
    name: &str,
) -> io::Result<Result<Vec<Ipv4Addr>, wire::AnswerError>> {
    let deadline = Instant::now() + TRY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from {server}"),
            ));
        }
        socket.set_read_timeout(Some(left))?;
        let (n, from) = match socket.recv_from(buf) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{server}: {e}"))),
        };
        if from != server {
            continue;
        }
        match wire::parse_answer(&buf[..n], id, name) {
            Err(wire::AnswerError::NotOurs) => continue,
            r => return Ok(r),
        }
    }
}
