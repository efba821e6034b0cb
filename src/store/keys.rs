//! Index key encoding (schema 2). Every event gets an internal sequence number (`seq`, a `u64`
//! counting up from 0, never reused) when it is stored: its record lives under `seq` (8 bytes,
//! big-endian) in the `events` keyspace, the `ID` map leads from its 32-byte id to `seq`, and
//! every other index entry names it by `seq`, not by its id. Time-ordered indexes end in
//! `u64::MAX - created_at` (big-endian) and `seq`, so a forward scan of one prefix yields the
//! newest events first; on equal `created_at` the engine orders by id itself (NIP-01: lowest id
//! first), reading past its `limit` through the entries of the last second it takes.
//!
//! | prefix | index | key after the prefix |
//! |---|---|---|
//! | `0x01` | time | rev time (8) · seq (8) |
//! | `0x02` | author + time | pubkey's first 8 bytes · rev time · seq |
//! | `0x03` | kind + time | kind (2, BE) · rev time · seq |
//! | `0x04` | tag + time | letter (1) · short value key · rev time · seq |
//! | `0x05` | replaceable | pubkey · kind → value: seq |
//! | `0x06` | addressable | pubkey · kind · `d` value key → value: seq |
//! | `0x07` | deleted id (NIP-09 `e`) | id · deleter pubkey |
//! | `0x08` | deleted address (NIP-09 `a`) | pubkey · kind · `d` value key → value: created_at (8, BE) |
//! | `0x09` | id map | id (32) → value: seq |
//!
//! A *value key* is `0x00 · 32 bytes` for a lowercase 64-hex value (ids and keys, packed),
//! `0x01 · len (1) · bytes` for any other value of at most [`TAG_VALUE_INLINE_MAX`] bytes, and
//! `0x02 · SHA-256(value)` beyond, so slot and tombstone lookups stay exact. The time-ordered
//! tag index uses a *short value key*: the same, cut to [`SHORT_LEN`] bytes after the `0x00`
//! or `0x02` marker. Author and tag prefixes are thus not exact: two keys sharing their first
//! 8 bytes share an index range, and the engine tests every candidate against the whole filter
//! (it always did), so a collision costs a wasted read, never a wrong answer.

use sha2::{Digest, Sha256};

use crate::nostr::{Event, EventId, Kind, PubKey, UnixTime, hex, kinds};

/// Index prefixes (module docs).
pub const TIME: u8 = 0x01;
/// See [`TIME`].
pub const AUTHOR: u8 = 0x02;
/// See [`TIME`].
pub const KIND: u8 = 0x03;
/// See [`TIME`].
pub const TAG: u8 = 0x04;
/// See [`TIME`].
pub const REPLACEABLE: u8 = 0x05;
/// See [`TIME`].
pub const ADDRESSABLE: u8 = 0x06;
/// See [`TIME`].
pub const DELETED_ID: u8 = 0x07;
/// See [`TIME`].
pub const DELETED_ADDRESS: u8 = 0x08;
/// See [`TIME`].
pub const ID: u8 = 0x09;

/// Bytes of a pubkey or packed tag value kept in a time-ordered index key (module docs).
pub const SHORT_LEN: usize = 8;

/// Longest tag value kept verbatim in an index key; longer values are indexed by their hash.
/// Hashtags, relay URLs and `d` identifiers fit; keys stay well under fjall's limits.
pub const TAG_VALUE_INLINE_MAX: usize = 128;

/// Longest key the store writes (a tag key with an inline value), with room to spare.
pub const MAX_KEY_LEN: usize = 256;

/// Bytes of the `rev time · seq` suffix of time-ordered keys.
pub const SUFFIX_LEN: usize = 8 + 8;

/// `u64::MAX - created_at`, big-endian: ascending bytes = descending time.
#[must_use]
pub fn rev_time(t: UnixTime) -> [u8; 8] {
    (u64::MAX - t.0).to_be_bytes()
}

/// Appends the value key of a tag value (module docs).
pub fn push_value_key(out: &mut Vec<u8>, value: &str) {
    if let Ok(raw) = hex::decode_array::<32>(value) {
        out.push(0x00);
        out.extend_from_slice(&raw);
    } else if value.len() <= TAG_VALUE_INLINE_MAX {
        out.push(0x01);
        out.push(u8::try_from(value.len()).expect("bounded by TAG_VALUE_INLINE_MAX"));
        out.extend_from_slice(value.as_bytes());
    } else {
        out.push(0x02);
        out.extend_from_slice(&Sha256::digest(value.as_bytes()));
    }
}

