//! Crash safety of the fjall store: a child process writes events in small batches and prints
//! each id once the batch's commit has returned; the parent kills it with SIGKILL at seeded
//! random moments, reopens the store, and checks that every acknowledged event is there and the
//! indexes agree with the records.
//!
//! SIGKILL keeps the page cache, so this cannot catch a missing fsync; that the acknowledgement
//! follows the commit (DECISIONS.md 16) is proved by the child's assertion on the commit counter
//! below and by the unit test `commits_advance_exactly_when_a_dirty_store_commits`.
//!
//! `NOSTRP2P_CRASH_CYCLES` sets the number of kills (default [`DEFAULT_CYCLES`];
//! `scripts/crash-cycles` runs 100), `NOSTRP2P_CRASH_SEED` the seed of the kill moments.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nostrp2p::nostr::{EventId, Keys, Kind, Tag, UnixTime, UnsignedEvent};
use nostrp2p::store::fjall::{FjallConfig, FjallKv};
use nostrp2p::store::{EventStore, StateStore, Store};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore as _, SeedableRng as _};

/// Where the child writes; set only for the child, so a normal run's `child_writer` is a no-op.
const DIR_ENV: &str = "NOSTRP2P_CRASH_CHILD_DIR";
/// Which cycle the child runs (makes its events distinct from earlier cycles').
const CYCLE_ENV: &str = "NOSTRP2P_CRASH_CHILD_CYCLE";
/// Kill cycles in a normal test run: enough to land kills during open, recovery, writes,
/// commits and background flushes, fast enough for every `cargo test` (≈ 0.3 s per cycle).
const DEFAULT_CYCLES: u32 = 20;
/// The kill comes at a uniform random moment in [0, this) after the child has opened the store
/// (it then commits a batch every few milliseconds), or, every [`KILL_AT_START_EVERY`]th cycle,
/// after it was started, so that kills land during open and recovery too. Counting from the
/// open keeps the mix the same on a loaded machine, where starting and recovering take longer
/// (at load 5, counting from the start left only 46 of 100 cycles any acknowledgement).
const KILL_WITHIN: Duration = Duration::from_millis(300);
/// Every this many cycles the kill is counted from the child's start instead of its open.
const KILL_AT_START_EVERY: u32 = 4;
/// Longest wait for a child to open the store before the cycle fails.
const OPEN_WITHIN: Duration = Duration::from_secs(60);
/// What the child prints once the store is open, at the end of a line (libtest's
/// `test … ... ` has no newline, so the first line the child prints follows it).
const READY: &str = "crash-child-opened";
/// The child's pause between commits.
const TURN_GAP: Duration = Duration::from_millis(1);
/// Events per commit: a small loop turn.
const BATCH: usize = 4;
/// Most batches a child writes before it stops by itself (it is killed long before).
const CHILD_MAX_BATCHES: u64 = 5_000;
/// The line prefix of an acknowledged id on the child's stdout.
const ACK: &str = "ack ";
/// The default seed of the kill moments (printed, so a failure replays).
const DEFAULT_SEED: u64 = 0x5eed_c4a5;

/// The child's writer (run by the parent below as a separate process). It returns at once when
/// `NOSTRP2P_CRASH_CHILD_DIR` is unset, i.e. in every normal test run.
#[test]
fn child_writer() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let cycle: u64 = std::env::var(CYCLE_ENV)
        .ok()
        .and_then(|c| c.parse().ok())
        .expect("the parent sets the cycle");
    let kv = FjallKv::open(&dir, FjallConfig::default()).expect("the child opens the store");
    let mut store = Store::open(kv).expect("the engine opens");
    let keys = Keys::from_secret_bytes([7; 32]).expect("a valid secret");
    let me = keys.public().to_hex();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{READY}").expect("stdout");
    stdout.flush().expect("stdout");
    let mut commits = store.usage().commits;
    for batch in 0..CHILD_MAX_BATCHES {
        let mut ids = Vec::with_capacity(BATCH);
        for i in 0..BATCH as u64 {
            let n = batch * BATCH as u64 + i;
            // Contents from a few bytes to ≈ 1 KiB, across the key-value separation threshold.
            let content = format!(
                "cycle {cycle} event {n} {}",
                "x".repeat((n * 37 % 1_000) as usize)
            );
            let tags = vec![Tag::new(["t", &format!("c{cycle}")]), Tag::new(["p", &me])];
            let event = UnsignedEvent::new(
                &keys,
                UnixTime(1_700_000_000 + cycle * 1_000_000 + n),
                Kind(1),
                tags,
                &content,
            )
            .sign(&keys, &[0; 32])
            .expect("the test event signs");
            assert!(store.put(&event).expect("put").stored());
            ids.push(event.id);
        }
        store
            .set_state("crash-progress", &batch.to_be_bytes())
            .expect("set_state");
        let done = store.commit().expect("commit");
        assert_eq!(
            done,
            commits + 1,
            "the commit counter moves exactly once per dirty commit"
        );
        commits = done;
        // Only now, after the commit returned: acknowledge.
        for id in ids {
            writeln!(stdout, "{ACK}{}", id.to_hex()).expect("stdout");
        }
        stdout.flush().expect("stdout");
        // A loop turn's pace, not a benchmark's: keeps the store small enough for the parent's
        // full consistency check after every kill.
        std::thread::sleep(TURN_GAP);
    }
}

