//! The body of every fuzz target, shared by the targets in `fuzz_targets/` and by the corpus
//! replay in `cargo test` (`tests/it/fuzz_corpus.rs` includes this file by path), so both call
//! the same public decoders the same way (DECISIONS.md 4). Each function takes hostile bytes,
//! must not panic, and returns whether the input was accepted: the replay asserts it for
//! corpus files named `valid-*`. Where a decoder has an encoder, an accepted input is re-encoded
//! and compared (the decoders accept only canonical forms).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nostrp2p::api::http::routes::{publish, req::UpstreamFilter};
use nostrp2p::api::http::scan::RequestScanner;
use nostrp2p::api::ws::conn::parse_head_for_fuzzing;
use nostrp2p::api::ws::proto::ClientMessage;
use nostrp2p::daemon::tls::{FrameDecoder, FrameError, encode_frame};
use nostrp2p::mesh::fragment::{Frame, Reassembly};
use nostrp2p::mesh::membership::Msg;
use nostrp2p::mesh::wire::{Header, NodeId};
use nostrp2p::mesh::{MeshConfig, MeshNode, PathId};
use nostrp2p::nostr::filter::Filter;
use nostrp2p::nostr::{Event, Keys, PubKey, binary};

/// A target's body: hostile bytes in, whether they were accepted out.
pub type Target = fn(&[u8]) -> bool;

/// Every target, by its name in `fuzz/Cargo.toml` and `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("event_json", event_json),
    ("filter_json", filter_json),
    ("binary_record", binary_record),
    ("upstream_req", upstream_req),
    ("upstream_publish", upstream_publish),
    ("ws_client_message", ws_client_message),
    ("ws_upgrade_head", ws_upgrade_head),
    ("http_scan", http_scan),
    ("mesh_datagram", mesh_datagram),
    ("membership_msg", membership_msg),
    ("fragment", fragment),
    ("tls_frame", tls_frame),
];

/// A NIP-01 event as a client or peer sends it: parse, then check id and signature.
pub fn event_json(data: &[u8]) -> bool {
    Event::from_json(data).is_ok_and(|e| e.verify().is_ok())
}

/// A NIP-01 filter (websocket `REQ`/`COUNT`).
pub fn filter_json(data: &[u8]) -> bool {
    Filter::from_json(data).is_ok()
}

/// The compact binary record (store, mesh): decode; an accepted record re-encodes to the same
/// bytes, and its id and signature are checked as for anything not read from our own store.
pub fn binary_record(data: &[u8]) -> bool {
    let Ok(event) = binary::decode(data) else {
        return false;
    };
    let mut again = Vec::with_capacity(data.len());
    binary::encode(&event, &mut again);
    assert_eq!(again, data, "an accepted record is canonical");
    let _ = event.verify();
    true
}

/// upstream's `POST /req` body.
pub fn upstream_req(data: &[u8]) -> bool {
    UpstreamFilter::from_json(data).is_ok()
}

/// upstream's `POST /publish` body: the route's decoder (`"tags": null` read as `[]`), then id
/// and signature as the node checks them.
pub fn upstream_publish(data: &[u8]) -> bool {
    publish::decode(data).is_ok_and(|(event, _tags_null)| event.verify().is_ok())
}

/// One websocket text message from a client (`EVENT`, `REQ`, `CLOSE`, `COUNT`).
pub fn ws_client_message(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(|text| ClientMessage::decode(text).is_ok())
}

/// The request head on the websocket port (upgrade, NIP-11, anything else).
pub fn ws_upgrade_head(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(parse_head_for_fuzzing)
}

/// The REST proxy's request scanner, fed the input in chunks whose sizes come from the input
/// itself (first byte), with a request boundary check at each step. Accepted: at least one
/// whole request and no refusal.
pub fn http_scan(data: &[u8]) -> bool {
    let Some((&step, rest)) = data.split_first() else {
        return false;
    };
    let step = usize::from(step).max(1);
    let mut scan = RequestScanner::new();
    for chunk in rest.chunks(step) {
        let mut left = chunk;
        while !left.is_empty() {
            let Ok(fed) = scan.feed_request(left) else {
                return false;
            };
            assert!(fed.skipped <= fed.used && fed.used <= left.len());
            if fed.used == 0 {
                break;
            }
            left = left.get(fed.used..).unwrap_or_default();
        }
    }
    scan.requests() > 0
}

/// One UDP datagram from anyone: header decode, then a fresh node's whole inbound path
/// (handshake checks, cookies, transport) with every output drained. Accepted: the header
/// decodes.
pub fn mesh_datagram(data: &[u8]) -> bool {
    let header_ok = Header::decode(data).is_ok();
    let Ok(keys) = Keys::from_secret_bytes([7; 32]) else {
        return header_ok;
    };
    let Ok(mut node) = MeshNode::new(MeshConfig::default(), &keys, [9; 32]) else {
        return header_ok;
    };
    let now = Instant::now();
    let from = SocketAddr::from(([192, 0, 2, 1], 4000));
    node.handle_datagram(now, PathId::Udp, from, data);
    node.handle_datagram(now + Duration::from_millis(1), PathId::Udp, from, data);
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
    header_ok
}

