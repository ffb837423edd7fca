//! Runs `inspect` over every safetensors fixture (and the hf-lfs ones) and compares with the
//! reference JSON made by the Python safetensors library.

mod common;

use std::collections::BTreeMap;

use common::{dtype_parameters, files, fixtures, meta, reference};
use modelpack_plugin_sdk::FileSource;
use modelpack_plugin_sdk::prelude::*;

fn inspect_path(rel: &str) -> Result<ModelReport, Error> {
    let src = FileSource::open(fixtures().join(rel)).unwrap();
    safetensors::inspect(&[&src])
}

#[test]
fn every_safetensors_fixture_matches_the_reference() {
    let all = files("safetensors", ".safetensors");
    assert!(
        all.len() >= 6,
        "expected the 6 safetensors fixtures, found {all:?}"
    );
    let mut negatives = 0;
    for rel in &all {
        let want = reference(rel);
        let got = inspect_path(rel);
        if want["valid"] == false {
            negatives += 1;
            let err = got.expect_err(&format!("{rel}: reference rejects it, plugin accepted it"));
            let Error::Malformed(msg) = err else {
                panic!("{rel}: expected Malformed, got {err:?}");
            };
            let trailing = want["trailing_bytes"].as_u64().unwrap();
            assert!(
                msg.contains(&format!("{trailing} trailing bytes")),
                "{rel}: {msg}"
            );
            continue;
        }
        let r = got.unwrap_or_else(|e| panic!("{rel}: {e:?}"));
        assert_eq!(r.format, "safetensors");
        assert_eq!(
            r.tensors.len() as u64,
            want["tensor_count"].as_u64().unwrap(),
            "{rel}"
        );
        assert_eq!(
            r.parameter_count,
            want["total_parameters"].as_u64().unwrap(),
            "{rel}"
        );
        let want_dtypes: BTreeMap<String, u64> =
            serde_json::from_value(want["dtype_parameters"].clone()).unwrap();
        assert_eq!(dtype_parameters(&r), want_dtypes, "{rel}");
        assert!(r.findings.is_empty(), "{rel}: {:?}", r.findings);

        // Tensors in data-offset order, with the reference's dtype and shape.
        let mut want_tensors: Vec<&serde_json::Value> =
            want["tensors"].as_array().unwrap().iter().collect();
        want_tensors.sort_by_key(|t| t["data_offsets"][0].as_u64().unwrap());
        for (g, w) in r.tensors.iter().zip(&want_tensors) {
            assert_eq!(g.name, w["name"].as_str().unwrap(), "{rel}");
            assert_eq!(g.dtype, w["dtype"].as_str().unwrap(), "{rel}");
            let shape: Vec<u64> = serde_json::from_value(w["shape"].clone()).unwrap();
            assert_eq!(g.shape, shape, "{rel} {}", g.name);
        }

        // __metadata__ entries, exactly.
        let want_meta: BTreeMap<String, String> = match &want["metadata"] {
            serde_json::Value::Null => BTreeMap::new(),
            m => serde_json::from_value(m.clone()).unwrap(),
        };
        assert_eq!(r.metadata.len(), want_meta.len(), "{rel}");
        for (k, v) in &want_meta {
            let expect = format!("{:?}", MetaValue::Text(v.clone()));
            assert_eq!(meta(&r, k).as_deref(), Some(expect.as_str()), "{rel} {k}");
        }
    }
    assert_eq!(
        negatives, 1,
        "expected one negative fixture (trailing-bytes)"
    );
}

#[test]
fn lfs_pointer_files_are_reported_as_such() {
    let all = files("hf-lfs", ".safetensors");
    assert_eq!(all.len(), 8, "{all:?}");
    for rel in &all {
        let want = reference(rel);
        assert_eq!(want["format"], "git-lfs-pointer");
        let r = inspect_path(rel).unwrap_or_else(|e| panic!("{rel}: {e:?}"));
        assert!(r.tensors.is_empty());
        assert_eq!(r.findings.len(), 1, "{rel}");
        assert_eq!(r.findings[0].id, "git-lfs-pointer");
        assert_eq!(r.findings[0].severity, Severity::Error);
        let size: u64 = want["lfs"]["size"].as_str().unwrap().parse().unwrap();
        assert!(r.findings[0].message.contains(&size.to_string()), "{rel}");
        assert_eq!(
            meta(&r, "lfs.size"),
            Some(format!("{:?}", MetaValue::Uint(size)))
        );
    }
}

#[test]
fn index_fixtures_match_the_directory_reference() {
    let all = files("hf-lfs", ".safetensors.index.json");
    assert_eq!(all.len(), 2, "{all:?}");
    for rel in &all {
        let dir = rel.rsplit_once('/').unwrap().0;
        let want = reference(dir);
        let idx = &want["index"];
        let r = inspect_path(rel).unwrap_or_else(|e| panic!("{rel}: {e:?}"));
        assert_eq!(r.format, "safetensors");

        let shards: Vec<String> = serde_json::from_value(idx["shards"].clone()).unwrap();
        assert_eq!(r.covers, shards, "{rel}");
        let count = idx["tensor_count"].as_u64().unwrap();
        assert_eq!(
            meta(&r, "index.tensor_count"),
            Some(format!("{:?}", MetaValue::Uint(count))),
            "{rel}"
        );
        assert_eq!(
            meta(&r, "index.shard_count"),
            Some(format!("{:?}", MetaValue::Uint(shards.len() as u64)))
        );
        for (k, v) in idx["metadata"].as_object().unwrap() {
            let v = v.as_u64().unwrap();
            assert_eq!(
                meta(&r, &format!("index.{k}")),
                Some(format!("{:?}", MetaValue::Uint(v))),
                "{rel} {k}"
            );
        }

        // Shards absent on disk → missing-shard; shards that are LFS pointers → git-lfs-pointer.
        let missing: Vec<String> =
            serde_json::from_value(idx["shards_missing_on_disk"].clone()).unwrap();
        let lfs: Vec<String> = want["lfs_pointers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["file"].as_str().unwrap().to_string())
            .filter(|f| shards.contains(f))
            .collect();
        let files_with = |id: &str| -> Vec<String> {
            r.findings
                .iter()
                .filter(|f| f.id == id)
                .map(|f| f.location.file.clone().unwrap())
                .collect()
        };
        assert_eq!(files_with("missing-shard"), missing, "{rel}");
        assert_eq!(files_with("git-lfs-pointer"), lfs, "{rel}");
        assert_eq!(
            r.findings.len(),
            missing.len() + lfs.len(),
            "{rel}: {:?}",
            r.findings
        );
        // No shard holds real weights in these fixtures.
        assert!(r.tensors.is_empty());
        assert_eq!(r.parameter_count, 0);
    }
}

#[test]
fn detect_recognises_every_fixture() {
    for rel in files("safetensors", ".safetensors")
        .into_iter()
        .chain(files("hf-lfs", ".safetensors"))
        .chain(files("hf-lfs", ".safetensors.index.json"))
    {
        let bytes = std::fs::read(fixtures().join(&rel)).unwrap();
        let head = &bytes[..bytes.len().min(64 << 10)];
        assert_eq!(safetensors::detect(&rel, head), 1.0, "{rel}");
    }
    // Other formats' fixtures under a foreign name are not claimed.
    for rel in files("gguf", ".gguf")
        .into_iter()
        .chain(files("onnx", ".onnx"))
    {
        let bytes = std::fs::read(fixtures().join(&rel)).unwrap();
        let head = &bytes[..bytes.len().min(64 << 10)];
        assert_eq!(safetensors::detect(&rel, head), 0.0, "{rel}");
    }
}
