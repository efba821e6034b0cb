//! The mesh in the real binary: two daemons on loopback find each other through `-b`, report
//! each other in `/status`, and a restarted node rejoins from its saved address book alone.

use std::time::{Duration, Instant};

use crate::support::{Server, http_get};

/// The `"mesh"` section of a node's `/status`.
pub fn mesh_status(server: &Server) -> serde_json::Value {
    let (code, body) = http_get(server.api_addr(), "/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("status is JSON");
    status["mesh"].clone()
}

/// Waits (bounded) until `server` has a session with `peer_id`; returns its peer entry.
pub fn wait_for_peer(server: &Server, peer_id: &str, limit: Duration) -> serde_json::Value {
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
fn two_nodes_join_through_boot_peer_and_rejoin_from_the_address_book() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = Server::start(&tmp.path().join("a"), &[]);
    let boot = format!("127.0.0.1:{}", a.port);
    let b_dir = tmp.path().join("b");
    let b = Server::start(&b_dir, &["-b", &boot]);
    let (a_id, b_id) = (a.banner("node id"), b.banner("node id"));
    let seen_by_b = wait_for_peer(&b, &a_id, Duration::from_secs(15));
    assert_eq!(seen_by_b["addr"], boot.as_str());
    assert_eq!(seen_by_b["path"], "direct");
    wait_for_peer(&a, &b_id, Duration::from_secs(15));
    let mesh_a = mesh_status(&a);
    assert!(mesh_a["handshakes_completed"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(mesh_a["forged_identity"], 0);
    assert_eq!(b.stop("TERM").code(), Some(0));

    // Restarted without -b: the saved address book alone leads it back to A.
    let b = Server::start(&b_dir, &[]);
    assert_eq!(b.banner("node id"), b_id, "same node key after restart");
    wait_for_peer(&b, &a_id, Duration::from_secs(30));
    assert_eq!(b.stop("TERM").code(), Some(0));
    assert_eq!(a.stop("TERM").code(), Some(0));
}
