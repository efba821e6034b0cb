//! `GET /status` on the API port (P+1), served by the loop until the client API takes the port
//! over: the loop accepts, checks that the peer is on the LAN, caps concurrent connections, and
//! serves each on a task with a deadline, so a slow or hostile client costs one bounded task.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::limits::{STATUS_HEAD_MAX, STATUS_HEAD_TIMEOUT};

pub use crate::api::admission::is_lan;

/// Serves one connection: reads the request head (bounded in size and time), answers `GET
/// /status` with `body`, anything else with 404 or 405, then closes.
pub async fn serve(mut stream: TcpStream, peer: SocketAddr, body: String) {
    let head = tokio::time::timeout(STATUS_HEAD_TIMEOUT, read_head(&mut stream)).await;
    let response = match head {
        Ok(Some(head)) => respond(&head, &body),
        Ok(None) => response(400, "Bad Request", "text/plain", "bad request\n"),
        Err(_) => {
            log::debug!("status: {peer} sent no request head within {STATUS_HEAD_TIMEOUT:?}");
            return;
        }
    };
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    if let Err(e) = tokio::time::timeout(Duration::from_secs(5), write)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write timed out",
            ))
        })
    {
        log::debug!("status: writing to {peer}: {e}");
    }
}

/// Reads up to the blank line that ends an HTTP/1.1 head; `None` when the peer closes first,
/// sends more than [`STATUS_HEAD_MAX`] bytes, or the head is not UTF-8.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() + n > STATUS_HEAD_MAX {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
    }
    String::from_utf8(buf).ok()
}

fn respond(head: &str, body: &str) -> String {
    let mut parts = head.lines().next().unwrap_or_default().split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET" | "HEAD", "/status") => response(200, "OK", "application/json", body),
        (_, "/status") => response(405, "Method Not Allowed", "text/plain", "use GET\n"),
        _ => response(404, "Not Found", "text/plain", "not found\n"),
    }
}

fn response(code: u16, reason: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.9",
            "169.254.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(is_lan(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "100.64.0.1",
            "172.32.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_lan(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn routes() {
        assert!(respond("GET /status HTTP/1.1\r\n\r\n", "{}").starts_with("HTTP/1.1 200"));
        assert!(respond("GET /status?x=1 HTTP/1.1\r\n\r\n", "{}").starts_with("HTTP/1.1 200"));
        assert!(respond("POST /status HTTP/1.1\r\n\r\n", "{}").starts_with("HTTP/1.1 405"));
        assert!(respond("GET / HTTP/1.1\r\n\r\n", "{}").starts_with("HTTP/1.1 404"));
        assert!(respond("", "{}").starts_with("HTTP/1.1 404"));
    }
}
