//! The hot, fixed-memory front of the event store: a ring of the most recent events, kept as the
//! canonical JSON the relay sends, and a set of recently seen event ids for deduplication.
//!
//! Sans-IO: no clock, no files, no OS randomness; the seen set's key is a seed given to
//! [`SeenSet::new`]. Neither structure ever grows: every byte is allocated once, by the tier the
//! board profile names ([`RingTier`]), and a full structure evicts its oldest entries. The ring
//! is not the store and is not durable: the caller keeps it a mirror of what the store holds (see
//! [`Ring`] for that contract), and whenever the ring cannot vouch that an answer is complete,
//! [`Ring::query`] says so and the caller asks the store. Design and figures: `docs/ring.md`.
//!
//! - [`Ring`]: recent events in a fixed byte arena with a fixed slot index
//!   (`heapless::Deque`), answering NIP-01 filters newest first.
//! - [`SeenSet`]: a fixed two-way set-associative table of 64-bit keyed fingerprints.
//! - [`RingTier`]: the compiled sizes a board picks from at run time.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

mod arena;
mod seen;

use core::fmt;

use crate::nostr::filter::Filter;
use crate::nostr::{Event, EventId, Kind, PubKey, UnixTime};

use arena::{Arena, Slot, SlotIndex, TagMasks, tag_bloom};
pub use seen::{SEEN_WAYS, SeenSet};

/// Largest event JSON the ring caches, in bytes. Notes, replies, reactions, reposts and
/// profiles, the events hot queries ask for, are 0.3–3 KiB; what passes 16 KiB is mostly follow
/// lists and long-form articles, which nobody pages through as a timeline, and each would push
/// out a dozen typical events. Larger events stay in the store; the ring keeps only their
/// metadata, so it knows to decline a query that would need them (see [`Inserted::TooLarge`]).
pub const RING_MAX_EVENT: usize = 16 * 1024;

/// One cached record takes at most this share of the arena (1/4), so a single event can never
/// flush more than a quarter of the ring. Only binds in tier `xs`, whose arena is small.
pub const RING_ARENA_SHARE: usize = 4;

/// Bytes a record spends before its JSON: the raw 32-byte id and 32-byte pubkey, so `ids` and
/// `authors` checks compare bytes instead of decoding hex, and a slot stays 32 bytes.
pub const RECORD_HEADER: usize = 64;

/// Tier `xs` (simulator, tests): thousands of nodes share one process, so a node gets ≈ 25 KiB.
pub const XS_SLOTS: usize = 32;
/// See [`XS_SLOTS`]: 16 KiB holds the 32 slots at ≈ 500 B each, the size of simulated events.
pub const XS_ARENA: usize = 16 * 1024;
/// See [`XS_SLOTS`]: the last ≈ 50 ids are held at > 99.5 %, the last few hundred mostly; a
/// miss costs a lookup in the simulator's in-memory store, so small is enough.
pub const XS_SEEN: usize = 1024;

/// Tier `s` (256 MB boards, ARCHITECTURE.md "Memory budget"): 1 024 slots.
pub const S_SLOTS: usize = 1024;
/// Tier `s` arena: 1 MiB, 1 KiB per slot, above the ≈ 0.6–0.8 KiB of a typical record, so slots
/// and bytes run out at about the same time.
pub const S_ARENA: usize = 1024 * 1024;
/// Tier `s` seen set: 16 384 ids (128 KiB), sixteen per slot, so ids outlive their events in
/// the ring: the last ≈ 800 are held at > 99.5 %, the last 8 192 at ≈ 74 % (`docs/ring.md`),
/// and late copies and catch-up offers are still recognised.
pub const S_SEEN: usize = 16_384;

/// Tier `m` (512 MB – 1 GB boards): four times `s`.
pub const M_SLOTS: usize = 4096;
/// See [`M_SLOTS`].
pub const M_ARENA: usize = 4 * 1024 * 1024;
/// See [`M_SLOTS`].
pub const M_SEEN: usize = 65_536;

