//! A forged-handshake flood against the real daemon (issue 6's benchmark: "10 k packets/s:
//! legitimate handshakes still complete within 2 s, CPU and memory bounded").
//!
//! A victim V (the built binary, its own data dir, free ports on 127.0.0.1) is flooded from
//! this process with forged handshake datagrams at a paced rate, from [`SOURCES`] addresses in
//! 127.1.0.0/16 (all of 127/8 is loopback, so each bound socket is a distinct source IP to V's
//! per-source limiter). One phase per mix:
//!
//! - `garbage`: random bytes of random length (the header check drops them);
//! - `bad_mac1`: well-formed initiations with a wrong `mac1` (one BLAKE2s each);
//! - `good_mac1`: well-formed initiations with a correct `mac1` (the attacker knows the network
//!   id), which put V under load, so each gets a 48-byte cookie reply and no DH or BIP-340;
//! - `cookie_echo`: as `good_mac1`, but the flooder owns its sources (here it does: loopback),
//!   opens V's cookie replies and sends `mac2` with the cookie, so its initiations pass the
//!   cookie check and reach the per-source rate limit and the BIP-340 binding check.
//!
//! During each phase, and in a baseline phase without flood in the same run, a fresh legitimate
//! daemon L joins V (`-b`) every [`JOIN_EVERY`]; the time from L's spawn until V's `/status`
//! lists L (V's side confirmed, so both sides are up) is the join time. V's CPU (utime + stime
//! from `/proc`), RSS (`VmRSS`, `VmHWM`), live heap and mesh counters are read around each
//! phase.
//!
//! `cargo bench --bench flood -- --bench [--secs S] [--pps N] [--mixes a,b]
//! [--write-doc PAGE] [--bin DAEMON]` measures (release binary) and prints one JSON line;
//! `--write-doc` also replaces the section between `<!-- BEGIN flood -->` and
//! `<!-- END flood -->` (or appends one at the end of the page). Without `--bench` (as
//! `cargo test --all-targets` runs it, debug binary) it floods a mix of all kinds at 2 000/s
//! for about a second around one join and asserts the join completed and V dropped each kind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// A load generator: it times with the wall clock and talks over std sockets by design.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nostrp2p::mesh::cookie::{self, NetworkKeys};
use nostrp2p::mesh::limits::{HEADER_LEN, MAC_LEN, MAX_DATAGRAM};
use nostrp2p::mesh::wire::{
    COOKIE_REPLY_LEN, HandshakePayload, Header, INITIATION_LEN, Initiation, MAC1_AT, MessageType,
    NOISE_INITIATION_LEN, PAYLOAD_LEN, PAYLOAD_VERSION,
};
use nostrp2p::mesh::{Caps, NodeId, SessionIndex};
use nostrp2p::nostr::{PubKey, Signature};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

#[path = "support/mod.rs"]
mod support;
use support::{KillOnDrop, free_port, proc_status};

/// The network both V and L run; the flooder derives `mac1` from it as any attacker could.
const NETWORK_ID: &str = "flood-bench";
/// The board profile of every daemon (the smallest board's memory budgets).
const BOARD: &str = "armv7-router-256";
/// Distinct source addresses of the flood: half of the limiter's table
/// (`RATE_LIMIT_SOURCES` = 1024), so every source keeps its own bucket.
const SOURCES: usize = 512;
/// Flooder threads; each owns `SOURCES / FLOOD_THREADS` sockets.
const FLOOD_THREADS: usize = 2;
/// The pacer's tick: each thread sends what is due, then sleeps this long.
const PACE_TICK: Duration = Duration::from_millis(1);
/// Most datagrams one thread sends before looking at the clock again.
const MAX_BURST: u64 = 64;
/// Initiations each source remembers (sender index, `mac1`) to open cookie replies with.
const REMEMBERED: usize = 8;
/// Cookie replies read from one socket per visit.
const MAX_REPLIES_PER_VISIT: usize = 4;
/// A fresh legitimate node joins this often during a phase (the brief's "every ~2 s").
const JOIN_EVERY: Duration = Duration::from_secs(2);
/// A join not seen by then counts as failed (the goal is 2 s; a Noise retry is 5 s).
const JOIN_LIMIT: Duration = Duration::from_secs(12);
/// How often `/status` is polled while a join is under way.
const POLL_EVERY: Duration = Duration::from_millis(20);
/// How long a `/status` request may take before it counts as unanswered.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Kernel clock ticks per second in `/proc/PID/stat` (`USER_HZ`, 100 on every Linux ABI).
const CLK_TCK: f64 = 100.0;
/// Full mode: flood rate, seconds per flood phase, seconds of baseline.
const FULL_PPS: u64 = 10_000;
const FULL_SECS: u64 = 20;
const BASELINE_SECS: u64 = 10;
/// Smoke mode (`cargo test`): a mixed flood at this rate for at least this long.
const SMOKE_PPS: u64 = 2_000;
const SMOKE_SECS: u64 = 1;
/// Quiet time after the last flood before the "after" figures.
const SETTLE: Duration = Duration::from_secs(3);

