//! Every bound and timer of the mesh transport, named, with the reason for its number.
//!
//! Sizes of the wire format are protocol constants both ends must share (docs/wire.md). Bounds
//! and timers a deployment may tune are only the *defaults* of [`MeshConfig`](super::MeshConfig);
//! the node reads the config, never these, for them.

use core::time::Duration;

// ---------------------------------------------------------------------------------------------
// Wire sizes (docs/wire.md)

/// Largest datagram sent or accepted. 1200 B is QUIC's floor (RFC 9000 §14): it crosses every
/// IPv6 path (minimum MTU 1280 − 40 − 8) and practically every IPv4 path, tunnels and PPPoE
/// included, without IP fragmentation, which NATs and firewalls often drop.
pub const MAX_DATAGRAM: usize = 1200;

/// The common header: version/type, flags, two reserved bytes, receiver index u32, counter u64.
/// Same size as WireGuard's and Nebula's, so the overhead per datagram is 32 B with the tag.
pub const HEADER_LEN: usize = 16;

/// ChaCha20-Poly1305 tag (RFC 8439).
pub const TAG_LEN: usize = 16;

/// X25519 public key (RFC 7748).
pub const DH_LEN: usize = 32;

/// Keyed BLAKE2s output for `mac1`, `mac2` and cookies: 128 bits, as WireGuard.
pub const MAC_LEN: usize = 16;

/// Largest application message: the 64 KiB event limit (`nostr::limits::MAX_EVENT_JSON`).
pub const MAX_MESSAGE: usize = crate::limits::MAX_EVENT_JSON;

/// Plaintext that fits one transport datagram: header and tag take 32 B.
pub const MAX_PLAINTEXT: usize = MAX_DATAGRAM - HEADER_LEN - TAG_LEN;

/// Bytes a relay adds around a datagram on its way to the far end: `RelayFrom`'s type byte and
/// the sender's 51-byte entry (`RelayTo` adds 33). docs/wire.md "Relay messages".
pub const RELAY_HEADROOM: usize = 1 + 32 + 19;

/// Largest datagram of a relayed session: with the relay's headroom and the frame byte it
/// still fits one `Whole` frame of the relay's own sessions, so no relay leg fragments.
pub const MAX_RELAYED_DATAGRAM: usize = MAX_PLAINTEXT - 1 - RELAY_HEADROOM;

// ---------------------------------------------------------------------------------------------
// Table bounds (ARCHITECTURE.md "Memory budget": sessions ≤ 24 × 2 KiB, handshakes ≤ 64)

/// Most established sessions (one per peer). HyParView keeps ≈ 5 active links; the rest is
/// room for targeted deliveries, introductions and churn. 24 × ≈ 1.2 KiB fits the 64 KiB budget.
pub const MAX_SESSIONS: usize = 24;

/// Active view of membership (HyParView's 5): the gossip fan-out, and few enough links that
/// keepalives and rekeys stay cheap on a board.
pub const ACTIVE_VIEW: usize = 5;

/// Passive view of membership (HyParView's 30): candidates for repair, refreshed by shuffles.
pub const PASSIVE_VIEW: usize = 30;

/// Most responder handshakes waiting for the initiator's first transport packet. Each holds
/// one key set (≈ 450 B); a full table is "under load" long before it is reached.
pub const MAX_HANDSHAKES: usize = 64;

/// Most handshakes we initiate at once (connects and rekeys). Each holds a snow
/// `HandshakeState` and the initiation bytes for a cookie retry.
pub const MAX_OUTGOING_HANDSHAKES: usize = 16;

/// Partial messages held at once, all peers together. Each may reach 64 KiB, so 8 is the
/// 512 KiB line of the memory budget.
pub const REASSEMBLY_SLOTS: usize = 8;

/// Partial messages held for one peer, so one peer cannot take every slot. A sender finishes
/// one message before the next, so 2 covers one loss plus the next message.
pub const REASSEMBLY_SLOTS_PER_PEER: usize = 2;

/// Sources tracked by the handshake rate limiter. A bucket refills in 250 ms, so the table
/// holds only sources seen in the last quarter second; a full table counts as load.
pub const RATE_LIMIT_SOURCES: usize = 1024;

