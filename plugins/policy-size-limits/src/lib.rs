//! Policy plugin `size-limits`: total bytes, parameters and the largest file, against limits.
//!
//! Settings: `{"max_total_bytes": "20GB"|number, "max_parameters": "8B"|number,
//! "max_file_bytes": "5GiB"|number}`, each optional (decimal K/M/G/T units, binary
//! KiB/MiB/GiB/TiB; counts K/M/B/T). Finding ids: `size-limit-exceeded` (error),
//! `parameters-unknown` (warning), `size-totals` (info). See [`rules`].

pub mod rules;

use modelpack_plugin_sdk::policy_prelude::*;

/// The plugin, exported as the component's `policy` interface.
pub struct Plugin;

impl PolicyPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"size-limits","version":"0.1.0","description":"limits on total bytes, parameters and the largest file"}"#;

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
        assert_eq!(info.name, "size-limits");
    }
}
