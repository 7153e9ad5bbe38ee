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
    /// The stack's address on the tap.
    #[arg(long, default_value = "10.0.0.1/24", value_name = "IP/PREFIX")]
    pub addr: ip::Ipv4Cidr,
    /// The stack's MAC address on the tap.
    #[arg(long, default_value = "00:34:45:67:89:ab", value_name = "MAC")]
    pub mac: netif::MacAddr,
    /// Default gateway (adds the route 0.0.0.0/0 via IP).
    #[arg(long, value_name = "IP")]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// Address given to the kernel side of the tap (TOP2).
    #[arg(
        long,
        default_value = "10.0.0.2/24",
        value_name = "IP/PREFIX",
        conflicts_with = "no_host_config"
    )]
    pub host_addr: ip::Ipv4Cidr,
    /// Leave the kernel side of the tap alone (TOP1: the tap is bridged to a LAN).
    #[arg(long)]
    pub no_host_config: bool,
    /// Plain 1514-byte frames: do not ask the kernel for checksum and segmentation offloads
    /// (IFF_VNET_HDR + TUNSETOFFLOAD), which are on by default.
    #[arg(long)]
    pub no_offload: bool,
    /// One write system call per frame on the tap: do not use io_uring, which writes many
    /// plain frames per call (on by default where the kernel allows it).
    #[arg(long)]
    pub no_uring: bool,
    /// Read plain frames through io_uring too, many per call (by default each is read with
    /// one `read`, which cost less where it was measured; BENCHMARKS.md).
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
    /// seconds, fractions allowed [default: 60, as Linux].
    #[arg(long, value_name = "SECS", value_parser = parse_time_wait)]
    pub tcp_time_wait: Option<std::time::Duration>,
    /// Congestion control of TCP connections: cubic (RFC 9438, the default, as Linux) or
    /// reno (NewReno). A program can change its sockets' with TCP_CONGESTION.
    #[arg(long, value_name = "ALG", value_parser = parse_congestion)]
    pub tcp_congestion: Option<transport::CongestionAlgorithm>,
    /// At exit, how long to wait for TCP connections to deliver their queued data and
    /// FIN, in seconds, fractions allowed [default: 10]. A second SIGINT or SIGTERM ends
    /// the wait at once.
    #[arg(long, value_name = "SECS", value_parser = parse_time_wait)]
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

/// `--tcp-time-wait`, `--linger`: seconds, fractions allowed.
fn parse_time_wait(s: &str) -> Result<std::time::Duration, String> {
    opts::parse_seconds(s).ok_or_else(|| format!("invalid number of seconds '{s}'"))
}

/// `--tcp-congestion`: an algorithm's name.
fn parse_congestion(s: &str) -> Result<transport::CongestionAlgorithm, String> {
    s.parse()
        .map_err(|e: transport::UnknownAlgorithm| e.to_string())
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                e.exit();
            }
            // One line, like every other error of this program.
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("bad arguments");
            errln!(
                "tapip: {} (try --help)",
                first.trim_start_matches("error: ")
            );
            std::process::exit(2);
        }
    };
    std::process::exit(shell::main(cli));
}
