//! The mesh's TLS fallback, shell side: TLS links on TCP P that carry the mesh's datagrams for
//! nodes whose UDP is blocked (docs/overlay.md "TLS fallback", framing in docs/wire.md).
//!
//! Every node listens on TCP P (the number of its UDP mesh port); a node that got no session
//! over UDP dials its boot peers there ([`super::mesh::Mesh`] decides when). Each link is one
//! task on the loop's thread that only moves bytes: frames it reads go to the loop over one
//! bounded channel ([`LinkEvent`]), datagrams the mesh sends on [`PathId::Tls`] come to it over
//! its own bounded queue. The certificate is self-signed, made in memory at start, and the
//! client accepts any: the Noise handshake inside authenticates the peer; TLS only carries the
//! link through networks that pass TCP (and TLS-looking flows) and hides its framing.
//!
//! Bounds: [`TLS_LINKS_MAX`] links in all (accepted and dialled), at most
//! [`TLS_LINKS_PER_SOURCE`] accepted from one source IP and [`TLS_ACCEPT_RATE`] per second
//! from it (burst [`TLS_ACCEPT_BURST`]), both refused before any TLS work,
//! [`HANDSHAKE_TIMEOUT`] for TCP connect plus TLS handshake, [`LINK_IDLE`] without a frame closes a link, and
//! [`LINK_QUEUE`] datagrams queued per link; a full queue drops the datagram and counts it, as
//! a full UDP socket buffer would.
//!
//! [`PathId::Tls`]: crate::mesh::PathId::Tls

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::mesh::LinkId;
use crate::mesh::limits::MAX_DATAGRAM;
use crate::mesh::ratelimit::HandshakeLimiter;

/// Links open at once, accepted and dialled together. A UDP-blocked home needs one or two (its
/// boot peers); a public node serves a few such homes. An idle link with its session costs
/// ≈ 40 KB of heap (docs/overlay.md "TLS fallback"), plus its queue when full.
pub const TLS_LINKS_MAX: usize = 8;

/// Accepted links open at once from one source IP. Without it one host takes all
/// [`TLS_LINKS_MAX`] slots (idle handshakes hold one for [`HANDSHAKE_TIMEOUT`] each). Two, not
/// one: a home's nodes share its public address, and a redial may overlap the link it
/// replaces until that one times out. Dialled links are ours and not counted.
pub const TLS_LINKS_PER_SOURCE: usize = 2;

/// Connections accepted per second from one source IP, on average ([`TLS_ACCEPT_BURST`] at
/// once). An honest node dials a peer at most every `TLS_REDIAL` (30 s); this only stops one
/// host from churning handshakes (each costs an X25519 and a signature) under the
/// per-source cap.
pub const TLS_ACCEPT_RATE: u32 = 1;

/// Connections one source IP may open at once before [`TLS_ACCEPT_RATE`] applies.
pub const TLS_ACCEPT_BURST: u32 = 4;

/// TCP connect plus TLS handshake must finish within this, or the link is dropped: a peer that
/// stalls a handshake holds a slot no longer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A link that carries no frame either way for this long is closed. Active peers ping every 25 s and the
/// mesh ends a silent session after 90 s, so a live link never gets here.
pub const LINK_IDLE: Duration = Duration::from_secs(120);

/// Datagrams queued towards one link: 64 holds one whole 64 KiB message (55 fragments) with
/// room for pings; beyond it datagrams are dropped and counted.
pub const LINK_QUEUE: usize = 64;

/// Link events waiting for the loop, from all links together. A full channel makes the link
/// tasks wait, which pushes back on their TCP senders.
const EVENTS_QUEUE: usize = 64;

/// Bytes read from a TLS stream at a time.
const READ_CHUNK: usize = 4096;

/// The TLS server name the client sends; no SNI is sent, and the server's certificate is not
/// checked against it, but rustls needs one.
const SERVER_NAME: &str = "nostrp2p";

