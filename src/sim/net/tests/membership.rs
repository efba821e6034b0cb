//! Membership in the simulator: joins through one boot node, churn, and a larger run.

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};

use crate::mesh::tests::epoch;
use crate::mesh::{NodeId, Overlay};

use super::super::{HostId, PrintSeedOnPanic, SimNet};
use super::{mesh_node, seed};

pub(super) fn overlay_node(net: &mut SimNet<Overlay>) -> Overlay {
    let mesh = mesh_node(net);
    let seed = net.draw_seed();
    Overlay::new(mesh, seed)
}

/// Adds `n` public hosts that join through `boot`, 100 ms apart.
fn join_hosts(net: &mut SimNet<Overlay>, n: usize, boot: HostId) -> Vec<HostId> {
    let boot_addr = net.public_addr(boot).expect("boot is public");
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let node = overlay_node(net);
        let id = net.add_public(node);
        net.with_node(id, |o, now| o.join(now, &[boot_addr]));
        net.run_for(Duration::from_millis(100));
        ids.push(id);
    }
    ids
}

/// DECISIONS.md 25: the active-view graph over online hosts is one component and every
/// online host has an online active peer. Returns (components, isolated hosts, asymmetric
/// links) or the failure.
pub(super) fn check_connected(net: &SimNet<Overlay>) -> Result<usize, String> {
    let online: BTreeMap<NodeId, HostId> = net
        .hosts()
        .iter()
        .enumerate()
        .filter(|(_, h)| h.online)
        .map(|(i, h)| (h.node.node_id(), i))
        .collect();
    let mut edges: BTreeMap<HostId, BTreeSet<HostId>> = BTreeMap::new();
    let mut asymmetric = 0;
    for (&node, &i) in &online {
        let host = net.host(i);
        for peer in host.node.active() {
            let Some(&j) = online.get(&peer) else {
                continue;
            };
            edges.entry(i).or_default().insert(j);
            edges.entry(j).or_default().insert(i);
            if !net.host(j).node.active().any(|n| n == node) {
                asymmetric += 1;
            }
        }
    }
    let isolated: Vec<HostId> = online
        .values()
        .copied()
        .filter(|i| edges.get(i).is_none_or(BTreeSet::is_empty))
        .collect();
    if !isolated.is_empty() {
        return Err(format!("hosts without an online active peer: {isolated:?}"));
    }
    let start = *online.values().next().ok_or("no online host")?;
    let mut seen = BTreeSet::from([start]);
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        for &j in edges.get(&i).into_iter().flatten() {
            if seen.insert(j) {
                stack.push(j);
            }
        }
    }
    if seen.len() != online.len() {
        return Err(format!(
            "active views form several components: {} of {} reached",
            seen.len(),
            online.len()
        ));
    }
    for i in online.values() {
        let host = net.host(*i);
        let max = host.node.mesh().config().active_view;
        if host.node.active_len() > max {
            return Err(format!(
                "host {i} has {} active peers",
                host.node.active_len()
            ));
        }
    }
    Ok(asymmetric)
}

fn boot_net(seed: u64) -> (SimNet<Overlay>, HostId) {
    let mut net: SimNet<Overlay> = SimNet::new(seed, epoch());
    let boot = overlay_node(&mut net);
    let boot = net.add_public(boot);
    (net, boot)
}

#[test]
fn fifty_nodes_joining_through_one_boot_node_form_a_connected_active_view() {
    let seed = seed(50);
    let _guard = PrintSeedOnPanic(seed);
    let (mut net, boot) = boot_net(seed);
    join_hosts(&mut net, 49, boot);
    net.run_for(Duration::from_secs(90));
    let asymmetric = check_connected(&net).unwrap_or_else(|e| panic!("{e}; seed {seed}"));
    assert_eq!(asymmetric, 0, "seed {seed}");
    // Views filled beyond the boot node's neighbourhood, and the shuffle spread passive samples.
    let hosts = net.hosts();
    let mean_active =
        hosts.iter().map(|h| h.node.active_len()).sum::<usize>() as f64 / hosts.len() as f64;
    assert!(
        mean_active >= 3.0,
        "mean active view {mean_active}; seed {seed}"
    );
    assert!(
        hosts.iter().all(|h| h.node.passive().count() > 0),
        "seed {seed}"
    );
    assert!(hosts.iter().any(|h| h.node.stats().shuffles > 0));
    assert_eq!(net.stats().runaway, 0);
}