/// What the flooder sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mix {
    Garbage,
    BadMac1,
    GoodMac1,
    CookieEcho,
    /// Garbage, bad `mac1` and good `mac1` in turn (smoke mode).
    Mixed,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::Garbage => "garbage",
            Mix::BadMac1 => "bad_mac1",
            Mix::GoodMac1 => "good_mac1",
            Mix::CookieEcho => "cookie_echo",
            Mix::Mixed => "mixed",
        }
    }
}

/// A daemon we started; killed on drop.
struct Daemon {
    child: KillOnDrop,
    port: u16,
    node_id: String,
    _dir: tempfile::TempDir,
}

/// Starts the daemon and waits for its banner; `boot` is V's mesh address for a joiner.
fn start_daemon(bin: &str, boot: Option<SocketAddr>) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["server", "-l", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--network-id", NETWORK_ID, "--board", BOARD])
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(b) = boot {
        cmd.args(["-b", &b.to_string()]);
    }
    let mut child = cmd.spawn().expect("start nostrp2p");
    // A reader thread keeps draining stdout after the banner, so a chatty daemon never blocks
    // on a full pipe; it ends when the daemon does.
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut node_id = None;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("daemon banner");
        if let Some(v) = line.trim_start().strip_prefix("node id") {
            node_id = Some(v.trim().to_owned());
        }
        if line.contains("Stop with") {
            break;
        }
    }
    Daemon {
        child: KillOnDrop(child),
        port,
        node_id: node_id.expect("node id in the banner"),
        _dir: dir,
    }
}

/// `GET /status` on the daemon's REST port; `None` when it does not answer within
/// [`STATUS_TIMEOUT`] (the daemon's loop serves REST too, so a starved loop shows here).
fn try_status(port: u16) -> Option<serde_json::Value> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port + 1));
    let mut s = TcpStream::connect_timeout(&addr, STATUS_TIMEOUT).ok()?;
    s.set_read_timeout(Some(STATUS_TIMEOUT)).unwrap();
    write!(
        s,
        "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

/// `GET /status`, which must answer (used outside floods, or right after one).
fn status(port: u16) -> serde_json::Value {
    (0..3)
        .find_map(|_| try_status(port))
        .expect("/status answered none of 3 tries")
}

/// V's CPU time so far (utime + stime), in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces: fields count from after its closing parenthesis,
    // where field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    (f[10] + f[11]) as f64 / CLK_TCK
}

