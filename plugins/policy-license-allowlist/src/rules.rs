//! The licence rule: every entry of `descriptor.licenses` must be satisfiable with allowed
//! licences, and none may require a denied one.
//!
//! Each licence a model mentions is *denied* (matches a `deny` entry; deny wins over allow),
//! *allowed* (matches an `allow` entry) or *neither*. An entry of `descriptor.licenses` is an
//! SPDX expression: `OR` needs one acceptable alternative, `AND` needs all. Entries are judged
//! one by one (all of them apply to the model), and the finding points at
//! `/descriptor/licenses/<i>`:
//!
//! * satisfiable with allowed licences only: nothing reported;
//! * satisfiable only by also using licences in neither list: `license-not-allowed`, with the
//!   severity of the `unknown` setting;
//! * every alternative needs a denied licence: `license-denied` (error);
//! * not an SPDX expression (`other`, `llama3`, free text): `license-unknown`, with the
//!   severity of the `unknown` setting (a single word `w` can still be listed as
//!   `LicenseRef-w`);
//! * no `descriptor.licenses` (absent, null or empty): `license-missing`, with the severity of
//!   the `missing` setting.

use policy_common::json;
use policy_common::report::at_field;
use policy_common::settings::{self, Action};
use policy_common::{Finding, PolicyInput, Severity};
use serde::Deserialize;
use serde_json::Value;

use crate::expr::{self, Key, Parsed};

/// Where the licences live in the config.
const FIELD: &str = "/descriptor/licenses";

/// The settings as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default = "error")]
    unknown: Action,
    #[serde(default = "error")]
    missing: Action,
}

fn error() -> Action {
    Action::Error
}

/// This policy's settings, with the lists parsed.
#[derive(Debug)]
pub struct Settings {
    /// Accepted licences.
    pub allow: Vec<Key>,
    /// Rejected licences; a licence in both lists is rejected.
    pub deny: Vec<Key>,
    /// What to do with a licence in neither list, or one that is not SPDX.
    pub unknown: Action,
    /// What to do when the config names no licence.
    pub missing: Action,
}

