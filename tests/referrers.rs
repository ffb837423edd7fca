//! Referrers: a signed layout pushed to the CI registry (distribution 2.8, no referrers API:
//! the `sha256-<hex>` tag-schema fallback), listed, pulled back with `--verify` (right key,
//! other key, unsigned: nothing left on failure); and the referrers API path against a fake
//! registry that implements it (no fallback tag written or read).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};
use sha2::Digest as _;

use crate::hostile_registries::{Fake, Reply};
use crate::pack::{pack, validate};
use crate::util::{keypair, modelpack, plugins_built};

const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Runs modelpack without registry credentials or docker config; (code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = modelpack()
        .args(args)
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

fn json_of(code: i32, stdout: &str, stderr: &str) -> Value {
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn tiny_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model")
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("modelpack-test/{name}-{nanos}")
}

/// A packed and signed tiny model: (layout, manifest digest, referrer digest).
fn signed_layout(dir: &Path, private: &Path) -> (PathBuf, String, String) {
    let layout = dir.join("layout");
    pack(&tiny_model(), &layout, &[]);
    let signed = json_of_run(&[
        "sign",
        layout.to_str().unwrap(),
        "--key",
        private.to_str().unwrap(),
        "--format",
        "json",
    ]);
    (
        layout,
        signed["manifest"].as_str().unwrap().to_string(),
        signed["referrer"].as_str().unwrap().to_string(),
    )
}

fn json_of_run(args: &[&str]) -> Value {
    let (code, stdout, stderr) = run(args);
    json_of(code, &stdout, &stderr)
}

/// Entries of a directory whose name starts with `.modelpack-` (staging left behind).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".modelpack-"))
        .collect()
}

