#![allow(clippy::indexing_slicing)]

use proptest::prelude::*;

use super::*;
use crate::nostr::{Keys, UnsignedEvent};

/// A 64-lowercase-hex tag value (a real pubkey), and its bytes written out by hand.
const HEX: &str = "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d";
const HEX_BYTES: [u8; 32] = [
    0x3b, 0xf0, 0xc6, 0x3f, 0xcb, 0x93, 0x46, 0x34, 0x07, 0xaf, 0x97, 0xa5, 0xe5, 0xee, 0x64, 0xfa,
    0x88, 0x3d, 0x10, 0x7e, 0xf9, 0xe5, 0x58, 0x47, 0x2c, 0x4e, 0xb9, 0xaa, 0xae, 0xfa, 0x45, 0x9d,
];

/// The golden event's pubkey (secret `[1; 32]`), id and signature (aux `[0; 32]`), pinned so
/// the fixture cannot drift with the code under test.
const GOLDEN_PUBKEY: &str = "1b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f";
const GOLDEN_ID: &str = "040ba0240b39f10e9ac678dac4bd953ebfd8afabfde68047f85a7ba9ee60ffac";
const GOLDEN_SIG: &str = "ff411e22ca1f8380b8746d0bcc4fc00e64c0c46d0fcceb38c2c6846375dd0763\
                          dedb9fa6976e61dd6f65590d67fb34f9adecba1e8e6788705ad8f90b9ecb0857";

#[test]
fn golden_record_matches_the_documented_layout() {
    let ev = golden_event();
    assert_eq!(ev.pubkey.to_hex(), GOLDEN_PUBKEY);
    assert_eq!(ev.id.to_hex(), GOLDEN_ID);
    assert_eq!(ev.sig.to_hex(), GOLDEN_SIG);

    let mut want = vec![0x01]; // format version
    want.extend_from_slice(&hex::decode_array::<32>(GOLDEN_ID).expect("hex"));
    want.extend_from_slice(&hex::decode_array::<32>(GOLDEN_PUBKEY).expect("hex"));
    want.extend_from_slice(&hex::decode_array::<64>(GOLDEN_SIG).expect("hex"));
    // created_at 1 700 000 000 = 0x6553_f100: groups 0x00, 0x62, 0x4f, 0x2a, 0x06.
    want.extend_from_slice(&[0x80, 0xe2, 0xcf, 0xaa, 0x06]);
    want.push(0x01); // kind 1
    want.push(0x04); // 4 tags
    // ["p", lowercase hex]: packed, header (32 << 1) | 1 = 0x41.
    want.extend_from_slice(&[0x02, 0x02, b'p', 0x41]);
    want.extend_from_slice(&HEX_BYTES);
    // ["p", UPPERCASE hex]: not packed, header 64 << 1 = 128 = 0x80 0x01.
    want.extend_from_slice(&[0x02, 0x02, b'p', 0x80, 0x01]);
    want.extend_from_slice(HEX.to_uppercase().as_bytes());
    // ["e", 63 hex chars]: not packed, header 63 << 1 = 0x7e.
    want.extend_from_slice(&[0x02, 0x02, b'e', 0x7e]);
    want.extend_from_slice(&HEX.as_bytes()[..63]);
    // []: no fields.
    want.push(0x00);
    // content "hi\n✓": 6 bytes, ✓ = U+2713 = e2 9c 93.
    want.extend_from_slice(&[0x06, b'h', b'i', 0x0a, 0xe2, 0x9c, 0x93]);
    assert_eq!(
        want.len(),
        1 + 32 + 32 + 64 + 5 + 1 + 1 + 36 + 69 + 67 + 1 + 7
    );

    let mut got = Vec::new();
    encode(&ev, &mut got);
    assert_eq!(got, want);
    assert_eq!(encoded_len(&ev), want.len());
    let back = decode(&want).expect("golden record decodes");
    assert_eq!(back, ev);
    assert_eq!(back.compute_id(), ev.id);
    assert_eq!(
        peek(&want),
        Ok(RecordHeader {
            id: ev.id,
            pubkey: ev.pubkey,
            created_at: UnixTime(1_700_000_000),
            kind: Kind(1),
        })
    );
}

#[test]
fn encode_appends_after_existing_bytes() {
    let ev = golden_event();
    let mut out = vec![0xaa, 0xbb];
    encode(&ev, &mut out);
    assert_eq!(out[..2], [0xaa, 0xbb]);
    assert_eq!(decode(&out[2..]), Ok(ev));
}

