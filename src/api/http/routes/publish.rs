//! `POST /publish`: upstream NostrP2P's event submission (notes/upstream.md §3.2), byte for
//! byte where its client can tell, stricter where upstream was a defect.
//!
//! Order of checks, as upstream: the body must decode (400 with the decoder's text); writes
//! disabled → 406 `Write is denied`; a bad signature → 400 `Invalid Sig`; then upstream's kind
//! rules (kind 1 with empty content → 400 `Content is required`; kind 0 or 3 with `"tags":
//! null` → 400 `Tags is null`). Then the node decides. Differences on purpose (docs/api.md):
//! a forged id is `Invalid Sig` (upstream never recomputes it); a foreign author gets 403 with
//! the reason (upstream silently answers SUCCESS for kind 0 and relays 1/6/7 from anyone,
//! DECISIONS.md 9); every kind the store takes is accepted (upstream answers 500 outside
//! 0/1/3/6/7); a reaction without `p` is 400, not a crash; SUCCESS for a stored event comes
//! only after the turn's commit.

use crate::node::{Accepted, Node, Refused};
use crate::nostr::{Event, EventError, UnixTime, kinds};
use crate::store::{EventStore, StateStore};

use super::super::reply::Reply;

/// What the route decided.
#[derive(Debug)]
pub enum Outcome {
    /// Answer now.
    Now(Reply),
    /// Stored: answer `SUCCESS` (or the commit's failure) after this turn's commit.
    AfterCommit,
}

/// upstream's text for a signature (and, here, id) that does not verify.
pub const INVALID_SIG: &str = "Invalid Sig";
/// upstream's text when writes are disabled (`-w=false`), with 406.
pub const WRITE_DENIED: &str = "Write is denied";

/// Handles one `/publish` body.
pub fn handle<S: EventStore + StateStore>(
    node: &mut Node<S>,
    now: UnixTime,
    body: &[u8],
) -> Outcome {
    let (event, tags_null) = match decode(body) {
        Ok(decoded) => decoded,
        Err(EventError::TooLarge { size, limit }) => {
            return Outcome::Now(Reply::error(
                413,
                &format!("event is {size} bytes, over the {limit}-byte limit"),
            ));
        }
        Err(e) => return Outcome::Now(Reply::error(400, &e.to_string())),
    };
    if !node.policy().writes_enabled {
        return Outcome::Now(Reply::error(406, WRITE_DENIED));
    }
    if let Some(rule) = kind_rule(&event, tags_null) {
        // upstream checks the signature before its kind rules; verify only on this rare path,
        // the node verifies every other event once.
        return Outcome::Now(match event.verify() {
            Err(_) => Reply::error(400, INVALID_SIG),
            Ok(()) => Reply::error(400, rule),
        });
    }
    match node.submit(event, now) {
        Ok(Accepted::Stored) => Outcome::AfterCommit,
        Ok(Accepted::Ephemeral | Accepted::Duplicate) => Outcome::Now(Reply::success()),
        Err(refused) => Outcome::Now(refusal(&refused)),
    }
}

/// The reply for an event the node refused.
fn refusal(refused: &Refused) -> Reply {
    match refused {
        Refused::Invalid(
            EventError::BadSignature | EventError::IdMismatch { .. } | EventError::InvalidPublicKey,
        ) => Reply::error(400, INVALID_SIG),
        Refused::Invalid(_) | Refused::FromFuture => Reply::error(400, &refused.message()),
        Refused::NotAllowed => Reply::error(403, &refused.message()),
        Refused::WritesDisabled => Reply::error(406, WRITE_DENIED),
        // An older version of a replaceable event: upstream answers SUCCESS (DECISIONS.md 7).
        Refused::Superseded => Reply::success(),
        Refused::Deleted => Reply::error(409, &refused.message()),
        Refused::StorageFull => Reply::error(503, &refused.message()),
        Refused::Store(_) => Reply::error(500, &refused.message()),
    }
}

/// upstream's per-kind rules, checked after the signature.
fn kind_rule(event: &Event, tags_null: bool) -> Option<&'static str> {
    match event.kind {
        kinds::TEXT_NOTE if event.content.is_empty() => Some("Content is required"),
        kinds::METADATA | kinds::FOLLOW_LIST if tags_null => Some("Tags is null"),
        kinds::REACTION if event.first_tag_value("p").is_none() => {
            Some("a reaction needs a p tag naming the author reacted to")
        }
        _ => None,
    }
}

/// Decodes the body. Go decodes `"tags": null` as an empty list (and signs over `[]`), so a
/// null `tags` is read as `[]` and reported, for upstream's kind 0/3 rule.
pub fn decode(body: &[u8]) -> Result<(Event, bool), EventError> {
    match Event::from_json(body) {
        Ok(event) => Ok((event, false)),
        Err(EventError::Malformed(msg)) => {
            let Ok(serde_json::Value::Object(mut map)) =
                serde_json::from_slice::<serde_json::Value>(body)
            else {
                return Err(EventError::Malformed(msg));
            };
            if !map.get("tags").is_some_and(serde_json::Value::is_null) {
                return Err(EventError::Malformed(msg));
            }
            map.insert("tags".to_owned(), serde_json::Value::Array(Vec::new()));
            let fixed = serde_json::Value::Object(map).to_string();
            Event::from_json(fixed.as_bytes()).map(|e| (e, true))
        }
        Err(e) => Err(e),
    }
}
