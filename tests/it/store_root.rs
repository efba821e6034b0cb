//! The fjall store on a disk that fills up or turns read-only (root group: mounts). They run
//! when `NOSTRP2P_ROOT_TESTS=1` (scripts/test sets it as root) and then fail, never skip, when
//! a capability is missing (DECISIONS.md 2), as `root.rs` does.
//!
//! Full: a small tmpfs, written until the store answers `StoreError::Full`; reads must go on and
//! every committed event stay intact; then the tmpfs grows (`mount -o remount,size=…`) and
//! writes must resume in the same process (the backend drops and reopens its database).
//! Read-only: tmpfs cannot be remounted read-only while files are open for writing, so this
//! uses what really happens to a failing SD card: ext4 with `errors=remount-ro` on a loop
//! device, and an ext4 error triggered through sysfs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nostrp2p::nostr::{Event, EventId, Keys, Kind, Tag, UnixTime, UnsignedEvent};
use nostrp2p::store::fjall::{FjallConfig, FjallKv};
use nostrp2p::store::{EventStore, Store, StoreError};

fn enabled() -> bool {
    let on = std::env::var("NOSTRP2P_ROOT_TESTS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("root group off: set NOSTRP2P_ROOT_TESTS=1 (scripts/test does, as root)");
    }
    on
}

