//! Relaying through the introducer: data both ways over a relayed session, the upgrade to a
//! direct path, the per-pair bound under a flood, and hostile relay requests.

use core::time::Duration;

use crate::mesh::membership::{
    Entry, MAX_RELAYED, Msg, NatType, PUNCH_DURATION, RELAY_AFTER, RELAY_BURST, RELAY_RATE,
    UPGRADE_INTERVAL,
};
use crate::mesh::{MeshEvent, NodeId, Overlay, OverlayEvent, SendError};
use crate::nostr::PubKey;

use super::super::super::nat::NatKind;
use super::super::{Link, PrintSeedOnPanic, SimNet};
use super::punch::{Outcome, Trio, natted, public};
use super::seed;

/// A pair that cannot punch, relayed by the introducer.
fn relayed_trio(seed: u64, ka: NatKind, kb: NatKind) -> Trio {
    let mut t = Trio::new(seed, ka, kb, Link::default());
    t.introduce();
    let (outcome, took) = t.run_until_connected(Duration::from_secs(5));
    assert_eq!(outcome, Outcome::Relayed, "{ka:?} × {kb:?}; seed {seed}");
    assert!(took <= Duration::from_secs(5));
    t
}

#[test]
fn data_flows_both_ways_over_a_relayed_session() {
    let seed = seed(70);
    let _guard = PrintSeedOnPanic(seed);
    let mut t = relayed_trio(seed, NatKind::SYMMETRIC, NatKind::SYMMETRIC);
    let (a, b) = (t.a, t.b);
    t.send(a, b, b"\x42hello from A");
    t.send(b, a, b"\x42hello from B");
    // A message of several fragments: each relayed datagram is one RelayTo/RelayFrom.
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8 | 0x01).collect();
    let mut big_msg = vec![0x42];
    big_msg.extend_from_slice(&big);
    t.send(a, b, &big_msg);
    t.net.run_for(Duration::from_secs(1));
    assert!(t.got(b, a, b"\x42hello from A"), "seed {seed}");
    assert!(t.got(a, b, b"\x42hello from B"), "seed {seed}");
    assert!(t.got(b, a, &big_msg), "seed {seed}");
    let relay = t.net.host(t.intro).node.stats().relay;
    assert!(relay.forwarded >= 20, "{relay:?}; seed {seed}");
    assert_eq!(
        relay.over_rate + relay.refused_unknown_target,
        0,
        "{relay:?}"
    );
    for h in [a, b] {
        let s = t.net.host(h).node.stats().relay;
        assert!(s.sent > 0 && s.received > 0, "{s:?}; seed {seed}");
        assert_eq!(s.send_dropped, 0, "{s:?}");
    }
    // Still the same session: the layers above saw one PeerUp each and no PeerDown.
    let b_id = t.id(b);
    let ups = t
        .net
        .host(a)
        .events
        .iter()
        .filter(
            |e| matches!(e, OverlayEvent::Mesh(MeshEvent::PeerUp { node, .. }) if *node == b_id),
        )
        .count();
    assert_eq!(ups, 1, "seed {seed}");
}

#[test]
fn a_relayed_pair_moves_to_the_direct_path_when_a_punch_lands() {
    let seed = seed(71);
    let _guard = PrintSeedOnPanic(seed);
    let mut t = relayed_trio(seed, NatKind::SYMMETRIC, NatKind::PORT_RESTRICTED_CONE);
    let (a, b) = (t.a, t.b);
    t.send(a, b, b"\x42relayed");
    t.net.run_for(Duration::from_secs(1));
    assert!(t.got(b, a, b"\x42relayed"), "seed {seed}");
    // B's router starts letting anyone in (a reconfigured router): now punchable. The next
    // upgrade attempt (every UPGRADE_INTERVAL) lands a punch.
    t.net.set_nat_kind(1, NatKind::FULL_CONE);
    t.net.run_for(UPGRADE_INTERVAL + Duration::from_secs(5));
    assert_eq!(t.outcome(), Outcome::Direct, "seed {seed}");
    let b_id = t.id(b);
    let a_events = &t.net.host(a).events;
    assert!(
        a_events.iter().any(
            |e| matches!(e, OverlayEvent::Mesh(MeshEvent::PeerMoved { node, .. }) if *node == b_id)
        ),
        "the session moved; seed {seed}"
    );
    assert!(
        !a_events.iter().any(
            |e| matches!(e, OverlayEvent::Mesh(MeshEvent::PeerDown { node, .. }) if *node == b_id)
        ),
        "the same session, never down; seed {seed}"
    );
    let before = t.net.host(t.intro).node.stats().relay.forwarded;
    t.send(a, b, b"\x42direct");
    t.send(b, a, b"\x42direct back");
    t.net.run_for(Duration::from_secs(1));
    assert!(t.got(b, a, b"\x42direct") && t.got(a, b, b"\x42direct back"));
    let after = t.net.host(t.intro).node.stats().relay.forwarded;
    assert_eq!(
        before, after,
        "direct traffic bypasses the relay; seed {seed}"
    );
}