#[test]
fn varints_are_leb128() {
    let cases: &[(u64, &[u8])] = &[
        (0, &[0x00]),
        (1, &[0x01]),
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (300, &[0xac, 0x02]),
        (16_383, &[0xff, 0x7f]),
        (16_384, &[0x80, 0x80, 0x01]),
        (65_535, &[0xff, 0xff, 0x03]),
        (1 << 32, &[0x80, 0x80, 0x80, 0x80, 0x10]),
        (
            u64::MAX,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
    ];
    for &(value, bytes) in cases {
        let mut out = Vec::new();
        write_varint(&mut out, value);
        assert_eq!(out, bytes, "encoding {value}");
        assert_eq!(varint_len(value), bytes.len(), "length of {value}");
        let mut r = Reader { buf: bytes, pos: 0 };
        assert_eq!(r.varint("test"), Ok(value), "decoding {value}");
        assert_eq!(r.pos, bytes.len());
    }
}

#[test]
fn typical_note_is_at_most_60_percent_of_its_json() {
    let ev = typical_note();
    let json = ev.to_json().len();
    let record = encoded_len(&ev);
    assert!((450..=600).contains(&json), "not a ~500-byte event: {json}");
    // Measured: 549 bytes of JSON, 267 bytes of record (49 %). Content is stored 1:1, so
    // the ratio climbs towards 100 % as content outweighs ids, keys and the signature.
    assert!(
        record * 100 <= json * 60,
        "record {record} bytes vs JSON {json} bytes"
    );
    let mut out = Vec::new();
    encode(&ev, &mut out);
    assert_eq!(out.len(), record);
}

#[test]
fn every_truncation_errors() {
    for ev in [golden_event(), typical_note()] {
        let mut bytes = Vec::new();
        encode(&ev, &mut bytes);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "prefix of {len} bytes");
        }
        assert_eq!(decode(&bytes), Ok(ev));
    }
}

#[test]
fn peek_reads_only_the_front() {
    let ev = golden_event();
    let mut bytes = Vec::new();
    encode(&ev, &mut bytes);
    // Version, id, pubkey, sig, created_at (5 bytes), kind (1 byte).
    let front = FIXED_LEN + 6;
    let header = peek(&bytes[..front]).expect("the front alone is enough");
    assert_eq!((header.id, header.kind), (ev.id, Kind(1)));
    assert!(decode(&bytes[..front]).is_err());
    for len in 0..front {
        assert!(peek(&bytes[..len]).is_err(), "prefix of {len} bytes");
    }
    assert_eq!(
        peek(&bytes[..FIXED_LEN + 2]),
        Err(BinaryError::Truncated {
            field: "created_at",
            offset: FIXED_LEN,
        })
    );
}

#[test]
fn length_claims_of_4_gib_error_before_allocating() {
    // 2^32 as a varint.
    let four_gib = [0x80, 0x80, 0x80, 0x80, 0x10];
    // Content length 4 GiB.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.push(0x00);
    bytes.extend_from_slice(&four_gib);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::ContentTooLong {
            len: 1 << 32,
            limit: MAX_LIST_EVENT_JSON,
        })
    );
    // One tag with one unpacked field of 4 GiB: header 2^33.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.extend_from_slice(&[0x01, 0x01, 0x80, 0x80, 0x80, 0x80, 0x20]);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::TagFieldTooLong {
            tag: 0,
            len: 1 << 32,
            limit: MAX_TAG_FIELD_BYTES,
        })
    );
    // 2^32 tags.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.extend_from_slice(&four_gib);
    assert!(matches!(
        decode(&bytes),
        Err(BinaryError::TooManyTags {
            count: 4_294_967_296,
            ..
        })
    ));
    // A content length of u64::MAX: allocating first would abort on capacity overflow.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.push(0x00);
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(matches!(
        decode(&bytes),
        Err(BinaryError::ContentTooLong { len: u64::MAX, .. })
    ));
}

