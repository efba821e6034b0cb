//! The REST API on TCP port P+1: upstream NostrP2P's `POST /publish` and `POST /req`, plus
//! `GET /status` and `GET /metrics`, behind our own admission (docs/api.md, ARCHITECTURE.md
//! "Threads").
//!
//! ```text
//!  TCP P+1 ─► loop: admit (LAN, cap) ─► ≤ HTTP_ATTACHED_MAX proxy tasks ─► api.sock ─► tiny_http
//!                   └─ ≤ HTTP_WAITING_MAX wait here, no thread, no buffer      (accept + pool ≤ 4)
//!  tiny_http ─► bridge thread ─► bounded channel ─► loop: Http::handle (dispatch, routes) ─┐
//!  bridge ◄── reply channel ◄── now, or parked until the turn's commit (Http::release) ◄──┘
//! ```
//!
//! tiny_http never faces the network: it has no timeouts, no connection cap and a thread per
//! connection (notes/crates.md), so the loop accepts, applies the LAN check and the cap, and
//! proxies each admitted connection to tiny_http's private Unix socket, attaching at most
//! [`HTTP_ATTACHED_MAX`] at once so tiny_http's pool never passes its 4 threads; the proxy
//! enforces head, body and idle timeouts and holds each request until its head and body are
//! in, so tiny_http and the single bridge thread only ever see whole requests arriving at local
//! speed (a client trickling a body holds its own slot, never the bridge). Every bound is a constant below, and every time one
//! is hit a counter in [`Http::stats_json`] moves.
//!
//! Owned by the loop like everything else: [`Http::admit`] per accepted connection,
//! [`Http::recv`] in the loop's `select!`, [`Http::handle`] per request, and
//! [`Http::release`] after the turn's commit (module docs of [`crate::api`]).

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

pub mod bridge;
pub mod proxy;
pub mod reply;
pub mod routes;
pub mod scan;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::Committed;
use super::admission::{Gate, LanPolicy, Turned};
use super::tls::TLS_HANDSHAKE_TIMEOUT;
use crate::node::Node;
use crate::nostr::UnixTime;
use crate::store::{EventStore, StateStore};
use bridge::{Body, BridgeStats, HttpRequest, Method, ReplyTo};
use proxy::{ProxyEnd, ProxyOutcome};
use reply::Reply;
use routes::Route;

/// Connections proxied to tiny_http at once. tiny_http keeps 4 pool threads and spawns one
/// more whenever none is idle; a thread that finishes is marked idle a moment late, so with 4
/// attached a fifth thread was measured (notes/crates.md). 3 keeps the pool at 4.
pub const HTTP_ATTACHED_MAX: usize = 3;

/// Admitted connections that wait in the loop for a slot, holding only their socket (no task,
/// no buffer). A LAN client opens a handful; 16 absorbs a browser's burst. When the queue is
/// full a new connection evicts the oldest waiting one (503), so a flood of idle connections
/// cannot lock a fresh request out.
pub const HTTP_WAITING_MAX: usize = 16;

/// Largest request head the proxy forwards; an upstream client's head is ~300 bytes.
pub const HTTP_HEAD_MAX: usize = 8 * 1024;

/// Largest request body the proxy holds: the largest any route takes ([`Route::body_limit`]
/// of `/publish`, 256 KiB). A longer declared body is answered 413 by the proxy; the route's
/// own, smaller bound is applied by the dispatch.
pub const HTTP_BODY_MAX: usize = crate::nostr::limits::MAX_LIST_EVENT_JSON;

/// From a head's first byte to its end. A LAN client sends its head in one packet.
pub const HTTP_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// [`HTTP_HEAD_TIMEOUT`] while other connections wait for a slot: a slow head must not hold a
/// slot a ready request needs.
pub const HTTP_HEAD_TIMEOUT_CONTENDED: Duration = Duration::from_secs(1);

