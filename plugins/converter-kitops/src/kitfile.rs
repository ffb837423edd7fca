//! The Kitfile as KitOps stores it in a ModelKit's config (JSON; kitops-ml/kitops
//! `pkg/artifact/kitfile.go`). Unknown keys are ignored: newer KitOps versions add sections
//! (`mcpservers`…) a converter need not understand.

use serde::Deserialize;

/// `digest` / `diffId` of the layer an entry was packed into (absent in kits packed before
/// KitOps recorded them).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LayerInfo {
    /// Layer digest.
    pub digest: String,
}

/// The Kitfile.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Kitfile {
    /// `manifestVersion`.
    pub manifest_version: String,
    /// `package`.
    pub package: Package,
    /// `model`.
    pub model: Option<Model>,
    /// `code`.
    pub code: Vec<Entry>,
    /// `datasets`.
    pub datasets: Vec<Dataset>,
    /// `docs`.
    pub docs: Vec<Entry>,
    /// `prompts`.
    pub prompts: Vec<Entry>,
}

/// `package`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Package {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Licence (SPDX id by convention).
    pub license: String,
    /// Authors.
    pub authors: Vec<String>,
}

/// `model`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Model {
    /// Name.
    pub name: String,
    /// A path in the kit, or a reference to a parent ModelKit.
    pub path: String,
    /// Licence.
    pub license: String,
    /// Framework (free text).
    pub framework: String,
    /// Format (free text: `gguf`, `onnx`…).
    pub format: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// `parts`.
    pub parts: Vec<Part>,
    /// Layer info.
    #[serde(flatten)]
    pub layer: LayerInfo,
}

/// `model.parts[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Part {
    /// Name.
    pub name: String,
    /// Path in the kit.
    pub path: String,
    /// Licence.
    pub license: String,
    /// Type (free text).
    #[serde(rename = "type")]
    pub kind: String,
    /// Layer info.
    #[serde(flatten)]
    pub layer: LayerInfo,
}

/// `code[]`, `docs[]`, `prompts[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Entry {
    /// Path in the kit.
    pub path: String,
    /// Licence (code only).
    pub license: String,
    /// Layer info.
    #[serde(flatten)]
    pub layer: LayerInfo,
}

/// `datasets[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Dataset {
    /// Name.
    pub name: String,
    /// Path in the kit.
    pub path: String,
    /// Licence.
    pub license: String,
    /// A remote location (`s3://…` or a ModelKit); such a dataset has no layer.
    pub remote_path: String,
    /// Layer info.
    #[serde(flatten)]
    pub layer: LayerInfo,
}

impl Kitfile {
    /// Licences of package, model, parts, datasets and code, sorted and deduplicated
    /// (KitOps `collectLicenses`).
    pub fn licenses(&self) -> Vec<String> {
        let mut l: Vec<String> = std::iter::once(self.package.license.clone())
            .chain(self.model.iter().flat_map(|m| {
                std::iter::once(m.license.clone()).chain(m.parts.iter().map(|p| p.license.clone()))
            }))
            .chain(self.datasets.iter().map(|d| d.license.clone()))
            .chain(self.code.iter().map(|c| c.license.clone()))
            .filter(|s| !s.is_empty())
            .collect();
        l.sort();
        l.dedup();
        l
    }
}

/// Whether a `model.path` names another ModelKit rather than a path in this one: a registry
/// reference `HOST[:PORT]/REPO[:TAG|@DIGEST]` whose host has a dot or port or is `localhost`
/// (a relative path's first part has neither).
pub fn is_reference(path: &str) -> bool {
    if path.starts_with("./") || path.starts_with('/') || path.starts_with("../") {
        return false;
    }
    let Some((host, rest)) = path.split_once('/') else {
        return false;
    };
    let host_like = host.contains('.') || host.contains(':') || host == "localhost";
    let last = rest.rsplit('/').next().unwrap_or("");
    host_like && (last.contains(':') || rest.contains('@'))
}
