//! HyParView-like membership on top of [`MeshNode`]: an active view of ≈ 5 peers with open
//! sessions (the links gossip will use), a passive view of ≈ 30 known peers without sessions,
//! joins through boot addresses with ForwardJoin random walks, a shuffle every 60 s that
//! exchanges passive samples, failure detection from the transport (`PeerDown` after keepalive
//! silence) and repair from the passive view, and a bounded address book for the store to
//! persist. Reasons and parameters: `docs/overlay.md`; bytes: `docs/wire.md` "Membership
//! messages".
//!
//! [`Overlay`] owns the [`MeshNode`] and has its shape: `handle_*` in, `poll_*` out, the same
//! drain invariant. Membership messages ride as ordinary mesh messages whose first byte is in
//! [`MEMBERSHIP_TYPES`]; every other message goes up as [`OverlayEvent::Mesh`].
//!
//! Deviations from the paper: the shuffle exchanges with one active neighbour instead of a
//! random walk (a walk's last hop would have to open a session to the origin, which a NAT may
//! refuse); the active view is filled towards its size with low-priority requests whenever it
//! is short, not only after a failure.
//!
//! NAT traversal sits here too: classification and punching in `punch.rs` (introductions are
//! started by membership itself when a dial goes unanswered), and the relay fallback in
//! `relay.rs`, which makes [`Overlay::poll_transmit`] wrap datagrams of relayed sessions.
//!
//! State is bounded by the config and the consts below; nothing grows with the network.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::limits::MAX_QUEUED_EVENTS;
use super::node::{LinkId, MeshEvent, MeshNode, PathId, Transmit};
use super::wire::NodeId;
use super::{ConnectError, SendError};

mod book;
mod liveness;
mod msg;
mod punch;
mod relay;
mod views;

pub use liveness::PONG_TIMEOUT;
pub use msg::{ENTRY_LEN, Entry, MAX_RELAYED, Msg, MsgError};
pub use punch::{
    INTRO_RETRY, INTRODUCE_AFTER, MAX_PUNCHES, NatType, OBSERVERS, PUNCH_DURATION, PUNCH_INTERVAL,
    RELAY_AFTER, UPGRADE_INTERVAL,
};
use punch::{Intro, Punch};
pub use relay::{
    MAX_RELAY_PAIRS, RELAY_BURST, RELAY_DAILY_CAP, RELAY_DAY, RELAY_PAIR_IDLE, RELAY_RATE,
    RelayStats,
};

/// Address-book entries kept (ARCHITECTURE.md memory budget: 512 × ≤ 128 B = 64 KiB). Enough
/// to rejoin after a restart even when most remembered peers are gone; the oldest-seen entry
/// is forgotten first.
pub const ADDRESS_BOOK_MAX: usize = 512;

/// ForwardJoin walk length (HyParView's ARWL = 6): long enough to leave the contact's
/// neighbourhood in networks of thousands.
pub const ACTIVE_RANDOM_WALK: u8 = 6;

/// Walk hop at which a ForwardJoin also lands in the passive view (HyParView's PRWL = 3).
pub const PASSIVE_RANDOM_WALK: u8 = 3;

/// Shuffle period (HyParView / iroh: 60 s): passive views stay fresh at ≈ one small message
/// per node per minute.
pub const SHUFFLE_INTERVAL: Duration = Duration::from_secs(60);

/// Active peers sampled into a shuffle (HyParView's k_a = 3).
pub const SHUFFLE_ACTIVE: usize = 3;

/// Passive peers sampled into a shuffle (HyParView's k_p = 4).
pub const SHUFFLE_PASSIVE: usize = 4;

/// Most entries a shuffle message carries: the samples plus the sender itself.
pub const SHUFFLE_MAX: usize = SHUFFLE_ACTIVE + SHUFFLE_PASSIVE + 1;

/// A ping on every active link this often: the 25 s that keeps most NAT mappings open
/// (WireGuard's persistent keepalive), well inside the transport's 90 s idle timeout, which is
/// what detects a dead neighbour.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(25);