#[test]
fn the_relays_per_pair_bound_holds_under_a_flood() {
    let seed = seed(72);
    let _guard = PrintSeedOnPanic(seed);
    let mut t = relayed_trio(seed, NatKind::SYMMETRIC, NatKind::SYMMETRIC);
    let (a, b) = (t.a, t.b);
    let start = t.net.now();
    let before = t.net.host(t.intro).node.stats().relay.forwarded_bytes;
    let b_id = t.id(b);
    let flood = vec![0x42; 60_000];
    let secs = 3;
    for _ in 0..secs * 100 {
        // As much as A's transmit queue takes, every 10 ms: ≈ 10 × the relay's rate.
        for _ in 0..8 {
            let r = t.net.with_node(a, |o, now| o.send(now, b_id, &flood));
            if matches!(r, Err(SendError::Backpressure)) {
                break;
            }
        }
        t.net.run_for(Duration::from_millis(10));
    }
    let elapsed = (t.net.now() - start).as_secs_f64();
    let relay = t.net.host(t.intro).node.stats().relay;
    // The pair's budget includes the setup's few handshake and keepalive bytes (before).
    let forwarded = relay.forwarded_bytes;
    let bound = before as f64 + RELAY_BURST as f64 + RELAY_RATE as f64 * elapsed;
    assert!(
        forwarded as f64 <= bound,
        "{forwarded} B forwarded in {elapsed} s > bound {bound}; seed {seed}"
    );
    assert!(relay.over_rate > 0, "the flood hit the bucket: {relay:?}");
    // The relay stays useful at its rate: most of the budget was used.
    assert!(
        forwarded as f64 >= RELAY_RATE as f64 * elapsed * 0.5,
        "{forwarded} B forwarded; seed {seed}"
    );
    assert_eq!(t.net.host(t.intro).node.relay_pairs(), 1);
    assert_eq!(t.net.stats().runaway, 0);
}

