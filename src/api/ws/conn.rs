//! The per-connection task: it only moves bytes. It reads the HTTP request head itself
//! (bounded in size and time), answers NIP-11 or upgrades to a websocket, then forwards each
//! text frame to the loop over the shared bounded inbound channel and writes what the loop
//! queued for it. It holds no relay state: subscriptions, writes and counters live in the loop.
//!
//! The websocket is tungstenite's non-blocking `WebSocket` over the tokio socket's `try_read`
//! and `try_write`, woken by the socket's readiness: no extra buffer layer, no `futures` traits,
//! and every buffer bounded by the [`config`]. With `-s` the task first completes a TLS
//! handshake (tokio-rustls, within `api::tls::TLS_HANDSHAKE_TIMEOUT`), reads the head through
//! it, and for the websocket drives the rustls connection itself over the same non-blocking
//! socket ([`Io::Tls`]); rustls' own buffers are bounded by its default limit (64 KiB).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConnection;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocket, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::api::tls::TLS_HANDSHAKE_TIMEOUT;

use super::{
    ConnId, HANDSHAKE_TIMEOUT, HEAD_MAX, IN_FLIGHT_PER_CONN, MAX_MESSAGE_BYTES, PING_INTERVAL,
    READ_BUFFER, READ_PAUSE_BACKLOG,
};

/// Longest a close (frame, flush, the peer's reply) may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a task tells the loop.
#[derive(Debug)]
pub enum Inbound {
    /// The websocket handshake is done.
    Upgraded { conn: ConnId },
    /// A text frame. The permit is the connection's in-flight slot: dropped when the loop has
    /// handled the message, so one connection has at most
    /// [`IN_FLIGHT_PER_CONN`] messages waiting in the loop.
    Text {
        conn: ConnId,
        text: String,
        permit: OwnedSemaphorePermit,
    },
    /// A binary frame (NIP-01 is text only): answered with a `NOTICE`.
    Binary {
        conn: ConnId,
        permit: OwnedSemaphorePermit,
    },
    /// The connection is gone; the task has ended or is about to.
    Closed { conn: ConnId, cause: Cause },
}

/// Why a connection ended: counted by the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The client closed or the socket failed.
    Client,
    /// No complete request head within [`HANDSHAKE_TIMEOUT`].
    HandshakeTimeout,
    /// A head over [`HEAD_MAX`], not HTTP, or not an upgrade we accept.
    BadRequest,
    /// A NIP-11 document (or a CORS preflight) was served.
    Nip11,
    /// A frame over [`MAX_MESSAGE_BYTES`]: closed with 1009.
    Oversized,
    /// No frame for two ping intervals: closed with 1001.
    Idle,
    /// The loop closed it (slow consumer, eviction, shutdown).
    Relay,
    /// A websocket protocol violation.
    Protocol,
    /// `-s`: the TLS handshake failed or did not finish in time.
    TlsHandshake,
}

/// How the loop tells a task to close: a close code and reason.
pub type CloseOrder = (CloseCode, &'static str);

/// What the loop hands a new connection's task.
pub struct Spawn {
    pub conn: ConnId,
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub inbound: mpsc::Sender<Inbound>,
    pub outbound: mpsc::Receiver<String>,
    /// Bytes queued by the loop and not yet handed to the websocket (shared with the loop,
    /// which adds; this task subtracts).
    pub backlog: Arc<AtomicUsize>,
    /// Close orders (capacity 1; a dropped sender also means close).
    pub close: mpsc::Receiver<CloseOrder>,
    pub nip11: Arc<str>,
    /// `-s`: the handshake to complete before the request head.
    pub tls: Option<TlsAcceptor>,
}

/// The websocket limits: frames and messages up to [`MAX_MESSAGE_BYTES`], an
/// [`READ_BUFFER`]-byte read chunk, and a write buffer that holds one message (the task hands
/// the websocket a new message only after the previous one is flushed).
#[must_use]
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_MESSAGE_BYTES + 64 * 1024)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
}

/// The request head as far as this port cares.
#[derive(Debug, Default, PartialEq, Eq)]
struct Head {
    method: String,
    upgrade_websocket: bool,
    key: Option<String>,
    /// `Sec-WebSocket-Version`, if sent.
    version: Option<String>,
    wants_nip11: bool,
}

