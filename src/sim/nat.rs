//! NAT models for the simulator, after RFC 4787: a mapping behaviour (endpoint-independent or
//! endpoint-dependent, "symmetric"), a filtering behaviour (endpoint-independent,
//! address-dependent, address-and-port-dependent) and a mapping timeout refreshed by outbound
//! packets only (RFC 4787 REQ-6 allows either; outbound-only is the stricter, common case).
//!
//! A [`Nat`] is one router with one public IP. It translates outbound packets at send time and
//! filters inbound ones at arrival time; expired mappings are dropped lazily.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

/// How a NAT picks the external port (RFC 4787 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mapping {
    /// One external port per internal endpoint, whatever the destination (EIM; a MUST).
    EndpointIndependent,
    /// A new external port per (internal endpoint, destination endpoint): "symmetric".
    EndpointDependent,
}

/// Which inbound packets a mapping lets through (RFC 4787 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Filtering {
    /// Anyone may send to the mapped port ("full cone").
    EndpointIndependent,
    /// Only IPs the inside host has sent to ("restricted cone").
    AddressDependent,
    /// Only exact endpoints the inside host has sent to ("port-restricted cone").
    AddressAndPortDependent,
}

/// A NAT's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NatKind {
    /// Mapping behaviour.
    pub mapping: Mapping,
    /// Filtering behaviour.
    pub filtering: Filtering,
}

impl NatKind {
    /// EIM + EIF.
    pub const FULL_CONE: Self = Self {
        mapping: Mapping::EndpointIndependent,
        filtering: Filtering::EndpointIndependent,
    };
    /// EIM + ADF.
    pub const RESTRICTED_CONE: Self = Self {
        mapping: Mapping::EndpointIndependent,
        filtering: Filtering::AddressDependent,
    };
    /// EIM + APDF: most home routers (Linux MASQUERADE).
    pub const PORT_RESTRICTED_CONE: Self = Self {
        mapping: Mapping::EndpointIndependent,
        filtering: Filtering::AddressAndPortDependent,
    };
    /// EDM + APDF: Linux MASQUERADE `--random-fully`, corporate and cloud NAT.
    pub const SYMMETRIC: Self = Self {
        mapping: Mapping::EndpointDependent,
        filtering: Filtering::AddressAndPortDependent,
    };
    /// The four kinds the punch matrix covers.
    pub const ALL: [Self; 4] = [
        Self::FULL_CONE,
        Self::RESTRICTED_CONE,
        Self::PORT_RESTRICTED_CONE,
        Self::SYMMETRIC,
    ];
}

/// The mapping timeout of a typical Linux router for unreplied UDP (notes/overlay.md §7):
/// shorter than RFC 4787's 2 min, so tests see what keepalives must survive.
pub const DEFAULT_MAPPING_TIMEOUT: Duration = Duration::from_secs(30);

/// First external port handed out; below are the well-known and registered-by-habit ports.
const FIRST_PORT: u16 = 1024;

/// Mappings a NAT holds before it prunes expired ones on the next outbound packet: keeps a
/// long simulation's tables proportional to the live mappings.
const PRUNE_AT: usize = 256;

/// Key of a mapping: the inside endpoint, and for endpoint-dependent mapping the destination.
type MapKey = (SocketAddr, Option<SocketAddr>);

#[derive(Debug, Clone)]
struct MapEntry {
    external_port: u16,
    expires: Instant,
    /// Destinations the inside host sent to through this mapping (for filtering).
    sent_to: BTreeSet<SocketAddr>,
}

/// One NAT router with one public IP.
#[derive(Debug, Clone)]
pub struct Nat {
    public_ip: IpAddr,
    kind: NatKind,
    timeout: Duration,
    mappings: BTreeMap<MapKey, MapEntry>,
    by_port: BTreeMap<u16, MapKey>,
    /// Inbound packets dropped by filtering or for want of a mapping.
    pub filtered: u64,
}

impl Nat {
    /// A router at `public_ip` of the given kind and mapping timeout.
    #[must_use]
    pub fn new(public_ip: IpAddr, kind: NatKind, timeout: Duration) -> Self {
        Self {
            public_ip,
            kind,
            timeout,
            mappings: BTreeMap::new(),
            by_port: BTreeMap::new(),
            filtered: 0,
        }
    }

    /// The router's public IP.
    #[must_use]
    pub fn public_ip(&self) -> IpAddr {
        self.public_ip
    }

    /// Its behaviour.
    #[must_use]
    pub fn kind(&self) -> NatKind {
        self.kind
    }

    /// Changes the router's behaviour from now on (a reconfigured router, a new one with the
    /// same address); existing mappings keep their ports.
    pub fn set_kind(&mut self, kind: NatKind) {
        self.kind = kind;
    }

    /// Forgets every mapping (a router reboot, a conntrack flush): the next outbound packet of
    /// each inside endpoint draws a new public port, and inbound packets to the old ports are
    /// filtered.
    pub fn rebind(&mut self) {
        self.mappings.clear();
        self.by_port.clear();
    }

    /// Live mappings.
    #[must_use]
    pub fn mapping_count(&self, now: Instant) -> usize {
        self.mappings.values().filter(|m| m.expires > now).count()
    }

