//! `modelpack convert`: weights in pickle-based and other formats → safetensors, without
//! executing anything.
//!
//! The format plugin reads the file in its sandbox and answers a *copy plan* (WIT
//! `weight-conversion`): output names, dtypes, shapes and where each tensor's bytes lie in the
//! input. The host checks the whole plan against the input files' sizes ([`plan`]), then
//! streams the bytes itself ([`copy`]) into safetensors files ([`safetensors`]) in a staging
//! directory beside the output, renamed into place only when everything was written.
//!
//! Atomic, not durable, by default: an interrupted or failed run leaves no output (the rename
//! is the last step), but the bytes may still be in the page cache when `convert` returns, as
//! after `cp`. Waiting for the disk (fsync) is `--sync` ([`Options::sync`]): on the 1 GiB
//! benchmark (BENCHMARKS.md) it is what separated convert from `cp`, and `pack
//! --convert-pickles`, which reads the staged conversion back at once and then removes it, never
//! needs it. With it, every file written and the staging directory are fsynced before the
//! rename, and the output's parent after it, so a power loss leaves the old state or the
//! complete output.

pub mod copy;
pub mod plan;
pub mod safetensors;
pub mod stage;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::inspect::{self, HEAD_LEN, Target};
use crate::oci::staging;
use crate::plugin::blob::{BlobFile, OpenError};
use crate::plugin::runtime::{ft, wc};
use crate::plugin::{Entry, PluginSet};
use plan::{Checked, InputFile};

/// What the user asked for.
pub struct Options {
    /// Every tensor, not only the model's state dict.
    pub include_all: bool,
    /// Largest data size of one output file before sharding.
    pub max_shard_size: u64,
    /// Hard-link the other files of a converted directory instead of copying them (where the
    /// file system allows): for a staged copy that is only read and then removed.
    pub link_others: bool,
    /// Wait until the output is on disk (fsync every file and directory) before returning.
    pub sync: bool,
}

/// One file written.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WrittenFile {
    /// File name inside the output directory.
    pub name: String,
    /// Tensors it holds (0 for the index).
    pub tensors: usize,
    /// Its size in bytes.
    pub bytes: u64,
}

/// One input file converted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvertedInput {
    /// The input as given.
    pub path: String,
    /// The plugin that planned it (`name@version`).
    pub plugin: String,
    /// Tensors written from it.
    pub tensors: usize,
}

/// Something left out of the output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedObject {
    /// The input it is in.
    pub file: String,
    /// Tensor name, pickle path or class name.
    pub name: String,
    /// Why it is not in the output.
    pub reason: String,
}

/// A file of a converted directory copied as it is because no plugin converts it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotConverted {
    /// Path inside the directory.
    pub path: String,
    /// What the plugin said.
    pub reason: String,
}

/// What `convert` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The output directory.
    pub output: String,
    /// Files written, shards first.
    pub files: Vec<WrittenFile>,
    /// Tensors written.
    pub tensors: usize,
    /// Elements of all tensors written.
    pub parameters: u64,
    /// Bytes of all safetensors files and the index.
    pub bytes: u64,
    /// Input files converted.
    pub inputs: Vec<ConvertedInput>,
    /// Tensors and objects left out.
    pub skipped: Vec<SkippedObject>,
    /// Naming and layout decisions, one line each.
    pub notes: Vec<String>,
    /// Other files of a converted directory, copied alongside.
    pub copied: Vec<String>,
    /// Files of a converted directory copied as they are because no plugin converts them.
    pub not_converted: Vec<NotConverted>,
}

/// A file found under the paths, with the directory it was found in (if any).
struct Found {
    target: Target,
    /// Path relative to the directory it came from, when it came from one.
    relative: Option<PathBuf>,
}

fn collect(paths: &[PathBuf]) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| anyhow!("{}: {e}", p.display()))?;
        let targets = inspect::collect_targets(std::slice::from_ref(p))?;
        for t in targets {
            let relative = meta
                .is_dir()
                .then(|| t.path.strip_prefix(p).map(Path::to_path_buf).ok())
                .flatten();
            out.push(Found {
                target: t,
                relative,
            });
        }
    }
    Ok(out)
}

fn read_head(path: &Path) -> Result<Vec<u8>> {
    let mut head = Vec::with_capacity(4096);
    File::open(path)
        .and_then(|f| f.take(HEAD_LEN as u64).read_to_end(&mut head))
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(head)
}

