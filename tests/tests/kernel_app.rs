//! Applications written against `socket-api` alone (its examples, each a stack made by
//! `StackBuilder` on a TAP device of its own) talking to the Linux kernel, each test in a
//! network namespace of its own: the kernel connects to their servers, they connect to
//! servers on the kernel's side and, through the kernel's routing, to one another, and a
//! stack connects to its own address.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tests::{eventually, example_bin, wait_child, Netns, TempDir, SECS};

/// An example program running inside a namespace, its output (stdout and stderr, by line)
/// collected. Killed by its PID when dropped.
struct App {
    child: Child,
    out: Arc<Mutex<String>>,
    /// Standard output alone, for programs whose output is data.
    stdout: Arc<Mutex<Vec<u8>>>,
}

impl App {
    fn start(ns: &Netns, example: &str, args: &[&str], input: Option<&str>) -> App {
        let mut child = ns
            .command(example_bin(example).to_str().expect("utf-8 path"))
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {example}: {e}"));
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            let text = text.to_string();
            // Written from a thread so a program that reads slowly cannot block the test;
            // dropping the pipe afterwards is the end of input.
            std::thread::spawn(move || {
                let _ = stdin.write_all(text.as_bytes());
            });
        }
        let out = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stdout.take().expect("stdout");
        let (o, data) = (out.clone(), stdout.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n @ 1..) = std::io::Read::read(&mut pipe, &mut buf) {
                lock(&data).extend_from_slice(&buf[..n]);
                lock(&o).push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let err = child.stderr.take().expect("stderr");
        let o = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut o = lock(&o);
                o.push_str(&line);
                o.push('\n');
            }
        });
        App { child, out, stdout }
    }

    fn output(&self) -> String {
        lock(&self.out).clone()
    }

    fn stdout(&self) -> Vec<u8> {
        lock(&self.stdout).clone()
    }

    /// Wait until the output contains `needle`; panics with the output on timeout.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let o = self.output();
            if o.contains(needle) {
                return o;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {needle:?}; the program printed:\n{o}");
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "exited ({status}) before printing {needle:?}:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the program to end by itself; its exit code.
    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let status = wait_child(&mut self.child, timeout)?;
        // Let the reader threads take the last of the output.
        std::thread::sleep(Duration::from_millis(100));
        status.code()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Run a Python program inside the namespace; its output and success.
fn python(ns: &Netns, name: &str, code: &str) -> (bool, String) {
    let dir = TempDir::new("app");
    let script = dir.path(name);
    std::fs::write(&script, code).expect("write a script");
    ns.sh_text(&format!("timeout 30 python3 {}", script.display()))
}

/// Three connections at once from the kernel, each sending 200 KB in pieces and checking
/// every byte that comes back.
const ECHO_CLIENTS_PY: &str = r#"
import socket, threading
results = []
def client(k):
    s = socket.create_connection(("10.0.0.1", 7), timeout=10)
    data = bytes((i * 7 + k) % 251 for i in range(200000))
    got = bytearray()
    for off in range(0, len(data), 8000):
        s.sendall(data[off:off + 8000])
        while len(got) < min(len(data), off + 8000):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    s.shutdown(socket.SHUT_WR)
    rest = s.recv(1)
    results.append((bytes(got) == data, rest == b""))
threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print("results", sorted(results))
"#;

const ALL_GOOD: &str = "results [(True, True), (True, True), (True, True)]";

#[test]
fn first_app_reaches_its_own_address_and_echoes_for_the_kernel() {
    let ns = Netns::new("app1");
    let mut app = App::start(&ns, "first_app", &[], None);
    // The program's own client: a connection from the stack to its own address, 10.0.0.1.
    app.wait_for("echoed: hello, stack", SECS(20));
    app.wait_for("serving on 10.0.0.1:7", SECS(5));
    // Offloads are on by default.
    let (_, tap0) = ns.sh_text("ip -d link show tap0");
    assert!(tap0.contains("vnet_hdr on"), "{tap0}");
    let (ok, out) = python(&ns, "first.py", ECHO_CLIENTS_PY);
    assert!(ok && out.contains(ALL_GOOD), "{out}\n{}", app.output());
    // The kernel reached the stack at the builder's default MAC.
    let (_, neigh) = ns.sh_text("ip neigh show dev tap0");
    assert!(neigh.contains("00:34:45:67:89:ab"), "{neigh}");
}

#[test]
fn tcp_echo_client_and_server_examples_talk_through_the_kernel_router() {
    let ns = Netns::new("app2");
    ns.sh("sysctl -qw net.ipv4.ip_forward=1");
    // The server with plain frames, the client (on tap1, below) with offloads.
    let mut server = App::start(&ns, "tcp_echo_server", &["--no-offload"], None);
    server.wait_for("echo server on tcp port 7", SECS(20));
    let (_, tap0) = ns.sh_text("ip -d link show tap0");
    assert!(tap0.contains("vnet_hdr off"), "{tap0}");

    // The kernel as a client of the server.
    let (ok, out) = python(&ns, "echo.py", ECHO_CLIENTS_PY);
    assert!(ok && out.contains(ALL_GOOD), "{out}\n{}", server.output());

    // A second stack, on tap1, through the kernel's routing.
    let lines = "hello\nfrom tap1\n".to_string() + &"x".repeat(3000) + "\n";
    let mut client = App::start(&ns, "tcp_echo_client", &["10.0.0.1:7"], Some(&lines));
    assert_eq!(client.wait_exit(SECS(30)), Some(0), "{}", client.output());
    assert_eq!(String::from_utf8_lossy(&client.stdout()), lines);
    let n = lines.len();
    let summary = format!("sent {n} bytes, received {n} bytes");
    assert!(client.output().contains(&summary), "{}", client.output());
    server.wait_for("10.0.1.1:", SECS(5));
    server.wait_for(&format!("closed after {n} bytes"), SECS(5));
}

#[test]
fn udp_echo_client_and_server_examples_talk_through_the_kernel_router() {
    let ns = Netns::new("app3");
    ns.sh("sysctl -qw net.ipv4.ip_forward=1");
    let mut server = App::start(&ns, "udp_echo_server", &[], None);
    server.wait_for("echo server on udp port 7", SECS(20));
    // -w 3: the echo comes back within nc's idle time even when the kernel's ARP and a
    // loaded machine delay it (1 s was tight).
    let (ok, out) = ns.sh_text("echo hi | nc -u -w 3 10.0.0.1 7");
    assert!(ok && out.contains("hi"), "{out}\n{}", server.output());
    let mut client = App::start(&ns, "udp_echo_client", &["10.0.0.1:7"], None);
    assert_eq!(client.wait_exit(SECS(30)), Some(0), "{}", client.output());
    let out = client.output();
    // The first datagram may wait for ARP on both taps; the count is what matters.
    let echoed = out.matches("bytes from 10.0.0.1:7").count();
    assert!(echoed >= 2, "{out}\n{}", server.output());
}

#[test]
fn http_get_example_fetches_a_file_from_a_kernel_web_server() {
    let ns = Netns::new("app4");
    let dir = TempDir::new("app-www");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 256) as u8).collect();
    std::fs::write(dir.path("file.bin"), &body).expect("write the file");
    let mut web = ns
        .command("python3")
        .args([
            "-m",
            "http.server",
            "8000",
            "--bind",
            "0.0.0.0",
            "--directory",
        ])
        .arg(dir.root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m http.server");
    let listening = eventually(SECS(10), || ns.sh_text("nc -z 127.0.0.1 8000").0);
    let mut get = App::start(&ns, "http_get", &["http://10.0.1.2:8000/file.bin"], None);
    let code = get.wait_exit(SECS(30));
    let _ = web.kill();
    let _ = web.wait();
    assert!(listening, "the kernel's web server did not start");
    assert_eq!(code, Some(0), "{}", get.output());
    assert!(get.output().contains("HTTP/1.0 200 OK"), "{}", get.output());
    let got = get.stdout();
    assert!(
        got == body,
        "body of {} bytes, want {}",
        got.len(),
        body.len()
    );
}

