//! Every compile-time bound of the daemon, named, with the reason for its number. Bounds that
//! depend on the board live in `boards/*.toml` instead (see [`crate::config`]).

pub use crate::nostr::limits::*;

/// Longest the daemon waits for its loop to finish after SIGINT/SIGTERM before exiting anyway.
/// systemd's default stop timeout is 90 s; a clean stop is a commit and a few closes.
pub const SHUTDOWN_GRACE: core::time::Duration = core::time::Duration::from_secs(10);

/// Largest key file read (`node.key`, `owner.key`): a key is 64 hex chars or a 63-char nsec
/// plus a newline; anything far larger is not a key file.
pub const KEY_FILE_MAX: u64 = 1024;

/// Largest config file read: a full config is a few hundred bytes.
pub const CONFIG_FILE_MAX: u64 = 64 * 1024;

/// Largest `/status` request head accepted on the API port, and its read deadline. The head of
/// a `GET /status` is well under 1 KiB; a client slower than this is not a local client.
pub const STATUS_HEAD_MAX: usize = 8 * 1024;
/// See [`STATUS_HEAD_MAX`].
pub const STATUS_HEAD_TIMEOUT: core::time::Duration = core::time::Duration::from_secs(5);
