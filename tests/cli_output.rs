//! Issue 15 points 4 and 7, and the basics of point 10: broken pipes end quietly, one JSON
//! naming convention, `--format json` on every command with errors as JSON there too, one
//! message for a missing path, exit codes, completions, `--version`, examples in every --help.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::pack::{pack, run};
use crate::util::{modelpack, plugins_built};

fn tiny_model() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model")
}

/// Runs the command with its stdout a pipe whose reader is already gone (`| head` that has
/// finished): it must end by SIGPIPE like `cat` does, never with a panic.
fn with_closed_stdout(args: &[&str]) -> (std::process::ExitStatus, String) {
    let bin = assert_cmd::cargo::cargo_bin("modelpack");
    let mut cmd = std::process::Command::new(bin);
    cmd.args(args)
        .env(
            "MODELPACK_CACHE_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugin-cache"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn broken_pipe_ends_quietly() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    pack(&tiny_model(), &layout, &[]);
    let model = tiny_model();
    let cases: Vec<Vec<&str>> = vec![
        vec!["plugins", "list", "--format", "json"],
        vec!["generate", model.to_str().unwrap(), "--explain"],
        vec!["validate", layout.to_str().unwrap(), "--format", "json"],
        vec!["inspect", model.to_str().unwrap(), "--tensors"],
        vec!["completions", "bash"],
    ];
    for args in cases {
        let (status, stderr) = with_closed_stdout(&args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(status.signal(), Some(13), "{args:?}: {status:?} {stderr}");
    }
}

fn has_snake_case_key(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                // Keys that are data (metadata names, dtypes, annotations), not our schema.
                let data = matches!(
                    path.rsplit('.').next(),
                    Some("metadata" | "dtypes" | "annotations" | "content")
                );
                if !data && k.contains('_') {
                    out.push(format!("{path}.{k}"));
                }
                has_snake_case_key(x, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| has_snake_case_key(x, path, out)),
        _ => {}
    }
}

#[test]
fn json_keys_are_camel_case_on_every_command() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    let model = tiny_model();
    let docs: Vec<(Vec<String>, i32)> = vec![
        (vec!["plugins".into(), "list".into()], 0),
        (vec!["inspect".into(), model.display().to_string()], 0),
        (vec!["inspect".into(), format!("{}", layout.display())], 0),
        (vec!["generate".into(), model.display().to_string()], 0),
        (
            vec![
                "generate".into(),
                model.display().to_string(),
                "--plan".into(),
            ],
            0,
        ),
        (
            vec![
                "unpack".into(),
                layout.display().to_string(),
                "-o".into(),
                work.path().join("out").display().to_string(),
            ],
            0,
        ),
        (vec!["validate".into(), layout.display().to_string()], 0),
    ];
    pack(&model, &layout, &[]);
    for (args, want) in docs {
        let mut full = args.clone();
        full.extend(["--format".to_string(), "json".to_string()]);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = run(&refs);
        assert_eq!(code, want, "{full:?}: {stderr}");
        let v: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{full:?}: not JSON ({e}): {stdout}"));
        let mut bad = Vec::new();
        has_snake_case_key(&v, "", &mut bad);
        assert!(bad.is_empty(), "{full:?}: snake_case keys {bad:?}");
    }
}

#[test]
fn errors_are_json_under_format_json_and_one_line_otherwise() {
    let missing = "/nonexistent/modelpack-model";
    for args in [
        vec!["inspect", missing],
        vec!["generate", missing],
        vec!["pack", missing, "-o", "/tmp/modelpack-never"],
        vec!["validate", missing],
        vec!["check", missing, "--policy", "required-metadata"],
        vec!["unpack", missing, "-o", "/tmp/modelpack-never"],
        vec!["push", missing, "localhost:5000/a/b:1"],
    ] {
        // Text: exactly one line, the same words for the same mistake.
        let out = modelpack().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!("error: {missing}: no such file or directory"),
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        // JSON: one document on stdout with the message and the exit code.
        let out = modelpack()
            .args(&args)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"));
        assert_eq!(
            v["error"]["message"],
            format!("{missing}: no such file or directory")
        );
        assert_eq!(v["error"]["exitCode"], 2);
    }
}

#[test]
fn usage_errors_are_json_under_format_json() {
    // A misspelt flag is refused by the argument parser, before any command runs: under
    // `--format json` it is still one JSON document on stdout, with clap's words and exit 2.
    for args in [
        vec![
            "check",
            "examples/tiny-model",
            "--polcy",
            "x",
            "--format",
            "json",
        ],
        vec![
            "inspect",
            "--format=json",
            "--tensor",
            "examples/tiny-model",
        ],
        vec!["pack", "--format", "json"],
    ] {
        let out = modelpack().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert_eq!(v["error"]["exitCode"], 2, "{args:?}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            !message.starts_with("error:") && !message.contains('\n'),
            "{message:?}"
        );
        // The text for humans stays on stderr, tip included.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let out = modelpack()
        .args(["check", "x", "--polcy", "y", "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["message"], "unexpected argument '--polcy' found");
    // Without --format json a usage error prints nothing on stdout.
    let out = modelpack()
        .args(["check", "x", "--polcy", "y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn completions_version_and_examples() {
    for shell in ["bash", "zsh", "fish"] {
        let out = modelpack().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("modelpack"), "{shell}");
        for sub in ["pack", "generate", "inspect", "check", "pull"] {
            assert!(text.contains(sub), "{shell}: {sub} missing");
        }
        assert!(text.contains("policy-config"), "{shell}: flags completed");
    }
    let out = modelpack().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = modelpack().arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(
        v.starts_with(&format!("modelpack {} (", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    // This test runs from a git checkout, so the commit is known.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    if !head.is_empty() {
        assert!(v.contains(&format!("commit {head}")), "{v} vs {head}");
    }

    for cmd in [
        vec!["--help"],
        vec!["inspect", "--help"],
        vec!["check", "--help"],
        vec!["generate", "--help"],
        vec!["plugins", "--help"],
        vec!["plugins", "list", "--help"],
        vec!["pack", "--help"],
        vec!["validate", "--help"],
        vec!["unpack", "--help"],
        vec!["push", "--help"],
        vec!["pull", "--help"],
        vec!["completions", "--help"],
        vec!["login", "--help"],
        vec!["logout", "--help"],
    ] {
        let out = modelpack().args(&cmd).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        let example = text.find("Example").map(|i| &text[i..]);
        assert!(
            example.is_some_and(|e| e.contains("modelpack ")),
            "{cmd:?} has no example line:\n{text}"
        );
    }
}
