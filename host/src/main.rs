//! The `modelpack` binary: parse the command line, run, map errors to exit code 2.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `modelpack … | head` must end quietly, as `cat` does: with the default SIGPIPE action
    // the process is ended by the signal when the reader goes away, instead of println!
    // panicking on EPIPE (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; only resets a disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = modelpack::cli::Cli::parse();
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
