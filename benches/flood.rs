//! Forged-handshake flood against the real daemon (issue 6). Work in progress.

fn main() {}
