//! `modelpack convert`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::{Global, OutputFormat};
use crate::convert::{self, Options, Summary};
use crate::units::{human_bytes, human_count};

/// `convert` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Nothing in the input is executed: the format plugin reads the pickle in its \
sandbox and answers a copy plan; the host checks every byte range against the input and copies \
the bytes itself.\n\nExit codes: 0 written; 1 written, but some files of the directory could \
not be converted and were copied as they are; 2 usage or I/O error, unreadable input or a \
refused plan (nothing is written)."
)]
pub struct ConvertArgs {
    /// Weight files or model directories (other files of a directory are copied alongside).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Target format.
    #[arg(long, default_value = "safetensors", value_parser = ["safetensors"])]
    pub to: String,
    /// The new output directory (must not exist); for an artifact source, the new OCI layout
    /// (`LAYOUT[:TAG]`).
    #[arg(long, short, required_unless_present = "push")]
    pub output: Option<PathBuf>,
    /// Artifact sources: push the converted artifact to this registry reference
    /// (`REGISTRY/REPO:TAG`). Without --output no layout is kept: the conversion is staged in
    /// the temporary directory and removed after the push.
    #[arg(long, value_name = "REGISTRY/REPO:TAG")]
    pub push: Option<String>,
    /// With --push: talk plain HTTP to a non-loopback registry.
    #[arg(long, requires = "push")]
    pub plain_http: bool,
    /// Every tensor (optimizer state, other training state), not only the model's state dict.
    #[arg(long)]
    pub include_all: bool,
    /// Largest data size of one output file before it is split into shards (5GB, 500MB, 2GiB).
    #[arg(long, default_value = "5GB", value_parser = parse_size)]
    pub max_shard_size: u64,
    /// Weight files: fsync the output before renaming it into place, so it survives a power
    /// loss; slower. Without it the output is just as atomic but, as after `cp`, may still be
    /// in the page cache when convert returns.
    #[arg(long)]
    pub sync: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Ollama's model store, for `ollama:NAME` sources (default `$OLLAMA_MODELS` or
    /// `~/.ollama/models`); with it, a bare NAME is an Ollama model too.
    #[arg(long, value_name = "DIR")]
    pub ollama_dir: Option<PathBuf>,
    /// Artifact sources: copy every blob (hashing it) instead of reflinking or hard-linking.
    #[arg(long)]
    pub copy: bool,
    /// Artifact sources: show where each config value came from.
    #[arg(long)]
    pub explain: bool,
}

/// Parses `5GB` (decimal units, as Hugging Face spells shard sizes) or `2GiB` (binary).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 5GB or 500MiB"))?;
    let mult: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KIB" => 1024.0,
        "MIB" => 1048576.0,
        "GIB" => 1073741824.0,
        "TIB" => 1099511627776.0,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit (B, KB, MB, GB, TB, KiB, MiB, GiB)"
            ));
        }
    };
    let v = n * mult;
    if !(1.0..1.8e19).contains(&v) {
        return Err(format!("{s:?} is not a usable shard size"));
    }
    Ok(v as u64)
}

fn render(s: &Summary) -> String {
    let mut out = format!(
        "wrote {}: {} tensors, {} parameters, {}\n",
        s.output,
        s.tensors,
        human_count(s.parameters),
        human_bytes(s.bytes)
    );
    for f in &s.files {
        if f.tensors > 0 {
            out.push_str(&format!(
                "  {}  {} tensors, {}\n",
                f.name,
                f.tensors,
                human_bytes(f.bytes)
            ));
        } else {
            out.push_str(&format!("  {}\n", f.name));
        }
    }
    for i in &s.inputs {
        out.push_str(&format!(
            "converted {} [{}]: {} tensors\n",
            i.path, i.plugin, i.tensors
        ));
    }
    if !s.skipped.is_empty() {
        out.push_str(&format!("skipped {} objects:\n", s.skipped.len()));
        for k in &s.skipped {
            out.push_str(&format!("  {}: {}  ({})\n", k.file, k.name, k.reason));
        }
    }
    for n in &s.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    if !s.copied.is_empty() {
        out.push_str(&format!("copied alongside: {}\n", s.copied.join(", ")));
    }
    for n in &s.not_converted {
        out.push_str(&format!(
            "not converted (copied as is): {}: {}\n",
            n.path, n.reason
        ));
    }
    out
}

/// Converts the paths and prints what was written.
pub fn run(global: &Global, args: &ConvertArgs) -> Result<ExitCode> {
    if let Some(code) = super::convert_artifact::run_if_artifact(global, args)? {
        return Ok(code);
    }
    if args.to != "safetensors" {
        bail!("--to {}: only safetensors is written", args.to);
    }
    if args.push.is_some() {
        bail!(
            "--push takes an artifact source (an OCI layout, ollama:NAME or a registry reference); \
             weights are converted into a directory (--output DIR)"
        );
    }
    let Some(output) = &args.output else {
        bail!("--output DIR is needed");
    };
    crate::inspect::check_paths(&args.paths)?;
    let plugins = global.plugins()?;
    let log = global.logger();
    let verbose = move |m: &str| log(m);
    let options = Options {
        include_all: args.include_all,
        max_shard_size: args.max_shard_size,
        link_others: false,
        sync: args.sync,
    };
    let summary = convert::convert(&plugins, &args.paths, output, &options, &verbose)?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        OutputFormat::Text => print!("{}", render(&summary)),
    }
    Ok(if summary.not_converted.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5GB"), Ok(5_000_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}
