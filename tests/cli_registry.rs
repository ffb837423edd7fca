//! Issue 15 points 8 and 10 (registry side): registry errors are one clean line, a refused
//! connection is not called an authentication failure, `docker://` references work, an
//! upper-case repository gets its own message; `pull` adds to an existing layout and takes a
//! tag for a pull by digest.

use std::path::Path;

use serde_json::Value;

use crate::pack::{pack, run, validate};
use crate::util::plugins_built;

/// The test registry (see .ci/run), or None with a printed reason (a failure under CI).
fn registry() -> Option<String> {
    match std::env::var("MODELPACK_TEST_REGISTRY") {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("MODELPACK_TEST_REGISTRY is not set: CI must provide it (see .ci/run)");
            }
            eprintln!("skipping: MODELPACK_TEST_REGISTRY is not set");
            None
        }
    }
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("modelpack-cli/{name}-{nanos}")
}

fn tags(layout: &Path) -> Vec<String> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut t: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect();
    t.sort();
    t
}

#[test]
fn refused_connection_and_bad_references_are_one_clear_line() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("o");
    let (code, _, stderr) = run(&[
        "pull",
        &format!("127.0.0.1:{port}/models/tiny:v1"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("could not be reached"), "{stderr}");
    assert!(
        !stderr.contains("refused the credentials") && !stderr.contains("401"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing left behind");

    let (code, _, stderr) = run(&[
        "pull",
        "localhost:5000/Models/Tiny:v1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("lower-case") && stderr.contains("\"localhost:5000/models/tiny:v1\""),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["pull", "models/tiny:v1", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not a registry host"), "{stderr}");
}

#[test]
fn docker_transport_unknown_tag_pull_into_layout_and_by_digest() {
    if !plugins_built() {
        return;
    }
    let Some(reg) = registry() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    let layout = work.path().join("oci");
    let packed = pack(&model, &layout, &["--tag", "local"]);
    let repo = unique("tiny");

    // skopeo's spelling is accepted.
    let target = format!("docker://{reg}/{repo}:v1");
    let (code, _, stderr) = run(&["push", &format!("{}:local", layout.display()), &target]);
    assert_eq!(code, 0, "{stderr}");

    // An unknown tag: what the registry said, without the library's wrapping.
    let (code, _, stderr) = run(&[
        "pull",
        &format!("{reg}/{repo}:nope"),
        "-o",
        work.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no such tag or digest"), "{stderr}");
    for internal in ["envelope", "OCI API", "url "] {
        assert!(!stderr.contains(internal), "{internal}: {stderr}");
    }

    // Pull into the existing layout: added under the reference's tag, the old tag kept.
    let (code, stdout, stderr) = run(&[
        "pull",
        &target,
        "-o",
        layout.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["appended"], true);
    assert_eq!(v["manifest"], packed["manifest"]["digest"]);
    assert_eq!(tags(&layout), ["local", "v1"]);
    let (code, report) = validate(&layout, &[]);
    assert_eq!(code, 0, "{report:#}");

    // Pull by digest with a tag of our choosing.
    let digest = packed["manifest"]["digest"].as_str().unwrap();
    let by_digest = work.path().join("by-digest");
    let (code, _, stderr) = run(&[
        "pull",
        &format!("{reg}/{repo}@{digest}"),
        "-o",
        by_digest.to_str().unwrap(),
        "--tag",
        "reviewed",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(tags(&by_digest), ["reviewed"]);
    let (code, report) = validate(&by_digest, &[]);
    assert_eq!(code, 0, "{report:#}");
    // No staging directories left beside the outputs.
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".modelpack-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
