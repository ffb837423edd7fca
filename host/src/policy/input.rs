//! What `check` is pointed at, turned into a [`CheckInput`]: a ModelPack config file, an OCI
//! image layout (`LAYOUT[:TAG]`), or a model directory (via `generate`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{CheckInput, FileFacts, PolicyFinding, Totals};
use crate::generate::{GenerateOptions, generate, render_config};
use crate::inspect::{FileReport, Status, Target, inspect_one};
use crate::model::{
    ANNOTATION_FILEPATH, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, LayerFormat, MANIFEST_MEDIA_TYPE,
    parse_layer_media_type,
};
use crate::oci::layout::{Layout, MAX_JSON_SIZE, MAX_MANIFEST_SIZE, open_blob_file, read_capped};
use crate::oci::rules::descriptor_digest;
use crate::plugin::PluginSet;

/// Facts from an `inspect` report plus the layer the file goes to.
pub fn facts_from_report(
    path: &str,
    kind: &str,
    media_type: &str,
    report: Option<&FileReport>,
    size: u64,
) -> FileFacts {
    let mut f = FileFacts {
        path: path.to_string(),
        kind: kind.to_string(),
        media_type: media_type.to_string(),
        size,
        ..FileFacts::default()
    };
    if let Some(r) = report.filter(|r| r.status == Status::Ok) {
        f.format = r.format.clone();
        f.tensor_count = r.tensor_count;
        f.parameter_count = r.parameter_count;
        f.weight_parameters = r.weight_parameters;
        f.dtypes = r.dtypes.clone();
        for d in &r.weight_dtypes {
            let key = match d.precision {
                Some(w) => w.to_string(),
                None => format!("quantized:{}", d.dtype),
            };
            let slot = f.precisions.entry(key).or_default();
            *slot = slot.saturating_add(d.weight_parameters);
        }
        f.findings = r
            .findings
            .iter()
            .map(|x| {
                (
                    x.id.clone(),
                    x.severity.to_string(),
                    x.message.clone(),
                    x.field.clone(),
                )
            })
            .collect();
    } else if let Some(r) = report.filter(|r| r.status == Status::Error) {
        // A file a format plugin claimed but could not read: its content was not checked, and
        // policies must not take that for a clean result (no-unsafe-code fails closed on it).
        f.findings.push((
            UNREADABLE_FILE.to_string(),
            "error".to_string(),
            r.error
                .clone()
                .unwrap_or_else(|| format!("{path}: unreadable")),
            None,
        ));
    }
    f
}

/// Finding id the host adds to a file a format plugin claimed but could not read.
pub const UNREADABLE_FILE: &str = "unreadable-file";

/// Splits `LAYOUT:TAG` when LAYOUT is an existing OCI layout directory.
pub fn split_layout_ref(arg: &str) -> (PathBuf, Option<String>) {
    if let Some((path, tag)) = arg.rsplit_once(':')
        && !tag.contains('/')
        && Path::new(path).join("oci-layout").is_file()
    {
        return (PathBuf::from(path), Some(tag.to_string()));
    }
    (PathBuf::from(arg), None)
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not valid JSON", path.display()))
}

/// A ModelPack config file on its own: no manifest, no files.
pub fn from_config_file(path: &Path) -> Result<CheckInput> {
    let config = read_json(path)?;
    if config.get("schemaVersion").is_some() || config.get("manifests").is_some() {
        bail!(
            "{}: this is an OCI manifest or index; check the layout directory or the model directory instead",
            path.display()
        );
    }
    if !config.is_object() || config.get("descriptor").is_none() && config.get("config").is_none() {
        bail!(
            "{}: not a ModelPack config (no `descriptor` or `config`)",
            path.display()
        );
    }
    let totals = totals_of(&config, &[], 0, 0);
    Ok(CheckInput {
        target: path.display().to_string(),
        config,
        manifest: Value::Null,
        files: Vec::new(),
        totals,
        signatures: Vec::new(),
        sbom_attached: false,
        problems: Vec::new(),
    })
}

