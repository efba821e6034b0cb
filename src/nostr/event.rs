//! NIP-01 events: parsing with limits, the canonical serialization, the id and its signature.
//!
//! Parsing is liberal where NIP-01 allows it (any field order, any JSON escape, unknown fields)
//! and strict where identity is at stake (lowercase hex of exact length, integer `created_at`,
//! kinds 0–65 535). The id is always recomputed from the parsed values with the canonical
//! serializer; the original bytes are not kept: re-served events are canonical (DECISIONS.md 6).

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::hex::HexError;
use super::keys::{self, KeyError, Keys};
use super::limits::{self, MAX_TAG_FIELD_BYTES, MAX_TAG_FIELDS, MAX_TAGS};
use super::types::{EventId, Kind, PubKey, Signature, UnixTime};

/// Why an event was refused. `Display` is the text after `invalid: ` in a NIP-01 `OK`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed event JSON: {0}")]
    Malformed(String),
    #[error("bad {field}: {source}")]
    BadHex {
        field: &'static str,
        #[source]
        source: HexError,
    },
    #[error("kind {0} out of range (0-65535)")]
    KindOutOfRange(u64),
    #[error("{count} tags, over the limit of {limit}")]
    TooManyTags { count: usize, limit: usize },
    #[error("tag {index} has {fields} fields, over the limit of {limit}")]
    TagTooWide {
        index: usize,
        fields: usize,
        limit: usize,
    },
    #[error("tag {index} has a field of {len} bytes, over the limit of {limit}")]
    TagFieldTooLong {
        index: usize,
        len: usize,
        limit: usize,
    },
    #[error("id does not match the event hash (claimed {claimed}, computed {computed})")]
    IdMismatch { claimed: EventId, computed: EventId },
    #[error("pubkey is not a valid BIP-340 key")]
    InvalidPublicKey,
    #[error("signature is wrong")]
    BadSignature,
}

/// One tag: an array of strings, `[name, value, …]`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Tag(pub Vec<String>);

impl Tag {
    /// Builds a tag from its fields.
    pub fn new<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(fields.into_iter().map(Into::into).collect())
    }

    /// The tag name (field 0), if any.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.field(0)
    }

    /// The first value (field 1), the one NIP-01 indexes for single-letter tags.
    #[must_use]
    pub fn value(&self) -> Option<&str> {
        self.field(1)
    }

    /// Field `i`, if present.
    #[must_use]
    pub fn field(&self, i: usize) -> Option<&str> {
        self.0.get(i).map(String::as_str)
    }

    /// The fields.
    #[must_use]
    pub fn fields(&self) -> &[String] {
        &self.0
    }
}

/// A signed Nostr event. Construct it by [`Event::from_json`] (then [`Event::verify`]) or by
/// [`UnsignedEvent::sign`]; its fields are public for reading, and an event whose fields were
/// changed fails `verify`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Event {
    pub id: EventId,
    pub pubkey: PubKey,
    pub created_at: UnixTime,
    pub kind: Kind,
    pub tags: Vec<Tag>,
    pub content: String,
    pub sig: Signature,
}

/// The wire shape, validated into [`Event`] by [`Event::from_raw`]. Hex fields stay strings so
/// that their errors are typed rather than serde's prose.
#[derive(serde::Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    pubkey: Cow<'a, str>,
    created_at: u64,
    kind: u64,
    tags: Vec<Tag>,
    content: String,
    #[serde(borrow)]
    sig: Cow<'a, str>,
}

impl Event {
    /// Parses event JSON and checks its shape and limits. Does not check the id or signature:
    /// call [`Event::verify`] (the network path looks up the seen set in between).
    pub fn from_json(bytes: &[u8]) -> Result<Self, EventError> {
        if bytes.len() > limits::MAX_LIST_EVENT_JSON {
            return Err(EventError::TooLarge {
                size: bytes.len(),
                limit: limits::MAX_LIST_EVENT_JSON,
            });
        }
        let raw: RawEvent<'_> =
            serde_json::from_slice(bytes).map_err(|e| EventError::Malformed(e.to_string()))?;
        let event = Self::from_raw(raw)?;
        let limit = limits::max_event_json(event.kind.0);
        if bytes.len() > limit {
            return Err(EventError::TooLarge {
                size: bytes.len(),
                limit,
            });
        }
        Ok(event)
    }

