//! WireGuard's anti-DoS MACs adapted to IX (whitepaper §5.4.4, §5.4.7):
//!
//! - `mac1` = keyed BLAKE2s-128 over the initiation, keyed by a hash of the network id. IX has
//!   no responder key known in advance (WireGuard keys `mac1` by it), so `mac1` proves only that
//!   the sender speaks this network; it is checked before any state, DH or signature check.
//! - Under load, `mac2` = keyed BLAKE2s-128 over the initiation, keyed by a *cookie*:
//!   BLAKE2s-128 of the source address under a secret that rotates every
//!   [`COOKIE_ROTATION`]. A cookie reaches only whoever receives
//!   at that address, so a spoofed flood gets cookie replies and no DH.
//! - The cookie travels in a 48-byte cookie reply, sealed with ChaCha20-Poly1305 under a
//!   network-derived key with the initiation's `mac1` as associated data: only the initiator who
//!   sent that initiation (`mac1` covers its fresh ephemeral key) can accept it.

use core::net::{IpAddr, SocketAddr};
use std::time::Instant;

use blake2::Blake2sMac;
use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, KeyInit, Update};
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use sha2::{Digest, Sha256};
use snow::params::CipherChoice;
use snow::resolvers::{CryptoResolver, DefaultResolver};

use super::limits::{COOKIE_ROTATION, MAC_LEN, TAG_LEN};

/// The network id of the public nostrp2p mesh. Nodes with another id (tests, labs, private
/// meshes; `MeshConfig::network_id`) cannot even get a cookie reply from it.
pub const DEFAULT_NETWORK_ID: &str = "nostrp2p/mainnet/v1";

const LABEL_MAC1: &[u8] = b"nostrp2p/mac1/v1";
const LABEL_COOKIE: &[u8] = b"nostrp2p/cookie/v1";
const LABEL_PROLOGUE: &[u8] = b"nostrp2p/prologue/v1";

/// A 128-bit MAC or cookie.
pub type Mac = [u8; MAC_LEN];

/// Keys derived once from the network id.
#[derive(Clone)]
pub struct NetworkKeys {
    /// Keys `mac1`: SHA-256(`"nostrp2p/mac1/v1"` ‖ network id).
    mac1: [u8; 32],
    /// Seals cookie replies: SHA-256(`"nostrp2p/cookie/v1"` ‖ network id).
    cookie_seal: [u8; 32],
    /// The Noise prologue: SHA-256(`"nostrp2p/prologue/v1"` ‖ network id), so a handshake
    /// across networks fails even where `mac1` were skipped.
    pub prologue: [u8; 32],
}

impl NetworkKeys {
    /// Derives the keys of a network id.
    #[must_use]
    pub fn new(network_id: &str) -> Self {
        let derive = |label: &[u8]| -> [u8; 32] {
            Sha256::new()
                .chain_update(label)
                .chain_update(network_id.as_bytes())
                .finalize()
                .into()
        };
        Self {
            mac1: derive(LABEL_MAC1),
            cookie_seal: derive(LABEL_COOKIE),
            prologue: derive(LABEL_PROLOGUE),
        }
    }

    /// `mac1` over the bytes before it.
    #[must_use]
    pub fn mac1(&self, covered: &[u8]) -> Mac {
        keyed_mac(&self.mac1, &[covered]).unwrap_or([0; MAC_LEN])
    }

    /// Whether `mac1` is right, in constant time.
    #[must_use]
    pub fn check_mac1(&self, covered: &[u8], mac1: &Mac) -> bool {
        keyed_mac(&self.mac1, &[covered]).is_some_and(|m| ct_eq(&m, mac1))
    }

    /// Seals `cookie` for the initiation whose `mac1` is given; `nonce` goes in the header.
    #[must_use]
    pub fn seal_cookie(
        &self,
        nonce: u64,
        mac1: &Mac,
        cookie: &Mac,
    ) -> Option<[u8; MAC_LEN + TAG_LEN]> {
        let mut cipher = DefaultResolver.resolve_cipher(&CipherChoice::ChaChaPoly)?;
        cipher.set(&self.cookie_seal);
        let mut out = [0u8; MAC_LEN + TAG_LEN];
        let n = cipher.encrypt(nonce, mac1, cookie, &mut out);
        (n == out.len()).then_some(out)
    }

    /// Opens a cookie reply's sealed cookie; `None` when it was not made for our `mac1`.
    #[must_use]
    pub fn open_cookie(&self, nonce: u64, mac1: &Mac, sealed: &[u8]) -> Option<Mac> {
        if sealed.len() != MAC_LEN + TAG_LEN {
            return None;
        }
        let mut cipher = DefaultResolver.resolve_cipher(&CipherChoice::ChaChaPoly)?;
        cipher.set(&self.cookie_seal);
        let mut out = [0u8; MAC_LEN];
        let n = cipher.decrypt(nonce, mac1, sealed, &mut out).ok()?;
        (n == MAC_LEN).then_some(out)
    }
}

