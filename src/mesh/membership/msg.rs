//! The membership messages' codec (layout in `docs/wire.md` "Membership messages"). Decoding
//! takes hostile bytes and never panics; what decodes re-encodes to the same bytes.

use core::net::SocketAddr;

use super::super::wire::{ADDR_LEN, NodeId, WireError, decode_addr, encode_addr};
use super::SHUFFLE_MAX;
use crate::nostr::PubKey;

/// A peer as membership messages carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// Its node key.
    pub node: NodeId,
    /// Where it was last reached.
    pub addr: SocketAddr,
}

/// Bytes of one [`Entry`] on the wire: node key and a 19-byte address.
pub const ENTRY_LEN: usize = 32 + ADDR_LEN;

/// A membership message (layout in `docs/wire.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Sent to a contact: "add me and announce me".
    Join,
    /// A joiner's announcement walking the active views.
    ForwardJoin {
        /// Hops left.
        ttl: u8,
        /// The joiner.
        joiner: Entry,
    },
    /// "Make me an active neighbour"; `high` must be accepted (the sender has no neighbour, or
    /// it ends a ForwardJoin walk).
    Neighbor {
        /// Priority.
        high: bool,
    },
    /// The answer to [`Msg::Neighbor`].
    NeighborReply {
        /// Whether the sender added us.
        accepted: bool,
    },
    /// "You are no longer my active neighbour."
    Disconnect,
    /// A sample of the sender's views.
    Shuffle(heapless::Vec<Entry, SHUFFLE_MAX>),
    /// The answer to [`Msg::Shuffle`]: a sample of the replier's passive view.
    ShuffleReply(heapless::Vec<Entry, SHUFFLE_MAX>),
    /// Keeps the link and the NAT mappings on it alive; an active neighbour answers [`Msg::Pong`].
    Ping,
    /// The answer to [`Msg::Ping`]: the link works both ways (a silent one is re-punched).
    Pong,
    /// To an introducer: "introduce me to `target`".
    IntroRequest {
        /// The node to reach.
        target: NodeId,
    },
    /// From an introducer: "`peer` wants to reach you; punch towards it now".
    PunchNotify {
        /// The requester, at the address the introducer sees.
        peer: Entry,
    },
    /// From an introducer to the requester: "punch towards `peer` now".
    IntroReply {
        /// The target, at the address the introducer sees.
        peer: Entry,
    },
    /// To a relay: "forward `packet` to `target`" (a sealed A↔B mesh datagram).
    RelayTo {
        /// The node at the other end.
        target: NodeId,
        /// The datagram, at most [`MAX_RELAYED`] bytes to be forwarded.
        packet: Vec<u8>,
    },
    /// From a relay: "`peer` sent you `packet`".
    RelayFrom {
        /// The sender, at the address the relay sees.
        peer: Entry,
        /// The datagram.
        packet: Vec<u8>,
    },
}

