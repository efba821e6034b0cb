use super::*;
use bech32::{ByteIterExt, Fe32, Fe32IterExt};
use proptest::prelude::*;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/nip19-vectors.json"
);
const NPUB_HEX: &str = "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d";
const NPUB: &str = "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6";
const NSEC_HEX: &str = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa";
const NSEC: &str = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5";

#[test]
fn published_vectors_decode_and_reencode() {
    let text = std::fs::read_to_string(VECTORS).expect("shared NIP-19 vectors readable");
    let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).expect("vector JSON");
    assert!(vectors.len() >= 4, "expected the NIP-19 examples");
    for v in &vectors {
        let s = v["bech32"].as_str().expect("bech32 field");
        let hrp = v["hrp"].as_str().expect("hrp field");
        let decoded = decode(s).unwrap_or_else(|e| panic!("vector {s}: {e}"));
        let reencoded = match (hrp, &decoded) {
            ("npub", Nip19::Npub(pk)) => {
                assert_eq!(pk.to_hex(), v["hex"].as_str().expect("hex"), "vector {s}");
                assert_eq!(decode_pubkey(s).expect("npub"), *pk, "vector {s}");
                encode_npub(pk)
            }
            ("nsec", Nip19::Nsec(sk)) => {
                assert_eq!(
                    hex::encode(sk),
                    v["hex"].as_str().expect("hex"),
                    "vector {s}"
                );
                assert_eq!(decode_secret(s).expect("nsec"), *sk, "vector {s}");
                encode_nsec(sk)
            }
            ("nprofile", Nip19::Nprofile(p)) => {
                let (pubkey, relays) = expected_tlv(v);
                assert_eq!(p.pubkey.to_hex(), pubkey, "vector {s}");
                assert_eq!(p.relays, relays, "vector {s}");
                assert!(
                    s.len() > 90,
                    "vector {s} exercises the lifted 90-char limit"
                );
                encode_nprofile(p).expect("vector re-encodes")
            }
            _ => panic!("vector {s}: hrp {hrp} decoded as {decoded:?}"),
        };
        assert_eq!(reencoded, s, "vector {s} re-encodes to {reencoded}");
    }
}

#[test]
fn hex_and_bech32_keys_are_both_accepted() {
    let pk = PubKey::from_hex(NPUB_HEX).expect("hex");
    assert_eq!(decode_pubkey(NPUB).expect("npub"), pk);
    assert_eq!(decode_pubkey(NPUB_HEX).expect("hex"), pk);
    assert_eq!(
        decode_secret(NSEC).expect("nsec"),
        decode_secret(NSEC_HEX).expect("hex")
    );
    assert_eq!(
        decode_pubkey(NSEC),
        Err(Nip19Error::WrongPrefix {
            expected: "npub",
            found: "nsec"
        })
    );
    assert_eq!(
        decode_secret(NPUB),
        Err(Nip19Error::WrongPrefix {
            expected: "nsec",
            found: "npub"
        })
    );
    assert!(matches!(
        decode_pubkey(&NPUB_HEX.to_uppercase()),
        Err(Nip19Error::BadHex(HexError::Character { position: 1 }))
    ));
    // Not 64 characters, so read as bech32: the hex has a '1' but 'b' follows it.
    assert_eq!(
        decode_pubkey(&NPUB_HEX[..62]),
        Err(Nip19Error::InvalidCharacter)
    );
    assert_eq!(
        decode_pubkey(&"a".repeat(63)),
        Err(Nip19Error::MissingSeparator)
    );
}

#[test]
fn all_uppercase_is_bech32_but_mixed_case_is_refused() {
    let upper = NPUB.to_uppercase();
    assert_eq!(decode_pubkey(&upper), decode_pubkey(NPUB));
    let mut mixed = NPUB.to_owned();
    mixed.replace_range(7..8, &NPUB[7..8].to_uppercase());
    assert_ne!(mixed, NPUB, "position 7 holds a letter");
    assert_eq!(decode(&mixed), Err(Nip19Error::MixedCase));
}

