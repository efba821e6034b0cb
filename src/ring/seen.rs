//! The seen set: which event ids this node has recently accepted, so a copy of an event from
//! the network is dropped before any signature check or disk access.
//!
//! A fixed table of buckets, each holding [`SEEN_WAYS`] 64-bit fingerprints, newest first. An
//! id's bucket and fingerprint are two independent 64-bit halves of a keyed BLAKE2s of the id,
//! keyed by the 32-byte seed given at construction. Keyed, because ids are chosen by whoever
//! signs events: with a public hash an attacker could grind ids into one bucket (flushing the
//! ids there, so their copies reach the disk again) or onto one fingerprint (so a chosen new
//! event is dropped as a duplicate). Without the key neither can be aimed, and each node's key
//! differs, so no crafted event fails everywhere. False positives are ≈ 1e-19 per lookup
//! (`docs/ring.md`), so a hit is taken as final.

use core::fmt;
use core::mem::size_of;

use blake2::Blake2sMac;
use blake2::digest::consts::U16;
use blake2::digest::{KeyInit, Mac};

use super::RingTier;
use crate::nostr::EventId;

/// Fingerprints per bucket. Two ways keep an id until two newer ids land in its bucket: of
/// the last `buckets / 10` ids inserted, each is still held with probability > 99.5 %
/// (`docs/ring.md`), and a lookup stays one 16-byte read.
pub const SEEN_WAYS: usize = 2;

/// Marks an unused way. A fingerprint that hashes to it is stored as 1 instead, which doubles
/// the false-positive odds of that one value (to 2⁻⁶³), nothing more.
const EMPTY: u64 = 0;

/// Bytes of a table of `entries` fingerprints.
pub(super) const fn table_bytes(entries: usize) -> usize {
    entries / SEEN_WAYS * size_of::<[u64; SEEN_WAYS]>()
}

/// A fixed-size set of recently seen event ids (see the module doc). `insert` of a new id
/// evicts the older of its bucket's two when the bucket is full; an evicted id is simply new
/// again, and a copy of its event then costs a signature check and a store lookup, no more.
pub struct SeenSet {
    /// The keyed hash state, cloned per lookup so the key is padded once.
    key: Blake2sMac<U16>,
    buckets: Box<[[u64; SEEN_WAYS]]>,
    len: usize,
    evicted: u64,
}

impl SeenSet {
    /// An empty set of `tier`'s size, keyed by `seed`. Derive the seed from the node seed with
    /// a label of its own; the set never reveals it.
    #[must_use]
    pub fn new(tier: RingTier, seed: &[u8; 32]) -> Self {
        let buckets = (tier.seen_entries() / SEEN_WAYS).max(1);
        Self {
            key: <Blake2sMac<U16> as KeyInit>::new(&(*seed).into()),
            // Zeroed straight on the heap: a boxed `heapless` table of the largest tier
            // (2 MiB) would pass through the stack in unoptimised builds.
            buckets: vec![[EMPTY; SEEN_WAYS]; buckets].into_boxed_slice(),
            len: 0,
            evicted: 0,
        }
    }

    /// Adds `id`; `true` when it was not there (the caller goes on to verify and store),
    /// `false` when it was (a duplicate: drop it).
    pub fn insert(&mut self, id: &EventId) -> bool {
        let (index, fp) = self.locate(id);
        let Some(bucket) = self.buckets.get_mut(index) else {
            // Unreachable (`locate` reduces modulo the length); "new" is the safe answer: the
            // store recognises a duplicate anyway.
            return true;
        };
        if bucket.contains(&fp) {
            return false;
        }
        // Invariant: the older way is used only when the newest is, so ways fill front first.
        let [newest, older] = bucket;
        if *newest == EMPTY {
            *newest = fp;
            self.len += 1;
            return true;
        }
        if *older == EMPTY {
            self.len += 1;
        } else {
            self.evicted += 1;
        }
        *older = *newest;
        *newest = fp;
        true
    }

    /// Whether `id` was inserted and not since evicted or removed.
    #[must_use]
    pub fn contains(&self, id: &EventId) -> bool {
        let (index, fp) = self.locate(id);
        self.buckets.get(index).is_some_and(|b| b.contains(&fp))
    }

    /// Removes `id` (a failed commit takes back its turn's ids so clients can retry); returns
    /// whether it was there.
    pub fn remove(&mut self, id: &EventId) -> bool {
        let (index, fp) = self.locate(id);
        let Some([newest, older]) = self.buckets.get_mut(index) else {
            return false;
        };
        if *newest == fp {
            *newest = *older;
        } else if *older != fp {
            return false;
        }
        *older = EMPTY;
        self.len -= 1;
        true
    }

    /// Forgets every id (the seen set is rebuilt with the ring after a failed commit).
    pub fn clear(&mut self) {
        self.buckets.fill([EMPTY; SEEN_WAYS]);
        self.len = 0;
    }

    /// Ids held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most ids the table can hold.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.buckets.len() * SEEN_WAYS
    }

    /// Ids pushed out of a full bucket since construction (for `/metrics`).
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Bytes allocated for the table; fixed for the set's life.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        size_of_val(&*self.buckets)
    }

    /// The bucket index and fingerprint of `id`: the low and high halves of a 128-bit keyed
    /// BLAKE2s, so a shared bucket says nothing about a shared fingerprint.
    pub(super) fn locate(&self, id: &EventId) -> (usize, u64) {
        let mut mac = self.key.clone();
        mac.update(&id.0);
        let word = u128::from_le_bytes(mac.finalize().into_bytes().into());
        let buckets = self.buckets.len() as u64;
        let index = (word as u64).checked_rem(buckets).unwrap_or(0);
        let fp = match (word >> 64) as u64 {
            EMPTY => 1,
            fp => fp,
        };
        (usize::try_from(index).unwrap_or(0), fp)
    }
}

impl fmt::Debug for SeenSet {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeenSet")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .field("evicted", &self.evicted)
            .finish_non_exhaustive()
    }
}
