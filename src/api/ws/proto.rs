//! NIP-01 (and NIP-45 `COUNT`) messages on the websocket: decoding what a client sends into a
//! typed [`ClientMessage`] or a typed [`ProtoError`], and rendering what the relay sends.
//!
//! Decoding never panics and allocates at most a bounded multiple of the frame (the frame cap
//! is the websocket's `max_message_size`; `serde_json` stops nesting at 128 levels). An event is
//! only parsed here; its id and signature are checked by `Node::submit`.

use serde_json::Value;

use crate::nostr::filter::{Filter, FilterError};
use crate::nostr::{Event, EventError};

/// Longest subscription id (NIP-01: "an arbitrary, non-empty string of max length 64 chars").
pub const MAX_SUB_ID_CHARS: usize = 64;

/// Most filters in one `REQ` or `COUNT`. Real clients send one to four; each filter is one
/// more store scan per request and one more match per live event.
pub const MAX_FILTERS: usize = 10;

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// `["EVENT", <event>]`: parsed, not yet verified.
    Event(Box<Event>),
    /// `["REQ", <subid>, <filter>…]`.
    Req {
        sub_id: String,
        filters: Vec<Filter>,
    },
    /// `["COUNT", <queryid>, <filter>…]` (NIP-45).
    Count {
        sub_id: String,
        filters: Vec<Filter>,
    },
    /// `["CLOSE", <subid>]`.
    Close { sub_id: String },
}

/// Why a client message was refused, and so which reply it gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// Not JSON (or nested too deep): `NOTICE`.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// JSON, but not an array whose first item is a string: `NOTICE`.
    #[error("a message must be a JSON array starting with a type string")]
    NotAMessage,
    /// A type we do not serve (`AUTH`, `NEG-OPEN`, anything else): `NOTICE`.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A known type with the wrong number or types of items: `NOTICE`.
    #[error("{kind}: {what}")]
    BadShape {
        kind: &'static str,
        what: &'static str,
    },
    /// The subscription id is not a string of 1 to 64 characters: `NOTICE` (a `CLOSED` needs a
    /// usable id).
    #[error("subscription id must be a string of 1 to {MAX_SUB_ID_CHARS} characters")]
    BadSubId,
    /// An event that does not parse. `id` is the claimed id when the event carries one as a
    /// string, so the reply can be `OK false "invalid: …"`; otherwise `NOTICE`.
    #[error("invalid: {error}")]
    BadEvent {
        id: Option<String>,
        error: EventError,
    },
    /// A filter that does not parse: `CLOSED <sub_id> "error: …"`.
    #[error("invalid filter: {error}")]
    BadFilter {
        sub_id: String,
        count: bool,
        error: FilterError,
    },
    /// More than [`MAX_FILTERS`] filters, or none: `CLOSED <sub_id> "…"`.
    #[error("a request takes 1 to {MAX_FILTERS} filters, this one has {given}")]
    FilterCount {
        sub_id: String,
        count: bool,
        given: usize,
    },
}

impl ClientMessage {
    /// Decodes one text frame.
    pub fn decode(text: &str) -> Result<Self, ProtoError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ProtoError::Malformed(e.to_string()))?;
        let Value::Array(items) = value else {
            return Err(ProtoError::NotAMessage);
        };
        let mut items = items.into_iter();
        let Some(Value::String(kind)) = items.next() else {
            return Err(ProtoError::NotAMessage);
        };
        match kind.as_str() {
            "EVENT" => decode_event(items),
            "REQ" => {
                let (sub_id, filters) = decode_request(items, false)?;
                Ok(Self::Req { sub_id, filters })
            }
            "COUNT" => {
                let (sub_id, filters) = decode_request(items, true)?;
                Ok(Self::Count { sub_id, filters })
            }
            "CLOSE" => {
                let sub_id = sub_id(items.next())?;
                if items.next().is_some() {
                    return Err(ProtoError::BadShape {
                        kind: "CLOSE",
                        what: "expected [\"CLOSE\", <subscription id>]",
                    });
                }
                Ok(Self::Close { sub_id })
            }
            _ => Err(ProtoError::UnknownType(kind.chars().take(32).collect())),
        }
    }
}

