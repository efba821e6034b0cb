//! The event loop: one `current_thread` task that owns every socket and all state.
//!
//! Each turn waits for one input in the `select!`, handles it, then [`end_turn`] drains the
//! node's output to the API, makes the turn's writes durable with one commit, and releases the
//! acknowledgements parked until that commit (ARCHITECTURE.md "Sans-IO cores and the loop").
//! The mesh plugs into the same `select!`. `run` takes its sockets and its shutdown future as
//! arguments, so tests and the daemon drive the same code.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use tokio::net::{TcpListener, UdpSocket};

use super::mesh::Mesh;
use super::status;
use super::store::{NodeStore, Retention};
use super::tls::TlsLinks;
use crate::api::Committed;
use crate::api::http::Http;
use crate::api::ws::{self, Relay};
use crate::config::StoreSync;
use crate::node::{Node, NodeEvent};
use crate::nostr::{PubKey, UnixTime, nip19};
use crate::store::EventStore;

/// The daemon's node type.
pub type DaemonNode = Node<NodeStore>;

/// How long the loop pauses after a failed accept, so a persistent failure cannot spin it.
const ACCEPT_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Largest datagram read; the mesh's datagrams are ≤ 1200 bytes (docs/wire.md), so anything
/// longer is truncated and refused by the mesh decoder.
const DATAGRAM_BUF: usize = 2048;

/// The sockets the loop owns.
pub struct Sockets {
    /// UDP on P: the mesh.
    pub mesh: UdpSocket,
    /// TCP on P+1: the REST API (`/publish`, `/req`, `/status`, `/metrics`).
    pub api: TcpListener,
    /// TCP on P+2: the NIP-01 websocket relay and NIP-11.
    pub ws: TcpListener,
    /// TCP on P: the mesh's TLS fallback (none when it could not be bound).
    pub tls: Option<TcpListener>,
}

/// What `/status` reports that does not change while running.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub owner: PubKey,
    pub node_id: PubKey,
    pub board: String,
    pub writable: bool,
    pub mesh_addr: SocketAddr,
    pub api_addr: SocketAddr,
    pub ws_addr: SocketAddr,
}

/// The state machines the loop owns and drives, built by `daemon::serve` (tests build their
/// own): the node (store, ring, seen set), the mesh, retention, and (added with them) the API.
pub struct Parts {
    pub node: DaemonNode,
    pub mesh: Mesh,
    pub retention: Retention,
    /// The websocket relay and the loop's end of its inbound channel.
    pub ws: (Relay, ws::Inbox),
    /// The REST API's loop side (admission, proxies, dispatch, parked answers).
    pub http: Http,
    /// When the store fsyncs and clients hear their `OK` (config `store_sync`).
    pub sync: StoreSync,
}

