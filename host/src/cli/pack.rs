//! `modelpack pack`: a model directory into an OCI image layout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::{Global, OutputFormat};
use crate::convert::stage::{Converted, converted_copy, report};
use crate::generate::{GenerateOptions, generate};
use crate::model::LayerFormat;
use crate::oci::blob::{LinkMode, Placed};
use crate::oci::layers::BuiltLayer;
use crate::oci::pack::{PackOptions, PackOutcome, pack_checked};
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
    #[arg(long, short, value_name = "LAYOUT", required_unless_present = "push")]
    pub output: Option<PathBuf>,
    /// Push straight to a registry instead of writing a layout: nothing is written to disk,
    /// every byte is read once, and the tag appears only once every blob is there.
    #[arg(long, value_name = "REGISTRY/REPO:TAG", conflicts_with_all = ["output", "tag", "link"])]
    pub push: Option<String>,
    /// With --push: talk plain HTTP to a non-loopback registry.
    #[arg(long, requires = "push")]
    pub plain_http: bool,
    /// With --push: upload each layer in chunks of this size (e.g. 8MiB) instead of one
    /// streamed request (tried anyway when the registry refuses the streamed one).
    #[arg(long, value_name = "BYTES", requires = "push", value_parser = super::push::parse_chunk)]
    pub chunk_size: Option<u64>,
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
    // No digests here: the blob pass computes them, so every byte is read once.
    let opts = GenerateOptions {
        leave_out: args.output.iter().cloned().collect(),
        layer_format: args.layer_format.into(),
        digests: false,
        ..args.flags.options()
    };
    let log = global.logger();
    let converted = if args.flags.convert_pickles {
        // The converted copy is staged beside the output (same file system, so the blobs
        // can be linked from it); a push has no output, so it stages in the temp directory.
        let anchor = match &args.output {
            Some(o) => o.clone(),
            None => std::env::temp_dir().join("modelpack-pack-push"),
        };
        let c = converted_copy(&plugins, &args.dir, &anchor, &|m: &str| log(m))?;
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
    let (config, reviewed_path) = match reviewed {
        Some((path, config)) => (config, Some(path)),
        None => (generated.config, None),
    };
    // A reviewed config must name the diffIds the blob pass computes (checked before commit).
    let check = |built: &[BuiltLayer]| match (reviewed_path, &config) {
        (Some(path), config) => same_files(path, config, &layer_ids(built)),
        (None, _) => Ok(()),
    };
    let files = generated.files;
    if let Some(target) = &args.push {
        let opts = crate::registry::RegistryOptions {
            plain_http: args.plain_http,
            progress: true,
            verbose: global.verbose,
            chunk_size: args.chunk_size,
            ..crate::registry::RegistryOptions::default()
        };
        let target_ref = super::reference::registry_reference(target)?;
        let pushed = crate::registry::packpush::pack_push(
            &files,
            config.clone(),
            args.layer_format.into(),
            &check,
            &target_ref,
            &opts,
        )?;
        print_pushed(args.format, target, &pushed)?;
        return Ok(exit_code(unreadable, converted.as_ref()));
    }
    let Some(output) = &args.output else {
        bail!("--output LAYOUT or --push REGISTRY/REPO:TAG is needed");
    };
    let mut opts = PackOptions::new(output)?;
    opts.tag = args.tag.clone();
    opts.layer_format = args.layer_format.into();
    opts.link = args.link.into();
    opts.progress = true;
    if let Some(j) = args.jobs {
        opts.jobs = j;
    }
    let outcome = pack_checked(&files, config.clone(), &opts, &check)?;
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
    Ok(exit_code(unreadable, converted.as_ref()))
}

/// Exit 1, with a warning, when weights were packed that their format plugin could not read,
/// or (`--convert-pickles`) that were packed as they are instead of converted.
fn exit_code(unreadable: usize, converted: Option<&Converted>) -> ExitCode {
    let mut code = ExitCode::SUCCESS;
    if unreadable > 0 {
        eprintln!(
            "warning: {unreadable} weight file(s) could not be read by their format plugin; \
             they were packed unverified (exit 1)"
        );
        code = ExitCode::from(1);
    }
    for n in converted.map_or(&[][..], |c| &c.summary.not_converted) {
        eprintln!(
            "warning: {} was packed as it is, not converted: {}",
            n.path, n.reason
        );
        code = ExitCode::from(1);
    }
    code
}

/// The summary of `pack --push`: as `pack`'s, with the target instead of the layout.
fn print_pushed(
    format: OutputFormat,
    target: &str,
    p: &crate::registry::packpush::Pushed,
) -> Result<()> {
    let a = &p.assembled;
    let o = &p.outcome;
    match format {
        OutputFormat::Json => {
            let v = json!({
                "target": target,
                "manifest": {"digest": a.manifest.digest, "size": a.manifest.size},
                "config": {"digest": a.config.digest, "size": a.config.size},
                "layers": p.layers.iter().map(layer_json).collect::<Vec<_>>(),
                "uploaded": o.uploaded,
                "skipped": o.skipped,
                "mounted": o.mounted,
                "bytesUploaded": o.bytes,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        OutputFormat::Text => {
            println!("pushed {target}");
            println!(
                "  manifest {} ({} bytes)",
                a.manifest.digest, a.manifest.size
            );
            println!("  config   {} ({} bytes)", a.config.digest, a.config.size);
            println!(
                "  {} layers, {} uploaded; blobs: {} uploaded, {} mounted from other repositories, {} already there",
                p.layers.len(),
                human_bytes(o.bytes),
                o.uploaded,
                o.mounted,
                o.skipped
            );
        }
    }
    Ok(())
}

fn layer_json(l: &BuiltLayer) -> Value {
    json!({
        "mediaType": l.descriptor.media_type,
        "digest": l.descriptor.digest,
        "size": l.descriptor.size,
        "diffId": l.diff_id,
        "filepath": l.descriptor.annotations.get(crate::model::ANNOTATION_FILEPATH),
    })
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

/// A built layer's file path and diffId, as [`same_files`] compares them.
struct LayerId {
    path: String,
    diff_id: String,
}

fn layer_ids(built: &[BuiltLayer]) -> Vec<LayerId> {
    built
        .iter()
        .map(|l| LayerId {
            path: l
                .descriptor
                .annotations
                .get(crate::model::ANNOTATION_FILEPATH)
                .cloned()
                .unwrap_or_default(),
            diff_id: l.diff_id.to_string(),
        })
        .collect()
}

/// The reviewed config must describe exactly the layers the directory gives now: same count,
/// same diffIds in the same order. Says which layers differ and how to fix it.
fn same_files(path: &Path, config: &Value, layers: &[LayerId]) -> Result<()> {
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
        "layers": o.layers.iter().map(layer_json).collect::<Vec<_>>(),
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