/// From a head's end to its body's end: 256 KiB at 1 Mbit/s takes 2 s.
pub const HTTP_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// An idle keep-alive connection is closed after this (upstream advertised 600 s; its client
/// polls every 10 s and simply reconnects). Sent as `Keep-Alive: timeout=5`.
pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// [`HTTP_IDLE_TIMEOUT`] while other connections wait for a slot.
pub const HTTP_IDLE_TIMEOUT_CONTENDED: Duration = Duration::from_millis(100);

/// Longest the bridge waits for the loop's answer, and the proxy for the first answer byte: a
/// turn takes milliseconds; past this the loop is stuck and the watchdog will restart it.
pub const HTTP_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// After a proxied connection ends, how long its slot waits for tiny_http to close its side
/// of the Unix connection (its thread is busy until then, e.g. still reading a body for the
/// bridge, which [`HTTP_REPLY_TIMEOUT`] bounds anyway).
pub const HTTP_DETACH_TIMEOUT: Duration = Duration::from_secs(2);

/// Then how long before the slot is reused: tiny_http marks a finished thread idle a moment
/// after it closed the connection, and a slot reused sooner makes it spawn a fifth pool thread.
pub const HTTP_SLOT_SETTLE: Duration = Duration::from_millis(50);

/// How long [`start`] waits after starting tiny_http before the first connection may reach
/// it: its 4 pool threads must have parked, or the first connection makes it spawn a fifth
/// (seen as 9 threads right after start without this). Parking takes microseconds.
pub const HTTP_POOL_STARTUP: Duration = Duration::from_millis(50);

/// Each proxy direction's buffer (two per attached connection).
pub const HTTP_PROXY_BUF: usize = 8 * 1024;

/// Requests from the bridge waiting for the loop. The bridge hands over one request at a
/// time and waits for its answer, so one slot would do; two leave room for a request arriving
/// while the previous answer is being written.
pub const HTTP_QUEUE_MAX: usize = 2;

/// Refusals (403, 503) being written at once. Each is a small task that writes the answer,
/// reads what the client already sent (so the close is not a reset that eats the answer) for
/// at most [`HTTP_REFUSAL_LINGER`], then closes; past this many, refused connections are
/// closed at once.
pub const HTTP_REFUSING_MAX: usize = 32;

/// See [`HTTP_REFUSING_MAX`].
pub const HTTP_REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// The socket's file name in the data dir (or in `$RUNTIME_DIRECTORY` under systemd).
pub const SOCKET_FILE: &str = "api.sock";

/// CORS: the request headers a preflight may ask for (upstream's list).
const ALLOWED_HEADERS: &str = "Accept, Accept-Encoding, Content-Type, \
     Access-Control-Request-Headers, Access-Control-Request-Method, Origin, Referer, User-Agent";
/// CORS: how long a browser may cache a preflight (upstream's value).
const PREFLIGHT_MAX_AGE: &str = "3600";

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind the API socket {path}: {source}")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} exists and is not a socket; move it away")]
    NotASocket { path: PathBuf },
    #[error("cannot start the API's HTTP server: {0}")]
    Server(String),
}

/// The thread side of the API: tiny_http and the bridge thread. [`HttpServer::stop`] ends
/// both and removes the socket.
pub struct HttpServer {
    server: Arc<tiny_http::Server>,
    bridge: Option<std::thread::JoinHandle<()>>,
    stats: Arc<BridgeStats>,
    socket: PathBuf,
}

impl HttpServer {
    /// Unblocks the bridge, waits for it, stops tiny_http (its accept thread and pool end) and
    /// removes the socket. Call after the loop has dropped its [`Http`], so no request is
    /// waiting for an answer.
    pub fn stop(mut self) {
        self.stats.stopping.store(true, Ordering::Relaxed);
        self.server.unblock();
        if let Some(bridge) = self.bridge.take()
            && bridge.join().is_err()
        {
            log::warn!("http: the bridge thread panicked");
        }
        // The last reference: dropping it stops tiny_http's accept thread and removes the file.
        drop(self.server);
        match std::fs::remove_file(&self.socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("http: cannot remove {}: {e}", self.socket.display()),
        }
    }
}

