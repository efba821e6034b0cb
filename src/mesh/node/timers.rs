//! Timers. Deadlines are not stored in a wheel: each is derived from the state it guards (key
//! age, last receive, a retry time), so it cannot drift from that state. `poll_timeout` is
//! their minimum; `handle_timeout` acts on every deadline that has come, and each action moves
//! or removes its deadline, so a loop that re-arms from `poll_timeout` never spins.

use std::time::Instant;

use super::super::limits::{CONFIRM_INTERVAL, RESPONDER_REKEY_DELAY};
use super::super::session::Role;
use super::{DownReason, MeshEvent, MeshNode, Peer, Purpose, after, is_due};

/// The timers of one session, for logging which one fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerTimer {
    Reject,
    Idle,
    PreviousExpiry,
    Confirm,
    Keepalive,
    Rekey,
}

impl MeshNode {
    /// The earliest deadline of any timer, or `None` when nothing is pending. Read it after
    /// draining `poll_transmit`/`poll_event`, and call [`handle_timeout`](Self::handle_timeout)
    /// when it comes.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let outgoing = self.outgoing.values().map(|o| o.retry_at);
        let pending = self.pending.values().map(|p| p.expires);
        let peers = self.peers.iter().filter_map(|(node, peer)| {
            self.peer_deadlines(*node, peer)
                .into_iter()
                .filter_map(|(_, at)| at)
                .min()
        });
        outgoing
            .chain(pending)
            .chain(peers)
            .chain(self.reassembly.next_deadline())
            .min()
    }

    /// Acts on every timer whose deadline is at or before `now`. Then drain `poll_*`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.outgoing_timers(now);
        let before = self.pending.len();
        self.pending.retain(|_, p| p.expires > now);
        if self.pending.len() != before {
            log::trace!(
                "mesh: {} unconfirmed handshakes expired",
                before - self.pending.len()
            );
        }
        let nodes: Vec<_> = self.peers.keys().copied().collect();
        for node in nodes {
            self.peer_timers(now, node);
        }
        let dropped = self.reassembly.expire(now);
        self.stats.reassembly_dropped = self
            .stats
            .reassembly_dropped
            .saturating_add(u64::try_from(dropped).unwrap_or(u64::MAX));
    }

    /// Retries or abandons our handshakes whose retry time came.
    fn outgoing_timers(&mut self, now: Instant) {
        let due: Vec<_> = self
            .outgoing
            .iter()
            .filter(|(_, o)| o.retry_at <= now)
            .map(|(index, _)| *index)
            .collect();
        for index in due {
            let Some(out) = self.outgoing.remove(&index) else {
                continue;
            };
            if out.give_up_at <= now {
                log::debug!("mesh: handshake to {} gave up", out.addr);
                if out.purpose == Purpose::Connect {
                    self.push_event(MeshEvent::ConnectFailed { addr: out.addr });
                }
                continue;
            }
            if let Purpose::Rekey(node) = out.purpose
                && !self.peers.contains_key(&node)
            {
                continue;
            }
            // A fresh ephemeral and index each time, as WireGuard: a late response to the old
            // attempt is simply unknown.
            let retried = self.start_handshake(
                now,
                out.path,
                out.addr,
                out.purpose,
                out.cookie,
                Some(out.give_up_at),
            );
            if retried.is_err() && out.purpose == Purpose::Connect {
                self.push_event(MeshEvent::ConnectFailed { addr: out.addr });
            }
        }
    }

    /// Deadlines of one session's timers (`None`: not armed).
    fn peer_deadlines(
        &self,
        node: super::NodeId,
        peer: &Peer,
    ) -> [(PeerTimer, Option<Instant>); 6] {
        let c = &self.config;
        let keepalive = peer
            .owe_keepalive
            .then(|| after(peer.last_send, c.passive_keepalive))
            .flatten();
        let rekey = if self.rekey_in_flight(node) {
            None
        } else {
            self.rekey_due(peer)
        };
        [
            (
                PeerTimer::Reject,
                after(peer.current.created, c.reject_after),
            ),
            (PeerTimer::Idle, after(peer.last_recv, c.idle_timeout)),
            (
                PeerTimer::PreviousExpiry,
                peer.previous
                    .as_ref()
                    .and_then(|p| after(p.created, c.reject_after)),
            ),
            (PeerTimer::Confirm, peer.confirm.map(|c| c.next)),
            (PeerTimer::Keepalive, keepalive),
            (PeerTimer::Rekey, rekey),
        ]
    }

    /// When the current keys want replacing: on age (the responder of the keys waits longer,
    /// so both sides do not start at once) or on datagrams sealed, not before a failed start's
    /// back-off.
    fn rekey_due(&self, peer: &Peer) -> Option<Instant> {
        let c = &self.config;
        let extra = match peer.current.role {
            Role::Initiator => core::time::Duration::ZERO,
            Role::Responder => {
                RESPONDER_REKEY_DELAY.min(c.reject_after.saturating_sub(c.rekey_after) / 2)
            }
        };
        let by_age = after(peer.current.created, c.rekey_after.saturating_add(extra));
        let due = if peer.current.sent() >= c.rekey_after_messages {
            Some(peer.current.created)
        } else {
            by_age
        };
        match (due, peer.rekey_not_before) {
            (Some(due), Some(not_before)) => Some(due.max(not_before)),
            (due, _) => due,
        }
    }

    fn peer_timers(&mut self, now: Instant, node: super::NodeId) {
        let Some(peer) = self.peers.get(&node) else {
            return;
        };
        for (timer, at) in self.peer_deadlines(node, peer) {
            if !is_due(at, now) {
                continue;
            }
            log::trace!("mesh: {timer:?} timer fired for {node}");
            match timer {
                PeerTimer::Reject => {
                    self.remove_peer(node, DownReason::KeysExpired);
                    return;
                }
                PeerTimer::Idle => {
                    self.remove_peer(node, DownReason::Idle);
                    return;
                }
                PeerTimer::PreviousExpiry => {
                    if let Some(old) = self.peers.get_mut(&node).and_then(|p| p.previous.take()) {
                        self.by_index.remove(&old.local);
                    }
                }
                PeerTimer::Confirm => {
                    let left = self
                        .peers
                        .get_mut(&node)
                        .and_then(|p| p.confirm.as_mut())
                        .map(|c| {
                            c.left = c.left.saturating_sub(1);
                            c.next = after(now, CONFIRM_INTERVAL).unwrap_or(now);
                            c.left
                        });
                    if left == Some(0) {
                        // Every confirmation went unanswered: the responder may have dropped
                        // our keys with its pending entry. Start over with a fresh handshake.
                        if let Some(p) = self.peers.get_mut(&node) {
                            p.confirm = None;
                        }
                        self.start_rekey(now, node);
                    } else {
                        self.send_keepalive(now, node);
                    }
                }
                PeerTimer::Keepalive => self.send_keepalive(now, node),
                PeerTimer::Rekey => self.start_rekey(now, node),
            }
        }
    }
}
