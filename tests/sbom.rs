//! `modelpack sbom`: CycloneDX 1.6 validated by cyclonedx-python-lib's strict JSON validator,
//! SPDX 3.0.1 by the SPDX project's Python model bindings (spdx-python-model, generated from
//! the SPDX 3.0.1 SHACL model: unknown classes and properties, bad values, missing required
//! properties and dangling references are all errors), on every fixture model directory and
//! on built ones that carry lineage and data sets; two runs give identical bytes.
//!
//! The Python packages are installed by `.ci/run`; elsewhere the validation is skipped with a
//! message, and under `CI=true` a missing package is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

use crate::util::{fixtures, modelpack, plugins_built};

const CDX_CHECK: &str = "import sys\n\
from cyclonedx.validation.json import JsonStrictValidator\n\
from cyclonedx.schema import SchemaVersion\n\
err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
sys.exit(f'invalid: {err}' if err else 0)\n";

const SPDX_CHECK: &str = "import io, json, sys\n\
from spdx_python_model.bindings import v3_0_1 as spdx\n\
data = json.load(open(sys.argv[1]))\n\
assert data.get('@context') == 'https://spdx.org/rdf/3.0.1/spdx-context.jsonld', data.get('@context')\n\
objs = spdx.SHACLObjectSet()\n\
spdx.JSONLDDeserializer().deserialize_data(data, objs)\n\
missing = objs.link()\n\
if missing: sys.exit(f'unresolved references: {sorted(missing)}')\n\
spdx.JSONLDSerializer().write(objs, io.BytesIO())\n\
print(len(objs.objects))\n";

/// Whether the Python validators are importable; fails under CI when they are not.
fn validators() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import cyclonedx.validation.json, jsonschema, spdx_python_model.bindings.v3_0_1",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let why = "cyclonedx-python-lib[json-validation] or spdx-python-model is not installed";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}: CI must provide it (see .ci/run)");
        }
        eprintln!("skipping the schema validation: {why}");
    }
    ok
}

fn python_check(script: &str, file: &Path) {
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} is invalid: {}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `sbom` twice into files; asserts identical bytes; returns (exit code, bytes).
fn sbom_twice(dir: &Path, format: &str, out: &Path) -> (i32, Vec<u8>) {
    let mut first = None;
    for i in 0..2 {
        let target = out.with_extension(format!("{i}.json"));
        let o = modelpack()
            .arg("sbom")
            .arg(dir)
            .args(["--format", format, "--output"])
            .arg(&target)
            .output()
            .unwrap();
        let code = o.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let bytes = std::fs::read(&target).unwrap();
        match &first {
            None => first = Some((code, bytes)),
            Some((_, b)) => assert!(*b == bytes, "{} {format}: two runs differ", dir.display()),
        }
    }
    let (code, bytes) = first.unwrap();
    std::fs::write(out, &bytes).unwrap();
    (code, bytes)
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// A minimal GGUF v3 with only metadata (string and uint32 values).
fn gguf(kvs: &[(&str, Result<&str, u32>)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((kvs.len() as u64).to_le_bytes());
    let string = |b: &mut Vec<u8>, s: &str| {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s.as_bytes());
    };
    for (k, v) in kvs {
        string(&mut b, k);
        match v {
            Ok(s) => {
                b.extend(8u32.to_le_bytes());
                string(&mut b, s);
            }
            Err(n) => {
                b.extend(4u32.to_le_bytes());
                b.extend(n.to_le_bytes());
            }
        }
    }
    b
}

/// A GGUF model directory whose metadata names its base model and data set, with a card
/// naming others, a data file and a licence.
fn lineage_model(root: &Path) -> PathBuf {
    let m = root.join("lineage-model");
    std::fs::create_dir_all(m.join("data")).unwrap();
    std::fs::write(
        m.join("model.gguf"),
        gguf(&[
            ("general.architecture", Ok("llama")),
            ("general.name", Ok("Lineage Test")),
            ("general.base_model.count", Err(1)),
            ("general.base_model.0.name", Ok("Llama 2 7b")),
            ("general.base_model.0.organization", Ok("Meta Llama")),
            (
                "general.base_model.0.repo_url",
                Ok("https://huggingface.co/meta-llama/Llama-2-7b"),
            ),
            ("general.dataset.count", Err(1)),
            ("general.dataset.0.name", Ok("TinyStories")),
            (
                "general.dataset.0.repo_url",
                Ok("https://huggingface.co/datasets/roneneldan/TinyStories"),
            ),
        ]),
    )
    .unwrap();
    std::fs::write(
        m.join("README.md"),
        "---\nlicense: mit\npipeline_tag: text-generation\nbase_model: org/parent-model\n\
         datasets:\n- HuggingFaceH4/ultrachat_200k\n---\n# Lineage test\n",
    )
    .unwrap();
    std::fs::write(m.join("data/train.jsonl"), "{\"text\": \"hello\"}\n").unwrap();
    m
}

/// The fixture directories: the HF checkouts and the bundled example.
fn model_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures().join("hf-lfs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model"));
    dirs
}

