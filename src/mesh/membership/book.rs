//! The address book's storage: entries sorted by node id in one vector allocated once at
//! [`ADDRESS_BOOK_MAX`], so a known peer costs its 80-byte entry and nothing more (a
//! `BTreeMap` held ≈ 149 B per entry on the heap: half-full nodes after random inserts), and
//! iteration stays in node-id order as before, so runs replay from their seeds unchanged.

use super::{ADDRESS_BOOK_MAX, BookEntry};
use crate::mesh::wire::NodeId;

/// Sorted by node id, at most [`ADDRESS_BOOK_MAX`] entries (the caller evicts before it
/// inserts into a full book; an insert into a full book is refused, never a reallocation).
#[derive(Debug)]
pub(super) struct AddressBook {
    entries: Vec<(NodeId, BookEntry)>,
}

impl AddressBook {
    pub(super) fn new() -> Self {
        Self {
            entries: Vec::with_capacity(ADDRESS_BOOK_MAX),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&NodeId, &BookEntry)> + '_ {
        self.entries.iter().map(|(n, e)| (n, e))
    }

    pub(super) fn get_mut(&mut self, node: &NodeId) -> Option<&mut BookEntry> {
        let i = self.entries.binary_search_by(|(n, _)| n.cmp(node)).ok()?;
        self.entries.get_mut(i).map(|(_, e)| e)
    }

    /// Inserts or replaces `node`'s entry; `false` (and nothing changes) when `node` is new and
    /// the book is full.
    pub(super) fn insert(&mut self, node: NodeId, entry: BookEntry) -> bool {
        match self.entries.binary_search_by(|(n, _)| n.cmp(&node)) {
            Ok(i) => {
                if let Some(slot) = self.entries.get_mut(i) {
                    slot.1 = entry;
                }
                true
            }
            Err(_) if self.entries.len() >= ADDRESS_BOOK_MAX => false,
            Err(i) => {
                self.entries.insert(i, (node, entry));
                true
            }
        }
    }

    pub(super) fn remove(&mut self, node: &NodeId) -> Option<BookEntry> {
        let i = self.entries.binary_search_by(|(n, _)| n.cmp(node)).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// Bytes the book holds on the heap (its one allocation).
    pub(super) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<(NodeId, BookEntry)>()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;
    use crate::mesh::tests::epoch;

    fn node(i: u16) -> NodeId {
        let mut b = [0u8; 32];
        // Scrambled, so inserts arrive out of order.
        b[..2].copy_from_slice(&i.wrapping_mul(40_503).to_be_bytes());
        NodeId(crate::nostr::PubKey(b))
    }

    #[test]
    fn stays_sorted_bounded_and_never_reallocates() {
        let now = epoch();
        let entry = |port| BookEntry {
            addr: core::net::SocketAddr::from(([192, 0, 2, 1], port)),
            seen: now,
        };
        let mut book = AddressBook::new();
        let heap = book.heap_bytes();
        assert!(
            heap <= ADDRESS_BOOK_MAX * 128,
            "{heap} bytes for {ADDRESS_BOOK_MAX} entries"
        );
        for i in 0..ADDRESS_BOOK_MAX as u16 {
            assert!(book.insert(node(i), entry(i)));
        }
        assert!(
            !book.insert(node(9_999), entry(1)),
            "a full book refuses a new node"
        );
        assert!(book.insert(node(7), entry(70)), "a known node is replaced");
        assert_eq!(book.len(), ADDRESS_BOOK_MAX);
        assert_eq!(book.heap_bytes(), heap, "no reallocation");
        let ids: Vec<NodeId> = book.iter().map(|(n, _)| *n).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by node id");
        assert_eq!(book.get_mut(&node(7)).unwrap().addr.port(), 70);
        assert_eq!(book.remove(&node(7)).unwrap().addr.port(), 70);
        assert!(book.get_mut(&node(7)).is_none());
        assert!(book.remove(&node(7)).is_none());
        assert_eq!(book.len(), ADDRESS_BOOK_MAX - 1);
    }
}
