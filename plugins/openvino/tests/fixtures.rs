//! The plugin, natively, on every OpenVINO IR fixture of `tests/fixtures/openvino`, checked
//! against the official reader (`openvino` `Core().read_model`, in `tests/fixtures/reference`),
//! plus the weights-file checks and robustness.

use modelpack_plugin_sdk::prelude::*;
use modelpack_plugin_sdk::{FileSource, MemSource};
use serde_json::Value;
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
                .starts_with("openvino__")
        })
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    out.sort_by_key(|v| v["fixture"].as_str().unwrap().to_string());
    assert!(
        out.len() >= 4,
        "expected the openvino reference set, found {}",
        out.len()
    );
    out
}

fn inspect_path(rel: &str) -> ModelReport {
    let src = FileSource::open(fixtures().join(rel)).unwrap();
    openvino::inspect(&[&src as &dyn Source]).unwrap_or_else(|e| panic!("{rel}: {e:?}"))
}

/// Compares a dimension with the reference's (`"3"`, `"?"`, `"1..8"`). The IR stores Result
/// shapes as `-1` where OpenVINO re-infers an interval on load, so an unknown dimension
/// matches any dynamic reference dimension.
fn same_dim(got: &Dim, want: &str) -> bool {
    match (got, want.parse::<u64>()) {
        (Dim::Fixed(n), Ok(w)) => *n == w,
        (Dim::Fixed(_), Err(_)) => false,
        (Dim::Symbolic(s), _) => s == want,
        (Dim::Unknown, r) => r.is_err(),
    }
}

#[test]
fn agrees_with_the_official_reader_on_every_fixture() {
    let mut errs = Vec::new();
    let mut io_errs = Vec::new();
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
        for (side, have) in [("inputs", &got.inputs), ("outputs", &got.outputs)] {
            let want = r[side].as_array().unwrap();
            if want.len() != have.len() {
                io_errs.push(format!(
                    "{rel}: {side}: {} vs reference {}",
                    have.len(),
                    want.len()
                ));
                continue;
            }
            for (w, h) in want.iter().zip(have) {
                let names: Vec<&str> = w["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap())
                    .collect();
                if !names.contains(&h.name.as_str()) || w["dtype"] != h.dtype.as_str() {
                    io_errs.push(format!(
                        "{rel}: {side}: {} {} vs reference {w}",
                        h.name, h.dtype
                    ));
                }
                let ws = w["shape"].as_array().unwrap();
                let hs = h.shape.as_ref().unwrap();
                if ws.len() != hs.len()
                    || !hs
                        .iter()
                        .zip(ws)
                        .all(|(g, w)| same_dim(g, w.as_str().unwrap()))
                {
                    io_errs.push(format!(
                        "{rel}: {side} {}: shape {hs:?} vs reference {ws:?}",
                        h.name
                    ));
                }
            }
        }
        let text = |k: &str| {
            got.metadata
                .iter()
                .find(|m| m.key == k)
                .map(|m| match &m.value {
                    MetaValue::Text(t) => Value::from(t.as_str()),
                    other => format!("{other:?}").into(),
                })
        };
        eq(
            "runtime version",
            text("openvino.rt.Runtime_version").unwrap_or(Value::Null),
            &r["runtimeVersion"],
        );
        for (k, v) in r["framework"].as_object().unwrap() {
            eq(
                &format!("framework {k}"),
                text(&format!("openvino.rt.framework.{k}")).unwrap_or(Value::Null),
                v,
            );
        }
        let bin = rel.replace(".xml", ".bin");
        eq(
            "covers",
            Value::from(got.covers.clone()),
            &Value::from(vec![bin.rsplit('/').next().unwrap()]),
        );
        assert!(got.findings.is_empty(), "{rel}: {:?}", got.findings);
    }
    errs.extend(io_errs);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn interval_dimensions_are_kept() {
    let r = inspect_path("openvino/ch_ppocr_cls_ranges.xml");
    assert_eq!(
        format!("{:?}", r.inputs[0].shape),
        format!(
            "{:?}",
            Some(vec![
                Dim::Symbolic("1..8".into()),
                Dim::Fixed(3),
                Dim::Fixed(48),
                Dim::Symbolic("32..320".into())
            ])
        )
    );
    let r = inspect_path("openvino/ch_ppocr_mobile_v2.0_cls.xml");
    assert_eq!(
        format!("{:?}", r.inputs[0].shape),
        format!(
            "{:?}",
            Some(vec![
                Dim::Unknown,
                Dim::Fixed(3),
                Dim::Unknown,
                Dim::Unknown
            ])
        )
    );
}

fn xml() -> Vec<u8> {
    std::fs::read(fixtures().join("openvino/mnist-cntk.xml")).unwrap()
}

fn inspect_pair(xml: Vec<u8>, bin: Option<usize>) -> Result<ModelReport, Error> {
    let siblings = bin
        .map(|n| vec![("m.bin".to_string(), vec![0u8; n])])
        .unwrap_or_default();
    let src = MemSource::with_siblings("m.xml", xml, siblings);
    openvino::inspect(&[&src as &dyn Source])
}

#[test]
fn the_weights_file_must_exist_and_be_large_enough() {
    let r = inspect_pair(xml(), None).unwrap();
    assert_eq!(r.findings[0].id, "missing-weights");
    assert_eq!(
        r.findings[0].message,
        "m.xml: the weights file m.bin (23992 bytes needed) cannot be opened"
    );
    assert!(r.covers.is_empty());
    let r = inspect_pair(xml(), Some(23991)).unwrap();
    assert_eq!(r.findings[0].id, "weights-out-of-range");
    assert!(
        r.findings[0]
            .message
            .contains("m.bin (23991 bytes, 23992 needed)"),
        "{}",
        r.findings[0].message
    );
    let r = inspect_pair(xml(), Some(23992)).unwrap();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.covers, vec!["m.bin".to_string()]);
}

