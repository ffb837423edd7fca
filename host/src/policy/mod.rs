//! `modelpack check`: run policy plugins over a model and report what they found.
//!
//! A policy plugin sees the ModelPack config, the manifest (or the planned one for a directory),
//! per-file facts and its own settings; it returns findings. A policy that traps or times out
//! becomes an error finding of its own, never a crash.

pub mod input;
pub mod output;
pub mod settings;
pub mod signatures;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::plugin::runtime::bindings::policy::modelpack::plugin::types as pt;
use crate::plugin::runtime::ph;
use crate::plugin::{Entry, Loaded, PluginSet};

/// Facts about one file of the model, as policies see them.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileFacts {
    /// Path relative to the model root, `/`-separated.
    pub path: String,
    /// Layer kind (`weight`, `weight.config`, `doc`, `code`, `dataset`).
    pub kind: String,
    /// Layer media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Format named by the plugin that read the file.
    pub format: Option<String>,
    /// Tensors in the file.
    pub tensor_count: u64,
    /// Elements of every tensor in the file.
    pub parameter_count: u64,
    /// The file's weight parameters (its share of the `paramSize` basis).
    pub weight_parameters: u64,
    /// Parameters per dtype.
    pub dtypes: BTreeMap<String, u64>,
    /// Weight parameters per precision word (`quantized:<dtype>` for storage without one).
    pub precisions: BTreeMap<String, u64>,
    /// Findings of the format plugin: (id, severity, message, field).
    pub findings: Vec<(String, String, String, Option<String>)>,
}

/// The model as a whole, computed as `generate` computes the config.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Totals {
    /// The `paramSize` basis.
    pub parameters: u64,
    /// `config.format`.
    pub format: Option<String>,
    /// `config.precision`.
    pub precision: Option<String>,
    /// `config.quantization`.
    pub quantization: Option<String>,
    /// Bytes of the weight layers.
    pub weight_bytes: u64,
    /// Files holding copies of weights another file holds.
    pub copies: u32,
}

/// A signature verified before the policies run.
#[derive(Debug, Clone, Serialize)]
pub struct Signature {
    /// The signer's key id: model-signing's, the hex SHA-256 of the public key's
    /// SubjectPublicKeyInfo PEM (LF line endings); see [`signatures`].
    pub key_id: String,
    /// `files` or `manifest`.
    pub kind: String,
    /// The signed subject's digest.
    pub subject: String,
    /// Where the signature was found.
    pub origin: String,
}

/// Everything the policies are told about one model.
#[derive(Debug, Clone)]
pub struct CheckInput {
    /// What was checked, as the user named it.
    pub target: String,
    /// The ModelPack config.
    pub config: Value,
    /// The manifest, the planned manifest, or `null`.
    pub manifest: Value,
    /// Per-file facts.
    pub files: Vec<FileFacts>,
    /// What the host itself found before any policy ran: weights that are only Git LFS
    /// pointers or absent shards (errors), contradicting licences (warnings).
    pub problems: Vec<PolicyFinding>,
    /// Totals over the model, the same numbers `generate` writes.
    pub totals: Totals,
    /// Signatures that verified with the keys `check --public-key` named ([`signatures`]).
    pub signatures: Vec<Signature>,
    /// Whether an SBOM is attached to the artifact.
    pub sbom_attached: bool,
}

/// One finding of one policy, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyFinding {
    /// The policy's finding id.
    pub id: String,
    /// `error`, `warning` or `info`.
    pub severity: &'static str,
    /// One line.
    pub message: String,
    /// File concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Config field (JSON pointer) or item concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Outcome of one policy.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// No error or warning findings.
    Pass,
    /// Warnings only.
    Warn,
    /// At least one error finding.
    Fail,
    /// The policy could not run (trap, timeout, bad settings).
    Error,
}

/// Result of one policy.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    /// Policy name.
    pub name: String,
    /// `name@version` of the plugin.
    pub plugin: String,
    /// Pass, warn, fail or error.
    pub outcome: Outcome,
    /// What the policy found.
    pub findings: Vec<PolicyFinding>,
    /// Why the policy could not run.
    pub error: Option<String>,
    /// The policy refused its settings: a configuration error (exit 2), not a verdict.
    #[serde(skip)]
    pub settings_error: bool,
}

fn severity_name(s: pt::Severity) -> &'static str {
    match s {
        pt::Severity::Error => "error",
        pt::Severity::Warning => "warning",
        pt::Severity::Info => "info",
    }
}

fn to_wit_severity(s: &str) -> pt::Severity {
    match s {
        "error" => pt::Severity::Error,
        "warning" => pt::Severity::Warning,
        _ => pt::Severity::Info,
    }
}