/// Appends the short value key of a tag value: [`push_value_key`] cut to [`SHORT_LEN`] bytes
/// after a `0x00` or `0x02` marker (module docs).
pub fn push_short_value_key(out: &mut Vec<u8>, value: &str) {
    let start = out.len();
    push_value_key(out, value);
    if matches!(out.get(start), Some(0x00 | 0x02)) {
        out.truncate(start + 1 + SHORT_LEN);
    }
}

/// The key of an event's record in the `events` keyspace.
#[must_use]
pub fn record(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The sequence number a record key or a slot or id-map value holds.
#[must_use]
pub fn seq_of(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// The id-map key of an event id (value: its seq).
#[must_use]
pub fn id_map(id: &EventId) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(ID);
    k.extend_from_slice(&id.0);
    k
}

/// The prefix of a time-ordered index before its `rev time · id` suffix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Prefix(pub Vec<u8>);

impl Prefix {
    /// The whole time index.
    #[must_use]
    pub fn time() -> Self {
        Self(vec![TIME])
    }

    /// Events of one author (and of any other sharing its first [`SHORT_LEN`] bytes).
    #[must_use]
    pub fn author(pubkey: &PubKey) -> Self {
        let mut k = Vec::with_capacity(1 + SHORT_LEN);
        k.push(AUTHOR);
        k.extend_from_slice(&pubkey.0[..SHORT_LEN]);
        Self(k)
    }

    /// Events of one kind.
    #[must_use]
    pub fn kind(kind: Kind) -> Self {
        let mut k = vec![KIND];
        k.extend_from_slice(&kind.0.to_be_bytes());
        Self(k)
    }

    /// Events with a single-letter tag `letter` whose first value is `value` (and any other
    /// value with the same short value key).
    #[must_use]
    pub fn tag(letter: u8, value: &str) -> Self {
        let mut k = vec![TAG, letter];
        push_short_value_key(&mut k, value);
        Self(k)
    }

    /// The key of the event stored as `seq` under this prefix.
    #[must_use]
    pub fn entry(&self, created_at: UnixTime, seq: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.0.len() + SUFFIX_LEN);
        k.extend_from_slice(&self.0);
        k.extend_from_slice(&rev_time(created_at));
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// The scan range `[from, to)` covering `since <= created_at <= until` under this prefix.
    #[must_use]
    pub fn range(&self, since: Option<UnixTime>, until: Option<UnixTime>) -> (Vec<u8>, Vec<u8>) {
        let mut from = self.0.clone();
        from.extend_from_slice(&rev_time(until.unwrap_or(UnixTime(u64::MAX))));
        let mut to = self.0.clone();
        match since {
            // Up to and including rev(since) with every id: the next rev-time value, exclusive.
            Some(s) if s.0 > 0 => to.extend_from_slice(&rev_time(UnixTime(s.0 - 1))),
            // Since 0 (or none) reaches the end of the prefix.
            _ => return (from, prefix_end(&self.0)),
        }
        (from, to)
    }
}

/// The first key after every key that starts with `prefix` (its exclusive upper bound).
#[must_use]
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    // Only an all-0xff prefix gets here (ours start with 0x01..=0x08): a run of 0xff longer
    // than any key the store writes sorts after all of them.
    vec![u8::MAX; MAX_KEY_LEN]
}

/// Splits the `rev time · seq` suffix off a time-ordered key.
#[must_use]
pub fn split_suffix(key: &[u8]) -> Option<(UnixTime, u64)> {
    let at = key.len().checked_sub(SUFFIX_LEN)?;
    let suffix = key.get(at..)?;
    let (rev, seq) = suffix.split_at(8);
    let rev = u64::from_be_bytes(rev.try_into().ok()?);
    Some((UnixTime(u64::MAX - rev), seq_of(seq)?))
}

/// The key of the replaceable slot (pubkey, kind).
#[must_use]
pub fn replaceable(pubkey: &PubKey, kind: Kind) -> Vec<u8> {
    let mut k = Vec::with_capacity(35);
    k.push(REPLACEABLE);
    k.extend_from_slice(&pubkey.0);
    k.extend_from_slice(&kind.0.to_be_bytes());
    k
}

/// The key of the addressable slot (pubkey, kind, d), or of its NIP-09 tombstone.
#[must_use]
pub fn address(prefix: u8, pubkey: &PubKey, kind: Kind, d: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(36 + d.len().min(TAG_VALUE_INLINE_MAX + 2));
    k.push(prefix);
    k.extend_from_slice(&pubkey.0);
    k.extend_from_slice(&kind.0.to_be_bytes());
    push_value_key(&mut k, d);
    k
}

