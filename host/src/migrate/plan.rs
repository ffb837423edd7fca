//! A converter's plan is untrusted plugin output: checked whole here before any byte moves.
//!
//! Refused: a layer from a digest that is not a layer of the source or of an artifact it
//! referenced; a path that is absolute, has `..`/`.`/empty parts, a backslash or NUL (a tar
//! layer may be `.`, the root); two layers with one path; an encoding outside raw, tar,
//! tar+gzip, tar+zstd; a kind `ignore` that is not dropped; `split`/`reencode` (this host
//! only reuses blobs); more than [`MAX_LAYERS`] layers, [`MAX_ANNOTATION_BYTES`] of layer
//! annotations, or annotation keys the host writes itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Result, bail};

use super::source::LayerDesc;
use crate::model::{ANNOTATION_FILEPATH, ANNOTATION_TITLE, LayerFormat, LayerKind};
use crate::oci::Digest;
use crate::oci::layers::check_relative_path;
use crate::plugin::runtime::ac;

/// Most layers a plan may have (a registry refuses manifests past 4 MiB long before).
pub const MAX_LAYERS: usize = 4096;
/// Most bytes of annotations a plan may put on its layers.
pub const MAX_ANNOTATION_BYTES: usize = 1 << 20;

/// One layer of the output, checked.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The source layer (digest, size, media type).
    pub source: LayerDesc,
    /// ModelPack kind.
    pub kind: LayerKind,
    /// Encoding (the source blob's, kept).
    pub format: LayerFormat,
    /// `org.cncf.model.filepath`.
    pub path: String,
    /// Extra annotations.
    pub annotations: BTreeMap<String, String>,
}

fn kind_of(k: ac::FileKind) -> Option<LayerKind> {
    Some(match k {
        ac::FileKind::Weight => LayerKind::Weight,
        ac::FileKind::WeightConfig => LayerKind::WeightConfig,
        ac::FileKind::Doc => LayerKind::Doc,
        ac::FileKind::Code => LayerKind::Code,
        ac::FileKind::Dataset => LayerKind::Dataset,
        ac::FileKind::Ignore => return None,
    })
}

