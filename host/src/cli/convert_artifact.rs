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
    let out = args.output.to_string_lossy();
    let (output, tag) = layout::split_reference(&out);
    let req = Request {
        source: spec,
        write: WriteOptions {
            output,
            tag: tag.unwrap_or_else(|| DEFAULT_TAG.to_string()),
            copy: args.copy,
        },
    };
    let plugins = global.plugins()?;
    let log = global.logger();
    let verbose = move |m: &str| log(m);
    let outcome = migrate::convert(&plugins, &req, &verbose)?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
        OutputFormat::Text => print!("{}", render(&outcome, args.explain)),
    }
    Ok(Some(ExitCode::SUCCESS))
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
