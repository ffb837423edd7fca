//! `modelpack unpack`: the files of an artifact in an OCI image layout, back on disk.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::Global;
use crate::oci::layout::split_reference;
use crate::oci::unpack::{UnpackOptions, unpack};
use crate::units::human_bytes;

/// `unpack` arguments.
#[derive(Debug, Args)]
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
    println!(
        "unpacked {} files ({}) of {} into {}",
        out.files,
        human_bytes(out.bytes),
        out.manifest,
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
