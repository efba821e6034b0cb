//! Two-node scenarios: handshake, data, replay, forged identity, cookies, rekey, expiry,
//! roaming, fragment loss. Each reads as a script over the [`Pair`] harness.

use core::time::Duration;

use super::super::error::SendError;
use super::super::limits::{MAX_DATAGRAM, REASSEMBLY_TIMEOUT, REJECT_AFTER};
use super::super::node::{OUTGOING_SIZE, PEER_SIZE, PENDING_SIZE};
use super::super::session::handshake::{binding_digest, noise_static_secret, x25519_public};
use super::super::wire::{COOKIE_REPLY_LEN, Header, INITIATION_LEN, RESPONSE_LEN};
use super::super::{DownReason, LinkId, MeshConfig, MeshEvent, MeshNode, PathId};
use super::{COOKIE_REPLY, INITIATION, Pair, RESPONSE, Side, TRANSPORT, keys, test_config};

#[test]
fn handshake_completes_and_both_sides_learn_each_others_node_id() {
    let mut p = Pair::new();
    p.a.mesh.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    p.drive();
    let (a, b) = (p.a.id(), p.b.id());
    assert_eq!(a.0, keys(1).public());
    assert_eq!(b.0, keys(2).public());
    assert!(p.a.events.contains(&MeshEvent::PeerUp {
        node: b,
        addr: p.b.addr
    }));
    assert!(p.b.events.contains(&MeshEvent::PeerUp {
        node: a,
        addr: p.a.addr
    }));
    // Each side learns how the other saw it: A its reflexive address, B the address dialled.
    assert!(p.a.events.contains(&MeshEvent::ObservedAddr {
        by: b,
        addr: p.a.addr
    }));
    assert!(p.b.events.contains(&MeshEvent::ObservedAddr {
        by: a,
        addr: p.b.addr
    }));
    // initiation, response, A's confirmation, B's answer: nothing else.
    let kinds: Vec<_> = p.sent.iter().map(|(s, t)| (*s, t.bytes[0])).collect();
    assert_eq!(
        kinds,
        [
            (Side::A, INITIATION),
            (Side::B, RESPONSE),
            (Side::A, TRANSPORT),
            (Side::B, TRANSPORT)
        ]
    );
    assert_eq!(p.a.mesh.handshakes_in_flight(), (0, 0));
    assert_eq!(p.b.mesh.handshakes_in_flight(), (0, 0));
    assert_eq!(p.a.mesh.stats().handshakes_completed, 1);
    assert_eq!(p.b.mesh.stats().handshakes_completed, 1);
    // No amplification: the response is no longer than the initiation.
    assert_eq!(p.sent[0].1.bytes.len(), INITIATION_LEN);
    assert_eq!(p.sent[1].1.bytes.len(), RESPONSE_LEN);
    // No confirmation retries once B answered.
    p.advance(Duration::from_secs(5));
    assert_eq!(p.sent.len(), 4);
}

#[test]
fn data_flows_both_ways_including_a_fragmented_60_kib_message() {
    let mut p = Pair::connected();
    let big: Vec<u8> = (0..60 * 1024u32).map(|i| (i % 251) as u8).collect();
    let before = p.sent.len();
    p.send(Side::A, b"hello");
    p.send(Side::B, b"hi");
    p.send(Side::A, &big);
    p.drive();
    assert_eq!(p.b.messages(), vec![b"hello".to_vec(), big.clone()]);
    assert_eq!(p.a.messages(), vec![b"hi".to_vec()]);
    let data = p.sent.len() - before;
    assert_eq!(data, 1 + 1 + 53, "60 KiB is 53 fragments");
    assert!(p.sent.iter().all(|(_, t)| t.bytes.len() <= MAX_DATAGRAM));
    assert_eq!(p.b.mesh.reassembly_len(), 0);
    let too_big = vec![0u8; 64 * 1024 + 1];
    let b = p.b.id();
    assert_eq!(
        p.a.mesh.send(p.now, b, &too_big),
        Err(SendError::TooLarge(too_big.len()))
    );
}

