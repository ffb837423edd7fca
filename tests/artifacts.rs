//! `convert SOURCE`: foreign artifacts into ModelPack. Every source is built here by hand from
//! its format's own documentation and source (docs/converters.md), with real weights from the
//! shared fixtures: an Ollama store (GGUF, template, params, licence), a Docker model artifact,
//! a legacy `vnd.cnai` artifact, ModelKits from before v0.5 and from 1.x with a parent,
//! prompts and a remote dataset. Each must convert into a layout that passes
//! `validate --strict`, keeps the weight layers' digests, and unpacks to the source's files.
//! Bad sources and a hostile converter plugin get one line, exit 2, and leave nothing behind.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::hostile_files::{outcome, run};
use crate::util::{env, fixtures, plugins_built, test_plugin};

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn gguf() -> Vec<u8> {
    std::fs::read(fixtures().join("gguf/llama-2-tiny-random.gguf")).unwrap()
}

fn safetensors() -> Vec<u8> {
    std::fs::read(fixtures().join("safetensors/mnist-tinygrad.safetensors")).unwrap()
}

/// A tar of `(path, bytes)` members, as KitOps and modctl write them.
fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, p, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::encode_all(b, 1).unwrap()
}

/// An OCI image layout written by hand.
struct Layout {
    dir: PathBuf,
    manifests: Vec<Value>,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
            manifests: vec![],
        }
    }

    /// Stores a blob; its descriptor with `media_type`.
    fn blob(&self, media_type: &str, b: &[u8]) -> Value {
        let d = sha(b);
        std::fs::write(self.dir.join("blobs/sha256").join(&d[7..]), b).unwrap();
        json!({"mediaType": media_type, "digest": d, "size": b.len()})
    }

    /// Stores a manifest under `tag`; returns its bytes.
    fn manifest(&mut self, m: &Value, tag: &str) -> Vec<u8> {
        let bytes = serde_json::to_vec(m).unwrap();
        let mut d = self.blob("application/vnd.oci.image.manifest.v1+json", &bytes);
        d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.manifests.push(d);
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": self.manifests})).unwrap(),
        )
        .unwrap();
        bytes
    }
}

fn with(desc: Value, annotations: Value) -> Value {
    let mut d = desc;
    d["annotations"] = annotations;
    d
}

/// Runs convert with `--format json`; (code, json or error doc, stderr).
fn convert(args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["convert", "--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = outcome(&run(&all));
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    (code, v, err)
}

fn validate_strict(layout: &Path) {
    let (code, out, err) = outcome(&run(&[
        "validate",
        "--strict",
        &layout.display().to_string(),
    ]));
    assert_eq!(code, 0, "validate --strict: {out}{err}");
}

/// Unpacks the layout; the files and their bytes.
fn unpacked(layout: &Path) -> BTreeMap<String, Vec<u8>> {
    let out = layout.with_extension("unpacked");
    let (code, o, e) = outcome(&run(&[
        "unpack",
        &layout.display().to_string(),
        "--output",
        &out.display().to_string(),
    ]));
    assert_eq!(code, 0, "unpack: {o}{e}");
    let mut files = BTreeMap::new();
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(&out).unwrap().to_string_lossy().into_owned();
                files.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    files
}

/// The written layout's manifest and config.
fn written(layout: &Path) -> (Value, Value) {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let blob = |d: &str| std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap();
    let m: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let c: Value = serde_json::from_slice(&blob(m["config"]["digest"].as_str().unwrap())).unwrap();
    (m, c)
}

/// Nothing but `keep` in `dir`: no output, no staging directory.
fn only(dir: &Path, keep: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want, "left behind in {}", dir.display());
}