/// Tier `l` (1 GB and larger): sixteen times `s`. The slot index is then 512 KiB, the most a
/// `heapless` value may be: unoptimised builds move it through the stack on its way into its
/// `Box`, and 768 KiB overflowed a 2 MiB test thread (`docs/ring.md`).
pub const L_SLOTS: usize = 16_384;
/// See [`L_SLOTS`].
pub const L_ARENA: usize = 16 * 1024 * 1024;
/// See [`L_SLOTS`].
pub const L_SEEN: usize = 262_144;

/// Which compiled size of ring and seen set a node runs. `heapless` capacities are compile-time
/// constants, so a board profile picks one of these four at run time and [`Ring::new`] allocates
/// that tier's types once (the daemon maps `config::RingTier` onto this one variant by variant).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum RingTier {
    /// Simulator nodes and tests.
    Xs,
    /// 256 MB boards.
    S,
    /// 512 MB to 1 GB boards.
    M,
    /// 1 GB and larger boards.
    L,
}

impl RingTier {
    /// Every tier, smallest first.
    pub const ALL: [RingTier; 4] = [Self::Xs, Self::S, Self::M, Self::L];

    /// The tier's name as board profiles spell it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Xs => "xs",
            Self::S => "s",
            Self::M => "m",
            Self::L => "l",
        }
    }

    /// Most events the ring holds.
    #[must_use]
    pub const fn slots(self) -> usize {
        match self {
            Self::Xs => XS_SLOTS,
            Self::S => S_SLOTS,
            Self::M => M_SLOTS,
            Self::L => L_SLOTS,
        }
    }

    /// Bytes of the arena that holds the records (header and JSON).
    #[must_use]
    pub const fn arena_bytes(self) -> usize {
        match self {
            Self::Xs => XS_ARENA,
            Self::S => S_ARENA,
            Self::M => M_ARENA,
            Self::L => L_ARENA,
        }
    }

    /// Ids the seen set holds.
    #[must_use]
    pub const fn seen_entries(self) -> usize {
        match self {
            Self::Xs => XS_SEEN,
            Self::S => S_SEEN,
            Self::M => M_SEEN,
            Self::L => L_SEEN,
        }
    }

    /// Largest event JSON cached in this tier: [`RING_MAX_EVENT`], or less where a record would
    /// pass [`RING_ARENA_SHARE`] of the arena.
    #[must_use]
    pub const fn max_event_bytes(self) -> usize {
        let share = self.arena_bytes() / RING_ARENA_SHARE - RECORD_HEADER;
        if share < RING_MAX_EVENT {
            share
        } else {
            RING_MAX_EVENT
        }
    }

    /// Bytes a [`Ring`] and a [`SeenSet`] of this tier hold, all allocated at construction: the
    /// slot index, the arena and the seen table (the small fixed fields of both structs and the
    /// allocator's per-block overhead aside).
    #[must_use]
    pub const fn memory_bytes(self) -> usize {
        SlotIndex::bytes(self) + self.arena_bytes() + seen::table_bytes(self.seen_entries())
    }
}

impl fmt::Display for RingTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which stored events the ring is sure to hold: the line below which it cannot answer.
///
/// Events arrive out of order (catch-up brings last week's posts today), so "the ring holds
/// the newest events" means nothing by itself. The ring tracks the largest `created_at` it ever
/// lost (evicted while live) and what the caller declared when it loaded the ring from the
/// store; a stored event the ring lacks is never newer than that. Variants are ordered from
/// most to least coverage, so the effective horizon is the `max` of its parts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Horizon {
    /// The ring holds every stored event: it never lost one, and the store held nothing it
    /// did not load.
    Everything,
    /// The ring holds every stored event with `created_at` ≥ this, the oldest second it fully
    /// covers; a stored event it lacks is older.
    From(UnixTime),
    /// The ring vouches for nothing (fresh, or lost an event at `created_at` = `u64::MAX`).
    Nothing,
}

impl Horizon {
    /// Whether every stored event with this `created_at` is in the ring.
    #[must_use]
    pub fn covers(self, created_at: UnixTime) -> bool {
        match self {
            Self::Everything => true,
            Self::From(from) => created_at >= from,
            Self::Nothing => false,
        }
    }

    /// Whether every stored event at or after `since` is in the ring (`None`: since the epoch).
    #[must_use]
    pub fn covers_since(self, since: Option<UnixTime>) -> bool {
        match (self, since) {
            (Self::Everything, _) => true,
            (_, Some(since)) => self.covers(since),
            (_, None) => false,
        }
    }

