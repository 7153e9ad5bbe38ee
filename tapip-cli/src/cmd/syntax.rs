//! The syntax of every shell command, in one place: each command is one clap definition
//! from which its parsing, its usage line and its help all come, so they cannot drift
//! apart. A command line is split into words as a Unix shell does (`shlex`: quotes and
//! backslash escapes), then parsed with clap in `multicall` mode (the first word names the
//! command). Every parse error becomes one line: `CMD: what is wrong`.
//!
//! Values are checked here where a value alone can be judged (a port in range, an address
//! that is a dotted quad, a TTL from 1 to 255); each command checks how its options go
//! together.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use ip::Ipv4Cidr;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// A command line: the command's name, then its arguments.
#[derive(Parser, Debug)]
#[command(name = "tapip-shell", multicall = true, disable_help_subcommand = true)]
struct Line {
    #[command(subcommand)]
    cmd: Command,
}

/// The commands. The first line of each doc comment is its summary in `help`; the rest
/// is shown by `help CMD`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List or describe the commands.
    #[command(visible_alias = "?")]
    Help {
        /// The command to describe.
        #[arg(value_name = "CMD")]
        cmd: Option<String>,
    },
    /// Stop the stack and leave.
    ///
    /// Background jobs are stopped first. End of input does the same.
    #[command(visible_alias = "quit")]
    Exit,
    /// Clear the screen.
    Clear,
    /// Send ICMP echo requests (Ctrl-C stops).
    ///
    /// From a raw socket, printing as Linux's ping does; a summary at the end. Fails when
    /// no reply came.
    Ping(Ping),
    /// Show the routers on the path to a host.
    ///
    /// UDP probes to closed ports (33434 up, one per probe) with a growing TTL, as Linux's
    /// traceroute sends them by default; each router on the path answers with an ICMP
    /// time exceeded, the host itself with a port unreachable, which ends it. A line per
    /// TTL: who answered and each probe's round trip, `*` for no answer within WAIT, and
    /// `!H`, `!N`, `!P`, `!X`, `!S`, `!V`, `!C`, `!F-MTU` or `!<code>` for a host,
    /// network, protocol, prohibited, source route, host precedence, precedence cutoff,
    /// fragmentation needed or other unreachable (`!<type-code>` for another error),
    /// which ends it too.
    Traceroute(Traceroute),
    /// Show or configure interfaces.
    ///
    /// An address without a prefix keeps the interface's current prefix (or, on an
    /// interface without an address, takes the classful one: /8, /16 or /24); `netmask
    /// MASK` gives the prefix as a mask. Everything is checked before anything changes.
    /// `down` takes away every route through the interface, as Linux; `up` brings back
    /// the route to its network.
    Ifconfig(Ifconfig),
    /// Show, add or delete routes.
    ///
    /// Printed as Linux's `route -n` prints it (flags: U up, G via a gateway, H host
    /// route, D learned from a redirect), in the order lookups prefer: the longest prefix,
    /// then the lowest metric (0 unless `metric N`), then the route added first.
    /// NET/PREFIX must have no host bits set (10.0.3.0/24, not 10.0.3.5/24);
    /// `default` is 0.0.0.0/0; `gw` is a synonym of `via`. `del` without a metric takes
    /// the route lookups prefer.
    Route(Route),
    /// Show or edit the ARP cache.
    #[command(visible_alias = "arpcache")]
    Arp(Arp),
    /// Look a host name up (DNS, RFC 1035).
    ///
    /// Asks the DNS servers of --dns, then those of DHCP leases, for NAME's IPv4
    /// addresses, and prints them as `NAME has address IP`. A NAME without a dot is
    /// looked up in the search domains first (--search, then DHCP's), a NAME with dots
    /// as it is first and then in them, and the name that answered is printed. An answer is cached for its TTL: NAME looked up again within
    /// it is not asked again.
    Host {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Show DHCP clients' leases, or start one on an interface.
    ///
    /// Without IF: each client's state, address, server, router, DNS servers and the
    /// time to renewal and to the lease's end. With IF: ask a DHCP server on that link for
    /// an address (RFC 2131); the lease replaces the interface's address and sets the
    /// default route, is renewed at its time and given back when the program ends.
    Dhcp {
        /// The interface to start a client on.
        #[arg(value_name = "IF")]
        iface: Option<String>,
    },
    /// Counters per protocol, drops by cause.
    ///
    /// Buffers and sockets in use, counters per device and protocol (ip, icmp, igmp, udp,
    /// tcp, ...), every drop by its cause (drop counters appear once they are not zero).
    Stat,
    /// Trace packets, a decoded line each.
    ///
    /// Blocks until Ctrl-C unless -n. LAYER is one of dev, l2, arp, ip, icmp, udp, tcp,
    /// tcpstate, all.
    Debug(Debug),
    /// Netcat over TCP (UDP with -u).
    ///
    /// -b listens, takes one connection and prints what arrives until the peer closes
    /// (UDP: until Ctrl-C). -c connects and sends each line of input (to its end, Ctrl-D at
    /// a terminal) or FILE, printing what comes back, then (TCP) sends a FIN and waits for
    /// the peer to close. TCP ends with a summary line (bytes, seconds, throughput).
    Snc(Snc),
    /// Run a service as a background job.
    ///
    /// echo (port 7), discard (9), chargen (19), daytime (13) over TCP, or UDP with -u;
    /// http (80, TCP only) serves the files under DIR. UDP datagrams from ports below 1024,
    /// or from the ports of the shell's own UDP services, get no answer (no service loops),
    /// nor do those sent to a broadcast or multicast address.
    Serve(Serve),
    /// Fetch a URL with HTTP/1.1 GET.
    ///
    /// `http://HOST[:PORT]/PATH`: an IPv4 address, or a name looked up as `host` does. The
    /// body goes to the terminal
    /// (raw bytes) or to FILE, then a line with the status, bytes, seconds and throughput.
    /// Ctrl-C interrupts.
    Get(Get),
    /// List background jobs and their counts.
    ///
    /// What each has served: datagrams; connections and bytes; HTTP requests.
    Jobs,
    /// Stop a background job.
    #[command(allow_negative_numbers = true)]
    Kill {
        /// The job's number, as `jobs` shows it (also %N).
        #[arg(value_name = "N", value_parser = job_number)]
        job: usize,
    },
    /// List sockets, as Linux's netstat does.
    ///
    /// Protocol, bytes queued to receive and to send, addresses, state (net-tools' names:
    /// FIN_WAIT1, TIME_WAIT, ...; a UDP socket's only when connected); for TCP also the
    /// congestion control (cubic or reno), cwnd, ssthresh, srtt, rttvar, rto, losses,
    /// retransmissions, mss, timestamps (ts on/off), the receive buffer (rcvbuf, as
    /// autotuning grew it); TIME-WAIT records. Without -t, -u or
    /// -w every protocol; with -l only listening sockets (TCP LISTEN, unconnected UDP and
    /// raw).
    Netstat(Netstat),
    /// Record every frame to a pcap file.
    #[command(disable_help_subcommand = true)]
    Pcap {
        #[command(subcommand)]
        action: PcapAction,
    },
    /// Pause the shell (the stack keeps running).
    #[command(allow_negative_numbers = true)]
    Sleep {
        #[arg(value_name = "SECONDS", value_parser = seconds)]
        secs: Duration,
    },
    /// Serve until a signal, then end the program.
    ///
    /// SIGTERM, or SIGINT with commands from -c, --script or a pipe, ends the program. At a
    /// terminal Ctrl-C only ends the wait: the prompt comes back, background jobs go on.
    Wait,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct Ping {
    /// Stop after COUNT requests [default: until Ctrl-C].
    #[arg(short = 'c', value_name = "COUNT", value_parser = count)]
    pub count: Option<u64>,
    /// Bytes of data in each request (at most 65507).
    #[arg(short = 's', value_name = "SIZE", default_value = "56", value_parser = ping_size)]
    pub size: usize,
    /// Time to live of the requests (1-255).
    #[arg(short = 't', value_name = "TTL", value_parser = ttl)]
    pub ttl: Option<u8>,
    /// Seconds between requests (0.001 to 1000000).
    #[arg(short = 'i', value_name = "INTERVAL", default_value = "1", value_parser = interval)]
    pub interval: Duration,
    /// Seconds to wait for the last reply (0.001 to 1000000).
    #[arg(short = 'W', value_name = "TIMEOUT", default_value = "10", value_parser = timeout)]
    pub timeout: Duration,
    /// Numeric output only (always so: replies are not looked up).
    #[arg(short = 'n')]
    pub numeric: bool,
    /// Allow pinging a broadcast address.
    #[arg(short = 'b')]
    pub broadcast: bool,
    /// The address, or a host name to look up (`--dns`, or DHCP's DNS servers).
    #[arg(value_name = "HOST", value_parser = host)]
    pub dst: String,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct Traceroute {
    /// The TTL of the first probes (1-255).
    #[arg(short = 'f', value_name = "FIRST_TTL", default_value = "1", value_parser = ttl)]
    pub first: u8,
    /// The largest TTL tried (1-255).
    #[arg(short = 'm', value_name = "MAX_TTL", default_value = "30", value_parser = ttl)]
    pub max: u8,
    /// Probes per TTL (1-10).
    #[arg(short = 'q', value_name = "NQUERIES", default_value = "3", value_parser = queries)]
    pub queries: u8,
    /// Seconds to wait for each probe's answer (0.001 to 1000000).
    #[arg(short = 'w', value_name = "WAIT", default_value = "5", value_parser = timeout)]
    pub wait: Duration,
    /// The first probe's destination port; each probe takes the next.
    #[arg(short = 'p', value_name = "PORT", default_value = "33434", value_parser = probe_port)]
    pub port: u16,
    /// Numeric output only (always so: answers are not looked up).
    #[arg(short = 'n')]
    pub numeric: bool,
    /// The address, or a host name to look up (`--dns`, or DHCP's DNS servers).
    #[arg(value_name = "HOST", value_parser = host)]
    pub dst: String,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct Ifconfig {
    /// Every interface (the default without IF).
    #[arg(short = 'a')]
    pub all: bool,
    /// The interface to show or change.
    #[arg(value_name = "IF")]
    pub name: Option<String>,
    /// What to change: an address, a netmask, an MTU, the state.
    #[arg(value_name = "[IP[/PREFIX]] [netmask MASK] [mtu N] [up|down]")]
    pub settings: Vec<String>,
}

#[derive(Args, Debug)]
#[command(disable_help_subcommand = true)]
pub struct Route {
    /// Numeric addresses (always so).
    #[arg(short = 'n')]
    pub numeric: bool,
    #[command(subcommand)]
    pub action: Option<RouteAction>,
}

#[derive(Subcommand, Debug)]
pub enum RouteAction {
    /// Add a static route: `NET/PREFIX`, `default`, or net-tools' forms (`-net NET
    /// netmask MASK`, `-host ADDR`); then the next hop, the interface and the metric.
    Add {
        #[arg(
            value_name = "NET/PREFIX [via GW] [dev IF] [metric N]",
            required = true,
            allow_hyphen_values = true
        )]
        words: Vec<String>,
    },
    /// Delete a route; a gateway, interface or metric given must match it (`route del
    /// default gw GW`, as net-tools).
    #[command(visible_alias = "delete")]
    Del {
        #[arg(
            value_name = "NET/PREFIX [via GW] [dev IF] [metric N]",
            required = true,
            allow_hyphen_values = true
        )]
        words: Vec<String>,
    },
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("change").args(["delete", "set"]))]
pub struct Arp {
    /// Numeric addresses (always so).
    #[arg(short = 'n')]
    pub numeric: bool,
    /// Show every entry (the default).
    #[arg(short = 'a')]
    pub all: bool,
    /// Delete the entry of IP.
    #[arg(short = 'd', value_name = "IP", value_parser = address)]
    pub delete: Option<Ipv4Addr>,
    /// Add a static entry.
    #[arg(short = 's', num_args = 2, value_names = ["IP", "MAC"])]
    pub set: Option<Vec<String>>,
}

