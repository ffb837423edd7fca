//! Sharded checkpoints: `*.safetensors.index.json` and the shard files its `weight_map` names.
//!
//! The index is `{"metadata": {...}, "weight_map": {tensor: shard file}}`. Each distinct shard
//! is opened next to the index (or taken from the inputs the host grouped) and its header read;
//! problems become findings so one report still describes the whole checkpoint:
//! `missing-shard`, `shard-unreadable`, `git-lfs-pointer`, `malformed-shard` (errors),
//! `weight-map-mismatch`, `duplicate-tensor` (errors), `unmapped-tensor` and
//! `total-size-mismatch` (warnings).

use std::collections::{BTreeMap, HashMap};

use modelpack_plugin_sdk::prelude::*;
use serde_json::Value;

use crate::header::MAX_HEADER_SIZE;
use crate::json::OrderedMap;
use crate::report;
use crate::shards::Merged;

/// The file-name suffix of an index.
pub const INDEX_SUFFIX: &str = ".safetensors.index.json";

/// Largest index file read (the same cap as a header: an index is header-like JSON).
pub const MAX_INDEX_SIZE: u64 = MAX_HEADER_SIZE;

/// Most distinct shard files one index may name.
pub const MAX_SHARDS: usize = 10_000;

/// Whether `name` (a path, `/`-separated) is a safetensors index file.
pub fn is_index_name(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.to_ascii_lowercase().ends_with(INDEX_SUFFIX)
}

/// An index file as written, in file order.
#[derive(serde::Deserialize)]
struct RawIndex {
    #[serde(default)]
    metadata: Option<OrderedMap<Value>>,
    weight_map: Option<OrderedMap<String>>,
}

/// A parsed index.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    /// `metadata` entries in file order (`total_size`, `total_parameters`, …).
    pub metadata: Vec<(String, Value)>,
    /// `weight_map` entries in file order: tensor name → shard file.
    pub weight_map: Vec<(String, String)>,
}

/// Parses index JSON; a repeated key or a missing `weight_map` is an error.
pub fn parse_index(bytes: &[u8]) -> Result<Index, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("index is not valid UTF-8: {e}"))?;
    let raw: RawIndex =
        serde_json::from_str(text).map_err(|e| format!("invalid index JSON: {e}"))?;
    let weight_map = raw
        .weight_map
        .ok_or_else(|| "index has no \"weight_map\" object".to_string())?
        .0;
    Ok(Index {
        metadata: raw.metadata.map(|m| m.0).unwrap_or_default(),
        weight_map,
    })
}

/// A JSON metadata value as a report value.
fn meta_value(v: &Value) -> MetaValue {
    match v {
        Value::String(s) => MetaValue::Text(s.clone()),
        Value::Bool(b) => MetaValue::Boolean(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                MetaValue::Uint(u)
            } else if let Some(i) = n.as_i64() {
                MetaValue::Int(i)
            } else {
                MetaValue::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        other => MetaValue::Json(other.to_string()),
    }
}

/// `shard` as a path relative to the same directory as `index_name`.
fn sibling_path(index_name: &str, shard: &str) -> String {
    match index_name.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{shard}"),
        None => shard.to_string(),
    }
}