    fn from_raw(raw: RawEvent<'_>) -> Result<Self, EventError> {
        let hex = |field, s: &str| -> Result<[u8; 32], EventError> {
            super::hex::decode_array::<32>(s).map_err(|source| EventError::BadHex { field, source })
        };
        let kind = u16::try_from(raw.kind).map_err(|_| EventError::KindOutOfRange(raw.kind))?;
        check_tags(&raw.tags)?;
        Ok(Self {
            id: EventId(hex("id", &raw.id)?),
            pubkey: PubKey(hex("pubkey", &raw.pubkey)?),
            created_at: UnixTime(raw.created_at),
            kind: Kind(kind),
            tags: raw.tags,
            content: raw.content,
            sig: Signature::from_hex(&raw.sig).map_err(|source| EventError::BadHex {
                field: "sig",
                source,
            })?,
        })
    }

    /// The id computed from the event's fields (SHA-256 of the canonical serialization).
    #[must_use]
    pub fn compute_id(&self) -> EventId {
        compute_id(
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        )
    }

    /// Checks that the id is the hash of the fields.
    pub fn verify_id(&self) -> Result<(), EventError> {
        let computed = self.compute_id();
        if computed == self.id {
            Ok(())
        } else {
            Err(EventError::IdMismatch {
                claimed: self.id,
                computed,
            })
        }
    }

    /// Checks the id and then the BIP-340 signature over it: everything a relay must check
    /// before storing or forwarding an event.
    pub fn verify(&self) -> Result<(), EventError> {
        self.verify_id()?;
        keys::verify(&self.pubkey, &self.id.0, &self.sig).map_err(|e| match e {
            KeyError::InvalidPublicKey => EventError::InvalidPublicKey,
            KeyError::BadSignature | KeyError::InvalidSecretKey => EventError::BadSignature,
        })
    }

    /// The event as NIP-01 JSON, fields in the usual order, strings escaped canonically.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(256 + self.content.len());
        out.extend_from_slice(b"{\"id\":\"");
        out.extend_from_slice(self.id.to_hex().as_bytes());
        out.extend_from_slice(b"\",\"pubkey\":\"");
        out.extend_from_slice(self.pubkey.to_hex().as_bytes());
        out.extend_from_slice(b"\",\"created_at\":");
        out.extend_from_slice(self.created_at.0.to_string().as_bytes());
        out.extend_from_slice(b",\"kind\":");
        out.extend_from_slice(self.kind.0.to_string().as_bytes());
        out.extend_from_slice(b",\"tags\":");
        write_tags(&mut out, &self.tags);
        out.extend_from_slice(b",\"content\":");
        write_json_string(&mut out, &self.content);
        out.extend_from_slice(b",\"sig\":\"");
        out.extend_from_slice(self.sig.to_hex().as_bytes());
        out.extend_from_slice(b"\"}");
        String::from_utf8(out).expect("built from UTF-8 strings and ASCII")
    }

    /// Tags whose name is `name`.
    pub fn tags_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Tag> + 'a {
        self.tags.iter().filter(move |t| t.name() == Some(name))
    }

    /// The first value of the first tag named `name`.
    #[must_use]
    pub fn first_tag_value<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.tags_named(name).find_map(Tag::value)
    }
}

impl serde::Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Event", 7)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("pubkey", &self.pubkey)?;
        st.serialize_field("created_at", &self.created_at)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("tags", &self.tags)?;
        st.serialize_field("content", &self.content)?;
        st.serialize_field("sig", &self.sig)?;
        st.end()
    }
}

impl<'de> serde::Deserialize<'de> for Event {
    /// Shape and limits as [`Event::from_json`], except the byte-size limit, which only the
    /// caller holding the bytes can check.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawEvent::deserialize(d)?;
        Self::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

fn check_tags(tags: &[Tag]) -> Result<(), EventError> {
    if tags.len() > MAX_TAGS {
        return Err(EventError::TooManyTags {
            count: tags.len(),
            limit: MAX_TAGS,
        });
    }
    for (index, tag) in tags.iter().enumerate() {
        if tag.0.len() > MAX_TAG_FIELDS {
            return Err(EventError::TagTooWide {
                index,
                fields: tag.0.len(),
                limit: MAX_TAG_FIELDS,
            });
        }
        if let Some(len) = tag
            .0
            .iter()
            .map(String::len)
            .find(|&l| l > MAX_TAG_FIELD_BYTES)
        {
            return Err(EventError::TagFieldTooLong {
                index,
                len,
                limit: MAX_TAG_FIELD_BYTES,
            });
        }
    }
    Ok(())
}

/// An event before signing; [`UnsignedEvent::sign`] computes the id and signs it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnsignedEvent {
    pub pubkey: PubKey,
    pub created_at: UnixTime,
    pub kind: Kind,
    pub tags: Vec<Tag>,
    pub content: String,
}