/// Counters of the loop side, reported by [`Http::stats_json`].
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    attached_total: u64,
    evicted_waiting: u64,
    refusals_unwritten: u64,
    proxy_ends: [u64; 11],
    /// Refusals not written because the port speaks TLS (closed without an answer).
    refused_tls_closed: u64,
    requests_proxied: u64,
    handled: u64,
    status_2xx: u64,
    status_4xx: u64,
    status_5xx: u64,
    body_too_large: u64,
    detach_timeouts: u64,
    parked_max: usize,
}

/// Index of a [`ProxyEnd`] in `Stats::proxy_ends`, and its name in the status document.
fn end_slot(end: ProxyEnd) -> (usize, &'static str) {
    match end {
        ProxyEnd::ClientClosed => (0, "client_closed"),
        ProxyEnd::ServerClosed => (1, "server_closed"),
        ProxyEnd::HeadTimeout => (2, "head_timeouts"),
        ProxyEnd::BodyTimeout => (3, "body_timeouts"),
        ProxyEnd::Idle => (4, "idle_closed"),
        ProxyEnd::IdleContended => (5, "idle_cut_for_waiting"),
        ProxyEnd::ReplyTimeout => (6, "reply_timeouts"),
        ProxyEnd::ClientStalled => (7, "client_stalled"),
        ProxyEnd::BadHead(_) => (8, "bad_heads"),
        ProxyEnd::Unreachable => (9, "socket_unreachable"),
        ProxyEnd::TlsHandshake => (10, "tls_handshake_failed"),
    }
}

/// The loop side of the API (module docs).
pub struct Http {
    gate: Gate,
    socket: Arc<Path>,
    attached: usize,
    waiting: VecDeque<TcpStream>,
    contended: watch::Sender<bool>,
    proxies: JoinSet<ProxyOutcome>,
    refusals: JoinSet<()>,
    requests: mpsc::Receiver<HttpRequest>,
    /// False once the bridge is gone (its channel closed), so `recv` stops polling it.
    bridge_alive: bool,
    /// Writes stored this turn, answered by [`Http::release`] after the commit. Bounded by
    /// [`HTTP_QUEUE_MAX`]: the bridge sends one request at a time.
    parked: Vec<(ReplyTo, ReplyShape)>,
    stats: Stats,
    bridge_stats: Arc<BridgeStats>,
    /// `-s`: admitted connections first complete a TLS handshake (api::tls).
    tls: Option<TlsAcceptor>,
}

/// What the dispatch decided about a reply's headers, kept while it is parked.
#[derive(Debug, Clone, Copy)]
struct ReplyShape {
    gzip: bool,
}