#[test]
fn tcp_echo_server_in_top1_leaves_a_configured_tap_alone() {
    let ns = Netns::new("app5");
    // The tap exists already, configured by someone else (a bridge's port, in real life).
    let (ok, out) = ns.sh_text(
        "ip tuntap add dev tap0 mode tap && ip addr add 10.0.0.3/24 dev tap0 \
         && ip link set tap0 up && sysctl -qw net.ipv6.conf.tap0.disable_ipv6=1",
    );
    assert!(ok, "{out}");
    let mut server = App::start(&ns, "tcp_echo_server", &["--no-host-config"], None);
    server.wait_for("echo server on tcp port 7", SECS(20));
    let (ok, out) = python(&ns, "top1.py", ECHO_CLIENTS_PY);
    assert!(ok && out.contains(ALL_GOOD), "{out}\n{}", server.output());
    // The kernel's address is still the only one on the tap (TOP2 would have set
    // 10.0.0.2/24).
    let (_, addrs) = ns.sh_text("ip -4 -o addr show dev tap0");
    assert_eq!(addrs.matches("inet ").count(), 1, "{addrs}");
    assert!(addrs.contains("10.0.0.3/24"), "{addrs}");
}

/// A raw socket with `IP_HDRINCL` (the `raw_ping` example) pings the kernel with a header
/// it wrote itself, a Record Route option in it: the kernel takes the datagram (the stack
/// filled in the length, checksum, source and Identification correctly) and answers with
/// the option echoed, its own address recorded (RFC 791 3.1, Linux's `ip_options_echo`).
#[test]
fn a_raw_socket_with_its_own_header_pings_the_kernel_with_record_route() {
    let ns = Netns::new("app6");
    let mut ping = App::start(&ns, "raw_ping", &["--count", "2", "10.0.0.2"], None);
    assert_eq!(ping.wait_exit(SECS(30)), Some(0), "{}", ping.output());
    let out = ping.output();
    assert!(out.contains("reply from 10.0.0.2: icmp_seq=1"), "{out}");
    assert!(out.contains("RR: 10.0.0.2"), "{out}");
}

