//! Test support for the mesh: a virtual clock and the two-node [`Pair`] harness (as
//! quinn-proto's `tests/util.rs`), then the scenarios in `tests/`.
//!
//! The harness moves datagrams between two [`MeshNode`]s with zero latency, through a
//! `drop_if` filter, and jumps its clock to the nodes' next deadline when nothing is in flight.
//! Tests read as scripts: connect, send, step, advance, assert.

#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod hostile;
mod pair;

use core::net::SocketAddr;
use core::time::Duration;
use std::time::Instant;

use crate::nostr::Keys;

use super::{MeshConfig, MeshEvent, MeshNode, NodeId, PathId, Transmit};

/// The origin of every virtual clock: one real `Instant`, never read again (an `Instant`
/// cannot be built any other way).
#[allow(clippy::disallowed_methods)] // a test's virtual clock needs one real origin
pub(crate) fn epoch() -> Instant {
    Instant::now()
}

/// Network id of test meshes, so no test node could ever talk to the real network.
pub(crate) const TEST_NETWORK: &str = "nostrp2p/test";

/// The config tests start from.
pub(crate) fn test_config() -> MeshConfig {
    MeshConfig {
        network_id: TEST_NETWORK.to_owned(),
        ..MeshConfig::default()
    }
}

/// Fixed node keys: host A is `[1; 32]`, host B `[2; 32]`.
pub(crate) fn keys(b: u8) -> Keys {
    Keys::from_secret_bytes([b; 32]).expect("small repeated bytes are valid scalars")
}

/// Which host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    A,
    B,
}

/// One node with its address and everything it emitted.
pub(crate) struct Host {
    pub mesh: MeshNode,
    /// Where it sends from and listens; change it to model a NAT rebinding.
    pub addr: SocketAddr,
    pub events: Vec<MeshEvent>,
}

impl Host {
    /// Node id of this host.
    pub fn id(&self) -> NodeId {
        self.mesh.node_id()
    }

    /// Messages received, in order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                MeshEvent::Message { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    }

    /// Count of events matching `f`.
    pub fn count(&self, f: impl Fn(&MeshEvent) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}

/// Decides whether the network drops a datagram.
pub(crate) type DropRule = Box<dyn FnMut(Side, &Transmit) -> bool>;

/// Two nodes on a virtual network with a virtual clock.
pub(crate) struct Pair {
    pub a: Host,
    pub b: Host,
    pub now: Instant,
    /// Return `true` to drop a datagram (default: deliver everything).
    pub drop_if: DropRule,
    /// Every datagram a host emitted, delivered or not, in order.
    pub sent: Vec<(Side, Transmit)>,
}

impl Pair {
    /// Two nodes with [`test_config`].
    pub fn new() -> Self {
        Self::with_configs(test_config(), test_config())
    }

    /// Two nodes with the given configs.
    pub fn with_configs(a: MeshConfig, b: MeshConfig) -> Self {
        let host = |config, key: u8, seed: u8, addr: &str| Host {
            mesh: MeshNode::new(config, &keys(key), [seed; 32]).expect("valid test config"),
            addr: addr.parse().expect("literal address"),
            events: Vec::new(),
        };
        Self {
            a: host(a, 1, 11, "192.0.2.1:20000"),
            b: host(b, 2, 22, "198.51.100.2:20000"),
            now: epoch(),
            drop_if: Box::new(|_, _| false),
            sent: Vec::new(),
        }
    }

    /// A pair whose handshake has completed both ways.
    pub fn connected() -> Self {
        let mut p = Self::new();
        p.connect();
        p
    }

    /// A connects to B and the handshake runs to the end.
    pub fn connect(&mut self) {
        let (now, addr) = (self.now, self.b.addr);
        self.a.mesh.connect(now, PathId::Udp, addr).unwrap();
        self.drive();
        let (a, b) = (self.a.id(), self.b.id());
        assert!(self.a.mesh.is_connected(&b), "A has no session with B");
        assert!(self.b.mesh.is_connected(&a), "B has no session with A");
    }

    pub fn host(&mut self, side: Side) -> &mut Host {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// `from` sends `payload` to the other host's node.
    pub fn send(&mut self, from: Side, payload: &[u8]) {
        let now = self.now;
        let to = match from {
            Side::A => self.b.id(),
            Side::B => self.a.id(),
        };
        self.host(from).mesh.send(now, to, payload).unwrap();
    }

    /// Moves every queued event into the hosts' logs and every queued datagram to the host
    /// listening at its destination; returns how many datagrams were taken from the nodes.
    fn flush(&mut self) -> usize {
        let mut moved = 0;
        for side in [Side::A, Side::B] {
            while let Some(e) = self.host(side).mesh.poll_event() {
                self.host(side).events.push(e);
            }
            while let Some(t) = self.host(side).mesh.poll_transmit() {
                moved += 1;
                assert!(t.bytes.len() <= super::limits::MAX_DATAGRAM);
                self.sent.push((side, t.clone()));
                if (self.drop_if)(side, &t) {
                    continue;
                }
                let (from, other) = match side {
                    Side::A => (self.a.addr, Side::B),
                    Side::B => (self.b.addr, Side::A),
                };
                let now = self.now;
                let dst = self.host(other);
                if t.dst == dst.addr {
                    dst.mesh.handle_datagram(now, t.path, from, &t.bytes);
                }
            }
        }
        moved
    }

    /// Delivers what is in flight; when nothing is, jumps to the next deadline and fires it.
    /// Returns `false` when there is neither traffic nor a deadline.
    pub fn step(&mut self) -> bool {
        if self.flush() > 0 {
            return true;
        }
        let next = [self.a.mesh.poll_timeout(), self.b.mesh.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        self.a.mesh.handle_timeout(now);
        self.b.mesh.handle_timeout(now);
        true
    }

    /// Runs until no datagram is in flight, without moving the clock.
    pub fn drive(&mut self) {
        assert!(self.drive_bounded(1000), "traffic did not settle");
    }

    /// [`drive`](Self::drive) for at most `rounds` rounds; whether it settled.
    pub fn drive_bounded(&mut self, rounds: usize) -> bool {
        for _ in 0..rounds {
            if self.flush() == 0 {
                return true;
            }
        }
        false
    }

    /// Runs traffic and timers until the clock reaches `now + d`.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        for _ in 0..100_000 {
            self.drive();
            let next = [self.a.mesh.poll_timeout(), self.b.mesh.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(next) if next <= target => {
                    self.now = self.now.max(next);
                    let now = self.now;
                    self.a.mesh.handle_timeout(now);
                    self.b.mesh.handle_timeout(now);
                }
                _ => {
                    self.now = target;
                    self.drive();
                    return;
                }
            }
        }
        panic!("timers did not settle before {d:?} passed");
    }

    /// Datagrams `side` emitted whose first byte (version and type) is `type_byte`.
    pub fn sent_of_type(&self, side: Side, type_byte: u8) -> Vec<Vec<u8>> {
        self.sent
            .iter()
            .filter(|(s, t)| *s == side && t.bytes.first() == Some(&type_byte))
            .map(|(_, t)| t.bytes.clone())
            .collect()
    }
}

/// First byte of each message type in version 1.
pub(crate) const INITIATION: u8 = 0x11;
pub(crate) const RESPONSE: u8 = 0x12;
pub(crate) const COOKIE_REPLY: u8 = 0x13;
pub(crate) const TRANSPORT: u8 = 0x14;
