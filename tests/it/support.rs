//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// A file of the published test vectors (`tests/vectors/`, copied verbatim from `shared/vectors`).
pub fn vector_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Decodes hex of either case into bytes (vector files use uppercase).
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length in {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{s:?}: {e}")))
        .collect()
}

/// Like [`unhex`], for a fixed length.
pub fn unhex_array<const N: usize>(s: &str) -> [u8; N] {
    unhex(s)
        .try_into()
        .unwrap_or_else(|v: Vec<u8>| panic!("{s:?} is {} bytes, not {N}", v.len()))
}

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The built binary.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nostrp2p"));
    // Hermetic: no NOSTRP2P_* from the caller's environment, no systemd variables.
    for (key, _) in std::env::vars() {
        if key.starts_with("NOSTRP2P_") || key == "STATE_DIRECTORY" || key == "JOURNAL_STREAM" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `nostrp2p server -l 127.0.0.1:0 --data-dir DIR extra…` to completion: for start-ups
/// that must fail.
pub fn server_once(dir: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .args(["server", "-l", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("run nostrp2p server")
}

/// A port P with UDP P and TCP P+1 and P+2 free on loopback right now.
/// Parallel tests in this process draw from one counter, so they never try the same port.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 10_000) as u16 * 3;
    loop {
        let p = start + NEXT.fetch_add(3, std::sync::atomic::Ordering::Relaxed);
        assert!(p < 65_000, "no free port found");
        let ok = UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_ok()
            && TcpListener::bind((Ipv4Addr::LOCALHOST, p + 1)).is_ok()
            && TcpListener::bind((Ipv4Addr::LOCALHOST, p + 2)).is_ok();
        if ok {
            return p;
        }
    }
}

/// A running `nostrp2p server`, killed on drop if the test did not stop it.
pub struct Server {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub stdout: Vec<String>,
    pub port: u16,
}

impl Server {
    /// Starts `nostrp2p server -l 127.0.0.1:P --data-dir DIR extra…` and waits (bounded) for
    /// the banner's last line.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(dir, extra, &[])
    }

    /// Like [`Server::start`], with extra environment variables.
    pub fn start_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut child = bin()
            .args(["server", "-l", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("HOME", dir)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            lines: rx,
            stdout: Vec::new(),
            port,
        };
        server.wait_for_line("Stop with", Duration::from_secs(20));
        server
    }

    /// Waits until a stdout line contains `needle`, collecting lines; panics at the deadline
    /// with what was printed.
    pub fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let out = self.child.wait_with_output_lossy();
                    panic!(
                        "no line with {needle:?}; stdout {:?}; stderr {out}",
                        self.stdout
                    );
                }
            }
        }
    }

    /// The banner value after `label` (e.g. "owner").
    pub fn banner(&self, label: &str) -> String {
        self.stdout
            .iter()
            .find_map(|l| {
                l.trim_start()
                    .strip_prefix(label)
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no {label:?} in banner {:?}", self.stdout))
    }

    pub fn api_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port + 1))
    }

    /// Sends `signal` and waits (bounded) for the exit status.
    pub fn stop(mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -s {signal} failed");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within 15 s of {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

trait LossyOutput {
    fn wait_with_output_lossy(&mut self) -> String;
}

impl LossyOutput for Child {
    fn wait_with_output_lossy(&mut self) -> String {
        use std::io::Read;
        let mut err = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = self.wait();
        err
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on `addr`; returns (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("http head");
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (code, body.to_owned())
}