/// The kernel's client: "abc", the urgent "!" (`MSG_OOB`), "def", then its end.
const URGENT_CLIENT_PY: &str = r#"
import socket
s = socket.create_connection(("10.0.0.1", 7), timeout=10)
s.sendall(b"abc")
s.send(b"!", socket.MSG_OOB)
s.sendall(b"def")
s.shutdown(socket.SHUT_WR)
print("closed" if s.recv(1) == b"" else "more data?", flush=True)
"#;

/// The kernel's server, SO_OOBINLINE off: the urgent byte comes from `recv(MSG_OOB)` when
/// `select` says it is there (POLLPRI), the rest in the stream without it.
const URGENT_SERVER_PY: &str = r#"
import select, socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", 7001))
l.listen(1)
l.settimeout(30)
c, _ = l.accept()
normal, oob = b"", None
while True:
    r, _, x = select.select([c], [], [c], 10)
    if not r and not x:
        break
    if x and oob is None:
        try:
            oob = c.recv(1, socket.MSG_OOB)
            continue
        except BlockingIOError:
            pass
        except OSError as e:
            oob = repr(e).encode()
    if r:
        d = c.recv(100)
        if not d:
            break
        normal += d
c.close()
print("oob", oob, "normal", normal, flush=True)
"#;

/// TCP urgent data (RFC 9293 3.8.5) with the kernel, both ways (`examples/tcp_urgent`):
/// Linux's `send(MSG_OOB)` reaches the stack's `poll` as urgent, a read stops at the mark
/// (`at_mark` true before the "!") and the bytes arrive inline, "abc!def"; the stack's
/// `send_urgent(b"!")` is the byte a Linux server without SO_OOBINLINE takes with
/// `recv(MSG_OOB)`, the stream holding "abcdef" (Linux's urgent byte is the one before the
/// pointer, as ours).
#[test]
fn urgent_data_goes_both_ways_with_the_kernel() {
    let ns = Netns::new("app-urg");
    let mut server = App::start(&ns, "tcp_urgent", &[], None);
    server.wait_for("urgent server on tcp port 7", SECS(20));
    let (ok, out) = python(&ns, "urgent_client.py", URGENT_CLIENT_PY);
    assert!(ok && out.contains("closed"), "{out}\n{}", server.output());
    let got = server.wait_for("received", SECS(10));
    assert!(got.contains("urgent data pending"), "{got}");
    assert!(got.contains("at the mark after 3 bytes"), "{got}");
    assert!(got.contains("received \"abc!def\""), "{got}");
    drop(server);

    // The other way: the kernel listens (on every address: tap0 comes with the stack).
    let dir = TempDir::new("app-urg");
    let script = dir.path("urgent_server.py");
    std::fs::write(&script, URGENT_SERVER_PY).expect("write a script");
    let py = tests::Proc::spawn_piped(&ns, &format!("timeout 40 python3 {}", script.display()));
    ns.wait_listening(7001);
    let mut client = App::start(&ns, "tcp_urgent", &["--connect", "10.0.0.2:7001"], None);
    assert_eq!(client.wait_exit(SECS(30)), Some(0), "{}", client.output());
    let (ok, out) = py.finish(SECS(20));
    assert!(ok, "{out}");
    assert!(out.contains("oob b'!' normal b'abcdef'"), "{out}");
}

/// 24 TCP connections and 24 UDP flows from the kernel (each from a port of its own) to
/// the `reuseport_server` example: two workers, each with its own listener and UDP
/// socket on port 7 through SO_REUSEPORT. Every flow is answered, by one worker, and
/// both workers take a share (all 24 on one would be a 1 in 8 million chance).
const REUSEPORT_PY: &str = r#"
import socket
tcp, udp = set(), set()
for i in range(24):
    s = socket.create_connection(("10.0.0.1", 7), timeout=10)
    f = s.makefile("rb")
    who = f.readline().decode().strip()
    s.sendall(b"ping %d\n" % i)
    assert f.readline() == b"ping %d\n" % i, who
    s.close()
    tcp.add(who)
for i in range(24):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(b"hi %d" % i, ("10.0.0.1", 7))
    reply = u.recv(2048).decode()
    who, rest = reply.split(": ", 1)
    assert rest == "hi %d" % i, reply
    # Every datagram of a flow goes to the same worker.
    u.sendto(b"again", ("10.0.0.1", 7))
    assert u.recv(2048).decode() == who + ": again"
    u.close()
    udp.add(who)
print("tcp", sorted(tcp), "udp", sorted(udp))
"#;

#[test]
fn reuseport_workers_share_a_port_for_the_kernel_s_connections_and_datagrams() {
    let ns = Netns::new("app8");
    let mut app = App::start(&ns, "reuseport_server", &[], None);
    app.wait_for("2 workers on tcp and udp port 7", SECS(20));
    let (ok, out) = python(&ns, "reuseport.py", REUSEPORT_PY);
    let both = "['worker 0', 'worker 1']";
    assert!(
        ok && out.contains(&format!("tcp {both} udp {both}")),
        "{out}\n{}",
        app.output()
    );
}
