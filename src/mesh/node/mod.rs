//! [`MeshNode`]: the transport's state machine. Inputs are `handle_*` and the commands
//! (`connect`, `send`, `disconnect`); outputs are `poll_*`. Inbound datagrams are dispatched in
//! `inbound`, one `handle_*` per message type; timers live in `timers`.

mod inbound;
mod timers;

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use snow::HandshakeState;
use snow::params::NoiseParams;

use crate::nostr::Keys;

use super::config::{ConfigError, MeshConfig};
use super::cookie::{self, CookieSecret, Mac, NetworkKeys};
use super::error::{ConnectError, MeshStats, SendError};
use super::fragment::{self, KEEPALIVE, Reassembly};
use super::limits::{
    COOKIE_TTL, HANDSHAKE_RETRY, HANDSHAKE_RETRY_JITTER, HEADER_LEN, MAC_LEN, MAX_MESSAGE,
    MAX_QUEUED_EVENTS, MAX_QUEUED_TRANSMITS, REASSEMBLY_SLOTS_PER_PEER, TAG_LEN,
};
use super::ratelimit::{HandshakeLimiter, LoadMeter};
use super::session::KeySet;
use super::session::handshake::{Identity, noise_params};
use super::wire::{
    Caps, HandshakePayload, Header, INITIATION_LEN, MAC1_AT, MessageType, NOISE_INITIATION_LEN,
    NodeId, PAYLOAD_VERSION, SessionIndex,
};

/// One TLS link of the shell (the TLS fallback, docs/overlay.md "TLS fallback"): a number the
/// shell gives each link, never reused while the node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u32);

/// Which kind of path a datagram came in on or leaves by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum PathId {
    /// The node's UDP socket: a direct path.
    Udp,
    /// Through the relay `via`, a peer with a direct session, towards `to` (docs/wire.md
    /// "Relay messages"). The datagram stays sealed end to end; [`Overlay`] wraps a transmit on
    /// this path into a `RelayTo` message for `via`, so the shell never sees it.
    ///
    /// [`Overlay`]: super::Overlay
    Relay {
        /// The relaying node.
        via: NodeId,
        /// The node at the other end of the relay.
        to: NodeId,
    },
    /// A TLS link of the shell, for nodes whose UDP is blocked: the same datagrams,
    /// length-prefixed in a TLS stream (docs/wire.md "TLS fallback framing"). A session on it
    /// is an ordinary session; the shell sends its transmits down that link.
    Tls(LinkId),
}

impl PathId {
    /// Whether the shell carries this path itself (UDP or a TLS link), so a session on it can
    /// relay and be relayed to; only [`PathId::Relay`] is not.
    #[must_use]
    pub fn is_direct(self) -> bool {
        !matches!(self, Self::Relay { .. })
    }

    /// Whether this is the UDP socket: the only path whose source addresses tell our NAT's
    /// mapping (a TCP link's source port says nothing about UDP).
    #[must_use]
    pub fn is_udp(self) -> bool {
        self == Self::Udp
    }

    /// Preference when a session could move: UDP over a TLS link over a relay.
    fn rank(self) -> u8 {
        match self {
            Self::Udp => 2,
            Self::Tls(_) => 1,
            Self::Relay { .. } => 0,
        }
    }
}

/// One datagram for the shell to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Which path to send it on.
    pub path: PathId,
    /// Destination.
    pub dst: SocketAddr,
    /// The whole datagram, at most [`MAX_DATAGRAM`](super::limits::MAX_DATAGRAM) bytes.
    pub bytes: Vec<u8>,
}

/// What the transport tells the layer above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeshEvent {
    /// A session with `node` is established (first handshake with it), reachable at `addr`.
    PeerUp {
        /// The peer's node key, proven by the binding.
        node: NodeId,
        /// Where its packets come from.
        addr: SocketAddr,
    },
    /// The session with `node` ended; nothing more will be delivered from it.
    PeerDown {
        /// The peer.
        node: NodeId,
        /// Why.
        why: DownReason,
    },
    /// A whole application message from `node` (reassembled when fragmented).
    Message {
        /// The sender.
        node: NodeId,
        /// The message.
        bytes: Vec<u8>,
    },
    /// `by` saw us at `addr` (from its handshake payload): our reflexive address as seen by
    /// the responder, or the address an initiator dialled us at. NAT logic comes later.
    ObservedAddr {
        /// The peer that reported it.
        by: NodeId,
        /// Our address as it sees it.
        addr: SocketAddr,
    },
    /// An authenticated packet of `node` came from a new address; the session moved there.
    PeerMoved {
        /// The peer.
        node: NodeId,
        /// Its new address.
        addr: SocketAddr,
    },
    /// A `connect` to `addr` got no valid response within the give-up time.
    ConnectFailed {
        /// The address dialled.
        addr: SocketAddr,
    },
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownReason {
    /// Nothing authenticated arrived for `idle_timeout`.
    Idle,
    /// The keys reached `reject_after` (or the message limit) without a successful rekey.
    KeysExpired,
    /// [`MeshNode::disconnect`] was called.
    Closed,
}

