//! Configuration: three layers of [`RawConfig`] resolved into one validated [`Config`], and the
//! embedded board profiles.
//!
//! # Layers and precedence
//!
//! A value may come from a TOML file, from a `NOSTRP2P_*` environment variable or from a flag;
//! **flags win over the environment, which wins over the file**, key by key. A list
//! (`boot_peers`) is replaced by a later layer, never appended to. Each layer is checked on its
//! own before the merge, so an error names the layer it is in (the file path, the variable or
//! the flag) even when a later layer would have overridden the bad value. Keys left unset take
//! the defaults below ([`DEFAULT_LISTEN`] and its siblings; [`Key::default_text`] for the
//! README table).
//!
//! # Environment
//!
//! Every key has a variable, `NOSTRP2P_` + the key in capitals (`NOSTRP2P_BOOT_PEERS`
//! comma-separated), plus `NOSTRP2P_CONFIG` for the file. Booleans are `true`/`false`/`1`/`0`.
//! An empty value counts as unset, so an environment file may list every variable blank. An
//! unknown `NOSTRP2P_*` variable is an error, so a typo in a systemd environment file is not
//! silently ignored; the test-only variables of [`ENV_NOT_CONFIG`] are let through. The
//! environment is an argument ([`from_process_env`] reads the real one), never read here.
//!
//! # Which file
//!
//! 1. `--config FILE`, else `NOSTRP2P_CONFIG`: that file, which must exist. It may set
//!    `data_dir`.
//! 2. Otherwise `<data dir>/config.toml` if it exists, the data dir being decided by the flags,
//!    the environment or the default. This file may not set `data_dir` (it would move the data
//!    dir away from the file that names it): an error says so.
//!
//! Files are at most [`crate::limits::CONFIG_FILE_MAX`] bytes of UTF-8 TOML; unknown keys are
//! errors. The default data dir is `$STATE_DIRECTORY` (systemd's `StateDirectory=`; of a
//! colon-separated list, the first), else `$XDG_DATA_HOME/nostrp2p` (when absolute, as the XDG
//! spec asks), else `$HOME/.local/share/nostrp2p`. Relative paths (data dir, TLS files, the
//! config file) are relative to the working directory, as upstream's `fullchain.pem` is; `~`
//! is not expanded, and a path starting with it is refused.
//!
//! # Values
//!
//! `listen` is an IP literal and port (`0.0.0.0:20000`, `[::]:20000`); `localhost` is accepted
//! as 127.0.0.1 and an empty host (`:20000`) as 0.0.0.0, as Go's `net.Listen` reads it; no other
//! name is resolved. The port P must be <= 65533 since P+1 and P+2 are used too. P = 0 asks the
//! OS to choose each of the three ports on its own (for tests; the node reports the ports it
//! got), so [`Config::api_addr`] and [`Config::ws_addr`] are port 0 too. A boot peer is
//! `host:port` with a DNS name or IP literal (IPv6 in brackets) and port 1..=65535; names are
//! resolved by the daemon, and every entry may itself be a comma-separated list. The owner is an
//! `npub1…` or 64 lowercase hex; an error never quotes it, since a secret key pasted by mistake
//! must not reach a log.
//!
//! # Boards
//!
//! `board` names one of [`BOARDS`] (embedded from `boards/*.toml`), or `auto`, the same as not
//! naming one: detection through a [`BoardProbe`] ([`ProcBoardProbe`] reads `/proc`), in this
//! order:
//! 1. the device-tree model: "Raspberry Pi Zero 2" → `rpi-zero-2w`, "Raspberry Pi 3" or "Compute
//!    Module 3" → `rpi-3`, "Raspberry Pi 4" (also the 400) or "Compute Module 4" → `rpi-4`,
//!    "Raspberry Pi 5" (also the 500) or "Compute Module 5" → `rpi-5`;
//! 2. otherwise total memory: at most 512 MiB → `armv7-router-256`, the smallest; above that,
//!    `x86_64-generic` on x86_64, and elsewhere the Pi profile an unknown board of that size can
//!    safely use: at most 1 GiB → `rpi-3`, more → `rpi-4` (never `rpi-5`, whose larger budgets
//!    assume a Pi 5's disk and CPU);
//! 3. memory unknown too: `x86_64-generic` on x86_64, else `armv7-router-256`
//!    ([`BoardChoice::Default`]).
//!
//! A profile's `target` is what to build for the board; detection uses only its numbers, so an
//! x86_64 machine with 512 MiB gets the router's budgets.
//!
//! This module does I/O only at its edge: reading the config file and, through the probe,
//! `/proc`. It reads no clock and draws no randomness.

