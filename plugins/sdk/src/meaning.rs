//! Helpers for the *meaning* half of a format report (contract 0.2): tensor roles, the
//! `paramSize` basis, precision words per dtype, field candidates.
//!
//! The arithmetic saturates at `u64::MAX` instead of wrapping: the host reads `u64::MAX` as
//! "the count overflowed" and refuses it, so an overflow can never pass as a small number.

use crate::format::exports::modelpack::plugin::format_handler::{DtypeInfo, ModelReport, Tensor};
use crate::format::modelpack::plugin::types::{
    FieldCandidate, Origin, Precision, SourceClass, TensorRole,
};

/// The spec spelling of a precision word (`Precision::Float8E4m3` → `float8_e4m3`); the host's
/// spec module owns the same table, this copy is for plugin tests and messages.
pub fn precision_word(p: Precision) -> &'static str {
    match p {
        Precision::Float32 => "float32",
        Precision::Float64 => "float64",
        Precision::Float16 => "float16",
        Precision::Bfloat16 => "bfloat16",
        Precision::Float8E4m3 => "float8_e4m3",
        Precision::Float8E5m2 => "float8_e5m2",
        Precision::Complex32 => "complex32",
        Precision::Complex64 => "complex64",
        Precision::Complex128 => "complex128",
        Precision::Int8 => "int8",
        Precision::Int16 => "int16",
        Precision::Int32 => "int32",
        Precision::Int64 => "int64",
        Precision::Uint8 => "uint8",
        Precision::Uint16 => "uint16",
        Precision::Uint32 => "uint32",
        Precision::Uint64 => "uint64",
        Precision::Bool => "bool",
    }
}

/// Element count of a shape; `u64::MAX` when it overflows.
pub fn elements(shape: &[u64]) -> u64 {
    shape
        .iter()
        .try_fold(1u64, |a, d| a.checked_mul(*d))
        .unwrap_or(u64::MAX)
}

/// A tensor whose role and parameter count are its plain element count (role `weights`).
pub fn weight_tensor(name: impl Into<String>, dtype: impl Into<String>, shape: Vec<u64>) -> Tensor {
    let parameters = elements(&shape);
    Tensor {
        name: name.into(),
        dtype: dtype.into(),
        shape,
        role: TensorRole::Weights,
        parameters,
        packing: None,
    }
}

/// Σ of the elements of every tensor (saturating).
pub fn total_elements(tensors: &[Tensor]) -> u64 {
    tensors
        .iter()
        .fold(0u64, |a, t| a.saturating_add(elements(&t.shape)))
}

/// The `paramSize` basis and the dtype table of a report: Σ `parameters` of role `weights`
/// per dtype, each dtype with its precision word from `precision_of` (the plugin's own table).
/// A dtype that holds packed weights (a tensor with `packing`) is a container, not a
/// precision: it gets no word. `extra` adds weights not listed as tensors (dtype,
/// parameters), e.g. ONNX Constant data.
pub fn weight_summary(
    tensors: &[Tensor],
    extra: &[(String, u64)],
    precision_of: impl Fn(&str) -> Option<Precision>,
) -> (u64, Vec<DtypeInfo>) {
    let mut total = 0u64;
    let mut dtypes: Vec<DtypeInfo> = Vec::new();
    let weights = tensors
        .iter()
        .filter(|t| t.role == TensorRole::Weights)
        .map(|t| (t.dtype.as_str(), t.parameters, t.packing.is_some()))
        .chain(extra.iter().map(|(d, n)| (d.as_str(), *n, false)));
    for (dtype, n, packed) in weights {
        total = total.saturating_add(n);
        match dtypes.iter_mut().find(|d| d.dtype == dtype) {
            Some(d) => {
                d.weight_parameters = d.weight_parameters.saturating_add(n);
                if packed {
                    d.precision = None;
                }
            }
            None => dtypes.push(DtypeInfo {
                dtype: dtype.to_string(),
                precision: if packed { None } else { precision_of(dtype) },
                weight_parameters: n,
            }),
        }
    }
    (total, dtypes)
}

