//! `ifconfig [-a] [IF [IP[/PREFIX]] [netmask MASK] [mtu N] [up|down]]`; `ifconfig IF
//! 0.0.0.0` takes the address away and `ifconfig IF netmask MASK` changes only the mask,
//! as net-tools' do.

use super::syntax::Ifconfig;
use super::Ctx;
use ip::Ipv4Cidr;
use std::net::Ipv4Addr;

/// What `ifconfig IF ...` asks to change.
#[derive(Debug, Default, PartialEq, Eq)]
struct Change {
    /// The address, and its prefix when one was given (`/N` or `netmask`); 0.0.0.0 takes
    /// the address away.
    addr: Option<(Ipv4Addr, Option<u8>)>,
    /// A netmask without an address: the prefix for the address the interface has.
    mask: Option<u8>,
    mtu: Option<usize>,
    up: Option<bool>,
}

fn parse(words: &[String]) -> Result<Change, String> {
    let mut c = Change::default();
    let mut netmask = None;
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "up" => c.up = Some(true),
            "down" => c.up = Some(false),
            "mtu" => {
                let v = it.next().ok_or("ifconfig: mtu needs a number")?;
                c.mtu = Some(
                    v.parse()
                        .map_err(|_| format!("ifconfig: invalid MTU '{v}'"))?,
                );
            }
            "netmask" => {
                let v = it.next().ok_or("ifconfig: netmask needs a mask")?;
                netmask = Some(prefix_of_mask(v)?);
            }
            _ if c.addr.is_some() => {
                return Err(format!(
                    "ifconfig: unexpected argument '{w}' (one address at most)"
                ))
            }
            _ if w.contains('/') => {
                let a: Ipv4Cidr = w.parse().map_err(|e| format!("ifconfig: {e}"))?;
                c.addr = Some((a.addr(), Some(a.prefix())));
            }
            _ => {
                let a = ip::parse_addr(w).map_err(|e| format!("ifconfig: {e}"))?;
                c.addr = Some((a, None));
            }
        }
    }
    if let Some(m) = netmask {
        match &mut c.addr {
            Some((_, Some(p))) if *p != m => {
                return Err("ifconfig: the prefix and the netmask disagree".into())
            }
            Some((_, p)) => *p = Some(m),
            // The mask alone: of the address the interface has (net-tools).
            None => c.mask = Some(m),
        }
    }
    Ok(c)
}

/// 255.255.255.0 -> 24; a mask whose ones are not contiguous is refused.
fn prefix_of_mask(s: &str) -> Result<u8, String> {
    let m = u32::from(ip::parse_addr(s).map_err(|e| format!("ifconfig: {e}"))?);
    let ones = m.leading_ones();
    if m.checked_shl(ones).unwrap_or(0) != 0 {
        return Err(format!("ifconfig: invalid netmask '{s}'"));
    }
    Ok(ones as u8)
}

/// The prefix of an address given without one: the interface's current prefix, or on an
/// interface without an address the classful one, as Linux gives it (inet_abc_len): /32
/// for class E, which has no networks.
fn default_prefix(addr: Ipv4Addr, current: Option<Ipv4Cidr>) -> u8 {
    if let Some(c) = current {
        return c.prefix();
    }
    match addr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        192..=223 => 24,
        // Class D is multicast (refused as an address); class E has no network.
        _ => 32,
    }
}