mod addr;
mod board;
mod error;
mod raw;
#[cfg(test)]
mod tests;

use core::fmt;
use core::net::SocketAddr;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::nostr::PubKey;
use crate::nostr::nip19::decode_pubkey;

pub use addr::{LISTEN_PORT_MAX, PeerAddr, PeerAddrError};
pub use board::{
    BOARD_AUTO, BOARDS, BoardChoice, BoardProbe, BoardProfile, FJALL_JOURNAL_MIN, MEMORY_MIN,
    ONE_GIB_BOARD_MEMORY, ProcBoardProbe, RingTier, SMALL_BOARD_MEMORY, SMALLEST_BOARD,
    STORE_MIN_BYTES, WS_CONNECTIONS_CEILING, detect, parse_meminfo,
};
pub use error::{ConfigError, Origin, Place};
pub use raw::{ENV_NOT_CONFIG, RawConfig};

/// Default `listen`: every interface, mesh on UDP 20000, API on 20001, websocket on 20002.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:20000";
/// Default `writable`: the owner's clients may publish (upstream's `-w` default).
pub const DEFAULT_WRITABLE: bool = true;
/// Default `debug`: info-level logging.
pub const DEFAULT_DEBUG: bool = false;
/// Default `ssl`: plain HTTP and websocket on the LAN.
pub const DEFAULT_SSL: bool = false;
/// Default `tls_cert`, relative to the working directory as upstream reads it.
pub const DEFAULT_TLS_CERT: &str = "fullchain.pem";
/// Default `tls_key`, relative to the working directory as upstream reads it.
pub const DEFAULT_TLS_KEY: &str = "privkey.pem";
/// Name of the data dir below `$XDG_DATA_HOME` or `~/.local/share`.
pub const DATA_DIR_NAME: &str = "nostrp2p";
/// Name of the config file read from the data dir when no file is given.
pub const CONFIG_FILE_NAME: &str = "config.toml";
/// Default `network_id`: the public network (equal to the mesh's own default; a daemon test
/// checks).
pub const DEFAULT_NETWORK_ID: &str = "nostrp2p/mainnet/v1";
/// Most `writers`: each is checked on every client write; a household is a handful.
pub const WRITERS_MAX: usize = 64;
/// Longest `network_id`, in bytes.
pub const NETWORK_ID_MAX: usize = 64;
/// Most boot peers: more adds start-up DNS lookups and handshakes and no reach; the address book
/// remembers every peer met after the first join.
pub const BOOT_PEERS_MAX: usize = 64;

/// A configuration key, with its environment variable, flag, default and meaning: one table for
/// the parsers, the error messages and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// `listen`
    Listen,
    /// `boot_peers`
    BootPeers,
    /// `owner`
    Owner,
    /// `writable`
    Writable,
    /// `debug`
    Debug,
    /// `data_dir`
    DataDir,
    /// `board`
    Board,
    /// `ssl`
    Ssl,
    /// `tls_cert`
    TlsCert,
    /// `tls_key`
    TlsKey,
    /// `writers`
    Writers,
    /// `open_writes`
    OpenWrites,
    /// `allow_cgnat`
    AllowCgnat,
    /// `network_id`
    NetworkId,
    /// `store_sync`
    StoreSync,
    /// `config`: the file itself; a flag and a variable, never a file key.
    Config,
}

impl Key {
    /// Every key, in README order.
    pub const ALL: [Key; 16] = [
        Key::Listen,
        Key::BootPeers,
        Key::Owner,
        Key::Writable,
        Key::Debug,
        Key::DataDir,
        Key::Board,
        Key::Ssl,
        Key::TlsCert,
        Key::TlsKey,
        Key::Writers,
        Key::OpenWrites,
        Key::AllowCgnat,
        Key::NetworkId,
        Key::StoreSync,
        Key::Config,
    ];

