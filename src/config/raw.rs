//! [`RawConfig`]: one layer of configuration as given, every field optional, and the readers
//! that make one from a TOML file or from `NOSTRP2P_*` environment variables.

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use super::{ConfigError, Key, Origin, Place};
use crate::limits::CONFIG_FILE_MAX;

/// Variables named `NOSTRP2P_*` that are not configuration and are therefore not refused as
/// unknown: the test harness and the simulator read them (DECISIONS.md 2, STYLE.md §9).
pub const ENV_NOT_CONFIG: &[&str] = &["NOSTRP2P_ROOT_TESTS", "NOSTRP2P_SIM_SEED"];

/// Prefix of every configuration variable.
const ENV_PREFIX: &str = "NOSTRP2P_";

/// One layer of configuration as given (a file, the environment or the flags): every field
/// optional, nothing checked beyond its type. [`super::resolve`] checks each layer, naming it in
/// errors, and merges them (file, then environment, then flags; a later layer wins).
///
/// A file is read with [`RawConfig::from_toml`]; deserializing with serde directly (as
/// `toml::from_str`) accepts the same keys, but its errors do not say what a key expects.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `host:port` of the mesh (UDP P); the API is on P+1, the websocket on P+2.
    pub listen: Option<String>,
    /// `host:port` of peers to join through; names are resolved by the daemon.
    pub boot_peers: Option<Vec<String>>,
    /// The owner's public key, `npub1…` or 64 hex.
    pub owner: Option<String>,
    /// Whether clients may publish (upstream's `-w`).
    pub writable: Option<bool>,
    /// Debug logging.
    pub debug: Option<bool>,
    /// Where keys, the database and the optional `config.toml` live.
    pub data_dir: Option<PathBuf>,
    /// Board profile name, or `auto` to detect it.
    pub board: Option<String>,
    /// TLS on the API and websocket ports.
    pub ssl: Option<bool>,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Authors besides the owner whose events clients may publish.
    pub writers: Option<Vec<String>>,
    /// Clients may publish valid events of any author.
    pub open_writes: Option<bool>,
    /// The API also answers 100.64.0.0/10.
    pub allow_cgnat: Option<bool>,
    /// The mesh's network id.
    pub network_id: Option<String>,
    /// `always` or `interval:<ms>`.
    pub store_sync: Option<String>,
}

impl RawConfig {
    /// Field by field, `later`'s value where it has one, else `self`'s. A list is replaced, not
    /// appended to: boot peers given on the command line replace those of the file.
    #[must_use]
    pub fn merge(self, later: RawConfig) -> RawConfig {
        RawConfig {
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

    /// Parses a config file's text; `path` is only named in errors. Refuses unknown keys, naming
    /// them, and values of the wrong type, saying what the key expects.
    pub fn from_toml(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim_end().to_owned(),
            }
        })?;
        let mut raw = RawConfig::default();
        for (name, value) in table {
            let unknown = || ConfigError::UnknownKey {
                path: path.to_owned(),
                key: name.clone(),
            };
            let key = Key::ALL
                .into_iter()
                .find(|k| k.name() == name && k.in_file())
                .ok_or_else(unknown)?;
            let place = Place {
                origin: Origin::File(path.to_owned()),
                key,
            };
            match key {
                Key::Listen => raw.listen = Some(toml_string(value, place)?),
                Key::BootPeers => raw.boot_peers = Some(toml_strings(value, place)?),
                Key::Owner => raw.owner = Some(toml_string(value, place)?),
                Key::Writable => raw.writable = Some(toml_bool(value, place)?),
                Key::Debug => raw.debug = Some(toml_bool(value, place)?),
                Key::DataDir => raw.data_dir = Some(toml_string(value, place)?.into()),
                Key::Board => raw.board = Some(toml_string(value, place)?),
                Key::Ssl => raw.ssl = Some(toml_bool(value, place)?),
                Key::TlsCert => raw.tls_cert = Some(toml_string(value, place)?.into()),
                Key::TlsKey => raw.tls_key = Some(toml_string(value, place)?.into()),
                Key::Writers => raw.writers = Some(toml_strings(value, place)?),
                Key::OpenWrites => raw.open_writes = Some(toml_bool(value, place)?),
                Key::AllowCgnat => raw.allow_cgnat = Some(toml_bool(value, place)?),
                Key::NetworkId => raw.network_id = Some(toml_string(value, place)?),
                Key::StoreSync => raw.store_sync = Some(toml_string(value, place)?),
                Key::Config => return Err(unknown()),
            }
        }
        Ok(raw)
    }
}

