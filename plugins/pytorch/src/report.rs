//! Assembles the [`ModelReport`]: tensors with safetensors dtype spellings, groups, metadata
//! about the pickles, and findings.

use std::collections::HashMap;

use modelpack_plugin_sdk::prelude::*;

use crate::allowlist;
use crate::dtype;
use crate::groups;
use crate::pickle::FoundTensor;
use crate::safety;
use crate::scan::Scanned;

/// The ModelPack `config.format` name of every PyTorch checkpoint.
pub const FORMAT: &str = "pt";

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

/// A long list of strings, summarised (first 32 kept).
pub fn string_array(key: &str, items: &[String]) -> MetaEntry {
    let head: Vec<&String> = items.iter().take(32).collect();
    meta(
        key,
        MetaValue::Array(ArraySummary {
            element_type: "STRING".into(),
            length: items.len() as u64,
            head: serde_json::to_string(&head).unwrap_or_else(|_| "[]".into()),
        }),
    )
}

/// The reported dtype of a found tensor.
pub fn tensor_dtype(t: &FoundTensor) -> String {
    if let Some(st) = &t.storage {
        return dtype::dtype_name(&st.type_name);
    }
    match &t.tensor.dtype_global {
        Some(g) => dtype::dtype_name(g),
        None => "UNKNOWN".into(),
    }
}

/// Σ elements per first dotted name component, like the reference's `parameters_by_top_level_key`.
pub fn parameters_by_top_level_key(tensors: &[FoundTensor]) -> serde_json::Value {
    let mut keys: Vec<(&str, u64)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for t in tensors {
        let k = t.name.split('.').next().unwrap_or("");
        let n = groups::elements(&t.tensor.shape);
        match index.get(k) {
            Some(&i) => keys[i].1 = keys[i].1.saturating_add(n),
            None => {
                index.insert(k, keys.len());
                keys.push((k, n));
            }
        }
    }
    serde_json::Value::Object(
        keys.into_iter()
            .map(|(k, n)| (k.to_string(), serde_json::Value::from(n)))
            .collect(),
    )
}

/// Metadata about the pickles read: protocol, every global, the non-allowlisted ones and the
/// TorchScript classes.
pub fn pickle_metadata(scans: &[&Scanned]) -> Vec<MetaEntry> {
    let mut globals = Vec::new();
    for s in scans {
        globals.extend(s.globals.iter().cloned());
    }
    let names = safety::global_names(&globals);
    let bad = safety::unsafe_names(&globals);
    let ts = names
        .iter()
        .filter(|g| allowlist::is_torchscript_class(g))
        .count();
    let mut m = Vec::new();
    if let Some(p) = scans.first().and_then(|s| s.protocol) {
        m.push(meta("pickle.protocol", MetaValue::Uint(p as u64)));
    }
    m.push(json("pickle.globals", serde_json::Value::from(names)));
    m.push(json(
        "pickle.non_allowlisted_globals",
        serde_json::Value::from(bad),
    ));
    if ts > 0 {
        m.push(meta(
            "pickle.torchscript_classes",
            MetaValue::Uint(ts as u64),
        ));
    }
    m
}

/// Metadata about the main pickle's object: top-level keys and per-key parameter counts.
pub fn object_metadata(main: &Scanned) -> Vec<MetaEntry> {
    let mut m = Vec::new();
    if !main.walk.top_level_keys.is_empty() {
        m.push(string_array("pt.top_level_keys", &main.walk.top_level_keys));
    }
    m.push(json(
        "pt.parameters_by_top_level_key",
        parameters_by_top_level_key(&main.walk.tensors),
    ));
    let mut keys: Vec<&str> = main
        .walk
        .tensors
        .iter()
        .filter_map(|t| t.storage.as_ref().map(|s| s.key.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    m.push(meta(
        "pt.distinct_storages",
        MetaValue::Uint(keys.len() as u64),
    ));
    m
}

/// Tensors, parameter count and groups of the main pickle (consumed: names move into the report).
pub fn tensors_and_groups(main: Scanned) -> (Vec<Tensor>, u64, Vec<TensorGroup>) {
    let count = main.walk.tensors.iter().fold(0u64, |a, t| {
        a.saturating_add(groups::elements(&t.tensor.shape))
    });
    let groups = groups::split(&main.walk.tensors, main.training_checkpoint);
    let has_model_key = main.training_checkpoint
        && main
            .walk
            .tensors
            .iter()
            .any(|t| groups::key_role(&t.top) == Some(GroupRole::Weights));
    let tensors = main
        .walk
        .tensors
        .into_iter()
        .map(|t| {
            let role = groups::tensor_role(&t, main.training_checkpoint, has_model_key);
            let dtype = tensor_dtype(&t);
            let mut out = weight_tensor(t.name, dtype, t.tensor.shape);
            out.role = role;
            out
        })
        .collect();
    (tensors, count, groups)
}

/// A report with nothing but findings (for a broken file whose pickle was already unsafe).
pub fn findings_only(metadata: Vec<MetaEntry>, findings: Vec<Finding>) -> ModelReport {
    ModelReport {
        format: FORMAT.into(),
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
        metadata,
        findings,
        covers: vec![],
        layer_kind: None,
    }
}
