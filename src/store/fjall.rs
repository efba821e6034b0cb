//! The fjall backend: the store's three keyspaces (`events`, `index`, `state`) in one
//! `fjall::Database` on disk. Only this file of the store touches the disk; the engine
//! ([`super::Store`]) holds the rules. Layout, tuning and reasons: `docs/storage.md`.
//!
//! # Durability
//!
//! [`Kv::write`] is one fjall write batch across keyspaces, so a crash leaves all or none of
//! it; it reaches fjall's journal buffer and nothing more (`manual_journal_persist`).
//! [`Kv::persist`] is one `db.persist(PersistMode::SyncData)`: the engine calls it once per loop
//! turn (group commit), and only an `Ok` from it makes a write durable. Writes between two
//! persists are also kept in memory ([`PENDING_MAX_BYTES`] bounds them, see below).
//!
//! # Failures: full or read-only disk, poisoning, reopening
//!
//! fjall poisons its `Database` after a failed journal write or fsync, and after its worker
//! thread fails (a flush that hits a full disk): from then on every write and persist returns
//! `Poisoned`, while reads still work. So after a failed write or persist, this backend keeps
//! the poisoned database for reads and, on the next write or persist, checks that the disk
//! takes data again (it writes, syncs and removes a [`PROBE_BYTES`] file), then drops the
//! database, reopens it in-process (fjall's recovery runs and cuts a torn journal tail) and
//! writes the writes made since the last successful persist once more, so the reopened
//! database holds exactly what the engine believes it holds; then it persists. Only after that
//! persist succeeds do writes go on. A full (`ENOSPC`, `EDQUOT`) or read-only (`EROFS`) disk,
//! and fjall's `Poisoned` after such a failure, map to [`StoreError::Full`] ("storage full");
//! other failures to [`StoreError::Io`] or [`StoreError::Backend`] naming the operation. A
//! persist never reports success for data that was not synced. When a reopen itself fails
//! after a good probe, reads fail too until a later write or persist reopens the database;
//! repeated failed reopens are spaced out by [`RECOVERY_BACKOFF_MAX`].
//!
//! # Opening
//!
//! [`FjallKv::open`] recovers an existing database (fjall's `version` file marks one),
//! creates a new one where the path is missing or an empty directory, and refuses anything
//! else with an error naming the path: a non-empty directory without fjall's marker is never
//! written to, let alone wiped (fjall itself would create its files among foreign ones). A new
//! database is built in a sibling staging directory and renamed into place, so a crash during
//! creation never leaves a half-made database at the path. A second open of the same
//! directory (another process, or the same one) fails: fjall locks it.
//!
//! # Options are fixed at creation
//!
//! fjall stores a keyspace's options when the keyspace is created and ignores the options
//! given on a later open. So the key-value separation threshold of [`FjallConfig`] and
//! [`L0_THRESHOLD`] take effect only in a new database: a board profile changed later leaves an
//! existing database with its old separation. The memtable sizes are the exception: the
//! backend seals memtables itself at the configured sizes, at every open (fjall's stored limit
//! is only a backstop, [`FJALL_MEMTABLE_BACKSTOP`] times larger). Database-wide settings
//! (block cache, journal cap, worker count, open files) apply at every open. To retune an
//! existing database otherwise, move its events into a new data dir (`store export` /
//! `store import`).
//!
//! # Memtables are sealed here, not by fjall
//!
//! fjall 3.1.13 asks its worker to seal a memtable after every batch that finds it over its
//! size (a `try_send` into the worker's queue of 1 000 messages), and the worker, handling
//! that request, queues the flush with a blocking `send` into the same queue. One event is one
//! batch here, so a burst of writes while the one worker compacts fills the queue with such
//! requests, and the worker then blocks on a send only it could drain: nothing is flushed again,
//! the memtables grow without bound (83 MB after 100 000 events) and the journal, sealed only at
//! a flush, grows past its 64 MB mark (115 MB); the next open replays that unflushed tail into
//! memory (131 MiB). So [`Open::write`] seals a keyspace's memtable itself, from the writing
//! thread, before a batch would take it past its size (fjall's `Keyspace::rotate_memtable`, a
//! hidden but public function): fjall never finds a memtable over its limit and never queues such
//! a request. A clean close (dropping [`FjallKv`]) also seals every memtable and waits for the
//! flushes, so the next open replays nothing; after a crash it replays at most what the memtables
//! held (a few MiB). Measurements: `docs/storage.md` "Open-time memory".
//!
//! # Known limit
//!
//! fjall halts a writer while a keyspace has 4 or more sealed memtables waiting for its worker.
//! If the worker dies (a flush on a full disk) while a write is halted there, the write never
//! returns; the systemd watchdog restarts the node and recovery runs as after a crash.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::fjall::compaction::Leveled;
use ::fjall::config::PinningPolicy;
use ::fjall::{
    AbstractTree as _, Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode,
};

