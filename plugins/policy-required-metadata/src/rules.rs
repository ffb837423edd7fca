//! The required-metadata rule: every listed JSON pointer must name a non-empty value.

use policy_common::json;
use policy_common::report::at_field;
use policy_common::{Finding, PolicyInput, Severity, settings};
use serde::Deserialize;
use serde_json::Value;

/// Fields checked when the settings name none.
pub const DEFAULT_FIELDS: &[&str] = &[
    "/descriptor/name",
    "/descriptor/licenses",
    "/config/format",
    "/config/paramSize",
    "/config/precision",
];

/// This policy's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// JSON pointers into the ModelPack config; `None` means [`DEFAULT_FIELDS`].
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

impl Settings {
    /// Parses and checks the settings JSON: every field must be a JSON pointer.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let s: Settings = settings::parse(json)?;
        for (i, f) in s.fields.iter().flatten().enumerate() {
            json::check_pointer(f).map_err(|e| format!("invalid settings: fields[{i}]: {e}"))?;
        }
        Ok(s)
    }

    /// The pointers to check.
    pub fn fields(&self) -> Vec<&str> {
        match &self.fields {
            Some(f) => f.iter().map(String::as_str).collect(),
            None => DEFAULT_FIELDS.to_vec(),
        }
    }
}

/// Judges one model.
pub fn evaluate(input: &PolicyInput) -> Result<Vec<Finding>, String> {
    let settings = Settings::parse(&input.settings)?;
    let config = json::config(&input.config)?;
    Ok(check(&config, &settings.fields()))
}

/// One `metadata-missing` error per pointer whose value is absent or empty.
pub fn check(config: &Value, fields: &[&str]) -> Vec<Finding> {
    fields
        .iter()
        .filter_map(|&p| {
            let v = json::lookup(config, p);
            let what = match v {
                None => "is missing",
                Some(Value::Null) => "is null",
                Some(Value::String(_)) => "is an empty string",
                Some(Value::Array(_)) => "is an empty list",
                Some(Value::Object(_)) => "is an empty object",
                Some(_) => return None,
            };
            json::is_empty(v).then(|| {
                at_field(
                    "metadata-missing",
                    Severity::Error,
                    format!("required config field {p} {what}"),
                    p,
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_common::testkit::{hf_model, ids, input};
    use serde_json::json;

    fn complete() -> Value {
        json!({
            "descriptor": {"name": "tiny", "licenses": ["Apache-2.0"]},
            "config": {"format": "safetensors", "paramSize": "2.3K", "precision": "float32,bfloat16"},
            "modelfs": {"type": "layers", "diffIds": ["sha256:00"]}
        })
    }

    #[test]
    fn complete_config_passes() {
        let out = evaluate(&input(complete(), vec![], json!({}))).unwrap();
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn each_kind_of_absence_fails() {
        let mut c = complete();
        c["descriptor"]["name"] = json!("  ");
        c["descriptor"]["licenses"] = json!([]);
        c["config"]["format"] = json!(null);
        c["config"].as_object_mut().unwrap().remove("paramSize");
        let out = evaluate(&input(c, vec![], json!({}))).unwrap();
        assert_eq!(ids(&out), ["metadata-missing"; 4]);
        let msgs: Vec<_> = out.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "required config field /descriptor/name is an empty string",
                "required config field /descriptor/licenses is an empty list",
                "required config field /config/format is null",
                "required config field /config/paramSize is missing",
            ]
        );
        assert_eq!(
            out[1].location.field.as_deref(),
            Some("/descriptor/licenses")
        );
        assert!(out.iter().all(|f| matches!(f.severity, Severity::Error)));
    }

    #[test]
    fn custom_fields() {
        let s = json!({"fields": ["/descriptor/authors", "/descriptor/licenses/0", "/modelfs/diffIds"]});
        let out = evaluate(&input(complete(), vec![], s)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].location.field.as_deref(),
            Some("/descriptor/authors")
        );
        // An empty list of fields checks nothing.
        let out = evaluate(&input(json!({}), vec![], json!({"fields": []}))).unwrap();
        assert!(out.is_empty());
        // Zero and false are values, not absences.
        let c = json!({"config": {"capabilities": {"reasoning": false}}, "n": 0});
        let s = json!({"fields": ["/config/capabilities/reasoning", "/n"]});
        assert!(evaluate(&input(c, vec![], s)).unwrap().is_empty());
    }

    #[test]
    fn bad_settings_and_config() {
        let bad = |s: Value| evaluate(&input(complete(), vec![], s)).unwrap_err();
        assert!(
            bad(json!({"fields": ["descriptor/name"]}))
                .contains("fields[0]: \"descriptor/name\" is not a JSON pointer")
        );
        assert!(bad(json!({"fields": "/descriptor/name"})).starts_with("invalid settings"));
        assert!(bad(json!({"field": ["/a"]})).contains("unknown field `field`"));
        let mut i = input(complete(), vec![], json!({}));
        i.config = "not json".into();
        assert!(
            evaluate(&i)
                .unwrap_err()
                .starts_with("the ModelPack config is not valid JSON")
        );
    }

    #[test]
    fn real_fixture_models() {
        // pygmalion-7b's README front matter names no licence: the default fields catch it.
        let out = evaluate(&hf_model("hf-lfs/pygmalion-7b", json!({}))).unwrap();
        assert_eq!(ids(&out), ["metadata-missing"]);
        assert_eq!(
            out[0].location.field.as_deref(),
            Some("/descriptor/licenses")
        );
        // granite declares apache-2.0 and bfloat16: nothing is missing.
        let out = evaluate(&hf_model("hf-lfs/granite-3.1-1b-a400m-instruct", json!({}))).unwrap();
        assert!(out.is_empty(), "{out:?}");
        // molmo is 4-bit quantised: no paramSize derived, and quantization is present.
        let s = json!({"fields": ["/config/paramSize", "/config/quantization"]});
        let out = evaluate(&hf_model("hf-lfs/molmo-7b-d-nf4", s)).unwrap();
        assert_eq!(ids(&out), ["metadata-missing"]);
        assert_eq!(out[0].location.field.as_deref(), Some("/config/paramSize"));
    }
}
