//! Mesh transport benchmark (issue 6), in process and on one core, through the crate's public
//! API: Noise transport seal/open against bare snow in the same run; MeshNode to MeshNode
//! delivery; the IX handshake (BIP-340 binding checks included); a 64 KiB message's fragments;
//! heap held per session and per address-book entry (the crate's counting allocator,
//! `daemon::heap`); and what each kind of forged handshake datagram costs the responder.
//! Prints one JSON object; `scripts/bench-report.py --mesh` (or `--mesh-only`) writes the
//! figures into docs/benchmarks.md.
//!
//! `cargo bench --bench mesh` for the full run (cargo passes `--bench`), `-- --quick` for a
//! short one. Under `cargo test` it runs with tiny counts as a smoke test that checks every
//! scenario did what it claims (sessions up, messages intact, cookie replies sent, binding
//! checks run); its figures mean nothing (its few sessions fit the B-tree leaf the warm-up
//! session allocated, for one).

// A benchmark reads the clock; clippy.toml bans clocks for the sans-IO library code only.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::hint::black_box;
use std::time::{Duration, Instant};

use nostrp2p::daemon::heap::live_bytes;
use nostrp2p::mesh::cookie::{DEFAULT_NETWORK_ID, NetworkKeys};
use nostrp2p::mesh::fragment::{self, Frame, Reassembly};
use nostrp2p::mesh::limits::{HANDSHAKE_BUDGET, HEADER_LEN, MAX_MESSAGE, MAX_PLAINTEXT, TAG_LEN};
use nostrp2p::mesh::membership::{ADDRESS_BOOK_MAX, BookEntry, Entry};
use nostrp2p::mesh::session::handshake::{Identity, noise_params};
use nostrp2p::mesh::session::{KeySet, Role};
use nostrp2p::mesh::wire::{Header, MAC1_AT};
use nostrp2p::mesh::{MeshConfig, MeshEvent, MeshNode, NodeId, Overlay, PathId, SessionIndex};
use nostrp2p::nostr::{Keys, PubKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use snow::StatelessTransportState;

/// Datagram sizes measured: a full one (the MTU-safe maximum) and a small one (a reaction or a
/// keepalive-sized message). Each is header + plaintext + tag on the wire.
const BIG_DATAGRAM: usize = HEADER_LEN + MAX_PLAINTEXT + TAG_LEN;
const SMALL_DATAGRAM: usize = 100;
/// Datagrams per timed batch: large enough that the clock's cost vanishes, short enough
/// (≈ 1.5 ms at most) that most batches run within one scheduler slice on a shared machine,
/// so the median batch is the undisturbed one.
const BATCH: usize = 100;
/// A datagram that costs more than this is timed one by one, for the same reason.
const TIME_ALONE_NS: f64 = 20_000.0;
/// Single BIP-340 verifications timed for the baseline.
const BIP340_SAMPLES: usize = 201;
/// Forged packets per second the cost model is stated for (issue 6).
const FLOOD_RATE: f64 = 10_000.0;
/// Most established sessions on the hub of the memory test: room for the sessions measured.
const HUB_MAX_SESSIONS: usize = 1_024;
/// Virtual time between two handshakes to the hub: above 1 / HANDSHAKE_RATE, so neither the
/// per-source limiter nor the load meter (32 initiations/s) steps in.
const HUB_SPACING: Duration = Duration::from_millis(60);
/// Source of the forged datagrams.
const ATTACKER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 40_000);

/// How much of each thing to do: full run, quick run or smoke test.
struct Sizes {
    /// Timed batches of [`BATCH`] datagrams per throughput figure.
    batches: usize,
    handshakes: usize,
    big_messages: usize,
    sessions: usize,
    book_entries: usize,
    forged: usize,
}

