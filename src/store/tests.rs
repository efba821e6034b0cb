//! The shared store suite: every test runs on each backend through [`suite!`], plus a property
//! test of the engine against a naive reference that applies the NIP rules to a plain list.

#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::memory::MemoryKv;
use super::*;
use crate::nostr::filter::Filter;
use crate::nostr::kinds::{self, KindClass, Version};
use crate::nostr::tags::Deletion;
use crate::nostr::{Event, Keys, Kind, Tag, UnixTime, UnsignedEvent};

pub fn keys(n: u8) -> Keys {
    Keys::from_secret_bytes([n; 32]).expect("small repeated bytes are a valid scalar")
}

pub fn ev(author: u8, t: u64, kind: u16, tags: Vec<Tag>, content: &str) -> Event {
    UnsignedEvent::new(&keys(author), UnixTime(t), Kind(kind), tags, content)
        .sign(&keys(author), &[0; 32])
        .expect("test events sign")
}

pub fn filter(json: serde_json::Value) -> Filter {
    Filter::from_value(&json).expect("test filter is valid")
}

fn ids(events: &[Event]) -> Vec<EventId> {
    events.iter().map(|e| e.id).collect()
}

/// The suite, generic over how a fresh store is made.
pub fn put_get_duplicate_ephemeral<K: Kv>(mut s: Store<K>) {
    let a = ev(1, 100, 1, vec![], "hello");
    assert_eq!(s.put(&a).unwrap(), PutOutcome::Stored);
    assert_eq!(s.put(&a).unwrap(), PutOutcome::Duplicate);
    assert_eq!(s.get(&a.id).unwrap(), Some(a.clone()));
    let eph = ev(1, 100, 20_001, vec![], "typing");
    assert_eq!(s.put(&eph).unwrap(), PutOutcome::Ephemeral);
    assert_eq!(s.get(&eph.id).unwrap(), None);
    let u = s.usage();
    assert_eq!(u.events, 1);
    assert!(u.record_bytes > 0);
    assert!(s.check().unwrap().is_empty());
}

pub fn query_order_limits_and_fields<K: Kv>(mut s: Store<K>) {
    let p2 = keys(2).public().to_hex();
    let events = vec![
        ev(1, 100, 1, vec![Tag::new(["t", "rust"])], "a"),
        ev(1, 200, 1, vec![Tag::new(["p", &p2])], "b"),
        ev(2, 200, 1, vec![], "c"),
        ev(
            2,
            300,
            7,
            vec![Tag::new(["p", &p2]), Tag::new(["t", "rust"])],
            "+",
        ),
        ev(3, 50, 1, vec![], "d"),
    ];
    for e in &events {
        s.put(e).unwrap();
    }
    let all = s.query(&[filter(serde_json::json!({}))]).unwrap();
    let mut expected = events.clone();
    expected.sort_by(|x, y| y.created_at.cmp(&x.created_at).then(x.id.cmp(&y.id)));
    assert_eq!(ids(&all), ids(&expected), "newest first, ties by lowest id");
    let top2 = s.query(&[filter(serde_json::json!({"limit": 2}))]).unwrap();
    assert_eq!(ids(&top2), ids(&expected[..2]));
    assert!(
        s.query(&[filter(serde_json::json!({"limit": 0}))])
            .unwrap()
            .is_empty()
    );
    let window = s
        .query(&[filter(serde_json::json!({"since": 100, "until": 200}))])
        .unwrap();
    assert_eq!(window.len(), 3, "since and until are inclusive");
    let by_author = s
        .query(&[filter(
            serde_json::json!({"authors": [keys(1).public().to_hex()]}),
        )])
        .unwrap();
    assert_eq!(by_author.len(), 2);
    let by_kind = s
        .query(&[filter(serde_json::json!({"kinds": [7]}))])
        .unwrap();
    assert_eq!(ids(&by_kind), vec![events[3].id]);
    let by_p = s.query(&[filter(serde_json::json!({"#p": [p2]}))]).unwrap();
    assert_eq!(ids(&by_p), vec![events[3].id, events[1].id]);
    let by_t_and_kind = s
        .query(&[filter(serde_json::json!({"#t": ["rust"], "kinds": [1]}))])
        .unwrap();
    assert_eq!(ids(&by_t_and_kind), vec![events[0].id]);
    let by_id = s
        .query(&[filter(serde_json::json!({"ids": [events[4].id.to_hex()]}))])
        .unwrap();
    assert_eq!(ids(&by_id), vec![events[4].id]);
    let or = s
        .query(&[
            filter(serde_json::json!({"kinds": [7]})),
            filter(serde_json::json!({"#t": ["rust"]})),
        ])
        .unwrap();
    assert_eq!(
        ids(&or),
        vec![events[3].id, events[0].id],
        "OR-ed, deduplicated, ordered"
    );
    let per_filter = s
        .query(&[
            filter(serde_json::json!({"limit": 1})),
            filter(serde_json::json!({"kinds": [1], "limit": 1})),
        ])
        .unwrap();
    assert_eq!(per_filter.len(), 2, "limit applies per filter");
}

