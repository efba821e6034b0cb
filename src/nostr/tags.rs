//! What tags mean: NIP-09 deletions, NIP-10 threads, NIP-18 reposts and quotes, NIP-25
//! reactions, and the `p` mentions that routing follows.
//!
//! Everything here reads an already parsed [`Event`] and never fails: an ill-formed tag value
//! (an `e` that is not 64 lowercase hex, an `a` that is not `kind:pubkey:d`, a `p` that is not a
//! key) is skipped, as if the tag were absent. A bad tag is the author's mistake inside a
//! validly signed event, not a reason to refuse the event; skipping it means it can neither
//! delete, thread, nor route anything. Positions (NIP-10's positional form, NIP-25's "last
//! `e`") count only well-formed tags.

use core::fmt;
use core::str::FromStr;
use std::collections::BTreeSet;

use super::event::{Event, Tag};
use super::hex::HexError;
use super::kinds::{self, DELETION, GENERIC_REPOST, KindClass, REACTION, REPOST, TEXT_NOTE};
use super::types::{EventId, Kind, PubKey, UnixTime};

/// The coordinate of a replaceable or addressable event, as in an `a` tag:
/// `<kind>:<pubkey hex>:<d value>` (NIP-01). For replaceable kinds the `d` part is empty.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Address {
    /// The kind of the addressed events.
    pub kind: Kind,
    /// Their author.
    pub pubkey: PubKey,
    /// The `d` value; `""` for replaceable kinds and for addressable events without `d`.
    pub identifier: String,
}

/// Why a string is not an [`Address`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Fewer than two colons.
    #[error("address is not of the form kind:pubkey:d")]
    Shape,
    /// The kind part is empty, signed, not decimal or above 65 535.
    #[error("address kind is not a decimal number 0-65535")]
    Kind,
    /// The pubkey part is not 64 lowercase hex characters.
    #[error("address pubkey: {0}")]
    PubKey(#[source] HexError),
}

impl Address {
    /// Parses `kind:pubkey:d`. The `d` part is everything after the second colon, colons
    /// included, and may be empty; the kind is plain decimal digits (no sign) within 0–65 535
    /// (DECISIONS.md 5); the pubkey is 64 lowercase hex characters.
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let mut parts = s.splitn(3, ':');
        let (Some(kind), Some(pubkey), Some(identifier)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(AddressError::Shape);
        };
        // `u16::from_str` alone would accept a leading `+`.
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AddressError::Kind);
        }
        let kind = kind.parse::<u16>().map_err(|_| AddressError::Kind)?;
        Ok(Self {
            kind: Kind(kind),
            pubkey: PubKey::from_hex(pubkey).map_err(AddressError::PubKey)?,
            identifier: identifier.to_owned(),
        })
    }

    /// The address `event` is known by, or `None` when its kind is neither replaceable nor
    /// addressable (a regular event has an id, not an address).
    #[must_use]
    pub fn of(event: &Event) -> Option<Self> {
        let identifier = match kinds::class(event.kind) {
            KindClass::Replaceable => String::new(),
            KindClass::Addressable => kinds::d_value(event).to_owned(),
            KindClass::Regular | KindClass::Ephemeral => return None,
        };
        Some(Self {
            kind: event.kind,
            pubkey: event.pubkey,
            identifier,
        })
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, AddressError> {
        Self::parse(s)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind, self.pubkey, self.identifier)
    }
}

/// A reference to an event from an `e` or `q` tag: the id and the optional hints beside it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EventRef {
    /// The referenced event.
    pub id: EventId,
    /// Relay hint (field 2), `None` when absent or empty.
    pub relay: Option<String>,
    /// Author hint: field 4 of a NIP-10 `e` tag, field 3 of a NIP-18 `q` tag; `None` when absent
    /// or not a valid key.
    pub author: Option<PubKey>,
}

impl EventRef {
    /// Reads `[_, id, relay?, …]` with the author hint at `author_field`; `None` when the id is
    /// not 64 lowercase hex.
    fn from_tag(tag: &Tag, author_field: usize) -> Option<Self> {
        let id = EventId::from_hex(tag.value()?).ok()?;
        Some(Self {
            id,
            relay: tag.field(2).filter(|r| !r.is_empty()).map(str::to_owned),
            author: tag
                .field(author_field)
                .and_then(|p| PubKey::from_hex(p).ok()),
        })
    }
}

/// The well-formed `e` references of `event`, in tag order (NIP-10 layout: author hint in
/// field 4).
fn e_refs(event: &Event) -> impl Iterator<Item = (&Tag, EventRef)> + '_ {
    event
        .tags_named("e")
        .filter_map(|t| EventRef::from_tag(t, 4).map(|r| (t, r)))
}

/// The well-formed values of tags named `name`, parsed by `parse`.
fn parsed_values<'a, T>(
    event: &'a Event,
    name: &'a str,
    parse: impl Fn(&str) -> Option<T> + 'a,
) -> impl Iterator<Item = T> + 'a {
    event
        .tags_named(name)
        .filter_map(Tag::value)
        .filter_map(parse)
}

