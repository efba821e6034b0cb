//! One admitted TCP connection, proxied to tiny_http's private Unix socket: a task on the loop
//! thread that moves bytes both ways through two fixed buffers and enforces the timeouts
//! tiny_http lacks (notes/crates.md): a head must arrive within [`HTTP_HEAD_TIMEOUT`], a body
//! within [`HTTP_BODY_TIMEOUT`], and a connection idle for [`HTTP_IDLE_TIMEOUT`] is cut; both
//! shrink while other connections wait for a slot (`contended`), so idle keep-alive
//! connections make room for fresh requests.
//!
//! A request is held here until it is complete (head ≤ [`HTTP_HEAD_MAX`], body ≤
//! [`HTTP_BODY_MAX`]) and only then written to tiny_http in one go: tiny_http hands a request
//! to the single bridge thread as soon as its head is in, and the bridge reads the body, so a
//! body trickled through would hold the bridge, and with it every REST request, until the body
//! timeout. Held bytes are bounded per attached connection by `HTTP_HEAD_MAX + HTTP_BODY_MAX`
//! (plus one read of [`HTTP_PROXY_BUF`] of pipelined requests), so by
//! [`HTTP_ATTACHED_MAX`] × 272 KiB ≈ 816 KiB in all; waiting connections hold none.

use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::scan::{Phase, RequestScanner, ScanError};
#[cfg(doc)]
use super::{HTTP_ATTACHED_MAX, HTTP_BODY_MAX, HTTP_HEAD_MAX};
use super::{
    HTTP_BODY_TIMEOUT, HTTP_DETACH_TIMEOUT, HTTP_HEAD_TIMEOUT, HTTP_HEAD_TIMEOUT_CONTENDED,
    HTTP_IDLE_TIMEOUT, HTTP_IDLE_TIMEOUT_CONTENDED, HTTP_PROXY_BUF, HTTP_REFUSAL_LINGER,
    HTTP_REPLY_TIMEOUT, HTTP_SLOT_SETTLE,
};

/// How a proxied connection ended; each is counted in the `"http"` status section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyEnd {
    /// The client closed (or reset) its side.
    ClientClosed,
    /// tiny_http closed its side (e.g. after `Connection: close`).
    ServerClosed,
    /// No complete head within the head timeout (answered 408).
    HeadTimeout,
    /// No complete body within [`HTTP_BODY_TIMEOUT`] (answered 408; tiny_http never saw it).
    BodyTimeout,
    /// Idle past [`HTTP_IDLE_TIMEOUT`] with nobody waiting.
    Idle,
    /// Idle past [`HTTP_IDLE_TIMEOUT_CONTENDED`] while others waited for a slot.
    IdleContended,
    /// No answer within [`HTTP_REPLY_TIMEOUT`] (the loop or the bridge is stuck).
    ReplyTimeout,
    /// The client did not take the answer within the idle timeout.
    ClientStalled,
    /// The head broke a rule the proxy enforces (answered 400, 411, 413 or 431).
    BadHead(ScanError),
    /// tiny_http's socket could not be reached (answered 503).
    Unreachable,
    /// `-s`: the TLS handshake failed or did not finish within `TLS_HANDSHAKE_TIMEOUT`.
    TlsHandshake,
}

/// What a proxied connection did, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyOutcome {
    /// How it ended.
    pub end: ProxyEnd,
    /// Requests it carried.
    pub requests: u64,
    /// tiny_http had not closed its side within [`HTTP_DETACH_TIMEOUT`] (its thread was still
    /// busy when the slot was reused).
    pub detach_timed_out: bool,
}

impl ProxyOutcome {
    /// A connection whose TLS handshake failed: no request reached tiny_http.
    #[must_use]
    pub fn handshake_failed() -> Self {
        Self {
            end: ProxyEnd::TlsHandshake,
            requests: 0,
            detach_timed_out: false,
        }
    }
}

