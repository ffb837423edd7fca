//! Runs `inspect` over every ONNX fixture and compares with the reference JSON made by the
//! `onnx` Python package (see formats.md section 7).

mod common;

use modelpack_plugin_sdk::prelude::*;
use modelpack_plugin_sdk::{FileSource, MemSource};
use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeMap;

/// A source that counts the bytes it hands out.
struct Counting {
    inner: FileSource,
    served: Cell<u64>,
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
        self.served.set(self.served.get() + b.len() as u64);
        Ok(b)
    }
    fn open_related(&self, path: &str) -> Result<Box<dyn Source>, IoError> {
        self.inner.open_related(path)
    }
}

fn reference(rel: &str) -> Value {
    let p = common::fixtures_dir()
        .join("reference")
        .join(format!("{}.json", rel.replace('/', "__")));
    let text =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reference {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("reference {}: {e}", p.display()))
}

fn meta<'a>(r: &'a ModelReport, key: &str) -> Option<&'a MetaValue> {
    r.metadata.iter().find(|m| m.key == key).map(|m| &m.value)
}

fn meta_int(r: &ModelReport, key: &str) -> Option<i64> {
    match meta(r, key) {
        Some(MetaValue::Int(i)) => Some(*i),
        _ => None,
    }
}

fn meta_text(r: &ModelReport, key: &str) -> Option<String> {
    match meta(r, key) {
        Some(MetaValue::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

/// The reference's description of a value as our `(dtype, shape)`.
fn expected_value(v: &Value) -> (String, Option<Vec<Dim>>) {
    let kind = v["kind"].as_str().expect("kind");
    let dtype = match kind {
        "tensor" => v["elem_type"].as_str().expect("elem_type").to_string(),
        other => other.to_string(),
    };
    let shape = if kind == "tensor" || kind == "sparse_tensor" {
        v["shape"].as_array().map(|dims| {
            dims.iter()
                .map(|d| match d {
                    Value::Null => Dim::Unknown,
                    Value::String(s) => Dim::Symbolic(s.clone()),
                    Value::Number(n) => match n.as_u64() {
                        Some(u) => Dim::Fixed(u),
                        None => Dim::Unknown, // negative dim_value (-1): dynamic
                    },
                    other => panic!("unexpected dim {other}"),
                })
                .collect()
        })
    } else {
        None
    };
    (dtype, shape)
}

fn check_values(rel: &str, what: &str, got: &[ValueInfo], want: &Value) {
    let want = want.as_array().expect("array");
    assert_eq!(got.len(), want.len(), "{rel}: {what} count");
    for (g, w) in got.iter().zip(want) {
        let name = w["name"].as_str().expect("name");
        assert_eq!(g.name, name, "{rel}: {what} name");
        let (dtype, shape) = expected_value(w);
        assert_eq!(g.dtype, dtype, "{rel}: {what} '{name}' dtype");
        assert_eq!(
            format!("{:?}", g.shape),
            format!("{shape:?}"),
            "{rel}: {what} '{name}' shape"
        );
    }
}

fn check_fixture(rel: &str) {
    let want = reference(rel);
    let path = common::fixtures_dir().join(rel);
    let src = Counting {
        inner: FileSource::open(&path).unwrap_or_else(|e| panic!("{rel}: {e}")),
        served: Cell::new(0),
    };
    let result = onnx::inspect(&[&src]);
    if want["valid"] == Value::Bool(false) {
        assert!(
            result.is_err(),
            "{rel}: negative fixture accepted: {result:?}"
        );
        return;
    }
    let r = result.unwrap_or_else(|e| panic!("{rel}: {e:?}"));
    assert_eq!(r.format, "onnx");
    eprintln!(
        "{rel}: inspect read {} of {} bytes",
        src.served.get(),
        src.size()
    );

    assert_eq!(
        r.tensors.len() as u64,
        want["tensor_count"].as_u64().unwrap(),
        "{rel}: tensor_count"
    );
    assert_eq!(
        r.parameter_count,
        want["total_parameters"].as_u64().unwrap(),
        "{rel}: total_parameters"
    );
    let mut dtypes: BTreeMap<String, u64> = BTreeMap::new();
    for t in &r.tensors {
        *dtypes.entry(t.dtype.clone()).or_default() += t.shape.iter().product::<u64>();
    }
    let want_dtypes: BTreeMap<String, u64> = want["dtype_parameters"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(dtypes, want_dtypes, "{rel}: dtype_parameters");
    for (t, w) in r.tensors.iter().zip(want["tensors"].as_array().unwrap()) {
        assert_eq!(t.name, w["name"].as_str().unwrap(), "{rel}: tensor order");
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(t.shape, shape, "{rel}: shape of '{}'", t.name);
        assert_eq!(
            t.dtype,
            w["dtype"].as_str().unwrap(),
            "{rel}: dtype of '{}'",
            t.name
        );
    }

    check_values(rel, "input", &r.inputs, &want["inputs"]);
    check_values(rel, "output", &r.outputs, &want["outputs"]);

    // Constant nodes: the reference counts `value` tensors only; our group adds
    // value_float(s)/value_int(s), which is checked separately below.
    let model = onnx::proto::model(&mut onnx::wire::Reader::new(&src, "ModelProto")).unwrap();
    let consts = &model.graph.as_ref().unwrap().constants;
    assert_eq!(
        consts.tensors,
        want["constant_node_tensor_count"].as_u64().unwrap(),
        "{rel}: constant tensors"
    );
    assert_eq!(
        consts.tensor_elements,
        want["constant_node_parameters"].as_u64().unwrap(),
        "{rel}: constant_node_parameters"
    );
    let group = r
        .groups
        .iter()
        .find(|g| g.name == "constant-nodes")
        .expect("constant-nodes group");
    assert_eq!(
        group.parameter_count,
        consts.tensor_elements + consts.scalar_elements,
        "{rel}: group"
    );
    assert!(matches!(group.role, GroupRole::Other));
    let init = r
        .groups
        .iter()
        .find(|g| g.name == "initializers")
        .expect("initializers group");
    assert_eq!(
        (init.tensor_count, init.parameter_count),
        (r.tensors.len() as u64, r.parameter_count)
    );

    assert_eq!(
        meta_int(&r, "onnx.ir_version"),
        want["ir_version"].as_i64(),
        "{rel}: ir_version"
    );
    for o in want["opset_import"].as_array().unwrap() {
        let domain = match o["domain"].as_str().unwrap() {
            "" => "ai.onnx",
            d => d,
        };
        assert_eq!(
            meta_int(&r, &format!("onnx.opset.{domain}")),
            o["version"].as_i64(),
            "{rel}: opset {domain}"
        );
    }
    let opsets = r
        .metadata
        .iter()
        .filter(|m| m.key.starts_with("onnx.opset."))
        .count();
    assert_eq!(
        opsets,
        want["opset_import"].as_array().unwrap().len(),
        "{rel}: opset count"
    );
    let text_or_none = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    assert_eq!(
        meta_text(&r, "onnx.producer_name"),
        text_or_none(&want["producer_name"]),
        "{rel}: producer"
    );
    assert_eq!(
        meta_text(&r, "onnx.producer_version"),
        text_or_none(&want["producer_version"]),
        "{rel}"
    );
    assert_eq!(
        meta_text(&r, "onnx.graph_name"),
        text_or_none(&want["graph_name"]),
        "{rel}: graph name"
    );
    assert_eq!(
        meta_text(&r, "onnx.domain"),
        text_or_none(&want["domain"]),
        "{rel}: domain"
    );
    for (k, v) in want["metadata_props"].as_object().unwrap() {
        assert_eq!(
            meta_text(&r, &format!("onnx.meta.{k}")).as_deref(),
            v.as_str(),
            "{rel}: meta {k}"
        );
    }
    let sparse = match meta(&r, "onnx.sparse_initializer_count") {
        Some(MetaValue::Uint(n)) => *n,
        _ => 0,
    };
    assert_eq!(
        sparse,
        want["sparse_initializer_count"].as_u64().unwrap(),
        "{rel}: sparse"
    );
    let ext_files = want["external_data_files"].as_array().unwrap();
    assert_eq!(
        meta(&r, "onnx.external_data_files").is_some(),
        !ext_files.is_empty(),
        "{rel}: external"
    );
    assert!(
        r.findings.is_empty(),
        "{rel}: unexpected findings {:?}",
        r.findings
    );
    assert!(
        onnx::detect(rel, &std::fs::read(&path).unwrap()[..]) == 1.0,
        "{rel}: detect"
    );
    eprintln!(
        "{rel}: {} value_float(s)/value_int(s) constants",
        consts.scalars
    );
}

#[test]
fn every_onnx_fixture_matches_the_reference() {
    let all = common::onnx_fixtures();
    for rel in &all {
        check_fixture(rel);
    }
    // Every ONNX reference answer has its fixture.
    let refs = std::fs::read_dir(common::fixtures_dir().join("reference")).unwrap();
    let n_refs = refs
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("onnx__"))
        .count();
    assert_eq!(n_refs, all.len(), "reference files vs fixtures");
}

#[test]
fn weights_are_skipped_not_read() {
    // silero_vad_16k_op15.onnx is mostly initializer payload (309,633 FLOAT values).
    let path = common::fixtures_dir().join("onnx/silero_vad_16k_op15.onnx");
    let src = Counting {
        inner: FileSource::open(&path).unwrap(),
        served: Cell::new(0),
    };
    onnx::inspect(&[&src]).unwrap();
    assert!(
        src.served.get() < src.size() / 2,
        "read {} of {} bytes",
        src.served.get(),
        src.size()
    );
}

#[test]
fn lfs_pointer_is_reported() {
    let text =
        b"version https://git-lfs.github.com/spec/v1\noid sha256:abcd\nsize 123456\n".to_vec();
    let s = MemSource::new("model.onnx", text);
    let r = onnx::inspect(&[&s]).unwrap();
    assert_eq!(r.format, "onnx");
    assert_eq!(r.findings[0].id, "git-lfs-pointer");
}

#[test]
fn non_models_are_rejected() {
    for bytes in [&b""[..], b"hello world", &[0x08, 0x07], &[0x3a, 0x00]] {
        let s = MemSource::new("x.onnx", bytes.to_vec());
        let e = onnx::inspect(&[&s]).expect_err("not a model");
        assert!(matches!(e, Error::Malformed(_)), "{e:?}");
    }
}
