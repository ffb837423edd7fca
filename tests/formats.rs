//! TFLite and OpenVINO IR through the real binary and the bundled plugins: `inspect` agrees
//! with the official readers' answers (tests/fixtures/reference, from ai-edge-litert and
//! openvino) on every fixture of tests/fixtures, and `generate` on a directory of each
//! writes a schema-valid config with format, paramSize and precision taken from the plugins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{modelpack, plugins_built, run_json};

fn local_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .canonicalize()
        .unwrap()
}

fn references() -> Vec<Value> {
    let mut out: Vec<Value> = std::fs::read_dir(local_fixtures().join("reference"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    out.sort_by_key(|v| v["fixture"].as_str().unwrap().to_string());
    out
}

/// Compares one dimension of ours (`3`, `"1..8"`, `null`) with the reference's. TFLite
/// references write dynamic dimensions as `null`; OpenVINO's as `"?"` or an interval
/// (`"1..8"`), which OpenVINO re-infers on load where the IR stores `-1`.
fn same_dim(got: &Value, want: &Value) -> bool {
    match want {
        Value::Number(_) => got == want,
        Value::Null => got.is_null(),
        Value::String(s) => match s.parse::<u64>() {
            Ok(n) => got.as_u64() == Some(n),
            Err(_) => got.is_null() || got.as_str() == Some(s),
        },
        _ => false,
    }
}

#[test]
fn inspect_agrees_with_the_official_readers() {
    if !plugins_built() {
        return;
    }
    let refs = references();
    assert!(
        refs.iter().filter(|r| r["format"] == "tflite").count() >= 7
            && refs.iter().filter(|r| r["format"] == "openvino").count() >= 4,
        "reference set incomplete: {}",
        refs.len()
    );
    let root = local_fixtures();
    let mut args = vec!["inspect".to_string(), "--format".into(), "json".into()];
    args.extend(refs.iter().map(|r| {
        root.join(r["fixture"].as_str().unwrap())
            .display()
            .to_string()
    }));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, json, stderr) = run_json(&args);
    assert_eq!(code, 0, "{stderr}");
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), refs.len());
    let mut errs = Vec::new();
    for (r, got) in refs.iter().zip(files) {
        let fixture = r["fixture"].as_str().unwrap();
        assert!(
            got["path"].as_str().unwrap().ends_with(fixture),
            "{}",
            got["path"]
        );
        if got["status"] != "ok" || got["format"] != r["format"] {
            errs.push(format!(
                "{fixture}: {} {} ({})",
                got["status"], got["format"], got["error"]
            ));
            continue;
        }
        for (ours, theirs) in [
            ("tensor_count", "tensorCount"),
            ("parameter_count", "parameterCount"),
        ] {
            let ours = got
                .get(ours)
                .or_else(|| got.get(camel(ours)))
                .unwrap_or(&Value::Null);
            if ours != &r[theirs] {
                errs.push(format!(
                    "{fixture}: {theirs}: got {ours}, reference {}",
                    r[theirs]
                ));
            }
        }
        let have: BTreeMap<String, Value> = serde_json::from_value(got["dtypes"].clone()).unwrap();
        let want: BTreeMap<String, Value> =
            serde_json::from_value(r["dtypeParameters"].clone()).unwrap();
        if have != want {
            errs.push(format!(
                "{fixture}: dtypes: got {have:?}, reference {want:?}"
            ));
        }
        for side in ["inputs", "outputs"] {
            let (have, want) = (got[side].as_array().unwrap(), r[side].as_array().unwrap());
            if have.len() != want.len() {
                errs.push(format!(
                    "{fixture}: {side}: {} vs reference {}",
                    have.len(),
                    want.len()
                ));
                continue;
            }
            for (h, w) in have.iter().zip(want) {
                let names = w["names"]
                    .as_array()
                    .cloned()
                    .unwrap_or_else(|| vec![w["name"].clone()]);
                let shapes = match (h["shape"].as_array(), w["shape"].as_array()) {
                    (Some(hs), Some(ws)) => {
                        hs.len() == ws.len() && hs.iter().zip(ws).all(|(a, b)| same_dim(a, b))
                    }
                    _ => false,
                };
                if !names.contains(&h["name"]) || h["dtype"] != w["dtype"] || !shapes {
                    errs.push(format!("{fixture}: {side}: got {h}, reference {w}"));
                }
            }
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_weights_file_of_an_ir_pair_is_not_read_as_a_pickle() {
    if !plugins_built() {
        return;
    }
    let bin = local_fixtures().join("openvino/mnist-cntk.bin");
    let (code, json, stderr) = run_json(&["inspect", "--format", "json", bin.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let f = &json["files"][0];
    assert_eq!(f["status"], "ok", "{f}");
    assert_eq!(f["format"], "openvino");
    assert_eq!(f["metadata"]["openvino.topology"], "mnist-cntk.xml", "{f}");
    // Alone, it is refused with one line that says what is missing.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&bin, dir.path().join("weights.bin")).unwrap();
    let out = modelpack()
        .args(["inspect"])
        .arg(dir.path().join("weights.bin"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "weights.bin: not a weights file this plugin knows: no weights.xml beside it"
        ),
        "{text}"
    );
}

/// `generate` on a directory holding `files` (copied from tests/fixtures).
fn generate_on(files: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let from = local_fixtures().join(f);
        std::fs::copy(&from, dir.path().join(from.file_name().unwrap())).unwrap();
    }
    let out = modelpack()
        .arg("generate")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let problems: Vec<_> = modelpack::validate::config::validate_config(&v, false)
        .into_iter()
        .filter(|p| p.level == modelpack::validate::Level::Error)
        .collect();
    assert!(problems.is_empty(), "invalid config {v}: {problems:?}");
    v
}

#[test]
fn generate_on_a_tflite_directory() {
    if !plugins_built() {
        return;
    }
    // FLOAT16 weights; its INT32 constants are shapes, not weights (106407 - 6 parameters).
    let v = generate_on(&["tflite/selfie_segmentation.tflite"]);
    assert_eq!(v["config"]["format"], "tflite", "{v}");
    assert_eq!(v["config"]["paramSize"], "106.4K", "{v}");
    assert_eq!(v["config"]["precision"], "float16", "{v}");
    assert_eq!(v["descriptor"]["name"], "ImageSegmenter", "{v}");
    // Full-integer quantisation, from the tensors' quantisation parameters.
    let v = generate_on(&["tflite/sine_a8w8.tflite"]);
    assert_eq!(v["config"]["format"], "tflite", "{v}");
    assert_eq!(v["config"]["paramSize"], "0.3K", "{v}");
    assert_eq!(v["config"]["precision"], "int8,int32", "{v}");
    assert_eq!(v["config"]["quantization"], "tflite-int8", "{v}");
}

#[test]
fn the_openvino_topology_is_weight_config_and_its_bin_the_weight() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for f in ["openvino/mnist-cntk.xml", "openvino/mnist-cntk.bin"] {
        let from = local_fixtures().join(f);
        std::fs::copy(&from, dir.path().join(from.file_name().unwrap())).unwrap();
    }
    let out = modelpack()
        .arg("generate")
        .arg(dir.path())
        .arg("--explain")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: BTreeMap<&str, (&str, &str)> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap(),
                (c["kind"].as_str().unwrap(), c["rule"].as_str().unwrap()),
            )
        })
        .collect();
    // The plugin's layer-kind hint: the topology describes the weights the .bin holds.
    assert_eq!(
        kinds["mnist-cntk.xml"],
        (
            "weight.config",
            "describes openvino weights, read by openvino@0.2.0"
        ),
        "{v}"
    );
    assert_eq!(kinds["mnist-cntk.bin"].0, "weight", "{v}");
    assert_eq!(v["config"]["config"]["paramSize"], "6.0K", "{v}");
}

