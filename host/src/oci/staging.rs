//! Outputs are built in a temporary directory beside their target and renamed into place, so a
//! failed run never leaves a half-written layout or tree.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Refuses an `output` that exists and is anything but an empty directory.
pub fn require_absent_or_empty(output: &Path) -> Result<()> {
    match std::fs::symlink_metadata(output) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{}", output.display())),
        Ok(m) if m.is_dir() && std::fs::read_dir(output)?.next().is_none() => Ok(()),
        Ok(_) => bail!("{} exists and is not an empty directory", output.display()),
    }
}

/// A fresh hidden temporary directory in `output`'s parent (created if needed), named
/// `.modelpack-<what>-…`; dropped (and removed) unless renamed into place.
pub fn beside(output: &Path, what: &str) -> Result<tempfile::TempDir> {
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(&format!(".modelpack-{what}-"))
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))
}
