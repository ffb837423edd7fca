//! Every file in ../shared/fixtures through the real binary and the real wasm plugins,
//! checked against the answers of the Python reference libraries (fixtures/reference).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::{fixtures, plugins_built, run_json};

/// Reference answers for single-file fixtures, by fixture path.
fn references() -> Vec<(String, Value)> {
    let dir = fixtures().join("reference");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let fixture = v["fixture"].as_str().unwrap().to_string();
        if !fixture.ends_with('/') {
            out.push((fixture, v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 50,
        "expected the full fixture set, found {}",
        out.len()
    );
    out
}

/// One `modelpack inspect --format json` over every fixture file; reports by fixture path.
fn reports() -> &'static (i32, BTreeMap<String, Value>) {
    static REPORTS: OnceLock<(i32, BTreeMap<String, Value>)> = OnceLock::new();
    REPORTS.get_or_init(|| {
        let root = fixtures();
        let files: Vec<PathBuf> = references().iter().map(|(f, _)| root.join(f)).collect();
        let mut args: Vec<String> = vec!["inspect".into(), "--format".into(), "json".into()];
        args.extend(files.iter().map(|p| p.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, json, _) = run_json(&args);
        let prefix = format!("{}/", root.display());
        let map = json["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches(&prefix)
                        .to_string(),
                    f.clone(),
                )
            })
            .collect();
        (code, map)
    })
}

fn report(fixture: &str) -> &'static Value {
    reports()
        .1
        .get(fixture)
        .unwrap_or_else(|| panic!("no report for {fixture}"))
}