#[test]
fn generate_on_an_openvino_ir_directory() {
    if !plugins_built() {
        return;
    }
    // f16-compressed weights; i64 constants are shapes and axes, not weights.
    let v = generate_on(&[
        "openvino/ch_ppocr_mobile_v2.0_cls.xml",
        "openvino/ch_ppocr_mobile_v2.0_cls.bin",
    ]);
    assert_eq!(v["config"]["format"], "openvino", "{v}");
    assert_eq!(v["config"]["paramSize"], "127.2K", "{v}");
    assert_eq!(v["config"]["precision"], "float16,float32", "{v}");
    assert!(v["config"].get("quantization").is_none(), "{v}");
    let v = generate_on(&["openvino/mnist-cntk.xml", "openvino/mnist-cntk.bin"]);
    assert_eq!(v["config"]["format"], "openvino", "{v}");
    assert_eq!(v["config"]["paramSize"], "6.0K", "{v}");
    assert_eq!(v["config"]["precision"], "float32", "{v}");
}

#[test]
fn other_xml_files_are_not_claimed() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pom.xml"),
        "<?xml version=\"1.0\"?>\n<project/>\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("weird.xml"), "<network/>").unwrap();
    std::fs::copy(
        local_fixtures().join("openvino/mnist-cntk.xml"),
        dir.path().join("model.xml"),
    )
    .unwrap();
    let (code, json, stderr) =
        run_json(&["inspect", "--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let status: Vec<(String, String)> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = f["path"].as_str().unwrap();
            (
                p.rsplit('/').next().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            ("model.xml".to_string(), "ok".to_string()),
            ("pom.xml".to_string(), "unrecognised".to_string()),
            ("weird.xml".to_string(), "unrecognised".to_string())
        ]
    );
}

#[test]
fn generate_inspect_and_check_agree_on_tflite_and_openvino_directories() {
    if !plugins_built() {
        return;
    }
    let root = local_fixtures();
    // The fixture directories themselves (one TFLite and one IR model per file or pair).
    let tflite = crate::contract::agree(&root.join("tflite"));
    let openvino = crate::contract::agree(&root.join("openvino"));
    // Weights only: integer shape constants are left out (744236 elements in all, 804 of
    // them INT32/INT64 shapes), and the two ch_ppocr IRs (the same weights in f16 and f32)
    // count once: 5994 + 109455 + 127238.
    assert_eq!(tflite, 743_432);
    assert_eq!(openvino, 242_687);
}