/// An Ollama store with one model: GGUF weights, template, params, licence.
fn ollama_store(root: &Path) -> BTreeMap<&'static str, Vec<u8>> {
    let files: BTreeMap<&str, Vec<u8>> = [
        ("model.gguf", gguf()),
        ("template", b"{{ .System }}\n{{ .Prompt }}".to_vec()),
        (
            "params.json",
            br#"{"stop":["</s>"],"temperature":0.7}"#.to_vec(),
        ),
        (
            "LICENSE",
            b"MIT License\n\nPermission is hereby granted...".to_vec(),
        ),
    ]
    .into();
    let config = br#"{"model_format":"gguf","model_family":"llama","model_families":["llama"],"model_type":"513K","file_type":"F16","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    std::fs::create_dir_all(root.join("blobs")).unwrap();
    let put = |mt: &str, b: &[u8]| {
        let d = sha(b);
        std::fs::write(root.join("blobs").join(d.replace(':', "-")), b).unwrap();
        json!({"mediaType": mt, "digest": d, "size": b.len()})
    };
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": put("application/vnd.docker.container.image.v1+json", config),
        "layers": [
            put("application/vnd.ollama.image.model", &files["model.gguf"]),
            put("application/vnd.ollama.image.template", &files["template"]),
            put("application/vnd.ollama.image.params", &files["params.json"]),
            put("application/vnd.ollama.image.license", &files["LICENSE"]),
        ]
    });
    let dir = root.join("manifests/registry.ollama.ai/library/tiny");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("q4"), serde_json::to_vec(&m).unwrap()).unwrap();
    files
}

#[test]
fn an_ollama_model_converts_with_its_blobs_kept() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("models");
    let files = ollama_store(&store);
    let out = t.path().join("out");
    let (code, v, err) = convert(&[
        "ollama:tiny:q4",
        "--ollama-dir",
        &store.display().to_string(),
        "--output",
        &format!("{}:v1", out.display()),
    ]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["converter"], "ollama@0.1.0");
    assert_eq!(v["source"], "ollama:registry.ollama.ai/library/tiny:q4");
    assert_eq!(v["bytesRead"], 0, "raw layers are linked, never read: {v}");
    let (m, c) = written(&out);
    let layers = m["layers"].as_array().unwrap();
    let by_path: BTreeMap<&str, &Value> = layers
        .iter()
        .map(|l| {
            (
                l["annotations"]["org.cncf.model.filepath"]
                    .as_str()
                    .unwrap(),
                l,
            )
        })
        .collect();
    for (path, bytes) in &files {
        assert_eq!(
            by_path[path]["digest"],
            sha(bytes),
            "{path} keeps its digest"
        );
    }
    assert_eq!(
        by_path["model.gguf"]["mediaType"],
        "application/vnd.cncf.model.weight.v1.raw"
    );
    assert_eq!(
        by_path["template"]["mediaType"],
        "application/vnd.cncf.model.weight.config.v1.raw"
    );
    assert_eq!(
        by_path["LICENSE"]["mediaType"],
        "application/vnd.cncf.model.doc.v1.raw"
    );
    assert_eq!(
        by_path["model.gguf"]["annotations"]["org.opencontainers.image.title"],
        "model.gguf"
    );
    // The GGUF header was read like a .gguf file's: its counts win over Ollama's rounding.
    assert_eq!(c["config"]["format"], "gguf");
    assert_eq!(c["config"]["paramSize"], "513.0K");
    assert_eq!(c["config"]["precision"], "float16,float32");
    assert!(
        c["config"].get("quantization").is_none(),
        "F16 is no quantisation: {c}"
    );
    assert_eq!(c["descriptor"]["family"], "llama");
    let diff: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    assert_eq!(
        c["modelfs"]["diffIds"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        diff
    );
    let explained: Vec<(&str, &str)> = v["explain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["from"].as_str().unwrap()))
        .collect();
    assert!(
        explained.contains(&("config.paramSize", "weight files")),
        "{explained:?}"
    );
    assert!(
        explained.contains(&("descriptor.family", "ollama@0.1.0: config: model_family")),
        "{explained:?}"
    );
    validate_strict(&out);
    let got = unpacked(&out);
    let want: BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_docker_model_artifact_converts() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mut l = Layout::new(&t.path().join("src"));
    let g = gguf();
    let license = b"Apache License 2.0 ...".to_vec();
    let config = json!({"config": {"format": "gguf", "quantization": "F16", "parameters": "513.05 K", "architecture": "llama", "size": "1750560"},
        "descriptor": {"created": "2025-05-01T12:00:00Z"}, "rootfs": {"type": "rootfs", "diff_ids": [sha(&g), sha(&license)]}});
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": l.blob("application/vnd.docker.ai.model.config.v0.1+json", &serde_json::to_vec(&config).unwrap()),
        "layers": [l.blob("application/vnd.docker.ai.gguf.v3", &g), l.blob("application/vnd.docker.ai.license", &license)]
    });
    l.manifest(&m, "latest");
    let out = t.path().join("out");
    let (code, v, err) = convert(&[
        &l.dir.display().to_string(),
        "--output",
        &out.display().to_string(),
        "--copy",
    ]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["converter"], "docker-model@0.1.0");
    // --copy reads each blob once, hashing it on the way.
    assert_eq!(v["bytesRead"], g.len() + license.len());
    let (m, c) = written(&out);
    assert_eq!(m["layers"][0]["digest"], sha(&g));
    assert_eq!(c["descriptor"]["createdAt"], "2025-05-01T12:00:00Z");
    // "513.05 K" is no spec paramSize: dropped with a warning, the GGUF count stands.
    assert_eq!(c["config"]["paramSize"], "513.0K");
    assert!(
        v["warnings"].to_string().contains("config.parameters")
            || v["warnings"].to_string().contains("paramSize"),
        "{v}"
    );
    validate_strict(&out);
    let got = unpacked(&out);
    assert_eq!(got["model.gguf"], g);
    assert_eq!(got["LICENSE"], license);
}

