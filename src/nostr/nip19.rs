//! NIP-19 bech32 entities: `npub`, `nsec`, `note` (32 bare bytes) and the TLV forms `nprofile`
//! and `nevent`. For display and input only (config files, CLI, logs): NIP-19 strings never
//! appear inside events or filters.
//!
//! Decoding is strict where a mistake could point at the wrong identity (checksum, prefix,
//! lengths, canonical padding) and liberal where NIP-19 asks for forward compatibility (unknown
//! TLV types are skipped). BIP-173's 90-character limit is not enforced, since NIP-19's own
//! `nprofile` example is 131 characters; [`MAX_CHARS`] bounds the work instead.

use core::fmt;

use bech32::primitives::decode::{
    CharError, CheckedHrpstring, CheckedHrpstringError, ChecksumError, UncheckedHrpstringError,
};
use bech32::{Checksum, Hrp};

use super::hex::{self, HexError};
use super::types::{EventId, Kind, PubKey};

/// Longest NIP-19 string accepted or produced, in characters (NIP-19 suggests this cap in place
/// of BIP-173's 90). A TLV string this long carries about 3 100 bytes: a pointer with a dozen
/// relays.
pub const MAX_CHARS: usize = 5000;

/// Longest value one TLV entry can carry: its length field is one byte.
pub const MAX_TLV_VALUE_BYTES: usize = 255;

/// NIP-19 TLV types.
const TLV_SPECIAL: u8 = 0;
const TLV_RELAY: u8 = 1;
const TLV_AUTHOR: u8 = 2;
const TLV_KIND: u8 = 3;

/// BIP-173 bech32 with its code length raised to [`MAX_CHARS`]. The stock
/// [`bech32::Bech32`] refuses strings over 1023 characters, the length up to which its checksum
/// guarantees to catch four errors; past that it still catches nearly every typo, and NIP-19
/// wants longer `nprofile`/`nevent` strings to work.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum NostrBech32 {}

impl Checksum for NostrBech32 {
    type MidstateRepr = u32;
    const CODE_LENGTH: usize = MAX_CHARS;
    const CHECKSUM_LENGTH: usize = 6;
    // BIP-173 generator and its four shifts, as in Bitcoin Core's src/bech32.cpp.
    const GENERATOR_SH: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    // BIP-173 bech32 (Bech32m's constant is 0x2bc830a3; NIP-19 uses plain bech32).
    const TARGET_RESIDUE: u32 = 1;
}

