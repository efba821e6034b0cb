//! Datagram layouts: the 16-byte header, the handshake messages, the cookie reply and the
//! handshake payload, byte by byte as docs/wire.md. Decoders take hostile bytes: they check
//! lengths before touching anything and return a [`WireError`], never panic.
//!
//! Integers are little-endian (as WireGuard, and as ChaCha20-Poly1305's nonce) except ports,
//! which keep network order as everywhere else.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::nostr::{PubKey, Signature};

use super::limits::{DH_LEN, HEADER_LEN, MAC_LEN, MAX_DATAGRAM, TAG_LEN};

/// Protocol version in the high nibble of byte 0. A new layout is a new version.
pub const VERSION: u8 = 1;

/// Version of the handshake payload layout.
pub const PAYLOAD_VERSION: u8 = 1;

/// Bytes of the fixed-size handshake payload: version 1, node id 32, binding signature 64,
/// caps 2, observed address 19, sender index 4.
pub const PAYLOAD_LEN: usize = 1 + 32 + 64 + 2 + ADDR_LEN + 4;

/// Encoded observed address: family 1, address 16, port 2.
pub(crate) const ADDR_LEN: usize = 1 + 16 + 2;

/// Noise IX message 1: `e` and `s` in clear, then the payload in clear.
pub const NOISE_INITIATION_LEN: usize = DH_LEN + DH_LEN + PAYLOAD_LEN;

/// Noise IX message 2: `e` in clear, `s` encrypted, the payload encrypted.
pub const NOISE_RESPONSE_LEN: usize = DH_LEN + (DH_LEN + TAG_LEN) + (PAYLOAD_LEN + TAG_LEN);

/// Offset of `mac1` in an initiation: it covers everything before.
pub const MAC1_AT: usize = HEADER_LEN + NOISE_INITIATION_LEN;

/// Handshake initiation: header, Noise message 1, `mac1`, `mac2`.
pub const INITIATION_LEN: usize = HEADER_LEN + NOISE_INITIATION_LEN + MAC_LEN + MAC_LEN;

/// Handshake response: header, Noise message 2. Never longer than an initiation, so a spoofed
/// initiation cannot make us amplify.
pub const RESPONSE_LEN: usize = HEADER_LEN + NOISE_RESPONSE_LEN;

/// Cookie reply: header (the counter is the AEAD nonce), sealed 16-byte cookie.
pub const COOKIE_REPLY_LEN: usize = HEADER_LEN + MAC_LEN + TAG_LEN;

/// Smallest transport datagram: header, one frame-type byte, tag.
pub const MIN_TRANSPORT_LEN: usize = HEADER_LEN + 1 + TAG_LEN;

/// Offset of the sender index inside an initiation: IX message 1 carries its payload in clear,
/// so a responder can address a cookie reply before running any cryptography.
const INITIATION_SENDER_INDEX_AT: usize = HEADER_LEN + DH_LEN + DH_LEN + PAYLOAD_LEN - 4;

const _: () = assert!(
    RESPONSE_LEN <= INITIATION_LEN,
    "a response must not amplify"
);
const _: () = assert!(
    COOKIE_REPLY_LEN < INITIATION_LEN,
    "a cookie reply must not amplify"
);
const _: () = assert!(INITIATION_LEN <= MAX_DATAGRAM);

/// Why a datagram or payload did not parse. Counted, never answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("datagram of {0} bytes is shorter than its type needs")]
    TooShort(usize),
    #[error("datagram of {0} bytes exceeds its type's size")]
    TooLong(usize),
    #[error("version {0} is not spoken here")]
    UnsupportedVersion(u8),
    #[error("unknown message type {0}")]
    UnknownType(u8),
    #[error("flags or reserved bytes are not zero")]
    NonZeroReserved,
    #[error("a field that must be zero for this message type is not")]
    NonZeroField,
    #[error("address family {0} is neither none, IPv4 nor IPv6")]
    BadAddressFamily(u8),
    #[error("unknown frame type {0}")]
    UnknownFrame(u8),
    #[error("fragment fields out of range")]
    BadFragment,
}

