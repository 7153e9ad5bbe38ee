//! Nothing is lost when the program ends: `tapip -c "...; snc -c ... -f FILE; exit"` over a
//! lossy link, and the kernel's `nc -l` receives the whole file and the FIN; a peer that
//! takes nothing makes the exit give up after `--linger` and say what was not delivered.
//! The same for a program of the socket API that returns from `main` right after its last
//! write. Each test in a network namespace of its own.

#![forbid(unsafe_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tests::{eventually, example_bin, sha256_file, tapip_bin, Netns, Proc, Tapip, TempDir, SECS};

/// 5% of what arrives at the kernel's tap0 dropped by nftables on its ingress hook.
const NFT_LOSS: &str = "table netdev tapip_loss {
    chain ingress {
        type filter hook ingress device \"tap0\" priority 0; policy accept;
        meta protocol ip numgen random mod 100 < 5 counter drop
    }
}
";

/// 5% of the kernel's incoming data segments dropped (not the small ones: handshakes and
/// ACKs get through, so that connecting within a short `-w` cannot fail) and the rest
/// limited to 250 kB/s: the last megabyte takes seconds to be acknowledged.
const NFT_SLOW: &str = "table netdev tapip_loss {
    chain ingress {
        type filter hook ingress device \"tap0\" priority 0; policy accept;
        meta protocol ip meta length > 200 numgen random mod 100 < 5 counter drop
        meta protocol ip limit rate over 250 kbytes/second burst 64 kbytes counter drop
    }
}
";

/// A namespace with tap0 made beforehand (tapip attaches to it), so that the kernel side's
/// nftables `rules` can name it.
fn lossy_ns(tag: &str, dir: &TempDir, rules: &str) -> Netns {
    let ns = Netns::new(tag);
    let (ok, out) = ns.sh_text("ip tuntap add dev tap0 mode tap");
    assert!(ok, "ip tuntap add: {out}");
    ns.nft(dir, rules);
    ns
}

/// The kernel's `nc -N -l PORT`, writing what it receives to `dst`. `-N`: nc sends its FIN
/// at once (its input is empty), so `snc`'s peer has closed long before the data is
/// through, as in the issue (LAST-ACK with data queued); nc ends only when the stack's FIN
/// comes.
fn nc_sink(ns: &Netns, port: u16, dst: &Path) -> Proc {
    Proc::spawn_piped(ns, &format!("nc -N -l {port} > {}", dst.display()))
}

/// `tapip --fault FAULT --linger 60 -c SCRIPT` in `ns`.
fn tapip_script(ns: &Netns, fault: &str, script: &str) -> Proc {
    Proc::spawn_piped(
        ns,
        &format!(
            "{} --fault {fault} --linger 60 -c '{script}'",
            tapip_bin().display()
        ),
    )
}

/// `nc` (of [`nc_sink`]) ends, having written the whole of `src` to `dst` and seen the
/// FIN; `out` is tapip's output, for the messages.
fn assert_nc_got_all(nc: &mut Proc, dst: &Path, src: &Path, out: &str) {
    let len = std::fs::metadata(src).map_or(0, |m| m.len());
    let nc_status = nc.wait(SECS(10));
    let got = std::fs::metadata(dst).map_or(0, |m| m.len());
    assert_eq!(
        got, len,
        "nc received {got} of {len} bytes (nc: {nc_status:?})\n{out}"
    );
    assert_eq!(sha256_file(dst), sha256_file(src));
    assert!(
        nc_status.is_some_and(|s| s.success()),
        "nc did not see the FIN: {nc_status:?}\n{out}"
    );
}

