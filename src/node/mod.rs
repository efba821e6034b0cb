//! The node: the store, the ring and the seen set behind one sans-IO state machine that every
//! event goes through, whether a LAN client or (later) a peer sent it.
//!
//! No clock, no sockets, no OS randomness: callers pass the time and the seen set's seed in.
//! The loop owns one `Node`, submits each client event with [`Node::submit`], answers reads
//! with [`Node::query`], drains [`Node::poll_event`] after every call (live subscriptions),
//! and calls [`Node::commit`] once at the end of a turn that wrote something; only then may a
//! client be told its event is stored (ARCHITECTURE.md "Data flow" (i)).
//!
//! **Invariants.** The ring mirrors the store (see [`Ring`]): every stored event is inserted,
//! every event the store drops is removed, and after a failed commit the ring is reloaded from
//! the store. An id enters the seen set only after its event verified and was accepted, so a
//! forged copy can never shadow the real event; ids written in a turn whose commit failed leave
//! the seen set again, so the client's retry is not taken for a duplicate.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use crate::nostr::filter::Filter;
use crate::nostr::{Event, EventError, EventId, PubKey, UnixTime, kinds};
use crate::ring::{Horizon, Ring, RingTier, SeenSet};
use crate::store::{EventStore, PutOutcome, StateStore, StoreError};

/// How far ahead of the node's clock a client event's `created_at` may be. Clients' clocks
/// drift by seconds; an event from further ahead would sit at the top of every timeline.
pub const MAX_FUTURE_SECS: u64 = 15 * 60;

/// Most events one [`Node::query`] returns, whatever the filters' limits say: one answer must
/// stay a bounded amount of memory (the store caps each filter at its own `MAX_QUERY_LIMIT`).
pub const MAX_QUERY_EVENTS: usize = crate::store::engine::MAX_QUERY_LIMIT;

/// Who may write through the client API (ARCHITECTURE.md "Identity", DECISIONS.md 9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePolicy {
    /// `-w=false` turns every client write away (upstream's switch).
    pub writes_enabled: bool,
    /// The owner: always allowed.
    pub owner: PubKey,
    /// More authors allowed to write (config `api.writers`).
    pub writers: Vec<PubKey>,
    /// Accept valid events from any author (config `api.open_writes`, off by default): for a
    /// household sharing one node, and for benchmarks with many authors.
    pub open: bool,
}

impl WritePolicy {
    /// Only the owner may write.
    #[must_use]
    pub fn owner_only(owner: PubKey) -> Self {
        Self {
            writes_enabled: true,
            owner,
            writers: Vec::new(),
            open: false,
        }
    }

    fn allows(&self, author: &PubKey) -> bool {
        self.open || *author == self.owner || self.writers.contains(author)
    }
}

/// What [`Node::submit`] did with an accepted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Written to the store (a replaceable one may have replaced an older version). Durable,
    /// and so acknowledgeable, only after the turn's [`Node::commit`] succeeds.
    Stored,
    /// Ephemeral (20 000–29 999): delivered to live subscriptions, never stored.
    Ephemeral,
    /// Already held: nothing written; acknowledge at once.
    Duplicate,
}

impl Accepted {
    /// Whether the client must wait for the turn's commit before it is told.
    #[must_use]
    pub fn needs_commit(self) -> bool {
        self == Self::Stored
    }

    /// The NIP-01 `OK` message (`accepted` is true).
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            Self::Stored | Self::Ephemeral => "",
            Self::Duplicate => "duplicate: already have this event",
        }
    }
}

/// Why [`Node::submit`] turned an event away. Each maps to one NIP-01 `OK false` prefix
/// ([`Refused::message`]) and one REST status (the API's routes).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Bad id, bad signature, bad shape.
    #[error("invalid: {0}")]
    Invalid(#[from] EventError),
    /// `created_at` too far ahead of the node's clock.
    #[error("invalid: created_at is more than {MAX_FUTURE_SECS} s in the future")]
    FromFuture,
    /// The author may not write here.
    #[error("restricted: this node accepts events only from its owner's key")]
    NotAllowed,
    /// `-w=false`.
    #[error("blocked: writes are disabled on this node")]
    WritesDisabled,
    /// A newer (or the same) version of this replaceable or addressable event is stored
    /// (DECISIONS.md 7).
    #[error("duplicate: a newer version is stored")]
    Superseded,
    /// The author deleted this event (NIP-09).
    #[error("blocked: the author deleted this event")]
    Deleted,
    /// The disk is full or read-only.
    #[error("error: storage full")]
    StorageFull,
    /// Any other store failure.
    #[error("error: could not store the event: {0}")]
    Store(StoreError),
}