/// Seconds V's threads spent runnable but waiting for a core (`/proc/PID/task/*/schedstat`,
/// second field): high when the machine, not V's own work, limits what V gets done.
fn runq_wait_secs(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

/// (`VmRSS`, `VmHWM`) in bytes.
fn rss(pid: u32) -> (u64, u64) {
    (
        proc_status(pid, "VmRSS:") * 1024,
        proc_status(pid, "VmHWM:") * 1024,
    )
}

/// A well-formed initiation from a made-up node: random ephemeral and static keys, random node
/// id and binding signature (so it fails the BIP-340 check if it ever gets that far), a fresh
/// sender index; `mac1` right or wrong; `mac2` from `cookie` or zeros.
fn initiation(
    rng: &mut ChaCha20Rng,
    keys: &NetworkKeys,
    good_mac1: bool,
    cookie: Option<&[u8; MAC_LEN]>,
) -> [u8; INITIATION_LEN] {
    let mut b = [0u8; INITIATION_LEN];
    let header = Header {
        kind: MessageType::Initiation,
        receiver: SessionIndex(0),
        counter: 0,
    };
    b[..HEADER_LEN].copy_from_slice(&header.encode());
    rng.fill_bytes(&mut b[HEADER_LEN..HEADER_LEN + NOISE_INITIATION_LEN - PAYLOAD_LEN]);
    let (mut node, mut sig) = ([0u8; 32], [0u8; 64]);
    rng.fill_bytes(&mut node);
    rng.fill_bytes(&mut sig);
    let payload = HandshakePayload {
        version: PAYLOAD_VERSION,
        node_id: NodeId(PubKey(node)),
        binding_sig: Signature(sig),
        caps: Caps(0),
        observed_addr: None,
        sender_index: SessionIndex(rng.next_u32() | 1),
    };
    b[MAC1_AT - PAYLOAD_LEN..MAC1_AT].copy_from_slice(&payload.encode());
    let mac1 = if good_mac1 {
        keys.mac1(&b[..MAC1_AT])
    } else {
        let mut m = [0u8; MAC_LEN];
        rng.fill_bytes(&mut m);
        m
    };
    b[MAC1_AT..MAC1_AT + MAC_LEN].copy_from_slice(&mac1);
    if let Some(c) = cookie {
        let mac2 = cookie::mac2(c, &[&b[..MAC1_AT + MAC_LEN]]).unwrap();
        b[MAC1_AT + MAC_LEN..].copy_from_slice(&mac2);
    }
    b
}

/// One flood source: its socket, the cookie V last gave it, and its recent initiations.
struct Source {
    socket: UdpSocket,
    cookie: Option<[u8; MAC_LEN]>,
    recent: [(u32, [u8; MAC_LEN]); REMEMBERED],
    next: usize,
}

/// What the flooder did.
#[derive(Debug, Default, Clone, Copy)]
struct FloodStats {
    sent: u64,
    send_failed: u64,
    bytes_sent: u64,
    replies: u64,
    bytes_received: u64,
    cookies_opened: u64,
}

impl FloodStats {
    fn add(&mut self, o: &FloodStats) {
        self.sent += o.sent;
        self.send_failed += o.send_failed;
        self.bytes_sent += o.bytes_sent;
        self.replies += o.replies;
        self.bytes_received += o.bytes_received;
        self.cookies_opened += o.cookies_opened;
    }
}

/// Reads V's answers waiting on `src` (cookie replies); keeps the cookie when one opens.
fn read_replies(src: &mut Source, keys: &NetworkKeys, st: &mut FloodStats) {
    let mut buf = [0u8; MAX_DATAGRAM];
    for _ in 0..MAX_REPLIES_PER_VISIT {
        let n = match src.socket.recv(&mut buf) {
            Ok(n) => n,
            Err(_) => return,
        };
        st.replies += 1;
        st.bytes_received += n as u64;
        if n != COOKIE_REPLY_LEN {
            continue;
        }
        let Ok(h) = Header::decode(&buf[..n]) else {
            continue;
        };
        if let Some((_, mac1)) = src.recent.iter().find(|(i, _)| *i == h.receiver.0)
            && let Some(c) = keys.open_cookie(h.counter, mac1, &buf[HEADER_LEN..n])
        {
            src.cookie = Some(c);
            st.cookies_opened += 1;
        }
    }
}

/// Floods `target` at `pps` with `mix` until `stop`; one call per thread, over its sources.
fn flood_thread(
    mut sources: Vec<Source>,
    target: SocketAddr,
    mix: Mix,
    pps: u64,
    seed: u64,
    stop: &AtomicBool,
) -> FloodStats {
    let keys = NetworkKeys::new(NETWORK_ID);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut st = FloodStats::default();
    let mut k = 0usize;
    let mut garbage = [0u8; MAX_DATAGRAM];
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let due = (start.elapsed().as_secs_f64() * pps as f64) as u64;
        let burst = due.saturating_sub(st.sent).min(MAX_BURST);
        if burst == 0 {
            std::thread::sleep(PACE_TICK);
            continue;
        }
        for _ in 0..burst {
            k = (k + 1) % sources.len();
            let kind = match mix {
                Mix::Mixed => [Mix::Garbage, Mix::BadMac1, Mix::GoodMac1][st.sent as usize % 3],
                m => m,
            };
            let src = &mut sources[k];
            let packet: &[u8] = match kind {
                Mix::Garbage => {
                    let len = 1 + rng.next_u32() as usize % MAX_DATAGRAM;
                    rng.fill_bytes(&mut garbage[..len]);
                    &garbage[..len]
                }
                _ => {
                    let echo = if kind == Mix::CookieEcho {
                        src.cookie.as_ref()
                    } else {
                        None
                    };
                    let p = initiation(&mut rng, &keys, kind != Mix::BadMac1, echo);
                    let parsed = Initiation::parse(&p).unwrap();
                    src.recent[src.next] = (parsed.sender_index.0, *parsed.mac1);
                    src.next = (src.next + 1) % REMEMBERED;
                    garbage[..INITIATION_LEN].copy_from_slice(&p);
                    &garbage[..INITIATION_LEN]
                }
            };
            match src.socket.send_to(packet, target) {
                Ok(n) => st.bytes_sent += n as u64,
                Err(_) => st.send_failed += 1,
            }
            st.sent += 1;
            read_replies(src, &keys, &mut st);
        }
    }
    st
}

