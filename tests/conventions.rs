//! Convention plugins: a misbehaving one costs only its own answer, it cannot read outside
//! the model directory's listing, a vendor's `.wasm` is treated like the built-in ones, and
//! the template builds out of tree and feeds `generate --explain`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::util::{build_template, copy_tree, modelpack, plugins_built, test_plugin};

/// A safetensors file with one F32 tensor of `n` elements.
fn safetensors(n: u64) -> Vec<u8> {
    let header =
        json!({"w.weight": {"dtype": "F32", "shape": [n], "data_offsets": [0, n * 4]}}).to_string();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + (n * 4) as usize, 0);
    out
}

/// A small Hugging Face style model directory (`model/` inside a temp dir, so the temp dir's
/// other files are *outside* it), with the evil plugin's command in `EVIL`.
fn model_dir(evil: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("tiny-llama");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(t.path().join("outside.txt"), "SECRET-OUTSIDE").unwrap();
    std::fs::write(d.join("model.safetensors"), safetensors(256)).unwrap();
    std::fs::write(
        d.join("config.json"),
        r#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}"#,
    )
    .unwrap();
    std::fs::write(d.join("README.md"), "---\nlicense: mit\n---\n# Tiny\n").unwrap();
    std::fs::write(d.join(".hidden"), "SECRET-HIDDEN").unwrap();
    std::fs::write(d.join("EVIL"), format!("{evil}\n")).unwrap();
    (t, d)
}

/// `generate --explain` with extra args; (exit code, document, stderr).
fn explain(dir: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = modelpack()
        .arg("generate")
        .arg(dir)
        .arg("--explain")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), doc, stderr)
}

fn explained<'a>(doc: &'a Value, field: &str) -> &'a Value {
    doc["explain"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == field)
        .unwrap_or_else(|| panic!("{field} not explained: {doc}"))
}

/// The built-in conventions' facts, present whatever the evil plugin did.
fn assert_builtin_facts(doc: &Value) {
    let cfg = &doc["config"];
    assert_eq!(cfg["descriptor"]["family"], "llama", "{cfg}");
    assert_eq!(cfg["descriptor"]["licenses"], json!(["MIT"]), "{cfg}");
    assert_eq!(cfg["config"]["architecture"], "transformer", "{cfg}");
    assert_eq!(cfg["config"]["format"], "safetensors", "{cfg}");
    assert_eq!(
        explained(doc, "descriptor.family")["from"],
        "config.json: model_type"
    );
}

#[test]
fn misbehaving_convention_plugin_costs_only_its_answer() {
    if !plugins_built() {
        return;
    }
    let evil = test_plugin("evil-convention");
    let evil = evil.to_str().unwrap();
    let cases = [
        (
            "LOOP",
            "plugin evil-convention exceeded its CPU deadline of 1.0 s (raise with --plugin-timeout)",
        ),
        (
            "ALLOC",
            "plugin evil-convention exceeded its memory cap of 256 MiB",
        ),
        (
            "PANIC",
            "plugin evil-convention panicked: convention plugin panicked on purpose",
        ),
        (
            "BIGRESULT",
            "plugin evil-convention returned a result of about 80 MiB, over the 64 MiB cap",
        ),
        (
            "PASSWD",
            "plugin evil-convention was denied wasi:filesystem/",
        ),
        ("ERR", "plugin evil-convention failed: refusing on purpose"),
    ];
    for (cmd, want) in cases {
        let (_t, dir) = model_dir(cmd);
        // Only LOOP gets a short deadline: the epoch deadline counts wall-clock time, and a
        // loaded machine must not turn the other cases into timeouts.
        let timeout = if cmd == "LOOP" { "1" } else { "60" };
        let (code, doc, stderr) = explain(&dir, &["--plugin", evil, "--plugin-timeout", timeout]);
        assert_eq!(
            code, 1,
            "{cmd}: a failed convention plugin exits 1\n{stderr}"
        );
        let line = stderr
            .lines()
            .find(|l| l.contains("evil-convention"))
            .unwrap_or_else(|| panic!("{cmd}: no warning names the plugin:\n{stderr}"));
        assert!(line.contains(want), "{cmd}: {line}");
        assert!(
            line.ends_with("(its facts are not in the config)"),
            "{cmd}: {line}"
        );
        assert_eq!(
            stderr
                .lines()
                .filter(|l| l.contains("evil-convention"))
                .count(),
            1,
            "{cmd}: one line per failure\n{stderr}"
        );
        assert_builtin_facts(&doc);
        assert!(doc["config"]["descriptor"]["vendor"].is_null(), "{cmd}");
    }
}

