//! A deterministic network simulator: many sans-IO nodes on virtual hosts, links with latency
//! and loss, hosts behind [`Nat`] models, and a virtual clock that jumps to the earliest
//! deadline (a datagram's arrival or a node's `poll_timeout`). Everything random comes from one
//! ChaCha20 RNG seeded by the test, so a seed replays a run exactly.
//!
//! Each step honours the drain invariant: after a `handle_*` call the simulator drains
//! `poll_transmit` and `poll_event` to `None` before it reads `poll_timeout`.
//!
//! The clock origin is an `Instant` the test creates once and passes to [`SimNet::new`]: the
//! library never reads a clock.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::mesh::{MeshEvent, MeshNode, Overlay, OverlayEvent, PathId, Transmit};

use super::nat::{DEFAULT_MAPPING_TIMEOUT, Nat, NatKind};

/// A sans-IO node the simulator can drive: the shape every core in this crate shares.
pub trait Endpoint {
    /// What it reports to the layer above.
    type Event;
    /// A datagram arrived.
    fn handle_datagram(&mut self, now: Instant, path: PathId, from: SocketAddr, bytes: &[u8]);
    /// A deadline passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The earliest deadline.
    fn poll_timeout(&self) -> Option<Instant>;
}

impl Endpoint for MeshNode {
    type Event = MeshEvent;
    fn handle_datagram(&mut self, now: Instant, path: PathId, from: SocketAddr, bytes: &[u8]) {
        MeshNode::handle_datagram(self, now, path, from, bytes);
    }
    fn handle_timeout(&mut self, now: Instant) {
        MeshNode::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        MeshNode::poll_transmit(self)
    }
    fn poll_event(&mut self) -> Option<MeshEvent> {
        MeshNode::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        MeshNode::poll_timeout(self)
    }
}

impl Endpoint for Overlay {
    type Event = OverlayEvent;
    fn handle_datagram(&mut self, now: Instant, path: PathId, from: SocketAddr, bytes: &[u8]) {
        Overlay::handle_datagram(self, now, path, from, bytes);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Overlay::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        Overlay::poll_transmit(self)
    }
    fn poll_event(&mut self) -> Option<OverlayEvent> {
        Overlay::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Overlay::poll_timeout(self)
    }
}

/// Events kept per host for tests to read; older ones are dropped first, so a long run stays
/// bounded in memory.
pub const EVENT_LOG: usize = 4096;

/// Drain bound per step: more output than this from one call is a runaway node, and the
/// simulator stops draining it (and counts the stop) rather than loop forever.
pub const DRAIN_BUDGET: usize = 100_000;

/// The port every simulated host listens on (one node per host).
pub const HOST_PORT: u16 = 7000;

/// Link behaviour, the same for every path through the simulated internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Least one-way latency.
    pub latency_min: Duration,
    /// Most one-way latency; each datagram draws uniformly in between, so datagrams reorder.
    pub latency_max: Duration,
    /// Datagrams lost, per million.
    pub loss_ppm: u32,
}

impl Default for Link {
    /// 10–50 ms, no loss: the link model of the iroh-gossip measurements (notes/overlay.md §5).
    fn default() -> Self {
        Self {
            latency_min: Duration::from_millis(10),
            latency_max: Duration::from_millis(50),
            loss_ppm: 0,
        }
    }
}

/// Index of a host in a [`SimNet`].
pub type HostId = usize;

/// One virtual host: a node, the address it binds, and what it emitted.
pub struct Host<E: Endpoint> {
    /// The node.
    pub node: E,
    /// Its local address (private when behind a NAT).
    pub local: SocketAddr,
    /// The NAT in front of it, if any.
    pub nat: Option<usize>,
    /// Offline hosts neither receive, nor time out, nor send.
    pub online: bool,
    /// The newest [`EVENT_LOG`] events.
    pub events: VecDeque<E::Event>,
    deadline: Option<Instant>,
}

