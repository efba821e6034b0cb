//! The ring's hot paths (docs/ring.md "Timings"): insert, get by id, the queries the relay
//! answers from memory, and the seen set. Criterion; `cargo test --all-targets` runs each once.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nostrp2p::nostr::filter::Filter;
use nostrp2p::nostr::{Event, EventId, Kind, PubKey, Signature, Tag, UnixTime, UnsignedEvent};
use nostrp2p::ring::{Horizon, Ring, RingTier, SeenSet};

/// Events the ring benchmarks insert: more than tier `l` holds, so every tier has evicted.
const EVENTS: u64 = 20_000;

/// A note of ≈ 760 B: an `e` and a `p` tag, a `t` on every third, 20 % reactions. Signatures
/// are zero: the ring never checks them.
fn event(i: u64) -> Event {
    let mut tags = vec![
        Tag::new([
            "e".to_owned(),
            EventId([(i % 200) as u8; 32]).to_hex(),
            String::new(),
            "root".to_owned(),
        ]),
        Tag::new(["p".to_owned(), PubKey([(i % 40) as u8; 32]).to_hex()]),
    ];
    if i.is_multiple_of(3) {
        tags.push(Tag::new(["t", "nostr"]));
    }
    let unsigned = UnsignedEvent {
        pubkey: PubKey([(i % 50) as u8; 32]),
        created_at: UnixTime(1_700_000_000 + i),
        kind: Kind(if i.is_multiple_of(5) { 7 } else { 1 }),
        tags,
        content: "lorem ipsum dolor sit amet ".repeat(4 + (i % 12) as usize),
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

fn filter(json: serde_json::Value) -> Filter {
    Filter::from_value(&json).expect("bench filter")
}

fn bench(c: &mut Criterion) {
    let events: Vec<Event> = (0..EVENTS).map(event).collect();
    for tier in [RingTier::S, RingTier::L] {
        let mut group = c.benchmark_group(format!("ring_{}", tier.name()));
        let mut ring = Ring::new(tier);
        ring.declare_loaded(Horizon::Everything);
        for e in &events {
            ring.insert(e);
        }
        let since = match ring.horizon() {
            Horizon::From(t) => t.0,
            _ => panic!("{EVENTS} events overflow every tier"),
        };
        let mut i = 0usize;
        group.bench_function("insert", |b| {
            // Re-inserting old events cycles the ring through eviction, as live traffic does.
            b.iter(|| {
                i = (i + 1) % events.len();
                ring.remove(&events[i].id);
                ring.insert(black_box(&events[i]))
            })
        });
        let last = events[events.len() - 1].id;
        group.bench_function("get_by_id", |b| {
            b.iter(|| ring.get(black_box(&last)).map(<[u8]>::len))
        });
        let kinds = filter(serde_json::json!({"kinds": [1], "limit": 50}));
        group.bench_function("kinds_limit_50", |b| {
            b.iter(|| ring.query(black_box(&kinds)).map(|r| r.len()))
        });
        let authors: Vec<String> = (0u8..10).map(|a| PubKey([a; 32]).to_hex()).collect();
        let by_authors =
            filter(serde_json::json!({"authors": authors, "kinds": [1], "limit": 100}));
        group.bench_function("10_authors_limit_100", |b| {
            b.iter(|| ring.query(black_box(&by_authors)).map(|r| r.len()))
        });
        let p = filter(serde_json::json!({"#p": [PubKey([3; 32]).to_hex()], "since": since}));
        group.bench_function("p_tag_since_horizon", |b| {
            b.iter(|| ring.query(black_box(&p)).map(|r| r.len()))
        });
        group.finish();
    }
    let mut group = c.benchmark_group("seen_s");
    let mut seen = SeenSet::new(RingTier::S, &[9; 32]);
    let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
    let mut j = 0usize;
    group.bench_function("insert", |b| {
        b.iter(|| {
            j = (j + 1) % ids.len();
            seen.insert(black_box(&ids[j]))
        })
    });
    group.bench_function("contains", |b| b.iter(|| seen.contains(black_box(&ids[7]))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
