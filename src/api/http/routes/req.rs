//! `POST /req`: upstream NostrP2P's query (notes/upstream.md §3.3-3.5), answered with its
//! MessagePack `{"Evts": [...]}` from [`crate::nostr::upstream`].
//!
//! Dispatch on `kinds`, first match wins, as upstream: 40000 → the recent events
//! ([`crate::store::recent`]), signed, ascending; 1 → the event `ids[0]` (400 `Ids and Authors
//! are needed` without `ids` and `authors`), `Sig` nil; 0 / 3 → the profile / follow list of
//! `authors[0]`, `Sig` nil. Differences on purpose (docs/api.md): any other kind list is
//! answered from the store as a NIP-01 filter over `ids`, `authors`, `kinds`, `since`, `until`,
//! `limit` (signed, ascending; upstream answers nothing), only an empty `kinds` gets the empty
//! list; kinds 0/3 without `authors` are 400 (upstream crashes); a body of the wrong types is
//! 400 (upstream reads zeros); misses do not yet ask the mesh.

use std::collections::BTreeSet;

use crate::node::Node;
use crate::nostr::filter::Filter;
use crate::nostr::upstream::{UpstreamEvent, encode_evts};
use crate::nostr::{Event, EventId, Kind, PubKey, UnixTime, kinds};
use crate::store::recent::recent_events;
use crate::store::{EventStore, StateStore, StoreError};

use super::super::reply::{OCTETS, Reply};

/// upstream's request body (`Np2pReqForREST`): unknown keys (`#x`, `search`) are ignored,
/// `null` is absent, and integers are Go's: `since`, `until`, `limit` may be negative.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct UpstreamFilter {
    pub ids: Option<Vec<String>>,
    pub authors: Option<Vec<String>>,
    pub kinds: Option<Vec<i64>>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: Option<i64>,
}

/// Why a `/req` body was refused (400 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReqError {
    #[error("malformed request JSON: {0}")]
    Malformed(String),
    #[error("Ids and Authors are needed")]
    IdsAndAuthorsNeeded,
    #[error("Authors are needed")]
    AuthorsNeeded,
    #[error("{field}[{index}] must be 64 lowercase hex characters")]
    BadHex { field: &'static str, index: usize },
}

impl UpstreamFilter {
    /// Parses a `/req` body.
    pub fn from_json(body: &[u8]) -> Result<Self, ReqError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ReqError::Malformed(e.to_string()))?;
        if !value.is_object() {
            return Err(ReqError::Malformed(
                "a filter must be a JSON object".to_owned(),
            ));
        }
        serde_json::from_value(value).map_err(|e| ReqError::Malformed(e.to_string()))
    }

    fn has_kind(&self, kind: Kind) -> bool {
        self.kinds
            .as_ref()
            .is_some_and(|ks| ks.contains(&i64::from(kind.0)))
    }
}

/// Handles one `/req` body.
pub fn handle<S: EventStore + StateStore>(node: &Node<S>, body: &[u8]) -> Reply {
    let answer = UpstreamFilter::from_json(body).map(|f| query(node, &f));
    match answer {
        Ok(Ok((events, sig))) => {
            let items: Vec<UpstreamEvent<'_>> = events
                .iter()
                .map(|e| {
                    if sig {
                        UpstreamEvent::signed(e)
                    } else {
                        UpstreamEvent::unsigned(e)
                    }
                })
                .collect();
            Reply::new(200, OCTETS, encode_evts(&items))
        }
        Ok(Err(Failure::Bad(e))) | Err(e) => Reply::error(400, &e.to_string()),
        Ok(Err(Failure::Store(e))) => Reply::error(500, &format!("error: {e}")),
    }
}

enum Failure {
    Bad(ReqError),
    Store(StoreError),
}

