//! The routing table: longest-prefix match over connected, static and default routes,
//! then the lowest metric, then the route added first (Linux's order).
//!
//! The table is kept in the order a lookup prefers (longest prefix first, then lowest
//! metric, then oldest), so a lookup is one pass that stops at the first route that
//! contains the destination through a usable interface: no comparison of candidates, and
//! the work of ordering is done once per route added, not per datagram sent.

use crate::Ipv4Cidr;
use netif::Instant;
use std::net::Ipv4Addr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// Made from an interface's address; goes away with it.
    Connected,
    /// Added by the user or by `--gateway`.
    Static,
    /// A host route learned from an ICMP redirect (RFC 1122 3.2.2.2): one destination by
    /// a better first hop on the same network. At most [`MAX_REDIRECTS`], oldest first out.
    Redirect,
}

/// Host routes learned from redirects that the table keeps at once.
pub const MAX_REDIRECTS: usize = 64;

/// How long a route learned from a redirect lives (Linux's redirect exceptions, 300 s):
/// a gateway that went away is not used for ever (RFC 1122 3.3.1.4 asks hosts to notice
/// dead gateways; forgetting what a redirect taught is the part a host without a list of
/// gateways can do).
pub const REDIRECT_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The destination network (host bits cleared).
    pub dest: Ipv4Cidr,
    /// Next hop; `None` means the destination is on the link.
    pub gateway: Option<Ipv4Addr>,
    pub ifindex: usize,
    pub kind: RouteKind,
    /// Among routes of one prefix length the lowest metric is used (Linux's priority;
    /// connected routes and redirects have 0).
    pub metric: u32,
}

impl Route {
    /// Where to send a datagram for `dst` on this route.
    pub fn next_hop(&self, dst: Ipv4Addr) -> Ipv4Addr {
        self.gateway.unwrap_or(dst)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("a route to {0} with that metric already exists")]
    Exists(Ipv4Cidr),
    #[error("no route to {0} in the table")]
    NotFound(Ipv4Cidr),
    #[error("routing table is full ({0} routes)")]
    Full(usize),
    #[error("gateway {0} is not on a connected network")]
    GatewayUnreachable(Ipv4Addr),
    #[error("no such interface: {0}")]
    NoSuchInterface(String),
    #[error("{0} is down")]
    DeviceDown(String),
    #[error("gateway {0} is this host's own address")]
    GatewayIsLocal(Ipv4Addr),
    #[error("a route needs 'via GATEWAY' or 'dev IF'")]
    NeedsGatewayOrDevice,
    #[error("connected routes follow interface addresses; change the address with ifconfig")]
    Connected,
}

#[derive(Clone, Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
    max: usize,
    /// When each route learned from a redirect ends, by destination (at most one record a
    /// learned route: bounded by [`MAX_REDIRECTS`]).
    redirect_ends: Vec<(Ipv4Cidr, Instant)>,
}

impl RouteTable {
    pub fn new(max: usize) -> RouteTable {
        RouteTable {
            routes: Vec::new(),
            max,
            redirect_ends: Vec::new(),
        }
    }

    /// When the next learned route ends.
    pub fn poll_at(&self) -> Option<Instant> {
        self.redirect_ends.iter().map(|r| r.1).min()
    }