use super::{Kv, Op, Space, StoreError};

#[cfg(test)]
mod tests;

/// fjall's floor for the journal cap: its builder panics below 64 MiB. The journals may hold up
/// to about twice this (the active one rotates only past 64 MB, a sealed one goes only once
/// every keyspace has flushed past it), so every board's disk budget counts ≈ 128 MiB for them.
pub const JOURNAL_FLOOR: u64 = 64 << 20;

/// Most bytes fjall's journals hold on disk while memtables flush as they fill (checked by a
/// test): the active journal, preallocated to 64 MiB, is sealed at the first flush after its
/// write position passes fjall's hard-coded 64 000 000 bytes (so it passes that by at most the
/// writes between two flushes), and a sealed one is deleted once every keyspace has flushed past
/// it (fjall asks the keyspaces that lag to flush once sealed journals reach [`JOURNAL_FLOOR`]).
pub const JOURNAL_DISK_MAX: u64 = 2 * JOURNAL_FLOOR + (8 << 20);

/// fjall worker threads (flush and compaction): one, so background writes stay sequential on
/// the SD card and the daemon stays within its thread budget (ARCHITECTURE.md "Threads").
pub const WORKER_THREADS: usize = 1;

/// Most table and blob files fjall keeps open (ARCHITECTURE.md "Memory budget": ≤ 64 open
/// files, about 1 MiB with their filters and index blocks). fjall refuses fewer than 10.
pub const FJALL_MAX_FILES: usize = 64;

/// Level-0 tables that trigger a compaction into level 1 (fjall's default is 4). With random
/// keys (ids, authors, tags) every level-0 table overlaps all of level 1, so each compaction
/// rewrites level 1: doubling the trigger halves those rewrites. Measured over 100 000
/// traffic-shaped events (2026-11-25): 5.6x bytes written per record byte at 8, 4.5x at 16
/// (docs/storage.md "Write amplification"). fjall starts delaying
/// writes at 20 level-0 runs and halts them at 30; a compaction of the index keyspace takes
/// seconds while a busy node adds about one 1 MiB table in that time, so 16 leaves room.
pub const L0_THRESHOLD: u8 = 16;

/// Keep every table's bloom filter in memory, at every level (fjall pins only level 0's). An
/// unpinned filter goes through the block cache as one block per table (≈ 600 KB for the index
/// table of 100 000 events), which a small board cache does not keep: every point read (a get
/// by id, and each write rule's duplicate/deleted/slot probe) read and checksummed it again,
/// 147 µs per get by id. Pinned, filters cost ≈ 10 bits per key (≈ 1.2 MB at the router
/// board's 100 000 events), bounded by the board's `store_max_events` (docs/storage.md).
pub const PIN_FILTERS: bool = true;

/// Most bytes of writes kept in memory between two persists, for the replay after a reopen.
/// A loop turn writes far less; a caller that writes more without persisting gets an early
/// persist (an extra fsync, never a lost write).
pub const PENDING_MAX_BYTES: usize = 4 << 20;

/// Bytes written, synced and removed to learn that a failed disk takes data again before the
/// database is dropped and reopened: enough for a turn's journal writes. A probe that fails
/// usually costs the device nothing: the file is removed before writeback.
pub const PROBE_BYTES: usize = 64 << 10;

