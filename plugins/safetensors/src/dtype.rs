//! The dtype strings of the safetensors format and the byte length of a tensor of each.
//!
//! The table mirrors `safetensors::Dtype` of the reference crate (0.8.0): the same 22 names and
//! `Dtype::bitsize()` values, in the crate's enum order. The crate itself is not a dependency
//! because its package is also named `safetensors`, which would make `cargo -p safetensors`
//! (used by the artifact build) ambiguous.

/// Every dtype of the format with its width in bits, as `safetensors::Dtype::bitsize` gives it.
pub const DTYPES: &[(&str, u32)] = &[
    ("BOOL", 8),
    ("F4", 4),
    ("F6_E2M3", 6),
    ("F6_E3M2", 6),
    ("U8", 8),
    ("I8", 8),
    ("F8_E5M2", 8),
    ("F8_E4M3", 8),
    ("F8_E8M0", 8),
    ("F8_E4M3FNUZ", 8),
    ("F8_E5M2FNUZ", 8),
    ("I16", 16),
    ("U16", 16),
    ("F16", 16),
    ("BF16", 16),
    ("I32", 32),
    ("U32", 32),
    ("F32", 32),
    ("C64", 64),
    ("F64", 64),
    ("I64", 64),
    ("U64", 64),
];

/// Width in bits of one element of `dtype`, or `None` for a string the format does not define.
pub fn bits(dtype: &str) -> Option<u32> {
    // Exact, case-sensitive match: the reference crate rejects `bf16` or `F8_E4M3FN`.
    DTYPES.iter().find(|(n, _)| *n == dtype).map(|&(_, b)| b)
}

/// Why a tensor's byte length cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteLenError {
    /// `elements × bits` does not fit in a u64.
    Overflow,
    /// `elements × bits` (the payload) is not a whole number of bytes.
    Misaligned(u64),
}

/// Bytes taken by `elements` values of `bits` bits each.
///
/// Sub-byte dtypes (F4, F6_*) are bit-packed: the reference crate requires `elements × bits` to be
/// a multiple of 8 (`MisalignedSlice` otherwise) and then takes exactly `elements × bits / 8`
/// bytes, so a misaligned count is an error rather than rounded up.
pub fn byte_len(bits: u32, elements: u64) -> Result<u64, ByteLenError> {
    let total = elements
        .checked_mul(u64::from(bits))
        .ok_or(ByteLenError::Overflow)?;
    if total % 8 != 0 {
        return Err(ByteLenError::Misaligned(total));
    }
    Ok(total / 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dtype_has_the_reference_width() {
        let expected = [
            ("BOOL", 8),
            ("U8", 8),
            ("I8", 8),
            ("F8_E5M2", 8),
            ("F8_E4M3", 8),
            ("F8_E8M0", 8),
            ("F8_E4M3FNUZ", 8),
            ("F8_E5M2FNUZ", 8),
            ("I16", 16),
            ("U16", 16),
            ("F16", 16),
            ("BF16", 16),
            ("I32", 32),
            ("U32", 32),
            ("F32", 32),
            ("I64", 64),
            ("U64", 64),
            ("F64", 64),
            ("C64", 64),
            ("F4", 4),
            ("F6_E2M3", 6),
            ("F6_E3M2", 6),
        ];
        assert_eq!(DTYPES.len(), expected.len());
        for (name, b) in expected {
            assert_eq!(bits(name), Some(b), "{name}");
        }
    }

    #[test]
    fn byte_size_of_each_dtype() {
        // 24 elements: a whole number of bytes for every width.
        let want = [
            ("BOOL", 24),
            ("U8", 24),
            ("I8", 24),
            ("F8_E5M2", 24),
            ("F8_E4M3", 24),
            ("F8_E8M0", 24),
            ("F8_E4M3FNUZ", 24),
            ("F8_E5M2FNUZ", 24),
            ("I16", 48),
            ("U16", 48),
            ("F16", 48),
            ("BF16", 48),
            ("I32", 96),
            ("U32", 96),
            ("F32", 96),
            ("I64", 192),
            ("U64", 192),
            ("F64", 192),
            ("C64", 192),
            ("F4", 12),
            ("F6_E2M3", 18),
            ("F6_E3M2", 18),
        ];
        for (name, bytes) in want {
            let b = bits(name).unwrap();
            assert_eq!(byte_len(b, 24), Ok(bytes), "{name}");
            assert_eq!(byte_len(b, 0), Ok(0), "{name} zero-size");
        }
    }

    #[test]
    fn sub_byte_dtypes_pack_bits() {
        assert_eq!(byte_len(4, 2), Ok(1));
        assert_eq!(byte_len(4, 3), Err(ByteLenError::Misaligned(12)));
        assert_eq!(byte_len(6, 4), Ok(3));
        assert_eq!(byte_len(6, 5), Err(ByteLenError::Misaligned(30)));
        assert_eq!(byte_len(6, 1), Err(ByteLenError::Misaligned(6)));
    }

    #[test]
    fn unknown_and_miscased_dtypes_are_rejected() {
        for name in ["bf16", "F8_E4M3FN", "Q4_K", "", "FLOAT"] {
            assert_eq!(bits(name), None, "{name}");
        }
    }

    #[test]
    fn byte_len_overflow() {
        assert_eq!(byte_len(64, u64::MAX / 8), Err(ByteLenError::Overflow));
        assert_eq!(byte_len(8, u64::MAX), Err(ByteLenError::Overflow));
    }
}