#[test]
fn a_legacy_vnd_cnai_artifact_is_renamed_with_every_blob_kept() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mut l = Layout::new(&t.path().join("src"));
    let w = safetensors();
    let readme = tar(&[("README.md", b"# mnist\n")]);
    let meta = r#"{"gid":0,"mode":420,"mtime":"2025-01-01T00:00:00Z","name":"model.safetensors","size":406688,"typeflag":48,"uid":0}"#;
    let config = json!({"descriptor": {"name": "mnist", "licenses": ["MIT"]}, "config": {"format": "safetensors"},
                        "modelfs": {"type": "layers", "diffIds": [sha(&w), sha(&readme)]}});
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cnai.model.manifest.v1+json",
        "config": l.blob("application/vnd.cnai.model.config.v1+json", &serde_json::to_vec(&config).unwrap()),
        "layers": [
            with(l.blob("application/vnd.cnai.model.weight.v1.raw", &w),
                 json!({"org.cnai.model.filepath": "model.safetensors", "org.cnai.model.file.metadata+json": meta})),
            with(l.blob("application/vnd.cnai.model.doc.v1.tar", &readme), json!({"org.cnai.model.filepath": "README.md"})),
        ]
    });
    l.manifest(&m, "v1");
    let out = t.path().join("out");
    let (code, v, err) = convert(&[
        &format!("oci:{}:v1", l.dir.display()),
        "--output",
        &out.display().to_string(),
    ]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["converter"], "cnai@0.1.0");
    let (m, c) = written(&out);
    assert_eq!(
        m["artifactType"],
        "application/vnd.cncf.model.manifest.v1+json"
    );
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.cncf.model.weight.v1.raw"
    );
    assert_eq!(m["layers"][0]["digest"], sha(&w));
    assert_eq!(
        m["layers"][0]["annotations"]["org.cncf.model.file.metadata+json"],
        meta
    );
    assert!(!m.to_string().contains("org.cnai."), "{m}");
    assert_eq!(
        m["layers"][1]["mediaType"],
        "application/vnd.cncf.model.doc.v1.tar"
    );
    assert_eq!(m["layers"][1]["digest"], sha(&readme));
    assert_eq!(c["descriptor"]["name"], "mnist");
    assert_eq!(c["descriptor"]["licenses"], json!(["MIT"]));
    assert_eq!(c["modelfs"]["diffIds"], json!([sha(&w), sha(&readme)]));
    validate_strict(&out);
    let got = unpacked(&out);
    assert_eq!(got["model.safetensors"], w);
    assert_eq!(got["README.md"], b"# mnist\n");
}

