//! Policy plugin `required-metadata`: config fields that must be present and non-empty.
//!
//! Settings: `{"fields": ["/descriptor/name", …]}`, JSON pointers into the ModelPack config
//! (default [`rules::DEFAULT_FIELDS`]). Each field that is missing, `null`, a blank string or
//! an empty array/object gives an error `metadata-missing` located at the pointer.

pub mod rules;

use modelpack_plugin_sdk::policy_prelude::*;

/// The plugin, exported as the component's `policy` interface.
pub struct Plugin;

impl PolicyPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"required-metadata","version":"0.1.0","description":"ModelPack config fields that must be present and non-empty"}"#;

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
        assert_eq!(info.name, "required-metadata");
    }
}
