//! Legacy ModelPack (`application/vnd.cnai.model.*`, `org.cnai.model.*`, written by modctl
//! before the CNCF rename): every layer is kept, only the names change. Rules and their
//! sources: docs/converters.md.

use converter_common::{Manifest, candidate, clean_path, finding, parse_manifest, reuse};
use modelpack_plugin_sdk::converter_prelude::*;
use serde_json::Value;

/// The legacy manifest `artifactType`.
pub const LEGACY_ARTIFACT: &str = "application/vnd.cnai.model.manifest.v1+json";
/// The legacy config media type.
pub const LEGACY_CONFIG: &str = "application/vnd.cnai.model.config.v1+json";
const LAYER_PREFIX: &str = "application/vnd.cnai.model.";
const ANNOTATION_PREFIX: &str = "org.cnai.model.";

/// Confidence that the artifact is a legacy ModelPack artifact.
pub fn detect(artifact_type: &str, config_media_type: &str, layers: &[String]) -> f32 {
    if artifact_type == LEGACY_ARTIFACT || config_media_type == LEGACY_CONFIG {
        1.0
    } else if !layers.is_empty() && layers.iter().all(|l| l.starts_with(LAYER_PREFIX)) {
        0.8
    } else {
        0.0
    }
}

/// `weight.config.v1.tar+gzip` → (kind, encoding); `weight.v1` (early raw spelling) → raw.
pub fn parse_layer_type(mt: &str) -> Option<(FileKind, &'static str)> {
    let rest = mt.strip_prefix(LAYER_PREFIX)?;
    let (kind, enc) = match rest.split_once(".v1") {
        Some((k, e)) => (k, e),
        None => return None,
    };
    let kind = match kind {
        "weight" => FileKind::Weight,
        "weight.config" => FileKind::WeightConfig,
        "doc" => FileKind::Doc,
        "code" => FileKind::Code,
        "dataset" => FileKind::Dataset,
        _ => return None,
    };
    let enc = match enc {
        "" | ".raw" => "raw",
        ".tar" => "tar",
        ".tar+gzip" => "tar+gzip",
        ".tar+zstd" => "tar+zstd",
        _ => return None,
    };
    Some((kind, enc))
}

/// Plans the rename.
pub fn plan(manifest_json: &str, config: &str) -> Result<ArtifactPlan, String> {
    let m: Manifest = parse_manifest(manifest_json)?;
    let mut layers = Vec::new();
    for (i, l) in m.layers.iter().enumerate() {
        let Some((kind, enc)) = parse_layer_type(&l.media_type) else {
            return Err(format!(
                "manifest layers[{i}]: media type {:?} is not a vnd.cnai model layer",
                l.media_type
            ));
        };
        let raw_path = [
            "org.cnai.model.filepath",
            "org.cncf.model.filepath",
            converter_common::TITLE,
        ]
        .iter()
        .find_map(|k| l.annotations.get(*k));
        let Some(raw_path) = raw_path else {
            return Err(format!(
                "manifest layers[{i}] ({}): no org.cnai.model.filepath annotation",
                l.digest
            ));
        };
        let Some(path) = clean_path(raw_path) else {
            return Err(format!(
                "manifest layers[{i}]: file path {raw_path:?} is not a relative path inside the model"
            ));
        };
        // Renamed annotations; the host writes filepath and title itself.
        let annotations = l
            .annotations
            .iter()
            .filter(|(k, _)| !k.ends_with(".filepath") && k.as_str() != converter_common::TITLE)
            .map(|(k, v)| {
                let k = match k.strip_prefix(ANNOTATION_PREFIX) {
                    Some(rest) => format!("org.cncf.model.{rest}"),
                    None => k.clone(),
                };
                (k, v.clone())
            })
            .collect();
        layers.push(reuse(&l.digest, kind, enc, &path, annotations));
    }
    let mut findings = vec![finding(
        "legacy-names-rewritten",
        Severity::Info,
        format!(
            "{} layers renamed from application/vnd.cnai.model.* to application/vnd.cncf.model.*; every blob kept",
            layers.len()
        ),
        None,
    )];
    let candidates = if config.trim().is_empty() {
        findings.push(finding(
            "config-unreadable",
            Severity::Warning,
            "the legacy config blob was not readable as text; the config is built from the weights alone".into(),
            None,
        ));
        vec![]
    } else {
        config_candidates(config)?
    };
    let annotations = m
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(ArtifactPlan {
        candidates,
        layers,
        annotations,
        findings,
        needs: vec![],
    })
}

