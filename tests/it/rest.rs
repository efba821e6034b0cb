//! The REST API on P+1 (upstream NostrP2P's `/publish` and `/req`, `/status`, `/metrics`)
//! through the real binary over plain sockets. `/req` answers are read with `rmpv`, a
//! MessagePack decoder that is not ours, so field names and wire types are checked as an
//! independent reader sees them (DECISIONS.md 3).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use nostrp2p::nostr::{Event, Keys, Kind, Tag, UnixTime, UnsignedEvent, nip19};
use serde_json::{Value, json};

use crate::support::Server;

/// One HTTP answer.
struct Answer {
    code: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {:?}", String::from_utf8_lossy(&self.body));
        })
    }

    /// upstream's `{"Error": …}` text.
    fn error(&self) -> String {
        self.json()["Error"]
            .as_str()
            .unwrap_or_else(|| panic!("no Error in {:?}", self.json()))
            .to_owned()
    }
}

/// Parses one answer from `text` (a head and a `Content-Length` body); `None` if incomplete.
fn parse_answer(bytes: &[u8]) -> Option<(Answer, usize)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?;
    let code = status.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().expect("content-length"));
    let start = end + 4;
    let body = bytes.get(start..start + len)?.to_vec();
    Some((
        Answer {
            code,
            headers,
            body,
        },
        start + len,
    ))
}

fn raw_request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for (n, v) in headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One request on a fresh connection; reads until the answer is complete.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(&raw_request(method, path, headers, body))
        .expect("write");
    read_answer(&mut s)
}

fn read_answer(s: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some((answer, _)) = parse_answer(&buf) {
            return answer;
        }
        let n = s.read(&mut chunk).expect("read answer");
        assert!(
            n > 0,
            "closed before a full answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn post(server: &Server, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Answer {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    request(server.api_addr(), "POST", path, &all, body)
}

fn publish(server: &Server, event: &Event) -> Answer {
    post(server, "/publish", event.to_json().as_bytes(), &[])
}

fn status(server: &Server) -> Value {
    let a = request(server.api_addr(), "GET", "/status", &[], b"");
    assert_eq!(a.code, 200);
    a.json()
}

/// Polls `/status` until `ready` holds (bounded: 5 s).
fn wait_for_status(server: &Server, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = status(server);
        if ready(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "status never got there: {}",
            s["http"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn owner_keys(dir: &Path) -> Keys {
    let text = std::fs::read_to_string(dir.join("owner.key")).expect("owner.key");
    Keys::from_secret_bytes(nip19::decode_secret(text.trim()).expect("nsec")).expect("key")
}

fn sign(keys: &Keys, created_at: u64, kind: u16, tags: Vec<Tag>, content: &str) -> Event {
    UnsignedEvent::new(keys, UnixTime(created_at), Kind(kind), tags, content)
        .sign(keys, &[0u8; 32])
        .expect("sign")
}

fn start(extra: &[&str]) -> (tempfile::TempDir, Server, Keys) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), extra);
    let keys = owner_keys(dir.path());
    (dir, server, keys)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

/// One event of a `/req` answer as the independent decoder reads it.
#[derive(Debug)]
struct Decoded {
    id: Vec<u8>,
    pubkey: Vec<u8>,
    created_at: f64,
    kind: u64,
    tags: Vec<Vec<Vec<u8>>>,
    content: String,
    sig: Option<Vec<u8>>,
}

/// Decodes `{"Evts": [...]}` with rmpv, checking upstream's keys, their order and each wire
/// type: bin for ids, keys, signatures and tag strings, float64 for `Created_at`, str for
/// `Content`, and (from the raw bytes) `cd` + u16 for every `Kind`.
fn decode_evts(bytes: &[u8]) -> Vec<Decoded> {
    use rmpv::Value as V;
    let mut reader = bytes;
    let value = rmpv::decode::read_value(&mut reader).expect("valid MessagePack");
    assert!(reader.is_empty(), "{} trailing bytes", reader.len());
    let V::Map(top) = value else {
        panic!("top level is not a map: {value:?}")
    };
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].0, V::from("Evts"));
    let V::Array(events) = &top[0].1 else {
        panic!("Evts is not an array")
    };
    let kind_markers: Vec<u8> = bytes
        .windows(6)
        .enumerate()
        .filter(|(_, w)| w[..5] == *b"\xa4Kind")
        .map(|(i, _)| bytes[i + 5])
        .collect();
    assert_eq!(kind_markers.len(), events.len(), "one Kind key per event");
    assert!(
        kind_markers.iter().all(|&m| m == 0xcd),
        "Kind is always uint16 (0xcd): {kind_markers:x?}"
    );
    events
        .iter()
        .map(|e| {
            let V::Map(fields) = e else {
                panic!("event is not a map: {e:?}")
            };
            let keys: Vec<&str> = fields
                .iter()
                .map(|(k, _)| k.as_str().expect("str key"))
                .collect();
            assert_eq!(
                keys,
                [
                    "Id",
                    "Pubkey",
                    "Created_at",
                    "Kind",
                    "Tags",
                    "Content",
                    "Sig"
                ]
            );
            let bin = |v: &V| match v {
                V::Binary(b) => b.clone(),
                other => panic!("expected bin, got {other:?}"),
            };
            let V::F64(created_at) = fields[2].1 else {
                panic!("Created_at is not a float64: {:?}", fields[2].1)
            };
            let V::Array(tags) = &fields[4].1 else {
                panic!("Tags is not an array")
            };
            let tags = tags
                .iter()
                .map(|t| match t {
                    V::Array(items) => items.iter().map(bin).collect(),
                    other => panic!("tag is not an array: {other:?}"),
                })
                .collect();
            let V::String(content) = &fields[5].1 else {
                panic!("Content is not a str: {:?}", fields[5].1)
            };
            Decoded {
                id: bin(&fields[0].1),
                pubkey: bin(&fields[1].1),
                created_at,
                kind: fields[3].1.as_u64().expect("Kind is an integer"),
                tags,
                content: content.as_str().expect("UTF-8 content").to_owned(),
                sig: match &fields[6].1 {
                    V::Nil => None,
                    v => Some(bin(v)),
                },
            }
        })
        .collect()
}

