//! `-s/--ssl`: HTTPS on P+1 and WSS on P+2 with a certificate the `openssl` CLI makes (a CA
//! and a leaf for IP 127.0.0.1, as mkcert does), for each key type real certificates use
//! (ECDSA P-256, P-384, RSA-2048). Real clients: curl with the CA file for `/status` and
//! `/req`, Python's `urllib` for `/status`, and a websocket client over rustls doing REQ→EOSE.
//! And the start-up errors for a missing, empty or mismatched certificate or key.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{Server, server_once};

/// The files `openssl` made: the CA to trust, the leaf chain and key to serve.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Runs `openssl args…` in `dir`, asserting success.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a leaf for 127.0.0.1 signed by it, with keys made by `newkey` (openssl's
/// `-newkey` argument plus options).
fn make_pki(dir: &Path, newkey: &[&str]) -> Pki {
    std::fs::create_dir_all(dir).expect("pki dir");
    let req = |key: &str, extra: &[&str]| {
        let mut args = vec!["req", "-nodes", "-newkey"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(&["-keyout", key]);
        args.extend_from_slice(extra);
        openssl(dir, &args);
    };
    req(
        "ca.key",
        &[
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=nostrp2p test CA",
            "-out",
            "ca.pem",
        ],
    );
    req(
        "privkey.pem",
        &["-subj", "/CN=127.0.0.1", "-out", "leaf.csr"],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "fullchain.pem",
        ],
    );
    Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("fullchain.pem"),
        key: dir.join("privkey.pem"),
    }
}

/// `curl --cacert CA` on `https://127.0.0.1:PORT/path`; with `body`, a POST. Returns the
/// status code and body.
fn curl(ca: &Path, port: u16, path: &str, body: Option<&str>) -> (u16, Vec<u8>) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["-w", "\n%{http_code}"]);
    if let Some(body) = body {
        cmd.args(["-X", "POST", "-H", "Content-Type: application/json"])
            .args(["--data-binary", body]);
    }
    let out = cmd
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let split = out
        .stdout
        .iter()
        .rposition(|b| *b == b'\n')
        .expect("status line");
    let code = String::from_utf8_lossy(&out.stdout[split + 1..])
        .parse()
        .expect("code");
    (code, out.stdout[..split].to_vec())
}

/// A blocking websocket over rustls, trusting only `ca`, to wss://127.0.0.1:PORT/.
fn wss_connect(
    ca: &Path,
    port: u16,
) -> tungstenite::WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("ca file") {
        roots.add(cert.expect("ca pem")).expect("ca cert");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let stream = rustls::StreamOwned::new(conn, tcp);
    let (ws, _) = tungstenite::client::client(format!("wss://127.0.0.1:{port}/"), stream)
        .unwrap_or_else(|e| match e {
            tungstenite::HandshakeError::Failure(e) => panic!("wss handshake: {e}"),
            tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake"),
        });
    ws
}

#[test]
fn https_and_wss_serve_real_clients_with_ecdsa_and_rsa_certificates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let kinds: [(&str, &[&str]); 3] = [
        ("p256", &["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]),
        ("p384", &["ec", "-pkeyopt", "ec_paramgen_curve:secp384r1"]),
        ("rsa2048", &["rsa:2048"]),
    ];
    for (name, newkey) in kinds {
        let pki = make_pki(&tmp.path().join(name), newkey);
        let server = Server::start(
            &tmp.path().join(format!("node-{name}")),
            &[
                "-s",
                "--tls-cert",
                pki.cert.to_str().expect("utf-8"),
                "--tls-key",
                pki.key.to_str().expect("utf-8"),
            ],
        );
        let (api, ws) = (server.port + 1, server.port + 2);

        let (code, body) = curl(&pki.ca, api, "/status", None);
        assert_eq!(code, 200, "{name}");
        let status: Value = serde_json::from_slice(&body).expect("status JSON");
        assert_eq!(status["http"]["tls"], true, "{name}");
        assert_eq!(status["ws"]["tls"], true, "{name}");
        // The handshakes run on the loop: no thread was added (cli.rs checks the plain 8).
        assert_eq!(status["threads"], 8, "{name}: {}", status["threads"]);

        let (code, body) = curl(
            &pki.ca,
            api,
            "/req",
            Some(r#"{"kinds":[40000],"since":-1,"until":-1,"limit":300}"#),
        );
        assert_eq!(code, 200, "{name}: {}", String::from_utf8_lossy(&body));

        // Python's urllib with the CA file: another TLS stack (OpenSSL's) agrees.
        let script = format!(
            "import ssl, urllib.request as u\n\
             ctx = ssl.create_default_context(cafile={ca:?})\n\
             print(u.urlopen('https://127.0.0.1:{api}/status', context=ctx, timeout=10).status)",
            ca = pki.ca.to_str().expect("utf-8"),
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .expect("python3");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "200",
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let mut wss = wss_connect(&pki.ca, ws);
        wss.send(Message::text(json!(["REQ", "s", {"limit": 5}]).to_string()))
            .expect("send REQ");
        let reply = loop {
            match wss.read().expect("read frame") {
                Message::Text(t) => break serde_json::from_str::<Value>(t.as_str()).expect("JSON"),
                Message::Close(c) => panic!("{name}: closed: {c:?}"),
                _ => {}
            }
        };
        assert_eq!(reply, json!(["EOSE", "s"]), "{name}");
        let _ = wss.close(None);

        // Plain HTTP on the HTTPS port gets no HTTP answer.
        let mut plain =
            TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, api))).expect("connect");
        plain
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        plain
            .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut answer = Vec::new();
        let _ = plain.read_to_end(&mut answer);
        assert!(!answer.starts_with(b"HTTP/"), "{name}: a plain answer");

        assert_eq!(server.stop("TERM").code(), Some(0), "{name}");
    }
}