/// Datagrams queued for `poll_transmit`. One 64 KiB message is 57 datagrams; the loop drains
/// after every call, so this bounds what a burst of `send`s to several peers may queue.
pub const MAX_QUEUED_TRANSMITS: usize = 512;

/// Events queued for `poll_event` (each `Message` may hold 64 KiB): the loop drains after
/// every call, and one datagram yields at most three events.
pub const MAX_QUEUED_EVENTS: usize = 256;

// ---------------------------------------------------------------------------------------------
// Replay and key lifetime (WireGuard's values, whitepaper §6.1 and §5.4.6)

/// Counters accepted below the highest one seen. 2048 packets are ≈ 2.4 MB in flight at
/// 1200 B: more reordering than any home link shows, at 264 B per key set.
pub const REPLAY_WINDOW: u64 = 2048;

/// Rekey after this much traffic on one key set (WireGuard `REKEY_AFTER_MESSAGES` = 2⁶⁰).
pub const REKEY_AFTER_MESSAGES: u64 = 1 << 60;

/// Never send or accept a counter at or above this (WireGuard `REJECT_AFTER_MESSAGES` =
/// 2⁶⁴ − 2¹³ − 1, leaving room below snow's reserved nonce 2⁶⁴ − 1).
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 13);

/// Start a new handshake when the current keys are this old (WireGuard `REKEY_AFTER_TIME`).
pub const REKEY_AFTER: Duration = Duration::from_secs(120);

/// Refuse keys this old, sending or receiving (WireGuard `REJECT_AFTER_TIME`): a failed rekey
/// ends the session instead of stretching one key's use.
pub const REJECT_AFTER: Duration = Duration::from_secs(180);

/// The responder of the current keys rekeys only this long after the initiator would have,
/// so both sides do not start crossing handshakes at the same instant.
pub const RESPONDER_REKEY_DELAY: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Handshake timers

/// Resend a handshake initiation after this long without a response (WireGuard
/// `REKEY_TIMEOUT`), with a fresh ephemeral key and index.
pub const HANDSHAKE_RETRY: Duration = Duration::from_secs(5);

/// Random extra delay added to each retry (WireGuard's 334 ms), so peers that lost packets at
/// the same moment do not retry in lockstep.
pub const HANDSHAKE_RETRY_JITTER: Duration = Duration::from_millis(334);

/// Give up a connect after retrying this long (WireGuard `REKEY_ATTEMPT_TIME`).
pub const HANDSHAKE_GIVE_UP: Duration = Duration::from_secs(90);

/// A responder drops keys whose initiator never sent a first transport packet after this long:
/// the initiator confirms at once and re-confirms for [`CONFIRM_ATTEMPTS`] seconds.
pub const PENDING_TIMEOUT: Duration = Duration::from_secs(10);

/// Interval between the initiator's confirmation keepalives until the responder answers.
pub const CONFIRM_INTERVAL: Duration = Duration::from_secs(1);

/// Confirmation keepalives sent after the first one; then the initiator stops asking (the
/// responder has the keys or the session idles out).
pub const CONFIRM_ATTEMPTS: u8 = 4;

// ---------------------------------------------------------------------------------------------
// Liveness

/// A session with nothing authenticated received for this long ends (`PeerDown{Idle}`).
/// Keepalives (25 s from a NATed side, 10 s passive) make this ≥ 3 missed keepalives.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// After receiving data and sending nothing for this long, send an empty keepalive, so a
/// one-way stream still shows the sender we are alive (WireGuard `KEEPALIVE_TIMEOUT`).
pub const PASSIVE_KEEPALIVE: Duration = Duration::from_secs(10);

