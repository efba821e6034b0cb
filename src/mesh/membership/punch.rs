//! NAT classification and introducer-driven hole punching: `IntroRequest` → `PunchNotify` +
//! `IntroReply`, then both sides send initiations every [`PUNCH_INTERVAL`] for
//! [`PUNCH_DURATION`]. Reasons: `docs/overlay.md` "NAT classification and punching".

use core::net::SocketAddr;
use core::time::Duration;
use std::time::Instant;

use super::super::node::PathId;
use super::super::wire::NodeId;
use super::{Entry, Msg, Overlay, OverlayEvent};

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
}

impl Overlay {
    /// Asks `introducer` (a peer with a session, typically public) to introduce us to
    /// `target`: both sides then punch for [`PUNCH_DURATION`].
    /// The request is repeated every [`INTRO_RETRY`] until a session with `target` exists or
    /// [`PUNCH_DURATION`] passed; then `PunchFailed`. At most [`MAX_PUNCHES`] at once.
    pub fn introduce(&mut self, now: Instant, introducer: NodeId, target: NodeId) {
        if self.mesh.is_connected(&target)
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

    /// Counters.
    pub(super) fn start_punch(&mut self, now: Instant, peer: Entry) {
        if peer.node == self.node_id() || self.mesh.is_connected(&peer.node) {
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
            if self.mesh.is_connected(&target) {
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
            if self.mesh.is_connected(&node) {
                self.punches.remove(&node);
                continue;
            }
            if p.until <= now {
                self.punches.remove(&node);
                self.push(OverlayEvent::PunchFailed { node });
                continue;
            }
            if p.next > now {
                continue;
            }
            let resent = p.started && self.mesh.resend_initiation(p.addr);
            if !resent {
                let _ = self.mesh.connect(now, PathId::Udp, p.addr);
                p.started = true;
            }
            p.next = now + PUNCH_INTERVAL;
            self.punches.insert(node, p);
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
