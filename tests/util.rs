//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The shared fixtures directory (`../shared/fixtures` beside the repository).
pub fn fixtures() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    assert!(
        p.join("MANIFEST.tsv").exists(),
        "shared fixtures not found at {}: clone the repository with ../shared beside it",
        p.display()
    );
    p.canonicalize().unwrap()
}

/// A compiled-code cache shared by all tests, so each plugin is compiled once per build.
pub fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugin-cache")
}

/// An empty directory standing in for the user's config dir (no stray user plugins).
fn empty_config() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// The `modelpack` binary with an isolated environment.
pub fn modelpack() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("modelpack").unwrap();
    cmd.env("MODELPACK_CACHE_DIR", shared_cache())
        .env("XDG_CONFIG_HOME", empty_config())
        .env_remove("MODELPACK_PLUGIN_PATH")
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

/// Whether the wasm plugins were built. Under CI the build fails instead of getting here.
pub fn plugins_built() -> bool {
    if !plugin_artifacts::AVAILABLE {
        eprintln!("skipping: plugins not built (rustup target add wasm32-wasip2)");
    }
    plugin_artifacts::AVAILABLE
}

/// Path of a test-only plugin component.
pub fn test_plugin(name: &str) -> PathBuf {
    let (_, path) = plugin_artifacts::TEST_PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("test plugin {name} not built"));
    PathBuf::from(path)
}

/// Runs modelpack and parses its stdout as JSON; returns (exit code, json, stderr).
pub fn run_json(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = modelpack().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}\nstderr: {stderr}"));
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// A variable the CI environment provides (a test registry's address, its credentials).
/// Unset outside CI the test skips with a line saying how to provide it; under `CI=true` a
/// missing variable fails the test, so a skipped test can never pass for a green CI.
pub fn env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{name} is not set: CI must provide it (see .ci/run)");
            }
            eprintln!("skipping: {name} is not set (start a registry as .ci/run does)");
            None
        }
    }
}

/// Copies `templates/<template>` out of the tree into `work/<template>` as a vendor would,
/// points its SDK dependency at this checkout's `plugins/sdk`, builds it for wasm32-wasip2 and
/// returns `(crate dir, path of <artifact>.wasm)`. The plugins' compiled dependencies are
/// reused (plugins/target/template-test) to keep this fast.
pub fn build_template(
    template: &str,
    artifact: &str,
    work: &std::path::Path,
) -> (PathBuf, PathBuf) {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    let crate_dir = work.join(template);
    copy_tree(&repo.join("templates").join(template), &crate_dir);
    let manifest = crate_dir.join("Cargo.toml");
    let sdk = repo.join("plugins/sdk");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "path = \"../../plugins/sdk\"",
        &format!("path = {:?}", sdk.display().to_string()),
    );
    assert!(
        text.contains(&sdk.display().to_string()),
        "{template} no longer depends on the SDK by path"
    );
    std::fs::write(&manifest, text).unwrap();
    let target = repo.join("plugins/target/template-test");
    let out =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(&crate_dir)
            .args(["build", "--target", "wasm32-wasip2", "--release"])
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .unwrap();
    assert!(
        out.status.success(),
        "{template} build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = target.join(format!("wasm32-wasip2/release/{artifact}.wasm"));
    assert!(wasm.exists(), "{} missing", wasm.display());
    (crate_dir, wasm)
}

/// Copies a directory tree, leaving out `target` folders.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            if e.file_name() != "target" {
                copy_tree(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A P-256 key pair made by openssl: (private SEC1 PEM, public SPKI PEM).
pub fn keypair(dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ])
        .arg(&private)
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl ecparam failed");
    let ok = std::process::Command::new("openssl")
        .args(["ec", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl ec -pubout failed");
    (private, public)
}