impl UnsignedEvent {
    /// An event by `keys` with the given fields.
    #[must_use]
    pub fn new(
        keys: &Keys,
        created_at: UnixTime,
        kind: Kind,
        tags: Vec<Tag>,
        content: &str,
    ) -> Self {
        Self {
            pubkey: keys.public(),
            created_at,
            kind,
            tags,
            content: content.to_owned(),
        }
    }

    /// The id this event will have.
    #[must_use]
    pub fn id(&self) -> EventId {
        compute_id(
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        )
    }

    /// Signs with `keys` and the BIP-340 auxiliary randomness `aux_rand`. Refuses keys that are
    /// not the event's `pubkey`, and events over the limits (so that what we sign, peers accept).
    pub fn sign(self, keys: &Keys, aux_rand: &[u8; 32]) -> Result<Event, EventError> {
        if keys.public() != self.pubkey {
            return Err(EventError::BadSignature);
        }
        check_tags(&self.tags)?;
        let id = self.id();
        let event = Event {
            id,
            pubkey: self.pubkey,
            created_at: self.created_at,
            kind: self.kind,
            tags: self.tags,
            content: self.content,
            sig: keys.sign(&id.0, aux_rand),
        };
        let size = event.to_json().len();
        let limit = limits::max_event_json(event.kind.0);
        if size > limit {
            return Err(EventError::TooLarge { size, limit });
        }
        Ok(event)
    }
}

/// Writes NIP-01's canonical serialization `[0,<pubkey>,<created_at>,<kind>,<tags>,<content>]`.
pub fn write_canonical(
    out: &mut Vec<u8>,
    pubkey: &PubKey,
    created_at: UnixTime,
    kind: Kind,
    tags: &[Tag],
    content: &str,
) {
    out.extend_from_slice(b"[0,\"");
    super::hex::encode_into(&pubkey.0, &mut HexSink(out));
    out.extend_from_slice(b"\",");
    out.extend_from_slice(created_at.0.to_string().as_bytes());
    out.push(b',');
    out.extend_from_slice(kind.0.to_string().as_bytes());
    out.push(b',');
    write_tags(out, tags);
    out.push(b',');
    write_json_string(out, content);
    out.push(b']');
}

/// The NIP-01 id of the given fields: SHA-256 of [`write_canonical`]'s output.
#[must_use]
pub fn compute_id(
    pubkey: &PubKey,
    created_at: UnixTime,
    kind: Kind,
    tags: &[Tag],
    content: &str,
) -> EventId {
    let mut buf = Vec::with_capacity(128 + content.len() + 64 * tags.len());
    write_canonical(&mut buf, pubkey, created_at, kind, tags, content);
    EventId(Sha256::digest(&buf).into())
}

/// Lets [`super::hex::encode_into`] write straight into a byte buffer.
struct HexSink<'a>(&'a mut Vec<u8>);

impl super::hex::HexOut for HexSink<'_> {
    fn push_ascii(&mut self, c: u8) {
        self.0.push(c);
    }
}

fn write_tags(out: &mut Vec<u8>, tags: &[Tag]) {
    out.push(b'[');
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        for (j, field) in tag.0.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_json_string(out, field);
        }
        out.push(b']');
    }
    out.push(b']');
}

/// Writes `s` as a JSON string with NIP-01's escaping: `\n \" \\ \r \t \b \f` by name, other
/// control characters below 0x20 as `\u00xx` (lowercase hex, as `JSON.stringify` does), and
/// everything else, `/`, DEL and non-ASCII included, verbatim.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        // Multi-byte UTF-8 sequences never contain bytes below 0x80, so splitting here is
        // always on a character boundary.
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(super::hex::digit(b >> 4));
            out.push(super::hex::digit(b & 0x0f));
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
mod tests;
