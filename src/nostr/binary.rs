//! The compact binary record of a signed event: the event store's value (fjall `events`
//! keyspace) and, later, the event inside mesh messages.
//!
//! What it is: a byte-exact, canonical encoding of [`Event`] at roughly half its JSON size. Ids,
//! keys and signatures are raw bytes, integers are varints, and tag values that are 64
//! lowercase hex characters (ids and keys in `e`, `p`, `q` … tags) are stored as their 32 bytes.
//! What it is not: a checked event. [`decode`] does not verify the id or the signature (the
//! store trusts its own records; the mesh verifies what peers send), and [`encode`] writes any
//! `Event` as it is.
//!
//! # Layout (format version 1)
//!
//! ```text
//! offset  bytes   field
//! 0       1       format version, 0x01
//! 1       32      id, raw
//! 33      32      pubkey, raw
//! 65      64      sig, raw
//! 129     1–10    created_at            varint
//!         1–3     kind                  varint, ≤ 65 535
//!         1–2     tag count             varint, ≤ MAX_TAGS
//!         per tag:
//!           1       field count         varint, ≤ MAX_TAG_FIELDS
//!           per field:
//!             1–3   header              varint, (len << 1) | packed
//!             len   packed = 0: the field's UTF-8 bytes, len ≤ MAX_TAG_FIELD_BYTES
//!                   packed = 1: len = 32, the bytes of a 64-lowercase-hex field
//!         1–3     content length        varint, ≤ MAX_LIST_EVENT_JSON
//!         len     content, UTF-8
//! ```
//!
//! A varint is unsigned LEB128: seven bits per byte, least significant group first, the high
//! bit set on every byte but the last; at most 10 bytes for a `u64`. A packed field's header is
//! always the one byte `0x41` (len 32, packed 1): `len` counts the bytes that follow, so a
//! reader can skip any field without knowing how it was packed.
//!
//! Fixed fields come first so that [`peek`] finds id, pubkey, created_at and kind at the
//! front without touching tags or content; tags come before content as in NIP-01's order.
//!
//! # One event, one encoding
//!
//! The decoder refuses every alternative spelling, so equal events always have equal records
//! and a record can be compared, hashed or deduplicated as bytes: varints must be minimal (no
//! trailing `0x00` group), a packed header must say 32, an unpacked field must not be 64
//! lowercase hex (it would have been packed), and nothing may follow the content.
//!
//! Only lowercase 64-hex is packed (DECISIONS.md 6): unpacking writes lowercase, so packing
//! `ABC…` or a 63-character value would change the string on the way back and the NIP-01 id
//! would no longer re-compute.
//!
//! # Hostile input
//!
//! Records come from disk and, later, from peers. Decoding never panics, and no length or
//! count is believed before the bytes behind it are known to exist: a claim of 4 GiB fails on
//! a limit or on the remaining input before anything is allocated, so memory stays
//! proportional to the input length.

use super::event::{Event, Tag};
use super::hex;
use super::limits::{MAX_LIST_EVENT_JSON, MAX_TAG_FIELD_BYTES, MAX_TAG_FIELDS, MAX_TAGS};
use super::types::{EventId, Kind, PubKey, Signature, UnixTime};

/// The format version this build writes and reads, the record's first byte. A new layout gets
/// a new number, so the store can tell old records apart and migrate them.
pub const FORMAT_VERSION: u8 = 1;

/// Bytes before the first varint: version, id, pubkey and sig.
const FIXED_LEN: usize = 1 + EventId::LEN + PubKey::LEN + Signature::LEN;

/// Longest LEB128 encoding of a `u64`: ⌈64 / 7⌉ groups.
const MAX_VARINT_LEN: usize = 10;

/// Raw length of a packed tag value: the 32 bytes behind 64 hex characters.
const PACKED_LEN: u64 = 32;

/// The header of every packed field, `(32 << 1) | 1` = `0x41`: one byte.
const PACKED_HEADER: u64 = (PACKED_LEN << 1) | 1;

