//! A convention plugin that takes the built-in `convention-hf`'s name (a plugin with a
//! built-in one's name replaces it) and says nothing. With it, `generate` runs as if the
//! Hugging Face convention had been deleted from the bundle: the tests show that no knowledge
//! of its files (`tokenizer.json`, `training_args.bin`…) is left in the host.

use modelpack_plugin_sdk::convention::*;

/// The plugin.
pub struct BlankHf;

impl ConventionPlugin for BlankHf {
    const INFO: &'static str = r#"{"name":"convention-hf","version":"0.0.0","description":"knows nothing (tests only)","file_names":[]}"#;

    fn run(_files: &dyn Files, _input: &ConventionInput) -> Result<ConventionReport, String> {
        Ok(empty_report())
    }
}

modelpack_plugin_sdk::export_convention_plugin!(BlankHf);
