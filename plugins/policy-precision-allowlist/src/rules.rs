//! The precision rule: the precisions a model declares and the dtypes its weights hold must be
//! allowed.
//!
//! A precision is accepted when it is not in `deny` and, if `allow` is non-empty, is in `allow`
//! (so `deny` alone bans a few, `allow` alone admits only those). List entries are ModelPack
//! precision values; `bf16`, `fp16` and the formats' spellings (`BF16`, `FLOAT`) are accepted
//! and normalised.
//!
//! * `config.precision`, split on commas: each value not accepted gives an error
//!   `precision-not-allowed` at `/config/precision` (a value that is no ModelPack precision,
//!   such as `mixed`, is accepted only when `allow` is empty and it is not denied); an absent
//!   precision gives a warning `precision-missing`;
//! * the dtypes of each `weight` file's facts, mapped to ModelPack precisions (see
//!   [`crate::precision`]; unmappable types such as GGUF `Q4_K` are ignored): each not accepted
//!   gives an error `dtype-not-allowed` at that file.

use policy_common::json;
use policy_common::report::{at_field, at_file};
use policy_common::settings;
use policy_common::{FileFacts, Finding, PolicyInput, Severity};
use serde::Deserialize;
use serde_json::Value;

use modelpack_spec::precision;

const FIELD: &str = "/config/precision";

/// The settings as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

/// This policy's settings, normalised to ModelPack precision values.
#[derive(Debug, Default)]
pub struct Settings {
    /// Accepted precisions; empty means "any not denied".
    pub allow: Vec<&'static str>,
    /// Rejected precisions; deny wins over allow.
    pub deny: Vec<&'static str>,
}

impl Settings {
    /// Parses the settings JSON; every entry must name a ModelPack precision.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let raw: RawSettings = settings::parse(json)?;
        let list = |name: &str, entries: &[String]| -> Result<Vec<&'static str>, String> {
            entries
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    precision::normalize(e).ok_or_else(|| {
                        format!(
                            "invalid settings: {name}[{i}]: {e:?} is not a ModelPack precision (one of {})",
                            precision::PRECISIONS.join(", ")
                        )
                    })
                })
                .collect()
        };
        Ok(Settings {
            allow: list("allow", &raw.allow)?,
            deny: list("deny", &raw.deny)?,
        })
    }

    /// Why a precision is refused, or `None` when it is accepted. `p` is normalised when it
    /// is a ModelPack value, else the word as written.
    fn refusal(&self, p: &str) -> Option<&'static str> {
        if self.deny.contains(&p) {
            Some("is on the deny list")
        } else if !self.allow.is_empty() && !self.allow.contains(&p) {
            Some("is not on the allow list")
        } else {
            None
        }
    }
}

/// Judges one model.
pub fn evaluate(input: &PolicyInput) -> Result<Vec<Finding>, String> {
    let s = Settings::parse(&input.settings)?;
    let config = json::config(&input.config)?;
    let mut out = check_config(&config, &s);
    for f in input.files.iter().filter(|f| f.kind == "weight") {
        out.extend(check_file(f, &s));
    }
    Ok(out)
}

/// Findings for `config.precision`.
pub fn check_config(config: &Value, s: &Settings) -> Vec<Finding> {
    let Some(text) = json::string_at(config, FIELD) else {
        return vec![at_field(
            "precision-missing",
            Severity::Warning,
            "the config declares no precision (config.precision is absent or empty)",
            FIELD,
        )];
    };
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let (key, shown) = match precision::normalize(word) {
            Some(p) if p == word => (p.to_string(), format!("{word:?}")),
            Some(p) => (p.to_string(), format!("{word:?} ({p})")),
            None => (
                word.to_string(),
                format!("{word:?} (not a ModelPack precision)"),
            ),
        };
        if seen.contains(&key) {
            continue;
        }
        if let Some(why) = s.refusal(&key) {
            out.push(at_field(
                "precision-not-allowed",
                Severity::Error,
                format!("config.precision {shown} {why}"),
                FIELD,
            ));
        }
        seen.push(key);
    }
    out
}

