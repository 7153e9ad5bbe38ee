//! The shell's commands. Each takes the words after its name and returns `Ok` or a one-line
//! error; none may panic on any input.

mod arp;
mod debug;
mod get;
mod ifconfig;
pub mod input;
pub mod jobs;
mod netstat;
mod ping;
mod route;
mod serve;
mod snc;
mod stat;
mod tcp;

use crate::opts::{parse_seconds, Args};
use netif::pcap::PcapHandle;
use netif::trace::Trace;
use socket_api::Stack;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Signal flags set by the handlers for SIGINT and SIGTERM.
#[derive(Clone, Default)]
pub struct Signals {
    pub interrupt: Arc<AtomicBool>,
    pub terminate: Arc<AtomicBool>,
}

impl Signals {
    /// Should a running command stop?
    pub fn stop_requested(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst) || self.terminate.load(Ordering::SeqCst)
    }

    /// Sleep for `d` unless a signal comes first; false if interrupted.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = std::time::Instant::now() + d;
        loop {
            if self.stop_requested() {
                return false;
            }
            let now = std::time::Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
    }
}

/// What the shell's commands work on.
pub struct Ctx {
    pub stack: Stack,
    pub trace: Trace,
    pub pcap: PcapHandle,
    pub sig: Signals,
    /// The fault injector on the tap, when `--fault` asked for one.
    pub fault: Option<Arc<netif::fault::FaultInjector<netif::TapDevice>>>,
    /// Lines of the shell's input, for a command that reads them (`snc -c`).
    pub input: input::Input,
    /// Background jobs (`serve`); stopped before the stack shuts down.
    pub jobs: jobs::Jobs,
}

/// What the shell does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Exit,
}

struct Command {
    name: &'static str,
    usage: &'static str,
    help: &'static str,
}

const COMMANDS: &[Command] = &[
    Command { name: "help", usage: "help [CMD]", help: "list the commands, or describe one" },
    Command { name: "exit", usage: "exit", help: "stop the stack and leave (also: quit, end of input, SIGINT, SIGTERM)" },
    Command { name: "clear", usage: "clear", help: "clear the screen" },
    Command {
        name: "ping",
        usage: "ping [-c COUNT] [-s SIZE] [-t TTL] [-i INTERVAL] [-W TIMEOUT] ADDR",
        help: "send ICMP echo requests from a raw socket (Ctrl-C stops); SIZE bytes of data (default 56, at most 65507), INTERVAL and TIMEOUT in seconds",
    },
    Command {
        name: "ifconfig",
        usage: "ifconfig [IF [IP/PREFIX] [mtu N] [up|down]]",
        help: "show interfaces, or set an interface's address, MTU and state",
    },
    Command {
        name: "route",
        usage: "route [add NET/PREFIX [via GW] [dev IF] | del NET/PREFIX]",
        help: "show the routing table, or add or delete a static route (0.0.0.0/0 is the default route)",
    },
    Command {
        name: "arp",
        usage: "arp [-d IP | -s IP MAC]",
        help: "show the ARP cache, delete an entry, or add a static one (alias: arpcache)",
    },
    Command { name: "stat", usage: "stat", help: "buffers and sockets in use, per-protocol counters (ip, icmp, udp, tcp, ...), drops by cause" },
    Command {
        name: "debug",
        usage: "debug [-n] [-c] dev|l2|arp|ip|icmp|udp|tcp|tcpstate|all ...",
        help: "print a decoded line per packet at the chosen layers; blocks until Ctrl-C unless -n; -c turns tracing off",
    },
    Command {
        name: "snc",
        usage: "snc [-u] [-d] [-w SECONDS] (-b [ADDR:]PORT | -c ADDR:PORT) [-f FILE] [-o FILE]",
        help: "netcat over TCP (UDP with -u): -b listens, takes one connection and prints what arrives until the peer closes (UDP: until Ctrl-C); -c connects and sends each line of input (to its end, Ctrl-D at a terminal) or FILE, printing what comes back, then (TCP) sends a FIN and waits for the peer to close; -o writes what arrives to FILE; -w limits the waits (TCP: connecting, the peer's close, and with -b a connection and data; UDP: replies after the last datagram); -d reports each read; TCP ends with a summary line (bytes, seconds, throughput)",
    },
    Command {
        name: "serve",
        usage: "serve echo|discard|chargen|daytime [-u] [-p PORT] | serve http [-p PORT] DIR",
        help: "run a service as a background job, over TCP (one thread per connection, at most 64 at once) or UDP with -u: echo (port 7), discard (9), chargen (19), daytime (13), or http (80, TCP only): the files under DIR; UDP datagrams from ports 0, 7, 13 and 19 get no answer (no service loops)",
    },
    Command {
        name: "get",
        usage: "get URL [-o FILE]",
        help: "fetch http://IP[:PORT]/PATH with HTTP/1.1 (IPv4 addresses only: no DNS); the body goes to the terminal (raw bytes) or to FILE, then a line with the status, bytes, seconds and throughput; Ctrl-C interrupts",
    },
    Command { name: "jobs", usage: "jobs", help: "list background jobs and what each has served (datagrams; connections and bytes; HTTP requests)" },
    Command { name: "kill", usage: "kill N", help: "stop background job N (as 'jobs' numbers them)" },
    Command {
        name: "netstat",
        usage: "netstat",
        help: "list every socket: protocol, bytes queued to receive and to send, addresses, state (TCP: also cwnd, srtt, rto, retransmissions, mss; and TIME-WAIT records)",
    },
    Command { name: "pcap", usage: "pcap start FILE | pcap stop", help: "record every frame of the interfaces in a pcap file" },
    Command { name: "sleep", usage: "sleep SECONDS", help: "pause the shell (the stack keeps running)" },
    Command { name: "wait", usage: "wait", help: "block until the program is signalled (SIGINT or SIGTERM), serving meanwhile" },
];

