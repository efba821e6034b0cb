//! Kind classes (NIP-01), the kinds this project names, and the replacement rule for
//! replaceable and addressable events.
//!
//! Pure functions of event fields: the store asks [`class`] whether to keep all versions, only
//! the newest or none, and [`Version`] which of two versions of one slot survives.

use core::cmp::Ordering;

use super::event::Event;
use super::types::{EventId, Kind, PubKey, UnixTime};

/// User metadata (profile), replaceable. NIP-01.
pub const METADATA: Kind = Kind(0);
/// A short text note. NIP-01, threads in NIP-10.
pub const TEXT_NOTE: Kind = Kind(1);
/// Follow list, replaceable. NIP-02.
pub const FOLLOW_LIST: Kind = Kind(3);
/// Deletion request. NIP-09.
pub const DELETION: Kind = Kind(5);
/// Repost of a kind 1 note. NIP-18.
pub const REPOST: Kind = Kind(6);
/// Reaction. NIP-25.
pub const REACTION: Kind = Kind(7);
/// Repost of any kind but 1. NIP-18.
pub const GENERIC_REPOST: Kind = Kind(16);
/// Relay list metadata, replaceable. NIP-65.
pub const RELAY_LIST: Kind = Kind(10_002);
/// The owner's node list (ours, replaceable): one `["node", <node id hex>]` per node serving
/// the owner, signed by the owner key (ARCHITECTURE.md, binding owner → nodes).
pub const NODE_LIST: Kind = Kind(10_777);
/// A node announcement (ours, addressable, `d` = node id hex), signed by the node key, so that
/// `30777:<node>:<node>` names one node and a NIP-09 `a` deletion retires it.
pub const NODE_ANNOUNCEMENT: Kind = Kind(30_777);
/// Upstream NostrP2P's pseudo-kind: in `/req`, `kinds: [40000]` selects "recent events of any
/// kind" (notes/upstream.md §3.4). It is a query selector only: no event of this kind is stored
/// or forwarded, although [`class`] calls the number regular as NIP-01 does.
pub const RECENT_EVENTS: Kind = Kind(40_000);

/// How NIP-01 stores events of a kind.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum KindClass {
    /// Every event is kept: 1, 2, 4–44, 1000–9999 and every kind no other class claims.
    Regular,
    /// Only the newest per (pubkey, kind): 0, 3, 10 000–19 999.
    Replaceable,
    /// Never stored, delivered to live subscriptions only: 20 000–29 999.
    Ephemeral,
    /// Only the newest per (pubkey, kind, `d` value): 30 000–39 999.
    Addressable,
}

impl KindClass {
    /// The class of `kind`; the same as [`class`].
    #[must_use]
    pub const fn of(kind: Kind) -> Self {
        class(kind)
    }

    /// Whether events of this class are written to the store at all.
    #[must_use]
    pub const fn is_stored(self) -> bool {
        !matches!(self, Self::Ephemeral)
    }
}

/// The NIP-01 class of `kind`. Kinds the NIP leaves unassigned (45–999, 40 000 and up) are
/// regular: NIP-01 says "all other kinds" follow the regular rule.
#[must_use]
pub const fn class(kind: Kind) -> KindClass {
    match kind.0 {
        0 | 3 | 10_000..=19_999 => KindClass::Replaceable,
        20_000..=29_999 => KindClass::Ephemeral,
        30_000..=39_999 => KindClass::Addressable,
        _ => KindClass::Regular,
    }
}

/// The slot a replaceable or addressable event occupies: of all events with one key, the store
/// keeps only the newest by [`Version`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ReplacementKey {
    /// Replaceable kinds: one slot per (pubkey, kind).
    Replaceable {
        /// The author.
        pubkey: PubKey,
        /// The kind, in 0, 3, 10 000–19 999.
        kind: Kind,
    },
    /// Addressable kinds: one slot per (pubkey, kind, `d` value).
    Addressable {
        /// The author.
        pubkey: PubKey,
        /// The kind, in 30 000–39 999.
        kind: Kind,
        /// The first value of the first `d` tag; `""` when there is no `d` tag or it has no
        /// value (NIP-01 treats a missing `d` as the empty string).
        d: String,
    },
}

