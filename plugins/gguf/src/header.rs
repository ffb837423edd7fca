//! Parses one GGUF file's header: magic, version, counts, metadata and tensor infos, then
//! checks every tensor's place in the data section.
//!
//! The checks follow llama.cpp's `gguf_init_from_file_impl` where a violation makes the file
//! unusable (unknown type, partial blocks, misaligned or out-of-file data: `Malformed`) and
//! report as findings what llama.cpp refuses but the bytes still describe (non-contiguous
//! offsets, nested arrays, long tensor names).

use crate::cursor::Cursor;
use crate::ggml_type::{self, GgmlType};
use crate::legacy;
use crate::value::{self, Notes, ValueType};
use modelpack_plugin_sdk::prelude::*;
use std::collections::HashSet;

/// The four bytes every GGUF file starts with.
pub const MAGIC: &[u8; 4] = b"GGUF";
/// Alignment of the data section and tensor offsets when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Most dimensions a ggml tensor has (GGML_MAX_DIMS).
const MAX_DIMS: u32 = 4;
/// Longest tensor name llama.cpp loads (GGML_MAX_NAME 64 including the NUL).
const LLAMA_MAX_NAME: usize = 63;
/// Longest key or tensor name accepted at all; real ones are under 100 bytes.
const NAME_LIMIT: u64 = 1 << 16;
/// Most metadata entries or tensors accepted; real files have hundreds of entries and at most
/// tens of thousands of tensors, and every one costs memory in the report.
const MAX_ENTRIES: u64 = 1 << 20;
/// Entries reserved up front; more grow the vectors as they are actually read.
const PREALLOC: u64 = 4096;
/// Smallest metadata entry: empty-ish key length (8) + type (4) + a u8 value (1).
const MIN_KV_BYTES: u64 = 13;
/// Smallest tensor info: name length (8) + n_dims (4) + type (4) + offset (8).
const MIN_TENSOR_BYTES: u64 = 24;

/// One metadata entry as stored.
#[derive(Debug, Clone)]
pub struct Kv {
    /// Key as in the file.
    pub key: String,
    /// Stored value type.
    pub vtype: ValueType,
    /// The value (arrays summarised).
    pub value: MetaValue,
}

/// One tensor info, validated.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// Name as stored.
    pub name: String,
    /// Dimensions in ggml order (`ne[0]`, the fastest-varying, first).
    pub ne: Vec<u64>,
    /// Element type.
    pub ty: &'static GgmlType,
    /// Offset of the data relative to the data section.
    pub offset: u64,
    /// Logical element count (product of `ne`).
    pub n_elements: u64,
    /// Bytes of data.
    pub n_bytes: u64,
}

/// Everything read from one GGUF file.
#[derive(Debug, Clone)]
pub struct Header {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub kvs: Vec<Kv>,
    /// Tensor infos in file order.
    pub tensors: Vec<TensorInfo>,
    /// Data alignment (`general.alignment` or 32).
    #[cfg_attr(not(test), allow(dead_code))] // compared with the reference in tests
    pub alignment: u64,
    /// Offset of the data section from the start of the file.
    pub data_offset: u64,
    /// Facts and problems that do not stop the file from being read.
    pub findings: Vec<Finding>,
}

impl Header {
    /// The metadata entry with this key.
    pub fn kv(&self, key: &str) -> Option<&Kv> {
        self.kvs.iter().find(|kv| kv.key == key)
    }

