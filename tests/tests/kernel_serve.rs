//! `serve` under many kernel-side clients at once over a real TAP device (TOP2): slow curl
//! downloads from `serve http`, Python clients holding `serve echo` connections, more than a
//! thousand connections open at once, and idle connections that must not lock anyone out.
//! Each test in a network namespace of its own, bounded in count and time.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};
use tests::{top2, Netns, Tapip, TempDir, SECS};

/// The `jobs` line of the first job, once it contains `want` (or the last one seen).
fn jobs_line(t: &mut Tapip, want: &str, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    loop {
        let since = t.output().len();
        t.cmd("jobs");
        std::thread::sleep(Duration::from_millis(200));
        let out = t.output();
        let line = out
            .get(since..)
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("[1]"))
            .unwrap_or_default()
            .to_string();
        if line.contains(want) || Instant::now() > end {
            return line;
        }
    }
}

#[test]
fn two_hundred_slow_curls_all_get_their_file() {
    let (ns, mut t) = top2("slowhttp", &[]);
    let dir = TempDir::new("slow");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.path("f.bin"), &data).unwrap();
    t.cmd(&format!("serve http -p 80 {}", dir.root().display()));
    t.wait_for("serve http tcp 0.0.0.0:80", SECS(5));
    // 200 at once, each at 100 KB/s: about 3 s each, all overlapping (four times the old
    // cap of 64 connections).
    let results = dir.path("results");
    let script = format!(
        "for i in $(seq 200); do \
           curl -sS --max-time 60 --limit-rate 100k -o /dev/null \
             -w '%{{http_code}} %{{size_download}}\\n' http://10.0.0.1/f.bin >> {r}.$i 2>&1 & \
         done; wait; cat {r}.*",
        r = results.display()
    );
    let start = Instant::now();
    let (_, out) = ns.sh_text(&format!(
        "timeout 120 sh -c '{}'",
        script.replace('\'', "'\\''")
    ));
    println!("200 slow curls: {:.1} s", start.elapsed().as_secs_f64());
    let want = format!("200 {}", data.len());
    let good = out.lines().filter(|l| *l == want).count();
    assert_eq!(good, 200, "{out}\n{}", t.output());
    let l = jobs_line(&mut t, "open: 0", SECS(10));
    assert!(
        l.contains("connections: 200, open: 0, requests: 200, errors: 0"),
        "{l}"
    );
}

/// Python clients of `serve echo`: N threads, each connects, sends `pieces` small pieces
/// over about a second, reads all of it back and closes. Prints "ok N" when all did.
const ECHO_CLIENTS_PY: &str = r#"
import socket, sys, threading, time
n, pieces = int(sys.argv[1]), int(sys.argv[2])
ok = [0]
lock = threading.Lock()
def client(i):
    try:
        s = socket.create_connection(("10.0.0.1", 7), timeout=30)
        want = b""
        for k in range(pieces):
            msg = b"client %d piece %d\n" % (i, k)
            s.sendall(msg)
            want += msg
            time.sleep(1.0 / pieces)
        got = b""
        while len(got) < len(want):
            b = s.recv(65536)
            if not b:
                break
            got += b
        s.close()
        if got == want:
            with lock:
                ok[0] += 1
        else:
            print("client %d: sent %d got %d" % (i, len(want), len(got)))
    except Exception as e:
        print("client %d: %s" % (i, e))
threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("ok %d" % ok[0])
"#;

#[test]
fn three_hundred_python_clients_hold_echo_connections_for_a_second() {
    let (ns, mut t) = top2("pyecho", &[]);
    let dir = TempDir::new("pyecho");
    let script = dir.path("clients.py");
    std::fs::write(&script, ECHO_CLIENTS_PY).unwrap();
    t.cmd("serve echo");
    t.wait_for("serve echo tcp 0.0.0.0:7", SECS(5));
    let start = Instant::now();
    let (_, out) = ns.sh_text(&format!("timeout 120 python3 {} 300 10", script.display()));
    println!("300 echo clients: {:.1} s", start.elapsed().as_secs_f64());
    assert!(out.contains("ok 300"), "{out}\n{}", t.output());
    let l = jobs_line(&mut t, "open: 0", SECS(10));
    assert!(l.contains("connections: 300, open: 0"), "{l}");
}

/// Opens N connections to port P and holds them idle; once all are open prints "open N"
/// and waits for a line on stdin, then sends one request on each ("echo": a line; "http":
/// a GET of /a.txt) and prints "answered K" with how many got the whole answer.
const MANY_PY: &str = r#"
import socket, sys, selectors
n, port, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for i in range(n):
    s = socket.create_connection(("10.0.0.1", port), timeout=60)
    socks.append(s)
print("open %d" % len(socks), flush=True)
sys.stdin.readline()
sel = selectors.DefaultSelector()
want = {}
for i, s in enumerate(socks):
    if kind == "echo":
        msg = b"line %d\n" % i
        want[i] = msg
    else:
        msg = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        want[i] = b"hello from the stack"
    s.sendall(msg)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, i)
got = {i: b"" for i in range(n)}
done = 0
answered = 0
import time
end = time.time() + 60
while done < n and time.time() < end:
    for key, _ in sel.select(timeout=1):
        i = key.data
        try:
            b = key.fileobj.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            b = b""
        got[i] += b
        complete = got[i] == want[i] if kind == "echo" else got[i].endswith(want[i])
        if complete or not b:
            sel.unregister(key.fileobj)
            done += 1
            answered += complete
print("answered %d" % answered, flush=True)
"#;

/// A `python3 MANY_PY` run inside the namespace, fed through a pipe, killed by its PID
/// when dropped.
struct Many {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Many {
    fn start(ns: &Netns, script: &std::path::Path, n: usize, port: u16, kind: &str) -> Many {
        Many::run(ns, script, &format!("{n} {port} {kind}"))
    }

