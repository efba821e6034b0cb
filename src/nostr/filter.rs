//! NIP-01 filters: parsing from client JSON with typed errors and bounds, matching an event,
//! and serializing back.
//!
//! Semantics, exactly (NIP-01, notes/nostr.md §1):
//! - OR inside a list, AND across fields, several filters OR'ed ([`matches_any`]).
//! - A **present empty list matches nothing.** NIP-01 says lists carry "one or more values", so
//!   `[]` is outside the spec; of the readings in use (strfry, nostr-rs-relay and nostream match
//!   nothing; some libraries drop the field and match everything; nips#523 proposes "has no such
//!   tag") we take the literal one: an OR of no alternatives is false. It is not an error,
//!   because clients do send `[]` (strfry stopped refusing it after breaking clients).
//! - `since <= created_at <= until`, both inclusive.
//! - `ids`, `authors`, `#e` and `#p` hold exact 64-char lowercase hex; prefixes are gone from
//!   NIP-01, and uppercase would give one id two spellings. Other tag values are any string.
//! - `#x` matches an event with a tag named exactly `x` whose **first** value is in the set
//!   (NIP-01 indexes only that one). Letters are case-sensitive: `#t` and `#T` differ.
//!
//! Parsing choices where NIP-01 is loose, each for a reason given at the item:
//! - unknown keys without `#` (`search`, extensions) are ignored, as NIP-01 relays do;
//! - a `#` key that is not `#` plus one ASCII letter is an error (ignoring it would silently
//!   widen the answer: a client must get what it asked for or a refusal);
//! - `null` for any known key means the key is absent (Go clients send nil slices as `null`);
//! - kinds above 65 535 are dropped from `kinds`: no event can have them (DECISIONS.md 5), so
//!   dropping keeps the meaning, `[70000]` still matching nothing;
//! - a negative `since` is 0 (every event passes it); a negative `until` or `limit` is an error;
//! - a repeated key: the last one counts, as in `JSON.parse` and `serde_json::Value`.
//!
//! Callers bound the input bytes (the websocket frame cap, the `/req` body cap); inside that the
//! constants below bound each list, so a filter's memory and matching cost are bounded too.
//! `limit` is carried, not applied: the store picks the newest `limit` events.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::event::{Event, Tag};
use super::hex::HexError;
use super::limits::MAX_TAG_FIELD_BYTES;
use super::types::{EventId, Kind, PubKey, UnixTime};

/// Most values in one list (`ids`, `authors`, `kinds`, each `#x`). A thousand covers the large
/// real requests (a follow list's authors, a thread's ids); strfry and nostr-rs-relay cap in
/// the same range.
pub const MAX_LIST_ITEMS: usize = 1_000;

/// Most `#x` keys in one filter. Each is one more AND over the event's tags; real filters use
/// one or two (`#e`, `#p`, `#t`, `#d`, `#k`).
pub const MAX_TAG_KEYS: usize = 16;

/// Longest tag filter value, in bytes: an event cannot carry a longer tag field
/// ([`MAX_TAG_FIELD_BYTES`]), so a longer value could never match.
pub const MAX_TAG_VALUE_BYTES: usize = MAX_TAG_FIELD_BYTES;

/// A filter field, to say where an error is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    /// `ids`.
    Ids,
    /// `authors`.
    Authors,
    /// `kinds`.
    Kinds,
    /// The `#x` key of this letter.
    Tag(char),
    /// `since`.
    Since,
    /// `until`.
    Until,
    /// `limit`.
    Limit,
}

impl core::fmt::Display for Field {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Ids => f.write_str("ids"),
            Self::Authors => f.write_str("authors"),
            Self::Kinds => f.write_str("kinds"),
            Self::Tag(c) => write!(f, "#{c}"),
            Self::Since => f.write_str("since"),
            Self::Until => f.write_str("until"),
            Self::Limit => f.write_str("limit"),
        }
    }
}

