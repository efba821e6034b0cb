//! Sans-IO mesh transport. Owns no socket, reads no clock, draws no OS randomness: the daemon
//! feeds datagrams and time in, and sends what comes out. Byte layouts are in `docs/wire.md`.
//!
//! What it is: Noise IX sessions (`Noise_IX_25519_ChaChaPoly_BLAKE2s`) between nodes named by
//! their 32-byte node keys, each key bound to the Noise static key by a BIP-340 signature;
//! snow's stateless transport with the header counter as nonce and a 2048-packet replay window;
//! rekey at 120 s, keys refused at 180 s, idle sessions ended; messages up to 64 KiB fragmented
//! into ≤ 1200-byte datagrams; WireGuard's `mac1`/cookie/`mac2` defence and a per-source
//! handshake rate; HyParView-like membership in [`membership`] ([`Overlay`] wraps the node),
//! with NAT classification, introducer-driven hole punching and a relay fallback through the
//! introducer ([`PathId::Relay`]: the same end-to-end session, its datagrams carried inside
//! the relay's sessions), and a TLS fallback path ([`PathId::Tls`]) whose datagrams the shell
//! carries over a TLS link for nodes whose UDP is blocked.
//!
//! # Shape
//!
//! Inputs: [`MeshNode::handle_datagram`], [`MeshNode::handle_timeout`] and the commands
//! [`MeshNode::connect`], [`MeshNode::send`], [`MeshNode::disconnect`]. Outputs:
//! [`MeshNode::poll_transmit`] ([`Transmit`]), [`MeshNode::poll_event`] ([`MeshEvent`]) and
//! [`MeshNode::poll_timeout`]. Every `now` is a monotonic [`std::time::Instant`] the caller
//! read; every random byte comes from the seed given to [`MeshNode::new`] through one ChaCha20
//! RNG, which also seeds snow per handshake (`session::handshake`), so a run replays from
//! its seed.
//!
//! # Drain invariant
//!
//! After any `handle_*` call or command, the caller drains `poll_transmit` and `poll_event`
//! until both return `None`, then reads `poll_timeout` and waits for the next datagram or that
//! deadline, whichever comes first. Only the deadline crosses a wait: output queued and not
//! drained would wait for a datagram that may never come. The queues are bounded
//! ([`limits::MAX_QUEUED_TRANSMITS`], [`limits::MAX_QUEUED_EVENTS`]); output beyond them is
//! dropped and counted, and `send` refuses with [`SendError::Backpressure`] instead.
//!
//! # Bad input
//!
//! Every decoder takes hostile bytes: lengths are checked before reading, and nothing a peer
//! sends can panic (`indexing_slicing` and `unwrap_used` are denied here; arbitrary bytes are
//! property-tested). Dropped datagrams are counted in [`MeshStats`] by [`PeerFault`] and never
//! answered.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

pub mod config;
pub mod cookie;
pub mod error;
pub mod fragment;
pub mod limits;
pub mod membership;
pub mod node;
pub mod ratelimit;
pub mod replay;
pub mod session;
pub mod wire;

pub use config::{ConfigError, MeshConfig};
pub use error::{ConnectError, MeshStats, PeerFault, SendError};
pub use membership::{Overlay, OverlayEvent};
pub use node::{DownReason, LinkId, MeshEvent, MeshNode, PathId, PeerInfo, Transmit};
pub use wire::{Caps, NodeId, SessionIndex};

#[cfg(test)]
pub(crate) mod tests;