/// Binds tiny_http on a fresh Unix socket at `socket` (a stale file from a crash is removed;
/// mode 0600) and starts the bridge thread. The caller owns the data dir, so no other daemon
/// uses the socket (the store's lock refuses a second one).
pub fn start(socket: &Path, policy: LanPolicy) -> Result<(Http, HttpServer), StartError> {
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(socket).map_err(|source| StartError::Bind {
                path: socket.to_owned(),
                source,
            })?;
        }
        Ok(_) => {
            return Err(StartError::NotASocket {
                path: socket.to_owned(),
            });
        }
        Err(_) => {}
    }
    let bind_err = |source| StartError::Bind {
        path: socket.to_owned(),
        source,
    };
    let listener = std::os::unix::net::UnixListener::bind(socket).map_err(bind_err)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| StartError::Server(e.to_string()))?;
    std::thread::sleep(HTTP_POOL_STARTUP);
    let server = Arc::new(server);
    let (tx, rx) = mpsc::channel(HTTP_QUEUE_MAX);
    let stats = Arc::new(BridgeStats::default());
    let bridge = bridge::spawn(Arc::clone(&server), tx, Arc::clone(&stats))
        .map_err(|e| StartError::Server(format!("cannot start the bridge thread: {e}")))?;
    let http = Http {
        gate: Gate::new(policy, HTTP_ATTACHED_MAX + HTTP_WAITING_MAX),
        socket: Arc::from(socket),
        attached: 0,
        waiting: VecDeque::with_capacity(HTTP_WAITING_MAX),
        contended: watch::Sender::new(false),
        proxies: JoinSet::new(),
        refusals: JoinSet::new(),
        requests: rx,
        bridge_alive: true,
        parked: Vec::with_capacity(HTTP_QUEUE_MAX),
        stats: Stats::default(),
        bridge_stats: Arc::clone(&stats),
        tls: None,
    };
    let server = HttpServer {
        server,
        bridge: Some(bridge),
        stats,
        socket: socket.to_owned(),
    };
    Ok((http, server))
}

