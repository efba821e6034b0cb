//! The membership codec (golden bytes, hostile input) and its memory bounds.

#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use super::super::MeshNode;
use super::super::wire::{ADDR_LEN, WireError};
use crate::nostr::PubKey;

use super::*;

fn entry(b: u8, addr: SocketAddr) -> Entry {
    Entry {
        node: NodeId(PubKey([b; 32])),
        addr,
    }
}

#[test]
fn golden_bytes_of_each_message() {
    let v4 = SocketAddr::from((Ipv4Addr::new(203, 0, 113, 7), 0x1b58));
    assert_eq!(Msg::Join.encode(), [0xB0]);
    assert_eq!(Msg::Neighbor { high: true }.encode(), [0xB2, 1]);
    assert_eq!(Msg::NeighborReply { accepted: false }.encode(), [0xB3, 0]);
    assert_eq!(Msg::Disconnect.encode(), [0xB4]);
    assert_eq!(Msg::Ping.encode(), [0xB7]);
    assert_eq!(Msg::Pong.encode(), [0xBD]);
    assert_eq!(Msg::decode(&[0xBD]), Ok(Msg::Pong));
    let fj = Msg::ForwardJoin {
        ttl: 6,
        joiner: entry(0xaa, v4),
    };
    let mut want = vec![0xB1, 6];
    want.extend([0xaa; 32]);
    want.extend([4, 203, 0, 113, 7]);
    want.extend([0; 12]);
    want.extend([0x1b, 0x58]);
    assert_eq!(fj.encode(), want);
    assert_eq!(Msg::decode(&want), Ok(fj));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 7000));
    let mut entries = heapless::Vec::new();
    entries.push(entry(1, v4)).unwrap();
    entries.push(entry(2, v6)).unwrap();
    let shuffle = Msg::Shuffle(entries);
    let bytes = shuffle.encode();
    assert_eq!(bytes.len(), 2 + 2 * ENTRY_LEN);
    assert_eq!(&bytes[..2], &[0xB5, 2]);
    assert_eq!(bytes[2 + ENTRY_LEN + 32], 6, "second entry is IPv6");
    assert_eq!(Msg::decode(&bytes), Ok(shuffle));
    let intro = Msg::IntroRequest {
        target: NodeId(PubKey([0xbb; 32])),
    };
    let mut want = vec![0xB8];
    want.extend([0xbb; 32]);
    assert_eq!(intro.encode(), want);
    assert_eq!(Msg::decode(&want), Ok(intro));
    let notify = Msg::PunchNotify { peer: entry(3, v4) };
    let bytes = notify.encode();
    assert_eq!((bytes[0], bytes.len()), (0xB9, 1 + ENTRY_LEN));
    assert_eq!(Msg::decode(&bytes), Ok(notify));
    let reply = Msg::IntroReply { peer: entry(4, v6) };
    let bytes = reply.encode();
    assert_eq!((bytes[0], bytes.len()), (0xBA, 1 + ENTRY_LEN));
    assert_eq!(Msg::decode(&bytes), Ok(reply));
}

#[test]
fn bad_messages_name_their_fault() {
    assert_eq!(Msg::decode(&[]), Err(MsgError::Empty));
    assert_eq!(Msg::decode(&[0xBF]), Err(MsgError::UnknownType(0xBF)));
    assert_eq!(Msg::decode(&[0xB2, 2]), Err(MsgError::BadFlag(2)));
    assert_eq!(Msg::decode(&[0xB0, 0]), Err(MsgError::Trailing(1)));
    assert_eq!(
        Msg::decode(&[0xB5, SHUFFLE_MAX as u8 + 1]),
        Err(MsgError::TooManyEntries(SHUFFLE_MAX as u8 + 1))
    );
    assert!(matches!(
        Msg::decode(&[0xB1, 6, 1, 2]),
        Err(MsgError::Wire(WireError::TooShort(_)))
    ));
    // An entry with "no address" (family 0) is refused.
    let mut none = vec![0xB1, 6];
    none.extend([0xaa; 32]);
    none.extend([0; ADDR_LEN]);
    assert_eq!(Msg::decode(&none), Err(MsgError::NoAddress));
    // The largest message fits one datagram.
    const { assert!(2 + SHUFFLE_MAX * ENTRY_LEN <= super::super::limits::MAX_PLAINTEXT) };
}

