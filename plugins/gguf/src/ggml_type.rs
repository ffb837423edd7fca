//! The ggml tensor element types: id, name as ggml spells it, block size and bytes per block.
//!
//! Ids and sizes follow `ggml.h` / `ggml-common.h` of the llama.cpp bundled in
//! llama-cpp-python 0.3.36 (see `docs/formats.md` §2). Quantised types store blocks of
//! `block_elems` elements in `block_bytes` bytes, so a tensor of `n` elements takes
//! `n / block_elems * block_bytes` bytes and its innermost dimension must be a multiple of
//! `block_elems`.

/// One ggml element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlType {
    /// Type id as stored in the tensor info.
    pub id: u32,
    /// Name as ggml spells it (`Q4_K`, `F32`).
    pub name: &'static str,
    /// Elements per block (1 for plain types).
    pub block_elems: u64,
    /// Bytes per block.
    pub block_bytes: u64,
}

const fn t(id: u32, name: &'static str, block_elems: u64, block_bytes: u64) -> GgmlType {
    GgmlType {
        id,
        name,
        block_elems,
        block_bytes,
    }
}

/// Every type a GGUF file may hold, by id.
pub const TYPES: &[GgmlType] = &[
    t(0, "F32", 1, 4),
    t(1, "F16", 1, 2),
    t(2, "Q4_0", 32, 18),
    t(3, "Q4_1", 32, 20),
    t(6, "Q5_0", 32, 22),
    t(7, "Q5_1", 32, 24),
    t(8, "Q8_0", 32, 34),
    // ggml asserts 2 × f16 + 32 = 36; gguf-py 0.19.0's table says 40 (see Q8_1 finding).
    t(9, "Q8_1", 32, 36),
    t(10, "Q2_K", 256, 84),
    t(11, "Q3_K", 256, 110),
    t(12, "Q4_K", 256, 144),
    t(13, "Q5_K", 256, 176),
    t(14, "Q6_K", 256, 210),
    t(15, "Q8_K", 256, 292),
    t(16, "IQ2_XXS", 256, 66),
    t(17, "IQ2_XS", 256, 74),
    t(18, "IQ3_XXS", 256, 98),
    t(19, "IQ1_S", 256, 50),
    t(20, "IQ4_NL", 32, 18),
    t(21, "IQ3_S", 256, 110),
    t(22, "IQ2_S", 256, 82),
    t(23, "IQ4_XS", 256, 136),
    t(24, "I8", 1, 1),
    t(25, "I16", 1, 2),
    t(26, "I32", 1, 4),
    t(27, "I64", 1, 8),
    t(28, "F64", 1, 8),
    t(29, "IQ1_M", 256, 56),
    t(30, "BF16", 1, 2),
    t(34, "TQ1_0", 256, 54),
    t(35, "TQ2_0", 256, 66),
    t(39, "MXFP4", 32, 17),
    t(40, "NVFP4", 64, 36),
    t(41, "Q1_0", 128, 18),
    t(42, "Q2_0", 64, 18),
];

/// The type with this id, if ggml defines it for files.
pub fn by_id(id: u32) -> Option<&'static GgmlType> {
    TYPES.iter().find(|t| t.id == id)
}

/// The name of an id that ggml once used and then removed, so errors can say so.
pub fn removed_name(id: u32) -> Option<&'static str> {
    Some(match id {
        4 => "Q4_2",
        5 => "Q4_3",
        31 => "Q4_0_4_4",
        32 => "Q4_0_4_8",
        33 => "Q4_0_8_8",
        36 => "IQ4_NL_4_4",
        37 => "IQ4_NL_4_8",
        38 => "IQ4_NL_8_8",
        _ => return None,
    })
}

impl GgmlType {
    /// Bytes taken by `n_elements` elements, or `None` when `n_elements` is not a whole
    /// number of blocks or the size overflows u64.
    pub fn n_bytes(&self, n_elements: u64) -> Option<u64> {
        if !n_elements.is_multiple_of(self.block_elems) {
            return None;
        }
        (n_elements / self.block_elems).checked_mul(self.block_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_sorted() {
        for w in TYPES.windows(2) {
            assert!(w[0].id < w[1].id, "{:?} before {:?}", w[0], w[1]);
        }
        for t in TYPES {
            assert_eq!(by_id(t.id), Some(t));
            assert!(removed_name(t.id).is_none());
        }
        assert!(by_id(4).is_none() && by_id(43).is_none());
    }

    /// One row per type: 4096 × 4096 elements (a multiple of every block size) and the
    /// bytes ggml's `ggml_row_size` gives for it.
    #[test]
    fn byte_size_formula_per_type() {
        let n = 4096u64 * 4096;
        let expect: &[(&str, u64)] = &[
            ("F32", n * 4),
            ("F16", n * 2),
            ("Q4_0", n / 32 * 18),
            ("Q4_1", n / 32 * 20),
            ("Q5_0", n / 32 * 22),
            ("Q5_1", n / 32 * 24),
            ("Q8_0", n / 32 * 34),
            ("Q8_1", n / 32 * 36),
            ("Q2_K", n / 256 * 84),
            ("Q3_K", n / 256 * 110),
            ("Q4_K", 9_437_184),
            ("Q5_K", n / 256 * 176),
            ("Q6_K", n / 256 * 210),
            ("Q8_K", n / 256 * 292),
            ("IQ2_XXS", n / 256 * 66),
            ("IQ2_XS", n / 256 * 74),
            ("IQ3_XXS", n / 256 * 98),
            ("IQ1_S", n / 256 * 50),
            ("IQ4_NL", n / 32 * 18),
            ("IQ3_S", n / 256 * 110),
            ("IQ2_S", n / 256 * 82),
            ("IQ4_XS", n / 256 * 136),
            ("I8", n),
            ("I16", n * 2),
            ("I32", n * 4),
            ("I64", n * 8),
            ("F64", n * 8),
            ("IQ1_M", n / 256 * 56),
            ("BF16", n * 2),
            ("TQ1_0", n / 256 * 54),
            ("TQ2_0", n / 256 * 66),
            ("MXFP4", n / 32 * 17),
            ("NVFP4", n / 64 * 36),
            ("Q1_0", n / 128 * 18),
            ("Q2_0", n / 64 * 18),
        ];
        assert_eq!(expect.len(), TYPES.len());
        for (name, bytes) in expect {
            let t = TYPES.iter().find(|t| t.name == *name).unwrap();
            assert_eq!(t.n_bytes(n), Some(*bytes), "{name}");
            // Bits per weight from the formats.md table, as a cross-check of the block sizes.
            let bpw = t.block_bytes as f64 * 8.0 / t.block_elems as f64;
            assert!(bpw > 1.0 && bpw <= 64.0, "{name}: {bpw}");
        }
    }

    #[test]
    fn partial_blocks_and_overflow_have_no_size() {
        let q4k = by_id(12).unwrap();
        assert_eq!(q4k.n_bytes(255), None);
        assert_eq!(q4k.n_bytes(0), Some(0));
        let f64t = by_id(28).unwrap();
        assert_eq!(f64t.n_bytes(u64::MAX / 4), None);
    }
}
