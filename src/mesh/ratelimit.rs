//! Handshake admission: token buckets per source address and per source prefix, a global
//! budget of expensive handshakes with a reserve for known peers, and the "under load" detector
//! that makes cookies mandatory. All bounded; time comes only from the arguments.
//!
//! Why each layer (docs/overlay.md "Under attack"): the cookie proves only that the sender
//! receives at its source address; an attacker who owns many addresses passes it from each. The
//! per-address bucket bounds one address, the per-prefix bucket one routed block (IPv4 /24,
//! IPv6 /56), and the global budget everything, so the BIP-340 check and the DHs never take more
//! than a fixed share of the loop. Peers that completed a handshake with us before are admitted
//! from a reserve of their own, tied to the prefix they completed from, so a flood that spends
//! the global budget does not block their rekeys and reconnects.

use core::net::IpAddr;
use core::time::Duration;
use std::collections::BTreeMap;
use std::time::Instant;

use super::limits::{
    HANDSHAKE_BUDGET, HANDSHAKE_BUDGET_BURST, HANDSHAKE_PREFIX_V4_BITS, HANDSHAKE_PREFIX_V6_BITS,
    KNOWN_PEER_BURST, KNOWN_PEER_RATE, KNOWN_PEERS, PREFIX_HANDSHAKE_BURST, PREFIX_HANDSHAKE_RATE,
    RATE_LIMIT_PREFIXES, RATE_LIMIT_SOURCES, UNDER_LOAD_STICKY,
};
use super::wire::NodeId;

/// How often a full limiter table is swept for refilled buckets.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A rate as WireGuard's ratelimiter keeps it: credit in nanoseconds, so refills are exact
/// integers.
#[derive(Debug, Clone, Copy)]
struct Rate {
    /// Credit one token costs: 1 s / rate.
    cost_ns: u64,
    /// Most credit a bucket holds: burst × cost.
    max_ns: u64,
}

impl Rate {
    /// `rate` per second (≥ 1) with bursts of `burst` (≥ 1).
    fn new(rate: u32, burst: u32) -> Self {
        let cost_ns = 1_000_000_000 / u64::from(rate.max(1));
        Self {
            cost_ns,
            max_ns: cost_ns.saturating_mul(u64::from(burst.max(1))),
        }
    }

    /// A bucket that just gave its first token.
    fn first(self, now: Instant) -> Bucket {
        Bucket {
            credit_ns: self.max_ns - self.cost_ns,
            last: now,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    credit_ns: u64,
    last: Instant,
}

impl Bucket {
    /// Refills for the time since the last call, then takes one token if there is one.
    fn take(&mut self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        let elapsed_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.credit_ns = self.credit_ns.saturating_add(elapsed_ns).min(rate.max_ns);
        self.last = now;
        if self.credit_ns < rate.cost_ns {
            return false;
        }
        self.credit_ns -= rate.cost_ns;
        true
    }
}

/// One token bucket per key, at most `CAP` keys; buckets that refilled are forgotten (they
/// equal a fresh one) when the table is full, at most once per [`SWEEP_EVERY`].
struct Buckets<K, const CAP: usize> {
    buckets: BTreeMap<K, Bucket>,
    rate: Rate,
    /// Earliest next sweep of a full table.
    next_sweep: Option<Instant>,
}

/// Why a take failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The key's bucket is empty.
    Empty,
    /// The table is full of keys seen too recently to forget: a flood, which the caller treats
    /// as load.
    TableFull,
}

impl<K: Ord + Copy, const CAP: usize> Buckets<K, CAP> {
    fn new(rate: Rate) -> Self {
        Self {
            buckets: BTreeMap::new(),
            rate,
            next_sweep: None,
        }
    }

    fn take(&mut self, now: Instant, key: K) -> Result<(), Refusal> {
        if let Some(bucket) = self.buckets.get_mut(&key) {
            return if bucket.take(self.rate, now) {
                Ok(())
            } else {
                Err(Refusal::Empty)
            };
        }
        if self.buckets.len() >= CAP {
            self.sweep(now);
            if self.buckets.len() >= CAP {
                return Err(Refusal::TableFull);
            }
        }
        self.buckets.insert(key, self.rate.first(now));
        Ok(())
    }

