//! The fjall backend: the shared suite on disk, reopen and recovery, refusals at open, the
//! commit counter, and (ignored, run by hand) a write-amplification measurement.

#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use ::fjall::AbstractTree as _;
use tempfile::TempDir;

use super::{FjallConfig, FjallKv};
use crate::nostr::{EventId, Tag};
use crate::store::tests::{ev, filter, keys};
use crate::store::{EventStore, Kv, Op, Space, StateStore, Store, StoreError};

/// A fjall backend in its own temporary directory, removed after the store closes (fields
/// drop in order: the database first).
pub struct TempFjall {
    pub kv: FjallKv,
    _dir: TempDir,
}

impl TempFjall {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kv = FjallKv::open(dir.path().join("db"), FjallConfig::default()).unwrap();
        Self { kv, _dir: dir }
    }
}

impl Kv for TempFjall {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.kv.get(space, key)
    }
    fn scan_keys(
        &self,
        space: Space,
        from: &[u8],
        to: &[u8],
        visit: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.kv.scan_keys(space, from, to, visit)
    }
    fn scan_keys_rev(
        &self,
        space: Space,
        from: &[u8],
        to: &[u8],
        visit: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.kv.scan_keys_rev(space, from, to, visit)
    }
    fn write(&mut self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.kv.write(ops)
    }
    fn persist(&mut self) -> Result<(), StoreError> {
        self.kv.persist()
    }
    fn disk_bytes(&self) -> u64 {
        self.kv.disk_bytes()
    }
    fn location(&self) -> String {
        self.kv.location()
    }
}

mod suite {
    use super::TempFjall;
    use crate::store::Store;
    crate::store_suite!(Store::open(TempFjall::new()).expect("a fresh fjall store opens"));
}

fn open(path: &Path) -> Store<FjallKv> {
    Store::open(FjallKv::open(path, FjallConfig::default()).unwrap()).unwrap()
}

/// A few events of every write path: plain, tagged, replaceable, addressable, deleted.
fn fill(s: &mut Store<FjallKv>) -> Vec<EventId> {
    let p2 = keys(2).public().to_hex();
    let mut events = vec![
        ev(1, 100, 1, vec![Tag::new(["t", "rust"])], "a"),
        ev(1, 200, 1, vec![Tag::new(["p", &p2])], "b"),
        ev(2, 150, 0, vec![], "{\"name\":\"v1\"}"),
        ev(2, 250, 0, vec![], "{\"name\":\"v2\"}"),
        ev(
            3,
            300,
            30_023,
            vec![Tag::new(["d", "post"])],
            &"long ".repeat(200),
        ),
    ];
    let doomed = ev(1, 120, 1, vec![], "oops");
    events.push(doomed.clone());
    events.push(ev(
        1,
        130,
        5,
        vec![Tag::new(["e", &doomed.id.to_hex()])],
        "",
    ));
    for e in &events {
        s.put(e).unwrap();
    }
    events.iter().map(|e| e.id).collect()
}

#[test]
fn reopen_recovers_every_committed_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let all = filter(serde_json::json!({}));
    let (answer, usage) = {
        let mut s = open(&path);
        fill(&mut s);
        s.set_state("owner", b"abc").unwrap();
        s.commit().unwrap();
        (s.query(std::slice::from_ref(&all)).unwrap(), s.usage())
    };
    assert_eq!(
        answer.len(),
        5,
        "the replaced profile and the deleted note are gone"
    );
    let s = open(&path);
    assert_eq!(s.query(&[all]).unwrap(), answer);
    assert_eq!(s.usage().events, usage.events);
    assert_eq!(s.usage().record_bytes, usage.record_bytes);
    assert!(s.usage().disk_bytes > 0);
    assert_eq!(s.state("owner").unwrap(), Some(b"abc".to_vec()));
    assert_eq!(s.check().unwrap(), Vec::<String>::new());
}

