//! `modelpack inspect`: weight files and directories, and OCI layouts (`LAYOUT[:TAG]`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::{Global, InspectArgs, OutputFormat};
use crate::inspect::artifact::{self, ArtifactView};
use crate::inspect::{self, InspectOutput, Status};
use crate::oci::layout::{is_layout, split_reference};

/// Inspects the paths and prints the reports.
pub fn run(global: &Global, args: &InspectArgs) -> Result<ExitCode> {
    // Layouts (with or without :TAG) get the artifact view; everything else is walked.
    let mut layouts: Vec<(PathBuf, Option<String>)> = Vec::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut remotes: Vec<String> = Vec::new();
    for p in &args.paths {
        let (dir, tag) = split_reference(&p.to_string_lossy());
        if !p.exists()
            && let Some(r) = p.to_str().and_then(remote_reference)
        {
            remotes.push(super::reference::registry_reference(r)?);
        } else if is_layout(&dir) {
            layouts.push((dir, tag));
        } else {
            super::require_path(p)?;
            paths.push(p.clone());
        }
    }
    let plugins = global.plugins()?;
    let log = global.logger();
    let verbose = move |m: &str| log(m);
    let mut artifacts: Vec<ArtifactView> = Vec::new();
    for (dir, tag) in &layouts {
        artifacts.extend(artifact::inspect_layout(
            dir,
            tag.as_deref(),
            &plugins,
            &verbose,
        )?);
    }
    let opts = crate::registry::RegistryOptions {
        verbose: global.verbose,
        ..crate::registry::RegistryOptions::default()
    };
    for r in &remotes {
        artifacts.push(artifact::inspect_remote(r, &plugins, &opts, &verbose)?);
    }
    let targets = inspect::collect_targets(&paths)?;
    let files = inspect::inspect_all(&plugins, &targets, &verbose);
    let errors = files
        .iter()
        .chain(artifacts.iter().flat_map(|a| &a.weights))
        .filter(|f| f.status == Status::Error)
        .count();
    let total = files.len() + artifacts.iter().map(|a| a.weights.len()).sum::<usize>();
    match args.format {
        OutputFormat::Json => {
            let model = inspect::model_summary(&files)?;
            let out = InspectOutput {
                files,
                model,
                artifacts,
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        OutputFormat::Text => {
            let mut out = String::new();
            for a in &artifacts {
                out.push_str(&artifact::render(a, args.tensors));
            }
            for f in &files {
                out.push_str(&inspect::text::render(f, args.tensors));
            }
            print!("{out}");
            if errors > 0 {
                eprintln!("error: {errors} of {total} files could not be read");
            }
        }
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `REGISTRY/REPO[:TAG|@DIGEST]` (or `docker://…`) rather than a path: the first component
/// names a host (has a dot or a port, or is `localhost`), as Docker tells registries from
/// Docker Hub namespaces. Only asked for arguments that are not on disk.
pub(super) fn remote_reference(arg: &str) -> Option<&str> {
    if arg.starts_with("docker://") {
        return Some(arg);
    }
    let (host, rest) = arg.split_once('/')?;
    let hostlike = host.contains('.') || host.contains(':') || host == "localhost";
    (hostlike && !rest.is_empty() && !host.starts_with('.')).then_some(arg)
}
