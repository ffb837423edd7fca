//! `modelpack plugins`.

use std::process::ExitCode;

use anyhow::Result;

use super::{Global, OutputFormat};

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
                        "wit_version": e.info.wit_version,
                        "description": e.info.description,
                        "extensions": e.info.extensions,
                        "file_names": e.info.file_names,
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
            println!(
                "{:<18} {:<8} {:<10} {:<6} {:<28} SOURCE",
                "NAME", "VERSION", "KIND", "WIT", "CLAIMS"
            );
            for e in plugins.entries() {
                let mut claims: Vec<String> =
                    e.info.extensions.iter().map(|x| format!(".{x}")).collect();
                claims.extend(e.info.file_names.iter().cloned());
                if !e.info.magic.is_empty() {
                    claims.push(format!("+{} magic", e.info.magic.len()));
                }
                let kind = match e.info.kind {
                    crate::plugin::Kind::Format => "format",
                    crate::plugin::Kind::Policy => "policy",
                    crate::plugin::Kind::Convention => "convention",
                    crate::plugin::Kind::Converter => "converter",
                };
                println!(
                    "{:<18} {:<8} {:<10} {:<6} {:<28} {}",
                    e.info.name,
                    e.info.version,
                    kind,
                    e.info.wit_version,
                    claims.join(" "),
                    e.origin
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
