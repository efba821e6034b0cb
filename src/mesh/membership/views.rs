//! The views: the ForwardJoin walk, neighbour requests, the active and passive views, the
//! address book, repair and shuffle (HyParView; reasons in `docs/overlay.md` "Membership").

use core::net::SocketAddr;
use std::time::Instant;

use super::super::node::PathId;
use super::super::wire::NodeId;
use super::{
    ADDRESS_BOOK_MAX, BookEntry, Entry, INTRODUCE_AFTER, Known, MAX_PENDING, Msg, NEIGHBOR_TIMEOUT,
    Overlay, OverlayEvent, PASSIVE_RANDOM_WALK, Pending, REPAIR_INTERVAL, REPAIR_MAX_INTERVAL,
    SHUFFLE_ACTIVE, SHUFFLE_MAX, SHUFFLE_PASSIVE,
};

impl Overlay {
    pub(super) fn on_forward_join(&mut self, now: Instant, from: NodeId, ttl: u8, joiner: Entry) {
        if joiner.node == self.node_id() {
            return;
        }
        // The previous hop is the only peer we know that may hold a session with the joiner
        // (the contact's neighbours do): our introducer if the direct dial goes unanswered.
        let via = Some(from);
        if ttl == 0 || self.active.len() <= 1 {
            self.try_add(now, joiner, true, via);
            return;
        }
        if ttl == PASSIVE_RANDOM_WALK {
            self.add_passive(now, joiner.node, joiner.addr, via);
        }
        let next = self.random_active(&[from, joiner.node]);
        match next {
            Some(next) => {
                let fj = Msg::ForwardJoin {
                    ttl: ttl - 1,
                    joiner,
                };
                self.send_msg(now, next, &fj);
            }
            None => self.try_add(now, joiner, true, via),
        }
    }

    /// Asks `e` to become an active neighbour: at once over an existing session, else after
    /// dialling it; a dial unanswered for [`INTRODUCE_AFTER`] asks `via` (who announced `e`)
    /// for an introduction, which punches or relays. Full pending table: it goes to the
    /// passive view instead.
    pub(super) fn try_add(&mut self, now: Instant, e: Entry, high: bool, via: Option<NodeId>) {
        if e.node == self.node_id() || self.active.contains_key(&e.node) {
            return;
        }
        if self.pending.contains_key(&e.node) {
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            self.add_passive(now, e.node, e.addr, via);
            return;
        }
        let connected = self.mesh.is_connected(&e.node);
        let via = via.filter(|v| *v != e.node);
        self.pending.insert(
            e.node,
            Pending {
                addr: e.addr,
                high,
                asked: connected,
                deadline: now + NEIGHBOR_TIMEOUT,
                via,
                intro_at: via.filter(|_| !connected).map(|_| now + INTRODUCE_AFTER),
            },
        );
        if connected {
            self.transient.remove(&e.node);
            self.send_msg(now, e.node, &Msg::Neighbor { high });
        } else if self.mesh.connect(now, PathId::Udp, e.addr).is_err() {
            self.pending.remove(&e.node);
        }
    }

    pub(super) fn add_active(&mut self, now: Instant, node: NodeId, addr: SocketAddr) {
        if node == self.node_id() {
            return;
        }
        self.pending.remove(&node);
        self.transient.remove(&node);
        self.passive.remove(&node);
        self.remember(now, node, addr);
        if self.active.contains_key(&node) {
            return;
        }
        if self.active.len() >= self.active_max()
            && let Some(victim) = self.random_active(&[node])
        {
            self.stats.evictions += 1;
            self.send_msg(now, victim, &Msg::Disconnect);
            if let Some(vaddr) = self.active.remove(&victim) {
                self.push(OverlayEvent::NeighborDown { node: victim });
                self.add_passive(now, victim, vaddr, None);
            }
            let _ = self.mesh.disconnect(now, victim);
        }
        self.active.insert(node, addr);
        self.push(OverlayEvent::NeighborUp { node });
    }

    /// Adds `node` to the passive view, announced by `via` (`None`: we reached it ourselves).
    pub(super) fn add_passive(
        &mut self,
        now: Instant,
        node: NodeId,
        addr: SocketAddr,
        via: Option<NodeId>,
    ) {
        if node == self.node_id() || self.active.contains_key(&node) {
            return;
        }
        self.remember(now, node, addr);
        if let Some(k) = self.passive.get_mut(&node) {
            k.addr = addr;
            // A newer announcer is likelier to still hold a session with it.
            k.via = via.or(k.via);
            return;
        }
        if self.passive.len() >= self.passive_max() {
            let i = self.below(self.passive.len());
            if let Some(victim) = self.passive.keys().nth(i).copied() {
                self.passive.remove(&victim);
            }
        }
        self.passive.insert(node, Known { addr, via });
    }