#[test]
fn every_fixture_model_dir_gives_valid_identical_sboms() {
    if !plugins_built() {
        return;
    }
    let validate = validators();
    let tmp = tempfile::tempdir().unwrap();
    let onnx = tmp.path().join("onnx-model");
    std::fs::create_dir_all(&onnx).unwrap();
    std::fs::copy(
        fixtures().join("onnx/silero_vad_16k_op15.onnx"),
        onnx.join("model.onnx"),
    )
    .unwrap();
    let mut dirs = model_dirs();
    dirs.push(onnx);
    dirs.push(lineage_model(tmp.path()));
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (code, cdx) = sbom_twice(
            dir,
            "cyclonedx",
            &tmp.path().join(format!("{name}.cdx.json")),
        );
        let (code2, _) = sbom_twice(dir, "spdx", &tmp.path().join(format!("{name}.spdx.json")));
        assert_eq!(code, code2);
        let v: serde_json::Value = serde_json::from_slice(&cdx).unwrap();
        assert_eq!(v["specVersion"], "1.6");
        assert!(v["metadata"].get("timestamp").is_none(), "no clock: {name}");
        let model = &v["metadata"]["component"];
        assert_eq!(model["type"], "machine-learning-model");
        // Every present file is listed with its real SHA-256.
        for c in v["components"].as_array().unwrap() {
            if c["type"] != "file" {
                continue;
            }
            let path = dir.join(c["name"].as_str().unwrap());
            let missing = c["properties"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "modelpack:missing");
            if !missing {
                assert_eq!(c["hashes"][0]["content"], sha256_hex(&path), "{name}");
            }
        }
        // Exit 1 exactly when weights are missing (listed with a `modelpack:missing` property).
        let any_missing = v["components"].as_array().unwrap().iter().any(|c| {
            c["properties"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["name"] == "modelpack:missing"))
        });
        assert_eq!(code == 1, any_missing, "{name}");
        if validate {
            python_check(CDX_CHECK, &tmp.path().join(format!("{name}.cdx.json")));
            python_check(SPDX_CHECK, &tmp.path().join(format!("{name}.spdx.json")));
        }
    }
}

