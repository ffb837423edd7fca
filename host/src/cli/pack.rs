//! `modelpack pack`: a model directory into an OCI image layout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::{Global, OutputFormat};
use crate::convert::stage::{converted_copy, report};
use crate::generate::{GenerateOptions, PlannedLayer, generate};
use crate::model::LayerFormat;
use crate::oci::blob::{LinkMode, Placed};
use crate::oci::pack::{PackOptions, PackOutcome, pack};
use crate::units::human_bytes;
use crate::validate::Level;
use crate::validate::config::validate_config;

/// `pack` arguments.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
modelpack pack ./llama-3-8b -o ./oci --set descriptor.version=1.0\n  \
modelpack generate ./llama-3-8b -o model-config.json   # review, edit, commit it\n  \
modelpack pack ./llama-3-8b --config model-config.json -o ./oci --tag v1\n  \
modelpack pack ~/.cache/huggingface/hub/models--org--name -o ./oci\n  \
modelpack pack model.gguf -o ./oci")]
pub struct PackArgs {
    /// The model directory, a single weight file, or a Hugging Face cache repo folder
    /// (models--org--name, packed as the snapshot refs/main names).
    pub dir: PathBuf,
    /// A reviewed ModelPack config (from `generate`), packed as it is after checking that its
    /// modelfs.diffIds match the directory's files.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What goes into the config (as for `generate`), which files are taken.
    #[command(flatten)]
    pub flags: super::GenerateFlags,
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
    /// How raw files get into blobs/: auto = reflink (copy-on-write) where the file system
    /// can, else copy; hardlink shares the source files' inodes (fastest, but an in-place edit
    /// of a source file then changes the layout).
    #[arg(long, value_enum, default_value_t = LinkArg::Auto)]
    pub link: LinkArg,
    /// Worker threads (default: one per core).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Pack even when weight files are missing (Git LFS pointers, absent shards); the missing
    /// files are left out of the artifact.
    #[arg(long)]
    pub allow_missing_weights: bool,
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
    /// Reflink where the file system can, else copy: never aliases the source files.
    Auto,
    /// Hard link or fail (same file system; the layout shares the source files' inodes).
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
    super::require_path(&args.dir)?;
    if args.jobs == Some(0) {
        bail!("--jobs must be at least 1");
    }
    let reviewed = match &args.config {
        Some(path) => {
            if let Some(flag) = args.flags.sets_fields() {
                bail!(
                    "--config {} is packed as it is, so {flag} cannot change it: edit the file, or drop --config",
                    path.display()
                );
            }
            Some((path, read_reviewed(path)?))
        }
        None => None,
    };
    let plugins = global.plugins()?;
    let opts = GenerateOptions {
        leave_out: vec![args.output.clone()],
        layer_format: args.layer_format.into(),
        ..args.flags.options()
    };
    let log = global.logger();
    let converted = if args.flags.convert_pickles {
        let c = converted_copy(&plugins, &args.dir, &args.output, &|m: &str| log(m))?;
        for line in report(&c.summary) {
            eprintln!("{line}");
        }
        Some(c)
    } else {
        None
    };
    let source = converted.as_ref().map_or(args.dir.as_path(), |c| &c.dir);
    let generated = generate(source, &opts, &plugins)?;
    for w in &generated.warnings {
        eprintln!("warning: {w}");
    }
    if !generated.missing.is_empty() && !args.allow_missing_weights {
        let names: Vec<&str> = generated.missing.iter().map(|m| m.path.as_str()).collect();
        // The model is incomplete (exit 1, as `generate` and `check` say), not a usage error.
        return Err(super::ModelFailure(format!(
            "{}: weights missing ({}); fetch them (e.g. `git lfs pull`) or pass --allow-missing-weights",
            args.dir.display(),
            names.join(", ")
        ))
        .into());
    }
    // A weight a plugin claimed but could not read is packed as it is (its bytes are the
    // model's), but the run says so with exit 1, as `generate` does for the same directory.
    let unreadable = generated.unreadable.len();
    let config = match reviewed {
        Some((path, config)) => {
            same_files(path, &config, &generated.layers)?;
            config
        }
        None => generated.config,
    };
    let files = generated.files;
    let mut opts = PackOptions::new(&args.output)?;
    opts.tag = args.tag.clone();
    opts.layer_format = args.layer_format.into();
    opts.link = args.link.into();
    opts.progress = true;
    if let Some(j) = args.jobs {
        opts.jobs = j;
    }
    let outcome = pack(&files, config, &opts)?;
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
    let mut code = ExitCode::SUCCESS;
    if unreadable > 0 {
        eprintln!(
            "warning: {unreadable} weight file(s) could not be read by their format plugin; \
             they were packed unverified (exit 1)"
        );
        code = ExitCode::from(1);
    }
    if let Some(c) = &converted
        && !c.summary.not_converted.is_empty()
    {
        for n in &c.summary.not_converted {
            eprintln!(
                "warning: {} was packed as it is, not converted: {}",
                n.path, n.reason
            );
        }
        code = ExitCode::from(1);
    }
    Ok(code)
}

