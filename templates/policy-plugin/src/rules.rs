//! The rule: Σ tensors of the model's weight files must not exceed `max_tensors`.
//!
//! What a policy receives (`PolicyInput`): the ModelPack config and the OCI manifest as JSON
//! strings (`"null"` manifest when checking a bare config file), one `FileFacts` per file
//! (path, layer kind, media type, size, format, tensor and parameter counts, dtypes, and the
//! format plugin's findings), and this policy's settings as JSON (`{}` when none).
//!
//! Return `Ok(findings)` (empty = pass) or `Err(message)` when the policy cannot run, e.g.
//! invalid settings; the host reports an `Err` as an error of this policy.

use modelpack_plugin_sdk::policy_prelude::*;
use serde::Deserialize;
use serde_json::Value;

/// The settings. `deny_unknown_fields` turns a typo into an error instead of a silent pass.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Most tensors a model may have.
    pub max_tensors: u64,
    /// Severity of `too-many-tensors`: `error` (default) or `warning`.
    #[serde(default)]
    pub severity: Level,
}

/// A configurable severity.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fails the check.
    #[default]
    Error,
    /// Reported, does not fail unless `--fail-on warning`.
    Warning,
}

impl Settings {
    /// Parses the settings JSON, with messages that say what to fix.
    pub fn parse(json: &str) -> Result<Settings, String> {
        serde_json::from_str(json).map_err(|e| format!("invalid settings: {e}"))
    }
}

/// Judges one model.
pub fn evaluate(input: &PolicyInput) -> Result<Vec<Finding>, String> {
    let settings = Settings::parse(&input.settings)?;
    let config: Value = serde_json::from_str(&input.config)
        .map_err(|e| format!("the ModelPack config is not valid JSON: {e}"))?;
    let name = config
        .pointer("/descriptor/name")
        .and_then(Value::as_str)
        .unwrap_or("the model");

    let weights: Vec<&FileFacts> = input.files.iter().filter(|f| f.kind == "weight").collect();
    let total: u64 = weights.iter().map(|f| f.tensor_count).sum();

    let mut findings = vec![Finding {
        id: "tensor-count".into(),
        severity: Severity::Info,
        message: format!(
            "{name} has {total} tensors in {} weight files",
            weights.len()
        ),
        location: Location {
            file: None,
            field: None,
        },
    }];
    if total > settings.max_tensors {
        // Point at the biggest contributor so the report says where to look.
        let biggest = weights.iter().max_by_key(|f| f.tensor_count);
        findings.push(Finding {
            id: "too-many-tensors".into(),
            severity: match settings.severity {
                Level::Error => Severity::Error,
                Level::Warning => Severity::Warning,
            },
            message: format!(
                "{name} has {total} tensors, more than max_tensors {}",
                settings.max_tensors
            ),
            location: Location {
                file: biggest.map(|f| f.path.clone()),
                field: None,
            },
        });
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(path: &str, tensors: u64) -> FileFacts {
        FileFacts {
            path: path.into(),
            kind: "weight".into(),
            media_type: "application/vnd.cncf.model.weight.v1.raw".into(),
            size: 1000,
            format: Some("safetensors".into()),
            tensor_count: tensors,
            parameter_count: tensors * 10,
            weight_parameters: tensors * 10,
            dtypes: vec![("F32".into(), tensors * 10)],
            precisions: vec![("float32".into(), tensors * 10)],
            findings: vec![],
        }
    }

    fn input(settings: &str) -> PolicyInput {
        PolicyInput {
            config: r#"{"descriptor": {"name": "tiny"}}"#.into(),
            manifest: "null".into(),
            files: vec![weight("a.safetensors", 3), weight("b.safetensors", 5)],
            totals: ModelTotals {
                parameters: 80,
                format: Some("safetensors".into()),
                precision: Some("float32".into()),
                quantization: None,
                weight_bytes: 2000,
                copies: 0,
            },
            signatures: vec![],
            sbom_attached: false,
            settings: settings.into(),
        }
    }

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn under_the_limit_passes() {
        let out = evaluate(&input(r#"{"max_tensors": 8}"#)).unwrap();
        assert_eq!(ids(&out), ["tensor-count"]);
        assert_eq!(out[0].message, "tiny has 8 tensors in 2 weight files");
    }

    #[test]
    fn over_the_limit_fails() {
        let out = evaluate(&input(r#"{"max_tensors": 7}"#)).unwrap();
        assert_eq!(ids(&out), ["tensor-count", "too-many-tensors"]);
        assert_eq!(out[1].severity, Severity::Error);
        assert_eq!(out[1].location.file.as_deref(), Some("b.safetensors"));
        let out = evaluate(&input(r#"{"max_tensors": 7, "severity": "warning"}"#)).unwrap();
        assert_eq!(out[1].severity, Severity::Warning);
    }

    #[test]
    fn bad_settings_are_errors() {
        for bad in [
            "{}",
            r#"{"max_tensors": -1}"#,
            r#"{"max_tensor": 5}"#,
            r#"{"max_tensors": 5, "severity": "fatal"}"#,
        ] {
            let e = evaluate(&input(bad)).unwrap_err();
            assert!(e.starts_with("invalid settings"), "{bad}: {e}");
        }
    }
}
