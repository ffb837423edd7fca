//! What a PyTorch checkpoint's tensors mean for ModelPack: the role of each tensor (the
//! model's weights vs buffers, optimizer and other training state, see [`crate::groups`],
//! and quantisation side data by `state_dict` name) and the precision word of each dtype
//! (reported in safetensors spelling; `QI8`, `QU4X2`… are quantised storages without a word).

use modelpack_plugin_sdk::prelude::*;

/// The precision word of a dtype as this plugin spells it.
pub fn precision_of(dtype: &str) -> Option<Precision> {
    Some(match dtype {
        "F32" => Precision::Float32,
        "F64" => Precision::Float64,
        "F16" => Precision::Float16,
        "BF16" => Precision::Bfloat16,
        "F8_E4M3" | "F8_E4M3FNUZ" => Precision::Float8E4m3,
        "F8_E5M2" | "F8_E5M2FNUZ" => Precision::Float8E5m2,
        "C32" => Precision::Complex32,
        "C64" => Precision::Complex64,
        "C128" => Precision::Complex128,
        "I8" => Precision::Int8,
        "I16" => Precision::Int16,
        "I32" => Precision::Int32,
        "I64" => Precision::Int64,
        "U8" => Precision::Uint8,
        "U16" => Precision::Uint16,
        "U32" => Precision::Uint32,
        "U64" => Precision::Uint64,
        "BOOL" => Precision::Bool,
        _ => return None,
    })
}

/// Fills the report's weight totals from tensors whose roles are set.
pub fn apply(r: &mut ModelReport) {
    finish_report(r, &[], precision_of);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(precision_of("C32"), Some(Precision::Complex32));
        assert_eq!(precision_of("QI8"), None);
        assert_eq!(precision_of("F8_E5M2"), Some(Precision::Float8E5m2));
    }
}