/// After a reopen that failed although the probe passed, at most this many later write or
/// persist calls are refused at once before the next attempt (the gap doubles per failure up
/// to this), so a disk that takes the probe but not the database is not reopened every turn.
pub const RECOVERY_BACKOFF_MAX: u32 = 16;

/// Bytes a memtable entry costs beyond its key and value, as fjall counts a memtable's size
/// (its `InternalValue`: two slices, a sequence number and a type; 56 bytes in fjall 3.1.13,
/// a test checks that this covers it). Over-counting only seals a memtable a little early.
pub const MEMTABLE_ENTRY_OVERHEAD: u64 = 64;

/// How long a clean close waits for fjall's worker to flush the memtables it sealed, in polls
/// of [`CLOSE_POLL`]: 10 s, far more than flushing a few MiB takes even on an SD card. A worker
/// that died (a full disk) makes a close wait this long once; recovery then replays the journal.
pub const CLOSE_POLLS: u32 = 1_000;

/// See [`CLOSE_POLLS`].
const CLOSE_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// fjall's own memtable limit, stored when a keyspace is created, is this many times the board's
/// memtable size: the backend seals memtables at the board's size itself (module docs), at
/// every open, so a board profile may later change its memtable sizes up to this factor without
/// fjall ever finding a memtable over its limit. (Databases created before the backend sealed
/// memtables itself keep fjall's limit at their board's size then: they must not raise it.)
pub const FJALL_MEMTABLE_BACKSTOP: u64 = 4;

/// The probe file, in the database directory (fjall ignores files it does not name).
const PROBE_NAME: &str = "nostrp2p-space-probe.tmp";

/// fjall's marker of a database directory, written last when fjall creates one.
const VERSION_MARKER: &str = "version";

/// What fjall puts in a database directory (its root): a directory holding only these names
/// (and journals, `*.jnl`) is one fjall made.
const FJALL_ROOT_NAMES: &[&str] = &["version", "lock", "keyspaces"];

/// The keyspace names, one per [`Space`].
const EVENTS: &str = "events";
/// See [`EVENTS`].
const INDEX: &str = "index";
/// See [`EVENTS`].
const STATE: &str = "state";

/// fjall's tuning for one board. [`Default`] is the `armv7-router-256` budget (ARCHITECTURE.md
/// "Memory budget"); the daemon fills it from the board profile. Key-value separation is fixed
/// when the database is created; memtable sizes apply at every open (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FjallConfig {
    /// Block cache, shared by the keyspaces.
    pub cache_bytes: u64,
    /// Memtable of the `events` keyspace (compact records).
    pub memtable_events_bytes: u64,
    /// Memtable of the `index` keyspace (key-only entries).
    pub memtable_index_bytes: u64,
    /// Memtable of the `state` keyspace (small records and the usage counters).
    pub memtable_state_bytes: u64,
    /// Records of at least this many bytes go to blob files, so compaction moves only their
    /// small pointers; `None` keeps every record inline.
    pub kv_separation_threshold: Option<u32>,
    /// Cap of all journals together; raised to [`JOURNAL_FLOOR`] when below it.
    pub journal_bytes: u64,
}

/// The default separation threshold: below the typical compact record (≈ 300–500 B: ≈ 135 B of
/// id, key, signature and varints, ≈ 35 B per `e`/`p` tag, then the content), so notes leave
/// the LSM tree while reactions (≈ 210 B) stay inline; fjall's own default of 1 KiB would keep
/// nearly every record inline. Measured over 100 000 traffic-shaped events (2026-11-25, level-0
/// trigger 16): 4.5x bytes written per record byte at 256, 4.4x at 64, where every record is a
/// blob and a query reads a blob file per result (reactions included): kept at 256 for reads.
pub const KV_SEPARATION_THRESHOLD: u32 = 256;

impl Default for FjallConfig {
    fn default() -> Self {
        Self {
            cache_bytes: 4 << 20,
            memtable_events_bytes: 2 << 20,
            memtable_index_bytes: 1 << 20,
            memtable_state_bytes: 256 << 10,
            kv_separation_threshold: Some(KV_SEPARATION_THRESHOLD),
            journal_bytes: JOURNAL_FLOOR,
        }
    }
}