#[test]
fn bad_checksum_truncation_and_bech32m_are_refused() {
    let mut flipped = NPUB.to_owned();
    flipped.replace_range(62..63, "7");
    assert_ne!(flipped, NPUB);
    assert_eq!(decode(&flipped), Err(Nip19Error::BadChecksum));
    assert_eq!(decode(&NPUB[..60]), Err(Nip19Error::BadChecksum));
    assert_eq!(decode("npub1qqq"), Err(Nip19Error::BadChecksum));
    assert_eq!(decode("npub1"), Err(Nip19Error::BadChecksum));
    let pk = PubKey::from_hex(NPUB_HEX).expect("hex");
    let m = bech32::encode::<bech32::Bech32m>(Prefix::Npub.hrp(), &pk.0).expect("encodes");
    assert_eq!(decode(&m), Err(Nip19Error::BadChecksum));
    assert_eq!(decode("npub1b0"), Err(Nip19Error::InvalidCharacter));
    assert_eq!(decode("1qqqqqqqq"), Err(Nip19Error::InvalidPrefix));
    assert_eq!(decode(""), Err(Nip19Error::MissingSeparator));
}

#[test]
fn wrong_prefix_and_wrong_length_are_typed() {
    let naddr =
        bech32::encode::<bech32::Bech32>(Hrp::parse_unchecked("naddr"), &[0; 40]).expect("encodes");
    assert_eq!(
        decode(&naddr),
        Err(Nip19Error::UnknownPrefix {
            found: "naddr".into()
        })
    );
    let short = encode_checked(Prefix::Npub, &[7; 31]).expect("encodes");
    assert_eq!(
        decode(&short),
        Err(Nip19Error::BadLength {
            prefix: "npub",
            len: 31
        })
    );
    let long = encode_checked(Prefix::Note, &[7; 33]).expect("encodes");
    assert_eq!(
        decode(&long),
        Err(Nip19Error::BadLength {
            prefix: "note",
            len: 33
        })
    );
}

#[test]
fn non_zero_padding_is_refused() {
    // 32 bytes take 52 five-bit groups with 4 padding bits; setting them gives a second
    // spelling of the same key that a lax decoder would accept.
    let pk = PubKey::from_hex(NPUB_HEX).expect("hex");
    let mut fes: Vec<Fe32> = pk.0.iter().copied().bytes_to_fes().collect();
    let last = fes.pop().expect("52 groups");
    let padded = Fe32::try_from(last.to_u8() | 0b0001).expect("below 32");
    fes.push(padded);
    let hrp = Prefix::Npub.hrp();
    let s: String = fes
        .into_iter()
        .with_checksum::<bech32::Bech32>(&hrp)
        .chars()
        .collect();
    assert_eq!(
        CheckedHrpstring::new::<NostrBech32>(&s)
            .expect("checksum valid")
            .byte_iter()
            .collect::<Vec<u8>>(),
        pk.0,
        "bech32 itself drops the padding"
    );
    assert_eq!(decode(&s), Err(Nip19Error::BadPadding));
}

#[test]
fn tlv_length_beyond_data_and_missing_special_are_refused() {
    let mut tlv = vec![TLV_SPECIAL, 32];
    tlv.extend_from_slice(&[9; 31]);
    let s = encode_checked(Prefix::Nprofile, &tlv).expect("encodes");
    assert_eq!(
        decode(&s),
        Err(Nip19Error::TruncatedTlv {
            prefix: "nprofile",
            tlv_type: 0,
            claimed: 32,
            available: 31
        })
    );
    let dangling = encode_checked(Prefix::Nevent, &[TLV_RELAY]).expect("encodes");
    assert!(matches!(
        decode(&dangling),
        Err(Nip19Error::TruncatedTlv { tlv_type: 1, .. })
    ));
    let no_special = encode_checked(Prefix::Nevent, &[TLV_RELAY, 2, b'w', b's']).expect("encodes");
    assert_eq!(
        decode(&no_special),
        Err(Nip19Error::MissingSpecial { prefix: "nevent" })
    );
    let empty = encode_checked(Prefix::Nprofile, &[]).expect("encodes");
    assert_eq!(
        decode(&empty),
        Err(Nip19Error::MissingSpecial { prefix: "nprofile" })
    );
}