fn parse_head(text: &str) -> Option<Head> {
    let mut lines = text.split("\r\n");
    let mut request = lines.next()?.split(' ');
    let method = request.next()?.to_owned();
    let _target = request.next()?;
    if !request.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let mut head = Head {
        method,
        ..Head::default()
    };
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "upgrade" => head.upgrade_websocket = value.eq_ignore_ascii_case("websocket"),
            "sec-websocket-key" => head.key = Some(value.to_owned()),
            "sec-websocket-version" => head.version = Some(value.to_owned()),
            "accept" => {
                head.wants_nip11 = value
                    .split(',')
                    .any(|v| v.trim().starts_with("application/nostr+json"));
            }
            _ => {}
        }
    }
    Some(head)
}

/// Whether `text` parses as a request head on this port: the entry point of the
/// `ws_upgrade_head` fuzz target and its corpus replay (docs/fuzzing.md).
#[doc(hidden)]
#[must_use]
pub fn parse_head_for_fuzzing(text: &str) -> bool {
    parse_head(text).is_some()
}

/// Reads to the blank line ending the head; returns the head text and the bytes after it (the
/// first websocket frames of an eager client). `None` when the peer closes, sends more than
/// [`HEAD_MAX`] or sends non-UTF-8.
async fn read_head<S: Stream>(stream: &mut S) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return String::from_utf8(buf).ok().map(|h| (h, rest));
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() + n > HEAD_MAX {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
    }
}

/// A plain HTTP response with the CORS headers NIP-11 asks for, then `Connection: close`.
#[must_use]
pub fn http_response(code: u16, reason: &str, content_type: &str, body: &str) -> String {
    http_answer(None, code, reason, content_type, "", body)
}

/// [`http_response`] to a request of `method` (`HEAD`: the same head, no body; RFC 9110
/// §9.3.2), with `extra` header lines (each ending in CRLF) added.
fn http_answer(
    method: Option<&str>,
    code: u16,
    reason: &str,
    content_type: &str,
    extra: &str,
    body: &str,
) -> String {
    let sent = if method == Some("HEAD") { "" } else { body };
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Headers: *\r\n\
         Access-Control-Allow-Methods: GET, OPTIONS\r\n{extra}Connection: close\r\n\r\n{sent}",
        body.len()
    )
}

/// Writes a whole response and closes, within [`CLOSE_TIMEOUT`]; then reads what the client
/// still sends for a moment, so closing does not reset the connection before it read the reply.
pub async fn respond_and_close<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, response: String) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        let mut drained = 0usize;
        while drained < HEAD_MAX {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        io::Result::Ok(())
    })
    .await;
}

/// Runs one connection to its end and always tells the loop `Closed`.
pub async fn run(spawn: Spawn) {
    let Spawn {
        conn,
        stream,
        peer,
        inbound,
        outbound,
        backlog,
        mut close,
        nip11,
        tls,
    } = spawn;
    let cause = match tls {
        None => {
            serve(
                conn, stream, &inbound, outbound, &backlog, &mut close, &nip11,
            )
            .await
        }
        Some(acceptor) => {
            // The loop may close a connection still in its handshake (eviction, shutdown).
            let handshake = tokio::select! {
                h = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => {
                    Some(h.ok().and_then(Result::ok))
                }
                _ = close.recv() => None,
            };
            match handshake {
                Some(Some(tls)) => {
                    serve(conn, tls, &inbound, outbound, &backlog, &mut close, &nip11).await
                }
                Some(None) => Cause::TlsHandshake,
                None => Cause::Relay,
            }
        }
    };
    log::debug!("ws: {peer} closed: {cause:?}");
    let _ = inbound.send(Inbound::Closed { conn, cause }).await;
}

/// A connection before the upgrade: TCP, or TLS over it (`-s`).
pub trait Stream: AsyncRead + AsyncWrite + Unpin {
    /// The same connection as tungstenite's non-blocking [`Io`].
    fn into_io(self) -> Io;
}

impl Stream for TcpStream {
    fn into_io(self) -> Io {
        Io::Plain(self)
    }
}

impl Stream for tokio_rustls::server::TlsStream<TcpStream> {
    fn into_io(self) -> Io {
        // Plaintext rustls decrypted but the head reader did not take stays in `conn`.
        let (tcp, conn) = self.into_inner();
        Io::Tls(Box::new(TlsIo { tcp, conn }))
    }
}