#[test]
fn with_ten_percent_churn_the_active_view_stays_connected() {
    let seed = seed(51);
    let _guard = PrintSeedOnPanic(seed);
    let (mut net, boot) = boot_net(seed);
    let mut members = join_hosts(&mut net, 49, boot);
    net.run_for(Duration::from_secs(60));
    check_connected(&net).unwrap_or_else(|e| panic!("before churn: {e}; seed {seed}"));
    for round in 0..3 {
        // 5 of 50 crash (no goodbye), 5 new ones join.
        for _ in 0..5 {
            let i = net.below(members.len());
            let gone = members.swap_remove(i);
            net.set_online(gone, false);
        }
        members.extend(join_hosts(&mut net, 5, boot));
        // Crashes are detected by the transport's 90 s idle timeout, then repaired.
        net.run_for(Duration::from_secs(120));
        check_connected(&net).unwrap_or_else(|e| panic!("after round {round}: {e}; seed {seed}"));
    }
}

/// Nodes in the larger run: `NOSTRP2P_SIM_NODES` (for `scripts/`), else 200, which fits the
/// debug test budget.
fn large_n() -> usize {
    std::env::var("NOSTRP2P_SIM_NODES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

#[test]
fn a_larger_network_joins_into_one_component() {
    let seed = seed(52);
    let _guard = PrintSeedOnPanic(seed);
    let n = large_n();
    let (mut net, boot) = boot_net(seed);
    join_hosts(&mut net, n - 1, boot);
    net.run_for(Duration::from_secs(60));
    check_connected(&net).unwrap_or_else(|e| panic!("{n} nodes: {e}; seed {seed}"));
    // Bounded state: no view or book beyond its bound however many nodes there are.
    for h in net.hosts() {
        assert!(h.node.passive().count() <= h.node.mesh().config().passive_view);
        assert!(h.node.address_book().count() <= crate::mesh::membership::ADDRESS_BOOK_MAX);
    }
    let hs: u64 = net
        .hosts()
        .iter()
        .map(|h| h.node.mesh().stats().handshakes_completed)
        .sum();
    // Repair backs off on refusals: handshakes stay a small multiple of the view per node
    // (≈ 19 at 200 nodes, ≈ 26 at 1 000; 36 at 200 without the back-off), not one per second
    // per short node.
    let per_node = hs / n as u64;
    assert!(
        per_node <= 30,
        "{per_node} handshakes per node; seed {seed}"
    );
}

#[test]
fn fifty_nodes_over_a_lossy_link_still_form_one_component() {
    let seed = seed(53);
    let _guard = PrintSeedOnPanic(seed);
    let mut net: SimNet<Overlay> = SimNet::new(seed, epoch()).with_link(super::super::Link {
        loss_ppm: 50_000,
        ..super::super::Link::default()
    });
    let boot = overlay_node(&mut net);
    let boot = net.add_public(boot);
    join_hosts(&mut net, 49, boot);
    // Lost Joins and replies heal through pings (25 s), sweeps (15 s) and repair.
    net.run_for(Duration::from_secs(150));
    assert!(net.stats().lost > 0);
    check_connected(&net).unwrap_or_else(|e| panic!("{e}; seed {seed}"));
}

#[test]
fn nodes_behind_cone_nats_join_through_public_ones_into_one_component() {
    let seed = seed(54);
    let _guard = PrintSeedOnPanic(seed);
    let (mut net, boot) = boot_net(seed);
    join_hosts(&mut net, 19, boot);
    let boot_addr = net.public_addr(boot).unwrap();
    for i in 0..30 {
        let node = overlay_node(&mut net);
        let kind = [
            super::super::super::nat::NatKind::PORT_RESTRICTED_CONE,
            super::super::super::nat::NatKind::FULL_CONE,
        ][i % 2];
        let id = net.add_behind_nat(node, kind);
        net.with_node(id, |o, now| o.join(now, &[boot_addr]));
        net.run_for(Duration::from_millis(100));
    }
    net.run_for(Duration::from_secs(150));
    check_connected(&net).unwrap_or_else(|e| panic!("{e}; seed {seed}"));
}
