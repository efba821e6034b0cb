//! Where a client's byte stream stands, for the proxy's timeouts: between requests, inside a
//! request head, inside a body of known length, or waiting for the answer. It reads only what
//! it needs (line ends, `Content-Length`, `Transfer-Encoding`); tiny_http parses the request
//! for real. It takes bytes from strangers: typed errors, no panics, bounded memory (one head
//! line at most, capped by [`HTTP_HEAD_MAX`]). [`RequestScanner::feed_request`] stops at the
//! end of each request, so the proxy can hold a request back until it is complete.

use super::{HTTP_BODY_MAX, HTTP_HEAD_MAX};

/// Where the client's stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between requests (or before the first): the idle timeout runs.
    Idle,
    /// Inside a request head: the head timeout runs from its first byte.
    Head,
    /// Inside a body, this many bytes still to come.
    Body { remaining: u64 },
    /// The request is complete; its answer has not started.
    Awaiting,
}

/// Why a client's stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The head passed [`HTTP_HEAD_MAX`] bytes (answered 431).
    #[error("request head over {HTTP_HEAD_MAX} bytes")]
    HeadTooLarge,
    /// A chunked request body (answered 411: every client of this API sends a length).
    #[error("chunked request bodies are not accepted")]
    Chunked,
    /// A `Content-Length` that is not a number, or two that differ (answered 400).
    #[error("bad Content-Length")]
    BadLength,
    /// A `Content-Length` over [`HTTP_BODY_MAX`], the largest body any route takes (answered
    /// 413; the proxy never holds more).
    #[error("request body over the {HTTP_BODY_MAX}-byte limit")]
    BodyTooLarge,
}

/// What [`RequestScanner::feed_request`] did with the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fed {
    /// Blank line ends before a request line (ignored, RFC 9112 §2.2): the first `skipped`
    /// bytes, which need not be forwarded.
    pub skipped: usize,
    /// Bytes taken, `skipped` included; the rest belongs to the next request.
    pub used: usize,
    /// A head started in them (the head timeout starts then).
    pub head_started: bool,
    /// A request (head and body) ended at `used`.
    pub complete: bool,
}

/// The scanner (module docs).
#[derive(Debug, Clone)]
pub struct RequestScanner {
    phase: Phase,
    /// The head line being read (without its line end), bounded by [`HTTP_HEAD_MAX`].
    line: Vec<u8>,
    /// Bytes of the current head so far.
    head_bytes: usize,
    content_length: Option<u64>,
    chunked: bool,
    /// Requests completed (heads and bodies), for the counters.
    requests: u64,
}

impl Default for RequestScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestScanner {
    /// A scanner at the start of a connection.
    #[must_use]
    pub fn new() -> Self {
        Self {
            phase: Phase::Idle,
            line: Vec::new(),
            head_bytes: 0,
            content_length: None,
            chunked: false,
            requests: 0,
        }
    }

    /// The phase after the bytes fed so far.
    #[must_use]
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Requests completed so far.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The server started answering: a waiting request is answered.
    pub fn answer_started(&mut self) {
        if self.phase == Phase::Awaiting {
            self.phase = Phase::Idle;
        }
    }

    /// Takes the next bytes the client sent. Returns whether a new head started in them (the
    /// head timeout starts then).
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<bool, ScanError> {
        let mut head_started = false;
        while !bytes.is_empty() {
            let fed = self.feed_request(bytes)?;
            head_started |= fed.head_started;
            if fed.used == 0 {
                break;
            }
            bytes = bytes.get(fed.used..).unwrap_or_default();
        }
        Ok(head_started)
    }

    /// Takes bytes the client sent up to the end of the request they complete, if any: a
    /// caller feeds the rest again, one request at a time.
    pub fn feed_request(&mut self, bytes: &[u8]) -> Result<Fed, ScanError> {
        let mut fed = Fed::default();
        while let Some(&first) = bytes.get(fed.used) {
            match self.phase {
                Phase::Idle | Phase::Awaiting => {
                    // RFC 9112 §2.2: empty lines before a request line are ignored.
                    if first == b'\r' || first == b'\n' {
                        fed.used += 1;
                        fed.skipped = fed.used;
                        continue;
                    }
                    self.phase = Phase::Head;
                    self.head_bytes = 0;
                    self.content_length = None;
                    self.chunked = false;
                    self.line.clear();
                    fed.head_started = true;
                }
                Phase::Head => {
                    self.head_bytes += 1;
                    if self.head_bytes > HTTP_HEAD_MAX {
                        return Err(ScanError::HeadTooLarge);
                    }
                    fed.used += 1;
                    if first == b'\n' {
                        self.end_line()?;
                        if self.phase == Phase::Awaiting {
                            fed.complete = true;
                            return Ok(fed);
                        }
                    } else if first != b'\r' {
                        self.line.push(first);
                    }
                }
                Phase::Body { remaining } => {
                    let left = bytes.len().saturating_sub(fed.used);
                    let take = left.min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    fed.used += take;
                    let remaining = remaining - take as u64;
                    if remaining == 0 {
                        self.requests += 1;
                        self.phase = Phase::Awaiting;
                        fed.complete = true;
                        return Ok(fed);
                    }
                    self.phase = Phase::Body { remaining };
                }
            }
        }
        Ok(fed)
    }

