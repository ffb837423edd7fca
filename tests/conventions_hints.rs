//! Convention file names live in the convention plugins (issue 11): every name the host's
//! classifier once knew (`tokenizer.json`, `modules.json`, `training_args.bin`, `USE_POLICY`…)
//! is still classified as before, now by a plugin's hint, also when it is the only file of its
//! convention or sits in a subfolder; with `convention-hf` replaced by a plugin of the same
//! name that knows nothing (`blank-hf`), the Hugging Face names are only guesses: the
//! knowledge left the host.

use std::path::Path;

use serde_json::{Value, json};

use crate::util::{modelpack, plugins_built, test_plugin};

/// A safetensors file with one F32 tensor of `n` elements.
fn safetensors(n: u64) -> Vec<u8> {
    let header =
        json!({"w.weight": {"dtype": "F32", "shape": [n], "data_offsets": [0, n * 4]}}).to_string();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + (n * 4) as usize, 0);
    out
}

/// A pickle like the Trainer's `training_args.bin`: a `TrainingArguments` object (protocol 2,
/// GLOBAL + NEWOBJ + BUILD with a dict), no tensors.
fn training_args() -> Vec<u8> {
    let mut p = b"\x80\x02ctransformers.training_args\nTrainingArguments\n)\x81}(".to_vec();
    p.extend_from_slice(b"X\x0a\x00\x00\x00output_dirX\x03\x00\x00\x00outub.");
    p
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// `generate DIR --plan --explain`-like facts: runs `--explain` and `--plan` (JSON) with extra
/// arguments before the command; returns (explain document, plan document).
fn generate(dir: &Path, pre: &[&str]) -> (Value, Value) {
    let run = |mode: &str| {
        let out = modelpack()
            .args(pre)
            .arg("generate")
            .arg(dir)
            .arg(mode)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        serde_json::from_str::<Value>(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}\n{stderr}"))
    };
    (run("--explain"), run("--plan"))
}

/// (kind, untested, rule) of a file in an `--explain` document.
fn class(doc: &Value, path: &str) -> (String, bool, String) {
    let f = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} not classified: {doc}"));
    (
        f["kind"].as_str().unwrap().to_string(),
        f["untested"].as_bool().unwrap(),
        f["rule"].as_str().unwrap().to_string(),
    )
}

/// The `untested` annotation of a planned layer ("true" or absent).
fn layer_untested(plan: &Value, path: &str) -> bool {
    let l = plan["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["path"] == path)
        .unwrap_or_else(|| panic!("{path} not planned: {plan}"));
    match l["annotations"].get("org.cncf.model.file.mediatype.untested") {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) => panic!("{path}: untested annotation {v}"),
    }
}

/// Every name of the host's former exact-name table, with the kind it gave and the plugin
/// that now says it.
const MOVED: &[(&str, &str, &str)] = &[
    ("config.json", "weight.config", "convention-hf"),
    ("generation_config.json", "weight.config", "convention-hf"),
    ("tokenizer.json", "weight.config", "convention-hf"),
    ("tokenizer_config.json", "weight.config", "convention-hf"),
    ("special_tokens_map.json", "weight.config", "convention-hf"),
    ("added_tokens.json", "weight.config", "convention-hf"),
    ("vocab.json", "weight.config", "convention-hf"),
    ("vocab.txt", "weight.config", "convention-hf"),
    ("merges.txt", "weight.config", "convention-hf"),
    ("tokenizer.model", "weight.config", "convention-hf"),
    ("spiece.model", "weight.config", "convention-hf"),
    ("sentencepiece.model", "weight.config", "convention-hf"),
    ("sentencepiece.bpe.model", "weight.config", "convention-hf"),
    ("chat_template.jinja", "weight.config", "convention-hf"),
    ("chat_template.json", "weight.config", "convention-hf"),
    ("tool_use_template.jinja", "weight.config", "convention-hf"),
    ("cl100k_base.tiktoken", "weight.config", "convention-hf"),
    ("preprocessor_config.json", "weight.config", "convention-hf"),
    ("processor_config.json", "weight.config", "convention-hf"),
    (
        "video_preprocessor_config.json",
        "weight.config",
        "convention-hf",
    ),
    (
        "feature_extractor_config.json",
        "weight.config",
        "convention-hf",
    ),
    ("quantize_config.json", "weight.config", "convention-hf"),
    ("quant_config.json", "weight.config", "convention-hf"),
    ("quantization_config.json", "weight.config", "convention-hf"),
    ("params.json", "weight.config", "convention-hf"),
    ("trainer_state.json", "weight.config", "convention-hf"),
    (
        "pytorch_model.bin.index.json",
        "weight.config",
        "convention-hf",
    ),
    (
        "modules.json",
        "weight.config",
        "convention-sentence-transformers",
    ),
    (
        "config_sentence_transformers.json",
        "weight.config",
        "convention-sentence-transformers",
    ),
    (
        "sentence_bert_config.json",
        "weight.config",
        "convention-sentence-transformers",
    ),
    ("model_index.json", "weight.config", "convention-diffusers"),
    ("adapter_config.json", "weight.config", "convention-peft"),
    ("USE_POLICY", "doc", "convention-license"),
    ("use_policy.txt", "doc", "convention-license"),
    ("MODEL_CARD", "doc", "convention-card"),
    ("modelcard-v2.txt", "doc", "convention-card"),
];

