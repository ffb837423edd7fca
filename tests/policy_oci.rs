//! Policies from a registry: `plugins push` publishes a policy component (signed with
//! `--key`), `check --policy oci://…` fetches, verifies (digest always, signature with
//! `--policy-key`), caches and runs it; a tampered blob in the registry's storage is refused
//! before any of its code runs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::keypair;
use crate::util::{modelpack, plugins_built, test_plugin};

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("modelpack-test/{name}-{nanos}")
}

/// Runs modelpack with its cache in `cache`; (code, stdout, stderr).
fn run(args: &[&str], cache: &Path) -> (i32, String, String) {
    let out = modelpack()
        .args(args)
        .env("MODELPACK_CACHE_DIR", cache)
        .env_remove("MODELPACK_REGISTRY_USERNAME")
        .env_remove("MODELPACK_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", "/nonexistent-modelpack-test")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The evil-policy component with a custom section appended (still a valid component), so
/// its blob is this test's alone and corrupting it in the registry touches nothing else.
fn unique_policy(dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(test_plugin("evil-policy")).unwrap();
    let payload = unique("n").into_bytes();
    let name = b"modelpack-test-nonce";
    let size = 1 + name.len() + payload.len();
    assert!(size < 128, "one-byte LEB128");
    bytes.extend_from_slice(&[0, size as u8, name.len() as u8]);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    let path = dir.join("evil-policy.wasm");
    std::fs::write(&path, bytes).unwrap();
    path
}

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

fn cached(cache: &Path) -> Vec<String> {
    let dir = cache.join("plugins/sha256");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_policy_published_to_a_registry_runs_from_oci_and_a_tampered_one_is_refused() {
    let Some(registry) = crate::util::env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    let Some(storage) = crate::util::env("MODELPACK_TEST_REGISTRY_STORAGE") else {
        return;
    };
    if !plugins_built() || !crate::signature_policy::have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "publisher");
    let (_, other) = keypair(tmp.path(), "other");
    let wasm = unique_policy(tmp.path());
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    let model = model.to_str().unwrap();
    let cache = tmp.path().join("cache");
    let repo = format!("{registry}/{}", unique("policy"));
    let target = format!("{repo}:1.0");

    let (code, stdout, err) = run(
        &[
            "plugins",
            "push",
            wasm.to_str().unwrap(),
            &target,
            "--key",
            private.to_str().unwrap(),
            "--format",
            "json",
        ],
        &cache,
    );
    assert_eq!(code, 0, "{err}");
    let published: Value = serde_json::from_str(&stdout).unwrap();
    let component = published["component"].as_str().unwrap().to_string();
    let hex = component.trim_start_matches("sha256:").to_string();
    assert!(published["signature"].is_string(), "{published:#}");

    // Runs from the registry, signature checked, like a local plugin.
    let oci = format!("oci://{target}");
    let key = public.to_str().unwrap();
    let check = |policy: &str, extra: &[&str], cache: &Path| {
        let mut args = vec!["check", model, "--policy", policy, "--format", "json"];
        args.extend_from_slice(extra);
        run(&args, cache)
    };
    let (code, stdout, err) = check(&oci, &["--policy-key", key], &cache);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["policies"][0]["name"], "evil-policy", "{report:#}");
    assert_eq!(report["policies"][0]["findings"][0]["id"], "evil-warning");
    // Cached by content, exactly the published component; no work directory left.
    assert_eq!(cached(&cache), [format!("{hex}.wasm")]);
    assert_eq!(
        std::fs::read(cache.join("plugins/sha256").join(format!("{hex}.wasm"))).unwrap(),
        std::fs::read(&wasm).unwrap()
    );
    // By digest, without a key.
    let by_digest = format!("oci://{repo}@{}", published["manifest"].as_str().unwrap());
    let (code, stdout, err) = check(&by_digest, &[], &cache);
    assert_eq!(code, 0, "{stdout}\n{err}");

    // Another key: refused before it runs.
    let (code, stdout, err) = check(&oci, &["--policy-key", other.to_str().unwrap()], &cache);
    assert_eq!(code, 2, "{stdout}\n{err}");
    assert!(err.contains("signed by another key"), "{err}");
    assert!(!stdout.contains("evil-warning"), "{stdout}");

    // Unsigned (published without --key) with a key required: refused.
    let unsigned = format!("{registry}/{}:1.0", unique("unsigned-policy"));
    let (code, _, err) = run(
        &["plugins", "push", wasm.to_str().unwrap(), &unsigned],
        &cache,
    );
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = check(
        &format!("oci://{unsigned}"),
        &["--policy-key", key],
        &tmp.path().join("cache-unsigned"),
    );
    assert_eq!(code, 2, "{stdout}\n{err}");
    assert!(err.contains("has no signature"), "{err}");
    assert_eq!(
        cached(&tmp.path().join("cache-unsigned")),
        Vec::<String>::new()
    );

    // Not a component: refused at publishing.
    let core = tmp.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let (code, _, err) = run(
        &["plugins", "push", core.to_str().unwrap(), &target],
        &cache,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a component"), "{err}");

    // One flipped byte in the component's blob in the registry's storage: the download fails
    // its digest, nothing is cached, the policy never runs.
    let mut hits = Vec::new();
    find(
        Path::new(&storage),
        &format!("blobs/sha256/{}/{hex}/data", &hex[..2]),
        &mut hits,
    );
    assert_eq!(hits.len(), 1, "{hits:?}");
    let mut bytes = std::fs::read(&hits[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&hits[0], &bytes).unwrap();
    let fresh = tmp.path().join("cache-fresh");
    let (code, stdout, err) = check(&oci, &[], &fresh);
    assert_eq!(code, 2, "{stdout}\n{err}");
    assert!(err.contains(&hex) && err.contains("digest"), "{err}");
    assert!(!stdout.contains("evil-warning"), "{stdout}");
    assert_eq!(cached(&fresh), Vec::<String>::new());
}
