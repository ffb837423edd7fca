//! Convention plugins: the [`ConventionPlugin`] trait, the [`Files`] view of the model
//! directory (the host's `directory` inside the sandbox, memory or a real directory natively)
//! and helpers to build candidates.

use std::collections::BTreeMap;

pub use crate::conv::exports::modelpack::plugin::convention::{
    ConventionInput, ConventionReport, DirEntry, EntryKind, MissingFile, WeightSummary,
};
use crate::conv::modelpack::plugin::model_directory::Directory;
use crate::conv::modelpack::plugin::source::IoError;
pub use crate::conv::modelpack::plugin::types::{
    FieldCandidate, FileHint, FileKind, Finding, Lineage, LineageKind, Location, Origin,
    PluginInfo, Quantization, Severity, SourceClass,
};

/// Largest file [`Files::read`] returns by default (configs and cards are kilobytes).
pub const MAX_TEXT: u64 = 16 << 20;

/// Read access to the model directory by relative path.
pub trait Files {
    /// Reads a whole file of at most `max` bytes; larger files are an error naming the size.
    fn read(&self, path: &str, max: u64) -> Result<Vec<u8>, String>;
}

/// Reads a file as text (lossy UTF-8) of at most [`MAX_TEXT`] bytes.
pub fn read_text(files: &dyn Files, path: &str) -> Result<String, String> {
    files
        .read(path, MAX_TEXT)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn io(e: IoError) -> String {
    match e {
        IoError::Limit(m) | IoError::NotFound(m) | IoError::Other(m) => m,
        IoError::OutOfRange(n) => format!("read beyond the end ({n} bytes)"),
    }
}

impl Files for Directory {
    fn read(&self, path: &str, max: u64) -> Result<Vec<u8>, String> {
        let blob = self.open(path).map_err(io)?;
        let size = blob.size();
        if size > max {
            return Err(format!("{size} bytes, more than the {max} read"));
        }
        let mut out = Vec::with_capacity(size as usize);
        while (out.len() as u64) < size {
            let want = (size - out.len() as u64).min(crate::source::MAX_READ as u64) as u32;
            let chunk = blob.read(out.len() as u64, want).map_err(io)?;
            if chunk.is_empty() {
                break;
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// Files held in memory, for tests.
#[derive(Default)]
pub struct MemFiles(pub BTreeMap<String, Vec<u8>>);

impl MemFiles {
    /// Files from `(path, contents)` pairs.
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        MemFiles(
            files
                .into_iter()
                .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
                .collect(),
        )
    }
    /// The listing a host would pass for these files.
    pub fn entries(&self) -> Vec<DirEntry> {
        self.0
            .iter()
            .map(|(p, c)| DirEntry {
                path: p.clone(),
                kind: EntryKind::File,
                size: c.len() as u64,
            })
            .collect()
    }
}

impl Files for MemFiles {
    fn read(&self, path: &str, max: u64) -> Result<Vec<u8>, String> {
        let data = self
            .0
            .get(path)
            .ok_or_else(|| format!("{path}: not found"))?;
        if data.len() as u64 > max {
            return Err(format!("{} bytes, more than the {max} read", data.len()));
        }
        Ok(data.clone())
    }
}

/// A real directory, for native tests and tools (not available inside the sandbox).
pub struct DirFiles(pub std::path::PathBuf);

impl DirFiles {
    /// The listing of the directory (recursive, sorted, hidden entries skipped).
    pub fn entries(&self) -> Vec<DirEntry> {
        fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<DirEntry>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let p = e.path();
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                let meta = std::fs::metadata(&p);
                if meta.as_ref().is_ok_and(|m| m.is_dir()) {
                    out.push(DirEntry {
                        path: rel,
                        kind: EntryKind::Dir,
                        size: 0,
                    });
                    walk(root, &p, out);
                } else {
                    out.push(DirEntry {
                        path: rel,
                        kind: EntryKind::File,
                        size: meta.map(|m| m.len()).unwrap_or(0),
                    });
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, &self.0, &mut out);
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }
}

impl Files for DirFiles {
    fn read(&self, path: &str, max: u64) -> Result<Vec<u8>, String> {
        if path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(format!("{path}: outside the model directory"));
        }
        let p = self.0.join(path);
        let size = std::fs::metadata(&p)
            .map_err(|e| format!("{path}: {e}"))?
            .len();
        if size > max {
            return Err(format!("{size} bytes, more than the {max} read"));
        }
        std::fs::read(&p).map_err(|e| format!("{path}: {e}"))
    }
}

/// A plugin that knows one model-directory convention.
pub trait ConventionPlugin {
    /// The plugin description as JSON: `{"name", "version", "description", "file_names"}`;
    /// `file_names` are file names or `*`-globs (lowercase) that make the convention apply:
    /// the host calls `run` when a file of the listing, at any depth, matches one.
    const INFO: &'static str;
    /// Reads the convention's files and answers.
    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String>;
}

/// An empty report.
pub fn empty_report() -> ConventionReport {
    ConventionReport {
        candidates: vec![],
        hints: vec![],
        missing: vec![],
        quantization: None,
        packed_weights: false,
        model_root: None,
        lineage: vec![],
        ignored: vec![],
        findings: vec![],
    }
}

/// Where a value came from: `file` and optional `key`.
pub fn origin(file: &str, key: Option<&str>) -> Origin {
    Origin {
        file: Some(file.to_string()),
        key: key.map(str::to_string),
    }
}

/// Builds a candidate: `field` is a JSON pointer (`/descriptor/name`).
pub fn candidate(
    field: &str,
    value: serde_json::Value,
    source: SourceClass,
    origin: Origin,
    note: Option<String>,
) -> FieldCandidate {
    FieldCandidate {
        field: field.to_string(),
        value: value.to_string(),
        source,
        origin,
        note,
    }
}

/// A warning (shown to the user) or an info (a note of `--explain`), one line.
pub fn message(severity: Severity, id: &str, file: Option<&str>, text: String) -> Finding {
    Finding {
        id: id.to_string(),
        severity,
        message: text,
        location: Location {
            file: file.map(str::to_string),
            field: None,
        },
    }
}

/// Root file names (no `/`) of the listing that are regular files.
pub fn root_files(input: &ConventionInput) -> impl Iterator<Item = &str> {
    input
        .entries
        .iter()
        .filter(|e| !e.path.contains('/') && !matches!(e.kind, EntryKind::Dir))
        .map(|e| e.path.as_str())
}

/// Files of the listing, at any depth, whose base name matches one of `globs`
/// (case-insensitive; `*` matches any run of characters): where a convention's files are,
/// for its file-kind hints. The host calls `run` when such a file is anywhere in the listing.
pub fn files_named<'a>(
    input: &'a ConventionInput,
    globs: &'a [&'a str],
) -> impl Iterator<Item = &'a str> + 'a {
    input
        .entries
        .iter()
        .filter(|e| !matches!(e.kind, EntryKind::Dir))
        .map(|e| e.path.as_str())
        .filter(move |p| {
            let name = p.rsplit('/').next().unwrap_or(p).to_ascii_lowercase();
            globs.iter().any(|g| glob_match(g, &name))
        })
}

/// `*`-glob match of a lowercase pattern against a name, as the host matches `file-names`.
pub fn glob_match(glob: &str, name: &str) -> bool {
    fn go(g: &[u8], n: &[u8]) -> bool {
        match g.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n
                .split_first()
                .is_some_and(|(d, nr)| c == d && go(rest, nr)),
        }
    }
    go(glob.as_bytes(), name.as_bytes())
}

/// The convention plugin description returned by `describe`.
pub fn convention_info(json: &str) -> PluginInfo {
    let i = crate::parse_info(json);
    PluginInfo {
        name: i.name,
        version: i.version,
        kind: crate::conv::modelpack::plugin::types::PluginKind::Convention,
        description: i.description,
        extensions: i.extensions,
        file_names: i.file_names,
        magic: vec![],
        preference: 0,
    }
}

/// Adapts a [`ConventionPlugin`] to the generated WIT trait.
#[doc(hidden)]
pub struct __ConventionAdapter<T>(core::marker::PhantomData<T>);

impl<T: ConventionPlugin> crate::conv::exports::modelpack::plugin::convention::Guest
    for __ConventionAdapter<T>
{
    fn describe() -> PluginInfo {
        convention_info(T::INFO)
    }
    fn run(dir: &Directory, input: ConventionInput) -> Result<ConventionReport, String> {
        T::run(dir, &input)
    }
}
