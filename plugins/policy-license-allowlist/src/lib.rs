//! Policy plugin `license-allowlist`: the model's licences against SPDX allow and deny lists.
//!
//! Settings: `{"allow": [SPDX ids], "deny": [SPDX ids], "unknown": "error"|"warning"|"ignore",
//! "missing": "error"|"warning"|"ignore"}` (both actions default to `error`; without `allow`
//! and `deny` the settings are refused while `unknown` is `error`). Finding ids:
//! `license-denied`, `license-not-allowed`, `license-unknown`, `license-missing`; the location
//! field is `/descriptor/licenses/<i>`. See [`rules`] for the semantics and [`expr`] for how
//! model-card spellings are read.

pub mod expr;
pub mod rules;

use modelpack_plugin_sdk::policy_prelude::*;

/// The plugin, exported as the component's `policy` interface.
pub struct Plugin;

impl PolicyPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"license-allowlist","version":"0.1.0","description":"licences (SPDX expressions in descriptor.licenses) against allow and deny lists"}"#;

    fn evaluate(input: PolicyInput) -> Result<Vec<Finding>, String> {
        rules::evaluate(&input)
    }
}

modelpack_plugin_sdk::export_policy_plugin!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_itself() {
        let info = modelpack_plugin_sdk::policy_info(Plugin::INFO);
        assert_eq!(info.name, "license-allowlist");
        assert_eq!(info.version, "0.1.0");
    }
}