/// Checks `plan` against the layers it may use (`available`, by digest); `plugin` names the
/// converter in errors. Dropped layers are left out.
pub fn check(
    plugin: &str,
    plan: &ac::ArtifactPlan,
    available: &HashMap<Digest, LayerDesc>,
) -> Result<Vec<Checked>> {
    if plan.layers.len() > MAX_LAYERS {
        bail!(
            "converter {plugin} planned {} layers, more than the {MAX_LAYERS} accepted",
            plan.layers.len()
        );
    }
    let annotation_bytes: usize = plan
        .layers
        .iter()
        .flat_map(|l| &l.annotations)
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if annotation_bytes > MAX_ANNOTATION_BYTES {
        bail!(
            "converter {plugin} planned {annotation_bytes} bytes of layer annotations, more than the {MAX_ANNOTATION_BYTES} accepted"
        );
    }
    let mut out = Vec::new();
    let mut paths = BTreeSet::new();
    for (i, l) in plan.layers.iter().enumerate() {
        let at = format!("converter {plugin}: planned layer {i}");
        let digest = Digest::parse(&l.source_digest)
            .ok_or_else(|| anyhow::anyhow!("{at}: {:?} is not a sha256 digest", l.source_digest))?;
        let Some(source) = available.get(&digest) else {
            bail!("{at}: {digest} is not a layer of the source or of an artifact it referenced");
        };
        match &l.action {
            ac::LayerAction::Drop => continue,
            ac::LayerAction::Reuse => {}
            ac::LayerAction::Split(_) => {
                bail!("{at}: `split` is not carried out by this host (only reuse and drop)")
            }
            ac::LayerAction::Reencode(_) => {
                bail!("{at}: `reencode` is not carried out by this host (only reuse and drop)")
            }
        }
        let Some(kind) = kind_of(l.kind) else {
            bail!("{at}: kind `ignore` with action reuse (drop it instead)");
        };
        let Some(format) = LayerFormat::parse(&l.encoding) else {
            bail!(
                "{at}: encoding {:?} is not raw, tar, tar+gzip or tar+zstd",
                l.encoding
            );
        };
        let Some(path) = l.path.clone() else {
            bail!("{at}: no path (org.cncf.model.filepath)");
        };
        if !(path == "." && format != LayerFormat::Raw) {
            check_relative_path(&path).map_err(|e| anyhow::anyhow!("{at}: path {e}"))?;
        }
        if !paths.insert(path.clone()) {
            bail!("{at}: path {path:?} is planned twice");
        }
        let mut annotations = BTreeMap::new();
        for (k, v) in &l.annotations {
            if k == ANNOTATION_FILEPATH || k == ANNOTATION_TITLE {
                bail!("{at}: annotation {k} is written by the host from `path`");
            }
            annotations.insert(k.clone(), v.clone());
        }
        out.push(Checked {
            source: source.clone(),
            kind,
            format,
            path,
            annotations,
        });
    }
    if out.is_empty() {
        bail!("converter {plugin} planned no layers");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(b: &[u8]) -> LayerDesc {
        LayerDesc {
            media_type: "x".into(),
            digest: Digest::of(b),
            size: b.len() as u64,
        }
    }

    fn layer(d: &Digest, path: &str, enc: &str) -> ac::PlannedLayer {
        ac::PlannedLayer {
            source_digest: d.to_string(),
            kind: ac::FileKind::Weight,
            encoding: enc.into(),
            path: Some(path.into()),
            action: ac::LayerAction::Reuse,
            annotations: vec![],
        }
    }

    fn plan(layers: Vec<ac::PlannedLayer>) -> ac::ArtifactPlan {
        ac::ArtifactPlan {
            candidates: vec![],
            layers,
            annotations: vec![],
            findings: vec![],
            needs: vec![],
        }
    }

    #[test]
    fn hostile_plans_are_refused_with_the_reason() {
        let a = desc(b"a");
        let avail: HashMap<_, _> = [(a.digest, a.clone())].into();
        let ok = check("p", &plan(vec![layer(&a.digest, "w.gguf", "raw")]), &avail).unwrap();
        assert_eq!(ok[0].path, "w.gguf");
        let other = Digest::of(b"b");
        let cases = [
            (
                vec![layer(&other, "w", "raw")],
                "is not a layer of the source",
            ),
            (
                vec![layer(&a.digest, "../x", "raw")],
                "path \"../x\" has an empty, `.` or `..` component",
            ),
            (vec![layer(&a.digest, "/etc/x", "raw")], "is absolute"),
            (
                vec![layer(&a.digest, ".", "raw")],
                "path \".\" has an empty",
            ),
            (
                vec![layer(&a.digest, "w", "raw"), layer(&a.digest, "w", "raw")],
                "\"w\" is planned twice",
            ),
            (vec![layer(&a.digest, "w", "tar+xz")], "encoding \"tar+xz\""),
        ];
        for (layers, want) in cases {
            let e = check("p", &plan(layers), &avail).unwrap_err().to_string();
            assert!(e.contains(want), "{e} / {want}");
        }
        let many = (0..MAX_LAYERS + 1)
            .map(|i| layer(&a.digest, &format!("w{i}"), "raw"))
            .collect();
        let e = check("p", &plan(many), &avail).unwrap_err().to_string();
        assert_eq!(
            e,
            "converter p planned 4097 layers, more than the 4096 accepted"
        );
        let mut split = layer(&a.digest, "w", "raw");
        split.action = ac::LayerAction::Split("raw".into());
        assert!(
            check("p", &plan(vec![split]), &avail)
                .unwrap_err()
                .to_string()
                .contains("`split` is not carried out")
        );
        // A tar layer may sit at the root.
        assert!(check("p", &plan(vec![layer(&a.digest, ".", "tar")]), &avail).is_ok());
    }
}
