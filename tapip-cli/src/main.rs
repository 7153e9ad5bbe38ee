//! `tapip`: a user-mode TCP/IP stack on a Linux TAP device, with an interactive shell.
#![forbid(unsafe_code)]

// First: its macros serve every other module.
#[macro_use]
mod out;
mod cmd;
// `get` and `serve http` use it; a few of its items (`serve_connection`, the stats
// snapshot, `Response::header`) only its tests do.
#[allow(dead_code)]
mod http;
mod opts;
mod setup;
mod shell;

use clap::Parser;

/// A user-mode TCP/IP stack on a TAP device, and a shell to drive it.
///
/// The defaults reproduce the C tapip's TOP2: the stack is 10.0.0.1/24 on tap0 and the
/// kernel side of the tap is brought up as 10.0.0.2/24.
#[derive(Parser, Debug)]
#[command(name = "tapip", version)]
pub struct Cli {
    /// TAP device to use (created if it does not exist).
    #[arg(long, default_value = "tap0", value_name = "NAME")]
    pub tap: String,
    /// The stack's address on the tap (without /PREFIX: /24, the default's prefix, as
    /// `ifconfig IF IP` keeps the current one).
    #[arg(long, default_value = "10.0.0.1/24", value_name = "IP/PREFIX", value_parser = parse_host_cidr)]
    pub addr: ip::Ipv4Cidr,
    /// The stack's MAC address on the tap.
    #[arg(long, default_value = "00:34:45:67:89:ab", value_name = "MAC")]
    pub mac: netif::MacAddr,
    /// Default gateway (adds the route 0.0.0.0/0 via IP).
    #[arg(long, value_name = "IP")]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// Take the tap's address, network, default gateway and MTU from a DHCP server on the
    /// link (RFC 2131) instead of --addr and --gateway; the shell starts once the lease
    /// comes (at most --dhcp-wait), and the lease is renewed at its time and given back
    /// at the end.
    #[arg(long, conflicts_with_all = ["addr", "gateway"])]
    pub dhcp: bool,
    /// A DNS server for host names (`get`, `ping`, `host`); up to three, asked in order
    /// before those a DHCP lease names.
    #[arg(long, value_name = "IP")]
    pub dns: Vec<std::net::Ipv4Addr>,
    /// A domain host names are completed with: `web` is asked as `web.DOMAIN`, then
    /// `web`; `web.eng` as itself, then `web.eng.DOMAIN` (glibc's `ndots:1`); a name
    /// ending in a dot is never completed. Up to six, before those a DHCP lease names.
    #[arg(long, value_name = "DOMAIN")]
    pub search: Vec<String>,
    /// How long to wait for the DHCP lease before the shell starts anyway (the client
    /// keeps asking), in seconds, fractions allowed (0 to 1000000) [default: 10].
    #[arg(long, value_name = "SECS", requires = "dhcp", value_parser = parse_time_wait, allow_hyphen_values = true)]
    pub dhcp_wait: Option<std::time::Duration>,
    /// Address given to the kernel side of the tap (TOP2); not the stack's (without
    /// /PREFIX: /24).
    #[arg(
        long,
        default_value = "10.0.0.2/24",
        value_name = "IP/PREFIX",
        conflicts_with = "no_host_config",
        value_parser = parse_host_cidr
    )]
    pub host_addr: ip::Ipv4Cidr,
    /// Leave the kernel side of the tap alone (TOP1: the tap is bridged to a LAN).
    #[arg(long)]
    pub no_host_config: bool,
    /// Act as a router: forward datagrams addressed to other hosts (with ICMP redirects,
    /// time exceeded and unreachables), as the C tapip does. Off by default, as RFC 1122
    /// asks of a host.
    #[arg(long)]
    pub forward: bool,
    /// Plain 1514-byte frames: do not ask the kernel for checksum and segmentation offloads
    /// (IFF_VNET_HDR + TUNSETOFFLOAD), which are on by default.
    #[arg(long)]
    pub no_offload: bool,
    /// One write system call per frame on the tap: do not use io_uring, which writes many
    /// plain frames per call (on by default for plain frames, i.e. with --no-offload,
    /// where the kernel allows it; offloaded frames are written one per call).
    #[arg(long)]
    pub no_uring: bool,
    /// Read plain frames through io_uring too, many per call (by default each is read with
    /// one `read`, which cost less where it was measured; BENCHMARKS.md). With
    /// --no-offload only.
    #[arg(long, conflicts_with = "no_uring")]
    pub uring_rx: bool,
    /// Record every frame of the tap to this pcap file from the start.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,
    /// Impair frames arriving on the tap, e.g. loss=0.1,dup=0.01,reorder=0.01,delay=5ms,corrupt=0.001,seed=1
    /// (add dir=both to impair the frames sent alike)
    #[arg(long, value_name = "SPEC")]
    pub fault: Option<netif::fault::FaultConfig>,
    /// How long a TCP connection closed by this side stays in TIME-WAIT (2 MSL), in
    /// seconds, fractions allowed (0 to 1000000) [default: 60, as Linux].
    #[arg(long, value_name = "SECS", value_parser = parse_time_wait, allow_hyphen_values = true)]
    pub tcp_time_wait: Option<std::time::Duration>,
    /// Congestion control of TCP connections: cubic (RFC 9438, the default, as Linux) or
    /// reno (NewReno). A program can change its sockets' with TCP_CONGESTION.
    #[arg(long, value_name = "ALG", value_parser = parse_congestion)]
    pub tcp_congestion: Option<transport::CongestionAlgorithm>,
    /// Explicit Congestion Notification (RFC 3168) of TCP: accept (the default, as
    /// Linux's tcp_ecn 2: used when a peer's SYN asks), on (asked on connections the
    /// stack opens too) or off.
    #[arg(long, value_name = "MODE", value_parser = parse_ecn)]
    pub tcp_ecn: Option<transport::EcnMode>,
    /// HyStart++ (RFC 9406): on (the default) ends TCP's first slow start when the
    /// round-trip time rises, before the queue it fills overflows; off leaves it to the
    /// first loss.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub tcp_hystart: Option<bool>,
    /// How much all TCP connections' buffers may allocate together before TCP is under
    /// memory pressure (Linux's tcp_mem): then their buffers stop growing and data that
    /// does not fit is dropped, to come again. Bytes, or with K, M or G [default: 256M].
    #[arg(long, value_name = "SIZE", value_parser = parse_tcp_mem, allow_hyphen_values = true)]
    pub tcp_mem: Option<usize>,
    /// At exit, how long to wait for TCP connections to deliver their queued data and
    /// FIN, in seconds, fractions allowed (0 to 1000000) [default: 10]. A second SIGINT or
    /// SIGTERM ends the wait at once.
    #[arg(long, value_name = "SECS", value_parser = parse_time_wait, allow_hyphen_values = true)]
    pub linger: Option<std::time::Duration>,
    /// Run these commands (separated by ';', quoted as in a Unix shell) and exit.
    #[arg(short = 'c', value_name = "'CMD; CMD ...'")]
    pub commands: Option<String>,
    /// Run the commands in FILE (one per line) and exit.
    #[arg(long, value_name = "FILE")]
    pub script: Option<std::path::PathBuf>,
    /// Stop at the first command that fails (with -c, --script or piped input), as `sh -e`.
    #[arg(short = 'e', long)]
    pub errexit: bool,
}

