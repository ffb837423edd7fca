//! The layer plan: which layers `pack` will write for the classified files, in which order,
//! with their diffIds.
//!
//! There is one code path: the plan comes from `oci::layers` — the same functions `pack`
//! uses — run without writing blobs, so the diffIds `generate` prints are the ones `pack`
//! writes. Weights are one raw layer per file; with `--layer-format raw` every other file is
//! too, otherwise each other kind is one tar. Order: by kind (weight, weight.config, doc,
//! code, dataset), then by path — stable, so the same directory always gives the same manifest.
//!
//! Digests cost a read of every byte. Callers that need none (`check` of a directory, and
//! `pack`, which computes the diffIds in its own blob pass) ask for [`outline`] instead: the
//! same layers, media types and annotations, with [`UNCOMPUTED_DIGEST`] as every diffId and,
//! for multi-file tar layers, the files' total as the size (raw layers keep their exact size).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::model::{ANNOTATION_FILEPATH, LayerFormat, PlannedFile, parse_layer_media_type};
use crate::oci::layers::{LayerSettings, describe_files, plan_layers};

/// The diffId of a layer whose bytes were not read: all zeros, a well-formed sha256 digest
/// (so the config stays schema-valid) that no content has in practice.
pub const UNCOMPUTED_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// One planned layer.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedLayer {
    /// The layer's `org.cncf.model.filepath` (a directory for a multi-file tar layer).
    pub path: String,
    /// Layer kind (`weight`, `weight.config`, …).
    pub kind: String,
    /// Layer media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Size of the layer in bytes (the file size for raw layers).
    pub size: u64,
    /// The layer's diffId.
    #[serde(rename = "diffId")]
    pub diff_id: String,
    /// Layer annotations, exactly as `pack` writes them.
    pub annotations: BTreeMap<String, String>,
}

/// The layers `pack` would write for `files`, in manifest order, hashed but not stored.
pub fn layers(files: &[PlannedFile], format: LayerFormat) -> Result<Vec<PlannedLayer>> {
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let built = describe_files(files, format, &LayerSettings::from_env()?, jobs)?;
    Ok(built
        .into_iter()
        .map(|b| {
            let d = b.descriptor;
            PlannedLayer {
                path: d
                    .annotations
                    .get(ANNOTATION_FILEPATH)
                    .cloned()
                    .unwrap_or_default(),
                kind: parse_layer_media_type(&d.media_type)
                    .map(|(k, _, _)| k.as_str().to_string())
                    .unwrap_or_default(),
                media_type: d.media_type,
                size: d.size,
                diff_id: b.diff_id.to_string(),
                annotations: d.annotations,
            }
        })
        .collect())
}

/// The layers `pack` would write for `files`, in manifest order, without reading any file:
/// diffIds are [`UNCOMPUTED_DIGEST`] (see the module doc).
pub fn outline(files: &[PlannedFile], format: LayerFormat) -> Result<Vec<PlannedLayer>> {
    let settings = LayerSettings::from_env()?;
    Ok(plan_layers(files, format)?
        .into_iter()
        .map(|p| {
            let media_type = p.media_type();
            PlannedLayer {
                path: p.filepath(),
                kind: p.kind.as_str().to_string(),
                media_type,
                size: p.content_size(),
                diff_id: UNCOMPUTED_DIGEST.to_string(),
                annotations: p.annotations(&settings),
            }
        })
        .collect())
}