impl Sizes {
    const FULL: Self = Self {
        batches: 1_001,
        handshakes: 1_000,
        big_messages: 200,
        sessions: 100,
        book_entries: 1_000,
        forged: 20_000,
    };
    /// `scripts/bench --quick`: indicative figures in seconds.
    const QUICK: Self = Self {
        batches: 101,
        handshakes: 100,
        big_messages: 20,
        sessions: 100,
        book_entries: 1_000,
        forged: 2_000,
    };
    const SMOKE: Self = Self {
        batches: 3,
        handshakes: 5,
        big_messages: 3,
        sessions: 8,
        // Past the cap, so eviction runs too.
        book_entries: ADDRESS_BOOK_MAX + 8,
        forged: 40,
    };
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench_mode = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "--quick");
    let (mode, sizes) = match (bench_mode, quick) {
        (true, false) => ("full", Sizes::FULL),
        (true, true) => ("quick", Sizes::QUICK),
        (false, _) => ("smoke", Sizes::SMOKE),
    };
    let now = Instant::now();
    let (wall0, cpu0) = (Instant::now(), thread_cpu_ns());

    let seal_open = [BIG_DATAGRAM, SMALL_DATAGRAM].map(|d| seal_open(d, sizes.batches, now));
    let delivery = [BIG_DATAGRAM, SMALL_DATAGRAM].map(|d| delivery(d, sizes.batches, now));
    let handshake = handshakes(sizes.handshakes, now);
    let big = big_message(sizes.big_messages, now);
    let memory = memory(sizes.sessions, sizes.book_entries, now);
    let forged = forged(sizes.forged, now);

    let out = serde_json::json!({
        "mode": mode,
        "seal_open": seal_open,
        "delivery": delivery,
        "handshake": handshake,
        "big_message": big,
        "memory": memory,
        "forged": forged,
        "flood_rate": FLOOD_RATE,
        "cpu_share": cpu_share(wall0, cpu0),
        "loadavg_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    });
    println!("{out}");
}

/// CPU time this thread has run, from the scheduler (`/proc/thread-self/schedstat`, updated
/// at each tick and switch); `None` where there is no such file.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Share of the run's wall time this thread was on a core: near 1 when the figures are clean,
/// well below when other work on the machine took the core away mid-measurement.
fn cpu_share(wall0: Instant, cpu0: Option<u64>) -> Option<f64> {
    let spent = thread_cpu_ns()?.checked_sub(cpu0?)?;
    Some(spent as f64 / 1e9 / wall0.elapsed().as_secs_f64())
}

/// Median of a sample (sorted in place).
fn median(v: &mut [f64]) -> f64 {
    percentile(v, 0.5)
}

/// The `p` quantile of a sample, nearest rank (sorted in place).
fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(rank).copied().unwrap_or(f64::NAN)
}

/// Both ends of a finished IX handshake between two fixed identities, as snow's transport.
fn transport_pair(seed: u8) -> (StatelessTransportState, StatelessTransportState) {
    let ka = Keys::from_secret_bytes([seed; 32]).expect("valid secret");
    let kb = Keys::from_secret_bytes([seed + 1; 32]).expect("valid secret");
    let (ia, ib) = (Identity::new(&ka, &[0; 32]), Identity::new(&kb, &[0; 32]));
    let net = NetworkKeys::new(DEFAULT_NETWORK_ID);
    let params = noise_params();
    let mut init = ia
        .handshake(&params, &net.prologue, [seed; 32], true)
        .expect("initiator");
    let mut resp = ib
        .handshake(&params, &net.prologue, [seed + 1; 32], false)
        .expect("responder");
    let (mut msg, mut payload) = ([0u8; 512], [0u8; 512]);
    let n = init.write_message(&[], &mut msg).expect("message 1");
    resp.read_message(&msg[..n], &mut payload)
        .expect("message 1 reads");
    let n = resp.write_message(&[], &mut msg).expect("message 2");
    init.read_message(&msg[..n], &mut payload)
        .expect("message 2 reads");
    (
        init.into_stateless_transport_mode().expect("transport"),
        resp.into_stateless_transport_mode().expect("transport"),
    )
}