/// A membership message inside a session: decode; an accepted one re-encodes to the same
/// bytes.
pub fn membership_msg(data: &[u8]) -> bool {
    let Ok(msg) = Msg::decode(data) else {
        return false;
    };
    assert_eq!(msg.encode(), data, "an accepted message is canonical");
    true
}

/// A run of frames inside a session: `[peer (1 byte)][len (2 bytes LE)][frame]...`, each frame
/// decoded and each fragment put through one small reassembly (2 peers' worth of slots), with
/// expiry in between. Accepted: every frame decodes and at least one message completes.
pub fn fragment(data: &[u8]) -> bool {
    let mut reassembly = Reassembly::new(4, 2);
    let start = Instant::now();
    let mut rest = data;
    let mut all_ok = true;
    let mut completed = 0usize;
    let mut tick = 0u64;
    while let [peer, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*l0, *l1])).min(tail.len());
        let (frame, after) = tail.split_at(len);
        rest = after;
        tick += 1;
        let now = start + Duration::from_millis(tick * 100);
        reassembly.expire(now);
        let peer = NodeId(PubKey([*peer % 3; 32]));
        match Frame::decode(frame) {
            Ok(Frame::Fragment {
                msg_id,
                index,
                count,
                chunk,
            }) => match reassembly.insert(
                now + Duration::from_secs(1),
                peer,
                msg_id,
                index,
                count,
                chunk,
            ) {
                Ok(Some(message)) => {
                    assert!(message.len() <= nostrp2p::mesh::limits::MAX_MESSAGE);
                    completed += 1;
                }
                Ok(None) => {}
                Err(_) => all_ok = false,
            },
            Ok(Frame::Whole(_) | Frame::Keepalive) => completed += 1,
            Err(_) => all_ok = false,
        }
    }
    all_ok && completed > 0
}

/// Most chunk sizes a `tls_frame` input names; the sizes repeat over the stream.
const TLS_FRAME_CUTS_MAX: usize = 16;

/// Bytes per unit of a `tls_frame` chunk size: a size byte of 255 is 2805 bytes, more than
/// one largest frame, so a chunk can hold a whole frame and parts of two others.
const TLS_FRAME_CUT_UNIT: usize = 11;

/// The mesh's TLS fallback framing (`daemon::tls::FrameDecoder`) as a link's reads feed it.
/// Input: `[n][n chunk sizes][stream]`, `n` taken mod [`TLS_FRAME_CUTS_MAX`] + 1, each size
/// byte × [`TLS_FRAME_CUT_UNIT`] bytes (0 pushes an empty read; all zero reads as `[0, 255]`),
/// repeating until the stream ends. After every push the frames are drained as `pump` does, until `None` or an error
/// (the link closes: nothing more is fed). Invariants: every frame is 1..=MAX_DATAGRAM bytes;
/// after draining the decoder holds less than one largest frame, and while draining never
/// more than that plus the last chunk; the frames re-encode to exactly the bytes consumed; an
/// error names a length outside 1..=MAX_DATAGRAM. Accepted: no error, at least one frame,
/// nothing left over.
pub fn tls_frame(data: &[u8]) -> bool {
    use nostrp2p::mesh::limits::MAX_DATAGRAM;
    let Some((&n, rest)) = data.split_first() else {
        return false;
    };
    let n = usize::from(n) % TLS_FRAME_CUTS_MAX + 1;
    if rest.len() < n {
        return false;
    }
    let (mut cuts, mut stream) = rest.split_at(n);
    if cuts.iter().all(|&c| c == 0) {
        // Empty reads only would never end; the stream goes in whole after one of them.
        cuts = &[0, u8::MAX];
    }
    let wire = stream;
    let mut dec = FrameDecoder::default();
    let mut again = Vec::new();
    let mut frames = 0usize;
    let mut pushed = 0usize;
    let mut failed = false;
    'feed: for &cut in cuts.iter().cycle() {
        if stream.is_empty() {
            break;
        }
        let take = (usize::from(cut) * TLS_FRAME_CUT_UNIT).min(stream.len());
        let (chunk, after) = stream.split_at(take);
        stream = after;
        let before = dec.buffered();
        dec.push(chunk);
        pushed += chunk.len();
        assert_eq!(
            dec.buffered(),
            before + chunk.len(),
            "push keeps every byte"
        );
        loop {
            assert!(
                dec.buffered() < 2 + MAX_DATAGRAM + chunk.len(),
                "bounded while draining"
            );
            match dec.next_frame() {
                Ok(Some(frame)) => {
                    assert!(
                        (1..=MAX_DATAGRAM).contains(&frame.len()),
                        "{} bytes",
                        frame.len()
                    );
                    encode_frame(&frame, &mut again);
                    frames += 1;
                }
                Ok(None) => break,
                Err(FrameError::Length(len)) => {
                    assert!(len == 0 || len > MAX_DATAGRAM, "refused length {len}");
                    failed = true;
                    break 'feed;
                }
            }
        }
        assert!(
            dec.buffered() < 2 + MAX_DATAGRAM,
            "at most one partial frame held"
        );
    }
    let consumed = pushed - dec.buffered();
    assert_eq!(
        again,
        wire[..consumed],
        "frames re-encode to the bytes consumed"
    );
    !failed && frames > 0 && dec.buffered() == 0
}
