use super::*;
use proptest::prelude::*;

/// `81 a4 "Evts"`: the envelope every answer starts with.
const ENVELOPE: [u8; 6] = [0x81, 0xa4, b'E', b'v', b't', b's'];
/// 1 700 000 000 as an IEEE-754 float64, big-endian (computed outside Rust).
const CREATED_AT_1_7E9: [u8; 8] = [0x41, 0xd9, 0x54, 0xfc, 0x40, 0x00, 0x00, 0x00];

#[test]
fn empty_list_is_81_a4_evts_90() {
    let bytes = encode_evts(&[]);
    assert_eq!(bytes, [0x81, 0xa4, b'E', b'v', b't', b's', 0x90]);
    assert_eq!(decode_evts(&bytes), Ok(vec![]));
}

#[test]
fn signed_event_matches_the_documented_layout() {
    let ev = event(Kind(1), vec![Tag::new(["e", "abc"])], "hello");
    let mut want = ENVELOPE.to_vec();
    want.extend_from_slice(&[0x91, 0x87]);
    want.extend_from_slice(&[0xa2, b'I', b'd', 0xc4, 0x20]);
    want.extend_from_slice(&[0x11; 32]);
    want.extend_from_slice(&[0xa6, b'P', b'u', b'b', b'k', b'e', b'y', 0xc4, 0x20]);
    want.extend_from_slice(&[0x22; 32]);
    want.push(0xaa);
    want.extend_from_slice(b"Created_at");
    want.push(0xcb);
    want.extend_from_slice(&CREATED_AT_1_7E9);
    want.extend_from_slice(&[0xa4, b'K', b'i', b'n', b'd', 0xcd, 0x00, 0x01]);
    want.extend_from_slice(&[0xa4, b'T', b'a', b'g', b's', 0x91, 0x92]);
    want.extend_from_slice(&[0xc4, 0x01, b'e', 0xc4, 0x03, b'a', b'b', b'c']);
    want.extend_from_slice(&[0xa7, b'C', b'o', b'n', b't', b'e', b'n', b't']);
    want.extend_from_slice(&[0xa5, b'h', b'e', b'l', b'l', b'o']);
    want.extend_from_slice(&[0xa3, b'S', b'i', b'g', 0xc4, 0x40]);
    want.extend_from_slice(&[0x33; 64]);
    assert_eq!(encode_evts(&[UpstreamEvent::signed(&ev)]), want);

    let decoded = decode_evts(&want).expect("golden bytes decode");
    assert_eq!(decoded, vec![record(&ev, true)]);
    assert_eq!(
        decoded.into_iter().next().and_then(|r| r.into_event()),
        Some(ev)
    );
}

#[test]
fn unsigned_event_has_nil_sig() {
    let ev = event(Kind(0), vec![], "{}");
    let mut want = ENVELOPE.to_vec();
    want.extend_from_slice(&[0x91, 0x87]);
    want.extend_from_slice(&[0xa2, b'I', b'd', 0xc4, 0x20]);
    want.extend_from_slice(&[0x11; 32]);
    want.extend_from_slice(&[0xa6, b'P', b'u', b'b', b'k', b'e', b'y', 0xc4, 0x20]);
    want.extend_from_slice(&[0x22; 32]);
    want.push(0xaa);
    want.extend_from_slice(b"Created_at");
    want.push(0xcb);
    want.extend_from_slice(&CREATED_AT_1_7E9);
    want.extend_from_slice(&[0xa4, b'K', b'i', b'n', b'd', 0xcd, 0x00, 0x00]);
    want.extend_from_slice(&[0xa4, b'T', b'a', b'g', b's', 0x90]);
    want.extend_from_slice(&[0xa7, b'C', b'o', b'n', b't', b'e', b'n', b't']);
    want.extend_from_slice(&[0xa2, b'{', b'}']);
    want.extend_from_slice(&[0xa3, b'S', b'i', b'g', 0xc0]);
    assert_eq!(encode_evts(&[UpstreamEvent::unsigned(&ev)]), want);

    let decoded = decode_evts(&want).expect("golden bytes decode");
    assert_eq!(decoded, vec![record(&ev, false)]);
    assert_eq!(
        decoded.into_iter().next().and_then(|r| r.into_event()),
        None
    );
}

