//! `GET /status`: the JSON document the loop builds (version, uptime, owner, node id, store,
//! ring, mesh, threads, RSS, and this API's `"http"` section). `nostrp2p status` reads it.

use super::super::reply::Reply;

/// Answers with the loop's status document.
#[must_use]
pub fn handle(status: Option<&serde_json::Value>) -> Reply {
    match status {
        Some(value) => Reply::json(value),
        // The loop builds the document for every request whose route needs it.
        None => Reply::error(500, "status unavailable"),
    }
}
