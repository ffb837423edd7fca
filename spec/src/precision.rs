//! ModelPack precision words (model-spec `docs/config.md`; the plugin contract's `precision`
//! enum has exactly these cases) and the informal spellings users write in settings and
//! `--set precision=…`. No format's dtype spelling lives here: format plugins name the word
//! of each dtype they report.

/// The precision values ModelPack allows.
pub const PRECISIONS: [&str; 18] = [
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

/// A precision as written in a config or the settings (`bfloat16`, `bf16`, `BF16`), normalised
/// to the ModelPack value; `None` when it is none of them.
pub fn normalize(word: &str) -> Option<&'static str> {
    let lower = word.trim().to_ascii_lowercase();
    if let Some(p) = PRECISIONS.iter().find(|p| **p == lower) {
        return Some(p);
    }
    ALIASES.iter().find(|(a, _)| *a == lower).map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_spellings() {
        assert_eq!(normalize("bfloat16"), Some("bfloat16"));
        assert_eq!(normalize(" BF16 "), Some("bfloat16"));
        assert_eq!(normalize("fp16"), Some("float16"));
        assert_eq!(normalize("float8_e4m3fn"), Some("float8_e4m3"));
        assert_eq!(normalize("complex32"), Some("complex32"));
        assert_eq!(normalize("mixed"), None);
        assert_eq!(normalize("int4"), None);
    }
}
