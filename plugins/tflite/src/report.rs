//! Turns a decoded [`Model`] into the report the host expects.

use crate::fb::Fb;
use crate::meaning;
use crate::model::{self, Model, Subgraph, TensorDef};
use crate::names::{builtin_operator, tensor_type};
use modelpack_plugin_sdk::MemSource;
use modelpack_plugin_sdk::prelude::*;
use serde_json::{Value, json};

/// The format name used in ModelPack `config.format`.
pub const FORMAT: &str = "tflite";
/// Quantised tensors listed in the `tflite.quantization` summary.
const QUANT_HEAD: usize = 32;
/// Largest metadata buffer decoded (TFLite Support metadata, version strings).
const MAX_METADATA: u32 = 1 << 20;

/// The dtype label of a tensor type code: the schema's name, or `TYPE_<n>` when unknown.
pub fn dtype_label(code: i8) -> String {
    tensor_type(code).map_or_else(|| format!("TYPE_{code}"), str::to_string)
}

/// Elements of a tensor (product of its shape); `None` on a negative dimension or overflow.
pub fn elements(shape: &[i32]) -> Option<u64> {
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
}

/// Builds the report for `model`, decoded from `fb`.
pub fn build(fb: &mut Fb, model: Model) -> Result<ModelReport, Error> {
    let name = fb.name().to_string();
    let mut findings = Vec::new();
    let mut tensors = Vec::new();
    let mut parameter_count = 0u64;
    let mut unknown = Vec::new();
    let mut quantized = Vec::new();
    let (mut total, mut sparse, mut variables) = (0u64, 0u64, 0u64);
    for (si, sg) in model.subgraphs.iter().enumerate() {
        for (ti, t) in sg.tensors.iter().enumerate() {
            total += 1;
            sparse += t.sparse as u64;
            variables += t.is_variable as u64;
            let Some(buffer) = model.buffers.get(t.buffer as usize) else {
                return Err(Error::Malformed(format!(
                    "{name}: tensor '{}' (subgraph {si}, tensor {ti}) names buffer {} but the model has {}",
                    t.name,
                    t.buffer,
                    model.buffers.len()
                )));
            };
            if let Some(q) = &t.quantization {
                quantized.push(quant_json(t, q));
            }
            // A tensor backed by a buffer that holds data is a constant: the model's weights.
            if buffer.is_empty() {
                continue;
            }
            let n = elements(&t.shape).ok_or_else(|| {
                Error::Malformed(format!(
                    "{name}: constant tensor '{}' has an invalid shape {:?}",
                    t.name, t.shape
                ))
            })?;
            parameter_count = parameter_count.checked_add(n).ok_or_else(|| {
                Error::Malformed(format!("{name}: parameter count overflows at '{}'", t.name))
            })?;
            if tensor_type(t.dtype).is_none() {
                unknown.push(t.name.clone());
            }
            // `elements` succeeded, so every dimension is non-negative.
            let mut tensor = weight_tensor(
                t.name.clone(),
                dtype_label(t.dtype),
                t.shape.iter().map(|&d| d as u64).collect(),
            );
            tensor.role = meaning::role(t);
            tensors.push(tensor);
        }
    }
    if !unknown.is_empty() {
        findings.push(finding(
            "unknown-dtype",
            Severity::Warning,
            format!(
                "{} constant tensors have a TensorType this plugin does not know, first '{}'",
                unknown.len(),
                unknown[0]
            ),
            Some(unknown[0].clone()),
        ));
    }
    for (i, b) in model.buffers.iter().enumerate() {
        if let Some((offset, size)) = b.external
            && offset.checked_add(size).is_none_or(|end| end > fb.size())
        {
            findings.push(finding(
                "external-buffer-out-of-range",
                Severity::Error,
                format!(
                    "{name}: buffer {i} points at bytes {offset}..+{size}, beyond the end of the file ({} bytes)",
                    fb.size()
                ),
                None,
            ));
        }
    }

    let (inputs, outputs) = match model.subgraphs.first() {
        Some(sg) => (io(&name, sg, &sg.inputs)?, io(&name, sg, &sg.outputs)?),
        None => (Vec::new(), Vec::new()),
    };

    let mut metadata = vec![
        meta(
            "tflite.schema_version",
            MetaValue::Uint(model.version as u64),
        ),
        meta(
            "tflite.subgraphs",
            MetaValue::Uint(model.subgraphs.len() as u64),
        ),
        meta("tflite.tensors", MetaValue::Uint(total)),
        meta(
            "tflite.buffers",
            MetaValue::Uint(model.buffers.len() as u64),
        ),
        meta(
            "tflite.operators",
            MetaValue::Uint(model.subgraphs.iter().map(|s| s.operators as u64).sum()),
        ),
    ];
    if let Some(d) = model.description.as_ref().filter(|d| !d.is_empty()) {
        metadata.push(meta("tflite.description", MetaValue::Text(d.clone())));
    }
    let ops: Vec<String> = model
        .operator_codes
        .iter()
        .map(|c| match (&c.custom, builtin_operator(c.builtin)) {
            (Some(custom), _) => format!("CUSTOM:{custom}"),
            (None, Some(op)) => op.to_string(),
            (None, None) => format!("BUILTIN_{}", c.builtin),
        })
        .collect();
    metadata.push(meta(
        "tflite.operator_codes",
        MetaValue::Array(ArraySummary {
            element_type: "STRING".into(),
            length: ops.len() as u64,
            head: Value::from(ops.iter().take(64).cloned().collect::<Vec<_>>()).to_string(),
        }),
    ));
    if !quantized.is_empty() {
        metadata.push(meta(
            "tflite.quantized_tensors",
            MetaValue::Uint(quantized.len() as u64),
        ));
        metadata.push(meta(
            "tflite.quantization",
            MetaValue::Array(ArraySummary {
                element_type: "QUANTIZATION".into(),
                length: quantized.len() as u64,
                head: Value::from(quantized.into_iter().take(QUANT_HEAD).collect::<Vec<_>>())
                    .to_string(),
            }),
        ));
    }
    if sparse > 0 {
        metadata.push(meta("tflite.sparse_tensors", MetaValue::Uint(sparse)));
    }
    if variables > 0 {
        metadata.push(meta("tflite.variable_tensors", MetaValue::Uint(variables)));
    }
    if !model.signatures.is_empty() {
        let sigs: Vec<Value> = model
            .signatures
            .iter()
            .map(|s| {
                json!({
                    "key": s.key,
                    "subgraph": s.subgraph,
                    "inputs": s.inputs.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                    "outputs": s.outputs.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                })
            })
            .collect();
        metadata.push(meta(
            "tflite.signatures",
            MetaValue::Json(Value::from(sigs).to_string()),
        ));
    }
    let support = model_metadata(fb, &model, &mut metadata, &mut findings)?;

    let mut r = ModelReport {
        format: FORMAT.into(),
        tensors,
        parameter_count,
        weight_parameters: 0,
        dtypes: vec![],
        quantization: meaning::quantization(&model),
        candidates: meaning::candidates(&support),
        lineage: vec![],
        groups: vec![],
        inputs,
        outputs,
        metadata,
        findings,
        covers: vec![],
        layer_kind: None,
    };
    finish_report(&mut r, &[], meaning::precision_of);
    Ok(r)
}