impl Http {
    /// Takes a connection accepted on P+1: refused with 403 `forbidden: LAN only` when the
    /// source is not on the LAN; else proxied at once if a slot is free, or queued. A full
    /// queue evicts its oldest connection with 503.
    pub fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        match self.gate.admit(peer.ip()) {
            Ok(()) => {}
            Err(Turned::NotLan) => {
                log::debug!("http: refused {peer}: not on the LAN");
                self.refuse(stream, 403, "Forbidden", "forbidden: LAN only");
                return;
            }
            Err(Turned::Busy) => match self.waiting.pop_front() {
                Some(oldest) => {
                    // Room for the newcomer: the connection that waited longest goes.
                    self.stats.evicted_waiting += 1;
                    self.refuse(
                        oldest,
                        503,
                        "Service Unavailable",
                        "busy: too many connections",
                    );
                    // The evicted one's slot passes to the newcomer.
                }
                None => {
                    self.refuse(
                        stream,
                        503,
                        "Service Unavailable",
                        "busy: too many connections",
                    );
                    return;
                }
            },
        }
        if self.attached < HTTP_ATTACHED_MAX {
            self.attach(stream);
        } else {
            self.waiting.push_back(stream);
            self.contended.send_replace(true);
        }
    }

    /// `-s`: every connection admitted from now on is HTTPS. Its handshake runs in its
    /// proxy task, inside its slot, bounded by [`TLS_HANDSHAKE_TIMEOUT`].
    pub fn serve_tls(&mut self, acceptor: TlsAcceptor) {
        self.tls = Some(acceptor);
    }

    fn attach(&mut self, stream: TcpStream) {
        self.attached += 1;
        self.stats.attached_total += 1;
        let socket = Arc::clone(&self.socket);
        let contended = self.contended.subscribe();
        let tls = self.tls.clone();
        self.proxies.spawn(async move {
            let Some(acceptor) = tls else {
                return proxy::run(stream, &socket, contended).await;
            };
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => proxy::run(tls, &socket, contended).await,
                Ok(Err(e)) => {
                    log::debug!("http: TLS handshake failed: {e}");
                    ProxyOutcome::handshake_failed()
                }
                Err(_) => {
                    log::debug!("http: TLS handshake timed out");
                    ProxyOutcome::handshake_failed()
                }
            }
        });
    }

    /// Answers `stream` with a one-shot refusal and closes it (module docs of
    /// [`HTTP_REFUSING_MAX`]).
    fn refuse(&mut self, stream: TcpStream, code: u16, reason: &'static str, text: &'static str) {
        if self.refusals.len() >= HTTP_REFUSING_MAX {
            self.stats.refusals_unwritten += 1;
            return;
        }
        if self.tls.is_some() {
            // A plain-text answer means nothing to a TLS client, and a handshake just to
            // refuse would cost the signature admission exists to ration: close.
            self.stats.refused_tls_closed += 1;
            return;
        }
        self.refusals.spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = stream;
            let linger = async {
                stream
                    .write_all(&proxy::refusal(code, reason, text))
                    .await?;
                stream.shutdown().await?;
                let mut sink = [0u8; 512];
                while stream.read(&mut sink).await? > 0 {}
                Ok::<(), std::io::Error>(())
            };
            let _ = tokio::time::timeout(HTTP_REFUSAL_LINGER, linger).await;
        });
    }

    /// A proxied connection ended: its slot goes to the longest-waiting connection.
    fn proxy_ended(&mut self, outcome: ProxyOutcome) {
        self.attached = self.attached.saturating_sub(1);
        self.gate.closed();
        self.stats.requests_proxied += outcome.requests;
        self.stats.detach_timeouts += u64::from(outcome.detach_timed_out);
        if outcome.end == ProxyEnd::BadHead(scan::ScanError::BodyTooLarge) {
            self.stats.body_too_large += 1;
        }
        let (slot, _) = end_slot(outcome.end);
        if let Some(n) = self.stats.proxy_ends.get_mut(slot) {
            *n += 1;
        }
        if let Some(next) = self.waiting.pop_front() {
            self.attach(next);
        }
        if self.waiting.is_empty() {
            self.contended
                .send_if_modified(|c| std::mem::replace(c, false));
        }
    }

    /// The next request from the bridge. Proxy and refusal tasks that end meanwhile are
    /// accounted here (they need no turn). Cancel-safe: every await is.
    pub async fn recv(&mut self) -> HttpRequest {
        loop {
            tokio::select! {
                req = self.requests.recv(), if self.bridge_alive => match req {
                    Some(req) => return req,
                    None => {
                        log::warn!("http: the bridge thread is gone; REST requests stop");
                        self.bridge_alive = false;
                    }
                },
                Some(done) = self.proxies.join_next() => match done {
                    Ok(outcome) => self.proxy_ended(outcome),
                    Err(e) => {
                        log::warn!("http: a proxy task failed: {e}");
                        self.proxy_ended(ProxyOutcome {
                            end: ProxyEnd::ClientClosed,
                            requests: 0,
                            detach_timed_out: false,
                        });
                    }
                },
                Some(_) = self.refusals.join_next() => {}
                else => std::future::pending::<()>().await,
            }
        }
    }

    /// Dispatches one request: CORS preflight, route, method, body bound and content type in
    /// one place, then the route's file. `status` is the loop's status document, built only
    /// when [`HttpRequest::needs_status`]. A stored `/publish` is parked until
    /// [`Http::release`].
    pub fn handle<S: EventStore + StateStore>(
        &mut self,
        node: &mut Node<S>,
        now: UnixTime,
        req: HttpRequest,
        status: Option<serde_json::Value>,
    ) {
        self.stats.handled += 1;
        let shape = ReplyShape {
            gzip: req.accept_gzip,
        };
        let reply = match dispatch(node, now, &req, status.as_ref()) {
            Dispatched::Now(reply) => reply,
            Dispatched::AfterCommit => {
                self.parked.push((req.into_reply(), shape));
                self.stats.parked_max = self.stats.parked_max.max(self.parked.len());
                return;
            }
        };
        if reply.status == 413 {
            self.stats.body_too_large += 1;
        }
        self.send(req.into_reply(), shape, reply);
    }

    fn send(&mut self, to: ReplyTo, shape: ReplyShape, reply: Reply) {
        match reply.status {
            200..=299 => self.stats.status_2xx += 1,
            400..=499 => self.stats.status_4xx += 1,
            500..=599 => self.stats.status_5xx += 1,
            _ => {}
        }
        to.send(finish(reply, shape));
    }

    /// Answers the writes parked this turn, after its commit: `SUCCESS` when durable, 503
    /// `error: storage full`, or 500 with the error.
    pub fn release(&mut self, committed: &Committed) {
        for (to, shape) in std::mem::take(&mut self.parked) {
            let reply = match committed {
                Committed::Durable => Reply::success(),
                Committed::StorageFull => Reply::error(503, "error: storage full"),
                Committed::Failed(e) => Reply::error(500, &format!("error: {e}")),
            };
            self.send(to, shape, reply);
        }
    }

    /// Whether writes are parked, waiting for a commit.
    #[must_use]
    pub fn has_parked(&self) -> bool {
        !self.parked.is_empty()
    }

    /// Connections admitted and not yet closed (attached and waiting).
    #[must_use]
    pub fn open(&self) -> usize {
        self.gate.open()
    }

    /// The `"http"` section of `/status`: bounds, current use, and every bound-hit counter.
    #[must_use]
    pub fn stats_json(&self) -> serde_json::Value {
        let s = &self.stats;
        let b = &self.bridge_stats;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let mut ends = serde_json::Map::new();
        for end in [
            ProxyEnd::ClientClosed,
            ProxyEnd::ServerClosed,
            ProxyEnd::HeadTimeout,
            ProxyEnd::BodyTimeout,
            ProxyEnd::Idle,
            ProxyEnd::IdleContended,
            ProxyEnd::ReplyTimeout,
            ProxyEnd::ClientStalled,
            ProxyEnd::BadHead(scan::ScanError::HeadTooLarge),
            ProxyEnd::Unreachable,
            ProxyEnd::TlsHandshake,
        ] {
            let (slot, name) = end_slot(end);
            ends.insert(
                name.to_owned(),
                s.proxy_ends.get(slot).copied().unwrap_or(0).into(),
            );
        }
        serde_json::json!({
            "bounds": {
                "attached_max": HTTP_ATTACHED_MAX,
                "waiting_max": HTTP_WAITING_MAX,
                "head_max_bytes": HTTP_HEAD_MAX,
                "body_max_bytes": Route::Req.body_limit(),
                "list_body_max_bytes": Route::Publish.body_limit(),
                "head_timeout_ms": HTTP_HEAD_TIMEOUT.as_millis() as u64,
                "idle_timeout_ms": HTTP_IDLE_TIMEOUT.as_millis() as u64,
                "queue_max": HTTP_QUEUE_MAX,
                "refusing_max": HTTP_REFUSING_MAX,
            },
            "open": self.gate.open(),
            "attached": self.attached,
            "waiting": self.waiting.len(),
            "admitted": self.gate.admitted,
            "refused_not_lan": self.gate.refused_not_lan,
            "refused_busy": self.gate.refused_busy,
            "evicted_waiting": s.evicted_waiting,
            "refusals_unwritten": s.refusals_unwritten,
            "tls": self.tls.is_some(),
            "refused_tls_closed": s.refused_tls_closed,
            "attached_total": s.attached_total,
            "closed": ends,
            "requests": load(&b.requests),
            "requests_proxied": s.requests_proxied,
            "handled": s.handled,
            "status_2xx": s.status_2xx,
            "status_4xx": s.status_4xx,
            "status_5xx": s.status_5xx,
            "body_too_large": s.body_too_large,
            "detach_timeouts": s.detach_timeouts,
            "queue_full": load(&b.queue_full),
            "reply_timeouts": load(&b.reply_timeouts),
            "write_failed": load(&b.write_failed),
            "parked_max": s.parked_max,
        })
    }
}

