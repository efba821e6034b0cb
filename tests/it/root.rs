//! Tests that need root (mounts). They run when `NOSTRP2P_ROOT_TESTS=1` (scripts/test sets it
//! as root) and then fail, never skip, when a capability is missing (DECISIONS.md 2).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Server, server_once};

fn enabled() -> bool {
    let on = std::env::var("NOSTRP2P_ROOT_TESTS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("root group off: set NOSTRP2P_ROOT_TESTS=1 (scripts/test does, as root)");
    }
    on
}

/// A tmpfs mounted for one test, unmounted on drop (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, options: &str) -> Tmpfs {
        fs::create_dir_all(at).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "nostrp2p-test"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount -t tmpfs -o {options} failed: root tests need CAP_SYS_ADMIN"
        );
        Tmpfs(at.to_owned())
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {options} failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn read_only_data_dir_gives_one_clear_line_and_changes_nothing() {
    if !enabled() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mnt = tmp.path().join("mnt");
    let fs_ = Tmpfs::mount(&mnt, "size=4m,mode=0700");
    // A node that ran once, then its disk went read-only.
    let server = Server::start(&mnt, &[]);
    let owner = server.banner("owner");
    assert_eq!(server.stop("TERM").code(), Some(0));
    let before = fs::read(mnt.join("owner.key")).expect("owner.key");
    fs_.remount("ro");

    let out = server_once(&mnt, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("not writable") && err.contains(&mnt.display().to_string()),
        "{err}"
    );
    assert!(
        err.contains("Read-only file system"),
        "the OS reason is kept: {err}"
    );
    assert_eq!(fs::read(mnt.join("owner.key")).expect("kept"), before);

    // A data dir that would have to be created on the read-only disk.
    let out = server_once(&mnt.join("sub"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot create data dir") && err.contains("sub"),
        "{err}"
    );

    // Back to writable: the same identity comes back.
    fs_.remount("rw");
    let again = Server::start(&mnt, &[]);
    assert_eq!(again.banner("owner"), owner);
    assert_eq!(again.stop("TERM").code(), Some(0));
}
