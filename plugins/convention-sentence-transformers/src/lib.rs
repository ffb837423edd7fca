//! Convention plugin `convention-sentence-transformers`: a sentence-transformers model
//! (`modules.json` at the root listing the module pipeline: Transformer → Pooling →
//! Normalize…; `sentence_bert_config.json` with `max_seq_length`; each module's
//! `config.json` in its own folder, e.g. `1_Pooling/config.json` with the embedding width).
//!
//! What it says: text in, embeddings out (the modules file states it is an embedding model);
//! the module pipeline, pooling mode, embedding width and sequence length as a note; the
//! modules' config files as `weight.config` layers.

use modelpack_plugin_sdk::convention::*;
use serde_json::{Value, json};

/// The plugin.
pub struct SentenceTransformers;

/// The module list.
pub const MODULES: &str = "modules.json";

/// The convention's own files, hinted wherever they are (with or without a module list).
pub const CONFIGS: &[&str] = &[
    MODULES,
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
];

impl ConventionPlugin for SentenceTransformers {
    const INFO: &'static str = r#"{"name":"convention-sentence-transformers","version":"0.1.0","description":"sentence-transformers: modules.json (module pipeline, pooling, embedding width)","file_names":["modules.json","sentence_bert_config.json","config_sentence_transformers.json"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        for path in files_named(input, CONFIGS) {
            out.hints.push(FileHint {
                path: path.to_string(),
                kind: FileKind::WeightConfig,
                reason: "sentence-transformers config".into(),
            });
        }
        if !root_files(input).any(|n| n == MODULES) {
            return Ok(out);
        }
        let modules = match read_text(files, MODULES)
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("not JSON: {e}")))
        {
            // An empty list names no pipeline: nothing to say.
            Ok(Value::Array(m)) if m.is_empty() => return Ok(out),
            Ok(Value::Array(m)) => m,
            Ok(_) => {
                warn(
                    &mut out,
                    format!("{MODULES}: not a JSON array of modules; ignored"),
                );
                return Ok(out);
            }
            Err(e) => {
                warn(&mut out, format!("{MODULES}: {e}; ignored"));
                return Ok(out);
            }
        };
        answer(files, input, &modules, &mut out);
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(SentenceTransformers);

fn warn(out: &mut ConventionReport, text: String) {
    out.findings.push(message(
        Severity::Warning,
        "unreadable",
        Some(MODULES),
        text,
    ));
}

fn json_file(files: &dyn Files, path: &str) -> Option<Value> {
    read_text(files, path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// The modules' candidates, note and hints.
pub fn answer(
    files: &dyn Files,
    input: &ConventionInput,
    modules: &[Value],
    out: &mut ConventionReport,
) {
    let listed = |p: &str| input.entries.iter().any(|e| e.path == p);
    let mut steps = Vec::new();
    let mut width = None;
    for m in modules {
        let ty = m.get("type").and_then(Value::as_str).unwrap_or("?");
        let short = ty.rsplit('.').next().unwrap_or(ty);
        let path = m.get("path").and_then(Value::as_str).unwrap_or("");
        let cfg = if path.is_empty() {
            None
        } else {
            Some(format!("{path}/config.json"))
        };
        let mut step = short.to_string();
        if let Some(cfg) = cfg.filter(|c| listed(c)) {
            if let Some(v) = json_file(files, &cfg) {
                if short == "Pooling" {
                    width = v.get("word_embedding_dimension").and_then(Value::as_u64);
                    let mode = v
                        .as_object()
                        .into_iter()
                        .flatten()
                        .find(|(k, b)| k.starts_with("pooling_mode_") && b.as_bool() == Some(true))
                        .map(|(k, _)| k.trim_start_matches("pooling_mode_").to_string());
                    if let Some(mode) = mode {
                        step = format!("Pooling ({mode})");
                    }
                } else if short == "Dense" {
                    width = v.get("out_features").and_then(Value::as_u64).or(width);
                }
            }
            out.hints.push(FileHint {
                path: cfg,
                kind: FileKind::WeightConfig,
                reason: format!("sentence-transformers {short} module config"),
            });
        }
        steps.push(step);
    }
    let max_len = json_file(files, "sentence_bert_config.json")
        .and_then(|v| v.get("max_seq_length").and_then(Value::as_u64));
    let mut note = format!("sentence-transformers modules: {}", steps.join(" → "));
    if let Some(w) = width {
        note.push_str(&format!("; {w}-dimensional embeddings"));
    }
    if let Some(l) = max_len {
        note.push_str(&format!("; max_seq_length {l}"));
    }
    for (field, v) in [
        ("/config/capabilities/inputTypes", ["text"]),
        ("/config/capabilities/outputTypes", ["embedding"]),
    ] {
        out.candidates.push(candidate(
            field,
            json!(v),
            SourceClass::ConventionFiles,
            origin(MODULES, None),
            Some(note.clone()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minilm_layout() {
        let files = MemFiles::new([
            (
                MODULES,
                r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                    {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                    {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
            ),
            (
                "1_Pooling/config.json",
                r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true}"#,
            ),
            (
                "sentence_bert_config.json",
                r#"{"max_seq_length": 256, "do_lower_case": false}"#,
            ),
            ("config.json", "{}"),
        ]);
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        let r = SentenceTransformers::run(&files, &input).unwrap();
        assert_eq!(r.candidates.len(), 2);
        assert_eq!(r.candidates[1].value, r#"["embedding"]"#);
        assert_eq!(
            r.candidates[0].note.as_deref(),
            Some(
                "sentence-transformers modules: Transformer → Pooling (mean_tokens) → Normalize; 384-dimensional embeddings; max_seq_length 256"
            )
        );
        let hints: Vec<&str> = r.hints.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(
            hints,
            [
                MODULES,
                "sentence_bert_config.json",
                "1_Pooling/config.json"
            ]
        );
    }

    #[test]
    fn broken_modules_is_a_warning() {
        let files = MemFiles::new([(MODULES, "{}")]);
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        let r = SentenceTransformers::run(&files, &input).unwrap();
        assert!(r.candidates.is_empty());
        assert_eq!(
            r.findings[0].message,
            "modules.json: not a JSON array of modules; ignored"
        );
    }
}