/// A route's decision.
enum Dispatched {
    Now(Reply),
    AfterCommit,
}

/// The one dispatch (module docs of [`Http::handle`]).
fn dispatch<S: EventStore + StateStore>(
    node: &mut Node<S>,
    now: UnixTime,
    req: &HttpRequest,
    status: Option<&serde_json::Value>,
) -> Dispatched {
    let route = req.route();
    if req.method == Method::Options {
        return Dispatched::Now(preflight(req, route));
    }
    let allowed = match route {
        Route::Publish | Route::Req => req.method == Method::Post,
        Route::Status | Route::Metrics => matches!(req.method, Method::Get | Method::Head),
        Route::Unknown => return Dispatched::Now(Reply::error(404, "Resource not found")),
    };
    if !allowed {
        return Dispatched::Now(
            Reply::error(405, "Method not allowed").header("Allow", route.methods()),
        );
    }
    let body = match &req.body {
        Body::Bytes(bytes) => bytes.as_slice(),
        Body::TooLarge { limit } => {
            return Dispatched::Now(Reply::error(
                413,
                &format!("request body over the {limit}-byte limit"),
            ));
        }
        Body::Unreadable => return Dispatched::Now(Reply::error(400, "unreadable request body")),
    };
    // upstream's ContentTypeCheckerMiddleware: a non-empty body must be JSON in UTF-8.
    if !body.is_empty() && !is_json(req.content_type.as_deref()) {
        return Dispatched::Now(Reply::error(
            415,
            "Bad Content-Type or charset, expected 'application/json'",
        ));
    }
    Dispatched::Now(match route {
        Route::Publish => match routes::publish::handle(node, now, body) {
            routes::publish::Outcome::Now(reply) => reply,
            routes::publish::Outcome::AfterCommit => return Dispatched::AfterCommit,
        },
        Route::Req => routes::req::handle(node, body),
        Route::Status => routes::status::handle(status),
        Route::Metrics => routes::metrics::handle(status),
        Route::Unknown => Reply::error(404, "Resource not found"),
    })
}