    fn sweep(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.next_sweep = now.checked_add(SWEEP_EVERY);
        let full_after = Duration::from_nanos(self.rate.max_ns);
        self.buckets
            .retain(|_, b| now.saturating_duration_since(b.last) < full_after);
    }
}

/// A source's routed block: the first [`HANDSHAKE_PREFIX_V4_BITS`] of an IPv4 address or
/// [`HANDSHAKE_PREFIX_V6_BITS`] of an IPv6 one (IPv4-mapped IPv6 counts as IPv4), the rest
/// zeroed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prefix {
    /// An IPv4 block.
    V4(u32),
    /// An IPv6 block.
    V6(u128),
}

impl Prefix {
    /// The block `ip` belongs to.
    #[must_use]
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4) & mask_u32(HANDSHAKE_PREFIX_V4_BITS)),
            IpAddr::V6(v6) => Self::V6(u128::from(v6) & mask_u128(HANDSHAKE_PREFIX_V6_BITS)),
        }
    }
}

/// The top `bits` of 32 set.
fn mask_u32(bits: u32) -> u32 {
    u32::MAX
        .checked_shl(32_u32.saturating_sub(bits))
        .unwrap_or(0)
}

/// The top `bits` of 128 set.
fn mask_u128(bits: u32) -> u128 {
    u128::MAX
        .checked_shl(128_u32.saturating_sub(bits))
        .unwrap_or(0)
}

/// Which share admitted an expensive handshake, or why none did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// From the claimed known peer's own reserve (source in the prefix it completed from).
    Reserved,
    /// From the shared budget, after the source prefix's bucket.
    Shared,
    /// Refused by the source prefix's bucket.
    PrefixLimited,
    /// Refused: the global budget is spent, or the prefix table is full of fresh prefixes.
    /// The caller marks the node loaded, so every initiation needs a cookie.
    Overloaded,
}

impl Admission {
    /// Whether the handshake may go on to the binding check and the DHs.
    #[must_use]
    pub fn admitted(self) -> bool {
        matches!(self, Self::Reserved | Self::Shared)
    }
}

/// Handshake admission past the cookie. The per-address bucket is checked first and alone
/// ([`allow`](Self::allow)), before any Noise work; [`admit`](Self::admit) then decides, with the
/// node id the initiation claims (read in clear, unverified), whether the expensive part runs.
pub struct HandshakeLimiter {
    by_addr: Buckets<IpAddr, RATE_LIMIT_SOURCES>,
    /// Boxed so the node's inline state stays as it was (the overlay's size is pinned).
    past_cookie: Box<PastCookie>,
}

/// The shares [`HandshakeLimiter::admit`] draws on.
struct PastCookie {
    by_prefix: Buckets<Prefix, RATE_LIMIT_PREFIXES>,
    /// The global budget; `None` until first used (full: there is no clock to start it at).
    budget: Option<Bucket>,
    budget_rate: Rate,
    /// Peers that completed a handshake: the prefix they completed from, and when.
    known: BTreeMap<NodeId, (Prefix, Instant)>,
    /// Known peers' reserves; bounded as `known`.
    reserve: Buckets<NodeId, KNOWN_PEERS>,
}

impl HandshakeLimiter {
    /// A limiter of `rate` per second (≥ 1) with bursts of `burst` (≥ 1) per source address;
    /// prefix, budget and reserve rates are the constants of [`super::limits`].
    #[must_use]
    pub fn new(rate: u32, burst: u32) -> Self {
        let budget_rate = Rate::new(HANDSHAKE_BUDGET, HANDSHAKE_BUDGET_BURST);
        Self {
            by_addr: Buckets::new(Rate::new(rate, burst)),
            past_cookie: Box::new(PastCookie {
                by_prefix: Buckets::new(Rate::new(PREFIX_HANDSHAKE_RATE, PREFIX_HANDSHAKE_BURST)),
                budget: None,
                budget_rate,
                known: BTreeMap::new(),
                reserve: Buckets::new(Rate::new(KNOWN_PEER_RATE, KNOWN_PEER_BURST)),
            }),
        }
    }

