//! The `modelpack` binary: parse the command line, run, map errors to exit code 2.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    // `modelpack … | head` must end quietly, as `cat` does: with the default SIGPIPE action
    // the process is ended by the signal when the reader goes away, instead of println!
    // panicking on EPIPE (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; only resets a disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match modelpack::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // Ctrl-C, SIGTERM and SIGHUP remove partial output before the process ends.
    if let Err(e) = modelpack::signals::install() {
        eprintln!("warning: {e:#}");
    }
    let json = cli.wants_json();
    match modelpack::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = modelpack::cli::exit_code_of(&e);
            // One line: the chain of contexts joined, never a backtrace.
            let message = format!("{e:#}");
            eprintln!("error: {message}");
            if json {
                // Under --format json the error is a JSON document on stdout too, so a
                // consumer parsing stdout always gets JSON.
                let doc = serde_json::json!({"error": {"message": message, "exitCode": code}});
                println!("{doc:#}");
            }
            ExitCode::from(code)
        }
    }
}

/// A command line clap refuses. Help and version go out as clap prints them; a usage error
/// keeps clap's text on stderr (exit 2) and, when the command line asked for `--format json`,
/// is also a JSON document on stdout like every other error, so a consumer parsing stdout is
/// never handed plain text.
fn usage_error(e: clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        e.exit();
    }
    let _ = e.print();
    if asks_for_json(std::env::args_os().skip(1)) {
        // clap's first line is `error: <what>`; the usage and tip lines follow.
        let rendered = e.render().to_string();
        let first = rendered.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let doc = serde_json::json!({"error": {"message": message, "exitCode": 2}});
        println!("{doc:#}");
    }
    ExitCode::from(2)
}

/// Whether raw arguments contain `--format json` / `--format=json` (parsing failed, so the
/// parsed value is not available).
fn asks_for_json(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<_> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    args.iter().enumerate().any(|(i, a)| {
        a == "--format=json" || (a == "--format" && args.get(i + 1).is_some_and(|v| v == "json"))
    })
}
