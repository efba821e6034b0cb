//! The NIP-01 websocket relay on TCP port P+2, with NIP-11 on the same port and NIP-45 `COUNT`.
//!
//! [`Relay`] is the loop-owned state: open connections, their subscriptions, the `OK`s parked
//! until the turn's commit, and the counters. Each connection is a task ([`conn`]) that only
//! moves bytes; tasks talk to the loop over one shared bounded inbound channel ([`Inbox`]) and
//! one bounded outbound queue each. The loop never awaits a client: a connection whose queue is
//! full, or whose backlog passes [`OUTBOUND_MAX`] when a live event comes, is closed with 1008
//! `slow consumer` (the client resubscribes with `since`).
//!
//! Per turn (daemon/run.rs): accept → [`Relay::admit`]; each inbound message →
//! [`Relay::handle`]; each `NodeEvent::Arrived` → [`Relay::deliver`]; after the commit →
//! [`Relay::release`], which turns parked writes into `OK true` (or `error: storage full`).
//! Wire choices where NIP-01 is silent are listed in docs/api.md.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

pub mod conn;
pub mod nip11;
pub mod proto;
pub mod subs;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::Committed;
use super::admission::{Gate, LanPolicy, Turned};
use crate::node::{Accepted, Node};
use crate::nostr::filter::Filter;
use crate::nostr::limits::MAX_LIST_EVENT_JSON;
use crate::nostr::{Event, EventId, PubKey, UnixTime};
use crate::store::{EventStore, StateStore};
use conn::{Cause, CloseOrder, Inbound, Spawn};
use proto::{ClientMessage, MAX_FILTERS, ProtoError};
use subs::Subs;

/// Most websocket connections at once (ARCHITECTURE.md memory budget: ≤ 32 websockets). A
/// household has a few phones and laptops, each with one or two connections.
pub const MAX_CONNECTIONS: usize = 32;

/// Most subscriptions per connection: a client's timeline, mentions, profiles and a thread
/// fit; strfry allows more, rnostr the same 20.
pub const MAX_SUBS_PER_CONN: usize = 20;

/// Most subscriptions in all: every live event is matched against each one, and each holds
/// up to [`MAX_FILTERS`] filters.
pub const MAX_SUBS_TOTAL: usize = 64;

/// Largest websocket message and frame: a list event of [`MAX_LIST_EVENT_JSON`] (DECISIONS.md
/// 8) inside its `["EVENT",…]` envelope. Other events stay within 64 KiB, which
/// `Event::from_json` enforces with `OK false "invalid: …"`; past this the connection is
/// closed with 1009.
pub const MAX_MESSAGE_BYTES: usize = MAX_LIST_EVENT_JSON + 1024;

/// Socket read chunk of a websocket (tungstenite's default is 128 KiB allocated up front).
pub const READ_BUFFER: usize = 8 * 1024;

/// Largest HTTP request head on this port: an upgrade or NIP-11 request is well under 1 KiB.
pub const HEAD_MAX: usize = 8 * 1024;

/// Longest a client may take to send its request head (and we to answer the upgrade).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A silent websocket is pinged after this long, and closed (1001 `idle timeout`) when nothing
/// at all, not even the pong, came back within another interval: a dead peer costs a slot for
/// at most two intervals.
pub const PING_INTERVAL: Duration = Duration::from_secs(60);

/// Most bytes queued for one connection: a live event that finds the backlog over this closes
/// the connection with 1008 `slow consumer`. 32 connections × 256 KiB bounds the total.
pub const OUTBOUND_MAX: usize = 256 * 1024;

/// Most bytes queued for all connections together (ARCHITECTURE.md memory budget: ≤ 2 MiB
/// in all). Past it, a live event closes its connection as a slow consumer if that connection
/// holds more than its even share (`OUTBOUND_TOTAL_MAX / MAX_CONNECTIONS`), so the readers
/// that keep up are not the ones dropped.
pub const OUTBOUND_TOTAL_MAX: usize = 2 * 1024 * 1024;

/// A connection's task reads no further request while its backlog is at or over this, so a
/// client that sends requests but does not read replies stops being read.
pub const READ_PAUSE_BACKLOG: usize = 128 * 1024;

/// Most bytes of stored events in one `REQ`'s answer (at least one event is always sent): with
/// [`READ_PAUSE_BACKLOG`] it keeps a reading client's backlog within [`OUTBOUND_MAX`]. The rest
/// is left out before `EOSE`; clients page back with `until`.
pub const REQ_ANSWER_MAX: usize = 128 * 1024;

