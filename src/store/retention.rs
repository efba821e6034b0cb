//! Retention: keeps the store within its board budget (logical record bytes, event count,
//! maximum age), evicting the oldest evictable events first, a bounded amount per loop turn.
//!
//! Kept whatever the budget (ARCHITECTURE.md "Storage"): the owner's own events; profiles,
//! follow lists and relay lists (kinds 0, 3, 10002: only the newest per author is ever stored),
//! node lists and announcements (10777, 30777); events that mention or answer the owner (a `p`
//! tag naming the owner); and events the owner reacted to. If the protected events alone exceed
//! the budget, [`Eviction::over_budget`] stays set after a full pass: the node reports it and
//! refuses foreign events (DECISIONS.md 19).
//!
//! Work is bounded: each call examines at most [`EVICT_SCAN_PER_TURN`] index keys and deletes
//! at most [`EVICT_PER_TURN`] events, resuming where it stopped, so a large eviction is spread
//! over many turns and never stalls the loop.

use super::keys::{self, Prefix};
use super::{EventStore, Kv, Space, Store, StoreError};
use crate::nostr::kinds;
use crate::nostr::{Event, EventId, Kind, PubKey, UnixTime};

/// Most events deleted per call (per loop turn). Each deletion is one small batch; 64 of them
/// cost a few milliseconds on an SD card, well inside a turn.
pub const EVICT_PER_TURN: usize = 64;

/// Most index keys examined per call, so a long run of protected events at the old end of the
/// store cannot make one turn slow.
pub const EVICT_SCAN_PER_TURN: usize = 1_024;

/// Kinds that are never evicted (module docs).
const PROTECTED_KINDS: [Kind; 5] = [
    kinds::METADATA,
    kinds::FOLLOW_LIST,
    kinds::RELAY_LIST,
    kinds::NODE_LIST,
    kinds::NODE_ANNOUNCEMENT,
];

/// The budget the store is held to (from the board profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Logical record bytes.
    pub max_bytes: u64,
    /// Events.
    pub max_events: u64,
    /// Oldest `created_at` kept, in seconds before now.
    pub max_age_secs: u64,
}

/// What one call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Eviction {
    /// Events deleted by this call.
    pub evicted: usize,
    /// Index keys examined.
    pub scanned: usize,
    /// The store is still over its byte or count budget.
    pub over_budget: bool,
    /// A pass over the whole store ended without getting under budget: what is left is
    /// protected.
    pub protected_exceed_budget: bool,
}

/// Where the previous call stopped (the time-index key to resume below), kept by the caller.
#[derive(Debug, Clone, Default)]
pub struct Cursor(Option<Vec<u8>>);

impl<K: Kv> Store<K> {
    /// Evicts up to [`EVICT_PER_TURN`] events: expired ones, then, while over the byte or count
    /// budget, the oldest unprotected ones.
    pub fn evict(
        &mut self,
        budget: &Budget,
        owner: &PubKey,
        now: UnixTime,
        cursor: &mut Cursor,
    ) -> Result<Eviction, StoreError> {
        self.evict_into(budget, owner, now, cursor, &mut Vec::new())
    }

