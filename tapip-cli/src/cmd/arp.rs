//! `arp [-n] [-a] [-d IP | -s IP MAC]`

use super::syntax::Arp;
use super::Ctx;
use netif::MacAddr;

pub fn run(ctx: &Ctx, a: Arp) -> Result<(), String> {
    if let Some(ip) = a.delete {
        return if ctx.stack.with_core(|c, _| c.ip.arp_delete(ip)) {
            Ok(())
        } else {
            Err(format!("arp: no entry for {ip}"))
        };
    }
    if let Some(v) = a.set {
        let [ip, mac] = v.as_slice() else {
            return Err("arp: -s needs IP and MAC".into());
        };
        let ip = ip::parse_addr(ip).map_err(|e| format!("arp: {e}"))?;
        let mac: MacAddr = mac.parse().map_err(|e| format!("arp: {e}"))?;
        if !mac.is_unicast() {
            return Err(format!("arp: {mac} is not a unicast MAC address"));
        }
        return ctx
            .stack
            .with_core(|c, _| c.ip.arp_add_static(ip, mac))
            .map_err(|e| match e {
                ::ip::ConfigError::Route(_) => {
                    format!("arp: {ip} is not on a directly connected network")
                }
                // Already says "arp: ".
                ::ip::ConfigError::Arp(_) => e.to_string(),
                other => format!("arp: {other}"),
            });
    }
    show(ctx);
    Ok(())
}

fn show(ctx: &Ctx) {
    let entries = ctx.stack.with_core(|c, now| c.ip.arp_entries(now));
    // A space after each column: a long interface name (15 characters) pushes the rest
    // right, never into the state.
    outln!(
        "{:<15} {:<19} {:<7} {:<12} Expires",
        "IP address",
        "HW address",
        "Iface",
        "State"
    );
    for (ifname, e) in entries {
        let mac = e.mac.map_or("(incomplete)".to_string(), |m| m.to_string());
        let exp = e
            .expires_in
            .map_or("never".to_string(), |d| format!("{}s", d.as_secs()));
        outln!(
            "{:<15} {:<19} {:<7} {:<12} {exp}",
            e.ip,
            mac,
            ifname,
            e.state.to_string()
        );
    }
}

#[cfg(test)]
mod tests {
    /// The columns of `arp` stay apart whatever the interface's name: a TAP's name may
    /// have 15 characters (IFNAMSIZ less its NUL; `--tap tapip-longname`), and the Iface
    /// column was 8 wide with no space of its own, so the state ran into it
    /// (`tapip-longname0static`). `arp` prints to the process's stdout, which a test
    /// cannot capture: the test runs itself again in a child process and reads its output.
    #[test]
    fn a_long_interface_name_does_not_run_into_the_state() {
        let test = "cmd::arp::tests::a_long_interface_name_does_not_run_into_the_state";
        let Some((out, _)) = crate::cmd::testing::in_child(test, |ctx| {
            let _peer = crate::cmd::testing::mem_iface(ctx, "tapip-longname0", "10.9.0.1/16");
            crate::cmd::testing::run_line(ctx, "arp -s 10.9.0.5 02:00:00:00:00:05").unwrap();
            crate::cmd::testing::run_line(ctx, "arp").unwrap();
        }) else {
            return;
        };
        // (libtest's `test NAME ... ` may begin the header's line.)
        let header = out
            .lines()
            .find_map(|l| l.find("IP address").map(|i| &l[i..]))
            .unwrap_or_else(|| panic!("no table: {out}"));
        assert_eq!(
            header, "IP address      HW address          Iface   State        Expires",
            "the header's widths are kept"
        );
        let row = out
            .lines()
            .find(|l| l.starts_with("10.9.0.5 "))
            .unwrap_or_else(|| panic!("no entry: {out}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "10.9.0.5",
                "02:00:00:00:00:05",
                "tapip-longname0",
                "static",
                "never"
            ],
            "{row}"
        );
    }
}
