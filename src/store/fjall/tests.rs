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