#[test]
fn long_strings_take_the_wider_markers() {
    let tag_255 = "t".repeat(255);
    let tag_300 = "u".repeat(300);
    let content_40 = "c".repeat(40);
    let content_300 = "d".repeat(300);
    let first = event(
        Kind(1),
        vec![Tag::new(["r", tag_255.as_str(), tag_300.as_str()])],
        &content_40,
    );
    let second = event(Kind(30_023), vec![], &content_300);
    let bytes = encode_evts(&[
        UpstreamEvent::signed(&first),
        UpstreamEvent::unsigned(&second),
    ]);

    let mut tags = vec![0xa4, b'T', b'a', b'g', b's', 0x91, 0x93, 0xc4, 0x01, b'r'];
    tags.extend_from_slice(&[0xc4, 0xff]);
    tags.extend_from_slice(tag_255.as_bytes());
    tags.extend_from_slice(&[0xc5, 0x01, 0x2c]);
    tags.extend_from_slice(tag_300.as_bytes());
    tags.extend_from_slice(&[0xa7, b'C', b'o', b'n', b't', b'e', b'n', b't', 0xd9, 40]);
    tags.extend_from_slice(content_40.as_bytes());
    assert!(contains(&bytes, &tags), "c4/c5 tags and d9 content");

    let mut second_tail = vec![0xa4, b'K', b'i', b'n', b'd', 0xcd, 0x75, 0x47];
    second_tail.extend_from_slice(&[0xa4, b'T', b'a', b'g', b's', 0x90]);
    second_tail.extend_from_slice(&[0xa7, b'C', b'o', b'n', b't', b'e', b'n', b't']);
    second_tail.extend_from_slice(&[0xda, 0x01, 0x2c]);
    second_tail.extend_from_slice(content_300.as_bytes());
    second_tail.extend_from_slice(&[0xa3, b'S', b'i', b'g', 0xc0]);
    assert!(bytes.ends_with(&second_tail), "da content, nil sig");
    assert_eq!(bytes.get(6), Some(&0x92), "two events");

    assert_eq!(
        decode_evts(&bytes),
        Ok(vec![record(&first, true), record(&second, false)])
    );
}

#[test]
fn tag_fields_of_64_kib_take_c6_and_exceed_the_decoder_limit() {
    let huge = "h".repeat(65_536);
    let ev = event(Kind(1), vec![Tag::new(["alt", huge.as_str()])], "");
    let bytes = encode_evts(&[UpstreamEvent::signed(&ev)]);
    let at = bytes
        .windows(5)
        .position(|w| w == [0xc6, 0x00, 0x01, 0x00, 0x00])
        .expect("bin32 marker with length 65 536");
    let field = bytes.get(at + 5..at + 5 + 65_536);
    assert_eq!(field, Some(huge.as_bytes()));
    assert_eq!(
        decode_evts(&bytes),
        Err(UpstreamError::TagFieldTooLong {
            index: 0,
            tag: 0,
            len: 65_536,
            limit: MAX_TAG_FIELD_BYTES
        })
    );
}

#[test]
fn kind_is_always_cd_and_two_bytes() {
    for (kind, hi, lo) in [(0, 0x00, 0x00), (1, 0x00, 0x01), (40_000, 0x9c, 0x40)] {
        let ev = event(Kind(kind), vec![], "");
        let bytes = encode_evts(&[UpstreamEvent::signed(&ev)]);
        let want = [0xa4, b'K', b'i', b'n', b'd', 0xcd, hi, lo];
        assert!(contains(&bytes, &want), "kind {kind}");
    }
    let ev = event(Kind(u16::MAX), vec![], "");
    let bytes = encode_evts(&[UpstreamEvent::signed(&ev)]);
    assert!(contains(
        &bytes,
        &[b'K', b'i', b'n', b'd', 0xcd, 0xff, 0xff]
    ));
    // Why the encoder is hand-written: rmp-serde writes the smallest integer.
    assert_eq!(rmp_serde::to_vec(&1u16).expect("serializes"), [0x01]);
}

#[test]
fn liberal_forms_upstream_may_write_are_read() {
    // Keys reversed, Kind as a fixint, Created_at as a u32, tags as str, Tags nil.
    let fields = [
        ("Sig", vec![0xc0]),
        ("Content", vec![0xa1, b'x']),
        ("Tags", vec![0x91, 0x91, 0xa1, b'p']),
        ("Kind", vec![0x07]),
        ("Created_at", vec![0xce, 0x65, 0x53, 0xf1, 0x00]),
        ("Pubkey", bin(&[0x22; 32])),
        ("Id", bin(&[0x11; 32])),
    ];
    let decoded = decode_evts(&list(&[map(&fields)])).expect("decodes");
    let want = UpstreamEventRecord {
        id: EventId([0x11; 32]),
        pubkey: PubKey([0x22; 32]),
        created_at: UnixTime(1_700_000_000),
        kind: Kind(7),
        tags: vec![Tag::new(["p"])],
        content: "x".into(),
        sig: None,
    };
    assert_eq!(decoded, vec![want.clone()]);

    let mut nil_tags = good_fields();
    set_field(&mut nil_tags, "Tags", vec![0xc0]);
    let decoded = decode_evts(&list(&[map(&nil_tags)])).expect("decodes");
    assert_eq!(decoded.first().map(|r| r.tags.len()), Some(0));

    let mut nil_list = ENVELOPE.to_vec();
    nil_list.push(0xc0);
    assert_eq!(decode_evts(&nil_list), Ok(vec![]));
}