#[test]
fn claims_within_limits_but_beyond_the_input_error() {
    // Content of 200 000 bytes with 3 present.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.push(0x00);
    let content_at = bytes.len();
    bytes.extend_from_slice(&[0xc0, 0x9a, 0x0c, b'a', b'b', b'c']);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::LengthBeyondInput {
            field: "content",
            offset: content_at,
            claimed: 200_000,
            remaining: 3,
        })
    );
    // 4 000 tags with 2 bytes left: refused before reserving 4 000 slots.
    let mut bytes = front(&[0x00], &[0x01]);
    let tags_at = bytes.len();
    bytes.extend_from_slice(&[0xa0, 0x1f, 0x00, 0x00]);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::LengthBeyondInput {
            field: "tag count",
            offset: tags_at,
            claimed: 4_000,
            remaining: 2,
        })
    );
    // 30 fields with 1 byte left.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.extend_from_slice(&[0x01, 0x1e, 0x00]);
    assert!(matches!(
        decode(&bytes),
        Err(BinaryError::LengthBeyondInput {
            field: "tag field count",
            claimed: 30,
            remaining: 1,
            ..
        })
    ));
}

#[test]
fn non_minimal_varints_are_refused() {
    let at = FIXED_LEN;
    // created_at 1 as 0x81 0x00.
    let mut bytes = front(&[0x81, 0x00], &[0x01]);
    bytes.extend_from_slice(&[0x00, 0x00]);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::NonMinimalVarint {
            field: "created_at",
            offset: at,
        })
    );
    assert!(peek(&bytes).is_err());
    // kind 0 as 0x80 0x00.
    let mut bytes = front(&[0x00], &[0x80, 0x00]);
    bytes.extend_from_slice(&[0x00, 0x00]);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::NonMinimalVarint {
            field: "kind",
            offset: at + 1,
        })
    );
    // Tag count 0 as 0x80 0x80 0x00.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.extend_from_slice(&[0x80, 0x80, 0x00, 0x00]);
    assert!(matches!(
        decode(&bytes),
        Err(BinaryError::NonMinimalVarint {
            field: "tag count",
            ..
        })
    ));
    // A one-byte field "x" whose header 2 is spelled 0x82 0x00.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.extend_from_slice(&[0x01, 0x01, 0x82, 0x00, b'x', 0x00]);
    assert!(matches!(
        decode(&bytes),
        Err(BinaryError::NonMinimalVarint {
            field: "tag field header",
            ..
        })
    ));
    // Content length 1 as 0x81 0x00.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.extend_from_slice(&[0x00, 0x81, 0x00, b'x']);
    assert!(matches!(
        decode(&bytes),
        Err(BinaryError::NonMinimalVarint {
            field: "content length",
            ..
        })
    ));
    // The minimal spellings of the same values decode.
    let mut bytes = front(&[0x01], &[0x00]);
    bytes.extend_from_slice(&[0x01, 0x01, 0x02, b'x', 0x01, b'x']);
    let ev = decode(&bytes).expect("minimal varints decode");
    assert_eq!(ev.created_at, UnixTime(1));
    assert_eq!(ev.tags, vec![Tag::new(["x"])]);
}

#[test]
fn overflowing_varints_are_refused() {
    let at = FIXED_LEN;
    // Ten bytes whose last group carries more than bit 63.
    let mut bytes = front(&[0xff; 9], &[]);
    bytes.extend_from_slice(&[0x02, 0x01, 0x00, 0x00]);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::VarintOverflow {
            field: "created_at",
            offset: at,
        })
    );
    // Eleven bytes.
    let mut bytes = front(&[0xff; 10], &[]);
    bytes.extend_from_slice(&[0x01, 0x01, 0x00, 0x00]);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::VarintOverflow {
            field: "created_at",
            offset: at,
        })
    );
    // u64::MAX itself is fine.
    let mut bytes = front(
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        &[0x01],
    );
    bytes.extend_from_slice(&[0x00, 0x00]);
    assert_eq!(decode(&bytes).map(|e| e.created_at), Ok(UnixTime(u64::MAX)));
}

#[test]
fn kinds_above_65535_are_refused() {
    let mut bytes = front(&[0x00], &[0xff, 0xff, 0x03]);
    bytes.extend_from_slice(&[0x00, 0x00]);
    assert_eq!(decode(&bytes).map(|e| e.kind), Ok(Kind(65_535)));
    let mut bytes = front(&[0x00], &[0x80, 0x80, 0x04]);
    bytes.extend_from_slice(&[0x00, 0x00]);
    assert_eq!(decode(&bytes), Err(BinaryError::KindOutOfRange(65_536)));
    assert_eq!(peek(&bytes), Err(BinaryError::KindOutOfRange(65_536)));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = Vec::new();
    encode(&golden_event(), &mut bytes);
    bytes.push(0x00);
    assert_eq!(decode(&bytes), Err(BinaryError::TrailingBytes { count: 1 }));
    bytes.extend_from_slice(&[0x01, 0x02]);
    assert_eq!(decode(&bytes), Err(BinaryError::TrailingBytes { count: 3 }));
}