#[test]
fn acknowledged_events_survive_sigkill() {
    let cycles: u32 = std::env::var("NOSTRP2P_CRASH_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(DEFAULT_CYCLES);
    let seed: u64 = std::env::var("NOSTRP2P_CRASH_SEED")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("store_crash: {cycles} cycles, seed {seed} (NOSTRP2P_CRASH_SEED replays)");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("db");
    // This very binary. Through /proc/self/exe, which names the running image even when a
    // concurrent build has replaced the file `current_exe()` points at.
    let exe = match std::path::Path::new("/proc/self/exe") {
        p if p.exists() => p.to_owned(),
        _ => std::env::current_exe().expect("the test binary"),
    };
    let started = Instant::now();
    let mut acked: Vec<EventId> = Vec::new();
    let mut cycles_with_acks = 0;
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "store_crash::child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_ENV, &db)
            .env(CYCLE_ENV, cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let (opened, ready) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    if l.ends_with(READY) {
                        let _ = opened.send(());
                    }
                    l.strip_prefix(ACK).map(|h| EventId::from_hex(h.trim()))
                })
                .collect::<Result<Vec<_>, _>>()
        });
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let kill_at = Duration::from_micros(rng.next_u64() % KILL_WITHIN.as_micros() as u64);
        if cycle % KILL_AT_START_EVERY != 0 {
            // A child that exits or fails before opening closes the channel: fall through, and
            // its status is checked below.
            let _ = ready.recv_timeout(OPEN_WITHIN);
        }
        std::thread::sleep(kill_at);
        let exited_early = child.try_wait().expect("try_wait");
        child.kill().expect("SIGKILL"); // std sends SIGKILL on unix
        let status = child.wait().expect("wait");
        let ids = reader
            .join()
            .expect("reader")
            .expect("acknowledged ids are hex");
        let errors = errors.join().expect("stderr reader");
        if let Some(early) = exited_early {
            assert!(
                early.success(),
                "cycle {cycle}: the child failed on its own: {early}\n{errors}"
            );
        } else {
            assert!(!status.success(), "cycle {cycle}: killed, yet {status}");
        }
        if !ids.is_empty() {
            cycles_with_acks += 1;
        }
        acked.extend(ids);

        let kv = FjallKv::open(&db, FjallConfig::default()).unwrap_or_else(|e| {
            panic!("cycle {cycle} (killed at {kill_at:?}, seed {seed}): reopen: {e}")
        });
        let store = Store::open(kv).expect("the engine opens");
        for id in &acked {
            assert!(
                store.get(id).expect("get").is_some(),
                "cycle {cycle} (killed at {kill_at:?}, seed {seed}): acknowledged {id} is lost"
            );
        }
        let problems = store.check().expect("check runs");
        assert!(
            problems.is_empty(),
            "cycle {cycle} (seed {seed}): {problems:?}"
        );
        assert!(store.usage().events >= acked.len() as u64);
    }
    assert!(
        cycles_with_acks * 2 >= cycles,
        "only {cycles_with_acks} of {cycles} cycles acknowledged anything: the kills come too early"
    );
    eprintln!(
        "store_crash: {cycles} cycles, {} acknowledged events all present, {cycles_with_acks} cycles \
         acknowledged writes, {:.1} s",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
}