/// While the active view is short, try one passive peer this often: fast repair without a
/// burst of handshakes.
pub const REPAIR_INTERVAL: Duration = Duration::from_secs(1);

/// Longest wait between repair attempts while the active view is short but not empty: each
/// refusal doubles the wait from [`REPAIR_INTERVAL`] up to this, so a node one neighbour
/// short in a network of full views does not dial a peer every second forever.
pub const REPAIR_MAX_INTERVAL: Duration = Duration::from_secs(64);

/// Neighbour requests in flight at once: a short view fills in a few rounds without opening
/// many sessions that will be refused.
pub const MAX_PENDING: usize = 3;

/// A neighbour request unanswered this long is dropped and its peer forgotten from the passive
/// view: two handshake retries (5 s each) plus slack.
pub const NEIGHBOR_TIMEOUT: Duration = Duration::from_secs(12);

/// A session that is neither an active link nor a pending request is closed after this long
/// (it was opened for a join, a refused request, or by a peer that evicted us).
pub const TRANSIENT_GRACE: Duration = Duration::from_secs(15);

/// Boot addresses remembered for rejoining (`-b` may repeat).
pub const BOOT_MAX: usize = 8;

/// With no active and no passive peer, dial the boot addresses again this often.
pub const REJOIN_INTERVAL: Duration = Duration::from_secs(10);

/// First-byte values reserved for membership messages; gossip and others use other values.
pub const MEMBERSHIP_TYPES: core::ops::RangeInclusive<u8> = 0xB0..=0xBF;

/// What the overlay tells the layer above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverlayEvent {
    /// `node` joined the active view: gossip may use the link.
    NeighborUp {
        /// The peer.
        node: NodeId,
    },
    /// `node` left the active view.
    NeighborDown {
        /// The peer.
        node: NodeId,
    },
    /// The address book learned or changed an entry (for the store to persist).
    AddressLearned(Entry),
    /// The address book dropped `node` (evicted for room, or it failed to answer).
    AddressForgotten {
        /// The peer.
        node: NodeId,
    },
    /// Our NAT's mapping behaviour changed, as classified from observed addresses.
    NatType(NatType),
    /// A punch towards `node` ended without a direct session (a relayed one may exist).
    PunchFailed {
        /// The peer.
        node: NodeId,
    },
    /// A transport event membership does not consume: application messages, observed
    /// addresses, session ups and downs.
    Mesh(MeshEvent),
}

/// One address-book entry's value. With its 32-byte key it is ≤ 128 B (a test pins it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookEntry {
    /// Where the peer was last reached or announced.
    pub addr: SocketAddr,
    /// When.
    pub seen: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    addr: SocketAddr,
    high: bool,
    /// Neighbor sent (the session is up); else we are still connecting.
    asked: bool,
    deadline: Instant,
    /// The peer that told us about this one: our introducer if the dial goes unanswered.
    via: Option<NodeId>,
    /// When to ask `via` for an introduction ([`INTRODUCE_AFTER`] after the dial).
    intro_at: Option<Instant>,
}

/// A passive-view entry: where the peer was announced, and by whom.
#[derive(Debug, Clone, Copy)]
struct Known {
    addr: SocketAddr,
    /// The peer that announced it (a shuffle, a ForwardJoin), our candidate introducer.
    via: Option<NodeId>,
}

/// Counters for status pages and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverlayStats {
    /// Membership messages that failed to decode.
    pub bad_messages: u64,
    /// Events dropped because the queue was full.
    pub dropped_events: u64,
    /// Active peers evicted to make room.
    pub evictions: u64,
    /// Shuffles sent.
    pub shuffles: u64,
    /// Introductions started on our own (a dial to an announced peer went unanswered).
    pub auto_introductions: u64,
    /// Introductions asked for an active UDP link silent after our ping (a NAT rebinding).
    pub repunch_requests: u64,
    /// Relaying, for others and for us.
    pub relay: RelayStats,
}

