//! Two hosts and a TCP connection between them, with no threads, no devices and no clock:
//! each host is the sans-IO IP layer (`ip::IpLayer`) with its transport
//! (`transport::Transport`), and this program carries every frame from one to the other
//! and moves a virtual clock on to the next timer when nothing is in flight. It shows how
//! the layers work on their own: each frame is printed as the shell's `debug` prints it,
//! and the link can lose frames, so that retransmission timers fire.
//!
//!     cargo run -p transport --example two_hosts                  # ARP, handshake, data, close
//!     cargo run -p transport --example two_hosts -- --lose 5,6    # frames 5 and 6 lost
//!     cargo run -p transport --example two_hosts -- --bytes 20000 # more data (several RTTs)

#![forbid(unsafe_code)]

use ip::{IpConfig, IpLayer, Ipv4Cidr};
use netif::trace::{describe, Direction, TraceLayers};
use netif::{DeviceInfo, Duration, Instant, MacAddr, Offload};
use std::net::{Ipv4Addr, SocketAddrV4};
use transport::{SocketHandle, Transport, TransportConfig};

/// One host: its IP layer (interface 0, `eth0`) and its transport.
struct Host {
    name: &'static str,
    ip: IpLayer,
    t: Transport,
}

impl Host {
    fn new(name: &'static str, mac: [u8; 6], addr: Ipv4Addr, now: Instant) -> Host {
        let mut ip = IpLayer::new(IpConfig::default());
        let eth = ip.add_interface(&DeviceInfo {
            name: "eth0".into(),
            mtu: 1500,
            mac: MacAddr(mac),
            loopback: false,
            offload: Offload::NONE,
        });
        let cidr = Ipv4Cidr::new(addr, 24).expect("a /24");
        ip.set_address(eth, Some(cidr), now).expect("an address");
        ip.set_up(eth, true, now).expect("up");
        Host {
            name,
            ip,
            t: Transport::new(TransportConfig::default()),
        }
    }

    /// The earliest moment either layer has timed work (a retransmission, ARP, ...).
    fn poll_at(&self) -> Option<Instant> {
        [self.ip.poll_at(), self.t.poll_at()]
            .into_iter()
            .flatten()
            .min()
    }

    fn poll(&mut self, now: Instant) {
        self.ip.poll(now, &mut self.t);
        self.t.poll(self.ip.tx(), now);
    }
}

/// The link between the hosts: it numbers the frames it carries and loses those asked.
struct Link {
    carried: usize,
    lose: Vec<usize>,
    lost: usize,
}

impl Link {
    /// Carry what each host queued to the other (and what that makes them answer) until
    /// nothing is left in flight. Whether anything was.
    fn carry(&mut self, hosts: &mut [Host; 2], now: Instant) -> bool {
        let mut any = false;
        loop {
            let mut moved = false;
            for from in 0..2 {
                let frames: Vec<_> = hosts[from].ip.take_tx().collect();
                for f in frames {
                    moved = true;
                    self.carried += 1;
                    let lost = self.lose.contains(&self.carried);
                    let at = now.total_millis();
                    let mark = if lost { "  LOST" } else { "" };
                    for line in describe(
                        TraceLayers::ARP | TraceLayers::TCP | TraceLayers::ICMP,
                        hosts[from].name,
                        Direction::Tx,
                        &f.data,
                    ) {
                        println!("{:>4} {at:>7} ms  {line}{mark}", self.carried);
                    }
                    if lost {
                        self.lost += 1;
                        continue;
                    }
                    let to = &mut hosts[1 - from];
                    to.ip.receive_frame(0, &f.data, now, &mut to.t);
                }
            }
            if !moved {
                return any;
            }
            any = true;
        }
    }
}

/// Carry frames and move the clock on, timer by timer, until `done` holds or no timer is
/// due within two minutes.
fn run_until(
    hosts: &mut [Host; 2],
    link: &mut Link,
    now: &mut Instant,
    mut done: impl FnMut(&mut [Host; 2], Instant) -> bool,
) -> bool {
    let limit = *now + Duration::from_secs(120);
    loop {
        link.carry(hosts, *now);
        if done(hosts, *now) {
            return true;
        }
        // What `done` made the hosts send leaves now, before the clock moves.
        if link.carry(hosts, *now) {
            continue;
        }
        let next = hosts.iter().filter_map(Host::poll_at).min();
        match next {
            Some(t) if t <= limit => {
                *now = t.max(*now);
                for h in hosts.iter_mut() {
                    h.poll(*now);
                }
            }
            _ => return false,
        }
    }
}

