//! The LAN client API: upstream NostrP2P's REST (`http`, port P+1, tiny_http behind our own
//! admission) and the NIP-01 websocket relay with NIP-11 (`ws`, port P+2, on the loop).
//!
//! The loop owns every piece of API state and the [`crate::node::Node`]; connection tasks and
//! the tiny_http bridge thread only move bytes and talk to the loop over bounded channels.
//! Shared here: who counts as the LAN ([`admission`]) and what the loop hands the API at the
//! end of a turn ([`Committed`]).
//!
//! Contract with the loop (daemon/run.rs), per turn: accept → `admit`; each message from a
//! channel → `handle(&mut node, now, …)`; then every `node.poll_event()` → live delivery; then
//! one `node.commit()` when `node.has_uncommitted()`; then `release(&Committed)` on every part
//! holding parked acknowledgements, so an `OK true` / `SUCCESS` always follows its fsync.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

pub mod admission;
pub mod http;
pub mod tls;
pub mod ws;

use crate::store::StoreError;

/// How the turn's commit ended, for the acknowledgements parked until it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Every write of the turn is on disk: parked writes are acknowledged.
    Durable,
    /// The disk is full or read-only: parked writes get `error: storage full` (REST 503).
    StorageFull,
    /// Another failure: parked writes get `error: …` with this text (REST 500).
    Failed(String),
}

impl Committed {
    /// From the result of `Node::commit`.
    #[must_use]
    pub fn from_result(result: &Result<u64, StoreError>) -> Self {
        match result {
            Ok(_) => Self::Durable,
            Err(StoreError::Full) => Self::StorageFull,
            Err(e) => Self::Failed(e.to_string()),
        }
    }

    /// The NIP-01 `OK` pair for a parked write.
    #[must_use]
    pub fn ok_reply(&self) -> (bool, String) {
        match self {
            Self::Durable => (true, String::new()),
            Self::StorageFull => (false, "error: storage full".to_owned()),
            Self::Failed(e) => (false, format!("error: {e}")),
        }
    }
}
