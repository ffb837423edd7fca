//! Test inputs for policies (feature `testkit`, native only): small builders, and inputs derived
//! from the real Hugging Face model directories in the shared fixtures.
//!
//! [`hf_model`] approximates what `modelpack generate` derives from a directory, so policy tests
//! run on real metadata instead of invented ones:
//!
//! * `descriptor.name` from `_name_or_path` (else the directory name), `family` from
//!   `model_type`, `licenses` from the README front matter's `license:` line (absent when the
//!   README has none, as for pygmalion-7b);
//! * `config.format` `safetensors`, `precision` from `torch_dtype`, `quantization` from
//!   `quantization_config.quant_method`, `paramSize` from the index's `total_size` (or the weight
//!   sizes) divided by the dtype's width, unquantised models only;
//! * files classified by name into layer kinds; a Git LFS pointer stands for the file it points
//!   to: its declared size, and the `git-lfs-pointer` finding the format plugins report. Tensor
//!   facts are zero because the weights themselves are absent.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::report::finding;
use crate::units::human_count;
use crate::{FileFacts, Finding, ModelTotals, PolicyInput, Severity};

/// The shared fixtures directory; panics with a clear message when it is missing.
pub fn fixtures_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ));
    assert!(
        dir.join("MANIFEST.tsv").exists(),
        "shared fixtures not found at {}",
        dir.display()
    );
    dir.to_path_buf()
}

/// A policy input from a config, files and settings (manifest `null`, as for a bare config).
pub fn input(config: Value, files: Vec<FileFacts>, settings: Value) -> PolicyInput {
    PolicyInput {
        config: config.to_string(),
        manifest: "null".into(),
        totals: totals(&files),
        files,
        signatures: vec![],
        sbom_attached: false,
        settings: settings.to_string(),
    }
}

/// Totals as the host computes them for files without copies: Σ weight parameters and bytes
/// of the weight files.
pub fn totals(files: &[FileFacts]) -> ModelTotals {
    let weights = files.iter().filter(|f| f.kind == "weight");
    ModelTotals {
        parameters: weights
            .clone()
            .fold(0u64, |a, f| a.saturating_add(f.weight_parameters)),
        format: None,
        precision: None,
        quantization: None,
        weight_bytes: weights.fold(0u64, |a, f| a.saturating_add(f.size)),
        copies: 0,
    }
}

/// Facts for a file of a layer kind with no format handler facts.
pub fn file(path: &str, kind: &str, size: u64) -> FileFacts {
    FileFacts {
        path: path.into(),
        kind: kind.into(),
        media_type: format!("application/vnd.cncf.model.{kind}.v1.raw"),
        size,
        format: None,
        tensor_count: 0,
        parameter_count: 0,
        weight_parameters: 0,
        dtypes: vec![],
        precisions: vec![],
        findings: vec![],
    }
}

/// Facts for a weight file read by a format handler: weight parameters per dtype as it
/// spells them (no precision words; see [`weight_with_words`]).
pub fn weight(path: &str, size: u64, format: &str, dtypes: &[(&str, u64)]) -> FileFacts {
    let mut f = weight_with_words(path, size, format, dtypes, &[]);
    f.precisions.clear();
    f
}

/// [`weight`] with the precision words of the dtypes: `(dtype, word)`; a dtype without a word
/// is reported as `quantized:<dtype>`, as the host does.
pub fn weight_with_words(
    path: &str,
    size: u64,
    format: &str,
    dtypes: &[(&str, u64)],
    words: &[(&str, &str)],
) -> FileFacts {
    let mut f = file(path, "weight", size);
    f.format = Some(format.into());
    f.tensor_count = dtypes.len() as u64;
    f.parameter_count = dtypes.iter().map(|(_, n)| n).sum();
    f.weight_parameters = f.parameter_count;
    f.dtypes = dtypes.iter().map(|(d, n)| (d.to_string(), *n)).collect();
    f.precisions = dtypes
        .iter()
        .map(|(d, n)| {
            let word = words
                .iter()
                .find(|(x, _)| x == d)
                .map_or_else(|| format!("quantized:{d}"), |(_, w)| w.to_string());
            (word, *n)
        })
        .collect();
    f
}

/// Ids of findings, in order, for compact assertions.
pub fn ids(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.id.as_str()).collect()
}

