//! Consistency checks between tensors, the storages their pickle declares, and the storage
//! records actually present, all without reading tensor data.
//!
//! * `missing-storage` (error): a tensor's storage key has no record.
//! * `storage-size-mismatch` (error): the declared element count × element size does not fit
//!   the record (zip) or differs from the record's own count (legacy).
//! * `tensor-out-of-bounds` (error): offset + extent of a tensor's view exceeds its storage.

use std::collections::HashSet;

use modelpack_plugin_sdk::prelude::*;

use crate::dtype;
use crate::pickle::FoundTensor;

/// Findings per id beyond this are summarised in one extra finding.
const MAX_PER_ID: usize = 50;

/// Collects findings, capping how many of each id are listed.
#[derive(Default)]
pub struct Capped {
    list: Vec<Finding>,
    dropped: Vec<(String, usize)>,
}

impl Capped {
    /// Adds a finding unless its id already has [`MAX_PER_ID`].
    pub fn push(&mut self, f: Finding) {
        if self.list.iter().filter(|x| x.id == f.id).count() < MAX_PER_ID {
            self.list.push(f);
        } else if let Some(d) = self.dropped.iter_mut().find(|(id, _)| *id == f.id) {
            d.1 += 1;
        } else {
            self.dropped.push((f.id.clone(), 1));
        }
    }

    /// The findings, plus one summary per id that overflowed.
    pub fn into_vec(mut self, label: &str) -> Vec<Finding> {
        for (id, n) in self.dropped {
            self.list.push(finding(
                &id,
                Severity::Error,
                format!("{n} more {id} findings in {label} not listed"),
                Some(label.to_string()),
            ));
        }
        self.list
    }
}

/// Highest element index + 1 a view touches, or `None` when it cannot be computed.
pub fn extent(offset: i64, shape: &[u64], stride: Option<&[i64]>) -> Option<u64> {
    if shape.contains(&0) {
        return Some(0);
    }
    let offset = u64::try_from(offset).ok()?;
    let mut end = offset.checked_add(1)?;
    match stride {
        Some(st) => {
            if st.len() != shape.len() {
                return None;
            }
            for (&d, &s) in shape.iter().zip(st) {
                let s = u64::try_from(s).ok()?;
                end = end.checked_add((d - 1).checked_mul(s)?)?;
            }
        }
        None => {
            let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
            end = offset.checked_add(n)?;
        }
    }
    Some(end)
}

/// Bytes of the storage record with a given key, `None` when there is no such record.
pub type RecordBytes<'a> = &'a dyn Fn(&str) -> Option<u64>;

/// Checks every tensor's view against its storage's declared size, and (when `record_bytes` is
/// given) each storage against the bytes of its record.
pub fn check_tensors(
    tensors: &[FoundTensor],
    record_bytes: Option<RecordBytes>,
    record_prefix: &str,
    label: &str,
) -> Vec<Finding> {
    let mut out = Capped::default();
    let mut checked: HashSet<&str> = HashSet::new();
    for t in tensors {
        let Some(st) = &t.storage else { continue };
        let elsize = dtype::storage_dtype(&st.type_name).map(|(_, s)| s);
        if let Some(record_bytes) = record_bytes
            && checked.insert(st.key.as_str())
        {
            match record_bytes(&st.key) {
                None => out.push(finding(
                    "missing-storage",
                    Severity::Error,
                    format!(
                        "tensor {} refers to storage {:?} but there is no record {record_prefix}{}",
                        t.name, st.key, st.key
                    ),
                    Some(format!("{record_prefix}{}", st.key)),
                )),
                Some(have) => {
                    let need = st.numel.zip(elsize).and_then(|(n, s)| n.checked_mul(s));
                    if let Some(need) = need.filter(|&need| need > have) {
                        out.push(finding(
                            "storage-size-mismatch",
                            Severity::Error,
                            format!(
                                "storage {:?} declares {} elements of {} ({need} bytes) but record {record_prefix}{} holds {have} bytes",
                                st.key,
                                st.numel.unwrap_or(0),
                                dtype::dtype_name(&st.type_name),
                                st.key
                            ),
                            Some(format!("{record_prefix}{}", st.key)),
                        ));
                    }
                }
            }
        }
        let available = match st.view {
            Some((_, size)) => u64::try_from(size).ok(),
            None => st.numel,
        };
        let end = extent(
            t.tensor.storage_offset.unwrap_or(0),
            &t.tensor.shape,
            t.tensor.stride.as_deref(),
        );
        if let (Some(end), Some(available)) = (end, available)
            && end > available
        {
            out.push(finding(
                "tensor-out-of-bounds",
                Severity::Error,
                format!(
                    "tensor {} with shape {:?} at offset {} needs {end} elements but storage {:?} has {available}",
                    t.name,
                    t.tensor.shape,
                    t.tensor.storage_offset.unwrap_or(0),
                    st.key
                ),
                Some(t.name.clone()),
            ));
        }
    }
    out.into_vec(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents() {
        assert_eq!(extent(0, &[2, 3], Some(&[3, 1])), Some(6));
        assert_eq!(extent(4, &[2, 3], None), Some(10));
        assert_eq!(extent(0, &[], Some(&[])), Some(1));
        assert_eq!(extent(0, &[0, 5], Some(&[5, 1])), Some(0));
        assert_eq!(extent(0, &[258, 1, 256], Some(&[256, 0, 1])), Some(66048));
        assert_eq!(extent(-1, &[1], None), None);
        assert_eq!(extent(0, &[u64::MAX, 2], Some(&[i64::MAX, 1])), None);
    }
}