    /// An integer metadata value, whatever its integer type.
    pub fn uint(&self, key: &str) -> Option<u64> {
        match self.kv(key)?.value {
            MetaValue::Uint(v) => Some(v),
            MetaValue::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// A string metadata value.
    pub fn text(&self, key: &str) -> Option<&str> {
        match &self.kv(key)?.value {
            MetaValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Reads and validates the header of `src`.
pub fn parse(src: &dyn Source) -> Result<Header, Error> {
    let mut cur = Cursor::new(src);
    let version = read_preamble(&mut cur)?;
    let tensor_count = cur.u64("tensor count")?;
    let kv_count = cur.u64("metadata count")?;
    let least = tensor_count
        .checked_mul(MIN_TENSOR_BYTES)
        .zip(kv_count.checked_mul(MIN_KV_BYTES))
        .and_then(|(t, k)| t.checked_add(k));
    if least.is_none_or(|n| n > cur.remaining()) {
        return Err(cur.malformed(format_args!(
            "tensor count {tensor_count} and metadata count {kv_count} cannot fit in the {} bytes left after the header (file size {})",
            cur.remaining(),
            cur.size()
        )));
    }
    if tensor_count > MAX_ENTRIES || kv_count > MAX_ENTRIES {
        return Err(Error::TooLarge(format!(
            "{tensor_count} tensors and {kv_count} metadata entries exceed the limit of {MAX_ENTRIES} each"
        )));
    }
    let mut findings = Vec::new();
    let kvs = read_kvs(&mut cur, kv_count, &mut findings)?;
    let alignment = alignment(&cur, &kvs)?;
    let tensors = read_tensor_infos(&mut cur, tensor_count, &mut findings)?;
    let data_offset = align_up(cur.pos(), alignment)
        .ok_or_else(|| cur.malformed("data section offset overflows"))?;
    check_data(&cur, &tensors, alignment, data_offset, &mut findings)?;
    Ok(Header {
        version,
        kvs,
        tensors,
        alignment,
        data_offset,
        findings,
    })
}

/// Checks magic and version; returns the version.
fn read_preamble(cur: &mut Cursor) -> Result<u32, Error> {
    if cur.size() < 4 {
        return Err(cur.malformed(format_args!(
            "not a GGUF file: {} bytes, too short for the magic",
            cur.size()
        )));
    }
    let magic: [u8; 4] = cur.u32("magic")?.to_le_bytes();
    if &magic != MAGIC {
        if let Some(msg) = legacy::describe(&magic) {
            return Err(Error::Unsupported(msg));
        }
        return Err(cur.malformed(format_args!(
            "not a GGUF file: bad magic {} ({:?}), expected 47475546 (\"GGUF\")",
            hex(&magic),
            String::from_utf8_lossy(&magic)
        )));
    }
    let version = cur.u32("version")?;
    // gguf-py and llama.cpp detect byte-swapped files the same way: a little-endian read of
    // a small big-endian version has its low 16 bits zero.
    if version != 0 && version & 0xffff == 0 {
        return Err(Error::Unsupported(format!(
            "big-endian GGUF is not supported (version field {version:#010x} is v{} byte-swapped)",
            version.swap_bytes()
        )));
    }
    match version {
        2 | 3 => Ok(version),
        1 => Err(Error::Unsupported(
            "GGUF v1 is not supported (obsolete 2023 layout with 32-bit counts, refused by llama.cpp and gguf-py; re-convert the model)".into(),
        )),
        0 => Err(cur.malformed("GGUF version 0 is invalid")),
        v => Err(Error::Unsupported(format!(
            "GGUF version {v} is not supported (this reader knows v2 and v3)"
        ))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a key or tensor name, refusing absurd lengths.
fn read_name(cur: &mut Cursor, what: &str) -> Result<String, Error> {
    let at = cur.pos();
    let len = cur.u64(&format!("length of {what}"))?;
    if len > NAME_LIMIT {
        return Err(cur.malformed(format_args!(
            "{what} at offset {at} is {len} bytes long (limit {NAME_LIMIT})"
        )));
    }
    let bytes = cur.bytes(len, what)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_kvs(cur: &mut Cursor, count: u64, findings: &mut Vec<Finding>) -> Result<Vec<Kv>, Error> {
    let mut kvs = Vec::with_capacity(count.min(PREALLOC) as usize);
    let mut seen = HashSet::new();
    for i in 0..count {
        let at = cur.pos();
        let key = read_name(cur, &format!("key of metadata entry {i}"))?;
        if key.is_empty() {
            return Err(cur.malformed(format_args!(
                "metadata entry {i} at offset {at} has an empty key"
            )));
        }
        if !seen.insert(key.clone()) {
            return Err(cur.malformed(format_args!(
                "duplicate metadata key '{key}' at offset {at}"
            )));
        }
        let id = cur.u32(&format!("value type of metadata key '{key}'"))?;
        let vtype = ValueType::from_id(id).ok_or_else(|| {
            cur.malformed(format_args!(
                "metadata '{key}': unknown value type {id} at offset {}",
                cur.pos() - 4
            ))
        })?;
        let mut notes = Notes::default();
        let value = value::read_value(cur, &key, vtype, &mut notes)?;
        if notes.nested {
            findings.push(finding(
                "nested-array",
                Severity::Warning,
                format!("metadata '{key}' is an array of arrays, which llama.cpp refuses to load"),
                Some(key.clone()),
            ));
        }
        if notes.truncated {
            findings.push(finding(
                "metadata-truncated",
                Severity::Info,
                format!(
                    "metadata '{key}' holds a string over {} bytes; the report keeps its start",
                    value::TEXT_CAP
                ),
                Some(key.clone()),
            ));
        }
        kvs.push(Kv { key, vtype, value });
    }
    Ok(kvs)
}

/// `general.alignment`: must be a UINT32 power of two (both reference readers insist).
fn alignment(cur: &Cursor, kvs: &[Kv]) -> Result<u64, Error> {
    let Some(kv) = kvs.iter().find(|kv| kv.key == "general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match (kv.vtype, &kv.value) {
        (ValueType::U32, &MetaValue::Uint(a)) if a.is_power_of_two() => Ok(a),
        (ValueType::U32, MetaValue::Uint(a)) => {
            Err(cur.malformed(format_args!("general.alignment {a} is not a power of two")))
        }
        (t, _) => Err(cur.malformed(format_args!(
            "general.alignment must be UINT32, found {}",
            t.name()
        ))),
    }
}

fn read_tensor_infos(
    cur: &mut Cursor,
    count: u64,
    findings: &mut Vec<Finding>,
) -> Result<Vec<TensorInfo>, Error> {
    let mut tensors = Vec::with_capacity(count.min(PREALLOC) as usize);
    let mut seen = HashSet::new();
    for i in 0..count {
        let at = cur.pos();
        let name = read_name(cur, &format!("name of tensor {i}"))?;
        if !seen.insert(name.clone()) {
            return Err(cur.malformed(format_args!(
                "duplicate tensor name '{name}' at offset {at}"
            )));
        }
        if name.len() > LLAMA_MAX_NAME {
            findings.push(finding(
                "tensor-name-too-long",
                Severity::Warning,
                format!(
                    "tensor name is {} bytes; llama.cpp loads names of at most {LLAMA_MAX_NAME}",
                    name.len()
                ),
                Some(name.clone()),
            ));
        }
        let n_dims = cur.u32(&format!("n_dims of tensor '{name}'"))?;
        if n_dims > MAX_DIMS {
            return Err(cur.malformed(format_args!(
                "tensor '{name}' has {n_dims} dimensions (ggml allows at most {MAX_DIMS})"
            )));
        }
        let mut ne = Vec::with_capacity(n_dims as usize);
        for d in 0..n_dims {
            let n = cur.u64(&format!("ne[{d}] of tensor '{name}'"))?;
            if n > i64::MAX as u64 {
                return Err(cur.malformed(format_args!(
                    "tensor '{name}': ne[{d}] = {} is negative",
                    n as i64
                )));
            }
            ne.push(n);
        }
        let type_id = cur.u32(&format!("type of tensor '{name}'"))?;
        let offset = cur.u64(&format!("offset of tensor '{name}'"))?;
        tensors.push(tensor_info(cur, name, ne, type_id, offset, findings)?);
    }
    Ok(tensors)
}

/// Validates one tensor's type and dimensions and derives its sizes.
fn tensor_info(
    cur: &Cursor,
    name: String,
    ne: Vec<u64>,
    type_id: u32,
    offset: u64,
    findings: &mut Vec<Finding>,
) -> Result<TensorInfo, Error> {
    let Some(ty) = ggml_type::by_id(type_id) else {
        return Err(match ggml_type::removed_name(type_id) {
            Some(old) => cur.malformed(format_args!(
                "tensor '{name}': ggml type {type_id} ({old}) was removed from ggml and cannot appear in files"
            )),
            None => cur.malformed(format_args!("tensor '{name}': unknown ggml type {type_id}")),
        });
    };
    let n_elements = ne
        .iter()
        .try_fold(1u64, |acc, &n| acc.checked_mul(n))
        .filter(|&n| n < i64::MAX as u64)
        .ok_or_else(|| {
            cur.malformed(format_args!(
                "tensor '{name}': element count of {ne:?} overflows"
            ))
        })?;
    let ne0 = ne.first().copied().unwrap_or(1);
    if !ne0.is_multiple_of(ty.block_elems) {
        return Err(cur.malformed(format_args!(
            "tensor '{name}': ne[0] = {ne0} is not a multiple of the {} block size {}",
            ty.name, ty.block_elems
        )));
    }
    let n_bytes = ty.n_bytes(n_elements).ok_or_else(|| {
        cur.malformed(format_args!(
            "tensor '{name}': byte size of {n_elements} {} elements overflows",
            ty.name
        ))
    })?;
    if ty.name == "Q8_1" {
        findings.push(finding(
            "intermediate-type",
            Severity::Warning,
            "tensor uses Q8_1, a ggml working type not expected in model files; sized as 36 bytes per 32 elements (gguf-py assumes 40)",
            Some(name.clone()),
        ));
    }
    Ok(TensorInfo {
        name,
        ne,
        ty,
        offset,
        n_elements,
        n_bytes,
    })
}

/// `n` rounded up to a multiple of `align` (a power of two).
pub fn align_up(n: u64, align: u64) -> Option<u64> {
    n.checked_add(align - 1).map(|v| v & !(align - 1))
}

/// Checks each tensor's data lies aligned inside the file; reports gaps and overlaps.
fn check_data(
    cur: &Cursor,
    tensors: &[TensorInfo],
    alignment: u64,
    data_offset: u64,
    findings: &mut Vec<Finding>,
) -> Result<(), Error> {
    let size = cur.size();
    let mut expected = Some(0u64);
    let mut first_gap: Option<(usize, u64)> = None;
    let mut gaps = 0usize;
    for (i, t) in tensors.iter().enumerate() {
        if !t.offset.is_multiple_of(alignment) {
            return Err(cur.malformed(format_args!(
                "tensor '{}': offset {} is not a multiple of the alignment {alignment}",
                t.name, t.offset
            )));
        }
        let start = data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.n_bytes));
        if t.n_bytes > 0 && end.is_none_or(|e| e > size) {
            return Err(cur.malformed(format_args!(
                "data section is truncated: tensor '{}' needs {} bytes at file offset {} but the file has {size} bytes",
                t.name,
                t.n_bytes,
                start.map_or_else(|| "beyond 2^64".to_string(), |s| s.to_string())
            )));
        }
        // llama.cpp wants each offset to be the padded running sum of the sizes before it.
        if let Some(e) = expected
            && t.offset != e
        {
            gaps += 1;
            first_gap.get_or_insert((i, e));
        }
        expected =
            expected.and_then(|e| align_up(t.n_bytes, alignment).and_then(|p| e.checked_add(p)));
    }
    if let Some((i, e)) = first_gap {
        let t = &tensors[i];
        findings.push(finding(
            "tensor-offsets-not-contiguous",
            Severity::Warning,
            format!(
                "tensor '{}' has data offset {}, expected {e}; {gaps} tensor(s) are not packed in order, which llama.cpp refuses",
                t.name, t.offset
            ),
            Some(t.name.clone()),
        ));
    }
    report_overlaps(tensors, findings);
    Ok(())
}

/// Adds an error finding when tensors' data ranges overlap, naming the first such pair.
fn report_overlaps(tensors: &[TensorInfo], findings: &mut Vec<Finding>) {
    let mut order: Vec<&TensorInfo> = tensors.iter().filter(|t| t.n_bytes > 0).collect();
    order.sort_by_key(|t| t.offset);
    let mut overlapping = 0usize;
    let mut first = None;
    // The tensor whose data reaches furthest so far; offsets and sizes were checked to fit
    // in the file, so the sums cannot overflow.
    let mut reach: Option<&TensorInfo> = None;
    for t in order {
        match reach {
            Some(r) if t.offset < r.offset + r.n_bytes => {
                overlapping += 1;
                first.get_or_insert((r, t));
                if t.offset + t.n_bytes > r.offset + r.n_bytes {
                    reach = Some(t);
                }
            }
            _ => reach = Some(t),
        }
    }
    if let Some((a, b)) = first {
        findings.push(finding(
            "tensor-data-overlap",
            Severity::Error,
            format!(
                "data of tensors '{}' (offset {}, {} bytes) and '{}' (offset {}) overlap; {overlapping} tensor(s) overlap earlier data",
                a.name, a.offset, a.n_bytes, b.name, b.offset
            ),
            Some(b.name.clone()),
        ));
    }
}
