//! The TOYW header: a made-up weight format, simple enough to show what a real reader must do.
//!
//! ```text
//! offset  0  4 bytes   magic "TOYW"
//! offset  4  u32 LE    version (1)
//! offset  8  u64 LE    header length N
//! offset 16  N bytes   JSON: {"tensors": [{"name", "dtype", "shape"}], "metadata": {...}}
//! then               tensor data, in header order (never read)
//! ```
//!
//! Everything in the file is untrusted: lengths are checked against the file size and a cap
//! *before* anything is allocated, arithmetic is checked, and every problem is an error that
//! says where it is. Never `unwrap` on input, never index without a bound check.

use modelpack_plugin_sdk::prelude::*;
use serde_json::Value;

/// The bytes every TOYW file starts with.
pub const MAGIC: &[u8; 4] = b"TOYW";
/// Size of the fixed part before the JSON header.
pub const PREFIX_LEN: u64 = 16;
/// Largest JSON header read: bounds memory whatever the file claims.
pub const MAX_HEADER: u64 = 8 << 20;

/// One tensor as the header describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// Element type as TOYW spells it (`F32`, `F16`, `I8`…).
    pub dtype: String,
    /// Shape, outermost first.
    pub shape: Vec<u64>,
}

/// A parsed header.
#[derive(Debug, Clone)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Length of the JSON header in bytes.
    pub header_len: u64,
    /// Tensors in file order.
    pub tensors: Vec<TensorInfo>,
    /// The `metadata` object, key by key.
    pub metadata: Vec<(String, Value)>,
}

/// Bytes per element of the dtypes TOYW knows, for the data size check.
pub fn dtype_width(dtype: &str) -> Option<u64> {
    match dtype {
        "F64" | "I64" => Some(8),
        "F32" | "I32" => Some(4),
        "F16" | "BF16" | "I16" => Some(2),
        "I8" | "U8" | "BOOL" => Some(1),
        _ => None,
    }
}

/// Reads and validates the header of a TOYW file.
pub fn read_header(src: &dyn Source) -> Result<Header, Error> {
    let name = src.name();
    let size = src.size();
    let prefix = read_exact_at(src, 0, PREFIX_LEN, "TOYW prefix")?;
    // read_exact_at returned exactly PREFIX_LEN bytes, so these slices are in bounds.
    if &prefix[0..4] != MAGIC {
        return Err(Error::Malformed(format!(
            "{name}: not a TOYW file (magic {:02x?})",
            &prefix[0..4]
        )));
    }
    let version = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    if version != 1 {
        return Err(Error::Unsupported(format!(
            "{name}: TOYW version {version} (this plugin reads version 1)"
        )));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&prefix[8..16]);
    let header_len = u64::from_le_bytes(len);
    if header_len > size - PREFIX_LEN {
        return Err(Error::Malformed(format!(
            "{name}: header length {header_len} exceeds file size {size}"
        )));
    }
    if header_len > MAX_HEADER {
        return Err(Error::TooLarge(format!(
            "{name}: header length {header_len} exceeds the {MAX_HEADER}-byte cap"
        )));
    }
    let json = read_exact_at(src, PREFIX_LEN, header_len, "TOYW header")?;
    let doc: Value = serde_json::from_slice(&json)
        .map_err(|e| Error::Malformed(format!("{name}: header is not valid JSON: {e}")))?;
    let tensors = match doc.get("tensors") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, t)| tensor(&name, i, t))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(Error::Malformed(format!(
                "{name}: header field \"tensors\" is not an array"
            )));
        }
        None => Vec::new(),
    };
    let metadata = match doc.get("metadata") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(_) => {
            return Err(Error::Malformed(format!(
                "{name}: header field \"metadata\" is not an object"
            )));
        }
        None => Vec::new(),
    };
    Ok(Header {
        version,
        header_len,
        tensors,
        metadata,
    })
}

fn tensor(file: &str, i: usize, t: &Value) -> Result<TensorInfo, Error> {
    let bad = |what: &str| Error::Malformed(format!("{file}: tensors[{i}]: {what}"));
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("\"name\" is missing or not a string"))?;
    let dtype = t
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("\"dtype\" is missing or not a string"))?;
    let shape = t
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("\"shape\" is missing or not an array"))?
        .iter()
        .map(|d| {
            d.as_u64()
                .ok_or_else(|| bad("a dimension is not a non-negative integer"))
        })
        .collect::<Result<Vec<u64>, _>>()?;
    Ok(TensorInfo {
        name: name.to_string(),
        dtype: dtype.to_string(),
        shape,
    })
}

/// Elements of a tensor; `None` on overflow (a hostile shape).
pub fn elements(t: &TensorInfo) -> Option<u64> {
    t.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack_plugin_sdk::MemSource;

    /// A TOYW file with this JSON header and `data` bytes of tensor data.
    pub fn toyw(json: &str, data: usize) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&(json.len() as u64).to_le_bytes());
        b.extend_from_slice(json.as_bytes());
        b.resize(b.len() + data, 0);
        b
    }

    fn read(bytes: Vec<u8>) -> Result<Header, Error> {
        read_header(&MemSource::new("t.toyw", bytes))
    }

    fn malformed(r: Result<Header, Error>) -> String {
        match r {
            Err(Error::Malformed(m)) => m,
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_header() {
        let h = read(toyw(
            r#"{"tensors":[{"name":"w","dtype":"F32","shape":[2,3]}],"metadata":{"author":"me"}}"#,
            24,
        ))
        .unwrap();
        assert_eq!(h.version, 1);
        assert_eq!(h.tensors[0].shape, vec![2, 3]);
        assert_eq!(elements(&h.tensors[0]), Some(6));
        assert_eq!(h.metadata[0].0, "author");
    }

    #[test]
    fn rejects_bad_files() {
        assert!(malformed(read(b"TOYW".to_vec())).contains("exceeds file size 4"));
        assert!(
            malformed(read(b"NOPE\x01\0\0\0\0\0\0\0\0\0\0\0".to_vec())).contains("not a TOYW file")
        );
        let mut huge = toyw("{}", 0);
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            malformed(read(huge)),
            "t.toyw: header length 18446744073709551615 exceeds file size 18"
        );
        assert!(malformed(read(toyw("{", 0))).contains("not valid JSON"));
        assert!(malformed(read(toyw(r#"{"tensors":{}}"#, 0))).contains("not an array"));
        assert!(
            malformed(read(toyw(
                r#"{"tensors":[{"name":"w","dtype":"F32","shape":[-1]}]}"#,
                0
            )))
            .contains("tensors[0]: a dimension")
        );
        let mut v2 = toyw("{}", 0);
        v2[4] = 2;
        assert!(matches!(read(v2), Err(Error::Unsupported(_))));
    }

    #[test]
    fn hostile_shapes_do_not_overflow() {
        let t = TensorInfo {
            name: "x".into(),
            dtype: "F32".into(),
            shape: vec![u64::MAX, 2],
        };
        assert_eq!(elements(&t), None);
    }
}
