//! smoltcp on a TAP device serving discard (RFC 863) and chargen (RFC 864), the peer that
//! `scripts/bench-vs-smoltcp.sh` measures tapip against: the same services, the same 1 MiB
//! socket buffers, the same kernel client.
//!
//! Usage: `smoltcp-serve TAP MAC IP/PREFIX [none|reno|cubic]` (e.g. `smoltcp-serve tap0
//! 00:34:45:67:89:ab 10.0.0.1/24`). Opens (creates) TAP, leaves its kernel side alone,
//! answers ARP and pings, serves one connection at a time on port 9 and on port 19, and
//! prints `ready` once it listens. Runs until killed. The last argument picks smoltcp's
//! congestion control (its default, `none`, sends whatever the peer's window allows).
//!
//! The loop is smoltcp's usual one: poll the interface, move data in and out of the
//! sockets, sleep in `poll` on the tap until a frame comes or the next timer is due.

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{wait as phy_wait, Medium, TunTapInterface};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpCidr};
use std::os::unix::io::AsRawFd;

/// Each socket's receive and send buffer, as tapip's default `SO_RCVBUF`/`SO_SNDBUF`.
const BUF: usize = 1 << 20;
const DISCARD: u16 = 9;
const CHARGEN: u16 = 19;

fn fail(msg: &str) -> ! {
    eprintln!("smoltcp-serve: {msg}");
    std::process::exit(1)
}

/// RFC 864's pattern: line `i` is the 72 printable characters starting at the `i`-th one
/// (cyclically), then CR LF; after 95 lines it repeats.
fn chargen_pattern() -> Vec<u8> {
    let printable: Vec<u8> = (b' '..=b'~').collect();
    let mut out = Vec::with_capacity(printable.len() * 74);
    for i in 0..printable.len() {
        for j in 0..72 {
            out.push(printable[(i + j) % printable.len()]);
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn parse_mac(s: &str) -> Option<EthernetAddress> {
    let mut b = [0u8; 6];
    let mut parts = s.split(':');
    for x in b.iter_mut() {
        *x = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(EthernetAddress(b))
}

fn listener(
    sockets: &mut SocketSet<'static>,
    port: u16,
    cc: tcp::CongestionControl,
) -> SocketHandle {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; BUF]),
        tcp::SocketBuffer::new(vec![0; BUF]),
    );
    s.set_congestion_control(cc);
    let h = sockets.add(s);
    relisten(sockets.get_mut::<tcp::Socket>(h), port);
    h
}

fn relisten(s: &mut tcp::Socket, port: u16) {
    if !s.is_open() {
        if let Err(e) = s.listen(port) {
            fail(&format!("listen on {port}: {e}"));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !(4..=5).contains(&args.len()) {
        fail("usage: smoltcp-serve TAP MAC IP/PREFIX [none|reno|cubic]");
    }
    let cc = match args.get(4).map_or("none", String::as_str) {
        "none" => tcp::CongestionControl::None,
        "reno" => tcp::CongestionControl::Reno,
        "cubic" => tcp::CongestionControl::Cubic,
        other => fail(&format!("unknown congestion control {other}")),
    };
    let mac = parse_mac(&args[2]).unwrap_or_else(|| fail(&format!("bad MAC {}", args[2])));
    let cidr: IpCidr = args[3]
        .parse()
        .unwrap_or_else(|_| fail(&format!("bad address {}", args[3])));
    let mut device = TunTapInterface::new(&args[1], Medium::Ethernet)
        .unwrap_or_else(|e| fail(&format!("open {}: {e}", args[1])));
    let fd = device.as_raw_fd();

    let mut iface = Interface::new(Config::new(mac.into()), &mut device, Instant::now());
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(cidr)
            .unwrap_or_else(|_| fail("address table full"));
    });
    let mut sockets = SocketSet::new(Vec::new());
    let discard = listener(&mut sockets, DISCARD, cc);
    let chargen = listener(&mut sockets, CHARGEN, cc);
    let pattern = chargen_pattern();
    let mut offset = 0usize;
    println!("ready");

    loop {
        let now = Instant::now();
        iface.poll(now, &mut device, &mut sockets);

        let s = sockets.get_mut::<tcp::Socket>(discard);
        while s.can_recv() {
            if s.recv(|b| (b.len(), ())).is_err() {
                break;
            }
        }
        if s.state() == tcp::State::CloseWait {
            s.close();
        }
        relisten(s, DISCARD);

        let s = sockets.get_mut::<tcp::Socket>(chargen);
        while s.can_recv() {
            if s.recv(|b| (b.len(), ())).is_err() {
                break;
            }
        }
        if s.may_send() && s.state() != tcp::State::CloseWait {
            let _ = s.send(|buf| {
                let mut done = 0;
                while done < buf.len() {
                    let n = (pattern.len() - offset).min(buf.len() - done);
                    buf[done..done + n].copy_from_slice(&pattern[offset..offset + n]);
                    done += n;
                    offset = (offset + n) % pattern.len();
                }
                (done, ())
            });
        }
        if s.state() == tcp::State::CloseWait {
            s.close();
        }
        relisten(s, CHARGEN);

        let delay = iface.poll_delay(Instant::now(), &sockets);
        if let Err(e) = phy_wait(fd, delay) {
            fail(&format!("poll: {e}"));
        }
    }
}