#[derive(Args, Debug)]
pub struct Debug {
    /// Trace in the background and return at once.
    #[arg(short = 'n')]
    pub background: bool,
    /// Turn tracing off first (alone: off).
    #[arg(short = 'c')]
    pub clear: bool,
    /// Layers to trace.
    #[arg(value_name = "LAYER")]
    pub layers: Vec<String>,
}

#[derive(Args, Debug)]
#[command(
    group = clap::ArgGroup::new("mode").required(true).args(["bind", "connect"]),
    allow_negative_numbers = true
)]
pub struct Snc {
    /// UDP rather than TCP.
    #[arg(short = 'u')]
    pub udp: bool,
    /// Report each read.
    #[arg(short = 'd')]
    pub debug: bool,
    /// Limit the waits: TCP: connecting, the peer's close, and with -b a connection and
    /// data; UDP: replies after the last datagram (0.3 s without -w).
    #[arg(short = 'w', value_name = "SECONDS", value_parser = seconds)]
    pub wait: Option<Duration>,
    /// Listen on PORT (every address) or ADDR:PORT; with -u, ADDR may be a multicast
    /// group, which snc joins.
    #[arg(short = 'b', value_name = "[ADDR:]PORT", value_parser = bind_address)]
    pub bind: Option<SocketAddrV4>,
    /// Connect to ADDR:PORT (with -u, a multicast group too: TTL 1, the link only).
    #[arg(short = 'c', value_name = "ADDR:PORT", value_parser = socket_address)]
    pub connect: Option<SocketAddrV4>,
    /// Send this file instead of the input's lines.
    #[arg(short = 'f', value_name = "FILE")]
    pub file: Option<String>,
    /// Write what arrives to FILE instead of the terminal.
    #[arg(short = 'o', value_name = "FILE")]
    pub out: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServiceName {
    Echo,
    Discard,
    Chargen,
    Daytime,
    Http,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct Serve {
    /// The service.
    #[arg(value_name = "SERVICE", value_enum)]
    pub service: ServiceName,
    /// The directory `serve http` serves.
    #[arg(value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
    /// UDP rather than TCP.
    #[arg(short = 'u')]
    pub udp: bool,
    /// The port [default: the service's].
    #[arg(short = 'p', value_name = "PORT", value_parser = port)]
    pub port: Option<u16>,
    /// TCP Fast Open (RFC 7413): a client that holds a cookie from an earlier connection
    /// may send its request in the SYN, answered before the handshake ends.
    #[arg(short = 'F')]
    pub fastopen: bool,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct Get {
    /// `http://HOST[:PORT]/PATH` (or `HOST[:PORT]/PATH`).
    #[arg(value_name = "URL")]
    pub url: String,
    /// Write the body to FILE.
    #[arg(short = 'o', value_name = "FILE")]
    pub out: Option<String>,
    /// Give up when the whole transfer (lookup, connection, response) has taken this long.
    #[arg(short = 'm', value_name = "SECONDS", value_parser = seconds)]
    pub max_time: Option<Duration>,
    /// TCP Fast Open (RFC 7413), as curl's --tcp-fastopen: the request rides in the SYN
    /// when the server gave a cookie to an earlier connection (the first one asks).
    #[arg(short = 'F')]
    pub fastopen: bool,
}

#[derive(Args, Debug)]
pub struct Netstat {
    /// Every socket (the default).
    #[arg(short = 'a')]
    pub all: bool,
    /// Listening sockets only.
    #[arg(short = 'l')]
    pub listening: bool,
    /// TCP sockets.
    #[arg(short = 't')]
    pub tcp: bool,
    /// UDP sockets.
    #[arg(short = 'u')]
    pub udp: bool,
    /// Raw sockets.
    #[arg(short = 'w')]
    pub raw: bool,
    /// Numeric addresses (always so).
    #[arg(short = 'n')]
    pub numeric: bool,
    /// Accepted for habit; every socket is this program's.
    #[arg(short = 'p')]
    pub program: bool,
}

#[derive(Subcommand, Debug)]
pub enum PcapAction {
    /// Start recording to FILE.
    Start {
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
    /// Stop recording.
    Stop,
}

// ---- values ----

/// A port: 0 to 65535.
fn port(s: &str) -> Result<u16, String> {
    let n: u64 = s
        .parse()
        .map_err(|_| format!("invalid port '{s}' (a number from 0 to 65535)"))?;
    u16::try_from(n).map_err(|_| format!("port {n} is out of range (0-65535)"))
}

/// An IPv4 address: a dotted quad or inet_aton's shorter forms (127.1), decimal only
/// (`ip::parse_addr`).
pub fn address(s: &str) -> Result<Ipv4Addr, String> {
    ip::parse_addr(s).map_err(|e| e.to_string())
}

/// An IPv4 address, or a host name as DNS spells them; kept as given (ping prints
/// `PING 127.1 (127.0.0.1)`, as Linux's does).
fn host(s: &str) -> Result<String, String> {
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return address(s).map(|_| s.to_string());
    }
    socket_api::dns::wire::query(0, s)
        .map(|_| s.to_string())
        .map_err(|e| format!("invalid host name '{s}': {e}"))
}

/// ADDR:PORT.
fn socket_address(s: &str) -> Result<SocketAddrV4, String> {
    let (a, p) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("invalid address '{s}' (ADDR:PORT, e.g. 10.0.0.2:9000)"))?;
    Ok(SocketAddrV4::new(address(a)?, port(p)?))
}

/// `PORT` (every address, as `nc -l PORT`) or ADDR:PORT.
fn bind_address(s: &str) -> Result<SocketAddrV4, String> {
    if s.contains(':') {
        socket_address(s)
    } else if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
        Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port(s)?))
    } else {
        Err(format!(
            "invalid address '{s}' ([ADDR:]PORT, e.g. 9000 or 10.0.0.1:9000)"
        ))
    }
}

