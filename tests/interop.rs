//! Interop with independent tools: skopeo copies our layouts through a real registry and back
//! with the manifest digest unchanged, and Python's `jsonschema` accepts our configs under the
//! upstream ModelPack schema. Without the tools these tests skip with a reason, except under
//! CI (`CI=true`), where `.ci/run` provides them and a missing tool is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::pack::{FORMATS, pack, run, tree, validate};
use crate::util::{fixtures, plugins_built};

/// Registry address (host:port) exported by `.ci/run`.
const REGISTRY_ENV: &str = "MODELPACK_TEST_REGISTRY";

/// Skips (returns true) with a printed reason, or fails under CI.
fn skip(why: &str) -> bool {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}: CI must provide it (see .ci/run)");
    }
    eprintln!("skipping: {why}");
    true
}

fn tool_works(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn index_digest(layout: &Path, tag: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no {tag} in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn skopeo_copies_through_a_registry_and_back() {
    if !plugins_built() {
        return;
    }
    let Some(registry) = std::env::var(REGISTRY_ENV).ok().filter(|r| !r.is_empty()) else {
        skip(&format!("{REGISTRY_ENV} is not set (no test registry)"));
        return;
    };
    if !tool_works("skopeo", &["--version"]) {
        skip("skopeo is not installed");
        return;
    }
    let src = fixtures().join("hf-lfs/granite-3.1-1b-a400m-instruct");
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    // A repository name unique to this run: the registry may outlive it.
    let repo = format!(
        "modelpack-test/r{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    for format in FORMATS {
        let tag = format.replace('+', "-");
        let summary = pack(
            &src,
            &layout,
            &[
                "--layer-format",
                format,
                "--tag",
                &tag,
                "--allow-missing-weights",
            ],
        );
        let digest = summary["manifest"]["digest"].as_str().unwrap().to_string();
        let remote = format!("docker://{registry}/{repo}:{tag}");
        sh(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", layout.display()),
            &remote,
        ]));
        // The registry stores the bytes we wrote: its manifest hashes to our digest.
        let raw = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false", &remote])
            .output()
            .unwrap();
        assert!(raw.status.success());
        assert_eq!(modelpack::oci::Digest::of(&raw.stdout).to_string(), digest);
        let back = work.path().join(format!("back-{tag}"));
        sh(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &remote,
            &format!("oci:{}:{tag}", back.display()),
        ]));
        assert_eq!(
            index_digest(&back, &tag),
            digest,
            "{format}: digest changed"
        );
        let (code, report) = validate(&back, &[]);
        assert_eq!(code, 0, "{format}: {report:#}");
        let out = work.path().join(format!("files-{tag}"));
        let (code, _, stderr) = run(&[
            "unpack",
            &format!("{}:{tag}", back.display()),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        // Git LFS pointers are left out by pack (--allow-missing-weights), as in tests/pack.rs.
        let mut want = tree(&src);
        want.retain(|_, (bytes, _)| !bytes.starts_with(b"version https://git-lfs"));
        assert_eq!(tree(&out), want, "{format}");
    }
}

/// The upstream config schema, vendored by `generate` (issue 5).
fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/config-schema.json")
}

const PY_VALIDATE: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
v = cls(schema, format_checker=cls.FORMAT_CHECKER)
bad = 0
for path in sys.argv[2:]:
    for e in v.iter_errors(json.load(open(path))):
        print(f"{path}: {e.json_path}: {e.message}")
        bad += 1
sys.exit(1 if bad else 0)
"#;

#[test]
fn packed_configs_pass_the_upstream_schema_in_python_jsonschema() {
    if !plugins_built() {
        return;
    }
    if !schema().exists() {
        skip("schemas/config-schema.json is not in this tree");
        return;
    }
    if !tool_works("python3", &["-c", "import jsonschema"]) {
        skip("python3 with jsonschema is not installed");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures().join("hf-lfs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model"));
    let mut configs = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let layout = work.path().join(format!("l{i}"));
        let summary = pack(
            dir,
            &layout,
            &["--layer-format", "tar+zstd", "--allow-missing-weights"],
        );
        let hex = &summary["config"]["digest"].as_str().unwrap()["sha256:".len()..];
        configs.push(layout.join("blobs/sha256").join(hex));
    }
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PY_VALIDATE]).arg(schema()).args(&configs);
    sh(&mut cmd);
    // The harness can fail: a config without modelfs is rejected.
    let bad = work.path().join("bad.json");
    std::fs::write(&bad, br#"{"descriptor": {"name": ""}, "config": {}}"#).unwrap();
    let out = Command::new("python3")
        .args(["-c", PY_VALIDATE])
        .arg(schema())
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the schema accepted a config without modelfs"
    );
}
