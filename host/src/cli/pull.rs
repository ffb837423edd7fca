//! `modelpack pull`: an artifact from a registry into a new OCI image layout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use super::{Global, OutputFormat};
use crate::oci::unpack::{UnpackOptions, unpack};
use crate::registry::{RegistryOptions, pull};
use crate::units::human_bytes;

/// `pull` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Credentials and plain HTTP: as for `push`. The layout is written atomically; \
every blob is verified against its digest while it downloads."
)]
pub struct PullArgs {
    /// What to pull: REGISTRY/REPO:TAG (or REGISTRY/REPO@sha256:...).
    #[arg(value_name = "REGISTRY/REPO:TAG")]
    pub source: String,
    /// The layout directory to create; must not exist or be empty.
    #[arg(long, short, value_name = "LAYOUT")]
    pub output: PathBuf,
    /// Also unpack the files into DIR (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub unpack: Option<PathBuf>,
    /// Talk plain HTTP to a non-loopback registry.
    #[arg(long)]
    pub plain_http: bool,
    /// Idle timeout in seconds: a registry that accepts or sends nothing for this long fails
    /// the command (not retried).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::registry::DEFAULT_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Pulls (and optionally unpacks) and prints a summary.
pub fn run(global: &Global, args: &PullArgs) -> Result<ExitCode> {
    if let Some(dir) = &args.unpack
        && dir.exists()
        && (!dir.is_dir() || std::fs::read_dir(dir)?.next().is_some())
    {
        // Checked before downloading anything, so a doomed pull costs nothing.
        bail!("{} exists and is not an empty directory", dir.display());
    }
    let opts = RegistryOptions {
        plain_http: args.plain_http,
        progress: true,
        verbose: global.verbose,
        timeout: std::time::Duration::from_secs(args.timeout),
    };
    let out = pull(&args.source, &args.output, &opts)?;
    let unpacked = match &args.unpack {
        Some(dir) => Some(unpack(
            &args.output,
            Some(&out.tag),
            dir,
            &UnpackOptions {
                jobs: crate::oci::pool::default_jobs(),
                progress: true,
            },
        )?),
        None => None,
    };
    match args.format {
        OutputFormat::Text => {
            println!(
                "pulled {} ({} blobs, {}) into {}",
                out.manifest,
                out.blobs,
                human_bytes(out.bytes),
                args.output.display()
            );
            if let (Some(u), Some(dir)) = (&unpacked, &args.unpack) {
                println!(
                    "unpacked {} files ({}) into {}",
                    u.files,
                    human_bytes(u.bytes),
                    dir.display()
                );
            }
        }
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "manifest": out.manifest.to_string(),
                "source": args.source,
                "output": args.output.display().to_string(),
                "tag": out.tag,
                "blobs": out.blobs,
                "bytes": out.bytes,
                "unpackedFiles": unpacked.as_ref().map(|u| u.files),
            }))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}