#[test]
fn sbom_content_follows_the_model() {
    if !plugins_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The tiny example: parameters.
    let (_, cdx) = sbom_twice(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model"),
        "cyclonedx",
        &tmp.path().join("tiny.json"),
    );
    let v: serde_json::Value = serde_json::from_slice(&cdx).unwrap();
    let model = &v["metadata"]["component"];
    let props = model["modelCard"]["properties"].as_array().unwrap();
    let prop = |n: &str| {
        props
            .iter()
            .find(|p| p["name"] == n)
            .map(|p| p["value"].as_str().unwrap().to_string())
    };
    assert_eq!(prop("modelpack:paramSize").as_deref(), Some("2.3K"));
    assert_eq!(prop("modelpack:parameters").as_deref(), Some("2320"));

    // An LFS checkout: the missing weights carry the digest their pointer names.
    let granite = fixtures().join("hf-lfs/granite-3.1-1b-a400m-instruct");
    let (code, cdx) = sbom_twice(&granite, "cyclonedx", &tmp.path().join("granite.json"));
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_slice(&cdx).unwrap();
    let weights = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "model.safetensors")
        .unwrap();
    let pointer = std::fs::read_to_string(granite.join("model.safetensors")).unwrap();
    let oid = pointer
        .lines()
        .find_map(|l| l.strip_prefix("oid sha256:"))
        .unwrap();
    assert_eq!(weights["hashes"][0]["content"], oid);

    // GGUF metadata feeds lineage and data sets; the data file is hashed.
    let m = lineage_model(tmp.path());
    let (code, cdx) = sbom_twice(&m, "cyclonedx", &tmp.path().join("lineage.json"));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_slice(&cdx).unwrap();
    let model = &v["metadata"]["component"];
    let ancestors: Vec<&str> = model["pedigree"]["ancestors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    // The GGUF plugin's general.base_model.0 and the card plugin's base_model.
    assert_eq!(ancestors, ["Llama 2 7b", "org/parent-model"]);
    let meta_base = &model["pedigree"]["ancestors"][0];
    assert_eq!(meta_base["supplier"]["name"], "Meta Llama");
    assert_eq!(
        meta_base["externalReferences"][0]["url"],
        "https://huggingface.co/meta-llama/Llama-2-7b"
    );
    assert_eq!(meta_base["properties"][0]["value"], "weights metadata");
    let card_base = &model["pedigree"]["ancestors"][1];
    assert_eq!(
        card_base["externalReferences"][0]["url"],
        "https://huggingface.co/org/parent-model"
    );
    assert_eq!(card_base["properties"][0]["value"], "convention files");
    let datasets: Vec<&str> = model["modelCard"]["modelParameters"]["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ref"].as_str().unwrap())
        .collect();
    // GGUF general.dataset.0, the card's datasets, the data layer.
    assert_eq!(
        datasets,
        [
            "dataset:HuggingFaceH4/ultrachat_200k",
            "dataset:TinyStories",
            "dataset:data/train.jsonl"
        ]
    );
    let card_data = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["bom-ref"] == "dataset:HuggingFaceH4/ultrachat_200k")
        .unwrap();
    assert_eq!(
        card_data["externalReferences"][0]["url"],
        "https://huggingface.co/datasets/HuggingFaceH4/ultrachat_200k"
    );
    let data_file = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["bom-ref"] == "dataset:data/train.jsonl")
        .unwrap();
    assert_eq!(data_file["type"], "data");
    assert_eq!(
        data_file["hashes"][0]["content"],
        sha256_hex(&m.join("data/train.jsonl"))
    );

    // SPDX: the same facts as AI/Dataset profile elements and relationships.
    let (_, spdx) = sbom_twice(&m, "spdx", &tmp.path().join("lineage.spdx.json"));
    let v: serde_json::Value = serde_json::from_slice(&spdx).unwrap();
    let graph = v["@graph"].as_array().unwrap();
    let of_type = |t: &'static str| graph.iter().filter(move |e| e["type"] == t);
    assert_eq!(of_type("dataset_DatasetPackage").count(), 3);
    let rel = |k: &str| {
        of_type("Relationship")
            .find(|r| r["relationshipType"] == k)
            .unwrap_or_else(|| panic!("no {k} relationship"))
            .clone()
    };
    assert_eq!(rel("descendantOf")["to"].as_array().unwrap().len(), 2);
    assert_eq!(rel("trainedOn")["to"].as_array().unwrap().len(), 3);
    assert_eq!(rel("contains")["to"].as_array().unwrap().len(), 3);
    let created = of_type("CreationInfo").next().unwrap();
    assert_eq!(created["created"], "1970-01-01T00:00:00Z");
}

#[test]
fn timestamps_only_when_asked_and_bad_input_is_one_line() {
    if !plugins_built() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    let out = modelpack()
        .arg("sbom")
        .arg(&dir)
        .args(["--format", "cyclonedx"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    let out = modelpack()
        .arg("sbom")
        .arg(&dir)
        .args(["--format", "spdx", "--created", "2024-02-03T04:05:06Z"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["@graph"][0]["created"], "2024-02-03T04:05:06Z");

    let out = modelpack()
        .arg("sbom")
        .arg(&dir)
        .args(["--format", "spdx", "--created", "tomorrow"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--created \"tomorrow\""), "{err}");
    assert!(out.stdout.is_empty());

    let tmp = tempfile::tempdir().unwrap();
    let out = modelpack()
        .arg("sbom")
        .arg(tmp.path().join("nope"))
        .args(["--format", "spdx"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