fn dtype_params(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

fn check_valid(fixture: &str, reference: &Value, got: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    if got["status"] != "ok" {
        errs.push(format!(
            "{fixture}: status {} ({})",
            got["status"], got["error"]
        ));
        return errs;
    }
    let mut eq = |what: &str, a: &Value, b: &Value| {
        if a != b {
            errs.push(format!("{fixture}: {what}: got {a}, reference {b}"));
        }
    };
    eq(
        "tensor_count",
        &got["tensorCount"],
        &reference["tensor_count"],
    );
    eq(
        "parameter_count",
        &got["parameterCount"],
        &reference["total_parameters"],
    );
    let want = dtype_params(&reference["dtype_parameters"]);
    let have = dtype_params(&got["dtypes"]);
    if want != have {
        errs.push(format!(
            "{fixture}: dtypes: got {have:?}, reference {want:?}"
        ));
    }
    if reference["format"] == "onnx" {
        for side in ["inputs", "outputs"] {
            let want = reference[side].as_array().unwrap();
            let have = got[side].as_array().unwrap();
            if want.len() != have.len() {
                errs.push(format!(
                    "{fixture}: {side}: {} vs reference {}",
                    have.len(),
                    want.len()
                ));
                continue;
            }
            for (w, h) in want.iter().zip(have) {
                if w["name"] != h["name"] || w["elem_type"] != h["dtype"] {
                    errs.push(format!("{fixture}: {side}: {h} vs reference {w}"));
                }
                let (Some(ws), Some(hs)) = (w["shape"].as_array(), h["shape"].as_array()) else {
                    if !w["shape"].is_null() {
                        errs.push(format!(
                            "{fixture}: {side} {}: no shape, reference {}",
                            w["name"], w["shape"]
                        ));
                    }
                    continue;
                };
                // The reference writes named and unknown dims alike as null, and passes negative
                // `dim_value`s (Paddle's -1 for "dynamic") through; we report those as unknown.
                let same = ws.len() == hs.len()
                    && ws.iter().zip(hs).all(|(a, b)| {
                        if a.is_null() || a.as_i64().is_some_and(|n| n < 0) {
                            !b.is_u64()
                        } else {
                            a == b
                        }
                    });
                if !same {
                    errs.push(format!(
                        "{fixture}: {side} {} shape {hs:?} vs reference {ws:?}",
                        w["name"]
                    ));
                }
            }
        }
        if let Some(constants) = reference["constant_node_parameters"]
            .as_u64()
            .filter(|n| *n > 0)
        {
            let group = got["groups"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["name"] == "constant-nodes")
                .map(|g| g["parameterCount"].as_u64().unwrap());
            if group != Some(constants) {
                errs.push(format!(
                    "{fixture}: constant-node parameters {group:?}, reference {constants}"
                ));
            }
        }
    }
    // The split by top-level key is checked for nested checkpoints ({"model": …, "optimizer": …});
    // for a flat state dict the plugin groups weights vs buffers instead of by layer name.
    let keys = reference["top_level_keys"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let nested = !keys.is_empty()
        && keys
            .iter()
            .all(|k| !k.as_str().unwrap_or(".").contains('.'));
    if let Some(by_key) = reference["parameters_by_top_level_key"]
        .as_object()
        .filter(|_| nested)
    {
        for (key, n) in by_key {
            let group = got["groups"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["name"] == key.as_str());
            match group {
                Some(g) if g["parameterCount"] == *n => {}
                other => errs.push(format!("{fixture}: group {key}: {other:?}, reference {n}")),
            }
        }
    }
    errs
}

#[test]
fn every_fixture_matches_its_reference() {
    if !plugins_built() {
        return;
    }
    let mut errs = Vec::new();
    for (fixture, reference) in references() {
        let got = report(&fixture);
        match (reference["valid"].as_bool(), reference["format"].as_str()) {
            (_, Some("git-lfs-pointer")) => {
                let flagged = got["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["id"] == "git-lfs-pointer");
                if got["status"] != "ok" || !flagged {
                    errs.push(format!(
                        "{fixture}: LFS pointer not reported as such: {got}"
                    ));
                }
            }
            (Some(false), _) => {
                let error = got["error"].as_str().unwrap_or("");
                if got["status"] != "error" || error.is_empty() || error.contains('\n') {
                    errs.push(format!(
                        "{fixture}: negative fixture must give a one-line error, got {got}"
                    ));
                }
            }
            _ => errs.extend(check_valid(&fixture, &reference, got)),
        }
    }
    assert!(
        errs.is_empty(),
        "{} mismatches:\n{}",
        errs.len(),
        errs.join("\n")
    );
}

#[test]
fn negative_fixtures_say_why() {
    if !plugins_built() {
        return;
    }
    let err = |f: &str| report(f)["error"].as_str().unwrap_or("").to_lowercase();
    assert!(err("safetensors/trailing-bytes.safetensors").contains("5 trailing bytes"));
    assert!(err("other/ggml-silero-v6.2.0.bin").contains("legacy"));
    assert!(err("other/ggml-silero-v6.2.0.bin").contains("unsupported"));
    assert!(err("gguf/not-gguf-text.gguf").contains("magic"));
    assert!(err("gguf/header-only-truncated.gguf").contains("truncated"));
    // Exit 1: some files failed, the rest were still reported.
    assert_eq!(reports().0, 1);
}

#[test]
fn sharded_index_covers_its_lfs_pointer_shards() {
    if !plugins_built() {
        return;
    }
    let dir = fixtures().join("hf-lfs/pygmalion-7b");
    let (code, json, _) = run_json(&["inspect", "--format", "json", &dir.display().to_string()]);
    assert_eq!(code, 0, "{json}");
    let files = json["files"].as_array().unwrap();
    let index = files
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .unwrap()
                .ends_with("model.safetensors.index.json")
        })
        .unwrap();
    assert_eq!(index["format"], "safetensors");
    assert_eq!(index["covers"].as_array().unwrap().len(), 7);
    let lfs = index["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "git-lfs-pointer")
        .count();
    assert_eq!(lfs, 7);
    let unrecognised: Vec<&str> = files
        .iter()
        .filter(|f| f["status"] == "unrecognised")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        unrecognised.iter().any(|p| p.ends_with("config.json")),
        "{unrecognised:?}"
    );
}
