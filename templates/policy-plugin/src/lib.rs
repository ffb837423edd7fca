//! Template policy plugin `max-tensor-count`: fails models with more tensors than a limit.
//!
//! The shape every policy plugin follows: the rule lives in plain Rust ([`rules`]) over the
//! SDK's `PolicyInput`, so it is unit-tested natively, and this file is a thin adapter that
//! `export_policy_plugin!` turns into the component's `policy` export.
//!
//! Settings (from the team's policy config file, passed as JSON):
//! `{"max_tensors": 1000, "severity": "error" | "warning"}`; `max_tensors` is required.
//! Finding ids: `too-many-tensors` (the configured severity), `tensor-count` (info).

pub mod rules;

use modelpack_plugin_sdk::policy_prelude::*;

/// The plugin as the host sees it (exported on wasm32 only).
pub struct Plugin;

impl PolicyPlugin for Plugin {
    // Embedded in the component's `modelpack-plugin-info` section; `name` is what
    // `--policy NAME` and the policy config file refer to.
    const INFO: &'static str = r#"{"name":"max-tensor-count","version":"0.1.0","description":"limits the number of tensors in a model (template example)"}"#;

    fn evaluate(input: PolicyInput) -> Result<Vec<Finding>, String> {
        rules::evaluate(&input)
    }
}

modelpack_plugin_sdk::export_policy_plugin!(Plugin);
