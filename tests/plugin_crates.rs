//! Runs the plugin crates' own native tests (parsers against every fixture, error cases,
//! truncation and byte-flip properties) so that one `cargo test` checks everything.

use std::path::Path;
use std::process::Command;

#[test]
fn plugin_crates_pass_their_native_tests() {
    if !crate::util::plugins_built() {
        return;
    }
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let host = host_triple();
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(&plugins)
        .args([
            "test",
            "--workspace",
            "--exclude",
            "evil",
            "--exclude",
            "evil-convention",
            "--exclude",
            "future-wit",
            "--exclude",
            "old-wit",
            "--target",
            &host,
        ])
        .env("CARGO_TARGET_DIR", plugins.join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        cmd.arg("--locked");
    }
    let out = cmd.output().expect("running cargo test in plugins/");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("test result:"))
        .collect();
    eprintln!("plugin crates: {}", summary.join(" | "));
    assert!(
        out.status.success(),
        "plugin crate tests failed:\n{stdout}\n{stderr}"
    );
    assert!(
        !summary.is_empty(),
        "no plugin tests ran:\n{stdout}\n{stderr}"
    );
}

fn host_triple() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("host triple")
        .to_string()
}
