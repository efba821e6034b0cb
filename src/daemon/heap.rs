//! Live heap bytes, counted by a thin wrapper around the system allocator, so that `/status`,
//! `/metrics` and the flood tests see what the process really holds (RSS lags: glibc keeps
//! freed pages, DECISIONS.md 21).
//!
//! `cap` is a few dozen lines around `std::alloc::System` with one atomic counter; writing it
//! ourselves would need `unsafe`, which this crate forbids. The cap itself is left unlimited:
//! systemd's `MemoryMax=` is the limit that counts.

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Bytes allocated and not yet freed, by every thread of the process.
#[must_use]
pub fn live_bytes() -> usize {
    ALLOCATOR.allocated()
}

#[cfg(test)]
mod tests {
    #[test]
    fn live_bytes_follow_an_allocation() {
        let before = super::live_bytes();
        let block = vec![1u8; 4 << 20];
        let during = super::live_bytes();
        // Other test threads allocate too, but not 4 MiB in lockstep with this one.
        assert!(during >= before + (3 << 20), "{before} -> {during}");
        drop(block);
        assert!(super::live_bytes() < during);
    }
}
