//! What arrays mean for ModelPack: every numeric array is a weight unless its name marks a
//! PyTorch buffer (`.npz` files often hold a `state_dict`); object, string, void and time
//! arrays are `other`. Precision words from NumPy's dtype names (`float32`, and the
//! big-endian `>f4` spelling, which has the same precision).

use modelpack_plugin_sdk::prelude::*;

/// The precision word of a NumPy dtype name as this plugin reports it.
pub fn precision_of(dtype: &str) -> Option<Precision> {
    let d = dtype.trim_start_matches(['<', '>', '=', '|']);
    Some(match d {
        "float16" | "f2" => Precision::Float16,
        "float32" | "f4" => Precision::Float32,
        "float64" | "f8" => Precision::Float64,
        "complex64" | "c8" => Precision::Complex64,
        "complex128" | "c16" => Precision::Complex128,
        "int8" | "i1" => Precision::Int8,
        "int16" | "i2" => Precision::Int16,
        "int32" | "i4" => Precision::Int32,
        "int64" | "i8" => Precision::Int64,
        "uint8" | "u1" => Precision::Uint8,
        "uint16" | "u2" => Precision::Uint16,
        "uint32" | "u4" => Precision::Uint32,
        "uint64" | "u8" => Precision::Uint64,
        "bool" => Precision::Bool,
        _ => return None,
    })
}

/// Whether arrays of this dtype hold numbers at all.
fn numeric(dtype: &str) -> bool {
    let d = dtype.trim_start_matches(['<', '>', '=', '|']);
    precision_of(dtype).is_some() || d.starts_with("float") || d.starts_with("complex")
}

/// Sets roles and the weight totals.
pub fn apply(r: &mut ModelReport) {
    apply_state_dict_roles(&mut r.tensors);
    for t in r.tensors.iter_mut() {
        if !numeric(&t.dtype) {
            t.role = TensorRole::Other;
        }
    }
    finish_report(r, &[], precision_of);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_roles() {
        assert_eq!(precision_of(">f4"), Some(Precision::Float32));
        assert_eq!(precision_of("float128"), None);
        assert!(numeric("float128"));
        assert!(!numeric("object"));
        assert!(!numeric("|S5"));
    }
}
