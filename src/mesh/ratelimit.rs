//! Handshake admission: a token bucket per source IP and the "under load" detector that makes
//! cookies mandatory. Both are bounded and read time only from their arguments.

use core::net::IpAddr;
use core::time::Duration;
use std::collections::BTreeMap;
use std::time::Instant;

use super::limits::{RATE_LIMIT_SOURCES, UNDER_LOAD_STICKY};

/// How often a full limiter table is swept for refilled buckets.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Per-source-IP token buckets (WireGuard's ratelimiter): `rate` handshakes per second with a
/// burst of `burst`. Tokens are kept as nanoseconds of credit, so refills are exact integers.
pub struct HandshakeLimiter {
    buckets: BTreeMap<IpAddr, Bucket>,
    /// Credit one handshake costs: 1 s / rate.
    cost_ns: u64,
    /// Most credit a bucket holds: burst × cost.
    max_ns: u64,
    /// Earliest next sweep of a full table.
    next_sweep: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    credit_ns: u64,
    last: Instant,
}

impl HandshakeLimiter {
    /// A limiter of `rate` per second (≥ 1) with bursts of `burst` (≥ 1).
    #[must_use]
    pub fn new(rate: u32, burst: u32) -> Self {
        let cost_ns = 1_000_000_000 / u64::from(rate.max(1));
        Self {
            buckets: BTreeMap::new(),
            cost_ns,
            max_ns: cost_ns.saturating_mul(u64::from(burst.max(1))),
            next_sweep: None,
        }
    }

    /// Takes one token for `ip`; `false` when its bucket is empty or the table is full of
    /// sources seen too recently to forget (a flood: the caller treats that as load).
    pub fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        if let Some(bucket) = self.buckets.get_mut(&ip) {
            let elapsed = now.saturating_duration_since(bucket.last);
            let elapsed_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            bucket.credit_ns = bucket.credit_ns.saturating_add(elapsed_ns).min(self.max_ns);
            bucket.last = now;
            if bucket.credit_ns < self.cost_ns {
                return false;
            }
            bucket.credit_ns -= self.cost_ns;
            return true;
        }
        if self.buckets.len() >= RATE_LIMIT_SOURCES {
            self.sweep(now);
            if self.buckets.len() >= RATE_LIMIT_SOURCES {
                return false;
            }
        }
        self.buckets.insert(
            ip,
            Bucket {
                credit_ns: self.max_ns - self.cost_ns,
                last: now,
            },
        );
        true
    }

    /// Forgets buckets that have refilled (they equal a fresh one), at most once per second.
    fn sweep(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.next_sweep = now.checked_add(SWEEP_EVERY);
        let full_after = Duration::from_nanos(self.max_ns);
        self.buckets
            .retain(|_, b| now.saturating_duration_since(b.last) < full_after);
    }

    /// Sources tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no source is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
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
    use core::net::Ipv4Addr;

    use super::*;
    use crate::mesh::tests::epoch;

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
