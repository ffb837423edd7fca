//! Converter plugin `ollama`: Ollama models (GGUF, template, system, params, licence,
//! projector and adapter layers) to ModelPack. The rules live in [`rules`]; this file is the
//! WIT adapter.

pub mod rules;

use modelpack_plugin_sdk::converter_prelude::*;

/// The plugin, exported as the component's `artifact-converter` interface.
pub struct Plugin;

impl ConverterPlugin for Plugin {
    const INFO: &'static str = r#"{"name":"ollama","version":"0.1.0","description":"Ollama models (application/vnd.ollama.image.* layers) to ModelPack, blobs kept"}"#;

    fn detect(
        _media_type: &str,
        _artifact_type: &str,
        _config_media_type: &str,
        layers: &[String],
    ) -> f32 {
        rules::detect(layers)
    }

    fn plan(artifact: ForeignArtifact) -> Result<ArtifactPlan, String> {
        let inline = |d: &str| converter_common::inline(&artifact, d).map(<[u8]>::to_vec);
        rules::plan(
            &artifact.reference,
            &artifact.manifest,
            &artifact.config,
            &inline,
        )
    }
}

modelpack_plugin_sdk::export_converter_plugin!(Plugin);
