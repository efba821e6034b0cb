//! What can go wrong, by whose fault: [`PeerFault`] for datagrams we drop (counted in
//! [`MeshStats`], never answered), [`SendError`] and [`ConnectError`] for local calls.

use super::fragment::ReassemblyError;
use super::replay::ReplayError;
use super::session::OpenError;
use super::wire::WireError;

/// Why a datagram was dropped. Counted and logged at trace level; nothing goes back to the
/// sender, so a prober learns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeerFault {
    #[error("malformed datagram: {0}")]
    Malformed(#[from] WireError),
    #[error("mac1 does not verify (not our network, or damaged)")]
    BadMac1,
    #[error("source over its handshake rate")]
    RateLimited,
    #[error("handshake table full")]
    HandshakeTableFull,
    #[error("session table full")]
    SessionTableFull,
    #[error("noise handshake failed")]
    Noise,
    #[error("node key does not sign the noise static key")] // binding: docs/wire.md
    ForgedIdentity,
    #[error("handshake with our own node id")]
    SelfHandshake,
    #[error("rekey answered by a different node")]
    IdentityChanged,
    #[error("no session or handshake has this index")]
    UnknownIndex,
    #[error("cookie reply does not open for our initiation")]
    CookieRejected,
    #[error("counter {0} replayed")]
    Replayed(u64),
    #[error("counter {0} below the replay window")]
    TooOld(u64),
    #[error("counter past REJECT_AFTER_MESSAGES")]
    CounterExhausted,
    #[error("authentication tag does not verify")]
    Decrypt,
    #[error("keys older than reject_after")]
    KeysExpired,
    #[error("authenticated but malformed frame: {0}")]
    BadFrame(WireError),
    #[error("fragment not stored: {0}")]
    Reassembly(#[from] ReassemblyError),
}

impl From<OpenError> for PeerFault {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Replay(ReplayError::Replayed(c)) => Self::Replayed(c),
            OpenError::Replay(ReplayError::TooOld(c)) => Self::TooOld(c),
            OpenError::Exhausted => Self::CounterExhausted,
            OpenError::Decrypt => Self::Decrypt,
        }
    }
}

/// Why [`MeshNode::send`](super::MeshNode::send) refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("no session with this node")]
    NotConnected,
    #[error("message of {0} bytes is over the 64 KiB limit")]
    TooLarge(usize),
    #[error("transmit queue full: drain poll_transmit first")]
    Backpressure,
    #[error("session keys expired or exhausted; a new handshake is needed")]
    KeysExpired,
}

/// Why [`MeshNode::connect`](super::MeshNode::connect) could not start a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("too many handshakes in flight")]
    TooManyHandshakes,
    #[error("transmit queue full: drain poll_transmit first")]
    Backpressure,
    #[error("noise could not build the initiation")]
    Noise,
}

/// Counters of what the transport dropped and did, for `/metrics` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshStats {
    /// Datagrams that did not parse.
    pub malformed: u64,
    /// Initiations with a wrong `mac1`.
    pub bad_mac1: u64,
    /// Cookie replies sent (under load, initiation without a valid `mac2`).
    pub cookie_replies_sent: u64,
    /// Cookie replies accepted.
    pub cookies_received: u64,
    /// Initiations over a source's rate.
    pub rate_limited: u64,
    /// Handshakes or sessions refused because a table was full.
    pub table_full: u64,
    /// Noise handshake messages that failed to read or write.
    pub noise_failed: u64,
    /// BIP-340 binding verifications run (the expensive part of a handshake with the DHs).
    pub binding_checks: u64,
    /// Handshakes whose binding did not verify.
    pub forged_identity: u64,
    /// Handshakes refused otherwise (our own id, another node answering a rekey).
    pub handshake_refused: u64,
    /// Handshakes completed (initiator: response accepted; responder: first packet).
    pub handshakes_completed: u64,
    /// Datagrams naming no session of ours.
    pub unknown_index: u64,
    /// Cookie replies that did not open.
    pub cookie_rejected: u64,
    /// Transport datagrams refused by the replay window.
    pub replayed: u64,
    /// Transport datagrams whose tag did not verify.
    pub decrypt_failed: u64,
    /// Transport datagrams under keys past `reject_after` or the message limit.
    pub keys_expired: u64,
    /// Authenticated frames that did not parse.
    pub bad_frame: u64,
    /// Fragments refused (slots full) and partial messages dropped at their timeout.
    pub reassembly_dropped: u64,
    /// Transmits or events dropped because a queue was full.
    pub queue_full: u64,
}

impl MeshStats {
    /// Counts one dropped datagram.
    pub fn record(&mut self, fault: &PeerFault) {
        let counter = match fault {
            PeerFault::Malformed(_) => &mut self.malformed,
            PeerFault::BadMac1 => &mut self.bad_mac1,
            PeerFault::RateLimited => &mut self.rate_limited,
            PeerFault::HandshakeTableFull | PeerFault::SessionTableFull => &mut self.table_full,
            PeerFault::Noise => &mut self.noise_failed,
            PeerFault::ForgedIdentity => &mut self.forged_identity,
            PeerFault::SelfHandshake | PeerFault::IdentityChanged => &mut self.handshake_refused,
            PeerFault::UnknownIndex => &mut self.unknown_index,
            PeerFault::CookieRejected => &mut self.cookie_rejected,
            PeerFault::Replayed(_) | PeerFault::TooOld(_) => &mut self.replayed,
            PeerFault::Decrypt => &mut self.decrypt_failed,
            PeerFault::KeysExpired | PeerFault::CounterExhausted => &mut self.keys_expired,
            PeerFault::BadFrame(_) => &mut self.bad_frame,
            PeerFault::Reassembly(_) => &mut self.reassembly_dropped,
        };
        *counter = counter.saturating_add(1);
    }
}
