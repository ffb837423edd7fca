//! The ModelPack config: JSON Schema (draft 2020-12, formats asserted) plus, with `strict`,
//! what the spec's prose requires but its schema does not.
//!
//! The schema is `schemas/config-schema.json`, compiled once per process. Format assertion is
//! on, so `createdAt` and `knowledgeCutoff` must be RFC 3339 date-times (in 2020-12 `format`
//! is only an annotation unless a validator asserts it). Strict rules (`rules.rs`): paramSize
//! grammar, precision vocabulary, SPDX licence expressions, ISO 639-1 language codes, OCI
//! digests in `modelfs.diffIds`, RFC 3339 times. A strict rule is not reported again where the
//! schema already flagged the same value.

use std::sync::OnceLock;

use serde_json::Value;

use super::{Level, Problem, datetime, rules};

/// The schema text, as shipped in `schemas/`.
pub const SCHEMA: &str = include_str!("../../../schemas/config-schema.json");

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value =
            serde_json::from_str(SCHEMA).expect("schemas/config-schema.json is valid JSON");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .should_ignore_unknown_formats(false)
            .build(&schema)
            .expect("schemas/config-schema.json compiles")
    })
}

/// Validates a ModelPack config; every problem is listed, not only the first.
pub fn validate_config(config: &Value, strict: bool) -> Vec<Problem> {
    let mut problems: Vec<Problem> = validator()
        .iter_errors(config)
        .map(|e| Problem {
            level: Level::Error,
            pointer: e.instance_path().as_str().to_string(),
            keyword: e.kind().keyword().to_string(),
            message: e.to_string(),
        })
        .collect();
    if strict {
        let flagged: Vec<String> = problems.iter().map(|p| p.pointer.clone()).collect();
        problems.extend(
            strict_problems(config)
                .into_iter()
                .filter(|p| !flagged.contains(&p.pointer)),
        );
    }
    problems
}

