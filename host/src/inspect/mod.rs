//! `modelpack inspect`: route each file to the plugin that claims it and collect the reports.
//!
//! Routing: the plugins claiming a file by extension, file name or magic are the candidates;
//! with one candidate it is used directly, with several each one's `detect` decides. Files no
//! plugin claims are reported as unrecognised, not as errors.

pub mod artifact;
pub mod report;
pub mod text;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};

use crate::plugin::PluginSet;
use crate::plugin::blob::{BlobFile, OpenError};
pub use report::{FileReport, InspectOutput, ModelSummary, Status};

/// The reports taken together as one model (the same aggregation `generate` and `check`
/// use); `None` when no file was read. A count that overflows is an error.
pub fn model_summary(files: &[FileReport]) -> Result<Option<ModelSummary>> {
    let read: Vec<(String, &FileReport)> = files
        .iter()
        .filter(|f| f.status == Status::Ok)
        .map(|f| (f.path.clone(), f))
        .collect();
    if read.is_empty() {
        return Ok(None);
    }
    let facts = crate::generate::weights::aggregate(&read, None)?;
    Ok(Some(ModelSummary {
        format: facts.format,
        weight_parameters: facts.params,
        copies: facts.copies,
    }))
}

/// How much of a file `detect` sees.
pub const HEAD_LEN: usize = 64 << 10;

/// A file to inspect and the directory its plugin may read around it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The file.
    pub path: PathBuf,
    /// Path as shown to the user.
    pub display: String,
    /// File name used to route the file to a plugin (a layout blob is routed by its filepath).
    pub name: String,
    /// Confinement root for `open-related`.
    pub root: Arc<PathBuf>,
}

/// Names skipped when walking a directory: VCS metadata, caches, hidden files.
pub fn skipped_name(name: &str) -> bool {
    name.starts_with('.') || name == "__pycache__" || name == "node_modules"
}

/// Expands files and directories (recursively, sorted, hidden entries skipped) into targets.
pub fn collect_targets(paths: &[PathBuf]) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            let root = Arc::new(p.canonicalize()?);
            let mut visited = HashSet::from([dir_key(&meta, p)]);
            walk(p, &root, &mut visited, &mut out)?;
        } else {
            let parent = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            out.push(Target {
                path: p.clone(),
                display: p.display().to_string(),
                name: file_name(p),
                root: Arc::new(parent.canonicalize()?),
            });
        }
    }
    Ok(out)
}

/// Identity of a directory: (device, inode) where there are inodes.
type DirKey = (u64, u64, Option<PathBuf>);

#[cfg(unix)]
fn dir_key(meta: &std::fs::Metadata, _path: &Path) -> DirKey {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino(), None)
}

#[cfg(not(unix))]
fn dir_key(_meta: &std::fs::Metadata, path: &Path) -> DirKey {
    (0, 0, path.canonicalize().ok())
}

/// Walks `dir`, following symlinks to directories but entering each directory once (`visited`
/// holds their identities), so links to `.` or a parent cannot make the walk loop or explode.
fn walk(
    dir: &Path,
    root: &Arc<PathBuf>,
    visited: &mut HashSet<DirKey>,
    out: &mut Vec<Target>,
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if skipped_name(&name) {
            continue;
        }
        let path = e.path();
        let meta = std::fs::metadata(&path);
        match meta {
            Ok(m) if m.is_dir() => {
                if visited.insert(dir_key(&m, &path)) {
                    walk(&path, root, visited, out)?;
                }
            }
            _ => out.push(Target {
                display: path.display().to_string(),
                name: name.clone(),
                path,
                root: root.clone(),
            }),
        }
    }
    Ok(())
}

