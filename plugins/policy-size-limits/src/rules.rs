//! The size-limits rule: total bytes, total parameters and the largest file, against limits.
//!
//! * bytes: Σ `size` of every file;
//! * parameters: the host's `totals.parameters`, the model's weight parameters computed
//!   exactly as `generate` computes `paramSize` (training state, buffers and copies of the
//!   same weights left out; an index never counted beside its shards). When no weight file
//!   has tensor facts (no plugin read them, or they are Git LFS pointers) the count falls
//!   back to `config.paramSize` (`6.7B`); with neither, a set `max_parameters` gives a
//!   warning `parameters-unknown`;
//! * each file against `max_file_bytes`.
//!
//! A bare config file comes with no files: the byte limits are then not checked.
//!
//! A weight file a format plugin claimed but could not read (the host's `unreadable-file`) gives
//! an error `parameters-incomplete` when `max_parameters` is set: its count is unknown, so the
//! limit cannot be verified (fail closed).
//!
//! Each exceeded limit is an error `size-limit-exceeded` naming the actual value and the limit;
//! one info finding `size-totals` gives the totals. The byte sum is checked: sizes that add up
//! past u64 give an error `size-overflow` whenever a limit is set, never a wrapped-around small
//! number (the parameter total comes from the host, which refuses an overflow).

use policy_common::json;
use policy_common::report::{at_file, finding, general};
use policy_common::settings;
use policy_common::units::{self, Limit, human_bytes, human_count};
use policy_common::{FileFacts, Finding, ModelTotals, PolicyInput, Severity};
use serde::Deserialize;
use serde_json::Value;

/// The settings as written: each limit a number or a string with a unit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    max_total_bytes: Option<Value>,
    max_parameters: Option<Value>,
    max_file_bytes: Option<Value>,
}

/// This policy's settings; an absent limit is not checked.
#[derive(Debug, Default)]
pub struct Settings {
    /// Limit on Σ file sizes.
    pub max_total_bytes: Option<Limit>,
    /// Limit on the model's parameter count.
    pub max_parameters: Option<Limit>,
    /// Limit on any one file's size.
    pub max_file_bytes: Option<Limit>,
}

impl Settings {
    /// Parses the settings JSON (`"20GB"`, `"5GiB"`, `"8B"` or plain integers).
    pub fn parse(json: &str) -> Result<Settings, String> {
        let raw: RawSettings = settings::parse(json)?;
        let wrap = |r: Result<Limit, String>| r.map_err(|e| format!("invalid settings: {e}"));
        Ok(Settings {
            max_total_bytes: raw
                .max_total_bytes
                .map(|v| wrap(units::parse_bytes("max_total_bytes", &v)))
                .transpose()?,
            max_parameters: raw
                .max_parameters
                .map(|v| wrap(units::parse_count("max_parameters", &v)))
                .transpose()?,
            max_file_bytes: raw
                .max_file_bytes
                .map(|v| wrap(units::parse_bytes("max_file_bytes", &v)))
                .transpose()?,
        })
    }
}

/// Where the parameter count came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Params {
    /// Σ over the weight files' tensor facts.
    Facts(u64),
    /// Parsed from `config.paramSize`, as written there.
    ParamSize(u64, String),
    /// Not known.
    Unknown,
}

/// The model's parameter count from the host's totals when a format plugin read tensors
/// (in a weight layer, or in a `weight.config` file describing the weights: an index, an
/// OpenVINO topology), else from `config.paramSize`.
pub fn parameters(totals: &ModelTotals, files: &[FileFacts], config: &Value) -> Params {
    if files.iter().any(|f| {
        (f.kind == "weight" || f.kind == "weight.config")
            && f.format.is_some()
            && (f.tensor_count > 0 || f.parameter_count > 0)
    }) {
        return Params::Facts(totals.parameters);
    }
    match json::string_at(config, "/config/paramSize") {
        Some(text) => match units::parse_count_text(text) {
            Some(n) => Params::ParamSize(n, text.to_string()),
            None => Params::Unknown,
        },
        None => Params::Unknown,
    }
}

