//! `modelpack sbom`: an AI bill of materials (CycloneDX 1.6 or SPDX 3.0.1) for a model
//! directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use super::Global;
use crate::sbom::{self, Created, Format};

/// `sbom --format`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SbomFormat {
    /// CycloneDX 1.6 JSON (machine-learning-model component with a modelCard).
    Cyclonedx,
    /// SPDX 3.0.1 JSON-LD (AI and Dataset profiles).
    Spdx,
}

/// `sbom` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "The same model always gives the same bytes: no timestamp unless --created or \
SOURCE_DATE_EPOCH gives one. With --attach LAYOUT[:TAG] the SBOM is stored in the layout as an \
OCI 1.1 referrer of the manifest (artifactType application/vnd.cyclonedx+json or \
application/spdx+json) and a summary goes to stderr. Exit codes: 0 written; 1 written, but weights are missing (Git LFS \
pointers, absent shards: listed with the digests their pointers give); 2 usage or I/O error."
)]
pub struct SbomArgs {
    /// The model directory.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: SbomFormat,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The creation time to record (YYYY-MM-DDTHH:MM:SSZ); default SOURCE_DATE_EPOCH, else none.
    #[arg(long, value_name = "RFC3339")]
    pub created: Option<String>,
    /// Store the SBOM in this layout as a referrer of the tagged manifest (which PATH must be
    /// the model directory of: every file's digest is matched against its layer) instead of
    /// printing it; `push` carries it along, `check` reports it as attached.
    #[arg(long, value_name = "LAYOUT[:TAG]")]
    pub attach: Option<String>,
}

/// Writes the SBOM.
pub fn run(global: &Global, args: &SbomArgs) -> Result<ExitCode> {
    if !args.path.is_dir() {
        anyhow::bail!("{}: not a model directory", args.path.display());
    }
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .filter(|v| !v.is_empty());
    let created = Created::new(args.created.as_deref(), epoch.as_deref())?;
    let format = match args.format {
        SbomFormat::Cyclonedx => Format::CycloneDx,
        SbomFormat::Spdx => Format::Spdx,
    };
    let plugins = global.plugins()?;
    let (facts, warnings) = sbom::facts_for_dir(&args.path, &plugins)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let bytes = sbom::render(format, &facts, &created);
    let code = if facts.files.iter().any(|f| f.missing.is_some()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if let Some(target) = &args.attach {
        let (layout, tag) = crate::oci::layout::split_reference(target);
        if !crate::oci::layout::is_layout(&layout) {
            anyhow::bail!("--attach {target}: not an OCI image layout");
        }
        let a = sbom::attach::attach(&layout, tag.as_deref(), &facts, format, &bytes)?;
        if let Some(out) = &args.output {
            crate::sign::write_atomic(out, &bytes)
                .with_context(|| format!("--output {}", out.display()))?;
        }
        eprintln!(
            "attached the {} SBOM to {} of {target} as referrer {}",
            a.artifact_type, a.manifest, a.referrer
        );
        return Ok(code);
    }
    match &args.output {
        Some(out) => crate::sign::write_atomic(out, &bytes)
            .with_context(|| format!("--output {}", out.display()))?,
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(&bytes).and_then(|_| stdout.flush())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(e.into());
            }
        }
    }
    Ok(code)
}
