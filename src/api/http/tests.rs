//! The dispatch over a node on the in-memory store: status codes and texts of upstream's
//! routes, CORS, limits, content types, and parking until the commit.

#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use super::*;
use crate::node::WritePolicy;
use crate::nostr::upstream::decode_evts;
use crate::nostr::{Event, Tag};
use crate::ring::RingTier;
use crate::store::Store;
use crate::store::memory::MemoryKv;
use crate::store::tests::{ev, keys};

const NOW: UnixTime = UnixTime(10_000);

fn node(writable: bool) -> Node<Store<MemoryKv>> {
    Node::new(
        Store::open(MemoryKv::new()).unwrap(),
        RingTier::Xs,
        &[3; 32],
        WritePolicy {
            writes_enabled: writable,
            ..WritePolicy::owner_only(keys(1).public())
        },
    )
    .unwrap()
}

fn post(path: &str, body: &[u8]) -> HttpRequest {
    let (mut req, _rx) = HttpRequest::new(Method::Post, path, Body::Bytes(body.to_vec()));
    req.content_type = Some("application/json".to_owned());
    req
}

fn run(n: &mut Node<Store<MemoryKv>>, req: &HttpRequest) -> Option<Reply> {
    match dispatch(n, NOW, req, Some(&serde_json::json!({"threads": 8}))) {
        Dispatched::Now(r) => Some(r),
        Dispatched::AfterCommit => None,
    }
}

fn error_text(r: &Reply) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["Error"].as_str().unwrap().to_owned()
}

fn publish(n: &mut Node<Store<MemoryKv>>, e: &Event) -> Option<Reply> {
    run(n, &post("/publish", e.to_json().as_bytes()))
}