/// The `NOSTRP2P_*` layer: the configuration it sets, and `NOSTRP2P_CONFIG` apart.
#[derive(Debug, Default)]
pub(super) struct EnvLayer {
    pub raw: RawConfig,
    pub config_file: Option<PathBuf>,
}

/// Reads the `NOSTRP2P_*` variables of `env`. An unknown `NOSTRP2P_*` name is an error (a typo
/// in a systemd environment file would otherwise be ignored); an empty value counts as unset, so
/// an environment file may list every variable blank.
pub(super) fn env_layer(env: &[(String, String)]) -> Result<EnvLayer, ConfigError> {
    let mut layer = EnvLayer::default();
    for (name, value) in env {
        if !name.starts_with(ENV_PREFIX) || ENV_NOT_CONFIG.contains(&name.as_str()) {
            continue;
        }
        let key = Key::ALL
            .into_iter()
            .find(|k| k.env() == name)
            .ok_or_else(|| ConfigError::UnknownEnv { var: name.clone() })?;
        if value.is_empty() {
            continue;
        }
        let place = Place {
            origin: Origin::Env,
            key,
        };
        let raw = &mut layer.raw;
        match key {
            Key::Listen => raw.listen = Some(value.clone()),
            Key::BootPeers => raw.boot_peers = Some(vec![value.clone()]),
            Key::Owner => raw.owner = Some(value.clone()),
            Key::Writable => raw.writable = Some(env_bool(value, place)?),
            Key::Debug => raw.debug = Some(env_bool(value, place)?),
            Key::DataDir => raw.data_dir = Some(value.into()),
            Key::Board => raw.board = Some(value.clone()),
            Key::Ssl => raw.ssl = Some(env_bool(value, place)?),
            Key::TlsCert => raw.tls_cert = Some(value.into()),
            Key::TlsKey => raw.tls_key = Some(value.into()),
            Key::Writers => raw.writers = Some(vec![value.clone()]),
            Key::OpenWrites => raw.open_writes = Some(env_bool(value, place)?),
            Key::AllowCgnat => raw.allow_cgnat = Some(env_bool(value, place)?),
            Key::NetworkId => raw.network_id = Some(value.clone()),
            Key::StoreSync => raw.store_sync = Some(value.clone()),
            Key::Config => layer.config_file = Some(value.into()),
        }
    }
    Ok(layer)
}

/// Reads a config file of at most [`CONFIG_FILE_MAX`] bytes as UTF-8. `Ok(None)` when it does
/// not exist (or a path component is not a directory), so the caller decides whether that is an
/// error.
pub(super) fn read_file(path: &Path) -> Result<Option<String>, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        // A data dir that is a file is the daemon's error to report, with its own words.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(e) => return Err(read_err(e)),
    };
    let mut bytes = Vec::new();
    // One byte over the limit tells "too large" from "exactly at the limit".
    file.take(CONFIG_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > CONFIG_FILE_MAX {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            max: CONFIG_FILE_MAX,
        });
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| ConfigError::NotUtf8 {
            path: path.to_owned(),
        })
}

/// `true`/`false`/`1`/`0`, case-insensitive, as an environment variable may spell a boolean.
fn env_bool(value: &str, place: Place) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ConfigError::Invalid {
            place,
            expected: "true or false (or 1 or 0)".to_owned(),
            got: format!("{value:?}"),
        }),
    }
}

fn toml_string(value: toml::Value, place: Place) -> Result<String, ConfigError> {
    match value {
        toml::Value::String(s) => Ok(s),
        other => Err(wrong_type(place, "a string", &other)),
    }
}

fn toml_bool(value: toml::Value, place: Place) -> Result<bool, ConfigError> {
    match value {
        toml::Value::Boolean(b) => Ok(b),
        other => Err(wrong_type(place, "true or false", &other)),
    }
}

fn toml_strings(value: toml::Value, place: Place) -> Result<Vec<String>, ConfigError> {
    const EXPECTED: &str = "an array of \"host:port\" strings";
    let toml::Value::Array(items) = value else {
        return Err(wrong_type(place, EXPECTED, &value));
    };
    items
        .into_iter()
        .map(|item| match item {
            toml::Value::String(s) => Ok(s),
            other => Err(wrong_type(place.clone(), EXPECTED, &other)),
        })
        .collect()
}

fn wrong_type(place: Place, expected: &str, got: &toml::Value) -> ConfigError {
    ConfigError::Invalid {
        place,
        expected: expected.to_owned(),
        got: describe(got),
    }
}

/// A TOML value as an error shows it: scalars as written, containers by kind.
fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(a) => format!("an array of {} items", a.len()),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
