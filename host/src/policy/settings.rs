//! The policy config file a team keeps in its repository (YAML, TOML or JSON):
//!
//! ```yaml
//! policies:
//!   license-allowlist:
//!     allow: ["Apache-2.0", "MIT"]
//!   size-limits:
//!     max_parameters: 8B
//! ```

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

/// Policy names and their settings, in name order.
#[derive(Debug, Clone, Default)]
pub struct PolicyConfig {
    /// `(policy name, settings object)`.
    pub policies: Vec<(String, Value)>,
}

impl PolicyConfig {
    /// The settings for a policy (`{}` when the file does not name it).
    pub fn settings_for(&self, name: &str) -> Value {
        self.policies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| Value::Object(Map::new()))
    }
}

/// Reads a policy config file; the format follows the extension (`.yaml`/`.yml`, `.toml`,
/// `.json`; anything else is tried as YAML, which also reads JSON).
pub fn load(path: &Path) -> Result<PolicyConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("policy config {}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let value: Value = match ext.as_str() {
        "json" => serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("policy config {}: {e}", path.display()))?,
        "toml" => {
            let t: toml::Value = toml::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "policy config {}: {}",
                    path.display(),
                    e.to_string().lines().next().unwrap_or("")
                )
            })?;
            serde_json::to_value(t)?
        }
        _ => serde_norway::from_str(&text)
            .map_err(|e| anyhow::anyhow!("policy config {}: {e}", path.display()))?,
    };
    parse(&value).with_context(|| format!("policy config {}", path.display()))
}

/// Interprets the parsed document.
pub fn parse(value: &Value) -> Result<PolicyConfig> {
    let Some(top) = value.as_object() else {
        bail!("expected a mapping with a `policies` key");
    };
    if let Some(unknown) = top.keys().find(|k| *k != "policies") {
        bail!("unknown top-level key `{unknown}` (expected only `policies`)");
    }
    let policies = match top.get("policies") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => bail!(
            "`policies` must map policy names to settings, not {}",
            kind(other)
        ),
    };
    let mut out = Vec::new();
    for (name, settings) in policies {
        let settings = match settings {
            Value::Null => Value::Object(Map::new()),
            Value::Object(_) => settings,
            other => bail!(
                "settings of policy `{name}` must be a mapping, not {}",
                kind(&other)
            ),
        };
        out.push((name, settings));
    }
    Ok(PolicyConfig { policies: out })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yaml_toml_and_json() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("p.yaml");
        std::fs::write(&yaml, "policies:\n  license-allowlist:\n    allow: [Apache-2.0, MIT]\n  size-limits:\n    max_parameters: 8B\n  no-unsafe-code:\n").unwrap();
        let c = load(&yaml).unwrap();
        assert_eq!(c.policies.len(), 3);
        assert_eq!(c.settings_for("size-limits")["max_parameters"], "8B");
        assert_eq!(c.settings_for("no-unsafe-code"), serde_json::json!({}));
        let toml_path = dir.path().join("p.toml");
        std::fs::write(
            &toml_path,
            "[policies.size-limits]\nmax_parameters = \"8B\"\n",
        )
        .unwrap();
        assert_eq!(
            load(&toml_path).unwrap().settings_for("size-limits")["max_parameters"],
            "8B"
        );
        let json = dir.path().join("p.json");
        std::fs::write(
            &json,
            r#"{"policies":{"required-metadata":{"fields":["/descriptor/name"]}}}"#,
        )
        .unwrap();
        assert_eq!(load(&json).unwrap().policies[0].0, "required-metadata");
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(parse(&serde_json::json!({"policy": {}})).is_err());
        assert!(parse(&serde_json::json!({"policies": ["a"]})).is_err());
        assert!(parse(&serde_json::json!({"policies": {"a": 3}})).is_err());
    }
}
