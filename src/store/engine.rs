//! The store engine: NIP-01/NIP-09 write rules, index maintenance and the query planner, over
//! any [`Kv`] backend. One engine for fjall and for memory, so both obey the same rules.
//!
//! Write rules ([`Store::put`]), in order: ephemeral kinds are not stored; a stored id is a
//! duplicate; an id its author deleted (NIP-09 `e`) is refused, and so is a replaceable or
//! addressable version no newer than its author's `a` deletion; an older (or equal) version of
//! a replaceable or addressable event is superseded, a newer one replaces the stored one in the
//! same batch; a deletion removes its author's targets and leaves tombstones that refuse their
//! return. Each event is one atomic batch: record, index entries, tombstones, usage counters.

use std::collections::BTreeMap;

use super::keys::{self, Prefix};
use super::{EventStore, Kv, Op, PutOutcome, Space, StateStore, StoreError};
use crate::nostr::filter::Filter;
use crate::nostr::kinds::{self, KindClass, Version};
use crate::nostr::tags::Deletion;
use crate::nostr::{Event, EventId, Kind, binary};

/// Most events one filter returns, whatever its `limit` says (or when it says nothing): the
/// answer is built in memory, so it must be bounded. NIP-11 advertises it as `max_limit`.
pub const MAX_QUERY_LIMIT: usize = 5_000;

/// The state key of the usage counters and the next sequence number (internal; `StateStore`
/// keys live under `s:`).
const USAGE_KEY: &[u8] = b"m:usage";

/// The state key of the layout version ([`SCHEMA`]).
const SCHEMA_KEY: &[u8] = b"m:schema";

/// The layout version this engine reads and writes (`keys` module docs). Schema 1 (no marker)
/// keyed records by id and ended index keys in the id; schema 2 keys them by sequence number.
/// A store of another schema is refused at open, naming where it is; nothing is converted or
/// wiped.
pub const SCHEMA: u8 = 2;

/// Counts and sizes of what the store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Events stored.
    pub events: u64,
    /// Bytes of their compact records (the logical size the retention budget counts).
    pub record_bytes: u64,
    /// Bytes the backend occupies on disk (LSM space returns late; reported, not budgeted).
    pub disk_bytes: u64,
    /// Commits (fsyncs) completed since open.
    pub commits: u64,
}

/// The engine over a backend `K`.
pub struct Store<K: Kv> {
    kv: K,
    events: u64,
    record_bytes: u64,
    /// The sequence number the next stored event gets.
    next_seq: u64,
    /// A new store: the first batch that writes the usage counters records [`SCHEMA`] too.
    unmarked: bool,
    commits: u64,
    dirty: bool,
}

/// How one filter is answered.
#[derive(Debug)]
enum Plan {
    /// Direct lookups by id.
    Ids(Vec<EventId>),
    /// Direct lookups of replaceable slots (authors × replaceable kinds).
    Slots(Vec<Vec<u8>>),
    /// Newest-first scans of these time-ordered prefixes.
    Scan(Vec<Prefix>),
}

impl<K: Kv> Store<K> {
    /// Opens the engine over `kv`, reading its usage counters. A store written with another
    /// layout ([`SCHEMA`]) is refused with an error naming it, and left as it is.
    pub fn open(kv: K) -> Result<Self, StoreError> {
        let usage = kv.get(Space::State, USAGE_KEY)?;
        let schema = kv.get(Space::State, SCHEMA_KEY)?;
        let unmarked = match (schema.as_deref(), &usage) {
            (Some([SCHEMA]), _) => false,
            // A new store (no event was ever written): the layout is recorded with the first
            // event, in the same batch as the usage counters, so a store never holds usage
            // counters without its schema.
            (None, None) => true,
            (found, _) => {
                let found = match found {
                    None => "1 (no marker)".to_owned(),
                    Some([v]) => v.to_string(),
                    Some(other) => format!("unreadable ({other:?})"),
                };
                return Err(StoreError::Backend {
                    op: "opening the event store",
                    message: format!(
                        "{} holds an event store of schema {found}, this build reads schema \
                         {SCHEMA} only; refusing to open it, nothing was changed (this build \
                         cannot convert it: run the build that wrote it, or move the directory \
                         aside to start an empty store)",
                        kv.location()
                    ),
                });
            }
        };
        let (events, record_bytes, next_seq) = match usage {
            None => (0, 0, 0),
            Some(v) => decode_usage(&v).ok_or_else(|| StoreError::Corrupt {
                what: "usage counters".to_owned(),
            })?,
        };
        Ok(Self {
            kv,
            events,
            record_bytes,
            next_seq,
            unmarked,
            commits: 0,
            dirty: false,
        })
    }

