//! GGUF metadata values: the 13 value types, scalars, strings and (nested) arrays.
//!
//! Arrays are summarised, never copied whole: the first [`HEAD_ITEMS`] elements become a JSON
//! head and the rest is skipped. Fixed-size elements are skipped with one seek; string
//! elements need their lengths read, which the cursor serves from its 1 MiB buffer, so a
//! 150 000-token vocabulary costs a handful of reads and no per-token allocation.

use crate::cursor::Cursor;
use modelpack_plugin_sdk::prelude::*;
use serde_json::Value as Json;

/// Elements of an array kept in its summary's head.
pub const HEAD_ITEMS: usize = 16;
/// JSON items one metadata value may produce in all, so nested heads stay small.
const HEAD_BUDGET: usize = 256;
/// Deepest array nesting accepted (llama.cpp accepts none, gguf-py any).
pub const MAX_DEPTH: usize = 16;
/// Longest string value kept whole; longer ones are cut and marked with `…`.
pub const TEXT_CAP: u64 = 1 << 20;
/// Longest string kept inside an array head.
const HEAD_TEXT_CAP: u64 = 1 << 10;

/// A GGUF metadata value type (`gguf_type` in gguf.cpp, `GGUFValueType` in gguf-py).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// 0
    U8,
    /// 1
    I8,
    /// 2
    U16,
    /// 3
    I16,
    /// 4
    U32,
    /// 5
    I32,
    /// 6
    F32,
    /// 7, one byte
    Bool,
    /// 8, u64 length + bytes
    String,
    /// 9, u32 element type + u64 count + elements
    Array,
    /// 10
    U64,
    /// 11
    I64,
    /// 12
    F64,
}

impl ValueType {
    /// The type with this id, if defined.
    pub fn from_id(id: u32) -> Option<Self> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// The name gguf-py gives the type (`UINT32`, `STRING`, `ARRAY`).
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "UINT8",
            I8 => "INT8",
            U16 => "UINT16",
            I16 => "INT16",
            U32 => "UINT32",
            I32 => "INT32",
            F32 => "FLOAT32",
            Bool => "BOOL",
            String => "STRING",
            Array => "ARRAY",
            U64 => "UINT64",
            I64 => "INT64",
            F64 => "FLOAT64",
        }
    }

    /// Encoded size of a fixed-size type.
    fn fixed_size(self) -> Option<u64> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }

    /// Smallest encoding of one value: what a count is bounded by before looping over it.
    pub fn min_size(self) -> u64 {
        match self {
            ValueType::String => 8,
            ValueType::Array => 12,
            t => t.fixed_size().unwrap_or(1),
        }
    }
}

/// What reading one value noticed besides the value itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct Notes {
    /// A string was longer than its cap and was cut.
    pub truncated: bool,
    /// An array holds arrays (llama.cpp refuses such files).
    pub nested: bool,
}

/// Reads one value of type `vt` for metadata key `key`.
pub fn read_value(
    cur: &mut Cursor,
    key: &str,
    vt: ValueType,
    notes: &mut Notes,
) -> Result<MetaValue, Error> {
    use ValueType::*;
    let what = format!("value of metadata key '{key}'");
    Ok(match vt {
        U8 => MetaValue::Uint(cur.u8(&what)?.into()),
        I8 => MetaValue::Int((cur.u8(&what)? as i8).into()),
        U16 => MetaValue::Uint(cur.u16(&what)?.into()),
        I16 => MetaValue::Int((cur.u16(&what)? as i16).into()),
        U32 => MetaValue::Uint(cur.u32(&what)?.into()),
        I32 => MetaValue::Int((cur.u32(&what)? as i32).into()),
        U64 => MetaValue::Uint(cur.u64(&what)?),
        I64 => MetaValue::Int(cur.u64(&what)? as i64),
        F32 => MetaValue::Float(cur.f32(&what)?.into()),
        F64 => MetaValue::Float(cur.f64(&what)?),
        // gguf-py reads any non-zero byte as true; so do we.
        Bool => MetaValue::Boolean(cur.u8(&what)? != 0),
        String => {
            let (s, cut) = read_string(cur, TEXT_CAP, &what)?;
            notes.truncated |= cut;
            MetaValue::Text(s)
        }
        Array => {
            let mut budget = HEAD_BUDGET;
            let (et, len, head) = read_array(cur, key, 1, &mut budget, notes)?;
            MetaValue::Array(ArraySummary {
                element_type: et.name().to_string(),
                length: len,
                head: Json::Array(head).to_string(),
            })
        }
    })
}

