//! The small value types of NIP-01: ids, keys, signatures, times and kinds. Newtypes, never
//! aliases, so an id can never be passed where a key is expected.

use core::fmt;
use core::str::FromStr;

use super::hex::{self, HexError};

macro_rules! hex_newtype {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Byte length of the value.
            pub const LEN: usize = $len;

            /// Parses exactly `2 * LEN` lowercase hex characters.
            pub fn from_hex(s: &str) -> Result<Self, HexError> {
                hex::decode_array::<$len>(s).map(Self)
            }

            /// The lowercase hex form.
            #[must_use]
            pub fn to_hex(&self) -> String {
                hex::encode(&self.0)
            }

            /// The raw bytes.
            #[must_use]
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                Self::from_hex(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_newtype!(
    /// An event id: SHA-256 of the event's NIP-01 canonical serialization.
    EventId,
    32
);
hex_newtype!(
    /// A BIP-340 x-only public key: a Nostr identity (the `pubkey` of an event, an npub).
    PubKey,
    32
);
hex_newtype!(
    /// A 64-byte BIP-340 Schnorr signature over an event id.
    Signature,
    64
);

/// Seconds since the Unix epoch, as in `created_at`. The core never reads a clock: callers pass
/// the time in.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The seconds as an integer.
    #[must_use]
    pub fn secs(self) -> u64 {
        self.0
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An event kind, 0–65 535 (NIP-01; DECISIONS.md 5). See [`super::kinds`] for the classes.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Kind(pub u16);

impl Kind {
    /// The kind number.
    #[must_use]
    pub fn as_u16(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_newtypes_round_trip_and_refuse_uppercase() {
        let hex = "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d";
        let pk: PubKey = hex.parse().expect("valid hex");
        assert_eq!(pk.to_hex(), hex);
        assert_eq!(format!("{pk}"), hex);
        assert!(PubKey::from_hex(&hex.to_uppercase()).is_err());
        assert!(EventId::from_hex(&hex[..62]).is_err());
        assert!(
            Signature::from_hex(hex).is_err(),
            "a signature is 128 hex chars"
        );
        let json = serde_json::to_string(&pk).expect("serializes");
        assert_eq!(json, format!("\"{hex}\""));
        let back: PubKey = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, pk);
    }
}