async fn serve<S: Stream>(
    conn: ConnId,
    mut stream: S,
    inbound: &mpsc::Sender<Inbound>,
    outbound: mpsc::Receiver<String>,
    backlog: &AtomicUsize,
    close: &mut mpsc::Receiver<CloseOrder>,
    nip11: &str,
) -> Cause {
    // The loop may close a connection still in its handshake (eviction, shutdown).
    let head = tokio::select! {
        head = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_head(&mut stream)) => head,
        _ = close.recv() => return Cause::Relay,
    };
    let Ok(head) = head else {
        return Cause::HandshakeTimeout;
    };
    let Some((head_text, rest)) = head else {
        return Cause::BadRequest;
    };
    let Some(head) = parse_head(&head_text) else {
        respond_and_close(
            stream,
            http_response(400, "Bad Request", "text/plain", "bad request\n"),
        )
        .await;
        return Cause::BadRequest;
    };
    let method = head.method.as_str();
    match (method, head.upgrade_websocket, &head.key) {
        ("GET", true, Some(key)) if head.version.as_deref() == Some("13") => {
            let reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            );
            let written =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.write_all(reply.as_bytes())).await;
            if !matches!(written, Ok(Ok(()))) {
                return Cause::Client;
            }
            if inbound.send(Inbound::Upgraded { conn }).await.is_err() {
                return Cause::Relay;
            }
            let ws = WebSocket::from_partially_read(
                stream.into_io(),
                rest,
                Role::Server,
                Some(config()),
            );
            websocket(conn, ws, inbound, outbound, backlog, close).await
        }
        ("OPTIONS", _, _) => {
            respond_and_close(stream, http_response(204, "No Content", "text/plain", "")).await;
            Cause::Nip11
        }
        // RFC 6455 §4.2.2: a version we do not speak gets 426 naming the one we do.
        ("GET", true, Some(_)) if head.version.is_some() => {
            let body = "unsupported websocket version: this relay speaks version 13\n";
            let response = http_answer(
                Some(method),
                426,
                "Upgrade Required",
                "text/plain",
                "Sec-WebSocket-Version: 13\r\n",
                body,
            );
            respond_and_close(stream, response).await;
            Cause::BadRequest
        }
        ("GET" | "HEAD", false, _) if head.wants_nip11 => {
            let response =
                http_answer(Some(method), 200, "OK", "application/nostr+json", "", nip11);
            respond_and_close(stream, response).await;
            Cause::Nip11
        }
        ("GET" | "HEAD", false, _) => {
            let body = "This is a Nostr relay: connect with a websocket client, or ask for \
                        Accept: application/nostr+json.\n";
            let response = http_answer(
                Some(method),
                426,
                "Upgrade Required",
                "text/plain",
                "Upgrade: websocket\r\n",
                body,
            );
            respond_and_close(stream, response).await;
            Cause::BadRequest
        }
        _ => {
            respond_and_close(
                stream,
                http_response(400, "Bad Request", "text/plain", "bad request\n"),
            )
            .await;
            Cause::BadRequest
        }
    }
}

/// The tokio socket as a non-blocking `Read + Write` for tungstenite: `WouldBlock` when not
/// ready, and the task waits for the socket's readiness. With TLS the same, through rustls:
/// `WouldBlock` means the socket had nothing to read (or took nothing), so waiting on its
/// readiness is right in both cases.
pub enum Io {
    Plain(TcpStream),
    Tls(Box<TlsIo>),
}

/// A rustls server connection over the non-blocking socket.
pub struct TlsIo {
    tcp: TcpStream,
    conn: ServerConnection,
}

/// `try_read`/`try_write` of a tokio socket as `std::io` traits, for rustls' `read_tls` and
/// `write_tls`.
struct TryIo<'a>(&'a TcpStream);

impl io::Read for TryIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl io::Write for TryIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsIo {
    /// Plaintext rustls holds, else one read of TLS records from the socket and try again.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match io::Read::read(&mut self.conn.reader(), buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            // Nothing decrypted is waiting. `WouldBlock` from the socket ends the call; at end
            // of stream the reader above answers 0 or `UnexpectedEof` next round.
            self.conn.read_tls(&mut TryIo(&self.tcp))?;
            if let Err(e) = self.conn.process_new_packets() {
                // Send the alert rustls queued, best effort.
                let _ = self.push();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake messages after it (TLS 1.3 tickets) or a key update answer.
            match self.push() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
    }