/// The case: a lossy link both ways, `snc -f` then `exit` at once. The kernel's
/// `nc -l` must get every byte and the FIN (it ends only on the FIN), and `snc` must report
/// what the peer acknowledged, which is everything.
#[test]
fn exit_right_after_snc_over_a_lossy_link_loses_nothing() {
    const LEN: usize = 5_000_000;
    let dir = TempDir::new("lossy");
    let ns = lossy_ns("texitloss", &dir, NFT_LOSS);
    let (src, _) = dir.random_file("src.bin", LEN);
    let dst = dir.path("nc.bin");
    let mut nc = nc_sink(&ns, 9002, &dst);
    // Listening before tapip starts (nc listens on any address: the tap need not be up),
    // not left to the script's `sleep 1` after tapip's own start.
    ns.wait_listening(9002);
    let fault = "loss=0.05,corrupt=0.01,dup=0.02,reorder=0.25,delay=5ms,jitter=2ms,seed=9";
    let script = format!("sleep 1; snc -c 10.0.0.2:9002 -f {}; exit", src.display());
    let start = Instant::now();
    let tapip = tapip_script(&ns, fault, &script);
    let (status, out) = tapip.output(SECS(150));
    println!(
        "tapip ended after {:.1} s:\n{out}",
        start.elapsed().as_secs_f64()
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "tapip: {status:?}\n{out}"
    );
    assert_nc_got_all(&mut nc, &dst, &src, &out);
    assert!(
        out.contains(&format!("snc: sent {LEN} bytes")),
        "snc reports the bytes acknowledged:\n{out}"
    );
}

/// `snc -w` gives up waiting for the acknowledgements and closes; `exit` right after waits
/// (bounded by `--linger`) for the closed connection to deliver the rest through a slow,
/// lossy link (`NFT_SLOW`; duplication, reordering and delay from `--fault`): the kernel's
/// `nc -l` gets everything and the FIN.
#[test]
fn exit_waits_for_closed_connections_to_deliver_their_data() {
    const LEN: usize = 1_500_000;
    let dir = TempDir::new("orphan");
    let ns = lossy_ns("texitorphan", &dir, NFT_SLOW);
    let (src, _) = dir.random_file("src.bin", LEN);
    let dst = dir.path("nc.bin");
    let mut nc = nc_sink(&ns, 9003, &dst);
    // Listening before tapip starts (nc listens on any address: the tap need not be up),
    // not left to the script's `sleep 1` after tapip's own start.
    ns.wait_listening(9003);
    let fault = "dup=0.02,reorder=0.1,delay=5ms,jitter=2ms,seed=5";
    let script = format!(
        "sleep 1; snc -c 10.0.0.2:9003 -w 1 -f {}; exit",
        src.display()
    );
    let tapip = tapip_script(&ns, fault, &script);
    let (status, out) = tapip.output(SECS(120));
    println!("{out}");
    assert!(
        out.contains("not acknowledged within 1 s"),
        "snc gave up first:\n{out}"
    );
    assert!(!out.contains("gave up on tcp"), "{out}");
    // snc's error (it gave up waiting) makes the status 1; nothing was abandoned.
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "tapip: {status:?}\n{out}"
    );
    assert_nc_got_all(&mut nc, &dst, &src, &out);
}

/// A program of the socket API (the `tcp_send` example) writes a file to the kernel's
/// `nc -l` through a slow, lossy link and returns from `main` at once: the end of the
/// program delivers the queued data and the FIN, as the kernel does for a process's
/// sockets, before the process is gone.
#[test]
fn a_socket_api_program_returning_from_main_delivers_what_it_queued() {
    const LEN: usize = 1_500_000;
    let dir = TempDir::new("appexit");
    let ns = lossy_ns("tappexit", &dir, NFT_SLOW);
    let (src, _) = dir.random_file("src.bin", LEN);
    let dst = dir.path("nc.bin");
    let mut nc = nc_sink(&ns, 9006, &dst);
    ns.wait_listening(9006);
    let start = Instant::now();
    let app = Proc::spawn_piped(
        &ns,
        &format!(
            "{} --linger 60 10.0.0.2:9006 < {}",
            example_bin("tcp_send").display(),
            src.display()
        ),
    );
    let (status, out) = app.output(SECS(120));
    let took = start.elapsed();
    println!("tcp_send ended after {:.1} s:\n{out}", took.as_secs_f64());
    assert!(
        status.is_some_and(|s| s.success()),
        "tcp_send: {status:?}\n{out}"
    );
    // At 250 kB/s, most of the file was still queued when `main` returned.
    assert!(took > Duration::from_secs(2), "{took:?}");
    assert_nc_got_all(&mut nc, &dst, &src, &out);
}