/// What the link tasks tell the loop.
#[derive(Debug)]
pub enum LinkEvent {
    /// A dialled link finished its TLS handshake: the mesh can dial its peer on it.
    Up { link: LinkId, peer: SocketAddr },
    /// One datagram read from a link.
    Datagram {
        link: LinkId,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    /// The link ended (closed, idle, a bad frame, a failed handshake).
    Closed { link: LinkId },
}

/// What the TLS side counts, for `/status`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TlsCounters {
    pub accepted: u64,
    pub dialled: u64,
    /// Connections refused or dials not started because [`TLS_LINKS_MAX`] links were open.
    pub refused_full: u64,
    /// Connections refused because their source IP had [`TLS_LINKS_PER_SOURCE`] links open.
    pub refused_source_links: u64,
    /// Connections refused because their source IP exceeded [`TLS_ACCEPT_RATE`].
    pub refused_source_rate: u64,
    pub datagrams_sent: u64,
    pub datagrams_received: u64,
    /// Datagrams dropped because the link's queue was full.
    pub queue_full: u64,
    /// Datagrams for a link that had closed.
    pub link_gone: u64,
}

/// One link as the loop sees it.
struct Link {
    tx: mpsc::Sender<Vec<u8>>,
    peer: SocketAddr,
    dialled: bool,
    task: AbortHandle,
}

