//! `modelpack sign`: sign a model directory with an ECDSA P-256 key (model-signing format).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::{Global, OutputFormat};
use crate::oci::layout::{is_layout, split_reference};
use crate::sign::{self, DEFAULT_SIGNATURE, DirOptions};
use crate::units::human_bytes;

/// `sign` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "The signature is an OpenSSF model-signing bundle: `model_signing verify key DIR \
--signature DIR/model.sig --public_key PUBLIC.pem` accepts it. Exit codes: 0 signed; 2 usage, key \
or I/O error (nothing is written)."
)]
pub struct SignArgs {
    /// A model directory, or an OCI layout (`LAYOUT[:TAG]`: the signature is a referrer of
    /// the tagged manifest, stored in the layout).
    #[arg(value_name = "DIR|LAYOUT[:TAG]")]
    pub target: String,
    /// ECDSA P-256 private key (PEM: SEC1 or PKCS#8, unencrypted).
    #[arg(long, value_name = "PRIVATE.pem")]
    pub key: PathBuf,
    /// Where to write the signature [default: DIR/model.sig]; left out of what is signed.
    #[arg(long, value_name = "PATH")]
    pub signature: Option<PathBuf>,
    /// Leave out this path (relative to DIR) too; repeatable. Git metadata always is.
    #[arg(long = "ignore-path", value_name = "PATH")]
    pub ignore_paths: Vec<String>,
    /// Follow symlinks (refused by default, as model-signing does).
    #[arg(long)]
    pub allow_symlinks: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Signs and prints a one-line summary (or JSON).
pub fn run(_global: &Global, args: &SignArgs) -> Result<ExitCode> {
    let key = sign::read_private(&args.key)?;
    let (layout, tag) = split_reference(&args.target);
    if is_layout(&layout) {
        if args.signature.is_some() || !args.ignore_paths.is_empty() {
            anyhow::bail!(
                "--signature and --ignore-path apply to directories; a layout keeps its signature as a referrer"
            );
        }
        let s = sign::oci::sign_layout(&layout, tag.as_deref(), &key)?;
        match args.format {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&s)?),
            OutputFormat::Text => println!(
                "signed {} of {} with key {}: referrer {}",
                s.manifest,
                args.target,
                &s.key_id[..16],
                s.referrer
            ),
        }
        return Ok(ExitCode::SUCCESS);
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
    let signed = sign::sign_dir(&dir, &key, &signature, &opts)?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&signed)?),
        OutputFormat::Text => println!(
            "signed {} files ({}) of {} with key {}: {}",
            signed.files,
            human_bytes(signed.bytes),
            dir.display(),
            &signed.key_id[..16],
            signed.signature.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