/// A JSON blob of the layout named by a descriptor: sha256 only, a regular file inside the
/// layout, its size and digest checked, at most `max` bytes read.
fn blob_json(layout: &Path, desc: &Value, max: u64, what: &str) -> Result<Value> {
    let (digest, size) = descriptor_digest(desc).with_context(|| what.to_string())?;
    let bytes = Layout::open(layout)?.read_blob(&digest, size, max)?;
    serde_json::from_slice(&bytes).with_context(|| format!("{what} {digest}: not valid JSON"))
}

/// An OCI image layout: the manifest chosen by tag (or the only one), its config, and facts
/// per layer. Raw weight layers are read by the format plugins straight from their blobs.
pub fn from_layout(
    layout: &Path,
    tag: Option<&str>,
    plugins: &PluginSet,
    log: &dyn Fn(&str),
) -> Result<CheckInput> {
    let index_path = layout.join("index.json");
    let index: Value = serde_json::from_slice(&read_capped(&index_path, MAX_JSON_SIZE)?)
        .with_context(|| format!("{}: not valid JSON", index_path.display()))?;
    let manifests = index["manifests"]
        .as_array()
        .with_context(|| format!("{}: index.json has no `manifests` list", layout.display()))?;
    let chosen = match tag {
        Some(t) => manifests
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == t)
            .with_context(|| format!("{}: no manifest tagged {t:?}", layout.display()))?,
        None if manifests.len() == 1 => &manifests[0],
        // The only tagged manifest beside untagged referrers (signatures, SBOMs) of it.
        None if manifests
            .iter()
            .filter(|m| m["annotations"]["org.opencontainers.image.ref.name"].is_string())
            .count()
            == 1
            && manifests.iter().all(|m| {
                m["annotations"]["org.opencontainers.image.ref.name"].is_string()
                    || m["artifactType"].is_string()
            }) =>
        {
            manifests
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"].is_string())
                .expect("counted")
        }
        None => bail!(
            "{}: the layout holds {} manifests; name one as LAYOUT:TAG",
            layout.display(),
            manifests.len()
        ),
    };
    let manifest = blob_json(layout, chosen, MAX_MANIFEST_SIZE, "manifest")?;
    let config = blob_json(layout, &manifest["config"], MAX_JSON_SIZE, "config")?;
    let root = Arc::new(layout.canonicalize()?);
    let mut files = Vec::new();
    let mut reports: Vec<(String, FileReport)> = Vec::new();
    for layer in manifest["layers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let media_type = layer["mediaType"].as_str().unwrap_or("").to_string();
        let size = layer["size"].as_u64().unwrap_or(0);
        let path = layer["annotations"][ANNOTATION_FILEPATH]
            .as_str()
            .unwrap_or("")
            .to_string();
        let parsed = parse_layer_media_type(&media_type);
        let kind = parsed
            .map(|(k, _, _)| k.as_str().to_string())
            .unwrap_or_default();
        let mut report = None;
        if let Some((
            _,
            format @ (LayerFormat::Tar | LayerFormat::TarGzip | LayerFormat::TarZstd),
            _,
        )) = parsed
        {
            // A tar layer holds many files: each is a file of the model for the policies
            // (counts, per-file byte limits), named by its path in the archive.
            let (digest, _) =
                descriptor_digest(layer).with_context(|| format!("layer {path:?}"))?;
            drop(open_blob_file(layout, &digest)?);
            let blob = layout.join("blobs").join("sha256").join(digest.hex());
            let members = crate::oci::archive::list_members(&blob, format)
                .with_context(|| format!("layer {digest} ({media_type}): not a readable tar"))?;
            for (member, member_size) in members {
                files.push(facts_from_report(
                    &member,
                    &kind,
                    &media_type,
                    None,
                    member_size,
                ));
            }
            continue;
        }
        if let Some((_, LayerFormat::Raw, _)) = parsed {
            // Plugins read the blob itself: it must be the regular file of the descriptor's
            // size inside the layout (never a FIFO, a device, or a link out of the layout).
            let (digest, claimed) =
                descriptor_digest(layer).with_context(|| format!("layer {path:?}"))?;
            let len = open_blob_file(layout, &digest)?
                .metadata()
                .with_context(|| format!("blob {digest}"))?
                .len();
            if len != claimed {
                bail!("blob {digest}: {len} bytes on disk, descriptor says {claimed}");
            }
            let blob = layout.join("blobs").join("sha256").join(digest.hex());
            let name = Path::new(&path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = Target {
                path: blob,
                display: path.clone(),
                name,
                root: root.clone(),
            };
            let r = inspect_one(plugins, &target, log);
            if r.status != Status::Unrecognised {
                report = Some(r);
            }
        }
        files.push(facts_from_report(
            &path,
            &kind,
            &media_type,
            report.as_ref(),
            size,
        ));
        if let Some(r) = report.filter(|r| r.status == Status::Ok && kind == "weight") {
            reports.push((path, r));
        }
    }
    let read: Vec<(String, &FileReport)> = reports.iter().map(|(p, r)| (p.clone(), r)).collect();
    let facts = crate::generate::weights::aggregate(&read, None)?;
    let totals = totals_of(&config, &files, facts.params, facts.copies);
    Ok(CheckInput {
        target: match tag {
            Some(t) => format!("{}:{t}", layout.display()),
            None => layout.display().to_string(),
        },
        config,
        manifest,
        files,
        totals,
        signatures: Vec::new(),
        sbom_attached: false,
        problems: Vec::new(),
    })
}