/// Seal and open throughput of our key sets for `datagram`-byte datagrams, and of bare snow
/// (ChaCha20-Poly1305 with its nonce handling) over the same plaintext into reused buffers:
/// the ratio is what our header, the per-datagram `Vec` and the replay window cost.
fn seal_open(datagram: usize, batches: usize, now: Instant) -> serde_json::Value {
    let plain_len = datagram - HEADER_LEN - TAG_LEN;
    let plaintext: Vec<u8> = (0..plain_len).map(|i| (i % 251) as u8).collect();
    let (ti, tr) = transport_pair(1);
    let mut tx = KeySet::new(SessionIndex(1), SessionIndex(2), ti, now, Role::Initiator);
    let mut rx = KeySet::new(SessionIndex(2), SessionIndex(1), tr, now, Role::Responder);
    let (bi, br) = transport_pair(11);

    let mut ours = (Vec::new(), Vec::new());
    let mut bare = (Vec::new(), Vec::new());
    let mut sealed: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut out = vec![0u8; MAX_PLAINTEXT];
    let mut bare_sealed = vec![vec![0u8; plain_len + TAG_LEN]; BATCH];
    let mut bare_counter = 0u64;
    for _ in 0..batches {
        sealed.clear();
        let t = Instant::now();
        for _ in 0..BATCH {
            sealed.push(tx.seal(black_box(&plaintext)).expect("seals"));
        }
        ours.0.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for d in &sealed {
            let header = Header::decode(d).expect("our header");
            let n = rx
                .open(header.counter, &d[HEADER_LEN..], &mut out)
                .expect("opens");
            black_box(n);
        }
        ours.1.push(t.elapsed().as_secs_f64());
        assert_eq!(&out[..plain_len], &plaintext[..], "round trip");

        let first = bare_counter;
        let t = Instant::now();
        for buf in &mut bare_sealed {
            bi.write_message(bare_counter, black_box(&plaintext), buf)
                .expect("seals");
            bare_counter += 1;
        }
        bare.0.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for (i, buf) in bare_sealed.iter().enumerate() {
            let n = br
                .read_message(first + i as u64, buf, &mut out)
                .expect("opens");
            black_box(n);
        }
        bare.1.push(t.elapsed().as_secs_f64());
    }
    let rate = |secs: &mut Vec<f64>| BATCH as f64 / median(secs);
    let (seal, open) = (rate(&mut ours.0), rate(&mut ours.1));
    let (bare_seal, bare_open) = (rate(&mut bare.0), rate(&mut bare.1));
    let mb = |pps: f64| pps * plain_len as f64 / 1e6;
    serde_json::json!({
        "datagram_bytes": datagram,
        "plaintext_bytes": plain_len,
        "seal_per_s": seal, "open_per_s": open,
        "seal_mb_s": mb(seal), "open_mb_s": mb(open),
        "bare_seal_per_s": bare_seal, "bare_open_per_s": bare_open,
        "bare_seal_mb_s": mb(bare_seal), "bare_open_mb_s": mb(bare_open),
    })
}

/// The keys of node number `i`, all distinct and valid.
fn node_keys(i: u64) -> Keys {
    let mut secret = [0x42; 32];
    secret[..8].copy_from_slice(&i.to_le_bytes());
    Keys::from_secret_bytes(secret).expect("below the curve order")
}

fn node(i: u64, config: MeshConfig) -> MeshNode {
    let mut seed = [7; 32];
    seed[..8].copy_from_slice(&i.to_le_bytes());
    MeshNode::new(config, &node_keys(i), seed).expect("valid config")
}

fn addr(i: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 9_000 + i)
}

/// Time spent in each side's calls while shuttling.
#[derive(Default)]
struct Spent {
    a: Duration,
    b: Duration,
}