/// The prefix of `--addr` and `--host-addr` given without one: the defaults' (10.0.0.1/24).
const DEFAULT_PREFIX: u8 = 24;

/// `--addr`, `--host-addr`: a host's address in its network, `IP/PREFIX` or `IP` (then
/// `/24`); neither the network's own address nor its broadcast address.
fn parse_host_cidr(s: &str) -> Result<ip::Ipv4Cidr, String> {
    ip::Ipv4Cidr::parse_host(s, DEFAULT_PREFIX).map_err(|e| match e {
        ip::CidrError::BadAddress(_) if !s.contains('/') => {
            "expected IP/PREFIX, e.g. 10.0.0.1/24".to_string()
        }
        e => e.to_string(),
    })
}

/// Why `a` cannot be the address of either end of the tap, if it cannot: no host's, or
/// one the stack takes no datagram to or from on a link: a loopback address (kept to lo,
/// RFC 1122 3.2.1.3 (g)) or a source it drops (0.0.0.0/8, 240.0.0.0/4:
/// `ip::ipv4::is_martian_source`).
fn not_on_a_link(a: std::net::Ipv4Addr) -> Option<&'static str> {
    if a.is_multicast() || a.is_broadcast() || a.is_unspecified() {
        Some("not a unicast address")
    } else if a.is_loopback() {
        Some("a loopback address (127.0.0.0/8 is lo's)")
    } else if ip::ipv4::is_martian_source(a) {
        Some("a reserved address (the stack drops datagrams from 0.0.0.0/8 and 240.0.0.0/4)")
    } else {
        None
    }
}

