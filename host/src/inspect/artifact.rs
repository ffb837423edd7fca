//! `inspect LAYOUT[:TAG]`: the artifact view (manifest, config, tags, layers with their file
//! paths) plus the plugin view of the raw weight layers, read straight from their blobs (the
//! same reading `check` does on a layout).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use super::{FileReport, Status, Target, inspect_one};
use crate::model::{ANNOTATION_FILEPATH, LayerFormat, LayerKind, parse_layer_media_type};
use crate::oci::Digest;
use crate::oci::layout::{Layout, MAX_JSON_SIZE, MAX_MANIFEST_SIZE};
use crate::plugin::PluginSet;
use crate::units::human_bytes;

/// One manifest of a layout, as `inspect` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactView {
    /// The layout directory.
    pub layout: String,
    /// Every tag naming this manifest in `index.json`.
    pub tags: Vec<String>,
    /// The manifest: digest, size, media and artifact type.
    pub manifest: ManifestView,
    /// The config descriptor's digest and size, and the config itself.
    pub config: ConfigView,
    /// The layers in manifest order.
    pub layers: Vec<LayerView>,
    /// Total size of the layers in bytes.
    pub total_size: u64,
    /// What the format plugins read from the raw weight layers.
    pub weights: Vec<FileReport>,
}

/// The manifest's descriptor.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestView {
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// The manifest's mediaType.
    pub media_type: String,
    /// The manifest's artifactType.
    pub artifact_type: Option<String>,
}

/// The config blob.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigView {
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// The config's mediaType.
    pub media_type: String,
    /// The ModelPack config.
    pub content: Value,
}

/// One layer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerView {
    /// `org.cncf.model.filepath` (a directory for a multi-file tar layer).
    pub path: Option<String>,
    /// `weight`, `weight.config`, `doc`, `code`, `dataset`, or `null` for a foreign type.
    pub kind: Option<String>,
    /// `raw`, `tar`, `tar+gzip` or `tar+zstd`.
    pub encoding: Option<String>,
    /// The layer media type.
    pub media_type: String,
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
}

