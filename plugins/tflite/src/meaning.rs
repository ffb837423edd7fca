//! What a TFLite model's constants mean for ModelPack (contract 0.2).
//!
//! * Roles: floating-point and 8/4-bit integer constants are `weights`; an INT32 / INT64
//!   constant with quantisation parameters is a quantised bias (`weights`), one without is a
//!   shape, axis or index tensor (`other`); BOOL / STRING / RESOURCE / VARIANT constants are
//!   `other`.
//! * Precision words follow the `TensorType` names; INT4 / UINT4 / INT2 have none (packed
//!   storage, described by `quantization`).
//! * Quantisation: when quantised integer weights exist, `tflite-int8` (8-bit weights and
//!   activations), `tflite-int16x8` (16-bit activations), `tflite-dynamic-int8` (float
//!   activations, weights dequantised at run time), or `tflite-int4`; bits from the weight
//!   type. FLOAT16 weights are a precision, not a quantisation.
//! * Candidates (source `weight-headers`): the TFLite Support metadata's `name` →
//!   `/descriptor/name`, `version` → `/descriptor/version`, `author` → `/descriptor/authors`,
//!   `description` → `/descriptor/description`.

use crate::model::{Model, TensorDef};
use crate::names::tensor_type;
use modelpack_plugin_sdk::prelude::*;

/// The precision word of a `TensorType` name.
pub fn precision_of(dtype: &str) -> Option<Precision> {
    Some(match dtype {
        "FLOAT32" => Precision::Float32,
        "FLOAT16" => Precision::Float16,
        "BFLOAT16" => Precision::Bfloat16,
        "FLOAT64" => Precision::Float64,
        "FLOAT8_E4M3FN" => Precision::Float8E4m3,
        "FLOAT8_E5M2" => Precision::Float8E5m2,
        "COMPLEX64" => Precision::Complex64,
        "COMPLEX128" => Precision::Complex128,
        "INT8" => Precision::Int8,
        "INT16" => Precision::Int16,
        "INT32" => Precision::Int32,
        "INT64" => Precision::Int64,
        "UINT8" => Precision::Uint8,
        "UINT16" => Precision::Uint16,
        "UINT32" => Precision::Uint32,
        "UINT64" => Precision::Uint64,
        "BOOL" => Precision::Bool,
        _ => return None,
    })
}

/// The role of a constant tensor.
pub fn role(t: &TensorDef) -> TensorRole {
    match tensor_type(t.dtype) {
        Some("INT32" | "INT64") if t.quantization.is_none() => TensorRole::Other,
        Some("BOOL" | "STRING" | "RESOURCE" | "VARIANT") => TensorRole::Other,
        _ => TensorRole::Weights,
    }
}

/// Bits of a quantised integer weight type.
fn quant_bits(dtype: &str) -> Option<u8> {
    match dtype {
        "INT8" | "UINT8" => Some(8),
        "INT16" => Some(16),
        "INT4" | "UINT4" => Some(4),
        "INT2" => Some(2),
        _ => None,
    }
}

/// The quantisation the model shows, from its quantised weights and its activations.
pub fn quantization(model: &Model) -> Option<Quantization> {
    let mut weight_bits: Option<u8> = None;
    let mut activation: Option<&str> = None;
    let mut float_activations = false;
    for sg in &model.subgraphs {
        for t in &sg.tensors {
            let constant = model
                .buffers
                .get(t.buffer as usize)
                .is_some_and(|b| !b.is_empty());
            let name = tensor_type(t.dtype).unwrap_or("");
            if constant {
                if t.quantization.is_some()
                    && let Some(bits) = quant_bits(name).filter(|b| *b <= 8)
                {
                    weight_bits = Some(weight_bits.map_or(bits, |w| w.min(bits)));
                }
            } else if t.quantization.is_some() && matches!(name, "INT8" | "UINT8" | "INT16") {
                activation = Some(if name == "INT16" || activation == Some("INT16") {
                    "INT16"
                } else {
                    name
                });
            } else if name == "FLOAT32" {
                float_activations = true;
            }
        }
    }
    let bits = weight_bits?;
    let method = match (bits, activation) {
        (8, Some("INT16")) => "tflite-int16x8".to_string(),
        (8, Some(_)) => "tflite-int8".to_string(),
        (8, None) if float_activations => "tflite-dynamic-int8".to_string(),
        (b, _) => format!("tflite-int{b}"),
    };
    Some(Quantization {
        method,
        bits: Some(bits),
        origin: Origin {
            file: None,
            key: Some("tensor quantization parameters".into()),
        },
    })
}

/// Descriptor candidates from the TFLite Support metadata fields (`tflite.support.*`).
pub fn candidates(support: &[(String, String)]) -> Vec<FieldCandidate> {
    support
        .iter()
        .filter_map(|(k, v)| {
            let (field, value) = match k.as_str() {
                "name" => ("/descriptor/name", serde_json::json!(v)),
                "version" => ("/descriptor/version", serde_json::json!(v)),
                "author" => ("/descriptor/authors", serde_json::json!([v])),
                "description" => ("/descriptor/description", serde_json::json!(v)),
                _ => return None,
            };
            Some(header_candidate(
                field,
                value,
                &format!("TFLITE_METADATA {k}"),
                None,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dtype: i8, quantized: bool) -> TensorDef {
        TensorDef {
            name: "t".into(),
            dtype,
            shape: vec![2],
            shape_signature: None,
            buffer: 1,
            quantization: quantized.then(|| crate::model::Quantization {
                scale_count: 1,
                scale: vec![0.5],
                zero_point: vec![0],
                quantized_dimension: 0,
            }),
            is_variable: false,
            sparse: false,
        }
    }

    #[test]
    fn integer_constants_are_weights_only_when_quantised() {
        assert_eq!(role(&t(2, false)), TensorRole::Other); // INT32 shape tensor
        assert_eq!(role(&t(2, true)), TensorRole::Weights); // INT32 quantised bias
        assert_eq!(role(&t(4, true)), TensorRole::Weights); // INT64 bias of 16x8
        assert_eq!(role(&t(9, false)), TensorRole::Weights); // INT8
        assert_eq!(role(&t(1, false)), TensorRole::Weights); // FLOAT16
        assert_eq!(precision_of("INT4"), None);
        assert_eq!(precision_of("FLOAT8_E4M3FN"), Some(Precision::Float8E4m3));
    }
}
