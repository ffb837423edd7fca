//! The `pytorch` format plugin: lists the tensors of PyTorch checkpoints and reports unsafe
//! pickle content, without ever executing the pickle.
//!
//! Handles `torch.save` zip checkpoints (any archive root), TorchScript archives, legacy
//! (pre-1.6) pickle streams and plain pickles. The pickle reader, allowlist and zip reader live
//! in the `pickle-scan` crate (shared with the numpy plugin) and are re-exported here.
//!
//! Report conventions:
//! * `format` is `pt`; tensors are in pickle order, named by their dotted path
//!   (`model.layer1.weight`, `optimizer.state.0.exp_avg`), dtypes in safetensors spelling
//!   (`F32`, `BF16`, `I64`…).
//! * groups: see [`groups`] (state dict → `weights`/`buffers`; training checkpoint → one group
//!   per top-level key with role by key).
//! * metadata: `pt.container` (`zip`, `torchscript`, `legacy`, `pickle`), `pt.archive_root`,
//!   `pt.version`, `pt.byteorder`, `pt.format_version`, `pt.storage_alignment`,
//!   `pt.zip_entry_count`, `pt.zip_compressed_entries`, `pt.storage_record_count`,
//!   `pt.top_level_keys`, `pt.parameters_by_top_level_key` (JSON), `pt.distinct_storages`,
//!   `pickle.protocol`, `pickle.globals` (JSON list), `pickle.non_allowlisted_globals` (JSON
//!   list), `pickle.torchscript_classes`, `torchscript.constants_tensor_count`,
//!   `torchscript.constants_parameters`, `torchscript.code_files`, `pt.legacy.*`.
//! * findings: `unsafe-pickle-global`, `unsafe-pickle-call` (see [`safety`]),
//!   `missing-storage`, `storage-size-mismatch`, `tensor-out-of-bounds` (see `checks`),
//!   `torchscript-code`, `zip-path-traversal`, `unrecognised-pickle-content`,
//!   `pickle-too-deep`, `trailing-bytes`, `unknown-storage-type`, `zip-duplicate-member`,
//!   `malformed-pickle` (a duplicate copy of data.pkl that does not parse), and
//!   `malformed-checkpoint` when a file that already showed unsafe globals could not be read to
//!   the end (the report is kept so the unsafe globals are not hidden behind a parse error).

mod checkpoint;
mod checks;
pub mod convert;
mod groups;
mod legacy;
pub mod meaning;
mod report;
mod scan;

pub use pickle_scan::{allowlist, dtype, pickle, safety, zip};

use modelpack_plugin_sdk::prelude::*;

/// Extensions claimed (`.pth.tar` checkpoints end in `tar`; detect() rejects real tarballs).
const EXTENSIONS: &[&str] = &["pt", "pth", "bin", "ckpt", "jit", "pkl", "pickle", "tar"];

/// The plugin description.
pub const INFO: &str = r#"{"name":"pytorch","version":"0.2.0","preference":10,"description":"PyTorch checkpoints (torch.save zip, TorchScript, legacy pickle) listed without unpickling; flags unsafe pickle globals","extensions":["pt","pth","bin","ckpt","jit","pkl","pickle","tar"],"file_names":[],"magic":[{"offset":0,"hex":"80028a0a6cfc9c46f9206aa850192e"},{"offset":0,"hex":"504b0304"}]}"#;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// How sure we are that `name`/`head` is a PyTorch checkpoint.
pub fn detect(name: &str, head: &[u8]) -> f32 {
    let lower = name.to_ascii_lowercase();
    let ext = EXTENSIONS
        .iter()
        .any(|e| lower.rsplit('.').next() == Some(e));
    if zip::looks_like_zip(head) {
        let torch_member = [
            &b"data.pkl"[..],
            b"constants.pkl",
            b"/data/0",
            b"/.data/",
            b"/code/__torch__",
        ]
        .iter()
        .any(|n| contains(head, n));
        return if torch_member {
            1.0
        } else if contains(head, b".npy") {
            0.05
        } else if ext {
            0.5
        } else {
            0.1
        };
    }
    if legacy::has_magic(head) {
        return 1.0;
    }
    if head.starts_with(b"version https://git-lfs") {
        return if ext { 0.5 } else { 0.0 };
    }
    match head {
        [0x80, p, ..] if (2..=5).contains(p) => {
            if ext {
                0.9
            } else {
                0.6
            }
        }
        // Protocol 0/1 pickles start with MARK, an empty container or GLOBAL.
        [b'(' | b']' | b'}' | b'c', ..] if ext => 0.5,
        _ => 0.0,
    }
}

