//! Strict lowercase hex, as NIP-01 requires for ids, keys and signatures.

/// Why a hex string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("expected {expected} hex characters, got {got}")]
    Length { expected: usize, got: usize },
    #[error("character {position} is not lowercase hex")]
    Character { position: usize },
}

/// The lowercase hex digit of a nibble (`n < 16`).
pub(crate) fn digit(n: u8) -> u8 {
    if n < 10 { b'0' + n } else { b'a' + (n - 10) }
}

/// Where [`encode_into`] writes: a `String` or a byte buffer.
pub trait HexOut {
    /// Appends one ASCII hex digit.
    fn push_ascii(&mut self, c: u8);
}

impl HexOut for String {
    fn push_ascii(&mut self, c: u8) {
        self.push(char::from(c));
    }
}

/// Appends the lowercase hex of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut impl HexOut) {
    for b in bytes {
        out.push_ascii(digit(b >> 4));
        out.push_ascii(digit(b & 0x0f));
    }
}

/// The lowercase hex of `bytes`.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    encode_into(bytes, &mut s);
    s
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes exactly `N` bytes from `2 * N` lowercase hex characters. Uppercase is refused:
/// NIP-01 fixes lowercase, and accepting both would give one id two spellings.
pub fn decode_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let src = s.as_bytes();
    if src.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            got: src.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, (pair, byte)) in src.chunks_exact(2).zip(out.iter_mut()).enumerate() {
        let (hi, lo) = match pair {
            [hi, lo] => (*hi, *lo),
            _ => unreachable!("chunks_exact(2) yields pairs"),
        };
        let hi = nibble(hi).ok_or(HexError::Character { position: 2 * i })?;
        let lo = nibble(lo).ok_or(HexError::Character {
            position: 2 * i + 1,
        })?;
        *byte = (hi << 4) | lo;
    }
    Ok(out)
}

/// Whether `s` is exactly 64 lowercase hex characters (an id or a key).
#[must_use]
pub fn is_hex32(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| nibble(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = [0x00, 0x01, 0xab, 0xff];
        assert_eq!(encode(&bytes), "0001abff");
        assert_eq!(decode_array::<4>("0001abff"), Ok(bytes));
    }

    #[test]
    fn refuses_uppercase_and_bad_length() {
        assert_eq!(
            decode_array::<2>("00AB"),
            Err(HexError::Character { position: 2 })
        );
        assert_eq!(
            decode_array::<2>("00a"),
            Err(HexError::Length {
                expected: 4,
                got: 3
            })
        );
        assert_eq!(
            decode_array::<1>("g0"),
            Err(HexError::Character { position: 0 })
        );
        assert!(!is_hex32(&"A".repeat(64)));
        assert!(is_hex32(&"a".repeat(64)));
    }
}