#[test]
fn a_replayed_datagram_is_rejected() {
    let mut p = Pair::connected();
    p.send(Side::A, b"once");
    p.drive();
    let (_, last) = p.sent.last().cloned().unwrap();
    p.b.mesh
        .handle_datagram(p.now, PathId::Udp, p.a.addr, &last.bytes);
    p.drive();
    assert_eq!(p.b.messages(), vec![b"once".to_vec()]);
    assert_eq!(p.b.mesh.stats().replayed, 1);
}

#[test]
fn a_reused_counter_is_rejected_even_with_a_valid_tag() {
    let mut p = Pair::connected();
    p.send(Side::A, b"first");
    p.drive();
    let (_, first) = p.sent.last().cloned().unwrap();
    let counter = Header::decode(&first.bytes).unwrap().counter;
    let b = p.b.id();
    p.a.mesh.rewind_counter(&b, counter);
    p.send(Side::A, b"second");
    p.drive();
    let (_, second) = p.sent.last().cloned().unwrap();
    assert_eq!(Header::decode(&second.bytes).unwrap().counter, counter);
    assert_ne!(
        first.bytes, second.bytes,
        "a different message under the same nonce"
    );
    assert_eq!(p.b.messages(), vec![b"first".to_vec()]);
    assert_eq!(p.b.mesh.stats().replayed, 1);
    assert_eq!(p.b.mesh.stats().decrypt_failed, 0);
}

/// A signature by another key over A's real Noise static key: valid Noise, wrong binding.
fn forged_sig_for(victim: u8) -> crate::nostr::Signature {
    let static_public = x25519_public(&noise_static_secret(&[victim; 32]));
    keys(3).sign_bytes(&binding_digest(&static_public), &[0; 32])
}

#[test]
fn a_forged_initiator_binding_gets_no_answer_and_no_peer_up() {
    let mut p = Pair::new();
    p.a.mesh.forge_binding(forged_sig_for(1));
    p.a.mesh.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    p.drive();
    assert_eq!(p.b.mesh.stats().forged_identity, 1);
    assert!(
        p.sent.iter().all(|(side, _)| *side == Side::A),
        "B answered"
    );
    assert_eq!(p.b.mesh.handshakes_in_flight(), (0, 0));
    assert!(p.b.events.is_empty());
    assert!(p.a.events.is_empty());
}

#[test]
fn a_forged_responder_binding_is_dropped_and_the_connect_fails() {
    let mut p = Pair::new();
    p.b.mesh.forge_binding(forged_sig_for(2));
    p.a.mesh.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    p.drive();
    assert_eq!(p.a.mesh.stats().forged_identity, 1);
    assert!(p.sent_of_type(Side::A, TRANSPORT).is_empty(), "A confirmed");
    // Every retry meets the same forgery; the connect gives up and B's keys lapse.
    p.advance(Duration::from_secs(100));
    assert!(p.a.mesh.stats().forged_identity > 1);
    let up = |e: &MeshEvent| matches!(e, MeshEvent::PeerUp { .. });
    assert_eq!(p.a.count(up), 0);
    assert_eq!(p.b.count(up), 0);
    assert!(
        p.a.events
            .contains(&MeshEvent::ConnectFailed { addr: p.b.addr })
    );
    assert_eq!(p.a.mesh.handshakes_in_flight(), (0, 0));
    assert_eq!(p.b.mesh.handshakes_in_flight(), (0, 0));
}

