//! The shell as a script sees it: exit statuses of `-c`, `--script` and piped input,
//! `-e`, quoting, route and ifconfig validation, Linux's flags and output formats. Each
//! test runs the real `tapip` in a network namespace of its own.

#![forbid(unsafe_code)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tests::{tapip_bin, Netns, Tapip, SECS};

/// `tapip ARGS` in `ns`, to its end, with stdin closed.
fn run(ns: &Netns, args: &[&str]) -> Output {
    let mut c: Command = ns.command(tapip_bin().to_str().expect("utf-8 path"));
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("spawn tapip");
    wait_bounded(child, SECS(30))
}

/// Wait for `child` at most `limit`; kill it (by its own handle) past that.
fn wait_bounded(mut child: std::process::Child, limit: Duration) -> Output {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    child.wait_with_output().expect("tapip's output")
}

/// `tapip ARGS` in `ns` with `input` on a pipe as its stdin.
fn run_piped(ns: &Netns, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut c: Command = ns.command(tapip_bin().to_str().expect("utf-8 path"));
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn tapip");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write commands");
    drop(stdin);
    wait_bounded(child, SECS(30))
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn command_strings_exit_non_zero_when_a_command_failed() {
    let ns = Netns::new("shc");
    let o = run(&ns, &["-c", "ifconfig tap0; route -n"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("HWaddr") && out.contains("Kernel IP routing table"),
        "{out}"
    );
    // The start-up line says which addresses are in use.
    assert!(
        err.starts_with("tapip: tap0 10.0.0.1/24 (MAC 00:34:45:67:89:ab), kernel side 10.0.0.2/24"),
        "{err}"
    );

    // A failure does not stop the commands after it, but the status says so.
    let o = run(&ns, &["-c", "foo; ping 999.1.1.1; ifconfig tap0"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("unknown command 'foo'"), "{err}");
    assert!(err.contains("ping: invalid address '999.1.1.1'"), "{err}");
    assert!(out.contains("HWaddr"), "ifconfig still ran:\n{out}");

    // -e stops at the first failure.
    let o = run(&ns, &["-e", "-c", "ifconfig tap0; foo; route -n"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("HWaddr"), "{out}");
    assert!(!out.contains("Kernel IP routing table"), "-e stops:\n{out}");

    // A ping without a reply fails, as Linux's ping does.
    let o = run(&ns, &["-c", "ping -c 1 -W 0.5 10.0.0.99"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("ping: no reply from 10.0.0.99"), "{err}");
}

#[test]
fn scripts_exit_non_zero_when_a_command_failed() {
    let ns = Netns::new("shs");
    let dir = std::env::temp_dir().join(format!("tapip-shs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("good");
    std::fs::write(
        &good,
        "# a comment\nifconfig tap0\n\nroute -n   # the table\narp -n; netstat -an\n",
    )
    .expect("script");
    let o = run(&ns, &["--script", good.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("Kernel IP routing table") && out.contains("Proto"),
        "{out}"
    );

    let bad = dir.join("bad");
    std::fs::write(
        &bad,
        "ifconfig tap0\nroute add 10.0.3.5/24 via 10.0.0.2\nroute -n\n",
    )
    .expect("script");
    let o = run(&ns, &["--script", bad.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("route: invalid prefix 10.0.3.5/24: host bits are set"),
        "{err}"
    );
    assert!(out.contains("Kernel IP routing table"), "{out}");
    assert!(!out.contains("10.0.3."), "nothing stored:\n{out}");
    let o = run(&ns, &["--errexit", "--script", bad.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(!out.contains("Kernel IP routing table"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn piped_input_exits_non_zero_when_a_command_failed() {
    let ns = Netns::new("shp");
    let o = run_piped(&ns, &[], "ifconfig tap0\nroute -n\n");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let o = run_piped(&ns, &[], "snc -b 99999\nroute -n\n");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("snc: -b: port 99999 is out of range (0-65535)"),
        "{err}"
    );
    assert!(out.contains("Kernel IP routing table"), "{out}");
    // With -e the program ends at the failure, its input still open.
    let mut t = Tapip::start(&ns, &["-e"]);
    t.cmd("ifconfig bogus0");
    assert_eq!(t.wait_exit(SECS(10)), Some(1), "{}", t.output());
    assert!(t.output().contains("ifconfig: no such interface 'bogus0'"));
}

#[test]
fn quoted_paths_reach_serve_pcap_and_get() {
    let ns = Netns::new("shq");
    let dir = std::env::temp_dir().join(format!("tapip-shq {} dir with space", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("hello.txt"), "hello from a quoted path\n").expect("file");
    let mut t = Tapip::start(&ns, &[]);
    t.cmd(&format!("serve http -p 8091 \"{}\"", dir.display()));
    t.wait_for("serve http", SECS(5));
    let pcap = dir.join("it's.pcap");
    // Backslash escapes: the space and the quote.
    let escaped = pcap
        .display()
        .to_string()
        .replace(' ', "\\ ")
        .replace('\'', "\\'");
    t.cmd(&format!("pcap start {escaped}"));
    t.wait_for("recording to", SECS(5));
    let (ok, out) = ns.sh_text("curl -s -m 10 http://10.0.0.1:8091/hello.txt");
    assert!(ok && out.contains("hello from a quoted path"), "{out}");
    // The stack fetches from the kernel into a file whose name has a space.
    let got = dir.join("got it.txt");
    let mut server = ns
        .command("python3")
        .args([
            "-m",
            "http.server",
            "8093",
            "--bind",
            "10.0.0.2",
            "--directory",
        ])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 http.server");
    let listening = tests::eventually(SECS(10), || {
        ns.sh("curl -s -o /dev/null -m 1 http://10.0.0.2:8093/hello.txt")
            .status
            .success()
    });
    t.cmd(&format!(
        "get -o '{}' http://10.0.0.2:8093/hello.txt",
        got.display()
    ));
    let out = t.wait_for("200 OK", SECS(10));
    let _ = server.kill();
    let _ = server.wait();
    assert!(listening, "the kernel's server did not start");
    assert_eq!(
        std::fs::read_to_string(&got).unwrap_or_default(),
        "hello from a quoted path\n",
        "{out}"
    );
    t.cmd("pcap stop");
    t.wait_for("stopped recording", SECS(5));
    assert!(std::fs::metadata(&pcap)
        .map(|m| m.len() > 24)
        .unwrap_or(false));
    assert_eq!(t.close_input(SECS(10)), Some(0), "{}", t.output());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_address_without_a_prefix_keeps_the_prefix_and_the_route() {
    let ns = Netns::new("shif");
    let mut t = Tapip::start(&ns, &[]);
    t.cmd("ifconfig tap0 10.0.0.7");
    t.cmd("ifconfig tap0");
    t.wait_for("IPaddr 10.0.0.7", SECS(5));
    let out = t.output();
    assert!(out.contains("IPaddr 10.0.0.7  Mask 255.255.255.0"), "{out}");
    t.cmd("route -n");
    // The table's lines arrive one by one: wait for the one that must be there (waiting
    // for the header alone raced with the rest, seen once in CI).
    t.wait_for(
        "10.0.0.0        0.0.0.0         255.255.255.0   U     0      0        0 tap0",
        SECS(5),
    );
    let (ok, out) = ns.sh_text("ping -c 1 -W 2 10.0.0.7");
    assert!(ok, "{out}");
    // The stack reaches the kernel by the connected route.
    t.cmd("ping -c 1 -W 2 10.0.0.2");
    let out = t.wait_for("--- 10.0.0.2 ping statistics", SECS(10));
    assert!(out.contains("1 packets transmitted, 1 received"), "{out}");
    assert_eq!(t.close_input(SECS(10)), Some(0), "{}", t.output());
}

#[test]
fn linux_flags_and_formats() {
    let ns = Netns::new("shflags");
    let mut t = Tapip::start(&ns, &[]);
    t.cmd("serve echo -p 7");
    t.cmd("serve echo -u -p 7");
    t.wait_for("serve echo udp", SECS(5));
    let (ok, out) = ns.sh_text("ping -c 1 -W 2 10.0.0.1");
    assert!(ok, "{out}");
    let since = t.output().len();
    t.cmd("netstat -tnl");
    t.cmd("arp -n");
    t.cmd("netstat -an");
    t.cmd("route -n");
    // The route table's column header, not its title: a line printed after the title,
    // which may still be on its way when the title is in.
    let out = t.wait_for("Destination     Gateway         Genmask", SECS(5))[since..].to_string();
    let tnl = &out[..out.find("IP address").expect("arp's header")];
    assert!(
        tnl.lines().any(|l| l.starts_with("tcp")
            && l.contains("0.0.0.0:7")
            && l.contains("0.0.0.0:*")
            && l.contains("LISTEN")),
        "{tnl}"
    );
    assert!(!tnl.contains("udp"), "-t: TCP only:\n{tnl}");
    assert!(
        out.contains("10.0.0.2"),
        "arp -n shows the kernel's entry:\n{out}"
    );
    let an = &out[out.find("IP address").unwrap()..];
    assert!(
        an.lines()
            .any(|l| l.starts_with("udp") && l.contains("0.0.0.0:7")),
        "-a: UDP too:\n{an}"
    );
    assert!(
        out.contains(
            "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface"
        ),
        "{out}"
    );
    assert!(!out.contains("unknown option"), "{out}");
    assert_eq!(t.close_input(SECS(10)), Some(0), "{}", t.output());
}

/// At a terminal (a pseudo-terminal made by `script`), a failed command is reported and
/// the session goes on: `-e` does not end it, and `exit` leaves with status 0.
#[test]
fn at_a_terminal_a_failed_command_does_not_end_the_session() {
    use std::io::{Read, Write};
    let ns = Netns::new("shpty");
    let bin = tapip_bin();
    let mut child = ns
        .command("script")
        .args(["-qec", &format!("{} -e", bin.display()), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let out = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                o.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    // `needle` in the output after `anchor` (after the start for "").
    let seen = |anchor: &str, needle: &str| {
        tests::eventually(SECS(10), || {
            let o = out.lock().unwrap_or_else(|e| e.into_inner());
            o.find(anchor)
                .is_some_and(|i| o[i + anchor.len()..].contains(needle))
        })
    };
    // One line at a time, each after the prompt for it: typed-ahead input may be dropped
    // when the line editor sets up the terminal.
    let prompt = "[net shell]: ";
    assert!(seen("", prompt), "no prompt");
    stdin.write_all(b"frobnicate\r").expect("type");
    let error = "unknown command 'frobnicate'";
    assert!(seen("", error));
    assert!(seen(error, prompt), "-e ended the session");
    stdin.write_all(b"route -n\r").expect("type");
    let table = "Kernel IP routing table";
    assert!(seen("", table));
    assert!(seen(table, prompt));
    stdin.write_all(b"exit\r").expect("type");
    let o = wait_bounded(child, SECS(10));
    drop(stdin);
    let _ = reader.join();
    let text = out.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(o.status.code(), Some(0), "{text}");
}