pub fn replaceable_and_addressable<K: Kv>(mut s: Store<K>) {
    let v1 = ev(1, 100, 0, vec![], "{\"name\":\"v1\"}");
    let v2 = ev(1, 200, 0, vec![], "{\"name\":\"v2\"}");
    assert_eq!(s.put(&v1).unwrap(), PutOutcome::Stored);
    assert_eq!(s.put(&v2).unwrap(), PutOutcome::Replaced { old: v1.id });
    assert_eq!(s.get(&v1.id).unwrap(), None);
    assert_eq!(
        s.put(&v1).unwrap(),
        PutOutcome::Superseded,
        "an older version is refused"
    );
    // Same second: the lowest id wins.
    let x = ev(1, 300, 3, vec![], "x");
    let y = ev(1, 300, 3, vec![], "y");
    let (low, high) = if x.id < y.id { (x, y) } else { (y, x) };
    s.put(&high).unwrap();
    assert_eq!(s.put(&low).unwrap(), PutOutcome::Replaced { old: high.id });
    assert_eq!(s.put(&high).unwrap(), PutOutcome::Superseded);
    let profile = s
        .query(&[filter(
            serde_json::json!({"authors": [keys(1).public().to_hex()], "kinds": [0]}),
        )])
        .unwrap();
    assert_eq!(ids(&profile), vec![v2.id]);
    // Addressable: one slot per d.
    let a1 = ev(1, 100, 30_023, vec![Tag::new(["d", "post"])], "1");
    let b1 = ev(1, 100, 30_023, vec![Tag::new(["d", "other"])], "2");
    let a2 = ev(1, 150, 30_023, vec![Tag::new(["d", "post"])], "3");
    s.put(&a1).unwrap();
    s.put(&b1).unwrap();
    assert_eq!(s.put(&a2).unwrap(), PutOutcome::Replaced { old: a1.id });
    let arts = s
        .query(&[filter(serde_json::json!({"kinds": [30023]}))])
        .unwrap();
    assert_eq!(ids(&arts), vec![a2.id, b1.id]);
    assert!(s.check().unwrap().is_empty(), "{:?}", s.check());
}

