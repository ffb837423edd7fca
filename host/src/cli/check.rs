//! `modelpack check`: run policies over a model directory, an OCI layout or a config file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::{CheckArgs, CheckFormat, Global};
use crate::plugin::{Kind, PluginSet};
use crate::policy::output::{self, CheckReport, FailOn};
use crate::policy::{CheckInput, input, run_policy, settings};

/// Runs the policies and prints the report; exit 0 pass, 1 policy failure.
pub fn run(global: &Global, args: &CheckArgs) -> Result<ExitCode> {
    let policy_files: Vec<PathBuf> = args
        .policies
        .iter()
        .filter(|p| is_wasm_path(p))
        .map(PathBuf::from)
        .collect();
    let config = match &args.policy_config {
        Some(p) => settings::load(p)?,
        None => settings::PolicyConfig::default(),
    };
    let plugins = global.plugins_with(&policy_files)?;
    let mut names: Vec<String> = Vec::new();
    for p in &args.policies {
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
        bail!("no policies to run: name them with --policy or in a --policy-config file");
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
            bail!("unknown policy {name:?} (available: {})", known.join(", "));
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
    let log = global.logger();
    let input = load_input(&args.path, &plugins, &|m: &str| log(m))?;
    let results = entries
        .iter()
        .map(|e| {
            run_policy(
                &plugins,
                e,
                &input,
                &config.settings_for(&e.info.name),
                &|m: &str| log(m),
            )
        })
        .collect();
    let fail_on = if args.fail_on == "warning" {
        FailOn::Warning
    } else {
        FailOn::Error
    };
    let report = CheckReport::new(input.target.clone(), results, fail_on);
    let code = if report.failed() { 1 } else { 0 };
    match args.format {
        CheckFormat::Text => print!("{}", output::text(&report)),
        CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        CheckFormat::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&output::sarif(&report, code))?
        ),
    }
    Ok(ExitCode::from(code as u8))
}

fn is_wasm_path(p: &str) -> bool {
    p.ends_with(".wasm") || p.contains('/')
}

/// Decides what PATH is and gathers the policy input.
fn load_input(arg: &str, plugins: &PluginSet, log: &dyn Fn(&str)) -> Result<CheckInput> {
    let (path, tag) = input::split_layout_ref(arg);
    if path.join("oci-layout").is_file() {
        return input::from_layout(&path, tag.as_deref(), plugins, log);
    }
    let meta = std::fs::metadata(&path).map_err(|e| anyhow::anyhow!("{arg}: {e}"))?;
    if meta.is_file() {
        return input::from_config_file(&path);
    }
    input::from_directory(&path, plugins)
}