    /// Translates an outbound packet from `inside` to `dst`: the public source it leaves with.
    /// Creates or refreshes the mapping; the port is drawn from `rng` for a new mapping.
    pub fn outbound(
        &mut self,
        now: Instant,
        rng: &mut ChaCha20Rng,
        inside: SocketAddr,
        dst: SocketAddr,
    ) -> SocketAddr {
        if self.mappings.len() >= PRUNE_AT {
            self.prune(now);
        }
        let key = match self.kind.mapping {
            Mapping::EndpointIndependent => (inside, None),
            Mapping::EndpointDependent => (inside, Some(dst)),
        };
        let expires = now + self.timeout;
        if let Some(entry) = self.mappings.get_mut(&key)
            && entry.expires > now
        {
            entry.expires = expires;
            entry.sent_to.insert(dst);
            return SocketAddr::new(self.public_ip, entry.external_port);
        }
        if let Some(old) = self.mappings.remove(&key) {
            self.by_port.remove(&old.external_port);
        }
        let port = self.free_port(rng);
        self.by_port.insert(port, key);
        self.mappings.insert(
            key,
            MapEntry {
                external_port: port,
                expires,
                sent_to: BTreeSet::from([dst]),
            },
        );
        SocketAddr::new(self.public_ip, port)
    }

    /// Filters an inbound packet from `src` to our public `port`: the inside endpoint it goes
    /// to, or `None` when no live mapping exists or filtering refuses it.
    pub fn inbound(&mut self, now: Instant, src: SocketAddr, port: u16) -> Option<SocketAddr> {
        let allowed = self.by_port.get(&port).and_then(|key| {
            let entry = self.mappings.get(key)?;
            let pass = entry.expires > now
                && match self.kind.filtering {
                    Filtering::EndpointIndependent => true,
                    Filtering::AddressDependent => entry.sent_to.iter().any(|d| d.ip() == src.ip()),
                    Filtering::AddressAndPortDependent => entry.sent_to.contains(&src),
                };
            pass.then_some(key.0)
        });
        if allowed.is_none() {
            self.filtered += 1;
        }
        allowed
    }

    fn free_port(&mut self, rng: &mut ChaCha20Rng) -> u16 {
        let span = u32::from(u16::MAX - FIRST_PORT) + 1;
        loop {
            let port = FIRST_PORT + (rng.next_u32() % span) as u16;
            if !self.by_port.contains_key(&port) {
                return port;
            }
        }
    }

    fn prune(&mut self, now: Instant) {
        let by_port = &mut self.by_port;
        self.mappings.retain(|_, m| {
            let live = m.expires > now;
            if !live {
                by_port.remove(&m.external_port);
            }
            live
        });
    }
}

#[cfg(test)]
mod tests {
    use core::net::{Ipv4Addr, SocketAddr};

    use rand_core::SeedableRng;

    use super::*;

    fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::from(ip), port))
    }

    #[test]
    fn each_kind_maps_and_filters_as_rfc_4787_says() {
        #[allow(clippy::disallowed_methods)] // a test's virtual clock needs one real origin
        let t0 = Instant::now();
        let inside = addr([10, 0, 0, 2], 4000);
        let (peer, peer_other_port, stranger) = (
            addr([203, 0, 113, 1], 9000),
            addr([203, 0, 113, 1], 9001),
            addr([203, 0, 113, 9], 9000),
        );
        // (kind, same port for a second destination, peer's other port passes, stranger passes)
        let table = [
            (NatKind::FULL_CONE, true, true, true),
            (NatKind::RESTRICTED_CONE, true, true, false),
            (NatKind::PORT_RESTRICTED_CONE, true, false, false),
            (NatKind::SYMMETRIC, false, false, false),
        ];
        for (kind, same_port, other_port_ok, stranger_ok) in table {
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            let mut nat = Nat::new(
                IpAddr::from([198, 51, 100, 1]),
                kind,
                DEFAULT_MAPPING_TIMEOUT,
            );
            let m1 = nat.outbound(t0, &mut rng, inside, peer);
            let m2 = nat.outbound(t0, &mut rng, inside, stranger);
            assert_eq!(m1 == m2, same_port, "{kind:?}");
            assert_eq!(nat.inbound(t0, peer, m1.port()), Some(inside), "{kind:?}");
            assert_eq!(
                nat.inbound(t0, peer_other_port, m1.port()).is_some(),
                other_port_ok,
                "{kind:?}"
            );
            // For the stranger test, it must not have been sent to on m1's mapping.
            let mut fresh = Nat::new(nat.public_ip(), kind, DEFAULT_MAPPING_TIMEOUT);
            let m = fresh.outbound(t0, &mut rng, inside, peer);
            assert_eq!(
                fresh.inbound(t0, stranger, m.port()).is_some(),
                stranger_ok,
                "{kind:?}"
            );
            // Mappings expire without outbound refresh.
            let later = t0 + DEFAULT_MAPPING_TIMEOUT;
            assert_eq!(fresh.inbound(later, peer, m.port()), None, "{kind:?}");
        }
    }
}
