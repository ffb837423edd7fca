//! Issue 14 at model scale: one read per byte (`check` of a directory reads headers only,
//! `pack` hashes in its blob pass), `pack --push` straight to a registry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::{modelpack, plugins_built};

/// A ~1.2 TB-apparent, 200-shard safetensors checkpoint of sparse holes (the benchmark's
/// `make_sparse_giant.py`): hashing it would take many minutes, reading its headers does not.
fn sparse_giant(dir: &Path, shards: u32) -> (PathBuf, Value) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/make_sparse_giant.py");
    let out = dir.join("giant");
    let o = Command::new("python3")
        .arg(&script)
        .arg(&out)
        .args(["--shards", &shards.to_string()])
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (out, serde_json::from_slice(&o.stdout).unwrap())
}

#[test]
fn check_of_a_directory_reads_no_weight_bytes() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (giant, made) = sparse_giant(dir.path(), 200);
    let apparent = made["apparent_bytes"].as_u64().unwrap();
    assert!(apparent > 1_000_000_000_000, "{made}");
    let policy = dir.path().join("p.toml");
    // 1 TB limit: the checkpoint is over it, so the policy fails on sizes it got from metadata.
    std::fs::write(
        &policy,
        "[policies.size-limits]\nmax_total_bytes = \"1TB\"\n",
    )
    .unwrap();
    // Hashing 1.2 TB takes far longer than this on any machine; reading 200 headers does not.
    let out = modelpack()
        .args(["check", giant.to_str().unwrap(), "--policy", "size-limits"])
        .args([
            "--policy-config",
            policy.to_str().unwrap(),
            "--format",
            "json",
        ])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "check did not finish with a JSON report ({e}; a timeout means it hashed): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(1), "{r}");
    let findings = r["policies"][0]["findings"].as_array().unwrap();
    let exceeded: Vec<&Value> = findings
        .iter()
        .filter(|f| f["id"] == "size-limit-exceeded")
        .collect();
    assert_eq!(exceeded.len(), 1, "{r}");
    let msg = exceeded[0]["message"].as_str().unwrap();
    // The total is every file's size (the shards' holes included), from metadata alone.
    let total: u64 = std::fs::read_dir(&giant)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        msg.contains(&format!("({total} bytes) exceeds")),
        "{msg} / {total}"
    );
}

/// A model directory the format plugins read: a safetensors file of `weight_bytes` bytes of
/// deterministic noise (one F32 tensor), a config.json and a README.
fn model_dir(dir: &Path, weight_bytes: usize) -> PathBuf {
    let root = dir.join("model");
    std::fs::create_dir_all(&root).unwrap();
    let n = weight_bytes / 4 * 4;
    let mut header = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{}],"data_offsets":[0,{n}]}}}}"#,
        n / 4
    )
    .into_bytes();
    header.resize(header.len().div_ceil(8) * 8, b' ');
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    // Small noise values: finite F32s (exponent bits kept low), so readers accept them.
    bytes.extend((0..n).map(|i| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if i % 4 == 3 { 0x3c } else { x as u8 }
    }));
    std::fs::write(root.join("model.safetensors"), bytes).unwrap();
    std::fs::write(
        root.join("config.json"),
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "float32"}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("README.md"),
        "---\nlicense: mit\n---\n# scale test\n",
    )
    .unwrap();
    root
}

fn unique_repo(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("modelpack-test/scale-{name}-{nanos}")
}

