//! Inbound datagrams: the header picks one `handle_*` per message type. Checks run cheapest
//! first, and nothing that costs a DH, a signature check or state runs before the checks that
//! keep a flood away from it (docs/wire.md "Order of checks").

use core::net::SocketAddr;
use std::time::Instant;

use super::super::cookie;
use super::super::error::PeerFault;
use super::super::fragment::Frame;
use super::super::limits::{
    CONFIRM_ATTEMPTS, CONFIRM_INTERVAL, DH_LEN, HEADER_LEN, MAX_DATAGRAM, MAX_PLAINTEXT,
    PENDING_TIMEOUT, RATE_LIMIT_SOURCES,
};
use super::super::ratelimit::Admission;
use super::super::session::handshake::binding_holds;
use super::super::session::{KeySet, Role};
use super::super::wire::{
    COOKIE_REPLY_LEN, HandshakePayload, Header, Initiation, MessageType, NodeId, RESPONSE_LEN,
    SessionIndex,
};
use super::{
    Claim, Confirm, MeshEvent, MeshNode, PathId, Pending, after, is_due, packet_mac1, write_macs,
};

impl MeshNode {
    /// Feeds one received datagram. Bad input is dropped and counted in
    /// [`stats`](Self::stats), never answered and never a panic. Then drain `poll_*`.
    pub fn handle_datagram(&mut self, now: Instant, path: PathId, from: SocketAddr, bytes: &[u8]) {
        if let Err(fault) = self.dispatch(now, path, from, bytes) {
            log::trace!("mesh: dropped datagram from {from}: {fault}");
            self.stats.record(&fault);
        }
    }

    fn dispatch(
        &mut self,
        now: Instant,
        path: PathId,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), PeerFault> {
        let header = Header::decode(bytes)?;
        match header.kind {
            MessageType::Initiation => self.handle_initiation(now, path, from, bytes),
            MessageType::Response => self.handle_response(now, path, from, header, bytes),
            MessageType::CookieReply => self.handle_cookie_reply(now, header, bytes),
            MessageType::Transport => self.handle_transport(now, path, from, header, bytes),
        }
    }

    /// Responder side of IX message 1. Order: `mac1` → (under load) `mac2` or a cookie reply →
    /// per-address rate → table room → the clear payload's claimed node id → known peer's
    /// reserve, else per-prefix rate and the global budget → Noise read (hashing only) →
    /// BIP-340 binding → DHs.
    fn handle_initiation(
        &mut self,
        now: Instant,
        path: PathId,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), PeerFault> {
        let init = Initiation::parse(datagram)?;
        if !self.net.check_mac1(init.mac1_covered, init.mac1) {
            return Err(PeerFault::BadMac1);
        }
        self.load.note_initiation(now);
        let loaded = self.load.under_load(
            now,
            self.pending.len(),
            self.config.under_load_in_flight,
            self.config.under_load_per_second,
        );
        if loaded {
            let cookie = self.cookie_secret.cookie(now, &mut self.rng, from);
            if !cookie::check_mac2(&cookie, init.mac2_covered, init.mac2) {
                self.send_cookie_reply(path, from, init.sender_index, init.mac1, &cookie);
                return Ok(());
            }
        }
        if !self.limiter.allow(now, from.ip()) {
            if self.limiter.len() >= RATE_LIMIT_SOURCES {
                self.load.mark(now);
            }
            return Err(PeerFault::RateLimited);
        }
        if self.pending.len() >= self.config.max_handshakes {
            self.load.mark(now);
            return Err(PeerFault::HandshakeTableFull);
        }

        // IX message 1 carries its payload in clear after `e` and `s` (docs/wire.md), so the
        // claimed node id is read from the bytes: building a snow state derives public keys
        // (X25519 operations), too much to spend on datagrams the admission below refuses.
        // The claim is unverified; it only picks the share to draw from, and a known peer's
        // reserve is tied to the prefix it completed from (ratelimit.rs).
        let clear = init.noise.get(2 * DH_LEN..).unwrap_or_default();
        let claimed = HandshakePayload::decode(clear)?.node_id;
        match self.limiter.admit(now, from.ip(), &claimed) {
            Admission::Reserved | Admission::Shared => {}
            Admission::PrefixLimited => return Err(PeerFault::RateLimited),
            Admission::Overloaded => {
                self.load.mark(now);
                return Err(PeerFault::RateLimited);
            }
        }

        let seed = self.draw_seed();
        let mut hs = self
            .identity
            .handshake(&self.params, &self.net.prologue, seed, false)
            .map_err(|_| PeerFault::Noise)?;
        let mut buf = [0u8; MAX_DATAGRAM];
        let n = hs
            .read_message(init.noise, &mut buf)
            .map_err(|_| PeerFault::Noise)?;
        let theirs = HandshakePayload::decode(buf.get(..n).unwrap_or_default())?;
        let remote_static = hs.get_remote_static().ok_or(PeerFault::Noise)?;
        self.stats.binding_checks = self.stats.binding_checks.saturating_add(1);
        if !binding_holds(&theirs.node_id, remote_static, &theirs.binding_sig) {
            return Err(PeerFault::ForgedIdentity);
        }
        if theirs.node_id == self.identity.node_id {
            return Err(PeerFault::SelfHandshake);
        }

        let local = self.alloc_index();
        let ours = self
            .own_payload(path.is_udp().then_some(from), local)
            .encode();
        let mut packet = [0u8; RESPONSE_LEN];
        let (head, body) = packet.split_at_mut(HEADER_LEN);
        head.copy_from_slice(
            &Header {
                kind: MessageType::Response,
                receiver: theirs.sender_index,
                counter: 0,
            }
            .encode(),
        );
        let written = hs
            .write_message(&ours, body)
            .map_err(|_| PeerFault::Noise)?;
        if written != body.len() {
            return Err(PeerFault::Noise);
        }
        let transport = hs
            .into_stateless_transport_mode()
            .map_err(|_| PeerFault::Noise)?;
        let expires = after(now, PENDING_TIMEOUT).ok_or(PeerFault::Noise)?;
        self.pending.insert(
            local,
            Pending {
                keys: KeySet::new(local, theirs.sender_index, transport, now, Role::Responder),
                claim: Claim::of(&theirs),
                expires,
            },
        );
        self.push_transmit(path, from, packet.to_vec());
        Ok(())
    }

