//! `check` output: conftest-like text, stable JSON, and SARIF 2.1.0 for code-scanning UIs.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use super::{Outcome, PolicyResult};

/// Counts over all policies.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Summary {
    /// Policies run.
    pub policies: usize,
    /// Policies with no error or warning findings.
    pub passed: usize,
    /// Policies with warnings only.
    pub warnings: usize,
    /// Policies with error findings.
    pub failures: usize,
    /// Policies that could not run.
    pub errors: usize,
}

/// The whole `check` result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// What was checked.
    pub target: String,
    /// `pass` or `fail` (after `--fail-on`).
    pub result: &'static str,
    /// Counts.
    pub summary: Summary,
    /// One entry per policy, in the order run.
    pub policies: Vec<PolicyResult>,
}

/// When a run fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Error findings (and policies that could not run) fail the run.
    Error,
    /// Warnings fail it too.
    Warning,
}

impl CheckReport {
    /// Builds the report and decides pass/fail.
    pub fn new(target: String, policies: Vec<PolicyResult>, fail_on: FailOn) -> CheckReport {
        let mut s = Summary {
            policies: policies.len(),
            ..Summary::default()
        };
        for p in &policies {
            match p.outcome {
                Outcome::Pass => s.passed += 1,
                Outcome::Warn => s.warnings += 1,
                Outcome::Fail => s.failures += 1,
                Outcome::Error => s.errors += 1,
            }
        }
        let failed = s.failures + s.errors > 0 || (fail_on == FailOn::Warning && s.warnings > 0);
        CheckReport {
            target,
            result: if failed { "fail" } else { "pass" },
            summary: s,
            policies,
        }
    }

    /// Whether the run failed.
    pub fn failed(&self) -> bool {
        self.result == "fail"
    }
}

fn location(file: Option<&str>, field: Option<&str>) -> String {
    match (file, field) {
        (Some(f), Some(x)) => format!("{f} {x}: "),
        (Some(f), None) => format!("{f}: "),
        (None, Some(x)) => format!("{x}: "),
        (None, None) => String::new(),
    }
}

/// Text: one line per finding (`FAIL`, `WARN`, `INFO`), `PASS` for clean policies, then counts.
pub fn text(r: &CheckReport) -> String {
    let mut s = String::new();
    for p in &r.policies {
        if let Some(e) = &p.error {
            let _ = writeln!(s, "ERROR - {} - {e}", p.name);
            continue;
        }
        if p.outcome == Outcome::Pass && p.findings.iter().all(|f| f.severity == "info") {
            let _ = writeln!(s, "PASS - {}", p.name);
        }
        for f in &p.findings {
            let label = match f.severity {
                "error" => "FAIL",
                "warning" => "WARN",
                _ => "INFO",
            };
            let _ = writeln!(
                s,
                "{label} - {} - {}{} [{}]",
                p.name,
                location(f.file.as_deref(), f.field.as_deref()),
                f.message,
                f.id
            );
        }
    }
    let m = &r.summary;
    let _ = writeln!(
        s,
        "\n{} polic{}, {} passed, {} warning{}, {} failure{}, {} error{}",
        m.policies,
        if m.policies == 1 { "y" } else { "ies" },
        m.passed,
        m.warnings,
        if m.warnings == 1 { "" } else { "s" },
        m.failures,
        if m.failures == 1 { "" } else { "s" },
        m.errors,
        if m.errors == 1 { "" } else { "s" }
    );
    s
}

/// SARIF 2.1.0: one run, a rule per `policy/finding-id`, a result per finding; policies that
/// could not run become `toolExecutionNotifications`.
pub fn sarif(r: &CheckReport, exit_code: i32) -> Value {
    let mut rules: Vec<(String, String)> = Vec::new();
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for p in &r.policies {
        if let Some(e) = &p.error {
            notifications.push(json!({
                "level": "error",
                "message": {"text": e},
                "descriptor": {"id": format!("{}/policy-error", p.name)},
            }));
        }
        for f in &p.findings {
            let rule_id = format!("{}/{}", p.name, f.id);
            if !rules.iter().any(|(id, _)| *id == rule_id) {
                rules.push((rule_id.clone(), format!("{} ({})", f.id, p.plugin)));
            }
            let level = match f.severity {
                "error" => "error",
                "warning" => "warning",
                _ => "note",
            };
            let mut result = json!({
                "ruleId": rule_id,
                "level": level,
                "message": {"text": f.message},
            });
            let uri = f.file.clone().unwrap_or_else(|| r.target.clone());
            let mut loc = json!({"physicalLocation": {"artifactLocation": {"uri": uri}}});
            if let Some(field) = &f.field {
                loc["logicalLocations"] = json!([{"fullyQualifiedName": field, "kind": "member"}]);
            }
            result["locations"] = json!([loc]);
            results.push(result);
        }
    }
    let rules: Vec<Value> = rules
        .into_iter()
        .map(|(id, desc)| json!({"id": id, "shortDescription": {"text": desc}}))
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "modelpack",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/modelpack/model-spec",
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": r.summary.errors == 0,
                "exitCode": exit_code,
                "exitCodeDescription": if exit_code == 0 { "pass" } else { "policy failure" },
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}