/// Judges one model.
pub fn evaluate(input: &PolicyInput) -> Result<Vec<Finding>, String> {
    let s = Settings::parse(&input.settings)?;
    let config = json::config(&input.config)?;
    Ok(check(&input.files, &input.totals, &config, &s))
}

/// `1.5 GB (1500000000 bytes)`, in the unit family the limit was written in.
fn bytes_text(n: u64, like: &Limit) -> String {
    format!("{} ({n} bytes)", human_bytes(n, like.binary))
}

/// The findings for a model's files and config.
pub fn check(
    files: &[FileFacts],
    totals: &ModelTotals,
    config: &Value,
    s: &Settings,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let total = files
        .iter()
        .try_fold(0u64, |a, f| a.checked_add(f.size))
        .ok_or("the file sizes add up past u64");
    let params = parameters(totals, files, config);
    let largest = files.iter().max_by_key(|f| f.size);

    // A bare config file has no files: byte limits cannot be judged, only parameters.
    let measured = !files.is_empty();
    if let Err(e) = total
        && (s.max_total_bytes.is_some() || s.max_parameters.is_some())
    {
        out.push(general("size-overflow", Severity::Error, e.to_string()));
    }
    let total = total.unwrap_or(u64::MAX);
    if let Some(limit) = &s.max_total_bytes
        && measured
        && total > limit.value
    {
        out.push(general(
            "size-limit-exceeded",
            Severity::Error,
            format!(
                "total size {} exceeds max_total_bytes {} = {}",
                bytes_text(total, limit),
                limit.text,
                bytes_text(limit.value, limit)
            ),
        ));
    }
    if let Some(limit) = &s.max_parameters {
        // A weight no plugin could read adds nothing to the sum: the limit cannot be verified.
        for f in files
            .iter()
            .filter(|f| f.kind == "weight" && f.findings.iter().any(|x| x.id == "unreadable-file"))
        {
            out.push(at_file(
                "parameters-incomplete",
                Severity::Error,
                format!(
                    "{} could not be read, so its parameters are not counted: max_parameters {} \
                     cannot be verified",
                    f.path, limit.text
                ),
                &f.path,
            ));
        }
        let exceeded = |n: u64, source: &str| {
            format!(
                "{} parameters{source} exceed max_parameters {} = {} ({})",
                human_count(n),
                limit.text,
                human_count(limit.value),
                limit.value
            )
        };
        match &params {
            Params::Facts(n) if *n > limit.value => out.push(general(
                "size-limit-exceeded",
                Severity::Error,
                exceeded(*n, &format!(" ({n} in the weight files)")),
            )),
            Params::ParamSize(n, text) if *n > limit.value => out.push(finding(
                "size-limit-exceeded",
                Severity::Error,
                exceeded(*n, &format!(" (config.paramSize {text:?})")),
                None,
                Some("/config/paramSize"),
            )),
            Params::Unknown => out.push(finding(
                "parameters-unknown",
                Severity::Warning,
                format!(
                    "max_parameters {} cannot be checked: no weight file has tensor facts and \
                     config.paramSize is absent or unreadable",
                    limit.text
                ),
                None,
                Some("/config/paramSize"),
            )),
            _ => {}
        }
    }
    if let Some(limit) = &s.max_file_bytes {
        for f in files.iter().filter(|f| f.size > limit.value) {
            out.push(at_file(
                "size-limit-exceeded",
                Severity::Error,
                format!(
                    "{} is {}, over max_file_bytes {} = {}",
                    f.path,
                    bytes_text(f.size, limit),
                    limit.text,
                    bytes_text(limit.value, limit)
                ),
                &f.path,
            ));
        }
    }

    let params_text = match &params {
        Params::Facts(n) => format!("{} parameters", human_count(*n)),
        Params::ParamSize(n, _) => format!("{} parameters (config.paramSize)", human_count(*n)),
        Params::Unknown => "parameters unknown".to_string(),
    };
    let largest_text = largest
        .map(|f| format!("; largest file {} {}", f.path, human_bytes(f.size, false)))
        .unwrap_or_default();
    let bytes_text = if measured {
        format!(
            "{} files, {} in all ({total} bytes)",
            files.len(),
            human_bytes(total, false)
        )
    } else {
        "no files to measure (a bare config): byte limits not checked".to_string()
    };
    out.push(general(
        "size-totals",
        Severity::Info,
        format!("{bytes_text}; {params_text}{largest_text}"),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_common::report::severity_name;
    use policy_common::testkit::{file, hf_model, ids, input, weight};
    use serde_json::json;

    fn model() -> Vec<FileFacts> {
        vec![
            weight(
                "model-00001-of-00002.safetensors",
                4_000_000_000,
                "safetensors",
                &[("BF16", 2_000_000_000)],
            ),
            weight(
                "model-00002-of-00002.safetensors",
                3_000_000_000,
                "safetensors",
                &[("BF16", 1_500_000_000)],
            ),
            file("config.json", "weight.config", 700),
            file("README.md", "doc", 300),
        ]
    }
    fn run(files: Vec<FileFacts>, config: Value, settings: Value) -> Vec<Finding> {
        evaluate(&input(config, files, settings)).unwrap()
    }
    fn errors(out: &[Finding]) -> Vec<&Finding> {
        out.iter()
            .filter(|f| severity_name(f.severity) == "error")
            .collect()
    }

    #[test]
    fn within_limits_passes() {
        let s = json!({"max_total_bytes": "8GB", "max_parameters": "4B", "max_file_bytes": "4GB"});
        let out = run(model(), json!({}), s);
        assert_eq!(ids(&out), ["size-totals"]);
        assert_eq!(
            out[0].message,
            "4 files, 7.0 GB in all (7000001000 bytes); 3.5B parameters; largest file model-00001-of-00002.safetensors 4.0 GB"
        );
        // No settings: only the totals.
        assert_eq!(ids(&run(model(), json!({}), json!({}))), ["size-totals"]);
    }

    #[test]
    fn each_limit_fails() {
        let s = json!({"max_total_bytes": "5GiB", "max_parameters": "3B", "max_file_bytes": 3_500_000_000u64});
        let out = run(model(), json!({}), s);
        let errs = errors(&out);
        assert_eq!(errs.len(), 3);
        assert_eq!(
            errs[0].message,
            "total size 6.5 GiB (7000001000 bytes) exceeds max_total_bytes 5GiB = 5.0 GiB (5368709120 bytes)"
        );
        assert_eq!(
            errs[1].message,
            "3.5B parameters (3500000000 in the weight files) exceed max_parameters 3B = 3.0B (3000000000)"
        );
        assert_eq!(
            errs[2].message,
            "model-00001-of-00002.safetensors is 4.0 GB (4000000000 bytes), over max_file_bytes 3500000000 = 3.5 GB (3500000000 bytes)"
        );
        assert_eq!(
            errs[2].location.file.as_deref(),
            Some("model-00001-of-00002.safetensors")
        );
        assert!(errs.iter().all(|f| f.id == "size-limit-exceeded"));
    }

    #[test]
    fn parameters_fall_back_to_param_size() {
        let files = vec![file("model.gguf", "weight", 4_000_000_000)];
        let out = run(
            files.clone(),
            json!({"config": {"paramSize": "8.0B"}}),
            json!({"max_parameters": "7B"}),
        );
        assert_eq!(
            ids(&errors(&out).into_iter().cloned().collect::<Vec<_>>()),
            ["size-limit-exceeded"]
        );
        assert_eq!(out[0].location.field.as_deref(), Some("/config/paramSize"));
        assert!(out[0].message.contains("config.paramSize \"8.0B\""));
        let out = run(
            files.clone(),
            json!({"config": {"paramSize": "8.0B"}}),
            json!({"max_parameters": "8B"}),
        );
        assert_eq!(ids(&out), ["size-totals"]);
        // Nothing to count with.
        let out = run(files, json!({}), json!({"max_parameters": "8B"}));
        assert_eq!(ids(&out), ["parameters-unknown", "size-totals"]);
        assert_eq!(severity_name(out[0].severity), "warning");
    }

    #[test]
    fn bare_config_checks_parameters_only() {
        let s = json!({"max_total_bytes": "1GB", "max_parameters": "5B"});
        let out = run(vec![], json!({"config": {"paramSize": "6.7B"}}), s);
        assert_eq!(ids(&out), ["size-limit-exceeded", "size-totals"]);
        assert_eq!(
            out[1].message,
            "no files to measure (a bare config): byte limits not checked; 6.7B parameters (config.paramSize)"
        );
    }

    #[test]
    fn the_hosts_totals_are_the_count_not_a_sum_of_files() {
        // An index beside its shards, or a .bin beside the same weights as safetensors: the
        // host counts the model once, and the policy takes its word.
        let mut files = model();
        files.push(weight(
            "model.safetensors.index.json",
            28_000,
            "safetensors",
            &[("BF16", 3_500_000_000)],
        ));
        let t = policy_common::testkit::totals(&model());
        assert_eq!(
            parameters(&t, &files, &json!({})),
            Params::Facts(t.parameters)
        );
    }

    #[test]
    fn an_unreadable_weight_is_not_counted_as_zero() {
        let mut files = model();
        let mut bad = file("extra.onnx", "weight", 58);
        bad.findings = vec![finding(
            "unreadable-file",
            Severity::Error,
            "extra.onnx: malformed: element count of dims [1099511627776, 1099511627776] overflows u64",
            None,
            None,
        )];
        files.push(bad);
        let out = run(files.clone(), json!({}), json!({"max_parameters": "4B"}));
        let errs = errors(&out);
        assert_eq!(errs.len(), 1, "{out:?}");
        assert_eq!(errs[0].id, "parameters-incomplete");
        assert_eq!(errs[0].location.file.as_deref(), Some("extra.onnx"));
        // Without a parameter limit there is nothing to verify.
        assert!(errors(&run(files, json!({}), json!({"max_total_bytes": "8GB"}))).is_empty());
    }

    #[test]
    fn bad_settings() {
        let bad = |s: Value| evaluate(&input(json!({}), vec![], s)).unwrap_err();
        assert_eq!(
            bad(json!({"max_total_bytes": "20 parsecs"})),
            "invalid settings: setting max_total_bytes: \"20 parsecs\" is not a size such as 20GB, 5GiB or a number of bytes"
        );
        assert!(bad(json!({"max_parameters": "8GB"})).contains("max_parameters"));
        assert!(bad(json!({"max_file_bytes": -1})).contains("max_file_bytes"));
        assert!(bad(json!({"max_params": "8B"})).contains("unknown field `max_params`"));
        assert!(bad(json!(["8B"])).starts_with("invalid settings"));
    }

    #[test]
    fn real_fixture_models() {
        // pygmalion-7b: 7 LFS-pointed shards declaring 13.5 GB; no tensor facts, so the
        // parameter count comes from the paramSize derived from the index (6.7B).
        let s =
            json!({"max_total_bytes": "20GB", "max_parameters": "8B", "max_file_bytes": "5GiB"});
        let out = evaluate(&hf_model("hf-lfs/pygmalion-7b", s)).unwrap();
        assert_eq!(ids(&out), ["size-totals"], "{out:?}");
        assert!(out[0].message.contains("13.5 GB"), "{}", out[0].message);
        assert!(
            out[0]
                .message
                .contains("6.7B parameters (config.paramSize)")
        );
        let s = json!({"max_total_bytes": "10GB", "max_parameters": "7B", "max_file_bytes": "2GB"});
        let out = evaluate(&hf_model("hf-lfs/pygmalion-7b", s)).unwrap();
        let errs = errors(&out);
        // Total, and the six shards over 2 GB (the seventh declares 1.3 GB).
        assert_eq!(errs.len(), 7, "{out:?}");
        assert!(errs[0].message.starts_with("total size 13.5 GB"));
        let s = json!({"max_parameters": "1B"});
        let out = evaluate(&hf_model("hf-lfs/granite-3.1-1b-a400m-instruct", s)).unwrap();
        assert_eq!(ids(&out), ["size-limit-exceeded", "size-totals"]);
        assert!(
            out[0].message.starts_with("1.3B parameters"),
            "{}",
            out[0].message
        );
    }
}
