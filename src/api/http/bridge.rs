//! The bridge thread: takes each request tiny_http parsed (`Server::recv`), reads its body
//! within the route's bound, hands it to the loop over a bounded channel with a reply channel,
//! waits for the answer and writes it. Requests are handled one at a time, so at most one is
//! ever with the loop; a full channel or a loop that does not answer within
//! [`HTTP_REPLY_TIMEOUT`] gets 503. The bridge decides nothing about routes: the loop's
//! dispatch does (`super::Http::handle`); it only reads, compresses and writes.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};

use tokio::sync::mpsc;

use super::HTTP_REPLY_TIMEOUT;
use super::reply::Reply;
use super::routes::Route;

/// Request methods the API tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Options,
    Other,
}

/// A request body as the bridge read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The whole body (empty when there was none).
    Bytes(Vec<u8>),
    /// Longer than the route's bound (declared or read); not kept.
    TooLarge { limit: usize },
    /// The client went away or broke the framing while sending it.
    Unreadable,
}

/// One request, handed to the loop.
#[derive(Debug)]
pub struct HttpRequest {
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    /// `Accept-Encoding` admits gzip.
    pub accept_gzip: bool,
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// `Origin`, if sent (CORS).
    pub origin: Option<String>,
    /// `Access-Control-Request-Headers`, if sent (CORS preflight).
    pub request_headers: Option<String>,
    pub body: Body,
    reply: SyncSender<Reply>,
}

impl HttpRequest {
    /// A request as the bridge would build it, with the receiving end of its reply (tests
    /// and the bridge itself).
    #[must_use]
    pub fn new(method: Method, path: &str, body: Body) -> (Self, Receiver<Reply>) {
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        (
            Self {
                method,
                path: path.to_owned(),
                accept_gzip: false,
                content_type: None,
                origin: None,
                request_headers: None,
                body,
                reply,
            },
            rx,
        )
    }

    /// The route it asks for.
    #[must_use]
    pub fn route(&self) -> Route {
        Route::parse(&self.path)
    }

    /// Whether the loop must build the status document for it (`/status`, `/metrics`).
    #[must_use]
    pub fn needs_status(&self) -> bool {
        matches!(self.method, Method::Get | Method::Head)
            && matches!(self.route(), Route::Status | Route::Metrics)
    }

    /// Splits off the reply channel (the loop keeps it while the request is parked).
    #[must_use]
    pub fn into_reply(self) -> ReplyTo {
        ReplyTo(self.reply)
    }
}

/// Where a request's answer goes. Sending never blocks (the bridge waits on a channel of
/// one); a bridge that gave up waiting simply drops the answer.
#[derive(Debug)]
pub struct ReplyTo(SyncSender<Reply>);

impl ReplyTo {
    /// Sends the answer.
    pub fn send(self, reply: Reply) {
        let _ = self.0.try_send(reply);
    }
}

/// What the bridge counts (it runs on its own thread, hence atomics; read by the loop).
#[derive(Debug, Default)]
pub struct BridgeStats {
    /// Requests handed to the loop.
    pub requests: AtomicU64,
    /// Requests answered 503 because the loop's channel was full.
    pub queue_full: AtomicU64,
    /// Requests answered 503 because the loop did not answer in time.
    pub reply_timeouts: AtomicU64,
    /// Answers that could not be written (the client went away).
    pub write_failed: AtomicU64,
    /// Set at shutdown, so `recv` failing then is not an error.
    pub stopping: AtomicBool,
}

impl BridgeStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs the bridge until tiny_http is unblocked at shutdown.
pub fn run(server: &tiny_http::Server, to_loop: &mpsc::Sender<HttpRequest>, stats: &BridgeStats) {
    loop {
        let mut rq = match server.recv() {
            Ok(rq) => rq,
            Err(e) => {
                if !stats.stopping.load(Ordering::Relaxed) {
                    log::error!("http: tiny_http stopped accepting ({e}); the API is down");
                }
                return;
            }
        };
        let (req, answer) = read_request(&mut rq);
        let reply = match to_loop.try_send(req) {
            Ok(()) => {
                BridgeStats::bump(&stats.requests);
                match answer.recv_timeout(HTTP_REPLY_TIMEOUT) {
                    Ok(reply) => reply,
                    Err(RecvTimeoutError::Timeout) => {
                        BridgeStats::bump(&stats.reply_timeouts);
                        Reply::error(503, "busy: the node did not answer in time")
                    }
                    Err(RecvTimeoutError::Disconnected) => Reply::error(503, "stopping"),
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                BridgeStats::bump(&stats.queue_full);
                Reply::error(503, "busy")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Reply::error(503, "stopping"),
        };
        if let Err(e) = respond(rq, &reply) {
            BridgeStats::bump(&stats.write_failed);
            log::debug!("http: writing a {} answer failed: {e}", reply.status);
        }
    }
}

fn header(rq: &tiny_http::Request, name: &'static str) -> Option<String> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_owned())
}

fn read_request(rq: &mut tiny_http::Request) -> (HttpRequest, Receiver<Reply>) {
    let method = match rq.method() {
        tiny_http::Method::Get => Method::Get,
        tiny_http::Method::Head => Method::Head,
        tiny_http::Method::Post => Method::Post,
        tiny_http::Method::Options => Method::Options,
        _ => Method::Other,
    };
    let path = rq.url().split('?').next().unwrap_or_default().to_owned();
    let limit = match method {
        Method::Post => Route::parse(&path).body_limit(),
        _ => 0,
    };
    let body = match rq.body_length() {
        Some(n) if n > limit => Body::TooLarge { limit },
        _ => {
            let mut bytes = Vec::new();
            let read = rq
                .as_reader()
                .take(limit as u64 + 1)
                .read_to_end(&mut bytes);
            match read {
                Err(_) => Body::Unreadable,
                Ok(n) if n > limit => Body::TooLarge { limit },
                Ok(_) => Body::Bytes(bytes),
            }
        }
    };
    let (mut req, rx) = HttpRequest::new(method, &path, body);
    req.accept_gzip = header(rq, "Accept-Encoding").is_some_and(|v| super::reply::accepts_gzip(&v));
    req.content_type = header(rq, "Content-Type");
    req.origin = header(rq, "Origin");
    req.request_headers = header(rq, "Access-Control-Request-Headers");
    (req, rx)
}

fn respond(rq: tiny_http::Request, reply: &Reply) -> std::io::Result<()> {
    let body = reply.wire_body()?;
    // Content-Length always (never chunked), so clients and the proxy see where it ends.
    let mut response = tiny_http::Response::from_data(body)
        .with_status_code(reply.status)
        .with_chunked_threshold(usize::MAX);
    let mut add = |name: &str, value: &str| {
        if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    };
    add("Content-Type", reply.content_type);
    if reply.gzip {
        add("Content-Encoding", "gzip");
    }
    for (name, value) in &reply.headers {
        add(name, value);
    }
    rq.respond(response)
}

/// Starts the bridge thread over `server`.
pub fn spawn(
    server: Arc<tiny_http::Server>,
    to_loop: mpsc::Sender<HttpRequest>,
    stats: Arc<BridgeStats>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("http-bridge".to_owned())
        .spawn(move || run(&server, &to_loop, &stats))
}
