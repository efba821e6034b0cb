//! Who may talk to the API at all: the LAN check every listener applies at accept, before a
//! byte is read (ARCHITECTURE.md "Errors and bad input": "LAN" means loopback, RFC 1918,
//! fc00::/7 and link-local; 100.64.0.0/10 only when configured, since on a router it may be the
//! WAN side), and the connection caps.

use std::net::{IpAddr, Ipv4Addr};

/// Which sources the API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LanPolicy {
    /// Also allow 100.64.0.0/10 (carrier-grade NAT space, used by Tailscale-style overlays).
    pub allow_cgnat: bool,
    /// Answer any source (config `api.allow_any_source`): for a node whose API sits behind
    /// the user's own reverse proxy or firewall.
    pub allow_any: bool,
}

impl LanPolicy {
    /// Whether a connection from `ip` is admitted.
    #[must_use]
    pub fn admits(self, ip: IpAddr) -> bool {
        self.allow_any || is_lan(ip) || (self.allow_cgnat && is_cgnat(ip))
    }
}

/// Whether `ip` is on the LAN: loopback, RFC 1918, IPv4 link-local, fc00::/7 and fe80::/10
/// (IPv4-mapped IPv6 addresses by their IPv4 meaning).
#[must_use]
pub fn is_lan(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_lan(IpAddr::V4(v4)),
            None => {
                let first = v6.segments().first().copied().unwrap_or(0);
                v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
            }
        },
    }
}

/// Whether `ip` is in 100.64.0.0/10.
#[must_use]
pub fn is_cgnat(ip: IpAddr) -> bool {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => return false,
        },
    };
    let [a, b, ..] = v4.octets();
    a == 100 && (b & 0xc0) == 64 && v4 != Ipv4Addr::UNSPECIFIED
}

/// Why a connection was turned away at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turned {
    /// Not on the LAN: HTTP 403 `forbidden: LAN only`, then close.
    NotLan,
    /// The listener's connection cap is reached: HTTP 503, then close.
    Busy,
}

/// A listener's admission gate: the LAN policy, a cap on open connections, and counters of
/// what it refused (reported in `/status` and `/metrics`).
#[derive(Debug, Clone)]
pub struct Gate {
    policy: LanPolicy,
    max_open: usize,
    open: usize,
    pub refused_not_lan: u64,
    pub refused_busy: u64,
    pub admitted: u64,
}

impl Gate {
    /// A gate admitting at most `max_open` connections at once from sources `policy` allows.
    #[must_use]
    pub fn new(policy: LanPolicy, max_open: usize) -> Self {
        Self {
            policy,
            max_open,
            open: 0,
            refused_not_lan: 0,
            refused_busy: 0,
            admitted: 0,
        }
    }

    /// Admits a connection from `ip` (counting it open until [`Gate::closed`]) or says why not.
    pub fn admit(&mut self, ip: IpAddr) -> Result<(), Turned> {
        if !self.policy.admits(ip) {
            self.refused_not_lan += 1;
            return Err(Turned::NotLan);
        }
        if self.open >= self.max_open {
            self.refused_busy += 1;
            return Err(Turned::Busy);
        }
        self.open += 1;
        self.admitted += 1;
        Ok(())
    }

    /// A connection admitted earlier has closed.
    pub fn closed(&mut self) {
        self.open = self.open.saturating_sub(1);
    }

    /// Connections open now.
    #[must_use]
    pub fn open(&self) -> usize {
        self.open
    }

    /// The cap.
    #[must_use]
    pub fn max_open(&self) -> usize {
        self.max_open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn lan_sources_are_loopback_private_and_link_local() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.10",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fc12::1",
            "fe80::1",
            "::ffff:192.168.0.2",
        ] {
            assert!(is_lan(ip(s)), "{s}");
            assert!(LanPolicy::default().admits(ip(s)), "{s}");
        }
        for s in [
            "8.8.8.8",
            "172.32.0.1",
            "100.64.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
            "0.0.0.0",
        ] {
            assert!(!is_lan(ip(s)), "{s}");
            assert!(!LanPolicy::default().admits(ip(s)), "{s}");
        }
    }

    #[test]
    fn cgnat_only_when_configured_and_any_only_when_asked() {
        let cgnat = LanPolicy {
            allow_cgnat: true,
            allow_any: false,
        };
        assert!(cgnat.admits(ip("100.64.0.1")));
        assert!(cgnat.admits(ip("100.127.255.254")));
        assert!(!cgnat.admits(ip("100.128.0.1")));
        assert!(!cgnat.admits(ip("100.63.255.255")));
        assert!(!cgnat.admits(ip("8.8.8.8")));
        let any = LanPolicy {
            allow_cgnat: false,
            allow_any: true,
        };
        assert!(any.admits(ip("8.8.8.8")));
    }

    #[test]
    fn gate_caps_open_connections_and_counts_refusals() {
        let mut gate = Gate::new(LanPolicy::default(), 2);
        assert_eq!(gate.admit(ip("8.8.8.8")), Err(Turned::NotLan));
        assert_eq!(gate.admit(ip("127.0.0.1")), Ok(()));
        assert_eq!(gate.admit(ip("127.0.0.1")), Ok(()));
        assert_eq!(gate.admit(ip("127.0.0.1")), Err(Turned::Busy));
        gate.closed();
        assert_eq!(gate.admit(ip("127.0.0.1")), Ok(()));
        assert_eq!(
            (gate.refused_not_lan, gate.refused_busy, gate.admitted),
            (1, 1, 3)
        );
        assert_eq!(gate.open(), 2);
    }
}
