//! NAT classification from two observers, and the introducer-driven punch matrix.

use core::time::Duration;

use crate::mesh::membership::{NatType, PUNCH_DURATION};
use crate::mesh::{MeshEvent, NodeId, Overlay, OverlayEvent, PathId};

use super::super::super::nat::{Filtering, Mapping, NatKind};
use super::super::{HostId, Link, PrintSeedOnPanic, SimNet};
use super::membership::{check_connected, overlay_node};
use super::seed;

pub(super) fn public(net: &mut SimNet<Overlay>) -> HostId {
    let node = overlay_node(net);
    net.add_public(node)
}

pub(super) fn natted(net: &mut SimNet<Overlay>, kind: NatKind) -> HostId {
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

/// How a pair ended up connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// A direct UDP session on both sides.
    Direct,
    /// A session relayed by the introducer on both sides.
    Relayed,
    /// No session, or the two sides disagree.
    Stuck,
}

/// A pair behind NATs, both joined to a public introducer.
pub(super) struct Trio {
    pub net: SimNet<Overlay>,
    pub intro: HostId,
    pub a: HostId,
    pub b: HostId,
}

impl Trio {
    /// A behind `ka`, B behind `kb`, both joined to (and active neighbours of) a public
    /// introducer.
    pub fn new(seed: u64, ka: NatKind, kb: NatKind, link: Link) -> Self {
        let mut net: SimNet<Overlay> =
            SimNet::new(seed, crate::mesh::tests::epoch()).with_link(link);
        let intro = public(&mut net);
        let (a, b) = (natted(&mut net, ka), natted(&mut net, kb));
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
            "both joined the introducer; seed {seed}"
        );
        Self { net, intro, a, b }
    }

    pub fn id(&self, h: HostId) -> NodeId {
        self.net.host(h).node.node_id()
    }

    /// A asks the introducer for B.
    pub fn introduce(&mut self) {
        let (i_id, b_id) = (self.id(self.intro), self.id(self.b));
        self.net
            .with_node(self.a, |o, now| o.introduce(now, i_id, b_id));
    }

    /// The path of `from`'s session with `to`.
    pub fn path(&self, from: HostId, to: HostId) -> Option<PathId> {
        self.net.host(from).node.mesh().peer_path(&self.id(to))
    }

    pub fn outcome(&self) -> Outcome {
        let (ab, ba) = (self.path(self.a, self.b), self.path(self.b, self.a));
        let relay = PathId::Relay {
            via: self.id(self.intro),
            to: self.id(self.b),
        };
        let relay_back = PathId::Relay {
            via: self.id(self.intro),
            to: self.id(self.a),
        };
        match (ab, ba) {
            (Some(PathId::Udp), Some(PathId::Udp)) => Outcome::Direct,
            (Some(x), Some(y)) if x == relay && y == relay_back => Outcome::Relayed,
            _ => Outcome::Stuck,
        }
    }

    /// Runs until A and B agree on a session (or `limit` passes); returns the outcome and the
    /// virtual time it took.
    pub fn run_until_connected(&mut self, limit: Duration) -> (Outcome, Duration) {
        let start = self.net.now();
        while self.net.now() - start < limit {
            self.net.run_for(Duration::from_millis(10));
            let o = self.outcome();
            if o != Outcome::Stuck {
                return (o, self.net.now() - start);
            }
        }
        (Outcome::Stuck, limit)
    }

    /// Whether `to` received an application message `bytes` from `from`.
    pub fn got(&self, to: HostId, from: HostId, bytes: &[u8]) -> bool {
        let node = self.id(from);
        self.net.host(to).events.iter().any(|e| {
            matches!(e, OverlayEvent::Mesh(MeshEvent::Message { node: n, bytes: b })
                if *n == node && b == bytes)
        })
    }

    /// `from` sends `bytes` to `to`.
    pub fn send(&mut self, from: HostId, to: HostId, bytes: &[u8]) {
        let node = self.id(to);
        self.net
            .with_node(from, |o, now| o.send(now, node, bytes))
            .unwrap_or_else(|e| panic!("send failed: {e}"));
    }
}

/// (outcome 5 s after A asked, A reported `PunchFailed` for B).
fn punch_over(seed: u64, ka: NatKind, kb: NatKind, link: Link) -> (Outcome, bool) {
    let mut t = Trio::new(seed, ka, kb, link);
    t.introduce();
    t.net.run_for(PUNCH_DURATION + Duration::from_millis(500));
    let b_id = t.id(t.b);
    let gave_up = t
        .net
        .host(t.a)
        .events
        .iter()
        .any(|e| matches!(e, OverlayEvent::PunchFailed { node } if *node == b_id));
    (t.outcome(), gave_up)
}

/// Whether theory lets A (behind `ka`) and B (behind `kb`) punch.
fn punchable(ka: NatKind, kb: NatKind) -> bool {
    let (sa, sb) = (
        ka.mapping == Mapping::EndpointDependent,
        kb.mapping == Mapping::EndpointDependent,
    );
    // Both EIM: always. One EDM: only if the other side does not filter by port.
    match (sa, sb) {
        (false, false) => true,
        (true, false) => kb.filtering != Filtering::AddressAndPortDependent,
        (false, true) => ka.filtering != Filtering::AddressAndPortDependent,
        (true, true) => false,
    }
}

