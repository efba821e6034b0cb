//! The one integration-test binary. Each module is a group; `support` holds shared helpers.

mod support;
mod vectors;