pub fn deletions<K: Kv>(mut s: Store<K>) {
    let mine = ev(1, 100, 1, vec![], "oops");
    let theirs = ev(2, 100, 1, vec![], "not yours");
    s.put(&mine).unwrap();
    s.put(&theirs).unwrap();
    let del = ev(
        1,
        110,
        5,
        vec![
            Tag::new(["e", &mine.id.to_hex()]),
            Tag::new(["e", &theirs.id.to_hex()]),
        ],
        "",
    );
    assert_eq!(s.put(&del).unwrap(), PutOutcome::Stored);
    assert_eq!(s.get(&mine.id).unwrap(), None, "own event deleted");
    assert_eq!(
        s.get(&theirs.id).unwrap(),
        Some(theirs.clone()),
        "another author's event stays"
    );
    assert_eq!(
        s.put(&mine).unwrap(),
        PutOutcome::Deleted,
        "no re-insertion"
    );
    assert!(
        s.get(&del.id).unwrap().is_some(),
        "the deletion itself is served"
    );
    // A deletion naming an id before the event arrives still refuses it.
    let later = ev(1, 120, 1, vec![], "later");
    let pre = ev(1, 130, 5, vec![Tag::new(["e", &later.id.to_hex()])], "");
    s.put(&pre).unwrap();
    assert_eq!(s.put(&later).unwrap(), PutOutcome::Deleted);
    // Deleting a deletion does nothing.
    let undel = ev(1, 140, 5, vec![Tag::new(["e", &del.id.to_hex()])], "");
    s.put(&undel).unwrap();
    assert!(s.get(&del.id).unwrap().is_some());
    // `a` deletions: versions up to the deletion's time go, newer ones are accepted.
    let art1 = ev(1, 100, 30_023, vec![Tag::new(["d", "x"])], "v1");
    s.put(&art1).unwrap();
    let addr = format!("30023:{}:x", keys(1).public().to_hex());
    let adel = ev(1, 200, 5, vec![Tag::new(["a", &addr])], "");
    s.put(&adel).unwrap();
    assert_eq!(s.get(&art1.id).unwrap(), None);
    let art_old = ev(1, 150, 30_023, vec![Tag::new(["d", "x"])], "v-old");
    assert_eq!(s.put(&art_old).unwrap(), PutOutcome::Deleted);
    let art_same = ev(1, 200, 30_023, vec![Tag::new(["d", "x"])], "v-same-second");
    assert_eq!(
        s.put(&art_same).unwrap(),
        PutOutcome::Deleted,
        "up to and including its time"
    );
    let art_new = ev(1, 250, 30_023, vec![Tag::new(["d", "x"])], "v-new");
    assert_eq!(s.put(&art_new).unwrap(), PutOutcome::Stored);
    assert!(s.check().unwrap().is_empty(), "{:?}", s.check());
    assert_eq!(
        s.usage().events,
        6,
        "theirs, del, pre, undel, adel, art_new"
    );
}

pub fn delete_and_state<K: Kv>(mut s: Store<K>) {
    let a = ev(1, 100, 1, vec![Tag::new(["t", "x"])], "a");
    s.put(&a).unwrap();
    assert!(s.delete(&a.id).unwrap());
    assert!(!s.delete(&a.id).unwrap());
    assert!(
        s.query(&[filter(serde_json::json!({"#t": ["x"]}))])
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.usage().events, 0);
    assert_eq!(s.usage().record_bytes, 0);
    assert!(s.check().unwrap().is_empty());
    assert_eq!(s.state("owner").unwrap(), None);
    s.set_state("owner", b"abc").unwrap();
    assert_eq!(s.state("owner").unwrap(), Some(b"abc".to_vec()));
    s.remove_state("owner").unwrap();
    assert_eq!(s.state("owner").unwrap(), None);
    let before = s.usage().commits;
    s.commit().unwrap();
    assert_eq!(s.usage().commits, before + 1, "a dirty store commits");
    s.commit().unwrap();
    assert_eq!(
        s.usage().commits,
        before + 1,
        "a clean store does not fsync"
    );
}

/// Runs every suite function on stores made by `$make`.
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        #[test]
        fn put_get_duplicate_ephemeral() {
            $crate::store::tests::put_get_duplicate_ephemeral($make);
        }
        #[test]
        fn query_order_limits_and_fields() {
            $crate::store::tests::query_order_limits_and_fields($make);
        }
        #[test]
        fn replaceable_and_addressable() {
            $crate::store::tests::replaceable_and_addressable($make);
        }
        #[test]
        fn deletions() {
            $crate::store::tests::deletions($make);
        }
        #[test]
        fn delete_and_state() {
            $crate::store::tests::delete_and_state($make);
        }
    };
}

mod memory_suite {
    use super::super::{Store, memory::MemoryKv};
    crate::store_suite!(Store::open(MemoryKv::new()).expect("memory store opens"));
}

#[test]
fn a_failed_write_changes_nothing() {
    let mut s = Store::open(MemoryKv::new()).unwrap();
    let a = ev(1, 100, 1, vec![], "a");
    s.put(&a).unwrap();
    let before = s.usage();
    s.kv_mut().fail_writes = true;
    assert!(matches!(
        s.put(&ev(1, 101, 1, vec![], "b")),
        Err(StoreError::Full)
    ));
    assert!(matches!(s.delete(&a.id), Err(StoreError::Full)));
    assert_eq!(s.usage(), before);
    assert_eq!(s.get(&a.id).unwrap(), Some(a), "reads go on");
}

/// The naive reference: the NIP rules applied to a plain list.
#[derive(Default)]
struct Reference {
    events: Vec<Event>,
    deleted_ids: BTreeSet<(EventId, crate::nostr::PubKey)>,
    deleted_addrs: BTreeMap<(crate::nostr::PubKey, Kind, String), u64>,
}

