//! The fjall backend: the shared suite on disk, reopen and recovery, refusals at open, the
//! commit counter, and (ignored, run by hand) a write-amplification measurement.

#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use std::fs;
use std::path::Path;

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

/// Bytes this process has written so far: `wchar` (handed to write(2)) and `write_bytes`
/// (page-cache pages dirtied, what reaches the block device before the file system's own
/// journal) from `/proc/self/io`.
fn io_written() -> (u64, u64) {
    let text = fs::read_to_string("/proc/self/io").unwrap();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().parse().unwrap())
            .unwrap()
    };
    (field("wchar:"), field("write_bytes:"))
}

/// Write amplification with and without key-value separation: ingests a traffic-shaped
/// corpus in turns of 16 events (one commit each), closes, and prints bytes written per logical
/// record byte. By hand, alone in its process:
/// `cargo test --release --lib store::fjall::tests::write_amplification -- --ignored --nocapture`
/// (`NOSTRP2P_WA_EVENTS` sets the event count, default 100 000; `NOSTRP2P_WA_THRESHOLDS` the
/// thresholds).
#[test]
#[ignore = "a measurement, run by hand (docs/storage.md)"]
fn write_amplification() {
    let n: usize = std::env::var("NOSTRP2P_WA_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let corpus: Vec<_> = crate::sim::corpus::Corpus::new(7, 2_000, 1_700_000_000)
        .take(n)
        .collect();
    // `NOSTRP2P_WA_THRESHOLDS=0,256` picks the thresholds (0: no separation).
    let thresholds: Vec<Option<u32>> = std::env::var("NOSTRP2P_WA_THRESHOLDS")
        .map(|v| {
            v.split(',')
                .map(|t| Some(t.trim().parse().unwrap()).filter(|t| *t > 0))
                .collect()
        })
        .unwrap_or_else(|_| vec![None, Some(super::KV_SEPARATION_THRESHOLD)]);
    for threshold in thresholds {
        let dir = tempfile::tempdir().unwrap();
        let config = FjallConfig {
            kv_separation_threshold: threshold,
            ..FjallConfig::default()
        };
        let before = io_written();
        let usage = {
            let mut s = Store::open(FjallKv::open(dir.path().join("db"), config).unwrap()).unwrap();
            for turn in corpus.chunks(16) {
                for e in turn {
                    s.put(e).unwrap();
                }
                s.commit().unwrap();
            }
            settle(s.kv());
            s.usage()
        };
        let after = io_written();
        let db = dir.path().join("db");
        let disk = dir_bytes(&db);
        let journal: u64 = fs::read_dir(&db)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".jnl"))
            .map(|e| std::os::unix::fs::MetadataExt::blocks(&e.metadata().unwrap()) * 512)
            .sum();
        let logical = usage.record_bytes as f64;
        let per_event = |bytes: u64| bytes / usage.events.max(1);
        println!(
            "threshold {threshold:?}: {} events, {} record bytes; written per record byte: wchar \
             {:.2}x, write_bytes {:.2}x; on disk {} B/event, {} B/event of it journal",
            usage.events,
            usage.record_bytes,
            (after.0 - before.0) as f64 / logical,
            (after.1 - before.1) as f64 / logical,
            per_event(disk),
            per_event(journal),
        );
    }
}

/// Waits until fjall's worker has had nothing to do for a second (at most a minute), so the
/// measurement includes the compactions the ingest caused.
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
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Bytes of the files under `dir` (allocated blocks, so sparse journals count what they use).
fn dir_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            dir_bytes(&entry.path())
        } else {
            meta.blocks() * 512
        };
    }
    total
}