/// A snapshot of one session, for status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer.
    pub node: NodeId,
    /// Its path.
    pub path: PathId,
    /// Its address.
    pub addr: SocketAddr,
    /// What it offers.
    pub caps: Caps,
}

/// An established session with one peer: the keys in use and the keys they replaced, which
/// stay valid for receiving until their own `reject_after`, so packets in flight during a rekey
/// are not lost.
pub(crate) struct Peer {
    path: PathId,
    addr: SocketAddr,
    caps: Caps,
    /// Keys we send with.
    current: KeySet,
    /// Keys replaced by `current`: receive only.
    previous: Option<KeySet>,
    last_recv: Instant,
    last_send: Instant,
    /// Data arrived since we last sent: a passive keepalive is due after `passive_keepalive`.
    owe_keepalive: bool,
    /// Initiator side: resend confirmations until the responder speaks on `current`.
    confirm: Option<Confirm>,
    /// Id of the next fragmented message we send.
    next_msg_id: u32,
    /// After a rekey could not start, wait until then.
    rekey_not_before: Option<Instant>,
    /// Our address as the peer last reported it.
    observed: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy)]
struct Confirm {
    left: u8,
    next: Instant,
}

/// What a verified handshake payload told us about its sender.
#[derive(Debug, Clone, Copy)]
struct Claim {
    node: NodeId,
    caps: Caps,
    observed: Option<SocketAddr>,
}

impl Claim {
    fn of(payload: &HandshakePayload) -> Self {
        Self {
            node: payload.node_id,
            caps: payload.caps,
            observed: payload.observed_addr,
        }
    }
}

/// Responder keys waiting for the initiator's first transport packet, which proves it holds
/// the static key it claimed (IX's message 1 alone proves nothing: it may be a replay).
struct Pending {
    keys: KeySet,
    claim: Claim,
    expires: Instant,
}

/// Why we initiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// `connect`: the responder may be anyone.
    Connect,
    /// New keys for an existing session: the responder must be this node.
    Rekey(NodeId),
}

/// A handshake we initiated.
struct Outgoing {
    /// `None` after a response that failed our checks: IX cannot read a second response, so
    /// the entry waits for its retry with a fresh state.
    hs: Option<HandshakeState>,
    path: PathId,
    addr: SocketAddr,
    purpose: Purpose,
    /// The initiation as sent; a cookie reply rewrites its `mac2` and resends it.
    packet: [u8; INITIATION_LEN],
    cookie: Option<(Mac, Instant)>,
    retry_at: Instant,
    give_up_at: Instant,
}

/// The sans-IO mesh transport of one node. See the module docs of [`crate::mesh`] for the
/// drain invariant.
pub struct MeshNode {
    config: MeshConfig,
    identity: Identity,
    params: NoiseParams,
    net: NetworkKeys,
    rng: ChaCha20Rng,
    peers: BTreeMap<NodeId, Peer>,
    /// Receive index → peer, for `current` and `previous` keys.
    by_index: BTreeMap<SessionIndex, NodeId>,
    pending: BTreeMap<SessionIndex, Pending>,
    outgoing: BTreeMap<SessionIndex, Outgoing>,
    reassembly: Reassembly,
    cookie_secret: CookieSecret,
    limiter: HandshakeLimiter,
    load: LoadMeter,
    transmits: VecDeque<Transmit>,
    events: VecDeque<MeshEvent>,
    stats: MeshStats,
}

