//! `modelpack convert SOURCE --output LAYOUT[:TAG]` for foreign artifacts (an OCI layout,
//! `oci:DIR[:TAG]`, `ollama:NAME[:TAG]`): the dispatch from the `convert` command and the
//! report. The work is in [`crate::migrate`].

use std::process::ExitCode;

use anyhow::{Result, bail};

use super::convert::ConvertArgs;
use super::{Global, OutputFormat};
use crate::migrate::{self, Outcome, Request, source, write::WriteOptions};
use crate::oci::layout::{self, DEFAULT_TAG};
use crate::units::human_bytes;

/// Converts when the (single) path is an artifact source; `None` leaves it to the weight
/// converter.
pub fn run_if_artifact(global: &Global, args: &ConvertArgs) -> Result<Option<ExitCode>> {
    let mut specs = Vec::new();
    for p in &args.paths {
        let arg = p.to_string_lossy();
        if let Some(s) = source::parse(&arg, args.ollama_dir.as_deref())? {
            specs.push(s);
        }
    }
    if specs.is_empty()
        && let [one] = args.paths.as_slice()
        && let Some(reference) = registry_source(&one.to_string_lossy())
    {
        return from_registry(global, args, &reference).map(Some);
    }
    let spec = match (specs.len(), args.paths.len()) {
        (0, _) => {
            if args.ollama_dir.is_some() {
                bail!("--ollama-dir: name the model to convert (ollama:NAME[:TAG])");
            }
            return Ok(None);
        }
        (1, 1) => specs.remove(0),
        _ => bail!("convert takes one artifact source at a time (an OCI layout or ollama:NAME)"),
    };
    let target = Target::new(args)?;
    let req = Request {
        source: spec,
        write: WriteOptions {
            output: target.layout.clone(),
            tag: target.tag.clone(),
            copy: args.copy,
        },
    };
    let plugins = global.plugins()?;
    let log = global.logger();
    let verbose = move |m: &str| log(m);
    let outcome = migrate::convert(&plugins, &req, &verbose)?;
    finish(global, args, &target, outcome).map(Some)
}

/// Where the converted artifact goes: the layout named by --output, or (--push alone) a
/// staging layout removed once the push is done.
struct Target {
    layout: std::path::PathBuf,
    tag: String,
    _staging: Option<crate::oci::staging::Staging>,
}

impl Target {
    fn new(args: &ConvertArgs) -> Result<Target> {
        // Check the reference before any work, so a typo costs nothing.
        if let Some(p) = &args.push {
            super::reference::registry_reference(p)?;
        }
        match &args.output {
            Some(o) => {
                let out = o.to_string_lossy();
                let (layout, tag) = layout::split_reference(&out);
                crate::oci::staging::require_absent_or_empty(&layout)?;
                Ok(Target {
                    layout,
                    tag: tag.unwrap_or_else(|| DEFAULT_TAG.to_string()),
                    _staging: None,
                })
            }
            None => {
                let staging = crate::oci::staging::beside(
                    &std::env::temp_dir().join("modelpack-convert"),
                    "convert",
                )?;
                Ok(Target {
                    layout: staging.path().join("layout"),
                    tag: DEFAULT_TAG.to_string(),
                    _staging: Some(staging),
                })
            }
        }
    }
}