/// A layout with a pre-v0.5 parent ModelKit (tag `v1`, gzip layers, no digests in its Kitfile)
/// and a 1.x child (tag `child`) whose model lives in the parent, with prompts, a local zstd
/// dataset, a remote dataset and docs.
struct Kits {
    layout: PathBuf,
    model_tar: Vec<u8>,
    model_gz: Vec<u8>,
    dataset_tar: Vec<u8>,
    dataset_zst: Vec<u8>,
}

fn kits(dir: &Path) -> Kits {
    let mut l = Layout::new(dir);
    let model_tar = tar(&[("model.gguf", &gguf())]);
    let model_gz = gzip(&model_tar);
    let code_gz = gzip(&tar(&[("src/train.py", b"print('train')\n")]));
    let parent_kitfile = json!({"manifestVersion": "1.0", "package": {"name": "base", "license": "MIT"},
        "model": {"name": "tiny", "path": "./model.gguf", "format": "gguf"}, "code": [{"path": "./src"}]});
    let pm = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": l.blob("application/vnd.kitops.modelkit.config.v1+json", &serde_json::to_vec(&parent_kitfile).unwrap()),
        "layers": [l.blob("application/vnd.kitops.modelkit.model.v1.tar+gzip", &model_gz),
                   l.blob("application/vnd.kitops.modelkit.code.v1.tar+gzip", &code_gz)]});
    l.manifest(&pm, "v1");

    let prompt = tar(&[("prompts/system.md", b"You are terse.\n")]);
    let dataset_tar = tar(&[("data/eval.csv", b"q,a\n1,2\n")]);
    let dataset_zst = zstd(&dataset_tar);
    let docs = tar(&[("README.md", b"# child\n")]);
    let child_kitfile = json!({"manifestVersion": "1.0",
        "package": {"name": "child", "version": "2.0.0", "description": "a tuned child", "authors": ["Ada"], "license": "Apache-2.0"},
        "model": {"name": "tiny", "path": "registry.example.com/org/base:v1"},
        "prompts": [{"path": "prompts/system.md", "digest": sha(&prompt)}],
        "datasets": [{"name": "big", "path": "big", "remotePath": "s3://bucket/big.parquet"},
                     {"name": "eval", "path": "data/eval.csv", "digest": sha(&dataset_zst), "license": "CC-BY-4.0"}],
        "docs": [{"path": "README.md", "digest": sha(&docs)}]});
    let cm = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.kitops.modelkit.manifest.v1+json",
        "config": l.blob("application/vnd.kitops.modelkit.config.v1+json", &serde_json::to_vec(&child_kitfile).unwrap()),
        "layers": [with(l.blob("application/vnd.kitops.modelkit.code.v1.tar", &prompt), json!({"ml.kitops.modelkit.layer-subtype": "prompt"})),
                   l.blob("application/vnd.kitops.modelkit.dataset.v1.tar+zstd", &dataset_zst),
                   l.blob("application/vnd.kitops.modelkit.docs.v1.tar", &docs)]});
    l.manifest(&cm, "child");
    Kits {
        layout: dir.to_path_buf(),
        model_tar,
        model_gz,
        dataset_tar,
        dataset_zst,
    }
}