/// A network for a route: `default`, or NET/PREFIX (a bare address is a /32).
pub fn network(s: &str) -> Result<Ipv4Cidr, String> {
    let s = if s == "default" { "0.0.0.0/0" } else { s };
    s.parse::<Ipv4Cidr>().map_err(|e| e.to_string())
}

/// Seconds, fractions allowed.
pub fn seconds(s: &str) -> Result<Duration, String> {
    crate::opts::seconds_from(s, Duration::ZERO, "number of seconds")
}

fn count(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .ok()
        .filter(|c| *c >= 1)
        .ok_or_else(|| format!("invalid count '{s}' (a whole number, at least 1)"))
}

/// The most ICMP echo data one IPv4 datagram carries (65535 - 20 - 8).
pub const MAX_PING_SIZE: usize = 65_507;

fn ping_size(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| *n <= MAX_PING_SIZE)
        .ok_or_else(|| format!("invalid size '{s}' (0 to {MAX_PING_SIZE} bytes)"))
}

/// One wording for every bad TTL, 0 and 256 alike.
fn ttl(s: &str) -> Result<u8, String> {
    s.parse::<u8>()
        .ok()
        .filter(|t| *t >= 1)
        .ok_or_else(|| format!("invalid TTL '{s}' (1 to 255)"))
}

fn queries(s: &str) -> Result<u8, String> {
    s.parse::<u8>()
        .ok()
        .filter(|q| (1..=10).contains(q))
        .ok_or_else(|| format!("invalid number of probes '{s}' (1 to 10)"))
}

fn probe_port(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| format!("invalid port '{s}' (1 to 65535)"))
}