impl MeshNode {
    /// A node with identity `keys`, drawing all randomness (Noise ephemerals, session indices,
    /// cookie secrets, jitter, BIP-340 auxiliary bytes) from `seed`.
    pub fn new(config: MeshConfig, keys: &Keys, seed: [u8; 32]) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut aux = [0u8; 32];
        rng.fill_bytes(&mut aux);
        Ok(Self {
            identity: Identity::new(keys, &aux),
            params: noise_params(),
            net: NetworkKeys::new(&config.network_id),
            rng,
            peers: BTreeMap::new(),
            by_index: BTreeMap::new(),
            pending: BTreeMap::new(),
            outgoing: BTreeMap::new(),
            reassembly: Reassembly::new(config.reassembly_slots, REASSEMBLY_SLOTS_PER_PEER),
            cookie_secret: CookieSecret::new(),
            limiter: HandshakeLimiter::new(config.handshake_rate, config.handshake_burst),
            load: LoadMeter::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: MeshStats::default(),
            config,
        })
    }

    /// Our node key.
    #[must_use]
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> &MeshConfig {
        &self.config
    }

    /// Counters of drops and work done.
    #[must_use]
    pub fn stats(&self) -> &MeshStats {
        &self.stats
    }

    /// The established sessions.
    pub fn peers(&self) -> impl Iterator<Item = PeerInfo> + '_ {
        self.peers.iter().map(|(node, p)| PeerInfo {
            node: *node,
            path: p.path,
            addr: p.addr,
            caps: p.caps,
        })
    }

    /// Whether a session with `node` is established.
    #[must_use]
    pub fn is_connected(&self, node: &NodeId) -> bool {
        self.peers.contains_key(node)
    }

    /// The path of the session with `node`, if established.
    #[must_use]
    pub fn peer_path(&self, node: &NodeId) -> Option<PathId> {
        self.peers.get(node).map(|p| p.path)
    }

    /// The address of the session with `node` and when it last received an authenticated
    /// datagram, if established (membership's liveness check of its links).
    #[must_use]
    pub fn peer_seen(&self, node: &NodeId) -> Option<(SocketAddr, Instant)> {
        self.peers.get(node).map(|p| (p.addr, p.last_recv))
    }

    /// Starts a handshake with whoever answers at `addr`; `PeerUp` or `ConnectFailed` follows.
    /// A connect already in flight to `addr` is not duplicated.
    pub fn connect(
        &mut self,
        now: Instant,
        path: PathId,
        addr: SocketAddr,
    ) -> Result<(), ConnectError> {
        let dialling = self
            .outgoing
            .values()
            .any(|o| o.purpose == Purpose::Connect && o.addr == addr && o.path == path);
        if dialling {
            return Ok(());
        }
        let give_up_at = after(now, self.config.handshake_give_up);
        self.start_handshake(now, path, addr, Purpose::Connect, None, give_up_at)
    }

    /// Sends the initiation of the `connect` in flight to `addr` on `path` once more, unchanged: hole
    /// punching repeats it every 100 ms while both NATs open (a duplicate costs the responder
    /// one handshake, under its per-source rate). Returns whether such a connect exists.
    pub fn resend_initiation(&mut self, path: PathId, addr: SocketAddr) -> bool {
        let found = self
            .outgoing
            .values()
            .find(|o| {
                o.purpose == Purpose::Connect && o.path == path && o.addr == addr && o.hs.is_some()
            })
            .map(|o| (o.path, o.packet));
        match found {
            Some((path, packet)) => {
                self.push_transmit(path, addr, packet.to_vec());
                true
            }
            None => false,
        }
    }

    /// Seals `payload` (≤ 64 KiB) for `node`, fragmenting it when it exceeds one datagram.
    pub fn send(&mut self, now: Instant, node: NodeId, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_MESSAGE {
            return Err(SendError::TooLarge(payload.len()));
        }
        let reject_after = self.config.reject_after;
        let peer = self.peers.get_mut(&node).ok_or(SendError::NotConnected)?;
        let sizes = if peer.path.is_direct() {
            fragment::Sizes::DIRECT
        } else {
            fragment::Sizes::RELAYED
        };
        let needed = fragment::datagrams_sized(payload.len(), sizes);
        if self.transmits.len().saturating_add(needed) > MAX_QUEUED_TRANSMITS {
            return Err(SendError::Backpressure);
        }
        if is_due(after(peer.current.created, reject_after), now) {
            return Err(SendError::KeysExpired);
        }
        let msg_id = peer.next_msg_id;
        peer.next_msg_id = msg_id.wrapping_add(1);
        let mut sealed = Vec::with_capacity(needed);
        for frame in fragment::frames_sized(payload, msg_id, sizes) {
            // Frames fit a datagram by construction, so the only failure is a key set at its
            // message limit; the rekey it triggered (or the reject timer) resolves it.
            let datagram = peer.current.seal(&frame).map_err(|e| {
                log::debug!("mesh: sealing for {node} failed: {e}");
                SendError::KeysExpired
            })?;
            sealed.push(datagram);
        }
        peer.last_send = now;
        peer.owe_keepalive = false;
        let (path, dst) = (peer.path, peer.addr);
        let count_due = peer.current.sent() >= self.config.rekey_after_messages;
        for bytes in sealed {
            self.transmits.push_back(Transmit { path, dst, bytes });
        }
        if count_due {
            self.start_rekey(now, node);
        }
        Ok(())
    }

    /// Forgets the session with `node` (no message tells the peer; its side idles out).
    /// Returns whether there was one.
    pub fn disconnect(&mut self, _now: Instant, node: NodeId) -> bool {
        self.remove_peer(node, DownReason::Closed)
    }

    /// The next datagram to send. Poll until `None` after every `handle_*` and command.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event. Poll until `None` after every `handle_*` and command.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MeshEvent> {
        self.events.pop_front()
    }

    // ----------------------------------------------------------------------------------------
    // Helpers shared by inbound and timers

    /// Builds and queues an initiation, registering it in `outgoing`.
    fn start_handshake(
        &mut self,
        now: Instant,
        path: PathId,
        addr: SocketAddr,
        purpose: Purpose,
        cookie: Option<(Mac, Instant)>,
        give_up_at: Option<Instant>,
    ) -> Result<(), ConnectError> {
        if self.outgoing.len() >= self.config.max_outgoing_handshakes {
            return Err(ConnectError::TooManyHandshakes);
        }
        if self.transmits.len() >= MAX_QUEUED_TRANSMITS {
            return Err(ConnectError::Backpressure);
        }
        let index = self.alloc_index();
        let seed = self.draw_seed();
        let mut hs = self
            .identity
            .handshake(&self.params, &self.net.prologue, seed, true)
            .map_err(|_| ConnectError::Noise)?;
        // Through a relay we do not see the peer's address: report none, or the NAT verdict
        // would take the relay's view for a second observer.
        let payload = self
            .own_payload(path.is_udp().then_some(addr), index)
            .encode();
        let mut packet = [0u8; INITIATION_LEN];
        let (head, rest) = packet.split_at_mut(HEADER_LEN);
        head.copy_from_slice(
            &Header {
                kind: MessageType::Initiation,
                receiver: SessionIndex(0),
                counter: 0,
            }
            .encode(),
        );
        // snow wants room for a tag after the payload even where message 1 carries none.
        let mut scratch = [0u8; NOISE_INITIATION_LEN + TAG_LEN];
        let written = hs
            .write_message(&payload, &mut scratch)
            .map_err(|_| ConnectError::Noise)?;
        match (rest.get_mut(..NOISE_INITIATION_LEN), scratch.get(..written)) {
            (Some(dst), Some(src)) if written == NOISE_INITIATION_LEN => dst.copy_from_slice(src),
            _ => return Err(ConnectError::Noise),
        }
        let cookie = cookie.filter(|(_, at)| now.saturating_duration_since(*at) < COOKIE_TTL);
        write_macs(&self.net, &mut packet, cookie.as_ref().map(|(c, _)| c));
        let jitter = self.jitter();
        let retry_at = after(now, self.config.handshake_retry.saturating_add(jitter));
        let (Some(retry_at), Some(give_up_at)) = (retry_at, give_up_at) else {
            return Err(ConnectError::Noise);
        };
        self.outgoing.insert(
            index,
            Outgoing {
                hs: Some(hs),
                path,
                addr,
                purpose,
                packet,
                cookie,
                retry_at,
                give_up_at,
            },
        );
        self.push_transmit(path, addr, packet.to_vec());
        Ok(())
    }

    /// Starts a rekey of the session with `node` unless one is in flight; when no handshake
    /// can start now, tries again after [`HANDSHAKE_RETRY`].
    fn start_rekey(&mut self, now: Instant, node: NodeId) {
        if self.rekey_in_flight(node) {
            return;
        }
        let reject_after = self.config.reject_after;
        let Some(peer) = self.peers.get(&node) else {
            return;
        };
        let (path, addr) = (peer.path, peer.addr);
        // Retrying past the keys' death is pointless: the session ends then.
        let give_up_at = after(peer.current.created, reject_after);
        let started = self.start_handshake(now, path, addr, Purpose::Rekey(node), None, give_up_at);
        if started.is_err()
            && let Some(peer) = self.peers.get_mut(&node)
        {
            peer.rekey_not_before = after(now, HANDSHAKE_RETRY);
        }
    }

    fn rekey_in_flight(&self, node: NodeId) -> bool {
        self.outgoing
            .values()
            .any(|o| o.purpose == Purpose::Rekey(node))
    }

    /// Makes `keys` the current keys of `node`'s session, creating the session (`PeerUp`) if
    /// needed; the replaced keys stay for receiving.
    fn install(
        &mut self,
        now: Instant,
        (path, from): (PathId, SocketAddr),
        claim: Claim,
        keys: KeySet,
    ) -> Result<(), super::error::PeerFault> {
        let Claim {
            node,
            caps,
            observed,
        } = claim;
        let local = keys.local;
        let observed = observed.filter(|_| path.is_udp());
        // Report what the peer saw only when it is news: rekeys repeat it every two minutes.
        let mut observed_news = observed;
        match self.peers.get_mut(&node) {
            Some(peer) => {
                if peer.observed == observed {
                    observed_news = None;
                }
                peer.observed = observed;
                let old = core::mem::replace(&mut peer.current, keys);
                if let Some(dropped) = peer.previous.replace(old) {
                    self.by_index.remove(&dropped.local);
                }
                peer.caps = caps;
                peer.last_recv = now;
                peer.rekey_not_before = None;
                peer.confirm = None;
                if moves(peer, path, from) {
                    peer.addr = from;
                    peer.path = path;
                    self.push_event(MeshEvent::PeerMoved { node, addr: from });
                }
            }
            None => {
                if self.peers.len() >= self.config.max_sessions {
                    return Err(super::error::PeerFault::SessionTableFull);
                }
                self.peers.insert(
                    node,
                    Peer {
                        path,
                        addr: from,
                        caps,
                        current: keys,
                        previous: None,
                        last_recv: now,
                        last_send: now,
                        owe_keepalive: false,
                        confirm: None,
                        next_msg_id: 0,
                        rekey_not_before: None,
                        observed,
                    },
                );
                self.push_event(MeshEvent::PeerUp { node, addr: from });
            }
        }
        self.by_index.insert(local, node);
        if let Some(addr) = observed_news {
            self.push_event(MeshEvent::ObservedAddr { by: node, addr });
        }
        Ok(())
    }

    /// Ends the session with `node`, freeing its indices, slots and rekey handshakes.
    fn remove_peer(&mut self, node: NodeId, why: DownReason) -> bool {
        let Some(peer) = self.peers.remove(&node) else {
            return false;
        };
        self.by_index.remove(&peer.current.local);
        if let Some(previous) = &peer.previous {
            self.by_index.remove(&previous.local);
        }
        self.reassembly.forget(&node);
        self.outgoing
            .retain(|_, o| o.purpose != Purpose::Rekey(node));
        self.push_event(MeshEvent::PeerDown { node, why });
        true
    }

    /// Seals and queues an empty keepalive on `node`'s current keys.
    fn send_keepalive(&mut self, now: Instant, node: NodeId) {
        let Some(peer) = self.peers.get_mut(&node) else {
            return;
        };
        peer.owe_keepalive = false;
        let Ok(bytes) = peer.current.seal(&KEEPALIVE) else {
            return;
        };
        peer.last_send = now;
        let (path, dst) = (peer.path, peer.addr);
        self.push_transmit(path, dst, bytes);
    }

    /// Our handshake payload, telling the peer where we see it and which index to use.
    fn own_payload(&self, observed: Option<SocketAddr>, index: SessionIndex) -> HandshakePayload {
        HandshakePayload {
            version: PAYLOAD_VERSION,
            node_id: self.identity.node_id,
            binding_sig: self.identity.binding_sig,
            caps: self.config.caps,
            observed_addr: observed,
            sender_index: index,
        }
    }

    /// A fresh nonzero receive index used by no session or handshake of ours.
    fn alloc_index(&mut self) -> SessionIndex {
        loop {
            let index = SessionIndex(self.rng.next_u32());
            let taken = index.0 == 0
                || self.by_index.contains_key(&index)
                || self.pending.contains_key(&index)
                || self.outgoing.contains_key(&index);
            if !taken {
                return index;
            }
        }
    }

    /// A seed for one handshake's snow RNG.
    fn draw_seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        seed
    }

    /// Uniform in [0, HANDSHAKE_RETRY_JITTER).
    fn jitter(&mut self) -> Duration {
        let span = u64::try_from(HANDSHAKE_RETRY_JITTER.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.next_u64() % span.max(1))
    }

    fn push_transmit(&mut self, path: PathId, dst: SocketAddr, bytes: Vec<u8>) {
        if self.transmits.len() >= MAX_QUEUED_TRANSMITS {
            self.stats.queue_full = self.stats.queue_full.saturating_add(1);
            return;
        }
        self.transmits.push_back(Transmit { path, dst, bytes });
    }

    fn push_event(&mut self, event: MeshEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.stats.queue_full = self.stats.queue_full.saturating_add(1);
            return;
        }
        self.events.push_back(event);
    }
}