    /// Takes one token for `ip`; `false` when its bucket is empty or the table is full of
    /// sources seen too recently to forget (a flood: the caller treats that as load).
    pub fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        self.by_addr.take(now, ip).is_ok()
    }

    /// Whether an initiation from `ip` claiming to be `claimed` may cost a binding check and
    /// the DHs. A known peer's claim from the prefix it last completed from takes its reserve
    /// first (a forger must sit in that prefix to spend it, and then spends at most
    /// [`KNOWN_PEER_RATE`]); everything else takes the prefix's bucket, then the global budget.
    pub fn admit(&mut self, now: Instant, ip: IpAddr, claimed: &NodeId) -> Admission {
        let s = &mut *self.past_cookie;
        let prefix = Prefix::of(ip);
        if s.known.get(claimed).is_some_and(|(p, _)| *p == prefix)
            && s.reserve.take(now, *claimed).is_ok()
        {
            return Admission::Reserved;
        }
        match s.by_prefix.take(now, prefix) {
            Ok(()) => {}
            Err(Refusal::Empty) => return Admission::PrefixLimited,
            Err(Refusal::TableFull) => return Admission::Overloaded,
        }
        let taken = match s.budget.as_mut() {
            Some(bucket) => bucket.take(s.budget_rate, now),
            None => {
                s.budget = Some(s.budget_rate.first(now));
                true
            }
        };
        if taken {
            Admission::Shared
        } else {
            Admission::Overloaded
        }
    }

    /// Records that `node` completed a handshake from `ip` (it proved its static key), so its
    /// next ones draw on its reserve. A full table forgets the peer that completed longest ago.
    pub fn note_completed(&mut self, now: Instant, node: NodeId, ip: IpAddr) {
        let s = &mut *self.past_cookie;
        if !s.known.contains_key(&node) && s.known.len() >= KNOWN_PEERS {
            let oldest = s
                .known
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                s.known.remove(&oldest);
                s.reserve.buckets.remove(&oldest);
            }
        }
        s.known.insert(node, (Prefix::of(ip), now));
    }

    /// Sources tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_addr.buckets.len()
    }

    /// Whether no source is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_addr.buckets.is_empty()
    }

    /// Prefixes tracked.
    #[must_use]
    pub fn prefixes(&self) -> usize {
        self.past_cookie.by_prefix.buckets.len()
    }

    /// Known peers remembered.
    #[must_use]
    pub fn known(&self) -> usize {
        self.past_cookie.known.len()
    }
}

/// Decides when cookies become mandatory: too many responder handshakes in flight, or too many
/// initiations with a valid `mac1` in the current second. Sticky for
/// [`UNDER_LOAD_STICKY`], as WireGuard's.
#[derive(Debug, Default)]
pub struct LoadMeter {
    window_start: Option<Instant>,
    in_window: u32,
    until: Option<Instant>,
}