/// The refusal of a path that is not valid UTF-8 (shown with `\xNN` escapes): ModelPack
/// records paths as UTF-8 strings, so such a file could only be stored under another name.
pub fn non_utf8(path: &Path) -> String {
    format!(
        "{:?}: file name is not valid UTF-8; modelpack records paths as UTF-8, rename the file",
        path.as_os_str()
    )
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Inspects one file; failures are recorded in the report, never returned.
pub fn inspect_one(plugins: &PluginSet, target: &Target, verbose: &dyn Fn(&str)) -> FileReport {
    let report = FileReport {
        path: target.display.clone(),
        ..FileReport::default()
    };
    let fail = |mut r: FileReport, msg: String| {
        r.status = Status::Error;
        r.error = Some(msg);
        r
    };
    if target.path.to_str().is_none() {
        return fail(report, non_utf8(&target.path));
    }
    let blob = match BlobFile::open(&target.path, target.root.clone()) {
        Ok(b) => b,
        Err(OpenError::Refused(m) | OpenError::Io(m)) => return fail(report, m),
    };
    inspect_blob(plugins, &target.display, &target.name, blob, verbose)
}

/// Inspects one opened blob (a local file, or a layer read from a registry) as the file
/// `display` named `name`; failures are recorded in the report, never returned.
pub fn inspect_blob(
    plugins: &PluginSet,
    display: &str,
    name: &str,
    blob: BlobFile,
    verbose: &dyn Fn(&str),
) -> FileReport {
    let mut report = FileReport {
        path: display.to_string(),
        ..FileReport::default()
    };
    let fail = |mut r: FileReport, msg: String| {
        r.status = Status::Error;
        r.error = Some(msg);
        r
    };
    let target = Target {
        path: PathBuf::new(),
        display: display.to_string(),
        name: name.to_string(),
        root: Arc::new(PathBuf::new()),
    };
    report.size = blob.size();
    // From the file already opened (and checked to be regular), not the path again.
    let head = match blob.read(0, HEAD_LEN as u32) {
        Ok(h) => h,
        Err(e) => return fail(report, format!("{}: {e}", target.display)),
    };
    let name = &target.name;
    let candidates = plugins.claimants(name, &head);
    let chosen = match candidates.len() {
        0 => {
            report.status = Status::Unrecognised;
            return report;
        }
        1 => candidates[0],
        _ => {
            let mut best = (candidates[0], -1.0f32);
            for c in &candidates {
                let loaded = match plugins.load(c) {
                    Ok(l) => l,
                    Err(e) => return fail(report, e),
                };
                match loaded.detect(plugins.runtime(), name, &head) {
                    Ok(score) if score > best.1 => best = (c, score),
                    Ok(_) => {}
                    Err(e) => verbose(&format!("{}: detect failed: {e}", target.display)),
                }
            }
            best.0
        }
    };
    report.plugin = Some(format!("{}@{}", chosen.info.name, chosen.info.version));
    report.preference = chosen.info.preference;
    let loaded = match plugins.load(chosen) {
        Ok(l) => l,
        Err(e) => return fail(report, e),
    };
    match loaded.inspect(plugins.runtime(), vec![blob]) {
        Ok(called) => {
            if !called.output.is_empty() {
                verbose(&format!(
                    "{} [{} output]: {}",
                    target.display,
                    chosen.info.name,
                    called.output.trim_end()
                ));
            }
            match called.value {
                Ok(r) => {
                    report.absorb(r);
                    report
                }
                Err(e) => fail(
                    report,
                    format!("{}: {}", target.display, report::format_error(&e)),
                ),
            }
        }
        Err(failure) => {
            if !failure.output.is_empty() {
                verbose(&format!(
                    "{} [{} output]: {}",
                    target.display,
                    chosen.info.name,
                    failure.output.trim_end()
                ));
            }
            fail(report, format!("{}: {}", target.display, failure.message))
        }
    }
}

/// Inspects every target, on all cores; reports come back in target order.
pub fn inspect_all(
    plugins: &PluginSet,
    targets: &[Target],
    verbose: &(dyn Fn(&str) + Sync),
) -> Vec<FileReport> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(targets.len().max(1));
    if workers <= 1 {
        return targets
            .iter()
            .map(|t| inspect_one(plugins, t, verbose))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<FileReport>> = vec![None; targets.len()];
    let results = std::sync::Mutex::new(&mut slots);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(t) = targets.get(i) else { break };
                    let r = inspect_one(plugins, t, verbose);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
                }
            });
        }
    });
    slots.into_iter().flatten().collect()
}

/// Checks that every path exists before any work starts (a typo is a usage error, exit 2).
pub fn check_paths(paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        if std::fs::metadata(p).is_err() {
            bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(())
}