/// Why a client's filter was refused. The client is at fault in every case; `Display` is the
/// text after `invalid: ` in a `CLOSED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Not JSON, or nested deeper than the parser allows.
    #[error("malformed filter JSON: {0}")]
    Malformed(String),
    /// The filter is an array, string, number, boolean or `null`.
    #[error("a filter must be a JSON object")]
    NotAnObject,
    /// A list field holds something other than an array.
    #[error("{field} must be an array")]
    NotAnArray { field: Field },
    /// An item of `ids`, `authors` or `#x` is not a string.
    #[error("{field}[{index}] must be a string")]
    NotAString { field: Field, index: usize },
    /// An item of `ids`, `authors`, `#e` or `#p` is not exact lowercase hex of 32 bytes.
    #[error("{field}[{index}] must be 64 lowercase hex characters: {source}")]
    BadHex {
        field: Field,
        index: usize,
        #[source]
        source: HexError,
    },
    /// An item of `kinds` is negative, fractional or not a number.
    #[error("kinds[{index}] must be a non-negative integer")]
    BadKind { index: usize },
    /// `since`, `until` or `limit` is not an integer, or (`until`, `limit`) is negative.
    #[error("{field} must be a non-negative integer")]
    NotAnInteger { field: Field },
    /// A list holds more than [`MAX_LIST_ITEMS`] values.
    #[error("{field} has {count} values, over the limit of {limit}")]
    TooManyValues {
        field: Field,
        count: usize,
        limit: usize,
    },
    /// More than [`MAX_TAG_KEYS`] `#x` keys.
    #[error("{count} tag filters, over the limit of {limit}")]
    TooManyTagKeys { count: usize, limit: usize },
    /// A key starts with `#` but is not `#` and one ASCII letter (`key` is cut to 64 chars).
    #[error("{key:?} is not a tag filter: expected '#' and one letter a-z or A-Z")]
    BadTagKey { key: String },
    /// A tag value is longer than [`MAX_TAG_VALUE_BYTES`].
    #[error("{field}[{index}] is {len} bytes, over the limit of {limit}")]
    ValueTooLong {
        field: Field,
        index: usize,
        len: usize,
        limit: usize,
    },
}

/// A NIP-01 filter. `None` means the field is absent (no constraint); `Some` of an empty set
/// matches nothing (see the module doc). A key absent from `tags` is no constraint; a key
/// present with an empty set matches nothing.
///
/// Parsing ([`Filter::from_json`], [`Filter::from_value`], `Deserialize`) enforces the bounds
/// and the hex rules; a filter built field by field in code is trusted as it is.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Filter {
    /// Event ids, exact.
    pub ids: Option<BTreeSet<EventId>>,
    /// Event authors, exact.
    pub authors: Option<BTreeSet<PubKey>>,
    /// Event kinds.
    pub kinds: Option<BTreeSet<Kind>>,
    /// `#x` filters: letter → accepted first values of tags named `x`.
    pub tags: BTreeMap<char, BTreeSet<String>>,
    /// Lower bound on `created_at`, inclusive.
    pub since: Option<UnixTime>,
    /// Upper bound on `created_at`, inclusive.
    pub until: Option<UnixTime>,
    /// Most events the initial query returns (the newest); applied by the store, not here.
    pub limit: Option<u64>,
}

