//! DHCP (RFC 2131) and DNS (RFC 1035) against a real server: dnsmasq on the kernel's side
//! of a TAP in a namespace of the test's own, `tapip --no-host-config --dhcp` on the other
//! (the stack as a host on a LAN, TOP1, with the kernel as the LAN's DHCP server, DNS
//! server and router).

#![forbid(unsafe_code)]

use std::time::Duration;
use tests::{eventually, Netns, Proc, Tapip, TempDir, SECS};

const MAC: &str = "00:34:45:67:89:ab";

/// The kernel's side: tap0 made beforehand (tapip attaches to it) at 10.0.0.2/24.
fn lan(tag: &str) -> Netns {
    let ns = Netns::new(tag);
    let (ok, out) = ns.sh_text(
        "ip tuntap add dev tap0 mode tap && ip addr add 10.0.0.2/24 dev tap0 && \
         ip link set tap0 up && sysctl -qw net.ipv6.conf.tap0.disable_ipv6=1",
    );
    assert!(ok, "tap0: {out}");
    ns
}

/// dnsmasq serving 10.0.0.50-150 on tap0 with 2-minute leases (its shortest), renewal
/// after `t1` and rebinding after `t2` seconds, 10.0.0.2 as router and DNS server, its
/// lease file and log in `dir`. No DNS service (`--port=0`).
fn dnsmasq(ns: &Netns, dir: &TempDir, t1: u32, t2: u32) -> Proc {
    dnsmasq_with(ns, dir, t1, t2, "--port=0")
}

fn dnsmasq_with(ns: &Netns, dir: &TempDir, t1: u32, t2: u32, extra: &str) -> Proc {
    let line = format!(
        "dnsmasq --no-daemon --conf-file=/dev/null --pid-file --user=root \
         --interface=tap0 --bind-interfaces --log-dhcp {extra} \
         --dhcp-range=10.0.0.50,10.0.0.150,255.255.255.0,2m \
         --dhcp-option=option:router,10.0.0.2 --dhcp-option=option:dns-server,10.0.0.2 \
         --dhcp-option=option:T1,{t1} --dhcp-option=option:T2,{t2} \
         --dhcp-leasefile={leases} > {log} 2>&1",
        leases = dir.path("leases").display(),
        log = dir.path("dnsmasq.log").display(),
    );
    let p = Proc::spawn(ns, &line);
    let log = dir.path("dnsmasq.log");
    let up = eventually(SECS(10), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("DHCP, IP range"))
    });
    assert!(
        up,
        "dnsmasq did not start: {:?}",
        std::fs::read_to_string(&log)
    );
    p
}

/// A LAN whose dnsmasq (10.0.0.2) leases addresses and answers DNS as `dns` (its options
/// after `--no-resolv --no-hosts --log-queries`) says, and the shell started with `args`
/// after `--no-host-config --dhcp --mac MAC`, once it has its lease; with the shell's
/// output up to then. Bind the parts in this order: they go in the reverse one.
fn dns_lan(tag: &str, dns: &str, args: &[&str]) -> (Netns, TempDir, Proc, Tapip, String) {
    let ns = lan(tag);
    let dir = TempDir::new(tag);
    let extra = format!("--no-resolv --no-hosts --log-queries {dns}");
    let server = dnsmasq_with(&ns, &dir, 60, 100, &extra);
    let mut all = vec!["--no-host-config", "--dhcp", "--mac", MAC];
    all.extend_from_slice(args);
    let t = Tapip::start(&ns, &all);
    let out = t.wait_for("by DHCP", SECS(20));
    (ns, dir, server, t, out)
}

fn read(dir: &TempDir, name: &str) -> String {
    std::fs::read_to_string(dir.path(name)).unwrap_or_default()
}

/// The address on the start-up line: `tapip: tap0 10.0.0.N/24 from ...`.
fn leased_addr(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with("tapip: tap0 ") && l.contains("by DHCP"))
        .unwrap_or_else(|| panic!("no lease on the start-up line:\n{out}"));
    let cidr = line.split_whitespace().nth(2).expect("an address");
    cidr.split('/').next().expect("IP/PREFIX").to_string()
}

