//! The TLS links' unit tests: framing, the per-source gate, the certificate, real links on
//! loopback.

use super::*;
use proptest::prelude::*;

#[test]
fn the_self_signed_certificate_parses_and_matches_its_key() {
    let provider = provider();
    let (cert, key) = self_signed(&provider, &[7; 32]).unwrap();
    // rustls parses the certificate and checks that its key is the private key's.
    let certified =
        rustls::sign::CertifiedKey::from_der(vec![cert.clone()], key, &provider).unwrap();
    certified.keys_match().unwrap();
    assert!(cert.len() < 400, "{} bytes", cert.len());
    assert_eq!(der(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
    assert_eq!(der(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_dialled_link_carries_frames_both_ways() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = TlsLinks::new(true).unwrap();
    let mut client = TlsLinks::new(false).unwrap();
    assert!(client.dial(addr));
    let (stream, peer) = listener.accept().await.unwrap();
    server.admit(stream, peer);
    let Some(LinkEvent::Up { link: c, peer }) = client.recv().await else {
        panic!("the dial did not come up");
    };
    assert_eq!(peer, addr);
    client.send(c, vec![0x11; 234]);
    let Some(LinkEvent::Datagram { link: s, bytes, .. }) = server.recv().await else {
        panic!("no datagram at the server");
    };
    assert_eq!(bytes, vec![0x11; 234]);
    server.send(s, vec![0x12; MAX_DATAGRAM]);
    let Some(LinkEvent::Datagram { bytes, .. }) = client.recv().await else {
        panic!("no datagram at the client");
    };
    assert_eq!(bytes.len(), MAX_DATAGRAM);
    drop(client); // aborts its task: the server's link closes
    assert!(matches!(
        server.recv().await,
        Some(LinkEvent::Closed { link }) if link == s
    ));
}

#[test]
fn a_source_gets_its_cap_of_links_and_its_rate_of_connections() {
    let mut gate = SourceGate::default();
    let t0 = Instant::now();
    let (a, b): (IpAddr, IpAddr) = ([192, 0, 2, 1].into(), [192, 0, 2, 2].into());
    // At the cap: refused without spending a token.
    for _ in 0..10 {
        assert_eq!(
            gate.check(t0, a, TLS_LINKS_PER_SOURCE),
            Err(SourceRefusal::Links)
        );
    }
    // Below the cap: the burst, then the rate.
    for _ in 0..TLS_ACCEPT_BURST {
        assert_eq!(gate.check(t0, a, 0), Ok(()));
    }
    assert_eq!(gate.check(t0, a, 0), Err(SourceRefusal::Rate));
    // Another source is untouched by a's bucket.
    assert_eq!(gate.check(t0, b, 1), Ok(()));
    let refill = Duration::from_secs(1) / TLS_ACCEPT_RATE;
    assert_eq!(gate.check(t0 + refill, a, 0), Ok(()));
    assert_eq!(gate.check(t0 + refill, a, 0), Err(SourceRefusal::Rate));
}

#[tokio::test(flavor = "current_thread")]
async fn one_source_cannot_take_every_slot() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = TlsLinks::new(true).unwrap();
    let mut clients = Vec::new();
    for _ in 0..TLS_LINKS_MAX {
        clients.push(TcpStream::connect(addr).await.unwrap());
        let (stream, peer) = listener.accept().await.unwrap();
        server.admit(stream, peer);
    }
    assert_eq!(server.links.len(), TLS_LINKS_PER_SOURCE);
    let refused = (TLS_LINKS_MAX - TLS_LINKS_PER_SOURCE) as u64;
    assert_eq!(server.counters.refused_source_links, refused);
    assert_eq!(server.counters.accepted, TLS_LINKS_PER_SOURCE as u64);
    let status = server.status_json();
    assert_eq!(status["refused_source_links"], refused);
    assert_eq!(status["refused_source_rate"], 0);
}

#[test]
fn frames_round_trip_across_any_split() {
    let datagrams: Vec<Vec<u8>> = vec![vec![1], vec![2; 148], vec![3; MAX_DATAGRAM]];
    let mut wire = Vec::new();
    for d in &datagrams {
        encode_frame(d, &mut wire);
    }
    for split in 0..wire.len() {
        let mut dec = FrameDecoder::default();
        let mut got = Vec::new();
        for chunk in [&wire[..split], &wire[split..]] {
            dec.push(chunk);
            while let Some(d) = dec.next_frame().unwrap() {
                got.push(d);
            }
        }
        assert_eq!(got, datagrams, "split at {split}");
        assert_eq!(dec.buffered(), 0);
    }
}

#[test]
fn lengths_no_node_sends_are_refused_before_the_body() {
    let mut dec = FrameDecoder::default();
    dec.push(&[0, 0]);
    assert_eq!(dec.next_frame(), Err(FrameError::Length(0)));
    let mut dec = FrameDecoder::default();
    dec.push(&u16::try_from(MAX_DATAGRAM + 1).unwrap().to_be_bytes());
    assert_eq!(dec.next_frame(), Err(FrameError::Length(MAX_DATAGRAM + 1)));
    let mut dec = FrameDecoder::default();
    dec.push(&[0xff, 0xff, 1, 2, 3]);
    assert!(dec.next_frame().is_err());
}

proptest! {
    /// Arbitrary bytes in arbitrary chunks never panic the decoder, every frame it yields
    /// is 1..=MAX_DATAGRAM bytes, and it never holds more than one frame plus one chunk.
    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 0..8),
    ) {
        let mut dec = FrameDecoder::default();
        'feed: for chunk in &chunks {
            dec.push(chunk);
            loop {
                match dec.next_frame() {
                    Ok(Some(d)) => prop_assert!((1..=MAX_DATAGRAM).contains(&d.len())),
                    Ok(None) => break,
                    Err(FrameError::Length(n)) => {
                        prop_assert!(n == 0 || n > MAX_DATAGRAM);
                        break 'feed;
                    }
                }
            }
            prop_assert!(dec.buffered() < 2 + MAX_DATAGRAM);
        }
    }

    /// Whatever datagrams go in come out, in order, however the stream is cut.
    #[test]
    fn encoded_datagrams_decode_unchanged(
        datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..=MAX_DATAGRAM), 0..6),
        cut in 1usize..700,
    ) {
        let mut wire = Vec::new();
        for d in &datagrams {
            encode_frame(d, &mut wire);
        }
        let mut dec = FrameDecoder::default();
        let mut got = Vec::new();
        for chunk in wire.chunks(cut) {
            dec.push(chunk);
            while let Some(d) = dec.next_frame().unwrap() {
                got.push(d);
            }
        }
        prop_assert_eq!(got, datagrams);
    }
}
