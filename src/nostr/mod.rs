//! The Nostr event core: NIP-01 events, BIP-340 keys, filters, kind classes, tag semantics
//! (NIP-09/10/18/25), NIP-19 bech32 and upstream NostrP2P's MessagePack form.
//!
//! Sans-IO and a leaf of the crate: no clock, no OS randomness, no sockets, no files, and no
//! `use crate::…` outside this module. Callers pass time and randomness in. Every decoder here
//! takes bytes or strings from strangers, so it returns typed errors and never panics.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

pub mod binary;
pub mod event;
pub mod filter;
pub mod hex;
pub mod keys;
pub mod kinds;
pub mod limits;
pub mod nip19;
pub mod tags;
pub mod types;
pub mod upstream;

pub use event::{Event, EventError, Tag, UnsignedEvent};
pub use keys::{KeyError, Keys};
pub use types::{EventId, Kind, PubKey, Signature, UnixTime};
