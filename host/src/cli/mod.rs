//! Command-line interface: flags as clap parses them; one file per command runs it.

mod check;
mod convert;
mod convert_artifact;
mod generate;
mod inspect;
mod login;
pub mod pack;
mod plugins;
pub mod pull;
pub mod push;
mod reference;
mod referrers;
pub mod sbom;
pub mod sign;
pub mod unpack;
pub mod validate;
pub mod verify;

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
#[command(
    name = "modelpack",
    version = crate::cli::VERSION,
    about,
    max_term_width = 100,
    after_help = "Examples:\n  modelpack pack ./my-model -o ./oci --set descriptor.version=1.0\n  \
modelpack check ./my-model --policy-config policy.yaml\n  modelpack push ./oci:latest localhost:5000/models/my-model:1.0\n\n\
Exit codes: 0 success; 1 the model or a policy failed, or some input could not be read; \
2 usage, configuration or I/O error."
)]
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

/// The version `--version` prints: the crate version and the git commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MODELPACK_GIT_COMMIT"),
    ")"
);

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report what weight files hold (tensors, dtypes, parameters, metadata), header-only;
    /// for an OCI layout (LAYOUT[:TAG]) or a registry artifact (REGISTRY/REPO:TAG, read with Range
    /// requests), the manifest, config, tags and layers too.
    Inspect(InspectArgs),
    /// Run policy plugins over a model directory, an OCI layout, a registry artifact or a config file.
    Check(CheckArgs),
    /// Write a ModelPack config (and layer plan) for a model directory from what its files say.
    Generate(GenerateArgs),
    /// Manage plugins.
    #[command(subcommand, after_help = "Example:\n  modelpack plugins list")]
    Plugins(PluginsCommand),
    /// Pack a model directory into an OCI image layout (ModelPack artifact).
    Pack(pack::PackArgs),
    /// Validate a ModelPack config, manifest or OCI image layout.
    Validate(validate::ValidateArgs),
    /// Write the files of a ModelPack artifact in an OCI image layout back to a directory.
    Unpack(unpack::UnpackArgs),
    /// Push an artifact from an OCI image layout to a registry.
    Push(push::PushArgs),
    /// Pull an artifact from a registry into an OCI image layout (and optionally unpack it).
    Pull(pull::PullArgs),
    /// List what refers to an artifact (signatures, SBOMs) in a registry or a layout.
    Referrers(referrers::ReferrersArgs),
    /// Sign a model directory with an ECDSA P-256 key (OpenSSF model-signing format).
    Sign(sign::SignArgs),
    /// Verify a model directory against its signature and a public key.
    Verify(verify::VerifyArgs),
    /// Write an AI bill of materials (CycloneDX 1.6 or SPDX 3.0.1) for a model directory.
    Sbom(sbom::SbomArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  modelpack completions bash > ~/.local/share/bash-completion/completions/modelpack\n  \
modelpack completions zsh > ~/.zfunc/_modelpack\n  modelpack completions fish > ~/.config/fish/completions/modelpack.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Log in to a registry: check the credentials, store them as Docker does.
    Login(login::LoginArgs),
    /// Log out of a registry: remove its stored credentials.
    Logout(login::LogoutArgs),
    /// Convert pickle, NumPy and GGUF weights to safetensors without executing anything.
    Convert(convert::ConvertArgs),
}

/// `check` output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CheckFormat {
    /// For people: one line per finding, then counts.
    Text,
    /// Stable JSON (see README).
    Json,
    /// SARIF 2.1.0, for code-scanning UIs.
    Sarif,
}