/// Why a NIP-19 string (or a hex key offered in its place) was refused. Messages never quote the
/// input, which may be a secret key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Nip19Error {
    #[error("string is {len} characters, over the {limit}-character NIP-19 limit")]
    TooLong { len: usize, limit: usize },
    #[error("not bech32: no '1' separator")]
    MissingSeparator,
    #[error("not bech32: a character is outside the bech32 alphabet")]
    InvalidCharacter,
    #[error("not bech32: mixes upper and lower case")]
    MixedCase,
    #[error("not bech32: the prefix is empty, too long or not printable ASCII")]
    InvalidPrefix,
    #[error("bech32 checksum is wrong (a typo, a truncated string, or bech32m)")]
    BadChecksum,
    #[error("bech32 data has non-zero or excess padding bits")]
    BadPadding,
    #[error("prefix {found:?} is not npub, nsec, note, nprofile or nevent")]
    UnknownPrefix { found: String },
    #[error("expected {expected}, got {found}")]
    WrongPrefix {
        expected: &'static str,
        found: &'static str,
    },
    #[error("{prefix} carries {len} bytes, expected 32")]
    BadLength { prefix: &'static str, len: usize },
    #[error("{prefix} TLV entry of type {tlv_type} claims {claimed} bytes but {available} remain")]
    TruncatedTlv {
        prefix: &'static str,
        tlv_type: u8,
        claimed: usize,
        available: usize,
    },
    #[error("{prefix} TLV entry of type {tlv_type} is {len} bytes, expected {expected}")]
    BadTlvLength {
        prefix: &'static str,
        tlv_type: u8,
        len: usize,
        expected: usize,
    },
    #[error("{prefix} has no type-0 TLV entry")]
    MissingSpecial { prefix: &'static str },
    #[error("relay in {prefix} is not UTF-8")]
    RelayNotUtf8 { prefix: &'static str },
    #[error("kind {0} out of range (0-65535)")]
    KindOutOfRange(u32),
    #[error("relay URL is {len} bytes, over the {limit} one TLV entry holds")]
    RelayTooLong { len: usize, limit: usize },
    #[error("not 64 lowercase hex characters: {0}")]
    BadHex(#[from] HexError),
}

/// A decoded NIP-19 entity.
#[derive(Clone, PartialEq, Eq)]
pub enum Nip19 {
    /// `npub`: a public key.
    Npub(PubKey),
    /// `nsec`: a secret key, not yet checked to be a valid secp256k1 scalar
    /// ([`super::Keys::from_secret_bytes`] does that).
    Nsec([u8; 32]),
    /// `note`: an event id.
    Note(EventId),
    /// `nprofile`: a public key with relay hints.
    Nprofile(Profile),
    /// `nevent`: an event id with relay hints and optional author and kind.
    Nevent(EventPointer),
}

/// Redacts the secret of an `Nsec`, so that logging a decoded value cannot leak a key.
impl fmt::Debug for Nip19 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Npub(pk) => f.debug_tuple("Npub").field(pk).finish(),
            Self::Nsec(_) => f.write_str("Nsec(<redacted>)"),
            Self::Note(id) => f.debug_tuple("Note").field(id).finish(),
            Self::Nprofile(p) => f.debug_tuple("Nprofile").field(p).finish(),
            Self::Nevent(e) => f.debug_tuple("Nevent").field(e).finish(),
        }
    }
}

/// The payload of an `nprofile`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Profile {
    /// TLV type 0.
    pub pubkey: PubKey,
    /// TLV type 1, in string order. NIP-19 says ASCII; any UTF-8 is kept.
    pub relays: Vec<String>,
}

/// The payload of an `nevent`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EventPointer {
    /// TLV type 0.
    pub id: EventId,
    /// TLV type 1, in string order.
    pub relays: Vec<String>,
    /// TLV type 2, the event's author.
    pub author: Option<PubKey>,
    /// TLV type 3 (a u32 on the wire; kinds above 65 535 are refused, DECISIONS.md 5).
    pub kind: Option<Kind>,
}

/// The five prefixes this module speaks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prefix {
    Npub,
    Nsec,
    Note,
    Nprofile,
    Nevent,
}

impl Prefix {
    const ALL: [Self; 5] = [
        Self::Npub,
        Self::Nsec,
        Self::Note,
        Self::Nprofile,
        Self::Nevent,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Npub => "npub",
            Self::Nsec => "nsec",
            Self::Note => "note",
            Self::Nprofile => "nprofile",
            Self::Nevent => "nevent",
        }
    }

    fn hrp(self) -> Hrp {
        Hrp::parse_unchecked(self.as_str())
    }

    /// Matches case-insensitively: BIP-173 allows an all-uppercase string (QR codes).
    fn from_hrp(hrp: Hrp) -> Result<Self, Nip19Error> {
        Self::ALL
            .into_iter()
            .find(|p| p.hrp() == hrp)
            .ok_or_else(|| Nip19Error::UnknownPrefix {
                found: hrp.to_lowercase(),
            })
    }
}

/// Parses a public key given either as `npub1…` or as 64 lowercase hex characters, the two
/// spellings a config file or command line may hold.
pub fn decode_pubkey(s: &str) -> Result<PubKey, Nip19Error> {
    // An npub is 63 characters, so a 64-character string can only be meant as hex.
    if s.len() == 2 * PubKey::LEN {
        return Ok(PubKey(hex::decode_array(s)?));
    }
    let (prefix, data) = decode_bech32(s)?;
    expect_prefix(prefix, Prefix::Npub)?;
    bytes32(prefix, &data).map(PubKey)
}

