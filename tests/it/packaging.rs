//! Packaging: the board's `MemoryMax=` drop-in, `scripts/install` into a temporary root, and the
//! `.deb` that `scripts/package-deb` builds, read back with `dpkg-deb`.
//!
//! The `.deb` test packages the test build of the host binary by default. With
//! `PACKAGING_DEB_TARGETS="<triple> ..."` (and `PACKAGING_DEB_PROFILE`, default `ci`) it packages
//! the cross binaries `scripts/build-cross` left in the target dir instead, and fails when one is
//! missing: `scripts/test` runs it that way for aarch64 and armv7 after the cross builds.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nostrp2p::config::BoardProfile;

use crate::support::bin;

/// Every embedded profile's drop-in sets `MemoryMax=` to that profile's `memory_max`; an
/// unknown board is a usage error.
#[test]
fn board_drop_in_sets_each_profiles_memory_max() {
    for name in BoardProfile::names() {
        let profile = BoardProfile::builtin(name).expect("embedded profile");
        let out = bin()
            .args(["board", "--board", name, "--systemd-drop-in"])
            .output()
            .expect("run nostrp2p board");
        let text = ok(&out, "nostrp2p board");
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let want = format!("MemoryMax={}", profile.memory_max);
        assert_eq!(lines, ["[Service]", want.as_str()], "{name}: {text}");
    }
    let out = bin()
        .args(["board", "--board", "no-such-board"])
        .output()
        .expect("run nostrp2p board");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// `scripts/install --root` twice gives the same tree (and keeps an edited env file), with the
/// modes a system install needs; `--uninstall` keeps the data and settings, `--purge` not.
#[test]
fn install_script_into_a_temporary_root_is_idempotent_and_uninstalls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let install = |extra: &[&str]| {
        let out = Command::new(repo().join("scripts/install"))
            .arg("--root")
            .arg(&root)
            .args(extra)
            .output()
            .expect("run scripts/install");
        ok(&out, "scripts/install");
    };
    // A copy: a concurrent build may replace the original between the two installs.
    let copy = tmp.path().join("nostrp2p");
    std::fs::copy(env!("CARGO_BIN_EXE_nostrp2p"), &copy).expect("copy binary");
    let binary = copy.to_str().expect("utf-8 temp path");
    install(&["--binary", binary, "--board", "rpi-zero-2w"]);
    let first = snapshot(&root);
    assert_eq!(
        mode_and_text(&first, "usr/local/bin/nostrp2p").0,
        0o755,
        "{first:?}"
    );
    let (unit_mode, unit) = mode_and_text(&first, "etc/systemd/system/nostrp2p.service");
    assert_eq!(unit_mode, 0o644);
    assert!(
        unit.contains("\nExecStart=/usr/local/bin/nostrp2p server\n"),
        "{unit}"
    );
    let (env_mode, env_file) = mode_and_text(&first, "etc/default/nostrp2p");
    assert_eq!(env_mode, 0o644);
    assert_eq!(
        env_file,
        std::fs::read_to_string(repo().join("systemd/nostrp2p.default")).expect("env file")
    );
    let (dropin_mode, dropin) = mode_and_text(
        &first,
        "etc/systemd/system/nostrp2p.service.d/50-memory-max.conf",
    );
    assert_eq!(dropin_mode, 0o644);
    let zero = BoardProfile::builtin("rpi-zero-2w").expect("profile");
    assert!(
        dropin.contains(&format!("\nMemoryMax={}\n", zero.memory_max)),
        "{dropin}"
    );
    // Nothing else: no data dir (systemd makes it), no stray temporary files.
    let files: Vec<&String> = first.keys().filter(|p| !first[*p].1.is_empty()).collect();
    assert_eq!(files.len(), 4, "{files:?}");

    install(&["--binary", binary, "--board", "rpi-zero-2w"]);
    assert_eq!(snapshot(&root), first, "a second install changes nothing");

    // Your settings survive a reinstall, and NOSTRP2P_BOARD in them picks the cap.
    let env_path = root.join("etc/default/nostrp2p");
    std::fs::write(&env_path, "NOSTRP2P_BOARD=rpi-5\n").expect("edit env file");
    install(&["--binary", binary]);
    assert_eq!(
        std::fs::read_to_string(&env_path).expect("env file"),
        "NOSTRP2P_BOARD=rpi-5\n"
    );
    let rpi5 = BoardProfile::builtin("rpi-5").expect("profile");
    let dropin = std::fs::read_to_string(
        root.join("etc/systemd/system/nostrp2p.service.d/50-memory-max.conf"),
    )
    .expect("drop-in");
    assert!(
        dropin.contains(&format!("\nMemoryMax={}\n", rpi5.memory_max)),
        "{dropin}"
    );

    // The data dir as systemd leaves it under DynamicUser=yes.
    let private = root.join("var/lib/private/nostrp2p");
    std::fs::create_dir_all(&private).expect("data dir");
    std::fs::write(private.join("owner.key"), "nsec1...").expect("key");
    std::os::unix::fs::symlink("private/nostrp2p", root.join("var/lib/nostrp2p")).expect("link");

    install(&["--uninstall"]);
    for gone in [
        "usr/local/bin/nostrp2p",
        "etc/systemd/system/nostrp2p.service",
        "etc/systemd/system/nostrp2p.service.d",
    ] {
        assert!(!root.join(gone).exists(), "{gone} removed");
    }
    assert!(env_path.exists(), "settings kept");
    assert!(
        root.join("var/lib/nostrp2p/owner.key").exists(),
        "data kept"
    );

    install(&["--uninstall", "--purge"]);
    assert!(!env_path.exists(), "settings purged");
    assert!(!private.exists(), "data purged");
    assert!(
        std::fs::symlink_metadata(root.join("var/lib/nostrp2p")).is_err(),
        "data link purged"
    );
}

