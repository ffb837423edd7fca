//! Issue 15 points 5 and 6: `check` fails a checkout whose weights are only Git LFS pointers
//! (as `pack` refuses it), surfaces a licence conflict, and its policy configuration errors
//! are exit 2 with a useful line, distinct from a failing model (exit 1).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::pack::run;
use crate::util::{fixtures, plugins_built};

fn tiny_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model")
}

fn check_json(args: &[&str], cwd: Option<&Path>) -> (i32, Value, String) {
    let mut cmd = crate::util::modelpack();
    cmd.arg("check").args(args).args(["--format", "json"]);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    (out.status.code().unwrap(), v, stderr)
}

#[test]
fn lfs_pointer_checkout_does_not_pass() {
    if !plugins_built() {
        return;
    }
    let lfs = fixtures().join("hf-lfs/granite-3.1-1b-a400m-instruct");
    let (code, r, _) = check_json(&[lfs.to_str().unwrap(), "--policy", "no-unsafe-code"], None);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["result"], "fail");
    let host = &r["policies"][0];
    assert_eq!(host["name"], "modelpack", "{r:#}");
    assert_eq!(host["outcome"], "fail");
    let f = &host["findings"][0];
    assert_eq!(f["id"], "missing-weights");
    assert_eq!(f["file"], "model.safetensors");
    assert!(
        f["message"].as_str().unwrap().contains("git lfs pull"),
        "{f}"
    );
    // pack of the same folder refuses too, with the same exit code: the commands agree.
    let work = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(&[
        "pack",
        lfs.to_str().unwrap(),
        "-o",
        work.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("weights missing (model.safetensors)"),
        "{stderr}"
    );
}

#[test]
fn licence_conflict_is_a_warning() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let m = work.path().join("tiny-model");
    std::fs::create_dir(&m).unwrap();
    for e in std::fs::read_dir(tiny_model()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), m.join(e.file_name())).unwrap();
    }
    // The card says Apache-2.0; the LICENSE file is the MIT text.
    std::fs::write(
        m.join("LICENSE"),
        "MIT License\n\nCopyright (c) 2024 Example\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software and associated documentation files (the \"Software\"), to deal\nin the Software without restriction, including without limitation the rights\nto use, copy, modify, merge, publish, distribute, sublicense, and/or sell\ncopies of the Software, and to permit persons to whom the Software is\nfurnished to do so, subject to the following conditions:\n\nThe above copyright notice and this permission notice shall be included in all\ncopies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\nIMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\nFITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run(&["generate", m.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Apache-2.0"), "{stdout}");
    assert!(
        stderr.contains("warning: licence conflict") && stderr.contains("MIT"),
        "{stderr}"
    );
    let (code, r, _) = check_json(&[m.to_str().unwrap(), "--policy", "no-unsafe-code"], None);
    assert_eq!(code, 0, "a warning does not fail: {r:#}");
    let host = &r["policies"][0];
    assert_eq!(host["outcome"], "warn", "{r:#}");
    assert_eq!(host["findings"][0]["id"], "license-conflict");
    // --fail-on warning makes it fail.
    let (code, _, _) = check_json(
        &[
            m.to_str().unwrap(),
            "--policy",
            "no-unsafe-code",
            "--fail-on",
            "warning",
        ],
        None,
    );
    assert_eq!(code, 1);
}

#[test]
fn no_policy_named_runs_the_repo_config_or_the_defaults() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model();
    // No config in the current directory: the settings-free built-ins.
    let (code, r, stderr) = check_json(&[model.to_str().unwrap()], Some(work.path()));
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    let names: Vec<&str> = r["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["no-unsafe-code", "required-metadata"]);
    assert!(stderr.contains("note: no policy named"), "{stderr}");
    // modelpack-policy.yaml in the current directory is the team's config.
    std::fs::write(
        work.path().join("modelpack-policy.yaml"),
        "policies:\n  license-allowlist:\n    allow: [MIT]\n",
    )
    .unwrap();
    let (code, r, stderr) = check_json(&[model.to_str().unwrap()], Some(work.path()));
    assert_eq!(code, 1, "apache-2.0 is not on the allow list: {r:#}");
    assert_eq!(r["policies"][0]["name"], "license-allowlist");
    assert!(
        stderr.contains("using the policy config modelpack-policy.yaml"),
        "{stderr}"
    );
}

#[test]
fn policy_configuration_errors_exit_2() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model();
    let m = model.to_str().unwrap();

    // license-allowlist without an allow list: a configuration error, not every licence failing.
    let (code, r, stderr) = check_json(&[m, "--policy", "license-allowlist"], None);
    assert_eq!(code, 2, "{r:#}");
    assert_eq!(r["policies"][0]["outcome"], "error");
    assert!(stderr.contains("no `allow` list"), "{stderr}");

    // A settings typo: exit 2 naming the key, with a suggestion.
    let p = work.path().join("p.yaml");
    std::fs::write(
        &p,
        "policies:\n  size-limits:\n    max_paramters: 8B\n  no-unsafe-code:\n",
    )
    .unwrap();
    let (code, r, stderr) = check_json(&[m, "--policy-config", p.to_str().unwrap()], None);
    assert_eq!(code, 2, "{r:#}");
    assert!(
        stderr.contains("unknown field `max_paramters`")
            && stderr.contains("did you mean `max_parameters`?"),
        "{stderr}"
    );
    // The other policy still ran and is reported.
    assert!(
        r["policies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "no-unsafe-code" && x["outcome"] == "pass"),
        "{r:#}"
    );

    // A real violation is 1, so CI can tell the two apart.
    std::fs::write(&p, "policies:\n  size-limits:\n    max_parameters: 1K\n").unwrap();
    let (code, r, _) = check_json(&[m, "--policy-config", p.to_str().unwrap()], None);
    assert_eq!(code, 1, "{r:#}");

    // --policy with a config file: a hint to --policy-config.
    let out = crate::util::modelpack()
        .args(["check", m, "--policy", "policy.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--policy-config policy.yaml"), "{stderr}");

    // A misspelt policy name: did you mean.
    let out = crate::util::modelpack()
        .args(["check", m, "--policy", "licence-allowlist"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did you mean `license-allowlist`?"),
        "{stderr}"
    );
}

#[test]
fn tar_layers_count_their_files() {
    // A layout whose layers are tars: the policies see every file of the model, not one
    // entry per layer (issue 15 point 7: "3 files" for a 12-file tar layout).
    if !plugins_built() {
        return;
    }
    let model = tiny_model();
    let files = std::fs::read_dir(&model).unwrap().count();
    for format in ["tar", "tar+gzip", "tar+zstd"] {
        let tmp = tempfile::tempdir().unwrap();
        let layout = tmp.path().join("oci");
        let (code, _, stderr) = run(&[
            "pack",
            model.to_str().unwrap(),
            "-o",
            layout.to_str().unwrap(),
            "--layer-format",
            format,
        ]);
        assert_eq!(code, 0, "{stderr}");
        let (code, r, stderr) =
            check_json(&[layout.to_str().unwrap(), "--policy", "size-limits"], None);
        assert_eq!(code, 0, "{stderr}");
        let findings = &r["policies"][0]["findings"];
        let totals = findings
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == "size-totals")
            .unwrap_or_else(|| panic!("{r:#}"));
        let message = totals["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{files} files, ")),
            "{format}: {message}"
        );
        assert!(
            message.contains("largest file model.safetensors"),
            "{message}"
        );
    }
}