/// Run one command line. Errors are one line each, ready to print.
pub fn run(ctx: &Ctx, line: &str) -> Result<Flow, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&name, rest)) = words.split_first() else {
        return Ok(Flow::Continue);
    };
    let mut args = Args::new(name, rest);
    match name {
        "help" | "?" => help(args.next()).map(|_| Flow::Continue),
        "exit" | "quit" => Ok(Flow::Exit),
        "clear" => {
            print!("\x1b[2J\x1b[H");
            Ok(Flow::Continue)
        }
        "ping" => ping::run(ctx, &mut args).map(|_| Flow::Continue),
        "ifconfig" => ifconfig::run(ctx, &mut args).map(|_| Flow::Continue),
        "route" => route::run(ctx, &mut args).map(|_| Flow::Continue),
        "arp" | "arpcache" => arp::run(ctx, &mut args).map(|_| Flow::Continue),
        "stat" => {
            args.finish()?;
            stat::run(ctx);
            Ok(Flow::Continue)
        }
        "debug" => debug::run(ctx, &mut args).map(|_| Flow::Continue),
        "snc" => snc::run(ctx, &mut args).map(|_| Flow::Continue),
        "get" => get::run(ctx, &mut args).map(|_| Flow::Continue),
        "serve" => serve::run(ctx, &mut args).map(|_| Flow::Continue),
        "jobs" => jobs::list(ctx, &mut args).map(|_| Flow::Continue),
        "kill" => jobs::kill(ctx, &mut args).map(|_| Flow::Continue),
        "netstat" => netstat::run(ctx, &mut args).map(|_| Flow::Continue),
        "pcap" => pcap(ctx, &mut args).map(|_| Flow::Continue),
        "sleep" => {
            let s = args.required("SECONDS")?;
            let d = parse_seconds(s)
                .ok_or_else(|| format!("sleep: invalid number of seconds '{s}'"))?;
            args.finish()?;
            ctx.sig.sleep(d);
            Ok(Flow::Continue)
        }
        "wait" => {
            args.finish()?;
            while !ctx.sig.stop_requested() {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(Flow::Exit)
        }
        _ => Err(format!(
            "unknown command '{name}' (type 'help' for the list)"
        )),
    }
}

fn help(cmd: Option<&str>) -> Result<(), String> {
    match cmd {
        None => {
            println!("Commands:");
            for c in COMMANDS {
                println!("  {:<60} {}", c.usage, c.help);
            }
            Ok(())
        }
        Some(name) => {
            let name = if name == "arpcache" { "arp" } else { name };
            let c = COMMANDS
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| format!("help: no such command '{name}'"))?;
            println!("usage: {}\n  {}", c.usage, c.help);
            Ok(())
        }
    }
}

fn pcap(ctx: &Ctx, args: &mut Args<'_>) -> Result<(), String> {
    match args.required("'start FILE' or 'stop'")? {
        "start" => {
            let file = args.required("FILE")?;
            args.finish()?;
            ctx.pcap
                .start(file)
                .map_err(|e| format!("pcap: cannot write '{file}': {e}"))?;
            println!("recording to {file}");
            Ok(())
        }
        "stop" => {
            args.finish()?;
            let path = ctx.pcap.path();
            let n = ctx.pcap.packets();
            ctx.pcap.stop().map_err(|e| format!("pcap: {e}"))?;
            match path {
                Some(p) => println!("stopped recording to {} ({n} packets)", p.display()),
                None => println!("not recording"),
            }
            Ok(())
        }
        other => Err(format!(
            "pcap: unknown action '{other}' (use 'start FILE' or 'stop')"
        )),
    }
}

/// A shell context on an in-memory stack with only the loopback interface (127.0.0.1/8),
/// for tests that run commands end to end. Its input is at its end.
#[cfg(test)]
pub mod testing {
    use super::*;
    use netif::{DriverConfig, MemoryLink};
    use socket_api::StackConfig;

    pub fn ctx() -> Ctx {
        let (trace, _lines) = Trace::new();
        let stack = Stack::new(StackConfig::default()).expect("a stack");
        let lo = stack
            .add_device(Arc::new(MemoryLink::loopback()), DriverConfig::default())
            .expect("the loopback device");
        let addr = ip::Ipv4Cidr::new(std::net::Ipv4Addr::new(127, 0, 0, 1), 8).expect("127/8");
        stack
            .with_core(|c, now| -> Result<(), String> {
                c.ip.set_address(lo, Some(addr), now)
                    .map_err(|e| e.to_string())?;
                c.ip.set_up(lo, true, now).map_err(|e| e.to_string())
            })
            .expect("loopback up");
        let (input, _requests) = input::Input::new();
        Ctx {
            stack,
            trace,
            pcap: PcapHandle::new(),
            sig: Signals::default(),
            fault: None,
            input,
            jobs: jobs::Jobs::default(),
        }
    }

    /// Run one command line.
    pub fn run_line(ctx: &Ctx, line: &str) -> Result<Flow, String> {
        run(ctx, line)
    }

    /// A fresh directory under the system's temporary one.
    pub fn temp_dir(tag: &str) -> std::path::PathBuf {
        use std::sync::atomic::AtomicUsize;
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "tapip-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&d).expect("a temporary directory");
        d
    }

    /// Stop the jobs, then the stack.
    pub fn finish(ctx: Ctx) {
        ctx.jobs.stop_all();
        ctx.stack.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_help() {
        for c in COMMANDS {
            assert!(help(Some(c.name)).is_ok());
        }
        assert!(help(Some("nope")).is_err());
    }
}