/// `check` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  modelpack check ./my-model --policy-config policy.yaml\n  \
modelpack check ./oci:latest --policy license-allowlist --policy-config policy.yaml --format sarif\n\n\
Without --policy and --policy-config: the policy config modelpack-policy.yaml (.yml, .toml, .json) \
in the current directory, else the built-in policies that need no settings (no-unsafe-code, \
required-metadata).\n\n\
Exit codes: 0 pass; 1 a policy failed or could not run, or weights are missing; 2 usage or \
configuration error (unknown policy, a broken policy config or settings)."
)]
pub struct CheckArgs {
    /// A model directory, an OCI layout (`LAYOUT[:TAG]`), a registry reference
    /// (`REGISTRY/REPO:TAG`, read with Range requests, nothing pulled) or a ModelPack config file.
    pub path: String,
    /// A policy by name (built-in or installed), a policy plugin file, or one published in a
    /// registry (`oci://REGISTRY/REPO:TAG` or `@sha256:…`, see `plugins push`); repeatable.
    /// Without it, the policies named in --policy-config run.
    #[arg(long = "policy", value_name = "NAME|FILE.wasm|oci://REF")]
    pub policies: Vec<String>,
    /// Run `oci://` policies only when signed by this ECDSA P-256 public key (PEM).
    #[arg(long, value_name = "PUBLIC.pem")]
    pub policy_key: Option<PathBuf>,
    /// Policy settings file (YAML, TOML or JSON): `policies: {name: settings}`.
    #[arg(long, value_name = "FILE")]
    pub policy_config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Lowest finding severity that fails the run.
    #[arg(long, default_value = "error", value_parser = ["error", "warning"])]
    pub fail_on: String,
    /// Verify the model's signature (a directory's model.sig, a layout's signature referrers)
    /// with this ECDSA P-256 public key (PEM); repeatable. Policies see the signatures that
    /// verified (signature-required needs one).
    #[arg(long = "public-key", value_name = "PUBLIC.pem")]
    pub public_keys: Vec<PathBuf>,
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
#[command(
    after_help = "Examples:\n  modelpack inspect model.safetensors --tensors\n  \
modelpack inspect ./oci:latest --format json"
)]
pub struct InspectArgs {
    /// Files, directories, OCI image layouts (LAYOUT or LAYOUT:TAG) or registry references
    /// (REGISTRY/REPO:TAG or @sha256:…).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// List every tensor (text output; JSON always has them).
    #[arg(long)]
    pub tensors: bool,
}

/// The flags `generate` and `pack` share: what goes into the config and which files are taken.
#[derive(Debug, Args, Clone, Default)]
pub struct GenerateFlags {
    /// descriptor.name.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// Set a field, e.g. descriptor.version=1.0, config.paramSize=7B,
    /// capabilities.reasoning=true, licenses=MIT,Apache-2.0; FIELD= leaves it out. Repeatable.
    #[arg(long, value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// A partial ModelPack config in JSON ({"descriptor": {...}, "config": {...}}) whose
    /// fields override detected ones (flags override it).
    #[arg(long, value_name = "FILE")]
    pub config_override: Option<PathBuf>,
    /// descriptor.createdAt (RFC 3339); default: SOURCE_DATE_EPOCH, the model card, or none.
    #[arg(long, value_name = "RFC3339")]
    pub created: Option<String>,
    /// Also take files matching GLOB that are skipped by default (hidden, .modelpackignore).
    /// Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out files and directories matching GLOB (a name without `/` matches at any
    /// depth). Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Refuse a config.precision outside the spec's list (default: keep it, with a warning).
    #[arg(long)]
    pub strict: bool,
    /// Describe and pack the model with its weights converted to safetensors first (as
    /// `modelpack convert` does, in a temporary directory beside the output; the model
    /// directory is only read), so the artifact holds no pickle.
    #[arg(long)]
    pub convert_pickles: bool,
}

impl GenerateFlags {
    /// The generate options these flags ask for.
    pub fn options(&self) -> crate::generate::GenerateOptions {
        crate::generate::GenerateOptions {
            name: self.name.clone(),
            sets: self.set.clone(),
            override_file: self.config_override.clone(),
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            created: self.created.clone(),
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .filter(|v| !v.is_empty()),
            strict: self.strict,
            ..crate::generate::GenerateOptions::default()
        }
    }

    /// Whether any flag would change the config (as opposed to which files are taken).
    pub fn sets_fields(&self) -> Option<&'static str> {
        if self.name.is_some() {
            Some("--name")
        } else if !self.set.is_empty() {
            Some("--set")
        } else if self.config_override.is_some() {
            Some("--config-override")
        } else if self.created.is_some() {
            Some("--created")
        } else {
            None
        }
    }
}

