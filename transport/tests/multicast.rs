//! Socket multicast memberships on a real `ip::IpLayer` (nothing reads a clock), as
//! Linux: `IP_ADD_MEMBERSHIP`'s errors in `__ip_mc_join_group`'s order, and
//! `IP_DROP_MEMBERSHIP` with the interface 0.0.0.0 leaving the group on the interface the
//! route to the group leaves by (`ip_mc_leave_group`, `ip_mc_find_dev`).

#![forbid(unsafe_code)]

use ip::{GroupError, IpConfig, IpLayer};
use netif::{DeviceInfo, Instant, MacAddr};
use std::net::{Ipv4Addr, SocketAddrV4};
use transport::{Transport, TransportConfig, TransportError};

const NOW: Instant = Instant::from_secs(1);
const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const US1: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// Interfaces with these addresses, up: tap0, tap1, ...
fn ifaces(addrs: &[&str]) -> IpLayer {
    let mut l = IpLayer::new(IpConfig::default());
    for (n, addr) in addrs.iter().enumerate() {
        let i = l.add_interface(&DeviceInfo {
            name: format!("tap{n}"),
            mtu: 1500,
            mac: MacAddr([0x02, 0, 0, 0, n as u8, 1]),
            loopback: false,
            offload: netif::device::Offload::NONE,
        });
        l.set_address(i, Some(addr.parse().unwrap()), NOW).unwrap();
        l.set_up(i, true, NOW).unwrap();
    }
    l
}

/// if0 = 10.0.0.1/24, if1 = 10.0.1.1/24; groups are routed by if0.
fn two_ifaces() -> IpLayer {
    let mut l = ifaces(&["10.0.0.1/24", "10.0.1.1/24"]);
    l.add_route("224.0.0.0/4".parse().unwrap(), None, Some(0))
        .unwrap();
    l
}

/// Linux's `__ip_mc_join_group` finds the interface (ENODEV) and walks the socket's
/// memberships for the same group and interface (EADDRINUSE) before it compares their
/// count with `igmp_max_memberships` (ENOBUFS). A socket in twenty groups asking again for
/// one of them, or naming an interface that does not exist, was told "no buffer space"
/// here, which an application takes for a resource problem, not its own mistake.
#[test]
fn a_second_join_of_a_group_is_addr_in_use_even_at_the_membership_limit() {
    let mut ip = ifaces(&["10.0.0.1/24"]);
    let mut t = Transport::new(TransportConfig::default());
    let h = t.udp_open().unwrap();
    t.udp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000), ip.tx())
        .unwrap();
    let group = |i: u8| Ipv4Addr::new(239, 0, 0, i);
    for i in 0..20 {
        t.join_multicast(h, group(i), US, ip.tx(), NOW)
            .expect("twenty groups");
    }
    assert_eq!(
        t.join_multicast(h, group(99), US, ip.tx(), NOW),
        Err(TransportError::TooManyGroups),
        "a twenty-first group"
    );
    assert_eq!(
        t.join_multicast(h, group(3), US, ip.tx(), NOW),
        Err(TransportError::AddrInUse),
        "a group the socket is in already"
    );
    // No such interface (ENODEV) comes first too, whether named or by the route.
    assert_eq!(
        t.join_multicast(h, group(99), Ipv4Addr::new(10, 0, 0, 2), ip.tx(), NOW),
        Err(TransportError::Group(GroupError::NoInterface)),
        "an address that is not ours"
    );
    let no_route = Ipv4Addr::UNSPECIFIED;
    assert_eq!(
        t.join_multicast(h, group(99), no_route, ip.tx(), NOW),
        Err(TransportError::Group(GroupError::NoInterface)),
        "no route to the group to pick an interface by"
    );
    assert_eq!(ip.interfaces()[0].groups.len(), 20);
}

fn members(ip: &IpLayer) -> [Vec<(Ipv4Addr, u32)>; 2] {
    let i = ip.interfaces();
    [i[0].groups.clone(), i[1].groups.clone()]
}

/// A socket in a group on if1 (named) and on if0 (the route's, by 0.0.0.0) drops it with
/// 0.0.0.0: Linux leaves the membership on the route's interface, if0. The first
/// membership the socket made, the one on if1, was left instead: if1 stopped hearing the
/// group (and told its routers so) while the socket still held if0's.
#[test]
fn dropping_a_group_by_0_0_0_0_leaves_it_on_the_routes_interface() {
    let mut ip = two_ifaces();
    let mut t = Transport::new(TransportConfig::default());
    let h = t.udp_open().unwrap();
    t.udp_bind(h, SocketAddrV4::new(ANY, 5000), ip.tx())
        .unwrap();
    t.join_multicast(h, G, US1, ip.tx(), NOW).unwrap();
    t.join_multicast(h, G, ANY, ip.tx(), NOW).unwrap();
    assert_eq!(members(&ip), [vec![(G, 1)], vec![(G, 1)]]);
    t.leave_multicast(h, G, ANY, ip.tx(), NOW).unwrap();
    assert_eq!(
        members(&ip),
        [vec![], vec![(G, 1)]],
        "if0's membership goes, if1's stays"
    );
    // Only if1's is left: 0.0.0.0 names if0, where the socket is no longer a member
    // (Linux: EADDRNOTAVAIL); if1's stays until it is named.
    assert_eq!(
        t.leave_multicast(h, G, ANY, ip.tx(), NOW),
        Err(TransportError::AddrNotAvailable)
    );
    assert_eq!(members(&ip), [vec![], vec![(G, 1)]]);
    t.leave_multicast(h, G, US1, ip.tx(), NOW).unwrap();
    assert_eq!(members(&ip), [vec![], vec![]]);
}

/// A membership belongs to its interface, not to the address it was named by (Linux
/// records the index): after if0's address changes (a new DHCP lease, say), joining
/// again by the new address is the same membership (EADDRINUSE), and dropping it by the
/// new address leaves it. Both compared the address given at the join, so the socket
/// could neither leave the group nor see that it was in it.
#[test]
fn a_membership_follows_its_interface_through_an_address_change() {
    let mut ip = two_ifaces();
    let mut t = Transport::new(TransportConfig::default());
    let h = t.udp_open().unwrap();
    t.udp_bind(h, SocketAddrV4::new(ANY, 5000), ip.tx())
        .unwrap();
    t.join_multicast(h, G, US, ip.tx(), NOW).unwrap();
    ip.set_address(0, Some("10.0.0.7/24".parse().unwrap()), NOW)
        .unwrap();
    let new = Ipv4Addr::new(10, 0, 0, 7);
    assert_eq!(
        t.join_multicast(h, G, new, ip.tx(), NOW),
        Err(TransportError::AddrInUse)
    );
    assert_eq!(members(&ip), [vec![(G, 1)], vec![]]);
    t.leave_multicast(h, G, new, ip.tx(), NOW).unwrap();
    assert_eq!(members(&ip), [vec![], vec![]], "left on if0");
    // The old address, which no interface has now, names the route's interface (if0),
    // as Linux's ip_mc_find_dev falls back to the route: nothing is left there.
    t.join_multicast(h, G, US1, ip.tx(), NOW).unwrap();
    assert_eq!(
        t.leave_multicast(h, G, US, ip.tx(), NOW),
        Err(TransportError::AddrNotAvailable)
    );
    assert_eq!(members(&ip), [vec![], vec![(G, 1)]]);
}
