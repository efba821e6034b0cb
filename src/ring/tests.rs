#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use core::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use proptest::option::weighted;
use proptest::prelude::*;

use super::*;
use crate::nostr::types::Signature;
use crate::nostr::{Tag, UnsignedEvent};

// ---------------------------------------------------------------------------------------------
// Sizes and bounds

#[test]
fn slot_is_32_bytes_and_tier_memory_is_pinned() {
    assert_eq!(size_of::<Slot>(), 32);
    // The index is the deque's buffer plus its head, tail and full flag (24 bytes).
    let pinned = [
        (RingTier::Xs, 1_048 + 16_384 + 8_192),
        (RingTier::S, 32_792 + 1_048_576 + 131_072),
        (RingTier::M, 131_096 + 4_194_304 + 524_288),
        (RingTier::L, 524_312 + 16_777_216 + 2_097_152),
    ];
    for (tier, bytes) in pinned {
        assert_eq!(tier.memory_bytes(), bytes, "tier {tier}");
        let ring = Ring::new(tier);
        let seen = SeenSet::new(tier, &[7; 32]);
        assert_eq!(
            ring.memory_bytes() + seen.memory_bytes(),
            bytes,
            "tier {tier}"
        );
        assert_eq!(ring.slots.view().storage_capacity(), tier.slots());
        assert_eq!(seen.capacity(), tier.seen_entries());
    }
    // ARCHITECTURE.md "Memory budget" gives the armv7-router-256 board 1.25 MiB for both.
    assert!(RingTier::S.memory_bytes() <= 1_300 * 1024);
    assert!(
        RingTier::Xs.memory_bytes() <= 32 * 1024,
        "simulator nodes stay small"
    );
}

#[test]
fn every_tier_builds_on_a_2_mib_stack() {
    // The test harness's default; the daemon's main thread has 8 MiB. The slot index of each
    // tier is built on the stack and moved into its Box in unoptimised builds.
    let built = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            RingTier::ALL
                .iter()
                .map(|&tier| Ring::new(tier).memory_bytes())
                .sum::<usize>()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(built > 0);
}

#[test]
fn max_event_bytes_is_ring_max_event_except_in_the_small_arena() {
    assert_eq!(RingTier::S.max_event_bytes(), RING_MAX_EVENT);
    assert_eq!(RingTier::M.max_event_bytes(), RING_MAX_EVENT);
    assert_eq!(RingTier::L.max_event_bytes(), RING_MAX_EVENT);
    assert_eq!(
        RingTier::Xs.max_event_bytes(),
        XS_ARENA / RING_ARENA_SHARE - RECORD_HEADER
    );
}

#[test]
fn ten_times_capacity_keeps_memory_fixed_and_the_newest_events() {
    let tier = RingTier::S;
    let mut ring = loaded(tier);
    let mut seen = SeenSet::new(tier, &[1; 32]);
    let (ring_bytes, seen_bytes) = (ring.memory_bytes(), seen.memory_bytes());
    let total = 10 * tier.slots();
    let mut events = Vec::new();
    for i in 0..total {
        // 300–1 300 bytes of content: slots run out first for some stretches, bytes for others.
        let event = note(
            (i % 7) as u8,
            1_000 + i as u64,
            &"x".repeat(300 + (i * 37) % 1000),
        );
        assert_eq!(ring.insert(&event), Inserted::Cached);
        assert!(seen.insert(&event.id));
        events.push(event);
        if i % 97 == 0 {
            assert!(ring.len() <= tier.slots());
            assert!(ring.arena_used() <= tier.arena_bytes());
        }
    }
    assert_eq!(ring.memory_bytes(), ring_bytes);
    assert_eq!(seen.memory_bytes(), seen_bytes);
    assert!(seen.len() <= seen.capacity());
    assert!(ring.stats().evicted >= (total - tier.slots()) as u64);

    // The newest events are all there, byte for byte, and a limited query is answered.
    let newest = &events[total - 500..];
    for event in newest {
        assert_eq!(ring.get(&event.id), Some(event.to_json().as_bytes()));
        assert!(seen.contains(&event.id));
    }
    let got = ring
        .query(&filter().limit(100))
        .expect("the newest 100 are covered");
    let want: Vec<String> = events.iter().rev().take(100).map(Event::to_json).collect();
    assert_eq!(as_strings(&got), want);
    // Events older than the horizon are gone, so a query reaching back to them is declined.
    assert!(ring.query(&filter().since(1_000)).is_none());
}

