//! Board profiles: the per-board bounds (memory cap, ring tier, store budget, fjall sizes, peer
//! and client limits), embedded from `boards/*.toml`, and their detection from the device-tree
//! model and total memory. See [`detect`] for the rule.

use core::fmt;
use core::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use core::time::Duration;
use std::io::Read;
use std::path::Path;

use super::ConfigError;

/// The embedded profiles, `(name, TOML text)`, smallest first. A profile's `name` equals its file
/// name without `.toml` (checked by the tests).
pub const BOARDS: &[(&str, &str)] = &[
    (
        "armv7-router-256",
        include_str!("../../boards/armv7-router-256.toml"),
    ),
    ("rpi-zero-2w", include_str!("../../boards/rpi-zero-2w.toml")),
    ("rpi-3", include_str!("../../boards/rpi-3.toml")),
    ("rpi-4", include_str!("../../boards/rpi-4.toml")),
    ("rpi-5", include_str!("../../boards/rpi-5.toml")),
    (
        "x86_64-generic",
        include_str!("../../boards/x86_64-generic.toml"),
    ),
];

/// The value of `board` that asks for detection, as if no board were named.
pub const BOARD_AUTO: &str = "auto";

/// The smallest profile: picked for boards of little or unknown memory.
pub const SMALLEST_BOARD: &str = "armv7-router-256";

/// fjall's journal cannot be capped below this (ARCHITECTURE.md, Storage).
pub const FJALL_JOURNAL_MIN: u64 = 64 * MIB;

/// Smallest `store_max_bytes`: twice the journal floor, so records, not the journal, are most of
/// the disk a node uses.
pub const STORE_MIN_BYTES: u64 = 2 * FJALL_JOURNAL_MIN;

/// Smallest `memory_max`: the loaded-RSS goal of the smallest board (32 MiB); a lower systemd cap
/// would kill a node working as designed.
pub const MEMORY_MIN: u64 = 32 * MIB;

/// Most websocket connections a profile may allow: each is a file descriptor, and 1 024 is the
/// usual soft `RLIMIT_NOFILE`, which the daemon does not raise.
pub const WS_CONNECTIONS_CEILING: usize = 1024;

/// Total memory up to which a board without a known device-tree model gets [`SMALLEST_BOARD`]. A
/// 512 MB board reports a little less than 512 MiB in `MemTotal` (the kernel and firmware keep
/// some).
pub const SMALL_BOARD_MEMORY: u64 = 512 * MIB;

/// Total memory up to which an unknown non-x86_64 board above [`SMALL_BOARD_MEMORY`] gets
/// `rpi-3`; above it, `rpi-4`.
pub const ONE_GIB_BOARD_MEMORY: u64 = 1024 * MIB;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// Which compiled ring size a board uses (ARCHITECTURE.md, The ring): heapless capacities are
/// fixed at compile time, so a profile picks one of a few tiers. `xs` is for the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RingTier {
    /// Simulator nodes: thousands per process.
    Xs,
    /// 256 MB boards: 1 024 slots, 1 MiB arena.
    S,
    /// 512 MB to 1 GB boards.
    M,
    /// 1 GB and larger boards.
    L,
}

impl fmt::Display for RingTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RingTier::Xs => "xs",
            RingTier::S => "s",
            RingTier::M => "m",
            RingTier::L => "l",
        })
    }
}

/// One board's bounds, from `boards/<name>.toml` (each value is commented there). Sizes are
/// bytes. Validated on load: every size is nonzero and the budgets fit together (see
/// [`BoardProfile::check`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardProfile {
    /// Profile name, equal to its file name without `.toml`.
    pub name: String,
    /// One line for humans: which hardware this is for.
    pub description: String,
    /// Rust target triple to build for this board.
    pub target: String,
    /// systemd `MemoryMax=` for the unit, in bytes.
    pub memory_max: NonZeroU64,
    /// Ring and seen-set size tier.
    pub ring_tier: RingTier,
    /// Retention's budget of logical record bytes (DECISIONS.md 19); the disk also holds the
    /// journal and LSM overhead.
    pub store_max_bytes: NonZeroU64,
    /// Retention's budget of stored events.
    pub store_max_events: NonZeroU64,
    /// Retention's age budget, in days (see [`BoardProfile::store_max_age`]).
    pub store_max_age_days: NonZeroU32,
    /// fjall block cache.
    pub fjall_cache_bytes: NonZeroU64,
    /// Memtable of the `events` keyspace.
    pub fjall_memtable_events_bytes: NonZeroU64,
    /// Memtable of the `index` keyspace.
    pub fjall_memtable_index_bytes: NonZeroU64,
    /// Memtable of the `state` keyspace.
    pub fjall_memtable_state_bytes: NonZeroU64,
    /// Most Noise sessions at once.
    pub max_sessions: NonZeroUsize,
    /// HyParView active view size.
    pub active_view: NonZeroUsize,
    /// HyParView passive view size.
    pub passive_view: NonZeroUsize,
    /// Most websocket connections at once.
    pub ws_max_connections: NonZeroUsize,
    /// Most live subscriptions over all connections.
    pub subs_max: NonZeroUsize,
}

