//! Builds the `plugins/` workspace for wasm32-wasip2 with a nested cargo, so that a plain
//! `cargo build` / `cargo test` of the host always has current plugins.
//!
//! Rules learnt the hard way (see README "Development"): the nested cargo gets its own target
//! dir (sharing the outer one deadlocks on cargo's lock), runs from `plugins/` so its
//! `.cargo/config.toml` applies, and gets a scrubbed environment (host RUSTFLAGS break wasm).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Plugins compiled into the `modelpack` binary.
const BUNDLED: &[&str] = &[
    "safetensors",
    "gguf",
    "onnx",
    "pytorch",
    "numpy",
    "tflite",
    "openvino",
    "convention-card",
    "convention-hf",
    "convention-license",
    "convention-peft",
    "convention-diffusers",
    "convention-sentence-transformers",
    "convention-mlflow",
    "convention-modelscope",
    "convention-hf-cache",
    "policy-license-allowlist",
    "policy-no-unsafe-code",
    "policy-size-limits",
    "policy-required-metadata",
    "policy-precision-allowlist",
    "policy-signature-required",
    "converter-cnai",
    "converter-ollama",
    "converter-docker",
    "converter-kitops",
];
/// Plugins built for tests only.
const TEST_ONLY: &[&str] = &[
    "evil",
    "evil-policy",
    "evil-convention",
    "blank-hf",
    "evil-locate",
    "future-wit",
    "old-wit",
    "evil-converter",
];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let plugins = root.join("plugins");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    watch(&root.join("wit"));
    watch(&plugins.join(".cargo"));
    println!(
        "cargo:rerun-if-changed={}",
        plugins.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        plugins.join("Cargo.lock").display()
    );
    for entry in std::fs::read_dir(&plugins).unwrap().flatten() {
        let p = entry.path();
        // Whole crate dirs (cargo scans them recursively; nested crates like
        // pytorch/pickle-scan included); never plugins/ itself, whose target/ always changes.
        if p.join("Cargo.toml").exists() {
            watch(&p);
        }
    }
    // The spec vocabularies crate is compiled into plugins too.
    watch(&plugins.join("../spec"));
    println!("cargo:rerun-if-env-changed=MODELPACK_SKIP_PLUGIN_BUILD");
    println!("cargo:rerun-if-env-changed=CI");

    let ci = env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let wasm_dir = plugins.join("target/wasm32-wasip2/release");
    let available = if env::var_os("MODELPACK_SKIP_PLUGIN_BUILD").is_some() {
        // Developer escape hatch: reuse whatever plugins/target holds (possibly stale).
        let all = BUNDLED
            .iter()
            .chain(TEST_ONLY)
            .all(|p| wasm_dir.join(stem(p)).exists());
        println!(
            "cargo:warning=MODELPACK_SKIP_PLUGIN_BUILD set: plugins not rebuilt{}",
            if all {
                ""
            } else {
                "; some are missing, none bundled"
            }
        );
        all
    } else if !has_wasm_target() && !install_wasm_target() {
        if ci {
            panic!(
                "the wasm32-wasip2 target is missing under CI: run `rustup target add wasm32-wasip2`"
            );
        }
        println!(
            "cargo:warning=wasm32-wasip2 target missing (`rustup target add wasm32-wasip2`): no plugins bundled, plugin tests skip"
        );
        false
    } else {
        build_plugins(&plugins, ci);
        true
    };

    let mut src = String::new();
    writeln!(
        src,
        "/// Whether the plugins were built (false without the wasm32-wasip2 target)."
    )
    .unwrap();
    writeln!(src, "pub const AVAILABLE: bool = {available};").unwrap();
    writeln!(src, "/// Built-in plugins: file stem and component bytes.").unwrap();
    writeln!(src, "pub static BUNDLED: &[(&str, &[u8])] = &[").unwrap();
    if available {
        for name in BUNDLED {
            let path = wasm_dir.join(stem(name));
            writeln!(
                src,
                "    ({name:?}, include_bytes!({:?})),",
                path.display().to_string()
            )
            .unwrap();
        }
    }
    writeln!(src, "];").unwrap();
    writeln!(
        src,
        "/// Test-only plugins: file stem and path of the component."
    )
    .unwrap();
    writeln!(src, "pub static TEST_PLUGINS: &[(&str, &str)] = &[").unwrap();
    if available {
        for name in TEST_ONLY {
            let path = wasm_dir.join(stem(name));
            writeln!(src, "    ({name:?}, {:?}),", path.display().to_string()).unwrap();
        }
    }
    writeln!(src, "];").unwrap();
    // Write a new file and rename it over the old one: never write in place, since a build
    // directory copied with hard links (`cp -al`) would change every copy's artifacts.rs.
    let tmp = out.join("artifacts.rs.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::fs::write(&tmp, src).unwrap();
    std::fs::rename(&tmp, out.join("artifacts.rs")).unwrap();
}

/// The `.wasm` file cargo writes for a package (dashes become underscores).
fn stem(package: &str) -> String {
    format!("{}.wasm", package.replace('-', "_"))
}

fn watch(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
}

fn has_wasm_target() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib/wasm32-wasip2")
        .exists()
}

/// Installs the target with rustup, so `cargo build` alone works on a fresh machine.
/// Opt out with MODELPACK_NO_TARGET_INSTALL=1.
fn install_wasm_target() -> bool {
    println!("cargo:rerun-if-env-changed=MODELPACK_NO_TARGET_INSTALL");
    if env::var_os("MODELPACK_NO_TARGET_INSTALL").is_some() {
        return false;
    }
    println!(
        "cargo:warning=installing the wasm32-wasip2 target with rustup (plugins are WebAssembly components)"
    );
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", "wasm32-wasip2"]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    cmd.status().is_ok_and(|s| s.success()) && has_wasm_target()
}

fn build_plugins(plugins: &Path, ci: bool) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = plugins.join("target");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(plugins)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_BUILD_BUILD_DIR", &target)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET");
    for p in BUNDLED.iter().chain(TEST_ONLY) {
        cmd.args(["-p", p]);
    }
    if ci {
        cmd.arg("--locked");
    }
    let status = cmd.status().expect("failed to run cargo for the plugins");
    if !status.success() {
        panic!("building the wasm plugins failed (cd plugins && cargo build --release)");
    }
}
