//! `modelpack referrers`: what refers to an artifact (signatures, SBOMs), in a registry or a
//! layout.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::{Global, OutputFormat};
use crate::oci::layout::{Layout, is_layout, split_reference};
use crate::registry::RegistryOptions;
use crate::registry::referrers::{Referrer, Via, in_layout, list_remote};

/// `referrers` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "A registry is asked through the OCI 1.1 referrers API, or, when it has none, \
through the `sha256-<hex>` tag holding an index (the distribution spec's fallback); a layout \
through the manifests its index.json lists whose `subject` is the artifact.\n\n\
Examples:\n  modelpack referrers localhost:5000/models/my-model:1.0\n  \
modelpack referrers ./oci:latest --artifact-type application/vnd.dev.sigstore.bundle.v0.3+json --format json"
)]
pub struct ReferrersArgs {
    /// The artifact: REGISTRY/REPO:TAG, REGISTRY/REPO@sha256:…, or LAYOUT[:TAG].
    #[arg(value_name = "REF|LAYOUT[:TAG]")]
    pub target: String,
    /// Only referrers of this artifact type.
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// Talk plain HTTP to a non-loopback registry.
    #[arg(long)]
    pub plain_http: bool,
    /// Idle timeout in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::registry::DEFAULT_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Lists the referrers.
pub fn run(_global: &Global, args: &ReferrersArgs) -> Result<ExitCode> {
    let (path, tag) = split_reference(&args.target);
    let (subject, list, via) = if is_layout(&path) {
        let layout = Layout::open(&path)?;
        let entry = layout.resolve(tag.as_deref())?;
        let list: Vec<Referrer> = in_layout(&layout, &entry.digest)?
            .into_iter()
            .map(|(r, _)| r)
            .filter(|r| args.artifact_type.is_none() || r.artifact_type == args.artifact_type)
            .collect();
        (entry.digest, list, Via::Layout)
    } else {
        let source = super::reference::registry_reference(&args.target)?;
        let opts = RegistryOptions {
            plain_http: args.plain_http,
            timeout: std::time::Duration::from_secs(args.timeout),
            ..RegistryOptions::default()
        };
        list_remote(&source, args.artifact_type.as_deref(), &opts)?
    };
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "subject": subject.to_string(),
                "via": via,
                "referrers": list,
            }))?
        ),
        OutputFormat::Text => {
            println!(
                "{} referrer{} of {subject} ({})",
                list.len(),
                if list.len() == 1 { "" } else { "s" },
                via.as_str()
            );
            for r in &list {
                println!(
                    "  {}  {}  {} bytes",
                    r.digest,
                    r.artifact_type.as_deref().unwrap_or("-"),
                    r.size
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
