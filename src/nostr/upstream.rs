//! Upstream NostrP2P's MessagePack event list: the body of its `POST /req` answers,
//! `{"Evts": [event…]}` (notes/upstream.md §3.5), which its Flutter client decodes.
//!
//! The encoder is written by hand on `rmp` because the layout is Go's (vmihailenco/msgpack):
//! `Kind` is always `0xcd` + u16 and `Created_at` always a float64, while rmp-serde would pick the
//! smallest integer. Tests pin the bytes against hand-built fixtures (DECISIONS.md 3). The decoder
//! takes bytes from strangers: it returns typed errors, never panics, and never allocates on the
//! word of a length prefix beyond what the input could hold.
//!
//! ```text
//! 81 a4 "Evts" 9X|dc|dd            fixmap(1), "Evts", array of N events
//!   87                             fixmap(7) per event, keys in this order:
//!   a2 "Id"         c4 20 <32 B>
//!   a6 "Pubkey"     c4 20 <32 B>
//!   aa "Created_at" cb <float64 BE>
//!   a4 "Kind"       cd <u16 BE>
//!   a4 "Tags"       array of arrays of bin (c4/c5/c6 + UTF-8 bytes)
//!   a7 "Content"    str (a0-bf/d9/da/db)
//!   a3 "Sig"        c4 40 <64 B> | c0
//! ```

use core::convert::Infallible;

use rmp::Marker;
use rmp::encode::{self as enc, ByteBuf, ValueWriteError};

use super::event::{Event, Tag};
use super::limits::{MAX_TAG_FIELD_BYTES, MAX_TAG_FIELDS, MAX_TAGS};
use super::types::{EventId, Kind, PubKey, Signature, UnixTime};

/// The one top-level key.
const EVTS: &str = "Evts";

/// MessagePack nil: `Sig` in answers without signatures.
const NIL: u8 = 0xc0;

/// The event keys, in Go's declaration order, which is the order upstream writes them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Key {
    Id,
    Pubkey,
    CreatedAt,
    Kind,
    Tags,
    Content,
    Sig,
}

impl Key {
    const ALL: [Self; 7] = [
        Self::Id,
        Self::Pubkey,
        Self::CreatedAt,
        Self::Kind,
        Self::Tags,
        Self::Content,
        Self::Sig,
    ];

    /// The Go field name, which is the map key.
    fn name(self) -> &'static str {
        match self {
            Self::Id => "Id",
            Self::Pubkey => "Pubkey",
            Self::CreatedAt => "Created_at",
            Self::Kind => "Kind",
            Self::Tags => "Tags",
            Self::Content => "Content",
            Self::Sig => "Sig",
        }
    }
}

/// Fewest bytes an encoded event can take: its two 32-byte keys alone. Bounds the capacity
/// reserved for a claimed event count.
const MIN_EVENT_BYTES: usize = 64;

/// 2^64 as a float: the first value a `u64` cannot hold.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// Whether an encoded event carries its signature. Upstream sends `Sig` as nil in
/// single-post, profile and follow-list answers, and its client ignores the field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SigField {
    /// `Sig` is `c4 40` and the 64 signature bytes.
    Include,
    /// `Sig` is nil (`c0`).
    Omit,
}

/// One event to encode and whether its signature goes with it.
#[derive(Clone, Copy, Debug)]
pub struct UpstreamEvent<'a> {
    /// The event; its fields are written as they are, without checking.
    pub event: &'a Event,
    /// Whether `Sig` carries the signature or nil.
    pub sig: SigField,
}

impl<'a> UpstreamEvent<'a> {
    /// The event with its signature.
    #[must_use]
    pub fn signed(event: &'a Event) -> Self {
        Self {
            event,
            sig: SigField::Include,
        }
    }

    /// The event with `Sig` nil.
    #[must_use]
    pub fn unsigned(event: &'a Event) -> Self {
        Self {
            event,
            sig: SigField::Omit,
        }
    }
}

