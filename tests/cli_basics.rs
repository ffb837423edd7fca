//! Issue 15 points 9 and 10: single-file `pack model.gguf`, did-you-mean for `--set`, an
//! unlisted precision kept with a warning (refused under --strict), and plain-line progress
//! when stderr is not a terminal.

use serde_json::Value;

use crate::pack::{pack, run};
use crate::util::{fixtures, modelpack, plugins_built};

#[test]
fn pack_a_single_gguf_file() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let gguf = fixtures().join("gguf/llama-2-tiny-random.gguf");
    let layout = work.path().join("oci");
    let out = pack(&gguf, &layout, &[]);
    let layers = out["layers"].as_array().unwrap();
    assert_eq!(
        layers.len(),
        1,
        "only the file, nothing else of its folder: {out:#}"
    );
    assert_eq!(layers[0]["filepath"], "llama-2-tiny-random.gguf");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.cncf.model.weight.v1.raw"
    );
    let (code, stdout, stderr) = run(&["inspect", layout.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let cfg = &v["artifacts"][0]["config"]["content"];
    assert_eq!(cfg["config"]["format"], "gguf", "{cfg:#}");
    assert!(cfg["descriptor"]["name"].is_string(), "{cfg:#}");
    // Unpacked, it is the file again.
    let dir = work.path().join("out");
    let (code, _, stderr) = run(&[
        "unpack",
        layout.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read(dir.join("llama-2-tiny-random.gguf")).unwrap(),
        std::fs::read(&gguf).unwrap()
    );
}

#[test]
fn set_suggests_field_names_and_precision_is_open() {
    if !plugins_built() {
        return;
    }
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    let m = model.to_str().unwrap();
    let (code, _, stderr) = run(&["generate", m, "--set", "descriptor.verison=1.0"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("did you mean `descriptor.version`?"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["generate", m, "--set", "paramsize=7B"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("did you mean `paramSize`?"), "{stderr}");

    let (code, stdout, stderr) = run(&["generate", m, "--set", "precision=bf16"]);
    assert_eq!(code, 0, "{stderr}");
    let cfg: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(cfg["config"]["precision"], "bf16");
    assert!(
        stderr.contains("warning: /config/precision: `bf16` is not a precision the spec allows"),
        "{stderr}"
    );
    let (code, stdout, stderr) = run(&["generate", m, "--set", "precision=bf16", "--strict"]);
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stderr.contains("refusing to write an invalid config"),
        "{stderr}"
    );
    // The same through pack.
    let work = tempfile::tempdir().unwrap();
    pack(
        &model,
        &work.path().join("oci"),
        &["--set", "precision=bf16"],
    );
}

#[test]
fn plain_progress_lines_when_stderr_is_not_a_terminal() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    // Interval 0: a line per step, so even this tiny pack shows the format.
    let out = modelpack()
        .args(["pack", model.to_str().unwrap(), "-o"])
        .arg(work.path().join("oci"))
        .env("MODELPACK_PROGRESS_INTERVAL", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("modelpack: packing "))
        .collect();
    assert!(!lines.is_empty(), "{stderr}");
    assert!(lines.last().unwrap().contains("(100%)"), "{stderr}");
    // Several workers report; the lines still never go backwards.
    let percents: Vec<u32> = lines
        .iter()
        .map(|l| {
            let open = l.rfind('(').unwrap();
            let close = l.rfind("%)").unwrap();
            l[open + 1..close].parse().unwrap()
        })
        .collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{stderr}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains(" of ") && l.ends_with("/s")),
        "{stderr}"
    );
    // By default (10 s) a pack this small prints no progress at all.
    let out = modelpack()
        .args(["pack", model.to_str().unwrap(), "-o"])
        .arg(work.path().join("oci2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("packing"), "{stderr}");
}
