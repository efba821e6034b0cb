//! Frames inside a transport datagram's plaintext, and the reassembly of fragmented messages.
//!
//! A message of up to [`MAX_MESSAGE`] bytes travels as one `Whole` frame when it fits one
//! datagram, else as 2..=[`MAX_FRAGMENTS`] `Fragment` frames of [`FRAGMENT_CHUNK`] bytes (the
//! last may be shorter); a relayed session uses the smaller [`Sizes::RELAYED`] so that the
//! relay's wrapping still fits one datagram. Fragments carry no offsets: every chunk but the
//! last has the same size (one of the two), so index × chunk is the offset. Reassembly holds at most
//! [`REASSEMBLY_SLOTS`](super::limits::REASSEMBLY_SLOTS) partial messages; a slot is freed when
//! its message completes, its timeout passes or its peer goes away. A lost fragment drops the
//! message; the layer above retries.

use std::time::Instant;

use super::limits::{HEADER_LEN, MAX_MESSAGE, MAX_PLAINTEXT, MAX_RELAYED_DATAGRAM, TAG_LEN};
use super::wire::{NodeId, Reader, WireError};

/// Frame type: nothing inside; confirms keys and shows liveness.
const FRAME_KEEPALIVE: u8 = 0;
/// Frame type: a whole message.
const FRAME_WHOLE: u8 = 1;
/// Frame type: one fragment of a message.
const FRAME_FRAGMENT: u8 = 2;

/// Fragment frame header: type 1, message id 4, index 1, count 1.
const FRAGMENT_HEADER: usize = 1 + 4 + 1 + 1;

/// Largest message sent as one `Whole` frame.
pub const WHOLE_MAX: usize = MAX_PLAINTEXT - 1;

/// Bytes of every fragment but the last.
pub const FRAGMENT_CHUNK: usize = MAX_PLAINTEXT - FRAGMENT_HEADER;

/// Bytes of every fragment but the last on a relayed session.
pub const RELAYED_CHUNK: usize = MAX_RELAYED_DATAGRAM - HEADER_LEN - TAG_LEN - FRAGMENT_HEADER;

/// Most fragments of one message: 61 for 64 KiB in relayed chunks (57 in direct ones).
pub const MAX_FRAGMENTS: usize = MAX_MESSAGE.div_ceil(RELAYED_CHUNK);

/// The frame sizes a sender uses on one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Largest message sent as one `Whole` frame.
    pub whole_max: usize,
    /// Bytes of every fragment but the last.
    pub chunk: usize,
}

impl Sizes {
    /// A direct path: frames fill a 1200-byte datagram.
    pub const DIRECT: Self = Self {
        whole_max: WHOLE_MAX,
        chunk: FRAGMENT_CHUNK,
    };
    /// A relayed path: datagrams of at most [`MAX_RELAYED_DATAGRAM`].
    pub const RELAYED: Self = Self {
        whole_max: MAX_RELAYED_DATAGRAM - HEADER_LEN - TAG_LEN - 1,
        chunk: RELAYED_CHUNK,
    };
}

const _: () = assert!(MAX_FRAGMENTS <= 64, "the received-set is one u64");
const _: () = assert!(MAX_FRAGMENTS <= u8::MAX as usize);

/// One decoded frame, borrowing the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Empty: key confirmation or keepalive.
    Keepalive,
    /// A whole message.
    Whole(&'a [u8]),
    /// Fragment `index` of `count` of message `msg_id`.
    Fragment {
        /// Sender-chosen id, unique among the sender's messages in flight to us.
        msg_id: u32,
        /// 0-based position.
        index: u8,
        /// Fragments in the message, 2..=[`MAX_FRAGMENTS`].
        count: u8,
        /// [`FRAGMENT_CHUNK`] bytes, or 1..=that for the last.
        chunk: &'a [u8],
    },
}