/// Pushes the converted layout when asked, then prints the report.
fn finish(
    global: &Global,
    args: &ConvertArgs,
    target: &Target,
    mut outcome: Outcome,
) -> Result<ExitCode> {
    let mut pushed = None;
    if let Some(reference) = &args.push {
        let opts = crate::registry::RegistryOptions {
            plain_http: args.plain_http,
            progress: true,
            verbose: global.verbose,
            ..Default::default()
        };
        let to = super::reference::registry_reference(reference)?;
        let out = crate::registry::push(&target.layout, Some(&target.tag), &to, &opts)?;
        if args.output.is_none() {
            outcome.output = format!("registry:{reference}");
        }
        pushed = Some((reference.clone(), out));
    }
    match args.format {
        OutputFormat::Json => {
            let mut v = serde_json::to_value(&outcome)?;
            if let Some((reference, out)) = &pushed {
                v["pushed"] = serde_json::json!({
                    "target": reference,
                    "manifest": out.manifest,
                    "uploaded": out.uploaded,
                    "bytesUploaded": out.bytes,
                    "mounted": out.mounted,
                    "skipped": out.skipped,
                });
            }
            println!("{}", serde_json::to_string_pretty(&v)?)
        }
        OutputFormat::Text => {
            print!("{}", render(&outcome, args.explain));
            if let Some((reference, out)) = &pushed {
                println!(
                    "pushed {} to {reference}: {} blobs uploaded ({}), {} mounted, {} already there",
                    out.manifest,
                    out.uploaded,
                    human_bytes(out.bytes),
                    out.mounted,
                    out.skipped
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A registry reference as a source: `docker://…`, or `HOST[:PORT]/REPO[:TAG|@DIGEST]` that is
/// not a local path and whose first part names a host (a dot, a port or `localhost`), so a
/// mistyped weight file path is never taken for one.
fn registry_source(arg: &str) -> Option<String> {
    if std::path::Path::new(arg).exists() {
        return None;
    }
    let explicit = arg.starts_with("docker://");
    let s = arg.strip_prefix("docker://").unwrap_or(arg);
    let (host, _) = s.split_once('/')?;
    let host_like = host.contains('.') || host.contains(':') || host == "localhost";
    (explicit || host_like).then(|| s.to_string())
}

/// Pulls the artifact into a staging directory beside the output, converts it from there (its
/// blobs are linked into the output, on the same file system) and removes the pull. Parent
/// artifacts a converter asks for are looked up in that pull only.
fn from_registry(global: &Global, args: &ConvertArgs, reference: &str) -> Result<ExitCode> {
    let reference = super::reference::registry_reference(reference)?;
    let target = Target::new(args)?;
    let tmp = crate::oci::staging::beside(&target.layout, "pull")?;
    let fresh = tmp.path().join("layout");
    let opts = crate::registry::RegistryOptions {
        progress: true,
        verbose: global.verbose,
        ..Default::default()
    };
    let pulled = crate::registry::pull(&reference, &fresh, &opts)?;
    let req = Request {
        source: source::SourceSpec::Layout {
            dir: fresh,
            tag: Some(pulled.tag.clone()),
        },
        write: WriteOptions {
            output: target.layout.clone(),
            tag: target.tag.clone(),
            copy: args.copy,
        },
    };
    let plugins = global.plugins()?;
    let log = global.logger();
    let verbose = move |m: &str| log(m);
    let mut outcome = migrate::convert(&plugins, &req, &verbose)?;
    drop(tmp);
    outcome.source = format!("registry:{reference}");
    finish(global, args, &target, outcome)
}

fn render(o: &Outcome, explain: bool) -> String {
    let mut s = format!(
        "converted {} [{}] into {}:{} ({})\n",
        o.source, o.converter, o.output, o.tag, o.manifest
    );
    for r in &o.referenced {
        s.push_str(&format!("  with layers of {r}\n"));
    }
    for l in &o.layers {
        s.push_str(&format!(
            "  {}  {}  {}  {}\n",
            l.path,
            l.media_type
                .trim_start_matches("application/vnd.cncf.model."),
            human_bytes(l.size),
            l.placed
        ));
    }
    s.push_str(&format!(
        "{} layers kept by digest, {} left out; {} read\n",
        o.layers.len(),
        o.dropped,
        human_bytes(o.bytes_read)
    ));
    for f in &o.findings {
        s.push_str(&format!("{f}\n"));
    }
    for w in &o.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    if explain {
        s.push_str("config:\n");
        for e in &o.explain {
            s.push_str(&format!(
                "  {} = {}  <- {} ({:?})\n",
                e.field, e.value, e.from, e.source
            ));
            if let Some(n) = &e.note {
                s.push_str(&format!("      {n}\n"));
            }
            for c in &e.overridden {
                s.push_str(&format!("      over {} <- {}\n", c.value, c.from));
            }
        }
    }
    s
}