impl BoardProfile {
    /// The embedded profile called `name`, or `None` when there is none.
    ///
    /// # Panics
    /// When an embedded profile is invalid, a build defect the unit tests catch.
    #[must_use]
    pub fn builtin(name: &str) -> Option<BoardProfile> {
        let (name, text) = BOARDS.iter().find(|(n, _)| *n == name)?;
        Some(
            Self::parse(name, text).expect(
                "embedded profiles parse and validate: config::tests::every_board_is_valid",
            ),
        )
    }

    /// Names of the embedded profiles, smallest first.
    pub fn names() -> impl Iterator<Item = &'static str> {
        BOARDS.iter().map(|(name, _)| *name)
    }

    /// Parses and validates a profile's TOML; `name` is its file name, named in errors.
    pub fn parse(name: &str, text: &str) -> Result<BoardProfile, ConfigError> {
        let bad = |problem: String| ConfigError::BadProfile {
            name: name.to_owned(),
            problem,
        };
        let profile: BoardProfile =
            toml::from_str(text).map_err(|e| bad(e.message().trim_end().to_owned()))?;
        if profile.name != name {
            return Err(bad(format!("its name is {:?}", profile.name)));
        }
        profile.check().map_err(bad)?;
        Ok(profile)
    }

    /// Retention's age budget.
    #[must_use]
    pub fn store_max_age(&self) -> Duration {
        Duration::from_secs(u64::from(self.store_max_age_days.get()) * 24 * 60 * 60)
    }

    /// Checks that the values fit together; the message names the values that do not.
    pub fn check(&self) -> Result<(), String> {
        let lowercase_name = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        if !lowercase_name(&self.name) {
            return Err(format!(
                "name {:?} is not lowercase a-z, 0-9, - or _",
                self.name
            ));
        }
        if self.description.trim().is_empty() {
            return Err("description is empty".to_owned());
        }
        if self.target.split('-').count() < 3 || !lowercase_name(&self.target) {
            return Err(format!(
                "target {:?} is not a Rust target triple",
                self.target
            ));
        }
        let memory_max = self.memory_max.get();
        if memory_max < MEMORY_MIN {
            return Err(format!("memory_max {memory_max} is below {MEMORY_MIN}"));
        }
        let fjall = [
            self.fjall_cache_bytes,
            self.fjall_memtable_events_bytes,
            self.fjall_memtable_index_bytes,
            self.fjall_memtable_state_bytes,
        ]
        .iter()
        .try_fold(0_u64, |sum, n| sum.checked_add(n.get()))
        .unwrap_or(u64::MAX);
        if fjall > memory_max / 2 {
            return Err(format!(
                "fjall cache and memtables ({fjall} bytes) exceed half of memory_max \
                 ({memory_max}); the rest of the node needs the other half"
            ));
        }
        let store = self.store_max_bytes.get();
        if store < STORE_MIN_BYTES {
            return Err(format!(
                "store_max_bytes {store} is below {STORE_MIN_BYTES}, twice fjall's journal floor"
            ));
        }
        if self.active_view > self.passive_view {
            return Err(format!(
                "active_view {} exceeds passive_view {}",
                self.active_view, self.passive_view
            ));
        }
        if self.active_view > self.max_sessions {
            return Err(format!(
                "active_view {} exceeds max_sessions {}",
                self.active_view, self.max_sessions
            ));
        }
        if self.ws_max_connections.get() > WS_CONNECTIONS_CEILING {
            return Err(format!(
                "ws_max_connections {} exceeds {WS_CONNECTIONS_CEILING} (the usual file \
                 descriptor limit)",
                self.ws_max_connections
            ));
        }
        Ok(())
    }
}

/// How the board profile was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardChoice {
    /// The user named it; `by` is where (`flag --board`, `environment NOSTRP2P_BOARD`, or a
    /// file's key).
    Named {
        /// Where the name was given.
        by: String,
    },
    /// Detected; `why` says what was seen.
    Detected {
        /// What was seen, e.g. `device-tree model "Raspberry Pi 4 Model B Rev 1.4"`.
        why: String,
    },
    /// Nothing was named and nothing seen: the default of this architecture.
    Default,
}

impl fmt::Display for BoardChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoardChoice::Named { by } => write!(f, "named by {by}"),
            BoardChoice::Detected { why } => write!(f, "detected: {why}"),
            BoardChoice::Default => f.write_str("default: no device-tree model, memory unknown"),
        }
    }
}