    /// [`Store::evict`], also appending the id of every evicted event to `evicted`, so that
    /// caches in front of the store (the ring) can drop them.
    pub fn evict_into(
        &mut self,
        budget: &Budget,
        owner: &PubKey,
        now: UnixTime,
        cursor: &mut Cursor,
        evicted: &mut Vec<EventId>,
    ) -> Result<Eviction, StoreError> {
        let cutoff = now.0.saturating_sub(budget.max_age_secs);
        let over = |s: &Self| {
            let u = s.usage();
            u.record_bytes > budget.max_bytes || u.events > budget.max_events
        };
        let mut report = Eviction::default();
        // Oldest first: the time index descending, from the cursor (exclusive) or the end.
        let time = Prefix::time();
        let end = cursor
            .0
            .clone()
            .unwrap_or_else(|| keys::prefix_end(&time.0));
        let mut candidates: Vec<(Vec<u8>, u64, UnixTime)> = Vec::new();
        let need_more = over(self);
        // Set when a per-turn cap (not the end of the work) stopped the scan.
        let mut stopped_early = false;
        self.kv()
            .scan_keys_rev(Space::Index, &time.0, &end, &mut |key| {
                report.scanned += 1;
                let Some((t, seq)) = keys::split_suffix(key) else {
                    return true;
                };
                // Expired events go whatever the budget; younger ones only while over budget, and
                // everything past the first young one is younger still.
                if t.0 >= cutoff && !need_more {
                    return false;
                }
                candidates.push((key.to_vec(), seq, t));
                if report.scanned >= EVICT_SCAN_PER_TURN || candidates.len() >= 4 * EVICT_PER_TURN {
                    stopped_early = true;
                    return false;
                }
                true
            })?;
        let mut last_key = None;
        for (key, seq, t) in candidates {
            if report.evicted >= EVICT_PER_TURN {
                stopped_early = true;
                break;
            }
            if t.0 >= cutoff && !over(self) {
                break;
            }
            last_key = Some(key);
            let Some(event) = self.get_seq(seq)? else {
                continue;
            };
            if !self.protected(&event, owner)? {
                self.delete(&event.id)?;
                evicted.push(event.id);
                report.evicted += 1;
            }
        }
        report.over_budget = over(self);
        if stopped_early {
            // Resume below the last key examined, so protected events are not re-read.
            if last_key.is_some() {
                cursor.0 = last_key;
            }
        } else {
            // A pass is complete: what is still over budget is protected.
            report.protected_exceed_budget = report.over_budget;
            cursor.0 = None;
        }
        Ok(report)
    }