/// Inspects an index (`inputs[0]`) and every shard it names.
pub fn inspect_index(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let Some((&src, grouped)) = inputs.split_first() else {
        return Err(Error::Malformed("no input file".into()));
    };
    let name = src.name();
    let size = src.size();
    if size > MAX_INDEX_SIZE {
        return Err(Error::TooLarge(format!(
            "{name}: index is {size} bytes, above the {MAX_INDEX_SIZE}-byte limit"
        )));
    }
    let bytes = read_exact_at(src, 0, size, "index")?;
    let index = parse_index(&bytes).map_err(|e| Error::Malformed(format!("{name}: {e}")))?;

    // Shards sorted by name (model-00001-of-… first), each with the tensors mapped to it.
    let mut by_shard: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (tensor, shard) in &index.weight_map {
        by_shard
            .entry(shard.as_str())
            .or_default()
            .push(tensor.as_str());
    }
    if by_shard.len() > MAX_SHARDS {
        return Err(Error::TooLarge(format!(
            "{name}: weight_map names {} shard files, more than the {MAX_SHARDS} this plugin opens",
            by_shard.len()
        )));
    }
    let expect: HashMap<String, String> = index.weight_map.iter().cloned().collect();

    let mut merged = Merged::default();
    let mut covers = Vec::with_capacity(by_shard.len());
    let mut all_read = true;
    for (&shard, mapped) in &by_shard {
        let path = sibling_path(&name, shard);
        covers.push(path.clone());
        let opened;
        let shard_src: &dyn Source = match grouped
            .iter()
            .find(|s| s.name() == shard || s.name() == path)
        {
            Some(s) => *s,
            None => match src.open_related(shard) {
                Ok(s) => {
                    opened = s;
                    &*opened
                }
                Err(e) => {
                    all_read = false;
                    let (id, what, detail) = match e {
                        IoError::NotFound(m) => ("missing-shard", "is missing", m),
                        IoError::Limit(m) | IoError::Other(m) => {
                            ("shard-unreadable", "cannot be opened", m)
                        }
                        IoError::OutOfRange(n) => (
                            "shard-unreadable",
                            "cannot be opened",
                            format!("out of range (size {n})"),
                        ),
                    };
                    merged.findings.push(
                        id,
                        Severity::Error,
                        format!(
                            "shard {shard}, which the index names for {} tensors, {what}: {detail}",
                            mapped.len()
                        ),
                        Some(path),
                        None,
                    );
                    continue;
                }
            },
        };
        let Some(held) = merged.read_and_add(shard_src, &path, Some((&expect, shard)))? else {
            all_read = false;
            continue;
        };
        for &tensor in mapped {
            if !held.contains(tensor) {
                merged.findings.push(
                    "weight-map-mismatch",
                    Severity::Error,
                    format!("the index weight_map puts tensor {tensor:?} in {shard}, which does not hold it"),
                    Some(path.clone()),
                    Some(tensor.to_string()),
                );
            }
        }
    }

    let total_size = index
        .metadata
        .iter()
        .find(|(k, _)| k == "total_size")
        .and_then(|(_, v)| v.as_u64());
    if let Some(total) = total_size
        && all_read
        && total != merged.data_bytes
    {
        merged.findings.push(
            "total-size-mismatch",
            Severity::Warning,
            format!(
                "index metadata total_size is {total} but the shards hold {} bytes of tensor data",
                merged.data_bytes
            ),
            None,
            None,
        );
    }

    let mut metadata = vec![
        MetaEntry {
            key: "index.tensor_count".into(),
            value: MetaValue::Uint(index.weight_map.len() as u64),
        },
        MetaEntry {
            key: "index.shard_count".into(),
            value: MetaValue::Uint(by_shard.len() as u64),
        },
    ];
    for (k, v) in &index.metadata {
        metadata.push(MetaEntry {
            key: format!("index.{k}"),
            value: meta_value(v),
        });
    }
    metadata.append(&mut merged.metadata);

    let mut r = report::empty();
    r.tensors = merged.tensors;
    r.parameter_count = merged.parameter_count;
    r.metadata = metadata;
    r.findings = merged.findings.finish();
    r.covers = covers;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack_plugin_sdk::MemSource;

    fn file(json: &str, data: usize) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    fn ids(r: &ModelReport) -> Vec<&str> {
        r.findings.iter().map(|f| f.id.as_str()).collect()
    }

    /// The metadata value under `key`, in `Debug` form (MetaValue has no `PartialEq`).
    fn meta(r: &ModelReport, key: &str) -> String {
        let v = r.metadata.iter().find(|e| e.key == key).map(|e| &e.value);
        format!("{v:?}")
    }

    const INDEX: &str = r#"{"metadata":{"total_size":14},"weight_map":{
        "a":"model-00001-of-00002.safetensors",
        "b":"model-00002-of-00002.safetensors",
        "c":"model-00002-of-00002.safetensors"}}"#;

    fn shard1() -> Vec<u8> {
        file(
            r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            4,
        )
    }

    fn shard2() -> Vec<u8> {
        file(
            r#"{"c":{"dtype":"BF16","shape":[2,2],"data_offsets":[2,10]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#,
            10,
        )
    }

    fn index_src(index: &str, shards: Vec<(&str, Vec<u8>)>) -> MemSource {
        MemSource::with_siblings(
            "model.safetensors.index.json",
            index.as_bytes().to_vec(),
            shards
                .into_iter()
                .map(|(n, d)| (n.to_string(), d))
                .collect(),
        )
    }

    #[test]
    fn two_shards() {
        let src = index_src(
            INDEX,
            vec![
                ("model-00001-of-00002.safetensors", shard1()),
                ("model-00002-of-00002.safetensors", shard2()),
            ],
        );
        let r = crate::inspect(&[&src]).unwrap();
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        let names: Vec<_> = r.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(r.parameter_count, 7);
        assert_eq!(
            r.covers,
            [
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors"
            ]
        );
        assert_eq!(
            meta(&r, "index.tensor_count"),
            format!("{:?}", Some(&MetaValue::Uint(3)))
        );
        assert_eq!(
            meta(&r, "index.shard_count"),
            format!("{:?}", Some(&MetaValue::Uint(2)))
        );
        assert_eq!(
            meta(&r, "index.total_size"),
            format!("{:?}", Some(&MetaValue::Uint(14)))
        );
        assert_eq!(
            meta(&r, "format"),
            format!("{:?}", Some(&MetaValue::Text("pt".into())))
        );
    }

    #[test]
    fn grouped_inputs_are_used_before_open_related() {
        let src = index_src(INDEX, vec![]);
        let s1 = MemSource::new("model-00001-of-00002.safetensors", shard1());
        let s2 = MemSource::new("model-00002-of-00002.safetensors", shard2());
        let r = crate::inspect(&[&src, &s1, &s2]).unwrap();
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.tensors.len(), 3);
    }

    #[test]
    fn missing_shard_is_a_finding() {
        let src = index_src(INDEX, vec![("model-00001-of-00002.safetensors", shard1())]);
        let r = crate::inspect(&[&src]).unwrap();
        assert_eq!(ids(&r), ["missing-shard"]);
        let f = &r.findings[0];
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.message.contains("names for 2 tensors, is missing"),
            "{}",
            f.message
        );
        assert_eq!(
            f.location.file.as_deref(),
            Some("model-00002-of-00002.safetensors")
        );
        assert_eq!(r.tensors.len(), 1);
        assert_eq!(r.covers.len(), 2);
    }

    #[test]
    fn duplicate_tensor_across_shards() {
        let dup = file(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"c":{"dtype":"BF16","shape":[2,2],"data_offsets":[6,14]}}"#,
            14,
        );
        let src = index_src(
            INDEX,
            vec![
                ("model-00001-of-00002.safetensors", shard1()),
                ("model-00002-of-00002.safetensors", dup),
            ],
        );
        let r = crate::inspect(&[&src]).unwrap();
        // "a" is in shard 2 although mapped to shard 1, and also already read from shard 1.
        assert_eq!(
            ids(&r),
            [
                "weight-map-mismatch",
                "duplicate-tensor",
                "total-size-mismatch"
            ]
        );
        assert!(r.findings[1].message.contains(
            "both model-00001-of-00002.safetensors and model-00002-of-00002.safetensors"
        ));
        assert_eq!(r.findings[1].location.field.as_deref(), Some("a"));
        assert_eq!(r.tensors.len(), 3);
    }

    #[test]
    fn weight_map_mismatch_and_unmapped_tensor() {
        let s2 = file(
            r#"{"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"z":{"dtype":"U8","shape":[8],"data_offsets":[2,10]}}"#,
            10,
        );
        let src = index_src(
            INDEX,
            vec![
                ("model-00001-of-00002.safetensors", shard1()),
                ("model-00002-of-00002.safetensors", s2),
            ],
        );
        let r = crate::inspect(&[&src]).unwrap();
        assert_eq!(ids(&r), ["unmapped-tensor", "weight-map-mismatch"]);
        assert_eq!(r.findings[0].severity, Severity::Warning);
        assert_eq!(r.findings[1].location.field.as_deref(), Some("c"));
    }

    #[test]
    fn lfs_and_malformed_shards() {
        let ptr = b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 2015434520\n"
            .to_vec();
        let src = index_src(
            INDEX,
            vec![
                ("model-00001-of-00002.safetensors", ptr),
                ("model-00002-of-00002.safetensors", file("{}", 3)),
            ],
        );
        let r = crate::inspect(&[&src]).unwrap();
        assert_eq!(ids(&r), ["git-lfs-pointer", "malformed-shard"]);
        assert!(r.findings[0].message.contains("2015434520 bytes"));
        assert!(r.findings[1].message.contains("3 trailing bytes"));
        assert!(r.tensors.is_empty());
        assert_eq!(
            meta(&r, "index.tensor_count"),
            format!("{:?}", Some(&MetaValue::Uint(3)))
        );
    }

    #[test]
    fn bad_index_json() {
        for (json, want) in [
            (r#"{"metadata":{}}"#, "no \"weight_map\""),
            (r#"{"weight_map":{"a":"x","a":"y"}}"#, "duplicate key \"a\""),
            (r#"{"weight_map":{"a":1}}"#, "invalid index JSON"),
            ("[", "invalid index JSON"),
        ] {
            let src = index_src(json, vec![]);
            match crate::inspect(&[&src]) {
                Err(Error::Malformed(m)) => assert!(m.contains(want), "{m}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn nested_index_paths() {
        assert_eq!(
            sibling_path("sub/m.safetensors.index.json", "a.safetensors"),
            "sub/a.safetensors"
        );
        assert_eq!(
            sibling_path("m.safetensors.index.json", "a.safetensors"),
            "a.safetensors"
        );
        assert!(is_index_name(
            "x/diffusion_pytorch_model.safetensors.index.json"
        ));
        assert!(!is_index_name("model.safetensors"));
    }
}