/// Moves datagrams between `a` (at `addr_a`) and `b` (at `addr_b`) until both are quiet,
/// keeping their events; returns the time each side spent handling.
fn shuttle(
    now: Instant,
    (a, addr_a): (&mut MeshNode, SocketAddr),
    (b, addr_b): (&mut MeshNode, SocketAddr),
    events: &mut (Vec<MeshEvent>, Vec<MeshEvent>),
) -> Spent {
    let mut spent = Spent::default();
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            moved = true;
            let s = Instant::now();
            b.handle_datagram(now, t.path, addr_a, &t.bytes);
            spent.b += s.elapsed();
        }
        while let Some(t) = b.poll_transmit() {
            moved = true;
            let s = Instant::now();
            a.handle_datagram(now, t.path, addr_b, &t.bytes);
            spent.a += s.elapsed();
        }
        events.0.extend(std::iter::from_fn(|| a.poll_event()));
        events.1.extend(std::iter::from_fn(|| b.poll_event()));
        if !moved {
            return spent;
        }
    }
}

/// Two nodes with a session, for the data-path figures.
fn connected_pair(now: Instant) -> (MeshNode, MeshNode) {
    let (mut a, mut b) = (
        node(1, MeshConfig::default()),
        node(2, MeshConfig::default()),
    );
    a.connect(now, PathId::Udp, addr(2)).expect("connects");
    let mut events = (Vec::new(), Vec::new());
    shuttle(now, (&mut a, addr(1)), (&mut b, addr(2)), &mut events);
    assert!(a.is_connected(&b.node_id()) && b.is_connected(&a.node_id()));
    (a, b)
}

/// Whole messages per second from one MeshNode to another: `send`, `poll_transmit`,
/// `handle_datagram`, `poll_event`, with messages sized to make `datagram`-byte datagrams.
fn delivery(datagram: usize, batches: usize, now: Instant) -> serde_json::Value {
    // One frame-type byte precedes a whole message in the plaintext.
    let len = datagram - HEADER_LEN - TAG_LEN - 1;
    let message = vec![0x5a; len];
    let (mut a, mut b) = connected_pair(now);
    let to = b.node_id();
    let mut secs = Vec::with_capacity(batches);
    let mut delivered = 0usize;
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..BATCH {
            a.send(now, to, black_box(&message)).expect("sends");
            while let Some(tx) = a.poll_transmit() {
                assert_eq!(tx.bytes.len(), datagram);
                b.handle_datagram(now, tx.path, addr(1), &tx.bytes);
            }
            while let Some(e) = b.poll_event() {
                if let MeshEvent::Message { bytes, .. } = e {
                    delivered += usize::from(bytes.len() == len);
                }
            }
            while b.poll_transmit().is_some() {}
        }
        secs.push(t.elapsed().as_secs_f64());
    }
    assert_eq!(delivered, batches * BATCH, "every message arrives whole");
    let per_s = BATCH as f64 / median(&mut secs);
    serde_json::json!({
        "datagram_bytes": datagram,
        "message_bytes": len,
        "messages_per_s": per_s,
        "mb_s": per_s * len as f64 / 1e6,
    })
}

/// Full IX handshakes between fresh in-memory node pairs: `connect`, the four datagrams
/// (initiation, response, confirmation, answer), both sides up. The binding signature is made
/// once per node at start-up (`Identity::new`), so it is outside the timing; each side verifies
/// the other's binding (one BIP-340 verify each) inside it.
fn handshakes(n: usize, now: Instant) -> serde_json::Value {
    let (mut total, mut initiator, mut responder) = (Vec::new(), Vec::new(), Vec::new());
    let mut node_start = Vec::new();
    for i in 0..n as u64 {
        let t = Instant::now();
        let mut a = node(1_000 + 2 * i, MeshConfig::default());
        node_start.push(t.elapsed().as_secs_f64() * 1e6);
        let mut b = node(1_001 + 2 * i, MeshConfig::default());
        let mut events = (Vec::new(), Vec::new());
        let t = Instant::now();
        a.connect(now, PathId::Udp, addr(2)).expect("connects");
        let connect = t.elapsed();
        let spent = shuttle(now, (&mut a, addr(1)), (&mut b, addr(2)), &mut events);
        let wall = t.elapsed();
        assert!(a.is_connected(&b.node_id()) && b.is_connected(&a.node_id()));
        assert_eq!(
            (a.stats().binding_checks, b.stats().binding_checks),
            (1, 1),
            "one BIP-340 verify per side"
        );
        total.push(wall.as_secs_f64() * 1e6);
        initiator.push((connect + spent.a).as_secs_f64() * 1e6);
        responder.push(spent.b.as_secs_f64() * 1e6);
    }
    let p99 = percentile(&mut total.clone(), 0.99);
    serde_json::json!({
        "handshakes": n,
        "total_us_p50": median(&mut total),
        "total_us_p99": p99,
        "initiator_us_p50": median(&mut initiator),
        "responder_us_p50": median(&mut responder),
        "node_start_us_p50": median(&mut node_start),
        "bip340_verify_us": bip340_verify_us(),
    })
}

