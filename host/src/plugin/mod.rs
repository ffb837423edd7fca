//! Plugins: where they come from, what they claim, and compiling them only when a run needs them.
//!
//! Sources, later ones overriding earlier ones of the same name: the plugins bundled into the
//! binary, `.wasm` files in the user config dir (`<config>/modelpack/plugins`), in each
//! directory of `$MODELPACK_PLUGIN_PATH`, and files named with `--plugin`.

pub mod blob;
pub mod cache;
pub mod convention;
pub mod info;
pub mod runtime;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};

pub use info::{Kind, PluginInfo};
pub use runtime::{CallFailure, Called, Limits, Loaded, Runtime};

/// Environment variable listing plugin directories, `:`-separated.
pub const PLUGIN_PATH_ENV: &str = "MODELPACK_PLUGIN_PATH";

/// Where a plugin came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Compiled into the binary.
    Builtin,
    /// Loaded from a file.
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Builtin => f.write_str("built-in"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One known plugin, compiled on first use.
pub struct Entry {
    /// Static facts from the component.
    pub info: PluginInfo,
    /// Where it came from.
    pub origin: Origin,
    bytes: Wasm,
    loaded: OnceLock<Result<Arc<Loaded>, String>>,
}

/// A plugin's component bytes: a built-in one's stay where they are in the binary (copying
/// all thirty on every run cost more than a whole `generate` of a small model used to).
enum Wasm {
    Builtin(&'static [u8]),
    File(Arc<[u8]>),
}

impl std::ops::Deref for Wasm {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Wasm::Builtin(b) => b,
            Wasm::File(b) => b,
        }
    }
}

/// All plugins of a run, plus the sandbox they run in.
pub struct PluginSet {
    entries: Vec<Entry>,
    /// Plugins found in directories but refused (bad file, incompatible WIT version).
    pub warnings: Vec<String>,
    runtime: Runtime,
}

impl PluginSet {
    /// Discovers the built-in plugins, plugin directories and explicit `--plugin` files.
    /// An explicit file that cannot be used is an error; a bad file in a directory a warning.
    pub fn discover(explicit: &[PathBuf], runtime: Runtime) -> Result<PluginSet> {
        let mut set = PluginSet {
            entries: Vec::new(),
            warnings: Vec::new(),
            runtime,
        };
        for (stem, bytes) in plugin_artifacts::BUNDLED {
            let info = info::read_info(bytes, &format!("built-in plugin {stem}"))?;
            set.add(info, Origin::Builtin, Wasm::Builtin(bytes));
        }
        for dir in plugin_dirs() {
            let Ok(read) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = read
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                .collect();
            files.sort();
            for path in files {
                match read_plugin_file(&path) {
                    Ok((info, bytes)) => set.add(info, Origin::File(path), Wasm::File(bytes)),
                    Err(e) => set.warnings.push(format!("{e:#}")),
                }
            }
        }
        for path in explicit {
            let (info, bytes) = read_plugin_file(path)?;
            set.add(info, Origin::File(path.clone()), Wasm::File(bytes));
        }
        Ok(set)
    }

    fn add(&mut self, info: PluginInfo, origin: Origin, bytes: Wasm) {
        let entry = Entry {
            info,
            origin,
            bytes,
            loaded: OnceLock::new(),
        };
        match self
            .entries
            .iter()
            .position(|e| e.info.name == entry.info.name)
        {
            Some(i) => {
                (self.runtime.log)(&format!(
                    "plugin {} from {} replaces the one from {}",
                    entry.info.name, entry.origin, self.entries[i].origin
                ));
                self.entries[i] = entry;
            }
            None => self.entries.push(entry),
        }
    }

    /// Every plugin, in discovery order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The sandbox runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The plugin with this name.
    pub fn by_name(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.info.name == name)
    }

    /// Compiles (or loads from cache) a plugin the first time it is needed.
    pub fn load(&self, entry: &Entry) -> Result<Arc<Loaded>, String> {
        entry
            .loaded
            .get_or_init(|| {
                self.runtime
                    .load(&entry.bytes, entry.info.clone())
                    .map(Arc::new)
                    .map_err(|e| format!("{e:#}"))
            })
            .clone()
    }

    /// The format plugins that claim a file by extension, name or magic, best guess first.
    pub fn claimants(&self, file_name: &str, head: &[u8]) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.info.kind == Kind::Format && e.info.claims(file_name, head))
            .collect()
    }
}

fn read_plugin_file(path: &Path) -> Result<(PluginInfo, Arc<[u8]>)> {
    let bytes = std::fs::read(path).with_context(|| format!("plugin {}", path.display()))?;
    let info = info::read_info(&bytes, &format!("plugin {}", path.display()))?;
    Ok((info, Arc::from(bytes)))
}

/// Plugin directories, lowest priority first.
pub fn plugin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = dirs::config_dir()
        .map(|d| d.join("modelpack").join("plugins"))
        .into_iter()
        .collect();
    if let Some(paths) = std::env::var_os(PLUGIN_PATH_ENV) {
        dirs.extend(std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs
}