/// Why the TLS side could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("failed to make the self-signed certificate")]
    Certificate(#[source] rustls::Error),
    #[error("failed to configure TLS")]
    Config(#[source] rustls::Error),
}

/// The TLS links of the mesh (the loop owns the listener on TCP P and hands over what it
/// accepts).
pub struct TlsLinks {
    listening: bool,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    links: BTreeMap<LinkId, Link>,
    sources: SourceGate,
    next_id: u32,
    events_tx: mpsc::Sender<LinkEvent>,
    events_rx: mpsc::Receiver<LinkEvent>,
    counters: TlsCounters,
}

impl TlsLinks {
    /// The TLS side with a fresh self-signed certificate. `listening`: whether the loop accepts
    /// on TCP P (for `/status`; without it the node only dials).
    pub fn new(listening: bool) -> Result<Self, TlsSetupError> {
        let provider = Arc::new(provider());
        let mut seed = [0u8; 32];
        super::os_random(&mut seed);
        let (cert, key) = self_signed(&provider, &seed).map_err(TlsSetupError::Certificate)?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError::Config)?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .map_err(TlsSetupError::Config)?;
        let mut client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError::Config)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth();
        client.enable_sni = false;
        let (events_tx, events_rx) = mpsc::channel(EVENTS_QUEUE);
        Ok(Self {
            listening,
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            links: BTreeMap::new(),
            sources: SourceGate::default(),
            next_id: 0,
            events_tx,
            events_rx,
            counters: TlsCounters::default(),
        })
    }

    /// The next event from a link. The loop holds a sender itself, so this never ends.
    pub async fn recv(&mut self) -> Option<LinkEvent> {
        self.events_rx.recv().await
    }

    /// Takes an accepted connection as a link, or drops it (closing the TCP connection before
    /// any TLS byte) when its source is over [`TLS_LINKS_PER_SOURCE`] or [`TLS_ACCEPT_RATE`],
    /// or [`TLS_LINKS_MAX`] are open.
    pub fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        let ip = peer.ip().to_canonical();
        let open = self
            .links
            .values()
            .filter(|l| !l.dialled && l.peer.ip().to_canonical() == ip)
            .count();
        if self.links.len() >= TLS_LINKS_MAX {
            self.counters.refused_full += 1;
            log::debug!("tls: {TLS_LINKS_MAX} links open, refusing {peer}");
            return;
        }
        match self.sources.check(Instant::now(), ip, open) {
            Ok(()) => {}
            Err(SourceRefusal::Links) => {
                self.counters.refused_source_links += 1;
                log::debug!("tls: {ip} has {open} links open, refusing {peer}");
                return;
            }
            Err(SourceRefusal::Rate) => {
                self.counters.refused_source_rate += 1;
                log::debug!("tls: {ip} connects too often, refusing {peer}");
                return;
            }
        }
        let Some(link) = self.reserve(peer) else {
            return;
        };
        self.counters.accepted += 1;
        let (tx, out_rx) = mpsc::channel(LINK_QUEUE);
        let (acceptor, events) = (self.acceptor.clone(), self.events_tx.clone());
        let task = tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            match handshake.await {
                Ok(Ok(tls)) => pump(link, peer, tls, out_rx, &events).await,
                Ok(Err(e)) => log::debug!("tls: handshake from {peer} failed: {e}"),
                Err(_) => log::debug!("tls: handshake from {peer} timed out"),
            }
            let _ = events.send(LinkEvent::Closed { link }).await;
        });
        self.track(link, tx, peer, false, &task);
    }

    /// Dials `peer`'s TCP port and opens a TLS link to it; [`LinkEvent::Up`] follows when the
    /// handshake is done. Returns whether a dial started.
    pub fn dial(&mut self, peer: SocketAddr) -> bool {
        let Some(link) = self.reserve(peer) else {
            return false;
        };
        self.counters.dialled += 1;
        let (tx, out_rx) = mpsc::channel(LINK_QUEUE);
        let (connector, events) = (self.connector.clone(), self.events_tx.clone());
        let task = tokio::spawn(async move {
            let connect = async {
                let tcp = TcpStream::connect(peer).await?;
                tcp.set_nodelay(true)?;
                let name = ServerName::try_from(SERVER_NAME)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                connector.connect(name, tcp).await
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
                Ok(Ok(tls)) => {
                    log::info!("tls: link to {peer} up");
                    if events.send(LinkEvent::Up { link, peer }).await.is_ok() {
                        pump(link, peer, tls, out_rx, &events).await;
                    }
                }
                Ok(Err(e)) => log::info!("tls: cannot open a link to {peer}: {e}"),
                Err(_) => log::info!("tls: link to {peer} timed out"),
            }
            let _ = events.send(LinkEvent::Closed { link }).await;
        });
        self.track(link, tx, peer, true, &task);
        true
    }

    /// Records a link whose task was just spawned (accepted or dialled).
    fn track(
        &mut self,
        link: LinkId,
        tx: mpsc::Sender<Vec<u8>>,
        peer: SocketAddr,
        dialled: bool,
        task: &tokio::task::JoinHandle<()>,
    ) {
        let task = task.abort_handle();
        self.links.insert(
            link,
            Link {
                tx,
                peer,
                dialled,
                task,
            },
        );
    }

    /// Queues `bytes` for `link`, never waiting: a full queue drops, as UDP may.
    pub fn send(&mut self, link: LinkId, bytes: Vec<u8>) {
        let Some(l) = self.links.get(&link) else {
            self.counters.link_gone += 1;
            return;
        };
        match l.tx.try_send(bytes) {
            Ok(()) => self.counters.datagrams_sent += 1,
            Err(mpsc::error::TrySendError::Full(_)) => self.counters.queue_full += 1,
            Err(mpsc::error::TrySendError::Closed(_)) => self.counters.link_gone += 1,
        }
    }

    /// Counts a datagram read from a link (the loop hands it to the mesh).
    pub fn received(&mut self) {
        self.counters.datagrams_received += 1;
    }

    /// Forgets a link whose task ended.
    pub fn closed(&mut self, link: LinkId) {
        if let Some(l) = self.links.remove(&link) {
            log::debug!("tls: link {} with {} closed", link.0, l.peer);
        }
    }

    /// Links we dialled that are still open or dialling.
    #[must_use]
    pub fn dialled_open(&self) -> usize {
        self.links.values().filter(|l| l.dialled).count()
    }

    /// The `"tls"` part of the mesh's `/status`.
    #[must_use]
    pub fn status_json(&self) -> serde_json::Value {
        let c = self.counters;
        serde_json::json!({
            "listening": self.listening,
            "links": self.links.len(),
            "accepted": c.accepted,
            "dialled": c.dialled,
            "refused_full": c.refused_full,
            "refused_source_links": c.refused_source_links,
            "refused_source_rate": c.refused_source_rate,
            "datagrams_sent": c.datagrams_sent,
            "datagrams_received": c.datagrams_received,
            "queue_full": c.queue_full,
            "link_gone": c.link_gone,
        })
    }

    /// An id for a new link, or `None` (counted) when [`TLS_LINKS_MAX`] are open.
    fn reserve(&mut self, peer: SocketAddr) -> Option<LinkId> {
        if self.links.len() >= TLS_LINKS_MAX {
            self.counters.refused_full += 1;
            log::debug!("tls: {TLS_LINKS_MAX} links open, refusing {peer}");
            return None;
        }
        let link = LinkId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        Some(link)
    }
}

impl Drop for TlsLinks {
    fn drop(&mut self) {
        for l in self.links.values() {
            l.task.abort();
        }
    }
}

/// Why a source's connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceRefusal {
    /// It has [`TLS_LINKS_PER_SOURCE`] accepted links open.
    Links,
    /// Its token bucket is empty ([`TLS_ACCEPT_RATE`], [`TLS_ACCEPT_BURST`]).
    Rate,
}

