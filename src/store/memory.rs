//! The in-memory backend: one B-tree per keyspace. For unit tests and the simulator; it runs
//! the same engine as fjall, so it obeys the same rules. `persist` does nothing, and a test may
//! make writes fail to exercise the error paths.

use std::collections::BTreeMap;

use super::{Kv, Op, Space, StoreError};

/// Keyspaces as B-trees.
#[derive(Debug, Default, Clone)]
pub struct MemoryKv {
    spaces: BTreeMap<Space, BTreeMap<Vec<u8>, Vec<u8>>>,
    /// When set, every write fails with `StoreError::Full` (tests of the refusal path).
    pub fail_writes: bool,
}

impl MemoryKv {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl MemoryKv {
    /// The keys of `space` in `[from, to)`, either way round.
    fn range<'a>(
        &'a self,
        space: Space,
        from: &'a [u8],
        to: &'a [u8],
    ) -> impl DoubleEndedIterator<Item = &'a [u8]> + 'a {
        let bounds = (
            std::ops::Bound::Included(from),
            std::ops::Bound::Excluded(to),
        );
        self.spaces
            .get(&space)
            .filter(|_| from < to)
            .into_iter()
            .flat_map(move |map| map.range::<[u8], _>(bounds).map(|(k, _)| k.as_slice()))
    }
}

impl Kv for MemoryKv {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.spaces.get(&space).and_then(|m| m.get(key)).cloned())
    }

    fn scan_keys(
        &self,
        space: Space,
        from: &[u8],
        to: &[u8],
        visit: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let keys = self.range(space, from, to);
        keys.take_while(|k| visit(k)).for_each(drop);
        Ok(())
    }

    fn scan_keys_rev(
        &self,
        space: Space,
        from: &[u8],
        to: &[u8],
        visit: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let keys = self.range(space, from, to);
        keys.rev().take_while(|k| visit(k)).for_each(drop);
        Ok(())
    }

    fn write(&mut self, ops: Vec<Op>) -> Result<(), StoreError> {
        if self.fail_writes {
            return Err(StoreError::Full);
        }
        for op in ops {
            match op {
                Op::Put(space, k, v) => {
                    self.spaces.entry(space).or_default().insert(k, v);
                }
                Op::Delete(space, k) => {
                    if let Some(m) = self.spaces.get_mut(&space) {
                        m.remove(&k);
                    }
                }
            }
        }
        Ok(())
    }

    fn persist(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn disk_bytes(&self) -> u64 {
        0
    }

    fn location(&self) -> String {
        "memory".to_owned()
    }
}
