//! The real binary: `genkey`, `server` start/stop/restart, `status`, and bad data dirs.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use nostrp2p::nostr::{Keys, PubKey, hex, nip19};

use crate::support::{Server, bin, http_get, server_once};

#[test]
fn genkey_prints_upstreams_eleven_lines_and_a_matching_pair() {
    let out = bin().arg("genkey").output().expect("run genkey");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 12, "11 lines and a final newline: {text:?}");
    assert_eq!(lines[0], "Secret Key:");
    assert_eq!(lines[2], "Secret Key (In Hex Representation): ");
    assert_eq!(lines[4], "Public Key:");
    assert_eq!(lines[6], "Public key (In Hex Representation): ");
    assert_eq!(lines[8], "");
    assert_eq!(lines[9], "Please keep the secret key secret.");
    assert_eq!(
        lines[10],
        "The key is used only at NostrP2P client as your identity."
    );
    assert_eq!(lines[11], "");
    let secret = nip19::decode_secret(lines[1]).expect("line 2 is an nsec");
    assert_eq!(hex::encode(&secret), lines[3], "nsec and secret hex agree");
    let public = nip19::decode_pubkey(lines[5]).expect("line 6 is an npub");
    assert!(lines[5].starts_with("npub1"));
    assert_eq!(public.to_hex(), lines[7], "npub and public hex agree");
    let keys = Keys::from_secret_bytes(secret).expect("valid secret");
    assert_eq!(
        keys.public(),
        public,
        "the public key belongs to the secret"
    );
    let again = bin().arg("genkey").output().expect("run genkey again");
    assert_ne!(again.stdout, text.as_bytes(), "each run draws a new key");
}

#[test]
fn server_first_start_creates_keys_serves_status_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    let owner = server.banner("owner");
    let node = server.banner("node id");
    let owner_pk: PubKey = nip19::decode_pubkey(&owner).expect("banner shows the owner npub");
    assert!(
        server.stdout.iter().any(|l| l.contains("owner.key")),
        "{:?}",
        server.stdout
    );
    assert!(
        server
            .banner("status")
            .contains(&format!("127.0.0.1:{}/status", server.port + 1))
    );
    let mode = |p: &str| fs::metadata(data.join(p)).expect(p).permissions().mode() & 0o777;
    assert_eq!(mode(""), 0o700, "data dir");
    assert_eq!(mode("node.key"), 0o600);
    assert_eq!(mode("owner.key"), 0o600);
    let owner_key = fs::read_to_string(data.join("owner.key")).expect("owner.key");
    let secret = nip19::decode_secret(owner_key.trim()).expect("owner.key holds an nsec");
    assert_eq!(
        Keys::from_secret_bytes(secret).expect("valid").public(),
        owner_pk
    );

    let (code, body) = http_get(server.api_addr(), "/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("status is JSON");
    assert_eq!(status["owner"], owner.as_str());
    assert_eq!(status["node_id"], node.as_str());
    assert_eq!(
        status["threads"], 8,
        "the loop, fjall's worker, tiny_http's accept thread and pool of 4, the REST bridge"
    );
    assert_eq!(status["store"]["events"], 0);
    assert!(data.join("db").is_dir(), "the store lives in DATA_DIR/db");
    assert_eq!(http_get(server.api_addr(), "/nope").0, 404);

    let out = bin()
        .args(["status", "--data-dir"])
        .arg(&data)
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "status failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&owner) && text.contains(&node), "{text}");

    let exit = server.stop("TERM");
    assert_eq!(exit.code(), Some(0), "clean exit on SIGTERM");
    assert!(
        !data.join("running.json").exists(),
        "running.json removed at a clean stop"
    );

    // A second start reuses both keys.
    let again = Server::start(&data, &[]);
    assert_eq!(again.banner("owner"), owner);
    assert_eq!(again.banner("node id"), node);
    assert_eq!(again.stop("INT").code(), Some(0), "clean exit on SIGINT");
}

