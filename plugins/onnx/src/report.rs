//! Turns a decoded [`Model`] into the ModelReport the host expects.

use crate::dtype;
use crate::external;
use crate::proto::{DimInfo, Graph, IoInfo, Model, TypeInfo, elements};
use modelpack_plugin_sdk::prelude::*;
use std::collections::{BTreeMap, HashSet};

/// The format name used in ModelPack `config.format`.
pub const FORMAT: &str = "onnx";
/// Most duplicate names or unknown-dtype tensors named in one finding.
const MAX_NAMED: usize = 5;

/// Builds the report for `model`, read from `src` (used to resolve external data).
pub fn build(src: &dyn Source, model: Model) -> Result<ModelReport, Error> {
    let name = src.name();
    let ir_version = model.ir_version.ok_or_else(|| {
        Error::Malformed(format!(
            "{name}: not an ONNX model: no ir_version (ModelProto field 1)"
        ))
    })?;
    let Some(graph) = model.graph.as_ref() else {
        return Err(Error::Malformed(format!(
            "{name}: not an ONNX model: no graph (ModelProto field 7)"
        )));
    };
    let mut findings = Vec::new();

    // Initializers of the main graph are the model's tensors.
    let mut tensors = Vec::with_capacity(graph.initializers.len());
    let mut parameter_count: u64 = 0;
    let mut unknown_dtype = Vec::new();
    for t in &graph.initializers {
        let n = elements(&t.dims)
            .map_err(|e| Error::Malformed(format!("{name}: initializer '{}': {e}", t.name)))?;
        parameter_count = parameter_count.checked_add(n).ok_or_else(|| {
            Error::Malformed(format!(
                "{name}: total parameter count overflows u64 at '{}'",
                t.name
            ))
        })?;
        if dtype::name(t.data_type).is_none() {
            unknown_dtype.push(t.name.as_str());
        }
        // `elements` succeeded, so every dim is non-negative.
        tensors.push(weight_tensor(
            t.name.clone(),
            dtype::label(t.data_type),
            t.dims.iter().map(|&d| d as u64).collect(),
        ));
    }
    if !unknown_dtype.is_empty() {
        findings.push(finding(
            "unknown-dtype",
            Severity::Warning,
            format!(
                "{} initializers have a data_type this plugin does not know: {}",
                unknown_dtype.len(),
                named(&unknown_dtype)
            ),
            Some(unknown_dtype[0].to_string()),
        ));
    }
    let duplicates = duplicate_names(graph);
    if !duplicates.is_empty() {
        findings.push(finding(
            "duplicate-initializer",
            Severity::Warning,
            format!(
                "{} initializer names occur more than once (invalid ONNX): {}",
                duplicates.len(),
                named(&duplicates)
            ),
            Some(duplicates[0].to_string()),
        ));
    }

    // Before IR 4 every initializer was also listed as a graph input; those are not inputs.
    let init_names: HashSet<&str> = graph.initializers.iter().map(|t| t.name.as_str()).collect();
    let inputs = graph
        .inputs
        .iter()
        .filter(|v| !init_names.contains(v.name.as_str()))
        .map(value_info)
        .collect();
    let outputs = graph.outputs.iter().map(value_info).collect();

    let c = &graph.constants;
    let groups = vec![
        TensorGroup {
            name: "initializers".into(),
            role: GroupRole::Weights,
            tensor_count: tensors.len() as u64,
            parameter_count,
        },
        TensorGroup {
            name: "constant-nodes".into(),
            role: GroupRole::Other,
            tensor_count: c.count(),
            parameter_count: c.elements(),
        },
    ];

    let ext = external::check(src, &graph.initializers);
    findings.extend(ext.findings);

    let mut metadata = model_metadata(&model, ir_version, graph)?;
    if !ext.files.is_empty() {
        metadata.push(meta(
            "onnx.external_data_files",
            MetaValue::Json(json(serde_json::json!(ext.files))),
        ));
    }
    let mut r = ModelReport {
        format: FORMAT.into(),
        tensors,
        parameter_count,
        weight_parameters: 0,
        dtypes: vec![],
        quantization: None,
        candidates: vec![],
        lineage: vec![],
        groups,
        inputs,
        outputs,
        metadata,
        findings,
        covers: ext.covers,
        layer_kind: None,
    };
    crate::meaning::apply(&mut r, &c.by_dtype);
    Ok(r)
}

