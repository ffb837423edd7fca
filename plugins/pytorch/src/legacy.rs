//! Pickle streams: legacy `torch.save` files (torch < 1.6 or
//! `_use_new_zipfile_serialization=False`) and plain pickles.
//!
//! A legacy file is five consecutive pickles — the magic number 0x1950a86a20f9469cfc6c, the
//! protocol version (1001), a `sys_info` dict, the object, the list of storage keys — followed by
//! one record per key: a u64 element count then the raw elements. Records are validated by
//! skipping over them (8 bytes read per record), never by reading data. A stream whose first
//! pickle is not the magic number is reported as a plain pickle.

use std::collections::HashMap;

use modelpack_plugin_sdk::prelude::*;

use crate::checks;
use crate::dtype;
use crate::pickle::{self, Failure, Node, Scan, Value};
use crate::report::{self, meta, text};
use crate::scan::{self, MAX_PICKLE, Scanned};

/// The legacy magic number as pickle's LONG1 stores it (little-endian, 10 bytes).
pub const MAGIC_LE: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// The legacy protocol version torch writes.
pub const PROTOCOL_VERSION: i64 = 1001;

/// True when `head` starts with the pickled legacy magic number (any protocol).
pub fn has_magic(head: &[u8]) -> bool {
    let body = match head {
        [0x80, p, rest @ ..] if *p <= 5 => rest,
        _ => head,
    };
    (body.starts_with(&[0x8a, 0x0a]) && body[2..].starts_with(&MAGIC_LE))
        || body.starts_with(b"L119547037146038801333356L\n")
}

/// The start of the file, grown on demand so that big files are not read whole.
struct Prefix<'a> {
    src: &'a dyn Source,
    data: Vec<u8>,
}

impl Prefix<'_> {
    fn cap(&self) -> u64 {
        self.src.size().min(MAX_PICKLE)
    }

    /// Runs the pickle at absolute offset `start`, growing the buffer while it is truncated.
    fn run(&mut self, start: usize) -> Result<Result<Scan, Box<Failure>>, Error> {
        loop {
            let slice = self.data.get(start..).unwrap_or(&[]);
            let mut r = pickle::run(slice, pickle::Limits::default());
            let truncated =
                matches!(&r, Err(f) if matches!(f.error, pickle::PickleError::Truncated(_)));
            if truncated && (self.data.len() as u64) < self.cap() {
                let want = (self.data.len() as u64)
                    .saturating_mul(2)
                    .max(1 << 20)
                    .min(self.cap());
                self.data = read_at(self.src, 0, want)?;
                continue;
            }
            if truncated && self.src.size() > MAX_PICKLE {
                return Err(Error::TooLarge(format!(
                    "{}: pickle at offset {start} continues past the first {MAX_PICKLE} bytes",
                    self.src.name()
                )));
            }
            // Offsets relative to the file, not the pickle.
            let shift = |s: &mut Scan| {
                s.end += start;
                s.globals.iter_mut().for_each(|g| g.offset += start);
                s.calls.iter_mut().for_each(|c| c.offset += start);
            };
            match &mut r {
                Ok(s) => shift(s),
                Err(f) => shift(&mut f.partial),
            }
            return Ok(r);
        }
    }
}

fn label(start: usize) -> String {
    format!("pickle@{start}")
}

/// A small pickle (magic, version, keys) read to its value, or an error.
fn small(p: &mut Prefix, start: usize, what: &str) -> Result<Scan, Error> {
    p.run(start)?.map_err(|f| {
        scan::error(
            &p.src.name(),
            &format!("{what} at offset {start}"),
            &f.error,
        )
    })
}

/// JSON for plain pickled data (the sys_info dict).
fn to_json(arena: &pickle::Arena, v: &Value, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::None => J::Null,
        Value::Bool(b) => J::from(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => J::from(*f),
        Value::Str(s) => J::from(s.as_str()),
        _ if depth > 8 => J::Null,
        Value::Node(_) => match arena.node(v) {
            Some(Node::Dict(d)) => J::Object(
                d.items
                    .iter()
                    .take(64)
                    .map(|(k, x)| (pickle::walk::py_str(arena, k), to_json(arena, x, depth + 1)))
                    .collect(),
            ),
            Some(Node::List(x) | Node::Tuple(x)) => J::Array(
                x.iter()
                    .take(64)
                    .map(|i| to_json(arena, i, depth + 1))
                    .collect(),
            ),
            _ => J::Null,
        },
        _ => J::Null,
    }
}