impl ReplacementKey {
    /// The author of every event in the slot.
    #[must_use]
    pub fn pubkey(&self) -> &PubKey {
        match self {
            Self::Replaceable { pubkey, .. } | Self::Addressable { pubkey, .. } => pubkey,
        }
    }

    /// The kind of every event in the slot.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Self::Replaceable { kind, .. } | Self::Addressable { kind, .. } => *kind,
        }
    }
}

/// The slot of `event`, or `None` for regular and ephemeral kinds (nothing replaces them).
#[must_use]
pub fn replacement_key(event: &Event) -> Option<ReplacementKey> {
    match class(event.kind) {
        KindClass::Replaceable => Some(ReplacementKey::Replaceable {
            pubkey: event.pubkey,
            kind: event.kind,
        }),
        KindClass::Addressable => Some(ReplacementKey::Addressable {
            pubkey: event.pubkey,
            kind: event.kind,
            d: d_value(event).to_owned(),
        }),
        KindClass::Regular | KindClass::Ephemeral => None,
    }
}

/// The `d` value of an event: the first value of its first `d` tag, `""` when absent. A `["d"]`
/// tag without a value counts as `""` too, so a later `d` tag cannot move the event to another
/// slot.
#[must_use]
pub fn d_value(event: &Event) -> &str {
    event
        .tags_named("d")
        .next()
        .and_then(|t| t.value())
        .unwrap_or("")
}

/// One version of a replaceable or addressable slot, ordered so that the greater one wins
/// (NIP-01): a later `created_at` wins; on equal `created_at` the **lowest** id wins.
///
/// The same order, descending, is NIP-01's order for `limit` answers (newest first, lowest id
/// first within a second), so a store can sort query results by it too.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Version {
    /// When the version was made.
    pub created_at: UnixTime,
    /// Its id: the tie-break.
    pub id: EventId,
}

