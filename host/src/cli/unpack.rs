//! `modelpack unpack`: the files of an artifact in an OCI image layout, back on disk.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::{Global, OutputFormat};
use crate::oci::layout::split_reference;
use crate::oci::unpack::{UnpackOptions, unpack};
use crate::units::human_bytes;

/// `unpack` arguments.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  modelpack unpack ./oci:latest -o ./my-model")]
pub struct UnpackArgs {
    /// The layout, optionally with a tag: LAYOUT[:TAG] (default: `latest`, or the only
    /// manifest).
    #[arg(value_name = "LAYOUT[:TAG]")]
    pub reference: String,
    /// Directory to write the files into; must not exist or be empty.
    #[arg(long, short, value_name = "DIR")]
    pub output: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Unpacks and prints a one-line summary.
pub fn run(_global: &Global, args: &UnpackArgs) -> Result<ExitCode> {
    let (layout, tag) = split_reference(&args.reference);
    let jobs = match args.jobs {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(n) => n,
        None => crate::oci::pool::default_jobs(),
    };
    let opts = UnpackOptions {
        jobs,
        progress: true,
    };
    let out = unpack(&layout, tag.as_deref(), &args.output, &opts)?;
    if !out.not_pulled.is_empty() {
        eprintln!(
            "note: a partial pull: {} layers are not in the layout and were not unpacked ({})",
            out.not_pulled.len(),
            out.not_pulled.join(", ")
        );
    }
    match args.format {
        OutputFormat::Text => println!(
            "unpacked {} files ({}) of {} into {}",
            out.files,
            human_bytes(out.bytes),
            out.manifest,
            args.output.display()
        ),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "layout": layout.display().to_string(),
                "manifest": out.manifest.to_string(),
                "output": args.output.display().to_string(),
                "files": out.files,
                "bytes": out.bytes,
                "notPulled": out.not_pulled,
            }))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}
