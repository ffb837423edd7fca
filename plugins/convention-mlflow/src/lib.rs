//! Convention plugin `convention-mlflow`: an MLflow model directory (`MLmodel` at the root, a
//! YAML file naming the flavors that can load the model).
//!
//! What it says: `utc_time_created` as `createdAt`; the `transformers` flavor's `task` as
//! input/output types and its `source_model_name` as a name heuristic; the flavors and the
//! MLflow version as a note; `MLmodel` itself as a `weight.config` layer.

use modelpack_plugin_sdk::convention::*;
use serde_json::json;
use serde_norway::Value;

/// The plugin.
pub struct Mlflow;

/// The model description.
pub const MLMODEL: &str = "MLmodel";

impl ConventionPlugin for Mlflow {
    const INFO: &'static str = r#"{"name":"convention-mlflow","version":"0.1.0","description":"MLflow models: MLmodel (flavors, creation time, transformers task)","file_names":["mlmodel"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        if !root_files(input).any(|n| n == MLMODEL) {
            return Ok(out);
        }
        match read_text(files, MLMODEL).and_then(|t| {
            serde_norway::from_str::<Value>(&t).map_err(|e| format!("not valid YAML: {e}"))
        }) {
            Ok(v) if v.is_mapping() => answer(&v, &mut out),
            Ok(_) => warn(&mut out, format!("{MLMODEL}: not a YAML mapping; ignored")),
            Err(e) => warn(&mut out, format!("{MLMODEL}: {e}; ignored")),
        }
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(Mlflow);

fn warn(out: &mut ConventionReport, text: String) {
    out.findings.push(message(
        Severity::Warning,
        "unreadable",
        Some(MLMODEL),
        text,
    ));
}

/// `2023-11-01 12:34:56.789012` (MLflow's `utc_time_created`) as RFC 3339, seconds precision.
pub fn rfc3339(t: &str) -> Option<String> {
    let t = t.trim();
    let (date, time) = t.split_once([' ', 'T'])?;
    let time = time.split('.').next()?.trim_end_matches('Z');
    let ok = date.len() == 10
        && time.len() == 8
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
        && time.bytes().enumerate().all(|(i, b)| {
            if i == 2 || i == 5 {
                b == b':'
            } else {
                b.is_ascii_digit()
            }
        });
    ok.then(|| format!("{date}T{time}Z"))
}

fn task_modalities(
    task: &str,
) -> Option<(&'static [&'static str], Option<&'static [&'static str]>)> {
    const T: &[&str] = &["text"];
    const I: &[&str] = &["image"];
    const A: &[&str] = &["audio"];
    const E: &[&str] = &["embedding"];
    Some(match task {
        "text-generation"
        | "text2text-generation"
        | "summarization"
        | "translation"
        | "question-answering"
        | "fill-mask"
        | "conversational" => (T, Some(T)),
        "feature-extraction" | "sentence-similarity" | "llm/v1/embeddings" => (T, Some(E)),
        "llm/v1/completions" | "llm/v1/chat" => (T, Some(T)),
        "text-classification" | "token-classification" | "zero-shot-classification" => (T, None),
        "image-classification" | "object-detection" => (I, None),
        "automatic-speech-recognition" => (A, Some(T)),
        _ => return None,
    })
}

/// An `MLmodel`'s candidates, note and hint.
pub fn answer(v: &Value, out: &mut ConventionReport) {
    let cf = SourceClass::ConventionFiles;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if let Some(t) = s(v, "utc_time_created") {
        match rfc3339(&t) {
            Some(c) => out.candidates.push(candidate(
                "/descriptor/createdAt",
                json!(c),
                cf,
                origin(MLMODEL, Some("utc_time_created")),
                None,
            )),
            None => warn(
                out,
                format!("{MLMODEL}: utc_time_created {t:?} is not a date and time; ignored"),
            ),
        }
    }
    let flavors: Vec<String> = v
        .get("flavors")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut note = format!("MLflow model with flavors {}", flavors.join(", "));
    if let Some(ver) = s(v, "mlflow_version") {
        note.push_str(&format!(" (MLflow {ver})"));
    }
    out.findings.push(message(
        Severity::Info,
        "mlflow-model",
        Some(MLMODEL),
        format!("{MLMODEL}: {note}"),
    ));
    if let Some(tf) = v.get("flavors").and_then(|f| f.get("transformers")) {
        if let Some(task) = s(tf, "task")
            && let Some((i, o)) = task_modalities(&task)
        {
            let key = format!("flavors.transformers.task {task}");
            out.candidates.push(candidate(
                "/config/capabilities/inputTypes",
                json!(i),
                cf,
                origin(MLMODEL, Some(&key)),
                None,
            ));
            if let Some(o) = o {
                out.candidates.push(candidate(
                    "/config/capabilities/outputTypes",
                    json!(o),
                    cf,
                    origin(MLMODEL, Some(&key)),
                    None,
                ));
            }
        }
        if let Some(src) = s(tf, "source_model_name") {
            let last = src
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            if !last.is_empty() {
                out.candidates.push(candidate(
                    "/descriptor/name",
                    json!(last),
                    SourceClass::Heuristic,
                    origin(MLMODEL, Some("flavors.transformers.source_model_name")),
                    None,
                ));
            }
        }
    }
    out.hints.push(FileHint {
        path: MLMODEL.into(),
        kind: FileKind::WeightConfig,
        reason: "MLflow model description".into(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSFORMERS: &str = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.transformers\n    python_version: 3.10.12\n  transformers:\n    framework: pt\n    source_model_name: openai-community/gpt2\n    task: text-generation\n    transformers_version: 4.34.1\nmlflow_version: 2.8.0\nmodel_uuid: 7a0c\nutc_time_created: '2023-11-01 12:34:56.789012'\n";

    fn run(text: &str) -> ConventionReport {
        let files = MemFiles::new([(MLMODEL, text)]);
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        Mlflow::run(&files, &input).unwrap()
    }

    #[test]
    fn transformers_flavor() {
        let r = run(TRANSFORMERS);
        let got: Vec<(&str, &str)> = r
            .candidates
            .iter()
            .map(|c| (c.field.as_str(), c.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/descriptor/createdAt", r#""2023-11-01T12:34:56Z""#),
                ("/config/capabilities/inputTypes", r#"["text"]"#),
                ("/config/capabilities/outputTypes", r#"["text"]"#),
                ("/descriptor/name", r#""gpt2""#),
            ]
        );
        assert_eq!(
            r.findings[0].message,
            "MLmodel: MLflow model with flavors python_function, transformers (MLflow 2.8.0)"
        );
    }

    #[test]
    fn times_and_bad_files() {
        assert_eq!(
            rfc3339("2024-01-02T03:04:05Z").as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(rfc3339("yesterday"), None);
        let r = run("utc_time_created: soon\nflavors: {}\n");
        assert!(r.findings[0].message.contains("is not a date and time"));
        let r = run("- a\n- b\n");
        assert_eq!(
            r.findings[0].message,
            "MLmodel: not a YAML mapping; ignored"
        );
    }
}
