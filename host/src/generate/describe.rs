//! Who the model is: family and architecture, name and title, licences, and what the model
//! card says about capabilities, languages and creation time.
//!
//! `name`: card `model_name` / `model-index[0].name` > what a weight file declares (GGUF
//! `general.name`, offered by its format plugin, see `facts.rs`) > the last
//! component of config.json `_name_or_path` (unless it is a local path) > the directory name
//! (for a Hugging Face cache snapshot, the repo's name). `title`: the card's first `# heading`.
//! Licences: card `license:` (Hugging Face ids mapped to SPDX) > a weight file's declaration > the
//! text of LICENSE/COPYING files. Languages: ISO 639-1 only (`en-US` counts as `en`; others
//! are dropped with a note).

use std::path::Path;

use serde_json::json;

use super::facts::Context;
use super::fields::Source;
use super::{card, hf, license};
use crate::validate::{datetime, iso639};

pub(super) fn architecture(ctx: &mut Context<'_>, cfg: Option<&hf::HfConfig>) {
    if let Some(c) = cfg {
        let head = c.architectures.join(", ");
        if let Some(t) = &c.model_type {
            ctx.add(
                "descriptor.family",
                json!(t),
                Source::HfFiles,
                "config.json: model_type",
            );
            if let Some(word) = hf::architecture_word(t, c.transformers) {
                let note = if head.is_empty() {
                    format!("model_type {t}")
                } else {
                    format!("model_type {t}, head class {head}")
                };
                ctx.add_noted(
                    "config.architecture",
                    json!(word),
                    Source::HfFiles,
                    "config.json: model_type",
                    note,
                );
            }
        } else if !head.is_empty() {
            ctx.add_noted(
                "config.architecture",
                json!("transformer"),
                Source::HfFiles,
                "config.json: architectures",
                format!("head class {head}"),
            );
        }
        if c.auto_map {
            ctx.notes.push(
                "config.json has auto_map: loading the model runs its own code (trust_remote_code)"
                    .into(),
            );
        }
    }
}

pub(super) fn names(
    ctx: &mut Context<'_>,
    cfg: Option<&hf::HfConfig>,
    card: Option<&(String, card::Card)>,
) {
    // Heuristics, in this order: a telling directory name (a clone is named after its
    // repo), the card's title, `_name_or_path` (often the *base* model's id, so late), and
    // any directory name as the last resort.
    let dir = dir_name(ctx.root);
    let generic = is_generic_dir_name(&dir);
    if !dir.is_empty() && !generic {
        ctx.add(
            "descriptor.name",
            json!(dir),
            Source::Heuristic,
            "directory name",
        );
    }
    if let Some((rel, c)) = card
        && let Some(t) = &c.title
    {
        ctx.add(
            "descriptor.name",
            json!(t),
            Source::Heuristic,
            format!("{rel}: first heading"),
        );
    }
    if let Some(p) = cfg.and_then(|c| c.name_or_path.as_deref()) {
        let local =
            p.starts_with('/') || p.starts_with('.') || p.starts_with('~') || p.contains('\\');
        let last = p.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if !local && !last.is_empty() {
            ctx.add(
                "descriptor.name",
                json!(last),
                Source::Heuristic,
                "config.json: _name_or_path",
            );
        }
    }
    if !dir.is_empty() && generic {
        ctx.add(
            "descriptor.name",
            json!(dir),
            Source::Heuristic,
            "directory name",
        );
    }
}

