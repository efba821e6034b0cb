//! The client API under load, against the real binary over real sockets: websocket ingest with
//! many events in flight and durable `OK`s, `REQ`→`EOSE` latency over a filled store, idle and
//! loaded RSS, OS threads. Ingest is reported as a ratio to the single-core verification rate
//! measured in the same run (issue 5's goal: ≥ 0.8).
//!
//! `cargo bench --bench api -- --bench [--events N] [--board NAME]` measures and prints one JSON line for
//! `scripts/bench`; without `--bench` (as `cargo test --all-targets` runs it) it is a small
//! smoke run that checks every reply, so the benchmark cannot rot.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// A load generator: it times with the wall clock and talks over std sockets by design.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nostrp2p::nostr::Event;
use nostrp2p::sim::corpus::Corpus;
use tungstenite::{Message, WebSocket};

#[path = "support/mod.rs"]
mod support;
use support::{KillOnDrop, free_port, proc_status};

/// Connections publishing at once.
const CONNECTIONS: usize = 4;
/// Events each connection keeps in flight (sent, `OK` not yet read).
const WINDOW: usize = 128;

type Ws = WebSocket<TcpStream>;

struct Node {
    child: KillOnDrop,
    ws_port: u16,
    _dir: tempfile::TempDir,
}

fn start_node(board: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nostrp2p"))
        .args(["server", "-l", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--open-writes", "--board", board])
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nostrp2p");
    let out = BufReader::new(child.stdout.take().unwrap());
    for line in out.lines() {
        if line.unwrap().contains("Stop with") {
            break;
        }
    }
    Node {
        child: KillOnDrop(child),
        ws_port: port + 2,
        _dir: dir,
    }
}

fn connect(port: u16) -> Ws {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    let (ws, _) = tungstenite::client::client(format!("ws://127.0.0.1:{port}/"), stream)
        .expect("websocket handshake");
    ws
}

fn read_text(ws: &mut Ws) -> serde_json::Value {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Close(c) => panic!("closed by the node: {c:?}"),
            _ => {}
        }
    }
}

/// Publishes `events` over one connection with [`WINDOW`] in flight; returns (OK true, OK false).
fn publish(port: u16, events: &[String]) -> (usize, usize) {
    let mut ws = connect(port);
    let (mut sent, mut ok, mut refused) = (0, 0, 0);
    while ok + refused < events.len() {
        while sent < events.len() && sent - (ok + refused) < WINDOW {
            ws.write(Message::text(format!("[\"EVENT\",{}]", events[sent])))
                .unwrap();
            sent += 1;
        }
        ws.flush().unwrap();
        let reply = read_text(&mut ws);
        assert_eq!(reply[0], "OK", "{reply}");
        if reply[2] == true {
            ok += 1;
        } else {
            refused += 1;
        }
    }
    let _ = ws.close(None);
    (ok, refused)
}

fn rss_and_threads(pid: u32) -> (u64, u64) {
    (
        proc_status(pid, "VmRSS:") * 1024,
        proc_status(pid, "Threads:"),
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let measure = args.iter().any(|a| a == "--bench");
    let events_n: usize = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(if measure { 100_000 } else { 400 });
    let queries = if measure { 2_000 } else { 40 };
    // The memory goals are the smallest board's (ARCHITECTURE.md "Memory budget"), so its
    // profile (cache, memtables, ring tier) is the default; the CPU is this machine's.
    let board = args
        .iter()
        .position(|a| a == "--board")
        .and_then(|i| args.get(i + 1))
        .map_or("armv7-router-256", String::as_str);

    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // The corpus advances 1.5 s per event on average: start far enough back to end before now.
    let mut corpus = Corpus::new(7, 500, now - 2 * events_n as u64 - 60);
    let events: Vec<Event> = (0..events_n).map(|_| corpus.next_event()).collect();
    let authors: Vec<String> = corpus
        .authors()
        .iter()
        .map(|k| k.public().to_hex())
        .collect();
    let json: Vec<String> = events.iter().map(Event::to_json).collect();

    // The baseline: parse and verify on one core, in this process, in this run.
    let t = Instant::now();
    for j in &json {
        Event::from_json(j.as_bytes()).unwrap().verify().unwrap();
    }
    let verify_rate = events_n as f64 / t.elapsed().as_secs_f64();

    let node = start_node(board);
    std::thread::sleep(Duration::from_millis(500));
    let (idle_rss, idle_threads) = rss_and_threads(node.child.0.id());

    let t = Instant::now();
    let chunk = events_n.div_ceil(CONNECTIONS);
    let port = node.ws_port;
    let results: Vec<(usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = json
            .chunks(chunk)
            .map(|part| s.spawn(move || publish(port, part)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ingest_secs = t.elapsed().as_secs_f64();
    let ok: usize = results.iter().map(|r| r.0).sum();
    let refused: usize = results.iter().map(|r| r.1).sum();
    assert_eq!(ok + refused, events_n, "every event got an OK");
    // Refusals are superseded replaceable versions and deleted targets sent after their
    // deletion (the corpus is not ordered per connection); most events must be stored.
    assert!(ok * 10 >= events_n * 8, "{ok} of {events_n} stored");
    let ingest_rate = events_n as f64 / ingest_secs;
    let (loaded_rss, loaded_threads) = rss_and_threads(node.child.0.id());

    // REQ → EOSE over the filled store, one request at a time.
    let mut ws = connect(port);
    let mut latencies = Vec::with_capacity(queries);
    for q in 0..queries {
        let author = &authors[q % authors.len()];
        let filter = match q % 4 {
            0 => serde_json::json!({"kinds": [1], "limit": 20}),
            1 => serde_json::json!({"authors": [author], "limit": 20}),
            2 => serde_json::json!({"#p": [author], "limit": 20}),
            _ => serde_json::json!({"kinds": [0, 3], "authors": [author]}),
        };
        let req = serde_json::json!(["REQ", format!("q{q}"), filter]).to_string();
        let t = Instant::now();
        ws.send(Message::text(req)).unwrap();
        loop {
            let m = read_text(&mut ws);
            match m[0].as_str() {
                Some("EVENT") => {}
                Some("EOSE") => break,
                _ => panic!("unexpected reply {m}"),
            }
        }
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        ws.send(Message::text(
            serde_json::json!(["CLOSE", format!("q{q}")]).to_string(),
        ))
        .unwrap();
    }
    latencies.sort_by(f64::total_cmp);
    let report = serde_json::json!({
        "board": board,
        "events": events_n,
        "stored": ok,
        "refused": refused,
        "connections": CONNECTIONS,
        "window": WINDOW,
        "verify_per_s": verify_rate.round(),
        "ingest_per_s": ingest_rate.round(),
        "ingest_ratio": (ingest_rate / verify_rate * 100.0).round() / 100.0,
        "req_eose_ms_p50": (percentile(&latencies, 0.5) * 1000.0).round() / 1000.0,
        "req_eose_ms_p99": (percentile(&latencies, 0.99) * 1000.0).round() / 1000.0,
        "queries": queries,
        "idle_rss_bytes": idle_rss,
        "idle_threads": idle_threads,
        "loaded_rss_bytes": loaded_rss,
        "loaded_threads": loaded_threads,
    });
    println!("{report}");
}
