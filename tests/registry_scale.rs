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
