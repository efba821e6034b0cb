//! Upstream NostrP2P's "recent events" query (its pseudo-kind 40000, notes/upstream.md §3.4),
//! which its web client polls every 10 s: raw `since`/`until`/`limit` integers with their own
//! meaning, answered in ascending time order.
//!
//! 1. `since == 0` ⇒ the period is "not specified"; `until == 0` ⇒ no upper bound;
//!    `limit == 0` ⇒ no limit (-1).
//! 2. A limit (anything but -1) ⇒ the latest `limit` events, whatever since/until say.
//! 3. Otherwise every event with `since <= created_at <= until` (inclusive; values literal, so
//!    a negative `since` admits everything and a negative `until` nothing).
//! 4. Period not specified and more than [`RECENT_UNSPECIFIED_MAX`] results ⇒ the newest 50.
//! 5. All kinds mixed, ascending `created_at`; ties by ascending id (upstream left them to
//!    storage order).

use super::engine::MAX_QUERY_LIMIT;
use super::{EventStore, StoreError};
use crate::nostr::filter::Filter;
use crate::nostr::{Event, UnixTime};

/// Upstream's cap when no period is given (its "Nostr-client compat cap").
pub const RECENT_UNSPECIFIED_MAX: usize = 50;

/// Answers upstream's kind-40000 request (module docs).
pub fn recent_events(
    store: &impl EventStore,
    since: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<Event>, StoreError> {
    let unspecified = since == 0;
    let (since, until) = if unspecified {
        (-1, -1)
    } else {
        (since, if until == 0 { i64::MAX } else { until })
    };
    let limit = if limit == 0 { -1 } else { limit };
    let mut filter = Filter::default();
    if limit != -1 {
        // Rule 2: a limit overrides the period. A negative limit other than -1 asks for nothing.
        filter.limit = Some(u64::try_from(limit).unwrap_or(0));
    } else if unspecified {
        // Rules 3 and 4 with since = until = -1 taken literally would match nothing; upstream's
        // code skips the range for an unspecified period and keeps the newest 50.
        filter.limit = Some(RECENT_UNSPECIFIED_MAX as u64);
    } else {
        if until < 0 || until < since {
            return Ok(Vec::new());
        }
        filter.since = Some(UnixTime(u64::try_from(since).unwrap_or(0)));
        filter.until = Some(UnixTime(u64::try_from(until).unwrap_or(u64::MAX)));
        filter.limit = Some(MAX_QUERY_LIMIT as u64);
    }
    let mut events = store.query(std::slice::from_ref(&filter))?;
    // The store answers newest first; upstream answers oldest first.
    events.reverse();
    events.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(events)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::Store;
    use crate::store::memory::MemoryKv;
    use crate::store::tests::ev;

    fn times(events: &[Event]) -> Vec<u64> {
        events.iter().map(|e| e.created_at.0).collect()
    }

    #[test]
    fn upstream_rules() {
        let mut s = Store::open(MemoryKv::new()).unwrap();
        for t in 1..=80u64 {
            s.put(&ev(
                1,
                1_000 + t,
                if t % 2 == 0 { 1 } else { 7 },
                vec![],
                &format!("{t}"),
            ))
            .unwrap();
        }
        // The client's first poll: a limit overrides since/until = -1.
        let first = recent_events(&s, -1, -1, 300).unwrap();
        assert_eq!(first.len(), 80);
        assert_eq!(times(&first).first(), Some(&1_001), "ascending");
        let latest = recent_events(&s, 1_070, 1_075, 5).unwrap();
        assert_eq!(
            times(&latest),
            vec![1_076, 1_077, 1_078, 1_079, 1_080],
            "limit ignores the period"
        );
        // Later polls: since = last seen (inclusive), until = now, no limit.
        let window = recent_events(&s, 1_078, 1_090, -1).unwrap();
        assert_eq!(times(&window), vec![1_078, 1_079, 1_080]);
        // No period, no limit: the newest 50.
        let unspecified = recent_events(&s, 0, 0, 0).unwrap();
        assert_eq!(unspecified.len(), RECENT_UNSPECIFIED_MAX);
        assert_eq!(times(&unspecified).first(), Some(&1_031));
        // until = 0 means no upper bound; a negative until admits nothing.
        assert_eq!(recent_events(&s, 1_079, 0, -1).unwrap().len(), 2);
        assert!(recent_events(&s, 5, -1, -1).unwrap().is_empty());
        // A negative since is a real bound that admits everything.
        assert_eq!(recent_events(&s, -5, 2_000, -1).unwrap().len(), 80);
    }
}