fn decode_event(mut items: std::vec::IntoIter<Value>) -> Result<ClientMessage, ProtoError> {
    let (Some(event), None) = (items.next(), items.next()) else {
        return Err(ProtoError::BadShape {
            kind: "EVENT",
            what: "expected [\"EVENT\", <event object>]",
        });
    };
    if !event.is_object() {
        return Err(ProtoError::BadShape {
            kind: "EVENT",
            what: "the event must be a JSON object",
        });
    }
    let id = event
        .get("id")
        .and_then(Value::as_str)
        .map(|s| s.chars().take(64).collect::<String>());
    // The event is parsed (and measured against its size limit) from its compact JSON: the
    // frame is already parsed once, and `Event::from_json` owns the shape rules.
    let bytes = serde_json::to_vec(&event).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    Event::from_json(&bytes)
        .map(|e| ClientMessage::Event(Box::new(e)))
        .map_err(|error| ProtoError::BadEvent { id, error })
}

fn decode_request(
    mut items: std::vec::IntoIter<Value>,
    count: bool,
) -> Result<(String, Vec<Filter>), ProtoError> {
    let sub_id = sub_id(items.next())?;
    let given = items.len();
    if given == 0 || given > MAX_FILTERS {
        return Err(ProtoError::FilterCount {
            sub_id,
            count,
            given,
        });
    }
    let mut filters = Vec::with_capacity(given);
    for value in items {
        match Filter::from_value(&value) {
            Ok(f) => filters.push(f),
            Err(error) => {
                return Err(ProtoError::BadFilter {
                    sub_id,
                    count,
                    error,
                });
            }
        }
    }
    Ok((sub_id, filters))
}

fn sub_id(value: Option<Value>) -> Result<String, ProtoError> {
    match value {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_SUB_ID_CHARS => Ok(s),
        _ => Err(ProtoError::BadSubId),
    }
}

/// `["EVENT", <subid>, <event json>]`; `event_json` is already canonical JSON.
#[must_use]
pub fn event(sub_id: &str, event_json: &str) -> String {
    let mut out = String::with_capacity(event_json.len() + sub_id.len() + 16);
    out.push_str("[\"EVENT\",");
    out.push_str(&json_string(sub_id));
    out.push(',');
    out.push_str(event_json);
    out.push(']');
    out
}

/// `["OK", <id>, <accepted>, <message>]`.
#[must_use]
pub fn ok(id: &str, accepted: bool, message: &str) -> String {
    Value::Array(vec![
        "OK".into(),
        id.into(),
        accepted.into(),
        message.into(),
    ])
    .to_string()
}

/// `["EOSE", <subid>]`.
#[must_use]
pub fn eose(sub_id: &str) -> String {
    Value::Array(vec!["EOSE".into(), sub_id.into()]).to_string()
}

/// `["CLOSED", <subid>, <message>]`.
#[must_use]
pub fn closed(sub_id: &str, message: &str) -> String {
    Value::Array(vec!["CLOSED".into(), sub_id.into(), message.into()]).to_string()
}

/// `["NOTICE", <message>]`.
#[must_use]
pub fn notice(message: &str) -> String {
    Value::Array(vec!["NOTICE".into(), message.into()]).to_string()
}

/// `["COUNT", <queryid>, {"count": <n>}]` (NIP-45; exact counts, so no `approximate`).
#[must_use]
pub fn count(sub_id: &str, n: u64) -> String {
    Value::Array(vec![
        "COUNT".into(),
        sub_id.into(),
        serde_json::json!({ "count": n }),
    ])
    .to_string()
}

fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_each_message_type() {
        assert_eq!(
            ClientMessage::decode(r#"["CLOSE","s1"]"#),
            Ok(ClientMessage::Close {
                sub_id: "s1".into()
            })
        );
        let Ok(ClientMessage::Req { sub_id, filters }) =
            ClientMessage::decode(r#"["REQ","a",{"kinds":[1],"limit":3},{"since":5}]"#)
        else {
            panic!("REQ did not decode");
        };
        assert_eq!((sub_id.as_str(), filters.len()), ("a", 2));
        assert!(matches!(
            ClientMessage::decode(r#"["COUNT","q",{}]"#),
            Ok(ClientMessage::Count { .. })
        ));
    }

    #[test]
    fn refusals_are_typed() {
        assert!(matches!(
            ClientMessage::decode("[\"REQ\""),
            Err(ProtoError::Malformed(_))
        ));
        assert_eq!(ClientMessage::decode("{}"), Err(ProtoError::NotAMessage));
        assert_eq!(
            ClientMessage::decode(r#"["AUTH","x"]"#),
            Err(ProtoError::UnknownType("AUTH".into()))
        );
        assert_eq!(
            ClientMessage::decode(r#"["REQ","",{}]"#),
            Err(ProtoError::BadSubId)
        );
        let long = "x".repeat(65);
        assert_eq!(
            ClientMessage::decode(&format!(r#"["REQ","{long}",{{}}]"#)),
            Err(ProtoError::BadSubId)
        );
        assert!(matches!(
            ClientMessage::decode(r#"["REQ","a"]"#),
            Err(ProtoError::FilterCount { given: 0, .. })
        ));
        let eleven = ["{}"; 11].join(",");
        assert!(matches!(
            ClientMessage::decode(&format!(r#"["REQ","a",{eleven}]"#)),
            Err(ProtoError::FilterCount { given: 11, .. })
        ));
        assert!(matches!(
            ClientMessage::decode(r#"["REQ","a",{"ids":["zz"]}]"#),
            Err(ProtoError::BadFilter { .. })
        ));
        assert!(matches!(
            ClientMessage::decode(r#"["EVENT",{"id":"abc","kind":1}]"#),
            Err(ProtoError::BadEvent { id: Some(_), .. })
        ));
        assert!(matches!(
            ClientMessage::decode(r#"["EVENT",{"kind":1}]"#),
            Err(ProtoError::BadEvent { id: None, .. })
        ));
        assert!(matches!(
            ClientMessage::decode(r#"["EVENT",1]"#),
            Err(ProtoError::BadShape { .. })
        ));
    }

    #[test]
    fn renders_nip01_replies() {
        assert_eq!(ok("ab", true, ""), r#"["OK","ab",true,""]"#);
        assert_eq!(eose("s\"1"), r#"["EOSE","s\"1"]"#);
        assert_eq!(closed("s", "error: x"), r#"["CLOSED","s","error: x"]"#);
        assert_eq!(notice("error: y"), r#"["NOTICE","error: y"]"#);
        assert_eq!(count("q", 7), r#"["COUNT","q",{"count":7}]"#);
        assert_eq!(event("s", "{}"), r#"["EVENT","s",{}]"#);
    }

    /// Arbitrary JSON values, a few levels deep.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-zA-Z#0-9 ]{0,12}".prop_map(Value::from),
            prop_oneof![Just("EVENT"), Just("REQ"), Just("COUNT"), Just("CLOSE")]
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z#]{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Messages that start like real ones, with arbitrary items after the type.
    fn message() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                Just("EVENT"),
                Just("REQ"),
                Just("COUNT"),
                Just("CLOSE"),
                Just("X")
            ],
            prop::collection::vec(json(), 0..5),
        )
            .prop_map(|(kind, rest)| {
                let mut items = vec![Value::from(kind)];
                items.extend(rest);
                Value::Array(items).to_string()
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = ClientMessage::decode(&text);
        }

        #[test]
        fn arbitrary_messages_decode_or_refuse_by_type(text in message()) {
            match ClientMessage::decode(&text) {
                Ok(ClientMessage::Req { filters, sub_id } | ClientMessage::Count { filters, sub_id }) => {
                    prop_assert!(!filters.is_empty() && filters.len() <= MAX_FILTERS);
                    prop_assert!(!sub_id.is_empty());
                }
                Ok(_) => {}
                Err(ProtoError::Malformed(_)) => prop_assert!(false, "valid JSON called malformed"),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn deep_nesting_is_refused_not_overflowed(depth in 100usize..2_000) {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let r = ClientMessage::decode(&text);
            prop_assert!(r.is_err());
        }
    }
}
