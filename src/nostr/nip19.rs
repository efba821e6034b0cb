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
mod tests;