    /// Writes what rustls has queued for the socket, until it is empty or the socket is full.
    fn push(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut TryIo(&self.tcp))? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }

    /// Takes plaintext only once rustls' queue reached the socket, so rustls holds at most
    /// one call's worth (bounded by its buffer limit) beyond what the socket took.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push()?;
        let n = io::Write::write(&mut self.conn.writer(), buf)?;
        match self.push() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }
}

impl Io {
    fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(t) => &t.tcp,
        }
    }

    /// Waits until the socket may have bytes to read.
    async fn readable(&self) -> io::Result<()> {
        self.tcp().readable().await
    }

    /// Waits until the socket may take bytes.
    async fn writable(&self) -> io::Result<()> {
        self.tcp().writable().await
    }

    /// Ends our side: TLS close_notify (best effort), then the TCP write side.
    async fn shutdown(&mut self) -> io::Result<()> {
        if let Self::Tls(t) = self {
            t.conn.send_close_notify();
            let _ = t.push();
        }
        match self {
            Self::Plain(tcp) => tcp.shutdown().await,
            Self::Tls(t) => t.tcp.shutdown().await,
        }
    }

    /// One read, waiting for the socket as needed.
    async fn read_async(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match io::Read::read(self, buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable().await?,
                other => return other,
            }
        }
    }
}

impl io::Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.try_read(buf),
            Self::Tls(t) => t.read(buf),
        }
    }
}

impl io::Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.try_write(buf),
            Self::Tls(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(_) => Ok(()),
            Self::Tls(t) => t.push(),
        }
    }
}

fn would_block(e: &WsError) -> bool {
    matches!(e, WsError::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

/// The websocket phase: read frames while the loop keeps up and the client reads its replies,
/// write what the loop queued, ping a silent client, close on order.
async fn websocket(
    conn: ConnId,
    mut ws: WebSocket<Io>,
    inbound: &mpsc::Sender<Inbound>,
    mut outbound: mpsc::Receiver<String>,
    backlog: &AtomicUsize,
    close: &mut mpsc::Receiver<CloseOrder>,
) -> Cause {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT_PER_CONN));
    let mut slot: Option<OwnedSemaphorePermit> = None;
    // Whether tungstenite holds bytes the socket did not take yet.
    let mut unflushed = false;
    let mut ping_due = Instant::now() + PING_INTERVAL;
    let mut pinged = false;
    loop {
        if slot.is_none() {
            slot = slots.clone().try_acquire_owned().ok();
        }
        // Read the frames already available, up to the first one for the loop (which takes
        // the slot), while the client keeps up with its replies.
        while slot.is_some() && backlog.load(Ordering::Relaxed) < READ_PAUSE_BACKLOG {
            match ws.read() {
                Ok(message) => {
                    ping_due = Instant::now() + PING_INTERVAL;
                    pinged = false;
                    let forward = match message {
                        Message::Text(text) => slot.take().map(|permit| Inbound::Text {
                            conn,
                            text: text.as_str().to_owned(),
                            permit,
                        }),
                        Message::Binary(_) => {
                            slot.take().map(|permit| Inbound::Binary { conn, permit })
                        }
                        // Pings are answered by tungstenite on the next write or flush; a
                        // close is answered the same way, then `read` ends the connection.
                        _ => None,
                    };
                    if let Some(forward) = forward {
                        if inbound.send(forward).await.is_err() {
                            return Cause::Relay;
                        }
                        break;
                    }
                    unflushed = true;
                }
                Err(e) if would_block(&e) => break,
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return Cause::Client,
                Err(WsError::Capacity(
                    CapacityError::MessageTooLong { .. } | CapacityError::TooManyHeaders,
                )) => {
                    close_after_error(&mut ws, CloseCode::Size, "message too big").await;
                    return Cause::Oversized;
                }
                // A client that vanishes without a close frame (a dropped socket, a killed
                // app) is a client close, not a protocol violation.
                Err(
                    WsError::Io(_) | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                ) => return Cause::Client,
                Err(e) => {
                    log::debug!("ws: protocol error: {e}");
                    close_after_error(&mut ws, CloseCode::Protocol, "protocol error").await;
                    return Cause::Protocol;
                }
            }
        }
        if unflushed {
            match ws.flush() {
                Ok(()) => unflushed = false,
                Err(e) if would_block(&e) => {}
                Err(_) => return Cause::Client,
            }
        }
        let may_read = slot.is_some() && backlog.load(Ordering::Relaxed) < READ_PAUSE_BACKLOG;
        // The slot may be in the loop; the check above re-acquires it on the next round.
        let want_slot = slot.is_none();
        tokio::select! {
            biased;
            order = close.recv() => {
                let (code, reason) = order.unwrap_or((CloseCode::Away, "relay stopping"));
                close_with(&mut ws, code, reason).await;
                return Cause::Relay;
            }
            ready = ws.get_ref().writable(), if unflushed => {
                if ready.is_err() {
                    return Cause::Client;
                }
            }
            message = outbound.recv(), if !unflushed => {
                let Some(text) = message else {
                    close_with(&mut ws, CloseCode::Away, "relay stopping").await;
                    return Cause::Relay;
                };
                backlog.fetch_sub(text.len(), Ordering::Relaxed);
                match ws.write(Message::Text(Utf8Bytes::from(text))) {
                    Ok(()) => {}
                    Err(e) if would_block(&e) => {}
                    Err(_) => return Cause::Client,
                }
                unflushed = true;
            }
            ready = ws.get_ref().readable(), if may_read => {
                if ready.is_err() {
                    return Cause::Client;
                }
            }
            permit = slots.clone().acquire_owned(), if want_slot => {
                slot = permit.ok();
            }
            () = tokio::time::sleep_until(ping_due) => {
                if pinged {
                    close_with(&mut ws, CloseCode::Away, "idle timeout").await;
                    return Cause::Idle;
                }
                pinged = true;
                ping_due = Instant::now() + PING_INTERVAL;
                match ws.write(Message::Ping(Default::default())) {
                    Ok(()) => {}
                    Err(e) if would_block(&e) => {}
                    Err(_) => return Cause::Client,
                }
                unflushed = true;
            }
        }
    }
}

