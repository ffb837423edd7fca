//! `modelpack validate`: a ModelPack config, manifest or OCI image layout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;

use super::{Global, OutputFormat};
use crate::model::INDEX_MEDIA_TYPE;
use crate::validate::layout::{Located, read_document, validate_layout};
use crate::validate::manifest::validate_manifest;
use crate::validate::{Level, Problem, config::validate_config};

/// `validate` arguments.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  modelpack validate ./oci --strict\n  \
modelpack validate model-config.json --format json")]
pub struct ValidateArgs {
    /// A config or manifest JSON file, or an OCI image layout directory.
    pub path: PathBuf,
    /// What PATH is (default: a directory is a layout; a JSON file with `layers` or
    /// `schemaVersion` a manifest, any other JSON file a config).
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// Also check what the spec's prose requires but its schema does not.
    #[arg(long)]
    pub strict: bool,
    /// Worker threads for hashing layout blobs (default: one per core).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// What is validated.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A ModelPack config (application/vnd.cncf.model.config.v1+json).
    Config,
    /// An OCI image manifest of a ModelPack artifact.
    Manifest,
    /// An OCI image layout directory.
    Layout,
}

/// The JSON report (`--format json`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// The path validated.
    pub path: String,
    /// What it was validated as.
    pub kind: Kind,
    /// No errors (warnings allowed).
    pub valid: bool,
    /// Number of errors.
    pub errors: usize,
    /// Number of warnings.
    pub warnings: usize,
    /// Every problem, in the order found.
    pub problems: Vec<Located>,
}

fn detect(doc: &Value) -> Result<Kind> {
    if doc.get("mediaType").and_then(Value::as_str) == Some(INDEX_MEDIA_TYPE) {
        bail!("this is an OCI image index: validate the layout directory holding it");
    }
    if doc.get("layers").is_some() || doc.get("schemaVersion").is_some() {
        Ok(Kind::Manifest)
    } else {
        Ok(Kind::Config)
    }
}

/// Validates and prints the report; exit 0 valid, 1 invalid.
pub fn run(_global: &Global, args: &ValidateArgs) -> Result<ExitCode> {
    let meta = super::require_path(&args.path)?;
    let display = args.path.display().to_string();
    let jobs = match args.jobs {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(n) => n,
        None => crate::oci::pool::default_jobs(),
    };
    let (kind, problems) = if meta.is_dir() {
        if args.kind.is_some_and(|k| k != Kind::Layout) {
            bail!("{display} is a directory: only --kind layout applies");
        }
        (
            Kind::Layout,
            validate_layout(&args.path, args.strict, jobs)?,
        )
    } else {
        if args.kind == Some(Kind::Layout) {
            bail!("{display}: --kind layout needs a directory");
        }
        let bytes = read_document(&args.path)?;
        let at = |problems: Vec<Problem>| -> Vec<Located> {
            problems
                .into_iter()
                .map(|problem| Located {
                    document: display.clone(),
                    problem,
                })
                .collect()
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Err(e) => (
                args.kind.unwrap_or(Kind::Config),
                at(vec![Problem {
                    level: Level::Error,
                    pointer: String::new(),
                    keyword: "json".into(),
                    message: format!("not JSON: {e}"),
                }]),
            ),
            Ok(doc) => {
                let kind = match args.kind {
                    Some(k) => k,
                    None => detect(&doc)?,
                };
                let problems = match kind {
                    Kind::Manifest => validate_manifest(&doc, args.strict),
                    _ => validate_config(&doc, args.strict),
                };
                (kind, at(problems))
            }
        }
    };
    let errors = problems
        .iter()
        .filter(|p| p.problem.level == Level::Error)
        .count();
    let report = Report {
        path: display,
        kind,
        valid: errors == 0,
        errors,
        warnings: problems.len() - errors,
        problems,
    };
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => print_text(&report),
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_text(r: &Report) {
    let kind = match r.kind {
        Kind::Config => "config",
        Kind::Manifest => "manifest",
        Kind::Layout => "layout",
    };
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if r.valid {
        print!("{}: valid {kind}", r.path);
        if r.warnings > 0 {
            print!(" ({})", plural(r.warnings, "warning"));
        }
        println!();
    } else {
        println!(
            "{}: invalid {kind}: {}, {}",
            r.path,
            plural(r.errors, "error"),
            plural(r.warnings, "warning")
        );
    }
    for l in &r.problems {
        let level = match l.problem.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        let at = if l.problem.pointer.is_empty() {
            l.document.clone()
        } else {
            format!("{} {}", l.document, l.problem.pointer)
        };
        println!(
            "  {level}: {at}: {} [{}]",
            l.problem.message, l.problem.keyword
        );
    }
}
