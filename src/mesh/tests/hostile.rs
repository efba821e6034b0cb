//! Hostile bytes: arbitrary datagrams and damaged real ones never panic a node and never make
//! it emit an event.

use core::cell::RefCell;
use core::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::super::cookie::{self, NetworkKeys};
use super::super::limits::{DH_LEN, HANDSHAKE_BUDGET_BURST, HEADER_LEN, MAC_LEN, MAX_DATAGRAM};
use super::super::wire::{COOKIE_REPLY_LEN, Header, INITIATION_LEN, MAC1_AT, MIN_TRANSPORT_LEN};
use super::super::{MeshNode, PathId};
use super::{COOKIE_REPLY, Pair, Side, TEST_NETWORK, keys, test_config};

/// Byte strings that reach past the header check: a valid first byte and zero flags, with
/// random lengths around each type's size.
fn datagrams() -> impl Strategy<Value = Vec<u8>> {
    let random = prop::collection::vec(any::<u8>(), 0..=MAX_DATAGRAM + 8);
    let shaped = (
        prop::sample::select(vec![0x11u8, 0x12, 0x13, 0x14]),
        prop::sample::select(vec![
            INITIATION_LEN,
            COOKIE_REPLY_LEN,
            MIN_TRANSPORT_LEN,
            MIN_TRANSPORT_LEN + 7,
            MAX_DATAGRAM,
        ]),
        prop::collection::vec(any::<u8>(), MAX_DATAGRAM),
        any::<u32>(),
    )
        .prop_map(|(first, len, mut body, receiver)| {
            body.truncate(len);
            if let Some(head) = body.get_mut(..HEADER_LEN) {
                head[0] = first;
                head[1..4].fill(0);
                head[4..8].copy_from_slice(&receiver.to_le_bytes());
            }
            body
        });
    prop_oneof![random, shaped]
}

fn assert_silent(node: &mut MeshNode) -> Result<(), TestCaseError> {
    prop_assert_eq!(node.poll_event(), None);
    prop_assert!(node.poll_transmit().is_none());
    Ok(())
}

