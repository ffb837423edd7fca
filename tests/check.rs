//! `modelpack check`: built-in policies passing and failing on real configs, policy config
//! files, misbehaving policies, and SARIF that validates against the SARIF 2.1.0 schema.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::util::{modelpack, plugins_built, test_plugin};

/// A config like the one `generate` writes for fixtures/hf-lfs/pygmalion-7b.
fn pygmalion_config() -> Value {
    json!({
        "descriptor": {"name": "pygmalion-7b", "family": "llama", "licenses": ["other"]},
        "modelfs": {"type": "layers", "diffIds": ["sha256:1111111111111111111111111111111111111111111111111111111111111111"]},
        "config": {"architecture": "transformer", "format": "safetensors", "paramSize": "6.7B", "precision": "bfloat16"}
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs check and returns (exit code, JSON report).
fn check(args: &[&str]) -> (i32, Value) {
    let out = modelpack()
        .arg("check")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), json)
}

fn finding_ids(report: &Value, policy: &str) -> Vec<String> {
    report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == policy)
        .unwrap_or_else(|| panic!("{policy} not run: {report}"))["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn license_allowlist_passes_and_fails() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = pygmalion_config();
    cfg["descriptor"]["licenses"] = json!(["apache-2.0"]);
    let ok = write(dir.path(), "ok.json", &cfg.to_string());
    let policy = write(
        dir.path(),
        "p.yaml",
        "policies:\n  license-allowlist:\n    allow: [Apache-2.0, MIT]\n",
    );
    let (code, r) = check(&[
        ok.to_str().unwrap(),
        "--policy-config",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["summary"]["passed"], 1);
    let bad = write(dir.path(), "bad.json", &pygmalion_config().to_string());
    let (code, r) = check(&[
        bad.to_str().unwrap(),
        "--policy-config",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["result"], "fail");
    assert!(
        finding_ids(&r, "license-allowlist").contains(&"license-unknown".to_string()),
        "{r}"
    );
}

#[test]
fn required_metadata_and_precision_and_size_limits_fail_on_a_real_config() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = pygmalion_config();
    cfg["descriptor"]
        .as_object_mut()
        .unwrap()
        .remove("licenses");
    let cfg = write(dir.path(), "c.json", &cfg.to_string());
    let policy = write(
        dir.path(),
        "p.toml",
        "[policies.required-metadata]\nfields = [\"/descriptor/name\", \"/descriptor/licenses\"]\n\n[policies.precision-allowlist]\nallow = [\"float16\"]\n\n[policies.size-limits]\nmax_parameters = \"1B\"\n",
    );
    let (code, r) = check(&[
        cfg.to_str().unwrap(),
        "--policy-config",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["summary"]["failures"], 3, "{r}");
    assert!(finding_ids(&r, "required-metadata").contains(&"metadata-missing".to_string()));
    assert!(finding_ids(&r, "precision-allowlist").contains(&"precision-not-allowed".to_string()));
    assert!(finding_ids(&r, "size-limits").contains(&"size-limit-exceeded".to_string()));
    // The same settings with generous limits pass.
    let relaxed = write(
        dir.path(),
        "r.json",
        r#"{"policies":{"precision-allowlist":{"allow":["bfloat16"]},"size-limits":{"max_parameters":"8B"}}}"#,
    );
    let (code, r) = check(&[
        cfg.to_str().unwrap(),
        "--policy-config",
        relaxed.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{r}");
}

#[test]
fn policy_by_name_uses_its_settings_from_the_config_file() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.json", &pygmalion_config().to_string());
    let policy = write(
        dir.path(),
        "p.yaml",
        "policies:\n  size-limits:\n    max_parameters: 1B\n  license-allowlist:\n    allow: [MIT]\n",
    );
    let (code, r) = check(&[
        cfg.to_str().unwrap(),
        "--policy",
        "size-limits",
        "--policy-config",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        r["policies"].as_array().unwrap().len(),
        1,
        "only the named policy runs: {r}"
    );
}

#[test]
fn a_misbehaving_policy_is_an_error_outcome_not_a_crash() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.json", &pygmalion_config().to_string());
    let evil = test_plugin("evil-policy").display().to_string();
    for (mode, expected) in [
        ("loop", "exceeded its CPU deadline"),
        ("panic", "panicked: policy panicked on purpose"),
        ("alloc", "exceeded its memory cap"),
        (
            "bad-settings",
            "could not run: setting `mode` is bad on purpose",
        ),
    ] {
        let p = write(
            dir.path(),
            "p.yaml",
            &format!("policies:\n  evil-policy:\n    mode: {mode}\n  required-metadata:\n"),
        );
        let out = modelpack()
            .args([
                "check",
                cfg.to_str().unwrap(),
                "--policy",
                &evil,
                "--policy",
                "required-metadata",
                "--policy-config",
            ])
            .arg(&p)
            .args(["--plugin-timeout", "1", "--format", "json"])
            .output()
            .unwrap();
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1), "{mode}: {r}");
        let evil_result = &r["policies"][0];
        assert_eq!(evil_result["outcome"], "error", "{mode}: {r}");
        assert!(
            evil_result["error"].as_str().unwrap().contains(expected),
            "{mode}: {r}"
        );
        assert_eq!(
            r["policies"][1]["outcome"], "pass",
            "{mode}: the other policy still ran: {r}"
        );
    }
    // --fail-on warning turns the harmless warning into a failure.
    let p = write(
        dir.path(),
        "p.yaml",
        "policies:\n  evil-policy:\n    mode: warn\n",
    );
    let (code, _) = check(&[
        cfg.to_str().unwrap(),
        "--policy",
        &evil,
        "--policy-config",
        p.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let (code, r) = check(&[
        cfg.to_str().unwrap(),
        "--policy",
        &evil,
        "--policy-config",
        p.to_str().unwrap(),
        "--fail-on",
        "warning",
    ]);
    assert_eq!(code, 1, "{r}");
}

#[test]
fn usage_errors_exit_2() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.json", &pygmalion_config().to_string());
    // A policy config that names no policy (without one, the defaults run: see cli_check).
    let none = write(dir.path(), "none.yaml", "policies: {}\n");
    let out = modelpack()
        .args(["check", cfg.to_str().unwrap(), "--policy-config"])
        .arg(&none)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no policies to run"));
    let out = modelpack()
        .args(["check", cfg.to_str().unwrap(), "--policy", "no-such-policy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown policy \"no-such-policy\""));
    let out = modelpack()
        .args(["check", cfg.to_str().unwrap(), "--policy", "safetensors"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let bad = write(dir.path(), "p.yaml", "policies: [a, b]\n");
    let out = modelpack()
        .args(["check", cfg.to_str().unwrap(), "--policy-config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The SARIF 2.1.0 schema: `$MODELPACK_SARIF_SCHEMA` (CI fetches it from the npm package
/// @microsoft/jest-sarif); required under CI, skipped with a message elsewhere.
fn sarif_schema() -> Option<Value> {
    match std::env::var_os("MODELPACK_SARIF_SCHEMA") {
        Some(p) => Some(serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("MODELPACK_SARIF_SCHEMA must be set under CI")
        }
        None => {
            eprintln!("skipping SARIF schema validation: MODELPACK_SARIF_SCHEMA not set");
            None
        }
    }
}

fn fix_language_patterns(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "pattern" && x.as_str() == Some("^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$")
                {
                    *x = json!("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
                } else {
                    fix_language_patterns(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(fix_language_patterns),
        _ => {}
    }
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.json", &pygmalion_config().to_string());
    let policy = write(
        dir.path(),
        "p.yaml",
        "policies:\n  license-allowlist:\n    allow: [MIT]\n  required-metadata:\n    fields: [/descriptor/version]\n  evil-policy:\n    mode: panic\n",
    );
    let out = modelpack()
        .args([
            "check",
            cfg.to_str().unwrap(),
            "--policy-config",
            policy.to_str().unwrap(),
            "--format",
            "sarif",
            "--plugin",
        ])
        .arg(test_plugin("evil-policy"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "license-allowlist/license-unknown" && r["level"] == "error"),
        "{sarif}"
    );
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "required-metadata/metadata-missing"),
        "{sarif}"
    );
    assert_eq!(sarif["runs"][0]["invocations"][0]["exitCode"], 1);
    let Some(mut schema) = sarif_schema() else {
        return;
    };
    // The published schema's `language` patterns have a stray `]` that ECMA-262 regex engines
    // (the one this validator uses) reject; replace them with what they evidently mean.
    fix_language_patterns(&mut schema);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .expect("SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF invalid:\n{}", errors.join("\n"));
    // The validator does reject a broken log (a level SARIF does not have).
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = json!("fatal");
    assert!(!validator.is_valid(&broken));
}

fn fixture_dir(name: &str) -> String {
    crate::util::fixtures()
        .join("hf-lfs")
        .join(name)
        .display()
        .to_string()
}

/// Copies a fixture directory so a test can add files to it.
fn copy_dir(from: &str, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn policies_pass_and_fail_on_real_fixture_directories() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let team = write(
        dir.path(),
        "team.yaml",
        "policies:\n  license-allowlist:\n    allow: [Apache-2.0, MIT]\n  size-limits:\n    max_parameters: 8B\n  precision-allowlist:\n    allow: [bfloat16]\n  required-metadata:\n    fields: [/descriptor/name, /config/paramSize]\n  no-unsafe-code:\n",
    );
    // granite: Apache-2.0, 1.3B bfloat16, safetensors: every policy passes, but the fixture is
    // a Git LFS checkout whose weights were never downloaded, so the run fails (as pack refuses
    // it) on modelpack's own missing-weights finding.
    let (code, r) = check(&[
        &fixture_dir("granite-3.1-1b-a400m-instruct"),
        "--policy-config",
        team.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["summary"]["passed"], 5, "{r}");
    assert_eq!(r["summary"]["failures"], 1, "{r}");
    assert_eq!(finding_ids(&r, "modelpack"), ["missing-weights"], "{r}");
    // pygmalion: no licence in its card.
    let (code, r) = check(&[
        &fixture_dir("pygmalion-7b"),
        "--policy-config",
        team.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(
        finding_ids(&r, "license-allowlist"),
        vec!["license-missing".to_string()]
    );
    // The licence, and modelpack's own finding: its weights are LFS pointers too.
    assert_eq!(r["summary"]["failures"], 2, "{r}");
    // A 1B limit fails pygmalion's 6.7B; float16-only fails its bfloat16.
    let strict = write(
        dir.path(),
        "strict.yaml",
        "policies:\n  size-limits:\n    max_parameters: 1B\n  precision-allowlist:\n    allow: [float16]\n",
    );
    let (code, r) = check(&[
        &fixture_dir("pygmalion-7b"),
        "--policy-config",
        strict.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{r}");
    assert!(
        finding_ids(&r, "size-limits").contains(&"size-limit-exceeded".to_string()),
        "{r}"
    );
    assert!(
        finding_ids(&r, "precision-allowlist").contains(&"precision-not-allowed".to_string()),
        "{r}"
    );
}

/// A protocol-2 pickle whose `__reduce__` calls `os.system("true")`, as `pickle.dumps` writes it.
const MALICIOUS_PICKLE: &[u8] =
    b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.";

#[test]
fn no_unsafe_code_fails_on_a_malicious_pickle_and_a_code_layer() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    copy_dir(&fixture_dir("granite-3.1-1b-a400m-instruct"), &model);
    std::fs::write(model.join("pytorch_model.bin"), MALICIOUS_PICKLE).unwrap();
    std::fs::write(model.join("train.py"), "print('training')\n").unwrap();
    let (code, r) = check(&[model.to_str().unwrap(), "--policy", "no-unsafe-code"]);
    assert_eq!(code, 1, "{r}");
    let findings = &r["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "no-unsafe-code")
        .unwrap()["findings"];
    let unsafe_code = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "unsafe-code")
        .unwrap_or_else(|| panic!("{r}"));
    assert!(
        unsafe_code["message"]
            .as_str()
            .unwrap()
            .contains("os.system"),
        "{r}"
    );
    assert_eq!(unsafe_code["file"], "pytorch_model.bin");
    assert!(
        findings
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "code-layer" && f["file"] == "train.py"),
        "{r}"
    );
    // Allowing code layers leaves the pickle failure.
    let allow = write(
        dir.path(),
        "a.yaml",
        "policies:\n  no-unsafe-code:\n    allow_code_layers: true\n",
    );
    let (code, r) = check(&[
        model.to_str().unwrap(),
        "--policy-config",
        allow.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        !finding_ids(&r, "no-unsafe-code").contains(&"code-layer".to_string())
            || r.to_string().contains("\"info\"")
    );
    // Without the pickle and the script, no-unsafe-code passes the granite directory (the
    // run still fails: its weights are Git LFS pointers).
    let (code, r) = check(&[
        &fixture_dir("granite-3.1-1b-a400m-instruct"),
        "--policy",
        "no-unsafe-code",
    ]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(
        finding_ids(&r, "no-unsafe-code"),
        Vec::<String>::new(),
        "{r}"
    );
    assert_eq!(finding_ids(&r, "modelpack"), ["missing-weights"], "{r}");
}
