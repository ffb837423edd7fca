//! Converter plugin `cnai`: legacy ModelPack artifacts (`vnd.cnai` / `org.cnai`) to the CNCF
//! names, every blob kept. The rules live in [`rules`]; this file is the WIT adapter.

pub mod rules;

use modelpack_plugin_sdk::converter_prelude::*;

/// The plugin, exported as the component's `artifact-converter` interface.
pub struct Plugin;

impl ConverterPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"cnai","version":"0.1.0","description":"legacy ModelPack artifacts (application/vnd.cnai.model.*, org.cnai.model.*) renamed to the CNCF names, every blob kept"}"#;

    fn detect(
        _media_type: &str,
        artifact_type: &str,
        config_media_type: &str,
        layers: &[String],
    ) -> f32 {
        rules::detect(artifact_type, config_media_type, layers)
    }

    fn plan(artifact: ForeignArtifact) -> Result<ArtifactPlan, String> {
        rules::plan(&artifact.manifest, &artifact.config)
    }
}

modelpack_plugin_sdk::export_converter_plugin!(Plugin);