    /// Records `node` at `addr` in the address book, evicting the longest-unseen entry when full.
    pub(super) fn remember(&mut self, now: Instant, node: NodeId, addr: SocketAddr) {
        self.record(now, node, addr, true);
    }

    pub(super) fn record(&mut self, now: Instant, node: NodeId, addr: SocketAddr, announce: bool) {
        if node == self.node_id() {
            return;
        }
        let changed = match self.book.get_mut(&node) {
            Some(e) => {
                e.seen = now;
                let changed = e.addr != addr;
                e.addr = addr;
                changed
            }
            None => {
                if self.book.len() >= ADDRESS_BOOK_MAX
                    && let Some(oldest) = self
                        .book
                        .iter()
                        .min_by_key(|(_, e)| e.seen)
                        .map(|(n, _)| *n)
                {
                    self.forget(oldest);
                }
                // Room was made above, so the insert holds.
                self.book.insert(node, BookEntry { addr, seen: now })
            }
        };
        if changed && announce {
            self.push(OverlayEvent::AddressLearned(Entry { node, addr }));
        }
    }

    pub(super) fn forget(&mut self, node: NodeId) {
        if self.book.remove(&node).is_some() {
            self.push(OverlayEvent::AddressForgotten { node });
        }
    }

    pub(super) fn back_off_repair(&mut self) {
        self.repair_every = (self.repair_every * 2).min(REPAIR_MAX_INTERVAL);
    }

    /// A neighbour was lost: repair starts again at the fast pace.
    pub(super) fn repair_soon(&mut self, now: Instant) {
        self.repair_every = REPAIR_INTERVAL;
        let soon = now + REPAIR_INTERVAL;
        self.repair_at = Some(self.repair_at.map_or(soon, |t| t.min(soon)));
    }

    /// Promotes one passive peer (or, with none, an address-book peer).
    pub(super) fn repair(&mut self, now: Instant) {
        let high = self.active.is_empty();
        let candidates: Vec<(Entry, Option<NodeId>)> = self
            .passive
            .iter()
            .filter(|(n, _)| !self.pending.contains_key(n))
            .map(|(n, k)| {
                (
                    Entry {
                        node: *n,
                        addr: k.addr,
                    },
                    k.via,
                )
            })
            .collect();
        let pick = if candidates.is_empty() {
            let book: Vec<Entry> = self
                .book
                .iter()
                .filter(|(n, _)| !self.active.contains_key(n) && !self.pending.contains_key(n))
                .map(|(n, e)| Entry {
                    node: *n,
                    addr: e.addr,
                })
                .collect();
            let i = self.below(book.len());
            book.get(i).map(|e| (*e, None))
        } else {
            let i = self.below(candidates.len());
            candidates.get(i).copied()
        };
        if let Some((e, via)) = pick {
            self.try_add(now, e, high, via);
        }
    }

    pub(super) fn shuffle(&mut self, now: Instant) {
        let Some(target) = self.random_active(&[]) else {
            return;
        };
        let mut sample: heapless::Vec<Entry, SHUFFLE_MAX> = heapless::Vec::new();
        let mut active: Vec<Entry> = self
            .active
            .iter()
            .filter(|(n, _)| **n != target)
            .map(|(n, a)| Entry { node: *n, addr: *a })
            .collect();
        for _ in 0..SHUFFLE_ACTIVE {
            if active.is_empty() {
                break;
            }
            let i = self.below(active.len());
            let _ = sample.push(active.swap_remove(i));
        }
        for e in self.sample_passive(SHUFFLE_PASSIVE, Some(target)) {
            let _ = sample.push(e);
        }
        self.stats.shuffles += 1;
        self.send_msg(now, target, &Msg::Shuffle(sample));
    }

    pub(super) fn sample_passive(
        &mut self,
        n: usize,
        except: Option<NodeId>,
    ) -> heapless::Vec<Entry, SHUFFLE_MAX> {
        let mut pool: Vec<Entry> = self.passive().filter(|e| Some(e.node) != except).collect();
        let mut out = heapless::Vec::new();
        for _ in 0..n.min(SHUFFLE_MAX) {
            if pool.is_empty() {
                break;
            }
            let i = self.below(pool.len());
            let _ = out.push(pool.swap_remove(i));
        }
        out
    }
}
