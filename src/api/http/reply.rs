//! What a route answers, before the bridge writes it: status, content type, body, extra
//! headers, and whether the body goes out gzipped. The dispatch decides every header here
//! (CORS, `Keep-Alive`, `Content-Encoding`); the bridge only compresses and writes.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

/// `Content-Type` of every JSON answer: what go-json-rest (upstream's HTTP layer) sends.
pub const JSON: &str = "application/json; charset=utf-8";
/// `Content-Type` of `/req` answers (upstream's MessagePack).
pub const OCTETS: &str = "application/octet-stream";
/// `Content-Type` of `/metrics` (Prometheus text exposition format 0.0.4).
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// gzip level: 6 is zlib's default; `/req` answers are a few hundred KiB at most and
/// compress ~3x, so a faster level would cost more bytes on Wi-Fi than it saves in CPU.
const GZIP_LEVEL: u32 = 6;

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// `Content-Type`, when there is a body.
    pub content_type: &'static str,
    /// The body, uncompressed.
    pub body: Vec<u8>,
    /// Further headers (CORS, `Allow`, `Keep-Alive`), set by the dispatch.
    pub headers: Vec<(&'static str, String)>,
    /// Send the body gzipped with `Content-Encoding: gzip`: set by the dispatch only when the
    /// client's `Accept-Encoding` allows it (upstream labels `/req` gzip even when it is not).
    pub gzip: bool,
}

impl Reply {
    /// A reply with a body and no extra headers.
    #[must_use]
    pub fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type,
            body,
            headers: Vec::new(),
            gzip: false,
        }
    }

    /// upstream's success answer, `{"Status": "SUCCESS"}` as go-json-rest's indenting
    /// middleware writes it (two spaces, no trailing newline).
    #[must_use]
    pub fn success() -> Self {
        Self::new(200, JSON, b"{\n  \"Status\": \"SUCCESS\"\n}".to_vec())
    }

    /// upstream's error answer (`rest.Error`): `{"Error": "<text>"}`, indented the same way.
    #[must_use]
    pub fn error(status: u16, text: &str) -> Self {
        let text = serde_json::to_string(text).unwrap_or_else(|_| "\"error\"".to_owned());
        Self::new(
            status,
            JSON,
            format!("{{\n  \"Error\": {text}\n}}").into_bytes(),
        )
    }

    /// A JSON document of ours (`/status`), compact, with a trailing newline.
    #[must_use]
    pub fn json(value: &serde_json::Value) -> Self {
        let mut body = value.to_string().into_bytes();
        body.push(b'\n');
        Self::new(200, JSON, body)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The body as it goes on the wire: gzipped when [`Reply::gzip`] is set.
    pub fn wire_body(&self) -> std::io::Result<Vec<u8>> {
        if !self.gzip {
            return Ok(self.body.clone());
        }
        let mut enc = GzEncoder::new(
            Vec::with_capacity(self.body.len() / 2 + 64),
            Compression::new(GZIP_LEVEL),
        );
        enc.write_all(&self.body)?;
        enc.finish()
    }
}

/// Whether an `Accept-Encoding` value admits gzip (RFC 9110 §12.5.3): a `gzip`, `x-gzip` or
/// `*` coding whose `q` is not zero. Upstream only looks for the substring `gzip`, so it would
/// send gzip to `gzip;q=0`; every real client it serves sends `gzip, deflate`, which both read
/// alike.
#[must_use]
pub fn accepts_gzip(value: &str) -> bool {
    let mut gzip = None;
    let mut star = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let mut q_zero = false;
        for param in parts {
            if let Some((name, v)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                q_zero = v.trim().parse::<f32>().map_or(true, |q| q <= 0.0);
            }
        }
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(!q_zero),
            "*" => star = Some(!q_zero),
            _ => {}
        }
    }
    gzip.or(star).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    #[test]
    fn upstream_json_bodies() {
        assert_eq!(
            Reply::success().body,
            b"{\n  \"Status\": \"SUCCESS\"\n}".to_vec()
        );
        assert_eq!(
            Reply::error(400, "Invalid Sig").body,
            b"{\n  \"Error\": \"Invalid Sig\"\n}".to_vec()
        );
        let quoted = Reply::error(400, "a \"b\"\n");
        let v: serde_json::Value = serde_json::from_slice(&quoted.body).expect("json");
        assert_eq!(v["Error"], "a \"b\"\n");
    }

    #[test]
    fn accept_encoding() {
        for yes in [
            "gzip",
            "gzip, deflate",
            "deflate, GZIP;q=0.5",
            "*",
            "br, *;q=1",
            "x-gzip",
        ] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "deflate",
            "br",
            "gzip;q=0",
            "gzip; q=0.0",
            "*;q=0",
            "gzip;q=x",
            "identity",
        ] {
            assert!(!accepts_gzip(no), "{no}");
        }
        assert!(
            !accepts_gzip("gzip;q=0, *"),
            "an explicit gzip;q=0 wins over *"
        );
    }

    #[test]
    fn gzip_only_when_asked() {
        let mut r = Reply::new(200, OCTETS, vec![7u8; 1000]);
        assert_eq!(r.wire_body().expect("plain"), vec![7u8; 1000]);
        r.gzip = true;
        let z = r.wire_body().expect("gzip");
        assert!(z.len() < 100);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(z.as_slice())
            .read_to_end(&mut out)
            .expect("gunzip");
        assert_eq!(out, vec![7u8; 1000]);
    }

    proptest! {
        #[test]
        fn accept_encoding_never_panics(s in ".{0,200}") {
            let _ = accepts_gzip(&s);
        }
    }
}