/// A node's identity on the mesh: its 32-byte x-only secp256k1 public key (the node key, never
/// the owner's Nostr key). Unclaimable without the node secret (docs/wire.md "Binding").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub PubKey);

impl core::fmt::Display for NodeId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// A session index: chosen at random by the side that receives with it, so a datagram names
/// its key set in O(log n) without revealing who sent it. 0 means "none yet".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionIndex(pub u32);

/// What a node offers, announced in the handshake payload. Unknown bits are kept, not refused,
/// so a newer node may add capabilities without a version bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps(pub u16);

impl Caps {
    /// Forwards packets for pairs that cannot punch (the relay part of issue 6).
    pub const RELAY: Caps = Caps(1);
    /// Accepts the TLS fallback on its TCP port P.
    pub const TLS: Caps = Caps(2);

    /// Whether every bit of `other` is set.
    #[must_use]
    pub fn contains(self, other: Caps) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The message types of the low nibble of byte 0. 0 is never valid, so zeroed memory is no
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// Noise IX message 1 with `mac1`/`mac2`.
    Initiation = 1,
    /// Noise IX message 2.
    Response = 2,
    /// The responder is under load: retry with `mac2`.
    CookieReply = 3,
    /// AEAD-sealed frames under an established key set.
    Transport = 4,
}

impl MessageType {
    fn from_nibble(n: u8) -> Result<Self, WireError> {
        match n {
            1 => Ok(Self::Initiation),
            2 => Ok(Self::Response),
            3 => Ok(Self::CookieReply),
            4 => Ok(Self::Transport),
            other => Err(WireError::UnknownType(other)),
        }
    }
}

/// The 16-byte header every datagram starts with.
///
/// The transport AEAD has no associated data (snow's stateless transport offers none), so the
/// header is authenticated only implicitly: the receiver index picks the key and the counter is
/// the nonce, so changing either fails decryption; type, flags and reserved bytes must hold
/// fixed values, so changing them fails parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The message type.
    pub kind: MessageType,
    /// The receiver's session index (0 in an initiation).
    pub receiver: SessionIndex,
    /// Transport: the AEAD nonce. Cookie reply: the cookie's AEAD nonce. Handshakes: 0.
    pub counter: u64,
}

impl Header {
    /// Encodes the header; flags and reserved bytes are zero in version 1.
    #[must_use]
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let (first, rest) = out.split_at_mut(4);
        let (receiver, counter) = rest.split_at_mut(4);
        first.copy_from_slice(&[(VERSION << 4) | self.kind as u8, 0, 0, 0]);
        receiver.copy_from_slice(&self.receiver.0.to_le_bytes());
        counter.copy_from_slice(&self.counter.to_le_bytes());
        out
    }

    /// Parses the header of a whole datagram and checks the datagram's length for its type, so
    /// the per-type parsers below can rely on exact sizes.
    pub fn decode(datagram: &[u8]) -> Result<Self, WireError> {
        let len = datagram.len();
        if len > MAX_DATAGRAM {
            return Err(WireError::TooLong(len));
        }
        let head: &[u8; HEADER_LEN] = datagram
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(WireError::TooShort(len))?;
        let [
            b0,
            flags,
            r0,
            r1,
            i0,
            i1,
            i2,
            i3,
            c0,
            c1,
            c2,
            c3,
            c4,
            c5,
            c6,
            c7,
        ] = *head;
        if b0 >> 4 != VERSION {
            return Err(WireError::UnsupportedVersion(b0 >> 4));
        }
        let kind = MessageType::from_nibble(b0 & 0x0f)?;
        if flags != 0 || r0 != 0 || r1 != 0 {
            return Err(WireError::NonZeroReserved);
        }
        let header = Header {
            kind,
            receiver: SessionIndex(u32::from_le_bytes([i0, i1, i2, i3])),
            counter: u64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]),
        };
        let (min, max) = match kind {
            MessageType::Initiation => (INITIATION_LEN, INITIATION_LEN),
            MessageType::Response => (RESPONSE_LEN, RESPONSE_LEN),
            MessageType::CookieReply => (COOKIE_REPLY_LEN, COOKIE_REPLY_LEN),
            MessageType::Transport => (MIN_TRANSPORT_LEN, MAX_DATAGRAM),
        };
        if len < min {
            return Err(WireError::TooShort(len));
        }
        if len > max {
            return Err(WireError::TooLong(len));
        }
        let zero_receiver = header.receiver.0 == 0;
        let zero_counter = header.counter == 0;
        let fields_ok = match kind {
            MessageType::Initiation => zero_receiver && zero_counter,
            MessageType::Response => !zero_receiver && zero_counter,
            MessageType::CookieReply | MessageType::Transport => !zero_receiver,
        };
        if !fields_ok {
            return Err(WireError::NonZeroField);
        }
        Ok(header)
    }
}

