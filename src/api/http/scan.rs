//! Where a client's byte stream stands, for the proxy's timeouts: between requests, inside a
//! request head, inside a body of known length, or waiting for the answer. It reads only what
//! it needs (line ends, `Content-Length`, `Transfer-Encoding`); tiny_http parses the request
//! for real. It takes bytes from strangers: typed errors, no panics, bounded memory (one head
//! line at most, capped by [`HTTP_HEAD_MAX`]).

use super::HTTP_HEAD_MAX;

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
        while let Some((&first, rest)) = bytes.split_first() {
            match self.phase {
                Phase::Idle | Phase::Awaiting => {
                    // RFC 9112 §2.2: empty lines before a request line are ignored.
                    if first == b'\r' || first == b'\n' {
                        bytes = rest;
                        continue;
                    }
                    self.phase = Phase::Head;
                    self.head_bytes = 0;
                    self.content_length = None;
                    self.chunked = false;
                    self.line.clear();
                    head_started = true;
                }
                Phase::Head => {
                    self.head_bytes += 1;
                    if self.head_bytes > HTTP_HEAD_MAX {
                        return Err(ScanError::HeadTooLarge);
                    }
                    bytes = rest;
                    if first == b'\n' {
                        self.end_line()?;
                    } else if first != b'\r' {
                        self.line.push(first);
                    }
                }
                Phase::Body { remaining } => {
                    let take = bytes
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    bytes = bytes.get(take..).unwrap_or_default();
                    let remaining = remaining - take as u64;
                    self.phase = if remaining == 0 {
                        self.requests += 1;
                        Phase::Awaiting
                    } else {
                        Phase::Body { remaining }
                    };
                }
            }
        }
        Ok(head_started)
    }

    /// A head line ended: an empty one ends the head.
    fn end_line(&mut self) -> Result<(), ScanError> {
        if self.line.is_empty() {
            if self.chunked {
                return Err(ScanError::Chunked);
            }
            self.phase = match self.content_length {
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
