//! What a configuration error says: where the bad value came from (a file path, an environment
//! variable or a flag), the key, what was expected and what was got. The CLI maps every
//! [`ConfigError`] to exit code 2.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::Key;

/// Where one layer of configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A config file: `--config`, `NOSTRP2P_CONFIG` or the data dir's `config.toml`.
    File(PathBuf),
    /// The `NOSTRP2P_*` environment variables.
    Env,
    /// Command-line flags.
    Flags,
}

/// One key of one layer: what an error points at. Displays as `/etc/nostrp2p.toml: key
/// "listen"`, `environment NOSTRP2P_LISTEN` or `flag --listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The layer.
    pub origin: Origin,
    /// The key within it.
    pub key: Key,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File(path) => write!(f, "{}: key \"{}\"", path.display(), self.key.name()),
            Origin::Env => write!(f, "environment {}", self.key.env()),
            Origin::Flags => write!(f, "flag {}", self.key.flag()),
        }
    }
}

/// Why the configuration could not be resolved. Every message names the file, variable or flag
/// at fault, so the user knows what to edit.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value of the wrong type or form.
    #[error("{place}: expected {expected}, got {got}")]
    Invalid {
        /// Where the value was given.
        place: Place,
        /// What the key accepts.
        expected: String,
        /// What was given, quoted, or a description when the value must not be shown.
        got: String,
    },
    /// A key a config file may not hold (usually a typo).
    #[error("{}: unknown key {key:?} (known keys: {})", .path.display(), super::file_key_names())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key as written.
        key: String,
    },
    /// A `NOSTRP2P_*` environment variable this program does not read (usually a typo).
    #[error(
        "environment {var}: unknown variable (known: {})",
        super::env_var_names()
    )]
    UnknownEnv {
        /// The variable's name.
        var: String,
    },
    /// The file is not valid TOML.
    #[error("{}: TOML syntax error at line {line}, column {column}: {message}", .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// A config file named by `--config` or `NOSTRP2P_CONFIG` does not exist.
    #[error("config file {} (given by {given_by}) does not exist", .path.display())]
    NotFound {
        /// The path as given.
        path: PathBuf,
        /// `flag --config` or `environment NOSTRP2P_CONFIG`.
        given_by: String,
    },
    /// A config file exists but could not be read.
    #[error("cannot read config file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A config file larger than [`crate::limits::CONFIG_FILE_MAX`].
    #[error("{}: larger than {max} bytes; a config file is a few hundred bytes", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// A config file that is not UTF-8 text.
    #[error("{}: not UTF-8 text", .path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// The data dir's own `config.toml` sets `data_dir`, which decides where that file is read.
    #[error(
        "{}: key \"data_dir\" is not allowed in the data dir's own config.toml (it would move the \
         data dir away from the file that names it); use --data-dir, NOSTRP2P_DATA_DIR, or a file \
         given by --config",
        .path.display()
    )]
    DataDirInDataDirFile {
        /// The file.
        path: PathBuf,
    },
    /// No data dir was given and the environment names none.
    #[error(
        "no data dir: give --data-dir or NOSTRP2P_DATA_DIR (none of STATE_DIRECTORY, an absolute \
         XDG_DATA_HOME, or an absolute HOME is set)"
    )]
    NoDataDir,
    /// An embedded board profile failed to parse or validate: a build defect that the unit tests
    /// catch, reported rather than panicking.
    #[error("embedded board profile {name}: {problem}")]
    BadProfile {
        /// The profile's file name without `.toml`.
        name: String,
        /// What is wrong.
        problem: String,
    },
}