#[test]
fn a_bad_mac1_leaves_no_state_and_gets_no_reply() {
    let mut p = Pair::new();
    p.drop_if = Box::new(|_, _| true);
    p.a.mesh.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    p.drive();
    let init = p.sent_of_type(Side::A, INITIATION).pop().unwrap();
    let mut bad = init.clone();
    bad[INITIATION_LEN - 20] ^= 0x01; // inside mac1
    p.b.mesh.handle_datagram(p.now, PathId::Udp, p.a.addr, &bad);
    assert_eq!(p.b.mesh.poll_transmit(), None);
    assert_eq!(p.b.mesh.poll_event(), None);
    assert_eq!(p.b.mesh.handshakes_in_flight(), (0, 0));
    assert_eq!(p.b.mesh.poll_timeout(), None, "no state, so no timer");
    assert_eq!(p.b.mesh.stats().bad_mac1, 1);
    assert_eq!(p.b.mesh.stats().binding_checks, 0);

    // Another network's node cannot even get that far.
    let mut other = MeshNode::new(MeshConfig::default(), &keys(2), [9; 32]).unwrap();
    other.handle_datagram(p.now, PathId::Udp, p.a.addr, &init);
    assert_eq!(other.poll_transmit(), None);
    assert_eq!(other.stats().bad_mac1, 1);
}

#[test]
fn under_load_a_cookie_reply_comes_first_and_the_initiator_completes_with_mac2() {
    let loaded = MeshConfig {
        under_load_in_flight: 0, // always under load
        ..test_config()
    };
    let mut p = Pair::with_configs(test_config(), loaded);
    p.a.mesh.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    // First round: only the cookie reply, and B ran no DH and no BIP-340.
    assert!(p.step());
    assert_eq!(p.b.mesh.stats().cookie_replies_sent, 1);
    assert_eq!(p.b.mesh.stats().binding_checks, 0);
    assert_eq!(p.b.mesh.handshakes_in_flight(), (0, 0));
    let cookie_reply = p.sent_of_type(Side::B, COOKIE_REPLY).pop().unwrap();
    assert_eq!(cookie_reply.len(), COOKIE_REPLY_LEN);
    assert!(cookie_reply.len() < INITIATION_LEN, "no amplification");
    p.drive();
    assert_eq!(p.a.mesh.stats().cookies_received, 1);
    assert_eq!(p.b.mesh.stats().binding_checks, 1);
    assert!(p.a.mesh.is_connected(&p.b.id()));
    assert!(p.b.mesh.is_connected(&p.a.id()));
    // The retry is the same initiation with mac2 filled in.
    let inits = p.sent_of_type(Side::A, INITIATION);
    assert_eq!(inits.len(), 2);
    assert_eq!(
        inits[0][..INITIATION_LEN - 16],
        inits[1][..INITIATION_LEN - 16]
    );
    assert_eq!(inits[0][INITIATION_LEN - 16..], [0u8; 16]);

    // A replay of that initiation from a spoofed source gets a cookie reply, not a DH.
    let spoofed = "203.0.113.66:4444".parse().unwrap();
    p.b.mesh
        .handle_datagram(p.now, PathId::Udp, spoofed, &inits[1]);
    let reply = p.b.mesh.poll_transmit().unwrap();
    assert_eq!((reply.dst, reply.bytes.len()), (spoofed, COOKIE_REPLY_LEN));
    assert_eq!(p.b.mesh.stats().binding_checks, 1);
}

#[test]
fn initiations_over_the_source_rate_are_dropped_before_any_dh() {
    let mut p = Pair::new();
    p.drop_if = Box::new(|_, _| true);
    p.a.mesh.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    p.drive();
    let init = p.sent_of_type(Side::A, INITIATION).pop().unwrap();
    let burst = MeshConfig::default().handshake_burst as u64;
    for _ in 0..burst + 3 {
        p.b.mesh
            .handle_datagram(p.now, PathId::Udp, p.a.addr, &init);
    }
    assert_eq!(p.b.mesh.stats().rate_limited, 3);
    assert_eq!(p.b.mesh.stats().binding_checks, burst);
}