/// Runs a command that must succeed (mount, mkfs): a failure names it and the capability.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): root tests need CAP_SYS_ADMIN and loop devices\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A file system mounted for one test, unmounted on drop (also when the test fails).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Mount {
        fs::create_dir_all(at).expect("mount point");
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "nostrp2p-test"])
            .arg(at));
        Mount(at.to_owned())
    }

    /// ext4 in `image` on a loop device; errors make it read-only, as on a failing card.
    fn ext4(image: &Path, bytes: u64, at: &Path) -> Mount {
        fs::File::create(image)
            .and_then(|f| f.set_len(bytes))
            .expect("image file");
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(image));
        fs::create_dir_all(at).expect("mount point");
        run(Command::new("mount")
            .args(["-o", "loop,errors=remount-ro"])
            .arg(image)
            .arg(at));
        Mount(at.to_owned())
    }

    fn remount(&self, options: &str) {
        run(Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0));
    }

    /// The device mounted here last (from /proc/self/mounts).
    fn device(&self) -> String {
        let mounts = fs::read_to_string("/proc/self/mounts").expect("/proc/self/mounts");
        let at = self.0.display().to_string();
        mounts
            .lines()
            .rev()
            .filter_map(|l| {
                let mut f = l.split(' ');
                Some((f.next()?, f.next()?))
            })
            .filter(|(_, m)| *m == at)
            .map(|(d, _)| d.to_owned())
            .next()
            .unwrap_or_else(|| panic!("{at} is not mounted"))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn keys() -> Keys {
    Keys::from_secret_bytes([9; 32]).expect("a valid secret")
}

/// Event `n`: a kind 1 note of ≈ `size` bytes, distinct per `n`. The content is pseudo-random
/// letters, so that lz4 (journal and blob files) cannot shrink it and the disk fills as real
/// traffic would fill it.
fn note(keys: &Keys, n: u64, size: usize) -> Event {
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut content = format!("{n} ");
    content.extend((0..size).map(|_| {
        // xorshift64: cheap and good enough to defeat lz4.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        char::from(b'a' + (x % 26) as u8)
    }));
    let tags = vec![Tag::new(["t", "fill"])];
    UnsignedEvent::new(keys, UnixTime(1_700_000_000 + n), Kind(1), tags, &content)
        .sign(keys, &[0; 32])
        .expect("the test event signs")
}

/// Most events a fill may take before the test decides the disk never fills.
const FILL_MAX: u64 = 100_000;
/// Events per commit while filling: a loop turn.
const TURN: usize = 8;
/// Content bytes of a fill event: large, so a small disk fills in a few thousand events.
const FILL_SIZE: usize = 3_000;

/// What a fill ended with.
struct Filled {
    committed: Vec<EventId>,
    next: u64,
}

/// Writes turns of [`TURN`] events until a put or a commit answers `Full`; any other error
/// fails the test. Then keeps trying until the disk refuses every write: a refusal may leave a
/// little space (a flush needs more than a turn), which later writes may still use.
fn fill(store: &mut Store<FjallKv>, keys: &Keys) -> Filled {
    let mut committed = Vec::new();
    let mut turn = Vec::new();
    let mut n = 0;
    let mut refusals_in_a_row = 0;
    while refusals_in_a_row < 20 {
        assert!(n < FILL_MAX, "{FILL_MAX} events and the disk never filled");
        let event = note(keys, n, FILL_SIZE);
        n += 1;
        match store.put(&event) {
            Ok(outcome) => assert!(outcome.stored()),
            Err(StoreError::Full) => {
                refusals_in_a_row += 1;
                turn.clear();
                continue;
            }
            Err(other) => panic!("event {n}: expected storage full, got {other}"),
        }
        turn.push(event.id);
        if turn.len() == TURN {
            let commits = store.usage().commits;
            match store.commit() {
                Ok(c) => {
                    assert_eq!(c, commits + 1);
                    committed.append(&mut turn);
                    refusals_in_a_row = 0;
                }
                Err(StoreError::Full) => {
                    assert_eq!(
                        store.usage().commits,
                        commits,
                        "a failed commit is no commit"
                    );
                    refusals_in_a_row += 1;
                    turn.clear();
                }
                Err(other) => panic!("commit: expected storage full, got {other}"),
            }
        }
    }
    assert!(
        !committed.is_empty(),
        "nothing was committed before the disk filled"
    );
    assert_eq!(StoreError::Full.to_string(), "storage full");
    Filled { committed, next: n }
}

/// Every committed event is readable and the store is consistent.
fn assert_intact(store: &Store<FjallKv>, committed: &[EventId], when: &str) {
    for id in committed {
        assert!(
            store.get(id).expect("reads work").is_some(),
            "{when}: committed {id} unreadable"
        );
    }
    let filter = nostrp2p::nostr::filter::Filter::from_value(
        &serde_json::json!({"#t": ["fill"], "limit": 10}),
    )
    .expect("filter");
    assert_eq!(
        store.query(&[filter]).expect("queries work").len(),
        10,
        "{when}"
    );
    let problems = store.check().expect("check runs");
    assert!(problems.is_empty(), "{when}: {problems:?}");
}

/// Smaller than fjall's 64 MiB journal cap: the journal itself runs out of room, as well as the
/// tables and blobs the worker flushes.
#[test]
fn a_full_small_disk_refuses_writes_keeps_reads_and_resumes_when_space_returns() {
    if !enabled() {
        return;
    }
    full_disk(24);
}

/// Larger than the journal cap: the journal rotates and the worker's flushes and compactions
/// fill the disk too.
#[test]
fn a_full_larger_disk_refuses_writes_keeps_reads_and_resumes_when_space_returns() {
    if !enabled() {
        return;
    }
    full_disk(96);
}

fn full_disk(mib: u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mnt = tmp.path().join("mnt");
    let disk = Mount::tmpfs(&mnt, &format!("size={mib}m,mode=0700"));
    let path = mnt.join("db");
    let keys = keys();
    let mut store =
        Store::open(FjallKv::open(&path, FjallConfig::default()).expect("open")).expect("engine");
    let Filled {
        mut committed,
        next,
    } = fill(&mut store, &keys);
    eprintln!(
        "store_root: {} events committed before {mib} MiB filled",
        committed.len()
    );
    assert_intact(&store, &committed, "disk full");
    assert!(
        store.kv().is_failed(),
        "the backend knows it is refusing writes"
    );

    // Space returns: the same process writes again.
    disk.remount(&format!("size={}m", mib * 4));
    let mut turn = Vec::new();
    for n in next..next + 64 {
        let event = note(&keys, n, FILL_SIZE);
        assert!(store.put(&event).expect("writes resume").stored());
        turn.push(event.id);
    }
    let commits = store.usage().commits;
    assert_eq!(store.commit().expect("commits resume"), commits + 1);
    committed.extend(turn);
    assert!(!store.kv().is_failed());
    assert!(
        store.kv().reopens() >= 1,
        "resumed through an in-process reopen"
    );
    assert_intact(&store, &committed, "after space returned");

    // And all of it survives a restart.
    drop(store);
    let store =
        Store::open(FjallKv::open(&path, FjallConfig::default()).expect("reopen")).expect("engine");
    assert_intact(&store, &committed, "after a restart");
}

#[test]
fn a_disk_turned_read_only_refuses_writes_as_full_and_keeps_reads() {
    if !enabled() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let image = tmp.path().join("card.img");
    let mnt = tmp.path().join("mnt");
    let card = Mount::ext4(&image, 256 << 20, &mnt);
    let path = mnt.join("db");
    let keys = keys();
    let mut store =
        Store::open(FjallKv::open(&path, FjallConfig::default()).expect("open")).expect("engine");
    let mut committed = Vec::new();
    for n in 0..200 {
        let event = note(&keys, n, 300);
        store.put(&event).expect("put");
        committed.push(event.id);
    }
    store.commit().expect("commit");

    // The card fails: ext4 turns itself read-only (errors=remount-ro).
    let device = card.device();
    let name = Path::new(&device)
        .file_name()
        .expect("a device name")
        .to_string_lossy()
        .into_owned();
    fs::write(
        format!("/sys/fs/ext4/{name}/trigger_fs_error"),
        "nostrp2p test\n",
    )
    .expect("trigger an ext4 error (needs root)");

    // A write may still reach fjall's buffer; its commit cannot reach the disk.
    let commits = store.usage().commits;
    let outcome = store
        .put(&note(&keys, 1_000, 300))
        .map(|_| ())
        .and_then(|()| store.commit().map(|_| ()));
    assert!(matches!(outcome, Err(StoreError::Full)), "{outcome:?}");
    assert_eq!(
        store.usage().commits,
        commits,
        "nothing committed on a read-only disk"
    );
    for n in 1_001..1_010 {
        let again = store.put(&note(&keys, n, 300));
        assert!(matches!(again, Err(StoreError::Full)), "{again:?}");
    }
    assert!(matches!(store.commit(), Err(StoreError::Full)));
    for id in &committed {
        assert!(store.get(id).expect("reads work").is_some());
    }
    let filter = nostrp2p::nostr::filter::Filter::from_value(
        &serde_json::json!({"#t": ["fill"], "limit": 5}),
    )
    .expect("filter");
    assert_eq!(store.query(&[filter]).expect("queries work").len(), 5);
    drop(store);
    drop(card);
}
