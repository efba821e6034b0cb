//! The daemon's event store: opened in `DATA_DIR/db` with the board's tuning, tied to its
//! owner, and kept within the board's budget a bounded step at a time.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::BoardProfile;
use crate::nostr::{PubKey, UnixTime, nip19};
use crate::store::fjall::{FjallConfig, FjallKv};
use crate::store::retention::{Budget, Cursor, Eviction};
use crate::store::{EventStore, StateStore, Store, StoreError};

/// The database directory inside the data dir.
pub const DB_DIR: &str = "db";

/// The `StateStore` key holding the owner pubkey this data dir serves.
pub const OWNER_STATE_KEY: &str = "owner";

/// How often retention runs while the store is within its budget: the age budget is in days,
/// so a minute is prompt enough.
pub const RETENTION_IDLE: Duration = Duration::from_secs(60);

/// How soon retention runs again while the store is over budget: each step is bounded
/// (`EVICT_PER_TURN` = 64 deletions) and ends with one commit, so 200 ms between steps means at
/// most 5 fsyncs a second on the SD card while catching up (≈ 320 evictions/s).
pub const RETENTION_BUSY: Duration = Duration::from_millis(200);

/// The daemon's store type.
pub type NodeStore = Store<FjallKv>;

/// Why the store could not be used at start.
#[derive(Debug, thiserror::Error)]
pub enum StoreOpenError {
    #[error("cannot open the event store at {path}: {source}")]
    Open { path: PathBuf, source: StoreError },
    #[error(
        "this data dir belongs to {held}, but the owner given is {given}; use the data dir of \
         {given}, or start without -p"
    )]
    OwnerMismatch { held: String, given: String },
}

/// fjall tuning from the board profile.
#[must_use]
pub fn fjall_config(board: &BoardProfile) -> FjallConfig {
    FjallConfig {
        cache_bytes: board.fjall_cache_bytes.get(),
        memtable_events_bytes: board.fjall_memtable_events_bytes.get(),
        memtable_index_bytes: board.fjall_memtable_index_bytes.get(),
        memtable_state_bytes: board.fjall_memtable_state_bytes.get(),
        ..FjallConfig::default()
    }
}

/// Retention's budget from the board profile.
#[must_use]
pub fn budget(board: &BoardProfile) -> Budget {
    Budget {
        max_bytes: board.store_max_bytes.get(),
        max_events: board.store_max_events.get(),
        max_age_secs: board.store_max_age().as_secs(),
    }
}

/// Opens the store in `data_dir/db` and checks (or, on first start, records) its owner.
pub fn open(
    data_dir: &std::path::Path,
    board: &BoardProfile,
    owner: &PubKey,
) -> Result<NodeStore, StoreOpenError> {
    let path = data_dir.join(DB_DIR);
    let open_err = |source| StoreOpenError::Open {
        path: path.clone(),
        source,
    };
    let kv = FjallKv::open(&path, fjall_config(board)).map_err(open_err)?;
    let mut store = Store::open(kv).map_err(open_err)?;
    match store.state(OWNER_STATE_KEY).map_err(open_err)? {
        Some(held) if held.as_slice() != owner.0.as_slice() => {
            let held = <[u8; 32]>::try_from(held.as_slice())
                .map(|b| nip19::encode_npub(&PubKey(b)))
                .unwrap_or_else(|_| "an unreadable owner record".to_owned());
            return Err(StoreOpenError::OwnerMismatch {
                held,
                given: nip19::encode_npub(owner),
            });
        }
        Some(_) => {}
        None => {
            store
                .set_state(OWNER_STATE_KEY, &owner.0)
                .map_err(open_err)?;
            store.commit().map_err(open_err)?;
        }
    }
    Ok(store)
}

/// What `nostrp2p store check` found.
#[derive(Debug)]
pub struct CheckReport {
    pub path: PathBuf,
    pub usage: crate::store::Usage,
    pub problems: Vec<String>,
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let u = &self.usage;
        writeln!(
            f,
            "store {}: {} events, {} record bytes, {} bytes on disk",
            self.path.display(),
            u.events,
            u.record_bytes,
            u.disk_bytes
        )?;
        if self.problems.is_empty() {
            write!(
                f,
                "consistent: every event has its index entries and every entry its event"
            )
        } else {
            writeln!(f, "DAMAGED:")?;
            for p in &self.problems {
                writeln!(f, "  {p}")?;
            }
            write!(
                f,
                "restore the data dir from a backup, or export what is readable (store export)"
            )
        }
    }
}

/// Why `store check` could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    DataDir(#[from] super::datadir::DataDirError),
    #[error("no event store at {0} (the node has not run with this data dir)")]
    Missing(PathBuf),
    #[error("cannot check the event store at {path}: {source}")]
    Store { path: PathBuf, source: StoreError },
}

/// Opens the store of `data_dir` (taking the data-dir lock, so never beside a running node)
/// and checks it.
pub fn check(data_dir: &std::path::Path) -> Result<CheckReport, CheckError> {
    let path = data_dir.join(DB_DIR);
    if !path.is_dir() {
        return Err(CheckError::Missing(path));
    }
    let _lock = super::datadir::DataDir::open(data_dir)?;
    let err = |source| CheckError::Store {
        path: path.clone(),
        source,
    };
    // Per-keyspace options are fixed at creation, so the defaults open any board's database.
    let store =
        Store::open(FjallKv::open(&path, FjallConfig::default()).map_err(err)?).map_err(err)?;
    let problems = store.check().map_err(err)?;
    Ok(CheckReport {
        path,
        usage: store.usage(),
        problems,
    })
}

/// Retention, one bounded step at a time, driven by the loop's timer.
pub struct Retention {
    budget: Budget,
    owner: PubKey,
    cursor: Cursor,
    warned: bool,
}

impl Retention {
    /// Retention for `owner` within `budget`.
    #[must_use]
    pub fn new(budget: Budget, owner: PubKey) -> Self {
        Self {
            budget,
            owner,
            cursor: Cursor::default(),
            warned: false,
        }
    }

    /// Runs one step; returns how long until the next one. Evicted events leave the node's
    /// ring too.
    pub fn step(&mut self, node: &mut super::run::DaemonNode, now: UnixTime) -> Duration {
        let mut evicted = Vec::new();
        let report: Result<Eviction, StoreError> = node.store_mut().evict_into(
            &self.budget,
            &self.owner,
            now,
            &mut self.cursor,
            &mut evicted,
        );
        node.forget(&evicted);
        let store = node.store_mut();
        match report {
            Ok(r) => {
                if r.evicted > 0 {
                    log::debug!(
                        "retention: evicted {} events ({} keys examined)",
                        r.evicted,
                        r.scanned
                    );
                    // Evictions need no acknowledgement, but their batches sit in fjall's
                    // journal buffer until a commit: commit here rather than let them pile up.
                    if let Err(e) = store.commit() {
                        log::warn!("retention: commit failed: {e}");
                    }
                }
                if r.protected_exceed_budget && !self.warned {
                    log::warn!(
                        "store: the owner's own and other protected events alone exceed the board's budget"
                    );
                    self.warned = true;
                }
                if r.over_budget && !r.protected_exceed_budget {
                    RETENTION_BUSY
                } else {
                    RETENTION_IDLE
                }
            }
            Err(e) => {
                log::warn!("retention: {e}");
                RETENTION_IDLE
            }
        }
    }
}