/// Proxies `client` (TCP, or TLS over it with `-s`) to the socket at `socket` until one side
/// closes or a timeout fires.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    socket: &Path,
    mut contended: watch::Receiver<bool>,
) -> ProxyOutcome {
    let mut upstream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e) => {
            log::warn!("http: cannot reach {}: {e}", socket.display());
            let _ = client
                .write_all(&refusal(503, "Service Unavailable", "busy"))
                .await;
            return ProxyOutcome {
                end: ProxyEnd::Unreachable,
                requests: 0,
                detach_timed_out: false,
            };
        }
    };
    let mut from_client = vec![0u8; HTTP_PROXY_BUF];
    let mut from_server = vec![0u8; HTTP_PROXY_BUF];
    let mut held = Held::default();
    let mut last_progress = Instant::now();
    let mut phase_started = last_progress;
    let end = loop {
        let squeezed = *contended.borrow();
        let (deadline, expiry) =
            deadline(held.scan.phase(), squeezed, last_progress, phase_started);
        tokio::select! {
            read = client.read(&mut from_client) => {
                let n = match read {
                    Ok(0) | Err(_) => break ProxyEnd::ClientClosed,
                    Ok(n) => n,
                };
                match held.take(from_client.get(..n).unwrap_or_default()) {
                    Ok(true) => phase_started = Instant::now(),
                    Ok(false) => {}
                    Err(e) => {
                        let (code, reason) = match e {
                            ScanError::HeadTooLarge => (431, "Request Header Fields Too Large"),
                            ScanError::Chunked => (411, "Length Required"),
                            ScanError::BadLength => (400, "Bad Request"),
                            ScanError::BodyTooLarge => (413, "Payload Too Large"),
                        };
                        answer_and_close(&mut client, &refusal(code, reason, &e.to_string()))
                            .await;
                        break ProxyEnd::BadHead(e);
                    }
                }
                let Some(ready) = held.ready() else { continue };
                match tokio::time::timeout(HTTP_REPLY_TIMEOUT, upstream.write_all(ready)).await {
                    Ok(Ok(())) => {
                        held.forwarded();
                        last_progress = Instant::now();
                    }
                    Ok(Err(_)) => break ProxyEnd::ServerClosed,
                    Err(_) => break ProxyEnd::ReplyTimeout,
                }
            }
            read = upstream.read(&mut from_server) => {
                let n = match read {
                    Ok(0) | Err(_) => break ProxyEnd::ServerClosed,
                    Ok(n) => n,
                };
                if held.scan.phase() == Phase::Awaiting {
                    phase_started = Instant::now();
                }
                held.scan.answer_started();
                let bytes = from_server.get(..n).unwrap_or_default();
                match tokio::time::timeout(HTTP_IDLE_TIMEOUT, client.write_all(bytes)).await {
                    Ok(Ok(())) => last_progress = Instant::now(),
                    Ok(Err(_)) => break ProxyEnd::ClientClosed,
                    Err(_) => break ProxyEnd::ClientStalled,
                }
            }
            () = tokio::time::sleep_until(deadline) => break expiry,
            // Another connection started or stopped waiting: the deadlines change.
            Ok(()) = contended.changed() => {}
        }
    };
    if matches!(end, ProxyEnd::HeadTimeout | ProxyEnd::BodyTimeout) {
        // tiny_http never saw the unfinished request: say why the connection ends.
        let text = match end {
            ProxyEnd::BodyTimeout => "request body not complete in time",
            _ => "request head not complete in time",
        };
        answer_and_close(&mut client, &refusal(408, "Request Timeout", text)).await;
    }
    let _ = client.shutdown().await;
    drop(client);
    // Hand tiny_http's thread back before the slot is reused: end our side, wait until
    // tiny_http closes its side (its thread has left the connection), then give that thread a
    // moment to mark itself idle. Reusing the slot earlier makes tiny_http spawn a fifth pool
    // thread (measured: 9 threads in the flood test without this).
    let _ = upstream.shutdown().await;
    let drained =
        async { while matches!(upstream.read(&mut from_server).await, Ok(n) if n > 0) {} };
    let detach_timed_out = tokio::time::timeout(HTTP_DETACH_TIMEOUT, drained)
        .await
        .is_err();
    tokio::time::sleep(HTTP_SLOT_SETTLE).await;
    ProxyOutcome {
        end,
        requests: held.scan.requests(),
        detach_timed_out,
    }
}

