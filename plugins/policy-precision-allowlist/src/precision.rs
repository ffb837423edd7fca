//! ModelPack precision names, and how the formats' dtype spellings map onto them.
//!
//! ModelPack's `config.precision` takes 18 values (model-spec `docs/config.md`). Format plugins
//! report dtypes as their format spells them: safetensors / GGUF / PyTorch `BF16`, `F8_E4M3`,
//! ONNX `FLOAT`, `BFLOAT16`, NumPy `float32`. Types with no precision word (GGUF block
//! quantisations `Q4_K`, ONNX `INT4`/`STRING`, NumPy `object`, `F8_E8M0`, `F4`) map to nothing
//! and are ignored by the policy.

/// The precision values ModelPack allows.
pub const PRECISIONS: &[&str] = &[
    "float32",
    "float64",
    "float16",
    "bfloat16",
    "float8_e4m3",
    "float8_e5m2",
    "complex32",
    "complex64",
    "complex128",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
];

/// Format dtype spellings (upper-cased) → ModelPack precision.
const DTYPES: &[(&str, &str)] = &[
    // safetensors, GGUF, and PyTorch as the pytorch plugin spells it
    ("BOOL", "bool"),
    ("U8", "uint8"),
    ("I8", "int8"),
    ("U16", "uint16"),
    ("I16", "int16"),
    ("U32", "uint32"),
    ("I32", "int32"),
    ("U64", "uint64"),
    ("I64", "int64"),
    ("F16", "float16"),
    ("BF16", "bfloat16"),
    ("F32", "float32"),
    ("F64", "float64"),
    ("F8_E4M3", "float8_e4m3"),
    ("F8_E4M3FN", "float8_e4m3"),
    ("F8_E5M2", "float8_e5m2"),
    ("C32", "complex32"),
    ("C64", "complex64"),
    ("C128", "complex128"),
    // ONNX TensorProto.DataType names
    ("FLOAT", "float32"),
    ("FLOAT16", "float16"),
    ("BFLOAT16", "bfloat16"),
    ("DOUBLE", "float64"),
    ("INT8", "int8"),
    ("INT16", "int16"),
    ("INT32", "int32"),
    ("INT64", "int64"),
    ("UINT8", "uint8"),
    ("UINT16", "uint16"),
    ("UINT32", "uint32"),
    ("UINT64", "uint64"),
    ("COMPLEX64", "complex64"),
    ("COMPLEX128", "complex128"),
    ("FLOAT8E4M3FN", "float8_e4m3"),
    ("FLOAT8E4M3FNUZ", "float8_e4m3"),
    ("FLOAT8E5M2", "float8_e5m2"),
    ("FLOAT8E5M2FNUZ", "float8_e5m2"),
];

/// Common informal spellings of precisions (modctl's docs use `bf16`).
const ALIASES: &[(&str, &str)] = &[
    ("bf16", "bfloat16"),
    ("fp16", "float16"),
    ("half", "float16"),
    ("fp32", "float32"),
    ("single", "float32"),
    ("fp64", "float64"),
    ("double", "float64"),
    ("fp8_e4m3", "float8_e4m3"),
    ("fp8_e5m2", "float8_e5m2"),
    ("float8_e4m3fn", "float8_e4m3"),
];

/// The ModelPack precision of a format's dtype (`BF16`, `FLOAT`, `float32`), if it has one.
pub fn from_dtype(dtype: &str) -> Option<&'static str> {
    let upper = dtype.trim().to_ascii_uppercase();
    if let Some((_, p)) = DTYPES.iter().find(|(d, _)| *d == upper) {
        return Some(p);
    }
    // NumPy spells dtypes as ModelPack does (`float32`, `int64`, `bool`).
    let lower = dtype.trim().to_ascii_lowercase();
    PRECISIONS.iter().find(|p| **p == lower).copied()
}

/// A precision as written in a config or the settings (`bfloat16`, `bf16`, `BF16`), normalised
/// to the ModelPack value; `None` when it is none of them.
pub fn normalize(word: &str) -> Option<&'static str> {
    let lower = word.trim().to_ascii_lowercase();
    if let Some(p) = PRECISIONS.iter().find(|p| **p == lower) {
        return Some(p);
    }
    if let Some((_, p)) = ALIASES.iter().find(|(a, _)| *a == lower) {
        return Some(p);
    }
    from_dtype(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_spellings() {
        for (d, p) in [
            ("BF16", "bfloat16"),
            ("F16", "float16"),
            ("F32", "float32"),
            ("F64", "float64"),
            ("F8_E4M3", "float8_e4m3"),
            ("F8_E5M2", "float8_e5m2"),
            ("I8", "int8"),
            ("U8", "uint8"),
            ("I64", "int64"),
            ("BOOL", "bool"),
            ("FLOAT", "float32"),
            ("FLOAT16", "float16"),
            ("BFLOAT16", "bfloat16"),
            ("DOUBLE", "float64"),
            ("INT64", "int64"),
            ("FLOAT8E4M3FN", "float8_e4m3"),
            ("float32", "float32"),
            ("int32", "int32"),
        ] {
            assert_eq!(from_dtype(d), Some(p), "{d}");
        }
        for d in [
            "Q4_K", "Q8_0", "IQ2_XXS", "INT4", "STRING", "object", "F8_E8M0", "F4", "",
        ] {
            assert_eq!(from_dtype(d), None, "{d}");
        }
    }

    #[test]
    fn config_spellings() {
        assert_eq!(normalize("bfloat16"), Some("bfloat16"));
        assert_eq!(normalize(" BF16 "), Some("bfloat16"));
        assert_eq!(normalize("fp16"), Some("float16"));
        assert_eq!(normalize("FLOAT"), Some("float32"));
        assert_eq!(normalize("mixed"), None);
        assert_eq!(normalize("int4"), None);
    }
}
