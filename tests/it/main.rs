//! The one integration-test binary. Each module is a group; `support` holds shared helpers.

// These tests drive the real binary from outside: they read the clock for deadlines and open
// real sockets, which clippy.toml bans only for the sans-IO library code.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod api_tls;
mod cli;
mod clients;
mod docs;
mod fuzz_corpus;
mod layering;
mod mesh;
mod packaging;
mod rest;
mod rest_root;
mod root;
mod store_crash;
mod store_root;
mod support;
mod systemd;
mod tls;
mod vectors;
mod ws;