#[test]
fn a_lease_from_dnsmasq_is_used_renewed_and_given_back_at_exit() {
    let ns = lan("dhcp");
    let dir = TempDir::new("dhcp");
    let _server = dnsmasq(&ns, &dir, 3, 5);
    let cap = dir.path("cap.pcap");
    let cap_arg = cap.to_str().unwrap();
    let mut t = Tapip::start(
        &ns,
        &[
            "--no-host-config",
            "--dhcp",
            "--mac",
            MAC,
            "--pcap",
            cap_arg,
        ],
    );
    let out = t.wait_for("by DHCP", SECS(20));
    let addr = leased_addr(&out);
    let last: u8 = addr.rsplit('.').next().unwrap().parse().unwrap();
    assert!(
        addr.starts_with("10.0.0.") && (50..=150).contains(&last),
        "{addr} is not from the server's range"
    );
    assert!(
        out.contains("/24 from 10.0.0.2, router 10.0.0.2, dns 10.0.0.2"),
        "{out}"
    );

    // The address works: Linux pings it, and the default route goes through the router.
    let (ok, ping) = ns.sh_text(&format!("ping -c 2 -i 0.2 -W 2 {addr}"));
    assert!(ok, "ping {addr}: {ping}");
    let routes = t.run_marked("route");
    assert!(
        routes
            .lines()
            .any(|l| l.starts_with("0.0.0.0") && l.contains("10.0.0.2") && l.contains("UG")),
        "{routes}"
    );
    assert!(
        routes.contains("10.0.0.0        0.0.0.0         255.255.255.0"),
        "{routes}"
    );
    // The server keyed the lease on our MAC.
    let leases = read(&dir, "leases");
    assert!(leases.contains(MAC) && leases.contains(&addr), "{leases}");

    // T1 is 3 s: the client renews with its server (a unicast REQUEST naming the address),
    // and keeps the address.
    let renewed = eventually(SECS(12), || {
        read(&dir, "dnsmasq.log").matches("DHCPACK(tap0)").count() >= 3
    });
    let log = read(&dir, "dnsmasq.log");
    assert!(renewed, "no renewals:\n{log}");
    assert!(
        log.contains(&format!("DHCPREQUEST(tap0) {addr} {MAC}")),
        "{log}"
    );
    // Renewals come every 3 s, so the status may be caught between a REQUEST and its ACK
    // ("renewing"); it is bound again as soon as the ACK is in, or at T2 (5 s) by a
    // rebinding broadcast if a REQUEST or its ACK was lost.
    let bound_line = format!("tap0: bound {addr}/24 from 10.0.0.2");
    let mut status = String::new();
    let bound = eventually(SECS(10), || {
        status = t.run_marked("dhcp");
        status.contains(&bound_line)
    });
    assert!(bound, "{status}");
    let stat = t.run_marked("stat");
    let dhcp_line = stat
        .lines()
        .find(|l| l.starts_with("dhcp tap0"))
        .unwrap_or_else(|| panic!("no dhcp line in stat:\n{stat}"));
    assert!(dhcp_line.contains("tx_discovers=1 "), "{dhcp_line}");
    assert!(dhcp_line.contains("rx_offers=1 "), "{dhcp_line}");
    assert!(!dhcp_line.contains("drop_"), "{dhcp_line}");
    let (ok, ping) = ns.sh_text(&format!("ping -c 1 -W 2 {addr}"));
    assert!(ok, "after renewing: {ping}");

    // The end of the program gives the address back: the server forgets the lease. (The
    // status is 1: `run_marked`'s markers are unknown commands.)
    assert!(t.close_input(SECS(20)).is_some(), "{}", t.output());
    assert_released(&dir, &addr);
    let gone = eventually(SECS(5), || !read(&dir, "leases").contains(MAC));
    assert!(gone, "lease kept: {}", read(&dir, "leases"));
    // `--pcap` records the RELEASE too, the last frame the stack sends: the capture ends
    // once the drivers have (it ended before, and missed it; found by a review). The
    // magic cookie, then option 53 (message type) 7, DHCPRELEASE.
    let pcap = std::fs::read(&cap).unwrap();
    let release = [99, 130, 83, 99, 53, 1, 7];
    assert!(
        pcap.windows(release.len()).any(|w| w == release),
        "no DHCPRELEASE in the {} bytes of {}",
        pcap.len(),
        cap.display()
    );
}