// ---------------------------------------------------------------------------------------------
// Insertion and eviction

#[test]
fn evicts_the_oldest_slots_when_slots_run_out() {
    let mut ring = loaded(RingTier::Xs);
    let events: Vec<Event> = (0..XS_SLOTS as u64 + 8)
        .map(|i| note(1, 100 + i, "hi"))
        .collect();
    for event in &events {
        assert_eq!(ring.insert(event), Inserted::Cached);
    }
    assert_eq!(ring.len(), XS_SLOTS);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(ring.contains(&event.id), i >= 8, "event {i}");
    }
    assert_eq!(ring.stats().evicted, 8);
    // The eighth event (created_at 107) was the newest lost.
    assert_eq!(ring.horizon(), Horizon::From(UnixTime(108)));
}

#[test]
fn evicts_the_oldest_records_when_bytes_run_out() {
    let mut ring = loaded(RingTier::Xs);
    // Records of ≈ 3.3 KiB: four fit in the 16 KiB arena, well before 32 slots run out.
    let events: Vec<Event> = (0..10)
        .map(|i| note(2, 50 + i, &"y".repeat(3_000)))
        .collect();
    for event in &events {
        ring.insert(event);
    }
    let held: Vec<bool> = events.iter().map(|e| ring.contains(&e.id)).collect();
    let kept = held.iter().filter(|&&h| h).count();
    assert!(kept >= 4, "{held:?}");
    assert!(
        held[10 - kept..].iter().all(|&h| h),
        "the newest are kept: {held:?}"
    );
    assert!(ring.arena_used() <= XS_ARENA);
    assert_eq!(ring.stats().evicted as usize, 10 - kept);
}

#[test]
fn arena_wraps_around_and_every_record_stays_whole() {
    let mut ring = loaded(RingTier::Xs);
    let mut written = 0;
    let mut events = Vec::new();
    for i in 0..400u64 {
        // JSON from 350 B to ≈ 3.9 KiB, in an order that leaves gaps at the arena's end.
        let len = ((i * 7_919) % 3_600) as usize;
        let event = note((i % 3) as u8, i, &"z".repeat(len));
        written += event.to_json().len() + RECORD_HEADER;
        assert_eq!(ring.insert(&event), Inserted::Cached);
        events.push(event);
        // Every held record reads back exactly as written.
        for held in events.iter().rev().take(ring.len()) {
            if let Some(json) = ring.get(&held.id) {
                assert_eq!(json, held.to_json().as_bytes(), "event {i}");
            }
        }
        assert!(ring.arena_used() <= XS_ARENA);
    }
    assert!(written > 50 * XS_ARENA, "the log wrapped many times");
    assert_eq!(
        ring.get(&events[399].id),
        Some(events[399].to_json().as_bytes())
    );
}

#[test]
fn oversized_events_are_held_as_metadata_only() {
    let mut ring = loaded(RingTier::Xs);
    let small = note(1, 10, "small");
    let big = note(1, 20, &"b".repeat(RingTier::Xs.max_event_bytes()));
    assert!(big.to_json().len() > RingTier::Xs.max_event_bytes());
    assert_eq!(ring.insert(&small), Inserted::Cached);
    assert_eq!(ring.insert(&big), Inserted::TooLarge);
    assert_eq!(ring.stats().too_large, 1);
    assert!(ring.contains(&big.id));
    assert_eq!(ring.get(&big.id), None);
    // A query that would return it is declined; one that cannot match it is answered.
    assert!(ring.query(&filter()).is_none());
    assert!(ring.query(&filter().kinds([1])).is_none());
    assert!(ring.query(&filter().ids([big.id])).is_none());
    let small_only = ring
        .query(&filter().until(15))
        .expect("the big one is after until");
    assert_eq!(as_strings(&small_only), [small.to_json()]);
    assert_eq!(ring.query(&filter().kinds([7])), Some(vec![]));
    assert_eq!(ring.query(&filter().authors([9])), Some(vec![]));
    // Its tag digest still rules it out of tag queries it cannot match.
    assert_eq!(ring.query(&filter().tag('t', ["nostr"])), Some(vec![]));
    // A limit met by newer events leaves it outside the answer.
    let newer = note(1, 30, "newer");
    ring.insert(&newer);
    let got = ring.query(&filter().limit(1)).expect("the newest is small");
    assert_eq!(as_strings(&got), [newer.to_json()]);
}