/// Non-blocking sockets on 127.1.x.y, one per source.
fn bind_sources() -> Vec<Source> {
    (0..SOURCES)
        .map(|i| {
            let ip = Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250) as u8 + 1);
            let socket = UdpSocket::bind((ip, 0)).expect("bind a 127.1.x.y source");
            socket.set_nonblocking(true).unwrap();
            Source {
                socket,
                cookie: None,
                recent: [(0, [0; MAC_LEN]); REMEMBERED],
                next: 0,
            }
        })
        .collect()
}

/// A flood running on its threads.
struct Flood {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<FloodStats>>,
    started: Instant,
}

impl Flood {
    fn start(target: SocketAddr, mix: Mix, pps: u64) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let mut all = bind_sources();
        let per = SOURCES / FLOOD_THREADS;
        let threads = (0..FLOOD_THREADS)
            .map(|t| {
                let sources: Vec<Source> = all.drain(..per.min(all.len())).collect();
                let stop = Arc::clone(&stop);
                let rate = pps / FLOOD_THREADS as u64;
                std::thread::spawn(move || {
                    flood_thread(sources, target, mix, rate, 0xF100D + t as u64, &stop)
                })
            })
            .collect();
        Flood {
            stop,
            threads,
            started: Instant::now(),
        }
    }

    fn finish(self) -> (FloodStats, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64();
        let mut total = FloodStats::default();
        for t in self.threads {
            total.add(&t.join().unwrap());
        }
        (total, secs)
    }
}

/// One join: ms from spawn to L's banner, ms from spawn until L lists V (L's side up: V's
/// response arrived) and until V lists L (`None` when V did not within [`JOIN_LIMIT`]), and
/// V's `/status` latencies while polling.
struct Join {
    ready_ms: f64,
    l_up_ms: Option<f64>,
    up_ms: Option<f64>,
    status_ms: Vec<f64>,
    status_timeouts: u32,
}

/// Starts a joiner L with `-b` V and polls V's `/status` until it lists L; stops L.
fn join(v: &Daemon, bin: &str) -> Join {
    let boot = SocketAddr::from((Ipv4Addr::LOCALHOST, v.port));
    let t = Instant::now();
    let l = start_daemon(bin, Some(boot));
    let mut j = Join {
        ready_ms: t.elapsed().as_secs_f64() * 1e3,
        l_up_ms: None,
        up_ms: None,
        status_ms: Vec::new(),
        status_timeouts: 0,
    };
    let lists = |s: &serde_json::Value, id: &str| {
        s["mesh"]["peer_list"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["node_id"] == id))
    };
    while t.elapsed() < JOIN_LIMIT {
        if j.l_up_ms.is_none() && try_status(l.port).is_some_and(|s| lists(&s, &v.node_id)) {
            j.l_up_ms = Some(t.elapsed().as_secs_f64() * 1e3);
        }
        let asked = Instant::now();
        let Some(s) = try_status(v.port) else {
            j.status_timeouts += 1;
            continue;
        };
        j.status_ms.push(asked.elapsed().as_secs_f64() * 1e3);
        if lists(&s, &l.node_id) {
            j.up_ms = Some(t.elapsed().as_secs_f64() * 1e3);
            return j;
        }
        std::thread::sleep(POLL_EVERY);
    }
    j
}