impl Version {
    /// The version of `event`.
    #[must_use]
    pub fn of(event: &Event) -> Self {
        Self {
            created_at: event.created_at,
            id: event.id,
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed id comparison: the lower id is the "greater" (winning) version.
        self.created_at
            .cmp(&other.created_at)
            .then_with(|| other.id.cmp(&self.id))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Whether `candidate` replaces `current` under NIP-01's rule (see [`Version`]). Neither the
/// slot nor the kind is checked: the caller compares two events it already keyed alike. An
/// event never replaces itself.
#[must_use]
pub fn newer_wins(candidate: &Event, current: &Event) -> bool {
    Version::of(candidate) > Version::of(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nostr::{Keys, Tag, UnsignedEvent};

    #[test]
    fn class_boundaries_follow_nip01() {
        let cases: &[(u16, KindClass)] = &[
            (0, KindClass::Replaceable),
            (1, KindClass::Regular),
            (2, KindClass::Regular),
            (3, KindClass::Replaceable),
            (4, KindClass::Regular),
            (5, KindClass::Regular),
            (44, KindClass::Regular),
            (45, KindClass::Regular),
            (999, KindClass::Regular),
            (1_000, KindClass::Regular),
            (9_999, KindClass::Regular),
            (10_000, KindClass::Replaceable),
            (19_999, KindClass::Replaceable),
            (20_000, KindClass::Ephemeral),
            (29_999, KindClass::Ephemeral),
            (30_000, KindClass::Addressable),
            (39_999, KindClass::Addressable),
            (40_000, KindClass::Regular),
            (65_535, KindClass::Regular),
        ];
        for &(k, want) in cases {
            assert_eq!(class(Kind(k)), want, "kind {k}");
            assert_eq!(KindClass::of(Kind(k)), want, "kind {k}");
        }
    }

    #[test]
    fn project_kinds_have_the_classes_the_design_assumes() {
        assert_eq!(class(METADATA), KindClass::Replaceable);
        assert_eq!(class(FOLLOW_LIST), KindClass::Replaceable);
        assert_eq!(class(RELAY_LIST), KindClass::Replaceable);
        assert_eq!(class(NODE_LIST), KindClass::Replaceable);
        assert_eq!(class(NODE_ANNOUNCEMENT), KindClass::Addressable);
        for k in [TEXT_NOTE, DELETION, REPOST, REACTION, GENERIC_REPOST] {
            assert_eq!(class(k), KindClass::Regular, "kind {k}");
        }
        assert!(!KindClass::Ephemeral.is_stored());
        assert!(KindClass::Regular.is_stored());
        assert!(KindClass::Addressable.is_stored());
    }

    #[test]
    fn replacement_keys_by_class() {
        let keys = keys(1);
        let profile = event(&keys, 10, 0, vec![], "a");
        assert_eq!(
            replacement_key(&profile),
            Some(ReplacementKey::Replaceable {
                pubkey: keys.public(),
                kind: Kind(0)
            })
        );

        let with_d = event(
            &keys,
            10,
            30_777,
            vec![Tag::new(["d", "abc"]), Tag::new(["d", "zzz"])],
            "",
        );
        let key = replacement_key(&with_d).expect("addressable");
        assert_eq!(
            key,
            ReplacementKey::Addressable {
                pubkey: keys.public(),
                kind: NODE_ANNOUNCEMENT,
                d: "abc".into()
            }
        );
        assert_eq!(key.pubkey(), &keys.public());
        assert_eq!(key.kind(), NODE_ANNOUNCEMENT);

        // No `d` tag and a valueless `d` tag both mean "": the same slot.
        let no_d = event(&keys, 10, 30_000, vec![], "");
        let bare_d = event(&keys, 11, 30_000, vec![Tag::new(["d"])], "");
        assert_eq!(replacement_key(&no_d), replacement_key(&bare_d));
        assert!(matches!(
            replacement_key(&no_d),
            Some(ReplacementKey::Addressable { ref d, .. }) if d.is_empty()
        ));

        assert_eq!(replacement_key(&event(&keys, 10, 1, vec![], "")), None);
        assert_eq!(replacement_key(&event(&keys, 10, 20_001, vec![], "")), None);
    }

    #[test]
    fn newer_created_at_wins() {
        let keys = keys(2);
        let old = event(&keys, 100, 0, vec![], "old");
        let new = event(&keys, 101, 0, vec![], "new");
        assert!(newer_wins(&new, &old));
        assert!(!newer_wins(&old, &new));
        assert!(!newer_wins(&new, &new), "an event never replaces itself");
    }

    #[test]
    fn equal_created_at_keeps_the_lowest_id() {
        let keys = keys(3);
        let a = event(&keys, 100, 0, vec![], "a");
        let b = event(&keys, 100, 0, vec![], "b");
        let (low, high) = if a.id < b.id { (a, b) } else { (b, a) };
        assert!(newer_wins(&low, &high));
        assert!(!newer_wins(&high, &low));
        // The descending order is NIP-01's answer order: newest first, lowest id first.
        let mut versions = [Version::of(&high), Version::of(&low)];
        versions.sort_by(|x, y| y.cmp(x));
        assert_eq!(versions.first().map(|v| v.id), Some(low.id));
    }

    #[test]
    fn version_order_is_total_and_consistent() {
        let id = |b: u8| EventId([b; 32]);
        let v = |t: u64, b: u8| Version {
            created_at: UnixTime(t),
            id: id(b),
        };
        assert!(v(2, 9) > v(1, 0));
        assert!(v(1, 0) > v(1, 9));
        assert_eq!(v(1, 5).cmp(&v(1, 5)), Ordering::Equal);
        assert_eq!(v(1, 5).partial_cmp(&v(1, 6)), Some(Ordering::Greater));
    }

    #[test]
    fn d_value_takes_the_first_d_tag() {
        let keys = keys(4);
        let e = event(
            &keys,
            1,
            30_001,
            vec![
                Tag::new(["x", "y"]),
                Tag::new(["d", "first"]),
                Tag::new(["d", "2"]),
            ],
            "",
        );
        assert_eq!(d_value(&e), "first");
        assert_eq!(d_value(&event(&keys, 1, 30_001, vec![], "")), "");
    }

    fn keys(n: u8) -> Keys {
        Keys::from_secret_bytes([n; 32]).expect("valid secret")
    }

    fn event(keys: &Keys, t: u64, kind: u16, tags: Vec<Tag>, content: &str) -> Event {
        UnsignedEvent::new(keys, UnixTime(t), Kind(kind), tags, content)
            .sign(keys, &[0; 32])
            .expect("signs")
    }
}
