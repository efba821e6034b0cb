//! Store benchmark: ingest, queries, bytes on disk, bytes written, RSS, over a corpus shaped
//! like real traffic (`sim::corpus`). The `#p` query is a client's notifications query (`#p` =
//! a key, kinds 1, 6, 7), the way apps ask it. Prints one JSON object; `scripts/bench` writes the
//! figures into docs/benchmarks.md. Baseline measured in the same run: the same engine over the
//! in-memory backend, so the ratio shows what the disk costs on whatever machine runs this.
//!
//! `cargo bench --bench store -- [--events N]` (default 100 000). Under `cargo test` it runs
//! with 2 000 events as a smoke test.

// A benchmark reads the clock and the process's own counters; clippy.toml bans clocks for the
// sans-IO library code only.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::{Duration, Instant};

use nostrp2p::nostr::filter::Filter;
use nostrp2p::nostr::{Event, EventId};
use nostrp2p::sim::corpus::Corpus;
use nostrp2p::store::fjall::{FjallConfig, FjallKv};
use nostrp2p::store::memory::MemoryKv;
use nostrp2p::store::{EventStore, Kv, Store};

/// Events per commit while ingesting: one loop turn's worth under load.
const PER_COMMIT: usize = 64;
/// Queries per kind of filter.
const QUERIES: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rss-probe") {
        rss_probe(args.get(i + 1).expect("--rss-probe DIR"));
        return;
    }
    // The child and profiling modes: `--MODE DIR N`.
    type Mode = fn(&str, usize);
    let modes: [(&str, Mode); 3] = [
        ("--write-and-abort", write_and_abort),
        ("--get-probe", get_probe),
        ("--ingest-only", ingest_only),
    ];
    for (flag, run) in modes {
        if let Some(i) = args.iter().position(|a| a == flag) {
            let dir = args.get(i + 1).unwrap_or_else(|| panic!("{flag} DIR N"));
            let n = args.get(i + 2).and_then(|n| n.parse().ok());
            run(dir, n.unwrap_or_else(|| panic!("{flag} DIR N: N")));
            return;
        }
    }
    let bench_mode = args.iter().any(|a| a == "--bench");
    let events_n = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench_mode { 100_000 } else { 2_000 });

    let t = Instant::now();
    let corpus: Vec<Event> = Corpus::new(42, 2_000, 1_760_000_000)
        .take(events_n)
        .collect();
    let corpus_secs = t.elapsed().as_secs_f64();
    let json_bytes: usize = corpus.iter().map(|e| e.to_json().len()).sum();

    // Baseline: the same engine over B-trees.
    let mut mem = Store::open(MemoryKv::new()).expect("memory store");
    let mem_ingest = ingest(&mut mem, &corpus);
    let mem_queries = queries(&mem, &corpus);

    let dir = tempfile::Builder::new()
        .prefix("nostrp2p-bench-")
        .tempdir_in(bench_dir())
        .expect("tempdir");
    let io_before = proc_io_write_bytes();
    let dev_before = device_sectors_written(dir.path());
    let mut disk =
        Store::open(FjallKv::open(dir.path().join("db"), FjallConfig::default()).expect("fjall"))
            .expect("fjall store");
    let disk_ingest = ingest(&mut disk, &corpus);
    settle(disk.kv());
    let io_after = proc_io_write_bytes();
    let dev_after = device_sectors_written(dir.path());
    let disk_queries = queries(&disk, &corpus);
    let usage = disk.usage();
    let du = dir_bytes(dir.path());
    let rss = rss_bytes();
    // A clean close (flushes the memtables), then a fresh process opens the store; and the
    // same after a writer killed mid-stream.
    drop(disk);
    let probe = probe_rss(&dir.path().join("db"));
    let probe_killed = crash_probe(events_n);

    // The same ingest without key-value separation: what separation buys in bytes written.
    let inline_dir = tempfile::Builder::new()
        .prefix("nostrp2p-inline-")
        .tempdir_in(bench_dir())
        .expect("tempdir");
    let inline_config = FjallConfig {
        kv_separation_threshold: None,
        ..FjallConfig::default()
    };
    let mut inline =
        Store::open(FjallKv::open(inline_dir.path().join("db"), inline_config).expect("fjall"))
            .expect("fjall store");
    let inline_io0 = proc_io_write_bytes();
    let inline_rate = ingest(&mut inline, &corpus);
    settle(inline.kv());
    let inline_io1 = proc_io_write_bytes();
    let inline_du = dir_bytes(inline_dir.path());
    let inline_logical = inline.usage().record_bytes;
    drop(inline);

    // Trickle: one event per commit, as an idle home node sees (DECISIONS.md 18): fsync cost
    // per event dominates here, not compaction.
    let trickle_n = (events_n / 50).clamp(200, 2_000);
    let trickle_dir = tempfile::Builder::new()
        .prefix("nostrp2p-trickle-")
        .tempdir_in(bench_dir())
        .expect("tempdir");
    let mut trickle = Store::open(
        FjallKv::open(trickle_dir.path().join("db"), FjallConfig::default()).expect("fjall"),
    )
    .expect("fjall store");
    let (tio0, tdev0) = (
        proc_io_write_bytes(),
        device_sectors_written(trickle_dir.path()),
    );
    let t = Instant::now();
    for e in corpus.iter().take(trickle_n) {
        trickle.put(e).expect("put");
        trickle.commit().expect("commit");
    }
    let trickle_rate = trickle_n as f64 / t.elapsed().as_secs_f64();
    let (tio1, tdev1) = (
        proc_io_write_bytes(),
        device_sectors_written(trickle_dir.path()),
    );
    let trickle_logical = trickle.usage().record_bytes;

    let out = serde_json::json!({
        "events_generated": events_n,
        "events_stored": usage.events,
        "corpus_secs": corpus_secs,
        "json_bytes_per_event": json_bytes as f64 / events_n as f64,
        "record_bytes_per_event": usage.record_bytes as f64 / usage.events.max(1) as f64,
        "memory": { "ingest_per_sec": mem_ingest, "queries": mem_queries },
        "fjall": {
            "ingest_per_sec": disk_ingest,
            "queries": disk_queries,
            "disk_bytes": du,
            "disk_bytes_per_event": du as f64 / usage.events.max(1) as f64,
            "proc_io_write_bytes": io_after.zip(io_before).map(|(a, b)| a - b),
            "device_bytes_written": dev_after.zip(dev_before).map(|(a, b)| (a - b) * 512),
            "logical_bytes": usage.record_bytes,
        },
        "inline": {
            "ingest_per_sec": inline_rate,
            "disk_bytes": inline_du,
            "logical_bytes": inline_logical,
            "proc_io_write_bytes": inline_io1.zip(inline_io0).map(|(a, b)| a - b),
        },
        "trickle": {
            "events": trickle_n,
            "commits_per_sec": trickle_rate,
            "logical_bytes": trickle_logical,
            "proc_io_write_bytes": tio1.zip(tio0).map(|(a, b)| a - b),
            "device_bytes_written": tdev1.zip(tdev0).map(|(a, b)| (a - b) * 512),
        },
        "rss_bytes_after": rss,
        "store_process_rss": probe,
        "store_process_rss_after_kill": probe_killed,
        "per_commit": PER_COMMIT,
    });
    println!("{out}");
    assert!(
        usage.events > 0 && disk_queries["recent"]["results"].as_u64() > Some(0),
        "the benchmark measured nothing"
    );
}