#[test]
fn the_punch_matrix_is_direct_exactly_where_theory_allows() {
    let seed = seed(61);
    let _guard = PrintSeedOnPanic(seed);
    let mut table = String::new();
    for ka in NatKind::ALL {
        for kb in NatKind::ALL {
            let theory = punchable(ka, kb);
            let mut t = Trio::new(seed, ka, kb, Link::default());
            t.introduce();
            // Never stuck: direct where theory allows, else relayed, within 5 s.
            let (outcome, took) = t.run_until_connected(Duration::from_secs(5));
            let want = if theory {
                Outcome::Direct
            } else {
                Outcome::Relayed
            };
            // A relayed punchable pair would upgrade within the punch time; wait for it.
            let settled = if outcome == Outcome::Relayed && theory {
                t.net.run_for(PUNCH_DURATION);
                t.outcome()
            } else {
                outcome
            };
            table.push_str(&format!("{ka:?} × {kb:?}: {settled:?} in {took:?}\n"));
            assert_eq!(settled, want, "A {ka:?} × B {kb:?}, seed {seed}\n{table}");
            // The verdict holds once punching is over.
            t.net.run_for(PUNCH_DURATION + Duration::from_secs(1));
            assert_eq!(t.outcome(), want, "A {ka:?} × B {kb:?} later, seed {seed}");
        }
    }
    println!("{table}");
}

#[test]
fn a_failed_punch_is_reported_exactly_when_no_direct_session_came_of_it() {
    let seed = seed(63);
    let _guard = PrintSeedOnPanic(seed);
    for (ka, kb) in [
        (NatKind::PORT_RESTRICTED_CONE, NatKind::PORT_RESTRICTED_CONE),
        (NatKind::SYMMETRIC, NatKind::FULL_CONE),
        (NatKind::SYMMETRIC, NatKind::PORT_RESTRICTED_CONE),
        (NatKind::SYMMETRIC, NatKind::SYMMETRIC),
    ] {
        let (outcome, gave_up) = punch_over(seed, ka, kb, Link::default());
        assert_eq!(
            gave_up,
            outcome != Outcome::Direct,
            "{ka:?} × {kb:?}: {outcome:?}; seed {seed}"
        );
        assert_ne!(outcome, Outcome::Stuck, "{ka:?} × {kb:?}; seed {seed}");
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
            let (outcome, _) = punch_over(
                seed + i,
                NatKind::PORT_RESTRICTED_CONE,
                NatKind::PORT_RESTRICTED_CONE,
                lossy,
            );
            outcome == Outcome::Direct
        })
        .count();
    assert!(landed >= 6, "{landed} of 8 punches landed; seed {seed}");
}

#[test]
fn a_joiner_announced_by_forward_join_is_reached_through_the_announcer() {
    let seed = seed(64);
    let _guard = PrintSeedOnPanic(seed);
    for (ka, kb, want) in [
        (
            NatKind::PORT_RESTRICTED_CONE,
            NatKind::PORT_RESTRICTED_CONE,
            Outcome::Direct,
        ),
        (NatKind::SYMMETRIC, NatKind::SYMMETRIC, Outcome::Relayed),
        (
            NatKind::PORT_RESTRICTED_CONE,
            NatKind::SYMMETRIC,
            Outcome::Relayed,
        ),
    ] {
        // Nobody calls `introduce`: the introducer forwards one joiner's Join to the other,
        // whose dial into the joiner's NAT goes unanswered; it asks the introducer itself.
        let mut t = Trio::new(seed, ka, kb, Link::default());
        t.net.run_for(Duration::from_secs(10));
        assert_eq!(t.outcome(), want, "{ka:?} × {kb:?}; seed {seed}");
        let (a_id, b_id) = (t.id(t.a), t.id(t.b));
        assert!(
            t.net.host(t.a).node.active().any(|n| n == b_id)
                && t.net.host(t.b).node.active().any(|n| n == a_id),
            "{ka:?} × {kb:?}: A and B are active neighbours; seed {seed}"
        );
        let auto: u64 = [t.a, t.b]
            .iter()
            .map(|h| t.net.host(*h).node.stats().auto_introductions)
            .sum();
        assert!(auto >= 1, "{ka:?} × {kb:?}; seed {seed}");
    }
}

#[test]
fn nodes_behind_every_nat_kind_form_one_connected_overlay_around_one_public_node() {
    let seed = seed(65);
    let _guard = PrintSeedOnPanic(seed);
    let mut net: SimNet<Overlay> = SimNet::new(seed, crate::mesh::tests::epoch());
    let boot = public(&mut net);
    let boot_addr = net.public_addr(boot).unwrap();
    // Eleven NATed nodes: more than the public node's active view holds, so most links must
    // be NAT to NAT, punched or relayed.
    for i in 0..11 {
        let kind = NatKind::ALL[i % NatKind::ALL.len()];
        let h = natted(&mut net, kind);
        net.with_node(h, |o, now| o.join(now, &[boot_addr]));
        net.run_for(Duration::from_millis(500));
    }
    net.run_for(Duration::from_secs(180));
    check_connected(&net).unwrap_or_else(|e| panic!("{e}; seed {seed}"));
    let relayed: usize = net
        .hosts()
        .iter()
        .map(|h| {
            h.node
                .mesh()
                .peers()
                .filter(|p| !p.path.is_direct())
                .count()
        })
        .sum();
    let auto: u64 = net
        .hosts()
        .iter()
        .map(|h| h.node.stats().auto_introductions)
        .sum();
    println!("relayed session ends {relayed}, auto introductions {auto}");
    assert!(auto > 0, "seed {seed}");
    assert_eq!(net.stats().runaway, 0);
}