/// One bare BIP-340 verification (the binding check's core), for scale: the median of
/// single timed verifications, like the figures it is compared with.
fn bip340_verify_us() -> f64 {
    let keys = node_keys(9);
    let digest = [3u8; 32];
    let sig = keys.sign_bytes(&digest, &[0; 32]);
    let public = keys.public();
    let mut us: Vec<f64> = (0..BIP340_SAMPLES)
        .map(|_| {
            let t = Instant::now();
            nostrp2p::nostr::keys::verify(black_box(&public), &digest, &sig).expect("verifies");
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median(&mut us)
}

/// A 64 KiB message between two connected nodes, end to end, and the crypto-free part of it:
/// cutting it into frames and putting them back together.
fn big_message(n: usize, now: Instant) -> serde_json::Value {
    let message: Vec<u8> = (0..MAX_MESSAGE).map(|i| (i % 253) as u8).collect();
    let (mut a, mut b) = connected_pair(now);
    let to = b.node_id();
    let (mut e2e, mut frames_us) = (Vec::new(), Vec::new());
    let mut datagrams = 0;
    for round in 0..n {
        let t = Instant::now();
        a.send(now, to, &message).expect("sends");
        datagrams = 0;
        while let Some(tx) = a.poll_transmit() {
            datagrams += 1;
            b.handle_datagram(now, tx.path, addr(1), &tx.bytes);
        }
        let got = std::iter::from_fn(|| b.poll_event()).find_map(|e| match e {
            MeshEvent::Message { bytes, .. } => Some(bytes),
            _ => None,
        });
        e2e.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(got.as_deref(), Some(&message[..]), "reassembled intact");

        let mut slots = Reassembly::new(1, 1);
        let t = Instant::now();
        let mut whole = None;
        for f in fragment::frames(&message, round as u32) {
            if let Ok(Frame::Fragment {
                msg_id,
                index,
                count,
                chunk,
            }) = Frame::decode(&f)
            {
                whole = slots
                    .insert(
                        now + Duration::from_secs(5),
                        to,
                        msg_id,
                        index,
                        count,
                        chunk,
                    )
                    .expect("fits");
            }
        }
        frames_us.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(whole.as_deref(), Some(&message[..]));
    }
    serde_json::json!({
        "message_bytes": MAX_MESSAGE,
        "datagrams": datagrams,
        "end_to_end_us_p50": median(&mut e2e),
        "fragment_reassembly_us_p50": median(&mut frames_us),
    })
}

/// Heap the hub holds for `sessions` established sessions (each peer dropped once its session
/// is up, so only the hub's side is counted), and an overlay's heap for an address book fed
/// `book_entries` peers. One thread, so the global counter moves only with what we do.
fn memory(sessions: usize, book_entries: usize, now: Instant) -> serde_json::Value {
    let hub_config = MeshConfig {
        max_sessions: HUB_MAX_SESSIONS,
        ..MeshConfig::default()
    };
    let mut hub = node(0, hub_config);
    let hub_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254)), 9_000);
    let mut t = now;
    let mut events = (Vec::new(), Vec::new());
    // One warm-up session sizes the hub's queues, which keep their capacity.
    let mut counted = |hub: &mut MeshNode, i: usize, t: Instant| {
        let mut peer = node(10_000 + i as u64, MeshConfig::default());
        let peer_addr = addr(u16::try_from(i).expect("few sessions"));
        peer.connect(t, PathId::Udp, hub_addr).expect("connects");
        shuttle(t, (&mut peer, peer_addr), (hub, hub_addr), &mut events);
        assert!(hub.is_connected(&peer.node_id()), "session {i} up");
        events.0.clear();
        events.1.clear();
    };
    counted(&mut hub, 0, t);
    let before = live_bytes();
    for i in 1..=sessions {
        t += HUB_SPACING;
        counted(&mut hub, i, t);
    }
    let after = live_bytes();
    assert_eq!(hub.peers().count(), sessions + 1);
    let per_session = (after.saturating_sub(before)) as f64 / sessions as f64;

    // The book is allocated whole when the overlay is built (src/mesh/membership/book.rs):
    // loading it must allocate nothing more, and its one allocation is the cost per peer.
    let mut overlay = Overlay::new(node(1, MeshConfig::default()), [9; 32]);
    let entries: Vec<Entry> = (0..book_entries as u64)
        .map(|i| {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&i.to_le_bytes());
            Entry {
                node: NodeId(PubKey(key)),
                addr: addr(u16::try_from(i % 60_000).expect("fits")),
            }
        })
        .collect();
    // Up to the cap, nothing is evicted, so no event is queued and the heap that grows is the
    // book's own; the rest then only replaces entries (each eviction queues an event, which
    // is drained).
    let (first, rest) = entries.split_at(book_entries.min(ADDRESS_BOOK_MAX));
    let before = live_bytes();
    overlay.load_address_book(now, first.iter().copied());
    let after = live_bytes();
    let held = overlay.address_book().count();
    assert_eq!(held, first.len());
    assert!(std::iter::from_fn(|| overlay.poll_event()).next().is_none());
    assert_eq!(after, before, "filling the book allocates nothing");
    let per_entry = overlay.address_book_heap_bytes() as f64 / ADDRESS_BOOK_MAX as f64;
    assert!(per_entry > 0.0, "the book lives on the heap");
    let mut forgotten = 0;
    for e in rest {
        overlay.load_address_book(now, [*e]);
        forgotten += std::iter::from_fn(|| overlay.poll_event()).count();
    }
    assert_eq!(overlay.address_book().count(), held, "bounded");
    assert_eq!(forgotten, rest.len(), "one AddressForgotten per eviction");
    let held_after_all = live_bytes().saturating_sub(before);

    serde_json::json!({
        "sessions": sessions,
        "heap_per_session_bytes": per_session,
        "size_of_keyset": size_of::<KeySet>(),
        "size_of_mesh_node": size_of::<MeshNode>(),
        "size_of_overlay": size_of::<Overlay>(),
        "book_entries_fed": book_entries,
        "book_entries_held": held,
        "book_heap_after_all_bytes": held_after_all,
        "heap_per_book_entry_bytes": per_entry,
        "size_of_book_entry": size_of::<NodeId>() + size_of::<BookEntry>(),
    })
}