/// One decoded event. Nothing is verified: the id and signature are as received.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UpstreamEventRecord {
    /// `Id`.
    pub id: EventId,
    /// `Pubkey`.
    pub pubkey: PubKey,
    /// `Created_at`, an integral float on the wire.
    pub created_at: UnixTime,
    /// `Kind`.
    pub kind: Kind,
    /// `Tags`.
    pub tags: Vec<Tag>,
    /// `Content`.
    pub content: String,
    /// `Sig`, `None` when it was nil.
    pub sig: Option<Signature>,
}

impl UpstreamEventRecord {
    /// The event, when the signature came with it; call [`Event::verify`] before trusting it.
    #[must_use]
    pub fn into_event(self) -> Option<Event> {
        Some(Event {
            id: self.id,
            pubkey: self.pubkey,
            created_at: self.created_at,
            kind: self.kind,
            tags: self.tags,
            content: self.content,
            sig: self.sig?,
        })
    }
}

/// Why an upstream event list was refused. `offset` is the byte position in the input; `index`
/// the event's position in the list.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    #[error("input ends inside a value at byte {offset}")]
    Truncated { offset: usize },
    #[error("byte {offset}: a length of {claimed} exceeds the {remaining} bytes left")]
    LengthBeyondInput {
        offset: usize,
        claimed: u64,
        remaining: usize,
    },
    #[error("byte {offset}: expected {expected}, found marker 0x{marker:02x}")]
    UnexpectedMarker {
        offset: usize,
        expected: &'static str,
        marker: u8,
    },
    #[error("{count} bytes follow the event list")]
    TrailingBytes { count: usize },
    #[error("top level is not a one-entry map keyed \"Evts\"")]
    BadEnvelope,
    #[error("event {index}: unknown key")]
    UnknownKey { index: usize },
    #[error("event {index}: {key} appears twice")]
    DuplicateKey { index: usize, key: &'static str },
    #[error("event {index}: {key} is missing")]
    MissingKey { index: usize, key: &'static str },
    #[error("event {index}: {key} is {len} bytes, expected {expected}")]
    BadLength {
        index: usize,
        key: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("event {index}: Created_at {value} is not a whole, non-negative number of seconds")]
    BadCreatedAt { index: usize, value: f64 },
    #[error("event {index}: kind {kind} out of range (0-65535)")]
    KindOutOfRange { index: usize, kind: i128 },
    #[error("event {index}: {key} is not UTF-8")]
    NotUtf8 { index: usize, key: &'static str },
    #[error("event {index}: {count} tags, over the limit of {limit}")]
    TooManyTags {
        index: usize,
        count: usize,
        limit: usize,
    },
    #[error("event {index}: tag {tag} has {fields} fields, over the limit of {limit}")]
    TagTooWide {
        index: usize,
        tag: usize,
        fields: usize,
        limit: usize,
    },
    #[error("event {index}: tag {tag} has a field of {len} bytes, over the limit of {limit}")]
    TagFieldTooLong {
        index: usize,
        tag: usize,
        len: usize,
        limit: usize,
    },
}

/// Encodes `{"Evts": [...]}` exactly as upstream does (see the module docs).
///
/// # Panics
///
/// On a list, tag or string over 4 GiB, which MessagePack cannot express; events are bounded
/// far below that ([`super::limits`]).
#[must_use]
pub fn encode_evts(events: &[UpstreamEvent<'_>]) -> Vec<u8> {
    let hint: usize = events.iter().map(|e| size_hint(e.event)).sum();
    let mut buf = ByteBuf::with_capacity(8 + hint);
    written(enc::write_map_len(&mut buf, 1));
    written(enc::write_str(&mut buf, EVTS));
    written(enc::write_array_len(&mut buf, len_u32(events.len())));
    for item in events {
        write_event(&mut buf, item);
    }
    buf.into_vec()
}

fn write_event(buf: &mut ByteBuf, item: &UpstreamEvent<'_>) {
    let ev = item.event;
    let key = |buf: &mut ByteBuf, k: Key| written(enc::write_str(buf, k.name()));
    written(enc::write_map_len(buf, len_u32(Key::ALL.len())));
    key(buf, Key::Id);
    written(enc::write_bin(buf, &ev.id.0));
    key(buf, Key::Pubkey);
    written(enc::write_bin(buf, &ev.pubkey.0));
    key(buf, Key::CreatedAt);
    // A float64 on purpose: the Flutter web client cannot read int64. Exact up to 2^53 s.
    written(enc::write_f64(buf, ev.created_at.0 as f64));
    key(buf, Key::Kind);
    // Always 0xcd + u16, even for kinds that fit a fixint: Go writes the uint16 field that way.
    written(enc::write_u16(buf, ev.kind.0));
    key(buf, Key::Tags);
    written(enc::write_array_len(buf, len_u32(ev.tags.len())));
    for tag in &ev.tags {
        written(enc::write_array_len(buf, len_u32(tag.0.len())));
        for field in &tag.0 {
            // Bin, not str, as upstream writes tag strings; its client UTF-8-decodes them.
            written(enc::write_bin(buf, field.as_bytes()));
        }
    }
    key(buf, Key::Content);
    written(enc::write_str(buf, &ev.content));
    key(buf, Key::Sig);
    match item.sig {
        SigField::Include => written(enc::write_bin(buf, &ev.sig.0)),
        SigField::Omit => infallible(enc::write_nil(buf)),
    }
}

/// Bytes an event is likely to take, so the buffer grows once.
fn size_hint(ev: &Event) -> usize {
    let tags: usize = ev
        .tags
        .iter()
        .map(|t| 5 + t.0.iter().map(|f| 5 + f.len()).sum::<usize>())
        .sum();
    200 + tags + ev.content.len()
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("MessagePack lengths are u32; events are bounded far below 4 GiB")
}

/// Unwraps a write into a `ByteBuf`, whose error type is uninhabited.
fn written(r: Result<impl Sized, ValueWriteError<Infallible>>) {
    match r {
        Ok(_) => {}
        Err(ValueWriteError::InvalidMarkerWrite(e) | ValueWriteError::InvalidDataWrite(e)) => {
            match e {}
        }
    }
}

fn infallible(r: Result<(), Infallible>) {
    match r {
        Ok(()) => {}
        Err(e) => match e {},
    }
}

/// Decodes `{"Evts": [...]}`. Accepts what upstream's Go encoder may write beyond our own
/// output: keys in any order, `Evts` or `Tags` as nil, any integer width for `Kind`, an integer
/// or float32 `Created_at`, str and bin interchangeably in tags and content. Refuses anything
/// else, and trailing bytes.
pub fn decode_evts(bytes: &[u8]) -> Result<Vec<UpstreamEventRecord>, UpstreamError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    if r.map_len()? != 1 || r.key()? != EVTS.as_bytes() {
        return Err(UpstreamError::BadEnvelope);
    }
    let count = r.array_len_or_nil()?;
    let mut events = Vec::with_capacity(count.min(r.remaining() / MIN_EVENT_BYTES));
    for index in 0..count {
        events.push(decode_event(&mut r, index)?);
    }
    match r.remaining() {
        0 => Ok(events),
        extra => Err(UpstreamError::TrailingBytes { count: extra }),
    }
}

/// The fields of one event as they arrive, before checking that all are present.
#[derive(Default)]
struct Fields {
    id: Option<EventId>,
    pubkey: Option<PubKey>,
    created_at: Option<UnixTime>,
    kind: Option<Kind>,
    tags: Option<Vec<Tag>>,
    content: Option<String>,
    sig: Option<Option<Signature>>,
}

fn decode_event(r: &mut Reader<'_>, index: usize) -> Result<UpstreamEventRecord, UpstreamError> {
    let mut f = Fields::default();
    let entries = r.map_len()?;
    for _ in 0..entries {
        let raw_key = r.key()?;
        let key = Key::ALL
            .into_iter()
            .find(|k| k.name().as_bytes() == raw_key)
            .ok_or(UpstreamError::UnknownKey { index })?;
        let duplicate = UpstreamError::DuplicateKey {
            index,
            key: key.name(),
        };
        match key {
            Key::Id => set(&mut f.id, EventId(r.bin_array(index, key)?), duplicate)?,
            Key::Pubkey => set(&mut f.pubkey, PubKey(r.bin_array(index, key)?), duplicate)?,
            Key::CreatedAt => set(&mut f.created_at, r.created_at(index)?, duplicate)?,
            Key::Kind => {
                let wide = r.integer()?;
                let kind = u16::try_from(wide)
                    .map_err(|_| UpstreamError::KindOutOfRange { index, kind: wide })?;
                set(&mut f.kind, Kind(kind), duplicate)?;
            }
            Key::Tags => set(&mut f.tags, r.tags(index)?, duplicate)?,
            Key::Content => {
                let content = utf8(r.bytes("str")?, index, key)?;
                set(&mut f.content, content, duplicate)?;
            }
            Key::Sig => {
                let sig = if r.peek()? == NIL {
                    r.skip_byte();
                    None
                } else {
                    Some(Signature(r.bin_array(index, key)?))
                };
                set(&mut f.sig, sig, duplicate)?;
            }
        }
    }
    let missing = |key: Key| UpstreamError::MissingKey {
        index,
        key: key.name(),
    };
    Ok(UpstreamEventRecord {
        id: f.id.ok_or(missing(Key::Id))?,
        pubkey: f.pubkey.ok_or(missing(Key::Pubkey))?,
        created_at: f.created_at.ok_or(missing(Key::CreatedAt))?,
        kind: f.kind.ok_or(missing(Key::Kind))?,
        tags: f.tags.ok_or(missing(Key::Tags))?,
        content: f.content.ok_or(missing(Key::Content))?,
        sig: f.sig.ok_or(missing(Key::Sig))?,
    })
}

/// Stores a field seen for the first time; a second sighting is an error, since which value
/// wins would otherwise depend on the decoder.
fn set<T>(slot: &mut Option<T>, value: T, duplicate: UpstreamError) -> Result<(), UpstreamError> {
    if slot.is_some() {
        return Err(duplicate);
    }
    *slot = Some(value);
    Ok(())
}

fn utf8(bytes: &[u8], index: usize, key: Key) -> Result<String, UpstreamError> {
    core::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| UpstreamError::NotUtf8 {
            index,
            key: key.name(),
        })
}

/// A cursor over untrusted MessagePack. Every read is bounds-checked; no length prefix is
/// believed before the bytes behind it are known to exist.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn peek(&self) -> Result<u8, UpstreamError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(UpstreamError::Truncated { offset: self.pos })
    }

    /// Steps over a byte that [`Reader::peek`] has shown to exist.
    fn skip_byte(&mut self) {
        self.pos = self.pos.saturating_add(1).min(self.buf.len());
    }

    /// A marker: its offset, raw byte and meaning.
    fn marker(&mut self) -> Result<(usize, u8, Marker), UpstreamError> {
        let offset = self.pos;
        let byte = self.peek()?;
        self.skip_byte();
        Ok((offset, byte, Marker::from_u8(byte)))
    }

    /// `N` fixed bytes of a value whose marker was read.
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], UpstreamError> {
        let offset = self.pos;
        let rest = self.buf.get(offset..).unwrap_or_default();
        let (head, _) = rest
            .split_first_chunk::<N>()
            .ok_or(UpstreamError::Truncated { offset })?;
        self.pos = offset + N;
        Ok(*head)
    }

    /// `len` bytes of a string or bin payload, refusing a claim beyond the input.
    fn take(&mut self, len: u64) -> Result<&'a [u8], UpstreamError> {
        let offset = self.pos;
        let rest = self.buf.get(offset..).unwrap_or_default();
        let out = usize::try_from(len)
            .ok()
            .and_then(|n| rest.get(..n))
            .ok_or(UpstreamError::LengthBeyondInput {
                offset,
                claimed: len,
                remaining: rest.len(),
            })?;
        self.pos = offset + out.len();
        Ok(out)
    }

    /// A container length, refused when `min_each` bytes per element would overrun the input,
    /// so that no caller reserves memory for elements that cannot exist.
    fn count(&self, offset: usize, claimed: u32, min_each: u64) -> Result<usize, UpstreamError> {
        let needed = u64::from(claimed) * min_each;
        match usize::try_from(claimed) {
            Ok(n) if u64::try_from(self.remaining()).is_ok_and(|left| needed <= left) => Ok(n),
            _ => Err(UpstreamError::LengthBeyondInput {
                offset,
                claimed: u64::from(claimed),
                remaining: self.remaining(),
            }),
        }
    }

    fn map_len(&mut self) -> Result<usize, UpstreamError> {
        let (offset, byte, marker) = self.marker()?;
        let claimed = match marker {
            Marker::FixMap(n) => u32::from(n),
            Marker::Map16 => u32::from(u16::from_be_bytes(self.fixed()?)),
            Marker::Map32 => u32::from_be_bytes(self.fixed()?),
            _ => return Err(unexpected(offset, "map", byte)),
        };
        // A map entry is at least a key byte and a value byte.
        self.count(offset, claimed, 2)
    }

    /// An array length; nil (Go's nil slice) counts as empty.
    fn array_len_or_nil(&mut self) -> Result<usize, UpstreamError> {
        let (offset, byte, marker) = self.marker()?;
        let claimed = match marker {
            Marker::Null => 0,
            Marker::FixArray(n) => u32::from(n),
            Marker::Array16 => u32::from(u16::from_be_bytes(self.fixed()?)),
            Marker::Array32 => u32::from_be_bytes(self.fixed()?),
            _ => return Err(unexpected(offset, "array", byte)),
        };
        self.count(offset, claimed, 1)
    }

    /// A str or bin payload (Go decodes either into a string); `expected` names the usual form.
    fn bytes(&mut self, expected: &'static str) -> Result<&'a [u8], UpstreamError> {
        let (offset, byte, marker) = self.marker()?;
        let len = match marker {
            Marker::FixStr(n) => u64::from(n),
            Marker::Str8 | Marker::Bin8 => u64::from(u8::from_be_bytes(self.fixed()?)),
            Marker::Str16 | Marker::Bin16 => u64::from(u16::from_be_bytes(self.fixed()?)),
            Marker::Str32 | Marker::Bin32 => u64::from(u32::from_be_bytes(self.fixed()?)),
            _ => return Err(unexpected(offset, expected, byte)),
        };
        self.take(len)
    }

    /// A map key: a str.
    fn key(&mut self) -> Result<&'a [u8], UpstreamError> {
        let offset = self.pos;
        let byte = self.peek()?;
        match Marker::from_u8(byte) {
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => self.bytes("str"),
            _ => Err(unexpected(offset, "str key", byte)),
        }
    }

    /// A bin of exactly `N` bytes.
    fn bin_array<const N: usize>(
        &mut self,
        index: usize,
        key: Key,
    ) -> Result<[u8; N], UpstreamError> {
        let (offset, byte, marker) = self.marker()?;
        let len = match marker {
            Marker::Bin8 => u64::from(u8::from_be_bytes(self.fixed()?)),
            Marker::Bin16 => u64::from(u16::from_be_bytes(self.fixed()?)),
            Marker::Bin32 => u64::from(u32::from_be_bytes(self.fixed()?)),
            _ => return Err(unexpected(offset, "bin", byte)),
        };
        let bytes = self.take(len)?;
        <[u8; N]>::try_from(bytes).map_err(|_| UpstreamError::BadLength {
            index,
            key: key.name(),
            len: bytes.len(),
            expected: N,
        })
    }

    /// Any MessagePack integer, widened so that every encoding fits.
    fn integer(&mut self) -> Result<i128, UpstreamError> {
        let (offset, byte, marker) = self.marker()?;
        let value = match marker {
            Marker::FixPos(n) => i128::from(n),
            Marker::FixNeg(n) => i128::from(n),
            Marker::U8 => i128::from(u8::from_be_bytes(self.fixed()?)),
            Marker::U16 => i128::from(u16::from_be_bytes(self.fixed()?)),
            Marker::U32 => i128::from(u32::from_be_bytes(self.fixed()?)),
            Marker::U64 => i128::from(u64::from_be_bytes(self.fixed()?)),
            Marker::I8 => i128::from(i8::from_be_bytes(self.fixed()?)),
            Marker::I16 => i128::from(i16::from_be_bytes(self.fixed()?)),
            Marker::I32 => i128::from(i32::from_be_bytes(self.fixed()?)),
            Marker::I64 => i128::from(i64::from_be_bytes(self.fixed()?)),
            _ => return Err(unexpected(offset, "integer", byte)),
        };
        Ok(value)
    }

    /// `Created_at`: a float64 as upstream writes it, or a float32 or integer, holding a whole
    /// non-negative number of seconds below 2^64.
    fn created_at(&mut self, index: usize) -> Result<UnixTime, UpstreamError> {
        let value = match Marker::from_u8(self.peek()?) {
            Marker::F64 => {
                self.skip_byte();
                f64::from_be_bytes(self.fixed()?)
            }
            Marker::F32 => {
                self.skip_byte();
                f64::from(f32::from_be_bytes(self.fixed()?))
            }
            _ => {
                let wide = self.integer()?;
                return u64::try_from(wide).map(UnixTime).map_err(|_| {
                    UpstreamError::BadCreatedAt {
                        index,
                        // Only negative values land here; i64 covers them all.
                        value: wide as f64,
                    }
                });
            }
        };
        // NaN and the infinities fail `fract() == 0.0` (their fract is NaN).
        if value.fract() == 0.0 && (0.0..TWO_POW_64).contains(&value) {
            // In range and whole, so the cast is exact.
            Ok(UnixTime(value as u64))
        } else {
            Err(UpstreamError::BadCreatedAt { index, value })
        }
    }

    /// `Tags`: an array of arrays of bin (or str), within the event limits.
    fn tags(&mut self, index: usize) -> Result<Vec<Tag>, UpstreamError> {
        let count = self.array_len_or_nil()?;
        if count > MAX_TAGS {
            return Err(UpstreamError::TooManyTags {
                index,
                count,
                limit: MAX_TAGS,
            });
        }
        let mut tags = Vec::with_capacity(count);
        for tag in 0..count {
            let fields = self.array_len_or_nil()?;
            if fields > MAX_TAG_FIELDS {
                return Err(UpstreamError::TagTooWide {
                    index,
                    tag,
                    fields,
                    limit: MAX_TAG_FIELDS,
                });
            }
            let mut out = Vec::with_capacity(fields);
            for _ in 0..fields {
                let bytes = self.bytes("bin")?;
                if bytes.len() > MAX_TAG_FIELD_BYTES {
                    return Err(UpstreamError::TagFieldTooLong {
                        index,
                        tag,
                        len: bytes.len(),
                        limit: MAX_TAG_FIELD_BYTES,
                    });
                }
                out.push(utf8(bytes, index, Key::Tags)?);
            }
            tags.push(Tag(out));
        }
        Ok(tags)
    }
}

fn unexpected(offset: usize, expected: &'static str, marker: u8) -> UpstreamError {
    UpstreamError::UnexpectedMarker {
        offset,
        expected,
        marker,
    }
}

#[cfg(test)]
mod tests {
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
}