impl Reference {
    fn put(&mut self, e: &Event) {
        let class = kinds::class(e.kind);
        if class == KindClass::Ephemeral || self.events.iter().any(|x| x.id == e.id) {
            return;
        }
        if self.deleted_ids.contains(&(e.id, e.pubkey)) {
            return;
        }
        if let Some(key) = kinds::replacement_key(e) {
            let d = kinds::d_value(e).to_owned();
            if self
                .deleted_addrs
                .get(&(e.pubkey, e.kind, d))
                .is_some_and(|t| e.created_at.0 <= *t)
            {
                return;
            }
            if let Some(pos) = self
                .events
                .iter()
                .position(|x| kinds::replacement_key(x).as_ref() == Some(&key))
            {
                if Version::of(&self.events[pos]) >= Version::of(e) {
                    return;
                }
                self.events.remove(pos);
            }
        }
        if let Some(del) = Deletion::from_event(e) {
            for id in &del.ids {
                self.deleted_ids.insert((*id, del.author));
            }
            for a in &del.addresses {
                let t = self
                    .deleted_addrs
                    .entry((a.pubkey, a.kind, a.identifier.clone()))
                    .or_insert(0);
                *t = (*t).max(del.created_at.0);
            }
            self.events.retain(|x| !del.applies_to(x));
        }
        self.events.push(e.clone());
    }

    fn query(&self, filters: &[Filter]) -> Vec<EventId> {
        let mut out: BTreeMap<(u64, EventId), ()> = BTreeMap::new();
        for f in filters {
            let mut m: Vec<&Event> = self.events.iter().filter(|e| f.matches(e)).collect();
            m.sort_by(|x, y| y.created_at.cmp(&x.created_at).then(x.id.cmp(&y.id)));
            let limit = f.limit.map_or(engine::MAX_QUERY_LIMIT, |l| {
                (l as usize).min(engine::MAX_QUERY_LIMIT)
            });
            for e in m.into_iter().take(limit) {
                out.insert((u64::MAX - e.created_at.0, e.id), ());
            }
        }
        out.into_keys().map(|(_, id)| id).collect()
    }
}

fn arb_event(pool: Vec<Event>) -> impl Strategy<Value = Event> {
    let plain = (
        1u8..=3,
        0u64..6,
        prop::sample::select(vec![1u16, 0, 3, 7, 30_023, 20_000]),
        0u8..3,
        0u8..3,
    )
        .prop_map(|(a, t, k, tag, d)| {
            let mut tags = vec![Tag::new(["t".to_owned(), format!("t{tag}")])];
            if k == 30_023 {
                tags.push(Tag::new(["d".to_owned(), format!("d{d}")]));
            }
            tags.push(Tag::new(["p".to_owned(), keys(tag + 1).public().to_hex()]));
            ev(a, 1_000 + t, k, tags, &format!("c{a}{t}{tag}"))
        });
    let deletion =
        (prop::sample::select(pool), 0u64..8, any::<bool>()).prop_map(|(target, t, by_addr)| {
            let tag = if by_addr && kinds::class(target.kind) == KindClass::Addressable {
                Tag::new([
                    "a".to_owned(),
                    format!("30023:{}:{}", target.pubkey, kinds::d_value(&target)),
                ])
            } else {
                Tag::new(["e".to_owned(), target.id.to_hex()])
            };
            // Signed by the target's author (keys 1..=3): find which.
            let author = (1u8..=3)
                .find(|n| keys(*n).public() == target.pubkey)
                .expect("pool authors are 1..=3");
            ev(author, 1_000 + t, 5, vec![tag], "")
        });
    prop_oneof![4 => plain, 1 => deletion]
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    (
        prop::option::of(prop::collection::btree_set(1u8..=3, 1..3)),
        prop::option::of(prop::collection::btree_set(
            prop::sample::select(vec![0u16, 1, 3, 5, 7, 30_023]),
            1..3,
        )),
        prop::option::of(0u8..3),
        prop::option::of(0u64..8),
        prop::option::of(0u64..8),
        prop::option::of(0u64..5),
    )
        .prop_map(|(authors, kinds, t, since, until, limit)| {
            let mut f = serde_json::json!({});
            if let Some(a) = authors {
                f["authors"] = a.iter().map(|n| keys(*n).public().to_hex()).collect();
            }
            if let Some(k) = kinds {
                f["kinds"] = k.into_iter().collect();
            }
            if let Some(t) = t {
                f["#t"] = serde_json::json!([format!("t{t}")]);
            }
            if let Some(s) = since {
                f["since"] = (1_000 + s).into();
            }
            if let Some(u) = until {
                f["until"] = (1_000 + u).into();
            }
            if let Some(l) = limit {
                f["limit"] = l.into();
            }
            filter(f)
        })
}