    /// The backend.
    #[must_use]
    pub fn kv(&self) -> &K {
        &self.kv
    }

    /// The backend, mutably (the fjall backend reopens itself after a failed commit).
    pub fn kv_mut(&mut self) -> &mut K {
        &mut self.kv
    }

    /// Gives the backend back.
    pub fn into_kv(self) -> K {
        self.kv
    }

    /// The sequence number of the stored event `id`, from the id map.
    fn seq_of(&self, id: &EventId) -> Result<Option<u64>, StoreError> {
        let Some(v) = self.kv.get(Space::Index, &keys::id_map(id))? else {
            return Ok(None);
        };
        keys::seq_of(&v)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt {
                what: format!("id map entry of {id}"),
            })
    }

    /// Loads and decodes a record by id, with its length and sequence number.
    fn load(&self, id: &EventId) -> Result<Option<(Event, u64, u64)>, StoreError> {
        let Some(seq) = self.seq_of(id)? else {
            return Ok(None);
        };
        Ok(self.load_seq(seq)?.map(|(e, len)| (e, len, seq)))
    }

    /// Loads and decodes the record stored as `seq`, with its length.
    fn load_seq(&self, seq: u64) -> Result<Option<(Event, u64)>, StoreError> {
        let Some(bytes) = self.kv.get(Space::Events, &keys::record(seq))? else {
            return Ok(None);
        };
        let event = binary::decode(&bytes).map_err(|e| StoreError::Corrupt {
            what: format!("record #{seq}: {e}"),
        })?;
        Ok(Some((event, bytes.len() as u64)))
    }

    /// The event stored as `seq` (what an index entry names), if any.
    pub fn get_seq(&self, seq: u64) -> Result<Option<Event>, StoreError> {
        Ok(self.load_seq(seq)?.map(|(e, _)| e))
    }

    /// The operations that remove `event`, stored as `seq` (record and every index entry).
    fn removal(event: &Event, seq: u64, ops: &mut BTreeMap<(Space, Vec<u8>), Option<Vec<u8>>>) {
        ops.insert((Space::Events, keys::record(seq).to_vec()), None);
        for (key, _) in keys::entries(event, seq) {
            ops.insert((Space::Index, key), None);
        }
    }

    /// Writes a batch of operations (last write per key wins) plus the usage counters.
    fn apply(
        &mut self,
        ops: BTreeMap<(Space, Vec<u8>), Option<Vec<u8>>>,
        events: u64,
        record_bytes: u64,
        next_seq: u64,
    ) -> Result<(), StoreError> {
        let mut batch: Vec<Op> = ops
            .into_iter()
            .map(|((space, key), value)| match value {
                Some(v) => Op::Put(space, key, v),
                None => Op::Delete(space, key),
            })
            .collect();
        batch.push(Op::Put(
            Space::State,
            USAGE_KEY.to_vec(),
            encode_usage(events, record_bytes, next_seq),
        ));
        if self.unmarked {
            batch.push(Op::Put(Space::State, SCHEMA_KEY.to_vec(), vec![SCHEMA]));
        }
        self.kv.write(batch)?;
        self.unmarked = false;
        self.events = events;
        self.record_bytes = record_bytes;
        self.next_seq = next_seq;
        self.dirty = true;
        Ok(())
    }

    /// The stored version in a replaceable or addressable slot, if any.
    fn slot_version(&self, slot: &[u8]) -> Result<Option<(Event, u64, u64)>, StoreError> {
        let Some(v) = self.kv.get(Space::Index, slot)? else {
            return Ok(None);
        };
        let seq = keys::seq_of(&v).ok_or_else(|| StoreError::Corrupt {
            what: "slot entry".to_owned(),
        })?;
        Ok(self.load_seq(seq)?.map(|(e, len)| (e, len, seq)))
    }

    /// The slot key of an event's replaceable or addressable version, if it has one.
    fn slot_of(event: &Event) -> Option<Vec<u8>> {
        match kinds::class(event.kind) {
            KindClass::Replaceable => Some(keys::replaceable(&event.pubkey, event.kind)),
            KindClass::Addressable => Some(keys::address(
                keys::ADDRESSABLE,
                &event.pubkey,
                event.kind,
                kinds::d_value(event),
            )),
            KindClass::Regular | KindClass::Ephemeral => None,
        }
    }

    /// The newest `created_at` an `a` deletion covers for this event's address, if any.
    fn address_tombstone(&self, event: &Event) -> Result<Option<u64>, StoreError> {
        let d = match kinds::class(event.kind) {
            KindClass::Replaceable => "",
            KindClass::Addressable => kinds::d_value(event),
            KindClass::Regular | KindClass::Ephemeral => return Ok(None),
        };
        let key = keys::address(keys::DELETED_ADDRESS, &event.pubkey, event.kind, d);
        Ok(self
            .kv
            .get(Space::Index, &key)?
            .and_then(|v| v.try_into().ok().map(u64::from_be_bytes)))
    }

    /// Plans one filter (see `docs/storage.md` "Queries").
    fn plan(filter: &Filter) -> Plan {
        if let Some(ids) = &filter.ids {
            return Plan::Ids(ids.iter().copied().collect());
        }
        if let (Some(authors), Some(kinds)) = (&filter.authors, &filter.kinds)
            && !kinds.is_empty()
            && kinds
                .iter()
                .all(|k| kinds::class(*k) == KindClass::Replaceable)
        {
            let slots = authors
                .iter()
                .flat_map(|a| kinds.iter().map(move |k| keys::replaceable(a, *k)))
                .collect();
            return Plan::Slots(slots);
        }
        // Cost guess per prefix: authors and id-like tags are selective, other tags less so,
        // kinds hardly, the time index not at all.
        let mut best: (usize, Vec<Prefix>) = (usize::MAX, vec![Prefix::time()]);
        let mut consider = |cost: usize, prefixes: Vec<Prefix>| {
            if cost < best.0 {
                best = (cost, prefixes);
            }
        };
        if let Some(authors) = &filter.authors {
            consider(authors.len(), authors.iter().map(Prefix::author).collect());
        }
        for (letter, values) in &filter.tags {
            let Ok(byte) = u8::try_from(u32::from(*letter)) else {
                continue;
            };
            let weight = if matches!(letter, 'e' | 'p' | 'a' | 'q') {
                1
            } else {
                4
            };
            consider(
                values.len() * weight,
                values.iter().map(|v| Prefix::tag(byte, v)).collect(),
            );
        }
        if let Some(kinds) = &filter.kinds {
            consider(
                kinds.len() * 64,
                kinds.iter().map(|k| Prefix::kind(*k)).collect(),
            );
        }
        consider(1_000, vec![Prefix::time()]);
        Plan::Scan(best.1)
    }

    /// Answers one filter: up to `limit` matches, each with its NIP-01 sort key.
    fn query_one(
        &self,
        filter: &Filter,
        found: &mut BTreeMap<SortKey, Event>,
    ) -> Result<(), StoreError> {
        if !filter.can_match() {
            return Ok(());
        }
        let limit = filter.limit.map_or(MAX_QUERY_LIMIT, |l| {
            usize::try_from(l)
                .unwrap_or(usize::MAX)
                .min(MAX_QUERY_LIMIT)
        });
        if limit == 0 {
            return Ok(());
        }
        let mut mine: BTreeMap<SortKey, Event> = BTreeMap::new();
        match Self::plan(filter) {
            Plan::Ids(ids) => {
                for id in ids {
                    if let Some((event, _, _)) = self.load(&id)?
                        && filter.matches(&event)
                    {
                        mine.insert(SortKey::of(&event), event);
                    }
                }
            }
            Plan::Slots(slots) => {
                for slot in slots {
                    if let Some((event, _, _)) = self.slot_version(&slot)?
                        && filter.matches(&event)
                    {
                        mine.insert(SortKey::of(&event), event);
                    }
                }
            }
            Plan::Scan(prefixes) => {
                for prefix in prefixes {
                    self.scan_prefix(&prefix, filter, limit, &mut mine)?;
                }
            }
        }
        found.extend(mine.into_iter().take(limit));
        Ok(())
    }

    /// Scans one prefix newest first, adding up to `limit` matching events to `out`.
    fn scan_prefix(
        &self,
        prefix: &Prefix,
        filter: &Filter,
        limit: usize,
        out: &mut BTreeMap<SortKey, Event>,
    ) -> Result<(), StoreError> {
        let (from, to) = prefix.range(filter.since, filter.until);
        let mut taken = 0usize;
        // Entries of one second are in `seq` order, not id order: once `limit` matches are
        // taken, the rest of the last one's second is read too, so the caller's sort by
        // (time, id) keeps the right ones (NIP-01: on equal `created_at`, lowest id first).
        let mut last_second = None;
        let mut failure = None;
        self.kv.scan_keys(Space::Index, &from, &to, &mut |key| {
            let Some((t, seq)) = keys::split_suffix(key) else {
                return true;
            };
            if last_second.is_some_and(|s| s != t) {
                return false;
            }
            match self.load_matching(seq, filter) {
                Ok(Some(event)) => {
                    out.insert(SortKey::of(&event), event);
                    taken += 1;
                    if taken >= limit {
                        last_second = Some(t);
                    }
                    true
                }
                Ok(None) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    /// Loads the event `id` if it matches `filter`. The record's fixed header (kind, author,
    /// time) is checked first, so candidates the cheap fields rule out are never decoded: a
    /// `#p` scan with `kinds: [1, 7]` skips the follow lists naming the same key, which hold
    /// hundreds of tags each.
    fn load_matching(&self, seq: u64, filter: &Filter) -> Result<Option<Event>, StoreError> {
        let Some(bytes) = self.kv.get(Space::Events, &keys::record(seq))? else {
            return Ok(None);
        };
        let corrupt = |e: binary::BinaryError| StoreError::Corrupt {
            what: format!("record #{seq}: {e}"),
        };
        let head = binary::peek(&bytes).map_err(corrupt)?;
        let cheap_pass = filter.kinds.as_ref().is_none_or(|k| k.contains(&head.kind))
            && filter
                .authors
                .as_ref()
                .is_none_or(|a| a.contains(&head.pubkey))
            && filter.since.is_none_or(|s| head.created_at >= s)
            && filter.until.is_none_or(|u| head.created_at <= u);
        if !cheap_pass {
            return Ok(None);
        }
        let event = binary::decode(&bytes).map_err(corrupt)?;
        Ok(filter.matches(&event).then_some(event))
    }

    /// Checks that every record has all its index entries and every index entry points at a
    /// record that owns it. Returns the problems found (empty: consistent). Memory stays
    /// bounded whatever the store's size: records and index entries are checked one by one.
    pub fn check(&self) -> Result<Vec<String>, StoreError> {
        /// Enough examples to act on; the count says the rest.
        const MAX_REPORTED: usize = 20;
        let mut problems = Vec::new();
        let mut report = |p: String| {
            if problems.len() < MAX_REPORTED {
                problems.push(p);
            }
        };
        let (mut count, mut bytes, mut stray, mut failure) = (0u64, 0u64, 0u64, None);
        let mut max_seq = None;
        self.kv
            .scan_keys(Space::Events, &[], &[0xff; 9], &mut |key| {
                let Some(seq) = keys::seq_of(key) else {
                    report(format!("record key of {} bytes", key.len()));
                    return true;
                };
                max_seq = Some(seq);
                match self.load_seq(seq) {
                    Ok(Some((event, len))) => {
                        count += 1;
                        bytes += len;
                        if event.compute_id() != event.id {
                            report(format!("record {} does not hash to its id", event.id));
                        }
                        for (entry, value) in keys::entries(&event, seq) {
                            match self.kv.get(Space::Index, &entry) {
                                Ok(Some(found)) if found == value => {}
                                Ok(Some(_)) => report(format!(
                                    "event {} has an index entry naming another record \
                                     (prefix {:#04x})",
                                    event.id,
                                    entry.first().copied().unwrap_or(0)
                                )),
                                Ok(None) => report(format!(
                                    "event {} lacks an index entry (prefix {:#04x})",
                                    event.id,
                                    entry.first().copied().unwrap_or(0)
                                )),
                                Err(e) => {
                                    failure = Some(e);
                                    return false;
                                }
                            }
                        }
                    }
                    Ok(None) => report(format!("record #{seq} vanished during the check")),
                    Err(e) => report(e.to_string()),
                }
                true
            })?;
        if let Some(e) = failure {
            return Err(e);
        }
        if max_seq.is_some_and(|m| m >= self.next_seq) {
            report(format!(
                "a record is stored as #{}, at or past the next sequence number {}",
                max_seq.unwrap_or(0),
                self.next_seq
            ));
        }
        // Every time-ordered entry must belong to the record its suffix names, and every id
        // map entry to a record with that id.
        for first in [keys::TIME, keys::AUTHOR, keys::KIND, keys::TAG] {
            self.kv.scan_keys(Space::Index, &[first], &[first + 1], &mut |key| {
                let owned = keys::split_suffix(key).is_some_and(|(_, seq)| {
                    matches!(self.load_seq(seq), Ok(Some((event, _))) if keys::entries(&event, seq).iter().any(|(k, _)| k.as_slice() == key))
                });
                if !owned {
                    stray += 1;
                }
                true
            })?;
        }
        self.kv.scan_keys(Space::Index, &[keys::ID], &[keys::ID + 1], &mut |key| {
            let owned = key.get(1..).and_then(|id| <[u8; 32]>::try_from(id).ok()).is_some_and(|id| {
                matches!(self.load(&EventId(id)), Ok(Some((event, _, _))) if event.id.0 == id)
            });
            if !owned {
                stray += 1;
            }
            true
        })?;
        if stray > 0 {
            report(format!(
                "{stray} index entries point at no record that owns them"
            ));
        }
        if count != self.events || bytes != self.record_bytes {
            report(format!(
                "usage counters say {} events / {} bytes, records hold {count} / {bytes}",
                self.events, self.record_bytes
            ));
        }
        Ok(problems)
    }
}

impl<K: Kv> EventStore for Store<K> {
    fn put(&mut self, event: &Event) -> Result<PutOutcome, StoreError> {
        if kinds::class(event.kind) == KindClass::Ephemeral {
            return Ok(PutOutcome::Ephemeral);
        }
        if self.seq_of(&event.id)?.is_some() {
            return Ok(PutOutcome::Duplicate);
        }
        if self
            .kv
            .get(Space::Index, &keys::deleted_id(&event.id, &event.pubkey))?
            .is_some()
        {
            return Ok(PutOutcome::Deleted);
        }
        if self
            .address_tombstone(event)?
            .is_some_and(|t| event.created_at.0 <= t)
        {
            return Ok(PutOutcome::Deleted);
        }
        let mut ops = BTreeMap::new();
        let (mut events, mut bytes) = (self.events, self.record_bytes);
        let mut outcome = PutOutcome::Stored;
        if let Some(slot) = Self::slot_of(event)
            && let Some((old, old_len, old_seq)) = self.slot_version(&slot)?
        {
            if Version::of(&old) >= Version::of(event) {
                return Ok(PutOutcome::Superseded);
            }
            Self::removal(&old, old_seq, &mut ops);
            events -= 1;
            bytes -= old_len;
            outcome = PutOutcome::Replaced { old: old.id };
        }
        if let Some(deletion) = Deletion::from_event(event) {
            self.plan_deletion(&deletion, &mut ops, &mut events, &mut bytes)?;
        }
        let mut record = Vec::with_capacity(binary::encoded_len(event));
        binary::encode(event, &mut record);
        bytes += record.len() as u64;
        events += 1;
        let seq = self.next_seq;
        ops.insert((Space::Events, keys::record(seq).to_vec()), Some(record));
        for (key, value) in keys::entries(event, seq) {
            ops.insert((Space::Index, key), Some(value));
        }
        self.apply(ops, events, bytes, seq + 1)?;
        Ok(outcome)
    }

    fn get(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        Ok(self.load(id)?.map(|(e, _, _)| e))
    }

    fn query(&self, filters: &[Filter]) -> Result<Vec<Event>, StoreError> {
        let mut found = BTreeMap::new();
        for filter in filters {
            self.query_one(filter, &mut found)?;
        }
        Ok(found.into_values().collect())
    }

    fn delete(&mut self, id: &EventId) -> Result<bool, StoreError> {
        let Some((event, len, seq)) = self.load(id)? else {
            return Ok(false);
        };
        let mut ops = BTreeMap::new();
        Self::removal(&event, seq, &mut ops);
        self.apply(ops, self.events - 1, self.record_bytes - len, self.next_seq)?;
        Ok(true)
    }

    fn usage(&self) -> Usage {
        Usage {
            events: self.events,
            record_bytes: self.record_bytes,
            disk_bytes: self.kv.disk_bytes(),
            commits: self.commits,
        }
    }

    fn commit(&mut self) -> Result<u64, StoreError> {
        if self.dirty {
            self.kv.persist()?;
            self.dirty = false;
            self.commits += 1;
        }
        Ok(self.commits)
    }
}

impl<K: Kv> Store<K> {
    /// Adds to `ops` what a NIP-09 deletion does: tombstones for its ids and addresses, and the
    /// removal of its author's stored targets.
    fn plan_deletion(
        &self,
        deletion: &Deletion,
        ops: &mut BTreeMap<(Space, Vec<u8>), Option<Vec<u8>>>,
        events: &mut u64,
        bytes: &mut u64,
    ) -> Result<(), StoreError> {
        let mut remove = |target: &Event, len: u64, seq: u64, ops: &mut BTreeMap<_, _>| {
            if deletion.applies_to(target)
                && !ops.contains_key(&(Space::Events, keys::record(seq).to_vec()))
            {
                Self::removal(target, seq, ops);
                *events -= 1;
                *bytes -= len;
            }
        };
        for id in &deletion.ids {
            ops.insert(
                (Space::Index, keys::deleted_id(id, &deletion.author)),
                Some(Vec::new()),
            );
            if let Some((target, len, seq)) = self.load(id)? {
                remove(&target, len, seq, ops);
            }
        }
        for address in &deletion.addresses {
            let key = keys::address(
                keys::DELETED_ADDRESS,
                &address.pubkey,
                address.kind,
                &address.identifier,
            );
            let previous = self
                .kv
                .get(Space::Index, &key)?
                .and_then(|v| v.try_into().ok().map(u64::from_be_bytes));
            let until = previous.unwrap_or(0).max(deletion.created_at.0);
            ops.insert((Space::Index, key), Some(until.to_be_bytes().to_vec()));
            let slot = match kinds::class(address.kind) {
                KindClass::Replaceable => keys::replaceable(&address.pubkey, address.kind),
                KindClass::Addressable => keys::address(
                    keys::ADDRESSABLE,
                    &address.pubkey,
                    address.kind,
                    &address.identifier,
                ),
                KindClass::Regular | KindClass::Ephemeral => continue,
            };
            if let Some((target, len, seq)) = self.slot_version(&slot)? {
                remove(&target, len, seq, ops);
            }
        }
        Ok(())
    }
}

impl<K: Kv> StateStore for Store<K> {
    fn state(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.kv.get(Space::State, &state_key(key))
    }

    fn set_state(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.kv
            .write(vec![Op::Put(Space::State, state_key(key), value.to_vec())])?;
        self.dirty = true;
        Ok(())
    }

    fn remove_state(&mut self, key: &str) -> Result<(), StoreError> {
        self.kv
            .write(vec![Op::Delete(Space::State, state_key(key))])?;
        self.dirty = true;
        Ok(())
    }
}

fn state_key(key: &str) -> Vec<u8> {
    let mut k = b"s:".to_vec();
    k.extend_from_slice(key.as_bytes());
    k
}

/// NIP-01's answer order as a map key: newest first, then lowest id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey(u64, EventId);

impl SortKey {
    fn of(event: &Event) -> Self {
        Self(u64::MAX - event.created_at.0, event.id)
    }
}

fn encode_usage(events: u64, bytes: u64, next_seq: u64) -> Vec<u8> {
    let mut v = events.to_be_bytes().to_vec();
    v.extend_from_slice(&bytes.to_be_bytes());
    v.extend_from_slice(&next_seq.to_be_bytes());
    v
}

fn decode_usage(v: &[u8]) -> Option<(u64, u64, u64)> {
    let (a, rest) = v.split_at_checked(8)?;
    let (b, c) = rest.split_at_checked(8)?;
    Some((
        u64::from_be_bytes(a.try_into().ok()?),
        u64::from_be_bytes(b.try_into().ok()?),
        u64::from_be_bytes(c.try_into().ok()?),
    ))
}

/// Which kind an index prefix names (for reports).
#[must_use]
pub fn kind_of_prefix(prefix: &[u8]) -> Option<Kind> {
    match prefix {
        [keys::KIND, a, b, ..] => Some(Kind(u16::from_be_bytes([*a, *b]))),
        _ => None,
    }
}
