use super::*;
use crate::nostr::{Keys, UnsignedEvent};

#[test]
fn address_parses_and_displays() {
    let pk = hex_of(7);
    let a: Address = format!("30023:{pk}:my:article").parse().expect("valid");
    assert_eq!(a.kind, Kind(30_023));
    assert_eq!(a.pubkey.to_hex(), pk);
    assert_eq!(a.identifier, "my:article", "d keeps its colons");
    assert_eq!(a.to_string(), format!("30023:{pk}:my:article"));

    let r = Address::parse(&format!("10002:{pk}:")).expect("empty d");
    assert_eq!(r.identifier, "");
}

#[test]
fn address_refuses_bad_input() {
    let pk = hex_of(0xab);
    let cases = [
        (String::new(), AddressError::Shape),
        ("1".to_owned(), AddressError::Shape),
        (format!("1:{pk}"), AddressError::Shape),
        (format!(":{pk}:x"), AddressError::Kind),
        (format!("+1:{pk}:x"), AddressError::Kind),
        (format!("-1:{pk}:x"), AddressError::Kind),
        (format!("65536:{pk}:x"), AddressError::Kind),
        (format!("1a:{pk}:x"), AddressError::Kind),
    ];
    for (s, want) in cases {
        assert_eq!(Address::parse(&s), Err(want), "{s:?}");
    }
    let upper = format!("1:{}:x", pk.to_uppercase());
    assert!(matches!(
        Address::parse(&upper),
        Err(AddressError::PubKey(_))
    ));
    let short = format!("1:{}:x", pk.chars().take(63).collect::<String>());
    assert!(matches!(
        Address::parse(&short),
        Err(AddressError::PubKey(_))
    ));
}

#[test]
fn address_of_event_by_class() {
    let k = keys(1);
    let profile = event(&k, 1, 0, vec![], "");
    assert_eq!(
        Address::of(&profile).map(|a| a.to_string()),
        Some(format!("0:{}:", k.public()))
    );
    let art = event(&k, 1, 30_023, vec![tag(&["d", "x"])], "");
    assert_eq!(
        Address::of(&art).map(|a| a.identifier),
        Some("x".to_owned())
    );
    assert_eq!(Address::of(&event(&k, 1, 1, vec![], "")), None);
    assert_eq!(Address::of(&event(&k, 1, 20_000, vec![], "")), None);
}

#[test]
fn deletion_parses_e_and_a_and_skips_junk() {
    let k = keys(1);
    let other = keys(2);
    let id = hex_of(9);
    let mine = format!("30023:{}:post", k.public());
    let theirs = format!("30023:{}:post", other.public());
    let d = event(
        &k,
        100,
        5,
        vec![
            tag(&["e", &id]),
            tag(&["e", &id.to_uppercase()]),
            tag(&["e", "nothex"]),
            tag(&["e"]),
            tag(&["a", &mine]),
            tag(&["a", &theirs]),
            tag(&["a", "garbage"]),
            tag(&["k", "30023"]),
        ],
        "spam",
    );
    let del = Deletion::from_event(&d).expect("kind 5");
    assert_eq!(del.author, k.public());
    assert_eq!(del.created_at, UnixTime(100));
    assert_eq!(
        del.ids,
        BTreeSet::from([EventId::from_hex(&id).expect("hex")])
    );
    assert_eq!(
        del.addresses,
        BTreeSet::from([Address::parse(&mine).expect("valid")])
    );
    assert!(!del.is_empty());

    assert_eq!(Deletion::from_event(&event(&k, 1, 1, vec![], "")), None);
    let empty = Deletion::from_event(&event(&k, 1, 5, vec![tag(&["e", "x"])], "")).expect("kind 5");
    assert!(empty.is_empty());
}

#[test]
fn deletion_by_id_needs_the_same_author() {
    let k = keys(1);
    let other = keys(2);
    let note = event(&k, 50, 1, vec![], "mine");
    let foreign = event(&other, 50, 1, vec![], "theirs");
    let d = event(
        &k,
        10, // older than the note: `e` deletions ignore time
        5,
        vec![
            tag(&["e", &note.id.to_hex()]),
            tag(&["e", &foreign.id.to_hex()]),
        ],
        "",
    );
    assert!(deletion_applies(&d, &note));
    assert!(
        !deletion_applies(&d, &foreign),
        "cannot delete another author's event"
    );
    let unrelated = event(&k, 50, 1, vec![], "kept");
    assert!(!deletion_applies(&d, &unrelated));
    let not_a_deletion = event(&k, 60, 1, vec![tag(&["e", &note.id.to_hex()])], "");
    assert!(!deletion_applies(&not_a_deletion, &note));
}