#[test]
fn commits_advance_exactly_when_a_dirty_store_commits() {
    let t = TempFjall::new();
    let mut s = Store::open(t).unwrap();
    assert_eq!(s.usage().commits, 0);
    assert_eq!(
        s.commit().unwrap(),
        0,
        "nothing written: no fsync, no commit"
    );
    let a = ev(1, 100, 1, vec![], "a");
    s.put(&a).unwrap();
    assert_eq!(s.usage().commits, 0, "a put alone is not a commit");
    assert_eq!(s.commit().unwrap(), 1);
    assert_eq!(
        s.usage().commits,
        1,
        "the returned count is the usage count"
    );
    assert_eq!(
        s.commit().unwrap(),
        1,
        "a clean store does not commit again"
    );
    s.put(&a).unwrap();
    assert_eq!(s.commit().unwrap(), 1, "a duplicate writes nothing");
    s.set_state("k", b"v").unwrap();
    assert_eq!(s.commit().unwrap(), 2, "state writes commit too");
}

#[test]
fn a_missing_path_or_an_empty_directory_becomes_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/db");
    drop(FjallKv::open(&nested, FjallConfig::default()).unwrap());
    assert!(nested.join("version").exists());
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    drop(FjallKv::open(&empty, FjallConfig::default()).unwrap());
    assert!(empty.join("version").exists());
    let mut left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["a", "empty"], "no staging directory is left behind");
}

#[test]
fn a_foreign_directory_is_refused_by_name_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photos");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("holiday.jpg"), b"not a database").unwrap();
    let err = FjallKv::open(&path, FjallConfig::default()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("not a nostrp2p event store"), "{message}");
    let names: Vec<_> = fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["holiday.jpg"]);
    assert_eq!(
        fs::read(path.join("holiday.jpg")).unwrap(),
        b"not a database"
    );
    // A file where the directory should be.
    let file = dir.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = FjallKv::open(&file, FjallConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a directory") && err.contains(&file.display().to_string()),
        "{err}"
    );
    assert_eq!(fs::read(&file).unwrap(), b"x");
}

#[test]
fn a_damaged_version_marker_is_reported_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(FjallKv::open(&path, FjallConfig::default()).unwrap());
    fs::write(path.join("version"), b"garbage").unwrap();
    let err = FjallKv::open(&path, FjallConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(
        fs::read(path.join("version")).unwrap(),
        b"garbage",
        "nothing rewritten"
    );
}

#[test]
fn a_leftover_staging_directory_is_ours_only_when_fjall_made_it() {
    let dir = tempfile::tempdir().unwrap();
    // A creation that crashed before its rename left fjall's files, and only those.
    let staging = dir.path().join(".db.creating");
    drop(FjallKv::open(&staging, FjallConfig::default()).unwrap());
    drop(FjallKv::open(dir.path().join("db"), FjallConfig::default()).unwrap());
    assert!(!staging.exists(), "removed: it never held data");
    assert!(dir.path().join("db/version").exists());
    // Anything else under a staging name is refused and kept.
    let other = dir.path().join(".other.creating");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("mine.txt"), b"keep").unwrap();
    let err = FjallKv::open(dir.path().join("other"), FjallConfig::default()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&other.display().to_string()), "{message}");
    assert_eq!(fs::read(other.join("mine.txt")).unwrap(), b"keep");
    assert!(!dir.path().join("other").exists());
}

#[test]
fn a_second_open_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let first = FjallKv::open(&path, FjallConfig::default()).unwrap();
    let err = FjallKv::open(&path, FjallConfig::default()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("locked") && message.contains(&path.display().to_string()),
        "{message}"
    );
    drop(first);
    drop(FjallKv::open(&path, FjallConfig::default()).unwrap());
}

/// Small memtables, so a test fills each many times over.
fn small_memtables() -> FjallConfig {
    FjallConfig {
        memtable_events_bytes: 64 << 10,
        memtable_index_bytes: 32 << 10,
        memtable_state_bytes: 16 << 10,
        ..FjallConfig::default()
    }
}

/// `len` bytes that do not compress (fjall compresses each journal entry).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A 32-byte key, unique per `tag` and `i`.
fn key(tag: u8, i: u32) -> Vec<u8> {
    let mut key = vec![tag];
    key.extend_from_slice(&i.to_be_bytes());
    key.extend_from_slice(&[0xab; 27]);
    key
}

/// One batch touching every keyspace, as a stored event does: `record` (with `i` in its first
/// bytes), a few index keys, the usage counters.
fn batch(i: u32, record: &[u8]) -> Vec<Op> {
    let id = |tag: u8| key(tag, i);
    let mut record = record.to_vec();
    for (b, x) in record.iter_mut().zip(i.to_le_bytes()) {
        *b = x;
    }
    vec![
        Op::Put(Space::Events, id(0), record),
        Op::Put(Space::Index, id(1), Vec::new()),
        Op::Put(Space::Index, id(2), Vec::new()),
        Op::Put(Space::Index, id(3), Vec::new()),
        Op::Put(Space::State, b"usage".to_vec(), i.to_le_bytes().to_vec()),
    ]
}

