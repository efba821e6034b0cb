//! The client API's LAN check from a public source address, on both ports (REST on P+1, the
//! websocket relay on P+2), in network namespaces (root group: runs with
//! `NOSTRP2P_ROOT_TESTS=1` and then fails, never skips, without the capability; DECISIONS.md 2).
//!
//! Two namespaces joined by a veth pair: the node's side 203.0.113.1, the client's 203.0.113.2
//! (TEST-NET-3, a public-range address routed only inside the pair). The node must answer the
//! client `403 forbidden: LAN only` on both ports (a websocket upgrade included) and still serve
//! loopback inside its own namespace.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn enabled() -> bool {
    let on = std::env::var("NOSTRP2P_ROOT_TESTS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("root group off: set NOSTRP2P_ROOT_TESTS=1 (scripts/test does, as root)");
    }
    on
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {} (root tests need CAP_NET_ADMIN)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces, deleted on drop (their veth ends go with them).
struct Pair {
    server: String,
    client: String,
}

impl Pair {
    fn new() -> Pair {
        let id = std::process::id() % 100_000;
        let pair = Pair {
            server: format!("np2p-rest-s{id}"),
            client: format!("np2p-rest-c{id}"),
        };
        let (vs, vc) = (format!("vrs{id}"), format!("vrc{id}"));
        ip(&["netns", "add", &pair.server]);
        ip(&["netns", "add", &pair.client]);
        ip(&[
            "link",
            "add",
            &vs,
            "netns",
            &pair.server,
            "type",
            "veth",
            "peer",
            "name",
            &vc,
            "netns",
            &pair.client,
        ]);
        for (ns, dev, addr) in [
            (&pair.server, &vs, "203.0.113.1/24"),
            (&pair.client, &vc, "203.0.113.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// The node inside a namespace, killed on drop.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `curl` inside `ns`: (status code, body).
fn curl(ns: &str, url: &str) -> (u16, String) {
    curl_with(ns, url, &[])
}

/// `curl` inside `ns` with these request headers: (status code, body).
fn curl_with(ns: &str, url: &str, headers: &[&str]) -> (u16, String) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "curl",
            "-s",
            "-m",
            "5",
            "-w",
            "\n%{http_code}",
        ])
        .args(headers.iter().flat_map(|h| ["-H", h]))
        .arg(url)
        .output()
        .expect("run curl (scripts/setup installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn a_public_source_gets_403_lan_only_on_both_ports_and_loopback_is_still_served() {
    if !enabled() {
        return;
    }
    let pair = Pair::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.server,
            env!("CARGO_BIN_EXE_nostrp2p"),
        ])
        .args(["server", "-l", "0.0.0.0:20000", "--data-dir"])
        .arg(dir.path())
        .env("HOME", dir.path())
        .env_remove("STATE_DIRECTORY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the node in its namespace");
    let stdout = child.stdout.take().expect("piped");
    let node = Node(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the node prints its banner within 20 s");
        if line.contains("Stop with") {
            break;
        }
    }

    let (code, body) = curl(&pair.client, "http://203.0.113.1:20001/status");
    assert_eq!(code, 403, "{body}");
    assert_eq!(body.trim(), "forbidden: LAN only");
    let (code, body) = curl(&pair.client, "http://203.0.113.1:20001/publish");
    assert_eq!((code, body.trim()), (403, "forbidden: LAN only"));

    let (code, body) = curl(&pair.server, "http://127.0.0.1:20001/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    assert_eq!(status["http"]["refused_not_lan"], 2, "{}", status["http"]);

    // The websocket port (P+2): NIP-11 and an upgrade from the public side are refused before
    // any upgrade; loopback is served.
    let nip11 = ["Accept: application/nostr+json"];
    let upgrade = [
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ];
    for headers in [&nip11[..], &upgrade[..]] {
        let (code, body) = curl_with(&pair.client, "http://203.0.113.1:20002/", headers);
        assert_eq!(
            (code, body.trim()),
            (403, "forbidden: LAN only"),
            "{headers:?}"
        );
    }
    let (code, body) = curl_with(&pair.server, "http://127.0.0.1:20002/", &nip11);
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("NIP-11 JSON");
    assert_eq!(doc["software"], "nostrp2p");
    let (_, body) = curl(&pair.server, "http://127.0.0.1:20001/status");
    let status: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    assert_eq!(status["ws"]["refused_not_lan"], 2, "{}", status["ws"]);
    drop(node);
    drop(pair);
}
