//! Turns a parsed [`Ir`] plus the size of its weights file into the host's report.

use crate::ir::{Ir, element_bits};
use crate::meaning;
use modelpack_plugin_sdk::prelude::*;
use serde_json::Value;

/// The format name used in ModelPack `config.format`.
pub const FORMAT: &str = "openvino";

/// The weights file next to a topology file: `model.xml` → `model.bin`.
pub fn bin_name(xml: &str) -> String {
    let base = xml.rsplit('/').next().unwrap_or(xml);
    match base.rsplit_once('.') {
        Some((stem, _)) => format!("{stem}.bin"),
        None => format!("{base}.bin"),
    }
}

/// Builds the report. `bin` is the weights file's name and size, when it could be opened.
pub fn build(file: &str, ir: Ir, bin_file: &str, bin: Option<u64>) -> Result<ModelReport, Error> {
    let mut findings = Vec::new();
    let mut tensors = Vec::with_capacity(ir.consts.len());
    let mut parameter_count = 0u64;
    let mut needed = 0u64;
    let mut beyond = Vec::new();
    let mut mismatched = Vec::new();
    for c in &ir.consts {
        let n = c
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| {
                Error::Malformed(format!(
                    "{file}: Const '{}' shape {:?} overflows",
                    c.name, c.shape
                ))
            })?;
        parameter_count = parameter_count.checked_add(n).ok_or_else(|| {
            Error::Malformed(format!("{file}: parameter count overflows at '{}'", c.name))
        })?;
        let end = c.offset.checked_add(c.size).ok_or_else(|| {
            Error::Malformed(format!(
                "{file}: Const '{}' offset {} + size {} overflows",
                c.name, c.offset, c.size
            ))
        })?;
        needed = needed.max(end);
        if bin.is_some_and(|b| end > b) {
            beyond.push(c.name.as_str());
        }
        if let Some(bits) = element_bits(&c.element_type)
            && n.checked_mul(bits).map(|b| b.div_ceil(8)) != Some(c.size)
            && c.size != 0
        {
            mismatched.push(c.name.as_str());
        }
        let mut tensor = weight_tensor(c.name.clone(), c.element_type.clone(), c.shape.clone());
        tensor.role = meaning::role(&c.element_type);
        tensors.push(tensor);
    }
    match bin {
        None if needed > 0 => findings.push(finding(
            "missing-weights",
            Severity::Error,
            format!("{file}: the weights file {bin_file} ({needed} bytes needed) cannot be opened"),
            None,
        )),
        Some(size) if !beyond.is_empty() => findings.push(finding(
            "weights-out-of-range",
            Severity::Error,
            format!(
                "{file}: {} constants lie beyond the end of {bin_file} ({size} bytes, {needed} needed), first '{}'",
                beyond.len(),
                beyond[0]
            ),
            Some(beyond[0].to_string()),
        )),
        _ => {}
    }
    if !mismatched.is_empty() {
        findings.push(finding(
            "const-size-mismatch",
            Severity::Warning,
            format!(
                "{file}: {} constants have a byte size that does not match shape and element type, first '{}'",
                mismatched.len(),
                mismatched[0]
            ),
            Some(mismatched[0].to_string()),
        ));
    }
    let io = |v: &[crate::ir::Io]| {
        v.iter()
            .map(|i| ValueInfo {
                name: i.name.clone(),
                dtype: i.element_type.clone(),
                shape: i.shape.clone(),
            })
            .collect::<Vec<_>>()
    };
    let mut metadata = vec![
        meta("openvino.ir_version", MetaValue::Uint(ir.version)),
        meta("openvino.layers", MetaValue::Uint(ir.layers as u64)),
        meta(
            "openvino.layer_types",
            MetaValue::Json(
                Value::Object(
                    ir.layer_types
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::from(*v)))
                        .collect(),
                )
                .to_string(),
            ),
        ),
    ];
    if !ir.name.is_empty() {
        metadata.push(meta("openvino.name", MetaValue::Text(ir.name.clone())));
    }
    if ir.nested_consts > 0 {
        metadata.push(meta(
            "openvino.nested_constants",
            MetaValue::Uint(ir.nested_consts as u64),
        ));
    }
    if let Some(size) = bin {
        metadata.push(meta("openvino.weights_bytes", MetaValue::Uint(size)));
    }
    for (k, v) in &ir.rt_info {
        metadata.push(meta(
            &format!("openvino.rt.{k}"),
            MetaValue::Text(v.clone()),
        ));
    }
    let quantization = meaning::quantization(&ir);
    let mut r = ModelReport {
        format: FORMAT.into(),
        tensors,
        parameter_count,
        weight_parameters: 0,
        dtypes: vec![],
        quantization,
        candidates: vec![],
        lineage: vec![],
        groups: vec![],
        inputs: io(&ir.inputs),
        outputs: io(&ir.outputs),
        metadata,
        findings,
        covers: if bin.is_some() {
            vec![bin_file.to_string()]
        } else {
            vec![]
        },
        // The topology describes the weights; their bytes are the `.bin`'s (a weight layer).
        layer_kind: Some(FileKind::WeightConfig),
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