/// Inspects a pickle stream; findings accumulate in `findings` even when it fails.
pub fn inspect(src: &dyn Source, findings: &mut Vec<Finding>) -> Result<ModelReport, Error> {
    let name = src.name();
    let initial = src.size().min(1 << 20);
    let mut p = Prefix {
        src,
        data: read_at(src, 0, initial)?,
    };
    let first = p.run(0)?;
    let is_legacy =
        matches!(&first, Ok(s) if matches!(&s.value, Some(Value::BigInt(b)) if **b == MAGIC_LE));
    if !is_legacy {
        let main = scan::finish(&name, &label(0), first, findings)?;
        return Ok(plain(main, findings));
    }
    let magic_end = first.map(|s| s.end).unwrap_or(0);
    let version = small(&mut p, magic_end, "protocol version")?;
    let proto = version.value.as_ref().and_then(Value::as_int);
    if proto != Some(PROTOCOL_VERSION) {
        return Err(Error::Unsupported(format!(
            "{name}: legacy torch protocol version {proto:?} (expected {PROTOCOL_VERSION})"
        )));
    }
    let sys = small(&mut p, version.end, "sys_info")?;
    let sys_json = to_json(&sys.arena, sys.value.as_ref().unwrap_or(&Value::None), 0);
    let main_start = sys.end;
    let main_run = p.run(main_start)?;
    let main = scan::finish(&name, &label(main_start), main_run, findings)?;
    let keys_scan = small(&mut p, main.end, "storage key list")?;
    let keys: Vec<String> = keys_scan
        .value
        .as_ref()
        .and_then(|v| keys_scan.arena.seq(v))
        .ok_or_else(|| Error::Malformed(format!("{name}: storage key list is not a list")))?
        .iter()
        .map(|k| match k {
            Value::Str(s) => s.to_string(),
            other => pickle::walk::py_str(&keys_scan.arena, other),
        })
        .collect();
    let data_offset = keys_scan.end as u64;

    findings.extend(checks::check_tensors(
        &main.walk.tensors,
        None,
        "",
        &main.label,
    ));
    findings.extend(check_records(src, &main, &keys, data_offset)?);

    let mut metadata = vec![
        text("pt.container", "legacy"),
        meta(
            "pt.legacy.protocol_version",
            MetaValue::Int(PROTOCOL_VERSION),
        ),
        report::json("pt.legacy.sys_info", sys_json),
        meta(
            "pt.storage_record_count",
            MetaValue::Uint(keys.len() as u64),
        ),
        meta(
            "pt.legacy.storage_data_offset",
            MetaValue::Uint(data_offset),
        ),
    ];
    metadata.extend(report::pickle_metadata(&[&main]));
    metadata.extend(report::object_metadata(&main));
    let (tensors, parameter_count, groups) = report::tensors_and_groups(main);
    Ok(ModelReport {
        format: report::FORMAT.into(),
        tensors,
        parameter_count,
        weight_parameters: 0,
        dtypes: vec![],
        quantization: None,
        candidates: vec![],
        lineage: vec![],
        groups,
        inputs: vec![],
        outputs: vec![],
        metadata,
        findings: std::mem::take(findings),
        covers: vec![],
        layer_kind: None,
    })
}

/// Walks the storage records after the key list: each must hold the declared element count.
fn check_records(
    src: &dyn Source,
    main: &Scanned,
    keys: &[String],
    start: u64,
) -> Result<Vec<Finding>, Error> {
    let name = src.name();
    // Every storage persistent_load saw, reachable as a tensor or not (torch needs them all).
    let mut storages: HashMap<&str, (Option<u64>, Option<u64>, &str)> = HashMap::new();
    for st in &main.storages {
        let size = dtype::storage_dtype(&st.type_name).map(|(_, s)| s);
        storages
            .entry(st.key.as_str())
            .or_insert((size, st.numel, st.type_name.as_str()));
    }
    let mut out = checks::Capped::default();
    let mut off = start;
    let size = src.size();
    for key in keys {
        let Some(&(elsize, declared, type_name)) = storages.get(key.as_str()) else {
            return Err(Error::Malformed(format!(
                "{name}: storage key {key:?} is listed but no persistent id in the object declares it"
            )));
        };
        let Some(elsize) = elsize else {
            // Unknown element size: the remaining records cannot be located.
            out.push(finding(
                "unknown-storage-type",
                Severity::Warning,
                format!("storage {key:?} has unknown type {type_name}; later records not checked"),
                Some(format!("pickle@{start}")),
            ));
            break;
        };
        let head = read_exact_at(src, off, 8, &format!("storage record {key:?} header"))?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&head);
        let count = u64::from_le_bytes(a);
        let end = count
            .checked_mul(elsize)
            .and_then(|b| b.checked_add(off + 8))
            .filter(|&e| e <= size)
            .ok_or_else(|| {
                Error::Malformed(format!(
                    "{name}: storage record {key:?} at offset {off} declares {count} elements of {elsize} bytes, beyond file size {size}"
                ))
            })?;
        if declared.is_some_and(|d| d != count) {
            out.push(finding(
                "storage-size-mismatch",
                Severity::Error,
                format!(
                    "storage {key:?} is declared with {} elements but its record at offset {off} holds {count}",
                    declared.unwrap_or(0)
                ),
                Some(format!("storage {key}")),
            ));
        }
        off = end;
    }
    let mut list = out.into_vec(&main.label);
    if off < size && !list.iter().any(|f| f.id == "unknown-storage-type") {
        list.push(finding(
            "trailing-bytes",
            Severity::Warning,
            format!(
                "{} bytes after the last storage record (offset {off})",
                size - off
            ),
            None,
        ));
    }
    Ok(list)
}

