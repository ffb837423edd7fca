//! Policy plugin `signature-required`: the model must carry a signature that verified, by an
//! allowed key.
//!
//! Settings: `{"allowedKeys": [key id or PEM public key, ...], "requireSbom": bool}`. Without
//! `allowedKeys` any signature the host verified passes (the host verifies only with the keys
//! given to `check --public-key`). Finding ids: `signature-missing`, `signature-key-not-allowed`,
//! `sbom-missing` (errors), `signature-verified` (info). See [`rules`].

pub mod rules;

use modelpack_plugin_sdk::policy_prelude::*;

/// The plugin, exported as the component's `policy` interface.
pub struct Plugin;

impl PolicyPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"signature-required","version":"0.1.0","description":"requires a verified signature by an allowed key (and optionally an attached SBOM)"}"#;

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
        assert_eq!(info.name, "signature-required");
        assert_eq!(info.version, "0.1.0");
    }
}