#[test]
fn rekey_every_120_s_keeps_traffic_flowing() {
    let mut p = Pair::connected();
    let b = p.b.id();
    let first_index = p.a.mesh.current_index(&b).unwrap();
    let mut want_b = Vec::new();
    let mut want_a = Vec::new();
    for i in 0..40u32 {
        p.advance(Duration::from_secs(10));
        let to_b = format!("a{i}").into_bytes();
        let to_a = format!("b{i}").into_bytes();
        p.send(Side::A, &to_b);
        p.send(Side::B, &to_a);
        want_b.push(to_b);
        want_a.push(to_a);
        p.drive();
    }
    assert_eq!(p.b.messages(), want_b);
    assert_eq!(p.a.messages(), want_a);
    let down = |e: &MeshEvent| matches!(e, MeshEvent::PeerDown { .. });
    assert_eq!(p.a.count(down) + p.b.count(down), 0);
    // 400 s at 120 s per key set: at least three rekeys, each a fresh index.
    assert!(p.a.mesh.stats().handshakes_completed >= 4);
    assert_ne!(p.a.mesh.current_index(&b), Some(first_index));
    let up = |e: &MeshEvent| matches!(e, MeshEvent::PeerUp { .. });
    assert_eq!(p.a.count(up), 1, "a rekey is not a new peer");
    let observed = |e: &MeshEvent| matches!(e, MeshEvent::ObservedAddr { .. });
    assert_eq!(
        p.a.count(observed),
        1,
        "an unchanged observation is not news"
    );
}

#[test]
fn packets_sealed_under_the_old_keys_still_arrive_after_a_rekey() {
    let patient = MeshConfig {
        idle_timeout: Duration::from_secs(1000),
        ..test_config()
    };
    let mut p = Pair::with_configs(patient.clone(), patient);
    p.connect();
    p.advance(test_config().rekey_after - Duration::from_secs(1));
    p.drop_if = Box::new(|_, _| true);
    p.send(Side::A, b"sealed before the rekey");
    p.drive();
    let (_, held) = p.sent.last().cloned().unwrap();
    p.drop_if = Box::new(|_, _| false);
    let completed = p.a.mesh.stats().handshakes_completed;
    p.advance(Duration::from_secs(2));
    assert_eq!(
        p.a.mesh.stats().handshakes_completed,
        completed + 1,
        "rekeyed"
    );
    p.b.mesh
        .handle_datagram(p.now, PathId::Udp, p.a.addr, &held.bytes);
    p.send(Side::A, b"sealed after");
    p.drive();
    assert_eq!(
        p.b.messages(),
        vec![
            b"sealed before the rekey".to_vec(),
            b"sealed after".to_vec()
        ]
    );
}

#[test]
fn unanswered_confirmations_start_a_fresh_handshake() {
    let mut p = Pair::new();
    // The network loses A's first transport packets: B never promotes the first keys.
    let mut transports = 0;
    p.drop_if = Box::new(move |side, t| {
        if side == Side::A && t.bytes[0] == TRANSPORT {
            transports += 1;
            return transports <= 5;
        }
        false
    });
    p.a.mesh.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    p.advance(Duration::from_secs(6));
    assert_eq!(p.sent_of_type(Side::A, INITIATION).len(), 2);
    assert!(p.b.mesh.is_connected(&p.a.id()));
    p.send(Side::A, b"through");
    p.drive();
    assert_eq!(p.b.messages(), vec![b"through".to_vec()]);
}

#[test]
fn simultaneous_connects_converge_on_one_session_each_way() {
    let mut p = Pair::new();
    p.a.mesh.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    p.b.mesh.connect(p.now, PathId::Udp, p.a.addr).unwrap();
    p.drive();
    let up = |e: &MeshEvent| matches!(e, MeshEvent::PeerUp { .. });
    assert_eq!((p.a.count(up), p.b.count(up)), (1, 1));
    for i in 0..30u8 {
        p.advance(Duration::from_secs(15));
        p.send(Side::A, &[i]);
        p.send(Side::B, &[i]);
        p.drive();
    }
    assert_eq!(p.a.messages().len(), 30);
    assert_eq!(p.b.messages().len(), 30);
    let down = |e: &MeshEvent| matches!(e, MeshEvent::PeerDown { .. });
    assert_eq!(p.a.count(down) + p.b.count(down), 0);
}

