//! Issue 14: a second `pack --push` of the same files to another repository sends no blob
//! bytes (digests remembered per file, then HEAD and cross-repository mounts), counted at a
//! proxy in front of the CI registry; a file changed since is read and sent again, and what
//! the registry holds always matches the files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::transfers::Proxy;
use crate::util::{modelpack, plugins_built, shared_cache};

/// A model directory: one 2 MiB safetensors weight of noise, a config.json and a README.
fn model(dir: &Path, seed: u64) -> PathBuf {
    let root = dir.join("model");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("model.safetensors"), weight(seed)).unwrap();
    std::fs::write(
        root.join("config.json"),
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "float32"}"#,
    )
    .unwrap();
    std::fs::write(root.join("README.md"), "---\nlicense: mit\n---\n# again\n").unwrap();
    root
}

/// A safetensors file of 2 MiB of F32 noise from `seed` (always the same size).
fn weight(seed: u64) -> Vec<u8> {
    let n = 2usize << 20;
    let mut header = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{}],"data_offsets":[0,{n}]}}}}"#,
        n / 4
    )
    .into_bytes();
    header.resize(header.len().div_ceil(8) * 8, b' ');
    let mut x = 0x9e37_79b9_7f4a_7c15 ^ seed;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    bytes.extend((0..n).map(|i| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Finite F32s: the top byte keeps the exponent low.
        if i % 4 == 3 { 0x3c } else { x as u8 }
    }));
    bytes
}

fn repo(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("modelpack-test/again-{name}-{nanos}")
}

/// A cache directory of this test's own (its transfer state is private: no other test's push
/// can mount for it or forget its entries), seeded with the shared compiled plugins.
fn private_cache(dir: &Path) -> PathBuf {
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    for e in std::fs::read_dir(shared_cache()).into_iter().flatten() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "cwasm") {
            std::fs::copy(&p, cache.join(p.file_name().unwrap())).unwrap();
        }
    }
    cache
}

fn pack_push(cache: &Path, model: &Path, target: &str) -> Value {
    let out = modelpack()
        .args(["pack", model.to_str().unwrap(), "--push", target])
        .args(["--format", "json"])
        .env("MODELPACK_CACHE_DIR", cache)
        .env_remove("MODELPACK_REGISTRY_USERNAME")
        .env_remove("MODELPACK_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", "/nonexistent-modelpack-test")
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "pack --push {target}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The weight blob of `repo` on `registry`, fetched directly.
fn blob(registry: &str, repo: &str, digest: &str) -> Vec<u8> {
    let out = std::process::Command::new("curl")
        .args([
            "-sSf",
            &format!("http://{registry}/v2/{repo}/blobs/{digest}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn a_second_pack_push_sends_no_blob_bytes_and_a_changed_file_is_sent_again() {
    if !plugins_built() {
        return;
    }
    let Some(registry) = crate::util::env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = private_cache(dir.path());
    let model = model(dir.path(), 1);
    // Digests are remembered only for files unchanged for 2 s (a second write within the
    // file system's time granularity would leave mtime and ctime as they were).
    std::thread::sleep(Duration::from_millis(2100));
    let proxy = Proxy::start(&registry);
    let weight_size = std::fs::metadata(model.join("model.safetensors"))
        .unwrap()
        .len() as usize;

    let (repo_a, repo_b, repo_c) = (repo("a"), repo("b"), repo("c"));
    let first = pack_push(&cache, &model, &format!("{}/{repo_a}:v1", proxy.addr));
    let c = proxy.take_counters();
    assert!(c.upload_body_bytes >= weight_size, "{c:?}");
    assert_eq!(first["mounted"], 0, "{first:#}");

    // Another repository: every blob (the config too) is mounted, none read or sent.
    let second = pack_push(&cache, &model, &format!("{}/{repo_b}:v1", proxy.addr));
    let c = proxy.take_counters();
    assert_eq!(c.upload_body_bytes, 0, "blob bytes were sent again: {c:?}");
    assert_eq!(second["bytesUploaded"], 0, "{second:#}");
    assert_eq!(second["uploaded"], 0, "{second:#}");
    let layers = first["layers"].as_array().unwrap().len() as u64;
    assert_eq!(second["mounted"].as_u64(), Some(layers + 1), "{second:#}");
    assert_eq!(second["manifest"], first["manifest"], "{second:#}");
    assert_eq!(second["layers"], first["layers"]);
    assert!(c.requests.iter().any(|r| r.contains("mount=")), "{c:?}");
    // The same repository again: the HEADs find everything.
    let third = pack_push(&cache, &model, &format!("{}/{repo_b}:v2", proxy.addr));
    let c = proxy.take_counters();
    assert_eq!(c.upload_body_bytes, 0, "{c:?}");
    assert_eq!(third["skipped"].as_u64(), Some(layers + 1), "{third:#}");

    // The weight rewritten in place, same size, same inode: its mtime and ctime moved, so it
    // is read and sent again, and the registry holds the new bytes under the new digest.
    let changed = weight(2);
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(model.join("model.safetensors"))
            .unwrap();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.write_all(&changed).unwrap();
    }
    let fourth = pack_push(&cache, &model, &format!("{}/{repo_c}:v1", proxy.addr));
    let c = proxy.take_counters();
    assert!(c.upload_body_bytes >= weight_size, "{c:?}");
    assert_ne!(fourth["manifest"], first["manifest"]);
    let weight_layer = fourth["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["filepath"] == "model.safetensors")
        .unwrap();
    let d = weight_layer["digest"].as_str().unwrap();
    assert_ne!(Some(d), first["layers"][0]["digest"].as_str());
    assert!(
        blob(&registry, &repo_c, d) == changed,
        "the registry holds other bytes"
    );
    // The unchanged files were mounted; only the weight (and the config naming its new
    // diffId) went up.
    assert_eq!(fourth["uploaded"], 2, "{fourth:#}");
}
