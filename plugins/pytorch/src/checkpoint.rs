//! `torch.save` zip checkpoints and `torch.jit.save` TorchScript archives.
//!
//! The archive root is the first central-directory entry's top folder, exactly as torch's
//! `PyTorchStreamReader` picks it (`archive/` by default, often the original file stem). The
//! object is `<root>/data.pkl`; storages are `<root>/data/<key>` records whose sizes come from
//! the central directory (never read). TorchScript archives add `<root>/constants.pkl` (storages
//! under `<root>/constants/`) and `<root>/code/` sources.

use modelpack_plugin_sdk::prelude::*;

use crate::checks;
use crate::report::{self, meta, text};
use crate::scan::{self, MAX_PICKLE, Scanned};
use crate::zip::{self, ZipArchive};

/// Reads a small text record (`version`, `byteorder`…) if present.
fn small_text(src: &dyn Source, archive: &ZipArchive, name: &str) -> Result<Option<String>, Error> {
    let Some(e) = archive.find(name) else {
        return Ok(None);
    };
    if e.uncompressed_size > 256 {
        return Ok(None);
    }
    let b = zip::read_all(src, e, 256)?;
    Ok(Some(String::from_utf8_lossy(&b).trim().to_string()))
}

/// Scans the second and later members named `name` for unsafe globals (torch's zip reader may
/// load any of them).
fn scan_other_copies(
    src: &dyn Source,
    archive: &ZipArchive,
    name: &str,
    findings: &mut Vec<Finding>,
) -> Result<(), Error> {
    for (i, e) in archive.find_all(name).enumerate().skip(1) {
        let label = format!("{name}#{}", i + 1);
        let data = zip::read_all(src, e, MAX_PICKLE)?;
        if let Err(err) = scan::scan_bytes(&src.name(), &label, &data, findings) {
            findings.push(finding(
                "malformed-pickle",
                // torch's zip reader may load this copy: unread is not safe.
                Severity::Error,
                scan::message(&err),
                Some(label),
            ));
        }
    }
    Ok(())
}

/// Inspects a zip checkpoint; findings accumulate in `findings` even when it fails.
pub fn inspect(src: &dyn Source, findings: &mut Vec<Finding>) -> Result<ModelReport, Error> {
    let name = src.name();
    let archive = zip::read_archive(src)?;
    let first = archive
        .entries
        .first()
        .ok_or_else(|| Error::Malformed(format!("{name}: zip archive contains no files")))?;
    let root = first.name.split_once('/').map(|(r, _)| r.to_string()).ok_or_else(|| {
        Error::Malformed(format!(
            "{name}: first zip member {:?} is not in a folder; torch.load reads <folder>/data.pkl",
            first.name
        ))
    })?;
    let pkl_name = format!("{root}/data.pkl");
    let pkl = archive.find(&pkl_name).ok_or_else(|| {
        Error::Malformed(format!(
            "{name}: zip archive has no {pkl_name} (not a torch.save checkpoint)"
        ))
    })?;
    for e in archive.entries.iter().filter(|e| e.is_unsafe_path()) {
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
    for dup in archive.duplicate_names() {
        let pickle = dup == pkl_name || dup.ends_with("/constants.pkl");
        findings.push(finding(
            "zip-duplicate-member",
            if pickle { Severity::Error } else { Severity::Warning },
            format!(
                "zip member {dup:?} appears more than once; zip readers disagree on which copy they load{}",
                if pickle { " (every copy was scanned)" } else { "" }
            ),
            Some(dup.to_string()),
        ));
    }
    let code_prefix = format!("{root}/code/");
    let mut code_files: Vec<String> = archive
        .entries
        .iter()
        .filter(|e| e.name.starts_with(&code_prefix) && e.name.ends_with(".py"))
        .map(|e| e.name[root.len() + 1..].to_string())
        .collect();
    code_files.sort();
    let constants_name = format!("{root}/constants.pkl");
    let torchscript = archive.find(&constants_name).is_some() || !code_files.is_empty();

    let data = zip::read_all(src, pkl, MAX_PICKLE)?;
    let main = scan::scan_bytes(&name, &pkl_name, &data, findings)?;
    drop(data);
    scan_other_copies(src, &archive, &pkl_name, findings)?;
    let data_prefix = format!("{root}/data/");
    let record_bytes = |key: &str| {
        archive
            .find(&format!("{data_prefix}{key}"))
            .map(|e| e.uncompressed_size)
    };
    findings.extend(checks::check_tensors(
        &main.walk.tensors,
        Some(&record_bytes),
        &data_prefix,
        &pkl_name,
    ));

    let mut scans: Vec<&Scanned> = vec![&main];
    let constants = match archive.find(&constants_name) {
        Some(e) => {
            let data = zip::read_all(src, e, MAX_PICKLE)?;
            let c = scan::scan_bytes(&name, &constants_name, &data, findings)?;
            scan_other_copies(src, &archive, &constants_name, findings)?;
            let const_prefix = format!("{root}/constants/");
            let record_bytes = |key: &str| {
                archive
                    .find(&format!("{const_prefix}{key}"))
                    .map(|e| e.uncompressed_size)
            };
            findings.extend(checks::check_tensors(
                &c.walk.tensors,
                Some(&record_bytes),
                &const_prefix,
                &constants_name,
            ));
            Some(c)
        }
        None => None,
    };
    if let Some(c) = &constants {
        scans.push(c);
    }

    let mut metadata = vec![
        text(
            "pt.container",
            if torchscript { "torchscript" } else { "zip" },
        ),
        text("pt.archive_root", root.clone()),
    ];
    for (record, key) in [
        ("version", "pt.version"),
        (".data/version", "pt.data_version"),
        ("byteorder", "pt.byteorder"),
        (".format_version", "pt.format_version"),
        (".storage_alignment", "pt.storage_alignment"),
    ] {
        if let Some(v) = small_text(src, &archive, &format!("{root}/{record}"))? {
            metadata.push(text(key, v));
        }
    }
    metadata.push(meta(
        "pt.zip_entry_count",
        MetaValue::Uint(archive.entries.len() as u64),
    ));
    let compressed = archive
        .entries
        .iter()
        .filter(|e| e.method != zip::METHOD_STORED)
        .count();
    metadata.push(meta(
        "pt.zip_compressed_entries",
        MetaValue::Uint(compressed as u64),
    ));
    let records = archive
        .entries
        .iter()
        .filter(|e| e.name.starts_with(&data_prefix))
        .count();
    metadata.push(meta(
        "pt.storage_record_count",
        MetaValue::Uint(records as u64),
    ));
    metadata.extend(report::pickle_metadata(&scans));
    metadata.extend(report::object_metadata(&main));
    if let Some(c) = &constants {
        let params = c.walk.tensors.iter().fold(0u64, |a, t| {
            a.saturating_add(crate::groups::elements(&t.tensor.shape))
        });
        metadata.push(meta(
            "torchscript.constants_tensor_count",
            MetaValue::Uint(c.walk.tensors.len() as u64),
        ));
        metadata.push(meta(
            "torchscript.constants_parameters",
            MetaValue::Uint(params),
        ));
    }
    if torchscript {
        metadata.push(report::string_array("torchscript.code_files", &code_files));
        findings.push(finding(
            "torchscript-code",
            Severity::Warning,
            format!(
                "TorchScript archive with {} source files under {code_prefix}: torch.jit.load compiles and runs them",
                code_files.len()
            ),
            Some(code_prefix.clone()),
        ));
    }

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
