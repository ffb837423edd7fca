//! Converter plugin `kitops`: KitOps ModelKits (Kitfile config; model, model part, code,
//! prompt, dataset and docs layers; parent kits named by `model.path`) to ModelPack. The rules
//! live in [`rules`] and [`kitfile`]; this file is the WIT adapter.

pub mod kitfile;
pub mod rules;

#[cfg(test)]
mod tests;

use modelpack_plugin_sdk::converter_prelude::*;

/// The plugin, exported as the component's `artifact-converter` interface.
pub struct Plugin;

impl ConverterPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"kitops","version":"0.1.0","description":"KitOps ModelKits (application/vnd.kitops.modelkit.*) to ModelPack, blobs kept, parent kits followed"}"#;

    fn detect(
        _media_type: &str,
        artifact_type: &str,
        config_media_type: &str,
        layers: &[String],
    ) -> f32 {
        rules::detect(artifact_type, config_media_type, layers)
    }

    fn plan(artifact: ForeignArtifact) -> Result<ArtifactPlan, String> {
        let referenced: Vec<(String, String, String)> = artifact
            .referenced
            .into_iter()
            .map(|r| (r.reference, r.manifest, r.config))
            .collect();
        rules::plan(&artifact.manifest, &artifact.config, &referenced)
    }
}

modelpack_plugin_sdk::export_converter_plugin!(Plugin);