fn inspect_one(src: &dyn Source) -> Result<ModelReport, Error> {
    if let Some(r) = lfs_pointer_report(src, report::FORMAT)? {
        return Ok(r);
    }
    let head = read_at(src, 0, 512)?;
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Err(Error::Unsupported(format!(
            "{}: tar archive (the pre-1.0 torch tar format is not supported)",
            src.name()
        )));
    }
    let mut findings = Vec::new();
    let result = if zip::looks_like_zip(&head) {
        checkpoint::inspect(src, &mut findings)
    } else {
        legacy::inspect(src, &mut findings)
    };
    match result {
        Err(e) if safety::has_unsafe(&findings) => {
            // Do not let a parse error hide what was already found to be dangerous.
            let msg = scan::message(&e);
            findings.push(finding("malformed-checkpoint", Severity::Error, msg, None));
            Ok(report::findings_only(
                vec![report::text("pt.container", "unreadable")],
                findings,
            ))
        }
        other => other,
    }
}

/// Element counts are summed with saturating arithmetic, so `u64::MAX` means the headers claim
/// more elements than u64 holds (hostile or corrupt): an error, never a number that a later sum
/// could wrap around to a small one.
fn no_overflow(inputs: &[&dyn Source], r: ModelReport) -> Result<ModelReport, Error> {
    if r.parameter_count == u64::MAX || r.groups.iter().any(|g| g.parameter_count == u64::MAX) {
        let name = inputs.first().map(|s| s.name()).unwrap_or_default();
        return Err(Error::Malformed(format!(
            "{name}: the parameter count overflows u64: the headers claim more than {} elements",
            u64::MAX
        )));
    }
    Ok(r)
}

/// Inspects the named file (and any shards grouped with it), header-only.
pub fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let mut report = no_overflow(inputs, inspect_shards(inputs)?)?;
    meaning::apply(&mut report);
    Ok(report)
}

fn inspect_shards(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
    let first = inputs
        .first()
        .ok_or_else(|| Error::Io("no input files".into()))?;
    let mut report = inspect_one(*first)?;
    for shard in &inputs[1..] {
        let r = inspect_one(*shard)?;
        let file = shard.name();
        report.tensors.extend(r.tensors);
        report.parameter_count = report.parameter_count.saturating_add(r.parameter_count);
        for g in r.groups {
            match report
                .groups
                .iter_mut()
                .find(|x| x.name == g.name && x.role == g.role)
            {
                Some(x) => {
                    x.tensor_count += g.tensor_count;
                    x.parameter_count = x.parameter_count.saturating_add(g.parameter_count);
                }
                None => report.groups.push(g),
            }
        }
        report.findings.extend(r.findings.into_iter().map(|mut f| {
            f.location.file.get_or_insert_with(|| file.clone());
            f
        }));
        report.covers.push(file);
    }
    Ok(report)
}

/// The wasm adapter.
pub struct Plugin;

impl FormatPlugin for Plugin {
    const INFO: &'static str = INFO;
    fn detect(name: &str, head: &[u8]) -> f32 {
        detect(name, head)
    }
    fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        inspect(inputs)
    }
    fn plan_conversion(
        inputs: &[&dyn Source],
        options: &ConversionOptions,
    ) -> Result<CopyPlan, Error> {
        convert::plan(inputs, options)
    }
}

modelpack_plugin_sdk::export_format_plugin!(Plugin);
