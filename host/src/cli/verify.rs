//! `modelpack verify`: check a model directory against its signature and a public key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::{Global, OutputFormat};
use crate::sign::{self, DEFAULT_SIGNATURE, DirOptions};

/// `verify` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Reads OpenSSF model-signing bundles (key-based, `files` or `shards`, SHA-256). \
Exit codes: 0 the signature is by this key and every file matches; 1 it is not (missing, \
malformed or foreign signature, or a file modified, added or removed); 2 usage, key or I/O error."
)]
pub struct VerifyArgs {
    /// The model directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
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
    let signature = args
        .signature
        .clone()
        .unwrap_or_else(|| args.dir.join(DEFAULT_SIGNATURE));
    let opts = DirOptions {
        allow_symlinks: args.allow_symlinks,
        ignore: args.ignore_paths.clone(),
    };
    match sign::verify_dir(&args.dir, &key, &signature, &opts) {
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
                    args.dir.display(),
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
