//! Convention plugin `convention-modelscope`: a ModelScope model directory
//! (`configuration.json` at the root: `framework`, `task`, `model.type`).
//!
//! What it says: `model.type` is the family; `task` gives input/output types where the task
//! fixes them; `framework` goes into the note.

use modelpack_plugin_sdk::convention::*;
use serde_json::{Value, json};

/// The plugin.
pub struct ModelScope;

/// ModelScope's model description.
pub const CONFIG: &str = "configuration.json";

impl ConventionPlugin for ModelScope {
    const INFO: &'static str = r#"{"name":"convention-modelscope","version":"0.1.0","description":"ModelScope: configuration.json (framework, task, model type)","file_names":["configuration.json"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        if !root_files(input).any(|n| n == CONFIG) {
            return Ok(out);
        }
        match read_text(files, CONFIG)
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("not JSON: {e}")))
        {
            Ok(v) if v.is_object() => answer(&v, &mut out),
            Ok(_) => out.findings.push(message(
                Severity::Warning,
                "unreadable",
                Some(CONFIG),
                format!("{CONFIG}: not a JSON object; ignored"),
            )),
            Err(e) => out.findings.push(message(
                Severity::Warning,
                "unreadable",
                Some(CONFIG),
                format!("{CONFIG}: {e}; ignored"),
            )),
        }
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(ModelScope);

/// Input and output types of a ModelScope task (its names follow Hugging Face's where they
/// overlap; `chat` and `sentence-embedding` are ModelScope's own).
fn task_modalities(
    task: &str,
) -> Option<(&'static [&'static str], Option<&'static [&'static str]>)> {
    const T: &[&str] = &["text"];
    const I: &[&str] = &["image"];
    const A: &[&str] = &["audio"];
    const E: &[&str] = &["embedding"];
    Some(match task {
        "text-generation"
        | "chat"
        | "text2text-generation"
        | "translation"
        | "summarization"
        | "fill-mask"
        | "question-answering" => (T, Some(T)),
        "sentence-embedding" | "feature-extraction" | "sentence-similarity" => (T, Some(E)),
        "text-classification" | "token-classification" | "named-entity-recognition" => (T, None),
        "text-to-image-synthesis" | "text-to-image" => (T, Some(I)),
        "image-classification" | "image-object-detection" | "image-segmentation" => (I, None),
        "auto-speech-recognition" | "automatic-speech-recognition" => (A, Some(T)),
        "text-to-speech" => (T, Some(A)),
        _ => return None,
    })
}

/// A configuration's candidates.
pub fn answer(v: &Value, out: &mut ConventionReport) {
    let cf = SourceClass::ConventionFiles;
    let framework = v.get("framework").and_then(Value::as_str);
    if let Some(t) = v
        .pointer("/model/type")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        out.candidates.push(candidate(
            "/descriptor/family",
            json!(t),
            cf,
            origin(CONFIG, Some("model.type")),
            framework.map(|f| format!("ModelScope {f} model")),
        ));
    }
    if let Some(task) = v.get("task").and_then(Value::as_str) {
        match task_modalities(task) {
            Some((i, o)) => {
                let key = format!("task {task}");
                out.candidates.push(candidate(
                    "/config/capabilities/inputTypes",
                    json!(i),
                    cf,
                    origin(CONFIG, Some(&key)),
                    None,
                ));
                if let Some(o) = o {
                    out.candidates.push(candidate(
                        "/config/capabilities/outputTypes",
                        json!(o),
                        cf,
                        origin(CONFIG, Some(&key)),
                        None,
                    ));
                }
            }
            None => out.findings.push(message(
                Severity::Info,
                "note",
                Some(CONFIG),
                format!(
                    "config.capabilities: ModelScope task {task} does not fix input/output types"
                ),
            )),
        }
    }
    out.hints.push(FileHint {
        path: CONFIG.into(),
        kind: FileKind::WeightConfig,
        reason: "ModelScope model configuration".into(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> ConventionReport {
        let files = MemFiles::new([(CONFIG, text)]);
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        ModelScope::run(&files, &input).unwrap()
    }

    #[test]
    fn qwen_configuration() {
        let r = run(
            r#"{"framework": "pytorch", "task": "chat", "allow_remote": true, "model": {"type": "qwen2"}}"#,
        );
        let got: Vec<(&str, &str)> = r
            .candidates
            .iter()
            .map(|c| (c.field.as_str(), c.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/descriptor/family", r#""qwen2""#),
                ("/config/capabilities/inputTypes", r#"["text"]"#),
                ("/config/capabilities/outputTypes", r#"["text"]"#),
            ]
        );
        assert_eq!(
            r.candidates[0].note.as_deref(),
            Some("ModelScope pytorch model")
        );
        assert_eq!(r.candidates[1].origin.key.as_deref(), Some("task chat"));
    }

    #[test]
    fn unknown_task_is_a_note_and_bad_file_a_warning() {
        let r = run(r#"{"task": "protein-structure"}"#);
        assert!(r.candidates.is_empty());
        assert!(matches!(r.findings[0].severity, Severity::Info));
        let r = run("nope");
        assert!(
            r.findings[0]
                .message
                .starts_with("configuration.json: not JSON")
        );
    }
}