impl Refused {
    /// The NIP-01 `OK false` message, with its standard prefix.
    #[must_use]
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Full => Self::StorageFull,
            other => Self::Store(other),
        }
    }
}

/// What the node tells the loop about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// An event was stored, or an ephemeral one accepted: live subscriptions may want it.
    Arrived(Event),
}

/// Counters for `/status` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub stored: u64,
    pub duplicates: u64,
    /// Duplicates recognised by the seen set, without touching the store.
    pub duplicates_seen: u64,
    pub refused: u64,
    pub commits_failed: u64,
}

/// The node state machine (module docs).
pub struct Node<S> {
    store: S,
    ring: Ring,
    seen: SeenSet,
    policy: WritePolicy,
    /// Ids written since the last commit: they leave the seen set if the commit fails. Bounded
    /// by what one turn admits (the loop's per-turn input cap).
    uncommitted: Vec<EventId>,
    /// Drained by the loop after every call, so it holds at most one call's output.
    events: VecDeque<NodeEvent>,
    stats: NodeStats,
}

impl<S: EventStore + StateStore> Node<S> {
    /// A node over `store`, its ring and seen set of `tier` allocated here and the ring loaded
    /// with the store's newest events. `seen_seed` keys the seen set's fingerprints (from the
    /// OS RNG in the daemon, from the test seed in the simulator).
    pub fn new(
        store: S,
        tier: RingTier,
        seen_seed: &[u8; 32],
        policy: WritePolicy,
    ) -> Result<Self, StoreError> {
        let mut node = Self {
            store,
            ring: Ring::new(tier),
            seen: SeenSet::new(tier, seen_seed),
            policy,
            uncommitted: Vec::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
        };
        node.reload_ring()?;
        Ok(node)
    }

    /// Loads the ring from the store's newest events (at start and after a failed commit).
    fn reload_ring(&mut self) -> Result<(), StoreError> {
        self.ring.clear();
        self.ring.declare_loaded(Horizon::Nothing);
        let newest = self.store.query(&[Filter {
            limit: Some(self.ring.tier().slots() as u64),
            ..Filter::default()
        }])?;
        // Inserted oldest first, so the ring's own eviction order stays by arrival.
        for event in newest.iter().rev() {
            let _ = self.ring.insert(event);
            self.seen.insert(&event.id);
        }
        let covered = if newest.len() < self.ring.tier().slots() {
            Horizon::Everything
        } else {
            newest
                .last()
                .map_or(Horizon::Everything, |e| Horizon::after(e.created_at))
        };
        self.ring.declare_loaded(covered);
        Ok(())
    }

    /// Takes an event from a LAN client: checks who may write, verifies id and signature,
    /// recognises duplicates, applies the store's write rules and writes it. An `Ok(Stored)`
    /// is durable only after this turn's [`Node::commit`].
    pub fn submit(&mut self, event: Event, now: UnixTime) -> Result<Accepted, Refused> {
        let result = self.submit_inner(event, now);
        match &result {
            Ok(Accepted::Duplicate) => self.stats.duplicates += 1,
            Ok(_) => {}
            Err(_) => self.stats.refused += 1,
        }
        result
    }

    fn submit_inner(&mut self, event: Event, now: UnixTime) -> Result<Accepted, Refused> {
        if !self.policy.writes_enabled {
            return Err(Refused::WritesDisabled);
        }
        // Clients get the id and signature checked before anything else: a forged copy of a
        // known id must be told it is invalid, not that it is a duplicate.
        event.verify()?;
        if !self.policy.allows(&event.pubkey) {
            return Err(Refused::NotAllowed);
        }
        if event.created_at.0 > now.0.saturating_add(MAX_FUTURE_SECS) {
            return Err(Refused::FromFuture);
        }
        if !kinds::class(event.kind).is_stored() {
            self.events.push_back(NodeEvent::Arrived(event));
            return Ok(Accepted::Ephemeral);
        }
        if self.seen.contains(&event.id) && self.ring.contains(&event.id) {
            // Held in the ring, so certainly stored (the ring mirrors the store).
            self.stats.duplicates_seen += 1;
            return Ok(Accepted::Duplicate);
        }
        match self.store.put(&event)? {
            PutOutcome::Stored => {}
            PutOutcome::Replaced { old } => {
                self.ring.remove(&old);
            }
            PutOutcome::Duplicate => {
                self.seen.insert(&event.id);
                return Ok(Accepted::Duplicate);
            }
            PutOutcome::Superseded => return Err(Refused::Superseded),
            PutOutcome::Deleted => return Err(Refused::Deleted),
            PutOutcome::Ephemeral => return Ok(Accepted::Ephemeral),
        }
        if event.kind == kinds::DELETION {
            self.forget_deleted(&event)?;
        }
        let _ = self.ring.insert(&event);
        self.seen.insert(&event.id);
        self.uncommitted.push(event.id);
        self.stats.stored += 1;
        self.events.push_back(NodeEvent::Arrived(event));
        Ok(Accepted::Stored)
    }