/// Writes `mac1`, and `mac2` when a cookie is held (zeros otherwise, as WireGuard).
fn write_macs(net: &NetworkKeys, packet: &mut [u8; INITIATION_LEN], cookie: Option<&Mac>) {
    let (covered, macs) = packet.split_at_mut(MAC1_AT);
    let mac1 = net.mac1(covered);
    let mac2 = cookie
        .and_then(|c| cookie::mac2(c, &[covered, &mac1]))
        .unwrap_or([0; MAC_LEN]);
    let (m1, m2) = macs.split_at_mut(MAC_LEN);
    m1.copy_from_slice(&mac1);
    m2.copy_from_slice(&mac2);
}

/// The `mac1` of an initiation we built.
fn packet_mac1(packet: &[u8; INITIATION_LEN]) -> Mac {
    let mut mac1 = [0u8; MAC_LEN];
    if let Some(m) = packet.get(MAC1_AT..MAC1_AT + MAC_LEN) {
        mac1.copy_from_slice(m);
    }
    mac1
}

/// Whether an authenticated packet from `path`/`from` moves `peer`'s session there (roaming).
/// A session never moves to a less preferred kind of path ([`PathId::rank`]: UDP, then TLS,
/// then relay): relayed or TLS packets still in flight after an upgrade, or a peer that has
/// not upgraded yet, would otherwise flap it. A path that dies ends the session by idleness,
/// and membership reintroduces the pair.
fn moves(peer: &Peer, path: PathId, from: SocketAddr) -> bool {
    if path.rank() < peer.path.rank() {
        return false;
    }
    peer.addr != from || peer.path != path
}