/// Parses a secret key given either as `nsec1…` or as 64 lowercase hex characters. The bytes are
/// not checked to be a valid secp256k1 scalar: [`super::Keys::from_secret_bytes`] does that.
pub fn decode_secret(s: &str) -> Result<[u8; 32], Nip19Error> {
    if s.len() == 2 * 32 {
        return Ok(hex::decode_array(s)?);
    }
    let (prefix, data) = decode_bech32(s)?;
    expect_prefix(prefix, Prefix::Nsec)?;
    bytes32(prefix, &data)
}

/// Decodes any of the five entities.
pub fn decode(s: &str) -> Result<Nip19, Nip19Error> {
    let (prefix, data) = decode_bech32(s)?;
    Ok(match prefix {
        Prefix::Npub => Nip19::Npub(PubKey(bytes32(prefix, &data)?)),
        Prefix::Nsec => Nip19::Nsec(bytes32(prefix, &data)?),
        Prefix::Note => Nip19::Note(EventId(bytes32(prefix, &data)?)),
        Prefix::Nprofile => Nip19::Nprofile(decode_nprofile(&data)?),
        Prefix::Nevent => Nip19::Nevent(decode_nevent(&data)?),
    })
}

/// `npub1…` of a public key.
#[must_use]
pub fn encode_npub(pubkey: &PubKey) -> String {
    encode_bytes32(Prefix::Npub, &pubkey.0)
}

/// `nsec1…` of a secret key. The result is as secret as the key.
#[must_use]
pub fn encode_nsec(secret: &[u8; 32]) -> String {
    encode_bytes32(Prefix::Nsec, secret)
}

/// `note1…` of an event id.
#[must_use]
pub fn encode_note(id: &EventId) -> String {
    encode_bytes32(Prefix::Note, &id.0)
}

/// `nprofile1…`: TLV entries in the order type 0, then the relays in order. Fails when a relay
/// exceeds [`MAX_TLV_VALUE_BYTES`] or the string would exceed [`MAX_CHARS`].
pub fn encode_nprofile(profile: &Profile) -> Result<String, Nip19Error> {
    let mut tlv = Vec::with_capacity(34 + relays_len(&profile.relays));
    push_tlv(&mut tlv, TLV_SPECIAL, &profile.pubkey.0)?;
    for relay in &profile.relays {
        push_tlv(&mut tlv, TLV_RELAY, relay.as_bytes())?;
    }
    encode_checked(Prefix::Nprofile, &tlv)
}

/// `nevent1…`: TLV entries in the order type 0, relays, author, kind (as other clients write
/// them). Fails like [`encode_nprofile`].
pub fn encode_nevent(pointer: &EventPointer) -> Result<String, Nip19Error> {
    let mut tlv = Vec::with_capacity(34 + relays_len(&pointer.relays) + 34 + 6);
    push_tlv(&mut tlv, TLV_SPECIAL, &pointer.id.0)?;
    for relay in &pointer.relays {
        push_tlv(&mut tlv, TLV_RELAY, relay.as_bytes())?;
    }
    if let Some(author) = &pointer.author {
        push_tlv(&mut tlv, TLV_AUTHOR, &author.0)?;
    }
    if let Some(kind) = pointer.kind {
        push_tlv(&mut tlv, TLV_KIND, &u32::from(kind.0).to_be_bytes())?;
    }
    encode_checked(Prefix::Nevent, &tlv)
}