    /// Keeps the ring a mirror after a NIP-09 deletion was stored: `e` targets the store no
    /// longer holds leave the ring; an `a` target (addressable events, found by coordinate)
    /// reloads the ring, which is rare enough to afford.
    fn forget_deleted(&mut self, deletion: &Event) -> Result<(), StoreError> {
        if deletion.tags_named("a").next().is_some() {
            return self.reload_ring();
        }
        for tag in deletion.tags_named("e") {
            let Some(id) = tag.value().and_then(|v| EventId::from_hex(v).ok()) else {
                continue;
            };
            if self.ring.contains(&id) && self.store.get(&id)?.is_none() {
                self.ring.remove(&id);
            }
        }
        Ok(())
    }

    /// Events matching any of `filters`, newest first, as canonical JSON: from the ring when a
    /// single filter lies inside its horizon, else from the store. At most
    /// [`MAX_QUERY_EVENTS`].
    pub fn query_json(&self, filters: &[Filter]) -> Result<Vec<String>, StoreError> {
        if let [filter] = filters
            && let Some(records) = self.ring.query(filter)
        {
            return Ok(records
                .into_iter()
                .take(MAX_QUERY_EVENTS)
                .map(|json| String::from_utf8_lossy(json).into_owned())
                .collect());
        }
        Ok(self.query(filters)?.iter().map(Event::to_json).collect())
    }

    /// Events matching any of `filters`, newest first, from the store. At most
    /// [`MAX_QUERY_EVENTS`].
    pub fn query(&self, filters: &[Filter]) -> Result<Vec<Event>, StoreError> {
        let mut events = self.store.query(filters)?;
        events.truncate(MAX_QUERY_EVENTS);
        Ok(events)
    }

    /// How many stored events match any of `filters` (NIP-45), counted up to the store's query
    /// bound.
    pub fn count(&self, filters: &[Filter]) -> Result<u64, StoreError> {
        let unlimited: Vec<Filter> = filters
            .iter()
            .map(|f| Filter {
                limit: None,
                ..f.clone()
            })
            .collect();
        Ok(self.store.query(&unlimited)?.len() as u64)
    }

    /// Whether a commit would make anything durable (a turn that wrote nothing skips it).
    #[must_use]
    pub fn has_uncommitted(&self) -> bool {
        !self.uncommitted.is_empty()
    }

    /// Makes the turn's writes durable with one fsync. On failure nothing of the turn is
    /// acknowledged: its ids leave the seen set and the ring is reloaded from what the store
    /// still holds (DECISIONS.md 17).
    pub fn commit(&mut self) -> Result<u64, StoreError> {
        match self.store.commit() {
            Ok(n) => {
                self.uncommitted.clear();
                Ok(n)
            }
            Err(e) => {
                self.stats.commits_failed += 1;
                for id in self.uncommitted.drain(..) {
                    self.seen.remove(&id);
                }
                if let Err(reload) = self.reload_ring() {
                    log::warn!("node: ring reload after a failed commit failed: {reload}");
                    self.ring.clear();
                    self.ring.declare_loaded(Horizon::Nothing);
                }
                Err(e)
            }
        }
    }

    /// Tells the node that retention (or anything else outside `submit`) removed these events,
    /// so the ring stops serving them.
    pub fn forget(&mut self, ids: &[EventId]) {
        for id in ids {
            self.ring.remove(id);
        }
    }

    /// The next thing the loop must hear about.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    /// The store, for reads the node does not wrap (usage, state).
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, for retention and state writes. Whoever deletes events through it calls
    /// [`Node::forget`] with their ids.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The ring (fill and counters for `/status`).
    #[must_use]
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The write policy.
    #[must_use]
    pub fn policy(&self) -> &WritePolicy {
        &self.policy
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> NodeStats {
        self.stats
    }
}
