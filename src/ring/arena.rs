//! The ring's storage: the slot index (one `heapless::Deque` per tier, used through
//! `DequeView` so the logic exists once), the byte arena used as a circular log, and the tag
//! digest that lets tag filters skip most slots without parsing.
//!
//! A record is `id ‖ pubkey ‖ json` at a slot's offset. Records never straddle the end of the
//! arena: one that does not fit before the end starts again at 0, and the bytes it skipped stay
//! unused until the log passes them again. So every record is one contiguous slice, and a query
//! returns `&[u8]` into the arena without copying.

use core::mem::size_of;

use heapless::Deque;
use heapless::deque::DequeView;

use super::{L_ARENA, L_SLOTS, M_SLOTS, RECORD_HEADER, RingTier, S_SLOTS, XS_ARENA, XS_SLOTS};
use crate::nostr::filter::Filter;
use crate::nostr::{Event, EventId, PubKey, Tag, UnixTime};

/// One event in the index: where its record is and what filters can check without it. 32
/// bytes (a size test pins it), so the largest tier's index stays within 512 KiB.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    created_at: u64,
    /// [`tag_bloom`] of the event's tags.
    tag_bloom: u64,
    /// Start of the record in the arena.
    offset: u32,
    /// Bytes of JSON after the header; 0 when only the metadata is held (too large).
    json_len: u32,
    /// First 4 bytes of the id: a scan for an id compares these before reading the arena.
    id_prefix: u32,
    kind: u16,
    /// The store no longer holds the event ([`super::Ring::remove`]).
    removed: bool,
}

impl Slot {
    /// The slot of `event`, its record at `offset` with `json_len` bytes of JSON.
    pub(super) fn new(event: &Event, offset: usize, json_len: usize, tag_bloom: u64) -> Self {
        Self {
            created_at: event.created_at.0,
            tag_bloom,
            // Both fit: offsets are below the arena size, at most `L_ARENA` (checked below
            // at compile time), and JSON is at most `RING_MAX_EVENT`.
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            json_len: u32::try_from(json_len).unwrap_or(u32::MAX),
            id_prefix: id_prefix(&event.id),
            kind: event.kind.0,
            removed: false,
        }
    }

    pub(super) fn created_at(&self) -> UnixTime {
        UnixTime(self.created_at)
    }

    pub(super) fn kind(&self) -> u16 {
        self.kind
    }

    pub(super) fn tag_bloom(&self) -> u64 {
        self.tag_bloom
    }

    pub(super) fn id_prefix(&self) -> u32 {
        self.id_prefix
    }

    pub(super) fn offset(&self) -> usize {
        self.offset as usize
    }

    /// Whether the store still holds the event.
    pub(super) fn is_live(&self) -> bool {
        !self.removed
    }

    pub(super) fn mark_removed(&mut self) {
        self.removed = true;
    }

    /// Bytes the record takes in the arena.
    pub(super) fn record_len(&self) -> usize {
        RECORD_HEADER + self.json_len as usize
    }
}

/// The first 4 bytes of an id, as a slot keeps them.
pub(super) fn id_prefix(id: &EventId) -> u32 {
    let [a, b, c, d, ..] = id.0;
    u32::from_le_bytes([a, b, c, d])
}

/// The slot index of each tier. Each variant is boxed so the ring's size does not depend on
/// the tier and the index never sits on the stack after construction; all logic goes through
/// [`SlotIndex::view`] and [`SlotIndex::view_mut`].
pub(super) enum SlotIndex {
    Xs(Box<Deque<Slot, XS_SLOTS>>),
    S(Box<Deque<Slot, S_SLOTS>>),
    M(Box<Deque<Slot, M_SLOTS>>),
    L(Box<Deque<Slot, L_SLOTS>>),
}