impl<'a> Frame<'a> {
    /// Decodes and range-checks a frame.
    pub fn decode(plain: &'a [u8]) -> Result<Self, WireError> {
        let (&kind, rest) = plain.split_first().ok_or(WireError::TooShort(0))?;
        match kind {
            FRAME_KEEPALIVE if rest.is_empty() => Ok(Frame::Keepalive),
            FRAME_KEEPALIVE => Err(WireError::TooLong(plain.len())),
            FRAME_WHOLE => Ok(Frame::Whole(rest)),
            FRAME_FRAGMENT => {
                let mut r = Reader(rest);
                let msg_id = u32::from_le_bytes(r.array::<4>()?);
                let [index, count] = r.array::<2>()?;
                let chunk = r.0;
                let last = usize::from(count).saturating_sub(1);
                let count_ok = (2..=MAX_FRAGMENTS).contains(&usize::from(count));
                // Reassembly checks that the chunks of one message agree in size.
                let len_ok = if usize::from(index) < last {
                    chunk.len() == FRAGMENT_CHUNK || chunk.len() == RELAYED_CHUNK
                } else {
                    (1..=FRAGMENT_CHUNK).contains(&chunk.len())
                        && last * RELAYED_CHUNK + chunk.len() <= MAX_MESSAGE
                };
                if !count_ok || usize::from(index) > last || !len_ok {
                    return Err(WireError::BadFragment);
                }
                Ok(Frame::Fragment {
                    msg_id,
                    index,
                    count,
                    chunk,
                })
            }
            other => Err(WireError::UnknownFrame(other)),
        }
    }
}

/// The frame plaintexts of one message, in order: one `Whole`, or `Fragment`s.
/// `message` must be at most [`MAX_MESSAGE`] bytes (checked by the caller).
pub fn frames(message: &[u8], msg_id: u32) -> Vec<Vec<u8>> {
    frames_sized(message, msg_id, Sizes::DIRECT)
}

/// [`frames`] with the sizes of a path.
pub fn frames_sized(message: &[u8], msg_id: u32, sizes: Sizes) -> Vec<Vec<u8>> {
    if message.len() <= sizes.whole_max {
        let mut f = Vec::with_capacity(1 + message.len());
        f.push(FRAME_WHOLE);
        f.extend_from_slice(message);
        return vec![f];
    }
    let chunks = message.chunks(sizes.chunk);
    let count = u8::try_from(chunks.len()).unwrap_or(u8::MAX);
    chunks
        .enumerate()
        .map(|(i, chunk)| {
            let mut f = Vec::with_capacity(FRAGMENT_HEADER + chunk.len());
            f.push(FRAME_FRAGMENT);
            f.extend_from_slice(&msg_id.to_le_bytes());
            f.push(u8::try_from(i).unwrap_or(u8::MAX));
            f.push(count);
            f.extend_from_slice(chunk);
            f
        })
        .collect()
}

/// The plaintext of a keepalive frame.
pub const KEEPALIVE: [u8; 1] = [FRAME_KEEPALIVE];

/// Number of datagrams a message of `len` bytes takes.
#[must_use]
pub fn datagrams_for(len: usize) -> usize {
    datagrams_sized(len, Sizes::DIRECT)
}

/// [`datagrams_for`] with the sizes of a path.
#[must_use]
pub fn datagrams_sized(len: usize, sizes: Sizes) -> usize {
    if len <= sizes.whole_max {
        1
    } else {
        len.div_ceil(sizes.chunk)
    }
}

/// Why a fragment was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    #[error("every reassembly slot is taken")]
    Full,
    #[error("this peer holds its share of reassembly slots")]
    PeerFull,
    #[error("fragment count differs from the message's first fragment")]
    CountMismatch,
    #[error("fragment size differs from the message's other fragments")]
    ChunkMismatch,
    #[error("the fragments add up to more than the message limit")]
    TooLong,
}

/// Partial messages, bounded in number and size.
pub struct Reassembly {
    slots: Vec<Slot>,
    max_slots: usize,
    max_per_peer: usize,
}

