//! Writes safetensors files from checked plans, streaming.
//!
//! Hand-written rather than the `safetensors` crate's `serialize_to_file`: that takes every
//! tensor as an in-memory `View` (`data() -> Cow<[u8]>`), so a 10 GiB tensor would need 10 GiB
//! of memory; here only the header is built in memory and the bytes stream from the inputs.
//! The layout follows the crate exactly: `u64` little-endian header length, compact JSON with
//! `__metadata__` first and then the tensors sorted by dtype (the crate's `Dtype` order,
//! largest first) and name, padded with spaces to a multiple of 8, then the data in that order.
//! Shards and `model.safetensors.index.json` follow `huggingface_hub`'s
//! `split_torch_state_dict_into_shards` (tensors in order, a new shard when the next would
//! pass the limit, a tensor larger than the limit alone in its shard).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use super::copy::copy_tensor;
use super::plan::{Checked, dtype_rank};

/// The header bytes (length prefix included) for `tensors` in the crate's order.
pub fn header(tensors: &mut [&Checked], metadata: &BTreeMap<String, String>) -> Vec<u8> {
    tensors.sort_by(|a, b| {
        dtype_rank(&b.dtype)
            .cmp(&dtype_rank(&a.dtype))
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut json = String::from("{");
    if !metadata.is_empty() {
        json.push_str("\"__metadata__\":");
        json.push_str(&serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into()));
    }
    let mut offset = 0u64;
    for t in tensors.iter() {
        if json.len() > 1 {
            json.push(',');
        }
        let entry = serde_json::json!({
            "dtype": t.dtype,
            "shape": t.shape,
            "data_offsets": [offset, offset + t.nbytes],
        });
        json.push_str(&serde_json::to_string(&t.name).unwrap_or_default());
        json.push(':');
        json.push_str(&entry.to_string());
        offset += t.nbytes;
    }
    json.push('}');
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out
}

/// Writes one safetensors file holding `tensors`, reading from `files`.
pub fn write_file(
    path: &Path,
    mut tensors: Vec<&Checked>,
    metadata: &BTreeMap<String, String>,
    files: &[File],
    displays: &[String],
) -> Result<u64> {
    let head = header(&mut tensors, metadata);
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    w.write_all(&head)
        .with_context(|| format!("writing {}", path.display()))?;
    let mut total = head.len() as u64;
    for t in tensors {
        copy_tensor(t, &files[t.file], &mut w).with_context(|| {
            format!(
                "{}: copying tensor {:?} at offset {}",
                displays[t.file], t.name, t.offset
            )
        })?;
        total += t.nbytes;
    }
    let f = w
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("writing {}", path.display()))?;
    f.sync_all()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(total)
}

/// Splits tensors (in order) into shards of at most `max` bytes of data.
pub fn shards(tensors: &[Checked], max: u64) -> Vec<Vec<&Checked>> {
    let mut out: Vec<Vec<&Checked>> = vec![vec![]];
    let mut size = 0u64;
    for t in tensors {
        let cur = out.last_mut().expect("one shard");
        if !cur.is_empty() && size + t.nbytes > max {
            out.push(vec![t]);
            size = t.nbytes;
        } else {
            cur.push(t);
            size += t.nbytes;
        }
    }
    out
}

/// File name of shard `i` (0-based) of `n`, as transformers names them.
pub fn shard_name(i: usize, n: usize) -> String {
    if n == 1 {
        "model.safetensors".into()
    } else {
        format!("model-{:05}-of-{:05}.safetensors", i + 1, n)
    }
}

/// The `model.safetensors.index.json` text.
pub fn index_json(shards: &[Vec<&Checked>]) -> String {
    let mut map = BTreeMap::new();
    let mut total = 0u64;
    for (i, s) in shards.iter().enumerate() {
        for t in s {
            map.insert(t.name.clone(), shard_name(i, shards.len()));
            total += t.nbytes;
        }
    }
    let v = serde_json::json!({"metadata": {"total_size": total}, "weight_map": map});
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}
