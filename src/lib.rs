//! # nostrp2p
//!
//! A personal Nostr node for small boards: the owner's relay on the home network, and an
//! encrypted peer-to-peer mesh between homes. See `README.md` for use and `docs/` for design.
//!
//! # Layout
//!
//! - [`nostr`]: sans-IO event core: NIP-01 events and filters, BIP-340, NIP-19, upstream's
//!   MessagePack form.
//! - [`limits`]: every compile-time bound, named, with the reason for its number.
//! - [`ring`]: sans-IO heapless ring of recent events and the seen-id set.
//! - [`store`]: the `EventStore`/`StateStore` traits, fjall and in-memory implementations.
//! - [`sim`]: seeded simulation support for tests and benches (a traffic-shaped corpus).
//! - [`mesh`]: sans-IO transport: wire format, Noise IX sessions, replay window, cookies.
//! - [`config`]: file → `NOSTRP2P_*` environment → flags, validated into one [`config::Config`];
//!   embedded board profiles.
//! - [`daemon`]: the I/O shell: data dir, keys on disk, the one `current_thread` loop, signals.
//! - [`cli`]: the commands (`genkey`, `server`, `status`).
//!
//! Dependencies point one way: `nostr` uses nothing in the crate; `config` uses `nostr`;
//! `daemon` uses everything below it; only `cli` uses `daemon`. `tests/` checks this.

pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod limits;
pub mod mesh;
pub mod node;
pub mod nostr;
pub mod ring;
pub mod sim;
pub mod store;