/// Per-source admission of accepted connections: the cap on open links, then the rate. A
/// connection refused for the cap spends no token, so a source at its cap that keeps knocking
/// gets its next link as soon as one closes. The bucket table is bounded by the mesh
/// limiter's `RATE_LIMIT_SOURCES` (a full table of fresh sources refuses, as under a flood).
struct SourceGate {
    rate: HandshakeLimiter,
}

impl Default for SourceGate {
    fn default() -> Self {
        Self {
            rate: HandshakeLimiter::new(TLS_ACCEPT_RATE, TLS_ACCEPT_BURST),
        }
    }
}

impl SourceGate {
    /// Whether a connection from `ip`, which has `open` accepted links, may become a link.
    fn check(&mut self, now: Instant, ip: IpAddr, open: usize) -> Result<(), SourceRefusal> {
        if open >= TLS_LINKS_PER_SOURCE {
            return Err(SourceRefusal::Links);
        }
        if !self.rate.allow(now, ip) {
            return Err(SourceRefusal::Rate);
        }
        Ok(())
    }
}

/// Moves frames both ways on one established link until it closes, idles out or sends a bad
/// frame.
async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
    link: LinkId,
    peer: SocketAddr,
    mut stream: S,
    mut out: mpsc::Receiver<Vec<u8>>,
    events: &mpsc::Sender<LinkEvent>,
) {
    let mut decoder = FrameDecoder::default();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut frame = Vec::with_capacity(2 + MAX_DATAGRAM);
    loop {
        tokio::select! {
            read = tokio::time::timeout(LINK_IDLE, stream.read(&mut buf)) => {
                let n = match read {
                    Ok(Ok(0)) => return,
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) => {
                        log::debug!("tls: read from {peer} failed: {e}");
                        return;
                    }
                    Err(_) => {
                        log::debug!("tls: link with {peer} idle, closing");
                        return;
                    }
                };
                decoder.push(buf.get(..n).unwrap_or_default());
                loop {
                    match decoder.next_frame() {
                        Ok(Some(bytes)) => {
                            let event = LinkEvent::Datagram { link, from: peer, bytes };
                            if events.send(event).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            log::debug!("tls: {peer} sent a bad frame ({e}), closing");
                            return;
                        }
                    }
                }
            }
            next = out.recv() => {
                let Some(first) = next else { return };
                // Everything queued goes out in one flush.
                let mut datagram = Some(first);
                while let Some(d) = datagram {
                    frame.clear();
                    encode_frame(&d, &mut frame);
                    if stream.write_all(&frame).await.is_err() {
                        return;
                    }
                    datagram = out.try_recv().ok();
                }
                if stream.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Appends one frame carrying `datagram` to `out`: its length as a big-endian u16, then the
/// datagram. The mesh's datagrams are 1..=[`MAX_DATAGRAM`] bytes, so the length always fits.
pub fn encode_frame(datagram: &[u8], out: &mut Vec<u8>) {
    let len = u16::try_from(datagram.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(datagram.get(..usize::from(len)).unwrap_or(datagram));
}

/// A frame the peer sent that no honest node sends; the link is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {0} outside 1..={MAX_DATAGRAM}")]
    Length(usize),
}

/// Splits a TLS stream's bytes back into datagrams. Holds at most one partial frame plus the
/// last chunk pushed: a length outside 1..=[`MAX_DATAGRAM`] is refused before its body is
/// read, so a peer cannot make it buffer more.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// Adds bytes read from the stream; take frames with [`Self::next_frame`] until `None`
    /// before pushing more.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole datagram, `None` when more bytes are needed, or an error for a length
    /// no honest node sends.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(&[hi, lo]) = self.buf.get(..2) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len == 0 || len > MAX_DATAGRAM {
            return Err(FrameError::Length(len));
        }
        let Some(datagram) = self.buf.get(2..2 + len) else {
            return Ok(None);
        };
        let datagram = datagram.to_vec();
        self.buf.drain(..2 + len);
        Ok(Some(datagram))
    }

    /// Bytes held.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// The TLS the links speak, and nothing more: both ends are nostrp2p nodes, so one cipher
/// suite per version (ChaCha20-Poly1305, fast without AES hardware on the boards), X25519, and
/// Ed25519 keys. Naming only these (instead of ring's default provider) lets the linker drop
/// AES-GCM, P-256/P-384 and RSA: ~0.2 MB of binary.
fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![crypto::ring::kx_group::X25519],
        // Nothing is verified against a certificate (see `AnyCertificate`).
        signature_verification_algorithms: crypto::WebPkiSupportedAlgorithms {
            all: &[],
            mapping: &[],
        },
        secure_random: &OsRandom,
        key_provider: &Ed25519Keys,
    }
}