    /// A head line ended: an empty one ends the head.
    fn end_line(&mut self) -> Result<(), ScanError> {
        if self.line.is_empty() {
            if self.chunked {
                return Err(ScanError::Chunked);
            }
            self.phase = match self.content_length {
                Some(n) if n > HTTP_BODY_MAX as u64 => return Err(ScanError::BodyTooLarge),
                Some(n) if n > 0 => Phase::Body { remaining: n },
                _ => {
                    self.requests += 1;
                    Phase::Awaiting
                }
            };
            return Ok(());
        }
        if let Some(colon) = self.line.iter().position(|&b| b == b':') {
            let (name, value) = self.line.split_at(colon);
            let value = value.get(1..).unwrap_or_default();
            let value = String::from_utf8_lossy(value);
            let value = value.trim();
            if name.eq_ignore_ascii_case(b"content-length") {
                let n: u64 = value.parse().map_err(|_| ScanError::BadLength)?;
                if self.content_length.is_some_and(|old| old != n) {
                    return Err(ScanError::BadLength);
                }
                self.content_length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding")
                && !value.eq_ignore_ascii_case("identity")
            {
                self.chunked = true;
            }
        }
        self.line.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn scan(parts: &[&[u8]]) -> (RequestScanner, Result<(), ScanError>) {
        let mut s = RequestScanner::new();
        for p in parts {
            if let Err(e) = s.feed(p) {
                return (s, Err(e));
            }
        }
        (s, Ok(()))
    }

    #[test]
    fn phases_of_a_post_split_anywhere() {
        let req = b"POST /publish HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\n\r\nhello";
        for cut in 0..req.len() {
            let (a, b) = req.split_at(cut);
            let (s, r) = scan(&[a, b]);
            assert_eq!(r, Ok(()));
            assert_eq!(s.phase(), Phase::Awaiting, "cut at {cut}");
            assert_eq!(s.requests(), 1);
        }
        let (s, _) = scan(&[b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel"]);
        assert_eq!(s.phase(), Phase::Body { remaining: 2 });
        let (s, _) = scan(&[b"GET /st"]);
        assert_eq!(s.phase(), Phase::Head);
    }

    #[test]
    fn keep_alive_and_pipelining() {
        let mut s = RequestScanner::new();
        assert_eq!(s.feed(b"GET /status HTTP/1.1\r\n\r\n"), Ok(true));
        assert_eq!(s.phase(), Phase::Awaiting);
        s.answer_started();
        assert_eq!(s.phase(), Phase::Idle);
        assert_eq!(
            s.feed(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
            Ok(true)
        );
        assert_eq!(s.requests(), 3);
        assert_eq!(s.feed(b"\r\n"), Ok(false), "stray line ends are not a head");
    }

    #[test]
    fn refusals() {
        let big = vec![b'a'; HTTP_HEAD_MAX + 1];
        assert_eq!(scan(&[&big]).1, Err(ScanError::HeadTooLarge));
        assert_eq!(
            scan(&[b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"]).1,
            Err(ScanError::Chunked)
        );
        assert_eq!(
            scan(&[b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"]).1,
            Err(ScanError::BadLength)
        );
        assert_eq!(
            scan(&[b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"]).1,
            Err(ScanError::BadLength)
        );
    }

    #[test]
    fn feed_request_stops_at_each_request_end() {
        let mut s = RequestScanner::new();
        let two = b"\r\nPOST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\n\r\nGET";
        let fed = s.feed_request(two).unwrap();
        assert_eq!(
            (fed.skipped, fed.head_started, fed.complete),
            (2, true, true)
        );
        assert_eq!(
            &two[fed.skipped..fed.used],
            b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
        );
        let rest = &two[fed.used..];
        let fed = s.feed_request(rest).unwrap();
        assert_eq!(&rest[..fed.used], b"GET /b HTTP/1.1\r\n\r\n");
        assert!(fed.complete);
        let rest = &rest[fed.used..];
        let fed = s.feed_request(rest).unwrap();
        assert_eq!((fed.used, fed.complete, fed.head_started), (3, false, true));
        assert_eq!(s.phase(), Phase::Head);
        assert_eq!(s.requests(), 2);
    }

    #[test]
    fn a_declared_body_over_the_bound_is_refused_at_the_head() {
        let ok = format!("POST / HTTP/1.1\r\nContent-Length: {HTTP_BODY_MAX}\r\n\r\n");
        assert_eq!(scan(&[ok.as_bytes()]).1, Ok(()));
        let big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            HTTP_BODY_MAX + 1
        );
        assert_eq!(scan(&[big.as_bytes()]).1, Err(ScanError::BodyTooLarge));
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_bounded(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..600), 0..40)) {
            let mut s = RequestScanner::new();
            for c in &chunks {
                if s.feed(c).is_err() {
                    break;
                }
                prop_assert!(s.line.len() <= HTTP_HEAD_MAX);
            }
        }

        #[test]
        fn any_split_gives_the_same_phase(body in proptest::collection::vec(any::<u8>(), 0..64),
                                          cut in 0usize..200) {
            let mut req = format!("POST /req HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len())
                .into_bytes();
            req.extend_from_slice(&body);
            let cut = cut.min(req.len());
            let (a, b) = req.split_at(cut);
            let mut s = RequestScanner::new();
            prop_assert!(s.feed(a).is_ok());
            prop_assert!(s.feed(b).is_ok());
            prop_assert_eq!(s.phase(), Phase::Awaiting);
            prop_assert_eq!(s.requests(), 1);
        }
    }
}
