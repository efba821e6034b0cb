//! Simulator scenarios: public hosts connect, a host behind every NAT kind connects out, and a
//! seed replays a run exactly.

use core::time::Duration;

use crate::mesh::tests::{epoch, test_config};
use crate::mesh::{MeshEvent, MeshNode, PathId};
use crate::nostr::Keys;

use super::super::nat::NatKind;
use super::{HostId, Link, PrintSeedOnPanic, SimNet};

/// The run's seed: `NOSTRP2P_SIM_SEED` when set (to replay a failure), else `default`.
pub(crate) fn seed(default: u64) -> u64 {
    std::env::var("NOSTRP2P_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A mesh node whose keys and seed come from the network's RNG.
pub(crate) fn mesh_node<E: super::Endpoint>(net: &mut SimNet<E>) -> MeshNode {
    let keys = loop {
        if let Ok(k) = Keys::from_secret_bytes(net.draw_seed()) {
            break k;
        }
    };
    let seed = net.draw_seed();
    MeshNode::new(test_config(), &keys, seed).expect("test config is valid")
}

fn peer_up_count(net: &SimNet<MeshNode>, id: HostId) -> usize {
    net.host(id)
        .events
        .iter()
        .filter(|e| matches!(e, MeshEvent::PeerUp { .. }))
        .count()
}

#[test]
fn two_public_hosts_connect_and_exchange_a_message() {
    let seed = seed(1);
    let _guard = PrintSeedOnPanic(seed);
    let mut net: SimNet<MeshNode> = SimNet::new(seed, epoch());
    let (na, nb) = (mesh_node(&mut net), mesh_node(&mut net));
    let (a, b) = (net.add_public(na), net.add_public(nb));
    let b_addr = net.public_addr(b).unwrap();
    net.with_node(a, |n, now| n.connect(now, PathId::Udp, b_addr))
        .unwrap();
    net.run_for(Duration::from_secs(2));
    let b_id = net.host(b).node.node_id();
    let a_id = net.host(a).node.node_id();
    assert!(net.host(a).node.is_connected(&b_id), "seed {seed}");
    assert!(net.host(b).node.is_connected(&a_id), "seed {seed}");
    net.with_node(a, |n, now| n.send(now, b_id, b"hello"))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let got: Vec<_> = net
        .host(b)
        .events
        .iter()
        .filter_map(|e| match e {
            MeshEvent::Message { node, bytes } if *node == a_id => Some(bytes.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![b"hello".to_vec()], "seed {seed}");
    assert_eq!(net.stats().filtered, 0);
}

#[test]
fn a_host_behind_every_nat_kind_connects_out_to_a_public_host() {
    let seed = seed(2);
    let _guard = PrintSeedOnPanic(seed);
    for kind in NatKind::ALL {
        let mut net: SimNet<MeshNode> = SimNet::new(seed, epoch());
        let (np, nn) = (mesh_node(&mut net), mesh_node(&mut net));
        let public = net.add_public(np);
        let natted = net.add_behind_nat(nn, kind);
        let public_addr = net.public_addr(public).unwrap();
        net.with_node(natted, |n, now| n.connect(now, PathId::Udp, public_addr))
            .unwrap();
        net.run_for(Duration::from_secs(2));
        assert_eq!(peer_up_count(&net, natted), 1, "{kind:?}, seed {seed}");
        assert_eq!(peer_up_count(&net, public), 1, "{kind:?}, seed {seed}");
        // The public host saw the NAT's address, not the private one, and said so.
        let nat_ip = net.nat(0).unwrap().public_ip();
        let observed: Vec<_> = net
            .host(natted)
            .events
            .iter()
            .filter_map(|e| match e {
                MeshEvent::ObservedAddr { addr, .. } => Some(*addr),
                _ => None,
            })
            .collect();
        assert_eq!(observed.len(), 1, "{kind:?}");
        assert_eq!(observed[0].ip(), nat_ip, "{kind:?}");
        assert_ne!(observed[0], net.host(natted).local, "{kind:?}");
    }
}

#[test]
fn an_unsolicited_connect_into_a_filtering_nat_fails_but_into_a_full_cone_lands() {
    let seed = seed(3);
    let _guard = PrintSeedOnPanic(seed);
    for (kind, lands) in [
        (NatKind::FULL_CONE, true),
        (NatKind::PORT_RESTRICTED_CONE, false),
    ] {
        let mut net: SimNet<MeshNode> = SimNet::new(seed, epoch());
        let (np, nn, nx) = (
            mesh_node(&mut net),
            mesh_node(&mut net),
            mesh_node(&mut net),
        );
        let public = net.add_public(np);
        let natted = net.add_behind_nat(nn, kind);
        let outsider = net.add_public(nx);
        let public_addr = net.public_addr(public).unwrap();
        net.with_node(natted, |n, now| n.connect(now, PathId::Udp, public_addr))
            .unwrap();
        net.run_for(Duration::from_secs(2));
        // The outsider dials the mapped address the public host saw.
        let mapped = net.host(public).node.peers().next().unwrap().addr;
        net.with_node(outsider, |n, now| n.connect(now, PathId::Udp, mapped))
            .unwrap();
        net.run_for(Duration::from_secs(2));
        let outsider_id = net.host(outsider).node.node_id();
        assert_eq!(
            net.host(natted).node.is_connected(&outsider_id),
            lands,
            "{kind:?}, seed {seed}"
        );
        assert_eq!(net.stats().filtered > 0, !lands, "{kind:?}");
    }
}

/// A lossy, jittery run of six hosts, as a trace of everything observable.
fn lossy_run(seed: u64) -> Vec<String> {
    let mut net: SimNet<MeshNode> = SimNet::new(seed, epoch()).with_link(Link {
        latency_min: Duration::from_millis(5),
        latency_max: Duration::from_millis(80),
        loss_ppm: 100_000,
    });
    let hub = mesh_node(&mut net);
    let hub = net.add_public(hub);
    let hub_addr = net.public_addr(hub).unwrap();
    for kind in NatKind::ALL.into_iter().chain([NatKind::FULL_CONE]) {
        let n = mesh_node(&mut net);
        let id = net.add_behind_nat(n, kind);
        net.with_node(id, |n, now| n.connect(now, PathId::Udp, hub_addr))
            .unwrap();
    }
    net.run_for(Duration::from_secs(30));
    let mut trace = vec![format!("{:?}", net.stats())];
    for host in net.hosts() {
        trace.extend(host.events.iter().map(|e| format!("{e:?}")));
    }
    trace
}

#[test]
fn the_seed_reproduces_a_run_exactly_and_another_seed_differs() {
    let seed = seed(4);
    let _guard = PrintSeedOnPanic(seed);
    let first = lossy_run(seed);
    assert!(first.len() > 10, "the run did something: {first:?}");
    assert_eq!(first, lossy_run(seed), "seed {seed}");
    assert_ne!(first, lossy_run(seed ^ 1), "seed {seed}");
}

mod membership;
mod punch;
mod rebind;
mod relay;

#[test]
fn an_idle_nat_mapping_expires_and_the_overlay_pings_keep_it_open() {
    let seed = seed(5);
    let _guard = PrintSeedOnPanic(seed);
    // Bare transport: nothing is sent for 40 s, so the 30 s mapping expires and the public
    // host's message is filtered.
    let mut net: SimNet<MeshNode> = SimNet::new(seed, epoch());
    let (np, nn) = (mesh_node(&mut net), mesh_node(&mut net));
    let public = net.add_public(np);
    let natted = net.add_behind_nat(nn, NatKind::PORT_RESTRICTED_CONE);
    let public_addr = net.public_addr(public).unwrap();
    net.with_node(natted, |n, now| n.connect(now, PathId::Udp, public_addr))
        .unwrap();
    net.run_for(Duration::from_secs(40));
    let natted_id = net.host(natted).node.node_id();
    let before = net.stats().filtered;
    net.with_node(public, |n, now| n.send(now, natted_id, b"late"))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.stats().filtered, before + 1, "seed {seed}");
    assert_eq!(net.nat(0).unwrap().mapping_count(net.now()), 0);

    // Overlay: pings every 25 s keep the mapping and the link for five minutes.
    let mut net: SimNet<crate::mesh::Overlay> = SimNet::new(seed, epoch());
    let boot = membership::overlay_node(&mut net);
    let boot = net.add_public(boot);
    let node = membership::overlay_node(&mut net);
    let natted = net.add_behind_nat(node, NatKind::PORT_RESTRICTED_CONE);
    let boot_addr = net.public_addr(boot).unwrap();
    net.with_node(natted, |o, now| o.join(now, &[boot_addr]));
    net.run_for(Duration::from_secs(300));
    assert_eq!(net.host(boot).node.active_len(), 1, "seed {seed}");
    assert_eq!(net.host(natted).node.active_len(), 1, "seed {seed}");
    assert_eq!(net.stats().filtered, 0, "seed {seed}");
}
