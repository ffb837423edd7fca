//! Runs one pickle of a checkpoint end to end: the opcode machine, the safety findings and the
//! tensor walk.

use modelpack_plugin_sdk::prelude::*;

use crate::groups;
use crate::pickle::{
    self, Failure, GlobalUse, Node, PickleError, Scan, StorageRef, Walk, WalkLimits,
};
use crate::safety;

/// Largest pickle read into memory (data.pkl of the biggest checkpoints is a few MiB).
pub const MAX_PICKLE: u64 = 64 << 20;

/// What is kept of a pickle that was read to its STOP (the object graph itself is dropped as
/// soon as the tensors are listed: it is the bulk of the memory).
#[derive(Debug, Clone)]
pub struct Scanned {
    /// Where it came from (zip member path or `pickle@offset`).
    pub label: String,
    /// The PROTO argument.
    pub protocol: Option<u8>,
    /// Distinct globals named.
    pub globals: Vec<GlobalUse>,
    /// Offset just past STOP.
    pub end: usize,
    /// Tensors reachable from the result.
    pub walk: Walk,
    /// True when the result is a training checkpoint (see [`groups`]).
    pub training_checkpoint: bool,
    /// Every storage a persistent id declared, reachable or not.
    pub storages: Vec<StorageRef>,
}

/// Converts a pickle error to a plugin error with context.
pub fn error(src: &str, label: &str, e: &PickleError) -> Error {
    match e {
        PickleError::TooLarge(m) => Error::TooLarge(format!("{src}: {label}: {m}")),
        PickleError::Truncated(m) | PickleError::Malformed(m) => {
            Error::Malformed(format!("{src}: {label}: {m}"))
        }
    }
}

/// The text of a plugin error, without its variant name.
pub fn message(e: &Error) -> String {
    match e {
        Error::Io(m) | Error::Malformed(m) | Error::Unsupported(m) | Error::TooLarge(m) => {
            m.clone()
        }
    }
}

/// Runs a pickle held in memory.
pub fn scan_bytes(
    src: &str,
    label: &str,
    data: &[u8],
    findings: &mut Vec<Finding>,
) -> Result<Scanned, Error> {
    finish(
        src,
        label,
        pickle::run(data, pickle::Limits::default()),
        findings,
    )
}

/// Adds the findings of a machine run and walks its result. On failure the globals and calls
/// seen before the bad byte are still reported.
pub fn finish(
    src: &str,
    label: &str,
    result: Result<Scan, Box<Failure>>,
    findings: &mut Vec<Finding>,
) -> Result<Scanned, Error> {
    let scan = match result {
        Ok(scan) => scan,
        Err(f) => {
            findings.extend(safety::findings(
                &f.partial.globals,
                &f.partial.calls,
                label,
            ));
            return Err(error(src, label, &f.error));
        }
    };
    findings.extend(safety::findings(&scan.globals, &scan.calls, label));
    if let Some(first) = scan.notes.first() {
        findings.push(finding(
            "unrecognised-pickle-content",
            Severity::Warning,
            format!(
                "{label}: {first}{}",
                if scan.notes.len() > 1 {
                    format!(" (and {} more)", scan.notes.len() - 1)
                } else {
                    String::new()
                }
            ),
            Some(label.to_string()),
        ));
    }
    let root = scan.value.clone().unwrap_or(pickle::Value::None);
    let walk = pickle::collect(&scan.arena, &root, WalkLimits::default())
        .map_err(|m| Error::TooLarge(format!("{src}: {label}: {m}")))?;
    if walk.too_deep {
        findings.push(finding(
            "pickle-too-deep",
            Severity::Warning,
            format!(
                "{label}: containers nested deeper than {} levels were not searched for tensors",
                WalkLimits::default().max_depth
            ),
            Some(label.to_string()),
        ));
    }
    let training_checkpoint = groups::is_training_checkpoint(&scan.arena, &root);
    let storages = scan
        .arena
        .iter()
        .filter_map(|n| match n {
            Node::Storage(st) => Some((**st).clone()),
            _ => None,
        })
        .collect();
    Ok(Scanned {
        label: label.to_string(),
        protocol: scan.protocol,
        globals: scan.globals,
        end: scan.end,
        walk,
        training_checkpoint,
        storages,
    })
}
