//! NAT rebinding: a router forgets its mappings under established sessions (a reboot, a
//! conntrack flush), so a home's packets leave from a new public port.

use core::time::Duration;

use crate::mesh::membership::{KEEPALIVE_INTERVAL, PONG_TIMEOUT};
use crate::mesh::{MeshEvent, OverlayEvent};

use super::super::super::nat::NatKind;
use super::super::{Link, PrintSeedOnPanic};
use super::punch::{Outcome, Trio};
use super::seed;

/// Slack for the introduction and the punch's handshake after the pong check (round trips of
/// 10–50 ms here).
const INTRODUCTION_SLACK: Duration = Duration::from_secs(1);

/// Rebinding phases tried, as offsets into the keepalive interval: the rebinding may come
/// just after a ping (the worst case: silence until the next one) or just before one.
const PHASES_S: [u64; 4] = [0, 7, 14, 21];

#[test]
fn a_rebound_home_is_reached_again_within_one_keepalive_interval() {
    let seed = seed(66);
    let _guard = PrintSeedOnPanic(seed);
    let limit = KEEPALIVE_INTERVAL + PONG_TIMEOUT + INTRODUCTION_SLACK;
    let mut took = Vec::new();
    // Home A's router rebinds, or both homes' routers at once (a shared power cut): then each
    // side's old address is dead and both must punch towards the other's new mapping.
    for (phase, both) in PHASES_S.iter().flat_map(|&p| [(p, false), (p, true)]) {
        // Two port-restricted homes (most home routers) punched to each other through the
        // public introducer, as in `a_joiner_announced_by_forward_join_…`: active neighbours.
        let kind = NatKind::PORT_RESTRICTED_CONE;
        let mut t = Trio::new(seed, kind, kind, Link::default());
        t.net.run_for(Duration::from_secs(10 + phase));
        assert_eq!(
            t.outcome(),
            Outcome::Direct,
            "phase {phase}, both {both}; seed {seed}"
        );
        let (a_id, b_id) = (t.id(t.a), t.id(t.b));
        assert!(
            t.net.host(t.b).node.active().any(|n| n == a_id),
            "phase {phase}, both {both}; seed {seed}"
        );
        let seen = |t: &Trio, h, node| t.net.host(h).node.mesh().peer_seen(&node).map(|s| s.0);
        let old = seen(&t, t.b, a_id).expect("B holds a session with A");
        assert_eq!(seen(&t, t.intro, a_id), Some(old), "A's NAT maps one port");

        let old_b = seen(&t, t.a, b_id).expect("A holds a session with B");
        let rebound = if both { vec![t.a, t.b] } else { vec![t.a] };
        for h in rebound {
            let nat = t.net.host(h).nat.expect("homes are behind NATs");
            t.net.rebind_nat(nat);
        }
        let start = t.net.now();
        let mut recovered = None;
        while t.net.now() - start <= limit {
            t.net.run_for(Duration::from_millis(100));
            let (at_b, at_i) = (seen(&t, t.b, a_id), seen(&t, t.intro, a_id));
            let (at_a, b_at_i) = (seen(&t, t.a, b_id), seen(&t, t.intro, b_id));
            let a_moved = at_b.is_some_and(|a| a != old) && at_b == at_i;
            let b_moved = !both || (at_a.is_some_and(|b| b != old_b) && at_a == b_at_i);
            if a_moved && b_moved && t.outcome() == Outcome::Direct {
                recovered = Some(t.net.now() - start);
                break;
            }
        }
        let Some(d) = recovered else {
            panic!(
                "phase {phase}, both {both}: B does not reach A at its new mapping after {limit:?}; seed {seed}"
            );
        };
        took.push((phase, both, d));

        // The session moved: no PeerDown on either side, and data flows both ways at once.
        for (h, peer) in [(t.a, b_id), (t.b, a_id)] {
            let down = t.net.host(h).events.iter().any(|e| {
                matches!(e, OverlayEvent::Mesh(MeshEvent::PeerDown { node, .. }) if *node == peer)
            });
            assert!(
                !down,
                "phase {phase}, both {both}: the session was rebuilt, not moved; seed {seed}"
            );
        }
        t.send(t.a, t.b, b"after the rebinding");
        t.send(t.b, t.a, b"and back");
        t.net.run_for(Duration::from_millis(200));
        assert!(
            t.got(t.b, t.a, b"after the rebinding"),
            "phase {phase}, both {both}; seed {seed}"
        );
        assert!(
            t.got(t.a, t.b, b"and back"),
            "phase {phase}, both {both}; seed {seed}"
        );
        let asked: u64 = [t.a, t.b]
            .iter()
            .map(|h| t.net.host(*h).node.stats().repunch_requests)
            .sum();
        assert!(
            asked >= 1,
            "phase {phase}, both {both}: a silent link was re-introduced; seed {seed}"
        );
    }
    eprintln!("recovery after a rebinding (phase s, both homes, time): {took:?} (limit {limit:?})");
}

#[test]
fn healthy_links_answer_every_ping_and_are_never_re_introduced() {
    let seed = seed(67);
    let _guard = PrintSeedOnPanic(seed);
    let kind = NatKind::PORT_RESTRICTED_CONE;
    let mut t = Trio::new(seed, kind, kind, Link::default());
    // Four keepalive rounds on a steady network.
    t.net.run_for(KEEPALIVE_INTERVAL * 4 + PONG_TIMEOUT);
    assert_eq!(t.outcome(), Outcome::Direct, "seed {seed}");
    for h in [t.a, t.b, t.intro] {
        let stats = t.net.host(h).node.stats();
        assert_eq!(
            stats.repunch_requests, 0,
            "host {h}: a false alarm; seed {seed}"
        );
        let failed = t
            .net
            .host(h)
            .events
            .iter()
            .any(|e| matches!(e, OverlayEvent::PunchFailed { .. }));
        assert!(
            !failed,
            "host {h}: a punch ran on a healthy link; seed {seed}"
        );
    }
}
