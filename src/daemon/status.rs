//! What `/status` reads from the process (threads, resident set) and how `nostrp2p status`
//! asks a running node for it. The route itself is the REST API's (`api::http::routes::status`);
//! the loop builds the document (`run::status_json`).

use std::net::SocketAddr;
use std::time::Duration;

/// Threads of this process and its resident set, from `/proc/self/status`.
#[must_use]
pub fn process_usage() -> (Option<u64>, Option<u64>) {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    (field("Threads:"), field("VmRSS:").map(|kib| kib * 1024))
}

/// Asks a running node for `/status` over loopback (blocking; used by `nostrp2p status`).
/// Returns the JSON body of a 200 answer.
pub fn fetch(addr: SocketAddr, timeout: Duration) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    stream.take(1 << 20).read_to_string(&mut text)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| Error::new(ErrorKind::InvalidData, "no HTTP head in the answer"))?;
    let status_line = head.lines().next().unwrap_or_default();
    if !status_line.starts_with("HTTP/1.1 200") {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("answered {status_line:?}"),
        ));
    }
    Ok(body.to_owned())
}