#[test]
fn convention_plugin_reads_only_the_listed_files() {
    if !plugins_built() {
        return;
    }
    let (_t, dir) = model_dir("ESCAPE");
    let evil = test_plugin("evil-convention");
    let (code, doc, stderr) = explain(&dir, &["--plugin", evil.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let text = doc.to_string();
    assert!(
        !text.contains("LEAKED") && !text.contains("SECRET"),
        "{text}"
    );
    let refused: Vec<&str> = doc["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| n.starts_with("evil-convention: "))
        .collect();
    assert_eq!(refused.len(), 5, "{refused:?}");
    for n in &refused {
        assert!(n.ends_with("not a file of the model directory"), "{n}");
    }
    assert_builtin_facts(&doc);
}

#[test]
fn vendor_convention_plugin_from_the_plugin_path_is_used_and_listed() {
    if !plugins_built() {
        return;
    }
    let (_t, dir) = model_dir("OK");
    let plugdir = tempfile::tempdir().unwrap();
    std::fs::copy(
        test_plugin("evil-convention"),
        plugdir.path().join("evil-convention.wasm"),
    )
    .unwrap();
    let out = modelpack()
        .arg("generate")
        .arg(&dir)
        .arg("--explain")
        .env("MODELPACK_PLUGIN_PATH", plugdir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = explained(&doc, "descriptor.vendor");
    assert_eq!(
        (&v["value"], &v["source"], &v["from"]),
        (&json!("evil-ok"), &json!("hf-files"), &json!("EVIL"))
    );
    assert_builtin_facts(&doc);
    // Without the plugin, nobody knows the vendor.
    let (_, doc, _) = explain(&dir, &[]);
    assert!(doc["config"]["descriptor"]["vendor"].is_null());

    let out = modelpack()
        .args(["plugins", "list", "--format", "json"])
        .env("MODELPACK_PLUGIN_PATH", plugdir.path())
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<(String, String)> = list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "convention")
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["source"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut names: Vec<&str> = kinds.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "convention-card",
            "convention-diffusers",
            "convention-hf",
            "convention-hf-cache",
            "convention-license",
            "convention-mlflow",
            "convention-modelscope",
            "convention-peft",
            "convention-sentence-transformers",
            "evil-convention"
        ],
        "{list}"
    );
    let evil_from = &kinds
        .iter()
        .find(|(n, _)| n == "evil-convention")
        .unwrap()
        .1;
    assert!(evil_from.ends_with("evil-convention.wasm"), "{evil_from}");
}

#[test]
fn convention_template_builds_out_of_tree_and_feeds_generate() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (crate_dir, wasm) = build_template("convention-plugin", "toyc", work.path());

    let model = work.path().join("toy-model");
    copy_tree(&crate_dir.join("tests/data/model"), &model);
    std::fs::write(model.join("model.safetensors"), safetensors(1000)).unwrap();
    let (code, doc, stderr) = explain(&model, &["--plugin", wasm.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let v = explained(&doc, "descriptor.vendor");
    assert_eq!(
        (&v["value"], &v["source"], &v["from"]),
        (
            &json!("Toy Models Inc."),
            &json!("hf-files"),
            &json!("toyc.json: vendor")
        )
    );
    assert_eq!(
        doc["config"]["config"]["capabilities"]["languages"],
        json!(["en", "de"])
    );
    let train = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "train.jsonl")
        .unwrap();
    assert_eq!(train["kind"], "dataset", "{train}");
    assert_eq!(train["rule"], "named as data by toyc.json (toyc)");
    // The user still wins over the convention.
    let (_, doc, _) = explain(
        &model,
        &["--plugin", wasm.to_str().unwrap(), "--set", "vendor=Me"],
    );
    let v = explained(&doc, "descriptor.vendor");
    assert_eq!((&v["value"], &v["source"]), (&json!("Me"), &json!("flag")));
    assert_eq!(v["overridden"][0]["from"], "toyc.json: vendor");
}

/// `generate --explain` on a directory built from `(path, contents)` plus one safetensors file.
fn explain_built(name: &str, files: &[(&str, &str)], weights: &str) -> (tempfile::TempDir, Value) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join(name);
    for (p, c) in files {
        let p = d.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, c).unwrap();
    }
    let w = d.join(weights);
    std::fs::create_dir_all(w.parent().unwrap()).unwrap();
    std::fs::write(w, safetensors(4096)).unwrap();
    let (code, doc, stderr) = explain(&d, &[]);
    assert_eq!(code, 0, "{stderr}");
    (t, doc)
}

fn class<'a>(doc: &'a Value, path: &str) -> &'a Value {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} not classified: {doc}"))
}