fn interval(s: &str) -> Result<Duration, String> {
    crate::opts::seconds_from(s, Duration::from_millis(1), "interval")
}

fn timeout(s: &str) -> Result<Duration, String> {
    crate::opts::seconds_from(s, Duration::from_millis(1), "timeout")
}

/// A job number: N or %N, as in a Unix shell.
fn job_number(s: &str) -> Result<usize, String> {
    s.strip_prefix('%')
        .unwrap_or(s)
        .parse()
        .map_err(|_| format!("invalid job number '{s}' (see 'jobs')"))
}

// ---- lines and words ----

/// Split a line into commands at each `;` (or newline, as a shell does) outside quotes, and
/// drop `#` comments (each to the end of its line). Quotes stay in the pieces, for
/// [`words`].
pub fn commands(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quote, mut escaped, mut word_start) = (0, None, false, true);
    let mut comment = false;
    for (i, c) in line.char_indices() {
        if comment {
            if c == '\n' {
                comment = false;
                start = i + 1;
                word_start = true;
            }
            continue;
        }
        if escaped {
            escaped = false;
            word_start = false;
            continue;
        }
        match (quote, c) {
            (Some('\''), '\'') => quote = None,
            (Some('\''), _) => {}
            (Some(_), '"') => quote = None,
            (_, '\\') => escaped = true,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ';' | '\n') => {
                out.push(&line[start..i]);
                start = i + 1;
            }
            (None, '#') if word_start => {
                out.push(&line[start..i]);
                comment = true;
                continue;
            }
            _ => {}
        }
        // The blanks `words` splits at (shlex's, a shell's): a `#` after another kind of
        // space (U+00A0, say) is inside a word, not a comment.
        word_start = quote.is_none() && matches!(c, ' ' | '\t' | '\n' | ';');
    }
    if !comment {
        out.push(&line[start..]);
    }
    out
}

/// The words of one command, as a Unix shell splits them: quotes and backslash escapes.
pub fn words(line: &str) -> Result<Vec<String>, String> {
    shlex::split(line).ok_or_else(|| {
        let why = "unterminated quote or trailing backslash (quote with '...' or \"...\")";
        // Named by its command (`CMD: what is wrong`) when the first word is one, whole.
        let blank = [' ', '\t', '\n'];
        let first = line.trim_start_matches(blank).split(blank).next();
        match first.and_then(shlex::split).as_deref() {
            Some([name]) if find(name).is_some() => format!("{name}: {why}"),
            _ => why.to_string(),
        }
    })
}

/// Parse the words of one command (its name first).
pub fn parse(words: &[String]) -> Result<Command, Parsed> {
    let Some(name) = words.first() else {
        return Err(Parsed::Error("empty command".into()));
    };
    if find(name).is_none() {
        return Err(Parsed::Error(format!(
            "unknown command '{name}' (type 'help' for the list)"
        )));
    }
    match Line::try_parse_from(words) {
        Ok(l) => Ok(l.cmd),
        Err(e) if e.kind() == ErrorKind::DisplayHelp => Err(Parsed::Help(name.clone())),
        Err(e) => Err(Parsed::Error(one_line(name, &e))),
    }
}

/// Why a command line did not give a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// `CMD -h` or `CMD --help`: show the help of CMD.
    Help(String),
    /// A one-line error.
    Error(String),
}

/// The definition of command `name` (or of its alias).
fn find(name: &str) -> Option<clap::Command> {
    Line::command()
        .get_subcommands()
        .find(|c| c.get_name() == name || c.get_all_aliases().any(|a| a == name))
        .cloned()
}

/// clap's error as one line: `CMD: what is wrong`.
fn one_line(name: &str, e: &clap::Error) -> String {
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        _ => None,
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    // "-t <TTL>" -> "-t"; "<ADDR>" -> "ADDR"
    let short = |a: &str| -> String {
        let first = a.split(' ').next().unwrap_or(a);
        first
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    };
    let usage = usage_hint(name);
    match (e.kind(), arg, value) {
        (ErrorKind::ValueValidation, Some(a), _) => {
            let why = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "invalid value".into());
            if a.starts_with('-') {
                format!("{name}: {}: {why}", short(&a))
            } else {
                format!("{name}: {why}")
            }
        }
        (ErrorKind::InvalidValue, Some(a), Some(v)) if v.is_empty() => {
            format!("{name}: option {} needs a value ({usage})", short(&a))
        }
        (ErrorKind::InvalidValue, Some(a), Some(v)) => {
            let valid = match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(s)) => format!(" (one of {})", s.join(", ")),
                _ => String::new(),
            };
            format!("{name}: invalid {} '{v}'{valid}", short(&a))
        }
        (ErrorKind::UnknownArgument, Some(a), _) if a.starts_with('-') && a.len() > 1 => {
            format!("{name}: unknown option '{a}' ({usage})")
        }
        (ErrorKind::UnknownArgument, Some(a), _) => {
            format!("{name}: unexpected argument '{a}' ({usage})")
        }
        (ErrorKind::MissingRequiredArgument, Some(a), _) => {
            // A required choice comes as "-b <X>|-c <Y>".
            let what: Vec<String> = a
                .split(", ")
                .map(|x| x.replace(['<', '>'], "").replace('|', " or "))
                .collect();
            format!("{name}: missing {} ({usage})", what.join(" and "))
        }
        (ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues, Some(a), _) => {
            let a = a.replace(['<', '>'], "");
            let (flag, values) = a.split_once(' ').unwrap_or((&a, "values"));
            format!("{name}: {flag} needs {values} ({usage})")
        }
        (ErrorKind::ArgumentConflict, Some(a), _) => {
            let prior = match e.get(ContextKind::PriorArg) {
                Some(ContextValue::String(s)) => short(s),
                _ => "another option".into(),
            };
            if short(&a) == prior {
                format!("{name}: {prior} given twice")
            } else {
                format!("{name}: {} cannot be used with {prior}", short(&a))
            }
        }
        (ErrorKind::InvalidSubcommand, _, _) => {
            let sub = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => "?".into(),
            };
            format!("{name}: unknown action '{sub}' ({usage})")
        }
        (
            ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand,
            _,
            _,
        ) => {
            format!("{name}: missing action ({usage})")
        }
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            format!("{name}: {} ({usage})", first.trim_start_matches("error: "))
        }
    }
}

fn usage_hint(name: &str) -> String {
    match find(name) {
        Some(c) => format!("usage: {}", synopses(&c).join(" | ")),
        None => format!("try 'help {name}'"),
    }
}

// ---- usage and help ----