/// rustls' randomness (client and server randoms, session ids, tickets) from the OS: for the
/// links here and, passed in by the daemon, the API's TLS (`api::tls::acceptor`).
#[derive(Debug)]
pub(crate) struct OsRandom;

impl crypto::SecureRandom for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), crypto::GetRandomFailed> {
        getrandom::fill(buf).map_err(|_| crypto::GetRandomFailed)
    }
}

/// Loads the one kind of key the links use: Ed25519 in PKCS#8.
#[derive(Debug)]
struct Ed25519Keys;

impl crypto::KeyProvider for Ed25519Keys {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        match key_der {
            PrivateKeyDer::Pkcs8(der) => crypto::ring::sign::any_eddsa_type(&der),
            _ => Err(rustls::Error::General("only Ed25519 PKCS#8 keys".into())),
        }
    }
}

/// Accepts any server certificate and any handshake signature. The certificate proves
/// nothing here (every node makes its own at start), so neither does a signature made with
/// its key: a man in the middle could present and sign with a certificate of its own. The
/// Noise IX handshake carried inside the link authenticates the peer's node key, as on UDP;
/// TLS only hides the link among other TLS and crosses networks that pass TCP.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// OID 1.3.101.112, Ed25519 (RFC 8410 §3), as a DER AlgorithmIdentifier without parameters.
const ED25519_ALG_ID: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];

/// A PKCS#8 v1 Ed25519 private key is this prefix and the 32-byte seed (RFC 8410 §7).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A self-signed Ed25519 X.509 v3 certificate for the key with `seed`, and that key. Built by
/// hand (RFC 5280 §4.1, ≈ 300 bytes of DER) rather than with a certificate crate: nothing
/// checks it but rustls' own parse (the key must match it), and a generator library would add
/// to the binary for one fixed layout. Subject and issuer are `CN=nostrp2p`, valid from 2025
/// to 9999, serial 1, no extensions.
fn self_signed(
    provider: &CryptoProvider,
    seed: &[u8; 32],
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), rustls::Error> {
    let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
    pkcs8.extend_from_slice(seed);
    let key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(pkcs8.clone().into()))?;
    let spki = key
        .public_key()
        .ok_or_else(|| rustls::Error::General("no public key for the Ed25519 key".into()))?;
    let name = der(
        0x30,
        &der(
            0x31,
            &der(
                0x30,
                &[
                    &[0x06, 0x03, 0x55, 0x04, 0x03][..], // id-at-commonName
                    &der(0x0c, SERVER_NAME.as_bytes()),
                ]
                .concat(),
            ),
        ),
    );
    let validity = der(
        0x30,
        &[
            der(0x17, b"250101000000Z"),   // UTCTime
            der(0x18, b"99991231235959Z"), // GeneralizedTime: no expiry (RFC 5280 §4.1.2.5)
        ]
        .concat(),
    );
    let tbs = der(
        0x30,
        &[
            &[0xa0, 0x03, 0x02, 0x01, 0x02][..], // [0] version v3
            &[0x02, 0x01, 0x01],                 // serial 1
            &ED25519_ALG_ID,
            &name,
            &validity,
            &name,
            spki.as_ref(),
        ]
        .concat(),
    );
    let signer = key
        .choose_scheme(&[SignatureScheme::ED25519])
        .ok_or_else(|| rustls::Error::General("the Ed25519 key cannot sign".into()))?;
    let signature = signer.sign(&tbs)?;
    let mut bits = vec![0u8]; // no unused bits
    bits.extend_from_slice(&signature);
    let cert = der(
        0x30,
        &[&tbs[..], &ED25519_ALG_ID, &der(0x03, &bits)].concat(),
    );
    Ok((cert.into(), PrivateKeyDer::Pkcs8(pkcs8.into())))
}

/// One DER element: `tag`, the definite length of `content` (short form below 128, else
/// long form), `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// The next connection on TCP P; never completes without a listener.
pub async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

// The unit tests sit beside this file, which stays under ~800 lines with them out.
#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
