//! The plugin, natively, on every real `.tflite` fixture of `tests/fixtures/tflite`, checked
//! against the answers of the official reader (`tests/fixtures/reference`, made by
//! `make_reference.py` with ai-edge-litert), plus robustness and header-only properties.

use modelpack_plugin_sdk::prelude::*;
use modelpack_plugin_sdk::{FileSource, MemSource};
use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures"))
}

fn references() -> Vec<Value> {
    let mut out: Vec<Value> = std::fs::read_dir(fixtures().join("reference"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tflite__")
        })
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    out.sort_by_key(|v| v["fixture"].as_str().unwrap().to_string());
    assert!(
        out.len() >= 7,
        "expected the tflite reference set, found {}",
        out.len()
    );
    out
}

fn inspect_path(rel: &str) -> ModelReport {
    let src = FileSource::open(fixtures().join(rel)).unwrap();
    tflite::inspect(&[&src as &dyn Source]).unwrap_or_else(|e| panic!("{rel}: {e:?}"))
}

fn dims(shape: &Option<Vec<Dim>>) -> Value {
    match shape {
        None => Value::Null,
        Some(d) => d
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Value::from(*n),
                _ => Value::Null,
            })
            .collect(),
    }
}

#[test]
fn agrees_with_the_official_reader_on_every_fixture() {
    let mut errs = Vec::new();
    for r in references() {
        let rel = r["fixture"].as_str().unwrap();
        let got = inspect_path(rel);
        let mut eq = |what: &str, a: Value, b: &Value| {
            if &a != b {
                errs.push(format!("{rel}: {what}: got {a}, reference {b}"));
            }
        };
        eq("tensorCount", got.tensors.len().into(), &r["tensorCount"]);
        eq(
            "parameterCount",
            got.parameter_count.into(),
            &r["parameterCount"],
        );
        let mut by_dtype: BTreeMap<String, u64> = BTreeMap::new();
        for t in &got.tensors {
            *by_dtype.entry(t.dtype.clone()).or_default() += t.shape.iter().product::<u64>();
        }
        eq(
            "dtypeParameters",
            serde_json::to_value(&by_dtype).unwrap(),
            &r["dtypeParameters"],
        );
        for (side, got_side) in [("inputs", &got.inputs), ("outputs", &got.outputs)] {
            let have: Vec<Value> = got_side
                .iter()
                .map(|v| serde_json::json!({"name": v.name, "dtype": v.dtype, "shape": dims(&v.shape)}))
                .collect();
            eq(side, have.into(), &r[side]);
        }
        let meta = |k: &str| {
            got.metadata
                .iter()
                .find(|m| m.key == k)
                .map(|m| m.value.clone())
        };
        eq(
            "tflite.tensors",
            match meta("tflite.tensors") {
                Some(MetaValue::Uint(n)) => n.into(),
                other => format!("{other:?}").into(),
            },
            &r["totalTensors"],
        );
        let quantized = match meta("tflite.quantized_tensors") {
            Some(MetaValue::Uint(n)) => n,
            None => 0,
            other => panic!("{other:?}"),
        };
        eq("quantizedTensors", quantized.into(), &r["quantizedTensors"]);
        if let Some(v) = r["minRuntimeVersion"].as_str() {
            eq(
                "minRuntimeVersion",
                match meta("tflite.min_runtime_version") {
                    Some(MetaValue::Text(t)) => t.into(),
                    other => format!("{other:?}").into(),
                },
                &Value::from(v),
            );
        }
        if let Some(support) = r["supportMetadata"].as_object() {
            for (k, v) in support {
                eq(
                    &format!("support metadata {k}"),
                    match meta(&format!("tflite.support.{k}")) {
                        Some(MetaValue::Text(t)) => t.into(),
                        other => format!("{other:?}").into(),
                    },
                    v,
                );
            }
        }
        for (name, size) in r["metadata"].as_object().unwrap() {
            eq(
                &format!("metadata {name}"),
                match meta(&format!("tflite.metadata.{name}")) {
                    Some(MetaValue::Uint(n)) => n.into(),
                    other => format!("{other:?}").into(),
                },
                size,
            );
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn quantisation_parameters_and_descriptions_are_reported() {
    let r = inspect_path("tflite/sine_a8w8.tflite");
    let q = r
        .metadata
        .iter()
        .find(|m| m.key == "tflite.quantization")
        .expect("quantization summary");
    let MetaValue::Array(a) = &q.value else {
        panic!("{:?}", q.value)
    };
    let head: Vec<Value> = serde_json::from_str(&a.head).unwrap();
    assert_eq!(a.length, 10);
    let first = &head[0];
    assert!(first["scale"][0].as_f64().unwrap() > 0.0, "{first}");
    assert!(first["zeroPoint"].is_array(), "{first}");
    let r = inspect_path("tflite/face_detection_short_range.tflite");
    let text = |k: &str| {
        r.metadata
            .iter()
            .find(|m| m.key == k)
            .map(|m| match &m.value {
                MetaValue::Text(t) => t.clone(),
                other => format!("{other:?}"),
            })
    };
    assert_eq!(
        text("tflite.support.name").as_deref(),
        Some("Short Range Face Detection")
    );
    assert_eq!(
        text("tflite.description").as_deref(),
        Some("keras2tflite_facedetector-front.tflite.generated")
    );
}

/// A source that counts the bytes read, to hold the plugin to its header-only promise.
struct Counting {
    inner: MemSource,
    read: Cell<u64>,
}

impl Source for Counting {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, IoError> {
        let b = self.inner.read(offset, len)?;
        self.read.set(self.read.get() + b.len() as u64);
        Ok(b)
    }
    fn open_related(&self, path: &str) -> Result<Box<dyn Source>, IoError> {
        self.inner.open_related(path)
    }
}

#[test]
fn weights_are_not_read() {
    // Fixtures whose bytes are mostly weights (the sparse one is mostly sparsity structure).
    for rel in [
        "tflite/face_detection_short_range.tflite",
        "tflite/selfie_segmentation.tflite",
        "tflite/hand_recrop.tflite",
    ] {
        let bytes = std::fs::read(fixtures().join(rel)).unwrap();
        let size = bytes.len() as u64;
        let src = Counting {
            inner: MemSource::new("m.tflite", bytes),
            read: Cell::new(0),
        };
        let r = tflite::inspect(&[&src as &dyn Source]).unwrap();
        assert!(r.parameter_count > 20_000);
        let read = src.read.get();
        assert!(read * 3 < size, "{rel}: read {read} of {size} bytes");
    }
}

fn inspect_bytes(bytes: Vec<u8>) -> Result<ModelReport, Error> {
    let src = MemSource::new("m.tflite", bytes);
    tflite::inspect(&[&src as &dyn Source])
}

#[test]
fn bad_files_get_one_clear_error() {
    let good = std::fs::read(fixtures().join("tflite/sine_float.tflite")).unwrap();
    let mut wrong = good.clone();
    wrong[4..8].copy_from_slice(b"XXXX");
    match inspect_bytes(wrong) {
        Err(Error::Malformed(m)) => {
            assert_eq!(m, "m.tflite: file identifier \"XXXX\" is not \"TFL3\"")
        }
        other => panic!("{other:?}"),
    }
    let mut root = good.clone();
    root[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    match inspect_bytes(root) {
        Err(Error::Malformed(m)) => assert!(
            m.contains("root table offset: offset 4294967295 at 0 points outside the file"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    match inspect_bytes(b"\x08\0\0\0TFL".to_vec()) {
        Err(Error::Malformed(m)) => assert!(m.contains("too short"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn detects_by_identifier() {
    let head = std::fs::read(fixtures().join("tflite/sine_float.tflite")).unwrap();
    assert_eq!(tflite::detect("x.bin", &head), 1.0);
    assert_eq!(tflite::detect("x.tflite", b"GGUF\x03\0\0\0\0\0"), 0.0);
    assert_eq!(tflite::detect("x.tflite", b""), 0.5);
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    let original = std::fs::read(fixtures().join("tflite/sine_a8w8.tflite")).unwrap();
    for cut in 0..original.len() {
        let _ = inspect_bytes(original[..cut].to_vec());
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..5000 {
        let mut b = original.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() % b.len() as u64) as usize;
            b[i] = next() as u8;
        }
        let _ = inspect_bytes(b);
    }
}

#[test]
fn meaning_roles_precisions_quantisation_candidates() {
    let words = |r: &ModelReport| {
        r.dtypes
            .iter()
            .map(|d| {
                (
                    d.dtype.clone(),
                    d.precision.map(precision_word),
                    d.weight_parameters,
                )
            })
            .collect::<Vec<_>>()
    };
    // Full-integer quantisation: INT8 weights, INT32 biases with scales, INT8 activations.
    let r = inspect_path("tflite/sine_a8w8.tflite");
    let q = r.quantization.as_ref().expect("quantization");
    assert_eq!((q.method.as_str(), q.bits), ("tflite-int8", Some(8)));
    assert_eq!(r.weight_parameters, 321);
    assert_eq!(
        words(&r),
        [
            ("INT32".to_string(), Some("int32"), 33),
            ("INT8".to_string(), Some("int8"), 288)
        ]
    );
    let r = inspect_path("tflite/sine_a16w8.tflite");
    assert_eq!(r.quantization.as_ref().unwrap().method, "tflite-int16x8");
    // FLOAT16 weights; the INT32 constants are shapes and axes, not weights.
    let r = inspect_path("tflite/face_detection_short_range.tflite");
    assert!(r.quantization.is_none());
    assert_eq!(r.parameter_count, 101_478);
    assert_eq!(r.weight_parameters, 101_390);
    assert_eq!(
        words(&r),
        [("FLOAT16".to_string(), Some("float16"), 101_390)]
    );
    let name = r
        .candidates
        .iter()
        .find(|c| c.field == "/descriptor/name")
        .expect("name candidate");
    assert_eq!(name.value, "\"Short Range Face Detection\"");
    assert_eq!(name.source, SourceClass::WeightHeaders);
}

#[test]
fn hostile_lengths_are_refused_before_anything_is_allocated() {
    let good = std::fs::read(fixtures().join("tflite/sine_float.tflite")).unwrap();
    // Find Model.subgraphs (field 2) and make its vector claim 2^32-1 entries.
    let src = MemSource::new("m.tflite", good.clone());
    let mut fb = tflite::fb::Fb::new(&src);
    let root = fb.root().unwrap();
    let slot = fb.field(root, 2, "subgraphs").unwrap().unwrap();
    let vector = slot + fb.u32(slot, "subgraphs").unwrap() as u64;
    let mut bad = good.clone();
    bad[vector as usize..vector as usize + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    match inspect_bytes(bad) {
        Err(Error::Malformed(m)) => assert!(
            m.contains("Model.subgraphs: vector at")
                && m.contains(
                    "claims 4294967295 elements of 4 bytes, beyond the end of the file (3164 bytes)"
                ),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}