/// Checks length, characters, checksum and padding, and names the prefix.
fn decode_bech32(s: &str) -> Result<(Prefix, Vec<u8>), Nip19Error> {
    // Bytes, not chars: a valid string is ASCII, and the bound is on work done.
    if s.len() > MAX_CHARS {
        return Err(Nip19Error::TooLong {
            len: s.len(),
            limit: MAX_CHARS,
        });
    }
    let checked = CheckedHrpstring::new::<NostrBech32>(s).map_err(map_bech32_error)?;
    // BIP-173: a trailing group of 4 bits or fewer, all zero. Without this check one payload
    // would have several spellings.
    checked
        .validate_segwit_padding()
        .map_err(|_| Nip19Error::BadPadding)?;
    let prefix = Prefix::from_hrp(checked.hrp())?;
    Ok((prefix, checked.byte_iter().collect()))
}

fn map_bech32_error(e: CheckedHrpstringError) -> Nip19Error {
    match e {
        CheckedHrpstringError::Parse(UncheckedHrpstringError::Char(c)) => match c {
            CharError::MissingSeparator => Nip19Error::MissingSeparator,
            CharError::MixedCase => Nip19Error::MixedCase,
            // An empty data part cannot hold a checksum.
            CharError::NothingAfterSeparator => Nip19Error::BadChecksum,
            _ => Nip19Error::InvalidCharacter,
        },
        CheckedHrpstringError::Parse(UncheckedHrpstringError::Hrp(_)) => Nip19Error::InvalidPrefix,
        CheckedHrpstringError::Checksum(ChecksumError::CodeLength(e)) => Nip19Error::TooLong {
            len: e.encoded_length,
            limit: e.code_length,
        },
        CheckedHrpstringError::Checksum(_) => Nip19Error::BadChecksum,
        // The bech32 error enums are non-exhaustive; a future variant is still a parse failure.
        _ => Nip19Error::InvalidCharacter,
    }
}

fn expect_prefix(found: Prefix, expected: Prefix) -> Result<(), Nip19Error> {
    if found == expected {
        Ok(())
    } else {
        Err(Nip19Error::WrongPrefix {
            expected: expected.as_str(),
            found: found.as_str(),
        })
    }
}

fn bytes32(prefix: Prefix, data: &[u8]) -> Result<[u8; 32], Nip19Error> {
    <[u8; 32]>::try_from(data).map_err(|_| Nip19Error::BadLength {
        prefix: prefix.as_str(),
        len: data.len(),
    })
}

/// TLV entries in order. Stops at the first malformed entry, which it yields as an error.
struct Tlvs<'a> {
    prefix: Prefix,
    rest: &'a [u8],
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Result<(u8, &'a [u8]), Nip19Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let Some((&[tlv_type, len], tail)) = self.rest.split_first_chunk::<2>() else {
            // One dangling byte: a type without a length.
            let tlv_type = self.rest.first().copied()?;
            self.rest = &[];
            return Some(Err(Nip19Error::TruncatedTlv {
                prefix: self.prefix.as_str(),
                tlv_type,
                claimed: 1,
                available: 0,
            }));
        };
        let claimed = usize::from(len);
        match tail.split_at_checked(claimed) {
            Some((value, rest)) => {
                self.rest = rest;
                Some(Ok((tlv_type, value)))
            }
            None => {
                self.rest = &[];
                Some(Err(Nip19Error::TruncatedTlv {
                    prefix: self.prefix.as_str(),
                    tlv_type,
                    claimed,
                    available: tail.len(),
                }))
            }
        }
    }
}

/// A fixed-size TLV value, or the typed error naming its type and length.
fn tlv_array<const N: usize>(
    prefix: Prefix,
    tlv_type: u8,
    value: &[u8],
) -> Result<[u8; N], Nip19Error> {
    <[u8; N]>::try_from(value).map_err(|_| Nip19Error::BadTlvLength {
        prefix: prefix.as_str(),
        tlv_type,
        len: value.len(),
        expected: N,
    })
}

fn tlv_relay(prefix: Prefix, value: &[u8]) -> Result<String, Nip19Error> {
    String::from_utf8(value.to_vec()).map_err(|_| Nip19Error::RelayNotUtf8 {
        prefix: prefix.as_str(),
    })
}