impl CheckInput {
    /// The WIT form of the input, with one policy's settings.
    fn to_wit(&self, settings: &Value) -> ph::PolicyInput {
        ph::PolicyInput {
            config: self.config.to_string(),
            manifest: self.manifest.to_string(),
            files: self
                .files
                .iter()
                .map(|f| ph::FileFacts {
                    path: f.path.clone(),
                    kind: f.kind.clone(),
                    media_type: f.media_type.clone(),
                    size: f.size,
                    format: f.format.clone(),
                    tensor_count: f.tensor_count,
                    parameter_count: f.parameter_count,
                    weight_parameters: f.weight_parameters,
                    dtypes: f.dtypes.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    precisions: f.precisions.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    findings: f
                        .findings
                        .iter()
                        .map(|(id, sev, msg, field)| pt::Finding {
                            id: id.clone(),
                            severity: to_wit_severity(sev),
                            message: msg.clone(),
                            location: pt::Location {
                                file: Some(f.path.clone()),
                                field: field.clone(),
                            },
                        })
                        .collect(),
                })
                .collect(),
            totals: ph::ModelTotals {
                parameters: self.totals.parameters,
                format: self.totals.format.clone(),
                precision: self.totals.precision.clone(),
                quantization: self.totals.quantization.clone(),
                weight_bytes: self.totals.weight_bytes,
                copies: self.totals.copies,
            },
            signatures: self
                .signatures
                .iter()
                .map(|g| ph::VerifiedSignature {
                    key_id: g.key_id.clone(),
                    kind: g.kind.clone(),
                    subject: g.subject.clone(),
                    origin: g.origin.clone(),
                })
                .collect(),
            sbom_attached: self.sbom_attached,
            settings: settings.to_string(),
        }
    }
}

/// "did you mean" for serde's `unknown field `x`, expected one of `a`, `b`` (the policies
/// deserialize settings with serde, so this is the shape a settings typo comes back in).
fn settings_hint(message: &str) -> String {
    let Some(rest) = message.split("unknown field `").nth(1) else {
        return String::new();
    };
    let Some((typed, expected)) = rest.split_once('`') else {
        return String::new();
    };
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    crate::suggest::hint(typed, known)
}

/// The host's own result, listed before the policies' when it found something: a model whose
/// weights are not there cannot pass, whatever the policies say.
pub fn host_result(input: &CheckInput) -> Option<PolicyResult> {
    if input.problems.is_empty() {
        return None;
    }
    let sev = |s: &str| input.problems.iter().any(|p| p.severity == s);
    Some(PolicyResult {
        name: "modelpack".into(),
        plugin: format!("modelpack@{}", env!("CARGO_PKG_VERSION")),
        outcome: if sev("error") {
            Outcome::Fail
        } else if sev("warning") {
            Outcome::Warn
        } else {
            Outcome::Pass
        },
        findings: input.problems.clone(),
        error: None,
        settings_error: false,
    })
}

/// Runs one policy plugin; every failure becomes an `error` outcome with a one-line reason.
pub fn run_policy(
    plugins: &PluginSet,
    entry: &Entry,
    input: &CheckInput,
    settings: &Value,
    log: &dyn Fn(&str),
) -> PolicyResult {
    let mut result = PolicyResult {
        name: entry.info.name.clone(),
        plugin: format!("{}@{}", entry.info.name, entry.info.version),
        outcome: Outcome::Error,
        findings: Vec::new(),
        error: None,
        settings_error: false,
    };
    let loaded: Arc<Loaded> = match plugins.load(entry) {
        Ok(l) => l,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    match loaded.evaluate(plugins.runtime(), &input.to_wit(settings)) {
        Err(failure) => {
            if !failure.output.is_empty() {
                log(&format!(
                    "policy {} output: {}",
                    entry.info.name,
                    failure.output.trim_end()
                ));
            }
            result.error = Some(failure.message);
        }
        Ok(called) => {
            if !called.output.is_empty() {
                log(&format!(
                    "policy {} output: {}",
                    entry.info.name,
                    called.output.trim_end()
                ));
            }
            match called.value {
                Err(e) => {
                    result.settings_error = e.starts_with("invalid settings");
                    let hint = settings_hint(&e);
                    result.error = Some(format!(
                        "policy {} could not run: {e}{hint}",
                        entry.info.name
                    ))
                }
                Ok(findings) => {
                    result.findings = findings
                        .into_iter()
                        .map(|f| PolicyFinding {
                            id: f.id,
                            severity: severity_name(f.severity),
                            message: f.message,
                            file: f.location.file,
                            field: f.location.field,
                        })
                        .collect();
                    result.outcome = if result.findings.iter().any(|f| f.severity == "error") {
                        Outcome::Fail
                    } else if result.findings.iter().any(|f| f.severity == "warning") {
                        Outcome::Warn
                    } else {
                        Outcome::Pass
                    };
                }
            }
        }
    }
    result
}
