//! The NIP-11 relay information document, served on the websocket port to a plain HTTP GET
//! with `Accept: application/nostr+json`. `limitation` states the limits this relay enforces,
//! from the same constants the code uses, so the document cannot drift from the behaviour.

use serde_json::{Value, json};

use super::proto::{MAX_FILTERS, MAX_SUB_ID_CHARS};
use super::{MAX_CONNECTIONS, MAX_LIMIT, MAX_MESSAGE_BYTES, MAX_SUBS_PER_CONN};
use crate::node::MAX_FUTURE_SECS;
use crate::nostr::PubKey;
use crate::nostr::limits::{MAX_EVENT_JSON, MAX_TAGS};

/// NIPs that really work on this port: 1 (protocol), 9 (deletion), 11 (this document), 40 is
/// not claimed (expiration is not enforced), 45 (`COUNT`).
pub const SUPPORTED_NIPS: [u16; 4] = [1, 9, 11, 45];

/// The document for a node serving `owner`; `writes_open` says whether non-owner writes are
/// accepted (config `api.open_writes`).
#[must_use]
pub fn document(owner: &PubKey, writes_open: bool) -> Value {
    json!({
        "name": "nostrp2p",
        "description": "A personal Nostr node: its owner's relay on the home network, \
                        linked to other nodes over an encrypted mesh.",
        "pubkey": owner.to_hex(),
        "supported_nips": SUPPORTED_NIPS,
        "software": "nostrp2p",
        "version": env!("CARGO_PKG_VERSION"),
        "limitation": {
            "max_message_length": MAX_MESSAGE_BYTES,
            "max_subscriptions": MAX_SUBS_PER_CONN,
            "max_filters": MAX_FILTERS,
            "max_limit": MAX_LIMIT,
            "default_limit": MAX_LIMIT,
            "max_subid_length": MAX_SUB_ID_CHARS,
            "max_event_tags": MAX_TAGS,
            "max_content_length": MAX_EVENT_JSON,
            "max_connections": MAX_CONNECTIONS,
            "min_pow_difficulty": 0,
            "auth_required": false,
            "payment_required": false,
            "restricted_writes": !writes_open,
            "created_at_upper_limit": MAX_FUTURE_SECS,
        },
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // a missing key reads as null and fails the assertion
mod tests {
    use super::*;

    #[test]
    fn states_the_enforced_limits() {
        let doc = document(&PubKey([1; 32]), false);
        let lim = &doc["limitation"];
        assert_eq!(lim["max_subscriptions"], 20);
        assert_eq!(lim["max_filters"], 10);
        assert_eq!(lim["restricted_writes"], true);
        assert_eq!(lim["auth_required"], false);
        assert_eq!(doc["supported_nips"], json!([1, 9, 11, 45]));
    }
}