/// The RSS of a fresh process that opens the store just written (with the board's default
/// tuning) and answers queries against it: what holding the store costs, without the corpus
/// and the in-memory baseline this process also holds.
fn probe_rss(db: &std::path::Path) -> Option<serde_json::Value> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .arg("--rss-probe")
        .arg(db)
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// The child side of [`probe_rss`]: open, query, report.
fn rss_probe(db: &str) {
    let before = rss_bytes();
    let store =
        Store::open(FjallKv::open(db, FjallConfig::default()).expect("fjall")).expect("store");
    let opened = rss_bytes();
    let opened_hwm = status_bytes("VmHWM:");
    let (journal_bytes, journals) = store.kv().journal_stats();
    let memtable_bytes = store.kv().memtable_bytes();
    let recent = Filter::from_value(&serde_json::json!({"limit": 100})).expect("filter");
    let mut served = 0;
    for _ in 0..50 {
        served += store
            .query(std::slice::from_ref(&recent))
            .expect("query")
            .len();
        for kind in [0, 1, 3, 7] {
            let f = Filter::from_value(&serde_json::json!({"kinds": [kind], "limit": 100}))
                .expect("filter");
            served += store.query(std::slice::from_ref(&f)).expect("query").len();
        }
    }
    let out = serde_json::json!({
        "events": store.usage().events,
        "rss_start": before,
        "rss_opened": opened,
        "hwm_opened": opened_hwm,
        "journal_bytes": journal_bytes,
        "journals": journals,
        "memtable_bytes": memtable_bytes,
        "rss_after_queries": rss_bytes(),
        "served": served,
    });
    println!("{out}");
}

