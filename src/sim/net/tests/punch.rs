//! NAT classification from two observers, and the introducer-driven punch matrix.

use core::time::Duration;

use crate::mesh::membership::{NatType, PUNCH_DURATION};
use crate::mesh::{Overlay, OverlayEvent};

use super::super::super::nat::{Filtering, Mapping, NatKind};
use super::super::{HostId, Link, PrintSeedOnPanic, SimNet};
use super::membership::overlay_node;
use super::seed;

fn public(net: &mut SimNet<Overlay>) -> HostId {
    let node = overlay_node(net);
    net.add_public(node)
}

fn natted(net: &mut SimNet<Overlay>, kind: NatKind) -> HostId {
    let node = overlay_node(net);
    net.add_behind_nat(node, kind)
}

fn dial(net: &mut SimNet<Overlay>, from: HostId, to: HostId) {
    let addr = net.public_addr(to).expect("dial a public host");
    net.with_node(from, |o, now| o.connect(now, addr)).unwrap();
}

#[test]
fn two_observers_tell_cone_from_symmetric_for_every_nat_kind() {
    let seed = seed(60);
    let _guard = PrintSeedOnPanic(seed);
    for kind in NatKind::ALL {
        let mut net: SimNet<Overlay> = SimNet::new(seed, crate::mesh::tests::epoch());
        let (o1, o2) = (public(&mut net), public(&mut net));
        let me = natted(&mut net, kind);
        dial(&mut net, me, o1);
        net.run_for(Duration::from_secs(1));
        assert_eq!(net.host(me).node.nat_type(), NatType::Unknown, "{kind:?}");
        dial(&mut net, me, o2);
        net.run_for(Duration::from_secs(1));
        let want = match kind.mapping {
            Mapping::EndpointIndependent => NatType::Cone,
            Mapping::EndpointDependent => NatType::Symmetric,
        };
        assert_eq!(net.host(me).node.nat_type(), want, "{kind:?}, seed {seed}");
        assert!(
            net.host(me).events.contains(&OverlayEvent::NatType(want)),
            "{kind:?}"
        );
    }
}

/// A behind `ka`, B behind `kb`, both connected to a public introducer; A asks for B.
/// Returns whether A and B got a direct session within the punch time.
fn punch(seed: u64, ka: NatKind, kb: NatKind) -> bool {
    let (direct, gave_up) = punch_over(seed, ka, kb, Link::default());
    assert_eq!(
        gave_up, !direct,
        "A reports a failed punch exactly when it failed"
    );
    direct
}

/// (A and B have a direct session, A reported `PunchFailed` for B).
fn punch_over(seed: u64, ka: NatKind, kb: NatKind, link: Link) -> (bool, bool) {
    let mut net: SimNet<Overlay> = SimNet::new(seed, crate::mesh::tests::epoch()).with_link(link);
    let intro = public(&mut net);
    let (a, b) = (natted(&mut net, ka), natted(&mut net, kb));
    // Both join through the introducer, so it keeps them as active neighbours.
    let boot = net.public_addr(intro).unwrap();
    for h in [a, b] {
        net.with_node(h, |o, now| o.join(now, &[boot]));
    }
    // Wait out the handshakes' own retries (5 s) when the link loses packets.
    for _ in 0..240 {
        if net.host(intro).node.active_len() == 2 {
            break;
        }
        net.run_for(Duration::from_millis(500));
    }
    assert_eq!(
        net.host(intro).node.active_len(),
        2,
        "both joined the introducer"
    );
    let (i_id, b_id) = (net.host(intro).node.node_id(), net.host(b).node.node_id());
    net.with_node(a, |o, now| o.introduce(now, i_id, b_id));
    net.run_for(PUNCH_DURATION + Duration::from_millis(500));
    let a_id = net.host(a).node.node_id();
    let direct = net.host(a).node.mesh().is_connected(&b_id);
    assert_eq!(direct, net.host(b).node.mesh().is_connected(&a_id));
    if direct {
        // Direct: A reaches B at B's NAT, not through the introducer.
        let b_nat = net.nat(1).unwrap().public_ip();
        let at = net
            .host(a)
            .node
            .mesh()
            .peers()
            .find(|p| p.node == b_id)
            .unwrap()
            .addr;
        assert_eq!(at.ip(), b_nat);
    }
    let gave_up = net
        .host(a)
        .events
        .iter()
        .any(|e| matches!(e, OverlayEvent::PunchFailed { node } if *node == b_id));
    (direct, gave_up)
}

#[test]
fn the_punch_matrix_is_direct_exactly_where_theory_allows() {
    let seed = seed(61);
    let _guard = PrintSeedOnPanic(seed);
    for ka in NatKind::ALL {
        for kb in NatKind::ALL {
            let (sa, sb) = (
                ka.mapping == Mapping::EndpointDependent,
                kb.mapping == Mapping::EndpointDependent,
            );
            // Both EIM: always. One EDM: only if the other side does not filter by port.
            let theory = match (sa, sb) {
                (false, false) => true,
                (true, false) => kb.filtering != Filtering::AddressAndPortDependent,
                (false, true) => ka.filtering != Filtering::AddressAndPortDependent,
                (true, true) => false,
            };
            assert_eq!(
                punch(seed, ka, kb),
                theory,
                "A {ka:?} × B {kb:?}, seed {seed}"
            );
        }
    }
}

#[test]
fn port_restricted_cones_punch_through_a_lossy_link_by_repeating_initiations() {
    let seed = seed(62);
    let _guard = PrintSeedOnPanic(seed);
    let lossy = Link {
        loss_ppm: 300_000,
        ..Link::default()
    };
    // One initiation each would fail about half the time at 30 % loss; ten a second for 3 s
    // make a failure vanishingly rare. The introductions themselves may be lost, so count.
    let landed = (0..8)
        .filter(|i| {
            let (direct, _) = punch_over(
                seed + i,
                NatKind::PORT_RESTRICTED_CONE,
                NatKind::PORT_RESTRICTED_CONE,
                lossy,
            );
            direct
        })
        .count();
    assert!(landed >= 6, "{landed} of 8 punches landed; seed {seed}");
}