impl Filter {
    /// Parses a filter from JSON bytes. Syntax errors and nesting beyond `serde_json`'s
    /// recursion limit are [`FilterError::Malformed`]; everything else is a typed variant.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FilterError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| FilterError::Malformed(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Validates a parsed JSON value (for callers that parsed a whole `REQ` array first).
    /// Keys are checked in the map's order (sorted, with `serde_json`'s default features), so
    /// the error reported for a given input is always the same.
    pub fn from_value(value: &Value) -> Result<Self, FilterError> {
        let Value::Object(map) = value else {
            return Err(FilterError::NotAnObject);
        };
        let tag_keys = map.keys().filter(|k| k.starts_with('#')).count();
        if tag_keys > MAX_TAG_KEYS {
            return Err(FilterError::TooManyTagKeys {
                count: tag_keys,
                limit: MAX_TAG_KEYS,
            });
        }
        let mut filter = Self::default();
        for (key, v) in map {
            if v.is_null() {
                // A `null` (a Go client's nil slice) means "no constraint". A `#` key must
                // still be well formed, or the same typo would be refused only sometimes.
                if key.starts_with('#') {
                    tag_letter(key)?;
                }
                continue;
            }
            match key.as_str() {
                "ids" => filter.ids = Some(hex_list(Field::Ids, v, EventId::from_hex)?),
                "authors" => {
                    filter.authors = Some(hex_list(Field::Authors, v, PubKey::from_hex)?);
                }
                "kinds" => filter.kinds = Some(kinds(v)?),
                "since" => {
                    // Every created_at is >= 0, so a negative since admits everything: 0.
                    let since = integer(Field::Since, v, true)?;
                    filter.since = Some(UnixTime(since));
                }
                "until" => filter.until = Some(UnixTime(integer(Field::Until, v, false)?)),
                "limit" => filter.limit = Some(integer(Field::Limit, v, false)?),
                _ if key.starts_with('#') => {
                    let letter = tag_letter(key)?;
                    filter.tags.insert(letter, tag_values(letter, v)?);
                }
                // Unknown keys (NIP-50 `search`, extensions) carry no NIP-01 meaning here.
                _ => {}
            }
        }
        Ok(filter)
    }

    /// The filter as NIP-01 JSON (fields in the order `ids`, `authors`, `kinds`, `#x` by
    /// letter, `since`, `until`, `limit`; absent fields left out).
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a filter holds only strings and integers")
    }

    /// Whether `event` passes every constraint of the filter. Cheap checks (kind, time, author,
    /// id) run before the tag scan.
    #[must_use]
    pub fn matches(&self, event: &Event) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&event.kind))
            && self.since.is_none_or(|s| event.created_at >= s)
            && self.until.is_none_or(|u| event.created_at <= u)
            && self
                .authors
                .as_ref()
                .is_none_or(|a| a.contains(&event.pubkey))
            && self.ids.as_ref().is_none_or(|i| i.contains(&event.id))
            && self.tags.iter().all(|(&letter, values)| {
                event
                    .tags
                    .iter()
                    .any(|t| is_named(t, letter) && t.value().is_some_and(|v| values.contains(v)))
            })
    }

    /// Whether any event at all could match: `false` when a list is present but empty or
    /// `since > until`. Lets a caller answer such a query with EOSE alone, without a scan.
    #[must_use]
    pub fn can_match(&self) -> bool {
        let time_ok = match (self.since, self.until) {
            (Some(s), Some(u)) => s <= u,
            _ => true,
        };
        time_ok
            && self.ids.as_ref().is_none_or(|s| !s.is_empty())
            && self.authors.as_ref().is_none_or(|s| !s.is_empty())
            && self.kinds.as_ref().is_none_or(|s| !s.is_empty())
            && self.tags.values().all(|s| !s.is_empty())
    }
}

/// Whether `event` matches at least one of `filters` (the filters of one `REQ` are OR'ed). No
/// filters match nothing.
#[must_use]
pub fn matches_any(filters: &[Filter], event: &Event) -> bool {
    filters.iter().any(|f| f.matches(event))
}

impl serde::Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if let Some(ids) = &self.ids {
            m.serialize_entry("ids", ids)?;
        }
        if let Some(authors) = &self.authors {
            m.serialize_entry("authors", authors)?;
        }
        if let Some(kinds) = &self.kinds {
            m.serialize_entry("kinds", kinds)?;
        }
        for (letter, values) in &self.tags {
            m.serialize_entry(&format!("#{letter}"), values)?;
        }
        if let Some(since) = &self.since {
            m.serialize_entry("since", since)?;
        }
        if let Some(until) = &self.until {
            m.serialize_entry("until", until)?;
        }
        if let Some(limit) = &self.limit {
            m.serialize_entry("limit", limit)?;
        }
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for Filter {
    /// As [`Filter::from_value`], the typed error flattened into the deserializer's message.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Self::from_value(&value).map_err(serde::de::Error::custom)
    }
}

