//! The node over the in-memory store: who may write, verification before anything else,
//! duplicates, the write rules' outcomes, the ring mirroring the store, failed commits.

#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use super::*;
use crate::nostr::Tag;
use crate::store::Store;
use crate::store::memory::MemoryKv;
use crate::store::tests::{ev, filter, keys};

const NOW: UnixTime = UnixTime(1_000);

fn node() -> Node<Store<MemoryKv>> {
    let store = Store::open(MemoryKv::new()).unwrap();
    Node::new(
        store,
        RingTier::Xs,
        &[7; 32],
        WritePolicy::owner_only(keys(1).public()),
    )
    .unwrap()
}

fn drain(n: &mut Node<Store<MemoryKv>>) -> Vec<NodeEvent> {
    std::iter::from_fn(|| n.poll_event()).collect()
}

#[test]
fn owner_event_is_stored_announced_and_committed() {
    let mut n = node();
    let e = ev(1, 900, 1, vec![], "hello");
    assert_eq!(n.submit(e.clone(), NOW).unwrap(), Accepted::Stored);
    assert!(n.has_uncommitted());
    assert_eq!(drain(&mut n), vec![NodeEvent::Arrived(e.clone())]);
    let commits = n.commit().unwrap();
    assert!(commits >= 1);
    assert!(!n.has_uncommitted());
    assert_eq!(n.query(&[filter(serde_json::json!({}))]).unwrap(), vec![e]);
}

#[test]
fn foreign_author_is_restricted_unless_listed_or_open() {
    let mut n = node();
    let foreign = ev(2, 900, 1, vec![], "not the owner");
    let err = n.submit(foreign.clone(), NOW).unwrap_err();
    assert!(matches!(err, Refused::NotAllowed));
    assert!(err.message().starts_with("restricted: "));
    assert!(drain(&mut n).is_empty());
    assert!(n.query(&[Filter::default()]).unwrap().is_empty());

    let mut listed = node();
    listed.policy.writers.push(keys(2).public());
    assert_eq!(
        listed.submit(foreign.clone(), NOW).unwrap(),
        Accepted::Stored
    );

    let mut open = node();
    open.policy.open = true;
    assert_eq!(open.submit(foreign, NOW).unwrap(), Accepted::Stored);
}

#[test]
fn writes_disabled_blocks_even_the_owner() {
    let mut n = node();
    n.policy.writes_enabled = false;
    let err = n.submit(ev(1, 900, 1, vec![], "x"), NOW).unwrap_err();
    assert!(matches!(err, Refused::WritesDisabled));
    assert!(err.message().starts_with("blocked: "));
}

#[test]
fn forged_copy_of_a_stored_id_is_invalid_not_duplicate() {
    let mut n = node();
    let e = ev(1, 900, 1, vec![], "real");
    n.submit(e.clone(), NOW).unwrap();
    n.commit().unwrap();
    let mut forged = e.clone();
    forged.content = "forged".into();
    let err = n.submit(forged, NOW).unwrap_err();
    assert!(err.message().starts_with("invalid: "), "{err}");
    let mut bad_sig = e;
    bad_sig.sig = ev(1, 901, 1, vec![], "other").sig;
    assert!(matches!(n.submit(bad_sig, NOW), Err(Refused::Invalid(_))));
}

#[test]
fn duplicates_are_recognised_by_seen_set_and_by_store() {
    let mut n = node();
    let e = ev(1, 900, 1, vec![], "once");
    n.submit(e.clone(), NOW).unwrap();
    n.commit().unwrap();
    drain(&mut n);
    assert_eq!(n.submit(e.clone(), NOW).unwrap(), Accepted::Duplicate);
    assert_eq!(n.stats().duplicates_seen, 1);
    assert!(
        drain(&mut n).is_empty(),
        "a duplicate is not announced again"
    );
    assert!(!n.has_uncommitted(), "a duplicate writes nothing");
    // Evicted from the ring (a fresh node over the same store): the store still knows it.
    let store = std::mem::replace(&mut n.store, Store::open(MemoryKv::new()).unwrap());
    let mut fresh = Node::new(
        store,
        RingTier::Xs,
        &[8; 32],
        WritePolicy::owner_only(keys(1).public()),
    )
    .unwrap();
    assert_eq!(fresh.submit(e, NOW).unwrap(), Accepted::Duplicate);
    assert_eq!(fresh.stats().duplicates, 1);
}

#[test]
fn future_events_are_invalid_and_ephemeral_ones_are_not_stored() {
    let mut n = node();
    let future = ev(1, NOW.0 + MAX_FUTURE_SECS + 1, 1, vec![], "later");
    assert!(matches!(n.submit(future, NOW), Err(Refused::FromFuture)));
    let almost = ev(1, NOW.0 + MAX_FUTURE_SECS, 1, vec![], "soon");
    assert_eq!(n.submit(almost, NOW).unwrap(), Accepted::Stored);
    drain(&mut n);
    let eph = ev(1, 900, 20_001, vec![], "typing");
    assert_eq!(n.submit(eph.clone(), NOW).unwrap(), Accepted::Ephemeral);
    assert!(!Accepted::Ephemeral.needs_commit());
    assert_eq!(drain(&mut n), vec![NodeEvent::Arrived(eph.clone())]);
    assert_eq!(n.store().get(&eph.id).unwrap(), None);
}

