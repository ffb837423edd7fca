//! Helpers shared by the built-in converter plugins: the OCI manifest as a converter reads it,
//! and builders for the WIT records a plan is made of (layers, field candidates, findings).
//!
//! Plain Rust over `serde_json`, so every converter's rules compile and test natively.

use std::collections::BTreeMap;

use modelpack_plugin_sdk::converter_prelude::*;
use serde::Deserialize;
use serde_json::Value;

/// `org.opencontainers.image.title`.
pub const TITLE: &str = "org.opencontainers.image.title";
/// `org.cncf.model.filepath`.
pub const FILEPATH: &str = "org.cncf.model.filepath";

/// A content descriptor as a converter needs it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Desc {
    /// Media type.
    #[serde(default)]
    pub media_type: String,
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    #[serde(default)]
    pub size: u64,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest (or Docker schema 2 manifest) as a converter needs it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// `mediaType`, empty when absent.
    #[serde(default)]
    pub media_type: String,
    /// `artifactType`, empty when absent.
    #[serde(default)]
    pub artifact_type: String,
    /// The config descriptor.
    pub config: Desc,
    /// Layers in order.
    #[serde(default)]
    pub layers: Vec<Desc>,
    /// Manifest annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// Parses the manifest JSON; the error names the field at fault.
pub fn parse_manifest(json: &str) -> Result<Manifest, String> {
    serde_json::from_str(json).map_err(|e| format!("manifest: {e}"))
}

/// The bytes of a small layer the host inlined, by digest.
pub fn inline<'a>(artifact: &'a ForeignArtifact, digest: &str) -> Option<&'a [u8]> {
    artifact
        .inline_blobs
        .iter()
        .find(|(d, _)| d == digest)
        .map(|(_, b)| b.as_slice())
}

/// A layer kept as it is (same blob, same digest), with a new kind and file path.
pub fn reuse(
    digest: &str,
    kind: FileKind,
    encoding: &str,
    path: &str,
    annotations: Vec<(String, String)>,
) -> PlannedLayer {
    PlannedLayer {
        source_digest: digest.to_string(),
        kind,
        encoding: encoding.to_string(),
        path: Some(path.to_string()),
        action: LayerAction::Reuse,
        annotations,
    }
}

/// A config field candidate: JSON pointer, JSON value, class, the file and key it came from.
pub fn candidate(
    field: &str,
    value: Value,
    source: SourceClass,
    file: &str,
    key: &str,
    note: Option<&str>,
) -> FieldCandidate {
    FieldCandidate {
        field: field.to_string(),
        value: value.to_string(),
        source,
        origin: Origin {
            file: Some(file.to_string()),
            key: Some(key.to_string()),
        },
        note: note.map(str::to_string),
    }
}

/// A finding about the source artifact.
pub fn finding(id: &str, severity: Severity, message: String, field: Option<String>) -> Finding {
    Finding {
        id: id.to_string(),
        severity,
        message,
        location: Location { file: None, field },
    }
}

/// A file path as the source wrote it, made relative (`./x` → `x`); `None` when it is empty,
/// absolute, or leaves its root (the host checks again; this only keeps plans clean).
pub fn clean_path(p: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => continue,
            ".." => return None,
            s if s.contains('\\') => return None,
            s => parts.push(s),
        }
    }
    if p.starts_with('/') || parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// The plan with nothing but a request for other artifacts.
pub fn needs(refs: Vec<String>) -> ArtifactPlan {
    ArtifactPlan {
        candidates: vec![],
        layers: vec![],
        annotations: vec![],
        findings: vec![],
        needs: refs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_relative_or_refused() {
        assert_eq!(clean_path("./model.gguf").as_deref(), Some("model.gguf"));
        assert_eq!(
            clean_path("data//train.csv").as_deref(),
            Some("data/train.csv")
        );
        assert_eq!(clean_path("."), None);
        assert_eq!(clean_path("../x"), None);
        assert_eq!(clean_path("a/../../x"), None);
        assert_eq!(clean_path("/etc/passwd"), None);
        assert_eq!(clean_path("a\\b"), None);
    }

    #[test]
    fn manifests_parse_with_and_without_optional_fields() {
        let m = parse_manifest(
            r#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"sha256:aa","size":2},
               "layers":[{"mediaType":"l","digest":"sha256:bb","size":3,"annotations":{"k":"v"}}]}"#,
        )
        .unwrap();
        assert_eq!(m.media_type, "");
        assert_eq!(m.config.media_type, "c");
        assert_eq!(m.layers[0].annotations["k"], "v");
        let e = parse_manifest(r#"{"layers":[]}"#).unwrap_err();
        assert!(e.contains("missing field `config`"), "{e}");
    }
}
