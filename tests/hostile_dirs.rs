//! Hostile model directories, built here: FIFOs and sockets lying among the files, symlinks
//! to `.` and to a parent (loops), and a file name that is not UTF-8. Every command must
//! finish with one clear line and the promised exit code; nothing may be stored under another
//! name.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde_json::Value;

use crate::hostile_files::{mkfifo, outcome, run, tiny_safetensors};
use crate::util::plugins_built;

fn model_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "llama"}"#).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), tiny_safetensors()).unwrap();
    dir
}

fn paths(inspect_json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(inspect_json)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {inspect_json}"));
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

fn rel(dir: &Path, p: &str) -> String {
    p.strip_prefix(&format!("{}/", dir.display()))
        .unwrap_or(p)
        .to_string()
}

#[test]
fn fifos_and_sockets_in_the_directory_never_hang_a_command() {
    if !plugins_built() {
        return;
    }
    let dir = model_dir();
    mkfifo(&dir.path().join("pipe.bin"));
    let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("agent.sock")).unwrap();
    let d = dir.path().to_str().unwrap();

    // inspect names each special file as unreadable (one line each) and reads the others.
    let (code, out, err) = outcome(&run(&["inspect", "--format", "json", d]));
    assert_eq!(code, 1, "{out} {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let by_name = |n: &str| {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(n))
            .unwrap_or_else(|| panic!("{n} not listed: {v}"))
            .clone()
    };
    let pipe = by_name("pipe.bin");
    assert_eq!(pipe["status"], "error");
    assert!(
        pipe["error"]
            .as_str()
            .unwrap()
            .contains("a FIFO, not a regular file"),
        "{pipe}"
    );
    assert!(
        by_name("agent.sock")["error"]
            .as_str()
            .unwrap()
            .contains("a socket, not a regular file")
    );
    assert_eq!(by_name("model.safetensors")["status"], "ok");

    // generate, pack and check leave them out with a warning.
    let (code, _, err) = outcome(&run(&["generate", d]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("pipe.bin: not a regular file; left out"),
        "{err}"
    );
    let out_dir = tempfile::tempdir().unwrap();
    let layout = out_dir.path().join("layout");
    let (code, _, err) = outcome(&run(&["pack", d, "--output", layout.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = outcome(&run(&["validate", layout.to_str().unwrap()]));
    assert_eq!(code, 0, "{out} {err}");
    let (code, out, err) = outcome(&run(&["check", d, "--policy", "no-unsafe-code"]));
    assert_eq!(code, 0, "{out} {err}");
}

#[test]
fn inspect_walks_each_directory_once_through_dot_links_and_loops() {
    if !plugins_built() {
        return;
    }
    let dir = model_dir();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("notes.txt"), "x").unwrap();
    // Two links to `.` make the unguarded walk exponential; `sub/up` loops back to the root.
    std::os::unix::fs::symlink(".", dir.path().join("a")).unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("b")).unwrap();
    std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = outcome(&run(&["inspect", "--format", "json", d]));
    assert_eq!(code, 0, "{err}");
    let listed: Vec<String> = paths(&out).iter().map(|p| rel(dir.path(), p)).collect();
    assert_eq!(
        listed,
        ["config.json", "model.safetensors", "sub/notes.txt"],
        "every file once"
    );
}

#[test]
fn a_file_name_that_is_not_utf8_is_refused_by_name() {
    if !plugins_built() {
        return;
    }
    let dir = model_dir();
    let bad = std::ffi::OsStr::from_bytes(b"extra\xffweights.safetensors");
    std::fs::write(dir.path().join(bad), tiny_safetensors()).unwrap();
    let d = dir.path().to_str().unwrap();

    // generate and pack refuse (exit 2) naming the file with its byte escaped; nothing written.
    let (code, out, err) = outcome(&run(&["generate", d]));
    assert_eq!(code, 2, "{out} {err}");
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(r#""extra\xFFweights.safetensors": file name is not valid UTF-8"#),
        "{err}"
    );
    let out_dir = tempfile::tempdir().unwrap();
    let layout = out_dir.path().join("layout");
    let (code, _, err) = outcome(&run(&["pack", d, "--output", layout.to_str().unwrap()]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("file name is not valid UTF-8"), "{err}");
    assert!(!layout.exists(), "a refused pack leaves no layout");

    // inspect reports that one file as unreadable and the others as usual.
    let (code, out, err) = outcome(&run(&["inspect", "--format", "json", d]));
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    let refused: Vec<&Value> = files.iter().filter(|f| f["status"] == "error").collect();
    assert_eq!(refused.len(), 1, "{v}");
    assert!(
        refused[0]["error"]
            .as_str()
            .unwrap()
            .contains(r"extra\xFFweights.safetensors"),
        "{}",
        refused[0]
    );
}