/// Median ns per datagram for feeding `packet` to `node` `n` times (in batches), answers
/// drained as the shell would (not sent).
fn per_datagram_ns(node: &mut MeshNode, packet: &[u8], n: usize, now: Instant) -> f64 {
    per_datagram_ns_from(node, packet, n, |_| (now, ATTACKER))
}

/// [`per_datagram_ns`] with the `i`th datagram arriving at `at(i)`'s time from its address.
fn per_datagram_ns_from(
    node: &mut MeshNode,
    packet: &[u8],
    n: usize,
    at: impl Fn(usize) -> (Instant, SocketAddr),
) -> f64 {
    let mut i = 0;
    let mut feed = |node: &mut MeshNode, packet: &[u8]| {
        let (when, from) = at(i);
        i += 1;
        node.handle_datagram(when, PathId::Udp, from, packet);
        while node.poll_transmit().is_some() {}
    };
    let t = Instant::now();
    feed(node, packet);
    let probe = t.elapsed().as_secs_f64() * 1e9;
    let batch = if probe > TIME_ALONE_NS {
        1
    } else {
        n.clamp(1, BATCH)
    };
    let mut ns = Vec::new();
    for _ in 0..n.div_ceil(batch) {
        let t = Instant::now();
        for _ in 0..batch {
            feed(node, black_box(packet));
        }
        ns.push(t.elapsed().as_secs_f64() * 1e9 / batch as f64);
    }
    median(&mut ns)
}

