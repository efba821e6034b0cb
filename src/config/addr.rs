//! The two address forms of the configuration: the listen address (an IP literal, or
//! `localhost`) and boot peers (a DNS name or an IP literal, resolved later by the daemon).

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::str::FromStr;

/// Highest listen port P: the node also binds P+1 (HTTP API) and P+2 (websocket).
pub const LISTEN_PORT_MAX: u16 = u16::MAX - 2;

/// What a listen address must look like; the text of [`super::ConfigError::Invalid`].
pub(super) const LISTEN_EXPECTED: &str = "host:port with an IP address or localhost as host \
     and port <= 65533 (P+1 and P+2 are used too)";

/// What a boot peer must look like; the text of [`super::ConfigError::Invalid`] and
/// [`PeerAddrError`].
pub(super) const PEER_EXPECTED: &str =
    "host:port with a DNS name or IP address as host (IPv6 in brackets) and port 1..=65535";

/// Longest DNS name (RFC 1035 §2.3.4), without a trailing dot.
const DNS_NAME_MAX: usize = 253;
/// Longest DNS label (RFC 1035 §2.3.4).
const DNS_LABEL_MAX: usize = 63;

/// A boot peer as configured: a DNS name or an IP literal and a port. Names are not resolved
/// here; the daemon resolves them before its loop starts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerAddr {
    /// DNS name or IP literal; an IPv6 literal is kept without brackets.
    pub host: String,
    /// UDP port of the peer's mesh, 1..=65535.
    pub port: u16,
}

impl PeerAddr {
    /// The host as an IP address when it is an IP literal (no resolution needed).
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The socket address when the host is an IP literal.
    #[must_use]
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.ip().map(|ip| SocketAddr::new(ip, self.port))
    }
}

impl fmt::Display for PeerAddr {
    /// `host:port`, with an IPv6 literal in brackets (`[::1]:20000`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A string that is not a valid [`PeerAddr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected {PEER_EXPECTED}")]
pub struct PeerAddrError;

impl FromStr for PeerAddr {
    type Err = PeerAddrError;

    fn from_str(s: &str) -> Result<Self, PeerAddrError> {
        let (host, bracketed, port) = split_host_port(s).ok_or(PeerAddrError)?;
        let port = parse_port(port).filter(|&p| p != 0).ok_or(PeerAddrError)?;
        let valid = if bracketed {
            host.parse::<Ipv6Addr>().is_ok()
        } else {
            host.parse::<Ipv4Addr>().is_ok() || is_dns_name(host)
        };
        if !valid {
            return Err(PeerAddrError);
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

/// Parses a listen address: `ip:port`, `[ipv6]:port`, `localhost:port` (127.0.0.1) or `:port`
/// (0.0.0.0, as Go's `net.Listen` reads it), with port 0..=[`LISTEN_PORT_MAX`]. Port 0 asks the
/// OS to choose every port (see [`super::Config::api_addr`]).
pub(super) fn parse_listen(s: &str) -> Option<SocketAddr> {
    let (host, bracketed, port) = split_host_port(s)?;
    let port = parse_port(port).filter(|&p| p <= LISTEN_PORT_MAX)?;
    let ip = if bracketed {
        IpAddr::V6(host.parse().ok()?)
    } else if host.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V4(host.parse().ok()?)
    };
    Some(SocketAddr::new(ip, port))
}

/// Splits `host:port` or `[host]:port` into (host, bracketed, port). An unbracketed host may not
/// contain ':' (an IPv6 literal needs brackets to tell its last group from the port).
fn split_host_port(s: &str) -> Option<(&str, bool, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        Some((host, true, after.strip_prefix(':')?))
    } else {
        let (host, port) = s.rsplit_once(':')?;
        (!host.contains(':')).then_some((host, false, port))
    }
}

/// A decimal port of 1 to 5 ASCII digits (no sign, no spaces).
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A host name per RFC 1123 §2.1: dot-separated labels of letters, digits and inner hyphens, with
/// an optional trailing dot. A name whose last label is all digits is refused, so that a mistyped
/// IPv4 address (`192.168.1`) is not taken for a name.
fn is_dns_name(s: &str) -> bool {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > DNS_NAME_MAX {
        return false;
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= DNS_LABEL_MAX
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let last_numeric = name
        .rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()));
    name.split('.').all(label_ok) && !last_numeric
}
