//! Policies see signatures: `check --public-key` verifies a layout's signature referrers or a
//! directory's model.sig, and the built-in `signature-required` passes a signed layout, fails
//! an unsigned or tampered one or one signed by a key its settings do not allow, with SARIF
//! naming the reason.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::pack::pack;
use crate::util::keypair;
use crate::util::{modelpack, plugins_built};

pub fn have_openssl() -> bool {
    let ok = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("openssl is not installed: CI must provide it");
        }
        eprintln!("skipping: openssl is not installed");
    }
    ok
}

fn tiny_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model")
}

/// `check TARGET --policy signature-required ARGS --format F`: (exit code, report JSON).
fn check(target: &Path, args: &[&str], format: &str) -> (i32, Value) {
    let out = modelpack()
        .arg("check")
        .arg(target)
        .args(["--policy", "signature-required", "--format", format])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

/// The findings of one policy in a JSON report: (id, severity, message).
fn findings(report: &Value, policy: &str) -> Vec<(String, String, String)> {
    report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == policy)
        .flat_map(|p| p["findings"].as_array().unwrap().clone())
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ids(report: &Value, policy: &str) -> Vec<String> {
    findings(report, policy).into_iter().map(|f| f.0).collect()
}

fn sign(target: &Path, private: &Path) -> Value {
    let out = modelpack()
        .arg("sign")
        .arg(target)
        .arg("--key")
        .arg(private)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn signature_required_passes_signed_and_fails_unsigned_foreign_and_tampered_layouts() {
    if !plugins_built() || !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "signer");
    let (_, other) = keypair(tmp.path(), "other");
    let key = public.to_str().unwrap();
    let layout = tmp.path().join("layout");
    pack(&tiny_model(), &layout, &[]);

    // Unsigned: the policy fails and says so; SARIF carries the reason.
    let (code, sarif) = check(&layout, &["--public-key", key], "sarif");
    assert_eq!(code, 1, "{sarif:#}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let missing = results
        .iter()
        .find(|r| r["ruleId"] == "signature-required/signature-missing")
        .unwrap_or_else(|| panic!("{sarif:#}"));
    assert_eq!(missing["level"], "error");
    assert!(
        missing["message"]["text"]
            .as_str()
            .unwrap()
            .contains("no verified signature"),
        "{missing:#}"
    );

    // Signed: the host lists the verified signature with model-signing's key id.
    let signed = sign(&layout, &private);
    let (code, report) = check(&layout, &["--public-key", key], "json");
    assert_eq!(code, 0, "{report:#}");
    let f = findings(&report, "signature-required");
    assert_eq!(f[0].0, "signature-verified", "{report:#}");
    let key_id = signed["keyId"].as_str().unwrap();
    assert!(f[0].2.contains(&key_id[..16]), "{f:?}");
    assert!(
        f[0].2.contains(signed["referrer"].as_str().unwrap()),
        "{f:?}"
    );

    // Allowed keys as the PEM text itself, and as the key id: pass; another key's id: fail.
    let pem = std::fs::read_to_string(&public).unwrap();
    let config = tmp.path().join("policy.json");
    let write_config = |keys: Vec<String>| {
        let v = serde_json::json!({"policies": {"signature-required": {"allowedKeys": keys}}});
        std::fs::write(&config, v.to_string()).unwrap();
    };
    let with_config = [
        "--public-key",
        key,
        "--policy-config",
        config.to_str().unwrap(),
    ];
    write_config(vec![pem.clone()]);
    let (code, report) = check(&layout, &with_config, "json");
    assert_eq!(code, 0, "{report:#}");
    write_config(vec![format!("sha256:{key_id}")]);
    let (code, report) = check(&layout, &with_config, "json");
    assert_eq!(code, 0, "{report:#}");
    write_config(vec!["ab".repeat(32)]);
    let (code, report) = check(&layout, &with_config, "json");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        ids(&report, "signature-required"),
        ["signature-key-not-allowed"]
    );
    assert!(
        findings(&report, "signature-required")[0]
            .2
            .contains(key_id)
    );

    // Verified with another key only: not listed; the host says why, the policy fails.
    let (code, report) = check(&layout, &["--public-key", other.to_str().unwrap()], "json");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(ids(&report, "signature-required"), ["signature-missing"]);
    let host = findings(&report, "modelpack");
    assert_eq!(host[0].0, "signature-invalid", "{report:#}");
    assert!(host[0].2.contains("signed by another key"), "{host:?}");

    // No key given: the signature is noted as unverified, and the policy fails.
    let (code, report) = check(&layout, &[], "json");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(ids(&report, "modelpack"), ["signature-unverified"]);

    // Tampered: one flipped byte in the weights blob.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            layout.join("blobs/sha256").join(
                signed["manifest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:"),
            ),
        )
        .unwrap(),
    )
    .unwrap();
    let weights = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"].as_str().unwrap().contains(".weight.v1."))
        .unwrap();
    let blob = layout.join("blobs/sha256").join(
        weights["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0x01;
    std::fs::remove_file(&blob).unwrap();
    std::fs::write(&blob, &bytes).unwrap();
    let (code, sarif) = check(&layout, &["--public-key", key], "sarif");
    assert_eq!(code, 1, "{sarif:#}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let rule = |id: &str| {
        results
            .iter()
            .find(|r| r["ruleId"] == id)
            .unwrap_or_else(|| panic!("no {id}: {sarif:#}"))
    };
    rule("signature-required/signature-missing");
    let invalid = rule("modelpack/signature-invalid")["message"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        invalid.contains(weights["digest"].as_str().unwrap()),
        "the reason names the modified blob: {invalid}"
    );
}

#[test]
fn a_directory_signed_with_model_sig_is_seen_by_policies() {
    if !plugins_built() || !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "signer");
    let dir = tmp.path().join("model");
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(tiny_model()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let key = public.to_str().unwrap();
    let (code, report) = check(&dir, &["--public-key", key], "json");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(ids(&report, "signature-required"), ["signature-missing"]);

    sign(&dir, &private);
    let (code, report) = check(&dir, &["--public-key", key], "json");
    assert_eq!(code, 0, "{report:#}");
    let f = findings(&report, "signature-required");
    assert_eq!(f[0].0, "signature-verified");
    assert!(f[0].2.contains("files signature, model.sig"), "{f:?}");
    // The signature is metadata, not a code layer no-unsafe-code would fail.
    let out = modelpack()
        .arg("check")
        .arg(&dir)
        .args(["--policy", "no-unsafe-code", "--format", "json"])
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{r:#}");

    // One modified file: the signature no longer verifies, the host names the file.
    std::fs::write(dir.join("README.md"), "changed\n").unwrap();
    let (code, report) = check(&dir, &["--public-key", key], "json");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(ids(&report, "signature-required"), ["signature-missing"]);
    let host = findings(&report, "modelpack");
    let invalid = host.iter().find(|h| h.0 == "signature-invalid").unwrap();
    assert!(invalid.2.contains("README.md"), "{host:?}");
}

/// `sbom DIR --attach LAYOUT`: a referrer of the manifest with the SBOM's artifact type;
/// policies see `sbomAttached`; an SBOM of another directory is refused.
#[test]
fn an_attached_sbom_is_a_referrer_policies_see() {
    if !plugins_built() || !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "signer");
    let layout = tmp.path().join("layout");
    pack(&tiny_model(), &layout, &[]);
    sign(&layout, &private);
    let config = tmp.path().join("policy.yaml");
    std::fs::write(
        &config,
        "policies:\n  signature-required:\n    requireSbom: true\n",
    )
    .unwrap();
    let args = [
        "--public-key",
        public.to_str().unwrap(),
        "--policy-config",
        config.to_str().unwrap(),
    ];
    let (code, report) = check(&layout, &args, "json");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        ids(&report, "signature-required"),
        ["signature-verified", "sbom-missing"]
    );

    // An SBOM of another model is refused, and nothing is added.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    for e in std::fs::read_dir(tiny_model()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, other.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(other.join("README.md"), "another model\n").unwrap();
    let index_before = std::fs::read(layout.join("index.json")).unwrap();
    let out = modelpack()
        .arg("sbom")
        .arg(&other)
        .args(["--format", "spdx", "--attach"])
        .arg(&layout)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("README.md has sha256"), "{err}");
    assert_eq!(
        std::fs::read(layout.join("index.json")).unwrap(),
        index_before
    );

    for format in ["cyclonedx", "spdx"] {
        let out = modelpack()
            .arg("sbom")
            .arg(tiny_model())
            .args(["--format", format, "--attach"])
            .arg(format!("{}:latest", layout.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = modelpack()
        .arg("referrers")
        .arg(&layout)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut types: Vec<&str> = listed["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["artifactType"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "application/spdx+json",
            "application/vnd.cyclonedx+json",
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        ]
    );
    // The SBOM blob is the document `sbom` prints.
    let spdx = listed["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["artifactType"] == "application/spdx+json")
        .unwrap();
    let blob = |d: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let referrer: Value = serde_json::from_slice(&blob(spdx["digest"].as_str().unwrap())).unwrap();
    let printed = modelpack()
        .arg("sbom")
        .arg(tiny_model())
        .args(["--format", "spdx"])
        .output()
        .unwrap();
    assert_eq!(
        blob(referrer["layers"][0]["digest"].as_str().unwrap()),
        printed.stdout
    );

    let (code, report) = check(&layout, &args, "json");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(ids(&report, "signature-required"), ["signature-verified"]);
    // The layout still validates with three referrers in it.
    let out = modelpack().arg("validate").arg(&layout).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