#[test]
fn rekey_after_a_message_count() {
    let a_cfg = MeshConfig {
        rekey_after_messages: 10,
        ..test_config()
    };
    let mut p = Pair::with_configs(a_cfg, test_config());
    p.connect();
    for i in 0..25u8 {
        p.send(Side::A, &[i]);
        p.drive();
    }
    assert_eq!(p.b.messages().len(), 25);
    assert!(p.a.mesh.stats().handshakes_completed >= 3);
}

#[test]
fn keys_older_than_180_s_are_refused() {
    let patient = MeshConfig {
        idle_timeout: Duration::from_secs(1000),
        ..test_config()
    };
    let mut p = Pair::with_configs(patient.clone(), patient);
    p.connect();
    // The network drops every handshake from now on, so no rekey can succeed.
    p.drop_if = Box::new(|_, t| matches!(t.bytes.first(), Some(&INITIATION | &RESPONSE)));
    p.advance(REJECT_AFTER - Duration::from_secs(2));
    p.send(Side::A, b"late but valid");
    p.drive();
    assert_eq!(p.b.messages(), vec![b"late but valid".to_vec()]);
    // A datagram sealed just before the limit, arriving just after it.
    p.drop_if = Box::new(|_, _| true);
    p.send(Side::A, b"too late");
    p.drive();
    let (_, held) = p.sent.last().cloned().unwrap();
    let after = p.now + Duration::from_secs(3);
    p.b.mesh
        .handle_datagram(after, PathId::Udp, p.a.addr, &held.bytes);
    assert_eq!(p.b.mesh.stats().keys_expired, 1);
    assert_eq!(p.b.mesh.poll_event(), None);
    let b = p.b.id();
    assert_eq!(p.a.mesh.send(after, b, b"x"), Err(SendError::KeysExpired));
    p.advance(Duration::from_secs(3));
    for host in [&p.a, &p.b] {
        assert_eq!(
            host.count(|e| matches!(
                e,
                MeshEvent::PeerDown {
                    why: DownReason::KeysExpired,
                    ..
                }
            )),
            1
        );
    }
    assert_eq!(p.b.messages().len(), 1);
}

#[test]
fn idle_sessions_expire_with_peer_down() {
    let mut p = Pair::connected();
    let idle = test_config().idle_timeout;
    p.advance(idle - Duration::from_secs(1));
    assert!(p.a.mesh.is_connected(&p.b.id()));
    p.advance(Duration::from_secs(2));
    let (a, b) = (p.a.id(), p.b.id());
    assert!(p.a.events.contains(&MeshEvent::PeerDown {
        node: b,
        why: DownReason::Idle
    }));
    assert!(p.b.events.contains(&MeshEvent::PeerDown {
        node: a,
        why: DownReason::Idle
    }));
    assert_eq!(p.a.mesh.poll_timeout(), None, "nothing left to time");
    assert_eq!(p.b.mesh.poll_timeout(), None);
}

#[test]
fn one_way_traffic_keeps_both_sides_up_through_passive_keepalives() {
    let mut p = Pair::connected();
    for i in 0..20u8 {
        p.advance(Duration::from_secs(20));
        p.send(Side::A, &[i]);
        p.drive();
    }
    assert_eq!(p.b.messages().len(), 20);
    let down = |e: &MeshEvent| matches!(e, MeshEvent::PeerDown { .. });
    assert_eq!(p.a.count(down) + p.b.count(down), 0);
    assert!(p.a.messages().is_empty());
}

#[test]
fn an_authenticated_packet_from_a_new_address_moves_the_session() {
    let mut p = Pair::connected();
    let old = p.b.addr;
    p.b.addr = "198.51.100.2:41000".parse().unwrap(); // B's NAT rebinds
    p.send(Side::B, b"from my new port");
    p.drive();
    let b = p.b.id();
    assert!(p.a.events.contains(&MeshEvent::PeerMoved {
        node: b,
        addr: p.b.addr
    }));
    p.send(Side::A, b"found you");
    p.drive();
    assert_eq!(p.b.messages(), vec![b"found you".to_vec()]);
    assert_eq!(p.sent.last().unwrap().1.dst, p.b.addr);
    assert_ne!(p.b.addr, old);

    // A replayed or forged packet from yet another address moves nothing.
    let (_, last_from_b) = p
        .sent
        .iter()
        .rev()
        .find(|(s, _)| *s == Side::B)
        .cloned()
        .unwrap();
    let elsewhere = "203.0.113.9:9".parse().unwrap();
    p.a.mesh
        .handle_datagram(p.now, PathId::Udp, elsewhere, &last_from_b.bytes);
    assert_eq!(p.a.mesh.peers().next().unwrap().addr, p.b.addr);
}

