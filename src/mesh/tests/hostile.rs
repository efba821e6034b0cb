//! Hostile bytes: arbitrary datagrams and damaged real ones never panic a node and never make
//! it emit an event.

use core::cell::RefCell;
use core::net::SocketAddr;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::super::limits::{HEADER_LEN, MAX_DATAGRAM};
use super::super::wire::{COOKIE_REPLY_LEN, INITIATION_LEN, MIN_TRANSPORT_LEN};
use super::super::{MeshNode, PathId};
use super::{Pair, Side, keys, test_config};

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