/// The policy input `modelpack generate` would roughly produce for a fixture model directory
/// (path relative to the shared fixtures, e.g. `hf-lfs/pygmalion-7b`), with these settings.
pub fn hf_model(rel: &str, settings: Value) -> PolicyInput {
    let dir = fixtures_dir().join(rel);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let hf: Value = read("config.json")
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);

    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let files: Vec<FileFacts> = names.iter().map(|n| file_facts(&dir, n)).collect();

    let dtype = hf["torch_dtype"].as_str();
    let quant = hf["quantization_config"]["quant_method"].as_str();
    let weight_bytes: u64 = read("model.safetensors.index.json")
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["metadata"]["total_size"].as_u64())
        .unwrap_or_else(|| {
            files
                .iter()
                .filter(|f| f.kind == "weight")
                .map(|f| f.size)
                .sum()
        });
    let width = match dtype {
        Some("float32") => 4,
        Some("float16" | "bfloat16") => 2,
        _ => 0,
    };

    let mut descriptor = json!({
        "name": hf["_name_or_path"].as_str().unwrap_or_else(|| rel.rsplit('/').next().unwrap_or(rel)),
    });
    if let Some(family) = hf["model_type"].as_str() {
        descriptor["family"] = json!(family);
    }
    if let Some(license) = read("README.md").as_deref().and_then(front_matter_license) {
        descriptor["licenses"] = json!([license]);
    }
    let mut config = json!({"architecture": "transformer", "format": "safetensors"});
    if let Some(d) = dtype {
        config["precision"] = json!(d);
    }
    if let Some(q) = quant {
        config["quantization"] = json!(q);
    } else if width > 0 && weight_bytes > 0 {
        config["paramSize"] = json!(human_count(weight_bytes / width));
    }
    let model = json!({
        "descriptor": descriptor,
        "config": config,
        "modelfs": {"type": "layers", "diffIds": files.iter().map(|_| format!("sha256:{}", "0".repeat(64))).collect::<Vec<_>>()},
    });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.model.manifest.v1+json",
        "layers": files.iter().map(|f| json!({
            "mediaType": f.media_type,
            "size": f.size,
            "annotations": {"org.cncf.model.filepath": f.path},
        })).collect::<Vec<_>>(),
    });
    PolicyInput {
        config: model.to_string(),
        manifest: manifest.to_string(),
        totals: totals(&files),
        files,
        signatures: vec![],
        sbom_attached: false,
        settings: settings.to_string(),
    }
}

/// The `license:` value of a README's YAML front matter, if it has a plain one.
pub fn front_matter_license(readme: &str) -> Option<String> {
    let rest = readme.strip_prefix("---")?;
    let end = rest.find("\n---")?;
    rest[..end].lines().find_map(|l| {
        let v = l.strip_prefix("license:")?.trim().trim_matches(['"', '\'']);
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// Layer kind of a file by name, the way generate classifies a Hugging Face directory.
pub fn classify(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "safetensors" | "gguf" | "onnx" | "pt" | "pth" | "bin" | "ckpt" | "npy" | "npz" => "weight",
        "py" | "sh" | "ipynb" => "code",
        "json" | "model" | "jinja" | "txt" if !lower.starts_with("license") => "weight.config",
        _ => "doc",
    }
}

fn file_facts(dir: &Path, name: &str) -> FileFacts {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let kind = classify(name);
    let mut f = file(name, kind, bytes.len() as u64);
    if let Some(declared) = lfs_declared_size(&bytes) {
        f.size = declared;
        if kind == "weight" {
            f.format = Some("safetensors".into());
            f.findings.push(finding(
                "git-lfs-pointer",
                Severity::Error,
                format!("{name} is a Git LFS pointer, not the weights: run `git lfs pull`"),
                None,
                None,
            ));
        }
    }
    f
}

fn lfs_declared_size(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if !text.starts_with("version https://git-lfs.github.com/spec/v1") {
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix("size ")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pygmalion_resembles_generate() {
        let input = hf_model("hf-lfs/pygmalion-7b", json!({}));
        let config: Value = serde_json::from_str(&input.config).unwrap();
        assert_eq!(config["descriptor"]["name"], "pygmalion-7b");
        assert!(config["descriptor"].get("licenses").is_none());
        assert_eq!(config["config"]["precision"], "bfloat16");
        assert_eq!(config["config"]["paramSize"], "6.7B");
        let weights: Vec<_> = input.files.iter().filter(|f| f.kind == "weight").collect();
        assert_eq!(weights.len(), 7);
        assert_eq!(weights[0].size, 2_015_434_520);
        assert_eq!(weights[0].findings[0].id, "git-lfs-pointer");
        let readme = input.files.iter().find(|f| f.path == "README.md").unwrap();
        assert_eq!(readme.kind, "doc");
    }

    #[test]
    fn granite_has_a_license() {
        let input = hf_model("hf-lfs/granite-3.1-1b-a400m-instruct", json!({}));
        let config: Value = serde_json::from_str(&input.config).unwrap();
        assert_eq!(config["descriptor"]["licenses"], json!(["apache-2.0"]));
        assert_eq!(config["config"]["paramSize"], "1.3B");
    }

    #[test]
    fn classification() {
        assert_eq!(classify("model-00001-of-00007.safetensors"), "weight");
        assert_eq!(classify("tokenizer.model"), "weight.config");
        assert_eq!(classify("config.json"), "weight.config");
        assert_eq!(classify("modeling_molmo.py"), "code");
        assert_eq!(classify("README.md"), "doc");
        assert_eq!(classify("LICENSE.txt"), "doc");
    }
}