#[test]
fn a_lost_fragment_drops_the_message_and_its_slot_is_freed_by_timeout() {
    let mut p = Pair::connected();
    let mut seen = 0;
    p.drop_if = Box::new(move |side, _| {
        if side != Side::A {
            return false;
        }
        seen += 1;
        seen == 3
    });
    let big = vec![7u8; 20_000];
    p.send(Side::A, &big);
    p.drive();
    assert!(p.b.messages().is_empty());
    assert_eq!(p.b.mesh.reassembly_len(), 1);
    p.advance(REASSEMBLY_TIMEOUT + Duration::from_millis(1));
    assert_eq!(p.b.mesh.reassembly_len(), 0);
    assert_eq!(p.b.mesh.stats().reassembly_dropped, 1);
    p.drop_if = Box::new(|_, _| false);
    p.send(Side::A, &big);
    p.drive();
    assert_eq!(p.b.messages(), vec![big]);
}

#[test]
fn session_memory_is_pinned() {
    // Two key sets (snow state + 264-byte replay window each), address, timers.
    const { assert!(PEER_SIZE <= 2048) };
    const { assert!(PENDING_SIZE <= 1024) };
    const { assert!(OUTGOING_SIZE <= 1536) };
    println!("Peer {PEER_SIZE} B, Pending {PENDING_SIZE} B, Outgoing {OUTGOING_SIZE} B");
}

#[test]
fn a_session_over_a_tls_link_is_ordinary_and_moves_to_udp_but_never_back() {
    let mut p = Pair::new();
    let link = PathId::Tls(LinkId(7));
    p.a.mesh.connect(p.now, link, p.b.addr).unwrap();
    p.drive();
    let (a, b) = (p.a.id(), p.b.id());
    assert_eq!(p.a.mesh.peer_path(&b), Some(link));
    assert_eq!(p.b.mesh.peer_path(&a), Some(link));
    // A TCP source port says nothing about the UDP NAT: no observed address either way.
    let observed = |e: &MeshEvent| matches!(e, MeshEvent::ObservedAddr { .. });
    assert_eq!(p.a.count(observed) + p.b.count(observed), 0);
    p.send(Side::A, b"over tls");
    p.drive();
    assert_eq!(p.b.messages(), vec![b"over tls".to_vec()]);
    assert!(p.sent.iter().all(|(_, t)| t.path == link));

    // UDP works later: a handshake on it moves the session to UDP on both sides.
    p.a.mesh.connect(p.now, PathId::Udp, p.b.addr).unwrap();
    p.drive();
    assert_eq!(p.a.mesh.peer_path(&b), Some(PathId::Udp));
    assert_eq!(p.b.mesh.peer_path(&a), Some(PathId::Udp));

    // A datagram still in flight on the link is taken, and does not move it back.
    p.drop_if = Box::new(|side, _| side == Side::A);
    p.send(Side::A, b"late on the link");
    p.drive();
    let (_, late) = p
        .sent
        .iter()
        .rev()
        .find(|(s, _)| *s == Side::A)
        .cloned()
        .unwrap();
    assert_eq!(late.path, PathId::Udp);
    p.b.mesh.handle_datagram(p.now, link, p.a.addr, &late.bytes);
    while let Some(e) = p.b.mesh.poll_event() {
        p.b.events.push(e);
    }
    assert_eq!(p.b.messages().last().unwrap(), b"late on the link");
    assert_eq!(p.b.mesh.peer_path(&a), Some(PathId::Udp));
}
