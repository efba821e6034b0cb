//! [`MeshConfig`]: what a deployment may tune in the transport. `config.rs` of the crate
//! assembles it from the board profile and the user's settings; the mesh never reads files.

use core::time::Duration;

use super::cookie::DEFAULT_NETWORK_ID;
use super::limits::{
    ACTIVE_VIEW, HANDSHAKE_BURST, HANDSHAKE_GIVE_UP, HANDSHAKE_RATE, HANDSHAKE_RETRY, IDLE_TIMEOUT,
    MAX_HANDSHAKES, MAX_OUTGOING_HANDSHAKES, MAX_SESSIONS, MAX_TIMER, PASSIVE_KEEPALIVE,
    PASSIVE_VIEW, REASSEMBLY_SLOTS, REASSEMBLY_TIMEOUT, REJECT_AFTER, REJECT_AFTER_MESSAGES,
    REKEY_AFTER, REKEY_AFTER_MESSAGES, UNDER_LOAD_IN_FLIGHT, UNDER_LOAD_PER_SECOND,
};
use super::wire::Caps;

/// The mesh transport's settings. Every default is the named constant in
/// [`limits`](super::limits), whose doc gives the reason for its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshConfig {
    /// Keys `mac1` and the Noise prologue: nodes with different ids cannot talk. Default
    /// [`DEFAULT_NETWORK_ID`]; tests and labs set their own.
    pub network_id: String,
    /// Capabilities announced in handshakes. Default none.
    pub caps: Caps,
    /// Most established sessions. Default [`MAX_SESSIONS`].
    pub max_sessions: usize,
    /// Membership's active view: peers with open links. Default [`ACTIVE_VIEW`]; below
    /// `max_sessions`, which also holds transient and targeted sessions.
    pub active_view: usize,
    /// Membership's passive view: known peers without a session. Default [`PASSIVE_VIEW`].
    pub passive_view: usize,
    /// Most responder handshakes awaiting confirmation. Default [`MAX_HANDSHAKES`].
    pub max_handshakes: usize,
    /// Most handshakes we initiate at once. Default [`MAX_OUTGOING_HANDSHAKES`].
    pub max_outgoing_handshakes: usize,
    /// Partial messages held at once. Default [`REASSEMBLY_SLOTS`].
    pub reassembly_slots: usize,
    /// Responder handshakes in flight at which cookies become mandatory; 0 means always.
    /// Default [`UNDER_LOAD_IN_FLIGHT`].
    pub under_load_in_flight: usize,
    /// Initiations per second at which cookies become mandatory. Default
    /// [`UNDER_LOAD_PER_SECOND`].
    pub under_load_per_second: u32,
    /// Handshakes per second per source IP. Default [`HANDSHAKE_RATE`].
    pub handshake_rate: u32,
    /// Burst per source IP. Default [`HANDSHAKE_BURST`].
    pub handshake_burst: u32,
    /// Age of keys that starts a rekey. Default [`REKEY_AFTER`].
    pub rekey_after: Duration,
    /// Age of keys that are refused. Default [`REJECT_AFTER`].
    pub reject_after: Duration,
    /// Datagrams sealed with one key set that start a rekey. Default [`REKEY_AFTER_MESSAGES`].
    pub rekey_after_messages: u64,
    /// Silence that ends a session. Default [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// Send a keepalive after receiving data and sending nothing for this long. Default
    /// [`PASSIVE_KEEPALIVE`].
    pub passive_keepalive: Duration,
    /// Resend an unanswered initiation after this long. Default [`HANDSHAKE_RETRY`].
    pub handshake_retry: Duration,
    /// Give up a connect after this long. Default [`HANDSHAKE_GIVE_UP`].
    pub handshake_give_up: Duration,
    /// Drop a partial message this long after its first fragment. Default
    /// [`REASSEMBLY_TIMEOUT`].
    pub reassembly_timeout: Duration,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            network_id: DEFAULT_NETWORK_ID.to_owned(),
            caps: Caps::default(),
            max_sessions: MAX_SESSIONS,
            active_view: ACTIVE_VIEW,
            passive_view: PASSIVE_VIEW,
            max_handshakes: MAX_HANDSHAKES,
            max_outgoing_handshakes: MAX_OUTGOING_HANDSHAKES,
            reassembly_slots: REASSEMBLY_SLOTS,
            under_load_in_flight: UNDER_LOAD_IN_FLIGHT,
            under_load_per_second: UNDER_LOAD_PER_SECOND,
            handshake_rate: HANDSHAKE_RATE,
            handshake_burst: HANDSHAKE_BURST,
            rekey_after: REKEY_AFTER,
            reject_after: REJECT_AFTER,
            rekey_after_messages: REKEY_AFTER_MESSAGES,
            idle_timeout: IDLE_TIMEOUT,
            passive_keepalive: PASSIVE_KEEPALIVE,
            handshake_retry: HANDSHAKE_RETRY,
            handshake_give_up: HANDSHAKE_GIVE_UP,
            reassembly_timeout: REASSEMBLY_TIMEOUT,
        }
    }
}

/// A [`MeshConfig`] value out of range: names the field and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mesh config: {field} must be {expected}")]
pub struct ConfigError {
    /// The field.
    pub field: &'static str,
    /// What it must be.
    pub expected: &'static str,
}

impl MeshConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, expected| Err(ConfigError { field, expected });
        let counts = [
            ("max_sessions", self.max_sessions),
            ("active_view", self.active_view),
            ("passive_view", self.passive_view),
            ("max_handshakes", self.max_handshakes),
            ("max_outgoing_handshakes", self.max_outgoing_handshakes),
            ("reassembly_slots", self.reassembly_slots),
        ];
        for (field, value) in counts {
            if value == 0 {
                return err(field, "at least 1");
            }
        }
        if self.active_view >= self.max_sessions {
            return err("active_view", "below max_sessions");
        }
        if self.handshake_rate == 0 || self.handshake_burst == 0 || self.under_load_per_second == 0
        {
            return err(
                "handshake_rate, handshake_burst and under_load_per_second",
                "at least 1",
            );
        }
        let timers = [
            ("rekey_after", self.rekey_after),
            ("reject_after", self.reject_after),
            ("idle_timeout", self.idle_timeout),
            ("passive_keepalive", self.passive_keepalive),
            ("handshake_retry", self.handshake_retry),
            ("handshake_give_up", self.handshake_give_up),
            ("reassembly_timeout", self.reassembly_timeout),
        ];
        for (field, value) in timers {
            if value.is_zero() || value > MAX_TIMER {
                return err(field, "between 1 ns and 24 h");
            }
        }
        if self.rekey_after >= self.reject_after {
            return err("rekey_after", "shorter than reject_after");
        }
        if self.rekey_after_messages == 0 || self.rekey_after_messages >= REJECT_AFTER_MESSAGES {
            return err(
                "rekey_after_messages",
                "at least 1 and below REJECT_AFTER_MESSAGES",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_their_field() {
        assert_eq!(MeshConfig::default().validate(), Ok(()));
        let bad = MeshConfig {
            rekey_after: REJECT_AFTER,
            ..MeshConfig::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.field), Err("rekey_after"));
        let bad = MeshConfig {
            max_sessions: 0,
            ..MeshConfig::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.field), Err("max_sessions"));
        let bad = MeshConfig {
            idle_timeout: Duration::from_secs(90_000),
            ..MeshConfig::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.field), Err("idle_timeout"));
    }
}