struct Slot {
    peer: NodeId,
    msg_id: u32,
    count: u8,
    /// Bit i set: fragment i stored.
    have: u64,
    /// Length of the last fragment, once stored.
    last_len: usize,
    /// Size of the non-last fragments, once one is stored (0 before).
    chunk: usize,
    /// count × [`FRAGMENT_CHUNK`] bytes, allocated when the first fragment arrives; fragment i
    /// sits at i × `FRAGMENT_CHUNK` until the message is complete and compacted.
    buf: Vec<u8>,
    deadline: Instant,
}

impl Reassembly {
    /// Room for `max_slots` partial messages, `max_per_peer` of them from one peer.
    #[must_use]
    pub fn new(max_slots: usize, max_per_peer: usize) -> Self {
        Self {
            slots: Vec::with_capacity(max_slots),
            max_slots,
            max_per_peer,
        }
    }

    /// Stores a fragment (already range-checked by [`Frame::decode`]); returns the message when
    /// it is complete. A new message's slot expires at `deadline`.
    pub fn insert(
        &mut self,
        deadline: Instant,
        peer: NodeId,
        msg_id: u32,
        index: u8,
        count: u8,
        chunk: &[u8],
    ) -> Result<Option<Vec<u8>>, ReassemblyError> {
        if !(2..=MAX_FRAGMENTS).contains(&usize::from(count)) || index >= count {
            return Err(ReassemblyError::CountMismatch);
        }
        let pos = match self
            .slots
            .iter()
            .position(|s| s.peer == peer && s.msg_id == msg_id)
        {
            Some(pos) => pos,
            None => {
                if self.slots.len() >= self.max_slots {
                    return Err(ReassemblyError::Full);
                }
                if self.slots.iter().filter(|s| s.peer == peer).count() >= self.max_per_peer {
                    return Err(ReassemblyError::PeerFull);
                }
                self.slots.push(Slot {
                    peer,
                    msg_id,
                    count,
                    have: 0,
                    last_len: 0,
                    chunk: 0,
                    buf: vec![0; usize::from(count) * FRAGMENT_CHUNK],
                    deadline,
                });
                self.slots.len() - 1
            }
        };
        let Some(slot) = self.slots.get_mut(pos) else {
            return Ok(None);
        };
        if slot.count != count {
            return Err(ReassemblyError::CountMismatch);
        }
        let bit = 1u64 << index;
        if slot.have & bit != 0 {
            return Ok(None);
        }
        if index < count.saturating_sub(1) {
            if slot.chunk == 0 {
                slot.chunk = chunk.len();
            } else if slot.chunk != chunk.len() {
                return Err(ReassemblyError::ChunkMismatch);
            }
        }
        let at = usize::from(index) * FRAGMENT_CHUNK;
        if let Some(dst) = slot.buf.get_mut(at..at + chunk.len()) {
            dst.copy_from_slice(chunk);
        }
        slot.have |= bit;
        if index == count.saturating_sub(1) {
            slot.last_len = chunk.len();
        }
        let all = u64::MAX >> (64 - u32::from(count));
        if slot.have != all {
            return Ok(None);
        }
        let mut done = self.slots.swap_remove(pos);
        let (c, n) = (done.chunk, usize::from(count));
        if done.last_len > c {
            return Err(ReassemblyError::ChunkMismatch);
        }
        if (n - 1) * c + done.last_len > MAX_MESSAGE {
            return Err(ReassemblyError::TooLong);
        }
        // Close the gaps of a message in relayed chunks (a no-op for direct ones).
        if c < FRAGMENT_CHUNK {
            for i in 1..n {
                let len = if i + 1 == n { done.last_len } else { c };
                let from = i * FRAGMENT_CHUNK;
                done.buf.copy_within(from..from + len, i * c);
            }
        }
        done.buf.truncate((n - 1) * c + done.last_len);
        Ok(Some(done.buf))
    }