    /// The key as written in a file.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Key::Listen => "listen",
            Key::BootPeers => "boot_peers",
            Key::Owner => "owner",
            Key::Writable => "writable",
            Key::Debug => "debug",
            Key::DataDir => "data_dir",
            Key::Board => "board",
            Key::Ssl => "ssl",
            Key::TlsCert => "tls_cert",
            Key::TlsKey => "tls_key",
            Key::Writers => "writers",
            Key::OpenWrites => "open_writes",
            Key::AllowCgnat => "allow_cgnat",
            Key::NetworkId => "network_id",
            Key::StoreSync => "store_sync",
            Key::Config => "config",
        }
    }

    /// Whether a config file may set it.
    #[must_use]
    pub const fn in_file(self) -> bool {
        !matches!(self, Key::Config)
    }

    /// Its environment variable.
    #[must_use]
    pub const fn env(self) -> &'static str {
        match self {
            Key::Listen => "NOSTRP2P_LISTEN",
            Key::BootPeers => "NOSTRP2P_BOOT_PEERS",
            Key::Owner => "NOSTRP2P_OWNER",
            Key::Writable => "NOSTRP2P_WRITABLE",
            Key::Debug => "NOSTRP2P_DEBUG",
            Key::DataDir => "NOSTRP2P_DATA_DIR",
            Key::Board => "NOSTRP2P_BOARD",
            Key::Ssl => "NOSTRP2P_SSL",
            Key::TlsCert => "NOSTRP2P_TLS_CERT",
            Key::TlsKey => "NOSTRP2P_TLS_KEY",
            Key::Writers => "NOSTRP2P_WRITERS",
            Key::OpenWrites => "NOSTRP2P_OPEN_WRITES",
            Key::AllowCgnat => "NOSTRP2P_ALLOW_CGNAT",
            Key::NetworkId => "NOSTRP2P_NETWORK_ID",
            Key::StoreSync => "NOSTRP2P_STORE_SYNC",
            Key::Config => "NOSTRP2P_CONFIG",
        }
    }

    /// Its flag as errors name it: upstream's short and long names where upstream has the flag.
    #[must_use]
    pub const fn flag(self) -> &'static str {
        match self {
            Key::Listen => "-l/--listen-addr-port",
            Key::BootPeers => "-b/--boot-peer-addr-port",
            Key::Owner => "-p/--public-key",
            Key::Writable => "-w/--writable",
            Key::Debug => "-d/--debug",
            Key::DataDir => "--data-dir",
            Key::Board => "--board",
            Key::Ssl => "-s/--ssl",
            Key::TlsCert => "--tls-cert",
            Key::TlsKey => "--tls-key",
            Key::Writers => "--writer",
            Key::OpenWrites => "--open-writes",
            Key::AllowCgnat => "--allow-cgnat",
            Key::NetworkId => "--network-id",
            Key::StoreSync => "--store-sync",
            Key::Config => "--config",
        }
    }

    /// Its default, as the README shows it.
    #[must_use]
    pub const fn default_text(self) -> &'static str {
        match self {
            Key::Listen => DEFAULT_LISTEN,
            Key::BootPeers => "none (the address book of earlier runs)",
            Key::Owner => "a key the node generates and keeps in `owner.key`",
            Key::Writable => "true",
            Key::Debug => "false",
            Key::DataDir => {
                "`$STATE_DIRECTORY`, else `$XDG_DATA_HOME/nostrp2p`, else `~/.local/share/nostrp2p`"
            }
            Key::Board => "detected (`auto`)",
            Key::Ssl => "false",
            Key::TlsCert => DEFAULT_TLS_CERT,
            Key::TlsKey => DEFAULT_TLS_KEY,
            Key::Writers => "none (only the owner)",
            Key::OpenWrites => "false",
            Key::AllowCgnat => "false",
            Key::NetworkId => DEFAULT_NETWORK_ID,
            Key::StoreSync => "always",
            Key::Config => "`<data_dir>/config.toml` when it exists",
        }
    }

    /// What it means, in one line.
    #[must_use]
    pub const fn meaning(self) -> &'static str {
        match self {
            Key::Listen => {
                "`host:P`: mesh on UDP P (TLS fallback on TCP P), HTTP API and web UI on P+1, \
                 websocket on P+2; P <= 65533 (0: the OS picks each port)"
            }
            Key::BootPeers => "peers to join through, `host:port` each (names allowed)",
            Key::Owner => "the owner's public key, `npub1…` or 64 hex",
            Key::Writable => "`false`: clients may not publish (REST 406, websocket `blocked:`)",
            Key::Debug => "debug logging",
            Key::DataDir => "keys, database, `config.toml`; created 0700",
            Key::Board => "board profile (memory, store and peer budgets), or `auto`",
            Key::Ssl => "HTTPS on P+1 and WSS on P+2 (ECDSA P-256/P-384, RSA or Ed25519 key)",
            Key::TlsCert => "TLS certificate chain (PEM), relative to the working directory",
            Key::TlsKey => "TLS private key (PEM), relative to the working directory",
            Key::Writers => "more authors whose events clients may publish, `npub1…` or hex each",
            Key::OpenWrites => {
                "`true`: clients may publish valid events of any author (a shared household \
                 node, benchmarks)"
            }
            Key::AllowCgnat => {
                "`true`: the API also answers 100.64.0.0/10 (Tailscale-style overlays); off since \
                 on a router it may be the WAN side"
            }
            Key::NetworkId => {
                "mesh network name: nodes with different ids cannot talk (labs and tests)"
            }
            Key::StoreSync => {
                "`always`: a client hears OK only once its event is fsynced; `interval:<ms>`: \
                 OK at once, fsync at most every <ms> (a crash loses up to that window)"
            }
            Key::Config => "the config file to read (must exist)",
        }
    }
}