/// How one argument is written in a synopsis: `-c COUNT`, `ADDR`, `[LAYER]...`.
fn arg_synopsis(a: &clap::Arg) -> String {
    let names: Vec<String> = match a.get_value_names() {
        Some(v) => v.iter().map(|n| n.to_string()).collect(),
        None => vec![a.get_id().as_str().to_uppercase()],
    };
    let takes_value = a.get_action().takes_values();
    if a.is_positional() {
        let n = names.join(" ");
        // A name in brackets is a keyword syntax, shown as it is.
        if n.starts_with('[') {
            return n;
        }
        let many = matches!(a.get_action(), clap::ArgAction::Append);
        let n = if many { format!("{n}...") } else { n };
        return if a.is_required_set() {
            n
        } else {
            format!("[{n}]")
        };
    }
    let flag = match (a.get_short(), a.get_long()) {
        (Some(s), _) => format!("-{s}"),
        (None, Some(l)) => format!("--{l}"),
        (None, None) => a.get_id().as_str().to_string(),
    };
    if takes_value {
        format!("{flag} {}", names.join(" "))
    } else {
        flag
    }
}

/// The synopses of a command: one, or one per action (`route add ...`, `route del ...`).
pub fn synopses(c: &clap::Command) -> Vec<String> {
    let own = own_synopsis(c, c.get_name());
    let subs: Vec<String> = c
        .get_subcommands()
        .map(|s| own_synopsis(s, &format!("{} {}", c.get_name(), s.get_name())))
        .collect();
    if subs.is_empty() {
        vec![own]
    } else if c.is_subcommand_required_set() || c.get_arguments().all(is_help) {
        subs
    } else {
        std::iter::once(own).chain(subs).collect()
    }
}

fn is_help(a: &clap::Arg) -> bool {
    a.get_id() == "help" || a.is_hide_set()
}

fn own_synopsis(c: &clap::Command, prefix: &str) -> String {
    let mut parts = vec![prefix.to_string()];
    let mut done: Vec<&str> = Vec::new();
    let args: Vec<&clap::Arg> = c.get_arguments().filter(|a| !is_help(a)).collect();
    // Options first, then positionals, as usage lines are written.
    for a in args
        .iter()
        .filter(|a| !a.is_positional())
        .chain(args.iter().filter(|a| a.is_positional()))
    {
        let id = a.get_id().as_str();
        if done.contains(&id) {
            continue;
        }
        // clap's derive adds a group of all of a struct's arguments: not a choice.
        let group = c.get_groups().find(|g| {
            g.get_args().any(|x| x.as_str() == id)
                && !args.iter().all(|a| g.get_args().any(|x| x == a.get_id()))
        });
        match group {
            Some(g) => {
                let members: Vec<&clap::Arg> = args
                    .iter()
                    .copied()
                    .filter(|m| g.get_args().any(|x| x == m.get_id()))
                    .collect();
                done.extend(members.iter().map(|m| m.get_id().as_str()));
                let alts: Vec<String> = members.iter().map(|m| arg_synopsis(m)).collect();
                if g.is_required_set() {
                    parts.push(format!("({})", alts.join(" | ")));
                } else {
                    parts.push(format!("[{}]", alts.join(" | ")));
                }
            }
            None => {
                done.push(id);
                let s = arg_synopsis(a);
                if a.is_positional() || a.is_required_set() {
                    parts.push(s);
                } else {
                    parts.push(format!("[{s}]"));
                }
            }
        }
    }
    parts.join(" ")
}

/// The words of a synopsis, keeping each bracketed part (`[dev IF]`) whole.
fn units(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut depth = 0i32;
    for w in text.split_whitespace() {
        match out.last_mut() {
            Some(last) if depth > 0 => {
                last.push(' ');
                last.push_str(w);
            }
            _ => out.push(w.to_string()),
        }
        for c in w.chars() {
            match c {
                '[' | '(' => depth += 1,
                ']' | ')' => depth -= 1,
                _ => {}
            }
        }
    }
    out
}

/// Cut `text` into lines of at most `width` columns, at spaces (a longer word gets a line
/// of its own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    wrap_units(text.split_whitespace(), width, width)
}