impl SlotIndex {
    /// An empty index of `tier`, allocated now.
    pub(super) fn new(tier: RingTier) -> Self {
        match tier {
            RingTier::Xs => Self::Xs(Box::default()),
            RingTier::S => Self::S(Box::default()),
            RingTier::M => Self::M(Box::default()),
            RingTier::L => Self::L(Box::default()),
        }
    }

    /// Bytes of the index of `tier`.
    pub(super) const fn bytes(tier: RingTier) -> usize {
        match tier {
            RingTier::Xs => size_of::<Deque<Slot, XS_SLOTS>>(),
            RingTier::S => size_of::<Deque<Slot, S_SLOTS>>(),
            RingTier::M => size_of::<Deque<Slot, M_SLOTS>>(),
            RingTier::L => size_of::<Deque<Slot, L_SLOTS>>(),
        }
    }

    /// Bytes this index allocated.
    pub(super) fn allocated_bytes(&self) -> usize {
        match self {
            Self::Xs(d) => size_of_val(&**d),
            Self::S(d) => size_of_val(&**d),
            Self::M(d) => size_of_val(&**d),
            Self::L(d) => size_of_val(&**d),
        }
    }

    pub(super) fn view(&self) -> &DequeView<Slot> {
        match self {
            Self::Xs(d) => d.as_view(),
            Self::S(d) => d.as_view(),
            Self::M(d) => d.as_view(),
            Self::L(d) => d.as_view(),
        }
    }

    pub(super) fn view_mut(&mut self) -> &mut DequeView<Slot> {
        match self {
            Self::Xs(d) => d.as_mut_view(),
            Self::S(d) => d.as_mut_view(),
            Self::M(d) => d.as_mut_view(),
            Self::L(d) => d.as_mut_view(),
        }
    }
}

/// The record bytes: a fixed buffer written as a circular log, oldest record at the front
/// slot's offset, the next write at `head`.
///
/// A boxed slice rather than a `heapless::Vec`: it is allocated zeroed straight on the heap
/// (untouched pages cost no RSS until the log reaches them), while a multi-MiB `heapless`
/// value would pass through the stack in unoptimised builds. Its length is fixed at
/// construction all the same.
pub(super) struct Arena {
    bytes: Box<[u8]>,
    /// End of the newest record: where the next one goes if it fits before the end.
    head: usize,
}

