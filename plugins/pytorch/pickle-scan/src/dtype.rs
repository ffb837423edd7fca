//! Torch storage types and dtypes, spelled the way safetensors spells them, with element sizes.

/// `(torch storage class, safetensors dtype, bytes per element)`.
const STORAGES: &[(&str, &str, u64)] = &[
    ("FloatStorage", "F32", 4),
    ("DoubleStorage", "F64", 8),
    ("HalfStorage", "F16", 2),
    ("BFloat16Storage", "BF16", 2),
    ("LongStorage", "I64", 8),
    ("IntStorage", "I32", 4),
    ("ShortStorage", "I16", 2),
    ("CharStorage", "I8", 1),
    ("ByteStorage", "U8", 1),
    ("BoolStorage", "BOOL", 1),
    ("ComplexHalfStorage", "C32", 4),
    ("ComplexFloatStorage", "C64", 8),
    ("ComplexDoubleStorage", "C128", 16),
    ("QInt8Storage", "QI8", 1),
    ("QUInt8Storage", "QU8", 1),
    ("QInt32Storage", "QI32", 4),
    ("QUInt4x2Storage", "QU4X2", 1),
    ("QUInt2x4Storage", "QU2X4", 1),
    ("Float8_e4m3fnStorage", "F8_E4M3", 1),
    ("Float8_e5m2Storage", "F8_E5M2", 1),
    ("Float8_e4m3fnuzStorage", "F8_E4M3FNUZ", 1),
    ("Float8_e5m2fnuzStorage", "F8_E5M2FNUZ", 1),
    // Untyped storages count bytes.
    ("UntypedStorage", "U8", 1),
];

/// `(torch dtype attribute, safetensors dtype, bytes per element)`.
const DTYPES: &[(&str, &str, u64)] = &[
    ("float32", "F32", 4),
    ("float", "F32", 4),
    ("float64", "F64", 8),
    ("double", "F64", 8),
    ("float16", "F16", 2),
    ("half", "F16", 2),
    ("bfloat16", "BF16", 2),
    ("int64", "I64", 8),
    ("long", "I64", 8),
    ("int32", "I32", 4),
    ("int", "I32", 4),
    ("int16", "I16", 2),
    ("short", "I16", 2),
    ("int8", "I8", 1),
    ("uint8", "U8", 1),
    ("uint16", "U16", 2),
    ("uint32", "U32", 4),
    ("uint64", "U64", 8),
    ("bool", "BOOL", 1),
    ("complex32", "C32", 4),
    ("complex64", "C64", 8),
    ("cfloat", "C64", 8),
    ("complex128", "C128", 16),
    ("cdouble", "C128", 16),
    ("qint8", "QI8", 1),
    ("quint8", "QU8", 1),
    ("qint32", "QI32", 4),
    ("float8_e4m3fn", "F8_E4M3", 1),
    ("float8_e5m2", "F8_E5M2", 1),
    ("float8_e4m3fnuz", "F8_E4M3FNUZ", 1),
    ("float8_e5m2fnuz", "F8_E5M2FNUZ", 1),
];

/// The dtype and element size of a storage type or dtype global (`torch.FloatStorage`,
/// `torch.cuda.HalfStorage`, `torch.bfloat16`).
pub fn storage_dtype(global: &str) -> Option<(&'static str, u64)> {
    let name = global
        .strip_prefix("torch.cuda.")
        .or_else(|| global.strip_prefix("torch.storage."))
        .or_else(|| global.strip_prefix("torch."))?;
    STORAGES
        .iter()
        .chain(DTYPES)
        .find(|(n, _, _)| *n == name)
        .map(|&(_, d, s)| (d, s))
}

/// The dtype to report for a storage type name; unknown names are reported as written.
pub fn dtype_name(global: &str) -> String {
    storage_dtype(global).map_or_else(|| global.to_string(), |(d, _)| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_storages_and_dtypes() {
        assert_eq!(storage_dtype("torch.FloatStorage"), Some(("F32", 4)));
        assert_eq!(storage_dtype("torch.BFloat16Storage"), Some(("BF16", 2)));
        assert_eq!(storage_dtype("torch.cuda.HalfStorage"), Some(("F16", 2)));
        assert_eq!(storage_dtype("torch.bfloat16"), Some(("BF16", 2)));
        assert_eq!(storage_dtype("os.system"), None);
        assert_eq!(dtype_name("weird.Storage"), "weird.Storage");
    }
}