/// The open database and its keyspaces.
struct Open {
    events: Keyspace,
    index: Keyspace,
    state: Keyspace,
    db: Database,
    /// Memtable sizes at which [`Open::write`] seals a keyspace's memtable itself (events,
    /// index, state): see "Memtables are sealed here, not by fjall" in the module docs.
    memtable_bytes: [u64; 3],
    /// fjall's journal count at the last [`Open::trim_journals`].
    journals_seen: usize,
}

impl Open {
    /// Opens (or, in an empty directory, creates) the database at `path` with `config`.
    fn at(path: &Path, config: &FjallConfig) -> Result<Self, ::fjall::Error> {
        let db = Database::builder(path)
            .cache_size(config.cache_bytes)
            .manual_journal_persist(true)
            .worker_threads(WORKER_THREADS)
            .max_cached_files(Some(FJALL_MAX_FILES))
            .max_journaling_size(config.journal_bytes.max(JOURNAL_FLOOR))
            .open()?;
        let options = |memtable: u64| {
            KeyspaceCreateOptions::default()
                .manual_journal_persist(true)
                .max_memtable_size(memtable.saturating_mul(FJALL_MEMTABLE_BACKSTOP))
                .compaction_strategy(Arc::new(Leveled::default().with_l0_threshold(L0_THRESHOLD)))
                .filter_block_pinning_policy(PinningPolicy::all(PIN_FILTERS))
        };
        let events = db.keyspace(EVENTS, || {
            options(config.memtable_events_bytes).with_kv_separation(
                config
                    .kv_separation_threshold
                    .map(|t| KvSeparationOptions::default().separation_threshold(t)),
            )
        })?;
        let index = db.keyspace(INDEX, || options(config.memtable_index_bytes))?;
        let state = db.keyspace(STATE, || options(config.memtable_state_bytes))?;
        Ok(Self {
            events,
            index,
            state,
            db,
            memtable_bytes: [
                config.memtable_events_bytes,
                config.memtable_index_bytes,
                config.memtable_state_bytes,
            ],
            journals_seen: 1,
        })
    }

    fn space(&self, space: Space) -> &Keyspace {
        match space {
            Space::Events => &self.events,
            Space::Index => &self.index,
            Space::State => &self.state,
        }
    }

    fn keyspaces(&self) -> [&Keyspace; 3] {
        [&self.events, &self.index, &self.state]
    }

    /// Writes `ops` as one atomic batch (journal buffer only), first sealing each memtable the
    /// batch would take past its size, so fjall never finds one over its limit (module docs).
    fn write(&self, ops: &[Op]) -> Result<(), ::fjall::Error> {
        let mut adds = [0u64; 3];
        for op in ops {
            let (space, bytes) = match op {
                Op::Put(space, key, value) => (*space, key.len() + value.len()),
                Op::Delete(space, key) => (*space, key.len()),
            };
            let slot = match space {
                Space::Events => 0,
                Space::Index => 1,
                Space::State => 2,
            };
            adds[slot] += bytes as u64 + MEMTABLE_ENTRY_OVERHEAD;
        }
        let keyspaces = self
            .keyspaces()
            .into_iter()
            .zip(adds)
            .zip(self.memtable_bytes);
        for ((keyspace, add), limit) in keyspaces {
            if add > 0 && keyspace.tree.active_memtable().size() + add > limit {
                // Seals the memtable and queues its flush for the worker; `false` when the
                // memtable is empty (a batch larger than the limit alone).
                keyspace.rotate_memtable()?;
            }
        }
        let mut batch = self.db.batch();
        for op in ops {
            match op {
                Op::Put(space, key, value) => {
                    batch.insert(self.space(*space), key.as_slice(), value.as_slice());
                }
                Op::Delete(space, key) => batch.remove(self.space(*space), key.as_slice()),
            }
        }
        batch.commit()
    }
}

