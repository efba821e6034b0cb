//! Deterministic simulation support for tests and benchmarks: seeded, no clock, no OS
//! randomness. In the library so integration tests and benches can share it; the daemon never
//! calls it, so LTO drops it from the binary.

pub mod corpus;
pub mod nat;
pub mod net;
