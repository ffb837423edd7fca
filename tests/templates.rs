//! The policy template builds out of tree, as a vendor would build it, and runs in `check`.

use std::path::Path;

use crate::util::{build_template, modelpack, plugins_built};

#[test]
fn policy_template_builds_out_of_tree_and_runs_with_policy_file() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (_, wasm) = build_template("policy-plugin", "max_tensor_count", work.path());

    let cfg = work.path().join("config.json");
    std::fs::write(&cfg, r#"{"descriptor":{"name":"m"},"config":{"format":"safetensors"},"modelfs":{"type":"layers","diffIds":["sha256:2222222222222222222222222222222222222222222222222222222222222222"]}}"#).unwrap();
    let generous = work.path().join("generous.yaml");
    std::fs::write(
        &generous,
        "policies:\n  max-tensor-count:\n    max_tensors: 1000\n",
    )
    .unwrap();
    let out = modelpack()
        .args(["check"])
        .arg(&cfg)
        .arg("--policy")
        .arg(&wasm)
        .arg("--policy-config")
        .arg(&generous)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("max-tensor-count"), "{stdout}");
    // The same policy fails a model directory with more tensors than its settings allow.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    let settings = work.path().join("p.yaml");
    std::fs::write(
        &settings,
        "policies:\n  max-tensor-count:\n    max_tensors: 2\n",
    )
    .unwrap();
    let out = modelpack()
        .arg("check")
        .arg(&model)
        .arg("--policy")
        .arg(&wasm)
        .arg("--policy-config")
        .arg(&settings)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A TOYW file (the format template's made-up format) with a name, a licence and a
/// quantisation in its metadata, 1100 weight parameters (F16 and F32) and one side tensor.
fn toyw_file() -> Vec<u8> {
    let header = serde_json::json!({
        "tensors": [
            {"name": "w", "dtype": "F16", "shape": [100, 10]},
            {"name": "b", "dtype": "F32", "shape": [100]},
            {"name": "w.scale", "dtype": "F32", "shape": [10]},
        ],
        "metadata": {"name": "toy-model", "license": "MIT", "quantization": "toyq", "bits": 4},
    })
    .to_string();
    let mut out = b"TOYW".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + 1000 * 2 + 100 * 4 + 10 * 4, 0);
    out
}

#[test]
fn format_template_builds_out_of_tree_and_generate_takes_its_meaning() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (_, wasm) = build_template("format-plugin", "toyw", work.path());

    // The host knows nothing about TOYW: everything below comes from the plugin.
    let model = work.path().join("toy-model-dir");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("weights.toyw"), toyw_file()).unwrap();
    let out = modelpack()
        .arg("--plugin")
        .arg(&wasm)
        .arg("generate")
        .arg("--explain")
        .arg(&model)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let cfg = &doc["config"];
    assert_eq!(cfg["config"]["format"], "toyw", "{doc}");
    assert_eq!(cfg["config"]["paramSize"], "1.1K", "{doc}");
    assert_eq!(cfg["config"]["precision"], "float16,float32", "{doc}");
    assert_eq!(cfg["config"]["quantization"], "toyq", "{doc}");
    assert_eq!(cfg["descriptor"]["name"], "toy-model", "{doc}");
    assert_eq!(
        cfg["descriptor"]["licenses"],
        serde_json::json!(["MIT"]),
        "{doc}"
    );
    assert_eq!(
        doc["weightParameters"], 1100,
        "the side tensor is not a weight"
    );
    let explain = doc["explain"].as_array().unwrap();
    let name = explain
        .iter()
        .find(|e| e["field"] == "descriptor.name")
        .unwrap();
    assert_eq!(name["source"], "weight-headers", "{name}");
    assert_eq!(name["from"], "weights.toyw: metadata.name", "{name}");
}
