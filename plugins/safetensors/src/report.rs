//! Turning validated headers into a [`ModelReport`].

use modelpack_plugin_sdk::prelude::*;

use crate::header::{Header, TensorInfo};

/// The ModelPack `config.format` name of this plugin's reports.
pub const FORMAT: &str = "safetensors";

/// The report's view of one tensor.
/// Role and parameters are refined by [`crate::meaning::apply`] once all tensors are known.
pub fn tensor(t: &TensorInfo) -> Tensor {
    weight_tensor(t.name.clone(), t.dtype.clone(), t.shape.clone())
}

/// `__metadata__` entries as text values, keys as in the file.
pub fn metadata_entries(h: &Header) -> Vec<MetaEntry> {
    h.metadata
        .iter()
        .map(|(k, v)| MetaEntry {
            key: k.clone(),
            value: MetaValue::Text(v.clone()),
        })
        .collect()
}

/// A report with nothing in it yet.
pub fn empty() -> ModelReport {
    ModelReport {
        format: FORMAT.to_string(),
        tensors: vec![],
        parameter_count: 0,
        weight_parameters: 0,
        dtypes: vec![],
        quantization: None,
        candidates: vec![],
        lineage: vec![],
        groups: vec![],
        inputs: vec![],
        outputs: vec![],
        metadata: vec![],
        findings: vec![],
        covers: vec![],
        layer_kind: None,
    }
}

/// The report of one standalone file: tensors in data-offset order.
pub fn single(h: &Header) -> ModelReport {
    let mut r = empty();
    r.tensors = h.tensors.iter().map(tensor).collect();
    r.parameter_count = h
        .tensors
        .iter()
        .fold(0u64, |acc, t| acc.saturating_add(t.elements));
    r.metadata = metadata_entries(h);
    r
}
