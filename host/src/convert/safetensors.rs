//! Writes safetensors files from checked plans, streaming.
//!
//! Hand-written rather than the `safetensors` crate's `serialize_to_file`: that takes every
//! tensor as an in-memory `View` (`data() -> Cow<[u8]>`), so a 10 GiB tensor would need 10 GiB
//! of memory; here only the header is built in memory and the bytes stream from the inputs.
//! The header JSON is written here too because the crate keeps `__metadata__` in a `HashMap`
//! (two keys would come out in a different order on each run, and `pack --convert-pickles`
//! needs the same bytes every time for its diffIds); dtypes, element sizes and the tensor order
//! are the crate's `Dtype`, and a test checks the bytes against the crate's `serialize`.
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
use safetensors::tensor::TensorInfo;

use super::copy::{copy_range, copy_tensor, is_plain};
use super::plan::Checked;

/// The header bytes (length prefix included) for `tensors` in the crate's order.
pub fn header(tensors: &mut [&Checked], metadata: &BTreeMap<String, String>) -> Vec<u8> {
    tensors.sort_by(|a, b| b.dtype.cmp(&a.dtype).then_with(|| a.name.cmp(&b.name)));
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
        // The crate's own entry type, so its field order and spelling are the crate's.
        let entry = TensorInfo {
            dtype: t.dtype,
            shape: t.shape.iter().map(|d| *d as usize).collect(),
            data_offsets: (offset as usize, (offset + t.nbytes) as usize),
        };
        json.push_str(&serde_json::to_string(&t.name).unwrap_or_default());
        json.push(':');
        json.push_str(&serde_json::to_string(&entry).unwrap_or_default());
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

/// Writes one safetensors file holding `tensors`, reading from `files`; with `sync`, waits
/// until its bytes are on disk (fsync).
pub fn write_file(
    path: &Path,
    mut tensors: Vec<&Checked>,
    metadata: &BTreeMap<String, String>,
    files: &[File],
    displays: &[String],
    sync: bool,
) -> Result<u64> {
    let head = header(&mut tensors, metadata);
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    w.write_all(&head)
        .with_context(|| format!("writing {}", path.display()))?;
    let mut total = head.len() as u64;
    for t in tensors {
        let copied = if is_plain(t) && t.nbytes > 0 {
            // One run of the input: copied inside the kernel, after what is buffered.
            w.flush()
                .and_then(|()| copy_range(&files[t.file], t.offset, w.get_mut(), t.nbytes))
        } else {
            copy_tensor(t, &files[t.file], &mut w)
        };
        copied.with_context(|| {
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
    if sync {
        f.sync_all()
            .with_context(|| format!("writing {}", path.display()))?;
    }
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::{BTreeMap, HashMap};

    use safetensors::{Dtype, View};

    use super::header;
    use crate::convert::plan::Checked;

    struct Zeros(Dtype, Vec<usize>, usize);

    impl View for &Zeros {
        fn dtype(&self) -> Dtype {
            self.0
        }
        fn shape(&self) -> &[usize] {
            &self.1
        }
        fn data(&self) -> Cow<'_, [u8]> {
            Cow::Owned(vec![0; self.2])
        }
        fn data_len(&self) -> usize {
            self.2
        }
    }

    #[test]
    fn header_is_the_crates_own() {
        let specs = [
            ("b", Dtype::F16, vec![3u64, 2]),
            ("a", Dtype::F32, vec![5]),
            ("z", Dtype::BOOL, vec![7]),
            ("c", Dtype::C64, vec![1, 1]),
            ("y", Dtype::U64, vec![]),
            ("e", Dtype::BF16, vec![0, 4]),
            ("d", Dtype::F8_E4M3, vec![9]),
        ];
        let checked: Vec<Checked> = specs
            .iter()
            .map(|(n, d, shape)| {
                let elsize = (d.bitsize() / 8) as u64;
                Checked {
                    name: n.to_string(),
                    dtype: *d,
                    shape: shape.clone(),
                    file: 0,
                    offset: 0,
                    strides: vec![],
                    elsize,
                    byte_swap: false,
                    nbytes: shape.iter().product::<u64>() * elsize,
                }
            })
            .collect();
        let mut refs: Vec<&Checked> = checked.iter().collect();
        let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        let ours = header(&mut refs, &meta);
        let views: Vec<Zeros> = checked
            .iter()
            .map(|c| {
                let shape = c.shape.iter().map(|d| *d as usize).collect();
                Zeros(c.dtype, shape, c.nbytes as usize)
            })
            .collect();
        let theirs = safetensors::serialize(
            checked.iter().map(|c| c.name.clone()).zip(views.iter()),
            Some(HashMap::from([("format".to_string(), "pt".to_string())])),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs[..ours.len()])
        );
        let data: u64 = checked.iter().map(|c| c.nbytes).sum();
        assert_eq!(theirs.len() as u64, ours.len() as u64 + data);
        // The crate's order: largest dtype first, then name.
        let order: Vec<&str> = refs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(order, ["y", "c", "a", "e", "b", "d", "z"]);
    }
}