impl From<ReqError> for Failure {
    fn from(e: ReqError) -> Self {
        Self::Bad(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The events of the answer and whether they carry their signatures.
fn query<S: EventStore + StateStore>(
    node: &Node<S>,
    f: &UpstreamFilter,
) -> Result<(Vec<Event>, bool), Failure> {
    if f.has_kind(kinds::RECENT_EVENTS) {
        let events = recent_events(
            node.store(),
            f.since.unwrap_or(0),
            f.until.unwrap_or(0),
            f.limit.unwrap_or(0),
        )?;
        return Ok((events, true));
    }
    if f.has_kind(kinds::TEXT_NOTE) {
        let (Some(id), Some(_author)) = (
            f.ids.as_ref().and_then(|v| v.first()),
            f.authors.as_ref().and_then(|v| v.first()),
        ) else {
            return Err(ReqError::IdsAndAuthorsNeeded.into());
        };
        let id = EventId::from_hex(id).map_err(|_| ReqError::BadHex {
            field: "ids",
            index: 0,
        })?;
        let found = node.store().get(&id)?;
        return Ok((found.into_iter().collect(), false));
    }
    for kind in [kinds::METADATA, kinds::FOLLOW_LIST] {
        if f.has_kind(kind) {
            let author = f
                .authors
                .as_ref()
                .and_then(|v| v.first())
                .ok_or(ReqError::AuthorsNeeded)?;
            let author = PubKey::from_hex(author).map_err(|_| ReqError::BadHex {
                field: "authors",
                index: 0,
            })?;
            let filter = Filter {
                kinds: Some(BTreeSet::from([kind])),
                authors: Some(BTreeSet::from([author])),
                limit: Some(1),
                ..Filter::default()
            };
            return Ok((node.query(std::slice::from_ref(&filter))?, false));
        }
    }
    let Some(filter) = nip01_filter(f)? else {
        return Ok((Vec::new(), true));
    };
    let mut events = node.query(std::slice::from_ref(&filter))?;
    events.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok((events, true))
}

/// The NIP-01 filter for kinds upstream does not route; `None` when `kinds` names nothing
/// (upstream's empty answer). Empty `ids`/`authors` are Go's nil slices: no constraint.
fn nip01_filter(f: &UpstreamFilter) -> Result<Option<Filter>, ReqError> {
    let kinds: BTreeSet<Kind> = f
        .kinds
        .iter()
        .flatten()
        .filter_map(|&k| u16::try_from(k).ok().map(Kind))
        .collect();
    if kinds.is_empty() {
        return Ok(None);
    }
    let ids = hex_set(f.ids.as_deref(), "ids", EventId::from_hex)?;
    let authors = hex_set(f.authors.as_deref(), "authors", PubKey::from_hex)?;
    let positive = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).filter(|&v| v > 0);
    Ok(Some(Filter {
        ids,
        authors,
        kinds: Some(kinds),
        since: positive(f.since).map(UnixTime),
        until: positive(f.until).map(UnixTime),
        limit: positive(f.limit),
        ..Filter::default()
    }))
}

fn hex_set<T: Ord, E>(
    values: Option<&[String]>,
    field: &'static str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<BTreeSet<T>>, ReqError> {
    match values {
        None | Some([]) => Ok(None),
        Some(values) => values
            .iter()
            .enumerate()
            .map(|(index, v)| parse(v).map_err(|_| ReqError::BadHex { field, index }))
            .collect::<Result<BTreeSet<T>, _>>()
            .map(Some),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_upstream_shapes() {
        let f = UpstreamFilter::from_json(
            br##"{"kinds":[40000],"since":-1,"until":-1,"limit":300,"#p":["x"],"search":1}"##,
        )
        .expect("client's first poll");
        assert_eq!(f.kinds, Some(vec![40_000]));
        assert_eq!((f.since, f.until, f.limit), (Some(-1), Some(-1), Some(300)));
        let f = UpstreamFilter::from_json(br#"{"kinds":null,"ids":null}"#).expect("nulls");
        assert_eq!(f, UpstreamFilter::default());
        for bad in [
            &b"["[..],
            b"[]",
            b"{\"kinds\":1}",
            b"{\"since\":1.5}",
            b"{\"ids\":[1]}",
        ] {
            assert!(matches!(
                UpstreamFilter::from_json(bad),
                Err(ReqError::Malformed(_))
            ));
        }
    }

    #[test]
    fn other_kinds_become_a_nip01_filter() {
        let f = UpstreamFilter {
            kinds: Some(vec![6, 70_000, -1]),
            since: Some(-5),
            until: Some(0),
            limit: Some(10),
            ids: Some(Vec::new()),
            ..UpstreamFilter::default()
        };
        let filter = nip01_filter(&f).expect("valid").expect("some kinds");
        assert_eq!(filter.kinds, Some(BTreeSet::from([Kind(6)])));
        assert_eq!(
            (filter.since, filter.until, filter.limit),
            (None, None, Some(10))
        );
        assert_eq!(filter.ids, None);
        let none = UpstreamFilter {
            kinds: Some(vec![70_000]),
            ..UpstreamFilter::default()
        };
        assert_eq!(nip01_filter(&none), Ok(None));
        let bad = UpstreamFilter {
            kinds: Some(vec![6]),
            authors: Some(vec!["zz".to_owned()]),
            ..UpstreamFilter::default()
        };
        assert_eq!(
            nip01_filter(&bad),
            Err(ReqError::BadHex {
                field: "authors",
                index: 0
            })
        );
    }

    proptest! {
        #[test]
        fn decoder_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(f) = UpstreamFilter::from_json(&body) {
                let _ = nip01_filter(&f);
            }
        }

        #[test]
        fn json_shaped_inputs_never_panic(
            kinds in proptest::collection::vec(any::<i64>(), 0..5),
            since in any::<i64>(), until in any::<i64>(), limit in any::<i64>(),
            ids in proptest::collection::vec("[0-9a-f]{0,66}", 0..3),
        ) {
            let body = serde_json::json!({
                "kinds": kinds, "since": since, "until": until, "limit": limit,
                "ids": ids, "authors": ids,
            }).to_string();
            let f = UpstreamFilter::from_json(body.as_bytes());
            prop_assert!(f.is_ok());
            if let Ok(f) = f {
                let _ = nip01_filter(&f);
            }
        }
    }
}