    /// A 48-byte answer to a 234-byte initiation: no amplification, no state kept.
    fn send_cookie_reply(
        &mut self,
        path: PathId,
        to: SocketAddr,
        receiver: SessionIndex,
        mac1: &cookie::Mac,
        cookie: &cookie::Mac,
    ) {
        let nonce = rand_core::RngCore::next_u64(&mut self.rng);
        let Some(sealed) = self.net.seal_cookie(nonce, mac1, cookie) else {
            return;
        };
        let mut packet = Vec::with_capacity(COOKIE_REPLY_LEN);
        packet.extend_from_slice(
            &Header {
                kind: MessageType::CookieReply,
                receiver,
                counter: nonce,
            }
            .encode(),
        );
        packet.extend_from_slice(&sealed);
        self.stats.cookie_replies_sent = self.stats.cookie_replies_sent.saturating_add(1);
        self.push_transmit(path, to, packet);
    }

    /// Initiator side of IX message 2: the DHs run here, then the responder's binding.
    fn handle_response(
        &mut self,
        now: Instant,
        path: PathId,
        from: SocketAddr,
        header: Header,
        datagram: &[u8],
    ) -> Result<(), PeerFault> {
        let noise = datagram.get(HEADER_LEN..).unwrap_or_default();
        let Some(out) = self.outgoing.get_mut(&header.receiver) else {
            return Err(PeerFault::UnknownIndex);
        };
        let Some(hs) = out.hs.as_mut() else {
            return Err(PeerFault::UnknownIndex);
        };
        let mut buf = [0u8; MAX_DATAGRAM];
        // A failed read leaves snow's state as it was, so a forged response cannot spoil the
        // real one that may follow.
        let n = hs
            .read_message(noise, &mut buf)
            .map_err(|_| PeerFault::Noise)?;
        // From here the handshake state is spent: any refusal waits for the retry.
        let checked = (|| {
            let theirs = HandshakePayload::decode(buf.get(..n).unwrap_or_default())?;
            let remote_static = hs.get_remote_static().ok_or(PeerFault::Noise)?;
            self.stats.binding_checks = self.stats.binding_checks.saturating_add(1);
            if !binding_holds(&theirs.node_id, remote_static, &theirs.binding_sig) {
                return Err(PeerFault::ForgedIdentity);
            }
            if theirs.node_id == self.identity.node_id {
                return Err(PeerFault::SelfHandshake);
            }
            if let super::Purpose::Rekey(expected) = out.purpose
                && expected != theirs.node_id
            {
                return Err(PeerFault::IdentityChanged);
            }
            Ok(theirs)
        })();
        let theirs = match checked {
            Ok(theirs) => theirs,
            Err(fault) => {
                out.hs = None;
                return Err(fault);
            }
        };
        let Some(hs) = self.outgoing.remove(&header.receiver).and_then(|o| o.hs) else {
            return Err(PeerFault::UnknownIndex);
        };
        let transport = hs
            .into_stateless_transport_mode()
            .map_err(|_| PeerFault::Noise)?;
        let keys = KeySet::new(
            header.receiver,
            theirs.sender_index,
            transport,
            now,
            Role::Initiator,
        );
        self.stats.handshakes_completed = self.stats.handshakes_completed.saturating_add(1);
        let node = theirs.node_id;
        self.limiter.note_completed(now, node, from.ip());
        self.install(now, (path, from), Claim::of(&theirs), keys)?;
        // The responder holds our keys only as pending until a transport packet proves we
        // completed: confirm at once, then each CONFIRM_INTERVAL until it answers.
        self.send_keepalive(now, node);
        if let Some(peer) = self.peers.get_mut(&node) {
            peer.confirm = after(now, CONFIRM_INTERVAL).map(|next| Confirm {
                left: CONFIRM_ATTEMPTS,
                next,
            });
        }
        Ok(())
    }

