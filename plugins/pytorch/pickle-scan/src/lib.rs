//! Shared by the `pytorch` and `numpy` plugins: a pickle reader that never executes anything
//! ([`pickle`]), the allowlist of safe globals ([`allowlist`]) and the findings it implies
//! ([`safety`]), torch dtype names ([`dtype`]), and a zip reader over a modelpack `Source`
//! ([`zip`]).
//!
//! Its own crate (an rlib, no wasm exports) so that both plugin components can link it: a
//! plugin crate depending on another plugin crate would pull in the other's exports.

pub mod allowlist;
pub mod dtype;
pub mod pickle;
pub mod safety;
pub mod zip;