/// The file keys, for the unknown-key error.
fn file_key_names() -> String {
    let names: Vec<_> = Key::ALL
        .into_iter()
        .filter(|k| k.in_file())
        .map(Key::name)
        .collect();
    names.join(", ")
}

/// The configuration variables, for the unknown-variable error.
fn env_var_names() -> String {
    Key::ALL.map(Key::env).join(", ")
}

/// The resolved configuration: every value checked, every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Mesh address (UDP P, TLS fallback on TCP P); port <= [`LISTEN_PORT_MAX`].
    pub listen: SocketAddr,
    /// Peers to join through, in the order given, duplicates removed.
    pub boot_peers: Vec<PeerAddr>,
    /// The owner's public key; `None`: the node generates (or keeps) an owner key.
    pub owner: Option<PubKey>,
    /// Whether clients may publish.
    pub writable: bool,
    /// Debug logging.
    pub debug: bool,
    /// The data dir (may be relative to the working directory when given so).
    pub data_dir: PathBuf,
    /// The board's budgets.
    pub board: BoardProfile,
    /// How [`Config::board`] was chosen, for the start-up log.
    pub board_choice: BoardChoice,
    /// TLS on the API and websocket ports: `Some` only when `ssl` is true. The files are not
    /// checked to exist here; the daemon reads them at start.
    pub tls: Option<TlsFiles>,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Authors besides the owner whose events clients may publish.
    pub writers: Vec<PubKey>,
    /// Clients may publish valid events of any author.
    pub open_writes: bool,
    /// The API also answers 100.64.0.0/10.
    pub allow_cgnat: bool,
    /// The mesh's network id (`mac1` key and Noise prologue).
    pub network_id: String,
    /// When the store fsyncs and clients hear their `OK`.
    pub store_sync: StoreSync,
}

/// When the store fsyncs, and so when a client hears that its event is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreSync {
    /// Every loop turn that wrote something ends with one fsync, and only then are its
    /// acknowledgements released: nothing acknowledged is ever lost (the default).
    Always,
    /// Acknowledge at once and fsync at most this often: fewer flushes on a slow card, and a
    /// crash (not a clean stop) loses up to this window of acknowledged events.
    Interval(core::time::Duration),
}

