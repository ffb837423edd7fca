//! `.npz` archives: a zip of `<name>.npy` members (stored by `np.savez`, deflated by
//! `np.savez_compressed`); each member is one tensor named without its `.npy` suffix.

use modelpack_plugin_sdk::prelude::*;
use pickle_scan::pickle::GlobalUse;
use pickle_scan::zip;

use crate::header::{self, MAX_HEADER};
use crate::npy;
use crate::object::{self, MAX_OBJECT_PICKLE};
use crate::report::{self, meta};

/// Members described in the `npz.members` metadata (the tensor list is always complete).
const MAX_MEMBER_METADATA: usize = 256;

/// Inspects an `.npz` archive.
pub fn inspect(src: &dyn Source) -> Result<ModelReport, Error> {
    let name = src.name();
    let archive = zip::read_archive(src)?;
    let mut tensors = Vec::new();
    let mut findings = Vec::new();
    let mut globals: Vec<GlobalUse> = Vec::new();
    let mut members = Vec::new();
    for e in &archive.entries {
        if e.name.ends_with('/') {
            continue;
        }
        if e.is_unsafe_path() {
            findings.push(finding(
                "zip-path-traversal",
                Severity::Error,
                format!(
                    "zip member {:?} would be extracted outside the target folder",
                    e.name
                ),
                Some(e.name.clone()),
            ));
        }
        let what = format!("{name}: member {}", e.name);
        let head = zip::read_prefix(src, e, 6)?;
        if !header::is_npy(&head) {
            // np.load hands such members back as raw bytes; they are not arrays.
            findings.push(finding(
                "npz-non-array-member",
                Severity::Warning,
                format!("member {} is not an .npy array", e.name),
                Some(e.name.clone()),
            ));
            continue;
        }
        let h = header::read(
            &mut |n| zip::read_prefix(src, e, n.min(MAX_HEADER + 12)),
            &what,
        )?;
        npy::check_data(&h, e.uncompressed_size, &what)?;
        let tname = e.name.strip_suffix(".npy").unwrap_or(&e.name).to_string();
        findings.extend(npy::header_size_findings(&h, &e.name));
        if h.dtype.has_object {
            let len = e.uncompressed_size.saturating_sub(h.data_offset);
            let payload = if len <= MAX_OBJECT_PICKLE {
                let all = zip::read_prefix(src, e, h.data_offset + len)?;
                Some(all.get(h.data_offset as usize..).unwrap_or(&[]).to_vec())
            } else {
                None
            };
            findings.extend(object::scan(&tname, payload.as_deref(), &mut globals));
        }
        if members.len() < MAX_MEMBER_METADATA {
            members.push(serde_json::json!({
                "name": tname,
                "member": e.name,
                "compression": e.method_name(),
                "npy_version": h.version_text(),
                "descr": h.descr,
                "fortran_order": h.fortran_order,
            }));
        }
        tensors.push(weight_tensor(tname, h.dtype.name.clone(), h.shape.clone()));
    }
    let compressed = archive
        .entries
        .iter()
        .filter(|e| e.method != zip::METHOD_STORED)
        .count();
    let mut metadata = vec![
        meta(
            "npz.member_count",
            MetaValue::Uint(archive.entries.len() as u64),
        ),
        meta("npz.compressed_members", MetaValue::Uint(compressed as u64)),
        report::json("npz.members", serde_json::Value::Array(members)),
    ];
    if !globals.is_empty() {
        metadata.extend(report::pickle_metadata(&globals));
    }
    Ok(report::build("npz", tensors, metadata, findings))
}
