//! Bounds on what one Nostr event may carry. Everything over a bound is a typed
//! [`EventError`](super::EventError), never a panic or an unbounded allocation.

/// Largest event JSON accepted, in bytes (64 KiB, as strfry's `maxEventSize`).
pub const MAX_EVENT_JSON: usize = 64 * 1024;

/// Largest JSON for follow lists (kind 3) and other replaceable lists (10 000–19 999):
/// a follow list of ~850 accounts already passes 64 KiB (DECISIONS.md 8).
pub const MAX_LIST_EVENT_JSON: usize = 256 * 1024;

/// Most tags on one event. A 256 KiB follow list holds about 3 400 `p` tags of ~75 bytes,
/// so this admits every list that fits [`MAX_LIST_EVENT_JSON`].
pub const MAX_TAGS: usize = 4096;

/// Most strings in one tag. NIP-92 `imeta` tags, the widest in use, carry about ten.
pub const MAX_TAG_FIELDS: usize = 32;

/// Largest single string inside a tag, in bytes. URLs, `alt` texts and `imeta` fields fit;
/// a tag is not a place for a document.
pub const MAX_TAG_FIELD_BYTES: usize = 8 * 1024;

/// The JSON size bound that applies to an event of `kind`.
#[must_use]
pub fn max_event_json(kind: u16) -> usize {
    if kind == 3 || (10_000..20_000).contains(&kind) {
        MAX_LIST_EVENT_JSON
    } else {
        MAX_EVENT_JSON
    }
}
