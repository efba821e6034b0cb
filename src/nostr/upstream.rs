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
mod tests;