#[test]
fn modelkits_old_and_new_with_a_parent_convert() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let k = kits(&t.path().join("kits"));

    // The pre-v0.5 parent alone: layers matched by order, gzip kept, diffId uncompressed.
    let out = t.path().join("base");
    let (code, v, err) = convert(&[
        &format!("{}:v1", k.layout.display()),
        "--output",
        &out.display().to_string(),
    ]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["converter"], "kitops@0.1.0");
    let (m, c) = written(&out);
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.cncf.model.weight.v1.tar+gzip"
    );
    assert_eq!(m["layers"][0]["digest"], sha(&k.model_gz));
    assert_eq!(
        m["layers"][0]["annotations"]["org.cncf.model.filepath"],
        "model.gguf"
    );
    assert_eq!(
        m["layers"][1]["mediaType"],
        "application/vnd.cncf.model.code.v1.tar+gzip"
    );
    assert_eq!(
        c["modelfs"]["diffIds"][0],
        sha(&k.model_tar),
        "a gzip layer's diffId is the tar's digest"
    );
    assert_eq!(c["descriptor"]["name"], "base");
    validate_strict(&out);
    let got = unpacked(&out);
    assert_eq!(got["model.gguf"], gguf());
    assert_eq!(got["src/train.py"], b"print('train')\n");

    // The 1.x child: the parent's model layer is reused, its own layers follow.
    let out = t.path().join("child");
    let (code, v, err) = convert(&[
        &format!("{}:child", k.layout.display()),
        "--output",
        &out.display().to_string(),
        "--explain",
    ]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["referenced"], json!(["registry.example.com/org/base:v1"]));
    let (m, c) = written(&out);
    let layers = m["layers"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = layers
        .iter()
        .map(|l| {
            (
                l["annotations"]["org.cncf.model.filepath"]
                    .as_str()
                    .unwrap(),
                l["mediaType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (
                "model.gguf",
                "application/vnd.cncf.model.weight.v1.tar+gzip"
            ),
            (
                "prompts/system.md",
                "application/vnd.cncf.model.code.v1.tar"
            ),
            (
                "data/eval.csv",
                "application/vnd.cncf.model.dataset.v1.tar+zstd"
            ),
            ("README.md", "application/vnd.cncf.model.doc.v1.tar"),
        ]
    );
    assert_eq!(
        layers[0]["digest"],
        sha(&k.model_gz),
        "the parent's weights keep their digest"
    );
    assert_eq!(layers[2]["digest"], sha(&k.dataset_zst));
    assert_eq!(c["modelfs"]["diffIds"][2], sha(&k.dataset_tar));
    assert_eq!(
        c["descriptor"]["datasetsURL"],
        json!(["s3://bucket/big.parquet"])
    );
    assert_eq!(
        c["descriptor"]["licenses"],
        json!(["Apache-2.0", "CC-BY-4.0"])
    );
    assert_eq!(c["descriptor"]["authors"], json!(["Ada"]));
    assert_eq!(c["descriptor"]["version"], "2.0.0");
    validate_strict(&out);
    let got = unpacked(&out);
    assert_eq!(
        got.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "README.md",
            "data/eval.csv",
            "model.gguf",
            "prompts/system.md"
        ]
    );
    assert_eq!(got["model.gguf"], gguf());
}

