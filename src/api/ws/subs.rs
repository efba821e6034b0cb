//! One connection's subscriptions and live matching.
//!
//! A subscription is its filters; a `REQ` with a live id replaces it (NIP-01). Live events are
//! matched against every subscription of every connection: at most
//! [`MAX_SUBS_TOTAL`](super::MAX_SUBS_TOTAL) × [`MAX_FILTERS`](super::proto::MAX_FILTERS)
//! filter checks per event, cheap fields first ([`Filter::matches`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::nostr::filter::{Filter, matches_any};
use crate::nostr::{Event, EventId};

/// One subscription.
#[derive(Debug, Clone)]
struct Sub {
    filters: Vec<Filter>,
    /// Events stored earlier in the turn that opened the subscription: its stored answer held
    /// them already, so their live delivery at the end of the turn is skipped. Cleared when the
    /// turn ends.
    answered: BTreeSet<EventId>,
}

/// The subscriptions of one connection, by id.
#[derive(Debug, Clone, Default)]
pub struct Subs {
    subs: BTreeMap<String, Sub>,
}

impl Subs {
    /// Adds or replaces `sub_id`; `answered` are ids its stored answer already covered this turn.
    /// Returns whether it replaced one (the total count does not change then).
    pub fn insert(
        &mut self,
        sub_id: String,
        filters: Vec<Filter>,
        answered: BTreeSet<EventId>,
    ) -> bool {
        self.subs
            .insert(sub_id, Sub { filters, answered })
            .is_some()
    }

    /// Removes `sub_id`; whether it was there.
    pub fn remove(&mut self, sub_id: &str) -> bool {
        self.subs.remove(sub_id).is_some()
    }

    /// Whether `sub_id` is live.
    #[must_use]
    pub fn contains(&self, sub_id: &str) -> bool {
        self.subs.contains_key(sub_id)
    }

    /// How many are live.
    #[must_use]
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// Whether none is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// Ids of the subscriptions `event` is for.
    pub fn matching<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = &'a str> + 'a {
        self.subs
            .iter()
            .filter(move |(_, s)| !s.answered.contains(&event.id) && matches_any(&s.filters, event))
            .map(|(id, _)| id.as_str())
    }

    /// The turn ended: forget which events stored answers covered.
    pub fn end_turn(&mut self) {
        for sub in self.subs.values_mut() {
            sub.answered.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nostr::{Keys, Kind, UnixTime, UnsignedEvent};

    fn note(kind: u16, content: &str) -> Event {
        let keys = Keys::from_secret_bytes([7u8; 32]).expect("test key");
        UnsignedEvent::new(&keys, UnixTime(1_000), Kind(kind), vec![], content)
            .sign(&keys, &[0u8; 32])
            .expect("sign")
    }

    #[test]
    fn matches_replaces_and_skips_answered() {
        let mut subs = Subs::default();
        let kind1 = Filter {
            kinds: Some([Kind(1)].into()),
            ..Filter::default()
        };
        let ev = note(1, "a");
        assert!(!subs.insert("s".into(), vec![kind1.clone()], BTreeSet::new()));
        assert_eq!(subs.matching(&ev).collect::<Vec<_>>(), ["s"]);
        assert!(subs.matching(&note(7, "b")).next().is_none());
        // Replacing with a stored answer that covered `ev`: not delivered twice this turn.
        assert!(subs.insert("s".into(), vec![kind1], [ev.id].into()));
        assert_eq!(subs.len(), 1);
        assert!(subs.matching(&ev).next().is_none());
        subs.end_turn();
        assert_eq!(subs.matching(&ev).count(), 1);
        assert!(subs.remove("s"));
        assert!(subs.is_empty());
    }
}