    /// Forget the routes learned from redirects that have lived [`REDIRECT_LIFETIME`];
    /// returns how many went.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut gone = 0;
        let routes = &mut self.routes;
        self.redirect_ends.retain(|&(dest, end)| {
            if end > now {
                return true;
            }
            let before = routes.len();
            routes.retain(|r| !(r.kind == RouteKind::Redirect && r.dest == dest));
            gone += before - routes.len();
            false
        });
        gone
    }

    /// The route for `dst` among those whose interface `usable` accepts: the longest
    /// prefix, then the lowest metric, then the one added first. The table is kept in that
    /// order, so this is the first match.
    pub fn lookup(&self, dst: Ipv4Addr, usable: impl Fn(usize) -> bool) -> Option<Route> {
        self.routes
            .iter()
            .find(|r| r.dest.contains(dst) && usable(r.ifindex))
            .copied()
    }

    /// Add a route. A connected route is always added (each interface's address brings
    /// its own, even on a network another interface is on, as Linux adds its prefix
    /// routes); any other is refused if a route to the same network with the same metric
    /// is there (Linux's EEXIST).
    pub fn add(&mut self, mut route: Route) -> Result<(), RouteError> {
        route.dest = route.dest.network();
        if route.kind == RouteKind::Static {
            // The user's route to a destination takes over from what a redirect taught
            // about it, as Linux's new FIB entry leaves the old entry's redirect
            // exception behind.
            self.retain(|r| !(r.dest == route.dest && r.kind == RouteKind::Redirect));
        }
        if route.kind != RouteKind::Connected
            && self
                .routes
                .iter()
                .any(|r| r.dest == route.dest && r.metric == route.metric)
        {
            return Err(RouteError::Exists(route.dest));
        }
        if self.routes.len() >= self.max {
            return Err(RouteError::Full(self.max));
        }
        // After every route a lookup prefers or ties with: longer prefixes, then lower
        // metrics, then those added earlier.
        let key = |r: &Route| (std::cmp::Reverse(r.dest.prefix()), r.metric);
        let at = self.routes.partition_point(|r| key(r) <= key(&route));
        self.routes.insert(at, route);
        Ok(())
    }

    /// Learn a host route from a redirect: it replaces an earlier redirect for the same
    /// destination, never a route the user or an interface made; past
    /// [`MAX_REDIRECTS`], or with the table full, the oldest learned one goes.
    pub fn learn_redirect(&mut self, route: Route, now: Instant) -> Result<(), RouteError> {
        let dest = route.dest.network();
        if self
            .routes
            .iter()
            .any(|r| r.dest == dest && r.kind != RouteKind::Redirect)
        {
            return Err(RouteError::Exists(dest));
        }
        self.routes
            .retain(|r| !(r.dest == dest && r.kind == RouteKind::Redirect));
        let learned = self
            .routes
            .iter()
            .filter(|r| r.kind == RouteKind::Redirect)
            .count();
        if learned >= MAX_REDIRECTS || (learned > 0 && self.routes.len() >= self.max) {
            if let Some(i) = self
                .routes
                .iter()
                .position(|r| r.kind == RouteKind::Redirect)
            {
                self.routes.remove(i);
            }
        }
        // Learned routes all have metric 0, so the table keeps them oldest first.
        self.add(Route {
            kind: RouteKind::Redirect,
            metric: 0,
            ..route
        })?;
        // One record a learned route: drop those of routes that went (replaced, evicted,
        // deleted), then note this one's end.
        let routes = &self.routes;
        self.redirect_ends.retain(|(d, _)| {
            *d != dest
                && routes
                    .iter()
                    .any(|r| r.kind == RouteKind::Redirect && r.dest == *d)
        });
        self.redirect_ends.push((dest, now + REDIRECT_LIFETIME));
        Ok(())
    }

    /// Delete a static or learned route by destination: the one with `metric` when given,
    /// else the one a lookup would take first (as Linux's `route del` without a metric).
    /// Connected routes are not deleted here.
    pub fn delete(&mut self, dest: Ipv4Cidr, metric: Option<u32>) -> Result<Route, RouteError> {
        let dest = dest.network();
        let matches = |r: &Route| r.dest == dest && metric.is_none_or(|m| m == r.metric);
        match self
            .routes
            .iter()
            .position(|r| matches(r) && r.kind != RouteKind::Connected)
        {
            Some(i) => Ok(self.routes.remove(i)),
            None if self.routes.iter().any(matches) => Err(RouteError::Connected),
            None => Err(RouteError::NotFound(dest)),
        }
    }

    /// Drop every route of an interface of the given kind (its address changed or went away).
    pub fn remove_interface_routes(&mut self, ifindex: usize, kind: RouteKind) {
        self.retain(|r| !(r.ifindex == ifindex && r.kind == kind));
    }

    /// Keep only the routes `keep` accepts (and the ends of the learned ones kept).
    pub fn retain(&mut self, keep: impl FnMut(&Route) -> bool) {
        self.routes.retain(keep);
        let routes = &self.routes;
        self.redirect_ends.retain(|(d, _)| {
            routes
                .iter()
                .any(|r| r.kind == RouteKind::Redirect && r.dest == *d)
        });
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn route(dest: &str, gw: Option<&str>, ifindex: usize, kind: RouteKind) -> Route {
        Route {
            dest: cidr(dest),
            gateway: gw.map(ip),
            ifindex,
            kind,
            metric: 0,
        }
    }

    fn with_metric(r: Route, metric: u32) -> Route {
        Route { metric, ..r }
    }

    fn table() -> RouteTable {
        let mut t = RouteTable::new(8);
        t.add(route("0.0.0.0/0", Some("10.0.0.2"), 1, RouteKind::Static))
            .unwrap();
        t.add(route("10.0.0.1/24", None, 1, RouteKind::Connected))
            .unwrap();
        t.add(route("127.0.0.0/8", None, 0, RouteKind::Connected))
            .unwrap();
        t.add(route("10.0.1.0/24", Some("10.0.0.3"), 1, RouteKind::Static))
            .unwrap();
        t.add(route(
            "10.0.1.128/25",
            Some("10.0.0.4"),
            1,
            RouteKind::Static,
        ))
        .unwrap();
        t
    }

    /// A route the user adds to a destination a redirect taught replaces the learned one
    /// (it was refused: "already exists", found by a review); a redirect never replaces
    /// the user's.
    #[test]
    fn a_static_route_replaces_a_learned_one() {
        let mut t = table();
        let learned = route("10.0.5.7/32", Some("10.0.0.9"), 1, RouteKind::Redirect);
        t.learn_redirect(learned, Instant::ZERO).unwrap();
        assert_eq!(t.poll_at(), Some(Instant::ZERO + REDIRECT_LIFETIME));
        let user = route("10.0.5.7/32", Some("10.0.0.3"), 1, RouteKind::Static);
        t.add(user).unwrap();
        let all = |_| true;
        assert_eq!(t.lookup(ip("10.0.5.7"), all), Some(user));
        assert_eq!(t.routes().iter().filter(|r| r.dest == user.dest).count(), 1);
        assert_eq!(t.poll_at(), None, "its end is forgotten too");
        assert_eq!(
            t.learn_redirect(learned, Instant::ZERO),
            Err(RouteError::Exists(cidr("10.0.5.7/32")))
        );
        assert_eq!(t.lookup(ip("10.0.5.7"), all), Some(user));
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table();
        let all = |_| true;
        assert_eq!(t.lookup(ip("10.0.0.9"), all).unwrap().gateway, None);
        assert_eq!(
            t.lookup(ip("10.0.1.5"), all).unwrap().gateway,
            Some(ip("10.0.0.3"))
        );
        assert_eq!(
            t.lookup(ip("10.0.1.200"), all).unwrap().gateway,
            Some(ip("10.0.0.4"))
        );
        assert_eq!(
            t.lookup(ip("8.8.8.8"), all).unwrap().gateway,
            Some(ip("10.0.0.2"))
        );
        assert_eq!(t.lookup(ip("127.1.2.3"), all).unwrap().ifindex, 0);
        let prefixes: Vec<u8> = t.routes().iter().map(|r| r.dest.prefix()).collect();
        assert_eq!(
            prefixes,
            [25, 24, 24, 8, 0],
            "kept in the order lookups prefer"
        );
    }

    /// Longest prefix first, then the lowest metric, then the route added first (Linux's
    /// fib order); the same network and metric twice is refused unless connected.
    #[test]
    fn lookup_takes_the_longest_prefix_then_the_lowest_metric_then_the_oldest() {
        let mut t = RouteTable::new(16);
        let all = |_| true;
        let dflt = |gw, m| with_metric(route("0.0.0.0/0", Some(gw), 1, RouteKind::Static), m);
        t.add(dflt("10.0.0.2", 100)).unwrap();
        t.add(dflt("10.0.0.3", 10)).unwrap();
        t.add(dflt("10.0.0.4", 50)).unwrap();
        assert_eq!(
            t.add(dflt("10.0.0.5", 10)),
            Err(RouteError::Exists(cidr("0.0.0.0/0")))
        );
        assert_eq!(
            t.lookup(ip("8.8.8.8"), all).unwrap().gateway,
            Some(ip("10.0.0.3"))
        );
        // A longer prefix wins whatever its metric.
        t.add(with_metric(
            route("8.0.0.0/8", Some("10.0.0.9"), 1, RouteKind::Static),
            1000,
        ))
        .unwrap();
        assert_eq!(
            t.lookup(ip("8.8.8.8"), all).unwrap().gateway,
            Some(ip("10.0.0.9"))
        );
        // No usable interface, no route.
        assert_eq!(t.lookup(ip("8.8.8.8"), |i| i != 1).map(|r| r.gateway), None);
        // Two connected routes to one network (two interfaces on it): the first added.
        t.add(route("10.0.0.1/24", None, 1, RouteKind::Connected))
            .unwrap();
        t.add(route("10.0.0.9/24", None, 2, RouteKind::Connected))
            .unwrap();
        assert_eq!(t.lookup(ip("10.0.0.7"), all).unwrap().ifindex, 1);
        assert_eq!(t.lookup(ip("10.0.0.7"), |i| i != 1).unwrap().ifindex, 2);
        // A static route to that network at the connected routes' metric: refused.
        assert_eq!(
            t.add(route("10.0.0.0/24", None, 2, RouteKind::Static)),
            Err(RouteError::Exists(cidr("10.0.0.0/24")))
        );
        // Deleting: by metric, or the one a lookup takes first; never a connected route.
        assert_eq!(
            t.delete(cidr("0.0.0.0/0"), Some(50)).unwrap().gateway,
            Some(ip("10.0.0.4"))
        );
        assert_eq!(
            t.delete(cidr("0.0.0.0/0"), Some(50)),
            Err(RouteError::NotFound(cidr("0.0.0.0/0")))
        );
        assert_eq!(
            t.delete(cidr("0.0.0.0/0"), None).unwrap().gateway,
            Some(ip("10.0.0.3"))
        );
        assert_eq!(
            t.lookup(ip("1.1.1.1"), all).unwrap().gateway,
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            t.delete(cidr("10.0.0.0/24"), None),
            Err(RouteError::Connected)
        );
    }

    #[test]
    fn down_interfaces_are_skipped() {
        let t = table();
        assert_eq!(t.lookup(ip("10.0.0.9"), |i| i != 1), None);
        assert_eq!(t.lookup(ip("127.0.0.1"), |i| i != 1).unwrap().ifindex, 0);
    }

    #[test]
    fn add_delete_and_limits() {
        let mut t = table();
        assert_eq!(
            t.add(route("10.0.1.7/24", None, 1, RouteKind::Static)),
            Err(RouteError::Exists(cidr("10.0.1.0/24")))
        );
        t.add(with_metric(
            route("10.0.1.7/24", None, 1, RouteKind::Static),
            5,
        ))
        .unwrap();
        t.delete(cidr("10.0.1.0/24"), Some(5)).unwrap();
        assert_eq!(
            t.delete(cidr("10.0.1.0/24"), None).unwrap().gateway,
            Some(ip("10.0.0.3"))
        );
        assert_eq!(
            t.lookup(ip("10.0.1.5"), |_| true).unwrap().gateway,
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            t.delete(cidr("10.0.1.0/24"), None),
            Err(RouteError::NotFound(cidr("10.0.1.0/24")))
        );
        assert_eq!(
            t.delete(cidr("10.0.0.0/24"), None),
            Err(RouteError::Connected)
        );
        t.add(route("1.0.0.0/8", None, 1, RouteKind::Static))
            .unwrap();
        t.add(route("2.0.0.0/8", None, 1, RouteKind::Static))
            .unwrap();
        t.add(route("3.0.0.0/8", None, 1, RouteKind::Static))
            .unwrap();
        t.add(route("4.0.0.0/8", None, 1, RouteKind::Static))
            .unwrap();
        assert_eq!(
            t.add(route("5.0.0.0/8", None, 1, RouteKind::Static)),
            Err(RouteError::Full(8))
        );
        t.remove_interface_routes(1, RouteKind::Connected);
        assert_eq!(
            t.lookup(ip("10.0.0.9"), |_| true).unwrap().gateway,
            Some(ip("10.0.0.2"))
        );
    }
}
