//! The Noise IX handshake's ingredients: the node's identity (Noise static key derived from the
//! node key, and the BIP-340 binding between them), and snow builders that draw their
//! randomness from the node's seeded RNG instead of the OS.

use core::cell::Cell;

use hkdf::Hkdf;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use snow::params::{CipherChoice, DHChoice, HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use snow::{Builder, HandshakeState};

use crate::nostr::{Keys, Signature, keys};

use super::super::limits::DH_LEN;
use super::super::wire::NodeId;

/// The one Noise protocol spoken: IX (both static keys in one round trip, so neither side must
/// know the other's key in advance), X25519, ChaCha20-Poly1305, BLAKE2s.
pub const NOISE_PATTERN: &str = "Noise_IX_25519_ChaChaPoly_BLAKE2s";

/// HKDF info deriving the Noise static key from the node secret (ARCHITECTURE.md "Identity").
pub const STATIC_KEY_INFO: &[u8] = b"nostrp2p noise static v1";

/// Domain label of the binding digest.
pub const BINDING_LABEL: &[u8] = b"nostrp2p/noise-binding/v1";

/// The parsed [`NOISE_PATTERN`].
#[must_use]
pub fn noise_params() -> NoiseParams {
    NOISE_PATTERN
        .parse()
        .expect("NOISE_PATTERN names primitives snow supports (tested)")
}

/// What this node proves about itself in every handshake.
pub struct Identity {
    /// Our node key.
    pub node_id: NodeId,
    /// X25519 secret: HKDF-SHA256(node secret, [`STATIC_KEY_INFO`]).
    static_secret: [u8; DH_LEN],
    /// Its public key, sent as IX's `s`.
    pub static_public: [u8; DH_LEN],
    /// BIP-340 by the node key over [`binding_digest`] of `static_public`; signed once.
    pub binding_sig: Signature,
}

impl Identity {
    /// Derives the static key and signs the binding (`aux_rand` is BIP-340's auxiliary
    /// randomness, drawn from the node's RNG).
    #[must_use]
    pub fn new(keys: &Keys, aux_rand: &[u8; 32]) -> Self {
        let static_secret = noise_static_secret(&keys.secret_bytes());
        let static_public = x25519_public(&static_secret);
        let binding_sig = keys.sign_bytes(&binding_digest(&static_public), aux_rand);
        Self {
            node_id: NodeId(keys.public()),
            static_secret,
            static_public,
            binding_sig,
        }
    }

    /// A snow handshake for this identity, seeded with `seed` (one per handshake).
    pub fn handshake(
        &self,
        params: &NoiseParams,
        prologue: &[u8],
        seed: [u8; 32],
        initiator: bool,
    ) -> Result<HandshakeState, snow::Error> {
        let builder = Builder::with_resolver(params.clone(), Box::new(SeededResolver::new(seed)))
            .local_private_key(&self.static_secret)?
            .prologue(prologue)?;
        if initiator {
            builder.build_initiator()
        } else {
            builder.build_responder()
        }
    }
}

/// HKDF-SHA256 of the node secret: the X25519 secret (X25519 clamps it when used).
#[must_use]
pub fn noise_static_secret(node_secret: &[u8; 32]) -> [u8; DH_LEN] {
    let mut out = [0u8; DH_LEN];
    Hkdf::<Sha256>::new(None, node_secret)
        .expand(STATIC_KEY_INFO, &mut out)
        .expect("32 bytes is within HKDF-SHA256's 8160-byte output limit");
    out
}

/// The X25519 public key of a secret, through snow's own curve code.
#[must_use]
pub fn x25519_public(secret: &[u8; DH_LEN]) -> [u8; DH_LEN] {
    let mut dh = DefaultResolver
        .resolve_dh(&DHChoice::Curve25519)
        .expect("snow is built with use-curve25519 (Cargo.toml)");
    dh.set(secret);
    let mut out = [0u8; DH_LEN];
    if let Some(public) = dh.pubkey().get(..DH_LEN) {
        out.copy_from_slice(public);
    }
    out
}

/// SHA-256([`BINDING_LABEL`] ‖ X25519 static public key): what the node key signs.
#[must_use]
pub fn binding_digest(static_public: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(BINDING_LABEL)
        .chain_update(static_public)
        .finalize()
        .into()
}

/// Whether `node_id` signed `static_public` with `sig`.
#[must_use]
pub fn binding_holds(node_id: &NodeId, static_public: &[u8], sig: &Signature) -> bool {
    keys::verify(&node_id.0, &binding_digest(static_public), sig).is_ok()
}

/// Gives snow a fresh ChaCha20 RNG seeded from the node's RNG (one resolver per handshake, so
/// no RNG is shared and none needs a lock), and wraps X25519 so an all-zero shared secret (a
/// low-order public key) fails the handshake; snow itself accepts it.
struct SeededResolver {
    seed: [u8; 32],
    /// Streams handed out: a second `resolve_rng` call gets a different stream, never a copy.
    draws: Cell<u64>,
}

impl SeededResolver {
    fn new(seed: [u8; 32]) -> Self {
        Self {
            seed,
            draws: Cell::new(0),
        }
    }
}

impl CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        let mut rng = ChaCha20Rng::from_seed(self.seed);
        let stream = self.draws.get();
        self.draws.set(stream.wrapping_add(1));
        rng.set_stream(stream);
        Some(Box::new(SnowRng(rng)))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        let inner = DefaultResolver.resolve_dh(choice)?;
        Some(Box::new(NonZeroDh(inner)))
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

struct SnowRng(ChaCha20Rng);

impl Random for SnowRng {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

/// X25519 that refuses an all-zero result (RFC 7748 §6.1's check).
struct NonZeroDh(Box<dyn Dh>);

impl Dh for NonZeroDh {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn pub_len(&self) -> usize {
        self.0.pub_len()
    }
    fn priv_len(&self) -> usize {
        self.0.priv_len()
    }
    fn set(&mut self, privkey: &[u8]) {
        self.0.set(privkey);
    }
    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        self.0.generate(rng)
    }
    fn pubkey(&self) -> &[u8] {
        self.0.pubkey()
    }
    fn privkey(&self) -> &[u8] {
        self.0.privkey()
    }
    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        self.0.dh(pubkey, out)?;
        let len = self.0.dh_len().min(out.len());
        let zero = out.get(..len).is_none_or(|o| o.iter().all(|&b| b == 0));
        if zero {
            return Err(snow::Error::Dh);
        }
        Ok(())
    }
    fn dh_len(&self) -> usize {
        self.0.dh_len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;
    use crate::nostr::PubKey;

    fn keys(b: u8) -> Keys {
        Keys::from_secret_bytes([b; 32]).expect("valid scalar")
    }

    #[test]
    fn pattern_parses() {
        let p = noise_params();
        assert_eq!(p.name, NOISE_PATTERN);
    }

    #[test]
    fn static_key_is_derived_and_bound() {
        let k = keys(7);
        let id = Identity::new(&k, &[0; 32]);
        assert_eq!(
            id.static_public,
            x25519_public(&noise_static_secret(&[7; 32]))
        );
        assert_ne!(
            id.static_public,
            Identity::new(&keys(8), &[0; 32]).static_public
        );
        assert!(binding_holds(
            &id.node_id,
            &id.static_public,
            &id.binding_sig
        ));
        let other = NodeId(keys(8).public());
        assert!(!binding_holds(&other, &id.static_public, &id.binding_sig));
        let mut wrong_static = id.static_public;
        wrong_static[0] ^= 1;
        assert!(!binding_holds(&id.node_id, &wrong_static, &id.binding_sig));
        assert!(!binding_holds(
            &NodeId(PubKey([0xff; 32])),
            &id.static_public,
            &id.binding_sig
        ));
    }

    #[test]
    fn zero_shared_secret_is_refused() {
        let mut dh = SeededResolver::new([1; 32])
            .resolve_dh(&DHChoice::Curve25519)
            .expect("compiled in");
        dh.set(&[3; 32]);
        let mut out = [0u8; 32];
        // The identity point (all zeros) has order 1: the product is zero.
        assert!(matches!(dh.dh(&[0; 32], &mut out), Err(snow::Error::Dh)));
        assert!(dh.dh(&x25519_public(&[4; 32]), &mut out).is_ok());
    }

    #[test]
    fn seeded_handshakes_are_deterministic() {
        let id = Identity::new(&keys(7), &[0; 32]);
        let params = noise_params();
        let msg = |seed| {
            let mut hs = id.handshake(&params, b"p", seed, true).expect("builds");
            let mut out = [0u8; 200];
            let n = hs.write_message(&[], &mut out).expect("writes");
            out[..n].to_vec()
        };
        assert_eq!(msg([1; 32]), msg([1; 32]));
        assert_ne!(msg([1; 32]), msg([2; 32]));
    }
}
