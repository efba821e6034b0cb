//! The data directory: created 0700, locked against a second daemon, and the key files in it.
//!
//! Key files are written once, atomically (a 0600 temporary file, fsync, rename, fsync of the
//! directory), and never overwritten: a key file that cannot be read or parsed stops start-up
//! with its path named, so a typo or a damaged SD card never costs anyone their identity.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::limits::KEY_FILE_MAX;
use crate::nostr::{Keys, nip19};

/// File names inside the data dir (ARCHITECTURE.md "Ports, files, configuration").
pub const NODE_KEY_FILE: &str = "node.key";
/// See [`NODE_KEY_FILE`].
pub const OWNER_KEY_FILE: &str = "owner.key";
/// Written at start with the bound addresses, removed at a clean stop; `nostrp2p status` reads it.
pub const RUNNING_FILE: &str = "running.json";
/// Held with an exclusive lock while a daemon runs on this directory.
pub const LOCK_FILE: &str = "daemon.lock";

/// Why the data dir or a key file could not be used. Each names the path.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data dir {path} exists but is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("cannot create data dir {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("data dir {path} is not writable: {source}")]
    NotWritable { path: PathBuf, source: io::Error },
    #[error("data dir {path} is in use by another nostrp2p daemon (lock {lock} is held)")]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot read key file {path}: {source}")]
    ReadKey { path: PathBuf, source: io::Error },
    #[error(
        "key file {path} is corrupt: {reason}; it is left untouched: restore it or move it away"
    )]
    CorruptKey { path: PathBuf, reason: String },
    #[error(
        "{path} already holds a different owner key; it is never overwritten: move it away first"
    )]
    OwnerKeyExists { path: PathBuf },
    #[error("cannot write key file {path}: {source}")]
    WriteKey { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    WriteFile { path: PathBuf, source: io::Error },
}