/// Membership over a [`MeshNode`]. See the module docs.
pub struct Overlay {
    mesh: MeshNode,
    rng: ChaCha20Rng,
    active: BTreeMap<NodeId, SocketAddr>,
    passive: BTreeMap<NodeId, Known>,
    pending: BTreeMap<NodeId, Pending>,
    /// Sessions that are neither active nor pending, and when they are closed.
    transient: BTreeMap<NodeId, Instant>,
    book: book::AddressBook,
    boot: heapless::Vec<SocketAddr, BOOT_MAX>,
    shuffle_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    /// When the last pings went out, and when their links must have answered (`liveness.rs`).
    pong_check: Option<(Instant, Instant)>,
    repair_at: Option<Instant>,
    /// Current wait between repair attempts (see [`REPAIR_MAX_INTERVAL`]).
    repair_every: Duration,
    rejoin_at: Option<Instant>,
    events: VecDeque<OverlayEvent>,
    stats: OverlayStats,
    punches: BTreeMap<NodeId, Punch>,
    /// Introductions we asked for, by target.
    intros: BTreeMap<NodeId, Intro>,
    /// Our address as the last [`OBSERVERS`] distinct peers reported it, newest last.
    observed: heapless::Vec<(NodeId, SocketAddr), OBSERVERS>,
    nat_type: NatType,
    /// Whether we relay for others ([`Overlay::set_relaying`]).
    relaying: bool,
    /// Pairs we relay for, with their budgets.
    relay_pairs: relay::RelayTable,
    /// The `now` of the latest input: relayed transmits are wrapped in `poll_transmit`, which
    /// takes no time.
    last_now: Option<Instant>,
    /// Next attempt to move relayed sessions to a direct path.
    upgrade_at: Option<Instant>,
}

impl Overlay {
    /// Membership over `mesh`, drawing its choices from `seed`.
    #[must_use]
    pub fn new(mesh: MeshNode, seed: [u8; 32]) -> Self {
        Self {
            mesh,
            rng: ChaCha20Rng::from_seed(seed),
            active: BTreeMap::new(),
            passive: BTreeMap::new(),
            pending: BTreeMap::new(),
            transient: BTreeMap::new(),
            book: book::AddressBook::new(),
            boot: heapless::Vec::new(),
            shuffle_at: None,
            keepalive_at: None,
            pong_check: None,
            repair_at: None,
            repair_every: REPAIR_INTERVAL,
            rejoin_at: None,
            events: VecDeque::new(),
            stats: OverlayStats::default(),
            punches: BTreeMap::new(),
            intros: BTreeMap::new(),
            observed: heapless::Vec::new(),
            nat_type: NatType::Unknown,
            relaying: true,
            relay_pairs: relay::RelayTable::new(),
            last_now: None,
            upgrade_at: None,
        }
    }

    /// The transport.
    #[must_use]
    pub fn mesh(&self) -> &MeshNode {
        &self.mesh
    }

    /// Our node key.
    #[must_use]
    pub fn node_id(&self) -> NodeId {
        self.mesh.node_id()
    }

    /// The active view.
    pub fn active(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.active.keys().copied()
    }

    /// Size of the active view.
    #[must_use]
    pub fn active_len(&self) -> usize {
        self.active.len()
    }

