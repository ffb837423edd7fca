//! ONNX element types (`TensorProto.DataType`, onnx 1.23.2): names and storage widths.

/// The `TensorProto.DataType` name of `id` as `onnx.TensorProto.DataType.Name` spells it;
/// `None` for values this plugin does not know.
pub fn name(id: i32) -> Option<&'static str> {
    Some(match id {
        0 => "UNDEFINED",
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        14 => "COMPLEX64",
        15 => "COMPLEX128",
        16 => "BFLOAT16",
        17 => "FLOAT8E4M3FN",
        18 => "FLOAT8E4M3FNUZ",
        19 => "FLOAT8E5M2",
        20 => "FLOAT8E5M2FNUZ",
        21 => "UINT4",
        22 => "INT4",
        23 => "FLOAT4E2M1",
        24 => "FLOAT8E8M0",
        25 => "UINT2",
        26 => "INT2",
        27 => "FLOAT6E2M3",
        28 => "FLOAT6E3M2",
        _ => return None,
    })
}

/// The dtype string reported for `id`: its name, or the bare number when unknown.
pub fn label(id: i32) -> String {
    name(id).map_or_else(|| id.to_string(), str::to_string)
}

/// Bits one element occupies in `raw_data` / external data, when the packing is certain
/// (sub-byte types are packed densely and the last byte padded). `None` for STRING,
/// UNDEFINED, the 6-bit types and unknown ids.
pub fn bits(id: i32) -> Option<u64> {
    Some(match id {
        2 | 3 | 9 | 17..=20 | 24 => 8,
        4 | 5 | 10 | 16 => 16,
        1 | 6 | 12 => 32,
        7 | 11 | 13 | 14 => 64,
        15 => 128,
        21..=23 => 4,
        25 | 26 => 2,
        _ => return None,
    })
}

/// Bytes that `elements` values of type `id` occupy, rounded up to whole bytes.
pub fn byte_size(id: i32, elements: u64) -> Option<u64> {
    let total_bits = elements.checked_mul(bits(id)?)?;
    Some(total_bits.div_ceil(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes() {
        assert_eq!(label(1), "FLOAT");
        assert_eq!(label(17), "FLOAT8E4M3FN");
        assert_eq!(label(23), "FLOAT4E2M1");
        assert_eq!(label(99), "99");
        assert_eq!(byte_size(1, 10), Some(40));
        assert_eq!(byte_size(22, 3), Some(2));
        assert_eq!(byte_size(8, 3), None);
        assert_eq!(byte_size(7, u64::MAX), None);
    }
}