#[test]
fn the_entry_overhead_covers_what_fjall_counts() {
    let t = TempFjall::new();
    let mut kv = t.kv;
    let (key, value) = (b"k".to_vec(), vec![7u8; 100]);
    kv.write(vec![Op::Put(Space::State, key.clone(), value.clone())])
        .unwrap();
    let state = &kv.open.as_ref().unwrap().state;
    let counted = state.tree.active_memtable().size();
    assert!(
        counted > (key.len() + value.len()) as u64
            && counted <= (key.len() + value.len()) as u64 + super::MEMTABLE_ENTRY_OVERHEAD,
        "fjall counts {counted} bytes for a {}-byte entry",
        key.len() + value.len()
    );
}

/// The cause of the 131 MiB open (docs/storage.md "Open-time memory"): fjall asks its worker
/// to seal a memtable after every batch that finds it over its size, with a blocking send into
/// the worker's own bounded queue; a burst of batches while the one worker is busy fills that
/// queue and the worker blocks on itself, so nothing flushes again, the memtables grow without
/// bound and the journal never rotates. The backend seals memtables before fjall would ask.
#[test]
fn memtables_are_sealed_before_fjall_would_ask_its_worker() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_memtables();
    let mut kv = FjallKv::open(dir.path().join("db"), config).unwrap();
    let limits = [
        config.memtable_events_bytes,
        config.memtable_index_bytes,
        config.memtable_state_bytes,
    ];
    let noise = noise(1_200);
    for i in 0..4_000 {
        kv.write(batch(i, &noise[..300 + (i as usize * 37) % 900]))
            .unwrap();
        if i % 64 == 63 {
            kv.persist().unwrap();
        }
        let open = kv.open.as_ref().unwrap();
        for (keyspace, limit) in open.keyspaces().into_iter().zip(limits) {
            let size = keyspace.tree.active_memtable().size();
            assert!(
                size <= limit,
                "batch {i}: {:?} holds {size} bytes, over its {limit}",
                keyspace.name()
            );
        }
        // Active and at most 4 sealed memtables per keyspace (fjall halts writes at 4).
        assert!(kv.memtable_bytes() <= 5 * limits.iter().sum::<u64>());
    }
}

/// The bound behind the open-time memory: journals on disk stay within
/// [`super::JOURNAL_DISK_MAX`] while far more than that is written, and after a clean close
/// a new open replays nothing into memory.
#[test]
fn journals_stay_bounded_and_a_clean_close_leaves_nothing_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let written: u64 = {
        let mut kv = FjallKv::open(&path, FjallConfig::default()).unwrap();
        let noise = noise(64 << 10);
        let mut written = 0;
        let mut most = 0;
        // ≈ 150 MB through the journal: the active journal is sealed twice.
        for i in 0..2_300 {
            let ops = batch(i, &noise);
            written += ops.iter().map(super::op_bytes).sum::<usize>() as u64;
            kv.write(ops).unwrap();
            if i % 8 == 7 {
                kv.persist().unwrap();
                most = most.max(journal_files(&path));
            }
        }
        kv.persist().unwrap();
        assert!(
            most <= super::JOURNAL_DISK_MAX,
            "journals held {most} bytes on disk, over {}",
            super::JOURNAL_DISK_MAX
        );
        written
    };
    assert!(
        written > super::JOURNAL_DISK_MAX,
        "wrote enough to pass the bound"
    );
    let kv = FjallKv::open(&path, FjallConfig::default()).unwrap();
    assert_eq!(
        kv.memtable_bytes(),
        0,
        "a clean close flushed every memtable"
    );
    assert_eq!(kv.journal_stats().1, 1, "only the active journal is left");
    let names: Vec<_> = fs::read_dir(&path)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jnl"))
        .collect();
    assert_eq!(names, ["2.jnl"], "the active journal was sealed twice");
    assert_eq!(
        kv.get(Space::Events, &key(0, 2_299))
            .unwrap()
            .map(|v| v.len()),
        Some(64 << 10)
    );
}

