//! BIP-340 keys, signatures and verification on `secp256k1`.
//!
//! Pure functions: nothing here draws randomness. Key generation takes 32 bytes that the caller
//! drew (the daemon and `genkey` from the OS RNG, tests from a seed); signing takes the BIP-340
//! auxiliary randomness as an argument.

use secp256k1::{Keypair, XOnlyPublicKey, schnorr};

use super::types::{PubKey, Signature};

/// Why a key or signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("secret key is zero or not below the curve order")]
    InvalidSecretKey,
    #[error("public key is not the x coordinate of a curve point")]
    InvalidPublicKey,
    #[error("signature does not verify")]
    BadSignature,
}

/// A secp256k1 key pair that signs Nostr events and node announcements.
#[derive(Clone)]
pub struct Keys {
    pair: Keypair,
    public: PubKey,
}

impl Keys {
    /// Builds the key pair of a 32-byte secret. Fails for zero and values ≥ the curve order
    /// (probability ≈ 2⁻¹²⁸ for random bytes: callers drawing fresh bytes simply draw again).
    pub fn from_secret_bytes(secret: [u8; 32]) -> Result<Self, KeyError> {
        let pair = Keypair::from_secret_bytes(secret).map_err(|_| KeyError::InvalidSecretKey)?;
        let (xonly, _parity) = pair.x_only_public_key();
        Ok(Self {
            pair,
            public: PubKey(xonly.to_byte_array()),
        })
    }

    /// Draws secrets from `fill` until one is a valid scalar.
    pub fn generate(mut fill: impl FnMut(&mut [u8; 32])) -> Self {
        loop {
            let mut secret = [0u8; 32];
            fill(&mut secret);
            if let Ok(keys) = Self::from_secret_bytes(secret) {
                return keys;
            }
        }
    }

    /// The x-only public key.
    #[must_use]
    pub fn public(&self) -> PubKey {
        self.public
    }

    /// The 32 secret bytes (for `owner.key`, `node.key` and nsec encoding only).
    #[must_use]
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.pair.to_secret_bytes()
    }

    /// BIP-340 signature over a 32-byte message (an event id) with the given auxiliary randomness.
    #[must_use]
    pub fn sign(&self, msg: &[u8; 32], aux_rand: &[u8; 32]) -> Signature {
        self.sign_bytes(msg, aux_rand)
    }

    /// BIP-340 signature over a message of any length (BIP-340 vectors 15–18 use 0, 1, 17 and 100
    /// bytes; events always sign their 32-byte id).
    #[must_use]
    pub fn sign_bytes(&self, msg: &[u8], aux_rand: &[u8; 32]) -> Signature {
        Signature(schnorr::sign_with_aux_rand(msg, &self.pair, aux_rand).to_byte_array())
    }
}

impl core::fmt::Debug for Keys {
    /// Never prints the secret.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keys")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Checks that `public` is a valid x-only key (a point on the curve).
pub fn check_public_key(public: &PubKey) -> Result<(), KeyError> {
    XOnlyPublicKey::from_byte_array(public.0)
        .map(|_| ())
        .map_err(|_| KeyError::InvalidPublicKey)
}

/// Verifies a BIP-340 signature of `msg` by `public`.
pub fn verify(public: &PubKey, msg: &[u8], sig: &Signature) -> Result<(), KeyError> {
    let key = XOnlyPublicKey::from_byte_array(public.0).map_err(|_| KeyError::InvalidPublicKey)?;
    schnorr::verify(&schnorr::Signature::from_byte_array(sig.0), msg, &key)
        .map_err(|_| KeyError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_tamper() {
        let keys = Keys::from_secret_bytes([7u8; 32]).expect("7s are a valid scalar");
        let msg = [42u8; 32];
        let sig = keys.sign(&msg, &[0u8; 32]);
        assert_eq!(verify(&keys.public(), &msg, &sig), Ok(()));
        let mut other = msg;
        other[0] ^= 1;
        assert_eq!(
            verify(&keys.public(), &other, &sig),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn refuses_zero_secret_and_generate_retries() {
        assert_eq!(
            Keys::from_secret_bytes([0u8; 32]).err(),
            Some(KeyError::InvalidSecretKey)
        );
        let mut calls = 0;
        let keys = Keys::generate(|b| {
            calls += 1;
            *b = if calls == 1 { [0u8; 32] } else { [9u8; 32] };
        });
        assert_eq!(calls, 2);
        assert_eq!(keys.secret_bytes(), [9u8; 32]);
    }
}
