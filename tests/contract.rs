//! One meaning everywhere (contract 0.2, issue 11): `generate`, `inspect` and
//! `check --policy size-limits` give the same parameter count for the same directory, because
//! all three take the format plugins' meaning (tensor roles, the `paramSize` basis) through
//! the one host aggregation. Checked on every shared fixture directory, on a real PyTorch
//! checkpoint holding optimizer state, and on a directory holding the same weights as both
//! safetensors and a PyTorch `.bin`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{fixtures, plugins_built, run_json};

/// `generate --explain`'s `weightParameters`.
fn generate_count(dir: &Path) -> u64 {
    let (code, doc, err) = run_json(&["generate", "--explain", dir.to_str().unwrap()]);
    assert!(code == 0 || code == 1, "{}: {err}", dir.display());
    doc["weightParameters"]
        .as_u64()
        .unwrap_or_else(|| panic!("{}: no weightParameters in {doc}", dir.display()))
}

/// `inspect`'s model summary (0 when no file was read).
fn inspect_count(dir: &Path) -> u64 {
    let (_, doc, err) = run_json(&["inspect", "--format", "json", dir.to_str().unwrap()]);
    assert!(doc["files"].is_array(), "{}: {err}", dir.display());
    doc["model"]["weightParameters"].as_u64().unwrap_or(0)
}