    /// The horizon that covers every second after `created_at` (`From(created_at + 1)`, or
    /// `Nothing` at the end of time): what losing an event at `created_at` leaves, and what a
    /// start-up load declares when `created_at` is the oldest event it loaded.
    #[must_use]
    pub fn after(created_at: UnixTime) -> Self {
        created_at
            .0
            .checked_add(1)
            .map_or(Self::Nothing, |t| Self::From(UnixTime(t)))
    }
}

/// What [`Ring::insert`] did with an event.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Inserted {
    /// The event's JSON is cached.
    Cached,
    /// The event is over [`RingTier::max_event_bytes`]: the ring keeps its id, author, time,
    /// kind and a tag digest, but not its JSON, so a query that would return it gets `None`
    /// (the store serves it) while queries that cannot match it are still answered.
    TooLarge,
    /// A live slot already holds this id; nothing changed.
    AlreadyHeld,
}

/// Counters for `/metrics`: each bound the ring hits, and what it cost.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RingStats {
    /// Events inserted with their JSON.
    pub cached: u64,
    /// Events inserted as metadata only ([`Inserted::TooLarge`]).
    pub too_large: u64,
    /// Live events evicted to make room (each may raise the [`Horizon`]).
    pub evicted: u64,
}

/// The recent-event ring: the newest events as canonical JSON in a fixed arena, indexed by a
/// fixed `heapless::Deque` of 32-byte slots, oldest first.
///
/// **Contract: the ring mirrors the store.** The caller inserts each event the store accepted
/// (after `put`, never an ephemeral one), removes each event the store dropped (NIP-09 deletion,
/// a replaced replaceable or addressable event, retention), and after a failed commit clears
/// the ring and loads it again (DECISIONS.md 17). At start it loads the store's newest events
/// and says what that covers with [`Ring::declare_loaded`]. On that contract, a `Some` from
/// [`Ring::query`] is exactly what the store would answer.
pub struct Ring {
    tier: RingTier,
    slots: SlotIndex,
    arena: Arena,
    /// What the caller declared it loaded ([`Horizon::Nothing`] until it does).
    declared: Horizon,
    /// What eviction cost: the second after the newest `created_at` ever evicted while live.
    lost: Horizon,
    stats: RingStats,
}

impl Ring {
    /// An empty ring of `tier`, its index and arena allocated once, here. It vouches for
    /// nothing until [`Ring::declare_loaded`] says what it was loaded with.
    #[must_use]
    pub fn new(tier: RingTier) -> Self {
        Self {
            tier,
            slots: SlotIndex::new(tier),
            arena: Arena::new(tier.arena_bytes()),
            declared: Horizon::Nothing,
            lost: Horizon::Everything,
            stats: RingStats::default(),
        }
    }

    /// Declares which stored events the caller has inserted: [`Horizon::Everything`] when the
    /// store was empty or every event in it was inserted; `From(t)` when every stored event
    /// with `created_at` ≥ `t` was. Loading the newest `n` events newest first from the store
    /// and inserting them oldest first, that is [`Horizon::after`] the oldest loaded (stored
    /// events not loaded may share its second). Evictions during the load still count.
    pub fn declare_loaded(&mut self, covered: Horizon) {
        self.declared = covered;
    }

    /// Which stored events the ring is sure to hold.
    #[must_use]
    pub fn horizon(&self) -> Horizon {
        self.declared.max(self.lost)
    }

    /// The tier this ring was built with.
    #[must_use]
    pub fn tier(&self) -> RingTier {
        self.tier
    }