/// Every leaf of the legacy config's `descriptor` and `config` (with `capabilities`) as a
/// candidate; the schema did not change with the rename. `modelfs` is recomputed.
fn config_candidates(config: &str) -> Result<Vec<FieldCandidate>, String> {
    let v: Value =
        serde_json::from_str(config).map_err(|e| format!("legacy config: not JSON: {e}"))?;
    let mut out = Vec::new();
    for section in ["descriptor", "config"] {
        let Some(obj) = v.get(section).and_then(Value::as_object) else {
            continue;
        };
        for (k, val) in obj {
            if section == "config" && k == "capabilities" {
                if let Some(caps) = val.as_object() {
                    for (ck, cv) in caps {
                        let key = format!("config.capabilities.{ck}");
                        out.push(candidate(
                            &format!("/config/capabilities/{ck}"),
                            cv.clone(),
                            SourceClass::ConventionFiles,
                            "legacy config",
                            &key,
                            None,
                        ));
                    }
                }
                continue;
            }
            out.push(candidate(
                &format!("/{section}/{k}"),
                val.clone(),
                SourceClass::ConventionFiles,
                "legacy config",
                &format!("{section}.{k}"),
                None,
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "artifactType": "application/vnd.cnai.model.manifest.v1+json",
      "config": {"mediaType": "application/vnd.cnai.model.config.v1+json", "digest": "sha256:c0", "size": 10},
      "layers": [
        {"mediaType": "application/vnd.cnai.model.weight.v1.raw", "digest": "sha256:a1", "size": 5,
         "annotations": {"org.cnai.model.filepath": "model.safetensors",
                         "org.cnai.model.file.metadata+json": "{\"name\":\"model.safetensors\"}",
                         "org.cnai.model.file.mediatype.untested": "true"}},
        {"mediaType": "application/vnd.cnai.model.doc.v1.tar", "digest": "sha256:b2", "size": 1024,
         "annotations": {"org.cnai.model.filepath": "README.md"}}
      ],
      "annotations": {"org.opencontainers.image.created": "2025-01-01T00:00:00Z"}
    }"#;

    #[test]
    fn layer_types_map_to_kind_and_encoding() {
        assert!(matches!(
            parse_layer_type("application/vnd.cnai.model.weight.config.v1.tar+gzip"),
            Some((FileKind::WeightConfig, "tar+gzip"))
        ));
        assert!(matches!(
            parse_layer_type("application/vnd.cnai.model.weight.v1"),
            Some((FileKind::Weight, "raw"))
        ));
        assert!(parse_layer_type("application/vnd.cnai.model.weights.v1.raw").is_none());
        assert!(parse_layer_type("application/vnd.cnai.model.doc.v1.tar+xz").is_none());
    }

    #[test]
    fn every_layer_is_reused_with_renamed_annotations() {
        let config = r#"{"descriptor":{"name":"tiny","licenses":["MIT"]},"config":{"format":"safetensors","capabilities":{"reasoning":false}},"modelfs":{"type":"layers","diffIds":[]}}"#;
        let p = plan(MANIFEST, config).unwrap();
        assert_eq!(p.layers.len(), 2);
        let w = &p.layers[0];
        assert_eq!(w.source_digest, "sha256:a1");
        assert!(matches!(w.kind, FileKind::Weight));
        assert_eq!(w.encoding, "raw");
        assert_eq!(w.path.as_deref(), Some("model.safetensors"));
        assert!(matches!(w.action, LayerAction::Reuse));
        let keys: Vec<&str> = w.annotations.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "org.cncf.model.file.mediatype.untested",
                "org.cncf.model.file.metadata+json"
            ]
        );
        assert_eq!(p.layers[1].encoding, "tar");
        let fields: Vec<(&str, &str)> = p
            .candidates
            .iter()
            .map(|c| (c.field.as_str(), c.value.as_str()))
            .collect();
        assert!(
            fields.contains(&("/descriptor/name", "\"tiny\"")),
            "{fields:?}"
        );
        assert!(
            fields.contains(&("/config/capabilities/reasoning", "false")),
            "{fields:?}"
        );
        assert!(!fields.iter().any(|(f, _)| f.starts_with("/modelfs")));
        assert_eq!(p.annotations[0].0, "org.opencontainers.image.created");
    }

    #[test]
    fn a_layer_without_a_path_or_of_another_type_is_refused() {
        let m = MANIFEST.replace("\"org.cnai.model.filepath\": \"README.md\"", "\"x\": \"y\"");
        let e = plan(&m, "{}").unwrap_err();
        assert_eq!(
            e,
            "manifest layers[1] (sha256:b2): no org.cnai.model.filepath annotation"
        );
        let m = MANIFEST.replace("vnd.cnai.model.doc.v1.tar", "vnd.example.blob");
        let e = plan(&m, "{}").unwrap_err();
        assert!(
            e.contains("layers[1]: media type \"application/vnd.example.blob\""),
            "{e}"
        );
        let m = MANIFEST.replace("\"README.md\"", "\"../../etc/passwd\"");
        let e = plan(&m, "{}").unwrap_err();
        assert!(
            e.contains("\"../../etc/passwd\" is not a relative path"),
            "{e}"
        );
    }

    #[test]
    fn detection() {
        assert_eq!(detect(LEGACY_ARTIFACT, "", &[]), 1.0);
        assert_eq!(detect("", LEGACY_CONFIG, &[]), 1.0);
        assert_eq!(
            detect(
                "",
                "x",
                &["application/vnd.cnai.model.weight.v1.raw".into()]
            ),
            0.8
        );
        assert_eq!(
            detect("application/vnd.cncf.model.manifest.v1+json", "", &[]),
            0.0
        );
    }
}