#[test]
fn tlv_wrong_lengths_kinds_and_bad_relays_are_refused() {
    let with = |extra: &[u8]| {
        let mut tlv = vec![TLV_SPECIAL, 32];
        tlv.extend_from_slice(&[1; 32]);
        tlv.extend_from_slice(extra);
        decode(&encode_checked(Prefix::Nevent, &tlv).expect("encodes"))
    };
    assert_eq!(
        with(&[TLV_AUTHOR, 31]),
        Err(Nip19Error::TruncatedTlv {
            prefix: "nevent",
            tlv_type: 2,
            claimed: 31,
            available: 0
        })
    );
    let mut short_author = vec![TLV_AUTHOR, 31];
    short_author.extend_from_slice(&[2; 31]);
    assert_eq!(
        with(&short_author),
        Err(Nip19Error::BadTlvLength {
            prefix: "nevent",
            tlv_type: 2,
            len: 31,
            expected: 32
        })
    );
    assert_eq!(
        with(&[TLV_KIND, 2, 0, 1]),
        Err(Nip19Error::BadTlvLength {
            prefix: "nevent",
            tlv_type: 3,
            len: 2,
            expected: 4
        })
    );
    assert_eq!(
        with(&[TLV_KIND, 4, 0, 1, 0, 0]),
        Err(Nip19Error::KindOutOfRange(65_536))
    );
    assert_eq!(
        with(&[TLV_RELAY, 2, 0xff, 0xfe]),
        Err(Nip19Error::RelayNotUtf8 { prefix: "nevent" })
    );
    let mut short_special = vec![TLV_SPECIAL, 31];
    short_special.extend_from_slice(&[1; 31]);
    let s = encode_checked(Prefix::Nprofile, &short_special).expect("encodes");
    assert!(matches!(
        decode(&s),
        Err(Nip19Error::BadTlvLength {
            tlv_type: 0,
            len: 31,
            ..
        })
    ));
}

#[test]
fn unknown_tlv_types_are_skipped() {
    let mut tlv = vec![9, 3, 1, 2, 3, TLV_SPECIAL, 32];
    tlv.extend_from_slice(&[4; 32]);
    tlv.extend_from_slice(&[TLV_RELAY, 3, b'w', b's', b's', 200, 0]);
    let s = encode_checked(Prefix::Nevent, &tlv).expect("encodes");
    assert_eq!(
        decode(&s),
        Ok(Nip19::Nevent(EventPointer {
            id: EventId([4; 32]),
            relays: vec!["wss".into()],
            author: None,
            kind: None,
        }))
    );
}

#[test]
fn strings_between_1024_and_5000_chars_work_and_5001_does_not() {
    let profile = Profile {
        pubkey: PubKey([5; 32]),
        relays: (0..12)
            .map(|i| format!("wss://relay{i}.example.com/{}", "p".repeat(180)))
            .collect(),
    };
    let s = encode_nprofile(&profile).expect("fits 5000 chars");
    assert!(s.len() > 1023 && s.len() <= MAX_CHARS, "{} chars", s.len());
    assert!(
        bech32::decode(&s).is_err(),
        "stock bech32 caps at 1023 chars"
    );
    assert_eq!(decode(&s), Ok(Nip19::Nprofile(profile.clone())));

    let mut too_long = s.clone();
    too_long.extend(core::iter::repeat_n('q', MAX_CHARS + 1 - s.len()));
    assert_eq!(
        decode(&too_long),
        Err(Nip19Error::TooLong {
            len: 5001,
            limit: MAX_CHARS
        })
    );
    assert_eq!(
        decode_pubkey(&"q".repeat(5001)),
        Err(Nip19Error::TooLong {
            len: 5001,
            limit: MAX_CHARS
        })
    );

    let mut bigger = profile;
    bigger.relays.extend(bigger.relays.clone());
    assert!(matches!(
        encode_nprofile(&bigger),
        Err(Nip19Error::TooLong {
            limit: MAX_CHARS,
            ..
        })
    ));
    let huge_relay = Profile {
        pubkey: PubKey([5; 32]),
        relays: vec!["r".repeat(256)],
    };
    assert_eq!(
        encode_nprofile(&huge_relay),
        Err(Nip19Error::RelayTooLong {
            len: 256,
            limit: 255
        })
    );
}