    /// Frees slots whose deadline passed; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.slots.len();
        self.slots.retain(|s| s.deadline > now);
        before - self.slots.len()
    }

    /// Frees every slot of a peer that went away.
    pub fn forget(&mut self, peer: &NodeId) {
        self.slots.retain(|s| s.peer != *peer);
    }

    /// The earliest slot deadline.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.slots.iter().map(|s| s.deadline).min()
    }

    /// Partial messages held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no partial message is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use core::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::mesh::tests::epoch;
    use crate::nostr::PubKey;

    fn peer(b: u8) -> NodeId {
        NodeId(PubKey([b; 32]))
    }

    fn reassemble(
        r: &mut Reassembly,
        at: Instant,
        who: NodeId,
        frames: &[Vec<u8>],
    ) -> Option<Vec<u8>> {
        let mut out = None;
        for f in frames {
            match Frame::decode(f).expect("our own frames decode") {
                Frame::Whole(m) => out = Some(m.to_vec()),
                Frame::Fragment {
                    msg_id,
                    index,
                    count,
                    chunk,
                } => {
                    if let Some(m) = r
                        .insert(at, who, msg_id, index, count, chunk)
                        .expect("room")
                    {
                        out = Some(m);
                    }
                }
                Frame::Keepalive => panic!("no keepalive here"),
            }
        }
        out
    }

    #[test]
    fn sizes() {
        assert_eq!(WHOLE_MAX, 1167);
        assert_eq!(FRAGMENT_CHUNK, 1161);
        assert_eq!(MAX_FRAGMENTS, 61);
        assert_eq!(RELAYED_CHUNK, 1076);
        assert_eq!(Sizes::RELAYED.whole_max, 1082);
        assert_eq!(datagrams_sized(MAX_MESSAGE, Sizes::RELAYED), 61);
        assert_eq!(datagrams_for(0), 1);
        assert_eq!(datagrams_for(WHOLE_MAX), 1);
        assert_eq!(datagrams_for(WHOLE_MAX + 1), 2);
        assert_eq!(datagrams_for(MAX_MESSAGE), 57);
    }

    #[test]
    fn fragment_golden_bytes() {
        let msg = vec![0xab; WHOLE_MAX + 1];
        let f = frames(&msg, 0x0403_0201);
        assert_eq!(f.len(), 2);
        assert_eq!(&f[0][..7], &[2, 1, 2, 3, 4, 0, 2]);
        assert_eq!(f[0].len(), MAX_PLAINTEXT);
        assert_eq!(&f[1][..7], &[2, 1, 2, 3, 4, 1, 2]);
        assert_eq!(f[1].len(), 7 + WHOLE_MAX + 1 - FRAGMENT_CHUNK);
        assert_eq!(frames(b"hi", 9), vec![vec![1, b'h', b'i']]);
    }

    #[test]
    fn decode_refuses_bad_fragments() {
        let ok = frames(&[1u8; 3000], 1);
        assert!(Frame::decode(&ok[2]).is_ok());
        let mut short_middle = ok[0].clone();
        short_middle.pop();
        assert_eq!(Frame::decode(&short_middle), Err(WireError::BadFragment));
        let mut index_past = ok[2].clone();
        index_past[5] = 3;
        assert_eq!(Frame::decode(&index_past), Err(WireError::BadFragment));
        let mut count_one = ok[2].clone();
        count_one[5] = 0;
        count_one[6] = 1;
        assert_eq!(Frame::decode(&count_one), Err(WireError::BadFragment));
        let mut too_many = ok[0].clone();
        too_many[6] = 62;
        assert_eq!(Frame::decode(&too_many), Err(WireError::BadFragment));
        assert_eq!(Frame::decode(&[0, 0]), Err(WireError::TooLong(2)));
        assert_eq!(Frame::decode(&[9]), Err(WireError::UnknownFrame(9)));
        assert_eq!(Frame::decode(&[]), Err(WireError::TooShort(0)));
        // A last fragment that would push the message past 64 KiB even in relayed chunks.
        let mut big = vec![2, 1, 0, 0, 0, 60, 61];
        big.resize(FRAGMENT_HEADER + FRAGMENT_CHUNK, 0);
        assert_eq!(Frame::decode(&big), Err(WireError::BadFragment));
        // A middle fragment of neither size.
        let mut odd = ok[0].clone();
        odd.truncate(FRAGMENT_HEADER + RELAYED_CHUNK + 1);
        assert_eq!(Frame::decode(&odd), Err(WireError::BadFragment));
    }

    #[test]
    fn out_of_order_duplicates_and_bounds() {
        let t0 = epoch();
        let mut r = Reassembly::new(2, 1);
        let msg: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut f = frames(&msg, 7);
        f.reverse();
        let dup = f[0].clone();
        f.insert(2, dup);
        assert_eq!(reassemble(&mut r, t0, peer(1), &f), Some(msg));
        assert!(r.is_empty());

        let a = frames(&[1u8; 3000], 1);
        let b = frames(&[2u8; 3000], 2);
        let first = |f: &Vec<u8>| match Frame::decode(f).expect("decodes") {
            Frame::Fragment {
                msg_id,
                index,
                count,
                chunk,
            } => (msg_id, index, count, chunk.to_vec()),
            _ => panic!("fragment expected"),
        };
        let (id, i, c, chunk) = first(&a[0]);
        assert_eq!(r.insert(t0, peer(1), id, i, c, &chunk), Ok(None));
        let (id2, i2, c2, chunk2) = first(&b[0]);
        assert_eq!(
            r.insert(t0, peer(1), id2, i2, c2, &chunk2),
            Err(ReassemblyError::PeerFull)
        );
        assert_eq!(r.insert(t0, peer(2), id2, i2, c2, &chunk2), Ok(None));
        assert_eq!(
            r.insert(t0, peer(3), id2, i2, c2, &chunk2),
            Err(ReassemblyError::Full)
        );
        assert_eq!(
            r.insert(t0, peer(1), id, 1, 4, &chunk),
            Err(ReassemblyError::CountMismatch)
        );
        assert_eq!(r.next_deadline(), Some(t0));
        assert_eq!(r.expire(t0 + Duration::from_millis(1)), 2);
        assert!(r.is_empty());
    }

    proptest! {
        #[test]
        fn any_message_round_trips(len in 0usize..=MAX_MESSAGE, seed: u8) {
            let t0 = epoch();
            let msg: Vec<u8> = (0..len).map(|i| (i as u8) ^ seed).collect();
            let f = frames(&msg, 3);
            prop_assert_eq!(f.len(), datagrams_for(len));
            prop_assert!(f.iter().all(|p| p.len() <= MAX_PLAINTEXT));
            let mut r = Reassembly::new(1, 1);
            prop_assert_eq!(reassemble(&mut r, t0, peer(1), &f), Some(msg.clone()));
            prop_assert!(r.is_empty());
            // Relayed sizes: every frame leaves room for the relay's headroom, out of order.
            let mut f = frames_sized(&msg, 4, Sizes::RELAYED);
            prop_assert_eq!(f.len(), datagrams_sized(len, Sizes::RELAYED));
            let max = super::super::limits::MAX_RELAYED_DATAGRAM - HEADER_LEN - TAG_LEN;
            prop_assert!(f.iter().all(|p| p.len() <= max));
            f.reverse();
            prop_assert_eq!(reassemble(&mut r, t0, peer(1), &f), Some(msg));
            prop_assert!(r.is_empty());
        }
    }

    #[test]
    fn chunks_of_two_sizes_in_one_message_are_refused() {
        let t0 = epoch();
        let mut r = Reassembly::new(1, 1);
        let direct = frames(&[5u8; 3000], 1);
        let relayed = frames_sized(&[5u8; 3000], 1, Sizes::RELAYED);
        let chunk_of = |f: &Vec<u8>| match Frame::decode(f).expect("decodes") {
            Frame::Fragment { chunk, .. } => chunk.to_vec(),
            _ => panic!("fragment expected"),
        };
        assert_eq!(
            r.insert(t0, peer(1), 1, 0, 3, &chunk_of(&direct[0])),
            Ok(None)
        );
        assert_eq!(
            r.insert(t0, peer(1), 1, 1, 3, &chunk_of(&relayed[1])),
            Err(ReassemblyError::ChunkMismatch)
        );
    }
}
