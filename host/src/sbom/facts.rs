//! What an SBOM says about a model, gathered from what `generate` decided (the ModelPack
//! config, the layers and their digests, missing files) and what the format plugins reported
//! (parameter counts, graph inputs and outputs, metadata).
//!
//! Nothing here parses a weight format or reads a metadata key: lineage (base models, data
//! sets) arrives from the plugins as such — the format plugins' reading of their files (GGUF
//! `general.base_model.N.*`) and the convention plugins' (a model card's `base_model`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::generate::Generated;
use crate::inspect::report::{LineageKind, LineageOut};

/// One file of the model.
#[derive(Debug, Clone)]
pub struct FileFact {
    /// Path relative to the model root.
    pub path: String,
    /// Layer kind (`weight`, `weight.config`, `doc`, `code`, `dataset`).
    pub kind: String,
    /// Size in bytes (the real file's size for a missing one, when known).
    pub size: Option<u64>,
    /// SHA-256 (hex), when known.
    pub sha256: Option<String>,
    /// Why the file is not in the directory (Git LFS pointer, absent shard).
    pub missing: Option<String>,
}

/// A data set the model was trained, tuned or evaluated on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DatasetFact {
    /// Its name (a hub id such as `HuggingFaceH4/ultrachat_200k`, or a file path).
    pub name: String,
    /// Where it came from: `model card`, `dataset layer`, `weights metadata`.
    pub source: &'static str,
    /// The file's SHA-256, for a dataset shipped with the model.
    pub sha256: Option<String>,
    /// A URL, when the metadata gives one.
    pub url: Option<String>,
}

/// A model this one derives from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BaseModel {
    /// Its name or hub id.
    pub name: String,
    /// Organisation, when known.
    pub organization: Option<String>,
    /// Version, when known.
    pub version: Option<String>,
    /// A URL, when known.
    pub url: Option<String>,
    /// Where it came from: `model card` or `weights metadata`.
    pub source: &'static str,
}

/// Everything an SBOM is built from.
#[derive(Debug, Clone, Default)]
pub struct ModelFacts {
    /// `descriptor.name`, else the directory name.
    pub name: String,
    /// `descriptor.version`.
    pub version: Option<String>,
    /// `descriptor.description` or `title`.
    pub description: Option<String>,
    /// `descriptor.authors`.
    pub authors: Vec<String>,
    /// `descriptor.vendor`.
    pub vendor: Option<String>,
    /// `descriptor.sourceURL`.
    pub source_url: Option<String>,
    /// `descriptor.docURL`.
    pub doc_url: Option<String>,
    /// `descriptor.createdAt`.
    pub created_at: Option<String>,
    /// `descriptor.licenses`.
    pub licenses: Vec<String>,
    /// `descriptor.family` (`llama`), else `config.architecture`.
    pub family: Option<String>,
    /// `config.architecture` (`transformer`).
    pub architecture: Option<String>,
    /// The model class: the weights' own architecture name (`general.architecture`).
    pub model_class: Option<String>,
    /// `config.format`.
    pub format: Option<String>,
    /// `config.paramSize`.
    pub param_size: Option<String>,
    /// Exact parameter count over the weight files present (0 when none were read).
    pub parameters: u64,
    /// `config.precision`.
    pub precision: Option<String>,
    /// `config.quantization`.
    pub quantization: Option<String>,
    /// The task (`text-generation`); not filled until the convention contract carries it.
    pub task: Option<String>,
    /// `capabilities.inputTypes`, else the graph inputs.
    pub inputs: Vec<String>,
    /// `capabilities.outputTypes`, else the graph outputs.
    pub outputs: Vec<String>,
    /// Every file, sorted by path (present and missing).
    pub files: Vec<FileFact>,
    /// Data sets, sorted.
    pub datasets: Vec<DatasetFact>,
    /// Lineage, sorted.
    pub base_models: Vec<BaseModel>,
    /// SHA-256 over the sorted `path\0sha256\n` lines: names the SBOM deterministically.
    pub digest: String,
}