#[test]
fn nevent_field_order_is_special_relays_author_kind() {
    let pointer = EventPointer {
        id: EventId([1; 32]),
        relays: vec!["wss://a".into(), "wss://b".into()],
        author: Some(PubKey([2; 32])),
        kind: Some(Kind(1)),
    };
    let s = encode_nevent(&pointer).expect("encodes");
    let checked = CheckedHrpstring::new::<NostrBech32>(&s).expect("valid");
    let bytes: Vec<u8> = checked.byte_iter().collect();
    let mut expected = vec![0, 32];
    expected.extend_from_slice(&[1; 32]);
    expected.extend_from_slice(b"\x01\x07wss://a\x01\x07wss://b\x02\x20");
    expected.extend_from_slice(&[2; 32]);
    expected.extend_from_slice(&[3, 4, 0, 0, 0, 1]);
    assert_eq!(bytes, expected);
    assert_eq!(decode(&s), Ok(Nip19::Nevent(pointer)));
}

#[test]
fn nsec_debug_is_redacted() {
    let decoded = decode(NSEC).expect("nsec");
    let shown = format!("{decoded:?}");
    assert_eq!(shown, "Nsec(<redacted>)");
    assert!(!shown.contains(&NSEC_HEX[..8]));
}

#[test]
fn custom_checksum_is_bech32() {
    NostrBech32::sanity_check();
    let data = [0xab; 32];
    assert_eq!(
        bech32::encode::<NostrBech32>(Prefix::Note.hrp(), &data).expect("encodes"),
        bech32::encode::<bech32::Bech32>(Prefix::Note.hrp(), &data).expect("encodes")
    );
}

fn expected_tlv(v: &serde_json::Value) -> (String, Vec<String>) {
    let mut pubkey = String::new();
    let mut relays = Vec::new();
    for entry in v["tlv"].as_array().expect("tlv array") {
        match entry["t"].as_u64() {
            Some(0) => pubkey = entry["hex"].as_str().expect("hex").to_owned(),
            Some(1) => relays.push(entry["ascii"].as_str().expect("ascii").to_owned()),
            t => panic!("unexpected TLV type {t:?} in vector"),
        }
    }
    (pubkey, relays)
}

fn relay() -> impl Strategy<Value = String> {
    "[ -~]{0,60}"
}

proptest! {
    #[test]
    fn npub_round_trips(bytes: [u8; 32]) {
        let s = encode_npub(&PubKey(bytes));
        prop_assert_eq!(decode(&s), Ok(Nip19::Npub(PubKey(bytes))));
        prop_assert_eq!(decode_pubkey(&s), Ok(PubKey(bytes)));
    }

    #[test]
    fn nsec_round_trips(bytes: [u8; 32]) {
        let s = encode_nsec(&bytes);
        prop_assert_eq!(decode(&s), Ok(Nip19::Nsec(bytes)));
        prop_assert_eq!(decode_secret(&s), Ok(bytes));
    }

    #[test]
    fn note_round_trips(bytes: [u8; 32]) {
        let s = encode_note(&EventId(bytes));
        prop_assert_eq!(decode(&s), Ok(Nip19::Note(EventId(bytes))));
    }

    #[test]
    fn nprofile_round_trips(
        pubkey: [u8; 32],
        relays in proptest::collection::vec(relay(), 0..6),
    ) {
        let profile = Profile { pubkey: PubKey(pubkey), relays };
        let s = encode_nprofile(&profile).expect("small enough");
        prop_assert_eq!(decode(&s), Ok(Nip19::Nprofile(profile)));
    }

    #[test]
    fn nevent_round_trips(
        id: [u8; 32],
        relays in proptest::collection::vec(relay(), 0..6),
        author: Option<[u8; 32]>,
        kind: Option<u16>,
    ) {
        let pointer = EventPointer {
            id: EventId(id),
            relays,
            author: author.map(PubKey),
            kind: kind.map(Kind),
        };
        let s = encode_nevent(&pointer).expect("small enough");
        prop_assert_eq!(decode(&s), Ok(Nip19::Nevent(pointer)));
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,200}") {
        let _ = decode(&s);
        let _ = decode_pubkey(&s);
        let _ = decode_secret(&s);
    }

    #[test]
    fn arbitrary_tlv_payloads_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        nevent: bool,
    ) {
        let prefix = if nevent { Prefix::Nevent } else { Prefix::Nprofile };
        let s = encode_checked(prefix, &data).expect("300 bytes fit");
        let _ = decode(&s);
    }
}