/// `mac2` over the bytes before it (given in parts: the initiation up to `mac1`, then `mac1`),
/// keyed by a cookie.
#[must_use]
pub fn mac2(cookie: &Mac, parts: &[&[u8]]) -> Option<Mac> {
    keyed_mac(cookie, parts)
}

/// Whether `mac2` is right for `cookie`, in constant time.
#[must_use]
pub fn check_mac2(cookie: &Mac, covered: &[u8], mac2: &Mac) -> bool {
    keyed_mac(cookie, &[covered]).is_some_and(|m| ct_eq(&m, mac2))
}

/// The responder's rotating cookie secret.
pub struct CookieSecret {
    secret: [u8; 32],
    /// When `secret` was drawn; `None` until first needed.
    born: Option<Instant>,
}

impl CookieSecret {
    /// A secret drawn at first use.
    #[must_use]
    pub fn new() -> Self {
        Self {
            secret: [0; 32],
            born: None,
        }
    }

    /// The cookie of a source address: BLAKE2s-128 keyed by the current secret over the IP
    /// (IPv4 as 4 bytes, IPv6 as 16) and the port (big-endian). Rotates the secret when due.
    pub fn cookie(&mut self, now: Instant, rng: &mut ChaCha20Rng, from: SocketAddr) -> Mac {
        let due = self
            .born
            .is_none_or(|born| now.saturating_duration_since(born) >= COOKIE_ROTATION);
        if due {
            rng.fill_bytes(&mut self.secret);
            self.born = Some(now);
        }
        let port = from.port().to_be_bytes();
        let mac = match from.ip() {
            IpAddr::V4(ip) => keyed_mac(&self.secret, &[&ip.octets(), &port]),
            IpAddr::V6(ip) => keyed_mac(&self.secret, &[&ip.octets(), &port]),
        };
        mac.unwrap_or([0; MAC_LEN])
    }
}

impl Default for CookieSecret {
    fn default() -> Self {
        Self::new()
    }
}

/// Keyed BLAKE2s with a 16-byte output (BLAKE2's own keyed mode, not HMAC). `None` only for a
/// key over 32 bytes, which no caller passes.
fn keyed_mac(key: &[u8], parts: &[&[u8]]) -> Option<Mac> {
    let mut mac = <Blake2sMac<U16> as KeyInit>::new_from_slice(key).ok()?;
    for part in parts {
        Update::update(&mut mac, part);
    }
    Some(mac.finalize_fixed().into())
}

/// Constant-time equality of two MACs: no early exit on the first differing byte.
#[must_use]
pub fn ct_eq(a: &Mac, b: &Mac) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use rand_core::SeedableRng;

    use super::*;

    #[test]
    fn mac1_depends_on_the_network_and_every_byte() {
        let main = NetworkKeys::new(DEFAULT_NETWORK_ID);
        let lab = NetworkKeys::new("lab");
        let msg = [7u8; 200];
        let m = main.mac1(&msg);
        assert!(main.check_mac1(&msg, &m));
        assert!(!lab.check_mac1(&msg, &m));
        let mut flipped = msg;
        flipped[199] ^= 1;
        assert!(!main.check_mac1(&flipped, &m));
    }

    #[test]
    fn cookie_reply_opens_only_for_its_mac1() {
        let keys = NetworkKeys::new(DEFAULT_NETWORK_ID);
        let mac1 = [1u8; MAC_LEN];
        let cookie = [2u8; MAC_LEN];
        let sealed = keys
            .seal_cookie(9, &mac1, &cookie)
            .expect("chacha is compiled in");
        assert_eq!(keys.open_cookie(9, &mac1, &sealed), Some(cookie));
        assert_eq!(keys.open_cookie(9, &[3u8; MAC_LEN], &sealed), None);
        assert_eq!(keys.open_cookie(10, &mac1, &sealed), None);
        assert_eq!(keys.open_cookie(9, &mac1, &sealed[..31]), None);
    }

    #[test]
    fn cookies_bind_the_source_and_rotate() {
        let t0 = crate::mesh::tests::epoch();
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        let mut secret = CookieSecret::new();
        let a: SocketAddr = "192.0.2.1:1000".parse().expect("literal");
        let b: SocketAddr = "192.0.2.1:1001".parse().expect("literal");
        let ca = secret.cookie(t0, &mut rng, a);
        assert_eq!(secret.cookie(t0 + COOKIE_ROTATION / 2, &mut rng, a), ca);
        assert_ne!(secret.cookie(t0, &mut rng, b), ca);
        assert_ne!(secret.cookie(t0 + COOKIE_ROTATION, &mut rng, a), ca);
        let msg = [9u8; 100];
        let m2 = mac2(&ca, &[&msg[..40], &msg[40..]]).expect("16-byte key");
        assert!(check_mac2(&ca, &msg, &m2));
        assert!(!check_mac2(&[0; MAC_LEN], &msg, &m2));
    }
}