/// Reads a `gguf_string`, keeping at most `cap` bytes (lossy UTF-8, `…` when cut).
pub fn read_string(cur: &mut Cursor, cap: u64, what: &str) -> Result<(String, bool), Error> {
    let len = cur.u64(&format!("length of {what}"))?;
    if len > cur.remaining() {
        return Err(cur.malformed(format_args!(
            "{what}: string length {len} at offset {} exceeds the {} bytes left in the file",
            cur.pos() - 8,
            cur.remaining()
        )));
    }
    let keep = len.min(cap);
    let bytes = cur.bytes(keep, what)?;
    let mut s = String::from_utf8_lossy(&bytes).into_owned();
    let cut = keep < len;
    if cut {
        cur.skip(len - keep, what)?;
        s.push('…');
    }
    Ok((s, cut))
}

/// Reads an array's element type and length, the JSON head, and skips the rest.
fn read_array(
    cur: &mut Cursor,
    key: &str,
    depth: usize,
    budget: &mut usize,
    notes: &mut Notes,
) -> Result<(ValueType, u64, Vec<Json>), Error> {
    let (et, len) = array_header(cur, key, depth, notes)?;
    let n_head = (len.min(HEAD_ITEMS as u64) as usize).min(*budget);
    *budget -= n_head;
    let mut head = Vec::with_capacity(n_head);
    for _ in 0..n_head {
        head.push(json_item(cur, key, et, depth, budget, notes)?);
    }
    skip_items(cur, key, et, len - n_head as u64, depth, notes)?;
    Ok((et, len, head))
}

/// Reads an array's element type and count and checks the count against the bytes left.
fn array_header(
    cur: &mut Cursor,
    key: &str,
    depth: usize,
    notes: &mut Notes,
) -> Result<(ValueType, u64), Error> {
    if depth > MAX_DEPTH {
        return Err(cur.malformed(format_args!(
            "metadata '{key}': arrays nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let id = cur.u32(&format!("array element type of metadata key '{key}'"))?;
    let et = ValueType::from_id(id).ok_or_else(|| {
        cur.malformed(format_args!(
            "metadata '{key}': unknown array element type {id} at offset {}",
            cur.pos() - 4
        ))
    })?;
    let len = cur.u64(&format!("array length of metadata key '{key}'"))?;
    // Bound the count by the file before looping over it or allocating for it.
    if len
        .checked_mul(et.min_size())
        .is_none_or(|n| n > cur.remaining())
    {
        return Err(cur.malformed(format_args!(
            "metadata '{key}': array of {len} {} elements at offset {} exceeds the {} bytes left in the file",
            et.name(),
            cur.pos() - 8,
            cur.remaining()
        )));
    }
    if et == ValueType::Array {
        notes.nested = true;
    }
    Ok((et, len))
}

/// Reads one array element as JSON.
fn json_item(
    cur: &mut Cursor,
    key: &str,
    et: ValueType,
    depth: usize,
    budget: &mut usize,
    notes: &mut Notes,
) -> Result<Json, Error> {
    use ValueType::*;
    let what = format!("array element of metadata key '{key}'");
    Ok(match et {
        U8 => cur.u8(&what)?.into(),
        I8 => (cur.u8(&what)? as i8).into(),
        U16 => cur.u16(&what)?.into(),
        I16 => (cur.u16(&what)? as i16).into(),
        U32 => cur.u32(&what)?.into(),
        I32 => (cur.u32(&what)? as i32).into(),
        U64 => cur.u64(&what)?.into(),
        I64 => (cur.u64(&what)? as i64).into(),
        // Non-finite floats become null: JSON has no NaN.
        F32 => f64::from(cur.f32(&what)?).into(),
        F64 => cur.f64(&what)?.into(),
        Bool => (cur.u8(&what)? != 0).into(),
        String => read_string(cur, HEAD_TEXT_CAP, &what)?.0.into(),
        Array => Json::Array(read_array(cur, key, depth + 1, budget, notes)?.2),
    })
}

/// Skips `count` elements of type `et` without keeping them.
fn skip_items(
    cur: &mut Cursor,
    key: &str,
    et: ValueType,
    count: u64,
    depth: usize,
    notes: &mut Notes,
) -> Result<(), Error> {
    let what = format!("array of metadata key '{key}'");
    match et {
        ValueType::String => {
            for _ in 0..count {
                let len = cur.u64(&what)?;
                cur.skip(len, &what)?;
            }
        }
        ValueType::Array => {
            for _ in 0..count {
                let (inner, len) = array_header(cur, key, depth + 1, notes)?;
                skip_items(cur, key, inner, len, depth + 1, notes)?;
            }
        }
        fixed => {
            let size = fixed.fixed_size().unwrap_or(1);
            let n = count
                .checked_mul(size)
                .ok_or_else(|| cur.malformed(format_args!("{what}: size overflows")))?;
            cur.skip(n, &what)?;
        }
    }
    Ok(())
}
