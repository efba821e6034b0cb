//! Hot paths of the Nostr core, per event: id computation (canonical serialization + SHA-256),
//! BIP-340 verification, JSON parsing, and the whole check a relay does on arrival.
//! `scripts/bench` runs this and writes the figures into docs/benchmarks.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nostrp2p::nostr::{Event, Keys, Kind, Tag, UnixTime, UnsignedEvent};

/// A typical kind-1 reply: ~500 bytes of JSON, the median size of stored notes (notes/nostr.md).
fn typical_event() -> Event {
    let keys = Keys::from_secret_bytes([0x11; 32]).expect("valid secret");
    let other = Keys::from_secret_bytes([0x22; 32])
        .expect("valid secret")
        .public();
    let content = "Running my own Nostr node on a Raspberry Pi at home. It keeps my posts, \
                   talks to my friends' nodes directly, and never asks a server for permission. \
                   #nostr #selfhosted";
    let tags = vec![
        Tag::new([
            "e".to_owned(),
            "ab".repeat(32),
            String::new(),
            "root".to_owned(),
        ]),
        Tag::new(["p".to_owned(), other.to_hex()]),
        Tag::new(["t", "nostr"]),
    ];
    UnsignedEvent::new(&keys, UnixTime(1_764_000_000), Kind(1), tags, content)
        .sign(&keys, &[7; 32])
        .expect("signs")
}

fn bench(c: &mut Criterion) {
    let event = typical_event();
    let json = event.to_json();
    let mut group = c.benchmark_group("event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("id", |b| b.iter(|| black_box(&event).compute_id()));
    group.bench_function("verify", |b| b.iter(|| black_box(&event).verify()));
    group.bench_function("parse_json", |b| {
        b.iter(|| Event::from_json(black_box(json.as_bytes())))
    });
    group.bench_function("to_json", |b| b.iter(|| black_box(&event).to_json()));
    group.bench_function("parse_and_verify", |b| {
        b.iter(|| Event::from_json(black_box(json.as_bytes())).and_then(|e| e.verify()))
    });
    // Baselines measured in the same run: the bare library calls our code wraps, so the
    // ratios show what our layer costs on whatever machine runs this.
    let key = secp256k1::XOnlyPublicKey::from_byte_array(event.pubkey.0).expect("valid key");
    let sig = secp256k1::schnorr::Signature::from_byte_array(event.sig.0);
    group.bench_function("baseline_secp256k1_verify", |b| {
        b.iter(|| secp256k1::schnorr::verify(black_box(&sig), black_box(&event.id.0), &key))
    });
    let mut canonical = Vec::new();
    nostrp2p::nostr::event::write_canonical(
        &mut canonical,
        &event.pubkey,
        event.created_at,
        event.kind,
        &event.tags,
        &event.content,
    );
    group.bench_function("baseline_sha256", |b| {
        b.iter(|| <sha2::Sha256 as sha2::Digest>::digest(black_box(&canonical)))
    });
    group.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&json)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
