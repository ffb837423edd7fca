//! Every NumPy fixture against the reference JSON made with numpy 2.4.

mod common;

use std::collections::BTreeMap;

use modelpack_plugin_sdk::FileSource;
use modelpack_plugin_sdk::prelude::*;
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

#[test]
fn every_numpy_fixture_matches_the_reference() {
    let files = common::fixture_files("numpy");
    assert!(
        files.len() >= 5,
        "expected the numpy fixtures, found {files:?}"
    );
    for file in files {
        let want = reference(&file);
        let src = FileSource::open(&file).expect("open fixture");
        let got = numpy::inspect(&[&src as &dyn Source]);
        let name = file.display();
        if want["valid"] == J::Bool(false) {
            assert!(got.is_err(), "{name}: negative fixture should fail");
            continue;
        }
        let r = got.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(r.format, want["format"].as_str().unwrap(), "{name}: format");
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
        let mut dp: BTreeMap<String, u64> = BTreeMap::new();
        for t in &r.tensors {
            *dp.entry(t.dtype.clone()).or_default() += t.shape.iter().product::<u64>();
        }
        let want_dp: BTreeMap<String, u64> = want["dtype_parameters"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(dp, want_dp, "{name}: dtype_parameters");
        for (g, w) in r.tensors.iter().zip(want["tensors"].as_array().unwrap()) {
            assert_eq!(g.name, w["name"].as_str().unwrap(), "{name}: tensor name");
            assert_eq!(g.dtype, w["dtype"].as_str().unwrap(), "{name}: dtype");
            let shape: Vec<u64> = w["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            assert_eq!(g.shape, shape, "{name}: shape");
        }
        let objects: Vec<&str> = want["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["has_object"] == J::Bool(true))
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let flagged: Vec<&str> = r
            .findings
            .iter()
            .filter(|f| f.id == "object-array")
            .map(|f| f.location.field.as_deref().unwrap())
            .collect();
        assert_eq!(flagged, objects, "{name}: object arrays flagged");
        assert_eq!(want.get("unsafe").is_some(), !flagged.is_empty(), "{name}");
        // The fixtures' object payloads hold plain data (numpy reconstruct, ints, strings, range).
        assert!(
            !r.findings.iter().any(|f| f.id.starts_with("unsafe-pickle")),
            "{name}: {:?}",
            r.findings
        );
        if let Some(v) = want["npy_version"].as_str() {
            let got = r
                .metadata
                .iter()
                .find(|m| m.key == "npy.version")
                .map(|m| match &m.value {
                    MetaValue::Text(t) => t.clone(),
                    _ => String::new(),
                });
            assert_eq!(got.as_deref(), Some(v), "{name}: npy_version");
        }
    }
}

#[test]
fn detect_recognises_the_fixtures() {
    for file in common::fixture_files("numpy") {
        let head: Vec<u8> = std::fs::read(&file)
            .unwrap()
            .into_iter()
            .take(64 << 10)
            .collect();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(numpy::detect(&name, &head), 1.0, "{name}");
    }
    for file in common::fixture_files("pytorch") {
        let head: Vec<u8> = std::fs::read(&file)
            .unwrap()
            .into_iter()
            .take(64 << 10)
            .collect();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(numpy::detect(&name, &head), 0.0, "{name}");
    }
}
