//! Converter plugin `docker`: Docker Model Runner artifacts (GGUF, safetensors, licence,
//! projector, chat template layers) to ModelPack. The rules live in [`rules`]; this file is
//! the WIT adapter.

pub mod rules;

use modelpack_plugin_sdk::converter_prelude::*;

/// The plugin, exported as the component's `artifact-converter` interface.
pub struct Plugin;

impl ConverterPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"docker-model","version":"0.1.0","description":"Docker Model Runner artifacts (application/vnd.docker.ai.*) to ModelPack, blobs kept"}"#;

    fn detect(
        _media_type: &str,
        _artifact_type: &str,
        config_media_type: &str,
        layers: &[String],
    ) -> f32 {
        rules::detect(config_media_type, layers)
    }

    fn plan(artifact: ForeignArtifact) -> Result<ArtifactPlan, String> {
        rules::plan(&artifact.manifest, &artifact.config)
    }
}

modelpack_plugin_sdk::export_converter_plugin!(Plugin);
