//! The directory's name as a last-resort `descriptor.name`. What the weight files declare comes from the format plugins
//! (`facts.rs`), what model-directory conventions say (config.json, model cards, licence
//! texts) from convention plugins (`conventions.rs`).

use std::path::Path;

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

/// The directory's name (a cache layout's better name comes from its convention plugin).
pub(super) fn dir_name(root: &Path) -> String {
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
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
}