/// Profiling aid: opens the store that `--ingest-only DIR N` wrote and reads each of its `n`
/// corpus events by id, several rounds, printing µs per read (run it under `perf record`).
fn get_probe(db: &str, n: usize) {
    let corpus: Vec<Event> = Corpus::new(42, 2_000, 1_760_000_000).take(n).collect();
    let store =
        Store::open(FjallKv::open(db, FjallConfig::default()).expect("fjall")).expect("store");
    for round in 0..3 {
        let t = Instant::now();
        let mut found = 0;
        for e in &corpus {
            found += usize::from(store.get(&e.id).expect("get").is_some());
        }
        let per = us(t.elapsed()) / corpus.len() as f64;
        println!("round {round}: {per:.1} µs per get, {found} found");
    }
}

/// The child side of [`crash_probe`]: writes `n` corpus events into a new store at `db` in
/// commits of [`PER_COMMIT`], then aborts, as SIGKILL would stop it: no destructor runs (so no
/// flush at close), and the page cache keeps what was written.
fn write_and_abort(db: &str, n: usize) {
    let corpus: Vec<Event> = Corpus::new(42, 2_000, 1_760_000_000).take(n).collect();
    let mut store =
        Store::open(FjallKv::open(db, FjallConfig::default()).expect("fjall")).expect("store");
    ingest(&mut store, &corpus);
    std::process::abort();
}

/// Profiling aid: ingests `n` corpus events into a new store at `db` in commits of
/// [`PER_COMMIT`], waits for fjall's worker, and prints the rate, bytes written and the size of
/// each keyspace directory (run it under `perf` or `strace` to see where time and bytes go).
fn ingest_only(db: &str, n: usize) {
    let corpus: Vec<Event> = Corpus::new(42, 2_000, 1_760_000_000).take(n).collect();
    let mut by_index: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for e in &corpus {
        for (k, v) in nostrp2p::store::keys::entries(e, 0) {
            let name = match k.as_slice() {
                [nostrp2p::store::keys::TAG, letter, ..] => format!("tag {}", *letter as char),
                [p, ..] => format!("prefix {p}"),
                [] => "empty".to_owned(),
            };
            let slot = by_index.entry(name).or_default();
            slot.0 += 1;
            slot.1 += (k.len() + v.len()) as u64;
        }
    }
    eprintln!("index entries of the corpus (count, key+value bytes): {by_index:?}");
    let io0 = proc_io_write_bytes();
    let mut store =
        Store::open(FjallKv::open(db, FjallConfig::default()).expect("fjall")).expect("store");
    let (mut put_secs, mut commit_secs) = (0.0, 0.0);
    let t = Instant::now();
    for chunk in corpus.chunks(PER_COMMIT) {
        let p = Instant::now();
        for e in chunk {
            store.put(e).expect("put");
        }
        let c = Instant::now();
        store.commit().expect("commit");
        put_secs += (c - p).as_secs_f64();
        commit_secs += c.elapsed().as_secs_f64();
    }
    let rate = corpus.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    settle(store.kv());
    let settle_secs = t.elapsed().as_secs_f64();
    let io1 = proc_io_write_bytes();
    let usage = store.usage();
    let mut spaces = serde_json::Map::new();
    if let Ok(entries) = std::fs::read_dir(std::path::Path::new(db).join("keyspaces")) {
        for e in entries.flatten() {
            spaces.insert(
                e.file_name().to_string_lossy().into_owned(),
                serde_json::json!(dir_bytes(&e.path())),
            );
        }
    }
    let out = serde_json::json!({
        "events": usage.events,
        "logical_bytes": usage.record_bytes,
        "ingest_per_sec": rate,
        "put_secs": put_secs,
        "commit_secs": commit_secs,
        "settle_secs": settle_secs - 1.0,
        "proc_io_write_bytes": io1.zip(io0).map(|(a, b)| a - b),
        "disk_bytes": dir_bytes(std::path::Path::new(db)),
        "keyspaces": spaces,
        "journal": store.kv().journal_stats(),
    });
    println!("{out}");
}