#[test]
fn arbitrary_bytes_never_panic_or_produce_events() {
    let from: SocketAddr = "203.0.113.1:1".parse().unwrap();
    let fresh = RefCell::new(MeshNode::new(test_config(), &keys(5), [5; 32]).unwrap());
    // A node with live sessions and a handshake in flight, so indices can hit real state.
    let mut p = Pair::connected();
    p.drop_if = Box::new(|_, _| true);
    let c_addr = "192.0.2.99:20000".parse().unwrap();
    p.a.mesh.connect(p.now, PathId::Udp, c_addr).unwrap();
    p.drive();
    let busy = RefCell::new(p.a.mesh);
    let now = p.now;
    let mut runner = TestRunner::new(Config::with_cases(2000));
    runner
        .run(&datagrams(), |bytes| {
            for node in [&fresh, &busy] {
                let mut node = node.borrow_mut();
                node.handle_datagram(now, PathId::Udp, from, &bytes);
                assert_silent(&mut node)?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn damaged_real_datagrams_never_produce_events() {
    // Record a full exchange: handshake, small and fragmented data.
    let mut p = Pair::connected();
    p.send(Side::A, b"small");
    p.send(Side::A, &[3u8; 5000]);
    p.send(Side::B, b"back");
    p.drive();
    let recorded: Vec<(Side, Vec<u8>)> = p
        .sent
        .iter()
        .map(|(side, t)| (*side, t.bytes.clone()))
        .collect();
    let (a_addr, b_addr, now) = (p.a.addr, p.b.addr, p.now);
    let cell = RefCell::new((p.a.mesh, p.b.mesh));
    let count = recorded.len();
    let strategy = (0..count, any::<prop::sample::Index>(), 1u8..=255);
    let mut runner = TestRunner::new(Config::with_cases(1000));
    runner
        .run(&strategy, |(which, at, flip)| {
            let (side, bytes) = &recorded[which];
            let mut damaged = bytes.clone();
            let i = at.index(damaged.len());
            damaged[i] ^= flip;
            let mut nodes = cell.borrow_mut();
            let (a, b) = &mut *nodes;
            let (receiver, from) = match side {
                Side::A => (b, a_addr),
                Side::B => (a, b_addr),
            };
            receiver.handle_datagram(now, PathId::Udp, from, &damaged);
            // A damaged mac2 is not checked when not under load, so an initiation may still be
            // answered; but no damaged datagram may deliver or establish anything.
            prop_assert_eq!(receiver.poll_event(), None);
            while receiver.poll_transmit().is_some() {}
            Ok(())
        })
        .unwrap();
}

/// Where an initiation carries the binding signature: header, `e`, `s`, then the payload's
/// version byte and node id (docs/wire.md "Handshake payload").
const BINDING_SIG_AT: usize = HEADER_LEN + 2 * DH_LEN + 1 + 32;

/// Writes `mac1` (and `mac2` with `cookie`) into an initiation, as any member of the network can.
fn seal_macs(net: &NetworkKeys, packet: &mut [u8; INITIATION_LEN], cookie: Option<&cookie::Mac>) {
    let (covered, macs) = packet.split_at_mut(MAC1_AT);
    let mac1 = net.mac1(covered);
    let mac2 = cookie
        .and_then(|c| cookie::mac2(c, &[covered, &mac1]))
        .unwrap_or([0; MAC_LEN]);
    macs[..MAC_LEN].copy_from_slice(&mac1);
    macs[MAC_LEN..].copy_from_slice(&mac2);
}

/// Sends `packet` to `node` from `from` as a forger who owns that address (the bench's cookie
/// echo): a cookie reply is opened and the initiation resent with its `mac2`. Everything else
/// `node` sends is dropped.
fn cookie_echo(
    node: &mut MeshNode,
    net: &NetworkKeys,
    now: Instant,
    from: SocketAddr,
    packet: &[u8; INITIATION_LEN],
) {
    let mut packet = *packet;
    seal_macs(net, &mut packet, None);
    node.handle_datagram(now, PathId::Udp, from, &packet);
    let mut replies = Vec::new();
    while let Some(t) = node.poll_transmit() {
        if t.dst == from && t.bytes.first() == Some(&COOKIE_REPLY) {
            replies.push(t.bytes);
        }
    }
    let mut mac1 = [0u8; MAC_LEN];
    mac1.copy_from_slice(&packet[MAC1_AT..MAC1_AT + MAC_LEN]);
    for reply in replies {
        let header = Header::decode(&reply).unwrap();
        let cookie = net
            .open_cookie(header.counter, &mac1, &reply[HEADER_LEN..])
            .unwrap();
        seal_macs(net, &mut packet, Some(&cookie));
        node.handle_datagram(now, PathId::Udp, from, &packet);
    }
    while node.poll_transmit().is_some() {}
}

/// Delivers datagrams between `x` (at `x_addr`) and `y` (at `y_addr`) until none is left.
fn exchange(
    x: &mut MeshNode,
    x_addr: SocketAddr,
    y: &mut MeshNode,
    y_addr: SocketAddr,
    now: Instant,
) {
    for _ in 0..100 {
        let mut moved = false;
        while let Some(t) = x.poll_transmit() {
            moved = true;
            if t.dst == y_addr {
                y.handle_datagram(now, t.path, x_addr, &t.bytes);
            }
        }
        while let Some(t) = y.poll_transmit() {
            moved = true;
            if t.dst == x_addr {
                x.handle_datagram(now, t.path, y_addr, &t.bytes);
            }
        }
        if !moved {
            return;
        }
    }
    panic!("traffic did not settle");
}

#[test]
fn a_known_peer_reconnects_while_forgers_from_many_prefixes_spend_the_budget() {
    let mut p = Pair::connected();
    let net = NetworkKeys::new(TEST_NETWORK);
    // The forgers' initiation: a real one of a third node, its binding signature damaged.
    let mut c = MeshNode::new(test_config(), &keys(9), [9; 32]).unwrap();
    c.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    let mut forged: [u8; INITIATION_LEN] = c.poll_transmit().unwrap().bytes.try_into().unwrap();
    forged[BINDING_SIG_AT] ^= 1;

    // Each forger owns one address in its own /24, so only the global budget holds them.
    let before = p.b.mesh.stats().clone();
    let forgers = 2 * HANDSHAKE_BUDGET_BURST;
    for i in 0..forgers {
        let from = SocketAddr::from((Ipv4Addr::from((10 << 24) | (i << 8) | 1), 4000));
        cookie_echo(&mut p.b.mesh, &net, p.now, from, &forged);
    }
    let after = p.b.mesh.stats().clone();
    assert_eq!(
        after.forged_identity - before.forged_identity,
        u64::from(HANDSHAKE_BUDGET_BURST - 1),
        "the budget's burst (less A's first handshake) reached the binding check, no more"
    );
    assert!(
        after.rate_limited - before.rate_limited >= u64::from(forgers - HANDSHAKE_BUDGET_BURST)
    );

    // A stranger from a fresh prefix, at the same instant, waits for the budget.
    let d_addr: SocketAddr = "203.0.113.40:20000".parse().unwrap();
    let mut d = MeshNode::new(test_config(), &keys(10), [10; 32]).unwrap();
    d.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    exchange(&mut d, d_addr, &mut p.b.mesh, p.b.addr, p.now);
    assert!(
        !d.is_connected(&p.b.id()),
        "the spent budget refuses strangers"
    );

    // A, which completed a handshake with B before, restarts and reconnects from its prefix
    // at the same instant: its reserve admits it.
    let completed = p.b.mesh.stats().handshakes_completed;
    p.a.mesh = MeshNode::new(test_config(), &keys(1), [12; 32]).unwrap();
    p.connect();
    assert_eq!(p.b.mesh.stats().handshakes_completed, completed + 1);
}
