//! `pack --convert-pickles` and `generate --convert-pickles`: the artifact holds the weights'
//! safetensors conversions and no pickle, its config describes them, the unpacked weights load
//! with the Python `safetensors` library and match the reference reader; the user's directory
//! is only read, and a failed conversion leaves nothing.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::convert::{compare, names, python_ready, written_checkpoints};
use crate::util::{modelpack, plugins_built, run_json};

/// Every file of a directory with the SHA-256 of its bytes.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    names(dir)
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, hex::encode(Sha256::digest(bytes)))
        })
        .collect()
}

/// The manifest of the layout's only image.
fn manifest(layout: &Path) -> serde_json::Value {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> serde_json::Value {
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// A Hugging Face style directory whose weights are a pickle (a Lightning checkpoint with
/// optimizer state and classes that are never imported).
fn model_dir(root: &Path) -> std::path::PathBuf {
    let src = root.join("src");
    written_checkpoints(&src, &root.join("pwned"));
    let model = root.join("tiny-bert");
    std::fs::create_dir(&model).unwrap();
    std::fs::copy(src.join("lightning.ckpt"), model.join("pytorch_model.bin")).unwrap();
    std::fs::write(
        model.join("config.json"),
        r#"{"model_type":"bert","architectures":["BertModel"],"torch_dtype":"float32"}"#,
    )
    .unwrap();
    std::fs::write(model.join("README.md"), "# tiny-bert\n").unwrap();
    model
}

#[test]
fn packed_artifact_holds_the_conversion_and_no_pickle() {
    if !plugins_built() || !python_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path());
    let before = snapshot(&model);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let layout = out.join("oci");
    let m = model.to_str().unwrap();
    let l = layout.to_str().unwrap();

    // What the unconverted directory would declare.
    let (_, plain, _) = run_json(&["generate", m, "--format", "json"]);

    let o = modelpack()
        .args(["pack", m, "--convert-pickles", "-o", l, "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("to safetensors: 3 tensors"),
        "the conversion is reported: {stderr}"
    );
    // Only the user's directory was read; no staging directory is left beside the output.
    assert_eq!(snapshot(&model), before);
    assert_eq!(names(&out), ["oci"]);

    let (code, _, stderr) = run_json(&["validate", l, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let manifest = manifest(&layout);
    let paths: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["annotations"]["org.cncf.model.filepath"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(paths, ["model.safetensors", "config.json", "README.md"]);
    let config = blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["config"]["format"], "safetensors");
    assert_eq!(plain["config"]["config"]["format"], "pt", "{plain}");
    // Only the state dict was converted, so the weights and their precision are unchanged.
    assert_eq!(
        config["config"]["paramSize"],
        plain["config"]["config"]["paramSize"]
    );
    assert_eq!(
        config["config"]["precision"],
        plain["config"]["config"]["precision"]
    );
    assert_eq!(config["descriptor"]["name"], "tiny-bert");

    // The unpacked weights load with Python safetensors and match the reference reader.
    let unpacked = tmp.path().join("unpacked");
    let (code, _, stderr) = run_json(&[
        "unpack",
        l,
        "-o",
        unpacked.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        names(&unpacked),
        ["README.md", "config.json", "model.safetensors"]
    );
    let cmp = compare(&model.join("pytorch_model.bin"), &unpacked);
    assert_eq!(cmp["compared"], 3, "{cmp}");
    assert_eq!(cmp["mismatched"], serde_json::json!([]));
    assert_eq!(cmp["unmatched"], serde_json::json!([]));
    assert!(!tmp.path().join("pwned").exists(), "a pickle payload ran");

    // generate --convert-pickles describes exactly what pack wrote: the reviewed config packs.
    let reviewed = tmp.path().join("reviewed.json");
    let (code, _, stderr) = run_json(&[
        "generate",
        m,
        "--convert-pickles",
        "-o",
        reviewed.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let generated: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&reviewed).unwrap()).unwrap();
    assert_eq!(generated["modelfs"], config["modelfs"]);
    let again = out.join("oci2");
    let o = modelpack()
        .args(["pack", m, "--convert-pickles", "--config"])
        .arg(&reviewed)
        .args(["-o", again.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(snapshot(&model), before);
}

#[test]
fn failed_conversion_leaves_nothing() {
    if !plugins_built() || !python_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path());
    // A second weight file cut in half: the whole pack is refused.
    let good = std::fs::read(model.join("pytorch_model.bin")).unwrap();
    std::fs::write(model.join("extra.pt"), &good[..good.len() / 2]).unwrap();
    let before = snapshot(&model);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let layout = out.join("oci");
    let o = modelpack()
        .args(["pack", model.to_str().unwrap(), "--convert-pickles", "-o"])
        .arg(&layout)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("extra.pt"),
        "{stderr}"
    );
    assert!(names(&out).is_empty(), "left behind: {:?}", names(&out));
    assert_eq!(snapshot(&model), before);

    // An output inside the model directory would be converted along with it: refused.
    let inside = model.join("oci");
    let o = modelpack()
        .args(["pack", model.to_str().unwrap(), "--convert-pickles", "-o"])
        .arg(&inside)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is inside"), "{stderr}");
    assert_eq!(snapshot(&model), before);
}