#[test]
fn an_event_already_held_is_not_inserted_twice() {
    let mut ring = loaded(RingTier::Xs);
    let event = note(1, 10, "once");
    assert_eq!(ring.insert(&event), Inserted::Cached);
    assert_eq!(ring.insert(&event), Inserted::AlreadyHeld);
    assert_eq!(ring.len(), 1);
    assert_eq!(ring.query(&filter()).unwrap().len(), 1);
}

#[test]
fn removed_events_are_never_returned_and_cost_no_coverage() {
    let mut ring = loaded(RingTier::Xs);
    let gone = note(1, 500, "deleted");
    ring.insert(&gone);
    assert!(ring.remove(&gone.id));
    assert!(!ring.remove(&gone.id), "already removed");
    assert!(!ring.contains(&gone.id));
    assert_eq!(ring.get(&gone.id), None);
    assert_eq!(ring.query(&filter()), Some(vec![]));
    // Evicting a removed slot loses nothing the store holds.
    for i in 0..XS_SLOTS as u64 {
        ring.insert(&note(2, 600 + i, "later"));
    }
    assert!(!ring.slots.view().iter().any(|s| !s.is_live()));
    assert_eq!(ring.horizon(), Horizon::Everything);
    // The store may accept the event again (a retry); the ring then holds it afresh.
    let mut ring = loaded(RingTier::Xs);
    ring.insert(&gone);
    ring.remove(&gone.id);
    assert_eq!(ring.insert(&gone), Inserted::Cached);
    assert_eq!(ring.get(&gone.id), Some(gone.to_json().as_bytes()));
}

#[test]
fn clear_empties_the_ring_and_drops_what_was_declared() {
    let mut ring = loaded(RingTier::Xs);
    let event = note(1, 10, "x");
    ring.insert(&event);
    ring.clear();
    assert!(ring.is_empty());
    assert_eq!(ring.arena_used(), 0);
    assert_eq!(ring.horizon(), Horizon::Nothing);
    assert!(!ring.contains(&event.id));
    ring.declare_loaded(Horizon::Everything);
    assert_eq!(ring.query(&filter()), Some(vec![]));
}

// ---------------------------------------------------------------------------------------------
// Horizon

#[test]
fn a_fresh_ring_vouches_for_nothing_until_declared() {
    let mut ring = Ring::new(RingTier::Xs);
    let event = note(1, 10, "x");
    ring.insert(&event);
    assert_eq!(ring.horizon(), Horizon::Nothing);
    assert!(ring.query(&filter()).is_none());
    assert!(ring.query(&filter().since(0)).is_none());
    assert!(ring.query(&filter().limit(1)).is_none());
    // What it holds by id it can still answer.
    assert!(ring.query(&filter().ids([event.id])).is_some());
    ring.declare_loaded(Horizon::From(UnixTime(5)));
    assert!(
        ring.query(&filter()).is_none(),
        "no since: reaches before 5"
    );
    assert!(ring.query(&filter().since(4)).is_none());
    assert_eq!(ring.query(&filter().since(5)).unwrap().len(), 1);
    assert_eq!(ring.query(&filter().limit(1)).unwrap().len(), 1);
}

#[test]
fn horizon_follows_the_newest_event_ever_evicted_not_the_oldest_held() {
    let mut ring = loaded(RingTier::Xs);
    // Out of order: a recent event first, then a batch of older ones from catch-up.
    let recent = note(1, 1_000, "recent");
    ring.insert(&recent);
    for i in 0..XS_SLOTS as u64 - 1 {
        ring.insert(&note(2, 100 + i, "old"));
    }
    assert_eq!(ring.horizon(), Horizon::Everything);
    // One more evicts `recent`, the oldest inserted: nothing at or before 1 000 is covered
    // now, even though the ring still holds events from 100 on.
    ring.insert(&note(2, 50, "older still"));
    assert!(!ring.contains(&recent.id));
    assert_eq!(ring.horizon(), Horizon::From(UnixTime(1_001)));
    assert!(ring.query(&filter().since(1_000)).is_none());
    assert_eq!(ring.query(&filter().since(1_001)), Some(vec![]));
    // A later eviction of an older event does not lower it.
    ring.insert(&note(2, 10, "ancient"));
    assert_eq!(ring.horizon(), Horizon::From(UnixTime(1_001)));
    // A declared floor above the eviction's horizon wins.
    ring.declare_loaded(Horizon::From(UnixTime(2_000)));
    assert_eq!(ring.horizon(), Horizon::From(UnixTime(2_000)));
}