/// An opened, locked data dir. The lock is released when this is dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates `path` (mode 0700, parents as needed) when missing, checks that it is a writable
    /// directory, and takes the daemon lock.
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        match fs::metadata(path) {
            Ok(meta) if !meta.is_dir() => {
                return Err(DataDirError::NotADirectory {
                    path: path.to_owned(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(path)
                    .map_err(|source| DataDirError::Create {
                        path: path.to_owned(),
                        source,
                    })?;
            }
            Err(source) => {
                return Err(DataDirError::Create {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let lock_path = path.join(LOCK_FILE);
        // Opening the lock file for writing is also the writability check: it fails on a
        // read-only mount even for root, which ignores mode bits.
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|source| DataDirError::NotWritable {
                path: path.to_owned(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(DataDirError::Locked {
                    path: path.to_owned(),
                    lock: lock_path,
                });
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(DataDirError::NotWritable {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        Ok(Self {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The node key from `node.key`, generated with `fill` and stored when the file is absent.
    /// Returns the keys and whether they were created now.
    pub fn node_keys(&self, fill: impl FnMut(&mut [u8; 32])) -> Result<(Keys, bool), DataDirError> {
        self.load_or_create(NODE_KEY_FILE, fill, |k| {
            format!("{}\n", crate::nostr::hex::encode(&k.secret_bytes()))
        })
    }

    /// The owner key from `owner.key` (an nsec, or 64 hex), generated with `fill` and stored as
    /// an nsec when absent. Returns the keys and whether they were created now.
    pub fn owner_keys(
        &self,
        fill: impl FnMut(&mut [u8; 32]),
    ) -> Result<(Keys, bool), DataDirError> {
        self.load_or_create(OWNER_KEY_FILE, fill, |k| {
            format!("{}\n", nip19::encode_nsec(&k.secret_bytes()))
        })
    }

    /// The owner key if `owner.key` exists; `None` when it does not.
    pub fn existing_owner_keys(&self) -> Result<Option<Keys>, DataDirError> {
        let path = self.path.join(OWNER_KEY_FILE);
        match read_small(&path) {
            Ok(text) => parse_key(&path, &text).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DataDirError::ReadKey { path, source }),
        }
    }

    /// Stores `keys` as the owner key. Never replaces a different existing key: returns
    /// `Ok(false)` when the same key is already there, `OwnerKeyExists` when another is.
    pub fn import_owner_keys(&self, keys: &Keys) -> Result<bool, DataDirError> {
        let path = self.path.join(OWNER_KEY_FILE);
        if let Some(held) = self.existing_owner_keys()? {
            if held.public() == keys.public() {
                return Ok(false);
            }
            return Err(DataDirError::OwnerKeyExists { path });
        }
        let text = format!("{}\n", nip19::encode_nsec(&keys.secret_bytes()));
        write_new_secret(&path, text.as_bytes())
            .map_err(|source| DataDirError::WriteKey { path, source })?;
        Ok(true)
    }

    fn load_or_create(
        &self,
        name: &str,
        fill: impl FnMut(&mut [u8; 32]),
        render: impl Fn(&Keys) -> String,
    ) -> Result<(Keys, bool), DataDirError> {
        let path = self.path.join(name);
        match read_small(&path) {
            Ok(text) => return parse_key(&path, &text).map(|k| (k, false)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(DataDirError::ReadKey { path, source }),
        }
        let keys = Keys::generate(fill);
        write_new_secret(&path, render(&keys).as_bytes()).map_err(|source| {
            DataDirError::WriteKey {
                path: path.clone(),
                source,
            }
        })?;
        Ok((keys, true))
    }

    /// Writes (replacing) a small non-secret file atomically.
    pub fn write_file(&self, name: &str, contents: &[u8]) -> Result<PathBuf, DataDirError> {
        let path = self.path.join(name);
        let tmp = self.path.join(format!(".{name}.tmp"));
        let result = (|| {
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o644)
                .open(&tmp)?;
            f.write_all(contents)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        result.map_err(|source| DataDirError::WriteFile {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Removes a file written by [`DataDir::write_file`]; a missing file is fine.
    pub fn remove_file(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.path.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Reads a file of at most [`KEY_FILE_MAX`] bytes; a larger one reads as its first bytes, which
/// then fail to parse as a key.
fn read_small(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    File::open(path)?
        .take(KEY_FILE_MAX)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Parses a key file: one line holding an nsec or 64 lowercase hex characters.
fn parse_key(path: &Path, text: &str) -> Result<Keys, DataDirError> {
    let corrupt = |reason: String| DataDirError::CorruptKey {
        path: path.to_owned(),
        reason,
    };
    let line = text.trim();
    let secret = nip19::decode_secret(line)
        .map_err(|e| corrupt(format!("expected an nsec or 64 hex characters ({e})")))?;
    Keys::from_secret_bytes(secret).map_err(|e| corrupt(e.to_string()))
}

/// Creates `path` with `contents`, mode 0600, never replacing an existing file: written to a
/// temporary name, synced, linked into place with `create_new` semantics, then the directory
/// synced, so a crash leaves either no key file or a complete one.
fn write_new_secret(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp); // a leftover from a crash mid-write holds nothing acknowledged
    let mut f = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)?;
    f.set_permissions(fs::Permissions::from_mode(0o600))?; // umask cannot widen it, but be explicit
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    // hard_link fails with AlreadyExists instead of replacing, unlike rename.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    linked?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> impl FnMut(&mut [u8; 32]) {
        let mut n = 0u8;
        move |b| {
            n += 1;
            *b = [n; 32];
        }
    }

    #[test]
    fn creates_dir_and_keys_with_private_modes_and_reuses_them() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a/b/data");
        let dd = DataDir::open(&dir).expect("fresh dir opens");
        let mode = fs::metadata(&dir).expect("dir exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let (node, created) = dd.node_keys(counter()).expect("node key");
        assert!(created);
        let (owner, created) = dd.owner_keys(counter()).expect("owner key");
        assert!(created);
        for name in [NODE_KEY_FILE, OWNER_KEY_FILE] {
            let mode = fs::metadata(dir.join(name))
                .expect("key file")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
        let owner_text = fs::read_to_string(dir.join(OWNER_KEY_FILE)).expect("read");
        assert!(
            owner_text.starts_with("nsec1"),
            "owner.key holds an nsec: {owner_text}"
        );
        drop(dd);
        let dd = DataDir::open(&dir).expect("reopen");
        let (node2, created) = dd
            .node_keys(|_| panic!("must not generate"))
            .expect("node key");
        assert!(!created);
        assert_eq!(node2.public(), node.public());
        let owner2 = dd.existing_owner_keys().expect("read").expect("present");
        assert_eq!(owner2.public(), owner.public());
    }

    #[test]
    fn import_never_replaces_a_different_key() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dd = DataDir::open(tmp.path()).expect("open");
        let a = Keys::from_secret_bytes([5; 32]).expect("valid");
        let b = Keys::from_secret_bytes([6; 32]).expect("valid");
        assert!(dd.import_owner_keys(&a).expect("first import"));
        assert!(!dd.import_owner_keys(&a).expect("same key again"));
        let err = dd.import_owner_keys(&b).expect_err("different key");
        assert!(matches!(err, DataDirError::OwnerKeyExists { .. }), "{err}");
        let held = dd.existing_owner_keys().expect("read").expect("present");
        assert_eq!(held.public(), a.public());
        let mode = fs::metadata(tmp.path().join(OWNER_KEY_FILE))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let _first = DataDir::open(tmp.path()).expect("first");
        let err = DataDir::open(tmp.path()).expect_err("second open");
        assert!(matches!(err, DataDirError::Locked { .. }), "{err}");
    }

    #[test]
    fn a_file_in_place_of_the_dir_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("data");
        fs::write(&file, b"x").expect("write");
        let err = DataDir::open(&file).expect_err("a file");
        assert!(matches!(err, DataDirError::NotADirectory { .. }));
        assert!(err.to_string().contains(&file.display().to_string()));
    }

    #[test]
    fn corrupt_key_file_is_named_and_left_untouched() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dd = DataDir::open(tmp.path()).expect("open");
        let path = tmp.path().join(NODE_KEY_FILE);
        for junk in ["not a key\n", "", &"f".repeat(64), &"0".repeat(5000)] {
            fs::write(&path, junk).expect("write junk");
            let err = dd
                .node_keys(|_| panic!("must not generate"))
                .expect_err("corrupt");
            assert!(
                matches!(err, DataDirError::CorruptKey { .. }),
                "{junk:?}: {err}"
            );
            assert!(err.to_string().contains("node.key"));
            assert_eq!(fs::read_to_string(&path).expect("still there"), junk);
        }
    }
}