fn text(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn texts(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Gathers the facts from a `generate` run over `dir`.
pub fn collect(dir: &Path, g: &Generated) -> ModelFacts {
    let c = &g.config;
    let mut f = ModelFacts {
        name: text(c, "/descriptor/name").unwrap_or_else(|| {
            g.root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string())
        }),
        version: text(c, "/descriptor/version"),
        description: text(c, "/descriptor/description").or_else(|| text(c, "/descriptor/title")),
        authors: texts(c, "/descriptor/authors"),
        vendor: text(c, "/descriptor/vendor"),
        source_url: text(c, "/descriptor/sourceURL"),
        doc_url: text(c, "/descriptor/docURL"),
        created_at: text(c, "/descriptor/createdAt"),
        licenses: texts(c, "/descriptor/licenses"),
        architecture: text(c, "/config/architecture"),
        format: text(c, "/config/format"),
        param_size: text(c, "/config/paramSize"),
        precision: text(c, "/config/precision"),
        quantization: text(c, "/config/quantization"),
        inputs: texts(c, "/config/capabilities/inputTypes"),
        outputs: texts(c, "/config/capabilities/outputTypes"),
        ..ModelFacts::default()
    };
    f.family = text(c, "/descriptor/family").or_else(|| f.architecture.clone());

    // Files: with raw layers every file is one layer, and its diffId is the file's SHA-256.
    let kinds: BTreeMap<&str, &str> = g
        .files
        .iter()
        .map(|p| (p.path.as_str(), p.kind.as_str()))
        .collect();
    for l in &g.layers {
        f.files.push(FileFact {
            path: l.path.clone(),
            kind: kinds
                .get(l.path.as_str())
                .copied()
                .unwrap_or(&l.kind)
                .to_string(),
            size: Some(l.size),
            sha256: l.diff_id.strip_prefix("sha256:").map(str::to_string),
            missing: None,
        });
    }
    for m in &g.missing {
        f.files.push(FileFact {
            path: m.path.clone(),
            kind: "weight".into(),
            size: m.lfs_size,
            // A Git LFS object id is the SHA-256 of the real file.
            sha256: m
                .lfs_oid
                .as_deref()
                .and_then(|o| o.strip_prefix("sha256:"))
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_ascii_lowercase),
            missing: Some(m.reason.clone()),
        });
    }
    f.files.sort_by(|a, b| a.path.cmp(&b.path));
    f.files.dedup_by(|a, b| a.path == b.path);

    // Exact parameters and graph inputs/outputs from the weight files' reports.
    let weight_paths: std::collections::BTreeSet<&str> = g
        .files
        .iter()
        .filter(|p| p.kind.as_str() == "weight")
        .map(|p| p.path.as_str())
        .collect();
    let mut graph_in = Vec::new();
    let mut graph_out = Vec::new();
    for r in &g.reports {
        if !weight_paths.contains(r.path.as_str()) {
            continue;
        }
        f.parameters += r.parameter_count;
        for v in &r.inputs {
            graph_in.push(io_text(&v.name, &v.dtype, v.shape.as_deref()));
        }
        for v in &r.outputs {
            graph_out.push(io_text(&v.name, &v.dtype, v.shape.as_deref()));
        }
        add_lineage(&r.lineage, "weights metadata", &mut f);
        // The format plugin's own reading of its file (GGUF: `general.architecture`), as
        // `generate` takes it: a candidate for /config/architecture.
        if f.model_class.is_none() {
            f.model_class = r
                .candidates
                .iter()
                .find(|c| c.field == "/config/architecture")
                .and_then(|c| c.value.as_str())
                .map(str::to_string);
        }
    }
    if f.inputs.is_empty() {
        f.inputs = graph_in;
    }
    if f.outputs.is_empty() {
        f.outputs = graph_out;
    }

    // What the convention plugins found (the card's base_model and datasets).
    add_lineage(&g.lineage, "convention files", &mut f);
    for file in f.files.iter().filter(|x| x.kind == "dataset") {
        f.datasets.push(DatasetFact {
            name: file.path.clone(),
            source: "dataset layer",
            sha256: file.sha256.clone(),
            url: None,
        });
    }
    f.datasets.sort();
    f.datasets.dedup_by(|a, b| a.name == b.name);
    f.base_models.sort();
    f.base_models.dedup_by(|a, b| a.name == b.name);

    let mut h = Sha256::new();
    for file in &f.files {
        h.update(file.path.as_bytes());
        h.update([0]);
        h.update(file.sha256.as_deref().unwrap_or("-").as_bytes());
        h.update(b"\n");
    }
    f.digest = hex::encode(h.finalize());
    f
}

fn io_text(name: &str, dtype: &str, shape: Option<&[Value]>) -> String {
    let dims = shape
        .map(|s| {
            let d: Vec<String> = s
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => "?".into(),
                    other => other.to_string(),
                })
                .collect();
            format!("[{}]", d.join(","))
        })
        .unwrap_or_default();
    format!("{name}: {dtype}{dims}")
}

/// Base models and data sets as the plugins reported them.
fn add_lineage(lineage: &[LineageOut], source: &'static str, f: &mut ModelFacts) {
    for l in lineage {
        match l.kind {
            LineageKind::BaseModel => f.base_models.push(BaseModel {
                name: l.name.clone(),
                organization: l.organization.clone(),
                version: l.version.clone(),
                url: l.url.clone(),
                source,
            }),
            LineageKind::Dataset => f.datasets.push(DatasetFact {
                name: l.name.clone(),
                source,
                sha256: None,
                url: l.url.clone(),
            }),
        }
    }
}
