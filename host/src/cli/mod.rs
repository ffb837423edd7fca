//! Command-line interface: flags as clap parses them; one file per command runs it.

mod inspect;
pub mod pack;
mod plugins;
pub mod unpack;
pub mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::plugin::cache::CodeCache;
use crate::plugin::{Limits, PluginSet, Runtime};

/// Turn raw ML checkpoints into CNCF ModelPack artifacts; every format and policy runs in a
/// WebAssembly sandbox.
#[derive(Debug, Parser)]
#[command(name = "modelpack", version, about, max_term_width = 100)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Load an extra plugin component (.wasm); repeatable. Overrides a plugin of the same name.
    #[arg(long = "plugin", global = true, value_name = "FILE.wasm")]
    pub plugins: Vec<PathBuf>,
    /// CPU deadline per plugin call, in seconds.
    #[arg(long, global = true, default_value_t = 5.0, value_name = "SECS")]
    pub plugin_timeout: f64,
    /// Memory cap per plugin call, in MiB.
    #[arg(long, global = true, default_value_t = 256, value_name = "MIB")]
    pub plugin_memory: usize,
    /// Show plugin output, compile/cache events and other details on stderr.
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report what weight files hold (tensors, dtypes, parameters, metadata), header-only.
    Inspect(InspectArgs),
    /// Manage plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Pack a model directory into an OCI image layout (ModelPack artifact).
    Pack(pack::PackArgs),
    /// Validate a ModelPack config, manifest or OCI image layout.
    Validate(validate::ValidateArgs),
    /// Write the files of a ModelPack artifact in an OCI image layout back to a directory.
    Unpack(unpack::UnpackArgs),
}

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// Stable JSON (see README).
    Json,
}

/// `inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// List every tensor (text output; JSON always has them).
    #[arg(long)]
    pub tensors: bool,
}

/// `plugins` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the available plugins.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

impl Global {
    fn limits(&self) -> Result<Limits> {
        if !(self.plugin_timeout.is_finite()
            && self.plugin_timeout > 0.0
            && self.plugin_timeout <= 3600.0)
        {
            anyhow::bail!("--plugin-timeout must be between 0 and 3600 seconds");
        }
        if self.plugin_memory == 0 || self.plugin_memory > 4096 {
            anyhow::bail!("--plugin-memory must be between 1 and 4096 MiB");
        }
        Ok(Limits {
            timeout: Duration::from_secs_f64(self.plugin_timeout),
            memory: self.plugin_memory << 20,
            ..Limits::default()
        })
    }

    pub(crate) fn logger(&self) -> Arc<dyn Fn(&str) + Send + Sync> {
        if self.verbose {
            Arc::new(|m: &str| eprintln!("modelpack: {m}"))
        } else {
            Arc::new(|_: &str| {})
        }
    }

    /// The plugin set for this run (nothing is compiled yet).
    pub fn plugins(&self) -> Result<PluginSet> {
        let log = self.logger();
        let cache = CodeCache::from_env();
        if let Some(c) = &cache {
            log(&format!("compiled-code cache: {}", c.dir().display()));
        }
        let runtime = Runtime::new(self.limits()?, cache, log)?;
        let set = PluginSet::discover(&self.plugins, runtime)?;
        for w in &set.warnings {
            eprintln!("warning: {w}");
        }
        Ok(set)
    }
}

/// Runs the parsed command line; errors are usage or I/O errors (exit 2).
pub fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Inspect(args) => inspect::run(&cli.global, args),
        Command::Plugins(PluginsCommand::List { format }) => plugins::list(&cli.global, *format),
        Command::Pack(args) => pack::run(&cli.global, args),
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Unpack(args) => unpack::run(&cli.global, args),
    }
}
