//! `pack --convert-pickles` and `generate --convert-pickles`: the model directory as it would be
//! after `modelpack convert`, built in a staging directory that the packing then reads.
//!
//! The user's directory is only read: the weights are converted into a locked staging
//! directory beside the output (removed on success, failure and interrupt alike), and every
//! other file is hard-linked there when the file system allows (copied otherwise), so
//! `generate` and `pack` see an ordinary model directory whose weights are safetensors. The
//! staged directory keeps the source's name, so descriptor facts taken from it stay the same.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::{Options, Summary, convert};
use crate::oci::staging::{self, Staging};
use crate::plugin::PluginSet;

/// A converted copy of a model directory; dropping it removes it.
pub struct Converted {
    /// The converted model directory (inside the staging directory).
    pub dir: PathBuf,
    /// What the conversion did.
    pub summary: Summary,
    _staging: Staging,
}

/// Converts `source` (a model directory or one weight file) into a staging directory beside
/// `anchor` (the command's output), refusing an anchor inside `source`.
pub fn converted_copy(
    plugins: &PluginSet,
    source: &Path,
    anchor: &Path,
    verbose: &dyn Fn(&str),
) -> Result<Converted> {
    let src = std::path::absolute(source)?;
    let at = std::path::absolute(anchor)?;
    if at.starts_with(&src) && src.is_dir() {
        bail!(
            "--convert-pickles: the output {} is inside {}; write it elsewhere",
            anchor.display(),
            source.display()
        );
    }
    let stage = staging::beside(&at, "convert")?;
    let name = src
        .file_stem()
        .filter(|_| !src.is_dir())
        .or_else(|| src.file_name())
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "model".into());
    let dir = stage.path().join(name);
    let options = Options {
        include_all: false,
        max_shard_size: 5_000_000_000,
        link_others: true,
        // Read back at once and removed: durability would only cost time.
        sync: false,
    };
    let summary = convert(
        plugins,
        std::slice::from_ref(&source.to_path_buf()),
        &dir,
        &options,
        verbose,
    )?;
    Ok(Converted {
        dir,
        summary,
        _staging: stage,
    })
}

/// One line per fact of a conversion made for packing (stderr of `pack` and `generate`).
pub fn report(s: &Summary) -> Vec<String> {
    let mut out = vec![format!(
        "converted {} to safetensors: {} tensors, {} parameters ({} skipped objects)",
        s.inputs
            .iter()
            .map(|i| i.path.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        s.tensors,
        s.parameters,
        s.skipped.len()
    )];
    out.extend(s.notes.iter().map(|n| format!("note: {n}")));
    out
}
