//! `modelpack plugins`.

use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::{Global, OutputFormat};
use crate::registry::RegistryOptions;
use crate::registry::plugin_artifact;

/// Lists the plugins of this run.
pub fn list(global: &Global, format: OutputFormat) -> Result<ExitCode> {
    let plugins = global.plugins()?;
    match format {
        OutputFormat::Json => {
            let list: Vec<serde_json::Value> = plugins
                .entries()
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "name": e.info.name,
                        "version": e.info.version,
                        "kind": e.info.kind,
                        "witVersion": e.info.wit_version,
                        "description": e.info.description,
                        "extensions": e.info.extensions,
                        "fileNames": e.info.file_names,
                        "source": e.origin.to_string(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "plugins": list }))?
            );
        }
        OutputFormat::Text => {
            let rows: Vec<[String; 6]> = plugins
                .entries()
                .iter()
                .map(|e| {
                    let mut claims: Vec<String> =
                        e.info.extensions.iter().map(|x| format!(".{x}")).collect();
                    // A convention claims every file name it hints (convention-hf: 26); the
                    // table shows the first few, `--format json` all of them.
                    const SHOWN: usize = 4;
                    let names = &e.info.file_names;
                    if names.len() > SHOWN + 1 {
                        claims.extend(names[..SHOWN].iter().cloned());
                        claims.push(format!("+{} names", names.len() - SHOWN));
                    } else {
                        claims.extend(names.iter().cloned());
                    }
                    if !e.info.magic.is_empty() {
                        claims.push(format!("+{} magic", e.info.magic.len()));
                    }
                    let kind = match e.info.kind {
                        crate::plugin::Kind::Format => "format",
                        crate::plugin::Kind::Policy => "policy",
                        crate::plugin::Kind::Convention => "convention",
                        crate::plugin::Kind::Converter => "converter",
                    };
                    [
                        e.info.name.clone(),
                        e.info.version.clone(),
                        kind.to_string(),
                        e.info.wit_version.clone(),
                        claims.join(" "),
                        e.origin.to_string(),
                    ]
                })
                .collect();
            let header = ["NAME", "VERSION", "KIND", "WIT", "CLAIMS", "SOURCE"].map(String::from);
            // Columns as wide as their widest cell, so long names or claims never misalign.
            let mut widths = [0usize; 5];
            for r in std::iter::once(&header).chain(&rows) {
                for (w, c) in widths.iter_mut().zip(r.iter()) {
                    *w = (*w).max(c.chars().count());
                }
            }
            for r in std::iter::once(&header).chain(&rows) {
                let mut line = String::new();
                for (w, c) in widths.iter().zip(r.iter()) {
                    line.push_str(&format!("{c:<w$}  "));
                }
                line.push_str(&r[5]);
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `plugins push` arguments.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The plugin component.
    #[arg(value_name = "FILE.wasm")]
    pub file: PathBuf,
    /// Where to publish it: REGISTRY/REPO:TAG.
    #[arg(value_name = "REGISTRY/REPO:TAG")]
    pub target: String,
    /// Sign it with this ECDSA P-256 private key (PEM).
    #[arg(long, value_name = "PRIVATE.pem")]
    pub key: Option<PathBuf>,
    /// Talk plain HTTP to a non-loopback registry.
    #[arg(long)]
    pub plain_http: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Publishes a plugin.
pub fn push(args: &PushArgs) -> Result<ExitCode> {
    let key = args
        .key
        .as_deref()
        .map(crate::sign::read_private)
        .transpose()?;
    let target = super::reference::registry_reference(&args.target)?;
    let opts = RegistryOptions {
        plain_http: args.plain_http,
        progress: true,
        ..RegistryOptions::default()
    };
    let p = plugin_artifact::push(&args.file, &target, key.as_ref(), &opts)?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&p)?),
        OutputFormat::Text => {
            let at = target.rsplit_once(':').map_or(target.as_str(), |(r, _)| r);
            println!(
                "published {} to {}: run it with --policy oci://{at}@{}",
                args.file.display(),
                args.target,
                p.manifest
            );
            if let Some(s) = &p.signature {
                println!("  signed (referrer {s})");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
