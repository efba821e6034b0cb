//! The mesh's TLS fallback in the real binary: a node whose UDP sends all vanish (the
//! test-only `TEST_NOSTRP2P_DROP_UDP=1`, standing in for a network that drops UDP) still gets
//! a session with its boot peer, over a TLS link to the peer's TCP port P.

use std::time::{Duration, Instant};

use crate::support::{Server, http_get};

/// The `"mesh"` section of a node's `/status`.
fn mesh_status(server: &Server) -> serde_json::Value {
    let (code, body) = http_get(server.api_addr(), "/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("status is JSON");
    status["mesh"].clone()
}

/// Waits (bounded) until `server` has a session with `peer_id`; returns its peer entry.
fn wait_for_peer(server: &Server, peer_id: &str, limit: Duration) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let mesh = mesh_status(server);
        if let Some(peer) = mesh["peer_list"]
            .as_array()
            .and_then(|l| l.iter().find(|p| p["node_id"] == peer_id))
        {
            return peer.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no session with {peer_id} within {limit:?}: {mesh}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

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
