//! The sliding replay window of one key set (RFC 6479's ring of bitmap words, as WireGuard).
//!
//! A counter is accepted once, if it is above the highest seen or at most
//! [`REPLAY_WINDOW`] − 1 below it. [`check`](ReplayWindow::check) runs before decryption (cheap
//! refusal) and [`mark`](ReplayWindow::mark) after it, so forged packets never move the window.

use super::limits::REPLAY_WINDOW;

/// Bits per ring word.
const WORD_BITS: u64 = 64;

/// Ring words: one more than the window needs, so the word being reused never overlaps the
/// window (RFC 6479 §2). 33 × 8 B = 264 B per key set.
const WORDS: usize = (REPLAY_WINDOW / WORD_BITS) as usize + 1;

/// Why a counter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("counter {0} was already accepted")]
    Replayed(u64),
    #[error("counter {0} is below the replay window")]
    TooOld(u64),
}

/// Which counters of one receive key have been accepted.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// Highest counter accepted (0 before any: counter 0 then sits inside the window unset).
    top: u64,
    ring: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// An empty window.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            top: 0,
            ring: [0; WORDS],
        }
    }

    /// Whether `counter` would be accepted; changes nothing.
    pub fn check(&self, counter: u64) -> Result<(), ReplayError> {
        if counter > self.top {
            return Ok(());
        }
        if self.top - counter >= REPLAY_WINDOW {
            return Err(ReplayError::TooOld(counter));
        }
        let (word, bit) = slot(counter);
        if self.ring.get(word).is_some_and(|w| w & bit != 0) {
            return Err(ReplayError::Replayed(counter));
        }
        Ok(())
    }

    /// Records `counter` as accepted; call only after [`check`](Self::check) passed and the
    /// packet authenticated.
    pub fn mark(&mut self, counter: u64) {
        if counter > self.top {
            let old_block = self.top / WORD_BITS;
            let new_block = counter / WORD_BITS;
            // Clear the words the window slides over; after WORDS of them the ring is clear.
            let advance = (new_block - old_block).min(WORDS as u64);
            for i in 1..=advance {
                let (word, _) = slot((old_block + i) * WORD_BITS);
                if let Some(w) = self.ring.get_mut(word) {
                    *w = 0;
                }
            }
            self.top = counter;
        }
        let (word, bit) = slot(counter);
        if let Some(w) = self.ring.get_mut(word) {
            *w |= bit;
        }
    }

    /// [`check`](Self::check) then [`mark`](Self::mark), for callers without a decryption step.
    pub fn accept(&mut self, counter: u64) -> Result<(), ReplayError> {
        self.check(counter)?;
        self.mark(counter);
        Ok(())
    }
}

/// Ring word and bit mask of a counter.
fn slot(counter: u64) -> (usize, u64) {
    let word = ((counter / WORD_BITS) % WORDS as u64) as usize;
    (word, 1u64 << (counter % WORD_BITS))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// The naive reference: every accepted counter in a set, and the window rule spelled out.
    #[derive(Default)]
    struct Reference {
        seen: BTreeSet<u64>,
    }

    impl Reference {
        fn accept(&mut self, counter: u64) -> bool {
            let top = self.seen.last().copied().unwrap_or(0);
            let fresh = counter > top || top - counter < REPLAY_WINDOW;
            fresh && self.seen.insert(counter)
        }
    }

    #[test]
    fn window_is_at_least_2048_and_costs_264_bytes() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.accept(10_000), Ok(()));
        assert_eq!(w.accept(10_000 - 2047), Ok(()));
        assert_eq!(w.accept(10_000 - 2048), Err(ReplayError::TooOld(7952)));
        assert_eq!(w.accept(10_000), Err(ReplayError::Replayed(10_000)));
        assert_eq!(core::mem::size_of::<ReplayWindow>(), 8 + 33 * 8);
    }

    #[test]
    fn zero_is_accepted_once_and_check_does_not_mark() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.check(0), Ok(()));
        assert_eq!(w.check(0), Ok(()));
        assert_eq!(w.accept(0), Ok(()));
        assert_eq!(w.accept(0), Err(ReplayError::Replayed(0)));
    }

    #[test]
    fn a_big_jump_clears_the_ring() {
        let mut w = ReplayWindow::new();
        for c in 0..3000 {
            assert_eq!(w.accept(c), Ok(()));
        }
        assert_eq!(w.accept(1_000_000), Ok(()));
        // Counters near the new top that alias old ring positions are fresh.
        for c in (1_000_000 - 2047)..1_000_000 {
            assert_eq!(w.check(c), Ok(()), "counter {c}");
        }
    }

    /// Counters that cluster around a moving point, with occasional jumps, so duplicates,
    /// reordering and window edges all occur.
    fn counters() -> impl Strategy<Value = Vec<u64>> {
        prop::collection::vec(
            prop_oneof![
                8 => 0u64..64,
                4 => 0u64..4096,
                1 => 0u64..100_000,
                1 => Just(u64::MAX - 1),
            ],
            1..400,
        )
        .prop_map(|deltas| {
            let mut base = 0u64;
            deltas
                .into_iter()
                .enumerate()
                .map(|(i, d)| {
                    if i % 7 == 0 {
                        base = base.saturating_add(d / 4);
                    }
                    base.saturating_add(d).saturating_sub(d % 97)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn window_matches_the_naive_set(seq in counters()) {
            let mut window = ReplayWindow::new();
            let mut reference = Reference::default();
            for c in seq {
                let want = reference.accept(c);
                prop_assert_eq!(window.accept(c).is_ok(), want, "counter {}", c);
            }
        }
    }
}