impl Settings {
    /// Parses the settings JSON; every list entry must be one SPDX licence id.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let raw: RawSettings = settings::parse(json)?;
        // Without lists, and with licences in neither list an error, every licence would fail:
        // a policy that fails every model is a configuration mistake, so say so instead.
        if raw.allow.is_empty() && raw.deny.is_empty() && raw.unknown == Action::Error {
            return Err(
                "invalid settings: no `allow` list: name the licences you accept, \
                 e.g. allow: [Apache-2.0, MIT] (and optionally deny: [...])"
                    .into(),
            );
        }
        let list = |name: &str, entries: &[String]| -> Result<Vec<Key>, String> {
            entries
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    expr::parse_entry(e).map_err(|m| format!("invalid settings: {name}[{i}]: {m}"))
                })
                .collect()
        };
        Ok(Settings {
            allow: list("allow", &raw.allow)?,
            deny: list("deny", &raw.deny)?,
            unknown: raw.unknown,
            missing: raw.missing,
        })
    }

    fn class(&self, k: &Key) -> Class {
        if self.deny.iter().any(|d| k.matched_by(d)) {
            Class::Denied
        } else if self.allow.iter().any(|a| k.matched_by(a)) {
            Class::Allowed
        } else {
            Class::Neither
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Allowed,
    Denied,
    Neither,
}

/// Judges one model.
pub fn evaluate(input: &PolicyInput) -> Result<Vec<Finding>, String> {
    let settings = Settings::parse(&input.settings)?;
    let config = json::config(&input.config)?;
    Ok(check(&config, &settings))
}

/// The findings for a parsed config.
pub fn check(config: &Value, s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let licenses = json::lookup(config, FIELD);
    if json::is_empty(licenses) {
        if let Some(sev) = s.missing.severity() {
            out.push(at_field(
                "license-missing",
                sev,
                "the config names no licence (descriptor.licenses is absent or empty)",
                FIELD,
            ));
        }
        return out;
    }
    let entries: Vec<(String, &Value)> = match licenses {
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{FIELD}/{i}"), v))
            .collect(),
        // The schema wants an array; judge a lone string anyway rather than ignore it.
        Some(v) => vec![(FIELD.to_string(), v)],
        None => vec![],
    };
    for (field, v) in entries {
        out.extend(judge(v, &field, s));
    }
    out
}

fn judge(v: &Value, field: &str, s: &Settings) -> Option<Finding> {
    let unknown = |msg: String| {
        s.unknown
            .severity()
            .map(|sev| at_field("license-unknown", sev, msg, field))
    };
    let Some(text) = v.as_str() else {
        return unknown(format!(
            "licence entry {field} is {}, not an SPDX licence expression",
            json::kind(v)
        ));
    };
    if text.trim().is_empty() {
        return unknown(format!("licence entry {field} is an empty string"));
    }
    match expr::parse(text) {
        Parsed::Expr(e) => {
            if expr::satisfiable(&e, |k| s.class(k) == Class::Allowed) {
                return None;
            }
            let keys = expr::keys(&e);
            let named = |c: Class| -> String {
                let v: Vec<&str> = keys
                    .iter()
                    .filter(|k| s.class(k) == c)
                    .map(|k| k.display.as_str())
                    .collect();
                let verb = if v.len() == 1 { "is" } else { "are" };
                format!("{} {verb}", v.join(", "))
            };
            if expr::satisfiable(&e, |k| s.class(k) != Class::Denied) {
                s.unknown.severity().map(|sev| {
                    at_field(
                        "license-not-allowed",
                        sev,
                        format!(
                            "licence {text:?} is not allowed: {} not on the allow list",
                            named(Class::Neither)
                        ),
                        field,
                    )
                })
            } else {
                Some(at_field(
                    "license-denied",
                    Severity::Error,
                    format!(
                        "licence {text:?} is denied: {} on the deny list",
                        named(Class::Denied)
                    ),
                    field,
                ))
            }
        }
        Parsed::Word { word, key, reason } => match s.class(&key) {
            Class::Allowed => None,
            Class::Denied => Some(at_field(
                "license-denied",
                Severity::Error,
                format!(
                    "licence {word:?} is denied: {} is on the deny list",
                    key.display
                ),
                field,
            )),
            Class::Neither => unknown(format!(
                "licence {word:?} is not an SPDX licence expression ({reason}); use an SPDX id, \
                 or list it as {} to decide about it",
                key.display
            )),
        },
        Parsed::Invalid(reason) => unknown(format!(
            "licence {text:?} is not an SPDX licence expression ({reason})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_common::testkit::{hf_model, ids, input};
    use serde_json::json;

    fn run(licenses: Value, settings: Value) -> Vec<Finding> {
        let config = json!({"descriptor": {"name": "m", "licenses": licenses}});
        evaluate(&input(config, vec![], settings)).unwrap()
    }
    fn team() -> Value {
        json!({"allow": ["Apache-2.0", "MIT", "BSD-3-Clause"], "deny": ["GPL-3.0-only", "AGPL-3.0-only", "CC-BY-NC-4.0"]})
    }
    fn sev(f: &Finding) -> &'static str {
        policy_common::report::severity_name(f.severity)
    }

    #[test]
    fn allowed_licences_pass() {
        assert!(run(json!(["Apache-2.0"]), team()).is_empty());
        assert!(run(json!(["apache-2.0", "mit"]), team()).is_empty());
        assert!(run(json!(["MIT OR GPL-3.0-only"]), team()).is_empty());
        assert!(run(json!(["MIT AND BSD-3-Clause"]), team()).is_empty());
        assert!(run(json!(["Apache-2.0 WITH LLVM-exception"]), team()).is_empty());
    }

    #[test]
    fn denied_licences_fail() {
        let out = run(json!(["MIT", "gpl-3.0"]), team());
        assert_eq!(ids(&out), ["license-denied"]);
        assert_eq!(
            out[0].location.field.as_deref(),
            Some("/descriptor/licenses/1")
        );
        assert_eq!(
            out[0].message,
            "licence \"gpl-3.0\" is denied: GPL-3.0-only is on the deny list"
        );
        let out = run(json!(["MIT AND CC-BY-NC-4.0"]), team());
        assert_eq!(ids(&out), ["license-denied"]);
        // Every alternative denied.
        let out = run(json!(["GPL-3.0-only OR AGPL-3.0-only"]), team());
        assert_eq!(
            out[0].message,
            "licence \"GPL-3.0-only OR AGPL-3.0-only\" is denied: GPL-3.0-only, AGPL-3.0-only are on the deny list"
        );
        // Deny wins over allow, even with `unknown: ignore`.
        let out = run(
            json!(["MIT"]),
            json!({"allow": ["MIT"], "deny": ["mit"], "unknown": "ignore"}),
        );
        assert_eq!(ids(&out), ["license-denied"]);
        assert_eq!(sev(&out[0]), "error");
    }

    #[test]
    fn licences_in_neither_list() {
        let out = run(json!(["MPL-2.0"]), team());
        assert_eq!(ids(&out), ["license-not-allowed"]);
        assert_eq!(
            out[0].message,
            "licence \"MPL-2.0\" is not allowed: MPL-2.0 is not on the allow list"
        );
        assert_eq!(sev(&out[0]), "error");
        // An alternative in neither list beats a denied one: not-allowed, not denied.
        let out = run(json!(["MPL-2.0 OR GPL-3.0-only"]), team());
        assert_eq!(ids(&out), ["license-not-allowed"]);
        let mut s = team();
        s["unknown"] = json!("warning");
        assert_eq!(sev(&run(json!(["MPL-2.0"]), s.clone())[0]), "warning");
        s["unknown"] = json!("ignore");
        assert!(run(json!(["MPL-2.0"]), s).is_empty());
        // An entry with an exception covers only that exception.
        let s = json!({"allow": ["GPL-2.0-only WITH Classpath-exception-2.0"]});
        assert!(run(json!(["GPL-2.0 WITH Classpath-exception-2.0"]), s.clone()).is_empty());
        assert_eq!(
            ids(&run(json!(["GPL-2.0-only"]), s)),
            ["license-not-allowed"]
        );
    }

    #[test]
    fn non_spdx_licences() {
        let out = run(json!(["llama3"]), team());
        assert_eq!(ids(&out), ["license-unknown"]);
        assert!(
            out[0]
                .message
                .starts_with("licence \"llama3\" is not an SPDX licence expression"),
            "{}",
            out[0].message
        );
        assert!(out[0].message.contains("LicenseRef-llama3"));
        assert_eq!(ids(&run(json!(["other"]), team())), ["license-unknown"]);
        let out = run(json!(["see LICENSE.md"]), json!({"unknown": "warning"}));
        assert_eq!(ids(&out), ["license-unknown"]);
        assert_eq!(sev(&out[0]), "warning");
        assert_eq!(ids(&run(json!([42, ""]), team())), ["license-unknown"; 2]);
        // A team can decide about such a word through LicenseRef-.
        assert!(run(json!(["llama3"]), json!({"allow": ["LicenseRef-llama3"]})).is_empty());
        assert_eq!(
            ids(&run(
                json!(["other"]),
                json!({"deny": ["LicenseRef-other"], "unknown": "ignore"})
            )),
            ["license-denied"]
        );
        assert!(run(json!(["llama3"]), json!({"unknown": "ignore"})).is_empty());
    }

    #[test]
    fn missing_licences() {
        for absent in [json!([]), json!(null), json!("")] {
            let out = run(absent, team());
            assert_eq!(ids(&out), ["license-missing"]);
            assert_eq!(
                out[0].location.field.as_deref(),
                Some("/descriptor/licenses")
            );
        }
        let out = evaluate(&input(
            json!({"descriptor": {}}),
            vec![],
            json!({"allow": ["MIT"], "missing": "warning"}),
        ))
        .unwrap();
        assert_eq!(sev(&out[0]), "warning");
        assert!(
            evaluate(&input(
                json!({}),
                vec![],
                json!({"allow": ["MIT"], "missing": "ignore"})
            ))
            .unwrap()
            .is_empty()
        );
        // A lone string instead of a list is still judged.
        assert!(run(json!("MIT"), team()).is_empty());
    }

    #[test]
    fn bad_settings() {
        let bad = |s: Value| evaluate(&input(json!({}), vec![], s)).unwrap_err();
        assert!(
            bad(json!({"allow": ["Apache2"]}))
                .starts_with("invalid settings: allow[0]: \"Apache2\" is not an SPDX licence id")
        );
        assert!(
            bad(json!({"deny": ["MIT", "MIT OR Zlib"]}))
                .contains("deny[1]: \"MIT OR Zlib\" is an expression")
        );
        assert!(bad(json!({"unknown": "fail"})).contains("unknown variant `fail`"));
        assert!(bad(json!({"alow": ["MIT"]})).contains("unknown field `alow`"));
        assert!(bad(json!({"allow": "MIT"})).starts_with("invalid settings"));
        assert!(bad(json!({})).starts_with("invalid settings: no `allow` list"));
        assert!(bad(json!({"unknown": "error"})).contains("no `allow` list"));
        // Asking for warnings (or nothing) about unlisted licences is a choice, not a mistake.
        assert!(evaluate(&input(json!({}), vec![], json!({"unknown": "warning"}))).is_ok());
    }

    #[test]
    fn real_fixture_models() {
        // granite's and molmo's README front matter say `license: apache-2.0`.
        for model in [
            "hf-lfs/granite-3.1-1b-a400m-instruct",
            "hf-lfs/molmo-7b-d-nf4",
        ] {
            let out = evaluate(&hf_model(model, team())).unwrap();
            assert!(out.is_empty(), "{model}: {out:?}");
            let out = evaluate(&hf_model(model, json!({"deny": ["Apache-2.0"]}))).unwrap();
            assert_eq!(ids(&out), ["license-denied"], "{model}");
            let out = evaluate(&hf_model(model, json!({"allow": ["MIT"]}))).unwrap();
            assert_eq!(ids(&out), ["license-not-allowed"], "{model}");
        }
        // pygmalion-7b's names none.
        let out = evaluate(&hf_model("hf-lfs/pygmalion-7b", team())).unwrap();
        assert_eq!(ids(&out), ["license-missing"]);
        let out = evaluate(&hf_model(
            "hf-lfs/pygmalion-7b",
            json!({"allow": ["MIT"], "missing": "ignore"}),
        ))
        .unwrap();
        assert!(out.is_empty());
    }
}
