//! `-s/--ssl`: TLS on the API (P+1, HTTPS) and the websocket relay (P+2, WSS) with the owner's
//! certificate (DECISIONS.md 11). Without it, a web client served over https cannot reach a LAN
//! node (mixed content).
//!
//! This module only loads the certificate chain and key (PEM, as Let's Encrypt's
//! `fullchain.pem`/`privkey.pem` or mkcert write them) into a rustls server config. The
//! handshake itself runs in each connection's task on the loop thread (tokio-rustls), after
//! admission and within [`TLS_HANDSHAKE_TIMEOUT`]: no extra thread, and a client that stalls
//! its handshake holds its admission slot no longer than that.
//!
//! Not the mesh's TLS fallback (`daemon::tls`): that one signs with a throwaway Ed25519 key
//! and offers one cipher suite; this one must sign with what certificate authorities issue
//! (ECDSA P-256/P-384, RSA, also Ed25519) and speak what browsers, curl and Python offer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, SecureRandom, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// A TLS handshake on P+1 or P+2 must finish within this after admission, or the connection
/// is closed. A LAN client completes one in milliseconds; a slow board signing with RSA-2048
/// in well under a second.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest certificate chain or key file read: a Let's Encrypt `fullchain.pem` is ≈ 3–6 KB,
/// an RSA-4096 key ≈ 3.3 KB. Bounds what a mistaken path (a disk image) makes us read.
const PEM_FILE_MAX: u64 = 256 * 1024;

/// Why the certificate or key could not be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("--ssl: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--ssl: {path} is larger than {PEM_FILE_MAX} bytes: not a PEM certificate or key")]
    TooLarge { path: PathBuf },
    #[error("--ssl: {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("--ssl: {path} holds no PEM private key (PKCS#8, SEC1 EC or PKCS#1 RSA)")]
    NoKey { path: PathBuf },
    #[error("--ssl: {path}: not valid PEM: {detail}")]
    Pem { path: PathBuf, detail: String },
    #[error("--ssl: the key in {key} cannot be used with the certificate in {cert}: {source}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The acceptor for P+1 and P+2 from the certificate chain at `cert` and the key at `key`.
/// `random` is rustls' randomness (server randoms, session tickets): it must be unpredictable to
/// the network, so it cannot be derived from the node seed; the daemon passes the OS's.
pub fn acceptor(
    cert: &Path,
    key: &Path,
    random: &'static dyn SecureRandom,
) -> Result<TlsAcceptor, TlsFileError> {
    let chain = read_pem(cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(cert, e))?;
    if chain.is_empty() {
        return Err(TlsFileError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let key_pem = read_pem(key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsFileError::NoKey {
            path: key.to_owned(),
        },
        e => pem_error(key, e),
    })?;
    let mismatch = |source| TlsFileError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    };
    let config = ServerConfig::builder_with_provider(Arc::new(provider(random)))
        .with_safe_default_protocol_versions()
        .map_err(mismatch)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(mismatch)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// ring's provider, cut to what clients need from a LAN server: ChaCha20-Poly1305 and
/// AES-128-GCM (every current browser, curl and Python offer one of them; TLS 1.3 and 1.2),
/// X25519 and P-256 key exchange, and keys that sign with ECDSA P-256/P-384, RSA or Ed25519.
/// Built field by field, not from `ring::default_provider()`: naming that links every suite,
/// group and verifier ring has, whatever is overridden.
fn provider(random: &'static dyn SecureRandom) -> CryptoProvider {
    use ring::cipher_suite as cs;
    CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        kx_groups: vec![ring::kx_group::X25519, ring::kx_group::SECP256R1],
        // No client certificates are asked for, so nothing is verified.
        signature_verification_algorithms: rustls::crypto::WebPkiSupportedAlgorithms {
            all: &[],
            mapping: &[],
        },
        secure_random: random,
        key_provider: &CertificateKeys,
    }
}

/// The keys certificate authorities issue certificates for: ECDSA P-256/P-384, RSA (PKCS#1
/// or PKCS#8), Ed25519.
#[derive(Debug)]
struct CertificateKeys;

impl rustls::crypto::KeyProvider for CertificateKeys {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        ring::sign::any_supported_type(&key_der)
    }
}

/// The file's bytes, bounded by [`PEM_FILE_MAX`].
fn read_pem(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    use std::io::Read;
    let read = |source| TlsFileError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    file.take(PEM_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > PEM_FILE_MAX {
        return Err(TlsFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

fn pem_error(path: &Path, e: rustls::pki_types::pem::Error) -> TlsFileError {
    TlsFileError::Pem {
        path: path.to_owned(),
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These tests fail before any TLS work, so no randomness is ever asked for.
    #[derive(Debug)]
    struct NoRandom;

    impl SecureRandom for NoRandom {
        fn fill(&self, _: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
            Err(rustls::crypto::GetRandomFailed)
        }
    }

    #[test]
    fn missing_empty_and_garbage_files_name_their_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (
            dir.path().join("fullchain.pem"),
            dir.path().join("privkey.pem"),
        );
        let err = acceptor(&cert, &key, &NoRandom).err().expect("missing");
        assert!(matches!(err, TlsFileError::Read { .. }), "{err}");
        assert!(err.to_string().contains("fullchain.pem"), "{err}");
        std::fs::write(&cert, b"not pem\n").expect("write");
        let err = acceptor(&cert, &key, &NoRandom).err().expect("garbage");
        assert!(matches!(err, TlsFileError::NoCertificate { .. }), "{err}");
        std::fs::write(&cert, vec![b'x'; PEM_FILE_MAX as usize + 1]).expect("write");
        let err = acceptor(&cert, &key, &NoRandom).err().expect("large");
        assert!(matches!(err, TlsFileError::TooLarge { .. }), "{err}");
    }
}