#[test]
fn unknown_versions_are_refused() {
    let mut bytes = Vec::new();
    encode(&golden_event(), &mut bytes);
    for version in [0x00, 0x02, 0xff] {
        bytes[0] = version;
        assert_eq!(decode(&bytes), Err(BinaryError::UnknownVersion(version)));
        assert_eq!(peek(&bytes), Err(BinaryError::UnknownVersion(version)));
    }
    assert_eq!(
        decode(&[]),
        Err(BinaryError::Truncated {
            field: "version",
            offset: 0,
        })
    );
}

#[test]
fn invalid_utf8_is_refused() {
    // Content: a lone continuation byte.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.push(0x00);
    let at = bytes.len();
    bytes.extend_from_slice(&[0x02, b'a', 0x80]);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::InvalidUtf8 {
            field: "content",
            offset: at,
        })
    );
    // A tag field: a truncated three-byte sequence.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.extend_from_slice(&[0x01, 0x01]);
    let at = bytes.len();
    bytes.extend_from_slice(&[0x04, 0xe2, 0x9c, 0x00]);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::InvalidUtf8 {
            field: "tag field",
            offset: at,
        })
    );
}

#[test]
fn packing_has_one_spelling() {
    // Packed with a length other than 32: 0, 31, 33 and 64 (the hex length, not the bytes).
    let headers: [&[u8]; 4] = [&[0x01], &[0x3f], &[0x43], &[0x81, 0x01]];
    for header in headers {
        let mut bytes = front(&[0x00], &[0x01]);
        bytes.extend_from_slice(&[0x01, 0x01]);
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0x00; 80]);
        assert!(
            matches!(
                decode(&bytes),
                Err(BinaryError::BadPackedLength {
                    tag: 0,
                    field: 0,
                    ..
                })
            ),
            "header {header:02x?}"
        );
    }
    // Lowercase 64-hex spelled out: would be a second encoding of the packed form.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.extend_from_slice(&[0x01, 0x02, 0x02, b'p', 0x80, 0x01]);
    bytes.extend_from_slice(HEX.as_bytes());
    bytes.push(0x00);
    assert_eq!(
        decode(&bytes),
        Err(BinaryError::UnpackedHex { tag: 0, field: 1 })
    );
    // The packed form of the same value decodes to the lowercase string.
    let mut bytes = front(&[0x00], &[0x01]);
    bytes.extend_from_slice(&[0x01, 0x02, 0x02, b'p', 0x41]);
    bytes.extend_from_slice(&HEX_BYTES);
    bytes.push(0x00);
    assert_eq!(
        decode(&bytes).map(|e| e.tags),
        Ok(vec![Tag::new(["p", HEX])])
    );
}

#[test]
fn only_lowercase_64_hex_is_packed() {
    let mut mixed = HEX.to_owned();
    mixed.replace_range(..1, "B"); // "Bbf0…": one uppercase digit
    let not_packed = [
        HEX.to_uppercase(),
        mixed,
        HEX[..63].to_owned(),
        format!("{HEX}0"),
        format!("{}g", &HEX[..63]),
        format!(" {}", &HEX[..63]),
    ];
    for value in not_packed {
        let ev = event_with_tags(vec![Tag::new(["x", value.as_str()])]);
        let mut bytes = Vec::new();
        encode(&ev, &mut bytes);
        let header = u64::try_from(value.len()).expect("small") << 1;
        let mut want_tag = vec![0x01, 0x02, 0x02, b'x'];
        write_varint(&mut want_tag, header);
        want_tag.extend_from_slice(value.as_bytes());
        assert_eq!(
            &bytes[FIXED_LEN + 2..FIXED_LEN + 2 + want_tag.len()],
            want_tag.as_slice(),
            "{value:?}"
        );
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.compute_id(), ev.id, "{value:?}");
    }
}