#[test]
fn replaceable_older_version_is_superseded_and_ring_follows_replacement() {
    let mut n = node();
    let new = ev(1, 900, 0, vec![], "{\"name\":\"new\"}");
    let old = ev(1, 800, 0, vec![], "{\"name\":\"old\"}");
    let newer = ev(1, 950, 0, vec![], "{\"name\":\"newer\"}");
    n.submit(new.clone(), NOW).unwrap();
    let err = n.submit(old, NOW).unwrap_err();
    assert!(matches!(err, Refused::Superseded));
    assert!(err.message().starts_with("duplicate: "));
    n.submit(newer.clone(), NOW).unwrap();
    let f = filter(serde_json::json!({"kinds": [0]}));
    assert_eq!(
        n.query(std::slice::from_ref(&f)).unwrap(),
        vec![newer.clone()]
    );
    // The ring answers this single filter and must agree with the store.
    assert_eq!(n.query_json(&[f]).unwrap(), vec![newer.to_json()]);
}

#[test]
fn deletion_removes_targets_from_ring_and_store_and_blocks_reinsertion() {
    let mut n = node();
    let note = ev(1, 900, 1, vec![], "oops");
    let addr = ev(1, 900, 30_023, vec![Tag::new(["d", "post"])], "article");
    n.submit(note.clone(), NOW).unwrap();
    n.submit(addr.clone(), NOW).unwrap();
    let del = ev(1, 950, 5, vec![Tag::new(["e", &note.id.to_hex()])], "");
    n.submit(del.clone(), NOW).unwrap();
    let all = filter(serde_json::json!({"kinds": [1, 30023]}));
    assert_eq!(
        n.query_json(std::slice::from_ref(&all)).unwrap(),
        vec![addr.to_json()]
    );
    let coordinate = format!("30023:{}:post", keys(1).public().to_hex());
    n.submit(ev(1, 960, 5, vec![Tag::new(["a", &coordinate])], ""), NOW)
        .unwrap();
    assert!(n.query_json(std::slice::from_ref(&all)).unwrap().is_empty());
    assert!(n.query(&[all]).unwrap().is_empty());
    assert!(matches!(n.submit(note, NOW), Err(Refused::Deleted)));
    assert_eq!(n.store().get(&del.id).unwrap(), Some(del));
}

#[test]
fn ring_and_store_answer_alike_past_the_ring_capacity() {
    let mut n = node();
    let slots = RingTier::Xs.slots() as u64;
    for t in 0..slots * 3 {
        n.submit(ev(1, 100 + t, 1, vec![], &format!("n{t}")), NOW)
            .unwrap();
    }
    for json in [
        serde_json::json!({"limit": 5}),
        serde_json::json!({"limit": 500}),
        serde_json::json!({"since": 100 + slots * 3 - 10}),
        serde_json::json!({"kinds": [1], "until": 150}),
    ] {
        let f = filter(json.clone());
        let from_store: Vec<String> = n
            .query(std::slice::from_ref(&f))
            .unwrap()
            .iter()
            .map(Event::to_json)
            .collect();
        assert_eq!(n.query_json(&[f]).unwrap(), from_store, "filter {json}");
    }
    assert_eq!(
        n.count(&[filter(serde_json::json!({"limit": 1}))]).unwrap(),
        slots * 3
    );
}

/// A store whose commits can be made to fail, as a full disk does.
struct FailingCommit {
    inner: Store<MemoryKv>,
    fail: bool,
}

impl EventStore for FailingCommit {
    fn put(&mut self, event: &Event) -> Result<PutOutcome, StoreError> {
        self.inner.put(event)
    }
    fn get(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        self.inner.get(id)
    }
    fn query(&self, filters: &[Filter]) -> Result<Vec<Event>, StoreError> {
        self.inner.query(filters)
    }
    fn delete(&mut self, id: &EventId) -> Result<bool, StoreError> {
        self.inner.delete(id)
    }
    fn usage(&self) -> crate::store::Usage {
        self.inner.usage()
    }
    fn commit(&mut self) -> Result<u64, StoreError> {
        if self.fail {
            // What the daemon's store does after a failed persist: the turn's writes are gone.
            self.inner = Store::open(MemoryKv::new()).unwrap();
            return Err(StoreError::Full);
        }
        self.inner.commit()
    }
}

impl StateStore for FailingCommit {
    fn state(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.state(key)
    }
    fn set_state(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.set_state(key, value)
    }
    fn remove_state(&mut self, key: &str) -> Result<(), StoreError> {
        self.inner.remove_state(key)
    }
}

#[test]
fn failed_commit_forgets_the_turn_so_a_retry_is_stored() {
    let store = FailingCommit {
        inner: Store::open(MemoryKv::new()).unwrap(),
        fail: true,
    };
    let mut n = Node::new(
        store,
        RingTier::Xs,
        &[9; 32],
        WritePolicy::owner_only(keys(1).public()),
    )
    .unwrap();
    let e = ev(1, 900, 1, vec![], "lost with the disk");
    assert_eq!(n.submit(e.clone(), NOW).unwrap(), Accepted::Stored);
    assert!(matches!(n.commit(), Err(StoreError::Full)));
    assert_eq!(n.stats().commits_failed, 1);
    assert!(n.query_json(&[Filter::default()]).unwrap().is_empty());
    n.store_mut().fail = false;
    assert_eq!(n.submit(e.clone(), NOW).unwrap(), Accepted::Stored);
    n.commit().unwrap();
    assert_eq!(n.query(&[Filter::default()]).unwrap(), vec![e]);
}
