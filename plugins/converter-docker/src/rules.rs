//! Docker Model Runner artifacts (`application/vnd.docker.ai.*`) to ModelPack. Rules and their
//! sources (docker/model-distribution `pkg/types/config.go`): docs/converters.md.

use std::collections::BTreeMap;

use converter_common::{FILEPATH, Manifest, TITLE, candidate, clean_path, parse_manifest, reuse};
use modelpack_plugin_sdk::converter_prelude::*;
use serde::Deserialize;
use serde_json::json;

const CONFIG_PREFIX: &str = "application/vnd.docker.ai.model.config";
const LAYER_PREFIX: &str = "application/vnd.docker.ai.";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConfigFile {
    config: Config,
    descriptor: Descriptor,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    format: String,
    quantization: String,
    parameters: String,
    architecture: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Descriptor {
    created: Option<String>,
    #[serde(rename = "createdAt")]
    created_at: Option<String>,
}

/// Confidence that the artifact is a Docker model.
pub fn detect(config_media_type: &str, layers: &[String]) -> f32 {
    if config_media_type.starts_with(CONFIG_PREFIX) {
        1.0
    } else if !layers.is_empty() && layers.iter().all(|l| l.starts_with(LAYER_PREFIX)) {
        0.7
    } else {
        0.0
    }
}

/// Kind, encoding and default file name of a layer type.
fn layer_type(mt: &str) -> Option<(FileKind, &'static str, &'static str, &'static str)> {
    Some(match mt.strip_prefix(LAYER_PREFIX)? {
        "gguf.v3" | "model.file.v1+gguf" => (FileKind::Weight, "raw", "model", ".gguf"),
        "gguf.v3.lora" => (FileKind::Weight, "raw", "adapter", ".gguf"),
        "safetensors" => (FileKind::Weight, "raw", "model", ".safetensors"),
        "mmproj" => (FileKind::Weight, "raw", "mmproj", ".gguf"),
        "license" => (FileKind::Doc, "raw", "LICENSE", ""),
        "chat.template.jinja" => (FileKind::WeightConfig, "raw", "template", ".jinja"),
        "dir.tar" | "vllm.config.tar" => (FileKind::WeightConfig, "tar", "", ""),
        _ => return None,
    })
}

/// Plans the conversion.
pub fn plan(manifest_json: &str, config: &str) -> Result<ArtifactPlan, String> {
    let m: Manifest = parse_manifest(manifest_json)?;
    let mut layers = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, l) in m.layers.iter().enumerate() {
        let Some((kind, enc, base, ext)) = layer_type(&l.media_type) else {
            return Err(format!(
                "manifest layers[{i}]: media type {:?} is not a Docker model layer",
                l.media_type
            ));
        };
        let named = l.annotations.get(FILEPATH).or(l.annotations.get(TITLE));
        let path = match named {
            Some(p) => clean_path(p).ok_or_else(|| {
                format!(
                    "manifest layers[{i}]: file path {p:?} is not a relative path inside the model"
                )
            })?,
            None if enc == "tar" => ".".to_string(),
            None => {
                let n = counts.entry(base).or_insert(0);
                *n += 1;
                if *n == 1 {
                    format!("{base}{ext}")
                } else {
                    format!("{base}-{n}{ext}")
                }
            }
        };
        let annotations = l
            .annotations
            .iter()
            .filter(|(k, _)| k.starts_with("org.cncf.model.") && k.as_str() != FILEPATH)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        layers.push(reuse(&l.digest, kind, enc, &path, annotations));
    }
    if !layers.iter().any(|l| matches!(l.kind, FileKind::Weight)) {
        return Err("manifest: no GGUF or safetensors layer (no weights)".into());
    }
    let mut candidates = Vec::new();
    if !config.trim().is_empty() {
        let c: ConfigFile = serde_json::from_str(config).map_err(|e| {
            format!(
                "config ({}): not a Docker model config: {e}",
                m.config.digest
            )
        })?;
        let cfg = &c.config;
        if !cfg.format.is_empty() {
            candidates.push(candidate(
                "/config/format",
                json!(cfg.format),
                SourceClass::ConventionFiles,
                "config",
                "config.format",
                None,
            ));
        }
        if !cfg.quantization.is_empty() {
            candidates.push(candidate(
                "/config/quantization",
                json!(cfg.quantization),
                SourceClass::WeightHeaders,
                "config",
                "config.quantization",
                Some("as the packager read it from the weights"),
            ));
        }
        if !cfg.parameters.is_empty() {
            candidates.push(candidate(
                "/config/paramSize",
                json!(cfg.parameters),
                SourceClass::Heuristic,
                "config",
                "config.parameters",
                Some("the packager's rounded parameter count"),
            ));
        }
        if !cfg.architecture.is_empty() {
            // Docker writes the GGUF `general.architecture` (llama, qwen2): a family, not
            // ModelPack's architecture (transformer…).
            candidates.push(candidate(
                "/descriptor/family",
                json!(cfg.architecture),
                SourceClass::ConventionFiles,
                "config",
                "config.architecture",
                Some("GGUF general.architecture names the family"),
            ));
        }
        if let Some(t) = c
            .descriptor
            .created
            .as_ref()
            .or(c.descriptor.created_at.as_ref())
        {
            candidates.push(candidate(
                "/descriptor/createdAt",
                json!(t),
                SourceClass::ConventionFiles,
                "config",
                "descriptor.created",
                None,
            ));
        }
    }
    Ok(ArtifactPlan {
        candidates,
        layers,
        annotations: m.annotations.into_iter().collect(),
        findings: vec![],
        needs: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
      "config":{"mediaType":"application/vnd.docker.ai.model.config.v0.1+json","digest":"sha256:c0","size":300},
      "layers":[
        {"mediaType":"application/vnd.docker.ai.gguf.v3","digest":"sha256:g1","size":1000},
        {"mediaType":"application/vnd.docker.ai.license","digest":"sha256:l1","size":10},
        {"mediaType":"application/vnd.docker.ai.chat.template.jinja","digest":"sha256:j1","size":10,
         "annotations":{"org.cncf.model.filepath":"chat_template.jinja"}}
      ]}"#;
    const CONFIG: &str = r#"{"config":{"format":"gguf","quantization":"Q4_K_M","parameters":"1.10 B","architecture":"llama","size":"635992801"},"descriptor":{"created":"2025-01-01T00:00:00Z"},"rootfs":{"type":"rootfs","diff_ids":[]}}"#;

    #[test]
    fn layers_and_config() {
        let p = plan(MANIFEST, CONFIG).unwrap();
        let paths: Vec<&str> = p
            .layers
            .iter()
            .map(|l| l.path.as_deref().unwrap())
            .collect();
        assert_eq!(paths, ["model.gguf", "LICENSE", "chat_template.jinja"]);
        assert!(matches!(p.layers[0].kind, FileKind::Weight));
        assert!(matches!(p.layers[1].kind, FileKind::Doc));
        assert!(matches!(p.layers[2].kind, FileKind::WeightConfig));
        let c: Vec<(&str, &str)> = p
            .candidates
            .iter()
            .map(|c| (c.field.as_str(), c.value.as_str()))
            .collect();
        assert!(c.contains(&("/config/format", "\"gguf\"")), "{c:?}");
        assert!(c.contains(&("/descriptor/family", "\"llama\"")), "{c:?}");
        assert!(
            c.contains(&("/descriptor/createdAt", "\"2025-01-01T00:00:00Z\"")),
            "{c:?}"
        );
    }

    #[test]
    fn unknown_layers_and_missing_weights_are_refused() {
        let m = MANIFEST.replace("ai.license", "ai.surprise");
        assert_eq!(
            plan(&m, CONFIG).unwrap_err(),
            "manifest layers[1]: media type \"application/vnd.docker.ai.surprise\" is not a Docker model layer"
        );
        let m = MANIFEST.replace("ai.gguf.v3", "ai.license");
        assert!(
            plan(&m, CONFIG)
                .unwrap_err()
                .contains("no GGUF or safetensors layer")
        );
    }

    #[test]
    fn detection() {
        assert_eq!(
            detect("application/vnd.docker.ai.model.config.v0.1+json", &[]),
            1.0
        );
        assert_eq!(
            detect(
                "application/vnd.docker.container.image.v1+json",
                &["application/vnd.ollama.image.model".into()]
            ),
            0.0
        );
    }
}