pub fn run(ctx: &Ctx, a: Ifconfig) -> Result<(), String> {
    let Some(name) = a.name else {
        show(ctx, None);
        return Ok(());
    };
    let ifindex = ctx
        .stack
        .with_core(|c, _| c.ip.ifindex(&name))
        .ok_or_else(|| format!("ifconfig: no such interface '{name}'"))?;
    if a.settings.is_empty() {
        show(ctx, Some(ifindex));
        return Ok(());
    }
    // Parse everything before changing anything, so a bad word changes nothing.
    let change = parse(&a.settings)?;
    ctx.stack.with_core(|c, now| -> Result<(), String> {
        let iface = c.ip.interfaces().into_iter().find(|i| i.ifindex == ifindex);
        let current = iface.as_ref().and_then(|i| i.addr);
        // What the address becomes: `Some(None)` takes it away (0.0.0.0, as net-tools).
        let addr = match (change.addr, change.mask) {
            (Some((addr, _)), _) if addr.is_unspecified() => Some(None),
            (Some((addr, prefix)), _) => {
                let prefix = prefix.unwrap_or_else(|| default_prefix(addr, current));
                Some(Some(
                    Ipv4Cidr::new(addr, prefix).ok_or("ifconfig: invalid prefix")?,
                ))
            }
            (None, Some(m)) => {
                let a = current
                    .ok_or_else(|| format!("ifconfig: {name} has no address for a netmask"))?;
                Some(Some(
                    Ipv4Cidr::new(a.addr(), m).ok_or("ifconfig: invalid prefix")?,
                ))
            }
            (None, None) => None,
        };
        if let Some(m) = change.mtu {
            c.ip.set_mtu(ifindex, m)
                .map_err(|e| format!("ifconfig: {e}"))?;
        }
        if let Some(a) = addr {
            if let Err(e) = c.ip.set_address(ifindex, a, now) {
                // Nothing changes when a part is refused: the MTU goes back.
                if let (Some(_), Some(old)) = (change.mtu, iface.as_ref().map(|i| i.mtu)) {
                    let _ = c.ip.set_mtu(ifindex, old);
                }
                return Err(format!("ifconfig: {e}"));
            }
        }
        if let Some(u) = change.up {
            if let Err(e) = c.ip.set_up(ifindex, u, now) {
                // Refused (the routing table full): the address and the MTU go back too.
                if let (Some(_), Some(old)) = (addr, iface.as_ref()) {
                    let _ = c.ip.set_address(ifindex, old.addr, now);
                }
                if let (Some(_), Some(old)) = (change.mtu, iface.as_ref().map(|i| i.mtu)) {
                    let _ = c.ip.set_mtu(ifindex, old);
                }
                return Err(format!("ifconfig: {e}"));
            }
        }
        Ok(())
    })
}