/// Runs modelpack without ambient credentials; (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = modelpack()
        .args(args)
        .env_remove("MODELPACK_REGISTRY_USERNAME")
        .env_remove("MODELPACK_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", "/nonexistent-modelpack-test")
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok_json(args: &[&str]) -> Value {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// Pulls `source` into `out` and returns the manifest digest `pull` reports.
fn pull_digest(source: &str, out: &Path) -> String {
    let v = ok_json(&[
        "pull",
        source,
        "-o",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    v["manifest"].as_str().unwrap().to_string()
}

#[test]
fn pack_push_gives_the_manifest_pack_and_push_give() {
    if !plugins_built() {
        return;
    }
    let Some(registry) = crate::util::env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path(), 3 << 20);
    let m = model.to_str().unwrap();
    for format in ["raw", "tar+gzip"] {
        let direct = format!("{registry}/{}:v1", unique_repo("direct"));
        let pushed = ok_json(&[
            "pack",
            m,
            "--push",
            &direct,
            "--layer-format",
            format,
            "--format",
            "json",
        ]);
        let layout = dir.path().join(format!("layout-{format}"));
        let packed = ok_json(&[
            "pack",
            m,
            "-o",
            layout.to_str().unwrap(),
            "--layer-format",
            format,
            "--format",
            "json",
        ]);
        assert_eq!(
            pushed["manifest"], packed["manifest"],
            "{format}: {pushed} / {packed}"
        );
        assert_eq!(pushed["config"], packed["config"], "{format}");
        assert_eq!(pushed["layers"], packed["layers"], "{format}");
        // What the registry holds is that artifact: the pull verifies every blob's digest.
        let out = dir.path().join(format!("pulled-{format}"));
        let digest = pull_digest(&direct, &out);
        assert_eq!(digest, packed["manifest"]["digest"].as_str().unwrap());
        let (code, _, stderr) = run(&["validate", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{stderr}");
        // And pack + push of the layout names the same manifest.
        let other = format!("{registry}/{}:v1", unique_repo("two-step"));
        let (code, _, stderr) = run(&["push", layout.to_str().unwrap(), &other]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            pull_digest(&other, &dir.path().join(format!("p2-{format}"))),
            digest
        );
    }
    // Nothing was written beside the model: no layout, no staging directory.
    let entries: Vec<String> = std::fs::read_dir(&model)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 3, "{entries:?}");
}

#[test]
fn pack_push_survives_size_limits_and_5xx_and_never_tags_a_failure() {
    if !plugins_built() {
        return;
    }
    let Some(registry) = crate::util::env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path(), 3 << 20);
    let m = model.to_str().unwrap();
    let layout = dir.path().join("layout");
    let packed = ok_json(&[
        "pack",
        m,
        "-o",
        layout.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let want = packed["manifest"]["digest"].as_str().unwrap();
    let weight = packed["layers"][0]["size"].as_u64().unwrap() as usize;
    let proxy = crate::transfers::Proxy::start(&registry);

    // A registry that refuses bodies over 1 MiB: the streamed PATCH is refused, then chunks
    // halve until they fit; every byte still arrives once per accepted chunk.
    proxy.faults().max_body = Some(1 << 20);
    let target = format!("{}/{}:v1", proxy.addr, unique_repo("limit"));
    let v = ok_json(&["pack", m, "--push", &target, "--format", "json"]);
    assert_eq!(v["manifest"]["digest"], want);
    let c = proxy.take_counters();
    assert!(c.injected.get(&413).copied().unwrap_or(0) >= 1, "{c:?}");
    assert!(c.upload_body_bytes >= weight, "{c:?}");
    proxy.faults().max_body = None;
    assert_eq!(pull_digest(&target, &dir.path().join("p-limit")), want);

    // Bursts of 503 on blob requests are retried.
    proxy.faults().fail_blob_requests = 2;
    let target = format!("{}/{}:v1", proxy.addr, unique_repo("burst"));
    let v = ok_json(&["pack", m, "--push", &target, "--format", "json"]);
    assert_eq!(v["manifest"]["digest"], want);
    assert_eq!(proxy.take_counters().injected.get(&503), Some(&2));

    // A registry that takes no PATCH at all (answers 201 without a digest): the upload is
    // refused with one line, and the tag never appears.
    // (A copy of the model: the files pushed above are known to the registry by now, and
    // would be mounted instead of uploaded.)
    proxy.faults().patch_201 = true;
    let copy = model_dir(&dir.path().join("copy"), 3 << 20);
    let repo = unique_repo("refused");
    let target = format!("{}/{repo}:v1", proxy.addr);
    let (code, stdout, stderr) = run(&["pack", copy.to_str().unwrap(), "--push", &target]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("refused the upload"), "{stderr}");
    assert_eq!(
        stderr
            .trim()
            .lines()
            .filter(|l| l.starts_with("error"))
            .count(),
        1,
        "{stderr}"
    );
    let c = proxy.take_counters();
    assert!(
        !c.requests
            .iter()
            .any(|r| r.starts_with("PUT") && r.contains("/manifests/")),
        "{c:?}"
    );
    proxy.faults().patch_201 = false;
    let (code, _, stderr) = run(&[
        "pull",
        &format!("{registry}/{repo}:v1"),
        "-o",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no such"), "{stderr}");
}

/// A safetensors file of `apparent` bytes whose data region is a sparse hole.
fn sparse_model(dir: &Path, apparent: u64) -> PathBuf {
    let root = dir.join("sparse-model");
    std::fs::create_dir_all(&root).unwrap();
    // Rows of 4096 BF16 values (8 KiB each).
    let rows = apparent / 8192;
    let data = rows * 8192;
    let mut header = format!(
        r#"{{"__metadata__":{{"format":"pt"}},"embed.weight":{{"dtype":"BF16","shape":[{rows},4096],"data_offsets":[0,{data}]}}}}"#
    )
    .into_bytes();
    header.resize(header.len().div_ceil(8) * 8, b' ');
    let f = std::fs::File::create(root.join("model.safetensors")).unwrap();
    use std::io::Write;
    let mut w = &f;
    w.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    w.write_all(&header).unwrap();
    f.set_len(8 + header.len() as u64 + data).unwrap();
    std::fs::write(
        root.join("config.json"),
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "bfloat16"}"#,
    )
    .unwrap();
    root
}

#[test]
fn remote_inspect_reads_headers_only_and_agrees_with_local() {
    if !plugins_built() {
        return;
    }
    let Some(registry) = crate::util::env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB apparent: reading it whole would move 64x the bound asserted below.
    let model = sparse_model(dir.path(), 64 << 20);
    let layout = dir.path().join("layout");
    ok_json(&[
        "pack",
        model.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let repo = unique_repo("remote-inspect");
    let (code, _, stderr) = run(&[
        "push",
        layout.to_str().unwrap(),
        &format!("{registry}/{repo}:v1"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let local = ok_json(&[
        "inspect",
        &format!("{}:latest", layout.display()),
        "--format",
        "json",
    ]);

    let proxy = crate::transfers::Proxy::start(&registry);
    let reference = format!("{}/{repo}:v1", proxy.addr);
    let remote = ok_json(&["inspect", &reference, "--format", "json"]);
    let c = proxy.take_counters();
    let fetched: usize = c.blob_get_bytes.values().sum();
    assert!(
        fetched < 1_000_000,
        "{fetched} bytes of blobs fetched: {c:?}"
    );
    let (l, r) = (&local["artifacts"][0], &remote["artifacts"][0]);
    assert_eq!(r["layout"], reference.as_str());
    assert_eq!(r["tags"], serde_json::json!(["v1"]));
    for key in ["manifest", "config", "layers", "totalSize", "weights"] {
        assert_eq!(l[key], r[key], "{key}");
    }
    let weights = r["weights"].as_array().unwrap();
    assert_eq!(weights.len(), 1, "{r}");
    assert_eq!(weights[0]["status"], "ok", "{r}");
    assert!(r["totalSize"].as_u64().unwrap() > 64_000_000, "{r}");

    // check reads the same way: the policies see what they see in the layout.
    let local_check = ok_json(&[
        "check",
        &format!("{}:latest", layout.display()),
        "--policy",
        "size-limits",
        "--format",
        "json",
    ]);
    let remote_check = ok_json(&[
        "check",
        &reference,
        "--policy",
        "size-limits",
        "--format",
        "json",
    ]);
    assert_eq!(local_check["policies"], remote_check["policies"]);
    assert_eq!(remote_check["target"], reference.as_str());
    let fetched: usize = proxy.take_counters().blob_get_bytes.values().sum();
    assert!(
        fetched < 1_000_000,
        "check fetched {fetched} bytes of blobs"
    );

    // A tag that is not there: one line, exit 2.
    let (code, _, stderr) = run(&["inspect", &format!("{registry}/{repo}:nope")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no such tag"), "{stderr}");
}

#[test]
fn partial_pull_is_partial_not_corrupt() {
    if !plugins_built() {
        return;
    }
    let Some(registry) = crate::util::env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path(), 1 << 20);
    let target = format!("{registry}/{}:v1", unique_repo("partial"));
    let pushed = ok_json(&[
        "pack",
        model.to_str().unwrap(),
        "--push",
        &target,
        "--format",
        "json",
    ]);
    let weight = pushed["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();

    let out = dir.path().join("partial");
    let v = ok_json(&[
        "pull",
        &target,
        "-o",
        out.to_str().unwrap(),
        "--kind",
        "weight.config",
        "--include",
        "README*",
        "--format",
        "json",
    ]);
    assert_eq!(
        v["notPulled"],
        serde_json::json!(["model.safetensors"]),
        "{v}"
    );
    assert_eq!(v["manifest"], pushed["manifest"]["digest"]);
    assert!(!out.join("blobs/sha256").join(&weight).exists());

    // validate: valid, with a warning naming the layer not pulled (exit 0).
    let (code, stdout, stderr) = run(&["validate", out.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let kw: Vec<&str> = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["keyword"].as_str().unwrap())
        .collect();
    assert_eq!(kw, ["layer-not-pulled"], "{r}");

    // unpack: what is there, and a note on what is not.
    let files = dir.path().join("files");
    let (code, stdout, stderr) = run(&[
        "unpack",
        out.to_str().unwrap(),
        "-o",
        files.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("not unpacked (model.safetensors)"),
        "{stderr}"
    );
    let u: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(u["files"], 2, "{u}");
    assert_eq!(
        std::fs::read(files.join("config.json")).unwrap(),
        std::fs::read(model.join("config.json")).unwrap()
    );
    assert!(files.join("README.md").is_file() && !files.join("model.safetensors").exists());

    // The same blob missing from a full pull is corruption: exit 1, blob-missing.
    let full = dir.path().join("full");
    ok_json(&[
        "pull",
        &target,
        "-o",
        full.to_str().unwrap(),
        "--format",
        "json",
    ]);
    std::fs::remove_file(full.join("blobs/sha256").join(&weight)).unwrap();
    let (code, stdout, _) = run(&["validate", full.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("\"blob-missing\""), "{stdout}");

    // A kind that does not exist is a usage error before anything is fetched.
    let (code, _, stderr) = run(&[
        "pull",
        &target,
        "-o",
        dir.path().join("x").to_str().unwrap(),
        "--kind",
        "weights",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a layer kind"), "{stderr}");
}

#[test]
fn a_mount_on_a_token_registry_asks_for_pull_on_the_source_repository() {
    use crate::hostile_registries::{Fake, Reply};
    if !plugins_built() {
        return;
    }
    // A registry behind a token service that mounts only for a token granting pull on the
    // source repository, as distribution does (it opens an upload otherwise).
    let registry = Fake::start(|req, addr| {
        let bearer = req.header("authorization").unwrap_or("");
        if req.path == "/v2/" {
            Reply::Full(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!(r#"Bearer realm="http://{addr}/token",service="fake""#),
                )],
                Vec::new(),
            )
        } else if req.path.starts_with("/token") {
            let src = req.path.contains("scope=repository%3Amodels%2Fsrc%3Apull");
            Reply::json(
                200,
                &format!(r#"{{"token":"tok-{}"}}"#, if src { "src" } else { "own" }),
            )
        } else if req.method == "HEAD" {
            Reply::Full(404, Vec::new(), Vec::new())
        } else if req.method == "POST" && req.path.contains("mount=") {
            if bearer == "Bearer tok-src" {
                Reply::Full(
                    201,
                    vec![("Location".into(), "/v2/models/dst/blobs/x".into())],
                    Vec::new(),
                )
            } else {
                Reply::Full(
                    202,
                    vec![("Location".into(), "/v2/models/dst/blobs/uploads/u".into())],
                    Vec::new(),
                )
            }
        } else if req.method == "PUT" && req.path.contains("/manifests/") {
            Reply::Full(
                201,
                vec![("Location".into(), "/v2/models/dst/manifests/v1".into())],
                Vec::new(),
            )
        } else {
            Reply::json(
                500,
                r#"{"errors":[{"code":"UNSUPPORTED","message":"not in this test"}]}"#,
            )
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path(), 4096);
    let layout = dir.path().join("layout");
    ok_json(&[
        "pack",
        model.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
        "--format",
        "json",
    ]);
    // This machine saw every blob in models/src of that registry (the blob-location cache).
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let mut seen = serde_json::Map::new();
    for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let hex = e.unwrap().file_name().to_string_lossy().into_owned();
        seen.insert(
            format!("sha256:{hex}"),
            serde_json::json!([[registry.addr, "models/src"]]),
        );
    }
    std::fs::write(
        cache.join("blob-locations.json"),
        Value::Object(seen).to_string(),
    )
    .unwrap();
    let out = modelpack()
        .args([
            "push",
            layout.to_str().unwrap(),
            &format!("{}/models/dst:v1", registry.addr),
            "--format",
            "json",
        ])
        .env("MODELPACK_CACHE_DIR", &cache)
        .env("DOCKER_CONFIG", "/nonexistent-modelpack-test")
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["uploaded"], 0, "{v}");
    assert_eq!(v["bytesUploaded"], 0, "{v}");
    assert!(v["mounted"].as_u64().unwrap() >= 3, "{v}");
    let mounts: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("mount="))
        .collect();
    assert!(
        mounts
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer tok-src")),
        "{mounts:?}"
    );
}

#[test]
fn an_interrupted_pack_push_leaves_no_tag() {
    use crate::hostile_registries::{Fake, Reply};
    use std::os::unix::process::ExitStatusExt;
    if !plugins_built() {
        return;
    }
    // A registry that takes the upload sessions but never answers their bytes.
    let registry = Fake::start(|req, _| {
        if req.path == "/v2/" {
            Reply::Full(200, Vec::new(), Vec::new())
        } else if req.method == "POST" && req.path.contains("/blobs/uploads/") {
            Reply::Full(
                202,
                vec![("Location".into(), "/v2/models/x/blobs/uploads/u".into())],
                Vec::new(),
            )
        } else if req.method == "PATCH" {
            Reply::Silent
        } else {
            Reply::json(500, r#"{"errors":[{"code":"UNSUPPORTED","message":"no"}]}"#)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path(), 1 << 20);
    let config = tempfile::tempdir().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("modelpack"))
        .args(["pack", model.to_str().unwrap(), "--push"])
        .arg(format!("{}/models/x:v1", registry.addr))
        .env("MODELPACK_CACHE_DIR", crate::util::shared_cache())
        .env("XDG_CONFIG_HOME", config.path())
        .env("DOCKER_CONFIG", "/nonexistent-modelpack-test")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !registry.requests().iter().any(|r| r.method == "PATCH") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no upload began: {:?}",
            registry.requests()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(2), "{status:?}");
    let reqs = registry.requests();
    assert!(
        !reqs.iter().any(|r| r.path.contains("/manifests/")),
        "the tag must not appear: {:?}",
        reqs.iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    // Nothing written beside the model either.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