/// The parts of an initiation, borrowed from a datagram whose length [`Header::decode`] checked.
#[derive(Debug, Clone, Copy)]
pub struct Initiation<'a> {
    /// Noise message 1.
    pub noise: &'a [u8],
    /// The bytes `mac1` covers: everything before it.
    pub mac1_covered: &'a [u8],
    /// `mac1`.
    pub mac1: &'a [u8; MAC_LEN],
    /// The bytes `mac2` covers: everything before it, `mac1` included.
    pub mac2_covered: &'a [u8],
    /// `mac2` (zeros when the initiator holds no cookie).
    pub mac2: &'a [u8; MAC_LEN],
    /// The initiator's session index, read from the clear payload (unauthenticated until the
    /// handshake completes; used only to address a cookie reply).
    pub sender_index: SessionIndex,
}

impl<'a> Initiation<'a> {
    /// Splits an initiation datagram.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, WireError> {
        let len = datagram.len();
        if len != INITIATION_LEN {
            return Err(WireError::TooShort(len));
        }
        let short = WireError::TooShort(len);
        let (mac2_covered, mac2) = datagram.split_at_checked(MAC1_AT + MAC_LEN).ok_or(short)?;
        let (mac1_covered, mac1) = mac2_covered.split_at_checked(MAC1_AT).ok_or(short)?;
        let noise = mac1_covered.get(HEADER_LEN..).ok_or(short)?;
        let index: [u8; 4] = datagram
            .get(INITIATION_SENDER_INDEX_AT..INITIATION_SENDER_INDEX_AT + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or(short)?;
        Ok(Self {
            noise,
            mac1_covered,
            mac1: mac1.try_into().map_err(|_| short)?,
            mac2_covered,
            mac2: mac2.try_into().map_err(|_| short)?,
            sender_index: SessionIndex(u32::from_le_bytes(index)),
        })
    }
}

/// The handshake payload both IX messages carry (message 1 in clear, message 2 encrypted).
/// Fixed size, so both handshake datagrams have one length and a response never outgrows
/// the initiation it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakePayload {
    /// Layout version, [`PAYLOAD_VERSION`].
    pub version: u8,
    /// The sender's node key.
    pub node_id: NodeId,
    /// BIP-340 by the node key over SHA-256(`"nostrp2p/noise-binding/v1"` ‖ Noise static key).
    pub binding_sig: Signature,
    /// What the sender offers.
    pub caps: Caps,
    /// The address the sender sees the receiver at: in message 1 the address dialled, in
    /// message 2 the initiation's source (the initiator's reflexive address).
    pub observed_addr: Option<SocketAddr>,
    /// The session index the sender will receive with.
    pub sender_index: SessionIndex,
}

