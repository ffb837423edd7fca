//! KitOps ModelKits to ModelPack. Rules and their sources (kitops-ml/kitops
//! `pkg/lib/constants/mediatype/kitops.go`, `pkg/artifact/kitfile.go`,
//! `pkg/lib/unpack/core.go`): docs/converters.md.
//!
//! Layers are matched to Kitfile entries by order within each type, as KitOps' own unpack
//! does for kits packed before the Kitfile recorded digests; where an entry does record its
//! digest, it must be the layer's. A `model.path` that names another ModelKit makes the
//! parent's model layers part of the result (asked for through `needs`).

use converter_common::{Desc, candidate, clean_path, finding, needs, parse_manifest, reuse};
use modelpack_plugin_sdk::converter_prelude::*;
use serde_json::json;

use crate::kitfile::{Kitfile, is_reference};

const CONFIG: &str = "application/vnd.kitops.modelkit.config.v1+json";
const ARTIFACT: &str = "application/vnd.kitops.modelkit.manifest.v1+json";
const LAYER_PREFIX: &str = "application/vnd.kitops.modelkit.";
const SUBTYPE: &str = "ml.kitops.modelkit.layer-subtype";
/// KitOps' `MaxModelRefChain`.
const MAX_CHAIN: usize = 10;

/// Confidence that the artifact is a ModelKit.
pub fn detect(artifact_type: &str, config_media_type: &str, layers: &[String]) -> f32 {
    if config_media_type == CONFIG || artifact_type == ARTIFACT {
        1.0
    } else if !layers.is_empty() && layers.iter().all(|l| l.starts_with(LAYER_PREFIX)) {
        0.8
    } else {
        0.0
    }
}

/// `model.v1.tar+gzip` → (`model`, `tar+gzip`).
pub fn parse_layer_type(mt: &str) -> Option<(&str, &'static str)> {
    let rest = mt.strip_prefix(LAYER_PREFIX)?;
    let (base, enc) = rest.split_once(".v1.")?;
    let enc = match enc {
        "tar" => "tar",
        "tar+gzip" => "tar+gzip",
        "tar+zstd" => "tar+zstd",
        "raw" => "raw",
        _ => return None,
    };
    matches!(base, "model" | "modelpart" | "dataset" | "code" | "docs").then_some((base, enc))
}

fn parse_kitfile(config: &str, what: &str) -> Result<Kitfile, String> {
    if config.trim().is_empty() {
        return Err(format!("{what}: the config (Kitfile) is empty or not text"));
    }
    serde_json::from_str(config).map_err(|e| format!("{what}: the Kitfile is not valid: {e}"))
}

/// One kit's layers matched to its Kitfile entries.
struct Matched {
    layers: Vec<PlannedLayer>,
    /// Whether a `model` layer was found.
    has_model: bool,
}