/// Each moved name as the only convention file beside a weight, at the root and in a
/// subfolder, gets the kind the host's table gave it, confirmed, from its plugin.
#[test]
fn every_moved_name_alone_is_confirmed_by_its_plugin() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    for (i, (name, kind, plugin)) in MOVED.iter().enumerate() {
        // `modules.json` and friends hold JSON their plugins read; any JSON will do for a hint.
        let body: &[u8] = if name.ends_with(".json") {
            b"{}"
        } else {
            b"x\n"
        };
        for rel in [name.to_string(), format!("sub/{name}")] {
            let d = t.path().join(format!("m{i}-{}", rel.replace('/', "-")));
            write(&d, "model.safetensors", &safetensors(64));
            write(&d, &rel, body);
            let (doc, plan) = generate(&d, &[]);
            let (k, untested, rule) = class(&doc, &rel);
            assert_eq!((k.as_str(), untested), (*kind, false), "{rel}: {rule}");
            if rel == "sub/config.json" {
                // A component's or module's config: the host's rule for JSON configs.
                assert_eq!(rule, "configuration file name");
            } else {
                assert!(rule.ends_with(&format!("({plugin})")), "{rel}: {rule}");
            }
            assert!(!layer_untested(&plan, &rel), "{rel}");
        }
    }
}

/// Without `convention-hf` (replaced by one that knows nothing) its names are guesses:
/// `tokenizer.json` is a guessed weight.config, `tokenizer.model` guessed code, and
/// `training_args.bin` is what the PyTorch plugin says (a weight without tensors); the other
/// conventions' names still hold.
#[test]
fn without_convention_hf_its_names_are_only_guesses() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("m");
    write(&d, "model.safetensors", &safetensors(64));
    write(&d, "tokenizer.json", b"{}");
    write(&d, "tokenizer.model", b"\x0a\x05hello");
    write(&d, "training_args.bin", &training_args());
    write(&d, "modules.json", b"[]");
    write(&d, "USE_POLICY", b"Acceptable use\n");

    let (doc, plan) = generate(&d, &[]);
    let c = class(&doc, "tokenizer.json");
    assert_eq!(
        c,
        (
            "weight.config".into(),
            false,
            "tokenizer file (convention-hf)".into()
        )
    );
    assert!(!layer_untested(&plan, "tokenizer.json"));
    assert_eq!(
        class(&doc, "tokenizer.model"),
        (
            "weight.config".into(),
            false,
            "SentencePiece tokenizer model (convention-hf)".into()
        )
    );
    // A pickle the PyTorch plugin claims and finds no tensors in: the hint wins, and it feeds
    // no weight facts (the format is safetensors alone).
    assert_eq!(
        class(&doc, "training_args.bin"),
        (
            "weight.config".into(),
            false,
            "Hugging Face Trainer arguments (convention-hf); pytorch@0.2.0 found no tensors in it"
                .into()
        )
    );
    assert_eq!(doc["config"]["config"]["format"], "safetensors");

    let blank = test_plugin("blank-hf");
    let blank = blank.to_str().unwrap();
    let (doc, plan) = generate(&d, &["--plugin", blank]);
    assert_eq!(
        class(&doc, "tokenizer.json"),
        (
            "weight.config".into(),
            true,
            "configuration format (.json)".into()
        )
    );
    assert!(layer_untested(&plan, "tokenizer.json"));
    assert_eq!(
        class(&doc, "tokenizer.model"),
        (
            "code".into(),
            true,
            "unknown file (modctl's fallback: code)".into()
        )
    );
    assert_eq!(
        class(&doc, "training_args.bin"),
        (
            "weight".into(),
            false,
            "pt weights read by pytorch@0.2.0".into()
        )
    );
    // The other conventions are untouched.
    assert_eq!(
        class(&doc, "modules.json"),
        (
            "weight.config".into(),
            false,
            "sentence-transformers config (convention-sentence-transformers)".into()
        )
    );
    assert_eq!(
        class(&doc, "USE_POLICY"),
        (
            "doc".into(),
            false,
            "acceptable use policy (convention-license)".into()
        )
    );
}

/// A file a format plugin claims but cannot read is an unreadable weight (a warning, exit 1)
/// unless a convention says what it is: then it is that, with no warning.
#[test]
fn a_hint_replaces_an_unreadable_claim_but_not_a_weight() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("m");
    write(&d, "model.safetensors", &safetensors(64));
    write(
        &d,
        "training_args.bin",
        b"PK\x03\x04 not a checkpoint at all",
    );
    write(
        &d,
        "adapter_config.json",
        br#"{"peft_type": "LORA", "r": 4}"#,
    );
    // PEFT hints adapter weights as weights: a weight hint never hides an unreadable weight.
    write(&d, "adapter_model.bin", b"PK\x03\x04 truncated");
    let out = modelpack()
        .arg("generate")
        .arg(&d)
        .args(["--explain", "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (kind, untested, rule) = class(&doc, "training_args.bin");
    assert_eq!(
        (kind.as_str(), untested),
        ("weight.config", false),
        "{rule}"
    );
    assert!(
        rule.starts_with("Hugging Face Trainer arguments (convention-hf); ")
            && rule.ends_with(" could not read it"),
        "{rule}"
    );
    let (kind, untested, rule) = class(&doc, "adapter_model.bin");
    assert_eq!((kind.as_str(), untested), ("weight", true), "{rule}");
    assert!(rule.contains("but unreadable"), "{rule}");
    let warnings = doc["warnings"].to_string();
    assert!(!warnings.contains("training_args.bin"), "{warnings}");
    assert!(warnings.contains("adapter_model.bin"), "{warnings}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}