#[test]
fn deleting_a_deletion_does_nothing() {
    let k = keys(1);
    let first = event(&k, 10, 5, vec![tag(&["e", &hex_of(3)])], "");
    let second = event(&k, 20, 5, vec![tag(&["e", &first.id.to_hex()])], "");
    assert!(!deletion_applies(&second, &first));
}

#[test]
fn deletion_by_address_reaches_versions_up_to_its_time() {
    let k = keys(1);
    let addr = format!("30023:{}:post", k.public());
    let d = event(&k, 100, 5, vec![tag(&["a", &addr])], "");
    let at = |t, d_tag: &str| event(&k, t, 30_023, vec![tag(&["d", d_tag])], "");
    assert!(deletion_applies(&d, &at(99, "post")));
    assert!(deletion_applies(&d, &at(100, "post")), "bound is inclusive");
    assert!(!deletion_applies(&d, &at(101, "post")), "newer survives");
    assert!(!deletion_applies(&d, &at(50, "other")), "another d");
    let other_kind = event(&k, 50, 30_024, vec![tag(&["d", "post"])], "");
    assert!(!deletion_applies(&d, &other_kind));
    let other = keys(2);
    let foreign = event(&other, 50, 30_023, vec![tag(&["d", "post"])], "");
    assert!(!deletion_applies(&d, &foreign));
}

#[test]
fn deletion_by_address_of_replaceable_and_regular_kinds() {
    let k = keys(1);
    let d = event(
        &k,
        100,
        5,
        vec![
            tag(&["a", &format!("10002:{}:", k.public())]),
            tag(&["a", &format!("1:{}:", k.public())]),
        ],
        "",
    );
    assert!(deletion_applies(&d, &event(&k, 90, 10_002, vec![], "")));
    // A replaceable event is addressed with an empty d, whatever `d` tag it carries.
    assert!(deletion_applies(
        &d,
        &event(&k, 90, 10_002, vec![tag(&["d", "x"])], "")
    ));
    assert!(
        !deletion_applies(&d, &event(&k, 90, 1, vec![], "")),
        "regular events are deleted by id only"
    );
}

#[test]
fn thread_marked_form() {
    let k = keys(1);
    let (root, reply, m1, m2) = (hex_of(1), hex_of(2), hex_of(3), hex_of(4));
    let author = keys(5).public().to_hex();
    let e = event(
        &k,
        1,
        1,
        vec![
            tag(&["e", &m1]),
            tag(&["e", &reply, "wss://r", "reply", &author]),
            tag(&["e", &root, "", "root"]),
            tag(&["e", &m2, "", "mention"]),
            tag(&["e", "bad", "", "root"]),
            tag(&["p", &author]),
            tag(&["p", "bad"]),
            tag(&["p", &author]),
        ],
        "",
    );
    let t = thread(&e).expect("kind 1");
    let root_ref = t.root.expect("root");
    assert_eq!(root_ref.id.to_hex(), root);
    assert_eq!(root_ref.relay, None, "empty relay hint is no hint");
    let reply_ref = t.reply.expect("reply");
    assert_eq!(reply_ref.id.to_hex(), reply);
    assert_eq!(reply_ref.relay.as_deref(), Some("wss://r"));
    assert_eq!(reply_ref.author.map(|p| p.to_hex()), Some(author.clone()));
    let mentioned: Vec<String> = t.mentions.iter().map(|r| r.id.to_hex()).collect();
    assert_eq!(mentioned, [m1, m2], "unmarked e tags count as mentions");
    assert_eq!(
        t.pubkeys.iter().map(PubKey::to_hex).collect::<Vec<_>>(),
        [author]
    );
}