/// The plugin that claims a file most confidently.
fn choose<'a>(plugins: &'a PluginSet, name: &str, head: &[u8]) -> Result<Option<&'a Entry>> {
    let candidates = plugins.claimants(name, head);
    if candidates.len() <= 1 {
        return Ok(candidates.first().copied());
    }
    let mut best = (candidates[0], -1.0f32);
    for c in candidates {
        let loaded = plugins.load(c).map_err(|e| anyhow!(e))?;
        if let Ok(score) = loaded.detect(plugins.runtime(), name, head)
            && score > best.1
        {
            best = (c, score);
        }
    }
    Ok(Some(best.0))
}

/// The text of a plugin error.
fn error_text(e: &ft::Error) -> &str {
    match e {
        ft::Error::Io(m) | ft::Error::Malformed(m) | ft::Error::Unsupported(m) => m,
        ft::Error::TooLarge(m) => m,
    }
}

/// Plans and checks every input, then writes the output atomically.
pub fn convert(
    plugins: &PluginSet,
    paths: &[PathBuf],
    output: &Path,
    options: &Options,
    verbose: &dyn Fn(&str),
) -> Result<Summary> {
    if std::fs::symlink_metadata(output).is_ok() {
        bail!(
            "{} already exists; convert never overwrites (choose a new output directory)",
            output.display()
        );
    }
    let found = collect(paths)?;
    let wc_options = wc::ConversionOptions {
        target: "safetensors".into(),
        include_all: options.include_all,
    };
    let mut files: Vec<File> = Vec::new();
    let mut displays: Vec<String> = Vec::new();
    let mut tensors: Vec<Checked> = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut metadata: BTreeMap<String, String> = BTreeMap::new();
    let mut summary = Summary {
        output: output.display().to_string(),
        files: vec![],
        tensors: 0,
        parameters: 0,
        bytes: 0,
        inputs: vec![],
        skipped: vec![],
        notes: vec![],
        copied: vec![],
        not_converted: vec![],
    };
    let mut to_copy: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut converted_exts: Vec<String> = Vec::new();
    for f in found {
        let t = &f.target;
        let head = read_head(&t.path)?;
        let chosen = choose(plugins, &t.name, &head)?;
        let Some(entry) = chosen else {
            match &f.relative {
                Some(rel) => {
                    to_copy.push((t.path.clone(), rel.clone()));
                    continue;
                }
                None => bail!("{}: no plugin reads this file", t.display),
            }
        };
        let blob = BlobFile::open(&t.path, Arc::clone(&t.root)).map_err(|e| match e {
            OpenError::Refused(m) | OpenError::Io(m) => anyhow!(m),
        })?;
        // The host copies from its own handle; the plan is checked against this size.
        let file = File::open(&t.path).with_context(|| t.display.clone())?;
        let size = file.metadata().with_context(|| t.display.clone())?.len();
        if size != blob.size() {
            bail!("{}: file changed while it was being read", t.display);
        }
        let loaded = plugins
            .load(entry)
            .map_err(|e| anyhow!("{}: {e}", t.display))?;
        let called = loaded
            .plan_conversion(plugins.runtime(), vec![blob], &wc_options)
            .map_err(|e| anyhow!("{}: {}", t.display, e.message))?;
        if !called.output.is_empty() {
            verbose(&format!(
                "{} [{} output]: {}",
                t.display,
                entry.info.name,
                called.output.trim_end()
            ));
        }
        let plan = match called.value {
            Ok(p) => p,
            Err(ft::Error::Unsupported(m)) if f.relative.is_some() => {
                let rel = f.relative.clone().unwrap_or_default();
                summary.not_converted.push(NotConverted {
                    path: rel.display().to_string(),
                    reason: m,
                });
                to_copy.push((t.path.clone(), rel));
                continue;
            }
            Err(e) => bail!("{}: {}", t.display, error_text(&e)),
        };
        let index = files.len();
        let inputs = [InputFile {
            display: &t.display,
            size,
            index,
        }];
        let checked = plan::check(&plan.tensors, &inputs).map_err(|e| {
            anyhow!(
                "{}: plugin {} returned a copy plan the host refuses: {e}",
                t.display,
                entry.info.name
            )
        })?;
        for c in &checked {
            if let Some(other) = names.insert(c.name.clone(), t.display.clone()) {
                bail!(
                    "tensor {:?} is in both {other} and {}; convert them separately",
                    c.name,
                    t.display
                );
            }
        }
        for (k, v) in plan.metadata {
            metadata.entry(k).or_insert(v);
        }
        for s in plan.skipped {
            summary.skipped.push(SkippedObject {
                file: t.display.clone(),
                name: s.name,
                reason: s.reason,
            });
        }
        for n in plan.notes {
            summary.notes.push(format!("{}: {n}", t.display));
        }
        summary.inputs.push(ConvertedInput {
            path: t.display.clone(),
            plugin: format!("{}@{}", entry.info.name, entry.info.version),
            tensors: checked.len(),
        });
        if let Some(ext) = t.name.rsplit_once('.').map(|(_, e)| e.to_string()) {
            converted_exts.push(ext);
        }
        files.push(file);
        displays.push(t.display.clone());
        tensors.extend(checked);
    }
    if summary.inputs.is_empty() {
        bail!("no convertible weight files found in the given paths");
    }
    if tensors.is_empty() {
        let why = summary
            .skipped
            .first()
            .map(|s| {
                format!(
                    " ({} skipped, e.g. {}: {})",
                    summary.skipped.len(),
                    s.name,
                    s.reason
                )
            })
            .unwrap_or_default();
        bail!("no tensors to write{why}");
    }
    if !metadata.contains_key("format") {
        metadata.insert("format".into(), "pt".into());
    }

    let shards = safetensors::shards(&tensors, options.max_shard_size);
    let mut outputs: Vec<String> = (0..shards.len())
        .map(|i| safetensors::shard_name(i, shards.len()))
        .collect();
    if shards.len() > 1 {
        outputs.push("model.safetensors.index.json".into());
    }
    // A pickle shard index (`pytorch_model.bin.index.json`) points at files not written.
    to_copy.retain(|(_, rel)| {
        let n = rel.to_string_lossy();
        let replaced = n.strip_suffix(".index.json").is_some_and(|stem| {
            converted_exts
                .iter()
                .any(|e| stem.ends_with(&format!(".{e}")))
        });
        if replaced {
            summary.skipped.push(SkippedObject {
                file: n.to_string(),
                name: n.to_string(),
                reason: "shard index of the converted files (replaced)".into(),
            });
        }
        !replaced
    });
    for (_, rel) in &to_copy {
        let n = rel.to_string_lossy();
        if outputs.iter().any(|o| *o == n) {
            bail!(
                "{n} in the input directory has the name of a file convert writes; move it away or convert the weight files alone"
            );
        }
    }

    let mut stage = staging::beside(output, "convert")?;
    for (i, shard) in shards.iter().enumerate() {
        let name = &outputs[i];
        let bytes = safetensors::write_file(
            &stage.path().join(name),
            shard.clone(),
            &metadata,
            &files,
            &displays,
            options.sync,
        )?;
        summary.files.push(WrittenFile {
            name: name.clone(),
            tensors: shard.len(),
            bytes,
        });
        summary.bytes += bytes;
    }
    if shards.len() > 1 {
        let text = safetensors::index_json(&shards);
        let path = stage.path().join("model.safetensors.index.json");
        std::fs::write(&path, &text)
            .and_then(|()| fsync_if(options.sync, &path))
            .context("writing model.safetensors.index.json")?;
        summary.files.push(WrittenFile {
            name: "model.safetensors.index.json".into(),
            tensors: 0,
            bytes: text.len() as u64,
        });
        summary.bytes += text.len() as u64;
    }
    for (src, rel) in &to_copy {
        let dst = stage.path().join(rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let linked = options.link_others && std::fs::hard_link(src, &dst).is_ok();
        if !linked {
            std::fs::copy(src, &dst)
                .and_then(|_| fsync_if(options.sync, &dst))
                .with_context(|| format!("copying {}", src.display()))?;
        }
        summary.copied.push(rel.display().to_string());
    }
    summary.tensors = tensors.len();
    summary.parameters = tensors
        .iter()
        .map(|t| t.shape.iter().product::<u64>())
        .sum();
    if options.sync {
        // Subdirectories of copied files first, then the staging directory itself.
        let mut dirs: Vec<PathBuf> = to_copy
            .iter()
            .filter_map(|(_, rel)| rel.parent().map(|p| stage.path().join(p)))
            .collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs.iter().rev().chain([&stage.path().to_path_buf()]) {
            fsync_if(true, d).with_context(|| format!("writing {}", d.display()))?;
        }
    }
    stage
        .commit(output)
        .with_context(|| format!("renaming the converted files to {}", output.display()))?;
    if options.sync {
        let parent = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fsync_if(true, parent).with_context(|| format!("writing {}", parent.display()))?;
    }
    Ok(summary)
}

/// fsyncs a written file or directory when `sync` is asked for.
fn fsync_if(sync: bool, path: &Path) -> std::io::Result<()> {
    if sync {
        File::open(path)?.sync_all()?;
    }
    Ok(())
}