fn meta(key: &str, value: MetaValue) -> MetaEntry {
    MetaEntry {
        key: key.into(),
        value,
    }
}

fn quant_json(t: &TensorDef, q: &model::Quantization) -> Value {
    json!({
        "tensor": t.name,
        "channels": q.scale_count,
        "scale": q.scale.iter().map(|&s| s as f64).collect::<Vec<_>>(),
        "zeroPoint": q.zero_point,
        "quantizedDimension": q.quantized_dimension,
    })
}

/// Graph inputs or outputs of the main subgraph, with dynamic dimensions from
/// `shape_signature` (`-1`) reported as unknown.
fn io(name: &str, sg: &Subgraph, indices: &[i32]) -> Result<Vec<ValueInfo>, Error> {
    indices
        .iter()
        .map(|&i| {
            let t = usize::try_from(i)
                .ok()
                .and_then(|i| sg.tensors.get(i))
                .ok_or_else(|| {
                    Error::Malformed(format!(
                        "{name}: subgraph input/output names tensor {i} but it has {}",
                        sg.tensors.len()
                    ))
                })?;
            let dims = t.shape_signature.as_ref().unwrap_or(&t.shape);
            Ok(ValueInfo {
                name: t.name.clone(),
                dtype: dtype_label(t.dtype),
                shape: Some(
                    dims.iter()
                        .map(|&d| match u64::try_from(d) {
                            Ok(d) => Dim::Fixed(d),
                            Err(_) => Dim::Unknown,
                        })
                        .collect(),
                ),
            })
        })
        .collect()
}

/// `Model.metadata` entries: `min_runtime_version` as text, TFLite Support metadata decoded,
/// every entry's size under `tflite.metadata.<name>`. Returns the TFLite Support fields.
fn model_metadata(
    fb: &mut Fb,
    model: &Model,
    out: &mut Vec<MetaEntry>,
    findings: &mut Vec<Finding>,
) -> Result<Vec<(String, String)>, Error> {
    let mut support = Vec::new();
    for m in &model.metadata {
        let Some(b) = model.buffers.get(m.buffer as usize) else {
            findings.push(finding(
                "metadata-buffer-out-of-range",
                Severity::Warning,
                format!(
                    "metadata '{}' names buffer {} but the model has {}",
                    m.name,
                    m.buffer,
                    model.buffers.len()
                ),
                None,
            ));
            continue;
        };
        let len = b.external.map_or(b.inline_len as u64, |(_, s)| s);
        out.push(meta(
            &format!("tflite.metadata.{}", m.name),
            MetaValue::Uint(len),
        ));
        match m.name.as_str() {
            "min_runtime_version" => {
                let bytes = model::metadata_bytes(fb, b, 64)?;
                let v = String::from_utf8_lossy(&bytes)
                    .trim_end_matches('\0')
                    .to_string();
                out.push(meta("tflite.min_runtime_version", MetaValue::Text(v)));
            }
            "TFLITE_METADATA" => {
                let bytes = model::metadata_bytes(fb, b, MAX_METADATA)?;
                let src = MemSource::new(&format!("{}#TFLITE_METADATA", fb.name()), bytes);
                // A broken description must not hide the model: it becomes a finding.
                match model::support_metadata(&mut Fb::new(&src)) {
                    Ok(fields) => {
                        for (k, v) in fields {
                            out.push(meta(
                                &format!("tflite.support.{k}"),
                                MetaValue::Text(v.clone()),
                            ));
                            support.push((k.to_string(), v));
                        }
                    }
                    Err(e) => findings.push(finding(
                        "invalid-support-metadata",
                        Severity::Warning,
                        format!("TFLITE_METADATA could not be read: {e:?}"),
                        None,
                    )),
                }
            }
            _ => {}
        }
    }
    Ok(support)
}
