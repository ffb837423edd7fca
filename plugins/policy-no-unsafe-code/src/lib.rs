//! Policy plugin `no-unsafe-code`: nothing in the model may run code when it is loaded.
//!
//! Settings: `{"allow_code_layers": false, "allow_globals": ["module.name", "module.*", …],
//! "unscanned": "error"}`.
//! Finding ids: `unsafe-code` (unsafe pickle globals and calls, object arrays), `code-layer`
//! (files of layer kind `code`), `embedded-code` (TorchScript code inside weights) and
//! `unscanned-file` (a file or pickle that could not be fully read: fails closed); the
//! location file is the file's path. See [`rules`].

pub mod rules;

use modelpack_plugin_sdk::policy_prelude::*;

/// The plugin, exported as the component's `policy` interface.
pub struct Plugin;

impl PolicyPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"no-unsafe-code","version":"0.1.0","description":"no unsafe pickle globals, object arrays or code layers (unless allowed)"}"#;

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
        assert_eq!(info.name, "no-unsafe-code");
    }
}
