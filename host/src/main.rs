//! The `modelpack` binary: parse the command line, run, map errors to exit code 2.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = modelpack::cli::Cli::parse();
    // Ctrl-C, SIGTERM and SIGHUP remove partial output before the process ends.
    if let Err(e) = modelpack::signals::install() {
        eprintln!("warning: {e:#}");
    }
    match modelpack::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line: the chain of contexts joined, never a backtrace.
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