#[test]
fn server_with_p_uses_that_owner_and_refuses_a_different_one_later() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let first = Server::start(&data, &[]);
    let generated = first.banner("owner");
    assert_eq!(first.stop("TERM").code(), Some(0));

    let other = Keys::from_secret_bytes([3; 32]).expect("valid").public();
    let out = server_once(&data, &["-p", &other.to_hex()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a conflicting owner is a usage error"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("owner.key") && err.contains(&generated),
        "{err}"
    );

    let fresh = tmp.path().join("fresh");
    let npub = nip19::encode_npub(&other);
    let server = Server::start(&fresh, &["-p", &npub]);
    assert_eq!(server.banner("owner"), npub);
    assert!(
        !fresh.join("owner.key").exists(),
        "with -p the node holds no owner secret"
    );
    assert_eq!(server.stop("TERM").code(), Some(0));
    // The store remembers whom the data dir serves: another -p is refused.
    let third = Keys::from_secret_bytes([4; 32]).expect("valid").public();
    let out = server_once(&fresh, &["-p", &third.to_hex()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("belongs to") && err.contains(&npub), "{err}");
}

#[test]
fn bad_data_dirs_fail_with_one_clear_line_and_touch_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("a-file");
    fs::write(&file, "x").expect("write");
    let out = server_once(&file, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a directory") && err.contains("a-file"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&file).expect("still there"), "x");

    let data = tmp.path().join("data");
    fs::create_dir(&data).expect("mkdir");
    fs::write(data.join("node.key"), "garbage\n").expect("write");
    let out = server_once(&data, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("node.key") && err.contains("corrupt"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_eq!(
        fs::read_to_string(data.join("node.key")).expect("kept"),
        "garbage\n"
    );
    assert!(
        !data.join("owner.key").exists(),
        "nothing created after the failure"
    );
}

#[test]
fn bad_config_values_exit_2_naming_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = bin()
        .args(["server", "-l", "0.0.0.0:65535", "--data-dir"])
        .arg(tmp.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen") && err.contains("65535"), "{err}");

    let cfg = tmp.path().join("bad.toml");
    fs::write(&cfg, "writable = \"sometimes\"\n").expect("write");
    let out = bin()
        .args(["server", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("writable"),
        "{err}"
    );

    let out = bin()
        .args(["server", "--data-dir"])
        .arg(tmp.path())
        .env("NOSTRP2P_WRITABLE", "yes please")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NOSTRP2P_WRITABLE"), "{err}");
}

#[test]
fn status_without_a_node_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = bin()
        .args(["status", "--data-dir"])
        .arg(tmp.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no running nostrp2p node") && err.contains("nostrp2p server"),
        "{err}"
    );
}

#[test]
fn help_and_version_work() {
    let out = bin().arg("--version").output().expect("run");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("nostrp2p {}", env!("CARGO_PKG_VERSION"))
    );
    let out = bin().args(["server", "--help"]).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen-addr-port",
        "--boot-peer-addr-port",
        "--public-key",
        "--writable",
        "--debug",
        "--data-dir",
        "--config",
        "--board",
    ] {
        assert!(text.contains(flag), "{flag} missing from help");
    }
    let out = bin().output().expect("run without arguments");
    assert_eq!(
        out.status.code(),
        Some(2),
        "no command: help on stderr, usage exit"
    );
}

#[test]
fn key_export_and_import_move_the_owner_key() {
    use std::io::Write;
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    let owner = server.banner("owner");
    assert_eq!(server.stop("TERM").code(), Some(0));

    let out = bin()
        .args(["key", "export", "--data-dir"])
        .arg(&data)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nsec = String::from_utf8(out.stdout).expect("utf-8");
    let secret = nip19::decode_secret(nsec.trim()).expect("an nsec");
    assert_eq!(
        nip19::encode_npub(&Keys::from_secret_bytes(secret).expect("valid").public()),
        owner
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning"),
        "exporting warns"
    );

    let import = |dir: &std::path::Path, input: &str| {
        let mut child = bin()
            .args(["key", "import", "--data-dir"])
            .arg(dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn import");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        child.wait_with_output().expect("wait")
    };
    // Into a fresh data dir: the next start serves that owner.
    let other = tmp.path().join("other");
    let out = import(&other, &nsec);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = Server::start(&other, &[]);
    assert_eq!(again.banner("owner"), owner);
    assert_eq!(again.stop("TERM").code(), Some(0));
    // A different key is refused and the existing one kept.
    let out = import(&other, &hex::encode(&[7u8; 32]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never overwritten"));
    let out = import(&other, "not a key");
    assert_eq!(out.status.code(), Some(2));
    let kept = fs::read_to_string(other.join("owner.key")).expect("kept");
    assert_eq!(kept.trim(), nsec.trim());
}

#[test]
fn store_check_reports_a_consistent_store_and_refuses_a_missing_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let out = bin()
        .args(["store", "check", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no event store"));
    let server = Server::start(&data, &[]);
    // While the node runs, the check refuses (the data dir is locked).
    let out = bin()
        .args(["store", "check", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
    assert_eq!(server.stop("TERM").code(), Some(0));
    let out = bin()
        .args(["store", "check", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("consistent") && text.contains("0 events"),
        "{text}"
    );
}