/// The mesh counters a phase reports, as V's `/status` names them.
const COUNTERS: [&str; 12] = [
    "datagrams_received",
    "datagrams_sent",
    "malformed",
    "bad_mac1",
    "cookie_replies_sent",
    "rate_limited",
    "table_full",
    "noise_failed",
    "binding_checks",
    "forged_identity",
    "handshakes_completed",
    "send_would_block",
];

fn counters(s: &serde_json::Value) -> Vec<u64> {
    COUNTERS
        .iter()
        .map(|c| s["mesh"][c].as_u64().unwrap_or(0))
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// One phase: an optional flood for `secs` (longer if a join is still running) with a join
/// every [`JOIN_EVERY`], at least `min_joins`.
fn phase(
    v: &Daemon,
    bin: &str,
    mix: Option<Mix>,
    pps: u64,
    secs: u64,
    min_joins: usize,
) -> serde_json::Value {
    eprintln!(
        "flood: phase {} for {secs} s",
        mix.map_or("none", Mix::name)
    );
    let pid = v.child.0.id();
    let before = counters(&status(v.port));
    let (rss_before, _) = rss(pid);
    let heap_before = status(v.port)["heap_bytes"].as_u64().unwrap_or(0);
    let cpu0 = cpu_secs(pid);
    let wait0 = runq_wait_secs(pid);
    let t0 = Instant::now();
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, v.port));
    let flood = mix.map(|m| Flood::start(target, m, pps));
    let (mut ready, mut up, mut l_up, mut failed) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let (mut status_ms, mut status_timeouts) = (Vec::new(), 0u32);
    let mut slot = 0u32;
    loop {
        let at = JOIN_EVERY * slot;
        if at >= Duration::from_secs(secs) && ready.len() >= min_joins {
            break;
        }
        if let Some(wait) = at.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
        let j = join(v, bin);
        ready.push(j.ready_ms);
        l_up.extend(j.l_up_ms);
        match j.up_ms {
            Some(ms) => up.push(ms),
            None => failed += 1,
        }
        status_ms.extend(j.status_ms);
        status_timeouts += j.status_timeouts;
        slot += 1;
    }
    if let Some(left) = Duration::from_secs(secs).checked_sub(t0.elapsed()) {
        std::thread::sleep(left);
    }
    let (rss_during, hwm) = rss(pid);
    let flooded = flood.map(Flood::finish);
    let secs_run = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs(pid) - cpu0;
    let waited = runq_wait_secs(pid) - wait0;
    let s = status(v.port);
    let after = counters(&s);
    assert!(
        v.child.0.id() == pid && std::fs::metadata(format!("/proc/{pid}")).is_ok(),
        "V died"
    );
    ready.sort_by(f64::total_cmp);
    up.sort_by(f64::total_cmp);
    l_up.sort_by(f64::total_cmp);
    status_ms.sort_by(f64::total_cmp);
    let deltas: serde_json::Map<String, serde_json::Value> = COUNTERS
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(c, (b, a))| ((*c).to_owned(), (a - b).into()))
        .collect();
    let mut out = serde_json::json!({
        "mix": mix.map_or("none", Mix::name),
        "secs": round1(secs_run),
        "joins": ready.len(),
        "joins_failed": failed,
        "join_ms_p50": round1(percentile(&up, 0.5)),
        "join_ms_max": round1(up.last().copied().unwrap_or(f64::NAN)),
        "l_up_ms_p50": round1(percentile(&l_up, 0.5)),
        "ready_ms_p50": round1(percentile(&ready, 0.5)),
        "status_ms_p50": round1(percentile(&status_ms, 0.5)),
        "status_ms_max": round1(status_ms.last().copied().unwrap_or(f64::NAN)),
        "status_timeouts": status_timeouts,
        "v_cpu_pct": round1(cpu / secs_run * 100.0),
        "v_runq_wait_pct": round1(waited / secs_run * 100.0),
        // V's CPU per datagram it read: what a datagram of this mix costs, whatever share of
        // the (shared) cores V got.
        "v_cpu_us_per_datagram": round1(cpu * 1e6 / (after[0] - before[0]).max(1) as f64),
        "v_rss_before": rss_before,
        "v_rss_end": rss_during,
        "v_hwm_end": hwm,
        "v_heap_before": heap_before,
        "v_heap_after": s["heap_bytes"].as_u64().unwrap_or(0),
        "v_counters": deltas,
    });
    if let Some((st, flood_secs)) = flooded {
        out["flood"] = serde_json::json!({
            "sent": st.sent,
            "pps": (st.sent as f64 / flood_secs).round(),
            "send_failed": st.send_failed,
            "bytes_sent": st.bytes_sent,
            "replies": st.replies,
            "bytes_received": st.bytes_received,
            "cookies_opened": st.cookies_opened,
            // Share of the flood V's socket handed to V; the rest the kernel dropped when
            // V's receive buffer was full (the joins' few datagrams are noise here).
            "v_read_pct": round1((after[0] - before[0]) as f64 * 100.0 / st.sent.max(1) as f64),
        });
    }
    out
}

