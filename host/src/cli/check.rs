//! `modelpack check`: run policies over a model directory, an OCI layout or a config file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::{CheckArgs, CheckFormat, Global};
use crate::plugin::{Kind, PluginSet};
use crate::policy::output::{self, CheckReport, FailOn};
use crate::policy::{CheckInput, input, run_policy, settings, signatures};

/// The policy config looked for in the current directory when no policy is named.
const DEFAULT_CONFIGS: [&str; 4] = [
    "modelpack-policy.yaml",
    "modelpack-policy.yml",
    "modelpack-policy.toml",
    "modelpack-policy.json",
];

/// The prefix of a policy published in a registry.
const OCI_SCHEME: &str = "oci://";

/// The built-in policies that mean something without settings, run when nothing is named.
const DEFAULT_POLICIES: [&str; 2] = ["no-unsafe-code", "required-metadata"];

/// Runs the policies and prints the report; exit 0 pass, 1 policy failure or missing weights,
/// 2 a usage or configuration error (a policy refusing its settings included).
pub fn run(global: &Global, args: &CheckArgs) -> Result<ExitCode> {
    for p in &args.policies {
        if is_config_path(p) {
            bail!(
                "--policy {p}: this looks like a policy config file; pass it with --policy-config {p} (--policy takes a policy name or a .wasm plugin)"
            );
        }
    }
    // Policies from a registry: fetched, verified and cached first, then run like files.
    let policy_key = args
        .policy_key
        .as_deref()
        .map(crate::sign::read_public)
        .transpose()?;
    if policy_key.is_some() && !args.policies.iter().any(|p| p.starts_with(OCI_SCHEME)) {
        bail!(
            "--policy-key applies to policies from a registry (--policy oci://REGISTRY/REPO:TAG)"
        );
    }
    let mut fetched = Vec::new();
    let mut policies = Vec::new();
    for p in &args.policies {
        match p.strip_prefix(OCI_SCHEME) {
            Some(r) => {
                let reference = super::reference::registry_reference(r)?;
                let opts = crate::registry::RegistryOptions::default();
                let f = crate::registry::plugin_artifact::fetch(
                    &reference,
                    policy_key.as_ref(),
                    &opts,
                )?;
                global.logger()(&format!(
                    "{p}: manifest {}, component {}",
                    f.manifest,
                    f.path.display()
                ));
                policies.push(f.path.display().to_string());
                fetched.push(f);
            }
            None => policies.push(p.clone()),
        }
    }
    let policy_files: Vec<PathBuf> = policies
        .iter()
        .filter(|p| is_wasm_path(p))
        .map(PathBuf::from)
        .collect();
    let mut config_path = args.policy_config.clone();
    if config_path.is_none() && args.policies.is_empty() {
        config_path = DEFAULT_CONFIGS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file());
        if let Some(p) = &config_path {
            eprintln!(
                "note: no policy named; using the policy config {}",
                p.display()
            );
        }
    }
    let config = match &config_path {
        Some(p) => settings::load(p)?,
        None => settings::PolicyConfig::default(),
    };
    let plugins = global.plugins_with(&policy_files)?;
    let mut names: Vec<String> = Vec::new();
    for p in &policies {
        let name = if is_wasm_path(p) {
            let path = PathBuf::from(p);
            let entry = plugins
                .entries()
                .iter()
                .find(|e| matches!(&e.origin, crate::plugin::Origin::File(f) if *f == path));
            match entry {
                Some(e) => e.info.name.clone(),
                None => bail!("{p}: not loaded as a plugin"),
            }
        } else {
            p.clone()
        };
        names.push(name);
    }
    if names.is_empty() {
        names = config.policies.iter().map(|(n, _)| n.clone()).collect();
    }
    if names.is_empty() {
        if config_path.is_some() {
            bail!("no policies to run: the policy config names none");
        }
        names = DEFAULT_POLICIES.iter().map(|s| s.to_string()).collect();
        eprintln!(
            "note: no policy named; running the built-in defaults {} (name policies with --policy or --policy-config)",
            DEFAULT_POLICIES.join(", ")
        );
    }
    let mut entries = Vec::new();
    for name in &names {
        let Some(entry) = plugins.by_name(name) else {
            let known: Vec<&str> = plugins
                .entries()
                .iter()
                .filter(|e| e.info.kind == Kind::Policy)
                .map(|e| e.info.name.as_str())
                .collect();
            bail!(
                "unknown policy {name:?}{} (available: {})",
                crate::suggest::hint(name, known.iter().copied()),
                known.join(", ")
            );
        };
        if entry.info.kind != Kind::Policy {
            bail!("plugin {name:?} is a format handler, not a policy");
        }
        if !entries
            .iter()
            .any(|e: &&crate::plugin::Entry| e.info.name == entry.info.name)
        {
            entries.push(entry);
        }
    }
    let keys = args
        .public_keys
        .iter()
        .map(|k| crate::sign::read_public(k))
        .collect::<Result<Vec<_>, _>>()?;
    let log = global.logger();
    let mut input = load_input(&args.path, &plugins, &|m: &str| log(m))?;
    let (path, tag) = input::split_layout_ref(&args.path);
    if path.join("oci-layout").is_file() {
        signatures::for_layout(&mut input, &path, tag.as_deref(), &keys);
    } else if path.is_dir() {
        signatures::for_directory(&mut input, &path, &keys);
    }
    let mut results: Vec<_> = crate::policy::host_result(&input).into_iter().collect();
    results.extend(entries.iter().map(|e| {
        run_policy(
            &plugins,
            e,
            &input,
            &config.settings_for(&e.info.name),
            &|m: &str| log(m),
        )
    }));
    let fail_on = if args.fail_on == "warning" {
        FailOn::Warning
    } else {
        FailOn::Error
    };
    let report = CheckReport::new(input.target.clone(), results, fail_on);
    let broken: Vec<&str> = report
        .policies
        .iter()
        .filter(|p| p.settings_error)
        .filter_map(|p| p.error.as_deref())
        .collect();
    let code: u8 = if !broken.is_empty() {
        2
    } else if report.failed() {
        1
    } else {
        0
    };
    match args.format {
        CheckFormat::Text => print!("{}", output::text(&report)),
        CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        CheckFormat::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&output::sarif(&report, code as i32))?
        ),
    }
    for b in &broken {
        eprintln!("error: {b} (a configuration error: fix the policy config)");
    }
    Ok(ExitCode::from(code))
}

fn is_wasm_path(p: &str) -> bool {
    p.ends_with(".wasm") || (p.contains('/') && !is_config_path(p))
}

fn is_config_path(p: &str) -> bool {
    let l = p.to_ascii_lowercase();
    [".yaml", ".yml", ".toml", ".json"]
        .iter()
        .any(|x| l.ends_with(x))
}

/// Decides what PATH is and gathers the policy input.
fn load_input(arg: &str, plugins: &PluginSet, log: &dyn Fn(&str)) -> Result<CheckInput> {
    let (path, tag) = input::split_layout_ref(arg);
    if path.join("oci-layout").is_file() {
        return input::from_layout(&path, tag.as_deref(), plugins, log);
    }
    let meta = super::require_path(&path)?;
    if meta.is_file() {
        return input::from_config_file(&path);
    }
    input::from_directory(&path, plugins)
}
