//! What an OpenVINO IR's constants mean for ModelPack (contract 0.2).
//!
//! * Roles: `Const` layers are `weights`, except integer constants of 32 bits and more
//!   (`i32`, `i64`, `u32`, `u64`) and `boolean` ones, which IR graphs use for shapes, axes,
//!   indices and masks (`other`). The parameter count of `inspect` keeps them, as OpenVINO
//!   counts every `Constant`.
//! * Precision words follow the element types; `u4`, `i4`, `nf4`, `u1`, `f4e2m1`… have none
//!   (packed storage, described by `quantization`).
//! * Quantisation: compressed integer weights (`u8`/`i8`/`u4`/`i4`/`nf4`, as NNCF writes
//!   them) give `openvino-<type>` with its bits, from the type holding most of them. FP16
//!   compression (`f16` constants) is a precision, not a quantisation.

use crate::ir::{Ir, element_bits};
use modelpack_plugin_sdk::prelude::*;

/// The precision word of an IR element type.
pub fn precision_of(dtype: &str) -> Option<Precision> {
    Some(match dtype {
        "f32" => Precision::Float32,
        "f64" => Precision::Float64,
        "f16" => Precision::Float16,
        "bf16" => Precision::Bfloat16,
        "f8e4m3" => Precision::Float8E4m3,
        "f8e5m2" => Precision::Float8E5m2,
        "i8" => Precision::Int8,
        "i16" => Precision::Int16,
        "i32" => Precision::Int32,
        "i64" => Precision::Int64,
        "u8" => Precision::Uint8,
        "u16" => Precision::Uint16,
        "u32" => Precision::Uint32,
        "u64" => Precision::Uint64,
        "boolean" => Precision::Bool,
        _ => return None,
    })
}

/// The role of a constant of this element type.
pub fn role(element_type: &str) -> TensorRole {
    match element_type {
        "i32" | "i64" | "u32" | "u64" | "boolean" => TensorRole::Other,
        _ => TensorRole::Weights,
    }
}

/// The quantisation shown by compressed integer weights, if any.
pub fn quantization(ir: &Ir) -> Option<Quantization> {
    let mut best: Option<(&str, u64)> = None;
    for t in ["u8", "i8", "u4", "i4", "nf4"] {
        let n: u64 = ir
            .consts
            .iter()
            .filter(|c| c.element_type == t)
            .map(|c| c.shape.iter().product::<u64>())
            .sum();
        if n > 0 && best.is_none_or(|(_, m)| n > m) {
            best = Some((t, n));
        }
    }
    let (t, _) = best?;
    Some(Quantization {
        method: format!("openvino-{t}"),
        bits: element_bits(t).and_then(|b| u8::try_from(b).ok()),
        origin: Origin {
            file: None,
            key: Some("Const element_type".into()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_roles() {
        assert_eq!(precision_of("f16"), Some(Precision::Float16));
        assert_eq!(precision_of("u4"), None);
        assert_eq!(role("i64"), TensorRole::Other);
        assert_eq!(role("u8"), TensorRole::Weights);
    }
}
