//! Issue 15 point 3: `inspect LAYOUT` and `inspect LAYOUT:TAG` show the artifact (manifest,
//! config, tags, layers with paths, kinds and sizes) and what the plugins read from the raw
//! weight layers' blobs.

use std::path::Path;

use serde_json::Value;

use crate::pack::{pack, run};
use crate::util::plugins_built;

#[test]
fn inspect_layout_and_layout_tag() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    let packed = pack(&model, &layout, &["--tag", "v1"]);
    pack(&model, &layout, &["--tag", "v2", "--layer-format", "tar"]);

    let (code, stdout, stderr) = run(&[
        "inspect",
        &format!("{}:v1", layout.display()),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let a = &v["artifacts"].as_array().unwrap()[..];
    assert_eq!(a.len(), 1, "{v:#}");
    let a = &a[0];
    assert_eq!(a["manifest"]["digest"], packed["manifest"]["digest"]);
    assert_eq!(a["config"]["digest"], packed["config"]["digest"]);
    assert_eq!(a["tags"], serde_json::json!(["v1"]));
    assert_eq!(
        a["manifest"]["artifactType"],
        "application/vnd.cncf.model.manifest.v1+json"
    );
    assert_eq!(a["config"]["content"]["descriptor"]["name"], "tiny-model");
    let layers = a["layers"].as_array().unwrap();
    assert_eq!(layers.len(), packed["layers"].as_array().unwrap().len());
    let w = layers
        .iter()
        .find(|l| l["path"] == "model.safetensors")
        .unwrap();
    assert_eq!(w["kind"], "weight");
    assert_eq!(w["encoding"], "raw");
    assert_eq!(
        w["size"].as_u64(),
        std::fs::metadata(model.join("model.safetensors"))
            .ok()
            .map(|m| m.len())
    );
    // The plugin view of the weight, read from its blob: tensors, not "unrecognised".
    let weights = a["weights"].as_array().unwrap();
    assert_eq!(weights.len(), 1, "{a:#}");
    assert_eq!(weights[0]["path"], "model.safetensors");
    assert_eq!(weights[0]["format"], "safetensors");
    assert!(weights[0]["tensorCount"].as_u64().unwrap() > 0);
    assert_eq!(v["files"], serde_json::json!([]));

    // LAYOUT alone: every manifest; text output names files, kinds and both tags.
    let (code, stdout, stderr) = run(&["inspect", layout.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("[v1]") && stdout.contains("[v2]"),
        "{stdout}"
    );
    assert!(stdout.contains("model.safetensors"), "{stdout}");
    assert!(
        stdout.contains("weight") && stdout.contains("tar"),
        "{stdout}"
    );
    assert!(stdout.contains("safetensors via safetensors@"), "{stdout}");
    assert!(!stdout.contains("unrecognised"), "{stdout}");

    // An unknown tag: one line naming the tags there are.
    let (code, _, stderr) = run(&["inspect", &format!("{}:nope", layout.display())]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no manifest tagged \"nope\""), "{stderr}");
    assert!(stderr.contains("v1") && stderr.contains("v2"), "{stderr}");
}