impl Open {
    /// When fjall has sealed a journal since the last call, seals every memtable, so each
    /// keyspace flushes past that journal and fjall deletes it. fjall itself asks the keyspaces
    /// that lag to flush only once sealed journals pass its 64 MiB cap, which a sealed journal
    /// (64 000 000 bytes and a little) does not, so two sealed journals and the active one, about
    /// 200 MB, could pile up where a keyspace fills its memtable slowly (module docs).
    fn trim_journals(&mut self) -> Result<(), ::fjall::Error> {
        let journals = self.db.journal_count();
        if journals > self.journals_seen {
            for keyspace in self.keyspaces() {
                keyspace.rotate_memtable()?;
            }
        }
        self.journals_seen = journals;
        Ok(())
    }

    /// Seals every non-empty memtable and waits (at most [`CLOSE_POLLS`] polls) until fjall's
    /// worker has flushed them, so the next open replays nothing from the journal. Errors are
    /// left to the next open's recovery: nothing here is needed for durability.
    fn flush_memtables(&self) {
        for keyspace in self.keyspaces() {
            if keyspace.rotate_memtable().is_err() {
                return;
            }
        }
        for _ in 0..CLOSE_POLLS {
            let sealed: usize = self
                .keyspaces()
                .iter()
                .map(|k| k.sealed_memtable_count())
                .sum();
            if sealed == 0 && self.db.outstanding_flushes() == 0 {
                return;
            }
            std::thread::sleep(CLOSE_POLL);
        }
    }
}

/// Why the database is not taking writes: the error to repeat while it stays so.
#[derive(Debug, Clone)]
enum Failure {
    /// Full or read-only disk.
    Full,
    /// Anything else, as text (fjall's errors are not `Clone`).
    Other(String),
}

impl Failure {
    fn error(&self, op: &'static str) -> StoreError {
        match self {
            Self::Full => StoreError::Full,
            Self::Other(message) => StoreError::Backend {
                op,
                message: message.clone(),
            },
        }
    }
}

/// The fjall backend (module docs).
pub struct FjallKv {
    path: PathBuf,
    config: FjallConfig,
    /// `None` only after a reopen failed; the next write or persist tries again.
    open: Option<Open>,
    /// Set from a failed write or persist until a reopen has made the pending writes durable.
    failure: Option<Failure>,
    /// Writes since the last successful persist, replayed after a reopen.
    pending: Vec<Op>,
    pending_bytes: usize,
    /// Write or persist calls still to refuse before the next reopen attempt, and the gap to
    /// use after the next failed attempt.
    skip: u32,
    gap: u32,
    /// Reopens completed since open (reported, and checked by tests).
    reopens: u64,
}

impl std::fmt::Debug for FjallKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallKv")
            .field("path", &self.path)
            .field("open", &self.open.is_some())
            .field("failure", &self.failure)
            .field("pending", &self.pending.len())
            .field("reopens", &self.reopens)
            .finish_non_exhaustive()
    }
}

/// A clean close: the memtables are flushed first, so the next open replays none of the journal
/// (module docs, "Memtables are sealed here, not by fjall"). After a failed write or persist it
/// only drops the database, as a crash would.
impl Drop for FjallKv {
    fn drop(&mut self) {
        if self.failure.is_none()
            && let Some(open) = &self.open
        {
            open.flush_memtables();
        }
    }
}

