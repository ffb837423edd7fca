//! Issue 15 point 1: `pack` takes every `generate` flag and a reviewed `--config`, so
//! generate → review → pack is one recipe and `check` agrees on the config and the artifact.

use std::path::Path;

use serde_json::Value;

use crate::pack::{pack, run};
use crate::util::{modelpack, plugins_built};

fn tiny_model() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model")
}

/// A writable copy of the example model.
fn model_copy(dir: &Path) -> std::path::PathBuf {
    let m = dir.join("tiny-model");
    std::fs::create_dir_all(&m).unwrap();
    for e in std::fs::read_dir(tiny_model()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), m.join(e.file_name())).unwrap();
    }
    m
}

fn config_of(layout: &Path) -> Value {
    let (code, stdout, stderr) = run(&["inspect", layout.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    v["artifacts"][0]["config"]["content"].clone()
}

#[test]
fn pack_takes_set_name_and_exclude_and_check_agrees() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    let out = pack(
        &tiny_model(),
        &layout,
        &[
            "--set",
            "descriptor.version=1.0",
            "--name",
            "tiny-renamed",
            "--exclude",
            "generation_config.json",
        ],
    );
    let paths: Vec<&str> = out["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["filepath"].as_str().unwrap())
        .collect();
    assert!(!paths.contains(&"generation_config.json"), "{paths:?}");
    let cfg = config_of(&layout);
    assert_eq!(cfg["descriptor"]["version"], "1.0");
    assert_eq!(cfg["descriptor"]["name"], "tiny-renamed");
    // The check that needs the version passes on the artifact, as on the generated config.
    let policy = work.path().join("p.yaml");
    std::fs::write(
        &policy,
        "policies:\n  required-metadata:\n    fields: [/descriptor/version]\n",
    )
    .unwrap();
    let status = modelpack()
        .args(["check", &format!("{}:latest", layout.display())])
        .arg("--policy-config")
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
}

#[test]
fn generate_review_pack_config_recipe() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let model = model_copy(work.path());
    let cfg_path = work.path().join("model-config.json");
    let (code, _, stderr) = run(&[
        "generate",
        model.to_str().unwrap(),
        "-o",
        cfg_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // The review: a person edits fields generate could not know.
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["descriptor"]["version"] = "2.1".into();
    cfg["descriptor"]["authors"] = serde_json::json!(["ML Platform <ml@example.com>"]);
    std::fs::write(&cfg_path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();

    let layout = work.path().join("oci");
    pack(&model, &layout, &["--config", cfg_path.to_str().unwrap()]);
    let packed = config_of(&layout);
    assert_eq!(packed, cfg, "the reviewed config is packed as it is");

    // --config with --set is refused: the reviewed file is the one source.
    let (code, _, stderr) = run(&[
        "pack",
        model.to_str().unwrap(),
        "-o",
        work.path().join("oci2").to_str().unwrap(),
        "--config",
        cfg_path.to_str().unwrap(),
        "--set",
        "descriptor.version=3",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--set cannot change it"), "{stderr}");

    // A file changed after the review: refused, naming the file, nothing written.
    std::fs::write(model.join("tokenizer_config.json"), "{\"changed\": true}\n").unwrap();
    let out3 = work.path().join("oci3");
    let (code, _, stderr) = run(&[
        "pack",
        model.to_str().unwrap(),
        "-o",
        out3.to_str().unwrap(),
        "--config",
        cfg_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("does not match the directory's files")
            && stderr.contains("(tokenizer_config.json) is sha256:"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!out3.exists());

    // A new file: the config has one layer fewer than the directory.
    std::fs::remove_file(model.join("tokenizer_config.json")).unwrap();
    let (code, _, stderr) = run(&[
        "pack",
        model.to_str().unwrap(),
        "-o",
        out3.to_str().unwrap(),
        "--config",
        cfg_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("matches no file of the directory")
            || stderr.contains("is not in the config")
            || stderr.contains("is sha256:"),
        "{stderr}"
    );
}

#[test]
fn pack_config_must_be_a_valid_config() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let bad = work.path().join("c.json");
    std::fs::write(&bad, r#"{"descriptor": {"name": 7}}"#).unwrap();
    let (code, _, stderr) = run(&[
        "pack",
        tiny_model().to_str().unwrap(),
        "-o",
        work.path().join("oci").to_str().unwrap(),
        "--config",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("not a valid ModelPack config") && stderr.contains("/descriptor/name"),
        "{stderr}"
    );
}