/// Longest `store_sync` interval: a minute of acknowledged events is as much as anyone should
/// be able to lose by configuration.
pub const STORE_SYNC_INTERVAL_MAX_MS: u64 = 60_000;

impl Config {
    /// HTTP API and web UI address: the listen IP, port P+1 (port 0 when P is 0: the OS
    /// chooses).
    #[must_use]
    pub fn api_addr(&self) -> SocketAddr {
        self.port_after(1)
    }

    /// Websocket address: the listen IP, port P+2 (port 0 when P is 0: the OS chooses).
    #[must_use]
    pub fn ws_addr(&self) -> SocketAddr {
        self.port_after(2)
    }

    fn port_after(&self, offset: u16) -> SocketAddr {
        let port = match self.listen.port() {
            0 => 0,
            p => p
                .checked_add(offset)
                .expect("listen port <= LISTEN_PORT_MAX = 65533, checked by resolve"),
        };
        SocketAddr::new(self.listen.ip(), port)
    }
}

/// TLS certificate chain and private key (PEM), relative to the working directory unless absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// The process environment as [`resolve`] takes it. Entries that are not UTF-8 are dropped
/// (so a non-UTF-8 `HOME` means no default data dir, not a mangled one), except `NOSTRP2P_*`
/// ones, kept with U+FFFD so their check fails visibly.
#[must_use]
pub fn from_process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(
            |(name, value)| match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => Some((name, value)),
                (Ok(name), Err(value)) if name.starts_with("NOSTRP2P_") => {
                    Some((name, value.to_string_lossy().into_owned()))
                }
                _ => None,
            },
        )
        .collect()
}

/// The default data dir from `env` (see the module docs), without the flags and variables that
/// override it: `$STATE_DIRECTORY`, else `$XDG_DATA_HOME/nostrp2p`, else
/// `$HOME/.local/share/nostrp2p`; `None` when none of them is usable.
#[must_use]
pub fn default_data_dir(env: &[(String, String)]) -> Option<PathBuf> {
    if let Some(dir) = state_directory(env) {
        return Some(dir);
    }
    if let Some(xdg) = env_var(env, "XDG_DATA_HOME").map(Path::new)
        && xdg.is_absolute()
    {
        return Some(xdg.join(DATA_DIR_NAME));
    }
    env_var(env, "HOME")
        .map(Path::new)
        .filter(|home| home.is_absolute())
        .map(|home| home.join(".local/share").join(DATA_DIR_NAME))
}

/// systemd's `$STATE_DIRECTORY` (set by `StateDirectory=`): of a colon-separated list, the first.
#[must_use]
pub fn state_directory(env: &[(String, String)]) -> Option<PathBuf> {
    env_var(env, "STATE_DIRECTORY")
        .and_then(|v| v.split(':').next())
        .filter(|first| !first.is_empty())
        .map(PathBuf::from)
}