/// Most messages in one connection's outbound queue (tiny `OK`s and `EOSE`s included).
pub const OUTBOUND_MESSAGES: usize = 1024;

/// Most messages of one connection waiting in the loop: enough to group pipelined `EVENT`s
/// into one commit, few enough that one connection cannot fill the shared channel.
pub const IN_FLIGHT_PER_CONN: usize = 4;

/// Capacity of the channel every connection shares towards the loop.
pub const INBOUND_CHANNEL: usize = 128;

/// Most inbound messages the loop handles in one turn (one commit covers them all).
pub const TURN_MAX_INPUTS: usize = 64;

/// Largest and default `limit` of a filter (NIP-11 `max_limit`, `default_limit`), as strfry.
pub const MAX_LIMIT: u64 = 500;

/// Events per second one connection may publish, and its burst: a quarter of one core's
/// signature checks (notes/nostr.md §7), so one client cannot starve reads and the others.
pub const EVENTS_PER_SEC: f64 = 5_000.0;
/// See [`EVENTS_PER_SEC`].
pub const EVENT_BURST: f64 = 10_000.0;

/// When every slot is taken, a new connection evicts the connection silent longest that holds
/// no subscription, if it has been silent at least this long: idle sockets cannot lock the
/// owner out, and a client that just connected has time for its first `REQ`.
pub const EVICT_AFTER_SILENT: Duration = Duration::from_secs(2);

/// Most refusals (403/503 replies) being written at once; beyond, a refused socket is closed
/// without a reply.
pub const REFUSING_MAX: usize = 16;

/// Identifies a connection for the life of the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConnId(u64);

/// The loop's end of the shared inbound channel.
pub struct Inbox(mpsc::Receiver<Inbound>);

impl Inbox {
    /// The next message from any connection (for the loop's `select!`).
    pub async fn recv(&mut self) -> Option<Inbound> {
        self.0.recv().await
    }

    /// A message already waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<Inbound> {
        self.0.try_recv().ok()
    }
}

/// A per-connection token bucket for `EVENT`s.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Self {
            tokens: EVENT_BURST,
            last: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * EVENTS_PER_SEC).min(EVENT_BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The loop's view of one connection.
struct Conn {
    outbound: mpsc::Sender<String>,
    close: mpsc::Sender<CloseOrder>,
    backlog: Arc<AtomicUsize>,
    subs: Subs,
    upgraded: bool,
    /// A close was ordered: nothing more is queued.
    closing: bool,
    /// Its admission slot was given back early (eviction).
    released: bool,
    last_heard: Instant,
    bucket: Bucket,
}

/// Counters, each a bound hit or an outcome (`/status` "ws").
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    upgraded: u64,
    nip11_served: u64,
    bad_requests: u64,
    handshake_timeouts: u64,
    refused_dropped: u64,
    /// `-s`: connections whose TLS handshake failed or timed out.
    tls_handshake_failed: u64,
    /// `-s`: refusals not written (closed: a plain answer means nothing to a TLS client).
    refused_tls_closed: u64,
    evicted: u64,
    events_received: u64,
    ok_true: u64,
    ok_false: u64,
    rate_limited: u64,
    commits_failed_oks: u64,
    reqs: u64,
    counts: u64,
    subs_refused_conn: u64,
    subs_refused_total: u64,
    filters_refused: u64,
    bad_filters: u64,
    notices: u64,
    answers_truncated: u64,
    live_sent: u64,
    oversized_closed: u64,
    slow_consumer_closed: u64,
    idle_closed: u64,
    protocol_closed: u64,
}

