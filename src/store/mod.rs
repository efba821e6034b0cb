//! The event store: the [`EventStore`] and [`StateStore`] traits, one engine that implements
//! them over an ordered key-value backend ([`Kv`]), and two backends: fjall on disk for the
//! daemon ([`fjall::FjallKv`]) and B-trees in memory for tests and the simulator
//! ([`memory::MemoryKv`]). Both run the same engine, so the shared test suite tests one set of
//! rules twice, and a property test checks the engine against a naive reference.
//!
//! Blocking disk I/O, but no clock, no tokio and no OS randomness: callers pass time in.
//! Layout and reasons: `docs/storage.md`.

pub mod engine;
pub mod fjall;
pub mod keys;
pub mod memory;
pub mod recent;
pub mod retention;

#[cfg(test)]
pub mod tests;

pub use engine::{Store, Usage};

use crate::nostr::{Event, EventId, filter::Filter};

/// Why the store refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The disk is full or read-only: writes are refused, reads go on.
    #[error("storage full")]
    Full,
    #[error("store I/O failed while {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("store backend failed while {op}: {message}")]
    Backend { op: &'static str, message: String },
    #[error("store record is damaged ({what})")]
    Corrupt { what: String },
}

/// What [`EventStore::put`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored (and, for a deletion, its targets removed).
    Stored,
    /// Stored, replacing an older version of the same replaceable or addressable event.
    Replaced { old: EventId },
    /// Already stored: nothing written.
    Duplicate,
    /// A newer (or the same) version of this replaceable or addressable event is stored.
    Superseded,
    /// The author deleted this event (NIP-09): refused.
    Deleted,
    /// Ephemeral kinds (20 000–29 999) are never stored.
    Ephemeral,
}

impl PutOutcome {
    /// Whether the event is now in the store as a result of this call.
    #[must_use]
    pub fn stored(&self) -> bool {
        matches!(self, Self::Stored | Self::Replaced { .. })
    }
}

/// The event store the node writes to and queries. Writes become durable at [`commit`]
/// (`EventStore::commit`), which the loop calls once per turn.
pub trait EventStore {
    /// Stores a verified event under the NIP-01/NIP-09 write rules (module docs).
    fn put(&mut self, event: &Event) -> Result<PutOutcome, StoreError>;
    /// The event with this id, if stored.
    fn get(&self, id: &EventId) -> Result<Option<Event>, StoreError>;
    /// Events matching any of `filters`, newest first (same `created_at`: lowest id first),
    /// each filter's `limit` honoured (and capped by the store's own bound).
    fn query(&self, filters: &[Filter]) -> Result<Vec<Event>, StoreError>;
    /// Removes an event and its index entries (retention and NIP-09 use this); false if absent.
    fn delete(&mut self, id: &EventId) -> Result<bool, StoreError>;
    /// Counts and sizes.
    fn usage(&self) -> Usage;
    /// Makes every write so far durable (one fsync). Returns how many commits have completed,
    /// so callers can prove an acknowledgement followed a commit.
    fn commit(&mut self) -> Result<u64, StoreError>;
}

/// Small records the node keeps beside its events: the owner, the schema version, and later
/// the address book, retry queue and sync watermarks. Keys are short ASCII names.
pub trait StateStore {
    /// The value stored under `key`.
    fn state(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` (durable at the next commit).
    fn set_state(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key`.
    fn remove_state(&mut self, key: &str) -> Result<(), StoreError>;
}

/// The three keyspaces of the store (ARCHITECTURE.md "Storage").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    /// id → compact binary record (`nostr::binary`).
    Events,
    /// key-only index entries (`keys`).
    Index,
    /// `StateStore` records.
    State,
}

/// One write of an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Space, Vec<u8>, Vec<u8>),
    Delete(Space, Vec<u8>),
}

/// An ordered key-value backend: what the engine needs from fjall or from memory.
pub trait Kv {
    /// The value under `key`.
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Visits the keys in `[from, to)` in ascending order until `visit` returns false. Values
    /// are not loaded: the engine scans index entries, which are key-only.
    fn scan_keys(
        &self,
        space: Space,
        from: &[u8],
        to: &[u8],
        visit: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), StoreError>;
    /// Like [`Kv::scan_keys`], in descending order (retention walks the time index from its
    /// oldest end).
    fn scan_keys_rev(
        &self,
        space: Space,
        from: &[u8],
        to: &[u8],
        visit: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), StoreError>;
    /// Applies `ops` atomically: after a crash, all or none of them are present.
    fn write(&mut self, ops: Vec<Op>) -> Result<(), StoreError>;
    /// Makes every write so far durable.
    fn persist(&mut self) -> Result<(), StoreError>;
    /// Bytes the backend occupies on disk (0 in memory).
    fn disk_bytes(&self) -> u64;
    /// Where the data lives, for error messages (a path, or "memory").
    fn location(&self) -> String;
}