/// The prose rules, on whatever values have the right JSON type.
pub fn strict_problems(config: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut check = |pointer: String, keyword: &str, r: Result<(), String>| {
        if let Err(message) = r {
            out.push(Problem {
                level: Level::Error,
                pointer,
                keyword: keyword.to_string(),
                message,
            });
        }
    };
    let text = |p: &str| config.pointer(p).and_then(Value::as_str);
    if let Some(s) = text("/config/paramSize") {
        check(
            "/config/paramSize".into(),
            "paramSize",
            rules::param_size(s),
        );
    }
    if let Some(s) = text("/config/precision") {
        check("/config/precision".into(), "precision", rules::precision(s));
    }
    for p in [
        "/descriptor/createdAt",
        "/config/capabilities/knowledgeCutoff",
    ] {
        if let Some(s) = text(p) {
            check(p.into(), "rfc3339", datetime::check(s));
        }
    }
    let items = |p: &str| -> Vec<(String, &str)> {
        config
            .pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .enumerate()
                    .filter_map(|(i, v)| Some((format!("{p}/{i}"), v.as_str()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (p, s) in items("/config/capabilities/languages") {
        check(p, "iso639-1", rules::language(s));
    }
    for (p, s) in items("/modelfs/diffIds") {
        check(p, "digest", rules::digest(s));
    }
    let mut warnings = Vec::new();
    for (p, s) in items("/descriptor/licenses") {
        match rules::license(s) {
            Ok(w) => warnings.extend(w.into_iter().map(|m| (p.clone(), m))),
            Err(e) => check(p, "spdx", Err(e)),
        }
    }
    out.extend(warnings.into_iter().map(|(pointer, message)| Problem {
        level: Level::Warning,
        pointer,
        keyword: "spdx".into(),
        message,
    }));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn digest() -> String {
        format!("sha256:{}", "a".repeat(64))
    }

    fn valid() -> Value {
        json!({
            "descriptor": {
                "name": "tiny", "family": "llama", "licenses": ["Apache-2.0"],
                "createdAt": "2025-03-01T12:00:00Z"
            },
            "modelfs": {"type": "layers", "diffIds": [digest()]},
            "config": {
                "architecture": "transformer", "format": "safetensors",
                "paramSize": "2.3K", "precision": "bfloat16,float32",
                "capabilities": {"inputTypes": ["text"], "outputTypes": ["text"], "languages": ["en"],
                                 "reasoning": false}
            }
        })
    }

    fn keywords(v: &Value, strict: bool) -> Vec<(String, String)> {
        validate_config(v, strict)
            .into_iter()
            .filter(|p| p.level == Level::Error)
            .map(|p| (p.pointer, p.keyword))
            .collect()
    }

    /// `valid()` with one field set (added when absent).
    fn with(pointer: &str, value: Value) -> Value {
        let mut v = valid();
        let (parent, leaf) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(leaf.to_string(), value);
        v
    }

    #[test]
    fn valid_config_passes_strict() {
        assert_eq!(validate_config(&valid(), true), vec![]);
    }

    #[test]
    fn schema_required_and_additional_properties() {
        let v = json!({"descriptor": {}, "config": {}});
        assert_eq!(keywords(&v, false), vec![("".into(), "required".into())]);
        for (ptr, key) in [
            ("/extra", ""),
            ("/descriptor/extra", "/descriptor"),
            ("/config/extra", "/config"),
            ("/config/capabilities/embedding", "/config/capabilities"),
            ("/modelfs/extra", "/modelfs"),
        ] {
            let mut v = valid();
            let (parent, leaf) = ptr.rsplit_once('/').unwrap();
            let obj = if parent.is_empty() {
                &mut v
            } else {
                v.pointer_mut(parent).unwrap()
            };
            obj.as_object_mut()
                .unwrap()
                .insert(leaf.into(), json!(true));
            assert_eq!(
                keywords(&v, false),
                vec![(key.to_string(), "additionalProperties".to_string())],
                "{ptr}"
            );
        }
    }

    #[test]
    fn schema_types_and_values() {
        let cases = [
            ("/descriptor/name", json!(""), "minLength"),
            ("/descriptor/name", json!(7), "type"),
            ("/descriptor/licenses", json!("MIT"), "type"),
            (
                "/descriptor/createdAt",
                json!("2025-03-01 12:00:00Z"),
                "format",
            ),
            (
                "/config/capabilities/knowledgeCutoff",
                json!("yesterday"),
                "format",
            ),
            ("/config/capabilities/inputTypes", json!(["smell"]), "enum"),
            ("/config/capabilities/languages", json!(["eng"]), "pattern"),
            ("/config/capabilities/reasoning", json!("yes"), "type"),
            ("/modelfs/type", json!("layer"), "enum"),
            ("/modelfs/diffIds", json!([]), "minItems"),
            ("/config/paramSize", json!(7), "type"),
        ];
        for (ptr, value, keyword) in cases {
            let got = keywords(&with(ptr, value.clone()), false);
            assert_eq!(got.len(), 1, "{ptr} = {value}: {got:?}");
            assert_eq!(got[0].1, keyword, "{ptr} = {value}");
            assert!(got[0].0.starts_with(ptr), "{ptr}: pointer {}", got[0].0);
        }
    }

    #[test]
    fn every_error_is_listed() {
        let mut v = with("/descriptor/name", json!(""));
        *v.pointer_mut("/modelfs/type").unwrap() = json!("x");
        *v.pointer_mut("/descriptor/createdAt").unwrap() = json!("now");
        let problems = validate_config(&v, false);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().all(|p| !p.message.is_empty()));
    }

    #[test]
    fn strict_rules_only_when_strict() {
        let cases = [
            (
                "/config/paramSize",
                json!("7 billion"),
                "/config/paramSize",
                "paramSize",
            ),
            (
                "/config/precision",
                json!("bf16"),
                "/config/precision",
                "precision",
            ),
            (
                "/descriptor/licenses",
                json!(["llama3"]),
                "/descriptor/licenses/0",
                "spdx",
            ),
            (
                "/config/capabilities/languages",
                json!(["en", "zz"]),
                "/config/capabilities/languages/1",
                "iso639-1",
            ),
            (
                "/modelfs/diffIds",
                json!(["sha256:abc"]),
                "/modelfs/diffIds/0",
                "digest",
            ),
        ];
        for (ptr, value, at, keyword) in cases {
            let v = with(ptr, value.clone());
            assert_eq!(keywords(&v, false), vec![], "{ptr} non-strict");
            assert_eq!(
                keywords(&v, true),
                vec![(at.to_string(), keyword.to_string())],
                "{ptr} = {value}"
            );
        }
    }

    #[test]
    fn strict_accepts_hf_style_licence_ids() {
        let v = with(
            "/descriptor/licenses",
            json!(["apache-2.0", "MIT OR cc-by-4.0"]),
        );
        assert_eq!(keywords(&v, true), vec![]);
        let v = with("/descriptor/licenses", json!(["GPL-3.0"]));
        let p = validate_config(&v, true);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].level, Level::Warning);
    }

    #[test]
    fn strict_does_not_repeat_schema_errors() {
        let v = with("/descriptor/createdAt", json!("2025-02-30T00:00:00Z"));
        assert_eq!(
            keywords(&v, true),
            vec![("/descriptor/createdAt".into(), "format".into())]
        );
    }
}