#[test]
fn bad_created_at_is_refused() {
    let cases: [(&[u8], f64); 4] = [
        (&[0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], 1.5),
        (&[0xcb, 0xbf, 0xf0, 0, 0, 0, 0, 0, 0], -1.0),
        (&[0xd0, 0xff], -1.0),
        (&[0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0], f64::INFINITY),
    ];
    for (value, shown) in cases {
        let mut fields = good_fields();
        set_field(&mut fields, "Created_at", value.to_vec());
        assert_eq!(
            decode_evts(&list(&[map(&fields)])),
            Err(UpstreamError::BadCreatedAt {
                index: 0,
                value: shown
            }),
            "{value:02x?}"
        );
    }
    let mut nan = good_fields();
    set_field(
        &mut nan,
        "Created_at",
        vec![0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1],
    );
    assert!(matches!(
        decode_evts(&list(&[map(&nan)])),
        Err(UpstreamError::BadCreatedAt { index: 0, value }) if value.is_nan()
    ));
    let mut text = good_fields();
    set_field(&mut text, "Created_at", vec![0xa1, b'1']);
    assert!(matches!(
        decode_evts(&list(&[map(&text)])),
        Err(UpstreamError::UnexpectedMarker {
            expected: "integer",
            marker: 0xa1,
            ..
        })
    ));
}