/// A non-empty variable of `env`; a later entry wins, as in the `NOSTRP2P_*` layer.
fn env_var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Resolves the configuration: `flags` (from the CLI), `explicit_file` (`--config`), the
/// environment `env` (`NOSTRP2P_*`, `STATE_DIRECTORY`, `XDG_DATA_HOME`, `HOME`) and, when no
/// board is named, `probe`. See the module docs for the rules. Reads at most one config file.
pub fn resolve(
    flags: RawConfig,
    explicit_file: Option<PathBuf>,
    env: &[(String, String)],
    probe: &dyn BoardProbe,
) -> Result<Config, ConfigError> {
    let env_layer = raw::env_layer(env)?;
    let flags = Layer::check(Origin::Flags, flags)?;
    let from_env = Layer::check(Origin::Env, env_layer.raw)?;

    let explicit = match (explicit_file, env_layer.config_file) {
        (Some(path), _) => Some((path, Origin::Flags)),
        (None, Some(path)) => Some((path, Origin::Env)),
        (None, None) => None,
    };
    let file = match explicit {
        Some((path, given_by)) => {
            let text = raw::read_file(&path)?.ok_or_else(|| ConfigError::NotFound {
                path: path.clone(),
                given_by: Place {
                    origin: given_by,
                    key: Key::Config,
                }
                .to_string(),
            })?;
            let raw = RawConfig::from_toml(&path, &text)?;
            Some((Layer::check(Origin::File(path.clone()), raw)?, path))
        }
        None => {
            let dir = match flags.data_dir.as_ref().or(from_env.data_dir.as_ref()) {
                Some(dir) => dir.clone(),
                None => default_data_dir(env).ok_or(ConfigError::NoDataDir)?,
            };
            let path = dir.join(CONFIG_FILE_NAME);
            match raw::read_file(&path)? {
                None => None,
                Some(text) => {
                    let raw = RawConfig::from_toml(&path, &text)?;
                    if raw.data_dir.is_some() {
                        return Err(ConfigError::DataDirInDataDirFile { path });
                    }
                    Some((Layer::check(Origin::File(path.clone()), raw)?, path))
                }
            }
        }
    };
    let (merged, config_file) = match file {
        Some((layer, path)) => (layer.merge(from_env).merge(flags), Some(path)),
        None => (from_env.merge(flags), None),
    };

    let data_dir = match merged.data_dir {
        Some(dir) => dir,
        None => default_data_dir(env).ok_or(ConfigError::NoDataDir)?,
    };
    let (board_name, board_choice) = match merged.board {
        Some((BoardName::Named(name), place)) => (
            name,
            BoardChoice::Named {
                by: place.to_string(),
            },
        ),
        Some((BoardName::Auto, _)) | None => {
            board::detect_name(probe, cfg!(target_arch = "x86_64"))
        }
    };
    let board = board_profile(board_name)?;
    let listen = match merged.listen {
        Some(listen) => listen,
        None => {
            addr::parse_listen(DEFAULT_LISTEN).expect("DEFAULT_LISTEN is a valid listen address")
        }
    };
    let tls = merged.ssl.unwrap_or(DEFAULT_SSL).then(|| TlsFiles {
        cert: merged.tls_cert.unwrap_or_else(|| DEFAULT_TLS_CERT.into()),
        key: merged.tls_key.unwrap_or_else(|| DEFAULT_TLS_KEY.into()),
    });
    Ok(Config {
        listen,
        boot_peers: merged.boot_peers.unwrap_or_default(),
        owner: merged.owner,
        writable: merged.writable.unwrap_or(DEFAULT_WRITABLE),
        debug: merged.debug.unwrap_or(DEFAULT_DEBUG),
        data_dir,
        board,
        board_choice,
        tls,
        config_file,
        writers: merged.writers.unwrap_or_default(),
        open_writes: merged.open_writes.unwrap_or(false),
        allow_cgnat: merged.allow_cgnat.unwrap_or(false),
        network_id: merged
            .network_id
            .unwrap_or_else(|| DEFAULT_NETWORK_ID.to_owned()),
        store_sync: merged.store_sync.unwrap_or(StoreSync::Always),
    })
}

/// The embedded profile `name` (a name from [`BOARDS`]), parsed and validated.
fn board_profile(name: &str) -> Result<BoardProfile, ConfigError> {
    let (name, text) =
        BOARDS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ConfigError::BadProfile {
                name: name.to_owned(),
                problem: "no such embedded profile".to_owned(),
            })?;
    BoardProfile::parse(name, text)
}

