//! The systemd side: the notify protocol from the real binary, and the unit file verified by
//! systemd itself.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::Server;

/// READY=1 after start, WATCHDOG=1 repeatedly while idle (from the loop's timer), STOPPING=1
/// on SIGTERM, then exit 0.
#[test]
fn notify_socket_gets_ready_watchdog_and_stopping() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let server = Server::start_with_env(
        &tmp.path().join("data"),
        &[],
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().expect("utf-8 path")),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut messages: Vec<String> = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline
        && messages.iter().filter(|m| m.contains("WATCHDOG=1")).count() < 3
    {
        if let Ok(n) = sock.recv(&mut buf) {
            messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert!(
        messages.first().is_some_and(|m| m.contains("READY=1")),
        "READY first: {messages:?}"
    );
    let kicks = messages.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!(
        kicks >= 3,
        "an idle node keeps kicking the watchdog: {messages:?}"
    );
    let exit = server.stop("TERM");
    assert_eq!(exit.code(), Some(0));
    let mut rest = Vec::new();
    while let Ok(n) = sock.recv(&mut buf) {
        rest.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        rest.iter().any(|m| m.contains("STOPPING=1")),
        "STOPPING on SIGTERM: {rest:?}"
    );
}

/// `systemd-analyze verify` accepts the unit (with ExecStart pointed at the built binary, since
/// verify checks that the program exists).
#[test]
fn unit_file_passes_systemd_analyze_verify() {
    let unit = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("systemd/nostrp2p.service");
    let text = std::fs::read_to_string(&unit).expect("unit file");
    assert!(
        text.contains("Type=notify") && text.contains("WatchdogSec="),
        "notify + watchdog"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let copy = tmp.path().join("nostrp2p.service");
    let exec = format!("ExecStart={} server", env!("CARGO_BIN_EXE_nostrp2p"));
    std::fs::write(
        &copy,
        text.replace("ExecStart=/usr/bin/nostrp2p server", &exec),
    )
    .expect("write");
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze is installed (scripts/setup)");
    let err = String::from_utf8_lossy(&out.stderr);
    // Outside a booted systemd, verify may note that it cannot reach the manager; anything
    // about our unit is a failure.
    let about_unit: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("nostrp2p.service"))
        .collect();
    assert!(
        out.status.success() && about_unit.is_empty(),
        "verify: {err}"
    );
}