#[test]
fn kinds_beyond_u16_and_negative_kinds_are_refused() {
    for (value, kind) in [
        (vec![0xce, 0x00, 0x01, 0x11, 0x70], 70_000),
        (
            vec![0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            18_446_744_073_709_551_615,
        ),
        (vec![0xff], -1),
    ] {
        let mut fields = good_fields();
        set_field(&mut fields, "Kind", value);
        assert_eq!(
            decode_evts(&list(&[good_event(), map(&fields)])),
            Err(UpstreamError::KindOutOfRange { index: 1, kind })
        );
    }
}

#[test]
fn wrong_bin_lengths_are_refused() {
    let mut short_id = good_fields();
    set_field(&mut short_id, "Id", bin(&[0x11; 31]));
    assert_eq!(
        decode_evts(&list(&[map(&short_id)])),
        Err(UpstreamError::BadLength {
            index: 0,
            key: "Id",
            len: 31,
            expected: 32
        })
    );
    let mut long_pubkey = good_fields();
    set_field(&mut long_pubkey, "Pubkey", bin(&[0x22; 33]));
    assert!(matches!(
        decode_evts(&list(&[map(&long_pubkey)])),
        Err(UpstreamError::BadLength {
            key: "Pubkey",
            len: 33,
            ..
        })
    ));
    let mut short_sig = good_fields();
    set_field(&mut short_sig, "Sig", bin(&[0x33; 63]));
    assert!(matches!(
        decode_evts(&list(&[map(&short_sig)])),
        Err(UpstreamError::BadLength {
            key: "Sig",
            len: 63,
            expected: 64,
            ..
        })
    ));
    let mut str_id = good_fields();
    let mut s = vec![0xd9, 32];
    s.extend_from_slice(&[b'a'; 32]);
    set_field(&mut str_id, "Id", s);
    assert!(matches!(
        decode_evts(&list(&[map(&str_id)])),
        Err(UpstreamError::UnexpectedMarker {
            expected: "bin",
            marker: 0xd9,
            ..
        })
    ));
}

#[test]
fn non_utf8_text_is_refused() {
    let mut tag = good_fields();
    set_field(
        &mut tag,
        "Tags",
        vec![0x91, 0x92, 0xc4, 0x01, b'e', 0xc4, 0x02, 0xc3, 0x28],
    );
    assert_eq!(
        decode_evts(&list(&[map(&tag)])),
        Err(UpstreamError::NotUtf8 {
            index: 0,
            key: "Tags"
        })
    );
    let mut content = good_fields();
    set_field(&mut content, "Content", vec![0xa1, 0xff]);
    assert_eq!(
        decode_evts(&list(&[map(&content)])),
        Err(UpstreamError::NotUtf8 {
            index: 0,
            key: "Content"
        })
    );
}

#[test]
fn keys_must_be_known_present_and_unique() {
    let mut unknown = good_fields();
    unknown.push(("Extra", vec![0xc0]));
    assert_eq!(
        decode_evts(&list(&[map(&unknown)])),
        Err(UpstreamError::UnknownKey { index: 0 })
    );
    let mut twice = good_fields();
    twice.push(("Kind", vec![0x01]));
    assert_eq!(
        decode_evts(&list(&[map(&twice)])),
        Err(UpstreamError::DuplicateKey {
            index: 0,
            key: "Kind"
        })
    );
    let mut missing = good_fields();
    missing.retain(|(k, _)| *k != "Sig");
    assert_eq!(
        decode_evts(&list(&[map(&missing)])),
        Err(UpstreamError::MissingKey {
            index: 0,
            key: "Sig"
        })
    );
    let mut lower = ENVELOPE.to_vec();
    lower.get_mut(2).map(|b| *b = b'e').expect("E at 2");
    lower.push(0x90);
    assert_eq!(decode_evts(&lower), Err(UpstreamError::BadEnvelope));
    assert_eq!(
        decode_evts(&[0x82, 0xa4, b'E', b'v', b't', b's', 0x90, 0xa1, b'x', 0x90]),
        Err(UpstreamError::BadEnvelope)
    );
    assert!(matches!(
        decode_evts(&[0x90]),
        Err(UpstreamError::UnexpectedMarker {
            offset: 0,
            expected: "map",
            marker: 0x90
        })
    ));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = list(&[good_event()]);
    bytes.extend_from_slice(&[0xc0, 0xc0]);
    assert_eq!(
        decode_evts(&bytes),
        Err(UpstreamError::TrailingBytes { count: 2 })
    );
}

#[test]
fn hostile_length_prefixes_are_refused_before_allocating() {
    let mut events = ENVELOPE.to_vec();
    events.extend_from_slice(&[0xdd, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        decode_evts(&events),
        Err(UpstreamError::LengthBeyondInput {
            offset: 6,
            claimed: u64::from(u32::MAX),
            remaining: 0
        })
    );
    let mut tags = good_fields();
    set_field(&mut tags, "Tags", vec![0xdd, 0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(
        decode_evts(&list(&[map(&tags)])),
        Err(UpstreamError::LengthBeyondInput {
            claimed: 4_294_967_295,
            ..
        })
    ));
    let mut many_tags = good_fields();
    let mut value = vec![0xdc, 0x10, 0x01];
    value.extend(core::iter::repeat_n(0x90, MAX_TAGS + 1));
    set_field(&mut many_tags, "Tags", value);
    assert_eq!(
        decode_evts(&list(&[map(&many_tags)])),
        Err(UpstreamError::TooManyTags {
            index: 0,
            count: MAX_TAGS + 1,
            limit: MAX_TAGS
        })
    );
    let mut wide = good_fields();
    let mut value = vec![0x91, 0xdc, 0x00, 0x21];
    value.extend(core::iter::repeat_n(0xa0, MAX_TAG_FIELDS + 1));
    set_field(&mut wide, "Tags", value);
    assert!(matches!(
        decode_evts(&list(&[map(&wide)])),
        Err(UpstreamError::TagTooWide { fields: 33, .. })
    ));
    let mut content = good_fields();
    set_field(
        &mut content,
        "Content",
        vec![0xdb, 0xff, 0xff, 0xff, 0xf0, b'x'],
    );
    assert!(matches!(
        decode_evts(&list(&[map(&content)])),
        Err(UpstreamError::LengthBeyondInput { claimed: 0xffff_fff0, remaining, .. })
            if remaining < 100
    ));
    let mut map_len = ENVELOPE.to_vec();
    map_len.extend_from_slice(&[0x91, 0xdf, 0x7f, 0xff, 0xff, 0xff]);
    assert!(matches!(
        decode_evts(&map_len),
        Err(UpstreamError::LengthBeyondInput { offset: 7, .. })
    ));
}

#[test]
fn every_truncation_of_a_valid_list_is_an_error() {
    let ev = event(Kind(1), vec![Tag::new(["e", "abc", ""])], &"z".repeat(40));
    let bytes = encode_evts(&[UpstreamEvent::signed(&ev), UpstreamEvent::unsigned(&ev)]);
    for cut in 0..bytes.len() {
        let prefix = bytes.get(..cut).expect("cut below len");
        assert!(
            decode_evts(prefix).is_err(),
            "prefix of {cut} bytes decoded"
        );
    }
    assert!(decode_evts(&bytes).is_ok());
}

fn event(kind: Kind, tags: Vec<Tag>, content: &str) -> Event {
    Event {
        id: EventId([0x11; 32]),
        pubkey: PubKey([0x22; 32]),
        created_at: UnixTime(1_700_000_000),
        kind,
        tags,
        content: content.to_owned(),
        sig: Signature([0x33; 64]),
    }
}

fn record(ev: &Event, signed: bool) -> UpstreamEventRecord {
    UpstreamEventRecord {
        id: ev.id,
        pubkey: ev.pubkey,
        created_at: ev.created_at,
        kind: ev.kind,
        tags: ev.tags.clone(),
        content: ev.content.clone(),
        sig: signed.then_some(ev.sig),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A bin8 value built by hand.
fn bin(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0xc4, u8::try_from(bytes.len()).expect("bin8 fixture")];
    out.extend_from_slice(bytes);
    out
}

/// The seven fields of a valid event, each value as raw MessagePack.
fn good_fields() -> Vec<(&'static str, Vec<u8>)> {
    let mut created_at = vec![0xcb];
    created_at.extend_from_slice(&CREATED_AT_1_7E9);
    vec![
        ("Id", bin(&[0x11; 32])),
        ("Pubkey", bin(&[0x22; 32])),
        ("Created_at", created_at),
        ("Kind", vec![0xcd, 0x00, 0x01]),
        ("Tags", vec![0x90]),
        ("Content", vec![0xa0]),
        ("Sig", vec![0xc0]),
    ]
}

fn set_field(fields: &mut [(&'static str, Vec<u8>)], key: &str, value: Vec<u8>) {
    let slot = fields
        .iter_mut()
        .find(|(k, _)| *k == key)
        .expect("known field");
    slot.1 = value;
}

fn good_event() -> Vec<u8> {
    map(&good_fields())
}

/// A fixmap of fixstr keys and raw values.
fn map(fields: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0x80 | u8::try_from(fields.len()).expect("fixmap fixture")];
    for (key, value) in fields {
        out.push(0xa0 | u8::try_from(key.len()).expect("fixstr fixture"));
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// `{"Evts": [events…]}` with a fixarray.
fn list(events: &[Vec<u8>]) -> Vec<u8> {
    let mut out = ENVELOPE.to_vec();
    out.push(0x90 | u8::try_from(events.len()).expect("fixarray fixture"));
    for ev in events {
        out.extend_from_slice(ev);
    }
    out
}

fn arb_event() -> impl Strategy<Value = Event> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        0u64..(1 << 53),
        any::<u16>(),
        proptest::collection::vec(proptest::collection::vec(".{0,40}", 0..4), 0..4),
        ".{0,300}",
        proptest::collection::vec(any::<u8>(), 64),
    )
        .prop_map(|(id, pubkey, created_at, kind, tags, content, sig)| Event {
            id: EventId(id),
            pubkey: PubKey(pubkey),
            created_at: UnixTime(created_at),
            kind: Kind(kind),
            tags: tags.into_iter().map(Tag).collect(),
            content,
            sig: Signature(<[u8; 64]>::try_from(sig).expect("64 bytes")),
        })
}

proptest! {
    #[test]
    fn encode_then_decode_keeps_every_field(
        events in proptest::collection::vec((arb_event(), any::<bool>()), 0..5),
    ) {
        let items: Vec<UpstreamEvent<'_>> = events
            .iter()
            .map(|(ev, signed)| if *signed {
                UpstreamEvent::signed(ev)
            } else {
                UpstreamEvent::unsigned(ev)
            })
            .collect();
        let decoded = decode_evts(&encode_evts(&items)).expect("own output decodes");
        let want: Vec<UpstreamEventRecord> =
            events.iter().map(|(ev, signed)| record(ev, *signed)).collect();
        prop_assert_eq!(decoded, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_evts(&bytes);
    }

    #[test]
    fn corrupted_valid_lists_never_panic(
        ev in arb_event(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode_evts(&[UpstreamEvent::signed(&ev)]);
        for (at, value) in flips {
            let len = bytes.len();
            if let Some(b) = bytes.get_mut(at % len) {
                *b = value;
            }
        }
        let _ = decode_evts(&bytes);
    }
}