fn show(ctx: &Ctx, only: Option<usize>) {
    let ifaces = ctx.stack.with_core(|c, _| c.ip.interfaces());
    let dev = ctx.stack.device_stats();
    for i in ifaces
        .iter()
        .filter(|i| only.is_none_or(|o| o == i.ifindex))
    {
        // A space of its own after the name: a long one (15 characters) is set apart.
        outln!("{:<9} HWaddr {}", i.name, i.mac);
        match i.addr {
            Some(a) => {
                let bcast = a
                    .broadcast()
                    .map(|b| format!("  Bcast {b}"))
                    .unwrap_or_default();
                outln!("          IPaddr {}  Mask {}{bcast}", a.addr(), a.netmask());
            }
            None => outln!("          (no address)"),
        }
        let mut flags = vec![if i.up { "UP" } else { "DOWN" }];
        if i.loopback {
            flags.push("LOOPBACK");
        } else {
            flags.push("BROADCAST MULTICAST");
        }
        outln!("          {}  MTU:{}", flags.join(" "), i.mtu);
        if !i.loopback {
            // Linux's `ip maddr`: the groups, with the sockets in each.
            let groups: Vec<String> = std::iter::once("224.0.0.1".to_string())
                .chain(i.groups.iter().map(|(g, n)| format!("{g} ({n})")))
                .collect();
            outln!("          Groups: {}", groups.join(" "));
        }
        if let Some((_, s)) = dev.get(i.ifindex) {
            outln!(
                "          RX packets:{} bytes:{} errors:{} dropped:{}",
                s.rx_packets,
                s.rx_bytes,
                s.rx_errors,
                s.rx_dropped()
                    + i.stats.rx_not_our_mac
                    + i.stats.rx_down
                    + i.stats.rx_runt
                    + i.stats.rx_unknown_type
            );
            outln!(
                "          TX packets:{} bytes:{} errors:{} dropped:{}",
                s.tx_packets,
                s.tx_bytes,
                s.tx_errors,
                s.tx_dropped()
            );
        }
        outln!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn settings() {
        let c = parse(&words("10.0.0.7/16 mtu 1400 up")).unwrap();
        assert_eq!(c.addr, Some((Ipv4Addr::new(10, 0, 0, 7), Some(16))));
        assert_eq!((c.mtu, c.up), (Some(1400), Some(true)));
        let c = parse(&words("10.0.0.7")).unwrap();
        assert_eq!(c.addr, Some((Ipv4Addr::new(10, 0, 0, 7), None)));
        let c = parse(&words("10.0.0.7 netmask 255.255.255.192")).unwrap();
        assert_eq!(c.addr, Some((Ipv4Addr::new(10, 0, 0, 7), Some(26))));
        assert_eq!(prefix_of_mask("0.0.0.0"), Ok(0));
        assert_eq!(prefix_of_mask("255.255.255.255"), Ok(32));
        for bad in [
            "mtu",
            "mtu x",
            "netmask 255.0.255.0",
            "10.0.0.1/24 netmask 255.0.0.0",
            "10.0.0.1/33",
            "10.0.0.300",
            "10.0.0.1 10.0.0.2",
        ] {
            let e = parse(&words(bad)).unwrap_err();
            assert!(
                e.starts_with("ifconfig: ") && !e.contains('\n'),
                "{bad}: {e}"
            );
        }
        assert_eq!(default_prefix(Ipv4Addr::new(10, 1, 2, 3), None), 8);
        assert_eq!(default_prefix(Ipv4Addr::new(172, 16, 0, 1), None), 16);
        assert_eq!(default_prefix(Ipv4Addr::new(192, 168, 0, 1), None), 24);
        let cur = "10.0.0.1/24".parse().ok();
        assert_eq!(default_prefix(Ipv4Addr::new(10, 0, 0, 9), cur), 24);
    }

    /// A negative MTU is a bad MTU, not an unknown option.
    #[test]
    fn a_negative_mtu_says_so() {
        let ctx = testing::ctx();
        let e = testing::run_line(&ctx, "ifconfig lo mtu -1").unwrap_err();
        assert_eq!(e, "ifconfig: invalid MTU '-1'");
        let e = testing::run_line(&ctx, "ifconfig -z").unwrap_err();
        assert!(e.starts_with("ifconfig: unknown option '-z'"), "{e}");
    }

    /// `ifconfig IF ADDR` keeps the prefix, and with it the connected route.
    #[test]
    fn an_address_without_a_prefix_keeps_the_current_one() {
        let ctx = testing::ctx();
        testing::run_line(&ctx, "ifconfig lo 127.0.0.9").unwrap();
        let (addr, routes) = ctx.stack.with_core(|c, _| {
            let lo = c.ip.ifindex("lo").unwrap();
            let a =
                c.ip.interfaces()
                    .into_iter()
                    .find(|i| i.ifindex == lo)
                    .unwrap()
                    .addr;
            (a, c.ip.routes().to_vec())
        });
        assert_eq!(addr, "127.0.0.9/8".parse().ok());
        assert!(
            routes
                .iter()
                .any(|r| r.dest == "127.0.0.0/8".parse().unwrap()),
            "{routes:?}"
        );
        testing::run_line(&ctx, "ifconfig lo 127.0.0.9 netmask 255.255.0.0").unwrap();
        let addr = ctx.stack.with_core(|c, _| c.ip.interfaces()[0].addr);
        assert_eq!(addr, "127.0.0.9/16".parse().ok());
        // A bad word changes nothing.
        assert!(testing::run_line(&ctx, "ifconfig lo 127.0.0.5/8 mtu x").is_err());
        let addr = ctx.stack.with_core(|c, _| c.ip.interfaces()[0].addr);
        assert_eq!(addr, "127.0.0.9/16".parse().ok());
        testing::finish(ctx);
    }

    /// net-tools' `ifconfig IF netmask MASK` changes the mask of the address the
    /// interface has, and `ifconfig IF 0.0.0.0` takes the address (and its routes) away.
    #[test]
    fn a_netmask_alone_changes_the_mask_and_0_0_0_0_takes_the_address_away() {
        let ctx = testing::ctx();
        let _peer = testing::mem_iface(&ctx, "tap0", "10.0.0.1/24");
        let state = |ctx: &crate::cmd::Ctx| {
            ctx.stack.with_core(|c, _| {
                let i = c.ip.ifindex("tap0").unwrap();
                let addr = c.ip.interfaces()[i].addr;
                let routes = c.ip.routes().iter().filter(|r| r.ifindex == i).count();
                (addr, routes)
            })
        };
        testing::run_line(&ctx, "ifconfig tap0 netmask 255.255.0.0").unwrap();
        assert_eq!(state(&ctx), ("10.0.0.1/16".parse().ok(), 1));
        testing::run_line(&ctx, "ifconfig tap0 0.0.0.0").unwrap();
        assert_eq!(state(&ctx), (None, 0));
        let e = testing::run_line(&ctx, "ifconfig tap0 netmask 255.255.0.0").unwrap_err();
        assert_eq!(e, "ifconfig: tap0 has no address for a netmask");
        testing::run_line(&ctx, "ifconfig tap0 10.0.0.1/24").unwrap();
        assert_eq!(state(&ctx), ("10.0.0.1/24".parse().ok(), 1));
        testing::finish(ctx);
    }

    /// "Everything is checked before anything changes" (help ifconfig): an address the
    /// stack refuses (the network's broadcast address) fails the command, and the MTU
    /// given with it must stay as it was. The MTU is set first, so it changes although the
    /// command reports an error.
    #[test]
    fn a_refused_address_leaves_the_mtu_alone() {
        let ctx = testing::ctx();
        let mtu = |ctx: &crate::cmd::Ctx| ctx.stack.with_core(|c, _| c.ip.interfaces()[0].mtu);
        let before = mtu(&ctx);
        assert_eq!(before, 65535);
        let e = testing::run_line(&ctx, "ifconfig lo 127.255.255.255 mtu 1000").unwrap_err();
        assert!(e.starts_with("ifconfig: "), "{e}");
        assert_eq!(
            mtu(&ctx),
            before,
            "the failed command changed the MTU ({e})"
        );
        testing::finish(ctx);
    }

    /// `ifconfig IF down` takes the interface's routes away (Linux flushes the routes
    /// through a device that goes down); `up` brings its connected route back, and `route`
    /// shows it so.
    #[test]
    fn down_takes_the_routes_away_and_up_brings_the_connected_one_back() {
        let ctx = testing::ctx();
        let _peer = testing::mem_iface(&ctx, "tap0", "10.0.0.1/24");
        testing::run_line(&ctx, "route add 10.9.0.0/16 via 10.0.0.2").unwrap();
        let routes = |ctx: &crate::cmd::Ctx| {
            ctx.stack.with_core(|c, _| {
                let tap0 = c.ip.ifindex("tap0").unwrap();
                c.ip.routes()
                    .iter()
                    .filter(|r| r.ifindex == tap0)
                    .map(|r| r.dest.to_string())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(routes(&ctx), ["10.0.0.0/24", "10.9.0.0/16"]);
        testing::run_line(&ctx, "ifconfig tap0 down").unwrap();
        assert_eq!(routes(&ctx), Vec::<String>::new());
        let e = testing::run_line(&ctx, "route add 10.8.0.0/16 dev tap0").unwrap_err();
        assert!(e.contains("tap0 is down"), "{e}");
        testing::run_line(&ctx, "ifconfig tap0 up").unwrap();
        assert_eq!(routes(&ctx), ["10.0.0.0/24"]);
        testing::finish(ctx);
    }

    /// `ifconfig` keeps a space between an interface's name and `HWaddr` whatever the
    /// name's length, as net-tools' ifconfig does (`%-9.9s Link encap`): a TAP's name may
    /// have 15 characters (`--tap tapip-longname`), and the 10-column field with no space
    /// of its own ran the two together (`tapip-longname0HWaddr`). `ifconfig` prints to the
    /// process's stdout, which a test cannot capture: the test runs itself again in a
    /// child process and reads its output.
    #[test]
    fn a_long_interface_name_is_set_apart() {
        let test = "cmd::ifconfig::tests::a_long_interface_name_is_set_apart";
        let Some((out, _)) = testing::in_child(test, |ctx| {
            let _peer = testing::mem_iface(ctx, "tapip-longname0", "10.9.0.1/16");
            testing::run_line(ctx, "ifconfig").unwrap();
        }) else {
            return;
        };
        assert!(
            out.contains("lo        HWaddr 00:00:00:00:00:00\n"),
            "a short name keeps its column: {out}"
        );
        assert!(
            out.contains("\ntapip-longname0 HWaddr 02:00:00:00:01:01\n"),
            "{out}"
        );
    }

    /// The network's own address is no host's, as its broadcast address is not: the stack
    /// refused the broadcast (`ifconfig tap0 10.0.0.255/24`) but took the network's own
    /// address (`ifconfig tap0 10.0.0.0/24`), which `--addr` refuses ("the network's own
    /// address"), which `route ... via` and `arp -s` refuse as nobody's, and which a peer
    /// running this stack drops as an ARP sender, so the interface could reach no one.
    /// Below /31 only: on a /31 both addresses are hosts (RFC 3021).
    #[test]
    fn the_network_address_is_refused_as_the_broadcast_address_is() {
        let ctx = testing::ctx();
        let _peer = testing::mem_iface(&ctx, "tap0", "10.0.0.1/24");
        let addr = |ctx: &crate::cmd::Ctx| {
            ctx.stack.with_core(|c, _| {
                let i = c.ip.ifindex("tap0").unwrap();
                c.ip.interfaces()[i].addr
            })
        };
        for line in [
            "ifconfig tap0 10.0.0.255/24",
            "ifconfig tap0 10.0.0.0/24",
            "ifconfig tap0 10.0.0.0 netmask 255.255.255.0",
            "ifconfig tap0 10.0.4.0/22",
        ] {
            let e = testing::run_line(&ctx, line).unwrap_err();
            assert!(
                e.starts_with("ifconfig: ") && e.contains("not a unicast address"),
                "{line}: {e}"
            );
            assert_eq!(addr(&ctx), "10.0.0.1/24".parse().ok(), "{line}");
        }
        testing::run_line(&ctx, "ifconfig tap0 10.0.0.0/31").unwrap();
        assert_eq!(addr(&ctx), "10.0.0.0/31".parse().ok());
        testing::run_line(&ctx, "ifconfig tap0 10.0.0.0/32").unwrap();
        assert_eq!(addr(&ctx), "10.0.0.0/32".parse().ok());
        testing::finish(ctx);
    }

    /// An address without a prefix on an interface without one takes its class's, as
    /// Linux's SIOCSIFADDR does (inet_abc_len): /8, /16, /24, and /32 for class E
    /// (240.0.0.0/4), which has no network of its own. Class E took /24 here.
    #[test]
    fn class_e_takes_a_host_prefix() {
        assert_eq!(default_prefix(Ipv4Addr::new(223, 1, 2, 3), None), 24);
        assert_eq!(default_prefix(Ipv4Addr::new(240, 0, 0, 1), None), 32);
        assert_eq!(default_prefix(Ipv4Addr::new(254, 1, 2, 255), None), 32);
    }
}