#[test]
fn losing_an_event_at_the_end_of_time_covers_nothing() {
    assert_eq!(Horizon::after(UnixTime(u64::MAX)), Horizon::Nothing);
    assert_eq!(Horizon::after(UnixTime(7)), Horizon::From(UnixTime(8)));
    assert!(Horizon::Everything < Horizon::From(UnixTime(0)));
    assert!(Horizon::From(UnixTime(u64::MAX)) < Horizon::Nothing);
    assert!(Horizon::Everything.covers_since(None));
    assert!(!Horizon::From(UnixTime(0)).covers_since(None));
    assert!(Horizon::From(UnixTime(0)).covers_since(Some(UnixTime(0))));
    assert!(!Horizon::Nothing.covers(UnixTime(u64::MAX)));
}

// ---------------------------------------------------------------------------------------------
// Queries

#[test]
fn answers_newest_first_and_lowest_id_first_on_ties() {
    let mut ring = loaded(RingTier::Xs);
    let mut events: Vec<Event> = (0..6).map(|i| note(i, 100, "tie")).collect();
    events.push(note(9, 101, "newest"));
    events.push(note(9, 99, "oldest"));
    for event in &events {
        ring.insert(event);
    }
    let got = ring.query(&filter()).unwrap();
    let want = reference(&events, &filter());
    assert_eq!(as_strings(&got), want);
    assert!(want[0].contains("newest") && want[7].contains("oldest"));
    let ids: Vec<EventId> = got[1..7].iter().map(|j| parse(j).id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ties by ascending id");
}

#[test]
fn limit_returns_the_newest_and_may_answer_past_the_horizon() {
    let mut ring = loaded(RingTier::Xs);
    for i in 0..XS_SLOTS as u64 + 4 {
        ring.insert(&note(1, 100 + i, "n"));
    }
    let horizon = ring.horizon();
    assert_eq!(horizon, Horizon::From(UnixTime(104)));
    let got = ring
        .query(&filter().limit(3))
        .expect("three newest are covered");
    let times: Vec<u64> = got.iter().map(|j| parse(j).created_at.0).collect();
    assert_eq!(times, [135, 134, 133]);
    // The limit reaches exactly the oldest covered second: still complete.
    assert_eq!(ring.query(&filter().limit(32)).unwrap().len(), 32);
    // One more would need an event the ring may lack.
    assert!(ring.query(&filter().limit(33)).is_none());
    assert_eq!(ring.query(&filter().limit(0)), Some(vec![]));
    // Filters that narrow the candidates apply before the limit.
    ring.insert(&note(3, 90, "old, by another author"));
    assert!(ring.query(&filter().authors([3]).limit(1)).is_none());
    ring.insert(&note(3, 200, "by the same author"));
    let got = ring.query(&filter().authors([3]).limit(1)).unwrap();
    assert_eq!(parse(got[0]).created_at, UnixTime(200));
}

#[test]
fn ids_queries_are_complete_when_every_id_is_held() {
    let mut ring = loaded(RingTier::Xs);
    for i in 0..XS_SLOTS as u64 + 4 {
        ring.insert(&note(1, 1_000 - i, "n"));
    }
    let held = note(1, 5, "held, though older than the horizon");
    ring.insert(&held);
    let missing = note(1, 6, "never inserted");
    assert!(!ring.horizon().covers(UnixTime(5)));
    let got = ring.query(&filter().ids([held.id])).unwrap();
    assert_eq!(as_strings(&got), [held.to_json()]);
    assert!(ring.query(&filter().ids([held.id, missing.id])).is_none());
    // Other constraints still apply to what is held.
    assert_eq!(
        ring.query(&filter().ids([held.id]).kinds([7])),
        Some(vec![])
    );
}

#[test]
fn tag_filters_match_first_values_of_one_letter_tags_only() {
    let mut ring = loaded(RingTier::Xs);
    let tagged = event(
        1,
        10,
        1,
        vec![
            tag(&["t", "nostr"]),
            tag(&["e", "x", "y"]),
            tag(&["title", "z"]),
        ],
        "tagged",
    );
    let other = event(1, 11, 1, vec![tag(&["t", "other"])], "other");
    ring.insert(&tagged);
    ring.insert(&other);
    let one = |f: Filter| as_strings(&ring.query(&f).unwrap());
    assert_eq!(one(filter().tag('t', ["nostr"])), [tagged.to_json()]);
    assert_eq!(one(filter().tag('t', ["nostr", "other"])).len(), 2);
    assert_eq!(one(filter().tag('e', ["x"])), [tagged.to_json()]);
    assert!(
        one(filter().tag('e', ["y"])).is_empty(),
        "second values are not indexed"
    );
    assert!(
        one(filter().tag('T', ["nostr"])).is_empty(),
        "letters are case-sensitive"
    );
    assert!(one(filter().tag('t', ["nostr"]).tag('e', ["nope"])).is_empty());
    assert_eq!(one(filter().tag('t', ["nostr"]).tag('e', ["x"])).len(), 1);
}

#[test]
fn the_tag_digest_never_rules_out_a_match() {
    // Every (letter, value) pair a tag sets is found by a filter on it, whatever the digest's
    // collisions: the digest only skips, the parse decides.
    let tags: Vec<Tag> = (0..200).map(|i| tag(&["t", &format!("v{i}")])).collect();
    let bloom = tag_bloom(&tags);
    for i in 0..200 {
        let f = filter().tag('t', [format!("v{i}").as_str()]);
        assert!(TagMasks::of(&f).may_match(bloom), "v{i}");
    }
    assert_eq!(tag_bloom(&[tag(&["title", "x"]), tag(&["t"])]), 0);
    // A non-ASCII one-character name is a tag name like any other.
    let f = filter().tag('é', ["v"]);
    assert!(TagMasks::of(&f).may_match(tag_bloom(&[tag(&["é", "v"])])));
}

#[test]
fn the_tag_digest_rarely_admits_a_value_the_event_lacks() {
    // Typical tags (an `e`, a `p`, a `t`) set ≤ 6 of 64 bits, so a 2-bit probe passes by
    // chance with probability ≈ (6/64)² ≈ 0.9 %. Hex values are alike in their low bytes: the
    // digest must not rely on them (a plain FNV-1a here admitted 11 %).
    let blooms: Vec<u64> = (0..500u32)
        .map(|i| {
            tag_bloom(&[
                tag(&["e", &EventId([(i % 200) as u8; 32]).to_hex()]),
                tag(&["p", &PubKey([(i % 40) as u8; 32]).to_hex()]),
                tag(&["t", "nostr"]),
            ])
        })
        .collect();
    let mut false_hits = 0;
    for probe in 40..240u8 {
        let f = filter().tag('p', [PubKey([probe; 32]).to_hex().as_str()]);
        let masks = TagMasks::of(&f);
        false_hits += blooms.iter().filter(|&&b| masks.may_match(b)).count();
    }
    let rate = false_hits as f64 / (500.0 * 200.0);
    assert!(rate < 0.02, "false-hit rate {rate}");
}

#[test]
fn filters_that_cannot_match_are_answered_empty() {
    let ring = Ring::new(RingTier::Xs);
    assert_eq!(ring.query(&filter().kinds([])), Some(vec![]));
    assert_eq!(ring.query(&filter().since(10).until(5)), Some(vec![]));
    assert_eq!(ring.query(&filter().limit(0)), Some(vec![]));
}

// ---------------------------------------------------------------------------------------------
// Seen set

#[test]
fn seen_set_inserts_contains_and_removes() {
    let mut seen = SeenSet::new(RingTier::Xs, &[3; 32]);
    let (a, b) = (EventId([1; 32]), EventId([2; 32]));
    assert!(seen.is_empty());
    assert!(seen.insert(&a));
    assert!(!seen.insert(&a), "a duplicate");
    assert!(seen.contains(&a));
    assert!(!seen.contains(&b));
    assert!(seen.insert(&b));
    assert_eq!(seen.len(), 2);
    assert!(seen.remove(&a));
    assert!(!seen.remove(&a));
    assert!(!seen.contains(&a));
    assert!(seen.contains(&b));
    assert!(
        seen.insert(&a),
        "removed ids are new again, so a client can retry"
    );
    seen.clear();
    assert!(seen.is_empty() && !seen.contains(&b));
    assert!(
        !format!("{seen:?}").contains("key"),
        "the key is never printed"
    );
}

#[test]
fn seen_set_keeps_recent_ids_and_stays_within_capacity() {
    let mut seen = SeenSet::new(RingTier::S, &[4; 32]);
    let ids: Vec<EventId> = (0..S_SEEN as u32 * 4).map(counter_id).collect();
    for id in &ids {
        assert!(seen.insert(id));
        assert!(seen.len() <= seen.capacity());
    }
    assert_eq!(seen.evicted(), (ids.len() - seen.len()) as u64);
    // An id survives until two newer ones land in its bucket: the last tenth of a bucket
    // count of inserts is kept with probability > 99.5 % each (docs/ring.md).
    let recent = S_SEEN / SEEN_WAYS / 10;
    let kept = ids[ids.len() - recent..]
        .iter()
        .filter(|id| seen.contains(id))
        .count();
    assert!(kept * 1000 >= recent * 995, "kept {kept} of {recent}");
    assert!(seen.contains(ids.last().unwrap()));
}

#[test]
fn seen_set_has_no_false_positive_in_a_quarter_million_lookups() {
    let mut seen = SeenSet::new(RingTier::Xs, &[5; 32]);
    for i in 0..XS_SEEN as u32 {
        seen.insert(&counter_id(i));
    }
    // A sanity check, not a measurement: at ≈ 1e-19 per lookup no run can see one.
    let hits = (1_000_000..1_250_000)
        .filter(|&i| seen.contains(&counter_id(i)))
        .count();
    assert_eq!(hits, 0);
}

#[test]
fn seen_set_placement_depends_on_the_key() {
    let ids: Vec<EventId> = (0..XS_SEEN as u32 * 3).map(counter_id).collect();
    let survivors = |seed: [u8; 32]| {
        let mut seen = SeenSet::new(RingTier::Xs, &seed);
        ids.iter().for_each(|id| {
            seen.insert(id);
        });
        ids.iter()
            .map(|id| seen.contains(id))
            .collect::<Vec<bool>>()
    };
    assert_eq!(
        survivors([6; 32]),
        survivors([6; 32]),
        "deterministic per key"
    );
    assert_ne!(
        survivors([6; 32]),
        survivors([7; 32]),
        "another key, other collisions"
    );
}

// ---------------------------------------------------------------------------------------------
// Property: every answer equals a naive scan of the store the ring mirrors.

#[derive(Clone, Debug)]
enum Op {
    /// Insert a pool event: this one, or the next in `created_at` order when the case
    /// delivers in order.
    Insert(usize),
    Remove(usize),
    Query(Filter),
}

fn arb_event() -> impl Strategy<Value = Event> {
    let tags = proptest::collection::vec(
        prop_oneof![
            prop::sample::select(vec!["a", "b", "c"]).prop_map(|v| tag(&["t", v])),
            (0u8..3).prop_map(|k| tag(&["p", &PubKey([k; 32]).to_hex()])),
            Just(tag(&["title", "a"])),
        ],
        0..3,
    );
    // Mostly small, sometimes past the xs tier's 4 KiB cap, so slots, bytes and the
    // metadata-only path all bind.
    let content = prop_oneof![8 => 0usize..200, 1 => 1_000usize..4_500];
    (
        0u8..3,
        0u64..60,
        prop::sample::select(vec![1u16, 7, 30_023]),
        tags,
        content,
    )
        .prop_map(|(author, at, kind, tags, len)| event(author, at, kind, tags, &"c".repeat(len)))
}

fn arb_filter(ids: Vec<EventId>) -> impl Strategy<Value = Filter> {
    // Each field present now and then, so that answers are often non-empty.
    let keys = || proptest::collection::btree_set(0u8..3, 1..3);
    (
        weighted(0.3, keys()),
        weighted(
            0.3,
            proptest::collection::btree_set(prop::sample::select(vec![1u16, 7, 30_023, 5]), 1..3),
        ),
        weighted(0.4, 0u64..62),
        weighted(0.2, 0u64..62),
        weighted(0.5, 0u64..12),
        weighted(
            0.2,
            proptest::collection::btree_set(prop::sample::select(vec!["a", "b", "c", "d"]), 1..3),
        ),
        weighted(
            0.15,
            proptest::collection::btree_set(prop::sample::select(ids), 1..3),
        ),
        weighted(0.15, keys()),
    )
        .prop_map(|(authors, kinds, since, until, limit, t, ids, p)| {
            let mut f = Filter {
                authors: authors.map(|a| a.into_iter().map(|k| PubKey([k; 32])).collect()),
                kinds: kinds.map(|k| k.into_iter().map(Kind).collect()),
                since: since.map(UnixTime),
                until: until.map(UnixTime),
                limit,
                ids,
                ..Filter::default()
            };
            if let Some(t) = t {
                f.tags
                    .insert('t', t.into_iter().map(str::to_owned).collect());
            }
            if let Some(p) = p {
                let values = p.into_iter().map(|k| PubKey([k; 32]).to_hex()).collect();
                f.tags.insert('p', values);
            }
            f
        })
}

fn arb_ops() -> impl Strategy<Value = (Vec<Event>, Vec<Op>)> {
    proptest::collection::vec(arb_event(), 1..60).prop_flat_map(|pool| {
        let ids: Vec<EventId> = pool.iter().map(|e| e.id).collect();
        let n = pool.len();
        let op = prop_oneof![
            6 => (0..n).prop_map(Op::Insert),
            1 => (0..n).prop_map(Op::Remove),
            3 => arb_filter(ids).prop_map(Op::Query),
        ];
        (Just(pool), proptest::collection::vec(op, 1..120))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn answers_equal_a_naive_scan_of_the_store(
        (mut pool, ops) in arb_ops(),
        warm in 0usize..8,
        in_order in any::<bool>(),
    ) {
        // Live traffic arrives roughly in order, catch-up in any order: half the cases each.
        if in_order {
            pool.sort_by_key(|e| e.created_at);
        }
        let mut next = 0;
        // The store starts with the pool's first `warm` events; the ring is loaded with the
        // newest half of them, as the daemon does at start.
        let mut store: Vec<Event> = Vec::new();
        for e in pool.iter().take(warm) {
            if !store.iter().any(|s| s.id == e.id) {
                store.push(e.clone());
            }
        }
        let mut ring = Ring::new(RingTier::Xs);
        let mut by_age = store.clone();
        by_age.sort_by_key(|e| (Reverse(e.created_at), e.id));
        let load = by_age.len() / 2;
        for e in by_age[..load].iter().rev() {
            ring.insert(e);
        }
        // Stored events not loaded are no newer than the oldest loaded one, and may share its
        // second.
        ring.declare_loaded(if load == by_age.len() {
            Horizon::Everything
        } else if load == 0 {
            Horizon::Nothing
        } else {
            Horizon::after(by_age[load - 1].created_at)
        });

        for op in ops {
            match op {
                Op::Insert(i) => {
                    let e = if in_order {
                        next += 1;
                        &pool[(next - 1) % pool.len()]
                    } else {
                        &pool[i]
                    };
                    // The caller inserts what the store accepted; the store refuses duplicates.
                    if !store.iter().any(|s| s.id == e.id) {
                        store.push(e.clone());
                        prop_assert_ne!(ring.insert(e), Inserted::AlreadyHeld);
                    }
                }
                Op::Remove(i) => {
                    let id = pool[i].id;
                    store.retain(|s| s.id != id);
                    ring.remove(&id);
                }
                Op::Query(f) => {
                    let want = reference(&store, &f);
                    if let Some(got) = ring.query(&f) {
                        prop_assert_eq!(as_strings(&got), want, "filter {}", f.to_json());
                    } else {
                        // Liveness: a ring that lost nothing and holds every JSON answers.
                        let all_json = store.iter().all(|e| ring.get(&e.id).is_some());
                        prop_assert!(
                            ring.horizon() != Horizon::Everything || !all_json,
                            "declined {} with nothing lost", f.to_json()
                        );
                    }
                }
            }
            prop_assert!(ring.len() <= XS_SLOTS && ring.arena_used() <= XS_ARENA);
        }
    }

    #[test]
    fn seen_set_agrees_with_a_model_of_its_buckets(
        ops in proptest::collection::vec((prop::bool::weighted(0.8), 0u32..1_500), 1..400),
        seed in any::<[u8; 32]>(),
    ) {
        // Up to 400 ids into 512 buckets: a few dozen buckets get a third id, so eviction
        // runs; the model evicts exactly as the table should, using the table's bucket of
        // each id.
        let mut seen = SeenSet::new(RingTier::Xs, &seed);
        let mut model: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        let touched: BTreeSet<u32> = ops.iter().map(|&(_, n)| n).collect();
        for (insert, n) in ops {
            let id = counter_id(n);
            let ways = model.entry(seen.locate(&id).0).or_default();
            if insert {
                let new = !ways.contains(&n);
                if new {
                    ways.insert(0, n);
                    ways.truncate(SEEN_WAYS);
                }
                prop_assert_eq!(seen.insert(&id), new);
            } else {
                let had = ways.contains(&n);
                ways.retain(|&m| m != n);
                prop_assert_eq!(seen.remove(&id), had);
            }
            prop_assert_eq!(seen.len(), model.values().map(Vec::len).sum::<usize>());
        }
        let held: BTreeSet<u32> = model.values().flatten().copied().collect();
        for m in touched {
            prop_assert_eq!(seen.contains(&counter_id(m)), held.contains(&m), "id {}", m);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A ring of `tier` over an empty store.
fn loaded(tier: RingTier) -> Ring {
    let mut ring = Ring::new(tier);
    ring.declare_loaded(Horizon::Everything);
    ring
}

/// An event by the fake author `author` (`PubKey([author; 32])`), its id computed, its
/// signature zero: the ring never checks signatures.
fn event(author: u8, created_at: u64, kind: u16, tags: Vec<Tag>, content: &str) -> Event {
    let unsigned = UnsignedEvent {
        pubkey: PubKey([author; 32]),
        created_at: UnixTime(created_at),
        kind: Kind(kind),
        tags,
        content: content.to_owned(),
    };
    Event {
        id: unsigned.id(),
        pubkey: unsigned.pubkey,
        created_at: unsigned.created_at,
        kind: unsigned.kind,
        tags: unsigned.tags,
        content: unsigned.content,
        sig: Signature([0; 64]),
    }
}

/// A kind-1 note without tags.
fn note(author: u8, created_at: u64, content: &str) -> Event {
    event(author, created_at, 1, vec![], content)
}

fn tag(fields: &[&str]) -> Tag {
    Tag::new(fields.iter().copied())
}

/// Distinct ids from a counter (SHA-256-like spread is not needed: the set hashes them).
fn counter_id(n: u32) -> EventId {
    let mut id = [0; 32];
    id[..4].copy_from_slice(&n.to_le_bytes());
    EventId(id)
}

fn parse(json: &[u8]) -> Event {
    Event::from_json(json).unwrap()
}

fn as_strings(got: &[&[u8]]) -> Vec<String> {
    got.iter()
        .map(|j| String::from_utf8(j.to_vec()).unwrap())
        .collect()
}

/// What a store answers: matching events, newest first, lowest id first on ties, `limit`.
fn reference(store: &[Event], f: &Filter) -> Vec<String> {
    let mut hits: Vec<&Event> = store.iter().filter(|e| f.matches(e)).collect();
    hits.sort_by_key(|e| (Reverse(e.created_at), e.id));
    let limit = f.limit.map_or(usize::MAX, |l| l as usize);
    hits.into_iter().take(limit).map(Event::to_json).collect()
}

/// An empty filter, narrowed by the builder methods below.
fn filter() -> Filter {
    Filter::default()
}

trait FilterExt {
    fn limit(self, n: u64) -> Self;
    fn since(self, t: u64) -> Self;
    fn until(self, t: u64) -> Self;
    fn kinds<const N: usize>(self, k: [u16; N]) -> Self;
    fn authors<const N: usize>(self, a: [u8; N]) -> Self;
    fn ids<const N: usize>(self, ids: [EventId; N]) -> Self;
    fn tag<const N: usize>(self, letter: char, values: [&str; N]) -> Self;
}

impl FilterExt for Filter {
    fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }
    fn since(mut self, t: u64) -> Self {
        self.since = Some(UnixTime(t));
        self
    }
    fn until(mut self, t: u64) -> Self {
        self.until = Some(UnixTime(t));
        self
    }
    fn kinds<const N: usize>(mut self, k: [u16; N]) -> Self {
        self.kinds = Some(k.into_iter().map(Kind).collect());
        self
    }
    fn authors<const N: usize>(mut self, a: [u8; N]) -> Self {
        self.authors = Some(a.into_iter().map(|k| PubKey([k; 32])).collect());
        self
    }
    fn ids<const N: usize>(mut self, ids: [EventId; N]) -> Self {
        self.ids = Some(BTreeSet::from(ids));
        self
    }
    fn tag<const N: usize>(mut self, letter: char, values: [&str; N]) -> Self {
        let values = values.into_iter().map(str::to_owned).collect();
        self.tags.insert(letter, values);
        self
    }
}