/// `t + d`, or `None` (never) if that overflows.
fn after(t: Instant, d: Duration) -> Option<Instant> {
    t.checked_add(d)
}

/// Whether a deadline exists and has come.
fn is_due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

#[cfg(test)]
impl MeshNode {
    /// Replaces the binding signature (forged-identity tests).
    pub(crate) fn forge_binding(&mut self, sig: crate::nostr::Signature) {
        self.identity.binding_sig = sig;
    }

    /// Makes the next datagram to `node` reuse `counter`.
    pub(crate) fn rewind_counter(&mut self, node: &NodeId, counter: u64) {
        if let Some(peer) = self.peers.get_mut(node) {
            peer.current.rewind_counter(counter);
        }
    }

    /// Handshakes in flight: (ours, responder pending).
    pub(crate) fn handshakes_in_flight(&self) -> (usize, usize) {
        (self.outgoing.len(), self.pending.len())
    }

    /// Receive index of the current keys with `node`.
    pub(crate) fn current_index(&self, node: &NodeId) -> Option<SessionIndex> {
        self.peers.get(node).map(|p| p.current.local)
    }

    /// Partial messages held.
    pub(crate) fn reassembly_len(&self) -> usize {
        self.reassembly.len()
    }
}

#[cfg(test)]
pub(crate) const PEER_SIZE: usize = core::mem::size_of::<Peer>();
#[cfg(test)]
pub(crate) const PENDING_SIZE: usize = core::mem::size_of::<Pending>();
#[cfg(test)]
pub(crate) const OUTGOING_SIZE: usize = core::mem::size_of::<Outgoing>();
