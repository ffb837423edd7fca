//! Reading and validating one safetensors header (`u64` length, JSON object) without the data.
//!
//! The checks are those of the reference crate (safetensors 0.8.0, `SafeTensors::read_metadata`
//! and `Metadata::validate`), done on the header alone so that only `8 + N` bytes are read:
//! header length ≤ 100 MB and within the file, UTF-8, a JSON object of tensor entries plus an
//! optional string→string `__metadata__`, known dtypes, checked element and byte counts, tensors
//! contiguous from offset 0 in data-offset order, and the data section ending exactly at the end
//! of the file. Repeated JSON keys, which the crate silently collapses, are rejected too.

use std::collections::HashSet;
use std::fmt;

use modelpack_plugin_sdk::prelude::*;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};

use crate::dtype::{self, ByteLenError};
use crate::json::OrderedMap;

/// Largest header the reference crate accepts (`MAX_HEADER_SIZE`).
pub const MAX_HEADER_SIZE: u64 = 100_000_000;

/// The key of the optional metadata object in a header.
pub const METADATA_KEY: &str = "__metadata__";

/// One tensor entry of a header, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name as stored.
    pub name: String,
    /// Dtype string as stored (one of [`dtype::DTYPES`]).
    pub dtype: String,
    /// Shape in elements, outermost first.
    pub shape: Vec<u64>,
    /// Product of the shape.
    pub elements: u64,
    /// Start of the tensor's bytes, relative to the data section.
    pub begin: u64,
    /// End (exclusive) of the tensor's bytes, relative to the data section.
    pub end: u64,
}

/// A validated header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `__metadata__` entries in file order.
    pub metadata: Vec<(String, String)>,
    /// Tensors sorted by data offset (the order of their bytes in the file).
    pub tensors: Vec<TensorInfo>,
    /// Length of the data section (end of the last tensor).
    pub data_len: u64,
}

/// Reads and validates the header of `src`; errors name the file.
pub fn read_header(src: &dyn Source) -> Result<Header, Error> {
    let name = src.name();
    let size = src.size();
    if size < 8 {
        return Err(Error::Malformed(format!(
            "{name}: file is {size} bytes, too short for the 8-byte header length"
        )));
    }
    let len_bytes = read_exact_at(src, 0, 8, "header length")?;
    let mut le = [0u8; 8];
    le.copy_from_slice(&len_bytes);
    let n = u64::from_le_bytes(le);
    // The crate's own cap first, so a huge N is never used as an allocation size.
    if n > MAX_HEADER_SIZE {
        return Err(Error::Malformed(format!(
            "{name}: header length {n} exceeds the format's {MAX_HEADER_SIZE}-byte limit"
        )));
    }
    // n ≤ 100 MB, so 8 + n cannot overflow.
    if 8 + n > size {
        return Err(Error::Malformed(format!(
            "{name}: header length {n} exceeds file size {size}"
        )));
    }
    let bytes = read_exact_at(src, 8, n, "header")?;
    parse_header(&bytes, size - 8 - n).map_err(|e| Error::Malformed(format!("{name}: {e}")))
}

/// Parses and validates header JSON bytes; `data_size` is the file size minus `8 + N`.
pub fn parse_header(bytes: &[u8], data_size: u64) -> Result<Header, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("header is not valid UTF-8: {e}"))?;
    let raw = parse_json(text)?;
    validate(raw, data_size)
}

/// A tensor entry as written, before validation.
#[derive(serde::Deserialize)]
#[serde(expecting = "an object with dtype, shape and data_offsets")]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// The header as written, in file order.
struct RawHeader {
    metadata: Vec<(String, String)>,
    tensors: Vec<(String, RawTensor)>,
}

fn parse_json(text: &str) -> Result<RawHeader, String> {
    let mut detail = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = HeaderSeed {
        detail: &mut detail,
    }
    .deserialize(&mut de)
    .and_then(|h| de.end().map(|()| h));
    // A message built by the visitor names the tensor; prefer it to serde's generic text.
    parsed.map_err(|e| detail.unwrap_or_else(|| format!("invalid header JSON: {e}")))
}

