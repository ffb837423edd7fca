//! `modelpack pack`: a model directory into an OCI image layout.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::{Global, OutputFormat};
use crate::model::{LayerFormat, LayerKind, PlannedFile};
use crate::oci::blob::{LinkMode, Placed};
use crate::oci::pack::{PackOptions, PackOutcome, pack};
use crate::plugin::PluginSet;
use crate::units::human_bytes;

/// `pack` arguments.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The model directory.
    pub dir: PathBuf,
    /// The OCI image layout to write: created, or added to when it already is a layout.
    #[arg(long, short, value_name = "LAYOUT")]
    pub output: PathBuf,
    /// Tag of the manifest in the layout (replaces a manifest with the same tag).
    #[arg(long, default_value = "latest")]
    pub tag: String,
    /// Encoding of the non-weight files: one raw layer each, or one tar layer per kind.
    /// Weight files are always one raw layer each.
    #[arg(long, value_enum, default_value_t = LayerFormatArg::Raw)]
    pub layer_format: LayerFormatArg,
    /// How raw files get into blobs/: auto = hard link, else reflink, else copy.
    #[arg(long, value_enum, default_value_t = LinkArg::Auto)]
    pub link: LinkArg,
    /// Worker threads (default: one per core).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `--layer-format` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LayerFormatArg {
    /// One raw layer per file.
    Raw,
    /// One uncompressed tar layer per kind.
    Tar,
    /// One gzip-compressed tar layer per kind.
    #[value(name = "tar+gzip")]
    TarGzip,
    /// One zstd-compressed tar layer per kind.
    #[value(name = "tar+zstd")]
    TarZstd,
}

impl From<LayerFormatArg> for LayerFormat {
    fn from(a: LayerFormatArg) -> LayerFormat {
        match a {
            LayerFormatArg::Raw => LayerFormat::Raw,
            LayerFormatArg::Tar => LayerFormat::Tar,
            LayerFormatArg::TarGzip => LayerFormat::TarGzip,
            LayerFormatArg::TarZstd => LayerFormat::TarZstd,
        }
    }
}

/// `--link` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LinkArg {
    /// Hard link, else reflink, else copy.
    Auto,
    /// Hard link or fail.
    Hardlink,
    /// Reflink or fail.
    Reflink,
    /// Always copy.
    Copy,
}

impl From<LinkArg> for LinkMode {
    fn from(a: LinkArg) -> LinkMode {
        match a {
            LinkArg::Auto => LinkMode::Auto,
            LinkArg::Hardlink => LinkMode::Hardlink,
            LinkArg::Reflink => LinkMode::Reflink,
            LinkArg::Copy => LinkMode::Copy,
        }
    }
}

/// Packs the directory and prints a summary.
pub fn run(global: &Global, args: &PackArgs) -> Result<ExitCode> {
    if !args.dir.is_dir() {
        bail!("{}: not a directory", args.dir.display());
    }
    if args.jobs == Some(0) {
        bail!("--jobs must be at least 1");
    }
    let plugins = global.plugins()?;
    let (files, config) = standin_classify(&args.dir, &args.output, &plugins)?;
    let mut opts = PackOptions::new(&args.output)?;
    opts.tag = args.tag.clone();
    opts.layer_format = args.layer_format.into();
    opts.link = args.link.into();
    opts.progress = true;
    if let Some(j) = args.jobs {
        opts.jobs = j;
    }
    let outcome = pack(&files, config, &opts)?;
    let log = global.logger();
    let count = |p: Placed| {
        outcome
            .layers
            .iter()
            .filter(|l| l.placed == Some(p))
            .count()
    };
    log(&format!(
        "raw blobs: {} hard-linked, {} reflinked, {} copied",
        count(Placed::Hardlinked),
        count(Placed::Reflinked),
        count(Placed::Copied)
    ));
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&summary(&outcome))?),
        OutputFormat::Text => print_text(&outcome),
    }
    Ok(ExitCode::SUCCESS)
}

