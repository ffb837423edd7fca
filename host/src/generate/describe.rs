//! Who the model is, from the weight headers and the directory: GGUF `general.*` keys
//! (family, architecture, name, version, author, licence) and the directory's name (for a
//! Hugging Face cache snapshot, the repo's name). Everything model-directory conventions say
//! (config.json, model cards, licence texts) comes from convention plugins
//! (`conventions.rs`).

use std::path::Path;

use serde_json::{Value, json};

use super::facts::Context;
use super::fields::Source;
use super::weights;
use crate::validate::rules::{canonical_license, sanitize_ref};

fn gguf_text<'a>(facts: &'a weights::WeightFacts, key: &str) -> Option<&'a str> {
    facts
        .gguf
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The coarse `config.architecture` word for a llama.cpp architecture name.
fn architecture_word(arch: &str) -> &'static str {
    let t = arch.to_ascii_lowercase();
    if t.starts_with("rwkv") || t.starts_with("arwkv") {
        "rnn"
    } else if t.contains("mamba") {
        "ssm"
    } else {
        "transformer"
    }
}

/// A GGUF `general.license` as an SPDX expression (`None` for `unknown`).
fn gguf_license(id: &str) -> Option<String> {
    let lower = id.trim().to_ascii_lowercase();
    if matches!(lower.as_str(), "" | "unknown" | "none" | "noassertion") {
        return None;
    }
    // The GNU ids without `-only`/`-or-later` meant "only".
    if let Some(gnu) = [
        "gpl-2.0", "gpl-3.0", "lgpl-2.1", "lgpl-3.0", "agpl-3.0", "gfdl-1.3",
    ]
    .iter()
    .find(|g| **g == lower)
    {
        return Some(format!("{}-only", gnu.to_ascii_uppercase()));
    }
    Some(match canonical_license(id.trim()) {
        Ok(expr) => expr,
        Err(_) => format!("LicenseRef-{}", sanitize_ref(id.trim())),
    })
}

pub(super) fn architecture(ctx: &mut Context<'_>, facts: &weights::WeightFacts) {
    if let Some(arch) = gguf_text(facts, "general.architecture") {
        let arch = arch.to_string();
        ctx.add(
            "descriptor.family",
            json!(arch),
            Source::WeightHeaders,
            "GGUF general.architecture",
        );
        ctx.add_noted(
            "config.architecture",
            json!(architecture_word(&arch)),
            Source::WeightHeaders,
            "GGUF general.architecture",
            format!("llama.cpp architecture {arch}"),
        );
    }
    if let Some(v) = gguf_text(facts, "general.version") {
        let v = v.to_string();
        ctx.add(
            "descriptor.version",
            json!(v),
            Source::WeightHeaders,
            "GGUF general.version",
        );
    }
    if let Some(a) = gguf_text(facts, "general.author") {
        let a = a.to_string();
        ctx.add(
            "descriptor.authors",
            json!([a]),
            Source::WeightHeaders,
            "GGUF general.author",
        );
    }
}

pub(super) fn gguf_name(ctx: &mut Context<'_>, facts: &weights::WeightFacts) {
    if let Some(n) = gguf_text(facts, "general.name") {
        let n = n.to_string();
        ctx.add(
            "descriptor.name",
            json!(n),
            Source::WeightHeaders,
            "GGUF general.name",
        );
    }
}

/// Directory names that say nothing about the model (`model`, `checkpoint-500`, a commit
/// hash…).
pub(super) fn is_generic_dir_name(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    const GENERIC: &[&str] = &[
        "model",
        "models",
        "weights",
        "checkpoint",
        "checkpoints",
        "output",
        "outputs",
        "export",
        "exported",
        "final",
        "latest",
        "best",
        "hf",
        "huggingface",
        "snapshot",
        "main",
        "src",
        "tmp",
        "temp",
        "artifacts",
        "artifact",
        "saved_model",
        "pretrained",
    ];
    let hash = l.len() >= 7 && l.bytes().all(|b| b.is_ascii_hexdigit());
    let numbered = l
        .trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '-' || c == '_')
        .chars()
        .all(|c| c.is_ascii_digit())
        && l.chars().any(|c| c.is_ascii_digit())
        && (l.starts_with("checkpoint") || l.starts_with("step") || l.starts_with("epoch"));
    GENERIC.contains(&l.as_str()) || hash || numbered
}

/// The directory's name; for a Hugging Face cache snapshot, the repo's name.
pub(super) fn dir_name(root: &Path) -> String {
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = root.parent();
    if parent
        .and_then(Path::file_name)
        .is_some_and(|n| n == "snapshots")
        && let Some(repo) = parent.and_then(Path::parent).and_then(Path::file_name)
        && let Some(model) = repo.to_string_lossy().rsplit("--").next()
    {
        return model.to_string();
    }
    name
}

pub(super) fn licenses(ctx: &mut Context<'_>, facts: &weights::WeightFacts) {
    if let Some(l) = gguf_text(facts, "general.license")
        && let Some(s) = gguf_license(l)
    {
        ctx.add_noted(
            "descriptor.licenses",
            json!([s]),
            Source::WeightHeaders,
            "GGUF general.license",
            format!("general.license {l}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_directory_names() {
        for g in [
            "model",
            "Checkpoint-500",
            "step_1000",
            "0123abcdef",
            "hf",
            "weights",
        ] {
            assert!(is_generic_dir_name(g), "{g}");
        }
        for n in [
            "granite-3.1-1b-a400m-instruct",
            "pygmalion-7b",
            "tiny-model",
            "bert-base",
        ] {
            assert!(!is_generic_dir_name(n), "{n}");
        }
    }

    #[test]
    fn hugging_face_cache_names() {
        let p = Path::new("/c/models--ibm-granite--granite-3.1/snapshots/0123abc");
        assert_eq!(dir_name(p), "granite-3.1");
        assert_eq!(dir_name(Path::new("/x/pygmalion-7b")), "pygmalion-7b");
    }
}