/// What the format plugins say about the raw weight layers of `manifest`, in layer order
/// (`None` for layers no plugin reads). Shared with `check`.
pub fn raw_weight_reports(
    layout: &Path,
    manifest: &Value,
    plugins: &PluginSet,
    log: &dyn Fn(&str),
) -> Result<Vec<Option<FileReport>>> {
    let root = Arc::new(layout.canonicalize()?);
    let mut out = Vec::new();
    for (i, layer) in layers_of(manifest).iter().enumerate() {
        let media_type = layer["mediaType"].as_str().unwrap_or("");
        let path = layer["annotations"][ANNOTATION_FILEPATH]
            .as_str()
            .unwrap_or("")
            .to_string();
        let mut report = None;
        if let Some((_, LayerFormat::Raw, _)) = parse_layer_media_type(media_type)
            && let Some(d) = layer["digest"].as_str()
        {
            let digest = Digest::parse(d)
                .with_context(|| format!("manifest layers[{i}]: unsupported digest {d:?}"))?;
            let name = Path::new(&path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = Target {
                path: root.join("blobs").join("sha256").join(digest.hex()),
                display: path.clone(),
                name,
                root: root.clone(),
            };
            let r = inspect_one(plugins, &target, log);
            if r.status != Status::Unrecognised {
                report = Some(r);
            }
        }
        out.push(report);
    }
    Ok(out)
}

fn layers_of(manifest: &Value) -> &[Value] {
    manifest["layers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The manifests `LAYOUT[:TAG]` names: the tagged one, or every manifest of the layout.
pub fn inspect_layout(
    dir: &Path,
    tag: Option<&str>,
    plugins: &PluginSet,
    log: &dyn Fn(&str),
) -> Result<Vec<ArtifactView>> {
    let layout = Layout::open(dir)?;
    let entries = layout.entries()?;
    let chosen = match tag {
        Some(t) => vec![layout.resolve(Some(t))?],
        None if entries.is_empty() => bail!("{}: the layout holds no manifest", dir.display()),
        None => {
            // One view per distinct manifest, in index order.
            let mut seen = Vec::new();
            entries
                .iter()
                .filter(|e| {
                    let new = !seen.contains(&e.digest);
                    seen.push(e.digest);
                    new
                })
                .cloned()
                .collect()
        }
    };
    let mut views = Vec::new();
    for entry in chosen {
        let bytes = layout.read_blob(&entry.digest, entry.size, MAX_MANIFEST_SIZE)?;
        let manifest: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("manifest {}: not JSON", entry.digest))?;
        let cfg = &manifest["config"];
        let cfg_digest_str = cfg["digest"].as_str().unwrap_or("");
        let cfg_digest = Digest::parse(cfg_digest_str).with_context(|| {
            format!(
                "manifest {}: config digest {cfg_digest_str:?}",
                entry.digest
            )
        })?;
        let cfg_size = cfg["size"].as_u64().unwrap_or(0);
        let cfg_bytes = layout.read_blob(&cfg_digest, cfg_size, MAX_JSON_SIZE)?;
        let content: Value = serde_json::from_slice(&cfg_bytes)
            .with_context(|| format!("config {cfg_digest}: not JSON"))?;
        let layers = layer_views(&manifest);
        let weights = raw_weight_reports(dir, &manifest, plugins, log)?
            .into_iter()
            .flatten()
            .collect();
        views.push(ArtifactView {
            layout: dir.display().to_string(),
            tags: entries
                .iter()
                .filter(|e| e.digest == entry.digest)
                .filter_map(|e| e.tag.clone())
                .collect(),
            manifest: ManifestView {
                digest: entry.digest.to_string(),
                size: entry.size,
                media_type: manifest["mediaType"]
                    .as_str()
                    .unwrap_or(&entry.media_type)
                    .to_string(),
                artifact_type: manifest["artifactType"].as_str().map(str::to_string),
            },
            config: ConfigView {
                digest: cfg_digest.to_string(),
                size: cfg_size,
                media_type: cfg["mediaType"].as_str().unwrap_or("").to_string(),
                content,
            },
            total_size: layers.iter().map(|l| l.size).sum(),
            layers,
            weights,
        });
    }
    Ok(views)
}

fn layer_views(manifest: &Value) -> Vec<LayerView> {
    layers_of(manifest)
        .iter()
        .map(|l| {
            let mt = l["mediaType"].as_str().unwrap_or("").to_string();
            let parsed = parse_layer_media_type(&mt);
            LayerView {
                path: l["annotations"][ANNOTATION_FILEPATH]
                    .as_str()
                    .map(str::to_string),
                kind: parsed.map(|(k, _, _)| LayerKind::as_str(k).to_string()),
                encoding: parsed.map(|(_, f, _)| f.as_str().to_string()),
                media_type: mt,
                digest: l["digest"].as_str().unwrap_or("").to_string(),
                size: l["size"].as_u64().unwrap_or(0),
            }
        })
        .collect()
}

/// `inspect REGISTRY/REPO:TAG`: the same view as for a layout, from the registry: manifest
/// and config fetched and verified, raw weight layers read by the format plugins through
/// HTTP Range requests (see [`crate::registry::remote`]).
pub fn inspect_remote(
    reference: &str,
    plugins: &PluginSet,
    opts: &crate::registry::RegistryOptions,
    log: &dyn Fn(&str),
) -> Result<ArtifactView> {
    let remote = crate::registry::remote::RemoteArtifact::open(reference, opts)?;
    let manifest = &remote.manifest;
    let content: Value = serde_json::from_slice(&remote.config)
        .with_context(|| format!("config of {reference}: not JSON"))?;
    let mut weights = Vec::new();
    for (i, layer) in layers_of(manifest).iter().enumerate() {
        let media_type = layer["mediaType"].as_str().unwrap_or("");
        let Some((_, LayerFormat::Raw, _)) = parse_layer_media_type(media_type) else {
            continue;
        };
        let d = layer["digest"].as_str().unwrap_or("");
        let digest = Digest::parse(d)
            .with_context(|| format!("manifest layers[{i}]: unsupported digest {d:?}"))?;
        let size = layer["size"]
            .as_u64()
            .with_context(|| format!("manifest layers[{i}]: size is not a number"))?;
        let path = layer["annotations"][ANNOTATION_FILEPATH]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = Path::new(&path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let blob =
            crate::plugin::blob::BlobFile::remote(path.clone(), size, remote.layer(digest, size));
        let r = super::inspect_blob(plugins, &path, &name, blob, log);
        if r.status != Status::Unrecognised {
            weights.push(r);
        }
    }
    let cfg = &manifest["config"];
    let layers = layer_views(manifest);
    let tag = crate::registry::parse_reference(reference)?
        .tag()
        .map(str::to_string);
    Ok(ArtifactView {
        layout: reference.to_string(),
        tags: tag.into_iter().collect(),
        manifest: ManifestView {
            digest: remote.manifest_digest.to_string(),
            size: remote.manifest_size,
            media_type: manifest["mediaType"]
                .as_str()
                .unwrap_or(crate::model::MANIFEST_MEDIA_TYPE)
                .to_string(),
            artifact_type: manifest["artifactType"].as_str().map(str::to_string),
        },
        config: ConfigView {
            digest: cfg["digest"].as_str().unwrap_or("").to_string(),
            size: cfg["size"].as_u64().unwrap_or(0),
            media_type: cfg["mediaType"].as_str().unwrap_or("").to_string(),
            content,
        },
        total_size: layers.iter().map(|l| l.size).sum(),
        layers,
        weights,
    })
}

/// The text block of one artifact.
pub fn render(v: &ArtifactView, tensors: bool) -> String {
    let mut s = String::new();
    let tags = if v.tags.is_empty() {
        "(untagged)".to_string()
    } else {
        v.tags.join(", ")
    };
    let _ = writeln!(s, "{}  [{tags}]", v.layout);
    let _ = writeln!(
        s,
        "  manifest  {} ({} bytes)",
        v.manifest.digest, v.manifest.size
    );
    if let Some(a) = &v.manifest.artifact_type {
        let _ = writeln!(s, "  artifact  {a}");
    }
    let _ = writeln!(
        s,
        "  config    {} ({} bytes)",
        v.config.digest, v.config.size
    );
    let c = &v.config.content;
    for (label, ptr) in [
        ("name", "/descriptor/name"),
        ("version", "/descriptor/version"),
        ("revision", "/descriptor/revision"),
        ("source", "/descriptor/sourceURL"),
        ("licenses", "/descriptor/licenses"),
        ("family", "/descriptor/family"),
        ("format", "/config/format"),
        ("paramSize", "/config/paramSize"),
        ("precision", "/config/precision"),
        ("quantization", "/config/quantization"),
    ] {
        let text = match c.pointer(ptr) {
            Some(Value::String(x)) => x.clone(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(", "),
            Some(Value::Null) | None => continue,
            Some(other) => other.to_string(),
        };
        let _ = writeln!(s, "    {label:<12} {text}");
    }
    let _ = writeln!(
        s,
        "  layers    {}, {}",
        v.layers.len(),
        human_bytes(v.total_size)
    );
    let rows: Vec<[String; 4]> = v
        .layers
        .iter()
        .map(|l| {
            [
                l.kind.clone().unwrap_or_else(|| "?".into()),
                l.encoding.clone().unwrap_or_else(|| l.media_type.clone()),
                human_bytes(l.size),
                l.path.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let w = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0);
    let (w0, w1, w2) = (w(0).max(4), w(1).max(8), w(2).max(4));
    let _ = writeln!(
        s,
        "    {:<w0$}  {:<w1$}  {:>w2$}  PATH",
        "KIND", "ENCODING", "SIZE"
    );
    for r in &rows {
        let _ = writeln!(
            s,
            "    {:<w0$}  {:<w1$}  {:>w2$}  {}",
            r[0], r[1], r[2], r[3]
        );
    }
    for r in &v.weights {
        for line in super::text::render(r, tensors).lines() {
            let _ = writeln!(s, "  {line}");
        }
    }
    s
}