/// The tombstone of a deleted id, by its deleter.
#[must_use]
pub fn deleted_id(id: &EventId, deleter: &PubKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(65);
    k.push(DELETED_ID);
    k.extend_from_slice(&id.0);
    k.extend_from_slice(&deleter.0);
    k
}

/// Every index entry the event stored as `seq` owns (its id map, time, author, kind, tags,
/// and its replaceable or addressable slot), as `(key, value)` pairs.
#[must_use]
pub fn entries(event: &Event, seq: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (t, id) = (event.created_at, seq);
    let seq_value = seq.to_be_bytes().to_vec();
    let mut out = vec![
        (id_map(&event.id), seq_value.clone()),
        (Prefix::time().entry(t, id), Vec::new()),
        (Prefix::author(&event.pubkey).entry(t, id), Vec::new()),
        (Prefix::kind(event.kind).entry(t, id), Vec::new()),
    ];
    let mut tag_keys: Vec<Vec<u8>> = event
        .tags
        .iter()
        .filter_map(|tag| {
            let name = tag.name()?;
            let letter = match name.as_bytes() {
                [c] if c.is_ascii_alphabetic() => *c,
                _ => return None,
            };
            Some(Prefix::tag(letter, tag.value()?).entry(t, id))
        })
        .collect();
    tag_keys.sort();
    tag_keys.dedup();
    out.extend(tag_keys.into_iter().map(|k| (k, Vec::new())));
    match kinds::class(event.kind) {
        kinds::KindClass::Replaceable => {
            out.push((replaceable(&event.pubkey, event.kind), seq_value));
        }
        kinds::KindClass::Addressable => out.push((
            address(
                ADDRESSABLE,
                &event.pubkey,
                event.kind,
                kinds::d_value(event),
            ),
            seq_value,
        )),
        kinds::KindClass::Regular | kinds::KindClass::Ephemeral => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_newest_first_then_lowest_id() {
        let p = Prefix::time();
        let a = p.entry(UnixTime(200), 9);
        let b = p.entry(UnixTime(100), 1);
        let c = p.entry(UnixTime(100), 2);
        let mut keys = vec![c.clone(), b.clone(), a.clone()];
        keys.sort();
        assert_eq!(keys, vec![a, b, c]);
    }

    #[test]
    fn range_is_inclusive_on_both_ends() {
        let p = Prefix::kind(Kind(1));
        let (from, to) = p.range(Some(UnixTime(100)), Some(UnixTime(200)));
        for (t, inside) in [
            (99, false),
            (100, true),
            (150, true),
            (200, true),
            (201, false),
        ] {
            for seq in [0, u64::MAX] {
                let k = p.entry(UnixTime(t), seq);
                assert_eq!(k >= from && k < to, inside, "t={t}");
            }
        }
        let (from, to) = p.range(None, None);
        assert!(p.entry(UnixTime(0), u64::MAX) < to);
        assert!(p.entry(UnixTime(u64::MAX), 0) >= from);
        assert!(Prefix::kind(Kind(2)).entry(UnixTime(5), 0) >= to);
    }

    #[test]
    fn suffix_round_trips_and_value_keys_are_distinct() {
        let k = Prefix::author(&PubKey([3; 32])).entry(UnixTime(42), 7);
        assert_eq!(k.len(), 1 + SHORT_LEN + SUFFIX_LEN);
        assert_eq!(split_suffix(&k), Some((UnixTime(42), 7)));
        assert_eq!(split_suffix(&[1, 2, 3]), None);
        let hexv = "ab".repeat(32);
        let mut a = Vec::new();
        push_value_key(&mut a, &hexv);
        assert_eq!(a.len(), 33, "64-hex packs to 32 bytes");
        let mut b = Vec::new();
        push_value_key(&mut b, &hexv.to_uppercase());
        assert_ne!(a, b, "uppercase is a different value");
        let mut long = Vec::new();
        push_value_key(&mut long, &"x".repeat(500));
        assert_eq!(long.len(), 33, "long values are hashed");
        let mut short = Vec::new();
        push_short_value_key(&mut short, &hexv);
        assert_eq!(short, a[..=SHORT_LEN], "the tag index keeps 8 packed bytes");
        let mut short = Vec::new();
        push_short_value_key(&mut short, "bitcoin");
        assert_eq!(short.len(), 9, "short values stay whole");
        assert_eq!(prefix_end(&[1, 0xff]), vec![2]);
        assert!(prefix_end(&[0xff]) > vec![0xff; MAX_KEY_LEN - 1]);
    }
}