/// Fills `parameter_count`, `weight_parameters` and `dtypes` of a report from its tensors
/// (plus `extra` weights outside the tensor list).
pub fn finish_report(
    report: &mut ModelReport,
    extra: &[(String, u64)],
    precision_of: impl Fn(&str) -> Option<Precision>,
) {
    let (w, d) = weight_summary(&report.tensors, extra, precision_of);
    report.weight_parameters = w;
    report.dtypes = d;
}

/// A field candidate read from the weight file's own header (source `weight-headers`).
/// `value` is any JSON value; `key` names the metadata key it came from.
pub fn header_candidate(
    field: &str,
    value: serde_json::Value,
    key: &str,
    note: Option<String>,
) -> FieldCandidate {
    FieldCandidate {
        field: field.to_string(),
        value: value.to_string(),
        source: SourceClass::WeightHeaders,
        origin: Origin {
            file: None,
            key: Some(key.to_string()),
        },
        note,
    }
}

/// Tensor-name endings of registered PyTorch buffers (not parameters). Shared by the formats
/// that store PyTorch `state_dict`s under their own names (pytorch, safetensors, numpy `.npz`,
/// ONNX initializers exported from torch).
pub const TORCH_BUFFER_NAMES: &[&str] = &[
    "running_mean",
    "running_var",
    "num_batches_tracked",
    "position_ids",
    "token_type_ids",
    "inv_freq",
    "masked_bias",
    "relative_position_index",
    "_float_tensor",
];

/// Tensor-name endings of quantisation side data in PyTorch-style checkpoints (GPTQ/AWQ
/// scales and zero points, bitsandbytes absmax and code books, compressed-tensors and FP8
/// scales).
pub const TORCH_QUANT_AUX_NAMES: &[&str] = &[
    "absmax",
    "quant_map",
    "nested_absmax",
    "nested_quant_map",
    "scales",
    "qzeros",
    "g_idx",
    "weight_scale",
    "input_scale",
    "weight_zero_point",
    "weight_global_scale",
    "input_global_scale",
    "weight_shape",
    "SCB",
    "weight_format",
];

/// The role a PyTorch `state_dict` key implies by its name alone: `buffers` for registered
/// buffers, `quantization-aux` for quantisation side data, `None` for everything else.
pub fn state_dict_role(name: &str) -> Option<TensorRole> {
    let last = name.rsplit('.').next().unwrap_or(name);
    if TORCH_BUFFER_NAMES.contains(&last) || last.ends_with("_buffer") {
        Some(TensorRole::Buffers)
    } else if TORCH_QUANT_AUX_NAMES.contains(&last) || name.contains(".quant_state.") {
        Some(TensorRole::QuantizationAux)
    } else {
        None
    }
}

/// Applies [`state_dict_role`] to every tensor still marked `weights`.
pub fn apply_state_dict_roles(tensors: &mut [Tensor]) {
    for t in tensors.iter_mut() {
        if t.role == TensorRole::Weights
            && let Some(r) = state_dict_role(&t.name)
        {
            t.role = r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_weights_only_and_saturates() {
        let mut aux = weight_tensor("w.scales", "F16", vec![4]);
        aux.role = TensorRole::QuantizationAux;
        let t = vec![
            weight_tensor("a", "BF16", vec![10, 10]),
            weight_tensor("b", "F32", vec![5]),
            aux,
        ];
        let (n, d) = weight_summary(&t, &[("F32".into(), 2)], |d| match d {
            "BF16" => Some(Precision::Bfloat16),
            "F32" => Some(Precision::Float32),
            _ => None,
        });
        assert_eq!(n, 107);
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].weight_parameters, 7);
        let big = vec![
            weight_tensor("x", "F32", vec![u64::MAX, 2]),
            weight_tensor("y", "F32", vec![1]),
        ];
        assert_eq!(weight_summary(&big, &[], |_| None).0, u64::MAX);
        assert_eq!(precision_word(Precision::Float8E4m3), "float8_e4m3");
    }
}