/// Sleeps until `deadline`, or forever when there is none (a `select!` branch that never fires).
async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The wall clock as Nostr time (the shell is the only reader of clocks).
fn unix_now() -> UnixTime {
    UnixTime(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// Runs until `shutdown` completes, then waits for in-flight status replies (each bounded by
/// its own deadline), commits the store and returns. `started` is the time `uptime` counts
/// from.
pub async fn run(
    sockets: Sockets,
    info: NodeInfo,
    parts: Parts,
    notifier: &mut super::notify::Notifier,
    started: Instant,
    shutdown: impl Future<Output = &'static str>,
) -> std::io::Result<()> {
    let Parts {
        mut node,
        mut mesh,
        mut retention,
        ws: (mut relay, mut ws_inbox),
        mut http,
        sync,
    } = parts;
    // With `store_sync = interval:<ms>`: when the pending fsync is due (None: nothing pending).
    let mut sync_due: Option<tokio::time::Instant> = None;
    // The loop body works through references, as the state machines' own methods do.
    let (node, mesh) = (&mut node, &mut mesh);
    let mut shutdown = std::pin::pin!(shutdown);
    // Retention runs soon after start, then on its own schedule.
    let mut retention_due = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    let mut buf = vec![0u8; DATAGRAM_BUF];
    let mut tls = TlsLinks::new(sockets.tls.is_some()).map_err(std::io::Error::other)?;
    loop {
        tokio::select! {
            biased;
            signal = &mut shutdown => {
                log::info!("{signal} received, stopping");
                notifier.stopping();
                break;
            }
            // Kicked from the loop itself: a loop that stops turning stops the kicks.
            () = sleep_until_opt(notifier.deadline()) => notifier.kick(),
            received = sockets.mesh.recv_from(&mut buf) => match received {
                Ok((len, from)) => {
                    let datagram = buf.get(..len).unwrap_or_default();
                    mesh.handle_datagram(Instant::now(), from, datagram);
                }
                Err(e) => log::debug!("mesh: receive failed: {e}"),
            },
            Some(event) = tls.recv() => mesh.handle_link_event(Instant::now(), event, &mut tls),
            () = sleep_until_opt(mesh.deadline()) => mesh.handle_timeout(Instant::now()),
            accepted = super::tls::accept(sockets.tls.as_ref()) => match accepted {
                Ok((stream, peer)) => tls.admit(stream, peer),
                Err(e) => {
                    log::warn!("tls: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
            () = sleep_until_opt(sync_due) => {
                sync_due = None;
                if let Err(e) = node.commit() {
                    log::warn!("store: interval fsync failed; writes since the last one may be lost: {e}");
                }
            }
            () = tokio::time::sleep_until(retention_due) => {
                let next = retention.step(node, unix_now());
                retention_due = tokio::time::Instant::now() + next;
            }
            // Requests already admitted go before new connections: finish work before taking more.
            req = http.recv() => {
                // The status document is built only for the routes that show it.
                let status = req
                    .needs_status()
                    .then(|| status_json(&info, started, node, (mesh, &tls), &relay, &http));
                http.handle(node, unix_now(), req, status);
            }
            accepted = sockets.api.accept() => match accepted {
                Ok((stream, peer)) => http.admit(stream, peer),
                Err(e) => {
                    // Out of descriptors (EMFILE) and the like fail at once on every call:
                    // pause instead of spinning the one thread.
                    log::warn!("api: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
            accepted = sockets.ws.accept() => match accepted {
                Ok((stream, peer)) => relay.admit(stream, peer, Instant::now()),
                Err(e) => {
                    log::warn!("ws: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
            Some(message) = ws_inbox.recv() => {
                // Messages already waiting join this turn, so one commit covers their writes.
                let (now, unix) = (Instant::now(), unix_now());
                relay.handle(node, now, unix, message);
                for _ in 1..ws::TURN_MAX_INPUTS {
                    let Some(message) = ws_inbox.try_recv() else { break };
                    relay.handle(node, now, unix, message);
                }
            }
        }
        mesh.flush(&sockets.mesh, &mut tls, node.store_mut(), Instant::now());
        end_turn(node, &mut relay, &mut http, sync, &mut sync_due);
    }
    mesh.save_book(node.store_mut(), Instant::now());
    let result = node.store_mut().commit();
    if let Err(e) = &result {
        log::warn!("store: final commit failed: {e}");
    }
    // Nothing is parked across turns; should a write be, it learns how the last commit went.
    http.release(&Committed::from_result(&result));
    Ok(())
}

/// The end of every turn: the node's output goes to the API (live subscriptions), then one
/// commit makes the turn's writes durable, then the acknowledgements parked until it are
/// released. A turn that wrote nothing skips the commit.
fn end_turn(
    node: &mut DaemonNode,
    relay: &mut Relay,
    http: &mut Http,
    sync: StoreSync,
    sync_due: &mut Option<tokio::time::Instant>,
) {
    while let Some(event) = node.poll_event() {
        match event {
            NodeEvent::Arrived(event) => relay.deliver(&event),
        }
    }
    if let StoreSync::Interval(every) = sync {
        // The configured trade: acknowledge what is written (in fjall's journal buffer, not
        // yet on disk) at once, and fsync at most every `every`; a crash loses that window.
        if node.has_uncommitted() {
            sync_due.get_or_insert_with(|| tokio::time::Instant::now() + every);
            relay.release(&Committed::Durable);
            http.release(&Committed::Durable);
        }
        return;
    }
    if node.has_uncommitted() {
        let result = node.commit();
        if let Err(e) = &result {
            log::warn!("store: commit failed, the turn's writes are refused: {e}");
        }
        let committed = Committed::from_result(&result);
        relay.release(&committed);
        http.release(&committed);
    }
}

fn status_json(
    info: &NodeInfo,
    started: Instant,
    node: &DaemonNode,
    (mesh, tls): (&Mesh, &TlsLinks),
    relay: &Relay,
    http: &Http,
) -> serde_json::Value {
    let (threads, rss) = status::process_usage();
    let usage = node.store().usage();
    let ring = node.ring();
    let stats = node.stats();
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": started.elapsed().as_secs(),
        "owner": nip19::encode_npub(&info.owner),
        "owner_hex": info.owner.to_hex(),
        "node_id": info.node_id.to_hex(),
        "board": info.board,
        "writable": info.writable,
        "listen": {
            "mesh": info.mesh_addr.to_string(),
            "api": info.api_addr.to_string(),
            "ws": info.ws_addr.to_string(),
        },
        "threads": threads,
        "rss_bytes": rss,
        "heap_bytes": super::heap::live_bytes(),
        "mesh": mesh.status_json(tls),
        "store": {
            "events": usage.events,
            "record_bytes": usage.record_bytes,
            "disk_bytes": usage.disk_bytes,
            "commits": usage.commits,
        },
        "ring": {
            "tier": ring.tier().name(),
            "events": ring.len(),
            "slots": ring.tier().slots(),
            "arena_used": ring.arena_used(),
            "arena_bytes": ring.tier().arena_bytes(),
        },
        "node": {
            "stored": stats.stored,
            "duplicates": stats.duplicates,
            "refused": stats.refused,
            "commits_failed": stats.commits_failed,
        },
        "http": http.stats_json(),
        "ws": relay.stats_json(),
    })
}