/// The RSS of a fresh process that opens a store whose writer was killed after writing
/// `n` events: recovery replays what the memtables held at the kill.
fn crash_probe(n: usize) -> Option<serde_json::Value> {
    let dir = tempfile::Builder::new()
        .prefix("nostrp2p-killed-")
        .tempdir_in(bench_dir())
        .ok()?;
    let db = dir.path().join("db");
    let status = std::process::Command::new(std::env::current_exe().ok()?)
        .arg("--write-and-abort")
        .arg(&db)
        .arg(n.to_string())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    assert!(!status.success(), "the writer was meant to abort");
    probe_rss(&db)
}

/// A field of `/proc/self/status`, in bytes (the kernel gives KiB).
fn status_bytes(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// Where the database goes: `NOSTRP2P_BENCH_DIR` (a real disk or an SD card) or the temp dir.
fn bench_dir() -> std::path::PathBuf {
    std::env::var_os("NOSTRP2P_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into)
}

fn ingest<K: Kv>(store: &mut Store<K>, corpus: &[Event]) -> f64 {
    let t = Instant::now();
    for chunk in corpus.chunks(PER_COMMIT) {
        for e in chunk {
            store.put(e).expect("put");
        }
        store.commit().expect("commit");
    }
    corpus.len() as f64 / t.elapsed().as_secs_f64()
}

/// Builds the i-th filter of one query kind.
type FilterMaker<'a> = Box<dyn Fn(usize) -> serde_json::Value + 'a>;

fn queries<K: Kv>(store: &Store<K>, corpus: &[Event]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    let step = (corpus.len() / QUERIES).max(1);
    let pick = |i: usize| &corpus[(i * step) % corpus.len()];
    let cases: [(&str, FilterMaker<'_>); 4] = [
        (
            "author",
            Box::new(|i| serde_json::json!({"authors": [pick(i).pubkey.to_hex()], "limit": 100})),
        ),
        (
            "kind",
            Box::new(
                |i| serde_json::json!({"kinds": [if i % 2 == 0 { 1 } else { 7 }], "limit": 100}),
            ),
        ),
        (
            "p_tag",
            Box::new(|i| {
                let p = pick(i)
                    .first_tag_value("p")
                    .map_or_else(|| pick(i).pubkey.to_hex(), str::to_owned);
                serde_json::json!({"#p": [p], "kinds": [1, 6, 7], "limit": 100})
            }),
        ),
        ("recent", Box::new(|_| serde_json::json!({"limit": 100}))),
    ];
    for (name, make) in cases {
        let mut times = Vec::with_capacity(QUERIES);
        let mut results = 0usize;
        for i in 0..QUERIES {
            let f = Filter::from_value(&make(i)).expect("bench filter");
            let t = Instant::now();
            let r = store.query(std::slice::from_ref(&f)).expect("query");
            times.push(t.elapsed());
            results += r.len();
        }
        times.sort();
        let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        out.insert(
            name.to_owned(),
            serde_json::json!({"p50_us": us(p(0.5)), "p99_us": us(p(0.99)), "results": results}),
        );
    }
    // Fetch by id (the graft and fetch path).
    let t = Instant::now();
    for i in 0..QUERIES {
        let id: EventId = pick(i).id;
        let _ = store.get(&id).expect("get");
    }
    out.insert(
        "get_by_id_us".to_owned(),
        serde_json::json!(us(t.elapsed()) / QUERIES as f64),
    );
    serde_json::Value::Object(out)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Bytes of the files under `path`, as allocated blocks: fjall's journal is preallocated
/// sparse, so its length would overstate what the disk holds.
fn dir_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            total += if meta.is_dir() {
                dir_bytes(&e.path())
            } else {
                meta.blocks() * 512
            };
        }
    }
    total
}

/// Waits until fjall's worker has had nothing to do for a second (at most a minute), so the
/// figures include the flushes and compactions the ingest caused.
fn settle(kv: &FjallKv) {
    let mut quiet = 0;
    for _ in 0..600 {
        quiet = if kv.background_work() == 0 {
            quiet + 1
        } else {
            0
        };
        if quiet == 10 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn proc_io_write_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// Sectors written to the block device holding `path` (`/sys/block/*/stat`, field 7): counts
/// the filesystem journal too, which `/proc/self/io` misses (DECISIONS.md 18). Other processes
/// writing to the same device add noise; the figure is an upper bound.
fn device_sectors_written(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).ok()?.dev();
    let (major, minor) = (
        ((dev >> 8) & 0xfff) as u32,
        ((dev & 0xff) | ((dev >> 12) & 0xfff00)) as u32,
    );
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    // A partition's stat holds its own counters; use it directly.
    let stat = std::fs::read_to_string(sys.join("stat")).ok()?;
    stat.split_whitespace().nth(6)?.parse().ok()
}