/// What board detection looks at, injectable so tests need no `/proc`.
pub trait BoardProbe {
    /// The device-tree model string (`/proc/device-tree/model`), trailing NULs removed.
    fn device_tree_model(&self) -> Option<String>;
    /// `MemTotal` of `/proc/meminfo`, in bytes.
    fn total_memory_bytes(&self) -> Option<u64>;
}

/// The real [`BoardProbe`]: reads `/proc/device-tree/model` and `/proc/meminfo`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcBoardProbe;

impl BoardProbe for ProcBoardProbe {
    fn device_tree_model(&self) -> Option<String> {
        model_below(Path::new("/"))
    }

    fn total_memory_bytes(&self) -> Option<u64> {
        memory_below(Path::new("/"))
    }
}

/// Largest `/proc` file read: `meminfo` is about 1.5 KiB, a model string a few dozen bytes.
const PROC_READ_MAX: u64 = 64 * 1024;

/// The device-tree model below `root` (`/`, or a fake tree in tests), trailing NULs removed.
pub(super) fn model_below(root: &Path) -> Option<String> {
    let text = read_below(root, "proc/device-tree/model")?;
    let model = text.trim_end_matches(['\0', '\n', ' ']).trim();
    (!model.is_empty()).then(|| model.to_owned())
}

/// `MemTotal` below `root` (`/`, or a fake tree in tests), in bytes.
pub(super) fn memory_below(root: &Path) -> Option<u64> {
    parse_meminfo(&read_below(root, "proc/meminfo")?)
}

fn read_below(root: &Path, relative: &str) -> Option<String> {
    let file = std::fs::File::open(root.join(relative)).ok()?;
    let mut bytes = Vec::new();
    file.take(PROC_READ_MAX).read_to_end(&mut bytes).ok()?;
    String::from_utf8(bytes).ok()
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
#[must_use]
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let kib: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") | None => kib.checked_mul(1024),
        Some(_) => None,
    }
}

/// Device-tree model substrings and their profiles, most specific first. The Pi 400 and 500
/// models start with "Raspberry Pi 4"/"Raspberry Pi 5" and so get those profiles.
const MODEL_PROFILES: &[(&str, &str)] = &[
    ("Raspberry Pi Zero 2", "rpi-zero-2w"),
    ("Raspberry Pi 3", "rpi-3"),
    ("Compute Module 3", "rpi-3"),
    ("Raspberry Pi 4", "rpi-4"),
    ("Compute Module 4", "rpi-4"),
    ("Raspberry Pi 5", "rpi-5"),
    ("Compute Module 5", "rpi-5"),
];

/// Picks the board profile of this machine (see the module docs of [`crate::config`] for the
/// rule).
///
/// # Panics
/// When an embedded profile is invalid, a build defect the unit tests catch.
#[must_use]
pub fn detect(probe: &dyn BoardProbe) -> (BoardProfile, BoardChoice) {
    let (name, choice) = detect_name(probe, cfg!(target_arch = "x86_64"));
    let profile = BoardProfile::builtin(name).expect("detect_name returns embedded profile names");
    (profile, choice)
}

/// The rule of [`detect`], with the architecture as an argument so both branches are tested.
pub(super) fn detect_name(probe: &dyn BoardProbe, x86_64: bool) -> (&'static str, BoardChoice) {
    let model = probe.device_tree_model();
    if let Some(model) = &model
        && let Some((_, name)) = MODEL_PROFILES.iter().find(|(m, _)| model.contains(m))
    {
        let why = format!("device-tree model {model:?}");
        return (name, BoardChoice::Detected { why });
    }
    let arch_default = if x86_64 {
        "x86_64-generic"
    } else {
        SMALLEST_BOARD
    };
    let Some(memory) = probe.total_memory_bytes() else {
        return (arch_default, BoardChoice::Default);
    };
    let seen = match &model {
        Some(model) => format!("device-tree model {model:?} (no profile of its own)"),
        None => "no device-tree model".to_owned(),
    };
    let arch = if x86_64 { " on x86_64" } else { "" };
    let why = format!("{seen}; {} RAM{arch}", human_bytes(memory));
    let name = if memory <= SMALL_BOARD_MEMORY {
        SMALLEST_BOARD
    } else if x86_64 {
        "x86_64-generic"
    } else if memory <= ONE_GIB_BOARD_MEMORY {
        "rpi-3"
    } else {
        "rpi-4"
    };
    (name, BoardChoice::Detected { why })
}

/// `427 MiB` below 1 GiB, `7.6 GiB` above.
fn human_bytes(bytes: u64) -> String {
    if bytes < GIB {
        format!("{} MiB", (bytes + MIB / 2) / MIB)
    } else {
        let tenths = (u128::from(bytes) * 10 + u128::from(GIB / 2)) / u128::from(GIB);
        format!("{}.{} GiB", tenths / 10, tenths % 10)
    }
}
