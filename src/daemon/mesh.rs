//! The mesh in the daemon: the sans-IO [`Overlay`] driven from the loop's UDP socket, its TLS
//! links and clock, its address book persisted in the store, its peers reported in `/status`.
//!
//! The loop calls [`Mesh::handle_datagram`] for each datagram, [`Mesh::handle_link_event`] for
//! each event of a TLS link, [`Mesh::handle_timeout`] when [`Mesh::deadline`] passes, and
//! [`Mesh::flush`] after any of them (the drain invariant in `mesh/mod.rs`: every transmit and
//! event is taken before the loop waits again). `flush` also starts the TLS fallback: with no
//! session [`TLS_FALLBACK_AFTER`] after start, it dials the boot peers' TCP P
//! (docs/overlay.md "TLS fallback").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::tls::{LinkEvent, TlsLinks};
use crate::config::PeerAddr;
use crate::mesh::membership::{ADDRESS_BOOK_MAX, Entry};
use crate::mesh::{
    MeshConfig, MeshEvent, MeshNode, NodeId, Overlay, OverlayEvent, PathId, membership::NatType,
};
use crate::nostr::{Keys, PubKey};
use crate::store::{EventStore, StateStore};

/// The `StateStore` key of the persisted address book.
pub const BOOK_STATE_KEY: &str = "mesh.book";

/// How often a changed address book is written to the store: peers come and go by the minute,
/// and the SD card should not see a write for each; a crash loses at most this much churn,
/// which the next join relearns.
pub const BOOK_SAVE_EVERY: Duration = Duration::from_secs(300);

/// With boot peers and still no session this long after start, the node takes its UDP for
/// blocked and dials the boot peers over TLS. A UDP handshake takes one round trip and is
/// retried after 1 s, so five seconds of silence from every boot peer is not a slow link.
pub const TLS_FALLBACK_AFTER: Duration = Duration::from_secs(5);

/// While the node has no session at all, the fallback is tried again this often (a link may
/// have failed, or the boot peer restarted).
pub const TLS_REDIAL: Duration = Duration::from_secs(30);

/// Bytes of one persisted entry: node key, address family, 16 address bytes, port.
const BOOK_ENTRY_LEN: usize = 32 + 1 + 16 + 2;

/// Receive buffer asked of the kernel for the mesh socket. The loop is one thread; while it
/// works through a burst (a handshake flood past the cookie, a 64 KiB message of 57 datagrams
/// from each of several peers) the kernel queues what arrives, and drops it once the buffer is
/// full, legitimate handshakes included. The kernel charges each queued datagram its buffer's
/// true size (≈ 0.7–1 KiB for a 234-byte initiation), so Linux's default
/// (`net.core.rmem_default`, 208 KiB) queues a few hundred; asking 1 MiB gets 2 MiB (Linux
/// doubles the request for its bookkeeping), a few thousand, ≈ 0.2 s of a 10 000/s flood. The
/// kernel caps the request at `net.core.rmem_max` (stock Linux: 208 KiB, so a board needs
/// `sysctl net.core.rmem_max=1048576` for it to take effect); `/status` shows what it reports
/// (`udp_recv_buffer`, the doubled size).
pub const UDP_RECV_BUFFER: usize = 1 << 20;

/// Binds the mesh's UDP socket with a receive buffer of [`UDP_RECV_BUFFER`] (best effort: a
/// kernel that refuses leaves its default, logged), non-blocking, for the loop.
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECV_BUFFER) {
        log::warn!("mesh: cannot set the UDP receive buffer to {UDP_RECV_BUFFER} B: {e}");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// What the loop counts about the socket itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct SocketCounters {
    pub datagrams_received: u64,
    pub datagrams_sent: u64,
    /// Sends refused because the socket buffer was full (`WouldBlock`): dropped, as UDP may.
    pub send_would_block: u64,
    pub send_errors: u64,
    /// Application messages from peers, dropped until gossip consumes them.
    pub messages_unhandled: u64,
    /// UDP sends dropped on purpose (the test-only `TEST_NOSTRP2P_DROP_UDP`).
    pub udp_dropped_for_test: u64,
}