#[test]
fn thread_marked_root_only_is_a_direct_reply() {
    let k = keys(1);
    let root = hex_of(1);
    let t = thread(&event(&k, 1, 1, vec![tag(&["e", &root, "", "root"])], "")).expect("kind 1");
    assert_eq!(t.root.map(|r| r.id.to_hex()), Some(root.clone()));
    assert_eq!(t.reply.map(|r| r.id.to_hex()), Some(root));
    assert!(t.mentions.is_empty());

    let only_reply = thread(&event(
        &k,
        1,
        1,
        vec![tag(&["e", &hex_of(2), "", "reply"])],
        "",
    ))
    .expect("kind 1");
    assert_eq!(only_reply.root, None);
    assert!(only_reply.is_reply());

    // Only mention markers: a quote-like note, not a reply.
    let mention_only = thread(&event(
        &k,
        1,
        1,
        vec![tag(&["e", &hex_of(3), "", "mention"])],
        "",
    ))
    .expect("kind 1");
    assert!(!mention_only.is_reply());
    assert_eq!(mention_only.root, None);
    assert_eq!(mention_only.mentions.len(), 1);
}

#[test]
fn thread_positional_form() {
    let k = keys(1);
    let ids: Vec<String> = (1..=4).map(hex_of).collect();
    let [i1, i2, i3, i4] = ids.as_slice() else {
        panic!("four ids");
    };
    let tags = |n: usize| -> Vec<Tag> { ids.iter().take(n).map(|i| tag(&["e", i])).collect() };
    let none = thread(&event(&k, 1, 1, tags(0), "")).expect("kind 1");
    assert_eq!(none, Thread::default());
    assert!(!none.is_reply());

    let one = thread(&event(&k, 1, 1, tags(1), "")).expect("kind 1");
    assert_eq!(one.root.map(|r| r.id.to_hex()), Some(i1.clone()));
    assert_eq!(one.reply.map(|r| r.id.to_hex()), Some(i1.clone()));

    let two = thread(&event(&k, 1, 1, tags(2), "")).expect("kind 1");
    assert_eq!(two.root.map(|r| r.id.to_hex()), Some(i1.clone()));
    assert_eq!(two.reply.map(|r| r.id.to_hex()), Some(i2.clone()));
    assert!(two.mentions.is_empty());

    let four = thread(&event(&k, 1, 1, tags(4), "")).expect("kind 1");
    assert_eq!(four.root.map(|r| r.id.to_hex()), Some(i1.clone()));
    assert_eq!(four.reply.map(|r| r.id.to_hex()), Some(i4.clone()));
    let middle: Vec<String> = four.mentions.iter().map(|r| r.id.to_hex()).collect();
    assert_eq!(middle, [i2.clone(), i3.clone()]);

    // An ill-formed `e` does not take a position.
    let mut with_bad = vec![tag(&["e", "zz"])];
    with_bad.extend(tags(1));
    let t = thread(&event(&k, 1, 1, with_bad, "")).expect("kind 1");
    assert_eq!(t.root.map(|r| r.id.to_hex()), Some(i1.clone()));

    assert_eq!(thread(&event(&k, 1, 7, tags(1), "+")), None, "kind 7");
}

#[test]
fn repost_targets() {
    let k = keys(1);
    let author = keys(2).public();
    let target = hex_of(8);
    let r = repost(&event(
        &k,
        1,
        6,
        vec![
            tag(&["e", "bad"]),
            tag(&["e", &target, "wss://relay"]),
            tag(&["p", &author.to_hex()]),
        ],
        "",
    ))
    .expect("kind 6");
    assert_eq!(r.target.id.to_hex(), target);
    assert_eq!(r.target.relay.as_deref(), Some("wss://relay"));
    assert_eq!(r.author, Some(author));
    assert_eq!(r.target_kind, None);

    let addr = format!("30023:{author}:x");
    let g = repost(&event(
        &k,
        1,
        16,
        vec![
            tag(&["e", &target]),
            tag(&["k", "30023"]),
            tag(&["a", &addr]),
        ],
        "",
    ))
    .expect("kind 16");
    assert_eq!(g.target_kind, Some(Kind(30_023)));
    assert_eq!(g.address.map(|a| a.to_string()), Some(addr));

    assert_eq!(repost(&event(&k, 1, 6, vec![tag(&["e", "bad"])], "")), None);
    assert_eq!(
        repost(&event(&k, 1, 1, vec![tag(&["e", &target])], "")),
        None
    );
}