/// The `.deb`: control fields, file list with owners and modes, the conffile, the maintainer
/// scripts (executable, valid `sh`), and the binary it was built from.
#[test]
fn deb_has_its_metadata_contents_and_maintainer_scripts() {
    if let Ok(targets) = std::env::var("PACKAGING_DEB_TARGETS") {
        let profile = std::env::var("PACKAGING_DEB_PROFILE").unwrap_or_else(|_| "ci".to_owned());
        for target in targets.split_whitespace() {
            let tmp = tempfile::tempdir().expect("tempdir");
            let binary = target_dir().join(target).join(&profile).join("nostrp2p");
            let args = ["--no-build", "--profile", &profile, target].map(str::to_owned);
            check_deb(tmp.path(), target, &binary, &args);
        }
        return;
    }
    // A copy: a concurrent build may replace the original while the test runs.
    let tmp = tempfile::tempdir().expect("tempdir");
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let binary = tmp.path().join("nostrp2p");
    std::fs::copy(env!("CARGO_BIN_EXE_nostrp2p"), &binary).expect("copy binary");
    let args = [
        "--fast",
        "--binary",
        binary.to_str().expect("utf-8 temp path"),
        &target,
    ]
    .map(str::to_owned);
    check_deb(tmp.path(), &target, &binary, &args);
}