/// What the parser cannot check alone: the kernel side and the stack need addresses of
/// their own.
fn check(cli: &Cli) -> Result<(), String> {
    if cli.dns.len() > socket_api::dns::MAX_SERVERS {
        return Err(format!(
            "--dns: {} servers given, at most {} are asked",
            cli.dns.len(),
            socket_api::dns::MAX_SERVERS
        ));
    }
    // A server is one host (found by a review: 0.0.0.0, a group or a broadcast address
    // was taken as one).
    if let Some(d) = cli
        .dns
        .iter()
        .find(|d| d.is_unspecified() || d.is_multicast() || d.is_broadcast())
    {
        return Err(format!("--dns {d}: not a host's address"));
    }
    // Before the TAP is made or the host configured (found by a review).
    if !cli.mac.is_unicast() {
        return Err(format!("--mac {}: not a unicast MAC address", cli.mac));
    }
    if !cli.no_host_config && !cli.dhcp && cli.host_addr.addr() == cli.addr.addr() {
        return Err(format!(
            "--host-addr {}: the stack's own address (--addr): give the kernel side another",
            cli.host_addr
        ));
    }
    // What the stack (or the kernel, for the kernel side) would refuse once the TAP is
    // made and configured, or could not talk from: said now, with the other bad values
    // (found by a review).
    let unicast = |a: std::net::Ipv4Addr| not_on_a_link(a).is_none();
    if let Some(why) = not_on_a_link(cli.addr.addr()).filter(|_| !cli.dhcp) {
        return Err(format!("--addr {}: {why}", cli.addr));
    }
    if let Some(why) = not_on_a_link(cli.host_addr.addr()).filter(|_| !cli.no_host_config) {
        return Err(format!("--host-addr {}: {why}", cli.host_addr));
    }
    // TOP2: the two ends of the tap talk on one link, each needs the other on its
    // network (the kernel would send its answers to the stack's address by its own
    // routes, out of the namespace, say).
    if !cli.no_host_config && !cli.dhcp {
        let (stack, host) = (cli.addr, cli.host_addr);
        if !stack.contains(host.addr()) {
            return Err(format!(
                "--host-addr {host}: not on the stack's network {} (--addr): the stack could not reach the kernel side",
                stack.network()
            ));
        }
        if !host.contains(stack.addr()) {
            return Err(format!(
                "--addr {stack}: not on the kernel side's network {} (--host-addr): the kernel could not reach the stack",
                host.network()
            ));
        }
        // On it as its broadcast address is no better: each side takes that for a
        // broadcast (the kernel refuses a TCP connection to it).
        if stack.broadcast() == Some(host.addr()) {
            return Err(format!(
                "--host-addr {host}: the broadcast address of the stack's network {} (--addr)",
                stack.network()
            ));
        }
        if host.broadcast() == Some(stack.addr()) {
            return Err(format!(
                "--addr {stack}: the broadcast address of the kernel side's network {} (--host-addr)",
                host.network()
            ));
        }
    }
    if let Some(gw) = cli.gateway {
        let net = cli.addr;
        let edge = net.prefix() < 31 && (gw == net.network().addr() || net.broadcast() == Some(gw));
        let why = if gw == net.addr() || gw.is_loopback() {
            Some("the stack's own address".to_string())
        } else if !net.contains(gw) {
            Some(format!("not on the stack's network {}", net.network()))
        } else if edge || !unicast(gw) {
            Some("not a host's address".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            return Err(format!("--gateway {gw}: {why}"));
        }
    }
    if cli.search.len() > socket_api::dns::MAX_SEARCH {
        return Err(format!(
            "--search: {} domains given, at most {}",
            cli.search.len(),
            socket_api::dns::MAX_SEARCH
        ));
    }
    for d in &cli.search {
        if !socket_api::dns::wire::valid_name(d.strip_suffix('.').unwrap_or(d)) {
            return Err(format!(
                "--search '{}': not a valid domain name",
                d.escape_debug()
            ));
        }
    }
    Ok(())
}

/// Clap's error as the one line this program prints: what it says up to its usage note,
/// its lines joined, a value it quotes shown with its control characters escaped (the
/// first line alone dropped what was missing, and a value with a newline cut the reason
/// off; found by a review).
fn one_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let mut msg = e.to_string();
    if let Some(ContextValue::String(v)) = e.get(ContextKind::InvalidValue) {
        if v.contains(char::is_control) {
            msg = msg.replace(v.as_str(), &v.escape_debug().to_string());
        }
    }
    let body = msg.split("\n\n").next().unwrap_or_default();
    let joined: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    joined.join(" ").trim_start_matches("error: ").to_string()
}

