//! `sbom --attach LAYOUT[:TAG]`: the SBOM stored in the layout as an OCI 1.1 referrer of the
//! model manifest (artifactType and only layer of the SBOM's media type, empty config), listed
//! untagged in `index.json`, so `push` carries it and `check` reports `sbomAttached`.
//!
//! The SBOM is made from the model directory; before it is attached, every file it lists with
//! a digest is matched against the layer of the same path in the manifest (raw layers carry
//! the file's SHA-256 as their digest), so an SBOM of another model is refused.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{Format, ModelFacts};
use crate::model::{ANNOTATION_FILEPATH, LayerFormat, MANIFEST_MEDIA_TYPE, parse_layer_media_type};
use crate::oci::blob::BlobDir;
use crate::oci::canonical_json;
use crate::oci::layout::{Layout, MAX_MANIFEST_SIZE};
use crate::registry::referrers::{Referrer, add_untagged};

/// The OCI empty descriptor's media type (the referrer's config).
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// What attaching did: the manifest and the referrer holding the SBOM.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attached {
    /// The model manifest.
    pub manifest: String,
    /// The referrer manifest.
    pub referrer: String,
    /// The SBOM's media type.
    pub artifact_type: String,
}

/// Checks that `facts` describe the manifest `tag` names in `root`, then stores `sbom` as its
/// referrer.
pub fn attach(
    root: &Path,
    tag: Option<&str>,
    facts: &ModelFacts,
    format: Format,
    sbom: &[u8],
) -> Result<Attached> {
    let layout = Layout::open(root)?;
    let entry = layout.resolve(tag)?;
    let manifest: Value =
        serde_json::from_slice(&layout.read_blob(&entry.digest, entry.size, MAX_MANIFEST_SIZE)?)
            .with_context(|| format!("manifest {}: not JSON", entry.digest))?;
    let mut layers: BTreeMap<&str, &str> = BTreeMap::new();
    for l in manifest["layers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let raw = matches!(
            parse_layer_media_type(l["mediaType"].as_str().unwrap_or("")),
            Some((_, LayerFormat::Raw, _))
        );
        if let (true, Some(p), Some(d)) = (
            raw,
            l["annotations"][ANNOTATION_FILEPATH].as_str(),
            l["digest"].as_str(),
        ) {
            layers.insert(p, d.trim_start_matches("sha256:"));
        }
    }
    let shown = format!(
        "{}:{}",
        root.display(),
        tag.unwrap_or(crate::oci::layout::DEFAULT_TAG)
    );
    for f in &facts.files {
        let (Some(sum), Some(layer)) = (&f.sha256, layers.get(f.path.as_str())) else {
            continue;
        };
        if sum != layer {
            bail!(
                "the SBOM does not describe {shown}: {} has sha256 {sum}, its layer there {layer} \
                 (make the SBOM from the directory the layout was packed from)",
                f.path
            );
        }
    }
    for p in layers.keys() {
        if !facts.files.iter().any(|f| f.path == *p) {
            bail!("the SBOM does not describe {shown}: it does not list the layer file {p}");
        }
    }
    let blobs = BlobDir::create(root)?;
    let empty = blobs.put_bytes(b"{}")?;
    let doc = blobs.put_bytes(sbom)?;
    let referrer = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": format.media_type(),
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty.to_string(), "size": 2},
        "layers": [{"mediaType": format.media_type(), "digest": doc.to_string(), "size": sbom.len()}],
        "subject": {"mediaType": entry.media_type, "digest": entry.digest.to_string(), "size": entry.size},
    });
    let bytes = canonical_json(&referrer);
    let digest = blobs.put_bytes(&bytes)?;
    add_untagged(
        root,
        &[Referrer {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            artifact_type: Some(format.media_type().into()),
            digest,
            size: bytes.len() as u64,
            annotations: Default::default(),
        }],
    )?;
    Ok(Attached {
        manifest: entry.digest.to_string(),
        referrer: digest.to_string(),
        artifact_type: format.media_type().into(),
    })
}