/// What [`peek`] reads: the fields the store's indexes and retention need, without decoding
/// tags or content.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecordHeader {
    /// The event id, as stored (not re-computed).
    pub id: EventId,
    /// The author.
    pub pubkey: PubKey,
    /// `created_at`.
    pub created_at: UnixTime,
    /// The kind.
    pub kind: Kind,
}

/// Why a record was refused. A record from our own store that fails is corruption or a newer
/// format; one from a peer is that peer's fault. `offset` is the byte where the field starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    #[error("record ends inside {field} (field starts at byte {offset})")]
    Truncated { field: &'static str, offset: usize },
    #[error("byte {offset}: {field} claims {claimed}, more than the {remaining} bytes left")]
    LengthBeyondInput {
        field: &'static str,
        offset: usize,
        claimed: u64,
        remaining: usize,
    },
    #[error("byte {offset}: {field} varint does not fit 64 bits")]
    VarintOverflow { field: &'static str, offset: usize },
    #[error("byte {offset}: {field} varint is not minimal (trailing zero group)")]
    NonMinimalVarint { field: &'static str, offset: usize },
    #[error("record format version {0} is unknown (this build reads {FORMAT_VERSION})")]
    UnknownVersion(u8),
    #[error("byte {offset}: {field} is not UTF-8")]
    InvalidUtf8 { field: &'static str, offset: usize },
    #[error("kind {0} out of range (0-65535)")]
    KindOutOfRange(u64),
    #[error("{count} tags, over the limit of {limit}")]
    TooManyTags { count: u64, limit: usize },
    #[error("tag {tag} has {fields} fields, over the limit of {limit}")]
    TagTooWide {
        tag: usize,
        fields: u64,
        limit: usize,
    },
    #[error("tag {tag} has a field of {len} bytes, over the limit of {limit}")]
    TagFieldTooLong { tag: usize, len: u64, limit: usize },
    #[error("content of {len} bytes, over the limit of {limit}")]
    ContentTooLong { len: u64, limit: usize },
    #[error("tag {tag} field {field}: packed value of {len} bytes, expected 32")]
    BadPackedLength { tag: usize, field: usize, len: u64 },
    #[error("tag {tag} field {field}: 64 lowercase hex characters stored unpacked")]
    UnpackedHex { tag: usize, field: usize },
    #[error("{count} bytes follow the record")]
    TrailingBytes { count: usize },
}

/// Appends the record of `event` to `out` (which may already hold bytes, such as a message
/// header). Writes the fields as they are: an event from [`Event::from_json`] or
/// [`UnsignedEvent::sign`](super::UnsignedEvent::sign) is within the limits [`decode`] checks;
/// one built by hand past them encodes but does not decode.
pub fn encode(event: &Event, out: &mut Vec<u8>) {
    out.reserve(encoded_len(event));
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&event.id.0);
    out.extend_from_slice(&event.pubkey.0);
    out.extend_from_slice(&event.sig.0);
    write_varint(out, event.created_at.0);
    write_varint(out, u64::from(event.kind.0));
    write_varint(out, len_u64(event.tags.len()));
    for tag in &event.tags {
        write_varint(out, len_u64(tag.0.len()));
        for field in &tag.0 {
            if let Some(raw) = packed(field) {
                write_varint(out, PACKED_HEADER);
                out.extend_from_slice(&raw);
            } else {
                write_varint(out, len_u64(field.len()) << 1);
                out.extend_from_slice(field.as_bytes());
            }
        }
    }
    write_varint(out, len_u64(event.content.len()));
    out.extend_from_slice(event.content.as_bytes());
}

/// The exact number of bytes [`encode`] appends for `event`; the store's retention budget
/// counts these (DECISIONS.md 19).
#[must_use]
pub fn encoded_len(event: &Event) -> usize {
    let tags: usize = event
        .tags
        .iter()
        .map(|tag| {
            let fields: usize = tag
                .0
                .iter()
                .map(|field| {
                    if packed(field).is_some() {
                        varint_len(PACKED_HEADER) + 32
                    } else {
                        varint_len(len_u64(field.len()) << 1) + field.len()
                    }
                })
                .sum();
            varint_len(len_u64(tag.0.len())) + fields
        })
        .sum();
    FIXED_LEN
        + varint_len(event.created_at.0)
        + varint_len(u64::from(event.kind.0))
        + varint_len(len_u64(event.tags.len()))
        + tags
        + varint_len(len_u64(event.content.len()))
        + event.content.len()
}

/// Decodes a whole record. Checks the format, the limits and canonical form (see the module
/// docs); does NOT check the id or the signature: call [`Event::verify`] on anything not read
/// back from our own store.
pub fn decode(bytes: &[u8]) -> Result<Event, BinaryError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let (header, sig) = read_front(&mut r)?;
    let tags = read_tags(&mut r)?;

    let offset = r.pos;
    let len = r.varint("content length")?;
    if len > len_u64(MAX_LIST_EVENT_JSON) {
        return Err(BinaryError::ContentTooLong {
            len,
            limit: MAX_LIST_EVENT_JSON,
        });
    }
    let content = utf8(r.take("content", offset, len)?, "content", offset)?;

    match r.remaining() {
        0 => Ok(Event {
            id: header.id,
            pubkey: header.pubkey,
            created_at: header.created_at,
            kind: header.kind,
            tags,
            content: content.to_owned(),
            sig,
        }),
        count => Err(BinaryError::TrailingBytes { count }),
    }
}

/// Reads id, pubkey, created_at and kind from the front of a record without decoding tags or
/// content: the store's queries and retention call this on every record they scan. Success
/// says nothing about the rest of the record; [`decode`] checks that.
pub fn peek(bytes: &[u8]) -> Result<RecordHeader, BinaryError> {
    let (header, _sig) = read_front(&mut Reader { buf: bytes, pos: 0 })?;
    Ok(header)
}

/// Everything before the tags: version, id, pubkey, sig, created_at and kind.
fn read_front(r: &mut Reader<'_>) -> Result<(RecordHeader, Signature), BinaryError> {
    let [version] = r.array("version")?;
    if version != FORMAT_VERSION {
        return Err(BinaryError::UnknownVersion(version));
    }
    let id = EventId(r.array("id")?);
    let pubkey = PubKey(r.array("pubkey")?);
    let sig = Signature(r.array("sig")?);
    let created_at = UnixTime(r.varint("created_at")?);
    let wide = r.varint("kind")?;
    let kind = u16::try_from(wide).map_err(|_| BinaryError::KindOutOfRange(wide))?;
    let header = RecordHeader {
        id,
        pubkey,
        created_at,
        kind: Kind(kind),
    };
    Ok((header, sig))
}

fn read_tags(r: &mut Reader<'_>) -> Result<Vec<Tag>, BinaryError> {
    let offset = r.pos;
    let count = r.varint("tag count")?;
    if count > len_u64(MAX_TAGS) {
        return Err(BinaryError::TooManyTags {
            count,
            limit: MAX_TAGS,
        });
    }
    // Every tag takes at least its one-byte field count.
    let count = r.count("tag count", offset, count)?;
    let mut tags = Vec::with_capacity(count);
    for tag in 0..count {
        let offset = r.pos;
        let fields = r.varint("tag field count")?;
        if fields > len_u64(MAX_TAG_FIELDS) {
            return Err(BinaryError::TagTooWide {
                tag,
                fields,
                limit: MAX_TAG_FIELDS,
            });
        }
        // Every field takes at least its one-byte header.
        let fields = r.count("tag field count", offset, fields)?;
        let mut out = Vec::with_capacity(fields);
        for field in 0..fields {
            out.push(read_field(r, tag, field)?);
        }
        tags.push(Tag(out));
    }
    Ok(tags)
}

fn read_field(r: &mut Reader<'_>, tag: usize, field: usize) -> Result<String, BinaryError> {
    let offset = r.pos;
    let header = r.varint("tag field header")?;
    let len = header >> 1;
    if header & 1 == 1 {
        if len != PACKED_LEN {
            return Err(BinaryError::BadPackedLength { tag, field, len });
        }
        return Ok(hex::encode(&r.array::<32>("packed tag field")?));
    }
    if len > len_u64(MAX_TAG_FIELD_BYTES) {
        return Err(BinaryError::TagFieldTooLong {
            tag,
            len,
            limit: MAX_TAG_FIELD_BYTES,
        });
    }
    let s = utf8(r.take("tag field", offset, len)?, "tag field", offset)?;
    if packed(s).is_some() {
        return Err(BinaryError::UnpackedHex { tag, field });
    }
    Ok(s.to_owned())
}

/// The packing rule, the one place it is decided: exactly 64 lowercase hex characters, whose
/// 32 bytes are stored instead (DECISIONS.md 6).
fn packed(field: &str) -> Option<[u8; 32]> {
    hex::decode_array::<32>(field).ok()
}

fn utf8<'a>(bytes: &'a [u8], field: &'static str, offset: usize) -> Result<&'a str, BinaryError> {
    core::str::from_utf8(bytes).map_err(|_| BinaryError::InvalidUtf8 { field, offset })
}

/// A length as a varint value. `usize` is at most 64 bits on every target we build, so the
/// conversion is lossless; saturating keeps it total anyway.
fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Appends `v` as unsigned LEB128, minimal by construction.
fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        // Truncation to the low seven bits is the point; the high bit marks "more follows".
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes [`write_varint`] writes for `v`.
fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// A cursor over an untrusted record. Every read is bounds-checked; `pos` never passes the end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// `N` fixed bytes.
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], BinaryError> {
        let offset = self.pos;
        let (head, _) = self
            .rest()
            .split_first_chunk::<N>()
            .ok_or(BinaryError::Truncated { field, offset })?;
        self.pos = offset + N;
        Ok(*head)
    }

    /// `len` bytes whose length prefix started at `offset`, refused when the input is shorter.
    fn take(
        &mut self,
        field: &'static str,
        offset: usize,
        len: u64,
    ) -> Result<&'a [u8], BinaryError> {
        let rest = self.rest();
        let out = usize::try_from(len)
            .ok()
            .and_then(|n| rest.get(..n))
            .ok_or(BinaryError::LengthBeyondInput {
                field,
                offset,
                claimed: len,
                remaining: rest.len(),
            })?;
        self.pos += out.len();
        Ok(out)
    }

    /// A count of elements that take at least one byte each, refused when the input cannot
    /// hold them, so that no caller reserves memory for elements that do not exist.
    fn count(
        &self,
        field: &'static str,
        offset: usize,
        claimed: u64,
    ) -> Result<usize, BinaryError> {
        match usize::try_from(claimed) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => Err(BinaryError::LengthBeyondInput {
                field,
                offset,
                claimed,
                remaining: self.remaining(),
            }),
        }
    }

    /// An unsigned LEB128 `u64`, refused when longer than 10 bytes, over 64 bits, or not
    /// minimal (a last byte of 0 after the first adds nothing and would give a second spelling).
    fn varint(&mut self, field: &'static str) -> Result<u64, BinaryError> {
        let offset = self.pos;
        let mut value = 0u64;
        for (i, &byte) in self.rest().iter().take(MAX_VARINT_LEN).enumerate() {
            // The tenth group holds bit 63 alone: anything more, or a continuation, overflows.
            if i == MAX_VARINT_LEN - 1 && byte > 1 {
                return Err(BinaryError::VarintOverflow { field, offset });
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(BinaryError::NonMinimalVarint { field, offset });
                }
                self.pos = offset + i + 1;
                return Ok(value);
            }
        }
        // Ran out of input before the last byte; a tenth byte with a continuation was refused
        // above, so this is always truncation.
        Err(BinaryError::Truncated { field, offset })
    }
}

#[cfg(test)]
mod tests;
