//! Replays every committed fuzz corpus file through the same public decoders the fuzz targets
//! call (`fuzz/harness.rs`, included by path), so `cargo test` checks what the fuzzers found
//! without cargo-fuzz (DECISIONS.md 4; docs/fuzzing.md). No input may panic; an input named
//! `valid-*` must be accepted, one named `broken-*` refused. Every target has a corpus with at
//! least one of each.

use std::path::Path;

#[path = "../../fuzz/harness.rs"]
mod harness;

#[test]
fn every_corpus_file_replays_without_panic_and_named_inputs_decode_as_named() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut failures = Vec::new();
    for (target, run) in harness::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        files.sort();
        let named = |prefix: &str| {
            files
                .iter()
                .filter(|p| file_name(p).starts_with(prefix))
                .count()
        };
        assert!(
            named("valid-") > 0 && named("broken-") > 0,
            "{target}: the corpus needs valid-* and broken-* inputs"
        );
        for path in &files {
            let data = std::fs::read(path).expect("read corpus file");
            let name = file_name(path);
            let accepted = std::panic::catch_unwind(|| run(&data))
                .unwrap_or_else(|_| panic!("{target}/{name} panicked"));
            if name.starts_with("valid-") && !accepted {
                failures.push(format!("{target}/{name}: refused"));
            }
            if name.starts_with("broken-") && accepted {
                failures.push(format!("{target}/{name}: accepted"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Writes the hand-made seeds (`valid-*` built with the library's own encoders and keys,
/// `broken-*` written out) into `fuzz/corpus/`: `cargo test --test it write_seed_corpus --
/// --ignored` after a format change. Inputs found by fuzzing sit beside them under their hash
/// names.
#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    use std::net::SocketAddr;
    use std::time::Instant;

    use nostrp2p::mesh::fragment;
    use nostrp2p::mesh::membership::{Entry, Msg};
    use nostrp2p::mesh::wire::NodeId;
    use nostrp2p::mesh::{MeshConfig, MeshNode, PathId};
    use nostrp2p::nostr::{Event, Keys, Kind, PubKey, Tag, UnixTime, UnsignedEvent, binary};

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        std::fs::write(dir.join(name), bytes).expect("write seed");
    };
    let keys = Keys::from_secret_bytes([1; 32]).expect("key");
    let sign = |kind: u16, tags: Vec<Tag>, content: &str| -> Event {
        UnsignedEvent::new(&keys, UnixTime(1_700_000_000), Kind(kind), tags, content)
            .sign(&keys, &[0; 32])
            .expect("sign")
    };
    let hex = |b: u8| format!("{b:02x}").repeat(32);
    let note = sign(1, vec![], "hello from the fuzz corpus");
    let reply = sign(
        1,
        vec![
            Tag::new(["e", &note.id.to_hex()]),
            Tag::new(["p", &keys.public().to_hex()]),
        ],
        "a reply",
    );
    let profile = sign(0, vec![], r#"{"name":"fuzz"}"#);
    let follows = sign(3, vec![Tag::new(["p", &hex(0xab)])], "");
    let events = [
        ("note", &note),
        ("reply", &reply),
        ("profile", &profile),
        ("follows", &follows),
    ];
    let tags_null = note.to_json().replace(r#""tags":[]"#, r#""tags":null"#);
    assert!(tags_null.contains("null"), "{tags_null}");
    put(
        "upstream_publish",
        "valid-tags-null.json",
        tags_null.as_bytes(),
    );
    let mut forged = note.to_json().into_bytes();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'0' { b'1' } else { b'0' };

    for target in ["event_json", "upstream_publish"] {
        for (name, e) in events {
            put(
                target,
                &format!("valid-{name}.json"),
                e.to_json().as_bytes(),
            );
        }
        put(target, "broken-forged-sig.json", &forged);
        put(
            target,
            "broken-truncated.json",
            &note.to_json().as_bytes()[..40],
        );
        put(target, "broken-not-an-object.json", b"[1,2,3]");
        put(target, "broken-kind-too-large.json", br#"{"kind":70000}"#);
    }

    for (name, e) in events {
        let mut record = Vec::new();
        binary::encode(e, &mut record);
        if name == "note" {
            put(
                "binary_record",
                "broken-truncated.bin",
                &record[..record.len() / 2],
            );
            let mut trailing = record.clone();
            trailing.push(0);
            put("binary_record", "broken-trailing-byte.bin", &trailing);
        }
        put("binary_record", &format!("valid-{name}.bin"), &record);
    }
    put("binary_record", "broken-empty.bin", b"");

    let author = keys.public().to_hex();
    let filters = [
        ("kinds", r#"{"kinds":[1,6,7],"limit":20}"#.to_owned()),
        (
            "authors-since",
            format!(r#"{{"authors":["{author}"],"since":1700000000}}"#),
        ),
        (
            "tags",
            format!(r##"{{"#e":["{}"],"#p":["{author}"]}}"##, hex(0x11)),
        ),
        ("empty", "{}".to_owned()),
    ];
    for (name, f) in &filters {
        put("filter_json", &format!("valid-{name}.json"), f.as_bytes());
    }
    put("filter_json", "broken-short-id.json", br#"{"ids":["abc"]}"#);
    put("filter_json", "broken-kinds-type.json", br#"{"kinds":"1"}"#);
    put("filter_json", "broken-not-json.json", b"{kinds:[1]");

    put(
        "upstream_req",
        "valid-first-poll.json",
        br#"{"kinds":[40000],"since":-1,"until":-1,"limit":300}"#,
    );
    put(
        "upstream_req",
        "valid-by-id.json",
        format!(
            r#"{{"kinds":[1],"ids":["{}"],"authors":["{author}"]}}"#,
            note.id.to_hex()
        )
        .as_bytes(),
    );
    put(
        "upstream_req",
        "valid-profile.json",
        format!(r#"{{"kinds":[0],"authors":["{author}"]}}"#).as_bytes(),
    );
    put("upstream_req", "broken-array.json", b"[]");
    put(
        "upstream_req",
        "broken-since-type.json",
        br#"{"kinds":[1],"since":"x"}"#,
    );

    let messages = [
        ("event", format!(r#"["EVENT",{}]"#, note.to_json())),
        (
            "req",
            r#"["REQ","timeline",{"kinds":[1],"limit":50},{"kinds":[7]}]"#.to_owned(),
        ),
        ("close", r#"["CLOSE","timeline"]"#.to_owned()),
        (
            "count",
            format!(r#"["COUNT","c",{{"authors":["{author}"]}}]"#),
        ),
    ];
    for (name, m) in &messages {
        put(
            "ws_client_message",
            &format!("valid-{name}.json"),
            m.as_bytes(),
        );
    }
    put(
        "ws_client_message",
        "broken-unknown.json",
        br#"["AUTH","x"]"#,
    );
    put(
        "ws_client_message",
        "broken-not-array.json",
        br#"{"EVENT":1}"#,
    );
    put(
        "ws_client_message",
        "broken-req-no-filter.json",
        br#"["REQ","s"]"#,
    );
    put(
        "ws_client_message",
        "broken-invalid-utf8.bin",
        b"[\"CLOSE\",\"\xff\"]",
    );

    put(
        "ws_upgrade_head",
        "valid-upgrade.txt",
        b"GET / HTTP/1.1\r\nHost: node:20002\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    put(
        "ws_upgrade_head",
        "valid-nip11.txt",
        b"GET / HTTP/1.1\r\nHost: node\r\nAccept: application/nostr+json\r\n\r\n",
    );
    put("ws_upgrade_head", "broken-no-version.txt", b"GET /\r\n\r\n");
    put(
        "ws_upgrade_head",
        "broken-no-colon.txt",
        b"GET / HTTP/1.1\r\nHost\r\n\r\n",
    );

    // The first byte is the chunk size the scanner is fed in.
    let post = format!(
        "POST /publish HTTP/1.1\r\nHost: n\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{}",
        note.to_json().len(),
        note.to_json()
    );
    put(
        "http_scan",
        "valid-get.txt",
        b"\x40GET /status HTTP/1.1\r\nHost: n\r\n\r\n",
    );
    put(
        "http_scan",
        "valid-post-bytewise.txt",
        format!("\x01{post}").as_bytes(),
    );
    put(
        "http_scan",
        "valid-pipelined.txt",
        format!("\x07\r\n{post}GET /metrics HTTP/1.1\r\n\r\n").as_bytes(),
    );
    put(
        "http_scan",
        "broken-chunked.txt",
        b"\x10POST /req HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    put(
        "http_scan",
        "broken-huge-length.txt",
        b"\x10POST /req HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
    );
    put(
        "http_scan",
        "broken-two-lengths.txt",
        b"\x10POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
    );

    // A real initiation from another node to the fuzz node, and the fuzz node's response.
    let now = Instant::now();
    let other = Keys::from_secret_bytes([2; 32]).expect("key");
    let mut a = MeshNode::new(MeshConfig::default(), &other, [3; 32]).expect("node");
    let fuzz_keys = Keys::from_secret_bytes([7; 32]).expect("key");
    let mut b = MeshNode::new(MeshConfig::default(), &fuzz_keys, [9; 32]).expect("node");
    let b_addr = SocketAddr::from(([192, 0, 2, 2], 4000));
    a.connect(now, PathId::Udp, b_addr).expect("connect");
    let init = a.poll_transmit().expect("initiation").bytes;
    put("mesh_datagram", "valid-initiation.bin", &init);
    b.handle_datagram(
        now,
        PathId::Udp,
        SocketAddr::from(([192, 0, 2, 1], 4000)),
        &init,
    );
    if let Some(t) = b.poll_transmit() {
        put("mesh_datagram", "valid-response.bin", &t.bytes);
    }
    put("mesh_datagram", "broken-short.bin", &init[..10]);
    let mut bad_version = init.clone();
    bad_version[0] = 0xf0 | (bad_version[0] & 0x0f);
    put("mesh_datagram", "broken-version.bin", &bad_version);
    put("mesh_datagram", "broken-too-long.bin", &[0x11; 1500]);

    let entry = Entry {
        node: NodeId(PubKey([0x42; 32])),
        addr: SocketAddr::from(([198, 51, 100, 7], 20000)),
    };
    let mut sample = heapless::Vec::new();
    let _ = sample.push(entry);
    let msgs = [
        ("join", Msg::Join),
        (
            "forward-join",
            Msg::ForwardJoin {
                ttl: 4,
                joiner: entry,
            },
        ),
        ("neighbor", Msg::Neighbor { high: true }),
        ("shuffle", Msg::Shuffle(sample)),
        ("ping", Msg::Ping),
        ("intro-request", Msg::IntroRequest { target: entry.node }),
    ];
    for (name, m) in &msgs {
        put("membership_msg", &format!("valid-{name}.bin"), &m.encode());
    }
    put("membership_msg", "broken-empty.bin", b"");
    put(
        "membership_msg",
        "broken-unknown-type.bin",
        &[0xee, 1, 2, 3],
    );
    let mut cut = msgs[1].1.encode();
    cut.truncate(cut.len() - 3);
    put("membership_msg", "broken-truncated.bin", &cut);

    // Frames as `[peer][len u16 LE][frame]` records (fuzz/harness.rs `fragment`).
    let record = |peer: u8, frame: &[u8]| {
        let mut out = vec![peer];
        out.extend_from_slice(&u16::try_from(frame.len()).expect("short").to_le_bytes());
        out.extend_from_slice(frame);
        out
    };
    let big = note.to_json().repeat(8);
    let in_order: Vec<u8> = fragment::frames(big.as_bytes(), 7)
        .iter()
        .flat_map(|f| record(0, f))
        .collect();
    put("fragment", "valid-in-order.bin", &in_order);
    let mut reversed: Vec<Vec<u8>> = fragment::frames(big.as_bytes(), 8)
        .iter()
        .map(|f| record(1, f))
        .collect();
    reversed.reverse();
    put("fragment", "valid-reversed.bin", &reversed.concat());
    let whole = fragment::frames(b"small", 9);
    put("fragment", "valid-whole.bin", &record(2, &whole[0]));
    put(
        "fragment",
        "broken-count-one.bin",
        &record(0, &[2, 1, 0, 0, 0, 0, 1, b'x']),
    );
    put("fragment", "broken-empty-frame.bin", &record(0, &[]));

    // `[n][n chunk sizes ×11 bytes][stream]` (fuzz/harness.rs `tls_frame`).
    use nostrp2p::daemon::tls::encode_frame;
    let mut wire = Vec::new();
    for d in [&[0x01][..], &[0x22; 148], &[0x33; 1200]] {
        encode_frame(d, &mut wire);
    }
    let with_cuts = |cuts: &[u8], stream: &[u8]| {
        let mut input = vec![u8::try_from(cuts.len() - 1).expect("few cuts")];
        input.extend_from_slice(cuts);
        input.extend_from_slice(stream);
        input
    };
    put(
        "tls_frame",
        "valid-one-chunk.bin",
        &with_cuts(&[255], &wire),
    );
    put(
        "tls_frame",
        "valid-small-cuts.bin",
        &with_cuts(&[0, 1], &wire[..153]),
    );
    put(
        "tls_frame",
        "valid-odd-cuts.bin",
        &with_cuts(&[3, 0, 50, 7], &wire),
    );
    put(
        "tls_frame",
        "broken-zero-length.bin",
        &with_cuts(&[255], &[0, 0, 1]),
    );
    put(
        "tls_frame",
        "broken-too-long.bin",
        &with_cuts(&[255], &[0x04, 0xb1, 0]),
    );
    put(
        "tls_frame",
        "broken-partial.bin",
        &with_cuts(&[1], &wire[..100]),
    );
}