/// dnsmasq logs the stack's DHCPRELEASE of `addr` (waited for, 5 s at most: the stack has
/// sent it when tapip exits, but a loaded machine can run dnsmasq later than that).
fn assert_released(dir: &TempDir, addr: &str) {
    let want = format!("DHCPRELEASE(tap0) {addr} {MAC}");
    let logged = eventually(SECS(5), || read(dir, "dnsmasq.log").contains(&want));
    assert!(logged, "no {want:?}:\n{}", read(dir, "dnsmasq.log"));
}

#[test]
fn without_a_server_the_shell_starts_and_the_client_keeps_asking_until_one_answers() {
    let ns = lan("dhcpwait");
    let dir = TempDir::new("dhcpwait");
    let mut t = Tapip::start(
        &ns,
        &[
            "--no-host-config",
            "--dhcp",
            "--dhcp-wait",
            "1",
            "--mac",
            MAC,
        ],
    );
    let out = t.wait_for("no DHCP lease after", SECS(20));
    assert!(out.contains("(still asking: 'dhcp' shows it)"), "{out}");
    let status = t.run_marked("dhcp");
    assert!(status.contains("tap0: selecting (no lease)"), "{status}");
    // Nothing answers yet: the DISCOVER went out from 0.0.0.0 to the broadcast.
    // 20 s: whichever DISCOVER comes first after tcpdump attaches (the next may be 17 s
    // after the first; `-c 1` ends at the first one seen).
    let (_, cap) = ns.sh_text("timeout 20 tcpdump -n -c 1 -i tap0 udp port 67 2>/dev/null");
    assert!(cap.contains("0.0.0.0.68 > 255.255.255.255.67"), "{cap}");

    // A server appears: a retransmitted DISCOVER finds it (at most 64 s apart; the first
    // gaps are 4, 8 and 16 s, each ±1 s).
    let _server = dnsmasq(&ns, &dir, 60, 100);
    let mut status = String::new();
    let bound = eventually(SECS(40), || {
        status = t.run_marked("dhcp");
        status.contains("tap0: bound 10.0.0.")
    });
    assert!(bound, "{}", t.output());
    // The status line, found by its start: the marker's error (stderr) may come before it
    // (stdout) in the interleaved output.
    let addr = status
        .lines()
        .find(|l| l.starts_with("tap0: bound "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|a| a.split('/').next())
        .map(str::to_string)
        .unwrap_or_default();
    let (ok, ping) = ns.sh_text(&format!("ping -c 1 -W 2 {addr}"));
    assert!(ok, "ping {addr}: {ping}");
    assert!(t.close_input(SECS(20)).is_some(), "{}", t.output());
    assert_released(&dir, &addr);
}

#[test]
fn a_second_client_on_the_same_interface_and_an_unknown_one_are_clear_errors() {
    let ns = lan("dhcperr");
    let mut t = Tapip::start(
        &ns,
        &[
            "--no-host-config",
            "--dhcp",
            "--dhcp-wait",
            "0.2",
            "--mac",
            MAC,
        ],
    );
    t.wait_for("no DHCP lease after", SECS(20));
    let since = t.output().len();
    t.cmd("dhcp tap0");
    t.wait_result(since, "dhcp: DHCP runs on tap0 already", "xx", SECS(5));
    let since = t.output().len();
    t.cmd("dhcp eth7");
    t.wait_result(since, "dhcp: no interface eth7", "xx", SECS(5));
    let since = t.output().len();
    t.cmd("dhcp lo");
    t.wait_result(
        since,
        "dhcp: DHCP needs a link: not on loopback",
        "xx",
        SECS(5),
    );
    assert_eq!(t.close_input(SECS(20)), Some(1), "commands failed");
}

/// A name with 60 addresses does not fit in a 512-byte datagram: dnsmasq answers over
/// UDP with the TC bit set and the 30 that fit, and the stack asks again over TCP (RFC
/// 7766; one connection) and takes the first 16 (`wire::MAX_ADDRS`). Before, it said
/// "truncated answer".
#[test]
fn an_answer_too_long_for_a_datagram_is_asked_again_over_tcp() {
    let records: String = (1..=60)
        .map(|i| format!(" --host-record=many.test.lan,10.9.0.{i}"))
        .collect();
    let (_ns, _dir, _server, mut t, _) =
        dns_lan("dnstcp", &format!("--local=/test.lan/{records}"), &[]);
    let out = t.run_marked("host many.test.lan");
    let addrs = out
        .lines()
        .filter(|l| l.starts_with("many.test.lan has address 10.9.0."))
        .count();
    assert_eq!(addrs, 16, "{out}");
    let stat = t.run_marked("stat");
    assert!(stat.contains("active_opens=1"), "no TCP connection: {stat}");
    assert!(t.close_input(SECS(20)).is_some());
}

#[test]
fn names_are_looked_up_with_the_dns_server_the_lease_names() {
    // DNS on 10.0.0.2:53 for test.lan only (no upstream): a host, an alias, and
    // NXDOMAIN for any other name there.
    let (ns, dir, _server, mut t, _) = dns_lan(
        "dns",
        "--local=/test.lan/ --host-record=web.test.lan,10.0.0.2 \
         --cname=www.test.lan,web.test.lan",
        &[],
    );
    let (_, body) = dir.random_file("page", 300_000);
    let _http = Proc::spawn(
        &ns,
        &format!(
            "python3 -m http.server 8000 --bind 10.0.0.2 --directory {} > /dev/null 2>&1",
            dir.root().display()
        ),
    );
    ns.wait_listening(8000);
    let out = t.run_marked("host web.test.lan; host WWW.test.lan.");
    assert!(out.contains("web.test.lan has address 10.0.0.2"), "{out}");
    assert!(
        out.contains("WWW.test.lan. has address 10.0.0.2"),
        "CNAME: {out}"
    );
    let out = t.run_marked("host nope.test.lan");
    assert!(
        out.contains("host: nope.test.lan: name not found (10.0.0.2)"),
        "{out}"
    );
    let out = t.run_marked("ping -c 1 web.test.lan");
    assert!(out.contains("PING web.test.lan (10.0.0.2)"), "{out}");
    assert!(out.contains("1 received"), "{out}");
    let dst = dir.path("got");
    let since = t.output().len();
    t.cmd(&format!(
        "get http://web.test.lan:8000/page -o {}",
        dst.display()
    ));
    t.wait_result(since, "200 OK: 300000 bytes", "get:", SECS(30));
    assert_eq!(std::fs::read(&dst).unwrap(), body);
    // The server saw the stack's queries.
    let log = read(&dir, "dnsmasq.log");
    assert!(log.contains("query[A] web.test.lan from 10.0.0."), "{log}");
    assert!(t.close_input(SECS(20)).is_some());
}

/// Answers are kept for their TTL (dnsmasq gives its own records `--local-ttl`, here 2 s):
/// a name looked up again within it is not asked of the server, and after it is.
#[test]
fn a_name_looked_up_again_within_its_ttl_is_not_asked_again() {
    let (_ns, dir, _server, mut t, _) = dns_lan(
        "dnscache",
        "--local=/test.lan/ --host-record=web.test.lan,10.0.0.2 --local-ttl=2",
        &[],
    );
    let asked = || {
        read(&dir, "dnsmasq.log")
            .matches("query[A] web.test.lan from 10.0.0.")
            .count()
    };
    let out = t.run_marked("host web.test.lan; host WEB.test.lan.; ping -c 1 web.test.lan");
    assert_eq!(out.matches("has address 10.0.0.2").count(), 2, "{out}");
    assert!(out.contains("1 received"), "{out}");
    assert_eq!(asked(), 1, "{}", read(&dir, "dnsmasq.log"));
    std::thread::sleep(Duration::from_millis(2500));
    let out = t.run_marked("host web.test.lan");
    assert!(out.contains("web.test.lan has address 10.0.0.2"), "{out}");
    assert_eq!(asked(), 2, "not asked again after the TTL");
    assert!(t.close_input(SECS(20)).is_some());
}

/// A name without a dot is looked up in the search domains: `--search other.lan` first
/// (where it does not exist), then the domain the lease names (option 15: dnsmasq's
/// `--domain`), and the shell's `host` prints the name that answered.
#[test]
fn a_name_without_a_dot_is_looked_up_in_the_search_domains() {
    let (_ns, dir, _server, mut t, line) = dns_lan(
        "dnssearch",
        "--local=/test.lan/ --local=/other.lan/ --domain=test.lan \
         --host-record=web.test.lan,10.0.0.2",
        &["--search", "other.lan"],
    );
    assert!(line.contains("domain test.lan"), "{line}");
    let out = t.run_marked("host web; ping -c 1 web");
    assert!(out.contains("web.test.lan has address 10.0.0.2"), "{out}");
    assert!(out.contains("1 received"), "{out}");
    let log = read(&dir, "dnsmasq.log");
    assert!(log.contains("query[A] web.other.lan from 10.0.0."), "{log}");
    assert!(log.contains("query[A] web.test.lan from 10.0.0."), "{log}");
    // Not in either domain, and refused as it is (outside dnsmasq's zones): what the
    // search found is said.
    let out = t.run_marked("host nothing");
    assert!(
        out.contains("host: nothing.test.lan: name not found (10.0.0.2)"),
        "{out}"
    );
    assert!(t.close_input(SECS(20)).is_some());
}

/// The server leases an address another host on the LAN already has (dnsmasq told not to
/// ping it first, the kernel holding it): the stack's ARP probe draws the kernel's answer
/// (RFC 5227), so the stack declines the lease (a DECLINE the server logs), never puts the
/// address on its interface, counts the conflict and the decline, and keeps asking.
#[test]
fn an_address_another_host_holds_is_declined_and_never_used() {
    let ns = lan("dhcpdecl");
    let (ok, out) = ns.sh_text("ip addr add 10.0.0.50/32 dev lo");
    assert!(ok, "{out}");
    let dir = TempDir::new("dhcpdecl");
    let _server = dnsmasq_with(
        &ns,
        &dir,
        60,
        100,
        &format!("--port=0 --no-ping --dhcp-host={MAC},10.0.0.50"),
    );
    let mut t = Tapip::start(
        &ns,
        &[
            "--no-host-config",
            "--dhcp",
            "--dhcp-wait",
            "3",
            "--mac",
            MAC,
        ],
    );
    let out = t.wait_for("no DHCP lease after", SECS(20));
    assert!(!out.contains("by DHCP"), "{out}");
    let declined = eventually(SECS(10), || {
        read(&dir, "dnsmasq.log").contains(&format!("DHCPDECLINE(tap0) 10.0.0.50 {MAC}"))
    });
    assert!(declined, "{}", read(&dir, "dnsmasq.log"));
    let ifc = t.run_marked("ifconfig tap0");
    assert!(!ifc.contains("10.0.0.50"), "{ifc}");
    let stat = t.run_marked("stat");
    assert!(stat.contains("tx_declines=1"), "{stat}");
    assert!(stat.contains("arp_probe_conflicts="), "{stat}");
    let status = t.run_marked("dhcp");
    assert!(!status.contains("bound"), "{status}");
}
