//! `modelpack pack`: a model directory into an OCI image layout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::{Global, OutputFormat};
use crate::generate::{GenerateOptions, generate};
use crate::model::LayerFormat;
use crate::oci::blob::{LinkMode, Placed};
use crate::oci::pack::{PackOptions, PackOutcome, pack};
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
    if !args.dir.is_dir() {
        bail!("{}: not a directory", args.dir.display());
    }
    if args.jobs == Some(0) {
        bail!("--jobs must be at least 1");
    }
    let plugins = global.plugins()?;
    let opts = GenerateOptions {
        leave_out: vec![args.output.clone()],
        layer_format: args.layer_format.into(),
        ..GenerateOptions::default()
    };
    let generated = generate(&args.dir, &opts, &plugins)?;
    for w in &generated.warnings {
        eprintln!("warning: {w}");
    }
    if !generated.missing.is_empty() && !args.allow_missing_weights {
        let names: Vec<&str> = generated.missing.iter().map(|m| m.path.as_str()).collect();
        bail!(
            "{}: weights missing ({}); fetch them (e.g. `git lfs pull`) or pass --allow-missing-weights",
            args.dir.display(),
            names.join(", ")
        );
    }
    // A weight a plugin claimed but could not read is packed as it is (its bytes are the
    // model's), but the run says so with exit 1, as `generate` does for the same directory.
    let unreadable = generated.unreadable.len();
    let (files, config) = (generated.files, generated.config);
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
    if unreadable > 0 {
        eprintln!(
            "warning: {unreadable} weight file(s) could not be read by their format plugin; \
             they were packed unverified (exit 1)"
        );
        return Ok(ExitCode::from(1));
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
