//! The layer plan: which layers `pack` will write for the classified files, in which order.
//!
//! One layer per file (weights, and by default every weight.config, doc, code and dataset
//! file too): one file per layer lets registries and containerd reuse unchanged files, and
//! `org.cncf.model.filepath` then names exactly one file. Order: by kind (weight,
//! weight.config, doc, code, dataset, as [`LayerKind::ALL`]), then by path — stable, so the
//! same directory always gives the same manifest. `modelfs.diffIds` follow this order.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{
    ANNOTATION_FILEPATH, ANNOTATION_UNTESTED, LayerFormat, LayerKind, PlannedFile, layer_media_type,
};

/// One planned layer.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedLayer {
    /// The file's path relative to the model root.
    pub path: String,
    /// Layer kind (`weight`, `weight.config`, …).
    pub kind: String,
    /// Layer media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Size of the file in bytes (the layer size for raw layers).
    pub size: u64,
    /// The layer's diffId.
    #[serde(rename = "diffId")]
    pub diff_id: String,
    /// Layer annotations: the file path, and `untested` for guessed kinds.
    pub annotations: BTreeMap<String, String>,
}

/// The files in layer order.
pub fn layer_order(files: &[PlannedFile]) -> Vec<&PlannedFile> {
    let rank = |k: LayerKind| LayerKind::ALL.iter().position(|x| *x == k).unwrap_or(0);
    let mut v: Vec<&PlannedFile> = files.iter().collect();
    v.sort_by(|a, b| rank(a.kind).cmp(&rank(b.kind)).then(a.path.cmp(&b.path)));
    v
}

/// Annotations of a file's layer.
pub fn annotations(f: &PlannedFile) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert(ANNOTATION_FILEPATH.to_string(), f.path.clone());
    if f.untested {
        a.insert(ANNOTATION_UNTESTED.to_string(), "true".to_string());
    }
    a
}

/// The planned layers for files already in layer order, with their diffIds.
pub fn layers(
    ordered: &[&PlannedFile],
    diff_ids: &[String],
    format: LayerFormat,
) -> Vec<PlannedLayer> {
    ordered
        .iter()
        .zip(diff_ids)
        .map(|(f, id)| PlannedLayer {
            path: f.path.clone(),
            kind: f.kind.as_str().to_string(),
            media_type: layer_media_type(f.kind, format),
            size: f.size,
            diff_id: id.clone(),
            annotations: annotations(f),
        })
        .collect()
}