fn summary(o: &PackOutcome) -> Value {
    json!({
        "layout": o.layout.display().to_string(),
        "tag": o.tag,
        "manifest": {"digest": o.manifest.digest, "size": o.manifest.size},
        "config": {"digest": o.config.digest, "size": o.config.size},
        "layers": o.layers.iter().map(|l| json!({
            "mediaType": l.descriptor.media_type,
            "digest": l.descriptor.digest,
            "size": l.descriptor.size,
            "diffId": l.diff_id,
            "filepath": l.descriptor.annotations.get(crate::model::ANNOTATION_FILEPATH),
        })).collect::<Vec<_>>(),
        "appended": o.appended,
        "replaced": o.replaced,
    })
}

fn print_text(o: &PackOutcome) {
    let total: u64 = o.layers.iter().map(|l| l.descriptor.size).sum();
    println!(
        "{} {}:{}",
        if o.appended { "added to" } else { "wrote" },
        o.layout.display(),
        o.tag
    );
    println!(
        "  manifest {} ({} bytes)",
        o.manifest.digest, o.manifest.size
    );
    println!("  config   {} ({} bytes)", o.config.digest, o.config.size);
    println!("  {} layers, {}", o.layers.len(), human_bytes(total));
    for l in &o.layers {
        let path = l
            .descriptor
            .annotations
            .get(crate::model::ANNOTATION_FILEPATH)
            .map_or("", String::as_str);
        let mt = l
            .descriptor
            .media_type
            .trim_start_matches("application/vnd.cncf.model.");
        println!(
            "    {mt:<22} {:>10}  {path}",
            human_bytes(l.descriptor.size)
        );
    }
    if let Some(r) = &o.replaced {
        println!("  the tag previously named {r}");
    }
}

// ---------------------------------------------------------------------------------------
// STAND-IN for `generate` (issue 5). The lead replaces this one function with
// `crate::generate::generate(dir, &GenerateOptions, &PluginSet)` at merge: generate owns
// classification (weight.config/code/dataset, .mpignore…) and the real config.
// ---------------------------------------------------------------------------------------

/// Temporary classifier: every regular file under `dir` (sorted, hidden names and the output
/// layout skipped, symlinks to files followed); files a format plugin claims are weights,
/// the rest docs (marked untested). Config: descriptor.name = the directory name,
/// config.format = the first weight's plugin.
fn standin_classify(
    dir: &Path,
    output: &Path,
    plugins: &PluginSet,
) -> Result<(Vec<PlannedFile>, Value)> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    let skip = output.canonicalize().ok();
    let mut files = Vec::new();
    let mut format = None;
    let mut stack = vec![(root.clone(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&path)
            .with_context(|| format!("{}", path.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("{}", path.display()))?;
        entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
        for e in entries {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                bail!("{}: file name is not UTF-8", e.path().display());
            };
            if crate::inspect::skipped_name(&name) {
                continue;
            }
            let p = e.path();
            let rel_path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if skip.as_deref() == Some(p.as_path()) {
                continue;
            }
            let lmeta =
                std::fs::symlink_metadata(&p).with_context(|| format!("{}", p.display()))?;
            if lmeta.is_dir() {
                stack.push((p, rel_path));
                continue;
            }
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let abs = p
                .canonicalize()
                .with_context(|| format!("{}", p.display()))?;
            let mut head = Vec::new();
            std::fs::File::open(&abs)
                .and_then(|f| {
                    f.take(crate::inspect::HEAD_LEN as u64)
                        .read_to_end(&mut head)
                })
                .with_context(|| format!("{}", p.display()))?;
            let claimants = plugins.claimants(&name, &head);
            let kind = if let Some(first) = claimants.first() {
                format.get_or_insert_with(|| match first.info.name.as_str() {
                    "pytorch" => "pt".to_string(),
                    other => other.to_string(),
                });
                LayerKind::Weight
            } else {
                LayerKind::Doc
            };
            use std::os::unix::fs::PermissionsExt;
            files.push(PlannedFile {
                path: rel_path,
                abs,
                kind,
                size: meta.len(),
                mode: meta.permissions().mode() & 0o7777,
                untested: kind != LayerKind::Weight,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let mut config = json!({
        "descriptor": {"name": name},
        "config": {},
        "modelfs": {"type": "layers", "diffIds": []},
    });
    if let Some(f) = format {
        config["config"]["format"] = json!(f);
    }
    Ok((files, config))
}