/// Push carries the signature along (tag-schema on distribution 2.8); `referrers` lists it;
/// pull brings it back and `--verify` passes with the signer's key, refuses another key and
/// an unsigned artifact, leaving nothing behind.
#[test]
fn signed_artifact_round_trips_through_the_tag_schema_and_pull_verifies() {
    let Some(registry) = crate::util::env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    if !plugins_built() || !crate::signature_policy::have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "signer");
    let (_, other) = keypair(tmp.path(), "other");
    let (layout, manifest, referrer) = signed_layout(tmp.path(), &private);
    let target = format!("{registry}/{}:v1", unique("signed"));

    let pushed = json_of_run(&[
        "push",
        layout.to_str().unwrap(),
        &target,
        "--format",
        "json",
    ]);
    assert_eq!(pushed["manifest"], manifest.as_str());
    assert_eq!(pushed["referrersVia"], "tag-schema", "{pushed:#}");
    assert_eq!(pushed["referrers"][0]["digest"], referrer.as_str());

    // The fallback tag holds an index listing the signature.
    let listed = json_of_run(&["referrers", &target, "--format", "json"]);
    assert_eq!(listed["subject"], manifest.as_str());
    assert_eq!(listed["via"], "tag-schema");
    let list = listed["referrers"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{listed:#}");
    assert_eq!(list[0]["digest"], referrer.as_str());
    assert_eq!(list[0]["artifactType"], BUNDLE_TYPE);
    // Filtered by artifact type, and by digest reference.
    let by_digest = format!("{}@{manifest}", target.rsplit_once(':').unwrap().0);
    let none = json_of_run(&[
        "referrers",
        &by_digest,
        "--artifact-type",
        "application/spdx+json",
        "--format",
        "json",
    ]);
    assert_eq!(none["referrers"], json!([]), "{none:#}");
    // A second push adds no duplicate to the fallback index.
    json_of_run(&[
        "push",
        layout.to_str().unwrap(),
        &target,
        "--format",
        "json",
    ]);
    let again = json_of_run(&["referrers", &target, "--format", "json"]);
    assert_eq!(again["referrers"].as_array().unwrap().len(), 1, "{again:#}");

    // Pulled with the right key: the layout holds the signature and verifies offline.
    let out = tmp.path().join("pulls");
    std::fs::create_dir(&out).unwrap();
    let good = out.join("good");
    let pulled = json_of_run(&[
        "pull",
        &target,
        "-o",
        good.to_str().unwrap(),
        "--verify",
        public.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        pulled["verified"]["referrer"],
        referrer.as_str(),
        "{pulled:#}"
    );
    assert_eq!(pulled["verified"]["blobs"], 7);
    let (code, report) = validate(&good, &[]);
    assert_eq!(code, 0, "{report:#}");
    let (code, _, err) = run(&[
        "verify",
        good.to_str().unwrap(),
        "--public-key",
        public.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let local = json_of_run(&["referrers", good.to_str().unwrap(), "--format", "json"]);
    assert_eq!(local["via"], "layout");
    assert_eq!(local["referrers"][0]["digest"], referrer.as_str());

    // Another key: refused, nothing written.
    let bad = out.join("bad");
    let (code, _, err) = run(&[
        "pull",
        &target,
        "-o",
        bad.to_str().unwrap(),
        "--verify",
        other.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("signed by another key"), "{err}");
    assert!(
        !err.contains(".modelpack-"),
        "staging path in the message: {err}"
    );
    assert!(!bad.exists());
    assert_eq!(leftovers(&out), Vec::<String>::new());

    // Pushed without its referrers: an unsigned artifact, refused.
    let plain = format!("{registry}/{}:v1", unique("unsigned"));
    let pushed = json_of_run(&[
        "push",
        layout.to_str().unwrap(),
        &plain,
        "--no-referrers",
        "--format",
        "json",
    ]);
    assert_eq!(pushed["referrers"], json!([]));
    let listed = json_of_run(&["referrers", &plain, "--format", "json"]);
    assert_eq!(listed["referrers"], json!([]), "{listed:#}");
    let unsigned = out.join("unsigned");
    let (code, _, err) = run(&[
        "pull",
        &plain,
        "-o",
        unsigned.to_str().unwrap(),
        "--verify",
        public.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has no signature"), "{err}");
    assert!(!unsigned.exists());
    assert_eq!(leftovers(&out), Vec::<String>::new());

    // Pulled into an existing layout: the referrer is listed there too.
    let existing = tmp.path().join("existing");
    pack(&tiny_model(), &existing, &["--tag", "local"]);
    json_of_run(&[
        "pull",
        &target,
        "-o",
        existing.to_str().unwrap(),
        "--verify",
        public.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let (code, _, err) = run(&[
        "verify",
        &format!("{}:v1", existing.display()),
        "--public-key",
        public.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A registry with the referrers API: blobs and manifests in memory; a manifest with a
/// `subject` is answered with `OCI-Subject`, and `GET …/referrers/<digest>` lists them.
fn api_registry() -> Fake {
    let blobs: Mutex<HashMap<String, Vec<u8>>> = Mutex::new(HashMap::new());
    let manifests: Mutex<HashMap<String, (String, Vec<u8>)>> = Mutex::new(HashMap::new());
    Fake::start(move |req, _| {
        let path = req.path.split('?').next().unwrap_or("");
        let query = req.path.split_once('?').map_or("", |(_, q)| q);
        if path == "/v2/" {
            return Reply::json(200, "{}");
        }
        if let Some((_, d)) = path.split_once("/blobs/uploads/") {
            if req.method == "POST" {
                return Reply::Full(
                    202,
                    vec![("Location".into(), format!("{}u1", path))],
                    Vec::new(),
                );
            }
            if req.method == "PUT" && !d.is_empty() {
                let digest = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("digest="))
                    .unwrap_or("")
                    .replace("%3A", ":");
                if sha256(&req.body) != digest {
                    return Reply::json(400, r#"{"errors":[{"code":"DIGEST_INVALID"}]}"#);
                }
                blobs.lock().unwrap().insert(digest, req.body.clone());
                return Reply::Full(201, Vec::new(), Vec::new());
            }
        }
        if let Some((_, d)) = path.split_once("/blobs/") {
            return match blobs.lock().unwrap().get(d) {
                Some(b) => Reply::Full(200, Vec::new(), b.clone()),
                None => Reply::json(404, r#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#),
            };
        }
        if let Some((_, r)) = path.split_once("/manifests/") {
            let mut m = manifests.lock().unwrap();
            if req.method == "PUT" {
                let digest = sha256(&req.body);
                let ct = req.header("content-type").unwrap_or("").to_string();
                m.insert(r.to_string(), (ct.clone(), req.body.clone()));
                m.insert(digest.clone(), (ct, req.body.clone()));
                let v: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                let mut headers = vec![("Docker-Content-Digest".into(), digest)];
                if let Some(s) = v.pointer("/subject/digest").and_then(Value::as_str) {
                    headers.push(("OCI-Subject".into(), s.to_string()));
                }
                return Reply::Full(201, headers, Vec::new());
            }
            return match m.get(r) {
                Some((ct, b)) => Reply::Full(
                    200,
                    vec![
                        ("Content-Type".into(), ct.clone()),
                        ("Docker-Content-Digest".into(), sha256(b)),
                    ],
                    b.clone(),
                ),
                None => Reply::json(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#),
            };
        }
        if let Some((_, subject)) = path.split_once("/referrers/") {
            let m = manifests.lock().unwrap();
            let mut seen = std::collections::BTreeMap::new();
            for (ct, b) in m.values() {
                let v: Value = serde_json::from_slice(b).unwrap_or(Value::Null);
                if v.pointer("/subject/digest").and_then(Value::as_str) == Some(subject) {
                    seen.insert(
                        sha256(b),
                        json!({"mediaType": ct, "digest": sha256(b), "size": b.len(),
                               "artifactType": v["artifactType"]}),
                    );
                }
            }
            let index = json!({"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": seen.into_values().collect::<Vec<_>>()});
            return Reply::Full(
                200,
                vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.index.v1+json".into(),
                )],
                serde_json::to_vec(&index).unwrap(),
            );
        }
        Reply::json(404, "{}")
    })
}

/// Against a registry with the referrers API: push relies on it (no fallback tag is written),
/// `referrers` and `pull --verify` read it.
#[test]
fn the_referrers_api_is_used_when_the_registry_has_it() {
    if !plugins_built() || !crate::signature_policy::have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "signer");
    let (layout, manifest, referrer) = signed_layout(tmp.path(), &private);
    let fake = api_registry();
    let target = format!("{}/models/tiny:v1", fake.addr);

    let pushed = json_of_run(&[
        "push",
        layout.to_str().unwrap(),
        &target,
        "--format",
        "json",
    ]);
    assert_eq!(pushed["referrersVia"], "referrers-api", "{pushed:#}");
    let fallback = format!("sha256-{}", manifest.trim_start_matches("sha256:"));
    let touched_fallback =
        |reqs: &[crate::hostile_registries::Req]| reqs.iter().any(|r| r.path.contains(&fallback));
    assert!(!touched_fallback(&fake.requests()), "{:?}", fake.requests());

    let listed = json_of_run(&[
        "referrers",
        &target,
        "--artifact-type",
        BUNDLE_TYPE,
        "--format",
        "json",
    ]);
    assert_eq!(listed["via"], "referrers-api", "{listed:#}");
    assert_eq!(listed["referrers"][0]["digest"], referrer.as_str());
    // The filter went to the registry as the spec spells it.
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path.contains("/referrers/")
                && r.path
                    .contains("artifactType=application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson")),
        "{:?}",
        fake.requests().iter().map(|r| &r.path).collect::<Vec<_>>()
    );

    let pulled_dir = tmp.path().join("pulled");
    let pulled = json_of_run(&[
        "pull",
        &target,
        "-o",
        pulled_dir.to_str().unwrap(),
        "--verify",
        public.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(pulled["referrersVia"], "referrers-api");
    assert_eq!(pulled["verified"]["referrer"], referrer.as_str());
    assert!(!touched_fallback(&fake.requests()));
}