/// Builds the `.deb` of `target` into `dir` with `scripts/package-deb ARGS`, where `binary` is
/// the file it should package, and reads it back.
fn check_deb(dir: &Path, target: &str, binary: &Path, args: &[String]) {
    let out = Command::new(repo().join("scripts/package-deb"))
        .env("CARGO_TARGET_DIR", target_dir())
        .arg("--out")
        .arg(dir)
        .args(args)
        .output()
        .expect("run scripts/package-deb");
    let deb = PathBuf::from(ok(&out, "scripts/package-deb").trim());

    let (arch, machine) = match target.split('-').next() {
        Some("aarch64") => ("arm64", "AArch64"),
        Some("armv7") => ("armhf", "ARM"),
        Some("x86_64") => ("amd64", "Advanced Micro Devices X86-64"),
        other => panic!("no expectation for {other:?}"),
    };
    let version = format!("{}-1", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        deb.file_name().and_then(|n| n.to_str()),
        Some(format!("nostrp2p_{version}_{arch}.deb").as_str())
    );
    let field = |name: &str| {
        let out = Command::new("dpkg-deb")
            .arg("-f")
            .arg(&deb)
            .arg(name)
            .output()
            .expect("dpkg-deb -f");
        ok(&out, "dpkg-deb -f").trim().to_owned()
    };
    assert_eq!(field("Package"), "nostrp2p");
    assert_eq!(field("Version"), version);
    assert_eq!(field("Architecture"), arch);
    assert_eq!(field("Section"), "net");
    assert!(field("Maintainer").contains('<'), "Name <address>");
    let depends = field("Depends");
    if target.contains("musl") {
        assert_eq!(depends, "", "a static binary depends on nothing");
    } else {
        assert!(depends.contains("libc6 (>= 2."), "{depends}");
    }

    // Contents: exactly these files, root-owned, with these modes.
    let out = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .expect("dpkg-deb -c");
    let listing = ok(&out, "dpkg-deb -c");
    let files: BTreeMap<&str, &str> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cols.get(1), Some(&"root/root"), "{l}");
            (*cols.last().expect("path"), cols[0])
        })
        .collect();
    let want: BTreeMap<&str, &str> = [
        ("./usr/bin/nostrp2p", "-rwxr-xr-x"),
        ("./lib/systemd/system/nostrp2p.service", "-rw-r--r--"),
        ("./etc/default/nostrp2p", "-rw-r--r--"),
        ("./usr/share/doc/nostrp2p/README.md", "-rw-r--r--"),
        ("./usr/share/doc/nostrp2p/copyright", "-rw-r--r--"),
    ]
    .into_iter()
    .collect();
    assert_eq!(files, want, "{listing}");

    // Control area: conffile and maintainer scripts as in debian/.
    let control = dir.join("control");
    let out = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(&control)
        .output()
        .expect("dpkg-deb -e");
    ok(&out, "dpkg-deb -e");
    assert_eq!(
        std::fs::read_to_string(control.join("conffiles")).expect("conffiles"),
        "/etc/default/nostrp2p\n"
    );
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.join(script);
        let mode = std::fs::metadata(&path).expect(script).permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{script}");
        assert_eq!(
            std::fs::read(&path).expect(script),
            std::fs::read(repo().join("debian").join(script)).expect(script)
        );
        let out = Command::new("sh")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("sh -n");
        ok(&out, script);
    }
    let postinst = std::fs::read_to_string(control.join("postinst")).expect("postinst");
    assert!(
        postinst.contains("deb-systemd-helper enable") && postinst.contains("board"),
        "postinst enables the unit and writes the memory drop-in"
    );

    // Payload: the unit as in systemd/, and the very binary that was packaged.
    let payload = dir.join("payload");
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&payload)
        .output()
        .expect("dpkg-deb -x");
    ok(&out, "dpkg-deb -x");
    assert_eq!(
        std::fs::read(payload.join("lib/systemd/system/nostrp2p.service")).expect("unit"),
        std::fs::read(repo().join("systemd/nostrp2p.service")).expect("unit")
    );
    let packaged = payload.join("usr/bin/nostrp2p");
    assert!(
        std::fs::read(&packaged).expect("binary") == std::fs::read(binary).expect("binary"),
        "the .deb holds {}",
        binary.display()
    );
    let out = Command::new("readelf")
        .arg("-h")
        .arg(&packaged)
        .output()
        .expect("readelf");
    let header = ok(&out, "readelf -h");
    assert!(header.contains(machine), "{target}: {header}");
}

/// Standard output of a command that must have succeeded; its output in the message if not.
fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$CARGO_TARGET_DIR` as this test was built with: the binary is `<dir>/<profile>/nostrp2p`.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_nostrp2p"))
        .parent()
        .and_then(Path::parent)
        .expect("binary under <target dir>/<profile>/")
        .to_owned()
}

/// Path below `root` → (mode, content; empty for directories, the target for symlinks).
fn snapshot(root: &Path) -> BTreeMap<String, (u32, String)> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let rel = path
                .strip_prefix(root)
                .expect("below root")
                .display()
                .to_string();
            let mode = meta.permissions().mode() & 0o7777;
            let content = if meta.is_dir() {
                dirs.push(path);
                String::new()
            } else if meta.file_type().is_symlink() {
                std::fs::read_link(&path)
                    .expect("link")
                    .display()
                    .to_string()
            } else {
                // Binaries compared by length and a cheap checksum, text as it is.
                let bytes = std::fs::read(&path).expect("read");
                String::from_utf8(bytes.clone()).unwrap_or_else(|_| {
                    let sum = bytes
                        .iter()
                        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
                    format!("{} bytes, sum {sum:016x}", bytes.len())
                })
            };
            out.insert(rel, (mode, content));
        }
    }
    out
}

fn mode_and_text(tree: &BTreeMap<String, (u32, String)>, path: &str) -> (u32, String) {
    tree.get(path)
        .cloned()
        .unwrap_or_else(|| panic!("{path} installed: {:?}", tree.keys()))
}