impl LoadMeter {
    /// Counts one initiation that passed `mac1`.
    pub fn note_initiation(&mut self, now: Instant) {
        let fresh = self
            .window_start
            .is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1));
        if fresh {
            self.window_start = Some(now);
            self.in_window = 0;
        }
        self.in_window = self.in_window.saturating_add(1);
    }

    /// Marks the node loaded for the next [`UNDER_LOAD_STICKY`].
    pub fn mark(&mut self, now: Instant) {
        self.until = now.checked_add(UNDER_LOAD_STICKY);
    }

    /// Whether cookies are required now, given the handshakes in flight and the thresholds
    /// (`in_flight_limit` 0 means always).
    pub fn under_load(
        &mut self,
        now: Instant,
        in_flight: usize,
        in_flight_limit: usize,
        per_second_limit: u32,
    ) -> bool {
        let window_current = self
            .window_start
            .is_some_and(|s| now.saturating_duration_since(s) < Duration::from_secs(1));
        let rate_hit = window_current && self.in_window >= per_second_limit;
        if in_flight >= in_flight_limit || rate_hit {
            self.mark(now);
        }
        self.until.is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use core::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::mesh::tests::epoch;
    use crate::nostr::PubKey;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    /// The `i`-th distinct /24: 10.x.y.1.
    fn prefix_n(i: usize) -> IpAddr {
        let i = u32::try_from(i).expect("small");
        IpAddr::V4(Ipv4Addr::from((10 << 24) | (i << 8) | 1))
    }

    fn node(b: u8) -> NodeId {
        NodeId(PubKey([b; 32]))
    }

    /// Spends the whole global budget from distinct prefixes, as a flood with many blocks does.
    fn spend_budget(l: &mut HandshakeLimiter, now: Instant) {
        let mut i = 0;
        while l.admit(now, prefix_n(i), &node(0xee)) == Admission::Shared {
            i += 1;
            assert!(i <= RATE_LIMIT_PREFIXES, "the budget ends");
        }
    }

    #[test]
    fn prefixes_are_v4_24_and_v6_56() {
        assert_eq!(Prefix::of(v4(192, 0, 2, 1)), Prefix::of(v4(192, 0, 2, 254)));
        assert_ne!(Prefix::of(v4(192, 0, 2, 1)), Prefix::of(v4(192, 0, 3, 1)));
        let a: Ipv6Addr = "2001:db8:0:ab00::1".parse().expect("literal");
        let same: Ipv6Addr = "2001:db8:0:abff:ffff::9".parse().expect("literal");
        let other: Ipv6Addr = "2001:db8:0:ac00::1".parse().expect("literal");
        assert_eq!(Prefix::of(a.into()), Prefix::of(same.into()));
        assert_ne!(Prefix::of(a.into()), Prefix::of(other.into()));
        let mapped: Ipv6Addr = "::ffff:192.0.2.77".parse().expect("literal");
        assert_eq!(Prefix::of(mapped.into()), Prefix::of(v4(192, 0, 2, 1)));
        assert_eq!(mask_u32(0), 0);
        assert_eq!(mask_u32(32), u32::MAX);
        assert_eq!(mask_u128(128), u128::MAX);
    }

    #[test]
    fn many_addresses_of_one_prefix_share_its_bucket() {
        let t0 = epoch();
        let mut l = HandshakeLimiter::new(20, 5);
        let burst = usize::try_from(PREFIX_HANDSHAKE_BURST).expect("small");
        for d in 0..burst {
            let ip = v4(198, 51, 100, u8::try_from(d + 1).expect("small"));
            assert!(l.allow(t0, ip), "each address is fresh");
            assert_eq!(l.admit(t0, ip, &node(9)), Admission::Shared, "burst {d}");
        }
        let next = v4(198, 51, 100, 200);
        assert!(l.allow(t0, next), "its own address bucket is full");
        assert_eq!(l.admit(t0, next, &node(9)), Admission::PrefixLimited);
        assert_eq!(
            l.admit(t0, v4(198, 51, 101, 1), &node(9)),
            Admission::Shared,
            "the next /24 is independent"
        );
        let one = Duration::from_nanos(1_000_000_000 / u64::from(PREFIX_HANDSHAKE_RATE));
        assert_eq!(l.admit(t0 + one, next, &node(9)), Admission::Shared);
        assert_eq!(l.admit(t0 + one, next, &node(9)), Admission::PrefixLimited);
        assert_eq!(l.prefixes(), 2);
    }

    #[test]
    fn the_global_budget_bounds_many_prefixes() {
        let t0 = epoch();
        let mut l = HandshakeLimiter::new(20, 5);
        let mut admitted = 0_u32;
        for i in 0..RATE_LIMIT_PREFIXES {
            if l.admit(t0, prefix_n(i), &node(1)).admitted() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, HANDSHAKE_BUDGET_BURST, "one burst at one instant");
        // One second later: one second's budget (capped at the burst), however many prefixes.
        let t1 = t0 + Duration::from_secs(1);
        let mut admitted = 0_u32;
        for step in 0..1000_u64 {
            let now = t1 + Duration::from_millis(step);
            for i in 0..20 {
                if l.admit(
                    now,
                    prefix_n(i + 20 * usize::try_from(step % 50).expect("small")),
                    &node(1),
                )
                .admitted()
                {
                    admitted += 1;
                }
            }
        }
        assert!(
            admitted <= HANDSHAKE_BUDGET + HANDSHAKE_BUDGET_BURST,
            "{admitted} in a second of flood"
        );
        assert!(
            admitted >= HANDSHAKE_BUDGET - 1,
            "{admitted}: the budget is usable"
        );
    }

    #[test]
    fn a_full_prefix_table_is_load() {
        let t0 = epoch();
        let mut l = HandshakeLimiter::new(20, 5);
        for i in 0..RATE_LIMIT_PREFIXES {
            let _ = l.admit(t0, prefix_n(i), &node(1));
        }
        assert_eq!(l.prefixes(), RATE_LIMIT_PREFIXES);
        assert_eq!(
            l.admit(t0, v4(203, 0, 113, 1), &node(1)),
            Admission::Overloaded
        );
        assert_eq!(l.prefixes(), RATE_LIMIT_PREFIXES, "bounded");
    }

    #[test]
    fn a_known_peer_gets_through_while_forgers_spend_the_budget() {
        let t0 = epoch();
        let mut l = HandshakeLimiter::new(20, 5);
        let peer = node(7);
        let home = v4(192, 0, 2, 10);
        l.note_completed(t0, peer, home);
        spend_budget(&mut l, t0);
        assert_eq!(
            l.admit(t0, v4(203, 0, 113, 5), &node(8)),
            Admission::Overloaded
        );
        // Forgers claiming the known peer from elsewhere get no reserve.
        assert_eq!(
            l.admit(t0, v4(203, 0, 113, 6), &peer),
            Admission::Overloaded
        );
        // The peer itself, from its prefix (another address in it: a NAT may remap).
        assert_eq!(l.admit(t0, home, &peer), Admission::Reserved);
        assert_eq!(l.admit(t0, v4(192, 0, 2, 11), &peer), Admission::Reserved);
        // Its reserve is bounded: after the burst it shares the (spent) budget like anyone.
        for _ in 2..KNOWN_PEER_BURST {
            assert_eq!(l.admit(t0, home, &peer), Admission::Reserved);
        }
        assert_eq!(l.admit(t0, home, &peer), Admission::Overloaded);
        // A retry 5 s later finds its reserve refilled even though the flood goes on.
        let t5 = t0 + Duration::from_secs(5);
        spend_budget(&mut l, t5);
        assert_eq!(l.admit(t5, home, &peer), Admission::Reserved);
    }

    #[test]
    fn known_peers_are_bounded_and_the_oldest_goes() {
        let t0 = epoch();
        let mut l = HandshakeLimiter::new(20, 5);
        for i in 0..KNOWN_PEERS {
            let at = t0 + Duration::from_millis(u64::try_from(i).expect("small"));
            l.note_completed(at, node(u8::try_from(i).expect("small")), prefix_n(i));
        }
        assert_eq!(l.known(), KNOWN_PEERS);
        let late = t0 + Duration::from_secs(1);
        l.note_completed(late, node(0xfe), v4(192, 0, 2, 1));
        assert_eq!(l.known(), KNOWN_PEERS);
        spend_budget(&mut l, late);
        assert_eq!(
            l.admit(late, prefix_n(0), &node(0)),
            Admission::Overloaded,
            "the oldest was forgotten"
        );
        assert_eq!(l.admit(late, prefix_n(1), &node(1)), Admission::Reserved);
        assert_eq!(
            l.admit(late, v4(192, 0, 2, 1), &node(0xfe)),
            Admission::Reserved
        );
    }

    #[test]
    fn burst_then_rate() {
        let t0 = epoch();
        let mut l = HandshakeLimiter::new(20, 5);
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        for i in 0..5 {
            assert!(l.allow(t0, ip), "burst token {i}");
        }
        assert!(!l.allow(t0, ip));
        assert!(!l.allow(t0 + Duration::from_millis(49), ip));
        assert!(l.allow(t0 + Duration::from_millis(50), ip));
        assert!(!l.allow(t0 + Duration::from_millis(50), ip));
        // Another source is independent.
        assert!(l.allow(t0, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))));
    }

    #[test]
    fn a_full_table_refuses_then_sweeps() {
        let t0 = epoch();
        let mut l = HandshakeLimiter::new(20, 5);
        for i in 0..RATE_LIMIT_SOURCES {
            let ip = IpAddr::V4(Ipv4Addr::from(u32::try_from(i).expect("small") + 1));
            assert!(l.allow(t0, ip));
        }
        let late = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
        assert!(!l.allow(t0, late), "full of fresh sources");
        assert_eq!(l.len(), RATE_LIMIT_SOURCES);
        assert!(
            l.allow(t0 + Duration::from_secs(2), late),
            "refilled ones swept"
        );
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn load_is_sticky_for_a_second() {
        let t0 = epoch();
        let mut m = LoadMeter::default();
        assert!(!m.under_load(t0, 0, 8, 32));
        assert!(m.under_load(t0, 8, 8, 32));
        assert!(m.under_load(t0 + Duration::from_millis(999), 0, 8, 32));
        assert!(!m.under_load(t0 + UNDER_LOAD_STICKY, 0, 8, 32));
        for _ in 0..32 {
            m.note_initiation(t0 + Duration::from_secs(5));
        }
        assert!(m.under_load(t0 + Duration::from_secs(5), 0, 8, 32));
        assert!(
            !m.under_load(t0 + Duration::from_secs(60), 0, 8, 32),
            "an old window does not count"
        );
        assert!(m.under_load(t0, 0, 0, 32), "limit 0 means always");
    }
}