/// `generate` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  modelpack generate ./llama-3-8b --set descriptor.version=1.0 -o model-config.json\n  \
(review model-config.json, then: modelpack pack ./llama-3-8b --config model-config.json -o ./oci)\n\n\
Exit codes: 0 config written; 1 config written, but weights are missing \
(Git LFS pointers, absent shards) or unreadable; 2 usage or I/O error, or the config would be \
invalid (nothing is written)."
)]
pub struct GenerateArgs {
    /// The model directory (or a Hugging Face cache repo folder, models--org--name).
    pub dir: PathBuf,
    /// Write the config to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// What goes into the config, which files are taken.
    #[command(flatten)]
    pub flags: GenerateFlags,
    /// Print a JSON document with the config, each field's value and source, and how each
    /// file was classified.
    #[arg(long)]
    pub explain: bool,
    /// Print a JSON document with the config and the planned layers (path, kind, media type,
    /// size, diffId, annotations).
    #[arg(long)]
    pub plan: bool,
    /// Output format: text prints the config itself; json a document {config, missing,
    /// warnings} (as --plan/--explain, which imply it).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `plugins` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the available plugins.
    #[command(after_help = "Example:\n  modelpack plugins list --format json")]
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Publish a plugin component to a registry as an OCI artifact (run it with
    /// `--policy oci://REGISTRY/REPO:TAG`).
    #[command(
        after_help = "The artifact: artifactType application/vnd.modelpack.plugin.v1+wasm, the \
empty config, one application/wasm layer holding the component. With --key it is signed (a \
sigstore bundle referrer, as `modelpack sign` signs layouts) and `--policy-key` checks it.\n\n\
Example:\n  modelpack plugins push my-policy.wasm localhost:5000/policies/my-policy:1.0 --key signer.pem"
    )]
    Push(plugins::PushArgs),
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
        self.plugins_with(&[])
    }

    /// The plugin set plus extra plugin files named by the command (e.g. `--policy x.wasm`).
    pub fn plugins_with(&self, extra: &[PathBuf]) -> Result<PluginSet> {
        let log = self.logger();
        let cache = CodeCache::from_env();
        if let Some(c) = &cache {
            log(&format!("compiled-code cache: {}", c.dir().display()));
        }
        let runtime = Runtime::new(self.limits()?, cache, log)?;
        let explicit: Vec<PathBuf> = self.plugins.iter().chain(extra).cloned().collect();
        let set = PluginSet::discover(&explicit, runtime)?;
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
        Command::Check(args) => check::run(&cli.global, args),
        Command::Generate(args) => generate::run(&cli.global, args),
        Command::Plugins(PluginsCommand::List { format }) => plugins::list(&cli.global, *format),
        Command::Plugins(PluginsCommand::Push(args)) => plugins::push(args),
        Command::Pack(args) => pack::run(&cli.global, args),
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Unpack(args) => unpack::run(&cli.global, args),
        Command::Push(args) => push::run(&cli.global, args),
        Command::Pull(args) => pull::run(&cli.global, args),
        Command::Referrers(args) => referrers::run(&cli.global, args),
        Command::Sign(args) => sign::run(&cli.global, args),
        Command::Verify(args) => verify::run(&cli.global, args),
        Command::Sbom(args) => sbom::run(&cli.global, args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "modelpack", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Login(args) => login::login(args),
        Command::Logout(args) => login::logout(args),
        Command::Convert(args) => convert::run(&cli.global, args),
    }
}

impl Cli {
    /// Whether the command asked for JSON output (errors are then printed as JSON too).
    pub fn wants_json(&self) -> bool {
        let json = OutputFormat::Json;
        match &self.command {
            Command::Inspect(a) => a.format == json,
            Command::Check(a) => a.format != CheckFormat::Text,
            Command::Generate(a) => a.format == json || a.plan || a.explain,
            Command::Plugins(PluginsCommand::List { format }) => *format == json,
            Command::Plugins(PluginsCommand::Push(a)) => a.format == json,
            Command::Pack(a) => a.format == json,
            Command::Validate(a) => a.format == json,
            Command::Unpack(a) => a.format == json,
            Command::Push(a) => a.format == json,
            Command::Pull(a) => a.format == json,
            Command::Login(a) => a.format == json,
            Command::Logout(a) => a.format == json,
            Command::Referrers(a) => a.format == json,
            Command::Sign(a) => a.format == json,
            Command::Verify(a) => a.format == json,
            // Its output is a document of its own format; errors stay text.
            Command::Sbom(_) => false,
            Command::Convert(a) => a.format == json,
            Command::Completions { .. } => false,
        }
    }
}

/// An error that ends the run with exit code 1 (the model or its input failed), not 2.
#[derive(Debug)]
pub struct ModelFailure(pub String);

impl std::fmt::Display for ModelFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelFailure {}

/// The exit code for an error: 1 for [`ModelFailure`], 2 for everything else (usage,
/// configuration, I/O).
pub fn exit_code_of(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<ModelFailure>()) {
        1
    } else {
        2
    }
}

/// The one message for a path that is not there, whatever the command.
pub fn require_path(p: &std::path::Path) -> Result<std::fs::Metadata> {
    std::fs::metadata(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            anyhow::anyhow!("{}: no such file or directory", p.display())
        }
        _ => anyhow::anyhow!("{}: {e}", p.display()),
    })
}

/// A directory (or a single file where a model directory is expected: `generate model.gguf`).
pub fn require_dir(p: &std::path::Path) -> Result<()> {
    require_path(p).map(|_| ())
}