/// What forged handshake datagrams cost the responder, per datagram: garbage; an initiation
/// with a wrong `mac1`; a captured initiation (right `mac1`, which anyone knowing our key and
/// the network id can compute) while under load, answered by a cookie reply; and the same
/// initiation processed in full (DHs, BIP-340 binding, response) by a node whose limits are
/// raised so nothing sheds it.
fn forged(n: usize, now: Instant) -> serde_json::Value {
    let victim_addr = addr(100);
    let mut attacker = node(50, MeshConfig::default());
    attacker
        .connect(now, PathId::Udp, victim_addr)
        .expect("connects");
    let initiation = attacker.poll_transmit().expect("an initiation").bytes;

    let mut garbage = vec![0u8; initiation.len()];
    ChaCha20Rng::from_seed([5; 32]).fill_bytes(&mut garbage);
    let mut victim = node(51, MeshConfig::default());
    let garbage_ns = per_datagram_ns(&mut victim, &garbage, n, now);
    let s = victim.stats();
    assert_eq!(
        (s.binding_checks, s.cookie_replies_sent),
        (0, 0),
        "dropped unanswered"
    );

    let mut bad_mac1 = initiation.clone();
    bad_mac1[MAC1_AT] ^= 1;
    let mut victim = node(52, MeshConfig::default());
    let bad_mac1_ns = per_datagram_ns(&mut victim, &bad_mac1, n, now);
    assert_eq!(victim.stats().binding_checks, 0);
    assert!(victim.stats().bad_mac1 >= n as u64);

    // Under load: a burst of the same initiation at one instant trips the load meter (more
    // than UNDER_LOAD_PER_SECOND), which stays on while the flood lasts.
    let mut victim = node(53, MeshConfig::default());
    per_datagram_ns(&mut victim, &initiation, 64, now);
    let replies = victim.stats().cookie_replies_sent;
    let checks = victim.stats().binding_checks;
    let cookie_ns = per_datagram_ns(&mut victim, &initiation, n, now);
    assert!(
        victim.stats().cookie_replies_sent - replies >= n as u64,
        "every forged initiation under load gets a cookie reply"
    );
    assert_eq!(victim.stats().binding_checks, checks, "and no DH");

    let open = MeshConfig {
        max_handshakes: n + 100,
        handshake_rate: u32::MAX,
        handshake_burst: u32::MAX,
        under_load_in_flight: usize::MAX,
        under_load_per_second: u32::MAX,
        ..MeshConfig::default()
    };
    let mut victim = node(54, open);
    // The global budget of expensive handshakes and the per-prefix rate are constants, not
    // configuration: the forged initiations come from a new /24 each and are spaced so the
    // budget refills between them (virtual time; the cost measured is the CPU per datagram).
    let pace = Duration::from_secs(1) / HANDSHAKE_BUDGET + Duration::from_millis(1);
    let full_ns = per_datagram_ns_from(&mut victim, &initiation, n, |i| {
        let [_, _, a, b] = u32::try_from(i).expect("fits").to_be_bytes();
        let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, a, b, 1)), 40_000);
        (now + pace * u32::try_from(i).expect("fits"), from)
    });
    assert!(
        victim.stats().binding_checks >= n as u64,
        "each one verified"
    );

    let share = |ns: f64| ns * FLOOD_RATE / 1e9 * 100.0;
    serde_json::json!({
        "garbage_ns": garbage_ns, "garbage_cpu_pct": share(garbage_ns),
        "bad_mac1_ns": bad_mac1_ns, "bad_mac1_cpu_pct": share(bad_mac1_ns),
        "cookie_reply_ns": cookie_ns, "cookie_reply_cpu_pct": share(cookie_ns),
        "full_handshake_ns": full_ns, "full_handshake_cpu_pct": share(full_ns),
        "initiation_bytes": initiation.len(),
    })
}