    /// The responder wants `mac2`: keep the cookie, resend the same initiation with it once.
    fn handle_cookie_reply(
        &mut self,
        now: Instant,
        header: Header,
        datagram: &[u8],
    ) -> Result<(), PeerFault> {
        let sealed = datagram.get(HEADER_LEN..).unwrap_or_default();
        let Some(out) = self.outgoing.get_mut(&header.receiver) else {
            return Err(PeerFault::UnknownIndex);
        };
        if out.hs.is_none() {
            return Err(PeerFault::UnknownIndex);
        }
        let mac1 = packet_mac1(&out.packet);
        let cookie = self
            .net
            .open_cookie(header.counter, &mac1, sealed)
            .ok_or(PeerFault::CookieRejected)?;
        self.stats.cookies_received = self.stats.cookies_received.saturating_add(1);
        // Resend at once only for the first cookie of this attempt, so replayed cookie replies
        // cannot make us send initiations in a loop; later ones wait for the retry timer.
        let first = out.cookie.is_none();
        out.cookie = Some((cookie, now));
        write_macs(&self.net, &mut out.packet, Some(&cookie));
        if first {
            let (path, addr, bytes) = (out.path, out.addr, out.packet.to_vec());
            self.push_transmit(path, addr, bytes);
        }
        Ok(())
    }

    /// Transport data: find the keys by index, refuse old keys and replays before decrypting,
    /// then roaming, confirmation and the frame.
    fn handle_transport(
        &mut self,
        now: Instant,
        path: PathId,
        from: SocketAddr,
        header: Header,
        datagram: &[u8],
    ) -> Result<(), PeerFault> {
        let body = datagram.get(HEADER_LEN..).unwrap_or_default();
        let index = header.receiver;
        let reject_after = self.config.reject_after;
        let mut plain = [0u8; MAX_PLAINTEXT];

        if let Some(&node) = self.by_index.get(&index) {
            let peer = self.peers.get_mut(&node).ok_or(PeerFault::UnknownIndex)?;
            let on_current = peer.current.local == index;
            let keys = if on_current {
                &mut peer.current
            } else {
                peer.previous
                    .as_mut()
                    .filter(|k| k.local == index)
                    .ok_or(PeerFault::UnknownIndex)?
            };
            if is_due(after(keys.created, reject_after), now) {
                return Err(PeerFault::KeysExpired);
            }
            let n = keys.open(header.counter, body, &mut plain)?;
            peer.last_recv = now;
            if on_current {
                // The peer speaks on our newest keys: they are confirmed.
                peer.confirm = None;
            }
            if super::moves(peer, path, from) {
                peer.addr = from;
                peer.path = path;
                self.push_event(MeshEvent::PeerMoved { node, addr: from });
            }
            return self.handle_frame(now, node, plain.get(..n).unwrap_or_default());
        }

        let Some(pending) = self.pending.get_mut(&index) else {
            return Err(PeerFault::UnknownIndex);
        };
        let n = pending.keys.open(header.counter, body, &mut plain)?;
        // The initiator holds the static key it claimed: promote.
        let Some(p) = self.pending.remove(&index) else {
            return Err(PeerFault::UnknownIndex);
        };
        self.stats.handshakes_completed = self.stats.handshakes_completed.saturating_add(1);
        let node = p.claim.node;
        // It proved its static key: its next handshakes draw on a known peer's reserve.
        self.limiter.note_completed(now, node, from.ip());
        self.install(now, (path, from), p.claim, p.keys)?;
        // Answer so the initiator stops confirming.
        self.send_keepalive(now, node);
        self.handle_frame(now, node, plain.get(..n).unwrap_or_default())
    }

    /// One authenticated frame from `node`.
    fn handle_frame(&mut self, now: Instant, node: NodeId, plain: &[u8]) -> Result<(), PeerFault> {
        let frame = Frame::decode(plain).map_err(PeerFault::BadFrame)?;
        let message = match frame {
            Frame::Keepalive => return Ok(()),
            Frame::Whole(bytes) => Some(bytes.to_vec()),
            Frame::Fragment {
                msg_id,
                index,
                count,
                chunk,
            } => {
                let deadline = after(now, self.config.reassembly_timeout).unwrap_or(now);
                self.reassembly
                    .insert(deadline, node, msg_id, index, count, chunk)?
            }
        };
        if let Some(peer) = self.peers.get_mut(&node) {
            peer.owe_keepalive = true;
        }
        if let Some(bytes) = message {
            self.push_event(MeshEvent::Message { node, bytes });
        }
        Ok(())
    }
}