/// `--tcp-time-wait`, `--linger`: seconds, fractions allowed.
fn parse_time_wait(s: &str) -> Result<std::time::Duration, String> {
    opts::seconds_from(s, std::time::Duration::ZERO, "number of seconds")
}

/// `--tcp-mem`: a size, at least 1 MiB.
fn parse_tcp_mem(s: &str) -> Result<usize, String> {
    opts::bytes_from(s, 1 << 20)
}

/// `--tcp-congestion`: an algorithm's name.
fn parse_congestion(s: &str) -> Result<transport::CongestionAlgorithm, String> {
    s.parse()
        .map_err(|e: transport::UnknownAlgorithm| e.to_string())
}

fn parse_ecn(s: &str) -> Result<transport::EcnMode, String> {
    match s {
        "on" => Ok(transport::EcnMode::On),
        "accept" => Ok(transport::EcnMode::Accept),
        "off" => Ok(transport::EcnMode::Off),
        _ => Err(format!("unknown ECN mode '{s}' (on, accept or off)")),
    }
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("'{s}' is neither on nor off")),
    }
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                // A failed write is an error, as for every other output (clap's `exit`
                // ignored it: `tapip --help > /dev/full` said nothing and exited 0).
                use std::io::Write;
                if let Err(w) = e.print().and_then(|()| std::io::stdout().flush()) {
                    errln!("tapip: cannot write to stdout: {w}");
                    std::process::exit(1);
                }
                std::process::exit(0);
            }
            // One line, like every other error of this program.
            errln!("tapip: {} (try --help)", cmd::shorten(&one_line(&e)));
            std::process::exit(2);
        }
    };
    if let Err(e) = check(&cli) {
        errln!("tapip: {e}");
        std::process::exit(2);
    }
    // Before anything is set up, as a bad option (it is one line too).
    let script = match cli.script.as_deref().map(shell::read_script).transpose() {
        Ok(lines) => lines.unwrap_or_default(),
        Err(e) => {
            errln!("tapip: {e}");
            std::process::exit(1);
        }
    };
    std::process::exit(shell::main(cli, script));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        let cli = Cli::try_parse_from(std::iter::once("tapip").chain(args.iter().copied()))
            .map_err(|e| one_line(&e))?;
        check(&cli)?;
        Ok(cli)
    }

    /// A negative number is a bad value, not an unknown option; errors name the range.
    #[test]
    fn durations_name_their_range() {
        for opt in ["--linger", "--tcp-time-wait"] {
            for bad in ["-1", "-5", "1e300", "x"] {
                let e = parse(&[opt, bad]).unwrap_err();
                assert!(
                    e.contains(&format!(
                        "invalid number of seconds '{bad}' (seconds, 0 to 1000000)"
                    )),
                    "{opt} {bad}: {e}"
                );
            }
        }
        assert_eq!(
            parse(&["--linger", "0.5"]).unwrap().linger,
            Some(std::time::Duration::from_millis(500))
        );
    }

    #[test]
    fn tcp_hystart_is_on_or_off() {
        assert_eq!(
            parse(&["--tcp-hystart", "off"]).unwrap().tcp_hystart,
            Some(false)
        );
        assert_eq!(
            parse(&["--tcp-hystart", "on"]).unwrap().tcp_hystart,
            Some(true)
        );
        assert_eq!(parse(&[]).unwrap().tcp_hystart, None);
        let e = parse(&["--tcp-hystart", "yes"]).unwrap_err();
        assert!(e.contains("'yes' is neither on nor off"), "{e}");
        assert!(transport::TcpConfig::default().hystart);
    }

    #[test]
    fn a_mac_that_is_not_unicast_is_refused_before_anything_is_set_up() {
        assert_eq!(
            parse(&["--mac", "01:00:5e:00:00:01"]).unwrap_err(),
            "--mac 01:00:5e:00:00:01: not a unicast MAC address"
        );
        assert!(parse(&["--mac", "02:00:00:00:00:09"]).is_ok());
    }

    #[test]
    fn the_stack_and_the_kernel_side_must_share_a_network() {
        assert_eq!(
            parse(&["--addr", "192.168.1.5"]).unwrap_err(),
            "--host-addr 10.0.0.2/24: not on the stack's network 192.168.1.0/24 (--addr): the stack could not reach the kernel side"
        );
        assert_eq!(
            parse(&["--addr", "10.0.1.5/16"]).unwrap_err(),
            "--addr 10.0.1.5/16: not on the kernel side's network 10.0.0.0/24 (--host-addr): the kernel could not reach the stack"
        );
        // Without a kernel side to configure, or with an address from DHCP, nothing to check.
        assert!(parse(&["--addr", "192.168.1.5", "--no-host-config"]).is_ok());
        assert!(parse(&["--host-addr", "192.168.1.1", "--dhcp"]).is_ok());
        assert!(parse(&["--addr", "10.0.0.9/16"]).is_ok());
    }

    /// On its network, but as its broadcast address: the kernel side's address set with
    /// a netmask gets the network's broadcast address (devinet_ioctl), and the kernel
    /// refuses a TCP connection to it (tcp_v4_connect: ENETUNREACH on RTCF_BROADCAST);
    /// the stack likewise takes its network's broadcast address for a broadcast. The two
    /// could not talk, as with an end off the other's network.
    #[test]
    fn neither_end_may_be_the_others_broadcast_address() {
        let e = parse(&["--addr", "10.0.0.255/16"]).unwrap_err();
        assert!(e.contains("broadcast"), "{e}");
        let e = parse(&["--host-addr", "10.0.0.255/16"]).unwrap_err();
        assert!(e.contains("broadcast"), "{e}");
    }

    #[test]
    fn addresses_without_a_prefix_take_the_defaults_one() {
        let cli = parse(&["--addr", "10.0.0.7"]).unwrap();
        assert_eq!(cli.addr.to_string(), "10.0.0.7/24");
        let cli = parse(&["--addr", "192.168.1.5", "--host-addr", "192.168.1.1"]).unwrap();
        assert_eq!(cli.host_addr.to_string(), "192.168.1.1/24");
        assert_eq!(
            parse(&["--addr", "10.1.0.5/16", "--host-addr", "10.1.0.1/16"])
                .unwrap()
                .addr
                .to_string(),
            "10.1.0.5/16"
        );
        // /31 and /32 have no network or broadcast address.
        assert!(parse(&["--addr", "10.0.0.0/31", "--host-addr", "10.0.0.1/31"]).is_ok());
        assert!(parse(&["--addr", "10.0.0.0/32", "--no-host-config"]).is_ok());
    }

    #[test]
    fn network_broadcast_and_shared_addresses_are_refused() {
        let e = parse(&["--addr", "10.0.0.0/24"]).unwrap_err();
        assert!(
            e.ends_with(
                "10.0.0.0/24 is the network's own address: give a host's, e.g. 10.0.0.1/24"
            ),
            "{e}"
        );
        let e = parse(&["--addr", "10.0.0.255"]).unwrap_err();
        assert!(
            e.ends_with(
                "10.0.0.255/24 is the network's broadcast address: give a host's, e.g. 10.0.0.1/24"
            ),
            "{e}"
        );
        let e = parse(&["--host-addr", "10.0.1.255/23"]).unwrap_err();
        assert!(e.contains("broadcast address"), "{e}");
        assert_eq!(
            parse(&["--host-addr", "10.0.0.1/24"]).unwrap_err(),
            "--host-addr 10.0.0.1/24: the stack's own address (--addr): give the kernel side another"
        );
        assert_eq!(
            parse(&["--addr", "10.0.0.2", "--host-addr", "10.0.0.2/16"]).unwrap_err(),
            "--host-addr 10.0.0.2/16: the stack's own address (--addr): give the kernel side another"
        );
        // Without a kernel side to configure, nothing to compare.
        assert!(parse(&["--addr", "10.0.0.2/24", "--no-host-config"]).is_ok());
        for bad in ["x", "10.0.0.1/33", "10.0.0/24", ""] {
            let e = parse(&["--addr", bad]).unwrap_err();
            assert!(e.contains("--addr"), "{bad}: {e}");
        }
    }

    /// `--dhcp-wait` without `--dhcp`: clap's message is "the following required
    /// arguments were not provided:" with the argument on the next line; the program
    /// printed only the first line, which did not say what was missing (found by a
    /// review).
    #[test]
    fn a_missing_required_option_is_named_in_the_one_line() {
        let e = parse(&["--dhcp-wait", "5"]).unwrap_err();
        assert!(
            e.contains("--dhcp"),
            "the one line does not name --dhcp: {e}"
        );
    }

    /// A value with a newline in it (a variable holding two lines): clap quotes the raw
    /// value, and the first line of its message was cut inside the quotes, losing the
    /// reason: `tapip: invalid value '00:34:45:67:89:ab (try --help)` for a MAC refused
    /// for its trailing newline (found by a review). Now one line with the value escaped.
    #[test]
    fn an_error_about_a_value_with_a_newline_keeps_its_reason() {
        let e = parse(&["--mac", "00:34:45:67:89:ab\n"]).unwrap_err();
        assert!(
            e.contains("--mac") && e.contains("invalid MAC address"),
            "the one line lost the option and the reason: {e}"
        );
        assert!(!e.contains('\n'), "{e:?}");
        let e = parse(&["--fault", "loss=2\nseed=1"]).unwrap_err();
        assert!(
            e.contains("--fault") && e.contains("bad rate") && !e.contains('\n'),
            "the one line lost the reason: {e:?}"
        );
    }

    /// Values the stack refuses (setup.rs: `set_address`, `add_route`, `set_dns_search`)
    /// or the kernel refuses (SIOCSIFADDR of a multicast address, for `--host-addr`) are
    /// refused by `check`, before the TAP is made, with status 2 as the other bad values.
    /// They passed, to be refused after the TAP was created and its kernel side
    /// configured, with status 1 (found by a review).
    #[test]
    fn values_the_stack_refuses_are_refused_before_the_tap_is_made() {
        let bad: Vec<&[&str]> = [
            &["--addr", "224.0.0.5/24", "--no-host-config"][..],
            &["--host-addr", "224.0.0.5/24"],
            &["--gateway", "10.0.0.1"],
            &["--search", "a b"],
            &["--dns", "0.0.0.0"],
            &["--dns", "224.0.0.251"],
            &[
                "--search", "a", "--search", "b", "--search", "c", "--search", "d", "--search",
                "e", "--search", "f", "--search", "g",
            ],
        ]
        .into_iter()
        .filter(|bad| parse(bad).is_ok())
        .collect::<Vec<_>>();
        assert!(bad.is_empty(), "accepted: {bad:?}");
    }

    /// An end of the tap in 127.0.0.0/8, 0.0.0.0/8 or 240.0.0.0/4 cannot talk on the link:
    /// the stack drops every datagram to a loopback address that did not come over lo, and
    /// every datagram from 0.0.0.0/8 or 240.0.0.0/4 (RFC 1122 3.2.1.3,
    /// `ipv4::is_martian_source`). Such an `--addr` or `--host-addr` was taken, and the
    /// stack started deaf to its peers (`--addr 127.0.0.1/8` was refused only after the
    /// TAP was made, by `set_address`, with status 1).
    #[test]
    fn loopback_and_reserved_addresses_are_refused_for_either_end() {
        for (args, why) in [
            (
                &["--addr", "127.0.0.2/8", "--no-host-config"][..],
                "loopback",
            ),
            (&["--addr", "127.0.0.1/8", "--no-host-config"], "loopback"),
            (&["--addr", "0.1.2.3/8", "--no-host-config"], "reserved"),
            (&["--addr", "240.0.0.1/24", "--no-host-config"], "reserved"),
            (
                &["--addr", "240.0.0.1/24", "--host-addr", "240.0.0.2/24"],
                "reserved",
            ),
            (
                &["--host-addr", "127.0.0.2/0", "--addr", "10.0.0.1/0"],
                "loopback",
            ),
            (
                &["--host-addr", "250.0.0.2/0", "--addr", "10.0.0.1/0"],
                "reserved",
            ),
        ] {
            match parse(args) {
                Ok(_) => panic!("accepted: {args:?}"),
                Err(e) => assert!(e.contains(why) && !e.contains('\n'), "{args:?}: {e}"),
            }
        }
        assert_eq!(
            parse(&["--addr", "127.0.0.2/8", "--no-host-config"]).unwrap_err(),
            "--addr 127.0.0.2/8: a loopback address (127.0.0.0/8 is lo's)"
        );
        assert!(parse(&["--addr", "223.255.0.1/24", "--no-host-config"]).is_ok());
    }

    /// A `--script` that cannot be read is said before anything is set up, as a bad option
    /// is: it was read only once the stack had started, after the TAP was made and its
    /// kernel side configured (and after `--dhcp`'s wait for a lease). Runs the built
    /// `tapip` with a tap name it refuses before opening any TAP (`--tap a/b`), so that the
    /// error that comes first tells which was looked at first.
    #[test]
    fn a_script_that_cannot_be_read_is_said_before_the_tap_is_opened() {
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().and_then(|d| d.parent()).unwrap().join("tapip");
        assert!(bin.exists(), "build the binary first: {}", bin.display());
        let out = std::process::Command::new(&bin)
            .args(["--script", "/nonexistent/tapip-script", "--tap", "a/b"])
            .args(["--no-host-config"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() == Some(1)
                && err.trim_end()
                    == "tapip: cannot read script /nonexistent/tapip-script: No such file or directory (os error 2)",
            "status {:?}, stderr {err:?}",
            out.status.code()
        );
    }

    /// README: a write to stdout that fails ends the program with one line, `tapip: cannot
    /// write to stdout: No space left on device (os error 28)`, and status 1 (as `ls
    /// --help > /dev/full` fails), `--help` and `--version` too: clap's `Error::exit`
    /// ignored the write's error, and `tapip --help > /dev/full` said nothing and exited 0
    /// (found by a review). Runs the built `tapip` with `--help` and `--version` only,
    /// which exit at once.
    #[test]
    fn help_to_a_full_disk_is_an_error() {
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().and_then(|d| d.parent()).unwrap().join("tapip");
        assert!(bin.exists(), "build the binary first: {}", bin.display());
        for flag in ["--help", "--version"] {
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap();
            let out = std::process::Command::new(&bin)
                .arg(flag)
                .stdin(std::process::Stdio::null())
                .stdout(full)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.code() == Some(1)
                    && err.trim_end()
                        == "tapip: cannot write to stdout: No space left on device (os error 28)",
                "{flag} > /dev/full: status {:?}, stderr {err:?}",
                out.status.code()
            );
        }
    }
}
