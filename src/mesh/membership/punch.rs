//! NAT classification and introducer-driven hole punching: `IntroRequest` → `PunchNotify` +
//! `IntroReply`, then both sides send initiations every [`PUNCH_INTERVAL`] for
//! [`PUNCH_DURATION`]. A pair that cannot punch is relayed through the introducer meanwhile:
//! at once from a symmetric side (DECISIONS.md 23), after [`RELAY_AFTER`] from the requester
//! otherwise; punching goes on, and a punch that lands moves the session to the direct path.
//! Membership starts introductions itself ([`INTRODUCE_AFTER`]) and retries relayed sessions
//! every [`UPGRADE_INTERVAL`]. Reasons: `docs/overlay.md` "NAT classification and punching".

use core::net::SocketAddr;
use core::time::Duration;
use std::time::Instant;

use super::super::node::PathId;
use super::super::wire::NodeId;
use super::{Entry, KEEPALIVE_INTERVAL, Msg, Overlay, OverlayEvent};

/// Interval between punch initiations (Nebula's `try_interval`): short enough that both
/// sides' packets cross within one mapping's life, long enough to stay under the responder's
/// per-source handshake rate (20/s).
pub const PUNCH_INTERVAL: Duration = Duration::from_millis(100);

/// How long both sides keep punching before giving up (ARCHITECTURE.md: relay within 5 s).
pub const PUNCH_DURATION: Duration = Duration::from_secs(3);

/// The requester repeats its `IntroRequest` this often until the punch lands: any of the
/// request, the notification or the reply may be lost, and each repeat makes the introducer
/// notify the target again.
pub const INTRO_RETRY: Duration = Duration::from_millis(500);

/// Punches in progress at once: each repeats a handshake 10 times a second.
pub const MAX_PUNCHES: usize = 4;

/// A requester whose punch has not landed after this long also starts a relayed handshake
/// through the introducer: punches land within a round trip or two (≈ 100–300 ms in the
/// simulator, well under a second on home links), so 1 s rarely relays a punchable pair, and
/// leaves the relayed handshake 2 s before the 5 s goal (ARCHITECTURE.md "Relay").
pub const RELAY_AFTER: Duration = Duration::from_secs(1);

/// A dial to an announced peer unanswered this long asks the announcer for an introduction:
/// a direct handshake answers within one round trip, so a second means a NAT is in the way.
pub const INTRODUCE_AFTER: Duration = Duration::from_secs(1);

/// A relayed session retries punching through its relay this often (Tailscale and iroh try
/// upgrading every 60 s): NAT mappings and peers change, and every upgrade frees a relay.
pub const UPGRADE_INTERVAL: Duration = Duration::from_secs(60);

/// Observed addresses kept for NAT classification: two observers decide, a few more let a
/// later change (a new router, a rebinding) show.
pub const OBSERVERS: usize = 4;