/// Directory names that say nothing about the model (`model`, `checkpoint-500`, a commit
/// hash…).
fn is_generic_dir_name(name: &str) -> bool {
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
fn dir_name(root: &Path) -> String {
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

/// Reads the model card at the root (`README.md`, any case), if there is one.
pub(super) fn read_card(ctx: &mut Context<'_>) -> Option<(String, card::Card)> {
    let e = ctx.root_file(|n| n.eq_ignore_ascii_case("readme.md"))?;
    let (rel, abs) = (e.rel.clone(), e.abs.clone());
    match std::fs::read(&abs) {
        Ok(b) => {
            let text = String::from_utf8_lossy(&b[..b.len().min(1 << 20)]).into_owned();
            let c = card::parse(&text);
            ctx.warnings
                .extend(c.warnings.iter().map(|w| format!("{rel}: {w}")));
            Some((rel, c))
        }
        Err(err) => {
            ctx.warnings.push(format!("{rel}: {err}"));
            None
        }
    }
}

pub(super) fn card_fields(ctx: &mut Context<'_>, card: Option<&(String, card::Card)>) {
    let Some((rel, c)) = card else {
        return;
    };
    let rel = rel.clone();
    if let Some((n, key)) = &c.name {
        ctx.add(
            "descriptor.name",
            json!(n),
            Source::HfFiles,
            format!("{rel}: {key}"),
        );
    }
    if let Some(t) = &c.title {
        ctx.add(
            "descriptor.title",
            json!(t),
            Source::HfFiles,
            format!("{rel}: first heading"),
        );
    }
    let mut lic = Vec::new();
    for id in &c.licenses {
        if let license::Mapped::Spdx(s) = license::to_spdx(id, c.license_name.as_deref())
            && !lic.contains(&s)
        {
            lic.push(s);
        }
    }
    if !lic.is_empty() {
        let note = format!("license: {} mapped to SPDX", c.licenses.join(", "));
        ctx.add_noted(
            "descriptor.licenses",
            json!(lic),
            Source::HfFiles,
            format!("{rel}: license"),
            note,
        );
    }
    if let Some(tag) = &c.pipeline_tag {
        match card::pipeline_modalities(tag) {
            Some((input, output)) => {
                if let Some(i) = input {
                    ctx.add(
                        "config.capabilities.inputTypes",
                        json!(i),
                        Source::HfFiles,
                        format!("{rel}: pipeline_tag {tag}"),
                    );
                }
                if let Some(o) = output {
                    ctx.add(
                        "config.capabilities.outputTypes",
                        json!(o),
                        Source::HfFiles,
                        format!("{rel}: pipeline_tag {tag}"),
                    );
                }
            }
            None => ctx.notes.push(format!(
                "config.capabilities: pipeline_tag {tag} does not fix input/output types"
            )),
        }
    }
    if !c.languages.is_empty() {
        let mut codes: Vec<String> = Vec::new();
        let mut dropped = Vec::new();
        for l in &c.languages {
            let primary = l
                .split(['-', '_'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if iso639::is_code(&primary) {
                if !codes.contains(&primary) {
                    codes.push(primary);
                }
            } else {
                dropped.push(l.clone());
            }
        }
        if !dropped.is_empty() {
            ctx.notes.push(format!(
                "config.capabilities.languages: not ISO 639-1, left out: {}",
                dropped.join(", ")
            ));
        }
        if !codes.is_empty() {
            ctx.add(
                "config.capabilities.languages",
                json!(codes),
                Source::HfFiles,
                format!("{rel}: language"),
            );
        }
    }
    if let Some((t, key)) = &c.created {
        let t = if t.len() == 10 && datetime::check(&format!("{t}T00:00:00Z")).is_ok() {
            format!("{t}T00:00:00Z")
        } else {
            t.clone()
        };
        match datetime::check(&t) {
            Ok(()) => ctx.add(
                "descriptor.createdAt",
                json!(t),
                Source::HfFiles,
                format!("{rel}: {key}"),
            ),
            Err(e) => ctx.warnings.push(format!("{rel}: {key}: {e}; ignored")),
        }
    }
}

pub(super) fn licenses(ctx: &mut Context<'_>) {
    let files: Vec<(String, std::path::PathBuf)> = ctx
        .entries
        .iter()
        .filter(|e| !e.rel.contains('/') && license::is_license_file(&e.rel))
        .map(|e| (e.rel.clone(), e.abs.clone()))
        .collect();
    let mut found = Vec::new();
    let mut from = Vec::new();
    let mut why = Vec::new();
    for (rel, abs) in files {
        let Ok(bytes) = std::fs::read(&abs) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(256 << 10)]).into_owned();
        if let Some((id, w)) = license::recognize(&text)
            && !found.contains(&id)
        {
            found.push(id);
            from.push(rel);
            why.push(w);
        }
    }
    if !found.is_empty() {
        ctx.add_noted(
            "descriptor.licenses",
            json!(found),
            Source::Heuristic,
            from.join(", "),
            format!("licence text recognised: {}", why.join("; ")),
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
