//! Ollama manifests (`application/vnd.ollama.image.*` layers, a `ConfigV2` config) to
//! ModelPack. Rules and their sources (ollama/ollama `server/images.go`,
//! `types/model/name.go`): docs/converters.md.

use std::collections::BTreeMap;

use converter_common::{Manifest, candidate, finding, parse_manifest, reuse};
use modelpack_plugin_sdk::converter_prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

const PREFIX: &str = "application/vnd.ollama.image.";

/// The config blob (`ConfigV2`), fields Ollama derived from the GGUF when it created the model.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConfigV2 {
    model_format: String,
    model_family: String,
    model_families: Vec<String>,
    model_type: String,
    file_type: String,
}

/// Confidence that the manifest is an Ollama model: it has an Ollama layer.
pub fn detect(layers: &[String]) -> f32 {
    if layers.iter().any(|l| l.starts_with(PREFIX)) {
        1.0
    } else {
        0.0
    }
}

/// `NAME` of `ollama:HOST/NS/NAME:TAG` (the reference the host passes), if any.
fn model_name(reference: &str) -> Option<(String, String)> {
    let r = reference.strip_prefix("ollama:")?;
    let (path, tag) = r.rsplit_once(':').unwrap_or((r, "latest"));
    let name = path.rsplit('/').next()?.to_string();
    (!name.is_empty()).then(|| (name, tag.to_string()))
}