fn pool() -> Vec<Event> {
    let mut v = Vec::new();
    for a in 1u8..=3 {
        for t in 0..3 {
            v.push(ev(
                a,
                1_000 + t,
                1,
                vec![Tag::new(["t", "t0"])],
                &format!("c{a}{t}"),
            ));
            v.push(ev(
                a,
                1_000 + t,
                30_023,
                vec![Tag::new(["d", "d0"])],
                &format!("a{a}{t}"),
            ));
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The engine answers every filter as the naive reference does, after any mix of puts,
    /// replacements and deletions, and its indexes stay consistent.
    #[test]
    fn engine_matches_naive_reference(
        evs in prop::collection::vec(arb_event(pool()), 1..40),
        filters in prop::collection::vec(prop::collection::vec(arb_filter(), 1..3), 1..6),
    ) {
        let mut s = Store::open(MemoryKv::new()).unwrap();
        let mut r = Reference::default();
        for e in pool().iter().take(4).chain(evs.iter()) {
            s.put(e).unwrap();
            r.put(e);
        }
        prop_assert_eq!(s.usage().events as usize, r.events.len());
        for fs in &filters {
            let got: Vec<EventId> = s.query(fs).unwrap().iter().map(|e| e.id).collect();
            prop_assert_eq!(got, r.query(fs), "filters {:?}", fs.iter().map(Filter::to_json).collect::<Vec<_>>());
        }
        prop_assert!(s.check().unwrap().is_empty());
    }
}

#[test]
fn check_reports_missing_and_stray_index_entries() {
    let mut s = Store::open(MemoryKv::new()).unwrap();
    let a = ev(1, 100, 1, vec![Tag::new(["t", "x"])], "a");
    s.put(&a).unwrap();
    assert!(s.check().unwrap().is_empty());
    let entry = keys::Prefix::tag(b't', "x").entry(a.created_at, 0);
    s.kv_mut()
        .write(vec![Op::Delete(Space::Index, entry.clone())])
        .unwrap();
    let problems = s.check().unwrap();
    assert!(
        problems.iter().any(|p| p.contains("lacks an index entry")),
        "{problems:?}"
    );
    s.kv_mut()
        .write(vec![Op::Put(Space::Index, entry, Vec::new())])
        .unwrap();
    let ghost = keys::Prefix::kind(Kind(1)).entry(UnixTime(5), 9);
    s.kv_mut()
        .write(vec![Op::Put(Space::Index, ghost, Vec::new())])
        .unwrap();
    let problems = s.check().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("1 index entries point at no record")),
        "{problems:?}"
    );
}

#[test]
fn a_limit_inside_one_second_keeps_the_lowest_ids() {
    // Index entries of one second are in storage order, not id order: the scan must read the
    // whole last second before the limit cuts (NIP-01: on equal `created_at`, lowest id first).
    let mut s = Store::open(MemoryKv::new()).unwrap();
    let mut same: Vec<_> = (0..12)
        .map(|i| ev(1, 500, 1, Vec::new(), &format!("n{i}")))
        .collect();
    same.sort_by_key(|e| std::cmp::Reverse(e.id));
    for e in &same {
        s.put(e).unwrap();
    }
    s.put(&ev(1, 400, 1, Vec::new(), "older")).unwrap();
    let mut want: Vec<_> = same.iter().map(|e| e.id).collect();
    want.sort();
    for limit in [1, 3, 12] {
        let f = Filter::from_value(&serde_json::json!({"kinds": [1], "limit": limit})).unwrap();
        let got: Vec<_> = s.query(&[f]).unwrap().iter().map(|e| e.id).collect();
        assert_eq!(got, want[..limit], "limit {limit}");
    }
}