fn assert_same(d: &Decoded, e: &Event, signed: bool) {
    assert_eq!(d.id, e.id.0.to_vec());
    assert_eq!(d.pubkey, e.pubkey.0.to_vec());
    assert_eq!(d.created_at, e.created_at.0 as f64);
    assert_eq!(d.kind, u64::from(e.kind.0));
    let tags: Vec<Vec<Vec<u8>>> = e
        .tags
        .iter()
        .map(|t| t.fields().iter().map(|f| f.as_bytes().to_vec()).collect())
        .collect();
    assert_eq!(d.tags, tags);
    assert_eq!(d.content, e.content);
    assert_eq!(d.sig, signed.then(|| e.sig.0.to_vec()));
}

#[test]
fn owner_publish_succeeds_after_the_commit_and_req_serves_it_in_upstream_types() {
    let (_dir, server, owner) = start(&[]);
    let commits = status(&server)["store"]["commits"]
        .as_u64()
        .expect("commits");
    let other = Keys::from_secret_bytes([9; 32]).expect("key").public();
    let note = sign(
        &owner,
        now() - 10,
        1,
        vec![Tag::new(["t", "grüße"]), Tag::new(["p", &other.to_hex()])],
        "hello from the REST API ✓",
    );
    let a = publish(&server, &note);
    assert_eq!(a.code, 200);
    assert_eq!(a.json(), json!({"Status": "SUCCESS"}));
    assert_eq!(a.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        a.header("Access-Control-Allow-Private-Network"),
        Some("true")
    );
    assert!(
        status(&server)["store"]["commits"]
            .as_u64()
            .expect("commits")
            > commits,
        "SUCCESS only after the commit"
    );
    // The same event again: a duplicate, still SUCCESS, as upstream.
    assert_eq!(publish(&server, &note).json(), json!({"Status": "SUCCESS"}));

    // The web client's first poll, gzip accepted: labelled and compressed.
    let first_poll = br#"{"kinds":[40000],"since":-1,"until":-1,"limit":300}"#;
    let a = post(
        &server,
        "/req",
        first_poll,
        &[("Accept-Encoding", "gzip, deflate")],
    );
    assert_eq!(a.code, 200);
    assert_eq!(a.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(a.header("Content-Encoding"), Some("gzip"));
    let evts = decode_evts(&gunzip(&a.body));
    assert_eq!(evts.len(), 1);
    assert_same(&evts[0], &note, true);

    // Without Accept-Encoding: plain bytes, and no gzip label (upstream's label is a defect).
    let a = post(&server, "/req", first_poll, &[]);
    assert_eq!(a.header("Content-Encoding"), None);
    assert_same(&decode_evts(&a.body)[0], &note, true);
    let a = post(
        &server,
        "/req",
        first_poll,
        &[("Accept-Encoding", "gzip;q=0, br")],
    );
    assert_eq!(a.header("Content-Encoding"), None, "q=0 refuses gzip");

    // One post by id: Sig nil, as upstream.
    let by_id = json!({"kinds": [1], "ids": [note.id.to_hex()], "authors": [note.pubkey.to_hex()]});
    let a = post(&server, "/req", by_id.to_string().as_bytes(), &[]);
    assert_same(&decode_evts(&a.body)[0], &note, false);

    // A profile by author, Sig nil; an unknown author gets the empty list (90).
    let profile = sign(&owner, now() - 5, 0, vec![], r#"{"name":"me"}"#);
    assert_eq!(publish(&server, &profile).code, 200);
    let ask = json!({"kinds": [0], "authors": [owner.public().to_hex()]});
    let a = post(&server, "/req", ask.to_string().as_bytes(), &[]);
    assert_same(&decode_evts(&a.body)[0], &profile, false);
    let ask = json!({"kinds": [3], "authors": [other.to_hex()]});
    let a = post(&server, "/req", ask.to_string().as_bytes(), &[]);
    assert_eq!(a.body, b"\x81\xa4Evts\x90");
}

#[test]
fn refusals_carry_upstreams_codes_and_texts() {
    let (_dir, server, owner) = start(&[]);
    let mut bad_sig = sign(&owner, now(), 1, vec![], "tampered");
    bad_sig.sig.0[5] ^= 0x40;
    let a = publish(&server, &bad_sig);
    assert_eq!((a.code, a.error().as_str()), (400, "Invalid Sig"));

    let mut forged_id = sign(&owner, now(), 1, vec![], "original");
    forged_id.content = "changed after signing".to_owned();
    let a = publish(&server, &forged_id);
    assert_eq!((a.code, a.error().as_str()), (400, "Invalid Sig"));

    let stranger = Keys::from_secret_bytes([7; 32]).expect("key");
    for kind in [1u16, 0] {
        let a = publish(&server, &sign(&stranger, now(), kind, vec![], "{}"));
        assert_eq!(
            a.code, 403,
            "kind {kind}: foreign writes are refused with a reason"
        );
        assert!(a.error().starts_with("restricted: "), "{}", a.error());
    }

    let a = publish(&server, &sign(&owner, now(), 1, vec![], ""));
    assert_eq!((a.code, a.error().as_str()), (400, "Content is required"));
    let a = post(&server, "/publish", b"{\"id\": 1", &[]);
    assert_eq!(a.code, 400);
    let a = request(
        server.api_addr(),
        "POST",
        "/publish",
        &[("Content-Type", "text/plain")],
        sign(&owner, now(), 1, vec![], "x").to_json().as_bytes(),
    );
    assert_eq!(a.code, 415);
    // Signing refuses oversized events, so the big one is built by hand (the size check
    // comes before the signature's).
    let small = sign(&owner, now(), 1, vec![], "x").to_json();
    let big = small.replace(
        "\"content\":\"x\"",
        &format!("\"content\":\"{}\"", "x".repeat(70 * 1024)),
    );
    assert!(big.len() > 70 * 1024);
    assert_eq!(
        post(&server, "/publish", big.as_bytes(), &[]).code,
        413,
        "over 64 KiB for kind 1"
    );
    let huge = vec![b' '; 300 * 1024];
    assert_eq!(
        post(&server, "/publish", &huge, &[]).code,
        413,
        "over 256 KiB"
    );
    let a = post(&server, "/req", br#"{"kinds":[1]}"#, &[]);
    assert_eq!(
        (a.code, a.error().as_str()),
        (400, "Ids and Authors are needed")
    );
    assert_eq!(
        request(server.api_addr(), "GET", "/publish", &[], b"").code,
        405
    );
    assert_eq!(
        request(server.api_addr(), "GET", "/nope", &[], b"").code,
        404
    );
    assert_eq!(
        request(server.api_addr(), "POST", "/status", &[], b"").code,
        405
    );
    let http = &status(&server)["http"];
    assert!(http["body_too_large"].as_u64() >= Some(2), "{http}");
    assert!(http["status_4xx"].as_u64() >= Some(10), "{http}");

    let (_dir2, read_only, owner2) = start(&["-w=false"]);
    let a = publish(&read_only, &sign(&owner2, now(), 1, vec![], "hello"));
    assert_eq!((a.code, a.error().as_str()), (406, "Write is denied"));
}

#[test]
fn kind_40000_follows_upstreams_rules() {
    let (_dir, server, owner) = start(&[]);
    let t0 = now() - 1_000;
    let mut events = Vec::new();
    for i in 0..8u64 {
        let kind = if i % 2 == 0 { 1 } else { 6 };
        let e = sign(&owner, t0 + i * 10, kind, vec![], &format!("event {i}"));
        assert_eq!(publish(&server, &e).code, 200);
        events.push(e);
    }
    let times = |body: &[u8]| -> Vec<u64> {
        decode_evts(body)
            .iter()
            .map(|d| d.created_at as u64)
            .collect()
    };
    let ask = |q: Value| post(&server, "/req", q.to_string().as_bytes(), &[]).body;
    let all: Vec<u64> = events.iter().map(|e| e.created_at.0).collect();
    // A limit wins over since/until: the latest `limit`, ascending.
    assert_eq!(
        times(&ask(
            json!({"kinds":[40000],"since":-1,"until":-1,"limit":3})
        )),
        all[5..].to_vec()
    );
    assert_eq!(
        times(&ask(
            json!({"kinds":[40000],"since":t0+60,"until":t0+65,"limit":2})
        )),
        all[6..].to_vec(),
        "the period is ignored when a limit is given"
    );
    // No limit: the inclusive period.
    assert_eq!(
        times(&ask(json!({"kinds":[40000],"since":t0+20,"until":t0+50}))),
        all[2..6].to_vec()
    );
    // until = 0: no upper bound; since = 0: "not specified", the newest 50.
    assert_eq!(
        times(&ask(json!({"kinds":[40000],"since":t0+50,"until":0}))),
        all[5..].to_vec()
    );
    assert_eq!(times(&ask(json!({"kinds":[40000]}))), all);
    // A negative until admits nothing (values are literal).
    assert!(times(&ask(json!({"kinds":[40000],"since":5,"until":-1}))).is_empty());
    // Signed, mixed kinds.
    let d = decode_evts(&ask(json!({"kinds":[40000]})));
    assert!(d.iter().all(|e| e.sig.is_some()));
    assert_eq!(d.iter().filter(|e| e.kind == 6).count(), 4);
}

#[test]
fn cors_preflight_and_headers() {
    let (_dir, server, _owner) = start(&[]);
    let a = request(
        server.api_addr(),
        "OPTIONS",
        "/req",
        &[
            ("Origin", "https://nostrp2p.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
            ("Access-Control-Request-Private-Network", "true"),
        ],
        b"",
    );
    assert_eq!(a.code, 200);
    for (name, value) in [
        ("Access-Control-Allow-Origin", "https://nostrp2p.example"),
        ("Access-Control-Allow-Private-Network", "true"),
        ("Access-Control-Allow-Methods", "POST, OPTIONS"),
        ("Access-Control-Allow-Headers", "content-type"),
        ("Access-Control-Max-Age", "3600"),
    ] {
        assert_eq!(a.header(name), Some(value), "{name}: {:?}", a.headers);
    }
    let a = post(
        &server,
        "/req",
        b"{}",
        &[("Origin", "https://nostrp2p.example")],
    );
    assert_eq!(a.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        a.header("Access-Control-Allow-Private-Network"),
        Some("true")
    );
}

#[test]
fn status_and_metrics_show_the_http_section() {
    let (_dir, server, _owner) = start(&[]);
    let s = status(&server);
    let http = &s["http"];
    assert_eq!(http["bounds"]["attached_max"], 3);
    assert_eq!(http["bounds"]["waiting_max"], 16);
    assert_eq!(http["open"], 1, "this request");
    for counter in [
        "refused_not_lan",
        "evicted_waiting",
        "queue_full",
        "reply_timeouts",
    ] {
        assert!(http[counter].is_u64(), "{counter} in {http}");
    }
    assert!(http["closed"]["head_timeouts"].is_u64());
    let threads = s["threads"].as_u64().expect("threads");
    assert!(threads <= 8, "{threads} threads");

    let a = request(server.api_addr(), "GET", "/metrics", &[], b"");
    assert_eq!(a.code, 200);
    assert_eq!(
        a.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(a.body).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    let mut samples = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        samples += 1;
        let (name, value) = line.split_once(' ').expect("name value");
        assert!(name.starts_with("nostrp2p_"), "{line}");
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line}"
        );
        value.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
        assert_eq!(lines[i - 1], format!("# TYPE {name} gauge"));
        assert!(lines[i - 2].starts_with(&format!("# HELP {name} ")));
    }
    assert!(samples > 20, "{samples} samples");
    assert!(text.contains("\nnostrp2p_http_bounds_attached_max 3\n"));
    assert!(text.contains("\nnostrp2p_threads "));
    assert!(text.contains("\nnostrp2p_store_events 0\n"));

    // `nostrp2p status` reads the same document.
    let out = crate::support::bin()
        .args(["status", "--data-dir"])
        .arg(_dir.path())
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("threads"), "{text}");
    assert!(
        text.contains("  rest      ") && text.contains(" open, "),
        "{text}"
    );
}

#[test]
fn keep_alive_then_idle_and_slow_heads_are_cut() {
    let (_dir, server, _owner) = start(&[]);
    // Two requests on one connection.
    let mut s = TcpStream::connect(server.api_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    for _ in 0..2 {
        s.write_all(&raw_request("GET", "/status", &[], b""))
            .expect("write");
        let a = read_answer(&mut s);
        assert_eq!(a.code, 200);
        assert_eq!(a.header("Keep-Alive"), Some("timeout=5, max=1000"));
    }
    // Then idle: closed after the idle timeout (5 s), not before.
    let idle_since = Instant::now();
    let mut byte = [0u8; 1];
    assert_eq!(s.read(&mut byte).expect("closed, not reset"), 0);
    let idle = idle_since.elapsed();
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(9)).contains(&idle),
        "idle for {idle:?}"
    );
    // A head that never ends: cut after the head timeout.
    let mut slow = TcpStream::connect(server.api_addr()).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let started = Instant::now();
    slow.write_all(b"GET /sta").expect("write");
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    // Counted once the proxy has handed tiny_http's thread back (a few ms after the close).
    let s = wait_for_status(&server, |s| {
        s["http"]["closed"]["head_timeouts"].as_u64() >= Some(1)
            && s["http"]["closed"]["idle_closed"].as_u64() >= Some(1)
    });
    assert!(
        s["http"]["requests_proxied"].as_u64() >= Some(2),
        "{}",
        s["http"]
    );
    // A head over 8 KiB: 431.
    let long = format!(
        "GET /status HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let mut s = TcpStream::connect(server.api_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(long.as_bytes()).expect("write");
    assert_eq!(read_answer(&mut s).code, 431);
}

/// Sends `bytes` one at a time, `gap` apart, until done or the server answers (writing on
/// would make it reset the connection); returns how many went out.
fn trickle(mut s: TcpStream, bytes: Vec<u8>, gap: Duration) -> (TcpStream, usize) {
    let mut sent = 0;
    for b in bytes {
        std::thread::sleep(gap);
        s.set_nonblocking(true).expect("nonblocking");
        let answered = !matches!(s.peek(&mut [0u8; 1]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        s.set_nonblocking(false).expect("blocking");
        if answered || s.write_all(&[b]).is_err() {
            break;
        }
        sent += 1;
    }
    (s, sent)
}

/// A client that sends a head and then trickles its body byte by byte holds only its own slot:
/// the proxy keeps the request until it is complete, so tiny_http and the single bridge thread
/// never wait for it, and a fresh `GET /status` from another client is answered at once
/// throughout. A body that completes in time is answered; one that does not gets 408 at the
/// body timeout (5 s from the head's end, however steadily the bytes come).
#[test]
fn a_trickled_body_does_not_hold_other_requests() {
    let (_dir, server, owner) = start(&[]);
    let addr = server.api_addr();
    let fresh_status_is_quick = |what: &str| {
        let started = Instant::now();
        let a = request(addr, "GET", "/status", &[], b"");
        let took = started.elapsed();
        assert_eq!(a.code, 200);
        assert!(
            took < Duration::from_secs(1),
            "{what}: /status took {took:?}"
        );
    };
    let open = |head: &[u8]| {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        s.write_all(head).expect("write head");
        s
    };

    // A /req body trickled over ~2.5 s (within the body timeout): others are served meanwhile,
    // then the trickled request itself is answered.
    let filter = br#"{"kinds":[40000],"since":-1,"until":-1,"limit":300}"#.to_vec();
    let mut whole = raw_request(
        "POST",
        "/req",
        &[("Content-Type", "application/json")],
        &filter,
    );
    whole.truncate(whole.len() - filter.len());
    let slow = open(&whole);
    let gap = Duration::from_millis(2500) / filter.len() as u32;
    let trickler = std::thread::spawn(move || trickle(slow, filter, gap));
    for i in 0..5 {
        std::thread::sleep(Duration::from_millis(300));
        fresh_status_is_quick(&format!("during a completing trickle, round {i}"));
    }
    let (mut slow, sent) = trickler.join().expect("trickler");
    assert_eq!(
        sent,
        br#"{"kinds":[40000],"since":-1,"until":-1,"limit":300}"#.len()
    );
    let a = read_answer(&mut slow);
    assert_eq!(a.code, 200, "{:?}", String::from_utf8_lossy(&a.body));

    // A /publish body trickled far slower than the body timeout allows: others are served
    // throughout, and the trickler gets 408 after 5 s.
    let note = sign(&owner, now(), 40000, vec![], "trickled");
    let body = note.to_json().into_bytes();
    let mut head = raw_request(
        "POST",
        "/publish",
        &[("Content-Type", "application/json")],
        &body,
    );
    head.truncate(head.len() - body.len());
    let slow = open(&head);
    let started = Instant::now();
    let trickler = std::thread::spawn(move || trickle(slow, body, Duration::from_millis(100)));
    while started.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(250));
        fresh_status_is_quick("during a trickle past the body timeout");
    }
    let (mut slow, sent) = trickler.join().expect("trickler");
    let cut = started.elapsed();
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(8)).contains(&cut),
        "cut after {cut:?}, {sent} bytes"
    );
    let a = read_answer(&mut slow);
    assert_eq!(a.code, 408);
    wait_for_status(&server, |s| {
        s["http"]["closed"]["body_timeouts"].as_u64() >= Some(1)
    });
    let poll = br#"{"kinds":[40000],"since":-1,"until":-1,"limit":300}"#;
    let a = post(&server, "/req", poll, &[]);
    assert_eq!(a.body, b"\x81\xa4Evts\x90", "nothing stored");
}