/// Findings for one weight file's precisions: the words its format plugin gave the dtypes of
/// its weights (storage types without a word, `quantized:Q4_K`, are not judged here).
pub fn check_file(file: &FileFacts, s: &Settings) -> Vec<Finding> {
    file.precisions
        .iter()
        .filter(|(_, n)| *n > 0)
        .filter_map(|(word, n)| {
            let p = precision::normalize(word)?;
            let why = s.refusal(p)?;
            Some(at_file(
                "dtype-not-allowed",
                Severity::Error,
                format!(
                    "{} holds {n} weight parameters in {p}, which {why}",
                    file.path
                ),
                &file.path,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_common::testkit::{file, hf_model, ids, input, weight_with_words};
    use serde_json::json;

    fn run(config: Value, files: Vec<FileFacts>, settings: Value) -> Vec<Finding> {
        evaluate(&input(config, files, settings)).unwrap()
    }
    fn half() -> Value {
        json!({"allow": ["bfloat16", "float16"]})
    }
    fn prec(p: &str) -> Value {
        json!({"config": {"precision": p}})
    }

    #[test]
    fn allowed_precisions_pass() {
        assert!(run(prec("bfloat16"), vec![], half()).is_empty());
        assert!(run(prec("float16, bfloat16"), vec![], half()).is_empty());
        assert!(run(prec("bf16"), vec![], half()).is_empty());
        let files = vec![weight_with_words(
            "model.safetensors",
            6128,
            "safetensors",
            &[("BF16", 1792), ("F16", 528)],
            &[("BF16", "bfloat16"), ("F16", "float16")],
        )];
        assert!(run(prec("bfloat16,float16"), files, half()).is_empty());
        // Quantised GGUF types have no precision word: ignored.
        let files = vec![weight_with_words(
            "model.gguf",
            4 << 30,
            "gguf",
            &[("Q4_K", 6_000_000_000), ("F16", 1000)],
            &[("F16", "float16")],
        )];
        assert!(run(prec("float16"), files, half()).is_empty());
        // No lists: anything goes.
        assert!(run(prec("float64,mixed"), vec![], json!({})).is_empty());
    }

    #[test]
    fn refused_precisions_fail() {
        let out = run(prec("bfloat16,float32"), vec![], half());
        assert_eq!(ids(&out), ["precision-not-allowed"]);
        assert_eq!(
            out[0].message,
            "config.precision \"float32\" is not on the allow list"
        );
        assert_eq!(out[0].location.field.as_deref(), Some("/config/precision"));
        let out = run(prec("fp32"), vec![], json!({"deny": ["float32"]}));
        assert_eq!(
            out[0].message,
            "config.precision \"fp32\" (float32) is on the deny list"
        );
        let out = run(prec("mixed"), vec![], half());
        assert_eq!(
            out[0].message,
            "config.precision \"mixed\" (not a ModelPack precision) is not on the allow list"
        );
        // Deny wins over allow.
        let out = run(
            prec("float16"),
            vec![],
            json!({"allow": ["float16"], "deny": ["fp16"]}),
        );
        assert_eq!(ids(&out), ["precision-not-allowed"]);
    }

    #[test]
    fn weight_dtypes_are_checked() {
        // The words come from the format plugins (one vocabulary); a storage type without
        // a word (Q4_K) is not judged; ONNX INT64 shape tensors are not weights at all, so
        // the plugin does not report them among the precisions.
        let files = vec![
            weight_with_words(
                "model.safetensors",
                6128,
                "safetensors",
                &[("BF16", 1792), ("F32", 528)],
                &[("BF16", "bfloat16"), ("F32", "float32")],
            ),
            weight_with_words(
                "model.onnx",
                4000,
                "onnx",
                &[("FLOAT", 900)],
                &[("FLOAT", "float32")],
            ),
            weight_with_words(
                "m.gguf",
                10,
                "gguf",
                &[("Q4_K", 900), ("F8_E4M3", 5)],
                &[("F8_E4M3", "float8_e4m3")],
            ),
            file("config.json", "weight.config", 100),
        ];
        let out = run(
            prec("bfloat16"),
            files.clone(),
            json!({"allow": ["bfloat16", "float8_e4m3"]}),
        );
        assert_eq!(ids(&out), ["dtype-not-allowed"; 2]);
        assert_eq!(
            out[0].message,
            "model.safetensors holds 528 weight parameters in float32, which is not on the allow list"
        );
        assert_eq!(out[0].location.file.as_deref(), Some("model.safetensors"));
        assert_eq!(out[1].location.file.as_deref(), Some("model.onnx"));
        let out = run(prec("bfloat16"), files, json!({"deny": ["fp8_e4m3"]}));
        assert_eq!(ids(&out), ["dtype-not-allowed"]);
        assert!(
            out[0].message.contains(
                "m.gguf holds 5 weight parameters in float8_e4m3, which is on the deny list"
            ),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn missing_precision_warns() {
        for c in [
            json!({}),
            json!({"config": {"precision": ""}}),
            json!({"config": {"precision": null}}),
        ] {
            let out = run(c, vec![], half());
            assert_eq!(ids(&out), ["precision-missing"]);
            assert_eq!(
                policy_common::report::severity_name(out[0].severity),
                "warning"
            );
        }
    }

    #[test]
    fn bad_settings() {
        let bad = |s: Value| evaluate(&input(json!({}), vec![], s)).unwrap_err();
        assert!(bad(json!({"allow": ["fp4"]})).starts_with(
            "invalid settings: allow[0]: \"fp4\" is not a ModelPack precision (one of float32, "
        ));
        assert!(bad(json!({"deny": ["bfloat16", 3]})).starts_with("invalid settings"));
        assert!(bad(json!({"allowed": ["bfloat16"]})).contains("unknown field `allowed`"));
    }

    #[test]
    fn real_fixture_models() {
        // pygmalion-7b and granite: torch_dtype bfloat16; molmo: float16.
        for (model, p) in [
            ("hf-lfs/pygmalion-7b", "bfloat16"),
            ("hf-lfs/granite-3.1-1b-a400m-instruct", "bfloat16"),
            ("hf-lfs/molmo-7b-d-nf4", "float16"),
        ] {
            assert!(
                evaluate(&hf_model(model, half())).unwrap().is_empty(),
                "{model}"
            );
            let out = evaluate(&hf_model(model, json!({"allow": ["float32"]}))).unwrap();
            assert_eq!(ids(&out), ["precision-not-allowed"], "{model}");
            assert!(out[0].message.contains(p), "{model}: {}", out[0].message);
        }
        // The real silero VAD safetensors fixture holds 309633 F32 parameters in 15 tensors.
        let silero = weight_with_words(
            "silero_vad_16k.safetensors",
            1_239_748,
            "safetensors",
            &[("F32", 309_633)],
            &[("F32", "float32")],
        );
        let out = run(prec("float32"), vec![silero], half());
        assert_eq!(ids(&out), ["precision-not-allowed", "dtype-not-allowed"]);
    }
}