impl HandshakePayload {
    /// Encodes the payload.
    #[must_use]
    pub fn encode(&self) -> [u8; PAYLOAD_LEN] {
        let mut out = [0u8; PAYLOAD_LEN];
        let mut w = Writer::new(&mut out);
        w.put(&[self.version]);
        w.put(self.node_id.0.as_bytes());
        w.put(&self.binding_sig.0);
        w.put(&self.caps.0.to_le_bytes());
        w.put(&encode_addr(self.observed_addr));
        w.put(&self.sender_index.0.to_le_bytes());
        out
    }

    /// Decodes a payload of exactly [`PAYLOAD_LEN`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let len = bytes.len();
        if len < PAYLOAD_LEN {
            return Err(WireError::TooShort(len));
        }
        if len > PAYLOAD_LEN {
            return Err(WireError::TooLong(len));
        }
        let mut r = Reader(bytes);
        let [version] = r.array::<1>()?;
        if version != PAYLOAD_VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        let node_id = NodeId(PubKey(r.array::<32>()?));
        let binding_sig = Signature(r.array::<64>()?);
        let caps = Caps(u16::from_le_bytes(r.array::<2>()?));
        let observed_addr = decode_addr(&r.array::<ADDR_LEN>()?)?;
        let sender_index = SessionIndex(u32::from_le_bytes(r.array::<4>()?));
        if sender_index.0 == 0 {
            return Err(WireError::NonZeroField);
        }
        Ok(Self {
            version,
            node_id,
            binding_sig,
            caps,
            observed_addr,
            sender_index,
        })
    }
}

/// family (0 none, 4, 6) ‖ 16 address bytes (IPv4 in the first 4, the rest zero) ‖ port BE.
pub(crate) fn encode_addr(addr: Option<SocketAddr>) -> [u8; ADDR_LEN] {
    let mut out = [0u8; ADDR_LEN];
    let Some(addr) = addr else {
        return out;
    };
    let mut w = Writer::new(&mut out);
    match addr.ip() {
        IpAddr::V4(ip) => {
            w.put(&[4]);
            w.put(&ip.octets());
            w.put(&[0u8; 12]);
        }
        IpAddr::V6(ip) => {
            w.put(&[6]);
            w.put(&ip.octets());
        }
    }
    w.put(&addr.port().to_be_bytes());
    out
}

pub(crate) fn decode_addr(bytes: &[u8; ADDR_LEN]) -> Result<Option<SocketAddr>, WireError> {
    let mut r = Reader(bytes);
    let [family] = r.array::<1>()?;
    let ip = r.array::<16>()?;
    let port = u16::from_be_bytes(r.array::<2>()?);
    match family {
        0 if ip == [0; 16] && port == 0 => Ok(None),
        0 => Err(WireError::NonZeroField),
        4 => {
            let (v4, pad) = ip.split_at(4);
            if pad.iter().any(|&b| b != 0) {
                return Err(WireError::NonZeroField);
            }
            let v4: [u8; 4] = v4.try_into().map_err(|_| WireError::TooShort(4))?;
            Ok(Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(v4)), port)))
        }
        6 => Ok(Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))),
        other => Err(WireError::BadAddressFamily(other)),
    }
}

/// Appends into a fixed buffer; the callers' layouts are compile-time sizes, so an overrun is a
/// bug in this file, and it truncates rather than panics.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, at: 0 }
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.at.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        debug_assert!(end <= self.buf.len(), "layout overrun in mesh::wire");
        self.at = end;
    }
}