/// The pubkeys of `event`'s `p` tags that are valid keys, in tag order, each once. Replies and
/// mentions are routed to these owners; quotes (`q`) are not mentions.
pub fn mentions(event: &Event) -> impl Iterator<Item = PubKey> + '_ {
    let mut seen = BTreeSet::new();
    parsed_values(event, "p", |v| PubKey::from_hex(v).ok()).filter(move |pk| seen.insert(*pk))
}

/// A kind from a `k` tag: decimal, 0–65 535.
fn parse_kind(v: &str) -> Option<Kind> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u16>().ok().map(Kind)
}

// ---------------------------------------------------------------------------------------------
// NIP-09 deletion requests

/// What a kind 5 event asks to delete (NIP-09). Kept as a tombstone apart from the kind 5
/// record itself, so that evicting the record never lets a deleted event back
/// (DECISIONS.md 19).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Deletion {
    /// The author of the request: only their own events are affected.
    pub author: PubKey,
    /// When the request was made: `a` deletions reach versions up to this time.
    pub created_at: UnixTime,
    /// Ids from `e` tags.
    pub ids: BTreeSet<EventId>,
    /// Addresses from `a` tags. Addresses of another author are left out: they could never
    /// apply, and keeping them would only grow the tombstone.
    pub addresses: BTreeSet<Address>,
}

impl Deletion {
    /// The request carried by `event`, or `None` when it is not kind 5. A kind 5 without any
    /// well-formed `e` or `a` tag yields an empty request, which deletes nothing.
    #[must_use]
    pub fn from_event(event: &Event) -> Option<Self> {
        if event.kind != DELETION {
            return None;
        }
        Some(Self {
            author: event.pubkey,
            created_at: event.created_at,
            ids: parsed_values(event, "e", |v| EventId::from_hex(v).ok()).collect(),
            addresses: parsed_values(event, "a", |v| Address::parse(v).ok())
                .filter(|a| a.pubkey == event.pubkey)
                .collect(),
        })
    }

    /// Whether this request deletes `target`: same author, `target` is not itself a deletion
    /// (NIP-09: deleting a deletion does nothing), and either its id is listed, or its address
    /// is listed and it is no newer than the request. An `a` entry thus also covers the older
    /// versions that arrive later, while newer versions stay accepted. Only replaceable and
    /// addressable events have an address (a replaceable one with an empty `d` part), so `a`
    /// never deletes a regular event: those go by id.
    #[must_use]
    pub fn applies_to(&self, target: &Event) -> bool {
        if target.pubkey != self.author || target.kind == DELETION {
            return false;
        }
        if self.ids.contains(&target.id) {
            return true;
        }
        target.created_at <= self.created_at
            && Address::of(target).is_some_and(|a| self.addresses.contains(&a))
    }

    /// Whether the request names nothing it could delete.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.addresses.is_empty()
    }
}

/// Whether the event `deletion` (kind 5) deletes `target`; `false` when `deletion` is not a
/// kind 5. See [`Deletion::applies_to`].
#[must_use]
pub fn deletion_applies(deletion: &Event, target: &Event) -> bool {
    Deletion::from_event(deletion).is_some_and(|d| d.applies_to(target))
}

// ---------------------------------------------------------------------------------------------
// NIP-10 threads

/// The place of a kind 1 note in a thread (NIP-10).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Thread {
    /// The thread's first note, `None` for a note that starts a thread.
    pub root: Option<EventRef>,
    /// The note this one answers (its parent); equal to `root` for a direct reply to the root.
    pub reply: Option<EventRef>,
    /// Other notes referred to without answering them.
    pub mentions: Vec<EventRef>,
    /// The `p` pubkeys (see [`mentions`]): the people involved in the thread.
    pub pubkeys: Vec<PubKey>,
}

impl Thread {
    /// Whether the note answers another one.
    #[must_use]
    pub fn is_reply(&self) -> bool {
        self.reply.is_some()
    }
}

/// The thread position of a kind 1 note; `None` for other kinds (NIP-10 is about kind 1).
///
/// Marked form: when any well-formed `e` tag carries the marker `root`, `reply` or `mention`
/// (field 3), markers decide. The first `root` and the first `reply` win and later duplicates
/// count as mentions; unmarked `e` tags count as mentions; a note with `root` but no `reply`
/// answers the root directly, so `reply` = `root`; a `reply` without `root` leaves `root`
/// unknown (`None`).
///
/// Deprecated positional form (no markers): the first `e` is the root, the last the reply, the
/// ones between are mentions; a single `e` is both root and reply.
#[must_use]
pub fn thread(event: &Event) -> Option<Thread> {
    if event.kind != TEXT_NOTE {
        return None;
    }
    let refs: Vec<(&Tag, EventRef)> = e_refs(event).collect();
    let mut out = Thread {
        pubkeys: mentions(event).collect(),
        ..Thread::default()
    };
    if refs.iter().any(|(t, _)| marker(t).is_some()) {
        for (tag, r) in refs {
            match marker(tag) {
                Some(Marker::Root) if out.root.is_none() => out.root = Some(r),
                Some(Marker::Reply) if out.reply.is_none() => out.reply = Some(r),
                _ => out.mentions.push(r),
            }
        }
        if out.reply.is_none() {
            out.reply.clone_from(&out.root);
        }
    } else {
        let mut refs = refs.into_iter().map(|(_, r)| r);
        out.root = refs.next();
        out.reply = refs.next_back().or_else(|| out.root.clone());
        out.mentions = refs.collect();
    }
    Some(out)
}

