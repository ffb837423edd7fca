//! Template convention plugin `toyc`: reads the made-up `toyc.json` model description at the
//! model root:
//!
//! ```json
//! {"vendor": "Toy Models Inc.", "family": "toy", "languages": ["en"], "data": ["train.jsonl"]}
//! ```
//!
//! The shape every convention plugin follows: the parsing is plain Rust over the SDK's
//! [`Files`] trait (so it runs natively in unit tests with `MemFiles` / `DirFiles`), and the
//! `export_convention_plugin!` line turns it into the component's `convention` export.
//!
//! Answer conventions used here (keep them in yours):
//! * candidates name a ModelPack config field as a JSON pointer (`/descriptor/vendor`) and
//!   carry the value as JSON, the source class (`convention-files` for what a file states,
//!   `heuristic` for guesses) and the origin (`toyc.json`, key `vendor`);
//! * problems in the file are `warning` findings whose message starts with the file name;
//!   the plugin never fails the run for a bad file;
//! * files the convention knows get a hint (`train.jsonl` is a `dataset` layer).

use modelpack_plugin_sdk::convention::*;
use serde_json::{Value, json};

/// The file this convention reads.
pub const FILE: &str = "toyc.json";

/// The plugin.
pub struct Toyc;

impl ConventionPlugin for Toyc {
    // `file_names`: the host calls `run` only when a file of one of these names is in the
    // directory (at any depth); claim every name you hint.
    const INFO: &'static str = r#"{"name":"toyc","version":"0.1.0","description":"template convention: toyc.json (vendor, family, languages, data files)","file_names":["toyc.json"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        if !root_files(input).any(|n| n == FILE) {
            return Ok(out);
        }
        match read_text(files, FILE)
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("not JSON: {e}")))
        {
            Ok(v) => answer(&v, &mut out),
            Err(e) => out.findings.push(message(
                Severity::Warning,
                "unreadable",
                Some(FILE),
                format!("{FILE}: {e}; ignored"),
            )),
        }
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(Toyc);

/// Turns a parsed `toyc.json` into candidates and hints.
pub fn answer(v: &Value, out: &mut ConventionReport) {
    let cf = SourceClass::ConventionFiles;
    for (key, field) in [
        ("vendor", "/descriptor/vendor"),
        ("family", "/descriptor/family"),
    ] {
        match v.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => out.candidates.push(candidate(
                field,
                json!(s.trim()),
                cf,
                origin(FILE, Some(key)),
                None,
            )),
            None | Some(Value::Null) => {}
            Some(other) => out.findings.push(message(
                Severity::Warning,
                "bad-field",
                Some(FILE),
                format!("{FILE}: {key} should be a string, not {other}; ignored"),
            )),
        }
    }
    if let Some(langs) = v.get("languages").and_then(Value::as_array) {
        let codes: Vec<String> = langs
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect();
        if !codes.is_empty() {
            out.candidates.push(candidate(
                "/config/capabilities/languages",
                json!(codes),
                cf,
                origin(FILE, Some("languages")),
                None,
            ));
        }
    }
    for d in v
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        out.hints.push(FileHint {
            path: d.to_string(),
            kind: FileKind::Dataset,
            reason: format!("named as data by {FILE}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> ConventionReport {
        let files = MemFiles::new([(FILE, text)]);
        let input = ConventionInput {
            root_names: vec![],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        Toyc::run(&files, &input).unwrap()
    }

    #[test]
    fn fields_and_hints() {
        let r = run(
            r#"{"vendor": " ACME ", "family": "toy", "languages": ["EN"], "data": ["d.jsonl"]}"#,
        );
        let got: Vec<(&str, &str)> = r
            .candidates
            .iter()
            .map(|c| (c.field.as_str(), c.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/descriptor/vendor", r#""ACME""#),
                ("/descriptor/family", r#""toy""#),
                ("/config/capabilities/languages", r#"["en"]"#),
            ]
        );
        assert_eq!(r.candidates[0].origin.key.as_deref(), Some("vendor"));
        assert_eq!(r.hints.len(), 1);
        assert!(matches!(r.hints[0].kind, FileKind::Dataset));
    }

    #[test]
    fn bad_file_is_a_warning_not_a_failure() {
        let r = run("{nope");
        assert!(r.candidates.is_empty());
        assert!(r.findings[0].message.starts_with("toyc.json: not JSON"));
        let r = run(r#"{"vendor": 7}"#);
        assert_eq!(
            r.findings[0].message,
            "toyc.json: vendor should be a string, not 7; ignored"
        );
    }
}