#[test]
fn an_address_book_entry_is_at_most_128_bytes() {
    let per_entry = size_of::<NodeId>() + size_of::<BookEntry>();
    assert!(per_entry <= 128, "{per_entry} B per address-book entry");
    // The overlay's inline state (the transport included); its maps are bounded by the views,
    // MAX_PENDING, MAX_PUNCHES, the sessions and ADDRESS_BOOK_MAX.
    let inline = size_of::<Overlay>();
    assert!(inline <= 2816, "{inline} B inline per node");
    // A relay-table entry (key and budget): ≤ MAX_RELAY_PAIRS of them.
    let pair = relay::RELAY_PAIR_SIZE;
    assert!(pair <= 160, "{pair} B per relayed pair");
    // A passive entry now names its announcer.
    let known = size_of::<NodeId>() + size_of::<Known>();
    assert!(known <= 128, "{known} B per passive entry");
    println!("Overlay {inline} B, relay pair {pair} B, passive entry {known} B");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_what_decodes_re_encodes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(msg) = Msg::decode(&bytes) {
            prop_assert_eq!(msg.encode(), bytes);
        }
    }
}

#[test]
fn the_address_book_stays_bounded_and_forgets_the_longest_unseen_first() {
    let t0 = crate::mesh::tests::epoch();
    let mesh = MeshNode::new(
        crate::mesh::tests::test_config(),
        &crate::mesh::tests::keys(1),
        [7; 32],
    )
    .unwrap();
    let mut o = Overlay::new(mesh, [8; 32]);
    let addr = SocketAddr::from((Ipv4Addr::new(203, 0, 113, 1), 7000));
    let entries = (0..ADDRESS_BOOK_MAX + 10).map(|i| Entry {
        node: NodeId(PubKey({
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_be_bytes());
            k[31] = 1;
            k
        })),
        addr,
    });
    // Each entry is seen 1 s after the previous one, so the first ten are the oldest.
    let mut forgotten = Vec::new();
    for (i, e) in entries.enumerate() {
        o.load_address_book(t0 + core::time::Duration::from_secs(i as u64), [e]);
        // Drain after every call, as the loop does; loaded entries are not re-announced.
        while let Some(e) = o.poll_event() {
            match e {
                OverlayEvent::AddressForgotten { node } => forgotten.push(node),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(o.address_book().count(), ADDRESS_BOOK_MAX);
    let oldest: Vec<u64> = forgotten
        .iter()
        .map(|n| u64::from_be_bytes(n.0.0[..8].try_into().unwrap()))
        .collect();
    assert_eq!(oldest, (0..10).collect::<Vec<u64>>());
}

#[test]
fn golden_bytes_of_the_relay_messages() {
    let v4 = SocketAddr::from((Ipv4Addr::new(203, 0, 113, 7), 0x1b58));
    let to = Msg::RelayTo {
        target: NodeId(PubKey([0xbb; 32])),
        packet: vec![0x14, 0, 0],
    };
    let mut want = vec![0xbb];
    want.extend([0xbb; 32]);
    want.extend([0x14, 0, 0]);
    assert_eq!(to.encode(), want);
    assert_eq!(Msg::decode(&want), Ok(to));
    let from = Msg::RelayFrom {
        peer: entry(0xaa, v4),
        packet: vec![0x14, 0, 0],
    };
    let mut want = vec![0xbc];
    want.extend([0xaa; 32]);
    want.extend([4, 203, 0, 113, 7]);
    want.extend([0; 12]);
    want.extend([0x1b, 0x58, 0x14, 0, 0]);
    assert_eq!(want.len(), 55);
    assert_eq!(from.encode(), want);
    assert_eq!(Msg::decode(&want), Ok(from));
    // The largest relay message is one whole frame of the relay's session: no leg fragments.
    let full = Msg::RelayFrom {
        peer: entry(0xaa, v4),
        packet: vec![0; MAX_RELAYED],
    };
    assert_eq!(full.encode().len(), super::super::fragment::WHOLE_MAX);
    // A relay message short of its key or entry is refused.
    assert!(Msg::decode(&[0xbb, 1, 2]).is_err());
    assert!(Msg::decode(&[0xbc; 40]).is_err());
}