/// A NIP-10 marker (field 3 of an `e` tag).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Marker {
    Root,
    Reply,
    Mention,
}

/// The marker of `tag`; `None` when absent, empty or unknown.
fn marker(tag: &Tag) -> Option<Marker> {
    match tag.field(3)? {
        "root" => Some(Marker::Root),
        "reply" => Some(Marker::Reply),
        "mention" => Some(Marker::Mention),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// NIP-18 reposts and quotes

/// What a repost (kind 6, or generic repost kind 16) reposts (NIP-18).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Repost {
    /// The reposted event: the first well-formed `e` tag.
    pub target: EventRef,
    /// Its author: the first valid `p` tag (NIP-18: SHOULD be present).
    pub author: Option<PubKey>,
    /// Its kind from a `k` tag (kind 16); `None` when absent or ill-formed.
    pub target_kind: Option<Kind>,
    /// Its address from an `a` tag, for reposted replaceable/addressable events (kind 16).
    pub address: Option<Address>,
}

/// The target of a repost; `None` when `event` is not kind 6 or 16 or has no well-formed `e`
/// tag (NIP-18 requires one).
#[must_use]
pub fn repost(event: &Event) -> Option<Repost> {
    if event.kind != REPOST && event.kind != GENERIC_REPOST {
        return None;
    }
    let (_, target) = e_refs(event).next()?;
    Some(Repost {
        target,
        author: mentions(event).next(),
        target_kind: parsed_values(event, "k", parse_kind).next(),
        address: parsed_values(event, "a", |v| Address::parse(v).ok()).next(),
    })
}

/// What a `q` tag quotes (NIP-18): `["q", <id or address>, <relay>, <pubkey>]`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum QuoteTarget {
    /// A regular event, with the tag's relay and author hints.
    Event(EventRef),
    /// A replaceable or addressable event.
    Address(Address),
}

/// The well-formed `q` targets of `event`, in tag order, of any kind (quotes appear in kind 1
/// notes and elsewhere). A value that is neither an id nor an address is skipped.
pub fn quotes(event: &Event) -> impl Iterator<Item = QuoteTarget> + '_ {
    event.tags_named("q").filter_map(|t| {
        if let Some(r) = EventRef::from_tag(t, 3) {
            Some(QuoteTarget::Event(r))
        } else {
            Address::parse(t.value()?).ok().map(QuoteTarget::Address)
        }
    })
}

// ---------------------------------------------------------------------------------------------
// NIP-25 reactions

/// What a reaction says (NIP-25).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Sentiment {
    /// Content `+` or empty.
    Like,
    /// Content `-`.
    Dislike,
    /// Anything else: an emoji or a `:shortcode:` (NIP-30), kept verbatim.
    Emoji(String),
}

impl Sentiment {
    /// The sentiment of a reaction's content.
    #[must_use]
    pub fn from_content(content: &str) -> Self {
        match content {
            "+" | "" => Self::Like,
            "-" => Self::Dislike,
            other => Self::Emoji(other.to_owned()),
        }
    }
}

/// A kind 7 reaction, read (NIP-25).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reaction {
    /// The reacted-to event: the last well-formed `e` tag (NIP-25 puts the target last).
    pub target: EventRef,
    /// Its author: the last valid `p` tag.
    pub author: Option<PubKey>,
    /// Its address, for addressable targets: the last well-formed `a` tag.
    pub address: Option<Address>,
    /// Its kind from the last well-formed `k` tag.
    pub target_kind: Option<Kind>,
    /// Like, dislike or emoji.
    pub sentiment: Sentiment,
}

/// The reaction carried by `event`; `None` when it is not kind 7 or lacks a well-formed `e`
/// tag (NIP-25: MUST have one).
#[must_use]
pub fn reaction(event: &Event) -> Option<Reaction> {
    if event.kind != REACTION {
        return None;
    }
    let (_, target) = e_refs(event).last()?;
    Some(Reaction {
        target,
        author: parsed_values(event, "p", |v| PubKey::from_hex(v).ok()).last(),
        address: parsed_values(event, "a", |v| Address::parse(v).ok()).last(),
        target_kind: parsed_values(event, "k", parse_kind).last(),
        sentiment: Sentiment::from_content(&event.content),
    })
}

#[cfg(test)]
mod tests;