#[test]
fn limits_are_enforced_at_their_bounds() {
    // MAX_TAGS empty tags decode; one more is refused.
    for (count, ok) in [(MAX_TAGS, true), (MAX_TAGS + 1, false)] {
        let mut bytes = front(&[0x00], &[0x01]);
        write_varint(&mut bytes, len_u64(count));
        bytes.extend(std::iter::repeat_n(0x00, count));
        bytes.push(0x00);
        let got = decode(&bytes);
        assert_eq!(got.is_ok(), ok, "{count} tags: {got:?}");
        if !ok {
            assert!(matches!(got, Err(BinaryError::TooManyTags { .. })));
        }
    }
    // MAX_TAG_FIELDS empty fields decode; one more is refused.
    for (fields, ok) in [(MAX_TAG_FIELDS, true), (MAX_TAG_FIELDS + 1, false)] {
        let mut bytes = front(&[0x00], &[0x01]);
        bytes.push(0x01);
        write_varint(&mut bytes, len_u64(fields));
        bytes.extend(std::iter::repeat_n(0x00, fields));
        bytes.push(0x00);
        let got = decode(&bytes);
        assert_eq!(got.is_ok(), ok, "{fields} fields: {got:?}");
        if !ok {
            assert!(matches!(got, Err(BinaryError::TagTooWide { tag: 0, .. })));
        }
    }
    // A field of MAX_TAG_FIELD_BYTES decodes; one byte more is refused.
    for (len, ok) in [
        (MAX_TAG_FIELD_BYTES, true),
        (MAX_TAG_FIELD_BYTES + 1, false),
    ] {
        let mut bytes = front(&[0x00], &[0x01]);
        bytes.extend_from_slice(&[0x01, 0x01]);
        write_varint(&mut bytes, len_u64(len) << 1);
        bytes.extend(std::iter::repeat_n(b'a', len));
        bytes.push(0x00);
        let got = decode(&bytes);
        assert_eq!(got.is_ok(), ok, "field of {len}: {:?}", got.as_ref().err());
        if !ok {
            assert!(matches!(got, Err(BinaryError::TagFieldTooLong { .. })));
        }
    }
    // Content of MAX_LIST_EVENT_JSON decodes; one byte more is refused.
    for (len, ok) in [
        (MAX_LIST_EVENT_JSON, true),
        (MAX_LIST_EVENT_JSON + 1, false),
    ] {
        let mut bytes = front(&[0x00], &[0x01]);
        bytes.push(0x00);
        write_varint(&mut bytes, len_u64(len));
        bytes.extend(std::iter::repeat_n(b'a', len));
        let got = decode(&bytes);
        assert_eq!(
            got.is_ok(),
            ok,
            "content of {len}: {:?}",
            got.as_ref().err()
        );
        if !ok {
            assert!(matches!(got, Err(BinaryError::ContentTooLong { .. })));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// encode → decode gives the event back, `encoded_len` is exact, the id re-computes from
    /// the decoded fields, and `peek` agrees with the full decode.
    #[test]
    fn round_trip(ev in arb_event()) {
        let mut bytes = Vec::new();
        encode(&ev, &mut bytes);
        prop_assert_eq!(bytes.len(), encoded_len(&ev));
        let back = decode(&bytes).expect("own output decodes");
        prop_assert_eq!(back.compute_id(), ev.id);
        prop_assert_eq!(&back, &ev);
        prop_assert_eq!(peek(&bytes), Ok(RecordHeader {
            id: ev.id,
            pubkey: ev.pubkey,
            created_at: ev.created_at,
            kind: ev.kind,
        }));
    }

    /// Every proper prefix of a valid record is refused.
    #[test]
    fn truncations_error(ev in arb_event()) {
        let mut bytes = Vec::new();
        encode(&ev, &mut bytes);
        for len in 0..bytes.len() {
            prop_assert!(decode(&bytes[..len]).is_err(), "prefix of {}", len);
        }
    }

    /// Random bytes never panic, with or without a valid version byte in front.
    #[test]
    fn arbitrary_bytes_never_panic(
        mut bytes in prop::collection::vec(any::<u8>(), 0..600),
        versioned in any::<bool>(),
    ) {
        if versioned && !bytes.is_empty() {
            bytes[0] = FORMAT_VERSION;
        }
        let _ = peek(&bytes);
        if let Ok(ev) = decode(&bytes) {
            let mut again = Vec::new();
            encode(&ev, &mut again);
            prop_assert_eq!(again, bytes);
        }
    }

    /// Corrupted records never panic, and whatever still decodes re-encodes to the same
    /// bytes: the decoder admits exactly one encoding per event.
    #[test]
    fn corrupted_records_never_panic_and_stay_canonical(
        ev in arb_event(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = Vec::new();
        encode(&ev, &mut bytes);
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        let _ = peek(&bytes);
        if let Ok(back) = decode(&bytes) {
            let mut again = Vec::new();
            encode(&back, &mut again);
            prop_assert_eq!(again, bytes);
        }
    }
}

/// The golden fixture: one packed tag, three that must not be packed (uppercase, 63 chars,
/// empty), and content with a control character and a multi-byte character.
fn golden_event() -> Event {
    let keys = Keys::from_secret_bytes([1; 32]).expect("[1; 32] is a valid secret");
    let tags = vec![
        Tag::new(["p", HEX]),
        Tag::new(["p", HEX.to_uppercase().as_str()]),
        Tag::new(["e", &HEX[..63]]),
        Tag::default(),
    ];
    UnsignedEvent::new(&keys, UnixTime(1_700_000_000), Kind(1), tags, "hi\n✓")
        .sign(&keys, &[0; 32])
        .expect("small event signs")
}

/// A ~500-byte kind-1 reply: an `e` tag with relay hint and marker, a `p` tag, a paragraph.
fn typical_note() -> Event {
    let keys = Keys::from_secret_bytes([7; 32]).expect("[7; 32] is a valid secret");
    let tags = vec![
        Tag::new([
            "e",
            "5c83da77af1dec6d7289834998ad7aafbd9e2191396d75ec3cc27f5a77226f36",
            "wss://nos.lol",
            "reply",
        ]),
        Tag::new(["p", HEX]),
    ];
    let content = "Same here: a Pi Zero 2 W runs it fine.";
    UnsignedEvent::new(&keys, UnixTime(1_718_000_000), Kind(1), tags, content)
        .sign(&keys, &[0; 32])
        .expect("small event signs")
}

/// An event with the given tags and a correct id; the signature is not checked by the codec.
fn event_with_tags(tags: Vec<Tag>) -> Event {
    let keys = Keys::from_secret_bytes([1; 32]).expect("[1; 32] is a valid secret");
    UnsignedEvent::new(&keys, UnixTime(0), Kind(1), tags, "")
        .sign(&keys, &[0; 32])
        .expect("small event signs")
}

/// The front of a hand-built record: version, id 0x11…, pubkey 0x22…, sig 0x33…, then the
/// given created_at and kind bytes, spelled as the test wants them.
fn front(created_at: &[u8], kind: &[u8]) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    out.extend_from_slice(&[0x11; 32]);
    out.extend_from_slice(&[0x22; 32]);
    out.extend_from_slice(&[0x33; 64]);
    out.extend_from_slice(created_at);
    out.extend_from_slice(kind);
    out
}

/// Strings of any char, with JSON escapes, control characters and non-ASCII mixed in.
fn arb_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>(),
            1 => prop::sample::select(vec!['"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', 'é', '✓', '🦀']),
        ],
        0..40,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

/// Tag fields around the packing rule: lowercase 64-hex (packed) and its near misses.
fn arb_field() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => arb_string(),
        3 => "[0-9a-f]{64}",
        1 => "[0-9a-fA-F]{64}",
        1 => "[0-9A-F]{64}",
        1 => "[0-9a-f]{63}",
        1 => "[0-9a-f]{65}",
        1 => "[0-9a-f]{0,40}[g-zG-Z :]",
        1 => "[0-9a-f]{31}[^0-9a-f][0-9a-f]{32}",
    ]
}

/// Events with a correct id over arbitrary fields; the signature is arbitrary bytes, since
/// the codec never checks it (signing here would only slow the test).
fn arb_event() -> impl Strategy<Value = Event> {
    (
        any::<[u8; 32]>(),
        prop_oneof![any::<u64>(), 0u64..2_000_000_000],
        any::<u16>(),
        prop::collection::vec(prop::collection::vec(arb_field(), 0..5).prop_map(Tag), 0..6),
        prop_oneof![arb_string(), "\\PC{0,300}"],
        prop::collection::vec(any::<u8>(), 64),
    )
        .prop_map(|(pubkey, created_at, kind, tags, content, sig)| {
            let mut ev = Event {
                id: EventId([0; 32]),
                pubkey: PubKey(pubkey),
                created_at: UnixTime(created_at),
                kind: Kind(kind),
                tags,
                content,
                sig: Signature(<[u8; 64]>::try_from(sig).expect("64 bytes")),
            };
            ev.id = ev.compute_id();
            ev
        })
}