/// What happened in a run, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Datagrams delivered to a node.
    pub delivered: u64,
    /// Lost on the link.
    pub lost: u64,
    /// Refused by a NAT (no mapping, or filtering).
    pub filtered: u64,
    /// Sent to an address nobody owns, or to an offline host.
    pub unroutable: u64,
    /// Timeouts handled.
    pub timeouts: u64,
    /// Drains cut short by [`DRAIN_BUDGET`].
    pub runaway: u64,
}

/// A datagram on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flight {
    src: SocketAddr,
    dst: SocketAddr,
    bytes: Vec<u8>,
}

/// Who answers at a public IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Host(HostId),
    Nat(usize),
}

/// The simulated network.
pub struct SimNet<E: Endpoint> {
    seed: u64,
    now: Instant,
    rng: ChaCha20Rng,
    link: Link,
    hosts: Vec<Host<E>>,
    nats: Vec<Nat>,
    owners: BTreeMap<IpAddr, Owner>,
    /// Hosts behind a NAT by (NAT, local address).
    lan_hosts: BTreeMap<(usize, SocketAddr), HostId>,
    /// Datagrams in flight by (arrival, sequence): the sequence keeps equal arrivals in order.
    flights: BTreeMap<(Instant, u64), Flight>,
    /// Host deadlines, so the next one is found without scanning every host.
    timers: BTreeSet<(Instant, HostId)>,
    seq: u64,
    stats: SimStats,
}

impl<E: Endpoint> SimNet<E> {
    /// An empty network whose clock starts at `start` (an `Instant` the test made) and whose
    /// randomness is `seed`.
    #[must_use]
    pub fn new(seed: u64, start: Instant) -> Self {
        Self {
            seed,
            now: start,
            rng: ChaCha20Rng::seed_from_u64(seed),
            link: Link::default(),
            hosts: Vec::new(),
            nats: Vec::new(),
            owners: BTreeMap::new(),
            lan_hosts: BTreeMap::new(),
            flights: BTreeMap::new(),
            timers: BTreeSet::new(),
            seq: 0,
            stats: SimStats::default(),
        }
    }

    /// Sets the link model.
    #[must_use]
    pub fn with_link(mut self, link: Link) -> Self {
        self.link = link;
        self
    }

    /// The seed of this run.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The virtual time.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// 32 bytes from the run's RNG: seeds and keys for the nodes the test builds.
    pub fn draw_seed(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.rng.fill_bytes(&mut out);
        out
    }

    /// A uniform draw below `n` (`n` > 0) from the run's RNG.
    pub fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    /// Adds a host with a public address; returns its id. The address is
    /// `100.x.y.1:7000`, unique per host (NAT routers are `150.x.y.1`).
    pub fn add_public(&mut self, node: E) -> HostId {
        let id = self.hosts.len();
        let ip = public_ip(0, id);
        self.owners.insert(ip, Owner::Host(id));
        self.push_host(node, SocketAddr::new(ip, HOST_PORT), None)
    }

    /// Adds a host behind its own NAT of `kind` (mapping timeout
    /// [`DEFAULT_MAPPING_TIMEOUT`]); returns its id.
    pub fn add_behind_nat(&mut self, node: E, kind: NatKind) -> HostId {
        self.add_behind_nat_with(node, kind, DEFAULT_MAPPING_TIMEOUT)
    }

