//! What the benchmarks that start the real daemon share (`#[path]`-included by each).

#![allow(dead_code)] // each bench uses its own part

use std::net::{TcpListener, UdpSocket};
use std::process::Child;

/// A free port P with P+1 and P+2 free too (UDP and TCP P, TCP P+1 and P+2: the daemon's
/// stride of three), probed on loopback.
pub fn free_port() -> u16 {
    for _ in 0..64 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        drop(l);
        if p < 65_000
            && (1..=2).all(|d| TcpListener::bind(("127.0.0.1", p + d)).is_ok())
            && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        {
            return p;
        }
    }
    panic!("no three free ports");
}

/// The number of a `/proc/PID/status` line (`VmRSS:`, `VmHWM:`, `Threads:`…), 0 if absent;
/// memory lines are in KiB.
pub fn proc_status(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
}

/// A child process killed and reaped when this drops, so a failed bench leaves no daemon.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
