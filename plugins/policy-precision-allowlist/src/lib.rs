//! Policy plugin `precision-allowlist`: declared precisions and weight dtypes against lists.
//!
//! Settings: `{"allow": ["bfloat16", "float16", …], "deny": [...]}` (ModelPack precision
//! values; `bf16`-style aliases accepted). Finding ids: `precision-not-allowed` (error, at
//! `/config/precision`), `precision-missing` (warning), `dtype-not-allowed` (error, at the
//! weight file). See [`rules`] and [`modelpack_spec::precision`].

pub mod rules;

use modelpack_plugin_sdk::policy_prelude::*;

/// The plugin, exported as the component's `policy` interface.
pub struct Plugin;

impl PolicyPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"precision-allowlist","version":"0.1.0","description":"config.precision and weight dtypes against allowed and denied precisions"}"#;

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
        assert_eq!(info.name, "precision-allowlist");
    }
}
