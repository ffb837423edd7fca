//! `modelpack verify`: check a model directory against its signature and a public key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::{Global, OutputFormat};
use crate::oci::layout::{is_layout, split_reference};
use crate::sign::{self, DEFAULT_SIGNATURE, DirOptions};

/// `verify` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Reads OpenSSF model-signing bundles (key-based, `files` or `shards`, SHA-256). \
Exit codes: 0 the signature is by this key and every file matches; 1 it is not (missing, \
malformed or foreign signature, or a file modified, added or removed); 2 usage, key or I/O error."
)]
pub struct VerifyArgs {
    /// A model directory, or an OCI layout (`LAYOUT[:TAG]`: the signature is a referrer of
    /// the tagged manifest, stored in the layout).
    #[arg(value_name = "DIR|LAYOUT[:TAG]")]
    pub target: String,
    /// ECDSA P-256 public key (PEM).
    #[arg(long, value_name = "PUBLIC.pem")]
    pub public_key: PathBuf,
    /// The signature to check [default: DIR/model.sig].
    #[arg(long, value_name = "PATH")]
    pub signature: Option<PathBuf>,
    /// Leave out this path (relative to DIR) too; repeatable. The signature's own list of
    /// ignored paths always applies.
    #[arg(long = "ignore-path", value_name = "PATH")]
    pub ignore_paths: Vec<String>,
    /// Follow symlinks even if the signer did not.
    #[arg(long)]
    pub allow_symlinks: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Verifies; a failed verification is one line on stderr and exit 1.
pub fn run(_global: &Global, args: &VerifyArgs) -> Result<ExitCode> {
    let key = sign::read_public(&args.public_key)?;
    let (layout, tag) = split_reference(&args.target);
    if is_layout(&layout) {
        if args.signature.is_some() || !args.ignore_paths.is_empty() {
            anyhow::bail!(
                "--signature and --ignore-path apply to directories; a layout keeps its signature as a referrer"
            );
        }
        return match sign::oci::verify_layout(&layout, tag.as_deref(), &key) {
            Ok(v) => {
                match args.format {
                    OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
                    OutputFormat::Text => println!(
                        "verified: {} of {} is signed by key {} (referrer {}); {} blobs match their digests",
                        v.manifest,
                        args.target,
                        &v.key_id[..16],
                        v.referrer,
                        v.blobs
                    ),
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) if e.is_verdict() => {
                eprintln!("error: verification failed: {e}");
                Ok(ExitCode::from(1))
            }
            Err(e) => Err(e.into()),
        };
    }
    let dir = PathBuf::from(&args.target);
    let signature = args
        .signature
        .clone()
        .unwrap_or_else(|| dir.join(DEFAULT_SIGNATURE));
    let opts = DirOptions {
        allow_symlinks: args.allow_symlinks,
        ignore: args.ignore_paths.clone(),
    };
    match sign::verify_dir(&dir, &key, &signature, &opts) {
        Ok(v) => {
            match args.format {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
                OutputFormat::Text => println!(
                    "verified: {} {} of {} match the signature by key {}",
                    v.resources,
                    if v.method == "files" {
                        "files"
                    } else {
                        "shards"
                    },
                    dir.display(),
                    &v.key_id[..16]
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_verdict() => {
            eprintln!("error: verification failed: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}