    /// The passive view.
    pub fn passive(&self) -> impl Iterator<Item = Entry> + '_ {
        self.passive.iter().map(|(node, k)| Entry {
            node: *node,
            addr: k.addr,
        })
    }

    /// A snapshot of the address book, for the store.
    pub fn address_book(&self) -> impl Iterator<Item = (NodeId, BookEntry)> + '_ {
        self.book.iter().map(|(n, e)| (*n, *e))
    }

    /// Bytes the address book holds on the heap: one allocation of [`ADDRESS_BOOK_MAX`]
    /// entries made when the overlay is built, whatever it holds (for the memory figures).
    #[must_use]
    pub fn address_book_heap_bytes(&self) -> usize {
        self.book.heap_bytes()
    }

    /// Our NAT's mapping behaviour so far.
    #[must_use]
    pub fn nat_type(&self) -> NatType {
        self.nat_type
    }

    #[must_use]
    pub fn stats(&self) -> OverlayStats {
        self.stats
    }

    /// Adds persisted peers (from the store) to the address book; they seed repair and rejoin.
    /// Emits no `AddressLearned` for them (the store has them), only `AddressForgotten` for
    /// entries evicted to make room.
    pub fn load_address_book(&mut self, now: Instant, entries: impl IntoIterator<Item = Entry>) {
        for e in entries {
            self.record(now, e.node, e.addr, false);
        }
    }

    /// Joins through `boot` (the `-b` addresses): dials each, and sends `Join` to those that
    /// answer while the active view has room. Keeps up to [`BOOT_MAX`] for rejoining.
    pub fn join(&mut self, now: Instant, boot: &[SocketAddr]) {
        self.start(now);
        for addr in boot {
            if !self.boot.contains(addr) {
                // Full: the first BOOT_MAX are kept; more boot peers add nothing a walk won't.
                let _ = self.boot.push(*addr);
            }
        }
        self.dial_boot(now);
        self.pump(now);
    }

    /// Sends an application message to `node` (any session, active or not). Its first byte
    /// must be outside [`MEMBERSHIP_TYPES`], which the receiver would take as membership.
    pub fn send(&mut self, now: Instant, node: NodeId, bytes: &[u8]) -> Result<(), SendError> {
        let r = self.mesh.send(now, node, bytes);
        self.pump(now);
        r
    }

    /// Dials `addr` directly (a targeted delivery, an introduction).
    pub fn connect(&mut self, now: Instant, addr: SocketAddr) -> Result<(), ConnectError> {
        let r = self.mesh.connect(now, PathId::Udp, addr);
        self.pump(now);
        r
    }

    /// Dials `addr` on `path`: the shell's TLS fallback dials a boot peer on the link it
    /// opened to it ([`PathId::Tls`]); the session that comes up joins as any other.
    pub fn connect_on(
        &mut self,
        now: Instant,
        path: PathId,
        addr: SocketAddr,
    ) -> Result<(), ConnectError> {
        let r = self.mesh.connect(now, path, addr);
        self.pump(now);
        r
    }

    /// The shell's TLS link `link` closed: the sessions on it end now rather than by
    /// idleness, so membership repairs at once.
    pub fn link_closed(&mut self, now: Instant, link: LinkId) {
        let on_link: Vec<NodeId> = self
            .mesh
            .peers()
            .filter(|p| p.path == PathId::Tls(link))
            .map(|p| p.node)
            .collect();
        for node in on_link {
            let _ = self.mesh.disconnect(now, node);
        }
        self.pump(now);
    }

    /// A datagram arrived.
    pub fn handle_datagram(&mut self, now: Instant, path: PathId, from: SocketAddr, bytes: &[u8]) {
        self.start(now);
        self.mesh.handle_datagram(now, path, from, bytes);
        self.pump(now);
    }

    /// A deadline from [`Overlay::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.start(now);
        if self.mesh.poll_timeout().is_some_and(|t| t <= now) {
            self.mesh.handle_timeout(now);
        }
        self.pump(now);
        self.tick(now);
        self.pump(now);
    }

    /// The next datagram to send; poll until `None` after every `handle_*` and command.
    /// Always on a path the shell carries (UDP or a TLS link): datagrams of relayed sessions
    /// leave wrapped in a `RelayTo` on the relay's session (`relay.rs`).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            let t = self.mesh.poll_transmit()?;
            if t.path.is_direct() {
                return Some(t);
            }
            // Wrapping queues a direct transmit (or drops), so the loop ends.
            self.relay_out(t);
        }
    }

    /// The next event; poll until `None` after every `handle_*` and command.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<OverlayEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline of the transport and of membership.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let repair = self.repair_at.filter(|_| self.needs_repair());
        let rejoin = self.rejoin_at.filter(|_| self.isolated());
        [
            self.mesh.poll_timeout(),
            self.shuffle_at,
            self.keepalive_at,
            self.pong_check.map(|(_, at)| at),
            repair,
            rejoin,
            self.pending
                .values()
                .map(|p| p.intro_at.map_or(p.deadline, |t| t.min(p.deadline)))
                .min(),
            self.upgrade_at,
            self.punches.values().map(|p| p.next.min(p.until)).min(),
            self.intros.values().map(|i| i.next.min(i.until)).min(),
            self.transient.values().copied().min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn start(&mut self, now: Instant) {
        if self.shuffle_at.is_none() {
            let jitter = self.jitter(SHUFFLE_INTERVAL);
            self.shuffle_at = Some(now + SHUFFLE_INTERVAL / 2 + jitter);
            self.keepalive_at = Some(now + KEEPALIVE_INTERVAL);
            self.repair_at = Some(now + REPAIR_INTERVAL);
            self.rejoin_at = Some(now + REJOIN_INTERVAL);
            self.upgrade_at = Some(now + UPGRADE_INTERVAL);
        }
    }

    fn active_max(&self) -> usize {
        self.mesh.config().active_view
    }

    fn passive_max(&self) -> usize {
        self.mesh.config().passive_view
    }

    fn needs_repair(&self) -> bool {
        self.active.len() + self.pending.len() < self.active_max()
            && self.pending.len() < MAX_PENDING
    }

    fn isolated(&self) -> bool {
        self.active.is_empty() && self.pending.is_empty()
    }

    /// Consumes the transport's events: membership messages and session changes here,
    /// everything else up.
    fn pump(&mut self, now: Instant) {
        self.last_now = Some(now);
        while let Some(event) = self.mesh.poll_event() {
            match event {
                MeshEvent::Message { node, bytes }
                    if bytes.first().is_some_and(|b| MEMBERSHIP_TYPES.contains(b)) =>
                {
                    match Msg::decode(&bytes) {
                        Ok(msg) => self.on_msg(now, node, msg),
                        Err(_) => self.stats.bad_messages += 1,
                    }
                }
                MeshEvent::PeerUp { node, addr } => {
                    self.on_peer_up(now, node, addr);
                    self.push(OverlayEvent::Mesh(MeshEvent::PeerUp { node, addr }));
                }
                MeshEvent::PeerDown { node, why } => {
                    self.transient.remove(&node);
                    if self.pending.remove(&node).is_some() {
                        self.passive.remove(&node);
                    }
                    if self.active.remove(&node).is_some() {
                        self.push(OverlayEvent::NeighborDown { node });
                        self.repair_soon(now);
                    }
                    // Sessions relayed through it cannot carry anything more; their own
                    // PeerDown events follow in this loop.
                    let relayed: Vec<NodeId> = self
                        .mesh
                        .peers()
                        .filter(|p| matches!(p.path, PathId::Relay { via, .. } if via == node))
                        .map(|p| p.node)
                        .collect();
                    for n in relayed {
                        let _ = self.mesh.disconnect(now, n);
                    }
                    self.push(OverlayEvent::Mesh(MeshEvent::PeerDown { node, why }));
                }
                MeshEvent::PeerMoved { node, addr } => {
                    if let Some(a) = self.active.get_mut(&node) {
                        *a = addr;
                    }
                    self.remember(now, node, addr);
                    self.push(OverlayEvent::Mesh(MeshEvent::PeerMoved { node, addr }));
                }
                MeshEvent::ConnectFailed { addr } => {
                    let failed: Vec<NodeId> = self
                        .pending
                        .iter()
                        .filter(|(_, p)| p.addr == addr && !p.asked)
                        .map(|(n, _)| *n)
                        .collect();
                    for node in failed {
                        self.pending.remove(&node);
                        self.passive.remove(&node);
                        self.forget(node);
                    }
                    self.push(OverlayEvent::Mesh(MeshEvent::ConnectFailed { addr }));
                }
                MeshEvent::ObservedAddr { by, addr } => {
                    self.on_observed(by, addr);
                    self.push(OverlayEvent::Mesh(MeshEvent::ObservedAddr { by, addr }));
                }
                other => self.push(OverlayEvent::Mesh(other)),
            }
        }
    }

    fn on_peer_up(&mut self, now: Instant, node: NodeId, addr: SocketAddr) {
        self.remember(now, node, addr);
        if let Some(p) = self.pending.get_mut(&node) {
            p.asked = true;
            p.deadline = now + NEIGHBOR_TIMEOUT;
            let high = p.high;
            self.send_msg(now, node, &Msg::Neighbor { high });
            return;
        }
        // A punched session is for its requester, not membership: no sweep; it ends idle.
        if self.active.contains_key(&node) || self.punches.contains_key(&node) {
            return;
        }
        if self.boot.contains(&addr) && self.active.len() < self.active_max() {
            self.send_msg(now, node, &Msg::Join);
            self.add_active(now, node, addr);
            return;
        }
        self.transient.insert(node, now + TRANSIENT_GRACE);
    }

    fn on_msg(&mut self, now: Instant, from: NodeId, msg: Msg) {
        let Some(from_addr) = self.session_addr(&from) else {
            return;
        };
        match msg {
            Msg::Join => {
                let new = !self.active.contains_key(&from);
                self.add_active(now, from, from_addr);
                if new {
                    let joiner = Entry {
                        node: from,
                        addr: from_addr,
                    };
                    let others: Vec<NodeId> = self
                        .active
                        .keys()
                        .filter(|n| **n != from)
                        .copied()
                        .collect();
                    for n in others {
                        let fj = Msg::ForwardJoin {
                            ttl: ACTIVE_RANDOM_WALK,
                            joiner,
                        };
                        self.send_msg(now, n, &fj);
                    }
                }
            }
            Msg::ForwardJoin { ttl, joiner } => self.on_forward_join(now, from, ttl, joiner),
            Msg::Neighbor { high } => {
                let accepted = self.active.contains_key(&from)
                    || high
                    || self.active.len() < self.active_max();
                if accepted {
                    self.add_active(now, from, from_addr);
                }
                self.send_msg(now, from, &Msg::NeighborReply { accepted });
            }
            Msg::NeighborReply { accepted } => {
                self.pending.remove(&from);
                if accepted {
                    self.add_active(now, from, from_addr);
                } else {
                    let via = self.relay_of(&from);
                    self.add_passive(now, from, from_addr, via);
                    self.transient.insert(from, now);
                    self.back_off_repair();
                }
            }
            Msg::Disconnect => {
                self.pending.remove(&from);
                self.transient.remove(&from);
                if self.active.remove(&from).is_some() {
                    self.push(OverlayEvent::NeighborDown { node: from });
                    self.repair_soon(now);
                }
                let via = self.relay_of(&from);
                self.add_passive(now, from, from_addr, via);
                let _ = self.mesh.disconnect(now, from);
            }
            Msg::Shuffle(entries) => {
                let sample = self.sample_passive(entries.len(), Some(from));
                self.send_msg(now, from, &Msg::ShuffleReply(sample));
                for e in entries {
                    self.add_passive(now, e.node, e.addr, Some(from));
                }
            }
            Msg::ShuffleReply(entries) => {
                for e in entries {
                    self.add_passive(now, e.node, e.addr, Some(from));
                }
            }
            Msg::Ping => {
                // A ping says the sender holds us active. If we do not (its Join or our
                // Disconnect was lost), say so, or the one-sided link lasts until it idles out.
                let ours = self.active.contains_key(&from) || self.pending.contains_key(&from);
                let answer = if ours { Msg::Pong } else { Msg::Disconnect };
                self.send_msg(now, from, &answer);
            }
            // Its datagram refreshed the session's last receipt, which is all `liveness.rs` reads.
            Msg::Pong => {}
            Msg::IntroRequest { target } => {
                let target_addr = self.session_addr(&target);
                if let Some(target_addr) = target_addr
                    && target != from
                {
                    let requester = Entry {
                        node: from,
                        addr: from_addr,
                    };
                    self.send_msg(now, target, &Msg::PunchNotify { peer: requester });
                    let peer = Entry {
                        node: target,
                        addr: target_addr,
                    };
                    self.send_msg(now, from, &Msg::IntroReply { peer });
                }
            }
            Msg::PunchNotify { peer } => self.start_punch(now, peer, from, false),
            Msg::IntroReply { peer } => self.start_punch(now, peer, from, true),
            Msg::RelayTo { target, packet } => {
                let from = Entry {
                    node: from,
                    addr: from_addr,
                };
                self.on_relay_to(now, from, target, packet);
            }
            Msg::RelayFrom { peer, packet } => self.on_relay_from(now, from, peer, &packet),
        }
    }

    fn tick(&mut self, now: Instant) {
        // Neighbour requests that never got an answer.
        let expired: Vec<NodeId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(n, _)| *n)
            .collect();
        for node in expired {
            self.back_off_repair();
            self.pending.remove(&node);
            self.passive.remove(&node);
            if self.mesh.is_connected(&node) && !self.active.contains_key(&node) {
                self.transient.insert(node, now);
            }
        }
        // Sessions nobody needs: say goodbye so the other side does not keep us active.
        let idle: Vec<NodeId> = self
            .transient
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(n, _)| *n)
            .collect();
        for node in idle {
            self.transient.remove(&node);
            if !self.active.contains_key(&node) && !self.pending.contains_key(&node) {
                self.send_msg(now, node, &Msg::Disconnect);
                let _ = self.mesh.disconnect(now, node);
            }
        }
        self.keepalive_tick(now);
        if self.shuffle_at.is_some_and(|t| t <= now) {
            let jitter = self.jitter(SHUFFLE_INTERVAL / 10);
            self.shuffle_at = Some(now + SHUFFLE_INTERVAL + jitter);
            self.shuffle(now);
        }
        if self.repair_at.is_some_and(|t| t <= now) {
            if self.active.is_empty() {
                self.repair_every = REPAIR_INTERVAL;
            }
            self.repair_at = Some(now + self.repair_every);
            if self.needs_repair() {
                self.repair(now);
            }
        }
        self.auto_introduce(now);
        if self.upgrade_at.is_some_and(|t| t <= now) {
            self.upgrade_at = Some(now + UPGRADE_INTERVAL);
            self.try_upgrades(now);
        }
        self.intro_tick(now);
        self.punch_tick(now);
        if self.rejoin_at.is_some_and(|t| t <= now) {
            self.rejoin_at = Some(now + REJOIN_INTERVAL);
            if self.isolated() && self.passive.is_empty() {
                self.dial_boot(now);
            }
        }
    }

    fn dial_boot(&mut self, now: Instant) {
        let boot = self.boot.clone();
        for addr in boot {
            let up = self.mesh.peers().find(|p| p.addr == addr).map(|p| p.node);
            match up {
                Some(node) if !self.active.contains_key(&node) => {
                    self.send_msg(now, node, &Msg::Join);
                    self.add_active(now, node, addr);
                }
                Some(_) => {}
                None => {
                    let _ = self.mesh.connect(now, PathId::Udp, addr);
                }
            }
        }
    }

    /// The relay of our session with `node`, when it is relayed.
    fn relay_of(&self, node: &NodeId) -> Option<NodeId> {
        match self.mesh.peer_path(node) {
            Some(PathId::Relay { via, .. }) => Some(via),
            _ => None,
        }
    }

    fn session_addr(&self, node: &NodeId) -> Option<SocketAddr> {
        self.mesh.peers().find(|p| p.node == *node).map(|p| p.addr)
    }

    fn random_active(&mut self, except: &[NodeId]) -> Option<NodeId> {
        let candidates: Vec<NodeId> = self
            .active
            .keys()
            .filter(|n| !except.contains(n))
            .copied()
            .collect();
        let i = self.below(candidates.len());
        candidates.get(i).copied()
    }

    fn send_msg(&mut self, now: Instant, node: NodeId, msg: &Msg) {
        // A full transmit queue or a vanished session loses this one message; membership
        // recovers through timeouts and repair, as from a lost datagram.
        let _ = self.mesh.send(now, node, &msg.encode());
    }

    fn push(&mut self, event: OverlayEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.stats.dropped_events += 1;
            return;
        }
        self.events.push_back(event);
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.rng.next_u64() % n as u64) as usize
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros().min(u128::from(u64::MAX)) as u64;
        Duration::from_micros(self.rng.next_u64() % micros.max(1))
    }
}

#[cfg(test)]
mod tests;