/// Reads fixed-size fields from the front of a slice.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl Reader<'_> {
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(WireError::TooShort(self.0.len()))?;
        self.0 = rest;
        Ok(*head)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn header_golden_bytes() {
        let h = Header {
            kind: MessageType::Transport,
            receiver: SessionIndex(0x0403_0201),
            counter: 0x0c0b_0a09_0807_0605,
        };
        let bytes = h.encode();
        assert_eq!(
            bytes,
            [
                0x14, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                0x0c
            ]
        );
        let mut datagram = bytes.to_vec();
        datagram.resize(MIN_TRANSPORT_LEN, 0);
        assert_eq!(Header::decode(&datagram), Ok(h));
    }

    #[test]
    fn header_refuses_reserved_bits_versions_types_and_lengths() {
        let mut d = Header {
            kind: MessageType::Transport,
            receiver: SessionIndex(7),
            counter: 1,
        }
        .encode()
        .to_vec();
        d.resize(MIN_TRANSPORT_LEN, 0);
        let mut flags = d.clone();
        flags[1] = 0x80;
        assert_eq!(Header::decode(&flags), Err(WireError::NonZeroReserved));
        let mut reserved = d.clone();
        reserved[3] = 1;
        assert_eq!(Header::decode(&reserved), Err(WireError::NonZeroReserved));
        let mut version = d.clone();
        version[0] = 0x24;
        assert_eq!(
            Header::decode(&version),
            Err(WireError::UnsupportedVersion(2))
        );
        let mut kind = d.clone();
        kind[0] = 0x10;
        assert_eq!(Header::decode(&kind), Err(WireError::UnknownType(0)));
        assert_eq!(
            Header::decode(&d[..MIN_TRANSPORT_LEN - 1]),
            Err(WireError::TooShort(MIN_TRANSPORT_LEN - 1))
        );
        let mut long = d.clone();
        long.resize(MAX_DATAGRAM + 1, 0);
        assert_eq!(
            Header::decode(&long),
            Err(WireError::TooLong(MAX_DATAGRAM + 1))
        );
        let mut no_receiver = d.clone();
        no_receiver[4..8].fill(0);
        assert_eq!(Header::decode(&no_receiver), Err(WireError::NonZeroField));
    }

    #[test]
    fn sizes_are_as_documented() {
        assert_eq!(PAYLOAD_LEN, 122);
        assert_eq!(INITIATION_LEN, 234);
        assert_eq!(RESPONSE_LEN, 234);
        assert_eq!(COOKIE_REPLY_LEN, 48);
        assert_eq!(MIN_TRANSPORT_LEN, 33);
    }

    #[test]
    fn payload_golden_bytes_and_address_forms() {
        let p = HandshakePayload {
            version: PAYLOAD_VERSION,
            node_id: NodeId(PubKey([0xaa; 32])),
            binding_sig: Signature([0xbb; 64]),
            caps: Caps(0x0102),
            observed_addr: Some("192.0.2.7:20000".parse().expect("literal address")),
            sender_index: SessionIndex(0x1122_3344),
        };
        let bytes = p.encode();
        let mut want = vec![1u8];
        want.extend([0xaa; 32]);
        want.extend([0xbb; 64]);
        want.extend([0x02, 0x01]);
        want.extend([4, 192, 0, 2, 7]);
        want.extend([0; 12]);
        want.extend([0x4e, 0x20]);
        want.extend([0x44, 0x33, 0x22, 0x11]);
        assert_eq!(bytes.to_vec(), want);
        assert_eq!(HandshakePayload::decode(&bytes), Ok(p));

        let v6 = HandshakePayload {
            observed_addr: Some("[2001:db8::1]:9".parse().expect("literal address")),
            ..p
        };
        assert_eq!(HandshakePayload::decode(&v6.encode()), Ok(v6));
        let none = HandshakePayload {
            observed_addr: None,
            ..p
        };
        assert_eq!(HandshakePayload::decode(&none.encode()), Ok(none));

        let mut family = bytes;
        family[99] = 5;
        assert_eq!(
            HandshakePayload::decode(&family),
            Err(WireError::BadAddressFamily(5))
        );
        let mut pad = bytes;
        pad[110] = 1;
        assert_eq!(HandshakePayload::decode(&pad), Err(WireError::NonZeroField));
        let mut version = bytes;
        version[0] = 2;
        assert_eq!(
            HandshakePayload::decode(&version),
            Err(WireError::UnsupportedVersion(2))
        );
        assert_eq!(
            HandshakePayload::decode(&bytes[..PAYLOAD_LEN - 1]),
            Err(WireError::TooShort(PAYLOAD_LEN - 1))
        );
    }
}
