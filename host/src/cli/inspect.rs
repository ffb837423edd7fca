//! `modelpack inspect`.

use std::process::ExitCode;

use anyhow::Result;

use super::{Global, InspectArgs, OutputFormat};
use crate::inspect::{self, InspectOutput, Status};

/// Inspects the paths and prints the reports.
pub fn run(global: &Global, args: &InspectArgs) -> Result<ExitCode> {
    inspect::check_paths(&args.paths)?;
    let plugins = global.plugins()?;
    let targets = inspect::collect_targets(&args.paths)?;
    let log = global.logger();
    let verbose = move |m: &str| log(m);
    let files = inspect::inspect_all(&plugins, &targets, &verbose);
    let failed = files.iter().any(|f| f.status == Status::Error);
    match args.format {
        OutputFormat::Json => {
            let model = inspect::model_summary(&files)?;
            let out = InspectOutput { files, model };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        OutputFormat::Text => {
            let mut out = String::new();
            for f in &files {
                out.push_str(&inspect::text::render(f, args.tensors));
            }
            print!("{out}");
            if failed {
                let n = files.iter().filter(|f| f.status == Status::Error).count();
                eprintln!("error: {n} of {} files could not be read", files.len());
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