/// Totals from the config's words, the weight files' bytes, and the counted parameters.
fn totals_of(config: &Value, files: &[FileFacts], parameters: u64, copies: usize) -> Totals {
    let text = |p: &str| config.pointer(p).and_then(Value::as_str).map(String::from);
    Totals {
        parameters,
        format: text("/config/format"),
        precision: text("/config/precision"),
        quantization: text("/config/quantization"),
        weight_bytes: files
            .iter()
            .filter(|f| f.kind == "weight")
            .fold(0u64, |a, f| a.saturating_add(f.size)),
        copies: u32::try_from(copies).unwrap_or(u32::MAX),
    }
}

/// A model directory: what `generate` would write, the manifest `pack` would write (layer
/// digests of raw layers are their diffIds), and the facts the format plugins found.
pub fn from_directory(dir: &Path, plugins: &PluginSet) -> Result<CheckInput> {
    let generated = generate(dir, &GenerateOptions::default(), plugins)?;
    let config_bytes = render_config(&generated.config);
    let layers: Vec<Value> = generated
        .layers
        .iter()
        .map(|l| {
            json!({
                "mediaType": l.media_type,
                "digest": l.diff_id,
                "size": l.size,
                "annotations": l.annotations,
            })
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": format!("sha256:{}", hex::encode(Sha256::digest(config_bytes.as_bytes()))),
            "size": config_bytes.len(),
        },
        "layers": layers,
    });
    let mut files: Vec<FileFacts> = generated
        .layers
        .iter()
        .map(|l| {
            let report = generated.reports.iter().find(|r| r.path == l.path);
            facts_from_report(&l.path, &l.kind, &l.media_type, report, l.size)
        })
        .collect();
    // Weights that are not there (LFS pointers, absent shards) still count for policies.
    for m in &generated.missing {
        let mut f = facts_from_report(&m.path, "weight", "", None, m.lfs_size.unwrap_or(0));
        f.findings.push((
            "missing-weights".into(),
            "error".into(),
            format!("{}: {}", m.path, m.reason),
            None,
        ));
        files.push(f);
    }
    let mut problems: Vec<PolicyFinding> = generated
        .missing
        .iter()
        .map(|m| PolicyFinding {
            id: "missing-weights".into(),
            severity: "error",
            message: format!("{}: {}", m.path, m.reason),
            file: Some(m.path.clone()),
            field: None,
        })
        .collect();
    problems.extend(
        generated
            .warnings
            .iter()
            .filter(|w| w.starts_with("licence conflict"))
            .map(|w| PolicyFinding {
                id: "license-conflict".into(),
                severity: "warning",
                message: w.clone(),
                file: None,
                field: Some("/descriptor/licenses".into()),
            }),
    );
    let totals = totals_of(
        &generated.config,
        &files,
        generated.weight_parameters,
        generated.weight_copies,
    );
    Ok(CheckInput {
        target: dir.display().to_string(),
        config: generated.config,
        manifest,
        files,
        totals,
        signatures: Vec::new(),
        sbom_attached: false,
        problems,
    })
}