/// A kernel peer that takes nothing (stopped): the stack's send queue stays full.
fn stalled_upload(tag: &str, dir: &TempDir, port: u16, extra: &[&str]) -> (Netns, Tapip, Proc) {
    let ns = Netns::new(tag);
    let t = Tapip::start(&ns, extra);
    let (src, _) = dir.random_file("src.bin", 8 << 20);
    let nc = Proc::spawn_piped(&ns, &format!("nc -l {port}"));
    ns.wait_listening(port);
    let _ = Command::new("kill")
        .args(["-STOP", &nc.pid().to_string()])
        .status();
    let mut t = t;
    t.cmd(&format!(
        "snc -c 10.0.0.2:{port} -f {} -o /dev/null",
        src.display()
    ));
    // The kernel's receive buffer fills (it stays small: autotuning grows it only as the
    // application reads), then the window closes.
    let ok = eventually(SECS(20), || {
        let (_, ss) = ns.sh_text(&format!("ss -Htn 'sport = :{port}'"));
        ss.split_whitespace()
            .nth(1)
            .and_then(|q| q.parse::<u64>().ok())
            .is_some_and(|recv_q| recv_q > 32 << 10)
    });
    assert!(
        ok,
        "the kernel's receive queue did not fill:\n{}",
        t.output()
    );
    (ns, t, nc)
}

fn signal(t: &Tapip, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &t.pid().to_string()])
        .status();
}

/// SIGINT with commands from a pipe ends the program gracefully: it waits `--linger`, then
/// says, in one line, what it could not deliver, resets the connection and exits with 1.
#[test]
fn out_of_linger_time_the_exit_says_what_was_not_delivered() {
    let dir = TempDir::new("giveup");
    let (_ns, mut t, _nc) = stalled_upload("texitgiveup", &dir, 9004, &["--linger", "1"]);
    let start = Instant::now();
    signal(&t, "-INT");
    let code = t.wait_exit(SECS(15));
    let took = start.elapsed();
    let out = t.output();
    assert_eq!(code, Some(1), "{out}");
    assert!(took >= Duration::from_millis(900), "{took:?}\n{out}");
    assert!(took < SECS(8), "{took:?}\n{out}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("gave up on tcp"))
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("tapip: gave up on tcp 10.0.0.1:")
            && lines[0].contains(" -> 10.0.0.2:9004 (FIN-WAIT-1): ")
            && lines[0].ends_with(" bytes and the FIN not delivered"),
        "{}",
        lines[0]
    );
}

/// SIGTERM ends gracefully (here the wait goes on: the peer takes nothing); a second
/// SIGTERM ends the program at once.
#[test]
fn a_second_sigterm_ends_the_program_at_once() {
    let dir = TempDir::new("twice");
    let (_ns, mut t, _nc) = stalled_upload("texittwice", &dir, 9005, &["--linger", "60"]);
    signal(&t, "-TERM");
    // snc ends (interrupted), then the exit waits for the connection.
    assert_eq!(t.wait_exit(SECS(2)), None, "{}", t.output());
    let start = Instant::now();
    signal(&t, "-TERM");
    let code = t.wait_exit(SECS(5));
    let took = start.elapsed();
    println!("ended {took:?} after the second SIGTERM");
    assert_eq!(code, Some(143), "{}", t.output());
    // At once: no wait for the connection (the machine may be busy: a generous bound).
    assert!(took < SECS(4), "{took:?}");
}

/// The same with commands from a pipe: the end of the input ends the program, gracefully.
#[test]
fn the_end_of_piped_input_waits_for_closed_connections_too() {
    const LEN: usize = 1_500_000;
    let dir = TempDir::new("pipe");
    let ns = lossy_ns("texitpipe", &dir, NFT_SLOW);
    let (src, _) = dir.random_file("src.bin", LEN);
    let dst = dir.path("nc.bin");
    let mut nc = nc_sink(&ns, 9007, &dst);
    ns.wait_listening(9007);
    let fault = "dup=0.02,reorder=0.1,delay=5ms,jitter=2ms,seed=6";
    let mut t = Tapip::start(&ns, &["--fault", fault, "--linger", "60"]);
    t.cmd(&format!("snc -c 10.0.0.2:9007 -w 1 -f {}", src.display()));
    t.wait_for("not acknowledged within 1 s", SECS(60));
    let code = t.close_input(SECS(60));
    let out = t.output();
    // 1: snc gave up waiting (an error); the exit itself lost nothing.
    assert_eq!(code, Some(1), "{out}");
    assert!(!out.contains("gave up on tcp"), "{out}");
    assert_nc_got_all(&mut nc, &dst, &src, &out);
}