#[test]
fn bad_files_get_one_clear_error() {
    let err = |bytes: &[u8]| match inspect_pair(bytes.to_vec(), Some(0)) {
        Err(Error::Malformed(m) | Error::Unsupported(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        err(b"<?xml version=\"1.0\"?><config/>"),
        "m.xml: not an OpenVINO IR: the root element is <config>, not <net>"
    );
    assert_eq!(
        err(b"<net version=\"7\"><layers/></net>"),
        "m.xml: IR version 7 (this plugin reads IR v10 and later)"
    );
    assert!(err(b"<net version=\"11\"><layers>").starts_with("m.xml: not valid XML:"));
    // DTDs (entity expansion bombs) are refused by the parser.
    let bomb = b"<?xml version=\"1.0\"?><!DOCTYPE net [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><net version=\"11\" name=\"&b;\"><layers/></net>";
    assert!(
        err(bomb).starts_with("m.xml: not valid XML:"),
        "{}",
        err(bomb)
    );
    let bad_shape = br#"<net version="11"><layers><layer id="1" name="w" type="Const"><data element_type="f32" shape="2,-3" offset="0" size="8"/></layer></layers></net>"#;
    assert_eq!(
        err(bad_shape),
        "m.xml: Const 'w' (line 1): shape=\"2,-3\" is not a static shape"
    );
}

#[test]
fn detects_ir_topologies_only() {
    assert_eq!(openvino::detect("m.xml", &xml()), 1.0);
    assert_eq!(
        openvino::detect("pom.xml", b"<?xml version=\"1.0\"?>\n<project>"),
        0.0
    );
    assert_eq!(openvino::detect("m.xml", b"<network/>"), 0.0);
    assert_eq!(openvino::detect("m.xml", b""), 0.5);
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    let original = xml();
    for cut in (0..original.len()).step_by(7) {
        let _ = inspect_pair(original[..cut].to_vec(), Some(23992));
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2000 {
        let mut b = original.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() % b.len() as u64) as usize;
            b[i] = next() as u8;
        }
        let _ = inspect_pair(b, Some(23992));
    }
}

#[test]
fn the_weights_file_is_recognised_beside_its_topology_only() {
    let bin = std::fs::read(fixtures().join("openvino/mnist-cntk.bin")).unwrap();
    assert_eq!(
        openvino::detect("mnist-cntk.bin", &bin),
        openvino::weights::RAW_SCORE
    );
    // Heads the PyTorch plugin reads stay with it.
    assert_eq!(
        openvino::detect("pytorch_model.bin", b"PK\x03\x04\x14\0"),
        0.0
    );
    assert_eq!(
        openvino::detect("pytorch_model.bin", b"\x80\x02\x8a\x0al"),
        0.0
    );
    assert_eq!(openvino::detect("m.bin", b""), 0.0);
    let r = inspect_path("openvino/mnist-cntk.bin");
    assert_eq!(r.format, "openvino");
    assert!(r.tensors.is_empty() && r.parameter_count == 0);
    assert!(matches!(&r.metadata[0].value, MetaValue::Text(t) if t == "mnist-cntk.xml"));
    let lone = MemSource::new("m.bin", bin.clone());
    match openvino::inspect(&[&lone as &dyn Source]) {
        Err(Error::Unsupported(m)) => assert_eq!(
            m,
            "m.bin: not a weights file this plugin knows: no m.xml beside it (OpenVINO IR) and no pickle or zip header (PyTorch)"
        ),
        other => panic!("{other:?}"),
    }
    let beside =
        MemSource::with_siblings("m.bin", bin, vec![("m.xml".into(), b"<config/>".to_vec())]);
    match openvino::inspect(&[&beside as &dyn Source]) {
        Err(Error::Unsupported(m)) => {
            assert!(m.contains("m.xml beside it is not an OpenVINO IR"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn meaning_weights_are_float_constants() {
    let r = inspect_path("openvino/ch_ppocr_mobile_v2.0_cls.xml");
    assert_eq!(r.parameter_count, 127_260);
    // i64 constants (shapes, axes) are not weights; f16-compressed weights are float16.
    assert_eq!(r.weight_parameters, 127_229 + 9);
    let words: Vec<_> = r
        .dtypes
        .iter()
        .map(|d| {
            (
                d.dtype.as_str(),
                d.precision.map(precision_word),
                d.weight_parameters,
            )
        })
        .collect();
    assert_eq!(
        words,
        [
            ("f16", Some("float16"), 127_229),
            ("f32", Some("float32"), 9)
        ]
    );
    assert!(r.quantization.is_none());
}

#[test]
fn hostile_shapes_and_offsets_are_errors() {
    let err = |xml: &str| match inspect_pair(xml.as_bytes().to_vec(), Some(16)) {
        Err(Error::Malformed(m)) => m,
        other => panic!("{other:?}"),
    };
    let big = u64::MAX;
    assert_eq!(
        err(&format!(
            r#"<net version="11"><layers><layer id="1" name="w" type="Const"><data element_type="f32" shape="{big},{big}" offset="0" size="8"/></layer></layers></net>"#
        )),
        format!("m.xml: Const 'w' shape [{big}, {big}] overflows")
    );
    assert_eq!(
        err(&format!(
            r#"<net version="11"><layers><layer id="1" name="w" type="Const"><data element_type="f32" shape="2" offset="{big}" size="8"/></layer></layers></net>"#
        )),
        format!("m.xml: Const 'w' offset {big} + size 8 overflows")
    );
}

#[test]
fn oversized_topologies_are_refused_before_parsing() {
    let big = vec![b' '; openvino::ir::MAX_XML as usize + 1];
    match inspect_pair(big, Some(0)) {
        Err(Error::TooLarge(m)) => assert_eq!(
            m,
            "m.xml: 25165825 bytes of XML exceed the 25165824-byte cap"
        ),
        other => panic!("{other:?}"),
    }
}