/// Bytes of the journal files (`*.jnl`) in the database directory, as their lengths (fjall
/// preallocates the active one to 64 MiB).
fn journal_files(path: &Path) -> u64 {
    fs::read_dir(path)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jnl"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_store_of_the_old_layout_is_refused_by_name_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // Schema 1 wrote a 16-byte usage record and no schema marker.
    let old_usage = [1u64.to_be_bytes(), 300u64.to_be_bytes()].concat();
    let mut kv = FjallKv::open(&path, FjallConfig::default()).unwrap();
    kv.write(vec![
        Op::Put(Space::Events, vec![7; 32], vec![1; 300]),
        Op::Put(Space::State, b"m:usage".to_vec(), old_usage.clone()),
    ])
    .unwrap();
    kv.persist().unwrap();
    drop(kv);
    let Err(err) = Store::open(FjallKv::open(&path, FjallConfig::default()).unwrap()) else {
        panic!("an old-layout store opened");
    };
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("schema 1"),
        "{message}"
    );
    let kv = FjallKv::open(&path, FjallConfig::default()).unwrap();
    assert_eq!(kv.get(Space::State, b"m:usage").unwrap(), Some(old_usage));
    assert_eq!(kv.get(Space::Events, &[7; 32]).unwrap(), Some(vec![1; 300]));
    assert_eq!(kv.get(Space::State, b"m:schema").unwrap(), None);
    // A new store records its schema with its first event, and opens again.
    drop(kv);
    let fresh = dir.path().join("fresh");
    let mut s = open(&fresh);
    s.put(&ev(1, 100, 1, Vec::new(), "a")).unwrap();
    s.commit().unwrap();
    drop(s);
    let s = open(&fresh);
    assert_eq!(s.usage().events, 1);
    assert!(s.check().unwrap().is_empty());
}

/// Every table's bloom filter stays in memory, below level 0 too (fjall pins only level 0's by
/// default): an unpinned filter is one block per table, which a small cache does not keep, so
/// every point read (a get by id, each write rule's probe) read it from disk again
/// ([`super::PIN_FILTERS`]). Checked on tables compacted into level 1, with a cache smaller than
/// their filters, by the filter bytes fjall holds pinned and the bytes this thread reads.
#[test]
fn filters_below_level_0_stay_in_memory_so_point_reads_read_no_filter_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let config = FjallConfig {
        cache_bytes: 16 << 10,
        ..small_memtables()
    };
    let mut kv = FjallKv::open(dir.path().join("db"), config).unwrap();
    for i in 0..12_000 {
        kv.write(batch(i, &[0; 40])).unwrap();
        if i % 64 == 63 {
            kv.persist().unwrap();
        }
    }
    kv.persist().unwrap();
    let open = kv.open.as_ref().unwrap();
    let index = &open.index.tree;
    // fjall's leveled compaction moves level 0 straight to the last level while the ones
    // between are empty. Waits at most 30 s (1 500 sleeps) for the worker.
    let below_0 = || {
        (1..7)
            .map(|l| index.level_table_count(l).unwrap_or(0))
            .sum::<usize>()
    };
    for _ in 0..1_500 {
        if kv.background_work() == 0 && below_0() > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        below_0() > 0,
        "compaction moved index tables below level 0: {:?}",
        (0..7)
            .map(|l| index.level_table_count(l))
            .collect::<Vec<_>>()
    );
    assert!(index.filter_size() > 0);
    // `filter_size` counts the filter blocks as stored (with their headers), the pinned size
    // their contents.
    let (pinned, all) = (index.pinned_filter_size() as u64, index.filter_size());
    assert!(
        pinned * 100 >= all * 95,
        "{pinned} of the index keyspace's {all} filter bytes are pinned"
    );
    // Absent keys: the filters answer, so nothing is read at all.
    let read_before = thread_read_bytes();
    for i in 0..200 {
        assert_eq!(kv.get(Space::Index, &key(9, i)).unwrap(), None);
    }
    let per_read = (thread_read_bytes() - read_before) / 200;
    assert!(
        per_read < 1_024,
        "{per_read} bytes read per point read of an absent key"
    );
}

/// Bytes this thread has read through system calls (`rchar` of `/proc/thread-self/io`): fjall
/// reads tables on the calling thread, and other tests' threads do not count.
fn thread_read_bytes() -> u64 {
    fs::read_to_string("/proc/thread-self/io")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