/// Writes the proxy's own answer, ends our side and reads what the client still sends until
/// it closes, all within [`HTTP_REFUSAL_LINGER`]: closing with unread bytes would reset the
/// connection and could destroy the answer before the client reads it.
async fn answer_and_close<S: AsyncRead + AsyncWrite + Unpin>(client: &mut S, answer: &[u8]) {
    let linger = async {
        client.write_all(answer).await?;
        client.shutdown().await?;
        let mut sink = [0u8; 512];
        while client.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(HTTP_REFUSAL_LINGER, linger).await;
}

/// The client's bytes not yet written to tiny_http: whole requests ready to go, then the
/// start of the next one (module docs).
#[derive(Debug, Default)]
struct Held {
    scan: RequestScanner,
    bytes: Vec<u8>,
    /// The first `ready` bytes are complete requests.
    ready: usize,
}

impl Held {
    /// Takes bytes the client sent. Returns whether a phase started in them (a head began, a
    /// head ended, a body ended), which restarts the phase's timeout.
    fn take(&mut self, mut input: &[u8]) -> Result<bool, ScanError> {
        let mut restarted = false;
        while !input.is_empty() {
            let before = self.scan.phase();
            let fed = self.scan.feed_request(input)?;
            // Compared by kind: a body's progress is not a new phase, or a trickled body would
            // never time out.
            restarted |= fed.head_started
                || std::mem::discriminant(&self.scan.phase()) != std::mem::discriminant(&before);
            // Blank lines between requests are dropped: they are not a request, and a client
            // sending only those must not grow this buffer or look busy.
            self.bytes
                .extend_from_slice(input.get(fed.skipped..fed.used).unwrap_or_default());
            if fed.complete {
                self.ready = self.bytes.len();
            }
            if fed.used == 0 {
                break;
            }
            input = input.get(fed.used..).unwrap_or_default();
        }
        Ok(restarted)
    }

    /// Complete requests waiting to be written, if any.
    fn ready(&self) -> Option<&[u8]> {
        self.bytes.get(..self.ready).filter(|r| !r.is_empty())
    }

    /// The ready requests were written: drop them (and a large buffer with them, so an idle
    /// keep-alive connection holds no body-sized allocation).
    fn forwarded(&mut self) {
        self.bytes.drain(..self.ready.min(self.bytes.len()));
        self.ready = 0;
        if self.bytes.capacity() > HTTP_PROXY_BUF {
            self.bytes.shrink_to(HTTP_PROXY_BUF);
        }
    }
}

/// When the current phase times out, and how that end is counted.
fn deadline(
    phase: Phase,
    contended: bool,
    last_progress: Instant,
    phase_started: Instant,
) -> (Instant, ProxyEnd) {
    match phase {
        Phase::Idle if contended => (
            last_progress + HTTP_IDLE_TIMEOUT_CONTENDED,
            ProxyEnd::IdleContended,
        ),
        Phase::Idle => (last_progress + HTTP_IDLE_TIMEOUT, ProxyEnd::Idle),
        Phase::Head => {
            let limit = if contended {
                HTTP_HEAD_TIMEOUT_CONTENDED
            } else {
                HTTP_HEAD_TIMEOUT
            };
            (phase_started + limit, ProxyEnd::HeadTimeout)
        }
        Phase::Body { .. } => (phase_started + HTTP_BODY_TIMEOUT, ProxyEnd::BodyTimeout),
        Phase::Awaiting => (phase_started + HTTP_REPLY_TIMEOUT, ProxyEnd::ReplyTimeout),
    }
}

/// A complete one-shot answer written by the proxy or the admission itself, then close.
#[must_use]
pub fn refusal(code: u16, reason: &str, text: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {len}\r\nAccess-Control-Allow-Origin: *\r\n\
         Access-Control-Allow-Private-Network: true\r\nConnection: close\r\n\r\n{text}\n",
        len = text.len() + 1
    )
    .into_bytes()
}
