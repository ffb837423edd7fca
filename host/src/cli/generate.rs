//! `modelpack generate`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use super::{GenerateArgs, Global};
use crate::convert::stage::{converted_copy, report};
use crate::generate::{
    self, FieldExplain, FileClass, GenerateOptions, MissingFile, PlannedLayer, render_config,
};

/// What `--plan`/`--explain` print: the config, then what each option asked for.
#[derive(Serialize)]
struct Document<'a> {
    config: generate::fields::Ordered<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<&'a [FieldExplain]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<&'a [FileClass]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    layers: Option<&'a [PlannedLayer]>,
    /// The `paramSize` basis as counted from the weights (`--explain` only).
    #[serde(rename = "weightParameters", skip_serializing_if = "Option::is_none")]
    weight_parameters: Option<u64>,
    missing: &'a [MissingFile],
    warnings: &'a [String],
}

/// Generates the config; prints it (or the `--plan`/`--explain` document) and writes
/// `--output`. Exit 1 when weights are missing or unreadable (the config is still written).
pub fn run(global: &Global, args: &GenerateArgs) -> Result<ExitCode> {
    super::require_dir(&args.dir)?;
    let output = args.output.as_deref().map(absolute).transpose()?;
    let opts = GenerateOptions {
        leave_out: output.iter().cloned().collect(),
        ..args.flags.options()
    };
    let plugins = global.plugins()?;
    // The diffIds are those of the converted bytes, so the conversion is done in full (in a
    // temporary directory beside --output, or in the system's temporary directory).
    let converted = if args.flags.convert_pickles {
        let src = std::path::absolute(&args.dir)?;
        let anchor = output
            .clone()
            .filter(|o| !o.starts_with(&src))
            .unwrap_or_else(|| std::env::temp_dir().join("modelpack-generate"));
        let log = global.logger();
        let c = converted_copy(&plugins, &args.dir, &anchor, &|m: &str| log(m))?;
        for line in report(&c.summary) {
            eprintln!("{line}");
        }
        for n in &c.summary.not_converted {
            eprintln!(
                "warning: {} would be packed as it is, not converted: {}",
                n.path, n.reason
            );
        }
        Some(c)
    } else {
        None
    };
    let source = converted.as_ref().map_or(args.dir.as_path(), |c| &c.dir);
    let g = generate::generate(source, &opts, &plugins)?;
    for w in &g.warnings {
        eprintln!("warning: {w}");
    }
    let text = render_config(&g.config);
    if let Some(out) = &output {
        write_atomic(out, text.as_bytes())?;
    }
    if args.plan || args.explain || args.format == super::OutputFormat::Json {
        let doc = Document {
            config: generate::fields::ordered(&g.config),
            explain: args.explain.then_some(&g.explain[..]),
            notes: args.explain.then_some(&g.notes[..]),
            files: args.explain.then_some(&g.classes[..]),
            layers: args.plan.then_some(&g.layers[..]),
            weight_parameters: args.explain.then_some(g.weight_parameters),
            missing: &g.missing,
            warnings: &g.warnings,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if output.is_none() {
        print!("{text}");
    }
    let unconverted = converted
        .as_ref()
        .is_some_and(|c| !c.summary.not_converted.is_empty());
    Ok(
        if g.missing.is_empty() && g.unreadable.is_empty() && !unconverted {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// An absolute path for a file that may not exist yet (its directory must).
fn absolute(p: &Path) -> Result<PathBuf> {
    let name = p
        .file_name()
        .ok_or_else(|| anyhow!("--output {}: not a file name", p.display()))?;
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = parent
        .canonicalize()
        .map_err(|e| anyhow!("--output {}: {}: {e}", p.display(), parent.display()))?;
    Ok(dir.join(name))
}

/// Writes through a temporary file in the same directory, then renames it into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("{}: cannot create a temporary file", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("{}: write failed", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("{}: chmod failed", path.display()))?;
    }
    tmp.persist(path)
        .map_err(|e| anyhow!("{}: {}", path.display(), e.error))?;
    Ok(())
}