/// Lines of `words`: the first at most `first` columns, the others `rest`.
fn wrap_units<'a>(
    words: impl IntoIterator<Item = &'a str>,
    first: usize,
    rest: usize,
) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for w in words {
        let width = if lines.is_empty() { first } else { rest };
        if !cur.is_empty() && cur.len() + 1 + w.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Width of the synopsis column in `help`, and of the whole table.
/// (80 columns: a classic terminal.)
const SYNOPSIS_COLUMN: usize = 34;
const WIDTH: usize = 80;

/// `help`: every command, its synopses wrapped in their column, then its summary.
pub fn help_list() -> String {
    let mut out = String::from("Commands (CMD -h or 'help CMD' for details):\n");
    let desc_width = WIDTH - SYNOPSIS_COLUMN - 4;
    for c in Line::command().get_subcommands() {
        let mut left: Vec<String> = Vec::new();
        for s in synopses(c) {
            let u = units(&s);
            let lines = wrap_units(
                u.iter().map(|x| x.as_str()),
                SYNOPSIS_COLUMN,
                SYNOPSIS_COLUMN - 4,
            );
            for (i, l) in lines.into_iter().enumerate() {
                left.push(if i == 0 { l } else { format!("    {l}") });
            }
        }
        let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
        let aliases: Vec<&str> = c.get_visible_aliases().collect();
        let about = if aliases.is_empty() {
            about
        } else {
            format!("{about} (also: {})", aliases.join(", "))
        };
        let right = wrap(&about, desc_width);
        for i in 0..left.len().max(right.len()) {
            let l = left.get(i).map_or("", |s| s.as_str());
            let r = right.get(i).map_or("", |s| s.as_str());
            let line = format!("  {l:<SYNOPSIS_COLUMN$}  {r}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// `help CMD`: the synopses, the description, then each argument.
pub fn help_for(name: &str) -> Result<String, String> {
    let c = find(name).ok_or_else(|| format!("help: no such command '{name}'"))?;
    let mut out = String::new();
    for (i, s) in synopses(&c).iter().enumerate() {
        let head = if i == 0 { "usage: " } else { "       " };
        out.push_str(&format!("{head}{s}\n"));
    }
    let about = c
        .get_long_about()
        .or(c.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    for para in about.split("\n\n") {
        for l in wrap(para, WIDTH - 2) {
            out.push_str(&format!("  {l}\n"));
        }
    }
    // Each action's own description (`route add` takes net-tools' forms, `pcap start`
    // records to FILE), as a paragraph of its own that starts with its name.
    for sc in c.get_subcommands() {
        let Some(a) = sc.get_long_about().or(sc.get_about()) else {
            continue;
        };
        let aliases: Vec<&str> = sc.get_visible_aliases().collect();
        let also = match aliases.is_empty() {
            true => String::new(),
            false => format!(" (also: {})", aliases.join(", ")),
        };
        let text = format!("{} {}{also}: {a}", c.get_name(), sc.get_name());
        let lines = wrap_units(text.split_whitespace(), WIDTH - 2, WIDTH - 4);
        for (i, l) in lines.into_iter().enumerate() {
            let indent = if i == 0 { "  " } else { "    " };
            out.push_str(&format!("{indent}{l}\n"));
        }
    }
    // Each argument with its help, in the same words as the synopsis.
    let rows: Vec<(String, String)> = std::iter::once(&c)
        .chain(c.get_subcommands())
        .flat_map(|sc| sc.get_arguments().filter(|a| !is_help(a)))
        .map(|a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            let default: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .collect();
            let help = if default.is_empty() {
                help
            } else {
                format!("{help} [default: {}]", default.join(" "))
            };
            (arg_synopsis(a), help)
        })
        .fold(Vec::new(), |mut v, r| {
            if !v.contains(&r) {
                v.push(r);
            }
            v
        });
    let col = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0).min(30);
    if !rows.is_empty() {
        out.push('\n');
    }
    for (left, help) in rows {
        let right = wrap(&help, WIDTH.saturating_sub(col + 6).max(20));
        let pad = if left.len() > col {
            out.push_str(&format!("  {left}\n"));
            0
        } else {
            1
        };
        for (i, r) in right.iter().enumerate() {
            let l = if i == 0 && pad == 1 {
                left.as_str()
            } else {
                ""
            };
            out.push_str(format!("  {l:<col$}  {r}").trim_end());
            out.push('\n');
        }
    }
    Ok(out)
}

/// Every command's name, for tests and completion.
#[cfg(test)]
pub fn names() -> Vec<String> {
    Line::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

/// Parse `line` (a command line, quotes and all) for a test.
#[cfg(test)]
pub fn parse_line(line: &str) -> Result<Command, String> {
    parse(&words(line)?).map_err(|e| match e {
        Parsed::Help(n) => format!("help for {n}"),
        Parsed::Error(e) => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_are_consistent() {
        Line::command().debug_assert();
    }

    #[test]
    fn commands_split_at_semicolons_outside_quotes() {
        assert_eq!(commands("a; b ;c"), vec!["a", " b ", "c"]);
        assert_eq!(
            commands("get -o 'a;b' x; ping"),
            vec!["get -o 'a;b' x", " ping"]
        );
        assert_eq!(commands(r#"a "x;\"y"; b"#), vec![r#"a "x;\"y""#, " b"]);
        assert_eq!(commands(r"a x\;y; b"), vec![r"a x\;y", " b"]);
        assert_eq!(commands("a # b; c"), vec!["a "]);
        assert_eq!(commands("a#b; c"), vec!["a#b", " c"]);
        assert_eq!(commands("# all a comment"), vec![""]);
        assert_eq!(commands(""), vec![""]);
        assert_eq!(commands("a\t# b"), vec!["a\t"]);
        // Not a blank of the shell's: the `#` is in the word, as `words` keeps it (it
        // started a comment: found by a review).
        assert_eq!(commands("ping a\u{a0}#b"), vec!["ping a\u{a0}#b"]);
        assert_eq!(words("ping a\u{a0}#b").unwrap(), vec!["ping", "a\u{a0}#b"]);
    }

    #[test]
    fn words_follow_shell_quoting() {
        assert_eq!(
            words(r#"serve http -p 8091 "/tmp/dir with space""#).unwrap(),
            vec!["serve", "http", "-p", "8091", "/tmp/dir with space"]
        );
        assert_eq!(
            words(r"pcap start /tmp/a\ b.pcap").unwrap(),
            vec!["pcap", "start", "/tmp/a b.pcap"]
        );
        assert_eq!(
            words(r#"snc -o 'it''s' -f "a\"b""#).unwrap(),
            vec!["snc", "-o", "its", "-f", "a\"b"]
        );
        for bad in ["get 'x", "get \"x", "get x\\"] {
            let e = words(bad).unwrap_err();
            assert!(e.contains("unterminated quote"), "{bad}: {e}");
        }
    }

    #[test]
    fn quoted_paths_reach_the_commands() {
        match parse_line(r#"serve http -p 8091 "/tmp/dir with space""#).unwrap() {
            Command::Serve(s) => {
                assert_eq!(s.dir.unwrap(), std::path::Path::new("/tmp/dir with space"));
                assert_eq!(s.port, Some(8091));
            }
            c => panic!("{c:?}"),
        }
        match parse_line(r"pcap start '/tmp/my file.pcap'").unwrap() {
            Command::Pcap {
                action: PcapAction::Start { file },
            } => assert_eq!(file, std::path::Path::new("/tmp/my file.pcap")),
            c => panic!("{c:?}"),
        }
        match parse_line(r"snc -c 10.0.0.2:7 -f a\ b -o 'c d'").unwrap() {
            Command::Snc(s) => {
                assert_eq!(s.file.as_deref(), Some("a b"));
                assert_eq!(s.out.as_deref(), Some("c d"));
            }
            c => panic!("{c:?}"),
        }
        match parse_line(r#"get -o "out file" 10.0.0.2/x"#).unwrap() {
            Command::Get(g) => assert_eq!(g.out.as_deref(), Some("out file")),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn errors_are_one_line_and_say_what_is_wrong() {
        let err = |l: &str| parse_line(l).unwrap_err();
        assert_eq!(
            err("frobnicate"),
            "unknown command 'frobnicate' (type 'help' for the list)"
        );
        assert_eq!(
            err("snc -b 99999"),
            "snc: -b: port 99999 is out of range (0-65535)"
        );
        assert_eq!(
            err("snc -c 10.0.0.2:70000"),
            "snc: -c: port 70000 is out of range (0-65535)"
        );
        // 0 and 256 are worded alike.
        assert_eq!(
            err("ping -t 256 10.0.0.2"),
            "ping: -t: invalid TTL '256' (1 to 255)"
        );
        assert_eq!(
            err("ping -t 0 10.0.0.2"),
            "ping: -t: invalid TTL '0' (1 to 255)"
        );
        assert!(err("ping 1.2.3.4.5").starts_with("ping: invalid address '1.2.3.4.5'"));
        assert!(err("ping -z 10.0.0.2").starts_with("ping: unknown option '-z' (usage: ping "));
        assert!(err("ping").starts_with("ping: missing HOST (usage: ping [-c COUNT]"));
        assert!(err("ping 1.2.3.4 5.6.7.8").starts_with("ping: unexpected argument '5.6.7.8'"));
        assert!(err("ping -c").starts_with("ping: option -c needs a value"));
        assert_eq!(
            err("traceroute -q 11 10.0.0.2"),
            "traceroute: -q: invalid number of probes '11' (1 to 10)"
        );
        assert_eq!(
            err("traceroute -m 0 10.0.0.2"),
            "traceroute: -m: invalid TTL '0' (1 to 255)"
        );
        assert_eq!(
            err("traceroute -p 0 10.0.0.2"),
            "traceroute: -p: invalid port '0' (1 to 65535)"
        );
        assert!(err("traceroute").starts_with("traceroute: missing HOST (usage: traceroute "));
        assert!(
            err("snc -u").starts_with("snc: missing -b [ADDR:]PORT or -c ADDR:PORT (usage: snc ")
        );
        assert!(err("snc -b 1 -c 1.2.3.4:5").contains("cannot be used with"));
        assert!(err("serve ftp").starts_with("serve: invalid SERVICE 'ftp' (one of echo"));
        assert!(err("route foo").starts_with("route: unknown action 'foo'"));
        assert!(err("route help").starts_with("route: unknown action 'help'"));
        assert!(err("pcap help").starts_with("pcap: unknown action 'help'"));
        assert!(err("pcap").starts_with("pcap: missing action"));
        assert!(err("arp -s 10.0.0.5").starts_with("arp: -s needs IP MAC (usage: arp "));
        assert_eq!(err("kill x"), "kill: invalid job number 'x' (see 'jobs')");
        assert_eq!(
            err("sleep forever"),
            "sleep: invalid number of seconds 'forever' (seconds, 0 to 1000000)"
        );
        assert_eq!(
            err("sleep -1"),
            "sleep: invalid number of seconds '-1' (seconds, 0 to 1000000)"
        );
        // Each names the range it accepts.
        assert_eq!(
            err("sleep 1e300"),
            "sleep: invalid number of seconds '1e300' (seconds, 0 to 1000000)"
        );
        assert!(
            err("snc -w 1e300 -b 9000").ends_with("'1e300' (seconds, 0 to 1000000)"),
            "{}",
            err("snc -w 1e300 -b 9000")
        );
        for (line, what) in [
            ("ping -W 1e300 10.0.0.2", "timeout '1e300'"),
            ("ping -W 0.0000000001 10.0.0.2", "timeout '0.0000000001'"),
            ("ping -i 1e300 10.0.0.2", "interval '1e300'"),
            ("ping -i 0 10.0.0.2", "interval '0'"),
        ] {
            let e = err(line);
            assert!(
                e.ends_with(&format!("invalid {what} (seconds, 0.001 to 1000000)")),
                "{line}: {e}"
            );
        }
        assert_eq!(
            err("serve echo -p -1"),
            "serve: -p: invalid port '-1' (a number from 0 to 65535)"
        );
        assert_eq!(err("kill -1"), "kill: invalid job number '-1' (see 'jobs')");
        assert!(err("ping -c -1 10.0.0.2").starts_with("ping: -c: invalid count '-1'"));
        for bad in [
            "ping -c 0 1.2.3.4",
            "ping -s 70000 1.2.3.4",
            "ping -i 0 1.2.3.4",
            "ping -W 0 1.2.3.4",
            "snc -b x",
            "snc -c 9000",
            "snc -c host:7",
            "serve echo -p -1",
            "serve echo -p 70000",
            "get",
            "kill",
            "kill 1 2",
            "help a b",
            "netstat -x",
            "route -x",
            "debug -z",
            "stat now",
            "sleep",
        ] {
            let e = err(bad);
            let name = bad.split(' ').next().unwrap();
            assert!(
                e.starts_with(&format!("{name}: ")) && !e.contains('\n'),
                "{bad}: {e}"
            );
        }
        assert_eq!(parse_line("ping --help").unwrap_err(), "help for ping");
        assert_eq!(parse_line("netstat -h").unwrap_err(), "help for netstat");
    }

    /// A negative number given to an option is a bad value, as `ping -c -1`, `snc -w -1`
    /// and `serve -p -1` say; `get -m -1` said "unknown option '-1'", as if the user had
    /// given no value to -m.
    #[test]
    fn a_negative_number_is_a_bad_value_for_get_too() {
        assert_eq!(
            parse_line("get -m -1 10.0.0.2/x").unwrap_err(),
            "get: -m: invalid number of seconds '-1' (seconds, 0 to 1000000)"
        );
    }

    /// Any line: an answer (a command or a one-line error), never a panic.
    #[test]
    fn arbitrary_lines_parse_or_fail_in_one_line() {
        const TOKENS: &[&str] = &[
            "ping",
            "traceroute",
            "-m",
            "-q",
            "route",
            "add",
            "del",
            "snc",
            "serve",
            "http",
            "get",
            "arp",
            "netstat",
            "ifconfig",
            "pcap",
            "start",
            "kill",
            "sleep",
            "help",
            "-c",
            "-b",
            "-s",
            "-t",
            "-u",
            "-p",
            "-o",
            "-f",
            "-w",
            "-n",
            "-h",
            "--help",
            "--",
            "-",
            "-1",
            "0",
            "99999",
            "10.0.0.2",
            "10.0.0.2:7",
            "999.1.1.1",
            "10.0.3.5/24",
            "'a b'",
            "\"q",
            "x\\",
            ";",
            "#",
            "é",
            "\u{0}",
            "%3",
            "via",
            "dev",
            "mtu",
            "up",
            "=",
            "-tnl",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let mut line = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            for k in 0..(seed % 7) {
                let i = ((seed >> (8 * k)) as usize) % TOKENS.len();
                line.push_str(TOKENS[i]);
                line.push(if (seed >> k) & 1 == 0 { ' ' } else { ';' });
            }
            for c in commands(&line) {
                if let Err(e) = parse_line(c) {
                    assert!(!e.contains('\n') && !e.is_empty(), "{line:?}: {e:?}");
                }
            }
        }
    }

    #[test]
    fn linux_flags_are_accepted() {
        for line in [
            "route -n",
            "arp -n",
            "arp -a",
            "arp -an",
            "netstat -an",
            "netstat -tnl",
            "netstat -tulpn",
            "netstat -uw",
            "ifconfig -a",
            "ping -n -c 1 10.0.0.2",
            "route add default gw 10.0.0.2",
            "route -n add 10.1.0.0/16 dev tap0",
            "route delete default",
            "arpcache",
            "quit",
            "?",
        ] {
            assert!(parse_line(line).is_ok(), "{line}: {:?}", parse_line(line));
        }
        match parse_line("netstat -tnl").unwrap() {
            Command::Netstat(n) => assert!(n.tcp && n.numeric && n.listening && !n.udp),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn addresses_take_inet_atons_shorter_forms() {
        // inet_aton(3), which Linux's ping and net-tools read addresses with: "a.b.c" puts
        // c in the last 16 bits, "a.b" b in the last 24, "a" is all 32.
        for (short, full) in [
            ("127.1", "127.0.0.1"),
            ("10.1", "10.0.0.1"),
            ("10.1.2", "10.1.0.2"),
            ("10.65535", "10.0.255.255"),
            ("2130706433", "127.0.0.1"),
            ("0", "0.0.0.0"),
            ("10.0.0.2", "10.0.0.2"),
        ] {
            assert_eq!(address(short), Ok(full.parse().unwrap()), "{short}");
        }
        // Out of range for the place it fills, empty or too many parts; and octal or
        // hexadecimal parts, which inet_aton would read so (010 is 8), are refused
        // rather than read otherwise.
        for bad in [
            "256.1",
            "1.16777216",
            "1.2.65536",
            "4294967296",
            "1.2.3.4.5",
            "1..2",
            "1.2.",
            ".1",
            "",
            "010.0.0.1",
            "0x7f.1",
            "+1.2",
            "1.2.3.-4",
        ] {
            assert!(address(bad).is_err(), "{bad}");
        }
        let Ok(Command::Ping(o)) = parse_line("ping 127.1") else {
            panic!("ping 127.1")
        };
        assert_eq!(o.dst, "127.1", "printed as given, as Linux's ping does");
        let Ok(Command::Arp(a)) = parse_line("arp -d 10.5") else {
            panic!("arp -d 10.5")
        };
        assert_eq!(a.delete, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert!(parse_line("ping 010.0.0.1")
            .unwrap_err()
            .starts_with("ping: invalid address '010.0.0.1'"));
    }

    #[test]
    fn values_are_checked() {
        assert_eq!(port("65535"), Ok(65535));
        assert_eq!(bind_address("9000"), Ok("0.0.0.0:9000".parse().unwrap()));
        assert_eq!(
            bind_address("10.0.0.1:53"),
            Ok("10.0.0.1:53".parse().unwrap())
        );
        assert!(socket_address("999.0.0.1:80")
            .unwrap_err()
            .contains("invalid address '999.0.0.1'"));
        assert_eq!(network("default").unwrap().prefix(), 0);
        assert_eq!(job_number("%3"), Ok(3));
        assert!(job_number("%").is_err());
        assert!(job_number("99999999999999999999999").is_err());
    }

    #[test]
    fn help_is_made_from_the_definitions() {
        let list = help_list();
        for n in names() {
            assert!(list.contains(&format!("\n  {n}")), "{n} missing:\n{list}");
            let h = help_for(&n).unwrap();
            assert!(h.starts_with(&format!("usage: {n}")), "{h}");
        }
        // Every line fits, and no synopsis runs into the description column.
        for l in list.lines().skip(1) {
            assert!(l.len() <= WIDTH, "too long: {l}");
            let gap = l.get(SYNOPSIS_COLUMN + 2..SYNOPSIS_COLUMN + 4);
            assert!(
                gap.is_none_or(|g| g == "  "),
                "synopsis runs into the description: {l}"
            );
        }
        assert!(help_for("arpcache").unwrap().starts_with("usage: arp"));
        assert!(help_for("nothing")
            .unwrap_err()
            .contains("no such command 'nothing'"));
        let ping = help_for("ping").unwrap();
        assert!(
            ping.starts_with(
                "usage: ping [-c COUNT] [-s SIZE] [-t TTL] [-i INTERVAL] [-W TIMEOUT] [-n] [-b] HOST\n"
            ),
            "{ping}"
        );
        let snc = help_for("snc").unwrap();
        assert!(snc.contains("(-b [ADDR:]PORT | -c ADDR:PORT)"), "{snc}");
        let route = help_for("route").unwrap();
        assert!(
            route.contains("route add NET/PREFIX [via GW] [dev IF]"),
            "{route}"
        );
    }

    /// `help CMD` describes every form a command takes. The actions of `route` and `pcap`
    /// have descriptions of their own (`route add` takes net-tools' `-net NET netmask
    /// MASK` and `-host ADDR`, `route del` a gateway or interface that must match; `pcap
    /// start` records to FILE), which `help route` and `help pcap` never showed: nothing
    /// in `help` told of `-net`, `-host` or `netmask`, which `route` takes, nor of `route
    /// delete`, the alias of `route del`.
    #[test]
    fn help_describes_each_action() {
        let route = help_for("route").unwrap();
        for word in [
            "-net",
            "-host",
            "netmask",
            "must match",
            "route del (also: delete)",
        ] {
            assert!(route.contains(word), "{word} not described:\n{route}");
        }
        let pcap = help_for("pcap").unwrap();
        for words in ["Start recording to FILE", "Stop recording"] {
            assert!(pcap.contains(words), "{words} not described:\n{pcap}");
        }
        for l in route.lines().chain(pcap.lines()) {
            assert!(l.len() <= WIDTH, "too long: {l}");
        }
    }

    /// "Every parse error becomes one line: `CMD: what is wrong`" (this module), and each
    /// command's error names it. An unterminated quote or a trailing backslash did not:
    /// `ping 'x` said only "unterminated quote or trailing backslash ...", with no command
    /// (and `a; b` lines run several).
    #[test]
    fn a_quoting_error_names_its_command() {
        for (line, name) in [
            ("ping 'x", "ping"),
            ("route add 10.9.0.0/16 dev \"m0", "route"),
            ("snc -c 10.0.0.2:7 -f x\\", "snc"),
            ("\tget 'x", "get"),
        ] {
            let e = words(line).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "{name}: unterminated quote or trailing backslash (quote with '...' or \"...\")"
                ),
                "{line}"
            );
        }
        // No command to name: the first word is not one, or is itself cut.
        for line in ["'ping x", "frobnicate 'x", "pi\"ng x"] {
            let e = words(line).unwrap_err();
            assert!(e.starts_with("unterminated quote"), "{line}: {e}");
        }
    }
}