impl FjallKv {
    /// Opens the database at `path`, creating it when `path` is missing or an empty directory
    /// (module docs). A foreign or damaged directory, or one another process holds, is an error
    /// naming the path; nothing in it is changed.
    pub fn open(path: impl AsRef<Path>, config: FjallConfig) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        // Follows a symlink, so `db` may point at a database elsewhere.
        match fs::metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => create(&path, &config)?,
            Err(e) => return Err(open_io(&path, e)),
            Ok(meta) if !meta.is_dir() => {
                return Err(foreign(&path, "it is not a directory"));
            }
            Ok(_) => {
                let has_marker = path
                    .join(VERSION_MARKER)
                    .try_exists()
                    .map_err(|e| open_io(&path, e))?;
                if !has_marker {
                    let mut entries = fs::read_dir(&path).map_err(|e| open_io(&path, e))?;
                    if entries.next().is_some() {
                        return Err(foreign(&path, "it holds files but no fjall database"));
                    }
                    create(&path, &config)?;
                }
            }
        }
        let open = Open::at(&path, &config).map_err(|e| open_error(&path, e))?;
        Ok(Self {
            path,
            config,
            open: Some(open),
            failure: None,
            pending: Vec::new(),
            pending_bytes: 0,
            skip: 0,
            gap: 1,
            reopens: 0,
        })
    }

    /// The database directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration it was opened with (keyspace options may predate it: module docs).
    #[must_use]
    pub fn config(&self) -> &FjallConfig {
        &self.config
    }

    /// How many times the database was dropped and reopened after a failure.
    #[must_use]
    pub fn reopens(&self) -> u64 {
        self.reopens
    }

    /// Background work in fjall's worker: queued memtable flushes plus running compactions
    /// (fjall marks these counters experimental). Reported; the write-amplification
    /// measurement waits for it to reach zero.
    #[must_use]
    pub fn background_work(&self) -> usize {
        self.open.as_ref().map_or(0, |o| {
            o.db.outstanding_flushes() + o.db.active_compactions()
        })
    }

    /// Bytes of fjall's journals on disk (the active one and any sealed ones), and how many
    /// there are. Reported, and checked by the tests of the journal bound.
    #[must_use]
    pub fn journal_stats(&self) -> (u64, usize) {
        self.open.as_ref().map_or((0, 0), |o| {
            (o.db.journal_disk_space().unwrap_or(0), o.db.journal_count())
        })
    }

    /// Bytes held in the memtables of the three keyspaces (active and sealed).
    #[must_use]
    pub fn memtable_bytes(&self) -> u64 {
        self.open.as_ref().map_or(0, |o| o.db.write_buffer_size())
    }

    /// Whether writes are refused until a reopen succeeds (the last write or persist failed).
    #[must_use]
    pub fn is_failed(&self) -> bool {
        self.failure.is_some()
    }

    fn opened(&self, op: &'static str) -> Result<&Open, StoreError> {
        self.open.as_ref().ok_or_else(|| StoreError::Backend {
            op,
            message: format!(
                "the database at {} is closed after a failed reopen; the next write retries",
                self.path.display()
            ),
        })
    }

    /// Records a failed write or persist and returns its error.
    fn fail(&mut self, op: &'static str, e: ::fjall::Error) -> StoreError {
        let error = map_error(op, e);
        self.failure = Some(match &error {
            StoreError::Full => Failure::Full,
            other => Failure::Other(other.to_string()),
        });
        error
    }

    /// When the last write or persist failed: probes the disk, then drops and reopens the
    /// database, replays the pending writes and persists them. `Ok` means writes may go on.
    fn recover(&mut self, op: &'static str) -> Result<(), StoreError> {
        let Some(failure) = self.failure.clone() else {
            return Ok(());
        };
        if self.skip > 0 {
            self.skip -= 1;
            return Err(failure.error(op));
        }
        if let Err(e) = self.probe() {
            // The disk still refuses: keep the poisoned database, whose reads work.
            if is_full(&e) {
                self.failure = Some(Failure::Full);
                return Err(StoreError::Full);
            }
            return Err(StoreError::Io { op, source: e });
        }
        match self.reopen(op) {
            Ok(()) => {
                self.failure = None;
                self.gap = 1;
                self.reopens += 1;
                Ok(())
            }
            Err(e) => {
                self.skip = self.gap;
                self.gap = (self.gap * 2).min(RECOVERY_BACKOFF_MAX);
                Err(e)
            }
        }
    }

    /// Drops the database, opens it again, replays the pending writes and persists them.
    fn reopen(&mut self, op: &'static str) -> Result<(), StoreError> {
        // Dropping joins fjall's worker and releases the directory lock.
        self.open = None;
        let open = Open::at(&self.path, &self.config).map_err(|e| self.fail(op, e))?;
        let open = self.open.insert(open);
        // Blind puts and deletes: replaying writes the recovery already kept changes nothing.
        let result = open
            .write(&self.pending)
            .and_then(|()| open.db.persist(PersistMode::SyncData));
        match result {
            Ok(()) => {
                self.pending.clear();
                self.pending_bytes = 0;
                Ok(())
            }
            Err(e) => Err(self.fail(op, e)),
        }
    }

    /// Writes, syncs and removes a [`PROBE_BYTES`] file in the database directory.
    fn probe(&self) -> io::Result<()> {
        let path = self.path.join(PROBE_NAME);
        let result = (|| {
            let mut file = fs::File::create(&path)?;
            file.write_all(&[0u8; PROBE_BYTES])?;
            file.sync_data()
        })();
        // Removed even when the write failed, so the probe never holds space.
        let removed = fs::remove_file(&path);
        result?;
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Persists the journal; a database the worker poisoned is recovered instead.
    fn persist_now(&mut self, op: &'static str) -> Result<(), StoreError> {
        let persisted = self.opened(op)?.db.persist(PersistMode::SyncData);
        match persisted {
            Ok(()) => {
                self.pending.clear();
                self.pending_bytes = 0;
                Ok(())
            }
            Err(::fjall::Error::Poisoned) => {
                self.failure = Some(Failure::Other(POISONED.to_owned()));
                self.recover(op)
            }
            Err(e) => Err(self.fail(op, e)),
        }
    }
}

