//! Convention plugin `convention-peft`: a PEFT adapter directory (`adapter_config.json` at the
//! root, weights in `adapter_model.safetensors` or `adapter_model.bin`).
//!
//! What it says: the adapter method and its settings (`peft_type`, `r`, `lora_alpha`,
//! `target_modules`) and the base model it needs (`base_model_name_or_path`) as a description
//! and a note; the task (`task_type`) as input/output types; the adapter files as layer hints.
//! `paramSize` stays what the weights say: the adapter's own parameters, not the base model's.

use modelpack_plugin_sdk::convention::*;
use serde_json::{Value, json};

/// The plugin.
pub struct Peft;

/// The adapter's config file.
pub const CONFIG: &str = "adapter_config.json";

impl ConventionPlugin for Peft {
    const INFO: &'static str = r#"{"name":"convention-peft","version":"0.1.0","description":"PEFT adapters: adapter_config.json (method, rank, target modules, base model, task)","file_names":["adapter_config.json"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        for path in files_named(input, &[CONFIG]) {
            out.hints.push(FileHint {
                path: path.to_string(),
                kind: FileKind::WeightConfig,
                reason: "PEFT adapter config".into(),
            });
        }
        if !root_files(input).any(|n| n == CONFIG) {
            return Ok(out);
        }
        match read_text(files, CONFIG)
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("not JSON: {e}")))
        {
            Ok(v) if v.is_object() => answer(&v, input, &mut out),
            Ok(_) => warn(&mut out, format!("{CONFIG}: not a JSON object; ignored")),
            Err(e) => warn(&mut out, format!("{CONFIG}: {e}; ignored")),
        }
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(Peft);

fn warn(out: &mut ConventionReport, text: String) {
    out.findings
        .push(message(Severity::Warning, "unreadable", Some(CONFIG), text));
}

/// Input and output types of a PEFT `task_type`.
fn task_modalities(
    task: &str,
) -> Option<(&'static [&'static str], Option<&'static [&'static str]>)> {
    const T: &[&str] = &["text"];
    const E: &[&str] = &["embedding"];
    Some(match task {
        "CAUSAL_LM" | "SEQ_2_SEQ_LM" | "QUESTION_ANS" => (T, Some(T)),
        "FEATURE_EXTRACTION" => (T, Some(E)),
        "SEQ_CLS" | "TOKEN_CLS" => (T, None),
        _ => return None,
    })
}

/// A PEFT config's candidates, note and hints.
pub fn answer(v: &Value, input: &ConventionInput, out: &mut ConventionReport) {
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let method = text("peft_type").unwrap_or("PEFT");
    let base = text("base_model_name_or_path");
    let mut settings = Vec::new();
    if let Some(r) = v.get("r").and_then(Value::as_u64) {
        settings.push(format!("r {r}"));
    }
    if let Some(a) = v.get("lora_alpha").and_then(Value::as_f64) {
        settings.push(format!("lora_alpha {a}"));
    }
    match v.get("target_modules") {
        Some(Value::Array(m)) => {
            let names: Vec<&str> = m.iter().filter_map(Value::as_str).collect();
            if !names.is_empty() {
                settings.push(format!("target modules {}", names.join(", ")));
            }
        }
        Some(Value::String(s)) => settings.push(format!("target modules matching {s}")),
        _ => {}
    }
    let mut description = format!("{method} adapter");
    if let Some(b) = base {
        description.push_str(&format!(" for {b}"));
    }
    if !settings.is_empty() {
        description.push_str(&format!(" ({})", settings.join("; ")));
    }
    out.candidates.push(candidate(
        "/descriptor/description",
        json!(description),
        SourceClass::ConventionFiles,
        origin(CONFIG, Some("peft_type")),
        Some("what the adapter is, from its config; the base model is not in this artifact".into()),
    ));
    out.findings.push(message(
        Severity::Info,
        "peft-adapter",
        Some(CONFIG),
        format!(
            "{CONFIG}: {description}; config.paramSize counts the adapter's own parameters{}",
            base.map(|b| format!(", not those of {b}"))
                .unwrap_or_default()
        ),
    ));
    if let Some(task) = text("task_type") {
        match task_modalities(task) {
            Some((i, o)) => {
                out.candidates.push(candidate(
                    "/config/capabilities/inputTypes",
                    json!(i),
                    SourceClass::ConventionFiles,
                    origin(CONFIG, Some("task_type")),
                    None,
                ));
                if let Some(o) = o {
                    out.candidates.push(candidate(
                        "/config/capabilities/outputTypes",
                        json!(o),
                        SourceClass::ConventionFiles,
                        origin(CONFIG, Some("task_type")),
                        None,
                    ));
                }
            }
            None => out.findings.push(message(
                Severity::Info,
                "note",
                Some(CONFIG),
                format!(
                    "config.capabilities: PEFT task_type {task} does not fix input/output types"
                ),
            )),
        }
    }
    for e in root_files(input) {
        if e.starts_with("adapter_model.") {
            out.hints.push(FileHint {
                path: e.to_string(),
                kind: FileKind::Weight,
                reason: "PEFT adapter weights".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(files: &[(&str, &str)]) -> ConventionReport {
        let files = MemFiles::new(files.iter().copied());
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        Peft::run(&files, &input).unwrap()
    }

    #[test]
    fn lora_adapter() {
        let r = run(&[
            (
                CONFIG,
                r#"{"base_model_name_or_path": "meta-llama/Llama-2-7b-hf", "peft_type": "LORA",
                    "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"],
                    "task_type": "CAUSAL_LM"}"#,
            ),
            ("adapter_model.safetensors", "x"),
        ]);
        let d = &r.candidates[0];
        assert_eq!(d.field, "/descriptor/description");
        assert_eq!(
            d.value,
            r#""LORA adapter for meta-llama/Llama-2-7b-hf (r 8; lora_alpha 16; target modules q_proj, v_proj)""#
        );
        assert_eq!(r.candidates[1].field, "/config/capabilities/inputTypes");
        assert_eq!(r.candidates[2].value, r#"["text"]"#);
        assert!(
            r.findings[0]
                .message
                .ends_with("not those of meta-llama/Llama-2-7b-hf")
        );
        let hints: Vec<(&str, bool)> = r
            .hints
            .iter()
            .map(|h| (h.path.as_str(), matches!(h.kind, FileKind::Weight)))
            .collect();
        assert_eq!(
            hints,
            [(CONFIG, false), ("adapter_model.safetensors", true)]
        );
    }

    #[test]
    fn broken_config_is_a_warning() {
        let r = run(&[(CONFIG, "[1, 2]")]);
        assert!(r.candidates.is_empty());
        assert_eq!(
            r.findings[0].message,
            "adapter_config.json: not a JSON object; ignored"
        );
    }
}
