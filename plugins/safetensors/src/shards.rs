//! Combining the headers of several files (the shards of one checkpoint) into one report.
//!
//! Used for an index's shards and for several `.safetensors` files the host grouped. A tensor
//! name may live in one shard only (`duplicate-tensor`); with an index, each tensor must be in
//! the shard its `weight_map` names (`weight-map-mismatch`) and should be listed at all
//! (`unmapped-tensor`).

use std::collections::{HashMap, HashSet};

use modelpack_plugin_sdk::prelude::*;

use crate::findings::Findings;
use crate::header::{Header, read_header};
use crate::report;

/// Tensors, metadata and findings gathered from several shards.
#[derive(Default)]
pub struct Merged {
    /// Every tensor kept, shard by shard, each shard in data-offset order.
    pub tensors: Vec<Tensor>,
    /// Σ elements of the kept tensors.
    pub parameter_count: u64,
    /// Σ data-section bytes of the shards read.
    pub data_bytes: u64,
    /// Shards' `__metadata__` entries; the first shard to name a key wins.
    pub metadata: Vec<MetaEntry>,
    meta_keys: HashSet<String>,
    /// Tensor name → file it was first found in.
    owner: HashMap<String, String>,
    /// Findings so far.
    pub findings: Findings,
}

impl Merged {
    /// Adds one shard's header. `file` names it in findings; `expect` is the index's
    /// `weight_map` (tensor → shard as written there) and `shard` this shard's name in it.
    /// Returns the tensor names the shard holds.
    pub fn add(
        &mut self,
        file: &str,
        header: &Header,
        expect: Option<(&HashMap<String, String>, &str)>,
    ) -> HashSet<String> {
        let mut names = HashSet::with_capacity(header.tensors.len());
        for t in &header.tensors {
            names.insert(t.name.clone());
            if let Some((map, shard)) = expect {
                match map.get(&t.name) {
                    None => self.findings.push(
                        "unmapped-tensor",
                        Severity::Warning,
                        format!("tensor {:?} in {file} is not listed in the index weight_map", t.name),
                        Some(file.to_string()),
                        Some(t.name.clone()),
                    ),
                    Some(want) if want != shard => self.findings.push(
                        "weight-map-mismatch",
                        Severity::Error,
                        format!(
                            "tensor {:?} is stored in {file} but the index weight_map puts it in {want}",
                            t.name
                        ),
                        Some(file.to_string()),
                        Some(t.name.clone()),
                    ),
                    Some(_) => {}
                }
            }
            if let Some(first) = self.owner.get(&t.name) {
                self.findings.push(
                    "duplicate-tensor",
                    Severity::Error,
                    format!("tensor {:?} is stored in both {first} and {file}", t.name),
                    Some(file.to_string()),
                    Some(t.name.clone()),
                );
                continue;
            }
            self.owner.insert(t.name.clone(), file.to_string());
            self.tensors.push(report::tensor(t));
            self.parameter_count = self.parameter_count.saturating_add(t.elements);
        }
        self.data_bytes = self.data_bytes.saturating_add(header.data_len);
        for e in report::metadata_entries(header) {
            if self.meta_keys.insert(e.key.clone()) {
                self.metadata.push(e);
            }
        }
        names
    }

    /// Reads one shard and adds it; an LFS pointer or a malformed header becomes a finding.
    /// Returns the shard's tensor names when its header was read.
    pub fn read_and_add(
        &mut self,
        src: &dyn Source,
        file: &str,
        expect: Option<(&HashMap<String, String>, &str)>,
    ) -> Result<Option<HashSet<String>>, Error> {
        if let Some(lfs) = lfs_pointer_report(src, report::FORMAT)? {
            for f in lfs.findings {
                self.findings.push_finding(f, Some(file.to_string()));
            }
            return Ok(None);
        }
        match read_header(src) {
            Ok(h) => Ok(Some(self.add(file, &h, expect))),
            // A host I/O failure is not the shard's fault: it fails the whole inspection.
            Err(Error::Io(e)) => Err(Error::Io(e)),
            Err(Error::Malformed(e) | Error::Unsupported(e) | Error::TooLarge(e)) => {
                self.findings.push(
                    "malformed-shard",
                    Severity::Error,
                    e,
                    Some(file.to_string()),
                    None,
                );
                Ok(None)
            }
        }
    }
}

/// Inspects several `.safetensors` files as one model: the first must be valid, the others
/// (grouped by the host) are reported as findings when they are not.
pub fn inspect_files(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let Some((&first, rest)) = inputs.split_first() else {
        return Err(Error::Malformed("no input file".into()));
    };
    let header = read_header(first)?;
    if rest.is_empty() {
        return Ok(report::single(&header));
    }
    let mut merged = Merged::default();
    merged.add(&first.name(), &header, None);
    let mut covers = Vec::with_capacity(rest.len());
    for src in rest {
        let name = src.name();
        merged.read_and_add(*src, &name, None)?;
        covers.push(name);
    }
    let mut r = report::empty();
    r.tensors = merged.tensors;
    r.parameter_count = merged.parameter_count;
    r.metadata = merged.metadata;
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

    #[test]
    fn grouped_files_merge_and_flag_duplicates() {
        let a = MemSource::new(
            "a.safetensors",
            file(
                r#"{"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#,
                2,
            ),
        );
        let b = MemSource::new(
            "b.safetensors",
            file(
                r#"{"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"y":{"dtype":"F32","shape":[3],"data_offsets":[2,14]}}"#,
                14,
            ),
        );
        let c = MemSource::new("c.safetensors", b"junk".to_vec());
        let r = inspect_files(&[&a, &b, &c]).unwrap();
        let names: Vec<_> = r.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(r.parameter_count, 5);
        assert_eq!(r.covers, ["b.safetensors", "c.safetensors"]);
        let ids: Vec<_> = r.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["duplicate-tensor", "malformed-shard"]);
        assert_eq!(
            r.findings[1].location.file.as_deref(),
            Some("c.safetensors")
        );
    }
}
