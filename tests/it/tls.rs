//! The mesh's TLS fallback in the real binary: a node whose UDP sends all vanish (the
//! test-only `TEST_NOSTRP2P_DROP_UDP=1`, standing in for a network that drops UDP) still gets
//! a session with its boot peer, over a TLS link to the peer's TCP port P. In the root group
//! (`NOSTRP2P_ROOT_TESTS=1`) the same with the kernel dropping the UDP: both daemons in a
//! network namespace whose iptables drops every UDP packet. And the per-source limit on
//! accepted links: one address cannot take every slot on TCP P.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::mesh::{mesh_status, wait_for_peer};
use crate::support::Server;

#[test]
fn a_node_without_udp_reaches_its_boot_peer_over_tls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let public = Server::start(&tmp.path().join("public"), &[]);
    let boot = format!("127.0.0.1:{}", public.port);
    let started = Instant::now();
    let blocked = Server::start_with_env(
        &tmp.path().join("blocked"),
        &["-b", &boot],
        &[("TEST_NOSTRP2P_DROP_UDP", "1")],
    );
    let (public_id, blocked_id) = (public.banner("node id"), blocked.banner("node id"));

    let seen_by_blocked = wait_for_peer(&blocked, &public_id, Duration::from_secs(20));
    let took = started.elapsed();
    assert_eq!(seen_by_blocked["path"], "tls", "{seen_by_blocked}");
    assert_eq!(seen_by_blocked["addr"], boot.as_str());
    let seen_by_public = wait_for_peer(&public, &blocked_id, Duration::from_secs(10));
    assert_eq!(seen_by_public["path"], "tls", "{seen_by_public}");
    eprintln!("session over tls {took:?} after the blocked node started");

    // Membership runs over the link: the boot peer takes the blocked node as a neighbour.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mesh = mesh_status(&public);
        let active = mesh["peer_list"]
            .as_array()
            .and_then(|l| l.iter().find(|p| p["node_id"] == blocked_id.as_str()))
            .is_some_and(|p| p["active"] == true);
        if active {
            break;
        }
        assert!(Instant::now() < deadline, "not an active neighbour: {mesh}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let (mb, mp) = (mesh_status(&blocked), mesh_status(&public));
    assert_eq!(
        mb["datagrams_sent"], 0,
        "no UDP left the blocked node: {mb}"
    );
    assert!(mb["udp_dropped_for_test"].as_u64().unwrap_or(0) > 0, "{mb}");
    assert_eq!(mb["tls"]["dialled"], 1, "{mb}");
    assert!(
        mb["tls"]["datagrams_sent"].as_u64().unwrap_or(0) >= 2,
        "{mb}"
    );
    assert!(
        mb["tls"]["datagrams_received"].as_u64().unwrap_or(0) >= 2,
        "{mb}"
    );
    assert_eq!(mp["tls"]["accepted"], 1, "{mp}");
    assert_eq!(mp["tls"]["links"], 1, "{mp}");
    assert_eq!(mp["forged_identity"], 0);

    assert_eq!(blocked.stop("TERM").code(), Some(0));
    // The link closes with its dialler, and the boot peer ends the session with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mesh = mesh_status(&public);
        if mesh["tls"]["links"] == 0 && mesh["peers"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "link or session left: {mesh}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(public.stop("TERM").code(), Some(0));
}

/// A TCP connection to `to` from the loopback address `from` (any 127.0.0.0/8 address is
/// local on Linux, and a different source IP to the node).
fn connect_from(from: [u8; 4], to: std::net::SocketAddr) -> std::net::TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind((std::net::Ipv4Addr::from(from), 0).into())
            .expect("bind the source address");
        let stream = socket.connect(to).await.expect("connect");
        let stream = stream.into_std().expect("into std");
        stream.set_nonblocking(false).expect("blocking");
        stream
    })
}

/// Whether the node closed `stream` (EOF or reset) within `limit`; `false` when it is still
/// open (the read timed out: the node waits for our TLS ClientHello).
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn one_address_cannot_take_every_tls_slot() {
    // `TLS_LINKS_PER_SOURCE` and `TLS_LINKS_MAX` in src/daemon/tls.rs.
    const PER_SOURCE: usize = 2;
    const TRIES: usize = 6;
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = Server::start(&tmp.path().join("node"), &[]);
    let tcp_p = std::net::SocketAddr::from(([127, 0, 0, 1], node.port));
    // Connections that never send a ClientHello: each holds its slot until the handshake
    // timeout, as a flood would.
    let mut from_one: Vec<_> = (0..TRIES)
        .map(|_| connect_from([127, 0, 0, 1], tcp_p))
        .collect();
    let mut other = connect_from([127, 0, 0, 2], tcp_p);
    let closed: Vec<bool> = from_one
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(500)))
        .collect();
    assert_eq!(
        closed.iter().filter(|c| !**c).count(),
        PER_SOURCE,
        "{closed:?}"
    );
    assert!(
        !closed_within(&mut other, Duration::from_millis(300)),
        "the second address was refused"
    );
    let mesh = mesh_status(&node);
    let tls = &mesh["tls"];
    assert_eq!(tls["links"], PER_SOURCE + 1, "{tls}");
    assert_eq!(tls["accepted"], PER_SOURCE + 1, "{tls}");
    assert_eq!(tls["refused_source_links"], TRIES - PER_SOURCE, "{tls}");
    assert_eq!(tls["refused_source_rate"], 0, "{tls}");
    assert_eq!(tls["refused_full"], 0, "{tls}");
    drop((from_one, other));
    assert_eq!(node.stop("TERM").code(), Some(0));
}