    /// Adds a host behind its own NAT of `kind` with mapping timeout `timeout`.
    pub fn add_behind_nat_with(&mut self, node: E, kind: NatKind, timeout: Duration) -> HostId {
        let nat = self.nats.len();
        let ip = public_ip(1, nat);
        self.nats.push(Nat::new(ip, kind, timeout));
        self.owners.insert(ip, Owner::Nat(nat));
        let id = self.hosts.len();
        // Every LAN is 10.x.y.0/24 with the host at .2; LANs never talk to each other directly.
        let [_, hi, lo] = lan_octets(nat);
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, hi, lo, 2)), HOST_PORT);
        self.lan_hosts.insert((nat, local), id);
        self.push_host(node, local, Some(nat))
    }

    fn push_host(&mut self, node: E, local: SocketAddr, nat: Option<usize>) -> HostId {
        let id = self.hosts.len();
        self.hosts.push(Host {
            node,
            local,
            nat,
            online: true,
            events: VecDeque::new(),
            deadline: None,
        });
        self.rearm(id);
        id
    }

    /// The address others reach a public host at (its local address); `None` behind a NAT.
    #[must_use]
    pub fn public_addr(&self, id: HostId) -> Option<SocketAddr> {
        let host = self.hosts.get(id)?;
        host.nat.is_none().then_some(host.local)
    }

    /// The host `id`.
    ///
    /// # Panics
    /// When `id` is not a host of this network (a test bug).
    #[must_use]
    pub fn host(&self, id: HostId) -> &Host<E> {
        self.hosts.get(id).expect("host id from this network")
    }

    /// All hosts.
    #[must_use]
    pub fn hosts(&self) -> &[Host<E>] {
        &self.hosts
    }

    /// The NAT `n`.
    #[must_use]
    pub fn nat(&self, n: usize) -> Option<&Nat> {
        self.nats.get(n)
    }

    /// Runs `f` on host `id`'s node at the current time (a command such as `connect`), then
    /// drains its output.
    ///
    /// # Panics
    /// When `id` is not a host of this network (a test bug).
    pub fn with_node<R>(&mut self, id: HostId, f: impl FnOnce(&mut E, Instant) -> R) -> R {
        let now = self.now;
        let host = self.hosts.get_mut(id).expect("host id from this network");
        let out = f(&mut host.node, now);
        self.drain(id);
        out
    }

    /// Changes NAT `n`'s behaviour (see [`Nat::set_kind`]).
    pub fn set_nat_kind(&mut self, n: usize, kind: NatKind) {
        if let Some(nat) = self.nats.get_mut(n) {
            nat.set_kind(kind);
        }
    }

    /// Makes NAT `n` forget its mappings (see [`Nat::rebind`]).
    pub fn rebind_nat(&mut self, n: usize) {
        if let Some(nat) = self.nats.get_mut(n) {
            nat.rebind();
        }
    }

    /// Takes a host off the network (a crash or power cut: no goodbye) or brings it back.
    pub fn set_online(&mut self, id: HostId, online: bool) {
        if let Some(host) = self.hosts.get_mut(id) {
            host.online = online;
        }
        self.rearm(id);
    }

    /// Handles the earliest pending thing (a datagram or a deadline) at or before `until`,
    /// moving the clock to it. Returns `false` when nothing is due by then.
    pub fn step(&mut self, until: Instant) -> bool {
        let flight = self.flights.first_key_value().map(|(k, _)| *k);
        let timer = self.timers.first().copied();
        match (flight, timer) {
            (Some(f), t) if f.0 <= until && t.is_none_or(|t| f.0 <= t.0) => {
                if let Some(flight) = self.flights.remove(&f) {
                    self.now = self.now.max(f.0);
                    self.arrive(flight);
                }
                true
            }
            (_, Some(t)) if t.0 <= until => {
                self.timers.remove(&t);
                self.now = self.now.max(t.0);
                let (now, id) = (self.now, t.1);
                if let Some(host) = self.hosts.get_mut(id) {
                    host.deadline = None;
                    host.node.handle_timeout(now);
                    self.stats.timeouts += 1;
                }
                self.drain(id);
                true
            }
            _ => false,
        }
    }

    /// Runs every step due within `d` of now, then sets the clock to now + `d`.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.now = self.now.max(until);
    }

    /// Runs until nothing is in flight and no deadline falls within `horizon` of the clock,
    /// or `max_steps` steps passed; returns whether it settled.
    pub fn run_until_idle(&mut self, horizon: Duration, max_steps: usize) -> bool {
        for _ in 0..max_steps {
            if !self.step(self.now + horizon) {
                return true;
            }
        }
        false
    }

    fn arrive(&mut self, flight: Flight) {
        let now = self.now;
        let owner = self.owners.get(&flight.dst.ip()).copied();
        let target = match owner {
            Some(Owner::Host(id)) => Some((id, flight.src)),
            Some(Owner::Nat(n)) => {
                let inside = self
                    .nats
                    .get_mut(n)
                    .and_then(|nat| nat.inbound(now, flight.src, flight.dst.port()));
                if inside.is_none() {
                    self.stats.filtered += 1;
                }
                inside.and_then(|inside| {
                    let id = self.lan_hosts.get(&(n, inside))?;
                    Some((*id, flight.src))
                })
            }
            None => {
                self.stats.unroutable += 1;
                None
            }
        };
        let Some((id, from)) = target else {
            return;
        };
        let Some(host) = self.hosts.get_mut(id) else {
            return;
        };
        if !host.online || (host.nat.is_none() && host.local != flight.dst) {
            self.stats.unroutable += 1;
            return;
        }
        host.node
            .handle_datagram(now, PathId::Udp, from, &flight.bytes);
        self.stats.delivered += 1;
        self.drain(id);
    }

    /// Drains host `id`'s output: transmits onto the network, events into its log; then
    /// re-reads its deadline.
    fn drain(&mut self, id: HostId) {
        let mut budget = DRAIN_BUDGET;
        loop {
            let Some(host) = self.hosts.get_mut(id) else {
                return;
            };
            let mut progressed = false;
            if let Some(t) = host.node.poll_transmit() {
                progressed = true;
                let online = host.online;
                let (local, nat) = (host.local, host.nat);
                if online {
                    self.launch(local, nat, t);
                }
            }
            let Some(host) = self.hosts.get_mut(id) else {
                return;
            };
            if let Some(e) = host.node.poll_event() {
                progressed = true;
                if host.events.len() >= EVENT_LOG {
                    host.events.pop_front();
                }
                host.events.push_back(e);
            }
            budget -= 1;
            if !progressed {
                break;
            }
            if budget == 0 {
                self.stats.runaway += 1;
                break;
            }
        }
        self.rearm(id);
    }

    fn launch(&mut self, local: SocketAddr, nat: Option<usize>, t: Transmit) {
        self.stats.sent += 1;
        let src = match nat.and_then(|n| self.nats.get_mut(n)) {
            Some(nat) => nat.outbound(self.now, &mut self.rng, local, t.dst),
            None => local,
        };
        if self.link.loss_ppm > 0 && self.rng.next_u32() % 1_000_000 < self.link.loss_ppm {
            self.stats.lost += 1;
            return;
        }
        let spread = self
            .link
            .latency_max
            .saturating_sub(self.link.latency_min)
            .as_micros() as u64;
        let jitter = if spread == 0 {
            0
        } else {
            self.rng.next_u64() % (spread + 1)
        };
        let arrival = self.now + self.link.latency_min + Duration::from_micros(jitter);
        self.seq += 1;
        self.flights.insert(
            (arrival, self.seq),
            Flight {
                src,
                dst: t.dst,
                bytes: t.bytes,
            },
        );
    }

    fn rearm(&mut self, id: HostId) {
        let Some(host) = self.hosts.get_mut(id) else {
            return;
        };
        if let Some(old) = host.deadline.take() {
            self.timers.remove(&(old, id));
        }
        if !host.online {
            return;
        }
        // A deadline already past fires at the current time, never before it.
        if let Some(at) = host.node.poll_timeout() {
            let at = at.max(self.now);
            host.deadline = Some(at);
            self.timers.insert((at, id));
        }
    }
}

/// `100.x.y.1` for public hosts (`space` 0) and NAT routers (`space` 1, `150.x.y.1`): distinct per index.
fn public_ip(space: u8, index: usize) -> IpAddr {
    let [a, b, c] = lan_octets(index);
    IpAddr::V4(Ipv4Addr::new(100 + space * 50 + a, b, c, 1))
}

/// Three octets from an index below 2²⁴ (`a` small for any realistic test).
fn lan_octets(index: usize) -> [u8; 3] {
    let i = index as u32;
    [(i >> 16) as u8, (i >> 8) as u8, i as u8]
}

/// Prints the seed when the test holding it panics, so the failing run can be replayed with
/// `NOSTRP2P_SIM_SEED`.
#[derive(Debug)]
pub struct PrintSeedOnPanic(pub u64);

impl Drop for PrintSeedOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "simulation failed with seed {0}; replay with NOSTRP2P_SIM_SEED={0}",
                self.0
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