#[test]
fn peft_adapter_directory() {
    if !plugins_built() {
        return;
    }
    let (_t, doc) = explain_built(
        "llama-lora",
        &[(
            "adapter_config.json",
            r#"{"base_model_name_or_path": "meta-llama/Llama-2-7b-hf", "peft_type": "LORA", "r": 8,
                "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}"#,
        )],
        "adapter_model.safetensors",
    );
    let d = explained(&doc, "descriptor.description");
    assert_eq!(
        d["value"],
        "LORA adapter for meta-llama/Llama-2-7b-hf (r 8; lora_alpha 16; target modules q_proj, v_proj)"
    );
    assert_eq!(d["from"], "adapter_config.json: peft_type");
    assert_eq!(
        doc["config"]["config"]["capabilities"]["outputTypes"],
        json!(["text"])
    );
    // paramSize is the adapter's own.
    assert_eq!(doc["config"]["config"]["paramSize"], "4.1K");
    assert_eq!(class(&doc, "adapter_model.safetensors")["kind"], "weight");
    assert_eq!(class(&doc, "adapter_config.json")["kind"], "weight.config");
    assert!(
        doc["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .ends_with("not those of meta-llama/Llama-2-7b-hf")),
        "{}",
        doc["notes"]
    );
}

#[test]
fn diffusers_pipeline_directory() {
    if !plugins_built() {
        return;
    }
    let (_t, doc) = explain_built(
        "sdxl-tiny",
        &[
            (
                "model_index.json",
                r#"{"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.25.0",
                    "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                    "scheduler": ["diffusers", "EulerDiscreteScheduler"]}"#,
            ),
            (
                "unet/config.json",
                r#"{"_class_name": "UNet2DConditionModel"}"#,
            ),
            (
                "scheduler/scheduler_config.json",
                r#"{"_class_name": "EulerDiscreteScheduler"}"#,
            ),
        ],
        "unet/diffusion_pytorch_model.safetensors",
    );
    let cfg = &doc["config"];
    assert_eq!(cfg["descriptor"]["family"], "stable-diffusion-xl");
    assert_eq!(cfg["config"]["architecture"], "diffusion");
    assert_eq!(cfg["config"]["capabilities"]["inputTypes"], json!(["text"]));
    assert_eq!(
        cfg["config"]["capabilities"]["outputTypes"],
        json!(["image"])
    );
    assert_eq!(
        explained(&doc, "config.architecture")["note"],
        "StableDiffusionXLPipeline: scheduler EulerDiscreteScheduler, unet UNet2DConditionModel, vae AutoencoderKL"
    );
    assert_eq!(
        class(&doc, "scheduler/scheduler_config.json")["kind"],
        "weight.config"
    );
}

#[test]
fn sentence_transformers_directory() {
    if !plugins_built() {
        return;
    }
    let (_t, doc) = explain_built(
        "all-MiniLM-L6-v2",
        &[
            (
                "modules.json",
                r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                    {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#,
            ),
            (
                "1_Pooling/config.json",
                r#"{"word_embedding_dimension": 384, "pooling_mode_mean_tokens": true}"#,
            ),
            ("sentence_bert_config.json", r#"{"max_seq_length": 256}"#),
            (
                "config.json",
                r#"{"model_type": "bert", "architectures": ["BertModel"]}"#,
            ),
        ],
        "model.safetensors",
    );
    let caps = &doc["config"]["config"]["capabilities"];
    assert_eq!(
        (&caps["inputTypes"], &caps["outputTypes"]),
        (&json!(["text"]), &json!(["embedding"]))
    );
    assert_eq!(
        explained(&doc, "config.capabilities.outputTypes")["note"],
        "sentence-transformers modules: Transformer → Pooling (mean_tokens); 384-dimensional embeddings; max_seq_length 256"
    );
    // config.json is still the Hugging Face convention's.
    assert_eq!(doc["config"]["descriptor"]["family"], "bert");
    assert_eq!(
        class(&doc, "1_Pooling/config.json")["kind"],
        "weight.config"
    );
}

#[test]
fn mlflow_and_modelscope_directories() {
    if !plugins_built() {
        return;
    }
    let (_t, doc) = explain_built(
        "gpt2-mlflow",
        &[(
            "MLmodel",
            "flavors:\n  python_function:\n    loader_module: mlflow.transformers\n  transformers:\n    \
             source_model_name: openai-community/gpt2\n    task: text-generation\nmlflow_version: 2.8.0\n\
             utc_time_created: '2023-11-01 12:34:56.789012'\n",
        )],
        "model/model.safetensors",
    );
    let c = explained(&doc, "descriptor.createdAt");
    assert_eq!(
        (&c["value"], &c["from"]),
        (
            &json!("2023-11-01T12:34:56Z"),
            &json!("MLmodel: utc_time_created")
        )
    );
    assert_eq!(
        doc["config"]["config"]["capabilities"]["outputTypes"],
        json!(["text"])
    );
    assert_eq!(class(&doc, "MLmodel")["kind"], "weight.config");

    let (_t, doc) = explain_built(
        "qwen-ms",
        &[(
            "configuration.json",
            r#"{"framework": "pytorch", "task": "chat", "model": {"type": "qwen2"}}"#,
        )],
        "model.safetensors",
    );
    let f = explained(&doc, "descriptor.family");
    assert_eq!(
        (&f["value"], &f["from"]),
        (&json!("qwen2"), &json!("configuration.json: model.type"))
    );
    assert_eq!(
        doc["config"]["config"]["capabilities"]["inputTypes"],
        json!(["text"])
    );
}