#[test]
fn owner_publish_is_parked_then_served_by_req() {
    let mut n = node(true);
    let e = ev(1, 9_000, 1, vec![], "hello");
    assert_eq!(publish(&mut n, &e), None, "stored: parked until the commit");
    n.commit().unwrap();
    assert_eq!(
        publish(&mut n, &e),
        Some(Reply::success()),
        "duplicate: at once"
    );
    let r = run(&mut n, &post("/req", br#"{"kinds":[40000],"limit":10}"#)).unwrap();
    assert_eq!((r.status, r.content_type), (200, reply::OCTETS));
    let evts = decode_evts(&r.body).unwrap();
    assert_eq!(evts.len(), 1);
    assert_eq!(evts[0].clone().into_event(), Some(e.clone()));
    // kind 1 by id: Sig nil.
    let body = format!(
        r#"{{"kinds":[1],"ids":["{}"],"authors":["{}"]}}"#,
        e.id, e.pubkey
    );
    let r = run(&mut n, &post("/req", body.as_bytes())).unwrap();
    let evts = decode_evts(&r.body).unwrap();
    assert_eq!(evts.len(), 1);
    assert_eq!(evts[0].sig, None);
}

#[test]
fn upstream_status_codes_and_texts() {
    let mut n = node(true);
    let mut bad = ev(1, 9_000, 1, vec![], "hello");
    bad.sig.0[0] ^= 1;
    let r = publish(&mut n, &bad).unwrap();
    assert_eq!((r.status, error_text(&r).as_str()), (400, "Invalid Sig"));
    let mut forged = ev(1, 9_000, 1, vec![], "hello");
    forged.content = "changed".to_owned();
    let r = publish(&mut n, &forged).unwrap();
    assert_eq!((r.status, error_text(&r).as_str()), (400, "Invalid Sig"));

    let r = publish(&mut n, &ev(2, 9_000, 1, vec![], "foreign")).unwrap();
    assert_eq!(r.status, 403);
    assert!(
        error_text(&r).starts_with("restricted: "),
        "{}",
        error_text(&r)
    );

    let r = publish(&mut n, &ev(1, 9_000, 1, vec![], "")).unwrap();
    assert_eq!(
        (r.status, error_text(&r).as_str()),
        (400, "Content is required")
    );
    let mut empty_bad = ev(1, 9_000, 1, vec![], "");
    empty_bad.sig.0[0] ^= 1;
    let r = publish(&mut n, &empty_bad).unwrap();
    assert_eq!(error_text(&r), "Invalid Sig", "signature before kind rules");

    let r = publish(&mut n, &ev(1, 9_000, 7, vec![], "+")).unwrap();
    assert_eq!(r.status, 400);

    let r = run(&mut n, &post("/publish", b"{not json")).unwrap();
    assert_eq!(r.status, 400);

    let mut ro = node(false);
    let r = publish(&mut ro, &bad).unwrap();
    assert_eq!(
        (r.status, error_text(&r).as_str()),
        (406, "Write is denied"),
        "write-deny before the signature, as upstream"
    );

    let r = run(&mut n, &post("/req", br#"{"kinds":[1]}"#)).unwrap();
    assert_eq!(
        (r.status, error_text(&r).as_str()),
        (400, "Ids and Authors are needed")
    );
    let r = run(&mut n, &post("/req", br#"{"kinds":[0]}"#)).unwrap();
    assert_eq!(r.status, 400, "upstream crashes here");
    let r = run(&mut n, &post("/req", br#"{"kinds":[]}"#)).unwrap();
    assert_eq!(r.body, b"\x81\xa4Evts\x90".to_vec());
}

#[test]
fn tags_null_is_empty_tags_except_for_profiles_and_follow_lists() {
    let mut n = node(true);
    for (kind, status) in [(1u16, None), (0, Some(400)), (3, Some(400))] {
        let e = ev(1, 9_000 + u64::from(kind), kind, vec![], "x");
        let json = e.to_json().replace("\"tags\":[]", "\"tags\":null");
        assert!(json.contains("null"));
        let r = run(&mut n, &post("/publish", json.as_bytes()));
        assert_eq!(r.as_ref().map(|r| r.status), status, "kind {kind}");
        if let Some(r) = r {
            assert_eq!(error_text(&r), "Tags is null");
        }
    }
}

#[test]
fn superseded_replaceable_gets_success() {
    let mut n = node(true);
    let newer = ev(1, 9_500, 0, vec![], "{}");
    let older = ev(1, 9_000, 0, vec![], "{\"name\":\"old\"}");
    assert_eq!(publish(&mut n, &newer), None);
    assert_eq!(publish(&mut n, &older), Some(Reply::success()));
}

#[test]
fn limits_methods_cors_and_content_types() {
    let mut n = node(true);
    let (too_big, _rx) =
        HttpRequest::new(Method::Post, "/publish", Body::TooLarge { limit: 262_144 });
    assert_eq!(run(&mut n, &too_big).unwrap().status, 413);
    let mut text = post("/publish", b"{}");
    text.content_type = Some("text/plain".to_owned());
    assert_eq!(run(&mut n, &text).unwrap().status, 415);
    text.content_type = Some("application/json; charset=latin1".to_owned());
    assert_eq!(run(&mut n, &text).unwrap().status, 415);
    let (get, _rx) = HttpRequest::new(Method::Get, "/publish", Body::Bytes(Vec::new()));
    let r = run(&mut n, &get).unwrap();
    assert_eq!(r.status, 405);
    assert!(r.headers.contains(&("Allow", "POST, OPTIONS".to_owned())));
    let (missing, _rx) = HttpRequest::new(Method::Get, "/nope", Body::Bytes(Vec::new()));
    assert_eq!(run(&mut n, &missing).unwrap().status, 404);

    let (mut pre, _rx) = HttpRequest::new(Method::Options, "/req", Body::Bytes(Vec::new()));
    pre.request_headers = Some("content-type".to_owned());
    let r = finish(run(&mut n, &pre).unwrap(), ReplyShape { gzip: true });
    assert_eq!(r.status, 200);
    assert!(!r.gzip, "empty bodies are not compressed");
    pre.origin = Some("https://client.example".to_owned());
    let named = finish(run(&mut n, &pre).unwrap(), ReplyShape { gzip: false });
    let origins: Vec<&String> = named
        .headers
        .iter()
        .filter(|(name, _)| *name == "Access-Control-Allow-Origin")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        origins,
        ["https://client.example"],
        "one origin header, the asking one"
    );
    for (name, value) in [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Private-Network", "true"),
        ("Access-Control-Allow-Methods", "POST, OPTIONS"),
        ("Access-Control-Allow-Headers", "content-type"),
        ("Access-Control-Max-Age", "3600"),
    ] {
        assert!(
            r.headers.contains(&(name, value.to_owned())),
            "{name}: {:?}",
            r.headers
        );
    }

    let (status, _rx) = HttpRequest::new(Method::Get, "/status", Body::Bytes(Vec::new()));
    assert!(status.needs_status());
    let r = finish(run(&mut n, &status).unwrap(), ReplyShape { gzip: false });
    assert_eq!((r.status, r.gzip), (200, false));
    assert_eq!(r.body, b"{\"threads\":8}\n".to_vec());
    let (metrics, _rx) = HttpRequest::new(Method::Get, "/metrics", Body::Bytes(Vec::new()));
    let r = run(&mut n, &metrics).unwrap();
    assert!(
        String::from_utf8(r.body)
            .unwrap()
            .contains("nostrp2p_threads 8\n")
    );
    assert!(!post("/req", b"").needs_status());
}

#[test]
fn json_content_types() {
    for yes in [
        Some("application/json"),
        Some("Application/JSON; charset=UTF-8"),
        Some("application/json;charset=\"utf-8\""),
    ] {
        assert!(is_json(yes), "{yes:?}");
    }
    for no in [
        None,
        Some("text/plain"),
        Some("application/json; charset=iso-8859-1"),
    ] {
        assert!(!is_json(no), "{no:?}");
    }
}

#[test]
fn other_kinds_are_served_signed_and_ascending() {
    let mut n = node(true);
    let a = ev(1, 9_100, 6, vec![Tag::new(["e", &"00".repeat(32)])], "");
    let b = ev(1, 9_000, 6, vec![], "");
    assert_eq!(publish(&mut n, &a), None);
    assert_eq!(publish(&mut n, &b), None);
    n.commit().unwrap();
    let r = run(&mut n, &post("/req", br#"{"kinds":[6]}"#)).unwrap();
    let evts = decode_evts(&r.body).unwrap();
    let times: Vec<u64> = evts.iter().map(|e| e.created_at.0).collect();
    assert_eq!(times, vec![9_000, 9_100]);
    assert!(evts.iter().all(|e| e.sig.is_some()));
}

mod fuzz {
    //! Every decoder a REST client reaches, through the one dispatch: whatever the body, the
    //! answer is one of the documented codes, never a panic.

    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const CODES: [u16; 11] = [200, 400, 403, 404, 405, 406, 409, 413, 415, 500, 503];

    fn method(i: u8) -> Method {
        match i % 5 {
            0 => Method::Get,
            1 => Method::Head,
            2 => Method::Post,
            3 => Method::Options,
            _ => Method::Other,
        }
    }

    /// Any JSON value, small.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
            "[0-9a-f]{64}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn check(n: &mut Node<Store<MemoryKv>>, req: &HttpRequest) -> Result<(), TestCaseError> {
        match dispatch(n, NOW, req, None) {
            Dispatched::Now(r) => prop_assert!(CODES.contains(&r.status), "{}", r.status),
            Dispatched::AfterCommit => {}
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_bytes_on_any_route(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            path in prop::sample::select(vec!["/publish", "/req", "/status", "/metrics", "/", "/x"]),
            m in any::<u8>(),
            json_type in any::<bool>(),
        ) {
            let mut n = node(true);
            let (mut req, _rx) = HttpRequest::new(method(m), path, Body::Bytes(body));
            if json_type {
                req.content_type = Some("application/json".to_owned());
            }
            check(&mut n, &req)?;
        }

        /// A valid event with one field replaced by any JSON value.
        #[test]
        fn event_with_one_field_of_any_type(
            field in prop::sample::select(vec![
                "id", "pubkey", "created_at", "kind", "tags", "content", "sig", "extra",
            ]),
            value in json(),
        ) {
            let mut n = node(true);
            let e = ev(1, 9_000, 1, vec![Tag::new(["t", "x"])], "hello");
            let mut v: Value = serde_json::from_str(&e.to_json()).unwrap();
            v[field] = value;
            check(&mut n, &post("/publish", v.to_string().as_bytes()))?;
        }

        /// upstream filters with any value in any field.
        #[test]
        fn req_with_any_field_values(
            field in prop::sample::select(vec!["ids", "authors", "kinds", "since", "until", "limit"]),
            value in json(),
            kind in prop::sample::select(vec![0i64, 1, 3, 6, 40_000, 70_000]),
        ) {
            let mut n = node(true);
            let mut v = serde_json::json!({"kinds": [kind]});
            v[field] = value;
            check(&mut n, &post("/req", v.to_string().as_bytes()))?;
        }

        #[test]
        fn content_types_never_panic(s in ".{0,80}") {
            let _ = is_json(Some(&s));
        }
    }
}