/// The headers every answer carries (CORS for any origin, including Chrome's private-network
/// access, and the real keep-alive timeout), and gzip when the client accepts it.
fn finish(mut reply: Reply, shape: ReplyShape) -> Reply {
    reply.gzip = shape.gzip && !reply.body.is_empty();
    if reply.gzip {
        reply.headers.push(("Vary", "Accept-Encoding".to_owned()));
    }
    if !reply
        .headers
        .iter()
        .any(|(name, _)| *name == "Access-Control-Allow-Origin")
    {
        reply
            .headers
            .push(("Access-Control-Allow-Origin", "*".to_owned()));
    }
    reply.headers.extend([
        ("Access-Control-Allow-Private-Network", "true".to_owned()),
        (
            "Keep-Alive",
            format!("timeout={}, max=1000", HTTP_IDLE_TIMEOUT.as_secs()),
        ),
    ]);
    reply
}

/// A CORS preflight answer (any path, as upstream's middleware answers before routing). Like
/// upstream's middleware it names the asking origin (a wildcard would not do for a request with
/// credentials); answers themselves say `*`, as upstream's handlers do.
fn preflight(req: &HttpRequest, route: Route) -> Reply {
    let origin = req
        .origin
        .clone()
        .filter(|o| o.len() <= HTTP_HEAD_MAX && o.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "*".to_owned());
    let allow_headers = req
        .request_headers
        .clone()
        .filter(|h| h.len() <= HTTP_HEAD_MAX && h.is_ascii())
        .unwrap_or_else(|| ALLOWED_HEADERS.to_owned());
    Reply::new(200, reply::JSON, Vec::new())
        .header("Access-Control-Allow-Methods", route.methods())
        .header("Access-Control-Allow-Headers", allow_headers)
        .header("Access-Control-Allow-Credentials", "true")
        .header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE)
        .header("Access-Control-Allow-Origin", origin)
        .header("Vary", "Origin")
}

/// Whether a `Content-Type` is JSON in UTF-8 (a missing charset means UTF-8).
#[must_use]
pub fn is_json(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return false;
    }
    parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    })
}

#[cfg(test)]
mod tests;