fn main() {
    let mut lose = Vec::new();
    let mut bytes = 1000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        let parsed = match (a.as_str(), value.as_deref()) {
            ("--lose", Some(v)) => v
                .split(',')
                .map(|n| n.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map(|l| lose = l)
                .is_ok(),
            ("--bytes", Some(v)) => v.parse().map(|n| bytes = n).is_ok(),
            _ => false,
        };
        if !parsed {
            eprintln!("two_hosts: usage: two_hosts [--lose N[,N...]] [--bytes N]");
            std::process::exit(2);
        }
    }

    let mut now = Instant::from_secs(1);
    let (a_ip, b_ip) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let mut hosts = [
        Host::new("a", [2, 0, 0, 0, 0, 1], a_ip, now),
        Host::new("b", [2, 0, 0, 0, 0, 2], b_ip, now),
    ];
    let mut link = Link {
        carried: 0,
        lose,
        lost: 0,
    };

    // b listens on port 7; a connects to it.
    let b = &mut hosts[1];
    let listener = b.t.tcp_open().expect("a socket");
    let at = SocketAddrV4::new(b_ip, 7);
    b.t.tcp_bind(listener, at, b.ip.tx()).expect("bind");
    b.t.tcp_listen(listener, 4, b.ip.tx()).expect("listen");
    let a = &mut hosts[0];
    let client = a.t.tcp_open().expect("a socket");
    a.t.tcp_connect(client, at, a.ip.tx(), now)
        .expect("connect");
    let mut server: Option<SocketHandle> = None;
    let accepted = run_until(&mut hosts, &mut link, &mut now, |h, _| {
        if server.is_none() {
            server = h[1].t.tcp_accept(listener).ok().flatten().map(|(s, _)| s);
        }
        server.is_some() && h[0].t.tcp_connected(client).unwrap_or(false)
    });
    let Some(server) = server.filter(|_| accepted) else {
        eprintln!("two_hosts: no connection within 120 s");
        std::process::exit(1);
    };
    println!("-- connected at {} ms", now.total_millis());

    // a sends `bytes` bytes and closes; b reads them all and the FIN, then closes too.
    let data: Vec<u8> = (0..bytes).map(|i| b'a' + (i % 26) as u8).collect();
    let (mut sent, mut got, mut eof) = (0usize, Vec::new(), false);
    let mut buf = vec![0u8; 64 * 1024];
    let done = run_until(&mut hosts, &mut link, &mut now, |h, now| {
        let [a, b] = h;
        if sent < data.len() {
            sent +=
                a.t.tcp_send(client, &data[sent..], a.ip.tx(), now)
                    .unwrap_or(0);
            if sent == data.len() {
                a.t.close(client, a.ip.tx(), now);
            }
        }
        while !eof {
            match b.t.tcp_recv(server, &mut buf, b.ip.tx(), now) {
                Ok(Some(0)) => eof = true,
                Ok(Some(n)) => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        eof
    });
    if !done {
        eprintln!("two_hosts: the data did not arrive within 120 s");
        std::process::exit(1);
    }
    let b = &mut hosts[1];
    b.t.close(server, b.ip.tx(), now);
    // Until b's FIN is acknowledged: only its listener is left, and a waits in TIME-WAIT.
    run_until(&mut hosts, &mut link, &mut now, |h, _| {
        h[1].t.sockets().iter().all(|s| s.state == "LISTEN")
    });
    for h in &hosts {
        for s in h.t.sockets() {
            let peer = s.remote.map_or("*".to_string(), |r| r.to_string());
            println!("-- {}: {:?} {peer} {}", h.name, s.local, s.state);
        }
    }

    let stats = hosts[0].t.tcp_stats();
    println!(
        "-- {} bytes sent, {} received intact: {}; {} frames carried, {} lost; a retransmitted \
         {} segments ({} timeouts); {} ms of virtual time",
        data.len(),
        got.len(),
        got == data,
        link.carried,
        link.lost,
        stats.retransmits,
        stats.timeouts,
        now.total_millis() - 1000,
    );
    if got != data {
        std::process::exit(1);
    }
}