fn decode_nprofile(data: &[u8]) -> Result<Profile, Nip19Error> {
    let prefix = Prefix::Nprofile;
    let mut pubkey = None;
    let mut relays = Vec::new();
    for entry in (Tlvs { prefix, rest: data }) {
        let (tlv_type, value) = entry?;
        match tlv_type {
            // The first type-0 entry wins, as in nostr-tools; later ones are ignored.
            TLV_SPECIAL if pubkey.is_none() => {
                pubkey = Some(PubKey(tlv_array(prefix, tlv_type, value)?));
            }
            TLV_RELAY => relays.push(tlv_relay(prefix, value)?),
            // NIP-19: "ignore any TLV types they don't recognize".
            _ => {}
        }
    }
    let pubkey = pubkey.ok_or(Nip19Error::MissingSpecial {
        prefix: prefix.as_str(),
    })?;
    Ok(Profile { pubkey, relays })
}

fn decode_nevent(data: &[u8]) -> Result<EventPointer, Nip19Error> {
    let prefix = Prefix::Nevent;
    let mut id = None;
    let mut relays = Vec::new();
    let mut author = None;
    let mut kind = None;
    for entry in (Tlvs { prefix, rest: data }) {
        let (tlv_type, value) = entry?;
        match tlv_type {
            TLV_SPECIAL if id.is_none() => id = Some(EventId(tlv_array(prefix, tlv_type, value)?)),
            TLV_RELAY => relays.push(tlv_relay(prefix, value)?),
            TLV_AUTHOR if author.is_none() => {
                author = Some(PubKey(tlv_array(prefix, tlv_type, value)?));
            }
            TLV_KIND if kind.is_none() => {
                let wide = u32::from_be_bytes(tlv_array(prefix, tlv_type, value)?);
                let narrow = u16::try_from(wide).map_err(|_| Nip19Error::KindOutOfRange(wide))?;
                kind = Some(Kind(narrow));
            }
            _ => {}
        }
    }
    let id = id.ok_or(Nip19Error::MissingSpecial {
        prefix: prefix.as_str(),
    })?;
    Ok(EventPointer {
        id,
        relays,
        author,
        kind,
    })
}

fn relays_len(relays: &[String]) -> usize {
    relays.iter().map(|r| 2 + r.len()).sum()
}

fn push_tlv(out: &mut Vec<u8>, tlv_type: u8, value: &[u8]) -> Result<(), Nip19Error> {
    let len = u8::try_from(value.len()).map_err(|_| Nip19Error::RelayTooLong {
        len: value.len(),
        limit: MAX_TLV_VALUE_BYTES,
    })?;
    out.push(tlv_type);
    out.push(len);
    out.extend_from_slice(value);
    Ok(())
}

fn encode_bytes32(prefix: Prefix, bytes: &[u8; 32]) -> String {
    bech32::encode::<NostrBech32>(prefix.hrp(), bytes)
        .expect("32 bytes encode to under 80 characters, far below the code length")
}

fn encode_checked(prefix: Prefix, data: &[u8]) -> Result<String, Nip19Error> {
    let hrp = prefix.hrp();
    bech32::encoded_length::<NostrBech32>(hrp, data).map_err(|e| Nip19Error::TooLong {
        len: e.encoded_length,
        limit: e.code_length,
    })?;
    Ok(bech32::encode::<NostrBech32>(hrp, data)
        .expect("length checked above; writing to a String cannot fail"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bech32::{ByteIterExt, Fe32, Fe32IterExt};
    use proptest::prelude::*;

    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/vectors/nip19-vectors.json"
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
        let naddr = bech32::encode::<bech32::Bech32>(Hrp::parse_unchecked("naddr"), &[0; 40])
            .expect("encodes");
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
        let no_special =
            encode_checked(Prefix::Nevent, &[TLV_RELAY, 2, b'w', b's']).expect("encodes");
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
}