/// A checked `board` value.
#[derive(Debug, Clone, Copy)]
enum BoardName {
    /// `auto`: detect.
    Auto,
    /// One of [`BOARDS`].
    Named(&'static str),
}

/// One layer with every value checked: what [`resolve`] merges.
#[derive(Debug, Default)]
struct Layer {
    listen: Option<SocketAddr>,
    boot_peers: Option<Vec<PeerAddr>>,
    owner: Option<PubKey>,
    writable: Option<bool>,
    debug: Option<bool>,
    data_dir: Option<PathBuf>,
    board: Option<(BoardName, Place)>,
    ssl: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    writers: Option<Vec<PubKey>>,
    open_writes: Option<bool>,
    allow_cgnat: Option<bool>,
    network_id: Option<String>,
    store_sync: Option<StoreSync>,
}

impl Layer {
    /// Checks every value `raw` holds, naming `origin` in errors.
    fn check(origin: Origin, raw: RawConfig) -> Result<Layer, ConfigError> {
        let place = |key| Place {
            origin: origin.clone(),
            key,
        };
        let invalid = |key, expected: &str, got: String| ConfigError::Invalid {
            place: place(key),
            expected: expected.to_owned(),
            got,
        };
        let listen = raw
            .listen
            .map(|s| {
                addr::parse_listen(&s)
                    .ok_or_else(|| invalid(Key::Listen, addr::LISTEN_EXPECTED, format!("{s:?}")))
            })
            .transpose()?;
        let boot_peers = raw
            .boot_peers
            .map(|entries| {
                let mut seen = BTreeSet::new();
                let mut peers = Vec::new();
                for item in entries.iter().flat_map(|e| e.split(',')).map(str::trim) {
                    if item.is_empty() {
                        continue;
                    }
                    let peer: PeerAddr = item.parse().map_err(|_| {
                        invalid(Key::BootPeers, addr::PEER_EXPECTED, format!("{item:?}"))
                    })?;
                    if seen.insert(peer.clone()) {
                        peers.push(peer);
                    }
                }
                if peers.len() > BOOT_PEERS_MAX {
                    return Err(invalid(
                        Key::BootPeers,
                        &format!("at most {BOOT_PEERS_MAX} boot peers"),
                        peers.len().to_string(),
                    ));
                }
                Ok(peers)
            })
            .transpose()?;
        let owner = raw
            .owner
            .map(|s| {
                decode_pubkey(&s).map_err(|e| {
                    // Never quote the value: a secret key pasted by mistake must not reach a log.
                    let got = if s.starts_with("nsec1") {
                        "an nsec, a secret key (give the npub of that key)".to_owned()
                    } else {
                        format!("a value refused as \"{e}\" (not shown, as it may be a secret key)")
                    };
                    invalid(Key::Owner, "an npub1… or 64 lowercase hex characters", got)
                })
            })
            .transpose()?;
        let board = raw
            .board
            .map(|s| {
                let name = if s == BOARD_AUTO {
                    BoardName::Auto
                } else {
                    let name = BoardProfile::names().find(|n| *n == s).ok_or_else(|| {
                        let names: Vec<_> = core::iter::once(BOARD_AUTO)
                            .chain(BoardProfile::names())
                            .collect();
                        invalid(
                            Key::Board,
                            &format!("a board name: {}", names.join(", ")),
                            format!("{s:?}"),
                        )
                    })?;
                    BoardName::Named(name)
                };
                Ok((name, place(Key::Board)))
            })
            .transpose()?;
        let writers = raw
            .writers
            .map(|entries| {
                let mut keys = Vec::new();
                for item in entries.iter().flat_map(|e| e.split(',')).map(str::trim) {
                    if item.is_empty() {
                        continue;
                    }
                    let key = decode_pubkey(item).map_err(|_| {
                        let got = if item.starts_with("nsec1") {
                            "an nsec, a secret key (give the npub of that key)".to_owned()
                        } else {
                            "a value that is not a public key (not shown)".to_owned()
                        };
                        invalid(Key::Writers, "npub1… or 64 lowercase hex each", got)
                    })?;
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                if keys.len() > WRITERS_MAX {
                    return Err(invalid(
                        Key::Writers,
                        &format!("at most {WRITERS_MAX} writers"),
                        keys.len().to_string(),
                    ));
                }
                Ok(keys)
            })
            .transpose()?;
        let network_id = raw
            .network_id
            .map(|s| {
                let ok = !s.is_empty()
                    && s.len() <= NETWORK_ID_MAX
                    && s.bytes().all(|b| b.is_ascii_graphic());
                if ok {
                    Ok(s)
                } else {
                    Err(invalid(
                        Key::NetworkId,
                        &format!("1 to {NETWORK_ID_MAX} printable ASCII characters, no spaces"),
                        format!("{s:?}"),
                    ))
                }
            })
            .transpose()?;
        let store_sync = raw
            .store_sync
            .map(|s| {
                parse_store_sync(&s).ok_or_else(|| {
                    invalid(
                        Key::StoreSync,
                        &format!(
                            "`always` or `interval:<ms>` with 1 <= ms <= {STORE_SYNC_INTERVAL_MAX_MS}"
                        ),
                        format!("{s:?}"),
                    )
                })
            })
            .transpose()?;
        let path = |key, p: Option<PathBuf>| p.map(|p| check_path(p, place(key))).transpose();
        Ok(Layer {
            store_sync,
            writers,
            open_writes: raw.open_writes,
            allow_cgnat: raw.allow_cgnat,
            network_id,
            listen,
            boot_peers,
            owner,
            writable: raw.writable,
            debug: raw.debug,
            data_dir: path(Key::DataDir, raw.data_dir)?,
            board,
            ssl: raw.ssl,
            tls_cert: path(Key::TlsCert, raw.tls_cert)?,
            tls_key: path(Key::TlsKey, raw.tls_key)?,
        })
    }

    /// Field by field, `later`'s value where it has one (as [`RawConfig::merge`]).
    fn merge(self, later: Layer) -> Layer {
        Layer {
            listen: later.listen.or(self.listen),
            boot_peers: later.boot_peers.or(self.boot_peers),
            owner: later.owner.or(self.owner),
            writable: later.writable.or(self.writable),
            debug: later.debug.or(self.debug),
            data_dir: later.data_dir.or(self.data_dir),
            board: later.board.or(self.board),
            ssl: later.ssl.or(self.ssl),
            tls_cert: later.tls_cert.or(self.tls_cert),
            tls_key: later.tls_key.or(self.tls_key),
            writers: later.writers.or(self.writers),
            open_writes: later.open_writes.or(self.open_writes),
            allow_cgnat: later.allow_cgnat.or(self.allow_cgnat),
            network_id: later.network_id.or(self.network_id),
            store_sync: later.store_sync.or(self.store_sync),
        }
    }
}

/// `always` or `interval:<ms>` (1 ≤ ms ≤ [`STORE_SYNC_INTERVAL_MAX_MS`]).
fn parse_store_sync(s: &str) -> Option<StoreSync> {
    if s == "always" {
        return Some(StoreSync::Always);
    }
    let ms: u64 = s.strip_prefix("interval:")?.parse().ok()?;
    (1..=STORE_SYNC_INTERVAL_MAX_MS)
        .contains(&ms)
        .then(|| StoreSync::Interval(core::time::Duration::from_millis(ms)))
}

/// A path must be non-empty and must not start with `~`, which nothing here expands.
fn check_path(path: PathBuf, place: Place) -> Result<PathBuf, ConfigError> {
    let text = path.to_string_lossy();
    let expected = if text.is_empty() {
        "a non-empty path"
    } else if text.starts_with('~') {
        "a path without ~ (it is not expanded; write the full path)"
    } else {
        return Ok(path);
    };
    Err(ConfigError::Invalid {
        place,
        expected: expected.to_owned(),
        got: format!("{text:?}"),
    })
}

impl fmt::Display for Config {
    /// A few lines for the start-up log: addresses, data dir, board and where it came from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = if self.tls.is_some() { " (TLS)" } else { "" };
        writeln!(
            f,
            "mesh {}, API {}{tls}, websocket {}{tls}",
            self.listen,
            self.api_addr(),
            self.ws_addr()
        )?;
        writeln!(f, "data dir {}", self.data_dir.display())?;
        if let Some(file) = &self.config_file {
            writeln!(f, "config file {}", file.display())?;
        }
        write!(f, "board {} ({})", self.board.name, self.board_choice)
    }
}

/// The README's table of keys: key, variable, flag, default, meaning.
#[must_use]
pub fn markdown_table() -> String {
    let mut table =
        String::from("| Key | Environment | Flag | Default | Meaning |\n|---|---|---|---|---|\n");
    for key in Key::ALL {
        let name = if key.in_file() {
            format!("`{}`", key.name())
        } else {
            "(none)".to_owned()
        };
        let default = match key.default_text() {
            d if d.contains('`') || d.contains(' ') => d.to_owned(),
            d => format!("`{d}`"),
        };
        table.push_str(&format!(
            "| {name} | `{}` | `{}` | {default} | {} |\n",
            key.env(),
            key.flag(),
            key.meaning()
        ));
    }
    table
}