    /// Whether retention must keep `event` (module docs).
    pub fn protected(&self, event: &Event, owner: &PubKey) -> Result<bool, StoreError> {
        if event.pubkey == *owner || PROTECTED_KINDS.contains(&event.kind) {
            return Ok(true);
        }
        let owner_hex = owner.to_hex();
        if event
            .tags_named("p")
            .any(|t| t.value() == Some(owner_hex.as_str()))
        {
            return Ok(true);
        }
        // A reaction by the owner to this event: `#e` = its id, author = owner, kind 7 (the
        // index key holds only a prefix of the id, so the tag is checked on the reaction).
        let id_hex = event.id.to_hex();
        let prefix = Prefix::tag(b'e', &id_hex);
        let (from, to) = prefix.range(None, None);
        let mut reacted = false;
        let mut failure = None;
        self.kv().scan_keys(Space::Index, &from, &to, &mut |key| {
            let Some((_, seq)) = keys::split_suffix(key) else {
                return true;
            };
            match self.get_seq(seq) {
                Ok(Some(e))
                    if e.pubkey == *owner
                        && e.kind == kinds::REACTION
                        && e.tags_named("e")
                            .any(|t| t.value() == Some(id_hex.as_str())) =>
                {
                    reacted = true;
                    false
                }
                Ok(_) => true,
                Err(err) => {
                    failure = Some(err);
                    false
                }
            }
        })?;
        failure.map_or(Ok(reacted), Err)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::nostr::Tag;
    use crate::store::memory::MemoryKv;
    use crate::store::tests::{ev, keys};

    fn budget(max_events: u64) -> Budget {
        Budget {
            max_bytes: u64::MAX,
            max_events,
            max_age_secs: 1_000_000,
        }
    }

    #[test]
    fn evicts_oldest_unprotected_first_until_under_budget() {
        let mut s = Store::open(MemoryKv::new()).unwrap();
        let owner = keys(9).public();
        let others: Vec<Event> = (0..10)
            .map(|i| ev(1, 100 + i, 1, vec![], &format!("n{i}")))
            .collect();
        let own = ev(9, 50, 1, vec![], "mine, oldest of all");
        let mention = ev(2, 51, 1, vec![Tag::new(["p", &owner.to_hex()])], "hi owner");
        let profile = ev(3, 52, 0, vec![], "{}");
        let liked = ev(4, 53, 1, vec![], "liked by the owner");
        let like = ev(9, 300, 7, vec![Tag::new(["e", &liked.id.to_hex()])], "+");
        for e in others
            .iter()
            .chain([&own, &mention, &profile, &liked, &like])
        {
            s.put(e).unwrap();
        }
        let mut cursor = Cursor::default();
        let report = s
            .evict(&budget(10), &owner, UnixTime(400), &mut cursor)
            .unwrap();
        assert_eq!(report.evicted, 5);
        assert!(!report.over_budget);
        assert_eq!(s.usage().events, 10);
        for kept in [&own, &mention, &profile, &liked, &like] {
            assert!(
                s.get(&kept.id).unwrap().is_some(),
                "{} is protected",
                kept.content
            );
        }
        // The five oldest plain notes went, the five newest stayed.
        for (i, e) in others.iter().enumerate() {
            assert_eq!(s.get(&e.id).unwrap().is_some(), i >= 5, "note {i}");
        }
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn expired_events_go_even_under_budget_and_work_is_bounded() {
        let mut s = Store::open(MemoryKv::new()).unwrap();
        let owner = keys(9).public();
        for i in 0..(EVICT_PER_TURN as u64 + 36) {
            s.put(&ev(1, 10 + i, 1, vec![], &format!("old {i}")))
                .unwrap();
        }
        let fresh = ev(1, 10_000, 1, vec![], "fresh");
        s.put(&fresh).unwrap();
        let b = Budget {
            max_bytes: u64::MAX,
            max_events: u64::MAX,
            max_age_secs: 1_000,
        };
        let mut cursor = Cursor::default();
        let first = s.evict(&b, &owner, UnixTime(10_500), &mut cursor).unwrap();
        assert_eq!(first.evicted, EVICT_PER_TURN, "bounded per turn");
        let mut ids = Vec::new();
        let second = s
            .evict_into(&b, &owner, UnixTime(10_500), &mut cursor, &mut ids)
            .unwrap();
        assert_eq!(second.evicted, 36);
        assert_eq!(ids.len(), 36, "every evicted id is reported");
        for id in &ids {
            assert!(s.get(id).unwrap().is_none(), "a reported id is gone");
        }
        assert_eq!(s.usage().events, 1);
        assert!(s.get(&fresh.id).unwrap().is_some());
    }

    #[test]
    fn protected_events_alone_over_budget_are_reported() {
        let mut s = Store::open(MemoryKv::new()).unwrap();
        let owner = keys(9).public();
        for i in 0..5 {
            s.put(&ev(9, 100 + i, 1, vec![], &format!("mine {i}")))
                .unwrap();
        }
        let mut cursor = Cursor::default();
        let report = s
            .evict(&budget(2), &owner, UnixTime(200), &mut cursor)
            .unwrap();
        assert_eq!(report.evicted, 0);
        assert!(report.over_budget && report.protected_exceed_budget);
        assert_eq!(s.usage().events, 5, "the owner's events are never evicted");
    }

    #[test]
    fn byte_budget_counts_record_bytes() {
        let mut s = Store::open(MemoryKv::new()).unwrap();
        let owner = keys(9).public();
        for i in 0..20 {
            s.put(&ev(1, 100 + i, 1, vec![], &"x".repeat(200))).unwrap();
        }
        let per = s.usage().record_bytes / 20;
        let b = Budget {
            max_bytes: per * 8,
            max_events: u64::MAX,
            max_age_secs: u64::MAX,
        };
        let mut cursor = Cursor::default();
        s.evict(&b, &owner, UnixTime(200), &mut cursor).unwrap();
        assert!(s.usage().record_bytes <= per * 8);
        assert_eq!(s.usage().events, 8);
    }
}