/// A declared body over the largest route bound is refused by the proxy (413) before any of it
/// is held.
#[test]
fn a_body_over_the_largest_bound_is_refused_at_the_head() {
    let (_dir, server, _owner) = start(&[]);
    let mut s = TcpStream::connect(server.api_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(
        b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000000000\r\n\r\n{",
    )
    .expect("write");
    let a = read_answer(&mut s);
    assert_eq!(a.code, 413);
    assert_eq!(
        String::from_utf8_lossy(&a.body).trim(),
        "request body over the 262144-byte limit"
    );
    wait_for_status(&server, |s| s["http"]["body_too_large"].as_u64() >= Some(1));
}

/// 300 idle connections: a fresh `/status` is answered within the head timeout throughout,
/// threads stay at most 8, and once the flood closes, open connections return to 0 and the
/// live heap to its baseline (RSS is printed, not asserted: glibc keeps freed pages).
#[test]
fn flood_of_idle_connections_keeps_serving_with_bounded_threads() {
    const FLOOD: usize = 300;
    let (_dir, server, _owner) = start(&[]);
    let addr = server.api_addr();
    let before = status(&server);
    let heap_before = before["heap_bytes"].as_u64().expect("heap_bytes");
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(TcpStream::connect(addr).expect("connect"));
    }
    let mut max_threads = 0;
    let mut max_rss = 0;
    let mut slowest = Duration::ZERO;
    let probing = Instant::now();
    while probing.elapsed() < Duration::from_secs(6) {
        let asked = Instant::now();
        let a = request(addr, "GET", "/status", &[], b"");
        let took = asked.elapsed();
        assert_eq!(a.code, 200, "a fresh request during the flood");
        assert!(took < Duration::from_secs(5), "answered in {took:?}");
        slowest = slowest.max(took);
        let s = a.json();
        let threads = s["threads"].as_u64().expect("threads");
        assert!(threads <= 8, "{threads} threads during the flood");
        max_threads = max_threads.max(threads);
        max_rss = max_rss.max(s["rss_bytes"].as_u64().unwrap_or(0));
        std::thread::sleep(Duration::from_millis(300));
    }
    let during = status(&server);
    let http = &during["http"];
    assert!(
        http["evicted_waiting"].as_u64() > Some(0) || http["refused_busy"].as_u64() > Some(0),
        "the cap was hit and counted: {http}"
    );
    assert!(
        http["closed"]["idle_cut_for_waiting"].as_u64() > Some(0),
        "{http}"
    );
    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let s = status(&server);
        if s["http"]["open"] == 1 && s["http"]["waiting"] == 0 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "connections stay open: {}",
            s["http"]
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let heap_after = after["heap_bytes"].as_u64().expect("heap_bytes");
    eprintln!(
        "flood of {FLOOD}: threads max {max_threads}, slowest fresh /status {slowest:?}, \
         RSS before {} KiB, max {} KiB, after {} KiB; live heap {} -> {} KiB",
        before["rss_bytes"].as_u64().unwrap_or(0) / 1024,
        max_rss / 1024,
        after["rss_bytes"].as_u64().unwrap_or(0) / 1024,
        heap_before / 1024,
        heap_after / 1024,
    );
    assert!(
        heap_after <= heap_before + (2 << 20),
        "live heap back to baseline within 2 MiB: {heap_before} -> {heap_after}"
    );
}

#[test]
fn the_private_socket_is_0600_replaces_a_stale_one_and_goes_at_a_clean_stop() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("api.sock");
    // A socket file left behind by a crash.
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("bind a stale socket"));
    assert!(sock.exists());
    let server = Server::start(dir.path(), &[]);
    let mode = std::fs::metadata(&sock)
        .expect("api.sock")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        request(server.api_addr(), "GET", "/status", &[], b"").code,
        200
    );
    assert_eq!(server.stop("TERM").code(), Some(0));
    assert!(!sock.exists(), "removed at a clean stop");

    // Something else at that path is never removed: the node refuses to start.
    std::fs::write(&sock, b"not a socket").expect("write");
    let out = crate::support::server_once(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("api.sock") && err.contains("not a socket"),
        "{err}"
    );
    assert_eq!(std::fs::read(&sock).expect("kept"), b"not a socket");
}