/// Matches `layers` to the Kitfile's entries; `only_model` keeps just model and modelpart
/// layers (a parent contributes its model only, as in KitOps' unpack).
fn match_layers(
    kf: &Kitfile,
    layers: &[Desc],
    only_model: bool,
    what: &str,
) -> Result<Matched, String> {
    let (mut parts, mut code, mut prompts, mut docs, mut datasets) = (0, 0, 0, 0, 0);
    let local_datasets: Vec<_> = kf
        .datasets
        .iter()
        .enumerate()
        .filter(|(_, d)| d.remote_path.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut has_model = false;
    for (i, l) in layers.iter().enumerate() {
        let Some((base, enc)) = parse_layer_type(&l.media_type) else {
            return Err(format!(
                "{what}: manifest layers[{i}]: media type {:?} is not a ModelKit layer",
                l.media_type
            ));
        };
        let prompt =
            base == "code" && l.annotations.get(SUBTYPE).map(String::as_str) == Some("prompt");
        // (field, kit path, recorded digest, kind)
        let (field, path, recorded, kind) = match base {
            "model" => {
                let Some(m) = &kf.model else {
                    return Err(format!(
                        "{what}: manifest layers[{i}] is a model layer but the Kitfile has no model"
                    ));
                };
                has_model = true;
                (
                    "model".to_string(),
                    m.path.clone(),
                    m.layer.digest.clone(),
                    FileKind::Weight,
                )
            }
            "modelpart" => {
                let Some(p) = kf.model.as_ref().and_then(|m| m.parts.get(parts)) else {
                    return Err(format!(
                        "{what}: manifest layers[{i}] is model part {} but the Kitfile lists {}",
                        parts + 1,
                        kf.model.as_ref().map_or(0, |m| m.parts.len())
                    ));
                };
                parts += 1;
                (
                    format!("model.parts[{}]", parts - 1),
                    p.path.clone(),
                    p.layer.digest.clone(),
                    FileKind::Weight,
                )
            }
            "code" if prompt => {
                let Some(p) = kf.prompts.get(prompts) else {
                    return Err(format!(
                        "{what}: manifest layers[{i}] is prompt {} but the Kitfile lists {}",
                        prompts + 1,
                        kf.prompts.len()
                    ));
                };
                prompts += 1;
                (
                    format!("prompts[{}]", prompts - 1),
                    p.path.clone(),
                    p.layer.digest.clone(),
                    FileKind::Code,
                )
            }
            "code" => {
                let Some(c) = kf.code.get(code) else {
                    return Err(format!(
                        "{what}: manifest layers[{i}] is code layer {} but the Kitfile lists {}",
                        code + 1,
                        kf.code.len()
                    ));
                };
                code += 1;
                (
                    format!("code[{}]", code - 1),
                    c.path.clone(),
                    c.layer.digest.clone(),
                    FileKind::Code,
                )
            }
            "dataset" => {
                let Some((n, d)) = local_datasets.get(datasets) else {
                    return Err(format!(
                        "{what}: manifest layers[{i}] is dataset layer {} but the Kitfile lists {} local datasets",
                        datasets + 1,
                        local_datasets.len()
                    ));
                };
                datasets += 1;
                (
                    format!("datasets[{n}]"),
                    d.path.clone(),
                    d.layer.digest.clone(),
                    FileKind::Dataset,
                )
            }
            _ => {
                let Some(d) = kf.docs.get(docs) else {
                    return Err(format!(
                        "{what}: manifest layers[{i}] is docs layer {} but the Kitfile lists {}",
                        docs + 1,
                        kf.docs.len()
                    ));
                };
                docs += 1;
                (
                    format!("docs[{}]", docs - 1),
                    d.path.clone(),
                    d.layer.digest.clone(),
                    FileKind::Doc,
                )
            }
        };
        if !recorded.is_empty() && recorded != l.digest {
            return Err(format!(
                "{what}: Kitfile {field} records layer {recorded}, but the manifest has {} in its place (layers[{i}])",
                l.digest
            ));
        }
        if only_model && !matches!(base, "model" | "modelpart") {
            continue;
        }
        let Some(clean) = clean_path(&path) else {
            return Err(format!(
                "{what}: Kitfile {field}.path {path:?} is not a relative path inside the kit"
            ));
        };
        let annotations = l
            .annotations
            .iter()
            .filter(|(k, _)| k.as_str() == SUBTYPE)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.push(reuse(&l.digest, kind, enc, &clean, annotations));
    }
    // Entries with no layer: the Kitfile names content the kit does not hold.
    let missing = |field: &str, listed: usize, found: usize| -> Result<(), String> {
        if listed > found {
            Err(format!(
                "{what}: the Kitfile lists {listed} {field} but the manifest has {found} such layers"
            ))
        } else {
            Ok(())
        }
    };
    if let Some(m) = &kf.model {
        missing("model parts", m.parts.len(), parts)?;
        if !has_model && !is_reference(&m.path) && !m.path.is_empty() {
            return Err(format!(
                "{what}: the Kitfile's model {:?} has no model layer in the manifest",
                m.path
            ));
        }
    }
    if !only_model {
        missing("code entries", kf.code.len(), code)?;
        missing("prompts", kf.prompts.len(), prompts)?;
        missing("docs", kf.docs.len(), docs)?;
        missing("local datasets", local_datasets.len(), datasets)?;
    }
    Ok(Matched {
        layers: out,
        has_model,
    })
}

/// Plans the conversion of a ModelKit (`referenced`: (reference, manifest, config) of the
/// parents the host fetched so far).
pub fn plan(
    manifest_json: &str,
    config: &str,
    referenced: &[(String, String, String)],
) -> Result<ArtifactPlan, String> {
    let m = parse_manifest(manifest_json)?;
    let kf = parse_kitfile(config, "ModelKit")?;
    let own = match_layers(&kf, &m.layers, false, "ModelKit")?;
    let mut layers = Vec::new();
    let mut findings = Vec::new();

    // The parent chain: while the model lives in another kit, take that kit's model layers.
    let mut chain: Vec<String> = Vec::new();
    let mut cur_model_path = kf
        .model
        .as_ref()
        .filter(|_| !own.has_model)
        .map(|m| m.path.clone());
    while let Some(path) = cur_model_path.take().filter(|p| is_reference(p)) {
        if let Some(i) = chain.iter().position(|c| *c == path) {
            let mut cycle = chain[i..].to_vec();
            cycle.push(path);
            return Err(format!(
                "found cycle in modelkit references: [{}]",
                cycle.join("=>")
            ));
        }
        chain.push(path.clone());
        if chain.len() > MAX_CHAIN {
            return Err(format!(
                "reached maximum number of model references: [{}]",
                chain.join("=>")
            ));
        }
        let Some((_, pm, pc)) = referenced.iter().find(|(r, _, _)| *r == path) else {
            return Ok(needs(vec![path]));
        };
        let what = format!("parent {path}");
        let pm = parse_manifest(pm).map_err(|e| format!("{what}: {e}"))?;
        let pk = parse_kitfile(pc, &what)?;
        let got = match_layers(&pk, &pm.layers, true, &what)?;
        findings.push(finding(
            "parent-model-reused",
            Severity::Info,
            format!(
                "model.path names ModelKit {path}: its {} model layers are reused",
                got.layers.len()
            ),
            Some("/model/path".into()),
        ));
        layers.extend(got.layers);
        cur_model_path = pk
            .model
            .as_ref()
            .filter(|_| !got.has_model)
            .map(|m| m.path.clone());
    }
    layers.extend(own.layers);

    let mut candidates = Vec::new();
    let mut add = |field: &str, value: serde_json::Value, key: &str| {
        candidates.push(candidate(
            field,
            value,
            SourceClass::ConventionFiles,
            "Kitfile",
            key,
            None,
        ));
    };
    let p = &kf.package;
    if !p.name.is_empty() {
        add("/descriptor/name", json!(p.name), "package.name");
    }
    if !p.version.is_empty() {
        add("/descriptor/version", json!(p.version), "package.version");
    }
    if !p.description.is_empty() {
        add(
            "/descriptor/description",
            json!(p.description),
            "package.description",
        );
    }
    if !p.authors.is_empty() {
        add("/descriptor/authors", json!(p.authors), "package.authors");
    }
    let licenses = kf.licenses();
    if !licenses.is_empty() {
        add(
            "/descriptor/licenses",
            json!(licenses),
            "package.license, model.license…",
        );
    }
    if let Some(model) = &kf.model
        && !model.format.is_empty()
    {
        add(
            "/config/format",
            json!(model.format.to_ascii_lowercase()),
            "model.format",
        );
    }
    let remote: Vec<&str> = kf
        .datasets
        .iter()
        .map(|d| d.remote_path.as_str())
        .filter(|r| !r.is_empty())
        .collect();
    if !remote.is_empty() {
        add(
            "/descriptor/datasetsURL",
            json!(remote),
            "datasets[].remotePath",
        );
        findings.push(finding(
            "remote-dataset",
            Severity::Info,
            format!(
                "{} remote datasets are referenced, not packed: {}",
                remote.len(),
                remote.join(", ")
            ),
            Some("/descriptor/datasetsURL".into()),
        ));
    }
    if kf.model.is_none() {
        findings.push(finding(
            "no-model",
            Severity::Warning,
            "the Kitfile has no model section".into(),
            None,
        ));
    }
    Ok(ArtifactPlan {
        candidates,
        layers,
        annotations: vec![],
        findings,
        needs: vec![],
    })
}
