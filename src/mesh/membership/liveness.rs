//! Liveness of the active links and recovery from a NAT rebinding. Every
//! [`KEEPALIVE_INTERVAL`] a `Ping` goes to each active neighbour, which answers `Pong`. A direct
//! UDP link from which nothing authenticated arrived within [`PONG_TIMEOUT`] of our ping is
//! suspect: a NAT on the way may have given one side a new public port (a router reboot, a
//! conntrack flush, a mapping that expired), so its packets reach neither the old address the
//! other side still sends to nor, behind a filtering NAT, the other side at all. The transport
//! alone recovers only one way (roaming moves a session when an authenticated packet arrives
//! from a new address, which a port-restricted NAT on the far side refuses) and otherwise ends
//! the session after its 90 s idle timeout. So we ask our other direct neighbours to introduce
//! us to the silent peer again; an introducer that holds a session with it sends both sides
//! the address it sees the other at, and a side told an address other than its session's, or
//! silent for a keepalive interval, punches there (`punch.rs`), so the session moves to the new
//! mapping. Reasons and figures:
//! `docs/overlay.md` "NAT rebinding".

use core::time::Duration;
use std::time::Instant;

use super::super::node::PathId;
use super::super::wire::NodeId;
use super::{KEEPALIVE_INTERVAL, Msg, Overlay};

/// A link that sent nothing authenticated this long after our ping is suspect: ten times a
/// slow home link's round trip, and short beside the 25 s between pings, so recovery after a
/// rebinding takes at most one keepalive interval plus this plus an introduction.
pub const PONG_TIMEOUT: Duration = Duration::from_secs(2);

impl Overlay {
    /// Sends the due pings, then checks the links the last pings went to.
    pub(super) fn keepalive_tick(&mut self, now: Instant) {
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.keepalive_at = Some(now + KEEPALIVE_INTERVAL);
            let active: Vec<NodeId> = self.active.keys().copied().collect();
            for node in active {
                self.send_msg(now, node, &Msg::Ping);
            }
            self.pong_check = Some((now, now + PONG_TIMEOUT));
        }
        let Some((pinged, at)) = self.pong_check else {
            return;
        };
        if at > now {
            return;
        }
        self.pong_check = None;
        // Only UDP links can be rebound: a relayed session has its relay's liveness, and a TLS
        // link is a TCP connection that closes when it breaks.
        let silent: Vec<NodeId> = self
            .active
            .keys()
            .filter(|n| self.mesh.peer_path(n) == Some(PathId::Udp))
            .filter(|n| {
                self.mesh
                    .peer_seen(n)
                    .is_some_and(|(_, seen)| seen < pinged)
            })
            .copied()
            .collect();
        if silent.is_empty() {
            return;
        }
        // Any direct neighbour may hold a session with the silent one; one that does not
        // ignores the request. At most active_view − 1 requests per silent link per interval,
        // and a false alarm (a lost ping or pong) costs little: the answers name the address
        // the session already has, which starts no punch unless the link was also silent for a
        // whole interval, and a punch is ≤ 30 initiations.
        let introducers: Vec<NodeId> = self
            .active
            .keys()
            .filter(|n| self.is_direct(n))
            .copied()
            .collect();
        for node in silent {
            self.stats.repunch_requests += 1;
            for &via in introducers.iter().filter(|&&v| v != node) {
                self.send_msg(now, via, &Msg::IntroRequest { target: node });
            }
        }
    }
}