/// The overlay and what the shell keeps beside it.
pub struct Mesh {
    overlay: Overlay,
    counters: SocketCounters,
    book_dirty: bool,
    book_saved: Instant,
    /// The `-b` peers, which the TLS fallback dials.
    boot: Vec<SocketAddr>,
    /// When to check whether the TLS fallback is needed (none without boot peers).
    fallback_at: Option<Instant>,
    /// Drop every UDP send (test-only: plays a node whose UDP is blocked).
    drop_udp: bool,
    /// The mesh socket's receive buffer as the kernel reports it (`SO_RCVBUF`), read on the
    /// first flush.
    udp_recv_buffer: Option<usize>,
}

/// Resolves the `-b` peers to addresses (at start, before the loop: a blocking lookup is fine
/// there). Names that do not resolve are logged and skipped; the node still serves its owner
/// and joins later through whoever dials it.
#[must_use]
pub fn resolve_boot_peers(peers: &[PeerAddr]) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for peer in peers {
        if let Some(ip) = peer.ip() {
            out.push(SocketAddr::new(ip, peer.port));
            continue;
        }
        match (peer.host.as_str(), peer.port).to_socket_addrs() {
            Ok(addrs) => match addrs.into_iter().next() {
                Some(addr) => out.push(addr),
                None => log::warn!("mesh: boot peer {}:{} has no address", peer.host, peer.port),
            },
            Err(e) => log::warn!(
                "mesh: cannot resolve boot peer {}:{}: {e}",
                peer.host,
                peer.port
            ),
        }
    }
    out
}

impl Mesh {
    /// The overlay for `keys`, seeded from `seeds`, with the persisted address book loaded and
    /// a join through `boot` started.
    pub fn start(
        keys: &Keys,
        config: MeshConfig,
        seeds: [[u8; 32]; 2],
        boot: &[SocketAddr],
        state: &impl StateStore,
        now: Instant,
    ) -> Result<Self, String> {
        let [mesh_seed, overlay_seed] = seeds;
        let node = MeshNode::new(config, keys, mesh_seed).map_err(|e| e.to_string())?;
        let mut overlay = Overlay::new(node, overlay_seed);
        match state.state(BOOK_STATE_KEY) {
            Ok(Some(bytes)) => {
                let entries = decode_book(&bytes);
                log::info!("mesh: {} peers in the saved address book", entries.len());
                overlay.load_address_book(now, entries);
            }
            Ok(None) => {}
            Err(e) => log::warn!("mesh: cannot read the saved address book: {e}"),
        }
        overlay.join(now, boot);
        Ok(Self {
            overlay,
            counters: SocketCounters::default(),
            book_dirty: false,
            book_saved: now,
            boot: boot.to_vec(),
            fallback_at: (!boot.is_empty()).then(|| now + TLS_FALLBACK_AFTER),
            drop_udp: false,
            udp_recv_buffer: None,
        })
    }

    /// From now on every UDP datagram we send is dropped (tests of the TLS fallback).
    pub fn drop_udp_sends(&mut self) {
        self.drop_udp = true;
    }

