//! The vocabularies of the ModelPack spec that both sides of the plugin contract need: the
//! precision words, ISO 639-1 language codes and SPDX licence expressions.
//!
//! One crate, compiled into the host (validation, `--set` checks) and into plugins (the card
//! convention writes languages and licences, the precision policy reads precisions), so the
//! host and a plugin can never disagree on what a word means. It knows no weight format and
//! no directory convention.

#![deny(missing_docs)]

pub mod iso639;
pub mod license;
pub mod precision;