/// Our NAT's mapping behaviour as two observers tell it (RFC 4787 mapping only: filtering
/// cannot be learned cheaply, DECISIONS.md 23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatType {
    /// Fewer than two observers yet.
    Unknown,
    /// Two observers saw the same address and port: endpoint-independent mapping (a cone NAT,
    /// or no NAT). Punchable.
    Cone,
    /// Two observers saw different ports: endpoint-dependent mapping. Needs a relay against
    /// port-restricted and symmetric peers.
    Symmetric,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Intro {
    pub(super) via: NodeId,
    pub(super) next: Instant,
    pub(super) until: Instant,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Punch {
    pub(super) addr: SocketAddr,
    pub(super) started: bool,
    pub(super) next: Instant,
    pub(super) until: Instant,
    /// The introducer: our relay if the punch does not land.
    pub(super) via: NodeId,
    /// When to start the relayed handshake; `None`: started, or left to the other side.
    pub(super) relay_at: Option<Instant>,
    /// When this punch started over a direct session that looks dead (`liveness.rs`); it has
    /// landed when the peer was heard from since. `None`: there was no direct session.
    pub(super) stale: Option<Instant>,
}

impl Overlay {
    /// Asks `introducer` (a peer with a session, typically public) to introduce us to
    /// `target`: both sides then punch for [`PUNCH_DURATION`].
    /// The request is repeated every [`INTRO_RETRY`] until a direct session with `target`
    /// exists or [`PUNCH_DURATION`] passed; then `PunchFailed`. Meanwhile the pair may get a
    /// session relayed by `introducer` (see the module docs). At most [`MAX_PUNCHES`] at once.
    pub fn introduce(&mut self, now: Instant, introducer: NodeId, target: NodeId) {
        if self.is_direct(&target)
            || introducer == target
            || introducer == self.node_id()
            || (!self.intros.contains_key(&target) && self.intros.len() >= MAX_PUNCHES)
        {
            return;
        }
        self.intros.insert(
            target,
            Intro {
                via: introducer,
                next: now + INTRO_RETRY,
                until: now + PUNCH_DURATION,
            },
        );
        self.send_msg(now, introducer, &Msg::IntroRequest { target });
        self.pump(now);
    }

    /// Starts punching towards `peer` as introduced by `via`; `requester`: we asked for it.
    /// A direct UDP session with `peer` is punched over only when it looks dead after a NAT
    /// rebinding (`liveness.rs`): the introducer names another address than the session's
    /// (the peer's mapping changed), or nothing came from the peer for a whole keepalive
    /// interval (our own mapping changed: our punch opens it towards the peer).
    pub(super) fn start_punch(&mut self, now: Instant, peer: Entry, via: NodeId, requester: bool) {
        let stale = match self.mesh.peer_seen(&peer.node) {
            Some((addr, seen)) if self.is_direct(&peer.node) => {
                let moved = addr != peer.addr;
                let silent = now.saturating_duration_since(seen) > KEEPALIVE_INTERVAL;
                let udp = self.mesh.peer_path(&peer.node) == Some(PathId::Udp);
                if !udp || !(moved || silent) {
                    return;
                }
                Some(now)
            }
            _ => None,
        };
        if peer.node == self.node_id() || peer.node == via {
            return;
        }
        // A repeated notification or reply does not extend a punch in progress.
        if self.punches.contains_key(&peer.node) || self.punches.len() >= MAX_PUNCHES {
            return;
        }
        self.punches.insert(
            peer.node,
            Punch {
                addr: peer.addr,
                started: false,
                next: now,
                until: now + PUNCH_DURATION,
                via,
                relay_at: if self.nat_type == NatType::Symmetric {
                    // DECISIONS.md 23: a symmetric side relays at once and keeps punching.
                    Some(now)
                } else if requester {
                    Some(now + RELAY_AFTER)
                } else {
                    None
                },
                stale,
            },
        );
        self.punch_tick(now);
    }

    /// Repeats due introduction requests; ends those that landed or ran out.
    pub(super) fn intro_tick(&mut self, now: Instant) {
        let targets: Vec<NodeId> = self.intros.keys().copied().collect();
        for target in targets {
            let Some(mut intro) = self.intros.get(&target).copied() else {
                continue;
            };
            if self.is_direct(&target) {
                self.intros.remove(&target);
                continue;
            }
            if intro.until <= now {
                self.intros.remove(&target);
                // A punch still running reports its own end.
                if !self.punches.contains_key(&target) {
                    self.push(OverlayEvent::PunchFailed { node: target });
                }
                continue;
            }
            if intro.next <= now {
                intro.next = now + INTRO_RETRY;
                self.intros.insert(target, intro);
                self.send_msg(now, intro.via, &Msg::IntroRequest { target });
            }
        }
    }

    /// Sends the due punch initiations; ends punches that landed or ran out.
    pub(super) fn punch_tick(&mut self, now: Instant) {
        let nodes: Vec<NodeId> = self.punches.keys().copied().collect();
        for node in nodes {
            let Some(mut p) = self.punches.get(&node).copied() else {
                continue;
            };
            let heard = self.mesh.peer_seen(&node).map(|(_, seen)| seen);
            if self.is_direct(&node) && p.stale.is_none_or(|since| heard > Some(since)) {
                self.punches.remove(&node);
                continue;
            }
            if p.relay_at.is_some_and(|t| t <= now) {
                p.relay_at = None;
                let relay_ok = self.is_direct(&p.via);
                if relay_ok && !self.mesh.is_connected(&node) {
                    let path = PathId::Relay {
                        via: p.via,
                        to: node,
                    };
                    let _ = self.mesh.connect(now, path, p.addr);
                }
                self.punches.insert(node, p);
            }
            if p.until <= now {
                self.punches.remove(&node);
                self.push(OverlayEvent::PunchFailed { node });
                continue;
            }
            if p.next > now {
                continue;
            }
            let resent = p.started && self.mesh.resend_initiation(PathId::Udp, p.addr);
            if !resent {
                let _ = self.mesh.connect(now, PathId::Udp, p.addr);
                p.started = true;
            }
            p.next = now + PUNCH_INTERVAL;
            self.punches.insert(node, p);
        }
    }

    /// Whether our session with `node` is direct.
    pub(super) fn is_direct(&self, node: &NodeId) -> bool {
        self.mesh.peer_path(node).is_some_and(PathId::is_direct)
    }

    /// Neighbour requests whose dial went unanswered for [`INTRODUCE_AFTER`]: ask the peer
    /// that announced the node to introduce us (it punches, or relays).
    pub(super) fn auto_introduce(&mut self, now: Instant) {
        let due: Vec<(NodeId, Option<NodeId>, bool)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.intro_at.is_some_and(|t| t <= now))
            .map(|(n, p)| (*n, p.via, p.asked))
            .collect();
        for (node, via, asked) in due {
            // Cleared whatever follows, so the deadline never stays in the past.
            if let Some(p) = self.pending.get_mut(&node) {
                p.intro_at = None;
            }
            let Some(via) = via.filter(|v| !asked && self.is_direct(v)) else {
                continue;
            };
            if self.mesh.is_connected(&node) || self.intros.contains_key(&node) {
                continue;
            }
            self.stats.auto_introductions += 1;
            self.introduce(now, via, node);
        }
    }

    /// Asks each relayed session's relay for a new introduction, so a punch may land now.
    pub(super) fn try_upgrades(&mut self, now: Instant) {
        let relayed: Vec<(NodeId, NodeId)> = self
            .mesh
            .peers()
            .filter_map(|p| match p.path {
                PathId::Relay { via, .. } => Some((p.node, via)),
                PathId::Udp | PathId::Tls(_) => None,
            })
            .collect();
        for (node, via) in relayed {
            if !self.intros.contains_key(&node) {
                self.introduce(now, via, node);
            }
        }
    }

    /// Records `by`'s view of our address and reclassifies our NAT: the two newest distinct
    /// observers agree on the port ⇒ cone, disagree ⇒ symmetric.
    pub(super) fn on_observed(&mut self, by: NodeId, addr: SocketAddr) {
        if let Some(i) = self.observed.iter().position(|(n, _)| *n == by) {
            self.observed.remove(i);
        } else if self.observed.is_full() {
            self.observed.remove(0);
        }
        let _ = self.observed.push((by, addr));
        let kind = match self.observed.as_slice() {
            [.., (_, a), (_, b)] if a.ip() == b.ip() && a.port() == b.port() => NatType::Cone,
            [.., (_, a), (_, b)] if a.ip() == b.ip() => NatType::Symmetric,
            // Different IPs: a multi-homed node or a move; the next report decides.
            _ => self.nat_type,
        };
        if kind != self.nat_type {
            self.nat_type = kind;
            self.push(OverlayEvent::NatType(kind));
        }
    }
}