/// The outcome of `check --policy size-limits` with `max_parameters = limit`.
fn check_outcome(dir: &Path, limit: u64) -> (String, Value) {
    let cfg = tempfile::tempdir().unwrap();
    let policy = cfg.path().join("p.json");
    std::fs::write(
        &policy,
        format!(r#"{{"policies":{{"size-limits":{{"max_parameters":{limit}}}}}}}"#),
    )
    .unwrap();
    let (_, doc, err) = run_json(&[
        "check",
        dir.to_str().unwrap(),
        "--policy",
        "size-limits",
        "--policy-config",
        policy.to_str().unwrap(),
        "--format",
        "json",
    ]);
    // The host's own result (`modelpack`: missing weights, licence conflicts) may come first.
    let outcome = doc["policies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "size-limits"))
        .and_then(|p| p["outcome"].as_str())
        .unwrap_or_else(|| panic!("{}: {doc} {err}", dir.display()))
        .to_string();
    (outcome, doc)
}

/// Asserts the three commands agree on `dir` and returns the count.
pub(crate) fn agree(dir: &Path) -> u64 {
    let n = generate_count(dir);
    assert_eq!(
        inspect_count(dir),
        n,
        "inspect vs generate on {}",
        dir.display()
    );
    if n > 0 {
        let (at, doc) = check_outcome(dir, n);
        // A weight no plugin could read makes any limit unverifiable: size-limits fails closed
        // with `parameters-incomplete` (hostile_files), and only with that.
        let ids = finding_ids(&doc);
        if ids.iter().any(|i| i == "parameters-incomplete") {
            assert!(
                ids.iter()
                    .all(|i| i == "parameters-incomplete" || i == "size-totals"),
                "check at exactly {n} on {}: {doc}",
                dir.display()
            );
        } else {
            assert_eq!(
                at,
                "pass",
                "check at exactly {n} on {}: {doc}",
                dir.display()
            );
        }
        let (below, doc) = check_outcome(dir, n - 1);
        assert_eq!(
            below,
            "fail",
            "check at {} on {}: {doc}",
            n - 1,
            dir.display()
        );
        let over = size_limits(&doc)["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["message"].as_str())
            .any(|m| m.contains("exceed max_parameters"));
        assert!(over, "check at {} on {}: {doc}", n - 1, dir.display());
    }
    n
}

/// The size-limits result of a `check --format json` document.
fn size_limits(doc: &Value) -> &Value {
    doc["policies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "size-limits"))
        .unwrap_or(&Value::Null)
}

/// The ids of the size-limits findings.
fn finding_ids(doc: &Value) -> Vec<String> {
    size_limits(doc)["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn generate_inspect_and_check_agree_on_every_fixture_directory() {
    if !plugins_built() {
        return;
    }
    let f = fixtures();
    let mut dirs = vec![
        f.join("gguf"),
        f.join("numpy"),
        f.join("onnx"),
        f.join("onnx/onnx1.23-backend"),
        f.join("pytorch"),
        f.join("safetensors"),
        f.join("other"),
    ];
    for e in std::fs::read_dir(f.join("hf-lfs")).unwrap().flatten() {
        dirs.push(e.path());
    }
    let mut counted = 0;
    for d in &dirs {
        if agree(d) > 0 {
            counted += 1;
        }
    }
    assert!(
        counted >= 6,
        "only {counted} fixture directories had weights"
    );
}

#[test]
fn a_checkpoint_with_optimizer_state_counts_the_model_only() {
    if !plugins_built() {
        return;
    }
    // chgnet: a real training checkpoint, {"model": 400438 weights, "optimizer": Adam state}.
    let dir = tempfile::tempdir().unwrap();
    let name = "chgnet_0.2.0_e30f77s348m32.pth.tar";
    std::fs::copy(fixtures().join("pytorch").join(name), dir.path().join(name)).unwrap();
    assert_eq!(agree(dir.path()), 400_438);
    let (_, doc, _) = run_json(&["inspect", "--format", "json", dir.path().to_str().unwrap()]);
    let file = &doc["files"][0];
    assert_eq!(
        file["parameterCount"], 1_135_334,
        "inspect still lists everything"
    );
    assert_eq!(file["weightParameters"], 400_438);
}

/// Writes `model.safetensors` and a PyTorch zip `pytorch_model.bin` holding the same two F32
/// tensors (16×16 and 16). The `.bin` is written the way `torch.save` lays it out, with
/// Python's standard `pickle` and `zipfile` only (stand-in `torch` modules supply the two
/// globals a state dict pickle names); no torch needed.
fn same_weights_twice(dir: &Path) {
    let script = r#"
import collections, json, pickle, struct, sys, types, zipfile
out = sys.argv[1]
torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils; torch._utils = utils
class FloatStorage: pass
FloatStorage.__module__ = "torch"; torch.FloatStorage = FloatStorage
def _rebuild_tensor_v2(*args): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
class Storage:
    def __init__(self, key, numel): self.key, self.numel = key, numel
class Tensor:
    def __init__(self, key, shape):
        self.key, self.shape = key, shape
        self.numel = 1
        for d in shape: self.numel *= d
    def __reduce__(self):
        stride, acc = [], 1
        for d in reversed(self.shape): stride.insert(0, acc); acc *= d
        return (_rebuild_tensor_v2, (Storage(self.key, self.numel), 0, tuple(self.shape), tuple(stride), False, collections.OrderedDict()))
class P(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage): return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
        return None
tensors = [("layer.weight", [16, 16]), ("layer.bias", [16])]
sd = collections.OrderedDict((n, Tensor(str(i), s)) for i, (n, s) in enumerate(tensors))
import io
buf = io.BytesIO(); P(buf, protocol=2).dump(sd)
with zipfile.ZipFile(out + "/pytorch_model.bin", "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", buf.getvalue())
    z.writestr("archive/byteorder", "little")
    for i, (n, s) in enumerate(tensors):
        z.writestr("archive/data/%d" % i, b"\0" * (4 * sd[n].numel))
    z.writestr("archive/version", "3\n")
header, off = {}, 0
for n, s in tensors:
    size = 4 * sd[n].numel
    header[n] = {"dtype": "F32", "shape": s, "data_offsets": [off, off + size]}; off += size
h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
with open(out + "/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"\0" * off)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python3 is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_same_weights_as_safetensors_and_bin_count_once() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    same_weights_twice(dir.path());
    // Both files are read: inspect sees 272 weights in each …
    let (_, doc, _) = run_json(&["inspect", "--format", "json", dir.path().to_str().unwrap()]);
    let per_file: Vec<(String, u64)> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["format"].as_str().unwrap_or("?").to_string(),
                f["weightParameters"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        per_file,
        [("safetensors".to_string(), 272), ("pt".to_string(), 272)],
        "{doc}"
    );
    // … and all three commands count the model once, in its canonical format.
    assert_eq!(agree(dir.path()), 272);
    assert_eq!(doc["model"]["format"], "safetensors");
    let (_, g, _) = run_json(&["generate", dir.path().to_str().unwrap()]);
    assert_eq!(g["config"]["paramSize"], "0.3K");
    assert_eq!(g["config"]["format"], "safetensors");
}

#[test]
fn a_count_that_overflows_is_an_error_never_a_small_number() {
    if !plugins_built() {
        return;
    }
    // Two files whose plugin claims 2^63 weights each: the sum does not fit in 64 bits.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.evil"), "HUGE").unwrap();
    std::fs::write(dir.path().join("b.evil"), "HUGE").unwrap();
    let evil = crate::util::test_plugin("evil");
    for cmd in [&["generate"][..], &["inspect", "--format", "json"][..]] {
        let out = crate::util::modelpack()
            .arg("--plugin")
            .arg(&evil)
            .args(cmd)
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stderr}");
        assert!(
            stderr.contains("parameter count overflows 64 bits"),
            "{cmd:?}: {stderr}"
        );
    }
    // One such file alone is a (large) count, reported exactly.
    std::fs::remove_file(dir.path().join("b.evil")).unwrap();
    let (_, doc, err) = run_json(&[
        "--plugin",
        evil.to_str().unwrap(),
        "inspect",
        "--format",
        "json",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(doc["model"]["weightParameters"], 1u64 << 63, "{err}");
}

#[test]
fn precision_words_come_from_the_plugins() {
    if !plugins_built() {
        return;
    }
    // A GGUF's quantised types have no word; its F32 tensors do. ONNX spells float32 FLOAT.
    let (_, doc, _) = run_json(&[
        "inspect",
        "--format",
        "json",
        fixtures()
            .join("gguf/llama-2-tiny-random.gguf")
            .to_str()
            .unwrap(),
        fixtures().join("onnx/silero_vad.onnx").to_str().unwrap(),
    ]);
    let words = |i: usize| -> Vec<(String, Value)> {
        doc["files"][i]["weightDtypes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["dtype"].as_str().unwrap().to_string(),
                    d["precision"].clone(),
                )
            })
            .collect()
    };
    let gguf = words(0);
    assert!(
        gguf.iter().any(|(d, w)| d == "F32" && w == "float32"),
        "{gguf:?}"
    );
    let onnx = words(1);
    assert!(
        onnx.iter().any(|(d, w)| d == "FLOAT" && w == "float32"),
        "{onnx:?}"
    );
    assert!(
        !onnx.iter().any(|(d, _)| d == "INT64"),
        "INT64 shape tensors are not weights: {onnx:?}"
    );
}