    /// Slots in use, removed events included until they are evicted.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.view().storage_len()
    }

    /// Whether no slot is in use.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.view().is_empty()
    }

    /// Arena bytes held by the records in use.
    #[must_use]
    pub fn arena_used(&self) -> usize {
        self.slots.view().iter().map(Slot::record_len).sum()
    }

    /// Bytes allocated for the slot index and the arena; fixed for the ring's life.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.slots.allocated_bytes() + self.arena.len()
    }

    /// Counters since construction.
    #[must_use]
    pub fn stats(&self) -> RingStats {
        self.stats
    }

    /// Adds an event the store has just accepted, evicting the oldest slots until both a slot
    /// and the arena bytes are free. Events over [`RingTier::max_event_bytes`] keep only their
    /// metadata. Costs one `to_json` and a scan of the slots for the id.
    pub fn insert(&mut self, event: &Event) -> Inserted {
        if self.find(&event.id).is_some() {
            return Inserted::AlreadyHeld;
        }
        let json = event.to_json();
        let (json, outcome) = if json.len() <= self.tier.max_event_bytes() {
            (json.as_bytes(), Inserted::Cached)
        } else {
            (&[][..], Inserted::TooLarge)
        };
        let record_len = RECORD_HEADER + json.len();
        let at = loop {
            let view = self.slots.view();
            match self.arena.place(view.front().map(Slot::offset), record_len) {
                Some(at) if !view.is_full() => break Some(at),
                // Unreachable: an empty arena takes any record up to a quarter of its size.
                None if view.is_empty() => break None,
                _ => self.evict_oldest(),
            }
        };
        let slot = at.map(|at| Slot::new(event, at, json.len(), tag_bloom(&event.tags)));
        // Writing and pushing cannot fail (`place` found room, the loop freed a slot); were
        // either to, the event counts as lost, so no answer can be missing it.
        let stored = slot.is_some_and(|slot| {
            self.arena
                .write(slot.offset(), &event.id, &event.pubkey, json)
                && self.slots.view_mut().push_back(slot).is_ok()
        });
        if !stored {
            self.lose(event.created_at);
            return outcome;
        }
        match outcome {
            Inserted::Cached => self.stats.cached += 1,
            Inserted::TooLarge => self.stats.too_large += 1,
            Inserted::AlreadyHeld => {}
        }
        outcome
    }

    /// Forgets an event the store no longer holds (deleted, replaced or evicted by retention):
    /// its slot stays until evicted but is never returned again, and evicting it costs no
    /// coverage. Returns whether a live slot held the id.
    pub fn remove(&mut self, id: &EventId) -> bool {
        let prefix = arena::id_prefix(id);
        let Self { slots, arena, .. } = self;
        for slot in slots.view_mut().iter_mut() {
            if slot.is_live() && slot.id_prefix() == prefix && arena.id(slot) == Some(&id.0) {
                slot.mark_removed();
                return true;
            }
        }
        false
    }

    /// Empties the ring; it vouches for nothing until loaded and declared again (after a failed
    /// commit the store reopens and the ring is rebuilt from it).
    pub fn clear(&mut self) {
        self.slots.view_mut().clear();
        self.arena.clear();
        self.declared = Horizon::Nothing;
        self.lost = Horizon::Everything;
    }

    /// Whether a live slot holds `id` (with or without its JSON).
    #[must_use]
    pub fn contains(&self, id: &EventId) -> bool {
        self.find(id).is_some()
    }

    /// The cached JSON of event `id`, for grafts and fetches by id; `None` when the ring does
    /// not hold it or holds only its metadata (the caller asks the store).
    #[must_use]
    pub fn get(&self, id: &EventId) -> Option<&[u8]> {
        self.find(id).and_then(|slot| self.arena.json(slot))
    }

    /// The events matching `filter` as their canonical JSON, newest first (NIP-01: on equal
    /// `created_at`, lowest id first), at most `limit` of them; or `None` when the ring cannot
    /// vouch that the answer is complete, and the caller must ask the store.
    ///
    /// The answer is complete when one of these holds (see [`Horizon`]):
    /// - the horizon covers `since` (every stored event the filter admits is in the ring);
    /// - `limit` events matched and the last of them is covered (a stored event the ring lacks
    ///   is older than all of them, so it could not displace one);
    /// - the filter names `ids` and a live slot holds every one of them.
    ///
    /// and no event within the answer is held as metadata only. Tag constraints are checked
    /// against each slot's tag digest, then confirmed by parsing the JSON back, in answer
    /// order, so at most `limit` events plus the digest's false hits are parsed.
    #[must_use]
    pub fn query(&self, filter: &Filter) -> Option<Vec<&[u8]>> {
        if filter.limit == Some(0) || !filter.can_match() {
            return Some(Vec::new());
        }
        let limit = filter
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let masks = TagMasks::of(filter);
        let slots = self.slots.view();
        // (created_at, position in the index): 16 bytes per candidate, at most one per slot,
        // so a query's scratch space is bounded by the tier (256 KiB in tier `l`).
        let mut candidates: Vec<(UnixTime, usize)> = Vec::new();
        let mut ids_held = 0;
        for (pos, slot) in slots.iter().enumerate().filter(|(_, s)| s.is_live()) {
            if let Some(ids) = &filter.ids {
                if !ids.contains(&EventId(*self.arena.id(slot)?)) {
                    continue;
                }
                ids_held += 1;
            }
            if self.matches_metadata(filter, &masks, slot)? {
                candidates.push((slot.created_at(), pos));
            }
        }
        // NIP-01 order: newest first, then lowest id (read from the arena only on a tie).
        let id_at = |pos: usize| slots.get(pos).and_then(|s| self.arena.id(s));
        let order = |a: &(UnixTime, usize), b: &(UnixTime, usize)| {
            b.0.cmp(&a.0).then_with(|| id_at(a.1).cmp(&id_at(b.1)))
        };
        if masks.is_empty() && limit < candidates.len() {
            // Without tag constraints every candidate matches: only the first `limit` count,
            // and selecting them is linear where sorting all would not be.
            candidates.select_nth_unstable_by(limit, order);
            candidates.truncate(limit);
        }
        candidates.sort_unstable_by(order);

        let mut out = Vec::new();
        let mut last = None;
        for &(created_at, pos) in &candidates {
            if out.len() == limit {
                break;
            }
            // A metadata-only slot that passed every check it can take may be in the answer,
            // and its JSON is not here.
            let json = slots.get(pos).and_then(|s| self.arena.json(s))?;
            if !masks.is_empty() {
                let event = Event::from_json(json).ok()?;
                if !filter.matches(&event) {
                    continue;
                }
            }
            out.push(json);
            last = Some(created_at);
        }

        let horizon = self.horizon();
        let complete = horizon.covers_since(filter.since)
            || (out.len() == limit && last.is_some_and(|t| horizon.covers(t)))
            || filter.ids.as_ref().is_some_and(|ids| ids_held == ids.len());
        complete.then_some(out)
    }

    /// The checks of `filter` that the slot's metadata can settle besides `ids`: kinds,
    /// times, authors and the tag digest. `None` when the arena is inconsistent (the query
    /// declines).
    fn matches_metadata(&self, filter: &Filter, masks: &TagMasks, slot: &Slot) -> Option<bool> {
        let cheap = filter
            .kinds
            .as_ref()
            .is_none_or(|k| k.contains(&Kind(slot.kind())))
            && filter.since.is_none_or(|s| slot.created_at() >= s)
            && filter.until.is_none_or(|u| slot.created_at() <= u)
            && masks.may_match(slot.tag_bloom());
        if !cheap {
            return Some(false);
        }
        match &filter.authors {
            None => Some(true),
            Some(authors) => Some(authors.contains(&PubKey(*self.arena.pubkey(slot)?))),
        }
    }

    /// The live slot holding `id`: a scan comparing 4-byte prefixes, confirmed in the arena.
    fn find(&self, id: &EventId) -> Option<&Slot> {
        let prefix = arena::id_prefix(id);
        self.slots.view().iter().find(|slot| {
            slot.is_live() && slot.id_prefix() == prefix && self.arena.id(slot) == Some(&id.0)
        })
    }

    /// Drops the oldest slot; a live one costs coverage up to its `created_at`.
    fn evict_oldest(&mut self) {
        let Some(slot) = self.slots.view_mut().pop_front() else {
            return;
        };
        if slot.is_live() {
            self.stats.evicted += 1;
            self.lose(slot.created_at());
        }
        if self.slots.view().is_empty() {
            self.arena.clear();
        }
    }

    /// Records that a stored event at `created_at` is no longer (or never was) in the ring.
    fn lose(&mut self, created_at: UnixTime) {
        self.lost = self.lost.max(Horizon::after(created_at));
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("tier", &self.tier)
            .field("len", &self.len())
            .field("arena_used", &self.arena_used())
            .field("horizon", &self.horizon())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
