//! Locate convention plugins (a `file-names` pattern ending in `/`): asked where the model
//! lives before anything is read. The host follows a `model-root` answer only into a
//! subdirectory of the directory it was given, one hop, and an `error` finding stops the run
//! with one line. `evil-locate` answers whatever `locate-here/WHERE` says.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{modelpack, plugins_built, test_plugin};

/// `t/repo` with `locate-here/WHERE`, a model in `inner/` (with a `deeper/` folder whose own
/// `locate-here/WHERE` must not be followed: one hop), and `t/outside` beside it. (A link
/// leaving the directory never gets this far: the walk refuses it.)
fn repo(where_: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("repo");
    let write = |rel: &str, text: &str| {
        let p = r.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("locate-here/WHERE", &format!("{where_}\n"));
    write("inner/config.json", r#"{"model_type": "llama"}"#);
    write("inner/locate-here/WHERE", "deeper\n");
    write("inner/deeper/notes.txt", "one hop only");
    std::fs::create_dir_all(t.path().join("outside")).unwrap();
    std::fs::write(t.path().join("outside/secret.json"), "{}").unwrap();
    (t, r)
}

/// `generate --plan` with the evil-locate plugin: (exit code, stdout, stderr).
fn plan(dir: &Path) -> (i32, String, String) {
    let out = modelpack()
        .arg("generate")
        .arg(dir)
        .arg("--plan")
        .arg("--plugin")
        .arg(test_plugin("evil-locate"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_host_follows_a_model_root_into_a_subdirectory_once() {
    if !plugins_built() {
        return;
    }
    let (_t, r) = repo("inner");
    let (code, out, err) = plan(&r);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let mut paths: Vec<&str> = doc["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["config.json", "deeper/notes.txt", "locate-here/WHERE"],
        "{doc:#}"
    );
    assert_eq!(doc["config"]["descriptor"]["vendor"], "located at inner");
}

#[test]
fn a_model_root_outside_the_directory_is_refused() {
    if !plugins_built() {
        return;
    }
    for (target, why) in [
        ("../outside", "which is not a path inside the directory"),
        ("/etc", "which is not a path inside the directory"),
        (
            "inner/../../outside",
            "which is not a path inside the directory",
        ),
        ("inner/config.json", "which is not a directory inside it"),
        ("missing", "which cannot be opened"),
    ] {
        let (_t, r) = repo(target);
        let (code, out, err) = plan(&r);
        assert_eq!(code, 2, "{target}: {err}");
        // --plan reports the error as its JSON document, nothing else.
        let doc: Value = serde_json::from_str(&out).unwrap();
        let msg = doc["error"]["message"].as_str().unwrap();
        assert_eq!(doc["error"]["exitCode"], 2);
        assert!(
            msg.starts_with(&format!(
                "{}: convention plugin evil-locate located the model at ",
                r.display()
            )) && msg.contains(why),
            "{target}: {msg}"
        );
        assert!(doc.get("layers").is_none(), "no partial output: {out}");
        assert!(
            !out.contains("secret") && !err.contains("secret"),
            "{target}: {out}"
        );
    }
}

#[test]
fn an_error_finding_of_the_locate_call_stops_the_run() {
    if !plugins_built() {
        return;
    }
    let (_t, r) = repo("ERROR");
    let (code, out, err) = plan(&r);
    assert_eq!(code, 2, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["error"]["message"],
        format!("{}: evil-locate refuses this directory", r.display())
    );
    assert!(doc.get("layers").is_none(), "no partial output: {out}");
}
