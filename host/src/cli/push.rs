//! `modelpack push`: an artifact from an OCI image layout to a registry.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::{Global, OutputFormat};
use crate::oci::layout::split_reference;
use crate::registry::referrers::{Carried, push_from_layout};
use crate::registry::{RegistryOptions, push};
use crate::units::human_bytes;

/// `push` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Credentials: MODELPACK_REGISTRY_USERNAME / MODELPACK_REGISTRY_PASSWORD, else the \
Docker credential helper or `auths` entry in ~/.docker/config.json (see `modelpack login`), else \
anonymous. Plain HTTP is used only for \
loopback registries (localhost, 127.0.0.0/8, ::1) or with --plain-http.\n\n\
Referrers: the signatures and SBOMs the layout holds for the manifest (`modelpack sign`, \
`modelpack sbom --attach`) are pushed after it, through the OCI 1.1 referrers API or, for \
registries without it, the `sha256-<hex>` tag holding an index; --no-referrers leaves them out.\n\n\
Example:\n  modelpack push ./oci:latest localhost:5000/models/my-model:1.0"
)]
pub struct PushArgs {
    /// The layout, optionally with a tag: LAYOUT[:TAG] (default: `latest`, or the only
    /// manifest).
    #[arg(value_name = "LAYOUT[:TAG]")]
    pub layout: String,
    /// Where to push: REGISTRY/REPO:TAG.
    #[arg(value_name = "REGISTRY/REPO:TAG")]
    pub target: String,
    /// Talk plain HTTP to a non-loopback registry.
    #[arg(long)]
    pub plain_http: bool,
    /// Idle timeout in seconds: a registry that accepts or sends nothing for this long fails
    /// the command (not retried).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::registry::DEFAULT_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Upload each blob in chunks of this size (e.g. 8MiB) instead of one request; when the
    /// registry refuses one mode, the other is tried.
    #[arg(long, value_name = "BYTES", value_parser = parse_chunk)]
    pub chunk_size: Option<u64>,
    /// Push only the manifest and its blobs, not its referrers (signatures, SBOMs) in the
    /// layout.
    #[arg(long)]
    pub no_referrers: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Pushes and prints a summary.
pub fn run(global: &Global, args: &PushArgs) -> Result<ExitCode> {
    let (layout, tag) = split_reference(&args.layout);
    let opts = RegistryOptions {
        plain_http: args.plain_http,
        progress: true,
        verbose: global.verbose,
        timeout: std::time::Duration::from_secs(args.timeout),
        chunk_size: args.chunk_size,
    };
    let target = super::reference::registry_reference(&args.target)?;
    let out = push(&layout, tag.as_deref(), &target, &opts)?;
    let carried = if args.no_referrers {
        Carried::default()
    } else {
        push_from_layout(&layout, tag.as_deref(), &target, &opts)
            .context("the manifest was pushed, but not its referrers")?
    };
    match args.format {
        OutputFormat::Text => {
            println!(
                "pushed {} to {}: {} blobs uploaded ({}), {} mounted from other repositories, {} \
             already there",
                out.manifest,
                args.target,
                out.uploaded,
                human_bytes(out.bytes),
                out.mounted,
                out.skipped
            );
            if let Some(via) = carried.via {
                println!(
                    "  with {} referrer{} ({})",
                    carried.referrers.len(),
                    if carried.referrers.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    via.as_str()
                );
            }
        }
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "manifest": out.manifest.to_string(),
                "target": args.target,
                "uploaded": out.uploaded,
                "skipped": out.skipped,
                "mounted": out.mounted,
                "bytesUploaded": out.bytes,
                "referrers": carried.referrers,
                "referrersVia": carried.via,
            }))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_chunk(s: &str) -> Result<u64, String> {
    let n = crate::units::parse_bytes(s)?;
    if n == 0 {
        return Err("the chunk size must be at least 1 byte".into());
    }
    Ok(n)
}