/// The websocket relay's loop-owned state (module docs).
pub struct Relay {
    gate: Gate,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    inbound: mpsc::Sender<Inbound>,
    /// `OK`s waiting for the turn's commit: (connection, event id hex).
    parked: Vec<(ConnId, String)>,
    /// Ids stored by this relay in the current turn (see `subs::Sub::answered`).
    stored_this_turn: BTreeSet<EventId>,
    subs_total: usize,
    refusing: JoinSet<()>,
    nip11: Arc<str>,
    stats: Stats,
    /// `-s`: connections are WSS (api::tls).
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Relay {
    /// A relay admitting sources `policy` allows, for a node serving `owner`; `writes_open`
    /// says whether non-owner writes are accepted (for NIP-11).
    #[must_use]
    pub fn new(policy: LanPolicy, owner: &PubKey, writes_open: bool) -> (Self, Inbox) {
        let (tx, rx) = mpsc::channel(INBOUND_CHANNEL);
        let relay = Self {
            gate: Gate::new(policy, MAX_CONNECTIONS),
            conns: BTreeMap::new(),
            next_conn: 0,
            inbound: tx,
            parked: Vec::new(),
            stored_this_turn: BTreeSet::new(),
            subs_total: 0,
            refusing: JoinSet::new(),
            nip11: Arc::from(nip11::document(owner, writes_open).to_string()),
            stats: Stats::default(),
            tls: None,
        };
        (relay, Inbox(rx))
    }

    /// `-s`: every connection admitted from now on is WSS (its TLS handshake runs in its task,
    /// within `api::tls::TLS_HANDSHAKE_TIMEOUT`, holding its admission slot).
    pub fn serve_tls(&mut self, acceptor: tokio_rustls::TlsAcceptor) {
        self.tls = Some(acceptor);
    }

    /// A TCP connection was accepted on the websocket port: admit it (LAN check, cap, evicting
    /// an idle connection when full) and start its task, or refuse it with 403 / 503.
    pub fn admit(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) {
        while self.refusing.try_join_next().is_some() {}
        // Nagle's algorithm would hold small replies (OK, EOSE) for ~40 ms.
        let _ = stream.set_nodelay(true);
        let admitted = match self.gate.admit(peer.ip()) {
            Err(Turned::Busy) if self.evict_one(now) => self.gate.admit(peer.ip()),
            other => other,
        };
        match admitted {
            Ok(()) => self.spawn(stream, peer, now),
            Err(Turned::NotLan) => {
                log::debug!("ws: refused {peer}: not on the LAN");
                self.refuse(stream, 403, "Forbidden", "forbidden: LAN only\n");
            }
            Err(Turned::Busy) => {
                log::debug!("ws: refused {peer}: {MAX_CONNECTIONS} connections open");
                self.refuse(
                    stream,
                    503,
                    "Service Unavailable",
                    "busy: too many websocket connections\n",
                );
            }
        }
    }

    fn spawn(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let (out_tx, out_rx) = mpsc::channel(OUTBOUND_MESSAGES);
        let (close_tx, close_rx) = mpsc::channel(1);
        let backlog = Arc::new(AtomicUsize::new(0));
        self.conns.insert(
            id,
            Conn {
                outbound: out_tx,
                close: close_tx,
                backlog: backlog.clone(),
                subs: Subs::default(),
                upgraded: false,
                closing: false,
                released: false,
                last_heard: now,
                bucket: Bucket::new(now),
            },
        );
        tokio::spawn(conn::run(Spawn {
            conn: id,
            stream,
            peer,
            inbound: self.inbound.clone(),
            outbound: out_rx,
            backlog,
            close: close_rx,
            nip11: self.nip11.clone(),
            tls: self.tls.clone(),
        }));
    }

    fn refuse(&mut self, stream: TcpStream, code: u16, reason: &str, body: &str) {
        if self.refusing.len() >= REFUSING_MAX {
            self.stats.refused_dropped += 1;
            return;
        }
        if self.tls.is_some() {
            // A handshake only to refuse would cost the signature admission rations: close.
            self.stats.refused_tls_closed += 1;
            return;
        }
        let response = conn::http_response(code, reason, "text/plain", body);
        self.refusing
            .spawn(conn::respond_and_close(stream, response));
    }

    /// Frees a slot by closing the connection silent longest among those without
    /// subscriptions, if one has been silent [`EVICT_AFTER_SILENT`].
    fn evict_one(&mut self, now: Instant) -> bool {
        let victim = self
            .conns
            .iter()
            .filter(|(_, c)| !c.closing && c.subs.is_empty())
            .filter(|(_, c)| now.saturating_duration_since(c.last_heard) >= EVICT_AFTER_SILENT)
            .min_by_key(|(_, c)| c.last_heard)
            .map(|(id, _)| *id);
        let Some(conn) = victim.and_then(|id| self.conns.get_mut(&id)) else {
            return false;
        };
        conn.closing = true;
        conn.released = true;
        let _ = conn
            .close
            .try_send((CloseCode::Away, "connection slots are full"));
        self.gate.closed();
        self.stats.evicted += 1;
        true
    }

    /// Handles one message from a connection task. `now` drives the rate limit and eviction;
    /// `unix` is the node's clock for `created_at` checks.
    pub fn handle<S: EventStore + StateStore>(
        &mut self,
        node: &mut Node<S>,
        now: Instant,
        unix: UnixTime,
        message: Inbound,
    ) {
        match message {
            Inbound::Upgraded { conn } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.upgraded = true;
                    c.last_heard = now;
                    self.stats.upgraded += 1;
                }
            }
            Inbound::Text { conn, text, permit } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.last_heard = now;
                    self.dispatch(node, now, unix, conn, &text);
                }
                drop(permit);
            }
            Inbound::Binary { conn, permit } => {
                self.stats.notices += 1;
                let text = proto::notice("error: binary frames are not supported; send JSON text");
                self.send(conn, text, false);
                drop(permit);
            }
            Inbound::Closed { conn, cause } => self.closed(conn, cause),
        }
    }

    fn closed(&mut self, id: ConnId, cause: Cause) {
        if let Some(conn) = self.conns.remove(&id) {
            self.subs_total = self.subs_total.saturating_sub(conn.subs.len());
            if !conn.released {
                self.gate.closed();
            }
        }
        let s = &mut self.stats;
        match cause {
            Cause::HandshakeTimeout => s.handshake_timeouts += 1,
            Cause::BadRequest => s.bad_requests += 1,
            Cause::Nip11 => s.nip11_served += 1,
            Cause::Oversized => s.oversized_closed += 1,
            Cause::Idle => s.idle_closed += 1,
            Cause::Protocol => s.protocol_closed += 1,
            Cause::TlsHandshake => s.tls_handshake_failed += 1,
            Cause::Client | Cause::Relay => {}
        }
    }

    fn dispatch<S: EventStore + StateStore>(
        &mut self,
        node: &mut Node<S>,
        now: Instant,
        unix: UnixTime,
        conn: ConnId,
        text: &str,
    ) {
        match ClientMessage::decode(text) {
            Ok(ClientMessage::Event(event)) => self.on_event(node, now, unix, conn, *event),
            Ok(ClientMessage::Req { sub_id, filters }) => self.on_req(node, conn, sub_id, filters),
            Ok(ClientMessage::Count { sub_id, filters }) => {
                self.stats.counts += 1;
                let reply = match node.count(&filters) {
                    Ok(n) => proto::count(&sub_id, n),
                    Err(e) => proto::closed(&sub_id, &format!("error: could not count: {e}")),
                };
                self.send(conn, reply, false);
            }
            Ok(ClientMessage::Close { sub_id }) => {
                if let Some(c) = self.conns.get_mut(&conn)
                    && c.subs.remove(&sub_id)
                {
                    self.subs_total = self.subs_total.saturating_sub(1);
                }
            }
            Err(e) => self.on_error(conn, e),
        }
    }

    fn on_event<S: EventStore + StateStore>(
        &mut self,
        node: &mut Node<S>,
        now: Instant,
        unix: UnixTime,
        conn: ConnId,
        event: Event,
    ) {
        self.stats.events_received += 1;
        let id = event.id.to_hex();
        let allowed = self
            .conns
            .get_mut(&conn)
            .is_some_and(|c| c.bucket.take(now));
        if !allowed {
            self.stats.rate_limited += 1;
            self.stats.ok_false += 1;
            let message =
                format!("rate-limited: at most {EVENTS_PER_SEC} events per second per connection");
            self.send(conn, proto::ok(&id, false, &message), false);
            return;
        }
        let event_id = event.id;
        match node.submit(event, unix) {
            Ok(Accepted::Stored) => {
                self.parked.push((conn, id));
                self.stored_this_turn.insert(event_id);
            }
            Ok(accepted) => {
                self.stats.ok_true += 1;
                self.send(conn, proto::ok(&id, true, accepted.message()), false);
            }
            Err(refused) => {
                self.stats.ok_false += 1;
                self.send(conn, proto::ok(&id, false, &refused.message()), false);
            }
        }
    }

    fn on_req<S: EventStore + StateStore>(
        &mut self,
        node: &mut Node<S>,
        conn: ConnId,
        sub_id: String,
        mut filters: Vec<Filter>,
    ) {
        self.stats.reqs += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        let replacing = c.subs.remove(&sub_id);
        if replacing {
            self.subs_total = self.subs_total.saturating_sub(1);
        } else if c.subs.len() >= MAX_SUBS_PER_CONN {
            self.stats.subs_refused_conn += 1;
            let message = format!(
                "restricted: too many subscriptions: at most {MAX_SUBS_PER_CONN} per connection"
            );
            self.send(conn, proto::closed(&sub_id, &message), false);
            return;
        }
        if self.subs_total >= MAX_SUBS_TOTAL {
            self.stats.subs_refused_total += 1;
            let message = format!(
                "restricted: this node serves at most {MAX_SUBS_TOTAL} subscriptions in all"
            );
            self.send(conn, proto::closed(&sub_id, &message), false);
            return;
        }
        for f in &mut filters {
            f.limit = Some(f.limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT));
        }
        // `limit: 0` asks for live events only (NIP-01).
        let stored: Vec<Filter> = filters
            .iter()
            .filter(|f| f.limit != Some(0) && f.can_match())
            .cloned()
            .collect();
        let answer = if stored.is_empty() {
            Ok(Vec::new())
        } else {
            node.query_json(&stored)
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                let message = format!("error: could not read the store: {e}");
                self.send(conn, proto::closed(&sub_id, &message), false);
                return;
            }
        };
        let mut bytes = 0usize;
        for (sent, json) in answer.iter().enumerate() {
            if sent > 0 && bytes + json.len() > REQ_ANSWER_MAX {
                self.stats.answers_truncated += 1;
                break;
            }
            bytes += json.len();
            self.send(conn, proto::event(&sub_id, json), false);
        }
        self.send(conn, proto::eose(&sub_id), false);
        if let Some(c) = self.conns.get_mut(&conn)
            && !c.closing
        {
            c.subs
                .insert(sub_id, filters, self.stored_this_turn.clone());
            self.subs_total += 1;
        }
    }

    fn on_error(&mut self, conn: ConnId, error: ProtoError) {
        let reply = match error {
            ProtoError::BadEvent {
                id: Some(id),
                error,
            } => {
                self.stats.events_received += 1;
                self.stats.ok_false += 1;
                proto::ok(&id, false, &format!("invalid: {error}"))
            }
            ProtoError::BadFilter { sub_id, error, .. } => {
                self.stats.bad_filters += 1;
                self.drop_sub(conn, &sub_id);
                proto::closed(&sub_id, &format!("error: invalid filter: {error}"))
            }
            ProtoError::FilterCount { sub_id, given, .. } => {
                self.stats.filters_refused += 1;
                self.drop_sub(conn, &sub_id);
                let message = if given == 0 {
                    "error: a request needs at least one filter".to_owned()
                } else {
                    format!("restricted: too many filters: at most {MAX_FILTERS} per request")
                };
                proto::closed(&sub_id, &message)
            }
            other => {
                self.stats.notices += 1;
                // The error may quote the client's input: keep the notice short.
                let text: String = format!("error: {other}").chars().take(300).collect();
                proto::notice(&text)
            }
        };
        self.send(conn, reply, false);
    }

    /// A `CLOSED` ends a live subscription of the same id too.
    fn drop_sub(&mut self, conn: ConnId, sub_id: &str) {
        if let Some(c) = self.conns.get_mut(&conn)
            && c.subs.remove(sub_id)
        {
            self.subs_total = self.subs_total.saturating_sub(1);
        }
    }

    /// Queues `text` for `conn`. A live event finding the backlog over [`OUTBOUND_MAX`], or a
    /// full queue, closes the connection as a slow consumer.
    fn send(&mut self, conn: ConnId, text: String, live: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            queue(c, &mut self.stats, &mut self.subs_total, text, live);
        }
    }

    /// Delivers a stored or ephemeral event to the live subscriptions it matches.
    pub fn deliver(&mut self, event: &Event) {
        let mut json: Option<String> = None;
        let over_total = self.backlog_total() > OUTBOUND_TOTAL_MAX;
        for c in self.conns.values_mut() {
            if c.closing || !c.upgraded {
                continue;
            }
            let ids: Vec<String> = c.subs.matching(event).map(str::to_owned).collect();
            for sub_id in ids {
                let json = json.get_or_insert_with(|| event.to_json());
                self.stats.live_sent += 1;
                let text = proto::event(&sub_id, json);
                if over_total
                    && c.backlog.load(Ordering::Relaxed) > OUTBOUND_TOTAL_MAX / MAX_CONNECTIONS
                {
                    slow_consumer(c, &mut self.stats, &mut self.subs_total);
                    break;
                }
                queue(c, &mut self.stats, &mut self.subs_total, text, true);
            }
        }
    }

    /// The turn's commit ended: parked writes get their `OK`.
    pub fn release(&mut self, committed: &Committed) {
        let (accepted, message) = committed.ok_reply();
        for (conn, id) in std::mem::take(&mut self.parked) {
            if accepted {
                self.stats.ok_true += 1;
            } else {
                self.stats.ok_false += 1;
                self.stats.commits_failed_oks += 1;
            }
            self.send(conn, proto::ok(&id, accepted, &message), false);
        }
        if !self.stored_this_turn.is_empty() {
            self.stored_this_turn.clear();
            for c in self.conns.values_mut() {
                c.subs.end_turn();
            }
        }
    }

    /// Bytes queued for all connections.
    fn backlog_total(&self) -> usize {
        self.conns
            .values()
            .map(|c| c.backlog.load(Ordering::Relaxed))
            .sum()
    }

    /// Connections open (in handshake or upgraded).
    #[must_use]
    pub fn open(&self) -> usize {
        self.conns.len()
    }

    /// The counters and current sizes for `/status`.
    #[must_use]
    pub fn stats_json(&self) -> serde_json::Value {
        let s = &self.stats;
        let backlog = self.backlog_total();
        serde_json::json!({
            "open": self.conns.len(),
            "websockets": self.conns.values().filter(|c| c.upgraded).count(),
            "max_connections": MAX_CONNECTIONS,
            "subscriptions": self.subs_total,
            "outbound_bytes": backlog,
            "admitted": self.gate.admitted,
            "refused_not_lan": self.gate.refused_not_lan,
            "refused_busy": self.gate.refused_busy,
            "refused_dropped": s.refused_dropped,
            "tls": self.tls.is_some(),
            "tls_handshake_failed": s.tls_handshake_failed,
            "refused_tls_closed": s.refused_tls_closed,
            "evicted": s.evicted,
            "upgraded": s.upgraded,
            "nip11_served": s.nip11_served,
            "bad_requests": s.bad_requests,
            "handshake_timeouts": s.handshake_timeouts,
            "events_received": s.events_received,
            "ok_true": s.ok_true,
            "ok_false": s.ok_false,
            "rate_limited": s.rate_limited,
            "ok_storage_failed": s.commits_failed_oks,
            "reqs": s.reqs,
            "counts": s.counts,
            "subs_refused_per_conn": s.subs_refused_conn,
            "subs_refused_total": s.subs_refused_total,
            "filters_refused": s.filters_refused,
            "bad_filters": s.bad_filters,
            "notices": s.notices,
            "answers_truncated": s.answers_truncated,
            "live_sent": s.live_sent,
            "closed_oversized": s.oversized_closed,
            "closed_slow_consumer": s.slow_consumer_closed,
            "closed_idle": s.idle_closed,
            "closed_protocol": s.protocol_closed,
        })
    }
}

