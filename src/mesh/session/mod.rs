//! Noise sessions: the handshake's ingredients ([`handshake`]) and the key sets of established
//! sessions: snow's stateless transport driven by the header's counter, with a replay window.

pub mod handshake;

use std::time::Instant;

use snow::StatelessTransportState;

use super::limits::{HEADER_LEN, MAX_PLAINTEXT, REJECT_AFTER_MESSAGES, TAG_LEN};
use super::replay::{ReplayError, ReplayWindow};
use super::wire::{Header, MessageType, SessionIndex};

/// Which side of the handshake made a key set. The initiator's side rekeys on time; the
/// responder's only [`RESPONDER_REKEY_DELAY`](super::limits::RESPONDER_REKEY_DELAY) later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the initiation.
    Initiator,
    /// We answered it.
    Responder,
}

/// Why sealing failed: local conditions, never the peer's doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("plaintext over one datagram's capacity")]
    TooLarge,
    #[error("key set used for REJECT_AFTER_MESSAGES packets")]
    Exhausted,
    #[error("the AEAD refused to seal")]
    Cipher,
}

/// Why an incoming transport datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("counter at or above REJECT_AFTER_MESSAGES")]
    Exhausted,
    #[error("authentication tag does not verify")]
    Decrypt,
}

/// One direction pair of transport keys, with its counters and replay window.
pub struct KeySet {
    /// Index the peer puts in datagrams to us (we chose it).
    pub local: SessionIndex,
    /// Index we put in datagrams to the peer (it chose it).
    pub remote: SessionIndex,
    transport: StatelessTransportState,
    /// When the handshake completed: rekey and reject times count from here.
    pub created: Instant,
    /// Which side we were.
    pub role: Role,
    /// Next counter to send; also the number of datagrams sealed.
    next_counter: u64,
    replay: ReplayWindow,
}

impl KeySet {
    /// Keys of a finished handshake.
    #[must_use]
    pub fn new(
        local: SessionIndex,
        remote: SessionIndex,
        transport: StatelessTransportState,
        created: Instant,
        role: Role,
    ) -> Self {
        Self {
            local,
            remote,
            transport,
            created,
            role,
            next_counter: 0,
            replay: ReplayWindow::new(),
        }
    }

    /// Seals one frame plaintext into a whole transport datagram.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(SealError::TooLarge);
        }
        let counter = self.next_counter;
        if counter >= REJECT_AFTER_MESSAGES {
            return Err(SealError::Exhausted);
        }
        let header = Header {
            kind: MessageType::Transport,
            receiver: self.remote,
            counter,
        };
        let mut out = vec![0u8; HEADER_LEN + plaintext.len() + TAG_LEN];
        let (head, body) = out.split_at_mut(HEADER_LEN);
        head.copy_from_slice(&header.encode());
        let n = self
            .transport
            .write_message(counter, plaintext, body)
            .map_err(|_| SealError::Cipher)?;
        out.truncate(HEADER_LEN + n);
        self.next_counter = counter + 1;
        Ok(out)
    }

    /// Opens a transport body (ciphertext and tag) sent with `counter` into `out`; the replay
    /// window is checked before and updated only after the tag verifies.
    pub fn open(&mut self, counter: u64, body: &[u8], out: &mut [u8]) -> Result<usize, OpenError> {
        if counter >= REJECT_AFTER_MESSAGES {
            return Err(OpenError::Exhausted);
        }
        self.replay.check(counter)?;
        let n = self
            .transport
            .read_message(counter, body, out)
            .map_err(|_| OpenError::Decrypt)?;
        self.replay.mark(counter);
        Ok(n)
    }

    /// Datagrams sealed so far.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.next_counter
    }

    /// Makes the next seal reuse `counter` (tests of the receiver's replay defence).
    #[cfg(test)]
    pub(crate) fn rewind_counter(&mut self, counter: u64) {
        self.next_counter = counter;
    }
}
