//! `modelpack login` / `modelpack logout`: credentials for a registry, checked against it and
//! stored where Docker keeps them (its credential helper when one is configured, else the
//! config file's `auths`), so docker, skopeo and oras see the same login.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use super::OutputFormat;
use crate::registry::dockerconfig::{self, DockerConfig};
use crate::registry::{credhelper, login};

/// `login` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Example: echo \"$TOKEN\" | modelpack login ghcr.io -u alice --password-stdin\n\n\
Credentials go to the Docker config ($DOCKER_CONFIG/config.json, default ~/.docker/config.json): \
into the credential helper named by credHelpers/credsStore when there is one, else base64 in \
`auths` (unencrypted, as docker does; a warning says so)."
)]
pub struct LoginArgs {
    /// The registry: HOST[:PORT] (a `docker://` or `https://` prefix is accepted).
    pub registry: String,
    /// User name (asked for when stdin is a terminal).
    #[arg(long, short)]
    pub username: Option<String>,
    /// Read the password or token from stdin (one line).
    #[arg(long)]
    pub password_stdin: bool,
    /// Talk plain HTTP to a non-loopback registry.
    #[arg(long)]
    pub plain_http: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `logout` arguments.
#[derive(Debug, Args)]
#[command(after_help = "Example: modelpack logout ghcr.io")]
pub struct LogoutArgs {
    /// The registry: HOST[:PORT].
    pub registry: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `host[:port]` from what a user may type: `docker://r/`, `https://r`, `r/v2/`.
fn registry_host(s: &str) -> Result<String> {
    let host = dockerconfig::key_host(s.trim().trim_start_matches("docker://"));
    if host.is_empty() || host.contains(char::is_whitespace) {
        bail!("invalid registry {s:?}: expected HOST[:PORT], e.g. ghcr.io or localhost:5000");
    }
    Ok(host.to_ascii_lowercase())
}

fn config() -> Result<DockerConfig> {
    let path = dockerconfig::default_path()
        .context("no home directory: set DOCKER_CONFIG to the directory for config.json")?;
    Ok(DockerConfig::load(&path)?)
}

fn read_line(what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from stdin"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Checks the credentials, stores them, prints where.
pub fn login(args: &LoginArgs) -> Result<ExitCode> {
    let registry = registry_host(&args.registry)?;
    let interactive = std::io::stdin().is_terminal();
    let username = match &args.username {
        Some(u) if !u.is_empty() => u.clone(),
        _ if interactive && !args.password_stdin => {
            eprint!("Username for {registry}: ");
            read_line("user name")?
        }
        _ => bail!("--username is required (stdin is not a terminal)"),
    };
    if username.is_empty() {
        bail!("the user name is empty");
    }
    let password = if args.password_stdin {
        read_line("password")?
    } else if interactive {
        rpassword::prompt_password(format!("Password for {username}@{registry}: "))
            .context("reading the password")?
    } else {
        bail!("use --password-stdin to give the password when stdin is not a terminal");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }

    crate::registry::block_on(login::verify(
        &registry,
        &username,
        &password,
        args.plain_http,
    ))??;

    let mut cfg = config()?;
    let stored_in = match cfg.helper_for(&registry) {
        Some(helper) => {
            credhelper::store(
                &helper,
                &dockerconfig::server_key(&registry),
                &username,
                &password,
            )?;
            cfg.mark_helper_login(&registry);
            format!("credential helper docker-credential-{helper}")
        }
        None => {
            cfg.set_inline(&registry, &username, &password);
            if args.format == OutputFormat::Text {
                eprintln!(
                    "warning: the password is stored unencrypted in {}; configure a credential \
                     helper (credsStore) to avoid it",
                    cfg.path().display()
                );
            }
            cfg.path().display().to_string()
        }
    };
    cfg.save()?;
    match args.format {
        OutputFormat::Text => println!("Login Succeeded ({registry}, stored in {stored_in})"),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "registry": registry,
                "username": username,
                "storedIn": stored_in,
            }))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes the registry's credentials from the helper and the config file.
pub fn logout(args: &LogoutArgs) -> Result<ExitCode> {
    let registry = registry_host(&args.registry)?;
    let mut cfg = config()?;
    let mut removed = false;
    if let Some(helper) = cfg.helper_for(&registry) {
        removed |= credhelper::erase(&helper, &dockerconfig::server_key(&registry))?;
    }
    if cfg.remove_inline(&registry) {
        removed = true;
        cfg.save()?;
    }
    match args.format {
        OutputFormat::Text if removed => println!("Removed login credentials for {registry}"),
        OutputFormat::Text => println!("Not logged in to {registry}"),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"registry": registry, "removed": removed}))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}