#[test]
fn quote_targets_are_ids_or_addresses() {
    let k = keys(1);
    let author = keys(2).public();
    let id = hex_of(8);
    let addr = format!("30023:{author}:x");
    let e = event(
        &k,
        1,
        1,
        vec![
            tag(&["q", &id, "wss://r", &author.to_hex()]),
            tag(&["q", "neither"]),
            tag(&["q", &addr]),
            tag(&["q"]),
        ],
        "",
    );
    let qs: Vec<QuoteTarget> = quotes(&e).collect();
    let [first, second] = qs.as_slice() else {
        panic!("expected two quotes, got {qs:?}");
    };
    assert!(matches!(
        first,
        QuoteTarget::Event(r) if r.id.to_hex() == id && r.author == Some(author)
    ));
    assert!(matches!(second, QuoteTarget::Address(a) if a.to_string() == addr));
}

#[test]
fn reaction_takes_the_last_e_and_p() {
    let k = keys(1);
    let (first, last) = (hex_of(1), hex_of(2));
    let (pa, pb) = (keys(3).public(), keys(4).public());
    let tags = vec![
        tag(&["e", &first]),
        tag(&["p", &pa.to_hex()]),
        tag(&["e", &last]),
        tag(&["e", "bad"]),
        tag(&["p", &pb.to_hex()]),
        tag(&["p", "bad"]),
        tag(&["k", "1"]),
    ];
    let r = reaction(&event(&k, 1, 7, tags.clone(), "+")).expect("kind 7");
    assert_eq!(r.target.id.to_hex(), last);
    assert_eq!(r.author, Some(pb));
    assert_eq!(r.target_kind, Some(Kind(1)));
    assert_eq!(r.address, None);
    assert_eq!(r.sentiment, Sentiment::Like);

    let sentiment = |content: &str| {
        reaction(&event(&k, 1, 7, tags.clone(), content))
            .expect("kind 7")
            .sentiment
    };
    assert_eq!(sentiment(""), Sentiment::Like);
    assert_eq!(sentiment("-"), Sentiment::Dislike);
    assert_eq!(sentiment("🤙"), Sentiment::Emoji("🤙".into()));
    assert_eq!(sentiment(":soapbox:"), Sentiment::Emoji(":soapbox:".into()));

    assert_eq!(
        reaction(&event(&k, 1, 7, vec![tag(&["p", &pa.to_hex()])], "+")),
        None
    );
    assert_eq!(reaction(&event(&k, 1, 1, tags, "+")), None);
}

#[test]
fn mentions_are_valid_unique_p_values_in_order() {
    let k = keys(1);
    let (a, b) = (keys(2).public(), keys(3).public());
    let e = event(
        &k,
        1,
        1,
        vec![
            tag(&["p", &b.to_hex(), "wss://r"]),
            tag(&["p", &a.to_hex().to_uppercase()]),
            tag(&["p", &a.to_hex()]),
            tag(&["p"]),
            tag(&["p", &b.to_hex()]),
            tag(&["P", &a.to_hex()]),
        ],
        "",
    );
    assert_eq!(mentions(&e).collect::<Vec<_>>(), [b, a]);
}

#[test]
fn parse_kind_is_plain_decimal() {
    assert_eq!(parse_kind("0"), Some(Kind(0)));
    assert_eq!(parse_kind("65535"), Some(Kind(65_535)));
    assert_eq!(parse_kind("65536"), None);
    assert_eq!(parse_kind("+1"), None);
    assert_eq!(parse_kind(""), None);
}

fn keys(n: u8) -> Keys {
    Keys::from_secret_bytes([n; 32]).expect("valid secret")
}

fn tag(fields: &[&str]) -> Tag {
    Tag::new(fields.iter().copied())
}

/// 64 hex characters derived from `n`: a syntactically valid id.
fn hex_of(n: u8) -> String {
    crate::nostr::hex::encode(&[n; 32])
}

fn event(keys: &Keys, t: u64, kind: u16, tags: Vec<Tag>, content: &str) -> Event {
    UnsignedEvent::new(keys, UnixTime(t), Kind(kind), tags, content)
        .sign(keys, &[0; 32])
        .expect("signs")
}