/// Writes the report into `path` between the flood markers (appending the section at the end
/// of the page when it has none).
fn write_doc(path: &str, r: &serde_json::Value) {
    let sh = |cmd: &[&str]| {
        Command::new(cmd[0])
            .args(&cmd[1..])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let dirty = if sh(&[
        "git",
        "status",
        "--porcelain",
        "--untracked-files=no",
        "src",
        "benches",
    ])
    .is_empty()
    {
        ""
    } else {
        " (with uncommitted changes)"
    };
    let mib =
        |v: &serde_json::Value| format!("{:.1} MiB", v.as_u64().unwrap_or(0) as f64 / 1048576.0);
    let mut t = format!(
        "Measured {} on x86_64 ({cpu}, {cores} cores); commit `{}`{dirty}; release build, board \
         profile `{}`; {} sources, {} datagrams/s; load average at start {}, at end {} (other \
         jobs shared the cores: compare each phase with the baseline row, not across runs).\n\n\
         | phase | flood sent/s | read by V | V CPU, % of one core (V waiting for a core) | V CPU per datagram read | joins ok | \
         join p50 / max (L ready p50) | `/status` p50 / max, unanswered | V's counters that moved |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        sh(&["date", "-u", "+%Y-%m-%d"]),
        sh(&["git", "rev-parse", "--short", "HEAD"]),
        r["board"].as_str().unwrap_or(""),
        r["sources"],
        r["pps"],
        r["load_at_start"].as_str().unwrap_or(""),
        r["load_at_end"].as_str().unwrap_or(""),
    );
    for p in r["phases"].as_array().into_iter().flatten() {
        let f = &p["flood"];
        let moved: Vec<String> = COUNTERS[2..]
            .iter()
            .filter(|c| p["v_counters"][*c].as_u64() > Some(0))
            .map(|c| format!("{c} {}", p["v_counters"][*c]))
            .collect();
        let joins = p["joins"].as_u64().unwrap_or(0);
        let failed = p["joins_failed"].as_u64().unwrap_or(0);
        // The baseline row has no flood: no rate, no share read, no cost per datagram.
        let flooded = |v: String| if f.is_null() { "—".to_owned() } else { v };
        t.push_str(&format!(
            "| {} | {} | {} | {} % ({} %) | {} | {}/{} | {} / {} ms ({} ms) | {} / {} ms, {} | {} |\n",
            p["mix"].as_str().unwrap_or(""),
            flooded(format!("{:.0}", f["pps"].as_f64().unwrap_or(0.0))),
            flooded(format!("{} %", f["v_read_pct"])),
            p["v_cpu_pct"],
            p["v_runq_wait_pct"],
            flooded(format!("{} µs", p["v_cpu_us_per_datagram"])),
            joins - failed,
            joins,
            p["join_ms_p50"],
            p["join_ms_max"],
            p["ready_ms_p50"],
            p["status_ms_p50"],
            p["status_ms_max"],
            p["status_timeouts"],
            moved.join(", "),
        ));
    }
    t.push_str(&format!(
        "\nV's memory: RSS {} at start, {} after the last flood (`VmHWM` {}); live heap {} \
         before the first flood, {} after the last. V's CPU in the {} s after the floods: {} %.\n",
        mib(&r["v_rss_start"]),
        mib(&r["v_rss_after"]),
        mib(&r["v_hwm"]),
        mib(&r["phases"][0]["v_heap_after"]),
        mib(&r["phases"]
            .as_array()
            .and_then(|a| a.last())
            .map_or(serde_json::Value::Null, |p| p["v_heap_after"].clone())),
        SETTLE.as_secs(),
        r["v_cpu_pct_after"],
    ));
    let doc = std::fs::read_to_string(path).expect("read the page");
    let (begin, end) = ("<!-- BEGIN flood -->\n", "<!-- END flood -->");
    let out = match (doc.find(begin), doc.find(end)) {
        (Some(b), Some(e)) if b < e => format!("{}{begin}{t}{}", &doc[..b], &doc[e..]),
        // No section yet: a heading and the markers; the prose around them is written by hand.
        _ => format!(
            "{}\n\n## Forged-handshake flood (issue 6)\n\n{begin}{t}{end}\n",
            doc.trim_end()
        ),
    };
    std::fs::write(path, out).expect("write the page");
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let measure = args.iter().any(|a| a == "--bench");
    let pps = arg(&args, "--pps").unwrap_or(if measure { FULL_PPS } else { SMOKE_PPS });
    let secs = arg(&args, "--secs").unwrap_or(if measure { FULL_SECS } else { SMOKE_SECS });
    let load_at_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    // `--bin` floods another build of the daemon (e.g. the release binary from a debug build of
    // this benchmark, to iterate without a fat-LTO build of the benchmark itself).
    let bin: String =
        arg(&args, "--bin").unwrap_or_else(|| env!("CARGO_BIN_EXE_nostrp2p").to_owned());
    let v = start_daemon(&bin, None);
    std::thread::sleep(Duration::from_millis(500));
    let (rss_start, _) = rss(v.child.0.id());

    let mut phases = Vec::new();
    if measure {
        phases.push(phase(&v, &bin, None, pps, BASELINE_SECS, 1));
        // `--mixes a,b` runs only those (e.g. one mix at several rates); default all four.
        let all = [Mix::Garbage, Mix::BadMac1, Mix::GoodMac1, Mix::CookieEcho];
        let wanted: String = arg(&args, "--mixes").unwrap_or_default();
        for mix in all {
            if wanted.is_empty() || wanted.split(',').any(|w| w == mix.name()) {
                phases.push(phase(&v, &bin, Some(mix), pps, secs, 1));
            }
        }
    } else {
        phases.push(phase(&v, &bin, Some(Mix::Mixed), pps, secs, 1));
    }
    let cpu0 = cpu_secs(v.child.0.id());
    std::thread::sleep(SETTLE);
    let settle_cpu = (cpu_secs(v.child.0.id()) - cpu0) / SETTLE.as_secs_f64() * 100.0;
    let (rss_after, hwm) = rss(v.child.0.id());
    let report = serde_json::json!({
        "network_id": NETWORK_ID,
        "board": BOARD,
        "sources": SOURCES,
        "pps": pps,
        "load_at_start": load_at_start.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "load_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
            .split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "v_rss_start": rss_start,
        "v_rss_after": rss_after,
        "v_hwm": hwm,
        "v_cpu_pct_after": round1(settle_cpu),
        "phases": phases,
    });
    println!("{report}");
    if let Some(path) = arg::<String>(&args, "--write-doc") {
        write_doc(&path, &report);
    }

    if !measure {
        let p = &report["phases"][0];
        let c = &p["v_counters"];
        assert_eq!(p["joins_failed"], 0, "the legitimate join failed: {p}");
        assert!(p["joins"].as_u64() >= Some(1), "{p}");
        for kind in ["malformed", "bad_mac1", "cookie_replies_sent"] {
            assert!(c[kind].as_u64() > Some(0), "V counted no {kind}: {p}");
        }
        assert!(p["flood"]["cookies_opened"].as_u64() > Some(0), "{p}");
    }
}