/// A partial message is dropped this long after its first fragment; the layer above retries.
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Anti-DoS (WireGuard's cookie scheme, whitepaper §5.3)

/// The cookie secret changes this often, so a cookie proves a recent round trip (WireGuard's
/// 2 minutes).
pub const COOKIE_ROTATION: Duration = Duration::from_secs(120);

/// An initiator uses a received cookie for this long: it expires before the responder's secret
/// can have rotated twice.
pub const COOKIE_TTL: Duration = Duration::from_secs(115);

/// Once under load, stay so for this long (WireGuard's sticky second), so the mode does not
/// flap with every packet.
pub const UNDER_LOAD_STICKY: Duration = Duration::from_secs(1);

/// Pending responder handshakes at which cookies become mandatory: 1/8 of
/// [`MAX_HANDSHAKES`], as WireGuard's 1/8 of its queue.
pub const UNDER_LOAD_IN_FLIGHT: usize = MAX_HANDSHAKES / 8;

/// Initiations with a valid `mac1` per second at which cookies become mandatory. Legitimate
/// churn on a home node is a few per minute.
pub const UNDER_LOAD_PER_SECOND: u32 = 32;

/// Handshakes accepted per second per source IP (WireGuard's `packetsPerSecond`).
pub const HANDSHAKE_RATE: u32 = 20;

/// Burst above [`HANDSHAKE_RATE`] per source IP (WireGuard's `packetsBurstable`).
pub const HANDSHAKE_BURST: u32 = 5;

/// Leading bits of an IPv4 source that share one prefix bucket: a /24 is the smallest block
/// routed between networks (longer prefixes are filtered on the Internet), so an attacker who
/// owns many addresses almost always owns whole /24s, while one home or office NAT is one /32.
pub const HANDSHAKE_PREFIX_V4_BITS: u32 = 24;

/// Leading bits of an IPv6 source that share one prefix bucket: RIPE-690 and most ISPs delegate
/// a /56 to one customer site, so a /56 is "one subscriber" as a /32 is in IPv4 (per-/128
/// buckets alone are useless against a host that owns 2⁷² addresses).
pub const HANDSHAKE_PREFIX_V6_BITS: u32 = 56;

/// Handshakes past the cookie accepted per second per source prefix: twice one address's
/// [`HANDSHAKE_RATE`], so a prefix of a few nodes still rekeys at will, while a flooder owning
/// the whole prefix gets no more than two addresses' worth.
pub const PREFIX_HANDSHAKE_RATE: u32 = 2 * HANDSHAKE_RATE;

/// Burst above [`PREFIX_HANDSHAKE_RATE`] per prefix: two addresses' bursts.
pub const PREFIX_HANDSHAKE_BURST: u32 = 2 * HANDSHAKE_BURST;

/// Source prefixes tracked: as [`RATE_LIMIT_SOURCES`] (a bucket refills in 250 ms, so only
/// prefixes seen in the last quarter second are held); a full table refuses and counts as load.
pub const RATE_LIMIT_PREFIXES: usize = RATE_LIMIT_SOURCES;

/// Expensive handshakes (Noise state, BIP-340 binding check, three X25519) per second, all
/// sources together, outside the known peers' reserve. One costs ≈ 110 µs on the 2-core EPYC
/// VM and ≈ 400 µs on a Pi (BIP-340 ≈ 300 µs + the DHs), so 250/s is ≤ 3 % of a core on the VM
/// and ≈ 10 % of a Pi core: the loop keeps ≥ 90 % for everything else whatever owns how many
/// prefixes. Legitimate churn on a node is a few handshakes a minute, so this only binds in a
/// flood, where strangers then compete for it (known peers have their own reserve).
pub const HANDSHAKE_BUDGET: u32 = 250;

/// Burst above [`HANDSHAKE_BUDGET`]: a fifth of a second's budget.
pub const HANDSHAKE_BUDGET_BURST: u32 = HANDSHAKE_BUDGET / 5;

/// Peers remembered as known (a handshake with them completed, so they proved their static
/// key): their rekeys and reconnects draw on a reserve of their own, not on the shared budget.
/// Room for every session ([`MAX_SESSIONS`]) and as many recent ones; the oldest is forgotten.
pub const KNOWN_PEERS: usize = 2 * MAX_SESSIONS;

/// Handshakes per second from one known peer's reserve (taken only from the source prefix it
/// last completed from). A peer needs one per rekey (120 s) or retry (5 s); a forger in that
/// same prefix can at most spend this, ≤ [`KNOWN_PEERS`] × this per second in all.
pub const KNOWN_PEER_RATE: u32 = 1;

/// Burst above [`KNOWN_PEER_RATE`]: crossing rekeys and a retry.
pub const KNOWN_PEER_BURST: u32 = 3;

/// Upper bound for any configured timer: keeps `Instant + Duration` far from overflow.
pub const MAX_TIMER: Duration = Duration::from_secs(24 * 3600);
