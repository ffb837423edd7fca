//! Report assembly helpers.

use modelpack_plugin_sdk::prelude::*;
use pickle_scan::pickle::GlobalUse;
use pickle_scan::safety;

/// A metadata entry.
pub fn meta(key: &str, value: MetaValue) -> MetaEntry {
    MetaEntry {
        key: key.to_string(),
        value,
    }
}

/// A text metadata entry.
pub fn text(key: &str, value: impl Into<String>) -> MetaEntry {
    meta(key, MetaValue::Text(value.into()))
}

/// A JSON metadata entry.
pub fn json(key: &str, value: serde_json::Value) -> MetaEntry {
    meta(key, MetaValue::Json(value.to_string()))
}

/// `pickle.globals` and `pickle.non_allowlisted_globals` of object payloads.
pub fn pickle_metadata(globals: &[GlobalUse]) -> Vec<MetaEntry> {
    vec![
        json(
            "pickle.globals",
            serde_json::Value::from(safety::global_names(globals)),
        ),
        json(
            "pickle.non_allowlisted_globals",
            serde_json::Value::from(safety::unsafe_names(globals)),
        ),
    ]
}

/// The report for a set of arrays.
pub fn build(
    format: &str,
    tensors: Vec<Tensor>,
    metadata: Vec<MetaEntry>,
    findings: Vec<Finding>,
) -> ModelReport {
    let parameter_count = tensors.iter().fold(0u64, |a, t| {
        a.saturating_add(t.shape.iter().fold(1u64, |p, &d| p.saturating_mul(d)))
    });
    let mut r = ModelReport {
        format: format.into(),
        tensors,
        parameter_count,
        weight_parameters: 0,
        dtypes: vec![],
        quantization: None,
        candidates: vec![],
        lineage: vec![],
        groups: vec![],
        inputs: vec![],
        outputs: vec![],
        metadata,
        findings,
        covers: vec![],
        layer_kind: None,
    };
    crate::meaning::apply(&mut r);
    r
}