    /// The earliest deadline of the overlay and of the TLS fallback check, as a tokio
    /// instant.
    #[must_use]
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        [self.overlay.poll_timeout(), self.fallback_at]
            .into_iter()
            .flatten()
            .min()
            .map(tokio::time::Instant::from_std)
    }

    /// An event of a TLS link: a dialled link is up (dial its peer's mesh on it), a datagram
    /// came over one (the mesh takes it on that path), or one closed (its sessions end).
    pub fn handle_link_event(&mut self, now: Instant, event: LinkEvent, tls: &mut TlsLinks) {
        match event {
            LinkEvent::Up { link, peer } => {
                if let Err(e) = self.overlay.connect_on(now, PathId::Tls(link), peer) {
                    log::debug!("mesh: cannot dial {peer} over tls: {e}");
                }
            }
            LinkEvent::Datagram { link, from, bytes } => {
                tls.received();
                self.overlay
                    .handle_datagram(now, PathId::Tls(link), from, &bytes);
            }
            LinkEvent::Closed { link } => {
                tls.closed(link);
                self.overlay.link_closed(now, link);
            }
        }
    }

    /// A datagram arrived on the mesh socket.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.counters.datagrams_received += 1;
        self.overlay.handle_datagram(now, PathId::Udp, from, bytes);
    }

    /// The deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.overlay.handle_timeout(now);
    }

    /// Sends every queued datagram (never waiting: a full socket buffer drops, as UDP may) and
    /// takes every event; saves the address book when it changed and is due.
    pub fn flush<S: StateStore + EventStore>(
        &mut self,
        socket: &UdpSocket,
        tls: &mut TlsLinks,
        store: &mut S,
        now: Instant,
    ) {
        self.check_fallback(tls, now);
        if self.udp_recv_buffer.is_none() {
            self.udp_recv_buffer = socket2::SockRef::from(socket).recv_buffer_size().ok();
        }
        while let Some(t) = self.overlay.poll_transmit() {
            if let PathId::Tls(link) = t.path {
                tls.send(link, t.bytes);
                continue;
            }
            if self.drop_udp {
                self.counters.udp_dropped_for_test += 1;
                continue;
            }
            match socket.try_send_to(&t.bytes, t.dst) {
                Ok(_) => self.counters.datagrams_sent += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.counters.send_would_block += 1;
                }
                Err(e) => {
                    self.counters.send_errors += 1;
                    log::debug!("mesh: send to {} failed: {e}", t.dst);
                }
            }
        }
        while let Some(event) = self.overlay.poll_event() {
            self.on_event(event);
        }
        if self.book_dirty && now.duration_since(self.book_saved) >= BOOK_SAVE_EVERY {
            self.save_book(store, now);
        }
    }

    /// The TLS fallback: when the check is due and the node has no session at all, while no
    /// link of ours is open or dialling, dials every boot peer's TCP P (the same number as its
    /// UDP port). Its sessions then come up over the links as ordinary sessions; a peer that
    /// later reaches us over UDP moves its session there (the mesh prefers UDP).
    fn check_fallback(&mut self, tls: &mut TlsLinks, now: Instant) {
        if self.fallback_at.is_none_or(|t| t > now) {
            return;
        }
        self.fallback_at = Some(now + TLS_REDIAL);
        // Sessions with boot peers that run over TLS: try UDP again, so a path that opens
        // (or a boot peer that was only slow to start) takes the session back to UDP.
        let on_tls: Vec<SocketAddr> = self
            .overlay
            .mesh()
            .peers()
            .filter(|p| matches!(p.path, PathId::Tls(_)) && self.boot.contains(&p.addr))
            .map(|p| p.addr)
            .collect();
        for addr in on_tls {
            let _ = self.overlay.connect(now, addr);
        }
        let no_session = self.overlay.mesh().peers().next().is_none();
        if !no_session || tls.dialled_open() > 0 {
            return;
        }
        log::info!("mesh: no session over UDP; trying TLS to the boot peers");
        for addr in &self.boot {
            tls.dial(*addr);
        }
    }

    fn on_event(&mut self, event: OverlayEvent) {
        match event {
            OverlayEvent::NeighborUp { node } => log::info!("mesh: neighbour {node} up"),
            OverlayEvent::NeighborDown { node } => log::info!("mesh: neighbour {node} down"),
            OverlayEvent::AddressLearned(_) | OverlayEvent::AddressForgotten { .. } => {
                self.book_dirty = true;
            }
            OverlayEvent::NatType(t) => log::info!("mesh: our NAT looks {}", nat_name(t)),
            OverlayEvent::PunchFailed { node } => log::debug!("mesh: punch to {node} failed"),
            OverlayEvent::Mesh(MeshEvent::Message { node, bytes }) => {
                // Gossip consumes these in the next wave; until then they are counted.
                self.counters.messages_unhandled += 1;
                log::debug!("mesh: {}-byte message from {node} not handled", bytes.len());
            }
            OverlayEvent::Mesh(MeshEvent::ConnectFailed { addr }) => {
                log::debug!("mesh: no answer from {addr}");
            }
            OverlayEvent::Mesh(_) => {}
        }
    }

    /// Writes the address book to the store and commits it (one small fsync, at most every
    /// [`BOOK_SAVE_EVERY`] and at stop).
    pub fn save_book<S: StateStore + EventStore>(&mut self, store: &mut S, now: Instant) {
        let entries: Vec<Entry> = self
            .overlay
            .address_book()
            .map(|(node, e)| Entry { node, addr: e.addr })
            .collect();
        match store
            .set_state(BOOK_STATE_KEY, &encode_book(&entries))
            .and_then(|()| store.commit())
        {
            Ok(_) => {
                self.book_dirty = false;
                self.book_saved = now;
            }
            Err(e) => log::warn!("mesh: cannot save the address book: {e}"),
        }
    }

    /// Whether the book changed since it was last saved.
    #[must_use]
    pub fn book_dirty(&self) -> bool {
        self.book_dirty
    }

    /// The `"mesh"` section of `/status`, with the TLS links' counters.
    #[must_use]
    pub fn status_json(&self, tls: &TlsLinks) -> serde_json::Value {
        let mesh = self.overlay.mesh();
        let active: Vec<NodeId> = self.overlay.active().collect();
        let peers: Vec<serde_json::Value> = mesh
            .peers()
            .map(|p| {
                serde_json::json!({
                    "node_id": p.node.0.to_hex(),
                    "addr": p.addr.to_string(),
                    "path": match p.path {
                        PathId::Udp => "direct",
                        PathId::Relay { .. } => "relayed",
                        PathId::Tls(_) => "tls",
                    },
                    "active": active.contains(&p.node),
                })
            })
            .collect();
        let s = mesh.stats();
        let o = self.overlay.stats();
        let r = o.relay;
        let c = self.counters;
        let mut status = serde_json::json!({
            "peers": peers.len(),
            "active_view": self.overlay.active_len(),
            "passive_view": self.overlay.passive().count(),
            "address_book": self.overlay.address_book().count(),
            "nat": nat_name(self.overlay.nat_type()),
            "peer_list": peers,
            "datagrams_received": c.datagrams_received,
            "datagrams_sent": c.datagrams_sent,
            "send_would_block": c.send_would_block,
            "send_errors": c.send_errors,
            "messages_unhandled": c.messages_unhandled,
            "udp_dropped_for_test": c.udp_dropped_for_test,
            "tls": tls.status_json(),
            "handshakes_completed": s.handshakes_completed,
            "malformed": s.malformed,
            "bad_mac1": s.bad_mac1,
            "rate_limited": s.rate_limited,
            "cookie_replies_sent": s.cookie_replies_sent,
            "cookies_received": s.cookies_received,
            "table_full": s.table_full,
            "noise_failed": s.noise_failed,
            "binding_checks": s.binding_checks,
            "forged_identity": s.forged_identity,
            "replayed": s.replayed,
            "decrypt_failed": s.decrypt_failed,
            "queue_full": s.queue_full,
            "membership": {
                "bad_messages": o.bad_messages,
                "dropped_events": o.dropped_events,
                "evictions": o.evictions,
                "shuffles": o.shuffles,
                "auto_introductions": o.auto_introductions,
            },
            "relay": {
                "forwarded": r.forwarded,
                "forwarded_bytes": r.forwarded_bytes,
                "refused_disabled": r.refused_disabled,
                "refused_size": r.refused_size,
                "refused_loop": r.refused_loop,
                "refused_unknown_target": r.refused_unknown_target,
                "over_rate": r.over_rate,
                "over_daily_cap": r.over_daily_cap,
                "table_full": r.table_full,
                "sent": r.sent,
                "received": r.received,
                "send_dropped": r.send_dropped,
                "bad_relay_from": r.bad_relay_from,
            },
        });
        // Outside the macro: one more key there passes serde_json's recursion limit.
        status["udp_recv_buffer"] = serde_json::json!(self.udp_recv_buffer);
        status
    }
}