/// The model-level metadata entries (keys documented in the crate doc).
fn model_metadata(model: &Model, ir_version: i64, graph: &Graph) -> Result<Vec<MetaEntry>, Error> {
    let mut m = vec![meta("onnx.ir_version", MetaValue::Int(ir_version))];
    for (domain, version) in &model.opsets {
        let domain = if domain.is_empty() { "ai.onnx" } else { domain };
        m.push(meta(
            &format!("onnx.opset.{domain}"),
            MetaValue::Int(*version),
        ));
    }
    let texts = [
        ("onnx.producer_name", &model.producer_name),
        ("onnx.producer_version", &model.producer_version),
        ("onnx.domain", &model.domain),
        ("onnx.graph_name", &graph.name),
        ("onnx.doc_string", &model.doc_string),
    ];
    for (key, value) in texts {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            m.push(meta(key, MetaValue::Text(v.clone())));
        }
    }
    if let Some(v) = model.model_version {
        m.push(meta("onnx.model_version", MetaValue::Int(v)));
    }
    for (k, v) in &model.metadata_props {
        m.push(meta(&format!("onnx.meta.{k}"), MetaValue::Text(v.clone())));
    }
    let c = &graph.constants;
    if c.count() > 0 {
        m.push(meta(
            "onnx.constant_dtype_parameters",
            MetaValue::Json(json(serde_json::json!(c.by_dtype))),
        ));
    }
    if !graph.sparse_initializers.is_empty() {
        let mut params: u64 = 0;
        for t in &graph.sparse_initializers {
            let n = elements(&t.dims)
                .map_err(|e| Error::Malformed(format!("sparse initializer '{}': {e}", t.name)))?;
            params = params.saturating_add(n);
        }
        m.push(meta(
            "onnx.sparse_initializer_count",
            MetaValue::Uint(graph.sparse_initializers.len() as u64),
        ));
        m.push(meta(
            "onnx.sparse_initializer_parameters",
            MetaValue::Uint(params),
        ));
    }
    if model.function_count > 0 {
        m.push(meta(
            "onnx.function_count",
            MetaValue::Uint(model.function_count),
        ));
    }
    if model.training_info_count > 0 {
        m.push(meta(
            "onnx.training_info_count",
            MetaValue::Uint(model.training_info_count),
        ));
    }
    Ok(m)
}

/// A graph input or output as the WIT `value-info`.
fn value_info(v: &IoInfo) -> ValueInfo {
    let (dtype, shape) = match &v.ty {
        TypeInfo::Tensor { elem, shape } => (dtype::label(*elem), shape.as_ref().map(|s| dims(s))),
        TypeInfo::Sparse { shape, .. } => {
            ("sparse_tensor".to_string(), shape.as_ref().map(|s| dims(s)))
        }
        TypeInfo::Sequence => ("sequence".into(), None),
        TypeInfo::Map => ("map".into(), None),
        TypeInfo::Optional => ("optional".into(), None),
        TypeInfo::Opaque => ("opaque".into(), None),
        TypeInfo::Missing => ("unknown".into(), None),
    };
    ValueInfo {
        name: v.name.clone(),
        dtype,
        shape,
    }
}

/// Shape dims as WIT dims; a negative `dim_value` (some exporters write -1) means unknown.
fn dims(s: &[DimInfo]) -> Vec<Dim> {
    s.iter()
        .map(|d| match d {
            DimInfo::Value(v) => u64::try_from(*v).map_or(Dim::Unknown, Dim::Fixed),
            DimInfo::Param(p) => Dim::Symbolic(p.clone()),
            DimInfo::Unknown => Dim::Unknown,
        })
        .collect()
}

/// Initializer names that occur more than once, each named once, in file order.
fn duplicate_names(g: &Graph) -> Vec<&str> {
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    let mut dups = Vec::new();
    for t in &g.initializers {
        let n = seen.entry(t.name.as_str()).or_default();
        *n += 1;
        if *n == 2 {
            dups.push(t.name.as_str());
        }
    }
    dups
}

/// The first few names, quoted, and how many more there are.
fn named(names: &[&str]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(MAX_NAMED)
        .map(|n| format!("'{n}'"))
        .collect();
    let more = names.len().saturating_sub(MAX_NAMED);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn meta(key: &str, value: MetaValue) -> MetaEntry {
    MetaEntry {
        key: key.to_string(),
        value,
    }
}

/// Compact JSON text of a list or map of plain values.
fn json(v: serde_json::Value) -> String {
    v.to_string()
}
