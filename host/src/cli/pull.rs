//! `modelpack pull`: an artifact from a registry into a new OCI image layout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use super::{Global, OutputFormat};
use crate::oci::append::commit_append;
use crate::oci::canonical_json;
use crate::oci::layout::{INDEX_FILE, Layout, index_with, is_layout};
use crate::oci::unpack::{UnpackOptions, unpack};
use crate::oci::{Descriptor, Digest};
use crate::registry::referrers::{Carried, add_untagged, pull_into_layout};
use crate::registry::{RegistryOptions, pull};
use crate::sign;
use crate::units::human_bytes;

/// `pull` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Credentials and plain HTTP: as for `push`. The layout is written atomically; \
every blob is verified against its digest while it downloads. Pulling into an existing layout adds \
the artifact to it (as `pack` does), under --tag or the reference's tag.\n\n\
Referrers (signatures, SBOMs) of the manifest come along, found through the OCI 1.1 referrers \
API or the `sha256-<hex>` fallback tag, each checked against its digest; --no-referrers skips \
them. --verify KEY refuses the artifact unless one of them is a valid signature of the \
manifest by KEY (`modelpack sign`, cosign-compatible bundle) and every blob matches: nothing is \
written then (exit 1).\n\n\
Examples:\n  modelpack pull localhost:5000/models/my-model:1.0 -o ./oci --unpack ./my-model\n  \
modelpack pull docker://ghcr.io/org/model@sha256:… -o ./oci --tag v1\n  \
modelpack pull localhost:5000/models/my-model:1.0 -o ./oci --verify cosign.pub"
)]
pub struct PullArgs {
    /// What to pull: REGISTRY/REPO:TAG (or REGISTRY/REPO@sha256:...).
    #[arg(value_name = "REGISTRY/REPO:TAG")]
    pub source: String,
    /// The layout directory: created, or added to when it already is an OCI layout.
    #[arg(long, short, value_name = "LAYOUT")]
    pub output: PathBuf,
    /// Tag of the manifest in the layout (default: the reference's tag; `latest` for a pull
    /// by digest).
    #[arg(long)]
    pub tag: Option<String>,
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
    /// Do not fetch the manifest's referrers (signatures, SBOMs).
    #[arg(long, conflicts_with = "verify")]
    pub no_referrers: bool,
    /// Refuse the artifact (writing nothing) unless it carries a valid signature by this
    /// ECDSA P-256 public key (PEM).
    #[arg(long, value_name = "PUBLIC.pem")]
    pub verify: Option<PathBuf>,
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
    let source = super::reference::registry_reference(&args.source)?;
    if let Some(t) = &args.tag {
        crate::oci::layout::check_tag(t)?;
    }
    // Read before anything is downloaded, so a bad key costs nothing.
    let key = args.verify.as_deref().map(sign::read_public).transpose()?;
    let append = is_layout(&args.output);
    if !append {
        crate::oci::staging::require_absent_or_empty(&args.output)?;
    }
    let opts = RegistryOptions {
        plain_http: args.plain_http,
        progress: true,
        verbose: global.verbose,
        timeout: std::time::Duration::from_secs(args.timeout),
        chunk_size: None,
    };
    // Pulled into a fresh layout beside the output, then renamed into place or merged into
    // the existing layout, so a failed pull leaves the output as it was.
    let tmp = crate::oci::staging::beside(&args.output, "pull")?;
    let fresh = tmp.path().join("layout");
    let mut out = pull(&source, &fresh, &opts)?;
    let tag = args.tag.clone().unwrap_or_else(|| out.tag.clone());
    let desc = manifest_descriptor(&fresh)?;
    if tag != out.tag {
        let (index, _) = index_with(None, &desc, &tag)?;
        std::fs::write(fresh.join(INDEX_FILE), canonical_json(&index))?;
    }
    let carried = if args.no_referrers {
        Carried::default()
    } else {
        match pull_into_layout(&source, &out.manifest, &fresh, &opts) {
            Ok(c) => c,
            // Without --verify the artifact itself is complete: the referrers are a bonus.
            Err(e) if key.is_none() => {
                eprintln!(
                    "warning: the referrers of {} were not pulled: {e:#}",
                    out.manifest
                );
                Carried::default()
            }
            Err(e) => return Err(e.context("fetching the signatures to verify")),
        }
    };
    let verified = match &key {
        None => None,
        Some(key) => match sign::oci::verify_layout(&fresh, Some(&tag), key) {
            Ok(v) => Some(v),
            Err(e) if e.is_verdict() => {
                // `tmp` is removed when dropped: nothing of the pull is left.
                let why = e
                    .to_string()
                    .replace(&fresh.display().to_string(), &args.source);
                eprintln!("error: verification failed, nothing was written: {why}");
                return Ok(ExitCode::from(1));
            }
            Err(e) => return Err(e.into()),
        },
    };
    let mut replaced = None;
    if append {
        replaced = commit_append(
            &fresh.join("blobs").join("sha256"),
            &args.output,
            &desc,
            &tag,
        )?;
        add_untagged(&args.output, &carried.referrers)
            .context("the artifact was added, but not the list of its referrers")?;
    } else {
        if args.output.is_dir() {
            std::fs::remove_dir(&args.output)
                .with_context(|| format!("{}", args.output.display()))?;
        }
        std::fs::rename(&fresh, &args.output)
            .with_context(|| format!("moving the layout into {}", args.output.display()))?;
    }
    out.tag = tag;
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
            let resumed = if out.fetched < out.bytes {
                format!(
                    ", {} downloaded, the rest resumed",
                    human_bytes(out.fetched)
                )
            } else {
                String::new()
            };
            println!(
                "pulled {} ({} blobs, {}{resumed}) into {}:{}",
                out.manifest,
                out.blobs,
                human_bytes(out.bytes),
                args.output.display(),
                out.tag
            );
            if let Some(r) = &replaced {
                println!("  the tag previously named {r}");
            }
            if let Some(via) = carried.via.filter(|_| !carried.referrers.is_empty()) {
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
            if let Some(v) = &verified {
                println!(
                    "  verified: signed by key {} (referrer {}); {} blobs match their digests",
                    &v.key_id[..16],
                    v.referrer,
                    v.blobs
                );
            }
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
                "bytesDownloaded": out.fetched,
                "unpackedFiles": unpacked.as_ref().map(|u| u.files),
                "appended": append,
                "replaced": replaced,
                "referrers": carried.referrers,
                "referrersVia": carried.via,
                "verified": verified,
            }))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// The descriptor of the one manifest of a freshly pulled layout, as `index.json` lists it.
fn manifest_descriptor(layout: &std::path::Path) -> Result<Descriptor> {
    let l = Layout::open(layout)?;
    let m = &l.index["manifests"][0];
    let digest = m["digest"].as_str().unwrap_or("");
    Ok(Descriptor {
        media_type: m["mediaType"].as_str().unwrap_or("").to_string(),
        artifact_type: m["artifactType"].as_str().map(str::to_string),
        digest: Digest::parse(digest).with_context(|| format!("pulled digest {digest:?}"))?,
        size: m["size"].as_u64().unwrap_or(0),
        annotations: Default::default(),
    })
}