/// Sends a close frame and drives the close handshake for at most [`CLOSE_TIMEOUT`].
/// `after_error` is set when a read failed: tungstenite must not be read again then (its
/// frame state is undefined, and a debug assertion fires), so the close is flushed, the write
/// side shut, and what the client still sends is discarded, so that our close frame is not
/// lost to a reset.
async fn close_with(ws: &mut WebSocket<Io>, code: CloseCode, reason: &'static str) {
    close_inner(ws, code, reason, false).await;
}

async fn close_after_error(ws: &mut WebSocket<Io>, code: CloseCode, reason: &'static str) {
    close_inner(ws, code, reason, true).await;
}

async fn close_inner(
    ws: &mut WebSocket<Io>,
    code: CloseCode,
    reason: &'static str,
    after_error: bool,
) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        match ws.close(Some(frame)) {
            Ok(()) => {}
            Err(ref e) if would_block(e) => {}
            Err(_) => return,
        }
        // Flush our close frame.
        loop {
            match ws.flush() {
                Ok(()) => break,
                Err(ref e) if would_block(e) => {
                    if ws.get_ref().writable().await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        if after_error {
            let stream = ws.get_mut();
            let _ = stream.shutdown().await;
            let mut sink = vec![0u8; READ_BUFFER];
            let mut left = MAX_MESSAGE_BYTES * 2;
            while left > 0 {
                match stream.read_async(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
            return;
        }
        // Read until the peer's close ends the connection.
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(e) if would_block(&e) => {
                    if ws.get_ref().readable().await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
            match ws.flush() {
                Ok(()) => {}
                Err(ref e) if would_block(e) => {}
                Err(_) => return,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upgrade_and_nip11_heads() {
        let up = parse_head(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .expect("head");
        assert!(up.upgrade_websocket);
        assert_eq!(up.version.as_deref(), Some("13"));
        assert_eq!(up.key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        let info =
            parse_head("GET / HTTP/1.1\r\naccept: text/html, application/nostr+json\r\n\r\n")
                .expect("head");
        assert!(info.wants_nip11 && !info.upgrade_websocket);
        assert_eq!(parse_head("garbage"), None);
        assert_eq!(parse_head("GET / HTTP/1.1\r\nno colon\r\n\r\n"), None);
    }

    #[test]
    fn a_head_request_gets_the_head_without_the_body() {
        let get = http_answer(Some("GET"), 200, "OK", "application/nostr+json", "", "{}");
        let head = http_answer(Some("HEAD"), 200, "OK", "application/nostr+json", "", "{}");
        assert!(get.ends_with("\r\n\r\n{}"));
        assert_eq!(head, get.trim_end_matches("{}"));
        assert!(head.contains("Content-Length: 2\r\n"));
    }

    #[test]
    fn accept_key_is_rfc6455s_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