/// The root group's gate (as in `root.rs`): on with `NOSTRP2P_ROOT_TESTS=1`, and then a
/// missing capability fails the test rather than skipping it (DECISIONS.md 2).
fn root_enabled() -> bool {
    let on = std::env::var("NOSTRP2P_ROOT_TESTS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("root group off: set NOSTRP2P_ROOT_TESTS=1 (scripts/test does, as root)");
    }
    on
}

/// A network namespace whose OUTPUT chain drops all UDP, with the daemons started in it;
/// the daemons are killed and the namespace deleted on drop (also when the test fails).
struct NoUdpNetns {
    name: String,
    children: Vec<Child>,
}

impl NoUdpNetns {
    fn create() -> Self {
        let name = format!("np2p-tls-{}", std::process::id());
        let ns = Self {
            name,
            children: Vec::new(),
        };
        ns.sh(&["ip", "netns", "add", &ns.name]);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns.exec(&["iptables", "-A", "OUTPUT", "-p", "udp", "-j", "DROP"]);
        ns
    }

    fn sh(&self, argv: &[&str]) {
        let status = Command::new(argv[0])
            .args(&argv[1..])
            .status()
            .unwrap_or_else(|e| panic!("run {argv:?}: {e}"));
        assert!(
            status.success(),
            "{argv:?} failed: root tests need CAP_NET_ADMIN and iptables"
        );
    }

    fn exec(&self, argv: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(argv);
        self.sh(&full);
    }

    /// Starts `nostrp2p server -l 127.0.0.1:PORT --data-dir DIR extra…` inside the namespace
    /// (`ip netns exec` execs, so the child is the daemon itself).
    fn start(&mut self, dir: &Path, port: u16, extra: &[&str]) {
        let out = std::fs::File::create(dir.with_extension("out")).expect("log file");
        let err = std::fs::File::create(dir.with_extension("err")).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, env!("CARGO_BIN_EXE_nostrp2p")])
            .args(["server", "-l", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("HOME", dir)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn server in the namespace");
        self.children.push(child);
    }

    /// The `"mesh"` section of `/status` of the node whose API is on PORT+1 in the namespace,
    /// or `None` while it does not answer.
    fn mesh_status(&self, port: u16) -> Option<serde_json::Value> {
        let script = format!(
            "import urllib.request as u; print(u.urlopen('http://127.0.0.1:{}/status', timeout=2).read().decode())",
            port + 1
        );
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "python3", "-c", &script])
            .stderr(Stdio::null())
            .output()
            .expect("run python3 in the namespace");
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(status["mesh"].clone())
    }

    /// Waits (bounded) until the node on PORT lists a peer; returns that peer's entry.
    fn wait_for_a_peer(&self, port: u16, limit: Duration) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let mesh = self.mesh_status(port);
            if let Some(peer) = mesh
                .as_ref()
                .and_then(|m| m["peer_list"].as_array())
                .and_then(|l| l.first())
            {
                return peer.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no session within {limit:?}: {mesh:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for NoUdpNetns {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn with_the_kernel_dropping_all_udp_the_session_comes_up_over_tls() {
    if !root_enabled() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ns = NoUdpNetns::create();
    // The namespace has its own ports: fixed numbers clash with nothing.
    let (public, blocked) = (20_000, 20_010);
    ns.start(&tmp.path().join("public"), public, &[]);
    ns.start(
        &tmp.path().join("blocked"),
        blocked,
        &["-b", &format!("127.0.0.1:{public}")],
    );
    let seen_by_blocked = ns.wait_for_a_peer(blocked, Duration::from_secs(20));
    assert_eq!(seen_by_blocked["path"], "tls", "{seen_by_blocked}");
    assert_eq!(seen_by_blocked["addr"], format!("127.0.0.1:{public}"));
    let seen_by_public = ns.wait_for_a_peer(public, Duration::from_secs(10));
    assert_eq!(seen_by_public["path"], "tls", "{seen_by_public}");
    let mesh = ns.mesh_status(blocked).expect("status");
    assert_eq!(mesh["datagrams_sent"], 0, "the kernel let UDP out: {mesh}");
    assert_eq!(mesh["udp_dropped_for_test"], 0, "{mesh}");
    assert_eq!(mesh["tls"]["dialled"], 1, "{mesh}");
}