/// Why a membership message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MsgError {
    /// No bytes.
    #[error("empty membership message")]
    Empty,
    /// A first byte not assigned.
    #[error("unknown membership type {0:#04x}")]
    UnknownType(u8),
    /// Shorter than its fields, or a bad address.
    #[error("membership message: {0}")]
    Wire(#[from] WireError),
    /// A flag byte other than 0 or 1.
    #[error("flag byte {0} is not 0 or 1")]
    BadFlag(u8),
    /// More shuffle entries than [`SHUFFLE_MAX`].
    #[error("{0} shuffle entries exceed the limit")]
    TooManyEntries(u8),
    /// An entry without an address.
    #[error("entry without an address")]
    NoAddress,
    /// Bytes after the last field.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

const T_JOIN: u8 = 0xB0;
const T_FORWARD_JOIN: u8 = 0xB1;
const T_NEIGHBOR: u8 = 0xB2;
const T_NEIGHBOR_REPLY: u8 = 0xB3;
const T_DISCONNECT: u8 = 0xB4;
const T_SHUFFLE: u8 = 0xB5;
const T_SHUFFLE_REPLY: u8 = 0xB6;
const T_PING: u8 = 0xB7;
const T_INTRO_REQUEST: u8 = 0xB8;
const T_PUNCH_NOTIFY: u8 = 0xB9;
const T_INTRO_REPLY: u8 = 0xBA;
const T_RELAY_TO: u8 = 0xBB;
const T_RELAY_FROM: u8 = 0xBC;
const T_PONG: u8 = 0xBD;

/// Largest datagram a relay forwards: a relayed session's datagrams are at most this
/// ([`MAX_RELAYED_DATAGRAM`](super::super::limits::MAX_RELAYED_DATAGRAM)), so neither relay
/// leg fragments; anything longer is no relayed datagram of ours.
pub const MAX_RELAYED: usize = super::super::limits::MAX_RELAYED_DATAGRAM;

const _: () = assert!(1 + ENTRY_LEN + MAX_RELAYED < super::super::limits::MAX_PLAINTEXT);

impl Msg {
    /// The message's bytes (at most `2 + SHUFFLE_MAX × ENTRY_LEN` = 410).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8);
        match self {
            Self::Join => out.push(T_JOIN),
            Self::ForwardJoin { ttl, joiner } => {
                out.extend([T_FORWARD_JOIN, *ttl]);
                put_entry(&mut out, joiner);
            }
            Self::Neighbor { high } => out.extend([T_NEIGHBOR, u8::from(*high)]),
            Self::NeighborReply { accepted } => {
                out.extend([T_NEIGHBOR_REPLY, u8::from(*accepted)]);
            }
            Self::Disconnect => out.push(T_DISCONNECT),
            Self::Shuffle(entries) | Self::ShuffleReply(entries) => {
                let t = if matches!(self, Self::Shuffle(_)) {
                    T_SHUFFLE
                } else {
                    T_SHUFFLE_REPLY
                };
                // heapless bounds the count by SHUFFLE_MAX < 256.
                out.extend([t, entries.len() as u8]);
                for e in entries {
                    put_entry(&mut out, e);
                }
            }
            Self::Ping => out.push(T_PING),
            Self::Pong => out.push(T_PONG),
            Self::IntroRequest { target } => {
                out.push(T_INTRO_REQUEST);
                out.extend_from_slice(&target.0.0);
            }
            Self::PunchNotify { peer } => {
                out.push(T_PUNCH_NOTIFY);
                put_entry(&mut out, peer);
            }
            Self::IntroReply { peer } => {
                out.push(T_INTRO_REPLY);
                put_entry(&mut out, peer);
            }
            Self::RelayTo { target, packet } => {
                out.reserve(33 + packet.len());
                out.push(T_RELAY_TO);
                out.extend_from_slice(&target.0.0);
                out.extend_from_slice(packet);
            }
            Self::RelayFrom { peer, packet } => {
                out.reserve(1 + ENTRY_LEN + packet.len());
                out.push(T_RELAY_FROM);
                put_entry(&mut out, peer);
                out.extend_from_slice(packet);
            }
        }
        out
    }

    /// Parses hostile bytes; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, MsgError> {
        let (&t, mut rest) = bytes.split_first().ok_or(MsgError::Empty)?;
        let msg = match t {
            T_JOIN => Self::Join,
            T_FORWARD_JOIN => {
                let [ttl] = take::<1>(&mut rest)?;
                Self::ForwardJoin {
                    ttl,
                    joiner: take_entry(&mut rest)?,
                }
            }
            T_NEIGHBOR => Self::Neighbor {
                high: take_flag(&mut rest)?,
            },
            T_NEIGHBOR_REPLY => Self::NeighborReply {
                accepted: take_flag(&mut rest)?,
            },
            T_DISCONNECT => Self::Disconnect,
            T_SHUFFLE | T_SHUFFLE_REPLY => {
                let [n] = take::<1>(&mut rest)?;
                if usize::from(n) > SHUFFLE_MAX {
                    return Err(MsgError::TooManyEntries(n));
                }
                let mut entries = heapless::Vec::new();
                for _ in 0..n {
                    entries
                        .push(take_entry(&mut rest)?)
                        .map_err(|_| MsgError::TooManyEntries(n))?;
                }
                if t == T_SHUFFLE {
                    Self::Shuffle(entries)
                } else {
                    Self::ShuffleReply(entries)
                }
            }
            T_PING => Self::Ping,
            T_PONG => Self::Pong,
            T_INTRO_REQUEST => Self::IntroRequest {
                target: NodeId(PubKey(take::<32>(&mut rest)?)),
            },
            T_PUNCH_NOTIFY => Self::PunchNotify {
                peer: take_entry(&mut rest)?,
            },
            T_INTRO_REPLY => Self::IntroReply {
                peer: take_entry(&mut rest)?,
            },
            // The packet is the rest of the message, whatever its length: the relay refuses
            // (and counts) sizes beyond MAX_RELAYED itself.
            T_RELAY_TO => Self::RelayTo {
                target: NodeId(PubKey(take::<32>(&mut rest)?)),
                packet: core::mem::take(&mut rest).to_vec(),
            },
            T_RELAY_FROM => Self::RelayFrom {
                peer: take_entry(&mut rest)?,
                packet: core::mem::take(&mut rest).to_vec(),
            },
            other => return Err(MsgError::UnknownType(other)),
        };
        if rest.is_empty() {
            Ok(msg)
        } else {
            Err(MsgError::Trailing(rest.len()))
        }
    }
}

fn put_entry(out: &mut Vec<u8>, e: &Entry) {
    out.extend_from_slice(&e.node.0.0);
    out.extend_from_slice(&encode_addr(Some(e.addr)));
}

fn take<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], MsgError> {
    let (head, tail) = rest
        .split_first_chunk::<N>()
        .ok_or(WireError::TooShort(rest.len()))?;
    *rest = tail;
    Ok(*head)
}

fn take_flag(rest: &mut &[u8]) -> Result<bool, MsgError> {
    match take::<1>(rest)? {
        [0] => Ok(false),
        [1] => Ok(true),
        [other] => Err(MsgError::BadFlag(other)),
    }
}

fn take_entry(rest: &mut &[u8]) -> Result<Entry, MsgError> {
    let node = NodeId(PubKey(take::<32>(rest)?));
    let addr = decode_addr(&take::<ADDR_LEN>(rest)?)?.ok_or(MsgError::NoAddress)?;
    Ok(Entry { node, addr })
}