/// Queues one message for a connection (see [`Relay::send`]).
fn queue(c: &mut Conn, stats: &mut Stats, subs_total: &mut usize, text: String, live: bool) {
    if c.closing {
        return;
    }
    let len = text.len();
    if live && c.backlog.load(Ordering::Relaxed) > OUTBOUND_MAX {
        slow_consumer(c, stats, subs_total);
        return;
    }
    c.backlog.fetch_add(len, Ordering::Relaxed);
    match c.outbound.try_send(text) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            c.backlog.fetch_sub(len, Ordering::Relaxed);
            slow_consumer(c, stats, subs_total);
        }
        // The task ended; its `Closed` is on the way.
        Err(TrySendError::Closed(_)) => {
            c.backlog.fetch_sub(len, Ordering::Relaxed);
        }
    }
}

fn slow_consumer(c: &mut Conn, stats: &mut Stats, subs_total: &mut usize) {
    c.closing = true;
    *subs_total = subs_total.saturating_sub(c.subs.len());
    c.subs = Subs::default();
    stats.slow_consumer_closed += 1;
    let _ = c.close.try_send((CloseCode::Policy, "slow consumer"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // a base instant; the bucket itself takes `now`
    fn the_event_bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(t0);
        let burst = EVENT_BURST as usize;
        assert_eq!((0..burst + 10).filter(|_| bucket.take(t0)).count(), burst);
        assert!(!bucket.take(t0));
        // 10 ms later, 1 % of a second's rate has come back.
        let later = t0 + Duration::from_millis(10);
        let refilled = (EVENTS_PER_SEC / 100.0) as usize;
        assert_eq!(
            (0..refilled + 10).filter(|_| bucket.take(later)).count(),
            refilled
        );
    }
}
