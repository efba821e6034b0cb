// Test code indexes freely: a panic here is a failed test, not a crashed daemon.
#![allow(clippy::indexing_slicing)]

use proptest::prelude::*;

use super::*;

fn keys(n: u8) -> Keys {
    Keys::from_secret_bytes([n; 32]).expect("small repeated bytes are a valid scalar")
}

fn note(content: &str, tags: Vec<Tag>) -> Event {
    UnsignedEvent::new(&keys(1), UnixTime(1_700_000_000), Kind(1), tags, content)
        .sign(&keys(1), &[0; 32])
        .expect("small event signs")
}

fn canonical_string(s: &str) -> String {
    let mut out = Vec::new();
    write_json_string(&mut out, s);
    String::from_utf8(out).expect("escaping keeps UTF-8")
}

#[test]
fn canonical_escaping_follows_nip01() {
    assert_eq!(canonical_string("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(canonical_string("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
    assert_eq!(
        canonical_string("\u{0}\u{1}\u{1f}"),
        r#""\u0000\u0001\u001f""#
    );
    // `/`, DEL, U+2028 and non-ASCII stay verbatim.
    assert_eq!(
        canonical_string("/\u{7f}\u{2028}é🙂"),
        "\"/\u{7f}\u{2028}é🙂\""
    );
}

#[test]
fn canonical_escaping_agrees_with_serde_json() {
    // serde_json writes strings the way JSON.stringify does, which is the de-facto NIP-01 rule.
    let all_low: String = (0u8..0x80).map(char::from).collect();
    let expected = serde_json::to_string(&all_low).expect("string serializes");
    assert_eq!(canonical_string(&all_low), expected);
}

#[test]
fn canonical_serialization_layout() {
    let ev = note("hi", vec![Tag::new(["t", "x"]), Tag::new(["e"])]);
    let mut out = Vec::new();
    write_canonical(
        &mut out,
        &ev.pubkey,
        ev.created_at,
        ev.kind,
        &ev.tags,
        &ev.content,
    );
    let expected = format!(r#"[0,"{}",1700000000,1,[["t","x"],["e"]],"hi"]"#, ev.pubkey);
    assert_eq!(String::from_utf8(out).expect("utf-8"), expected);
    assert_eq!(ev.id, EventId(Sha256::digest(expected.as_bytes()).into()));
}

#[test]
fn parse_accepts_any_order_unknown_fields_and_escapes() {
    let ev = note("line\nbreak \u{1} \"q\"", vec![Tag::new(["t", "nostr"])]);
    let json = format!(
        r#"{{"sig":"{}","extra":{{"nested":[1,2,3]}},"content":"line\nbreak \u0001 \"q\"","tags":[["t","nost\u0072"]],"kind":1,"created_at":1700000000,"pubkey":"{}","id":"{}"}}"#,
        ev.sig, ev.pubkey, ev.id
    );
    let parsed = Event::from_json(json.as_bytes()).expect("liberal parse");
    assert_eq!(parsed, ev);
    parsed.verify().expect("id and signature hold");
    assert!(
        !parsed.to_json().contains("extra"),
        "unknown fields are dropped"
    );
}

#[test]
fn verify_detects_every_tampered_field() {
    let ev = note("hello", vec![Tag::new(["p", &keys(2).public().to_hex()])]);
    ev.verify().expect("fresh event verifies");
    let mut c = ev.clone();
    c.content.push('!');
    assert!(matches!(c.verify(), Err(EventError::IdMismatch { .. })));
    let mut t = ev.clone();
    t.tags.push(Tag::new(["t", "x"]));
    assert!(matches!(t.verify(), Err(EventError::IdMismatch { .. })));
    let mut s = ev.clone();
    s.sig.0[10] ^= 1;
    assert_eq!(s.verify(), Err(EventError::BadSignature));
    // Same fields, id recomputed, signed by someone else: the signature fails.
    let mut other = ev.clone();
    other.sig = keys(2).sign(&ev.id.0, &[0; 32]);
    assert_eq!(other.verify(), Err(EventError::BadSignature));
}

#[test]
fn sign_refuses_foreign_keys() {
    let unsigned = UnsignedEvent::new(&keys(1), UnixTime(1), Kind(1), vec![], "x");
    assert_eq!(
        unsigned.sign(&keys(2), &[0; 32]),
        Err(EventError::BadSignature)
    );
}

fn json_with(field: &str, value: &str) -> String {
    let ev = note("x", vec![]);
    let mut v: serde_json::Value = serde_json::from_str(&ev.to_json()).expect("our JSON parses");
    v[field] = serde_json::from_str(value).expect("test value is JSON");
    v.to_string()
}

#[test]
fn malformed_input_gives_typed_errors() {
    let good = note("x", vec![]).to_json();
    // Truncated at every length: always an error, never a panic.
    for cut in 0..good.len() {
        let err = Event::from_json(&good.as_bytes()[..cut]).expect_err("truncated");
        assert!(
            matches!(err, EventError::Malformed(_)),
            "cut {cut}: {err:?}"
        );
    }
    let bad_hex = |field: &str, value: String| {
        Event::from_json(json_with(field, &format!("\"{value}\"")).as_bytes()).expect_err(field)
    };
    let id = note("x", vec![]).id.to_hex();
    assert!(matches!(
        bad_hex("id", id[..62].to_owned()),
        EventError::BadHex {
            field: "id",
            source: HexError::Length {
                expected: 64,
                got: 62
            }
        }
    ));
    assert!(matches!(
        bad_hex("pubkey", id.to_uppercase()),
        EventError::BadHex {
            field: "pubkey",
            source: HexError::Character { .. }
        }
    ));
    assert!(matches!(
        bad_hex("sig", id.clone()),
        EventError::BadHex { field: "sig", .. }
    ));
    let kind = Event::from_json(json_with("kind", "65536").as_bytes());
    assert_eq!(kind, Err(EventError::KindOutOfRange(65_536)));
    for (field, value) in [
        ("kind", "-1"),
        ("kind", "1.5"),
        ("created_at", "-5"),
        ("created_at", "\"1700000000\""),
        ("tags", "[[\"t\", 5]]"),
        ("tags", "[[\"t\", null]]"),
        ("tags", "[\"t\"]"),
        ("tags", "null"),
        ("content", "null"),
    ] {
        let err = Event::from_json(json_with(field, value).as_bytes()).expect_err(field);
        assert!(
            matches!(err, EventError::Malformed(_)),
            "{field}={value}: {err:?}"
        );
    }
    let missing = good.replace("\"sig\"", "\"sog\"");
    assert!(matches!(
        Event::from_json(missing.as_bytes()),
        Err(EventError::Malformed(_))
    ));
}

#[test]
fn invalid_utf8_and_deep_nesting_are_errors() {
    let mut bytes = note("abc", vec![]).to_json().into_bytes();
    let at = bytes
        .windows(3)
        .position(|w| w == b"abc")
        .expect("content present");
    bytes[at] = 0xff;
    assert!(matches!(
        Event::from_json(&bytes),
        Err(EventError::Malformed(_))
    ));
    // Nesting 10 000 deep where strings belong is a type error, found without recursion.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    for field in ["tags", "content", "kind"] {
        let err = Event::from_json(json_with_raw(field, &deep).as_bytes());
        assert!(
            matches!(err, Err(EventError::Malformed(_))),
            "{field}: {err:?}"
        );
    }
    // In an unknown field it is skipped iteratively (no stack growth) and dropped.
    let ev = note("x", vec![]);
    let json = ev
        .to_json()
        .replacen('{', &format!("{{\"deep\":{deep},"), 1);
    assert_eq!(Event::from_json(json.as_bytes()), Ok(ev));
}

/// The event JSON with `field`'s value replaced by raw text (which need not be valid JSON).
fn json_with_raw(field: &str, raw: &str) -> String {
    let placeholder = "\"__placeholder__\"";
    json_with(field, placeholder).replace(placeholder, raw)
}

#[test]
fn limits_are_enforced_with_typed_errors() {
    let big = "a".repeat(1 << 20);
    let err = Event::from_json(json_with("content", &format!("\"{big}\"")).as_bytes());
    assert!(matches!(
        err,
        Err(EventError::TooLarge {
            limit: limits::MAX_LIST_EVENT_JSON,
            ..
        })
    ));
    // 100 KiB passes the list limit but not a kind 1's 64 KiB.
    let mid = "a".repeat(100 * 1024);
    let err = Event::from_json(json_with("content", &format!("\"{mid}\"")).as_bytes());
    assert!(matches!(
        err,
        Err(EventError::TooLarge {
            limit: limits::MAX_EVENT_JSON,
            ..
        })
    ));
    // Signing refuses what peers would refuse.
    let unsigned = UnsignedEvent::new(&keys(1), UnixTime(1), Kind(1), vec![], &mid);
    assert!(matches!(
        unsigned.sign(&keys(1), &[0; 32]),
        Err(EventError::TooLarge { .. })
    ));
    let wide = Tag::new(vec!["x"; MAX_TAG_FIELDS + 1]);
    let err = Event::from_json(
        json_with("tags", &serde_json::to_string(&vec![wide]).expect("tags")).as_bytes(),
    );
    assert!(matches!(err, Err(EventError::TagTooWide { index: 0, .. })));
    let long = Tag::new(["t".to_owned(), "y".repeat(MAX_TAG_FIELD_BYTES + 1)]);
    let tags = serde_json::to_string(&vec![Tag::new(["a"]), long]).expect("tags");
    let err = Event::from_json(json_with("tags", &tags).as_bytes());
    assert!(matches!(
        err,
        Err(EventError::TagFieldTooLong { index: 1, .. })
    ));
    let many = serde_json::to_string(&vec![Tag::new(["t"]); MAX_TAGS + 1]).expect("tags");
    let err = Event::from_json(json_with("tags", &many).as_bytes());
    assert!(matches!(err, Err(EventError::TooManyTags { count, .. }) if count == MAX_TAGS + 1));
}

#[test]
fn follow_lists_may_exceed_64_kib() {
    let tags: Vec<Tag> = (0u16..1200)
        .map(|i| Tag::new(["p".to_owned(), format!("{i:064x}")]))
        .collect();
    let list = UnsignedEvent::new(&keys(1), UnixTime(1), Kind(3), tags, "")
        .sign(&keys(1), &[0; 32])
        .expect("a 1200-entry follow list is within the list limit");
    let json = list.to_json();
    assert!(json.len() > limits::MAX_EVENT_JSON);
    assert_eq!(Event::from_json(json.as_bytes()).expect("parses"), list);
}

fn arb_string() -> impl Strategy<Value = String> {
    // Mostly printable, with the characters that need escaping mixed in.
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>(),
            1 => prop::sample::select(vec!['"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1f}', '\u{7f}', '/']),
        ],
        0..40,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn arb_event() -> impl Strategy<Value = Event> {
    (
        1u8..=8,
        any::<u64>(),
        any::<u16>(),
        prop::collection::vec(
            prop::collection::vec(arb_string(), 0..4).prop_map(Tag),
            0..5,
        ),
        arb_string(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(k, t, kind, tags, content, aux)| {
            UnsignedEvent::new(&keys(k), UnixTime(t), Kind(kind), tags, &content)
                .sign(&keys(k), &aux)
                .expect("small generated events sign")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// JSON → Event → JSON → Event gives equal events and identical bytes, and ids hold.
    #[test]
    fn json_round_trip(ev in arb_event()) {
        let json = ev.to_json();
        let back = Event::from_json(json.as_bytes()).expect("our JSON parses");
        prop_assert_eq!(&back, &ev);
        prop_assert_eq!(back.to_json(), json.clone());
        prop_assert!(back.verify().is_ok());
        // serde's path agrees with ours.
        let via_serde: Event = serde_json::from_str(&serde_json::to_string(&ev).expect("ser"))
            .expect("de");
        prop_assert_eq!(via_serde, ev);
    }

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Event::from_json(&bytes);
    }
}