impl Kv for FjallKv {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "reading a record";
        let value = self
            .opened(OP)?
            .space(space)
            .get(key)
            .map_err(|e| map_error(OP, e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan_keys(
        &self,
        space: Space,
        from: &[u8],
        to: &[u8],
        visit: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), StoreError> {
        const OP: &str = "scanning an index";
        if from >= to {
            return Ok(());
        }
        for guard in self.opened(OP)?.space(space).range(from..to) {
            let key = guard.key().map_err(|e| map_error(OP, e))?;
            if !visit(&key) {
                break;
            }
        }
        Ok(())
    }

    fn scan_keys_rev(
        &self,
        space: Space,
        from: &[u8],
        to: &[u8],
        visit: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), StoreError> {
        const OP: &str = "scanning an index backwards";
        if from >= to {
            return Ok(());
        }
        for guard in self.opened(OP)?.space(space).range(from..to).rev() {
            let key = guard.key().map_err(|e| map_error(OP, e))?;
            if !visit(&key) {
                break;
            }
        }
        Ok(())
    }

    fn write(&mut self, ops: Vec<Op>) -> Result<(), StoreError> {
        const OP: &str = "writing a batch";
        self.recover(OP)?;
        let bytes: usize = ops.iter().map(op_bytes).sum();
        if self.pending_bytes + bytes > PENDING_MAX_BYTES {
            self.persist_now(OP)?;
        }
        let written = self.opened(OP)?.write(&ops);
        match written {
            Ok(()) => {}
            Err(::fjall::Error::Poisoned) => {
                // Poisoned by the worker (a failed flush), not by a write of ours: recover
                // now and try once more.
                self.failure = Some(Failure::Other(POISONED.to_owned()));
                self.recover(OP)?;
                let again = self.opened(OP)?.write(&ops);
                again.map_err(|e| self.fail(OP, e))?;
            }
            Err(e) => return Err(self.fail(OP, e)),
        }
        self.pending_bytes += bytes;
        self.pending.extend(ops);
        Ok(())
    }

    fn persist(&mut self) -> Result<(), StoreError> {
        const OP: &str = "persisting the journal";
        if self.failure.is_some() {
            // A successful recovery ends with a persist of everything pending.
            return self.recover(OP);
        }
        self.persist_now(OP)?;
        let trimmed = self.open.as_mut().map_or(Ok(()), Open::trim_journals);
        trimmed.map_err(|e| self.fail(OP, e))
    }

    fn disk_bytes(&self) -> u64 {
        self.open
            .as_ref()
            .and_then(|o| o.db.disk_space().ok())
            .unwrap_or(0)
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// The text of fjall's `Poisoned`, as [`map_error`] writes it.
const POISONED: &str = "the database is poisoned by an earlier write failure";

/// Bytes an operation adds to the pending replay.
fn op_bytes(op: &Op) -> usize {
    match op {
        Op::Put(_, k, v) => k.len() + v.len(),
        Op::Delete(_, k) => k.len(),
    }
}

/// Creates an empty database at `path` (missing, or an empty directory) through a staging
/// directory beside it, so that `path` never holds a half-made database.
fn create(path: &Path, config: &FjallConfig) -> Result<(), StoreError> {
    let Some(name) = path.file_name() else {
        return Err(foreign(path, "it names no directory"));
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(|e| open_io(parent, e))?;
    let mut staging_name = std::ffi::OsString::from(".");
    staging_name.push(name);
    staging_name.push(".creating");
    let staging = parent.join(staging_name);
    if fs::symlink_metadata(&staging).is_ok() {
        // Left by a creation that crashed. It is ours only if it holds nothing but fjall's
        // files; then it never held data (the database became visible only on the rename).
        if !made_by_fjall(&staging).map_err(|e| open_io(&staging, e))? {
            return Err(foreign(
                &staging,
                "this staging path holds files fjall did not make",
            ));
        }
        fs::remove_dir_all(&staging).map_err(|e| open_io(&staging, e))?;
    }
    let made = Open::at(&staging, config).map_err(|e| open_error(&staging, e))?;
    made.db
        .persist(PersistMode::SyncAll)
        .map_err(|e| open_error(&staging, e))?;
    drop(made);
    // rename(2) replaces an empty directory atomically; a non-empty one fails (ENOTEMPTY).
    fs::rename(&staging, path).map_err(|e| open_io(path, e))?;
    fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| open_io(parent, e))?;
    Ok(())
}

/// Whether a directory holds only names fjall gives its own files.
fn made_by_fjall(dir: &Path) -> io::Result<bool> {
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if !FJALL_ROOT_NAMES.contains(&name.as_ref()) && !name.ends_with(".jnl") {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether an I/O error means the disk is full or read-only.
fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull
            | io::ErrorKind::ReadOnlyFilesystem
            | io::ErrorKind::QuotaExceeded
    )
}

/// The I/O error inside a fjall error, if any.
fn io_of(e: &::fjall::Error) -> Option<&io::Error> {
    match e {
        ::fjall::Error::Io(io) | ::fjall::Error::Storage(::fjall::LsmError::Io(io)) => Some(io),
        _ => None,
    }
}

/// Maps a fjall error of a running database to the store's error.
fn map_error(op: &'static str, e: ::fjall::Error) -> StoreError {
    if io_of(&e).is_some_and(is_full) {
        return StoreError::Full;
    }
    match e {
        ::fjall::Error::Io(source) | ::fjall::Error::Storage(::fjall::LsmError::Io(source)) => {
            StoreError::Io { op, source }
        }
        ::fjall::Error::Poisoned => StoreError::Backend {
            op,
            message: POISONED.to_owned(),
        },
        ::fjall::Error::Storage(inner) => StoreError::Corrupt {
            what: format!("fjall {op}: {inner:?}"),
        },
        other => StoreError::Backend {
            op,
            message: format!("{other:?}"),
        },
    }
}

/// Maps a fjall error at open to the store's error, naming the path.
fn open_error(path: &Path, e: ::fjall::Error) -> StoreError {
    const OP: &str = "opening the event store";
    let at = path.display();
    match e {
        ::fjall::Error::Locked => StoreError::Backend {
            op: OP,
            message: format!(
                "{at} is locked: another process (a running nostrp2p?) has the database open"
            ),
        },
        ::fjall::Error::Io(source) | ::fjall::Error::Storage(::fjall::LsmError::Io(source)) => {
            open_io(path, source)
        }
        ::fjall::Error::InvalidVersion(version) => StoreError::Corrupt {
            what: format!("{at}: fjall version marker unreadable or unsupported ({version:?})"),
        },
        other => StoreError::Corrupt {
            what: format!("fjall database at {at}: {other:?}"),
        },
    }
}

/// An I/O error at open, with the path in its message (the kind is kept).
fn open_io(path: &Path, e: io::Error) -> StoreError {
    StoreError::Io {
        op: "opening the event store",
        source: io::Error::new(e.kind(), format!("{}: {e}", path.display())),
    }
}

/// The refusal of a directory that is not ours.
fn foreign(path: &Path, why: &str) -> StoreError {
    StoreError::Backend {
        op: "opening the event store",
        message: format!(
            "{} is not a nostrp2p event store ({why}); refusing to create one there, nothing was \
             changed",
            path.display()
        ),
    }
}
