//! Relaying for pairs that cannot punch (DECISIONS.md 23; reasons in `docs/overlay.md` "Relay",
//! bytes in `docs/wire.md` "Relay messages").
//!
//! The A↔B session is an ordinary Noise session whose [`PathId`] is
//! `Relay { via: I, to: B }`: the transport seals as always, and [`Overlay::poll_transmit`]
//! wraps each such datagram into `RelayTo(B, datagram)` sent over the A↔I session. I checks
//! the request and its budget and sends `RelayFrom(A at its address, datagram)` over I↔B; B
//! feeds the datagram to its transport as arriving on `Relay { via: I, to: A }`. I sees only
//! sealed bytes. A relay forwards only between two direct sessions, so relays never nest.
//!
//! Bounds: at most [`MAX_RELAY_PAIRS`] pairs, each with a token bucket of [`RELAY_RATE`] bytes
//! per second (burst [`RELAY_BURST`]) and [`RELAY_DAILY_CAP`] bytes per [`RELAY_DAY`]; every
//! refusal is counted in [`RelayStats`] and never answered.

use core::time::Duration;
use std::collections::BTreeMap;
use std::time::Instant;

use super::super::node::{PathId, Transmit};
use super::super::wire::NodeId;
use super::{Entry, MAX_RELAYED, Msg, Overlay};

/// Sustained bytes per second one pair may send through us, both directions together:
/// 32 KiB/s carries a pair's gossip and catch-up at a home uplink's fraction that a board can
/// spare (libp2p's relay v2 allows far less, 128 KiB per 2 min, because its relays are
/// strangers; ours are overlay neighbours).
pub const RELAY_RATE: u64 = 32 * 1024;

/// Bucket depth: one full 64 KiB message (57 datagrams, each two on the relay legs) passes at
/// once; more waits for the refill.
pub const RELAY_BURST: u64 = 96 * 1024;

/// Bytes one pair may send through us per [`RELAY_DAY`]: ≈ 30 min at the full rate, plenty for
/// a pair's daily gossip, and a bound on what any pair costs a volunteer's data plan.
pub const RELAY_DAILY_CAP: u64 = 64 * 1024 * 1024;

/// The window of [`RELAY_DAILY_CAP`], starting at a pair's first relayed byte.
pub const RELAY_DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Pairs relayed at once. A relay is an introducer of its active neighbours, so a handful of
/// pairs is the normal load; 16 × [`RELAY_RATE`] bounds its relay bandwidth at 512 KiB/s.
pub const MAX_RELAY_PAIRS: usize = 16;

/// A pair silent this long gives its table slot to a new pair when the table is full (its
/// daily count is then forgotten: a bound on memory first, on bytes second).
pub const RELAY_PAIR_IDLE: Duration = Duration::from_secs(120);

/// Relay counters, for status pages and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Datagrams we forwarded for others.
    pub forwarded: u64,
    /// Their bytes.
    pub forwarded_bytes: u64,
    /// `RelayTo` refused because relaying is off here.
    pub refused_disabled: u64,
    /// `RelayTo` whose datagram is empty or over [`MAX_RELAYED`].
    pub refused_size: u64,
    /// `RelayTo` towards its sender or us, or from a peer we reach only through a relay.
    pub refused_loop: u64,
    /// `RelayTo` towards a node without a direct session here.
    pub refused_unknown_target: u64,
    /// `RelayTo` beyond the pair's token bucket.
    pub over_rate: u64,
    /// `RelayTo` beyond the pair's daily cap.
    pub over_daily_cap: u64,
    /// `RelayTo` for a new pair while [`MAX_RELAY_PAIRS`] busy pairs hold the table.
    pub table_full: u64,
    /// Our datagrams sent through a relay.
    pub sent: u64,
    /// Datagrams that reached us through a relay.
    pub received: u64,
    /// Our relayed datagrams dropped (the relay's session is gone or not direct, or the
    /// transmit queue is full).
    pub send_dropped: u64,
    /// `RelayFrom` refused: from a relayed session, or naming us or the relay as sender.
    pub bad_relay_from: u64,
}

/// One relayed pair's budget. Its last use is `refilled`.
#[derive(Debug, Clone, Copy)]
pub(super) struct RelayPair {
    tokens: u64,
    refilled: Instant,
    day_start: Instant,
    day_bytes: u64,
}

/// Why the budget refused a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OverBudget {
    Rate,
    Daily,
    TableFull,
}

impl RelayPair {
    fn new(now: Instant) -> Self {
        Self {
            tokens: RELAY_BURST,
            refilled: now,
            day_start: now,
            day_bytes: 0,
        }
    }

