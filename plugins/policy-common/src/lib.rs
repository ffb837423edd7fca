//! Helpers shared by the built-in policy plugins, so each policy crate holds only its rules.
//!
//! * [`settings`]: parsing a policy's settings JSON (unknown keys are errors, so a typo never
//!   silently disables a rule) and the `error | warning | ignore` action type;
//! * [`units`]: sizes and counts such as `20GB`, `5GiB`, `8B`, and their human forms;
//! * [`json`]: the config as JSON, JSON-pointer look-ups and "missing or empty" tests;
//! * [`report`]: one-line constructors for findings that point at a file or a config field;
//! * `testkit` (feature `testkit`, native tests only): builders for policy inputs, and inputs
//!   derived from the real model directories in the shared fixtures.

pub mod json;
pub mod report;
pub mod settings;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod units;

pub use modelpack_plugin_sdk::policy_prelude::*;
