//! push and pull against real registries started by `.ci/run`: one without auth
//! (MODELPACK_TEST_REGISTRY) and one with htpasswd basic auth (MODELPACK_TEST_REGISTRY_AUTH,
//! MODELPACK_TEST_REGISTRY_USER / _PASS). Blob corruption needs the first one's storage
//! directory (MODELPACK_TEST_REGISTRY_STORAGE).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::pack::{pack, tree, validate};
use crate::util::{modelpack, plugins_built};

/// Skips (returns None) with a printed reason, or fails under CI.
use crate::util::env;

fn tiny_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model")
}

/// Runs modelpack with `envs`; (exit code, stdout, stderr).
fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = modelpack();
    cmd.args(args)
        .env_remove("MODELPACK_REGISTRY_USERNAME")
        .env_remove("MODELPACK_REGISTRY_PASSWORD")
        // No stray ~/.docker/config.json.
        .env("DOCKER_CONFIG", "/nonexistent-modelpack-test");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn push(layout: &Path, target: &str, envs: &[(&str, &str)]) -> Value {
    let args = ["push", layout.to_str().unwrap(), target, "--format", "json"];
    let (code, stdout, stderr) = run(&args, envs);
    assert_eq!(code, 0, "push failed: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// A unique repository name per test run, so reruns against one registry do not collide.
fn repo(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("modelpack-test/{name}-{nanos}")
}

/// push → pull (+ unpack) → validate; the unpacked tree equals the source, digests kept.
fn round_trip(registry: &str, envs: &[(&str, &str)], name: &str) {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let packed = pack(&tiny_model(), &layout, &[]);
    let target = format!("{registry}/{}:v1", repo(name));

    let first = push(&layout, &target, envs);
    // Uploaded, or mounted from a repository an earlier test pushed the same blobs to.
    let sent = first["uploaded"].as_u64().unwrap() + first["mounted"].as_u64().unwrap();
    assert!(sent >= 2, "{first:#}");
    assert_eq!(
        first["manifest"], packed["manifest"]["digest"],
        "{packed:#}"
    );

    // A second push uploads nothing: every blob is already there.
    let second = push(&layout, &target, envs);
    assert_eq!(second["uploaded"], 0, "{second:#}");
    assert_eq!(second["skipped"], sent, "{second:#}");
    assert_eq!(second["manifest"], first["manifest"]);

    let pulled = work.path().join("pulled");
    let files = work.path().join("files");
    let (code, stdout, stderr) = run(
        &[
            "pull",
            &target,
            "-o",
            pulled.to_str().unwrap(),
            "--unpack",
            files.to_str().unwrap(),
            "--format",
            "json",
        ],
        envs,
    );
    assert_eq!(code, 0, "pull failed: {stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["manifest"], first["manifest"], "{summary:#}");
    let (code, report) = validate(&pulled, &[]);
    assert_eq!(code, 0, "pulled layout does not validate: {report:#}");
    assert_eq!(tree(&files), tree(&tiny_model()));
    // The manifest and every blob came back byte for byte.
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let p = entry.unwrap().path();
        let q = pulled.join("blobs/sha256").join(p.file_name().unwrap());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read(&q).unwrap(),
            "{}",
            p.display()
        );
    }
}

#[test]
fn round_trip_without_auth() {
    let Some(registry) = env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    if !plugins_built() {
        return;
    }
    round_trip(&registry, &[], "anon");
}

fn auth_env() -> Option<(String, String, String)> {
    Some((
        env("MODELPACK_TEST_REGISTRY_AUTH")?,
        env("MODELPACK_TEST_REGISTRY_USER")?,
        env("MODELPACK_TEST_REGISTRY_PASS")?,
    ))
}

#[test]
fn round_trip_with_basic_auth_from_env_and_docker_config() {
    let Some((registry, user, pass)) = auth_env() else {
        return;
    };
    if !plugins_built() {
        return;
    }
    round_trip(
        &registry,
        &[
            ("MODELPACK_REGISTRY_USERNAME", &user),
            ("MODELPACK_REGISTRY_PASSWORD", &pass),
        ],
        "env",
    );
    // The same credentials from a docker config.json `auths` entry.
    let docker = tempfile::tempdir().unwrap();
    let auth = base64_encode(format!("{user}:{pass}").as_bytes());
    std::fs::write(
        docker.path().join("config.json"),
        format!(r#"{{"auths":{{"{registry}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    round_trip(
        &registry,
        &[("DOCKER_CONFIG", docker.path().to_str().unwrap())],
        "docker",
    );
}

pub fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn wrong_or_missing_credentials_are_one_clear_line() {
    let Some((registry, user, _)) = auth_env() else {
        return;
    };
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    pack(&tiny_model(), &layout, &[]);
    let target = format!("{registry}/{}:v1", repo("denied"));
    let secret = "wrong-Pa55word-that-must-not-leak";
    for envs in [
        vec![
            ("MODELPACK_REGISTRY_USERNAME", user.as_str()),
            ("MODELPACK_REGISTRY_PASSWORD", secret),
        ],
        vec![],
    ] {
        let (code, stdout, stderr) = run(&["push", layout.to_str().unwrap(), &target], &envs);
        assert_eq!(code, 2, "{stdout}\n{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("401") || stderr.contains("authentication"),
            "{stderr}"
        );
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{stderr}"
        );
        let out = work.path().join("out");
        let (code, _, stderr) = run(&["pull", &target, "-o", out.to_str().unwrap()], &envs);
        assert_eq!(code, 2, "{stderr}");
        assert!(!stderr.contains(secret), "{stderr}");
        assert!(!out.exists());
    }
}

/// The files under `dir` whose path ends with `suffix`.
fn find(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            find(&p, suffix, out);
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
}

#[test]
fn a_blob_corrupted_in_the_registry_is_caught_on_pull() {
    let Some(registry) = env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    let Some(storage) = env("MODELPACK_TEST_REGISTRY_STORAGE") else {
        return;
    };
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    // Unique content, so the corrupted blob is not shared with another test's artifact.
    let model = work.path().join("model");
    std::fs::create_dir(&model).unwrap();
    for e in std::fs::read_dir(tiny_model()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, model.join(p.file_name().unwrap())).unwrap();
    }
    let nonce = repo("x");
    std::fs::write(model.join("README.md"), format!("# tiny\n\n{nonce}\n")).unwrap();
    let packed = pack(&model, &layout, &[]);
    let target = format!("{registry}/{}:v1", repo("corrupt"));
    push(&layout, &target, &[]);

    // The README's layer (unique to this test, so no other test's pull is affected), in the
    // registry's own storage.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            layout.join("blobs/sha256").join(
                packed["manifest"]["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:"),
            ),
        )
        .unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["annotations"]
                .as_object()
                .is_some_and(|a| a.values().any(|v| v == "README.md"))
        })
        .unwrap_or_else(|| panic!("no README.md layer in {manifest:#}"));
    let hex = layer["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let mut hits = Vec::new();
    find(
        Path::new(&storage),
        &format!("blobs/sha256/{}/{hex}/data", &hex[..2]),
        &mut hits,
    );
    assert_eq!(
        hits.len(),
        1,
        "blob {hex} not found once under {storage}: {hits:?}"
    );
    let mut bytes = std::fs::read(&hits[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&hits[0], &bytes).unwrap();

    let out = work.path().join("pulled");
    let (code, stdout, stderr) = run(&["pull", &target, "-o", out.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains(hex), "{stderr}");
    assert!(stderr.contains("digest"), "{stderr}");
    assert!(!out.exists(), "a failed pull left {}", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".modelpack"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