/// Report for a plain (non-torch) pickle.
fn plain(main: Scanned, findings: &mut Vec<Finding>) -> ModelReport {
    let mut metadata = vec![text("pt.container", "pickle")];
    metadata.extend(report::pickle_metadata(&[&main]));
    metadata.extend(report::object_metadata(&main));
    let (tensors, parameter_count, groups) = report::tensors_and_groups(main);
    ModelReport {
        format: report::FORMAT.into(),
        tensors,
        parameter_count,
        weight_parameters: 0,
        dtypes: vec![],
        quantization: None,
        candidates: vec![],
        lineage: vec![],
        groups,
        inputs: vec![],
        outputs: vec![],
        metadata,
        findings: std::mem::take(findings),
        covers: vec![],
        layer_kind: None,
    }
}

/// Storage key → (data offset, bytes) in a legacy file.
pub type Records = HashMap<String, (u64, u64)>;

/// Where each storage's bytes are in a legacy file, for conversion: the main pickle, `key →
/// (data offset, bytes)` and whether the file is big-endian (`sys_info["little_endian"]`).
pub fn storage_records(src: &dyn Source) -> Result<(Scanned, Records, bool), Error> {
    let name = src.name();
    let initial = src.size().min(1 << 20);
    let mut p = Prefix {
        src,
        data: read_at(src, 0, initial)?,
    };
    let first = p.run(0)?;
    let is_legacy =
        matches!(&first, Ok(s) if matches!(&s.value, Some(Value::BigInt(b)) if **b == MAGIC_LE));
    if !is_legacy {
        return Err(Error::Unsupported(format!(
            "{name}: a plain pickle, not a torch.save checkpoint; nothing to convert"
        )));
    }
    let magic_end = first.map(|s| s.end).unwrap_or(0);
    let version = small(&mut p, magic_end, "protocol version")?;
    if version.value.as_ref().and_then(Value::as_int) != Some(PROTOCOL_VERSION) {
        return Err(Error::Unsupported(format!(
            "{name}: unknown legacy torch protocol version"
        )));
    }
    let sys = small(&mut p, version.end, "sys_info")?;
    let sys_json = to_json(&sys.arena, sys.value.as_ref().unwrap_or(&Value::None), 0);
    let big = sys_json.get("little_endian") == Some(&serde_json::Value::Bool(false));
    let main_run = p.run(sys.end)?;
    let mut findings = Vec::new();
    let main = scan::finish(&name, &label(sys.end), main_run, &mut findings)?;
    let keys_scan = small(&mut p, main.end, "storage key list")?;
    let keys: Vec<String> = keys_scan
        .value
        .as_ref()
        .and_then(|v| keys_scan.arena.seq(v))
        .ok_or_else(|| Error::Malformed(format!("{name}: storage key list is not a list")))?
        .iter()
        .map(|k| match k {
            Value::Str(s) => s.to_string(),
            other => pickle::walk::py_str(&keys_scan.arena, other),
        })
        .collect();
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    for st in &main.storages {
        if let Some((_, s)) = dtype::storage_dtype(&st.type_name) {
            sizes.entry(st.key.as_str()).or_insert(s);
        }
    }
    let mut records = HashMap::new();
    let mut off = keys_scan.end as u64;
    let size = src.size();
    for key in &keys {
        let Some(&elsize) = sizes.get(key.as_str()) else {
            return Err(Error::Unsupported(format!(
                "{name}: storage {key:?} has an unknown type; its record cannot be located"
            )));
        };
        let head = read_exact_at(src, off, 8, &format!("storage record {key:?} header"))?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&head);
        let count = if big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        };
        let bytes = count.checked_mul(elsize).filter(|b| {
            off.checked_add(8)
                .and_then(|s| s.checked_add(*b))
                .is_some_and(|e| e <= size)
        });
        let Some(bytes) = bytes else {
            return Err(Error::Malformed(format!(
                "{name}: storage record {key:?} at offset {off} declares {count} elements of {elsize} bytes, beyond file size {size}"
            )));
        };
        records.insert(key.clone(), (off + 8, bytes));
        off += 8 + bytes;
    }
    Ok((main, records, big))
}