    /// Takes `bytes` from the bucket and the day's allowance, or refuses without taking.
    fn take(&mut self, now: Instant, bytes: u64) -> Result<(), OverBudget> {
        if now.saturating_duration_since(self.day_start) >= RELAY_DAY {
            self.day_start = now;
            self.day_bytes = 0;
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_nanos();
        let refill = elapsed.saturating_mul(u128::from(RELAY_RATE)) / 1_000_000_000;
        let refill = u64::try_from(refill).unwrap_or(u64::MAX);
        self.tokens = self.tokens.saturating_add(refill).min(RELAY_BURST);
        self.refilled = now;
        if self.day_bytes.saturating_add(bytes) > RELAY_DAILY_CAP {
            return Err(OverBudget::Daily);
        }
        if bytes > self.tokens {
            return Err(OverBudget::Rate);
        }
        self.tokens -= bytes;
        self.day_bytes = self.day_bytes.saturating_add(bytes);
        Ok(())
    }
}

/// The relay table's key: the pair in a fixed order, so both directions share one budget.
fn pair_key(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Overlay {
    /// Turns relaying for others on or off (on by default: "public" cannot be told yet, see
    /// `docs/overlay.md`). Our own relayed sessions work either way.
    pub fn set_relaying(&mut self, on: bool) {
        self.relaying = on;
        if !on {
            self.relay_pairs.clear();
        }
    }

    /// Whether we relay for others.
    #[must_use]
    pub fn relaying(&self) -> bool {
        self.relaying
    }

    /// Pairs in the relay table (bounded by [`MAX_RELAY_PAIRS`]).
    #[must_use]
    pub fn relay_pairs(&self) -> usize {
        self.relay_pairs.len()
    }

    /// Relay side: `from` asks us to forward `packet` to `target`.
    pub(super) fn on_relay_to(
        &mut self,
        now: Instant,
        from: Entry,
        target: NodeId,
        packet: Vec<u8>,
    ) {
        let s = &mut self.stats.relay;
        if !self.relaying {
            s.refused_disabled += 1;
            return;
        }
        if packet.is_empty() || packet.len() > MAX_RELAYED {
            s.refused_size += 1;
            return;
        }
        let me = self.mesh.node_id();
        let from_direct = self
            .mesh
            .peer_path(&from.node)
            .is_some_and(PathId::is_direct);
        if target == from.node || target == me || !from_direct {
            s.refused_loop += 1;
            return;
        }
        if !self.mesh.peer_path(&target).is_some_and(PathId::is_direct) {
            s.refused_unknown_target += 1;
            return;
        }
        let bytes = packet.len() as u64;
        match self.relay_budget(now, from.node, target, bytes) {
            Ok(()) => {}
            Err(over) => {
                let s = &mut self.stats.relay;
                match over {
                    OverBudget::Rate => s.over_rate += 1,
                    OverBudget::Daily => s.over_daily_cap += 1,
                    OverBudget::TableFull => s.table_full += 1,
                }
                return;
            }
        }
        let msg = Msg::RelayFrom { peer: from, packet };
        if self.mesh.send(now, target, &msg.encode()).is_ok() {
            self.stats.relay.forwarded += 1;
            self.stats.relay.forwarded_bytes += bytes;
        }
    }

    /// Endpoint side: the relay `from` brings `packet` from `peer`.
    pub(super) fn on_relay_from(&mut self, now: Instant, from: NodeId, peer: Entry, packet: &[u8]) {
        let from_direct = self.mesh.peer_path(&from).is_some_and(PathId::is_direct);
        if !from_direct || peer.node == from || peer.node == self.mesh.node_id() {
            self.stats.relay.bad_relay_from += 1;
            return;
        }
        self.stats.relay.received += 1;
        let path = PathId::Relay {
            via: from,
            to: peer.node,
        };
        self.mesh.handle_datagram(now, path, peer.addr, packet);
    }

    /// Endpoint side: wraps a transport datagram on a relay path into a `RelayTo` for the
    /// relay. The result leaves on the relay's direct session, so this never recurses.
    pub(super) fn relay_out(&mut self, t: Transmit) {
        let PathId::Relay { via, to } = t.path else {
            return;
        };
        let direct = self.mesh.peer_path(&via).is_some_and(PathId::is_direct);
        let Some(now) = self.last_now.filter(|_| direct) else {
            self.stats.relay.send_dropped += 1;
            return;
        };
        let msg = Msg::RelayTo {
            target: to,
            packet: t.bytes,
        };
        match self.mesh.send(now, via, &msg.encode()) {
            Ok(()) => self.stats.relay.sent += 1,
            Err(_) => self.stats.relay.send_dropped += 1,
        }
    }

    /// Charges `bytes` to the pair (`a`, `b`), making room for a new pair by reusing the
    /// longest-idle slot if it has been idle for [`RELAY_PAIR_IDLE`].
    fn relay_budget(
        &mut self,
        now: Instant,
        a: NodeId,
        b: NodeId,
        bytes: u64,
    ) -> Result<(), OverBudget> {
        let key = pair_key(a, b);
        if !self.relay_pairs.contains_key(&key) {
            if self.relay_pairs.len() >= MAX_RELAY_PAIRS {
                let idlest = self
                    .relay_pairs
                    .iter()
                    .min_by_key(|(_, p)| p.refilled)
                    .filter(|(_, p)| now.saturating_duration_since(p.refilled) >= RELAY_PAIR_IDLE)
                    .map(|(k, _)| *k);
                match idlest {
                    Some(k) => {
                        self.relay_pairs.remove(&k);
                    }
                    None => return Err(OverBudget::TableFull),
                }
            }
            self.relay_pairs.insert(key, RelayPair::new(now));
        }
        match self.relay_pairs.get_mut(&key) {
            Some(pair) => pair.take(now, bytes),
            None => Err(OverBudget::TableFull),
        }
    }
}

/// The relay table: pair → budget, at most [`MAX_RELAY_PAIRS`] entries.
pub(super) type RelayTable = BTreeMap<(NodeId, NodeId), RelayPair>;

#[cfg(test)]
pub(super) const RELAY_PAIR_SIZE: usize =
    core::mem::size_of::<(NodeId, NodeId)>() + core::mem::size_of::<RelayPair>();
