//! Copy plans from GGUF to safetensors (WIT `weight-conversion`).
//!
//! Only F32, F16 and BF16 tensors convert bit for bit; quantised block types (Q4_K…) have no
//! safetensors dtype and are listed as skipped. GGUF lists dimensions fastest-varying first
//! (`ne[0]`), so the shape is reversed to row-major order; the data is already row-major.
//! Names stay as stored (`blk.0.attn_q.weight`): mapping them to a framework's names is a
//! model-architecture question, not a format one. Only the first input (one file) is read.

use modelpack_plugin_sdk::prelude::*;

use crate::header;

/// Plans the conversion of one GGUF file.
pub fn plan(inputs: &[&dyn Source], options: &ConversionOptions) -> Result<CopyPlan, Error> {
    if options.target != "safetensors" {
        return Err(Error::Unsupported(format!(
            "gguf converts to safetensors, not {:?}",
            options.target
        )));
    }
    let src = *inputs
        .first()
        .ok_or_else(|| Error::Malformed("no input file given".into()))?;
    let h = header::parse(src)?;
    let mut tensors = Vec::new();
    let mut skipped = Vec::new();
    for t in &h.tensors {
        let dtype = match t.ty.name {
            "F32" => "F32",
            "F16" => "F16",
            "BF16" => "BF16",
            other => {
                skipped.push(Skipped {
                    name: t.name.clone(),
                    reason: format!("ggml type {other} has no safetensors dtype"),
                });
                continue;
            }
        };
        let shape: Vec<u64> = t.ne.iter().rev().copied().collect();
        let mut strides = vec![1u64; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1].saturating_mul(shape[i + 1]);
        }
        let offset = h.data_offset.checked_add(t.offset).ok_or_else(|| {
            Error::Malformed(format!(
                "{}: tensor {} offset overflows",
                src.name(),
                t.name
            ))
        })?;
        tensors.push(PlannedTensor {
            name: t.name.clone(),
            dtype: dtype.into(),
            shape,
            source: TensorSource {
                input: 0,
                offset,
                strides,
                byte_swap: false,
            },
            role: TensorRole::Weights,
        });
    }
    let notes = if skipped.is_empty() {
        vec![]
    } else {
        vec![format!(
            "{} quantised tensors skipped: they cannot be written bit for bit",
            skipped.len()
        )]
    };
    Ok(CopyPlan {
        tensors,
        metadata: vec![("format".into(), "pt".into())],
        skipped,
        notes,
    })
}