fn nat_name(t: NatType) -> &'static str {
    match t {
        NatType::Unknown => "unknown",
        NatType::Cone => "cone",
        NatType::Symmetric => "symmetric",
    }
}

/// The address book as stored: [`BOOK_ENTRY_LEN`] bytes per entry, at most
/// [`ADDRESS_BOOK_MAX`] entries.
fn encode_book(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len().min(ADDRESS_BOOK_MAX) * BOOK_ENTRY_LEN);
    for e in entries.iter().take(ADDRESS_BOOK_MAX) {
        out.extend_from_slice(&e.node.0.0);
        match e.addr.ip() {
            IpAddr::V4(ip) => {
                out.push(4);
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&ip.octets());
                out.extend_from_slice(&b);
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&e.addr.port().to_be_bytes());
    }
    out
}

/// Decodes [`encode_book`]'s bytes; a damaged entry is skipped, never trusted or fatal (the
/// book is a hint: a wrong address only costs a failed dial).
fn decode_book(bytes: &[u8]) -> Vec<Entry> {
    bytes
        .chunks_exact(BOOK_ENTRY_LEN)
        .take(ADDRESS_BOOK_MAX)
        .filter_map(|c| {
            let node = <[u8; 32]>::try_from(c.get(..32)?).ok()?;
            let ip16 = <[u8; 16]>::try_from(c.get(33..49)?).ok()?;
            let ip = match c.get(32)? {
                4 => IpAddr::V4(Ipv4Addr::new(ip16[0], ip16[1], ip16[2], ip16[3])),
                6 => IpAddr::V6(Ipv6Addr::from(ip16)),
                _ => return None,
            };
            let port = u16::from_be_bytes(<[u8; 2]>::try_from(c.get(49..51)?).ok()?);
            (port != 0).then(|| Entry {
                node: NodeId(PubKey(node)),
                addr: SocketAddr::new(ip, port),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_default_network_is_the_mesh_default() {
        assert_eq!(
            crate::config::DEFAULT_NETWORK_ID,
            crate::mesh::cookie::DEFAULT_NETWORK_ID
        );
    }

    #[test]
    fn address_book_round_trips_and_skips_damage() {
        let entries = vec![
            Entry {
                node: NodeId(PubKey([1; 32])),
                addr: "192.0.2.1:20000".parse().unwrap(),
            },
            Entry {
                node: NodeId(PubKey([2; 32])),
                addr: "[2001:db8::7]:20003".parse().unwrap(),
            },
        ];
        let bytes = encode_book(&entries);
        assert_eq!(bytes.len(), 2 * BOOK_ENTRY_LEN);
        assert_eq!(decode_book(&bytes), entries);
        let mut damaged = bytes.clone();
        damaged[32] = 9; // unknown family
        assert_eq!(decode_book(&damaged), entries[1..].to_vec());
        // A truncated tail is ignored, not misread.
        assert_eq!(
            decode_book(&bytes[..bytes.len() - 1]),
            entries[..1].to_vec()
        );
        assert!(decode_book(&[0xff; 7]).is_empty());
    }
}