/// Whether `tag` is named exactly `letter` (a one-character name).
fn is_named(tag: &Tag, letter: char) -> bool {
    tag.name().is_some_and(|name| {
        let mut chars = name.chars();
        chars.next() == Some(letter) && chars.next().is_none()
    })
}

/// The letter of a `#x` key; only ASCII letters, since NIP-01 indexes single-letter tags
/// a–z and A–Z.
fn tag_letter(key: &str) -> Result<char, FilterError> {
    let mut chars = key.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some('#'), Some(c), None) if c.is_ascii_alphabetic() => Ok(c),
        _ => Err(FilterError::BadTagKey {
            key: key.chars().take(64).collect(),
        }),
    }
}

/// The items of a list field, after the array and count checks.
fn list(field: Field, v: &Value) -> Result<&[Value], FilterError> {
    let Value::Array(items) = v else {
        return Err(FilterError::NotAnArray { field });
    };
    if items.len() > MAX_LIST_ITEMS {
        return Err(FilterError::TooManyValues {
            field,
            count: items.len(),
            limit: MAX_LIST_ITEMS,
        });
    }
    Ok(items)
}

/// A list of strings, each checked by `check` (which may reject it).
fn strings<T: Ord>(
    field: Field,
    v: &Value,
    mut check: impl FnMut(usize, &str) -> Result<T, FilterError>,
) -> Result<BTreeSet<T>, FilterError> {
    list(field, v)?
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(s) => check(index, s),
            _ => Err(FilterError::NotAString { field, index }),
        })
        .collect()
}

/// A list of 32-byte values in exact lowercase hex.
fn hex_list<T: Ord>(
    field: Field,
    v: &Value,
    parse: impl Fn(&str) -> Result<T, HexError>,
) -> Result<BTreeSet<T>, FilterError> {
    strings(field, v, |index, s| {
        parse(s).map_err(|source| FilterError::BadHex {
            field,
            index,
            source,
        })
    })
}

/// The values of `#letter`: hex-checked for `e` and `p` (they hold ids and keys), otherwise
/// any string up to [`MAX_TAG_VALUE_BYTES`]. Kept as strings: they are compared with tag
/// values, which are strings.
fn tag_values(letter: char, v: &Value) -> Result<BTreeSet<String>, FilterError> {
    let field = Field::Tag(letter);
    let hex = matches!(letter, 'e' | 'p');
    strings(field, v, |index, s| {
        if hex {
            super::hex::decode_array::<32>(s).map_err(|source| FilterError::BadHex {
                field,
                index,
                source,
            })?;
        } else if s.len() > MAX_TAG_VALUE_BYTES {
            return Err(FilterError::ValueTooLong {
                field,
                index,
                len: s.len(),
                limit: MAX_TAG_VALUE_BYTES,
            });
        }
        Ok(s.to_owned())
    })
}

/// The `kinds` list: non-negative integers; those above 65 535 are dropped (no event has them).
fn kinds(v: &Value) -> Result<BTreeSet<Kind>, FilterError> {
    let mut out = BTreeSet::new();
    for (index, item) in list(Field::Kinds, v)?.iter().enumerate() {
        let n = item.as_u64().ok_or(FilterError::BadKind { index })?;
        if let Ok(k) = u16::try_from(n) {
            out.insert(Kind(k));
        }
    }
    Ok(out)
}

/// An integer field. Floats (`1.5`, and `1e3`, which JSON parsers read as a float) and strings
/// are refused; a negative value is 0 when `negative_is_zero`, else refused.
fn integer(field: Field, v: &Value, negative_is_zero: bool) -> Result<u64, FilterError> {
    match (v.as_u64(), v.as_i64()) {
        (Some(n), _) => Ok(n),
        (None, Some(_)) if negative_is_zero => Ok(0),
        _ => Err(FilterError::NotAnInteger { field }),
    }
}

#[cfg(test)]
mod tests;
