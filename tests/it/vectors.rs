//! Published test vectors, row by row; each failure names its row.

use nostrp2p::nostr::keys::{self, KeyError};
use nostrp2p::nostr::{Event, EventError, Keys, PubKey, Signature};

use crate::support::{unhex, unhex_array, vector_file};

/// BIP-340's 19 official vectors: signing with the given aux randomness reproduces the
/// signature (rows with a secret key), and verification gives the expected verdict (all rows,
/// including the must-fail ones).
#[test]
fn bip340_vectors() {
    let csv = vector_file("bip340-test-vectors.csv");
    let mut rows = 0;
    let mut must_fail = 0;
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split(',').collect();
        assert!(cols.len() >= 7, "short row {line:?}");
        let (index, secret, public, aux, msg, sig, result) = (
            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6],
        );
        let expected = match result {
            "TRUE" => true,
            "FALSE" => false,
            other => panic!("row {index}: verdict {other:?}"),
        };
        let public = PubKey(unhex_array(public));
        let sig = Signature(unhex_array(sig));
        let msg = unhex(msg);
        if !secret.is_empty() {
            let keys = Keys::from_secret_bytes(unhex_array(secret))
                .unwrap_or_else(|e| panic!("row {index}: secret refused: {e}"));
            assert_eq!(keys.public(), public, "row {index}: derived public key");
            let ours = keys.sign_bytes(&msg, &unhex_array(aux));
            assert_eq!(ours, sig, "row {index}: signature");
        }
        let verdict = keys::verify(&public, &msg, &sig);
        assert_eq!(
            verdict.is_ok(),
            expected,
            "row {index}: verify gave {verdict:?}"
        );
        if !expected {
            must_fail += 1;
            assert!(
                matches!(
                    verdict,
                    Err(KeyError::BadSignature | KeyError::InvalidPublicKey)
                ),
                "row {index}"
            );
        }
        rows += 1;
    }
    assert_eq!(rows, 19, "the official file has 19 rows");
    assert_eq!(must_fail, 10, "rows 5-14 must fail");
}

/// Every NIP-01 vector: accepted ones parse, verify and re-serialize to the same id; the
/// negative ones (a valid signature over an id that is not the event's hash) are refused as
/// `IdMismatch` while their signature over the stated id is indeed valid.
#[test]
fn nostr_event_vectors() {
    let file = vector_file("nostr-event-vectors.jsonl");
    let mut accepted = 0;
    let mut refused = 0;
    for (n, line) in file.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let row: serde_json::Value = serde_json::from_str(line).expect("vector row is JSON");
        let ev_json = serde_json::to_vec(&row["event"]).expect("re-encode the event");
        let name = format!(
            "row {n} ({})",
            &row["event"]["id"].as_str().unwrap_or("?")[..8]
        );
        let event = Event::from_json(&ev_json).unwrap_or_else(|e| panic!("{name}: parse: {e}"));
        let sig_over_id = keys::verify(&event.pubkey, &event.id.0, &event.sig);
        assert_eq!(
            sig_over_id.is_ok(),
            row["sig_valid_over_id"] == true,
            "{name}: sig over id"
        );
        let id_ok = event.verify_id();
        assert_eq!(
            id_ok.is_ok(),
            row["id_matches_serialization"] == true,
            "{name}: id"
        );
        if row["expect_accept"] == true {
            event
                .verify()
                .unwrap_or_else(|e| panic!("{name}: should verify: {e}"));
            let again = Event::from_json(event.to_json().as_bytes()).expect("re-parse our JSON");
            assert_eq!(again, event, "{name}: JSON round trip");
            assert_eq!(again.compute_id(), event.id, "{name}: id after round trip");
            accepted += 1;
        } else {
            let err = event.verify().expect_err("negative vector must be refused");
            assert!(
                matches!(err, EventError::IdMismatch { .. }),
                "{name}: got {err:?}"
            );
            refused += 1;
        }
    }
    assert_eq!(
        (accepted, refused),
        (5, 3),
        "5 positive and 3 negative vectors"
    );
}