#[test]
fn a_missing_empty_or_mismatched_certificate_stops_the_start_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = make_pki(
        &tmp.path().join("a"),
        &["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    );
    let other = make_pki(
        &tmp.path().join("b"),
        &["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    );
    let empty = tmp.path().join("empty.pem");
    std::fs::write(&empty, b"").expect("write");
    let missing = tmp.path().join("nowhere/fullchain.pem");
    let cases: [(&Path, &Path, &str); 4] = [
        (&missing, &pki.key, "cannot read"),
        (&empty, &pki.key, "no PEM certificate"),
        (&pki.cert, &empty, "no PEM private key"),
        (&pki.cert, &other.key, "cannot be used with the certificate"),
    ];
    for (i, (cert, key, says)) in cases.into_iter().enumerate() {
        let out = server_once(
            &tmp.path().join(format!("node{i}")),
            &[
                "-s",
                "--tls-cert",
                cert.to_str().expect("utf-8"),
                "--tls-key",
                key.to_str().expect("utf-8"),
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        assert!(stderr.contains(says), "case {i}: {stderr}");
        let named = if says.contains("key") && !says.contains("used") {
            key
        } else {
            cert
        };
        assert!(
            stderr.contains(named.to_str().expect("utf-8")),
            "case {i} names {}: {stderr}",
            named.display()
        );
    }
}

#[test]
fn a_client_that_never_finishes_its_handshake_is_closed_and_counted() {
    // `api::tls::TLS_HANDSHAKE_TIMEOUT`.
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = make_pki(
        &tmp.path().join("pki"),
        &["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    );
    let server = Server::start(
        &tmp.path().join("node"),
        &[
            "-s",
            "--tls-cert",
            pki.cert.to_str().expect("utf-8"),
            "--tls-key",
            pki.key.to_str().expect("utf-8"),
        ],
    );
    let started = std::time::Instant::now();
    // Silent TCP connections to both TLS ports: no ClientHello ever.
    let mut silent: Vec<TcpStream> = [server.port + 1, server.port + 2]
        .iter()
        .map(|p| TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, *p))).expect("connect"))
        .collect();
    for s in &mut silent {
        s.set_read_timeout(Some(HANDSHAKE_TIMEOUT * 3))
            .expect("timeout");
        let mut byte = [0u8; 1];
        let n = s.read(&mut byte).unwrap_or(0);
        assert_eq!(n, 0, "the node sent bytes to a client that sent none");
    }
    let took = started.elapsed();
    assert!(
        took >= HANDSHAKE_TIMEOUT - Duration::from_millis(500) && took < HANDSHAKE_TIMEOUT * 2,
        "closed after {took:?}"
    );
    let (code, body) = curl(&pki.ca, server.port + 1, "/status", None);
    assert_eq!(code, 200);
    let status: Value = serde_json::from_slice(&body).expect("status JSON");
    assert_eq!(
        status["http"]["closed"]["tls_handshake_failed"], 1,
        "{}",
        status["http"]
    );
    assert_eq!(status["ws"]["tls_handshake_failed"], 1, "{}", status["ws"]);
    assert_eq!(server.stop("TERM").code(), Some(0));
}