/// Reads a reviewed config and refuses one that is not a valid ModelPack config.
fn read_reviewed(path: &Path) -> Result<Value> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| anyhow!("--config {shown}: {e}"))?;
    let config: Value =
        serde_json::from_slice(&bytes).map_err(|e| anyhow!("--config {shown}: not JSON: {e}"))?;
    let errors: Vec<String> = validate_config(&config, false)
        .into_iter()
        .filter(|p| p.level == Level::Error)
        .map(|p| p.to_string())
        .collect();
    if !errors.is_empty() {
        bail!(
            "--config {shown}: not a valid ModelPack config: {}",
            errors.join("; ")
        );
    }
    Ok(config)
}

/// The reviewed config must describe exactly the layers the directory gives now: same count,
/// same diffIds in the same order. Says which layers differ and how to fix it.
fn same_files(path: &Path, config: &Value, layers: &[PlannedLayer]) -> Result<()> {
    let ids: Vec<&str> = config
        .pointer("/modelfs/diffIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut diffs = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        match ids.get(i) {
            Some(id) if *id == l.diff_id => {}
            Some(id) if ids.contains(&l.diff_id.as_str()) => diffs.push(format!(
                "layer {i} ({}) is diffIds[{}] in the config, not [{i}] ({id})",
                l.path,
                ids.iter().position(|x| *x == l.diff_id).unwrap_or(0)
            )),
            Some(id) => diffs.push(format!(
                "layer {i} ({}) is {} now, the config says {id}",
                l.path, l.diff_id
            )),
            None => diffs.push(format!(
                "layer {i} ({}, {}) is not in the config",
                l.path, l.diff_id
            )),
        }
    }
    for (i, id) in ids.iter().enumerate().skip(layers.len()) {
        diffs.push(format!(
            "the config's diffIds[{i}] ({id}) matches no file of the directory"
        ));
    }
    if diffs.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = diffs.iter().take(5).cloned().collect();
    let more = diffs.len().saturating_sub(5);
    bail!(
        "--config {}: does not match the directory's files ({} layers in the config, {} now): {}{}; \
         regenerate it with `modelpack generate`, or pack with the --layer-format/--include/--exclude \
         it was generated with",
        path.display(),
        ids.len(),
        layers.len(),
        shown.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    )
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
    let rows: Vec<(&str, String, &str)> = o
        .layers
        .iter()
        .map(|l| {
            let path = l
                .descriptor
                .annotations
                .get(crate::model::ANNOTATION_FILEPATH)
                .map_or("", String::as_str);
            let mt = l
                .descriptor
                .media_type
                .trim_start_matches("application/vnd.cncf.model.");
            (mt, human_bytes(l.descriptor.size), path)
        })
        .collect();
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    for (mt, size, path) in &rows {
        println!("    {mt:<w0$}  {size:>w1$}  {path}");
    }
    if let Some(r) = &o.replaced {
        println!("  the tag previously named {r}");
    }
}