impl Arena {
    pub(super) fn new(len: usize) -> Self {
        Self {
            bytes: vec![0; len].into_boxed_slice(),
            head: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Forgets every record (the index was emptied).
    pub(super) fn clear(&mut self) {
        self.head = 0;
    }

    /// Where a record of `len` bytes can go without overwriting a live one, given `tail`, the
    /// offset of the oldest record (`None`: no records). `None` means the oldest record must
    /// be evicted first.
    ///
    /// Live bytes are `[tail, head)` when `tail < head`, else they wrap: `[tail, end)` (with
    /// perhaps a skipped gap at the end) and `[0, head)`. Records are never empty, so
    /// `tail == head` with records present means the log is full.
    pub(super) fn place(&self, tail: Option<usize>, len: usize) -> Option<usize> {
        let end = self.bytes.len();
        let Some(tail) = tail else {
            return (len <= end).then_some(0);
        };
        let head = self.head;
        let after_head = head.checked_add(len)?;
        if tail < head {
            if after_head <= end {
                Some(head)
            } else if len <= tail {
                Some(0)
            } else {
                None
            }
        } else if after_head <= tail {
            Some(head)
        } else {
            None
        }
    }

    /// Writes a record at `at` (from [`Arena::place`]) and moves `head` past it. `false`, with
    /// nothing written, when the record would not fit in the buffer.
    pub(super) fn write(&mut self, at: usize, id: &EventId, pubkey: &PubKey, json: &[u8]) -> bool {
        let Some(end) = at.checked_add(RECORD_HEADER + json.len()) else {
            return false;
        };
        let Some(record) = self.bytes.get_mut(at..end) else {
            return false;
        };
        let (header, body) = record.split_at_mut(RECORD_HEADER);
        let (id_bytes, pubkey_bytes) = header.split_at_mut(EventId::LEN);
        id_bytes.copy_from_slice(&id.0);
        pubkey_bytes.copy_from_slice(&pubkey.0);
        body.copy_from_slice(json);
        self.head = end;
        true
    }

    /// The id in `slot`'s record.
    pub(super) fn id(&self, slot: &Slot) -> Option<&[u8; 32]> {
        self.field(slot.offset(), EventId::LEN)
            .and_then(|b| b.try_into().ok())
    }

    /// The pubkey in `slot`'s record.
    pub(super) fn pubkey(&self, slot: &Slot) -> Option<&[u8; 32]> {
        self.field(slot.offset() + EventId::LEN, PubKey::LEN)
            .and_then(|b| b.try_into().ok())
    }

    /// The JSON in `slot`'s record; `None` for a metadata-only slot.
    pub(super) fn json(&self, slot: &Slot) -> Option<&[u8]> {
        let len = slot.record_len() - RECORD_HEADER;
        if len == 0 {
            return None;
        }
        self.field(slot.offset() + RECORD_HEADER, len)
    }

    fn field(&self, at: usize, len: usize) -> Option<&[u8]> {
        self.bytes.get(at..at.checked_add(len)?)
    }
}

// Slot offsets are u32: the largest arena must be addressable by one.
const _: () = assert!(L_ARENA <= u32::MAX as usize);
// The smallest arena holds at least `RING_ARENA_SHARE` headers, so `max_event_bytes` is sound.
const _: () = assert!(XS_ARENA / super::RING_ARENA_SHARE > RECORD_HEADER);
const _: () = assert!(size_of::<Slot>() == 32);

/// A 64-bit Bloom digest of an event's tags: for each tag whose name is one character (the
/// only tags NIP-01 filters select on), two bits picked by a hash of name and first value. A
/// filter value whose two bits are not both set cannot match; set bits only say "maybe", and
/// the caller confirms by parsing. Unkeyed: a crafted event can only make its own digest say
/// "maybe", which costs a parse, never a wrong answer.
pub(super) fn tag_bloom(tags: &[Tag]) -> u64 {
    let mut bloom = 0;
    for tag in tags {
        if let (Some(name), Some(value)) = (tag.name(), tag.value())
            && is_one_char(name)
        {
            bloom |= tag_bits(name, value);
        }
    }
    bloom
}

fn is_one_char(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some() && chars.next().is_none()
}

/// The two digest bits of a (one-character name, value) pair.
fn tag_bits(name: &str, value: &str) -> u64 {
    // FNV-1a, 64-bit; 0xff never occurs in UTF-8, so it separates name from value.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name
        .as_bytes()
        .iter()
        .chain(&[0xff])
        .chain(value.as_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV's low bits depend only on the inputs' low bits, and tag values (hex ids and keys)
    // are alike there: MurmurHash3's finaliser spreads every bit over the 12 taken.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (1 << (h & 63)) | (1 << ((h >> 6) & 63))
}

/// A filter's tag constraints as digest masks: per letter, one mask per accepted value.
pub(super) struct TagMasks(Vec<Vec<u64>>);

impl TagMasks {
    pub(super) fn of(filter: &Filter) -> Self {
        let mut buf = [0; 4];
        Self(
            filter
                .tags
                .iter()
                .map(|(letter, values)| {
                    let name: &str = letter.encode_utf8(&mut buf);
                    values.iter().map(|v| tag_bits(name, v)).collect()
                })
                .collect(),
        )
    }

    /// Whether the filter has no tag constraint.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a slot with this digest may pass every tag constraint.
    pub(super) fn may_match(&self, bloom: u64) -> bool {
        self.0
            .iter()
            .all(|masks| masks.iter().any(|&m| m & !bloom == 0))
    }
}