/// Plans the conversion. `inline` returns the bytes of a small layer by digest.
pub fn plan(
    reference: &str,
    manifest_json: &str,
    config: &str,
    inline: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<ArtifactPlan, String> {
    let m: Manifest = parse_manifest(manifest_json)?;
    let mut layers = Vec::new();
    let mut findings = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let numbered = |base: &str, ext: &str, n: usize| {
        if n == 1 {
            format!("{base}{ext}")
        } else {
            format!("{base}-{n}{ext}")
        }
    };
    for (i, l) in m.layers.iter().enumerate() {
        // `application/vnd.ollama.image.template; name=…` carries parameters after `;`.
        let base = l.media_type.split(';').next().unwrap_or("").trim();
        let Some(what) = base.strip_prefix(PREFIX) else {
            return Err(format!(
                "manifest layers[{i}]: media type {:?} is not an Ollama layer",
                l.media_type
            ));
        };
        let n = {
            let c = counts.entry(what).or_insert(0);
            *c += 1;
            *c
        };
        let (kind, path) = match what {
            "model" => (FileKind::Weight, numbered("model", ".gguf", n)),
            "projector" => (FileKind::Weight, numbered("projector", ".gguf", n)),
            "adapter" => (FileKind::Weight, numbered("adapter", ".gguf", n)),
            "template" | "prompt" => (FileKind::WeightConfig, numbered("template", "", n)),
            "system" => (FileKind::WeightConfig, numbered("system", "", n)),
            "params" => (FileKind::WeightConfig, numbered("params", ".json", n)),
            "messages" => (FileKind::WeightConfig, numbered("messages", ".json", n)),
            "license" => (FileKind::Doc, numbered("LICENSE", "", n)),
            "embed" => {
                findings.push(finding(
                    "obsolete-layer-dropped",
                    Severity::Warning,
                    format!("layers[{i}] ({}): embed layers are obsolete in Ollama and ignored by it; left out", l.digest),
                    None,
                ));
                layers.push(PlannedLayer {
                    source_digest: l.digest.clone(),
                    kind: FileKind::Ignore,
                    encoding: "raw".into(),
                    path: None,
                    action: LayerAction::Drop,
                    annotations: vec![],
                });
                continue;
            }
            other => {
                return Err(format!(
                    "manifest layers[{i}]: unknown Ollama layer type {other:?}"
                ));
            }
        };
        if what == "params" {
            check_params(l.digest.as_str(), inline)?;
        }
        layers.push(reuse(&l.digest, kind, "raw", &path, vec![]));
    }
    if counts.get("model").copied().unwrap_or(0) == 0 {
        return Err("manifest: no application/vnd.ollama.image.model layer (no weights)".into());
    }
    let mut candidates = Vec::new();
    if !config.trim().is_empty() {
        let c: ConfigV2 = serde_json::from_str(config)
            .map_err(|e| format!("config ({}): not an Ollama config: {e}", m.config.digest))?;
        // What Ollama derived from the GGUF: the GGUF header read again by the format plugin
        // says the same first-hand and wins (it comes first in the same class).
        let derived = Some("as Ollama read it from the GGUF when the model was created");
        if !c.model_format.is_empty() {
            candidates.push(candidate(
                "/config/format",
                json!(c.model_format),
                SourceClass::WeightHeaders,
                "config",
                "model_format",
                derived,
            ));
        }
        // F16/F32/BF16 name an unquantised storage type, not a quantisation.
        if !c.file_type.is_empty() && !["F16", "F32", "BF16", "F64"].contains(&c.file_type.as_str())
        {
            candidates.push(candidate(
                "/config/quantization",
                json!(c.file_type),
                SourceClass::WeightHeaders,
                "config",
                "file_type",
                derived,
            ));
        }
        if !c.model_type.is_empty() {
            candidates.push(candidate(
                "/config/paramSize",
                json!(c.model_type),
                SourceClass::Heuristic,
                "config",
                "model_type",
                Some("Ollama's rounded parameter size"),
            ));
        }
        let family = if c.model_family.is_empty() {
            c.model_families.first().cloned().unwrap_or_default()
        } else {
            c.model_family.clone()
        };
        if !family.is_empty() {
            candidates.push(candidate(
                "/descriptor/family",
                json!(family),
                SourceClass::ConventionFiles,
                "config",
                "model_family",
                None,
            ));
        }
    }
    if let Some((name, tag)) = model_name(reference) {
        candidates.push(candidate(
            "/descriptor/name",
            json!(name),
            SourceClass::Heuristic,
            "reference",
            "model name",
            None,
        ));
        if tag != "latest" {
            candidates.push(candidate(
                "/descriptor/version",
                json!(tag),
                SourceClass::Heuristic,
                "reference",
                "tag",
                None,
            ));
        }
    }
    Ok(ArtifactPlan {
        candidates,
        layers,
        annotations: vec![],
        findings,
        needs: vec![],
    })
}

/// A `params` layer is a JSON object (Ollama decodes it into its options map).
fn check_params(digest: &str, inline: &dyn Fn(&str) -> Option<Vec<u8>>) -> Result<(), String> {
    let Some(bytes) = inline(digest) else {
        return Ok(());
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(_) => Err(format!("params layer {digest}: not a JSON object")),
        Err(e) => Err(format!("params layer {digest}: not JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
              "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:c0","size":90}},
              "layers":[
                {{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:m1","size":100}},
                {{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:t1","size":10}},
                {{"mediaType":"application/vnd.ollama.image.params","digest":"sha256:p1","size":20}},
                {{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:l1","size":30}},
                {{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:l2","size":31}}{extra}
              ]}}"#
        )
    }
    const CONFIG: &str = r#"{"model_format":"gguf","model_family":"llama","model_families":["llama"],"model_type":"8.0B","file_type":"Q4_0","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

    fn params(d: &str) -> Option<Vec<u8>> {
        (d == "sha256:p1").then(|| br#"{"stop":["<|eot_id|>"],"temperature":0.7}"#.to_vec())
    }

    #[test]
    fn layers_get_kinds_and_names() {
        let p = plan(
            "ollama:registry.ollama.ai/library/llama3:8b",
            &manifest(""),
            CONFIG,
            &params,
        )
        .unwrap();
        let got: Vec<(String, String)> = p
            .layers
            .iter()
            .map(|l| (l.source_digest.clone(), l.path.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("sha256:m1", "model.gguf"),
                ("sha256:t1", "template"),
                ("sha256:p1", "params.json"),
                ("sha256:l1", "LICENSE"),
                ("sha256:l2", "LICENSE-2")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(matches!(p.layers[0].kind, FileKind::Weight));
        assert!(matches!(p.layers[1].kind, FileKind::WeightConfig));
        assert!(matches!(p.layers[3].kind, FileKind::Doc));
        assert!(
            p.layers
                .iter()
                .all(|l| l.encoding == "raw" && matches!(l.action, LayerAction::Reuse))
        );
        let c: Vec<(&str, &str)> = p
            .candidates
            .iter()
            .map(|c| (c.field.as_str(), c.value.as_str()))
            .collect();
        assert!(c.contains(&("/config/quantization", "\"Q4_0\"")), "{c:?}");
        assert!(c.contains(&("/descriptor/family", "\"llama\"")), "{c:?}");
        assert!(c.contains(&("/descriptor/name", "\"llama3\"")), "{c:?}");
        assert!(c.contains(&("/descriptor/version", "\"8b\"")), "{c:?}");
    }

    #[test]
    fn bad_inputs_are_named() {
        let e = plan("ollama:x", &manifest(""), CONFIG, &|_| {
            Some(b"[1]".to_vec())
        })
        .unwrap_err();
        assert_eq!(e, "params layer sha256:p1: not a JSON object");
        let m = manifest(
            r#",{"mediaType":"application/vnd.ollama.image.weird","digest":"sha256:w","size":1}"#,
        );
        let e = plan("ollama:x", &m, CONFIG, &params).unwrap_err();
        assert_eq!(e, "manifest layers[5]: unknown Ollama layer type \"weird\"");
        let m = manifest("").replace("image.model", "image.system");
        let e = plan("ollama:x", &m, CONFIG, &params).unwrap_err();
        assert!(
            e.contains("no application/vnd.ollama.image.model layer"),
            "{e}"
        );
        let e = plan("ollama:x", &manifest(""), "{\"model_format\": 3}", &params).unwrap_err();
        assert!(
            e.starts_with("config (sha256:c0): not an Ollama config"),
            "{e}"
        );
    }

    #[test]
    fn obsolete_embed_layers_are_dropped_with_a_warning() {
        let m = manifest(
            r#",{"mediaType":"application/vnd.ollama.image.embed","digest":"sha256:e","size":1}"#,
        );
        let p = plan("ollama:x", &m, CONFIG, &params).unwrap();
        assert!(matches!(p.layers[5].action, LayerAction::Drop));
        assert_eq!(p.findings[0].id, "obsolete-layer-dropped");
    }

    #[test]
    fn detection_needs_an_ollama_layer() {
        assert_eq!(detect(&["application/vnd.ollama.image.model".into()]), 1.0);
        assert_eq!(
            detect(&["application/vnd.docker.image.rootfs.diff.tar.gzip".into()]),
            0.0
        );
    }
}