    /// `python3 SCRIPT ARGS`.
    fn run(ns: &Netns, script: &std::path::Path, args: &str) -> Many {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = ns
            .command("sh")
            .args([
                "-c",
                &format!("ulimit -n 8192; exec python3 {} {args}", script.display()),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        Many { child, out }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        tests::eventually(timeout, || self.output().contains(needle))
    }

    fn go(&mut self) {
        use std::io::Write;
        if let Some(s) = self.child.stdin.as_mut() {
            let _ = writeln!(s);
            let _ = s.flush();
        }
    }
}

impl Drop for Many {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[test]
fn eleven_hundred_connections_at_once_and_idle_ones_lock_nobody_out() {
    const N: usize = 1100;
    let (ns, mut t) = top2("many", &[]);
    let dir = TempDir::new("many");
    let script = dir.path("many.py");
    std::fs::write(&script, MANY_PY).unwrap();
    let www = dir.path("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("a.txt"), b"hello from the stack").unwrap();
    t.cmd(&format!("serve http -p 80 {}", www.display()));
    t.wait_for("serve http tcp 0.0.0.0:80", SECS(5));

    // 1100 idle HTTP connections (seventeen times the old cap).
    let mut many = Many::start(&ns, &script, N, 80, "http");
    assert!(
        many.wait_for(&format!("open {N}"), SECS(120)),
        "{}\n{}",
        many.output(),
        t.output()
    );
    let l = jobs_line(&mut t, &format!("open: {N}"), SECS(20));
    assert!(l.contains(&format!("open: {N}")), "{l}");
    // They lock nobody out: another client is answered at once.
    let start = Instant::now();
    let (ok, out) = ns.sh_text("curl -sS --max-time 10 -w ' %{http_code}' http://10.0.0.1/a.txt");
    assert!(ok && out == "hello from the stack 200", "{out}");
    assert!(start.elapsed() < SECS(5), "{:?}", start.elapsed());
    // Each of the 1100 is still served.
    many.go();
    assert!(
        many.wait_for(&format!("answered {N}"), SECS(90)),
        "{}\n{}",
        many.output(),
        t.output()
    );
    let l = jobs_line(&mut t, "open: 0", SECS(20));
    assert!(
        l.contains(&format!("open: 0, requests: {}, errors: 0", N + 1)),
        "{l}"
    );
}

/// N clients of `serve echo` that each write 8 MB and never read (their own kernel
/// buffers and the stack's fill up); once they have had 3 s prints "hogs N" and waits for
/// a line; then a newcomer sends 100 KB and reads it back: "echo ok 102400".
const HOGS_PY: &str = r#"
import socket, sys, threading, time
n = int(sys.argv[1])
def fill(s):
    try:
        s.sendall(b"x" * (8 << 20))
    except OSError:
        pass
hogs = []
for i in range(n):
    s = socket.create_connection(("10.0.0.1", 7), timeout=60)
    threading.Thread(target=fill, args=(s,), daemon=True).start()
    hogs.append(s)
time.sleep(3)
print("hogs %d" % n, flush=True)
sys.stdin.readline()
c = socket.create_connection(("10.0.0.1", 7), timeout=20)
msg = bytes(range(256)) * 400
threading.Thread(target=lambda: c.sendall(msg), daemon=True).start()
got = b""
while len(got) < len(msg):
    b = c.recv(65536)
    if not b:
        break
    got += b
print("echo %s %d" % ("ok" if got == msg else "bad", len(got)), flush=True)
sys.stdin.readline()
"#;

/// The value of `name=` in `text` (`a/b` values: a).
fn stat_value(text: &str, name: &str) -> Option<usize> {
    let at = text.find(&format!("{name}="))? + name.len() + 1;
    let v: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    v.parse().ok()
}

/// With `--tcp-mem 8M`, 24 echo clients that write and never read hold the stack's TCP
/// buffers at the bound plus a little per connection (without it, each would hold about
/// 2 MB: its receive ring and its send queue full), the data beyond is dropped and
/// counted, and a newcomer is still echoed in full.
#[test]
fn clients_that_never_read_keep_tcp_memory_at_its_bound_and_lock_nobody_out() {
    let (ns, mut t) = top2("tcpmem", &["--tcp-mem", "8M"]);
    let dir = TempDir::new("tcpmem");
    let script = dir.path("hogs.py");
    std::fs::write(&script, HOGS_PY).unwrap();
    t.cmd("serve echo");
    t.wait_for("serve echo tcp 0.0.0.0:7", SECS(5));
    let mut hogs = Many::run(&ns, &script, "24");
    assert!(
        hogs.wait_for("hogs 24", SECS(60)),
        "{}\n{}",
        hogs.output(),
        t.output()
    );
    let stat = t.run_marked("stat");
    let used = stat_value(&stat, "tcp-buffer-bytes").expect("tcp-buffer-bytes");
    println!("24 clients that never read: tcp-buffer-bytes={used}");
    assert!(
        stat.contains(&format!("tcp-buffer-bytes={used}/{}", 8 << 20)),
        "{stat}"
    );
    // Pressure was reached (it ends under 7/8 of the bound, and empty buffers go).
    assert!(used >= 6 << 20, "the bound was not reached: {stat}");
    assert!(used <= (8 << 20) + 24 * (256 << 10), "{stat}");
    assert!(
        stat_value(&stat, "drop_memory_pressure").is_some_and(|n| n > 0),
        "{stat}"
    );
    hogs.go();
    assert!(
        hogs.wait_for("echo ok 102400", SECS(30)),
        "{}\n{}",
        hogs.output(),
        t.output()
    );
}