/// Deserialises the top-level object, recording a precise message for the first bad entry.
struct HeaderSeed<'a> {
    detail: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = RawHeader;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawHeader, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = RawHeader;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tensor entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
        let mut seen = HashSet::new();
        let mut metadata = Vec::new();
        let mut tensors = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let msg = format!("duplicate key {key:?} in header JSON");
                *self.detail = Some(msg.clone());
                return Err(A::Error::custom(msg));
            }
            if key == METADATA_KEY {
                // `null` is accepted like the crate's `Option`.
                match map.next_value::<Option<OrderedMap<String>>>() {
                    Ok(m) => metadata = m.map(|m| m.0).unwrap_or_default(),
                    Err(e) => {
                        *self.detail =
                            Some(format!("{METADATA_KEY} must map strings to strings: {e}"));
                        return Err(e);
                    }
                }
            } else {
                match map.next_value::<RawTensor>() {
                    Ok(t) => tensors.push((key, t)),
                    Err(e) => {
                        *self.detail = Some(format!("tensor {key:?}: {e}"));
                        return Err(e);
                    }
                }
            }
        }
        Ok(RawHeader { metadata, tensors })
    }
}

fn validate(raw: RawHeader, data_size: u64) -> Result<Header, String> {
    let mut tensors = Vec::with_capacity(raw.tensors.len());
    let mut sizes = Vec::with_capacity(raw.tensors.len());
    for (name, t) in raw.tensors {
        let Some(bits) = dtype::bits(&t.dtype) else {
            return Err(format!("tensor {name:?}: unknown dtype {:?}", t.dtype));
        };
        let Some(elements) = t.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)) else {
            return Err(format!(
                "tensor {name:?}: shape {:?} overflows the element count",
                t.shape
            ));
        };
        let bytes = match dtype::byte_len(bits, elements) {
            Ok(b) => b,
            Err(ByteLenError::Overflow) => {
                return Err(format!(
                    "tensor {name:?}: {} {:?} overflows the byte size",
                    t.dtype, t.shape
                ));
            }
            Err(ByteLenError::Misaligned(total)) => {
                return Err(format!(
                    "tensor {name:?}: {} {:?} is {total} bits, not a whole number of bytes",
                    t.dtype, t.shape
                ));
            }
        };
        let (begin, end) = t.data_offsets;
        tensors.push(TensorInfo {
            name,
            dtype: t.dtype,
            shape: t.shape,
            elements,
            begin,
            end,
        });
        sizes.push(bytes);
    }

    // Like the crate: sort by (begin, end), then every tensor must start where the previous
    // one ended. Stable, so zero-size tensors at one offset keep their header order.
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by_key(|&i| (tensors[i].begin, tensors[i].end));
    let mut pos = 0u64;
    let mut prev: Option<usize> = None;
    for &i in &order {
        let t = &tensors[i];
        let at = format!("tensor {:?}: data_offsets [{}, {}]", t.name, t.begin, t.end);
        if t.end < t.begin {
            return Err(format!("{at} end before they begin"));
        }
        if t.begin != pos {
            let rel = if t.begin < pos {
                "overlap"
            } else {
                "leave a gap after"
            };
            return Err(match prev {
                Some(p) => format!(
                    "{at} {rel} tensor {:?} ending at {pos} (tensors must be contiguous)",
                    tensors[p].name
                ),
                None => format!("{at}: the first tensor must start at 0"),
            });
        }
        let span = t.end - t.begin;
        if span != sizes[i] {
            return Err(format!(
                "{at} hold {span} bytes but {} {:?} needs {}",
                t.dtype, t.shape, sizes[i]
            ));
        }
        pos = t.end;
        prev = Some(i);
    }
    if pos < data_size {
        return Err(format!(
            "{} trailing bytes after the last tensor: data ends at {pos} but the data section has {data_size} bytes (file not fully covered)",
            data_size - pos
        ));
    }
    if pos > data_size {
        return Err(format!(
            "tensor data needs {pos} bytes but only {data_size} follow the header (truncated file?)"
        ));
    }

    let mut sorted = Vec::with_capacity(tensors.len());
    let mut slots: Vec<Option<TensorInfo>> = tensors.into_iter().map(Some).collect();
    for i in order {
        if let Some(t) = slots[i].take() {
            sorted.push(t);
        }
    }
    Ok(Header {
        metadata: raw.metadata,
        tensors: sorted,
        data_len: pos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack_plugin_sdk::MemSource;

    /// A file with header `json` followed by `data` zero bytes.
    fn file(json: &str, data: usize) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    fn read(bytes: Vec<u8>) -> Result<Header, String> {
        let src = MemSource::new("t.safetensors", bytes);
        read_header(&src).map_err(|e| match e {
            Error::Malformed(m) => m,
            other => panic!("expected Malformed, got {other:?}"),
        })
    }

    fn err(json: &str, data: usize) -> String {
        read(file(json, data)).expect_err("expected an error")
    }

    #[test]
    fn reads_a_valid_header_in_offset_order() {
        let json = r#"{"__metadata__":{"format":"pt","a":"b"},
            "w":{"dtype":"F16","shape":[2,3],"data_offsets":[4,16]},
            "b":{"dtype":"I32","shape":[],"data_offsets":[0,4]},
            "e":{"dtype":"F32","shape":[0,5],"data_offsets":[16,16]}}"#;
        let h = read(file(json, 16)).unwrap();
        let names: Vec<_> = h.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["b", "w", "e"]);
        assert_eq!(h.tensors[0].elements, 1);
        assert_eq!(h.tensors[1].elements, 6);
        assert_eq!(h.tensors[2].elements, 0);
        assert_eq!(h.data_len, 16);
        assert_eq!(
            h.metadata,
            vec![("format".into(), "pt".into()), ("a".into(), "b".into())]
        );
    }

    #[test]
    fn empty_header_object_is_valid() {
        let h = read(file("{}      ", 0)).unwrap();
        assert!(h.tensors.is_empty());
        let h = read(file(r#"{"__metadata__":null}"#, 0)).unwrap();
        assert!(h.metadata.is_empty());
    }

    #[test]
    fn file_shorter_than_length_field() {
        let e = read(vec![1, 2, 3]).unwrap_err();
        assert!(e.contains("3 bytes, too short"), "{e}");
    }

    #[test]
    fn header_too_large() {
        let mut v = (MAX_HEADER_SIZE + 1).to_le_bytes().to_vec();
        v.extend_from_slice(b"{}");
        let e = read(v).unwrap_err();
        assert!(
            e.contains("header length 100000001 exceeds the format's 100000000-byte limit"),
            "{e}"
        );
        let mut v = u64::MAX.to_le_bytes().to_vec();
        v.extend_from_slice(b"{}");
        assert!(read(v).unwrap_err().contains("limit"));
    }

    #[test]
    fn header_length_beyond_file() {
        let mut v = 1000u64.to_le_bytes().to_vec();
        v.extend_from_slice(b"{}");
        let e = read(v).unwrap_err();
        assert!(e.contains("header length 1000 exceeds file size 10"), "{e}");
    }

    #[test]
    fn bad_utf8() {
        let mut v = 4u64.to_le_bytes().to_vec();
        v.extend_from_slice(b"{\"\xff\"");
        let e = read(v).unwrap_err();
        assert!(e.contains("not valid UTF-8"), "{e}");
    }

    #[test]
    fn bad_json() {
        assert!(err("{", 0).contains("invalid header JSON"));
        assert!(err("[]", 0).contains("invalid header JSON"));
        assert!(err("{} x", 0).contains("invalid header JSON"));
        let e = err(
            r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#,
            0,
        );
        assert!(
            e.starts_with("t.safetensors: tensor \"a\": invalid value"),
            "{e}"
        );
        let e = err(r#"{"a":{"dtype":"F32","shape":[1]}}"#, 0);
        assert!(
            e.contains("tensor \"a\": missing field `data_offsets`"),
            "{e}"
        );
        let e = err(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
            4,
        );
        assert!(e.contains("tensor \"a\""), "{e}");
        let e = err(
            r#"{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            4,
        );
        assert!(e.contains("duplicate field `dtype`"), "{e}");
    }

    #[test]
    fn unknown_fields_in_an_entry_are_ignored_like_the_crate() {
        let h = read(file(
            r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":[1]}}"#,
            1,
        ))
        .unwrap();
        assert_eq!(h.tensors.len(), 1);
    }

    #[test]
    fn metadata_must_be_strings() {
        let e = err(r#"{"__metadata__":{"a":1}}"#, 0);
        assert!(
            e.contains("__metadata__ must map strings to strings: invalid type: integer `1`"),
            "{e}"
        );
        let e = err(r#"{"__metadata__":{"a":"1","a":"2"}}"#, 0);
        assert!(e.contains("duplicate key \"a\""), "{e}");
    }

    #[test]
    fn duplicate_tensor_key() {
        let e = err(
            r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
            2,
        );
        assert!(e.contains("duplicate key \"a\" in header JSON"), "{e}");
        let e = err(r#"{"__metadata__":{},"__metadata__":{}}"#, 0);
        assert!(e.contains("duplicate key \"__metadata__\""), "{e}");
    }

    #[test]
    fn unknown_dtype_names_tensor_and_dtype() {
        let e = err(
            r#"{"w":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,1]}}"#,
            1,
        );
        assert!(e.contains("tensor \"w\": unknown dtype \"Q4_K\""), "{e}");
    }

    #[test]
    fn first_tensor_not_at_zero() {
        let e = err(
            r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
            2,
        );
        assert!(e.contains("first tensor must start at 0"), "{e}");
    }

    #[test]
    fn gap_between_tensors() {
        let e = err(
            r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}"#,
            3,
        );
        assert!(
            e.contains(
                "tensor \"b\": data_offsets [2, 3] leave a gap after tensor \"a\" ending at 1"
            ),
            "{e}"
        );
    }

    #[test]
    fn overlapping_tensors() {
        let e = err(
            r#"{"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"U16","shape":[1],"data_offsets":[2,4]}}"#,
            4,
        );
        assert!(e.contains("overlap tensor \"a\" ending at 4"), "{e}");
        // Two names sharing one span (shared storage) is an overlap too.
        let e = err(
            r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#,
            2,
        );
        assert!(e.contains("overlap"), "{e}");
    }

    #[test]
    fn end_before_begin() {
        let e = err(
            r#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}"#,
            1,
        );
        assert!(e.contains("end before they begin"), "{e}");
    }

    #[test]
    fn wrong_byte_length() {
        let e = err(
            r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#,
            12,
        );
        assert!(e.contains("hold 12 bytes but F32 [2, 2] needs 16"), "{e}");
    }

    #[test]
    fn sub_byte_tensors() {
        let h = read(file(
            r#"{"a":{"dtype":"F4","shape":[3,2],"data_offsets":[0,3]}}"#,
            3,
        ))
        .unwrap();
        assert_eq!(h.tensors[0].elements, 6);
        let h = read(file(
            r#"{"a":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,3]}}"#,
            3,
        ))
        .unwrap();
        assert_eq!(h.tensors[0].elements, 4);
        let e = err(
            r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#,
            2,
        );
        assert!(e.contains("12 bits, not a whole number of bytes"), "{e}");
    }

    #[test]
    fn shape_overflow() {
        let e = err(
            r#"{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#,
            0,
        );
        assert!(e.contains("overflows the element count"), "{e}");
        let e = err(
            r#"{"a":{"dtype":"F16","shape":[4294967296,4294967295],"data_offsets":[0,0]}}"#,
            0,
        );
        assert!(e.contains("overflows the byte size"), "{e}");
    }

    #[test]
    fn trailing_bytes() {
        let e = err(
            r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
            6,
        );
        assert!(e.contains("5 trailing bytes after the last tensor"), "{e}");
        let e = err("{}", 3);
        assert!(e.contains("3 trailing bytes"), "{e}");
    }

    #[test]
    fn truncated_data_section() {
        let e = err(
            r#"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}"#,
            5,
        );
        assert!(
            e.contains("needs 8 bytes but only 5 follow the header"),
            "{e}"
        );
    }

    #[test]
    fn offsets_beyond_u32_are_fine() {
        // 8 GiB of U8: offsets need 64 bits (a wasm32 usize would not do).
        let json = r#"{"a":{"dtype":"U8","shape":[8589934592],"data_offsets":[0,8589934592]}}"#;
        let h = parse_header(json.as_bytes(), 8589934592).unwrap();
        assert_eq!(h.data_len, 8589934592);
    }
}