fn assert_refused(code: i32, v: &Value, err: &str, want: &str) {
    assert_eq!(code, 2, "{v}\n{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(want), "wanted {want:?} in: {err}");
}

#[test]
fn bad_sources_give_one_line_and_leave_nothing() {
    if !plugins_built() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let out_s = out.display().to_string();

    // A truncated Ollama manifest.
    let store = t.path().join("models");
    ollama_store(&store);
    let mf = store.join("manifests/registry.ollama.ai/library/tiny/q4");
    let full = std::fs::read(&mf).unwrap();
    std::fs::write(&mf, &full[..full.len() / 2]).unwrap();
    let (code, v, err) = convert(&[
        "ollama:tiny:q4",
        "--ollama-dir",
        &store.display().to_string(),
        "--output",
        &out_s,
    ]);
    assert_refused(
        code,
        &v,
        &err,
        "the manifest is not JSON: EOF while parsing",
    );
    only(t.path(), &["models"]);

    // A Kitfile naming layers the manifest lacks.
    let mut l = Layout::new(&t.path().join("kit"));
    let model = gzip(&tar(&[("m.onnx", b"onnx")]));
    let kf = json!({"manifestVersion": "1.0", "model": {"path": "m.onnx", "parts": [{"path": "tok.json"}]}});
    let m = json!({"schemaVersion": 2, "config": l.blob("application/vnd.kitops.modelkit.config.v1+json", &serde_json::to_vec(&kf).unwrap()),
        "layers": [l.blob("application/vnd.kitops.modelkit.model.v1.tar+gzip", &model)]});
    l.manifest(&m, "latest");
    let (code, v, err) = convert(&[&l.dir.display().to_string(), "--output", &out_s]);
    assert_refused(
        code,
        &v,
        &err,
        "the Kitfile lists 1 model parts but the manifest has 0 such layers",
    );

    // A parent loop: a → b → a.
    let mut lp = Layout::new(&t.path().join("loop"));
    for (tag, parent) in [
        ("a", "registry.example.com/org/kit:b"),
        ("b", "registry.example.com/org/kit:a"),
    ] {
        let kf = json!({"manifestVersion": "1.0", "model": {"path": parent}, "docs": [{"path": "README.md"}]});
        let m = json!({"schemaVersion": 2, "config": lp.blob("application/vnd.kitops.modelkit.config.v1+json", &serde_json::to_vec(&kf).unwrap()),
            "layers": [lp.blob("application/vnd.kitops.modelkit.docs.v1.tar", &tar(&[("README.md", tag.as_bytes())]))]});
        lp.manifest(&m, tag);
    }
    let (code, v, err) = convert(&[&format!("{}:a", lp.dir.display()), "--output", &out_s]);
    assert_refused(
        code,
        &v,
        &err,
        "registry.example.com/org/kit:b=>registry.example.com/org/kit:a",
    );
    // A parent the source does not hold.
    let kf = json!({"manifestVersion": "1.0", "model": {"path": "registry.example.com/org/none:v9"}, "docs": [{"path": "README.md"}]});
    let m = json!({"schemaVersion": 2, "config": l.blob("application/vnd.kitops.modelkit.config.v1+json", &serde_json::to_vec(&kf).unwrap()),
        "layers": [l.blob("application/vnd.kitops.modelkit.docs.v1.tar", &tar(&[("README.md", b"orphan")]))]});
    l.manifest(&m, "orphan");
    let (code, v, err) = convert(&[&format!("{}:orphan", l.dir.display()), "--output", &out_s]);
    assert_refused(
        code,
        &v,
        &err,
        "needs registry.example.com/org/none:v9, which the source does not hold",
    );

    // A layer blob whose bytes are not what its digest says (copy verifies).
    let k = kits(&t.path().join("kits3"));
    let gz = k.layout.join("blobs/sha256").join(&sha(&k.model_gz)[7..]);
    let mut bad = k.model_gz.clone();
    let n = bad.len();
    bad[n / 2] ^= 0xff;
    std::fs::write(&gz, &bad).unwrap();
    let (code, v, err) = convert(&[
        &format!("{}:v1", k.layout.display()),
        "--output",
        &out_s,
        "--copy",
    ]);
    assert_refused(code, &v, &err, "does not hold the blob its digest names");

    // A ModelPack layout is not foreign: it is named as such, not blamed on the converters.
    let mp = t.path().join("mp");
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    let (code, _, err) = outcome(&run(&[
        "pack",
        &tiny.display().to_string(),
        "-o",
        &mp.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    let (code, v, err) = convert(&[&mp.display().to_string(), "--output", &out_s]);
    assert_refused(code, &v, &err, "already a ModelPack artifact");
    only(t.path(), &["models", "kit", "loop", "kits3", "mp"]);
}

#[test]
fn a_hostile_converter_plan_is_refused_by_the_host() {
    if !plugins_built() {
        return;
    }
    let evil = test_plugin("evil-converter").display().to_string();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out").display().to_string();
    let cases = [
        (
            "foreign-digest",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000 is not a layer of the source",
        ),
        (
            "traversal",
            "path \"../../outside.bin\" has an empty, `.` or `..` component",
        ),
        ("same-path", "path \"w.bin\" is planned twice"),
        ("split", "`split` is not carried out by this host"),
        (
            "needs-forever",
            "still needed more artifacts after 11 rounds",
        ),
        ("huge", "planned 20000 layers, more than the 4096 accepted"),
    ];
    for (mode, want) in cases {
        let mut l = Layout::new(&t.path().join(mode));
        let m = json!({"schemaVersion": 2, "annotations": {"evil.mode": mode},
            "config": l.blob("application/vnd.example.evil.config+json", b"{}"),
            "layers": [l.blob("application/octet-stream", b"weights")]});
        // Tagged v1: every reference `needs-forever` invents (`…/rN:v1`) resolves by its tag.
        l.manifest(&m, "v1");
        let (code, v, err) = convert(&[
            "--plugin",
            &evil,
            &l.dir.display().to_string(),
            "--output",
            &out,
        ]);
        assert_refused(code, &v, &err, want);
        assert!(!t.path().join("outside.bin").exists());
    }
    let mut names: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "foreign-digest",
            "huge",
            "needs-forever",
            "same-path",
            "split",
            "traversal"
        ]
    );
}

#[test]
fn a_converted_artifact_pushed_is_pulled_byte_identical_by_skopeo() {
    if !plugins_built() {
        return;
    }
    let Some(registry) = env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    if !std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("skopeo is not installed: CI must provide it (see .ci/run)");
        }
        eprintln!("skipping: skopeo is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let k = kits(&t.path().join("kits"));
    let out = t.path().join("out");
    let (code, v, err) = convert(&[
        &format!("{}:child", k.layout.display()),
        "--output",
        &format!("{}:c1", out.display()),
    ]);
    assert_eq!(code, 0, "{v}\n{err}");
    let repo = format!(
        "modelpack-test/convert{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let remote = format!("{registry}/{repo}:c1");
    let (code, o, e) = outcome(&run(&["push", &format!("{}:c1", out.display()), &remote]));
    assert_eq!(code, 0, "push: {o}{e}");
    let back = t.path().join("back");
    let copied = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{remote}"),
            &format!("oci:{}:c1", back.display()),
        ])
        .output()
        .unwrap();
    assert!(
        copied.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let digest_of = |dir: &Path| -> String {
        let i: Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        i["manifests"][0]["digest"].as_str().unwrap().to_string()
    };
    assert_eq!(digest_of(&back), v["manifest"].as_str().unwrap());
    // Every blob of the converted layout came back with the same bytes.
    let blobs = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir.join("blobs/sha256"))
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(blobs(&back), blobs(&out));
    assert!(
        blobs(&out).contains_key(&sha(&k.model_gz)[7..]),
        "the parent's model blob is in the push"
    );

    // A ModelKit in the registry (copied there by skopeo, not by us) converts from its reference.
    let kit = format!("{registry}/{repo}-kit:v1");
    let copied = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", k.layout.display()),
            &format!("docker://{kit}"),
        ])
        .output()
        .unwrap();
    assert!(
        copied.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let from_reg = t.path().join("from-registry");
    let (code, v, err) = convert(&[&kit, "--output", &from_reg.display().to_string()]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["source"], format!("registry:{kit}"));
    let (m, _) = written(&from_reg);
    assert_eq!(m["layers"][0]["digest"], sha(&k.model_gz));
    validate_strict(&from_reg);
    assert_eq!(unpacked(&from_reg)["model.gguf"], gguf());
    // The pull it converted from is gone.
    only(
        t.path(),
        &[
            "kits",
            "out",
            "back",
            "from-registry",
            "from-registry.unpacked",
        ],
    );

    // Registry to registry: --push without --output keeps no layout; the conversion is staged
    // in the temporary directory and gone after the push, and the pushed manifest is the one
    // the same conversion into a layout wrote.
    let tmp = t.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let converted = format!("{registry}/{repo}-converted:v1");
    let out = crate::util::modelpack()
        .env("TMPDIR", &tmp)
        .args(["convert", &kit, "--push", &converted, "--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(p["output"], format!("registry:{converted}"));
    assert_eq!(p["pushed"]["manifest"], m_digest(&from_reg));
    assert_eq!(p["pushed"]["target"], converted.as_str());
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "staging left behind"
    );
    let back2 = t.path().join("back2");
    let copied = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{converted}"),
            &format!("oci:{}:v1", back2.display()),
        ])
        .output()
        .unwrap();
    assert!(
        copied.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&copied.stderr)
    );
    assert_eq!(digest_of(&back2), m_digest(&from_reg));
    // --push is for artifact sources; a weight conversion names its directory.
    let (code, o, e) = outcome(&run(&["convert", "x.bin", "--push", &converted]));
    assert_eq!(code, 2, "{o}{e}");
    assert!(e.contains("--push takes an artifact source"), "{e}");
}

/// The manifest digest a layout's (only) index entry names.
fn m_digest(dir: &Path) -> String {
    let i: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    i["manifests"][0]["digest"].as_str().unwrap().to_string()
}