#[test]
fn hostile_relay_requests_are_refused_and_counted() {
    let seed = seed(73);
    let _guard = PrintSeedOnPanic(seed);
    let mut t = Trio::new(
        seed,
        NatKind::FULL_CONE,
        NatKind::FULL_CONE,
        Link::default(),
    );
    let (a, b, i) = (t.a, t.b, t.intro);
    let (a_id, b_id, i_id) = (t.id(a), t.id(b), t.id(i));
    let stranger = NodeId(PubKey([0x77; 32]));
    let datagram = vec![0x14; 100];
    let requests = [
        (stranger, datagram.clone()),        // unknown target
        (a_id, datagram.clone()),            // to the sender itself
        (i_id, datagram.clone()),            // to the relay
        (b_id, vec![0x14; MAX_RELAYED + 1]), // oversized
        (b_id, Vec::new()),                  // empty
    ];
    for (target, packet) in requests {
        let msg = Msg::RelayTo { target, packet }.encode();
        t.net
            .with_node(a, |o, now| o.send(now, i_id, &msg))
            .unwrap();
    }
    // A RelayFrom naming the relay itself as the sender.
    let forged = Msg::RelayFrom {
        peer: Entry {
            node: i_id,
            addr: t.net.public_addr(i).unwrap(),
        },
        packet: datagram.clone(),
    }
    .encode();
    t.net
        .with_node(a, |o, now| o.send(now, i_id, &forged))
        .unwrap();
    t.net.run_for(Duration::from_secs(1));
    let s = t.net.host(i).node.stats().relay;
    assert_eq!(s.refused_unknown_target, 1, "{s:?}; seed {seed}");
    assert_eq!(s.refused_loop, 2, "{s:?}");
    assert_eq!(s.refused_size, 2, "{s:?}");
    assert_eq!(s.bad_relay_from, 1, "{s:?}");
    assert_eq!(s.forwarded, 0, "{s:?}");
    assert_eq!(t.net.host(b).node.stats().relay.received, 0);
    // A well-formed request of garbage is forwarded (the relay cannot read it) and B's
    // transport drops it: sealed bytes only, nothing to panic on.
    let msg = Msg::RelayTo {
        target: b_id,
        packet: datagram.clone(),
    }
    .encode();
    t.net
        .with_node(a, |o, now| o.send(now, i_id, &msg))
        .unwrap();
    t.net.run_for(Duration::from_secs(1));
    assert_eq!(t.net.host(i).node.stats().relay.forwarded, 1);
    assert_eq!(t.net.host(b).node.stats().relay.received, 1);
    // With relaying off, the same request is refused.
    t.net.with_node(i, |o, _| o.set_relaying(false));
    t.net
        .with_node(a, |o, now| o.send(now, i_id, &msg))
        .unwrap();
    t.net.run_for(Duration::from_secs(1));
    let s = t.net.host(i).node.stats().relay;
    assert_eq!((s.refused_disabled, s.forwarded), (1, 1), "{s:?}");
}

/// A behind a symmetric NAT that has learned so from two observers, joined to the
/// introducer; B behind `kb` only connected to the introducer (no Join, so no ForwardJoin
/// makes anyone dial anyone before the test's introduction).
fn trio_with_known_symmetric_a(seed: u64, kb: NatKind) -> Trio {
    let mut net: SimNet<Overlay> = SimNet::new(seed, crate::mesh::tests::epoch());
    let intro = public(&mut net);
    let observer = public(&mut net);
    let (a, b) = (natted(&mut net, NatKind::SYMMETRIC), natted(&mut net, kb));
    let (intro_addr, observer_addr) = (
        net.public_addr(intro).unwrap(),
        net.public_addr(observer).unwrap(),
    );
    net.with_node(a, |o, now| o.join(now, &[intro_addr]));
    net.with_node(a, |o, now| o.connect(now, observer_addr))
        .unwrap();
    net.with_node(b, |o, now| o.connect(now, intro_addr))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.host(a).node.nat_type(),
        NatType::Symmetric,
        "seed {seed}"
    );
    let t = Trio { net, intro, a, b };
    assert_eq!(
        t.outcome(),
        Outcome::Stuck,
        "no A-B session yet; seed {seed}"
    );
    t
}

#[test]
fn a_side_that_knows_it_is_symmetric_relays_at_once_and_still_upgrades() {
    let seed = seed(74);
    let _guard = PrintSeedOnPanic(seed);
    // Against a port-restricted cone no punch can land: relayed well before RELAY_AFTER.
    let mut t = trio_with_known_symmetric_a(seed, NatKind::PORT_RESTRICTED_CONE);
    t.introduce();
    let (outcome, took) = t.run_until_connected(Duration::from_secs(5));
    assert_eq!(outcome, Outcome::Relayed, "seed {seed}");
    assert!(took < RELAY_AFTER, "relayed after {took:?}; seed {seed}");
    println!("a known-symmetric side relayed in {took:?}");
    // Against a restricted cone the punch lands too, and the session ends direct.
    let mut t = trio_with_known_symmetric_a(seed, NatKind::RESTRICTED_CONE);
    t.introduce();
    let (outcome, _) = t.run_until_connected(Duration::from_secs(5));
    assert_ne!(outcome, Outcome::Stuck, "seed {seed}");
    t.net.run_for(PUNCH_DURATION);
    assert_eq!(t.outcome(), Outcome::Direct, "seed {seed}");
}
