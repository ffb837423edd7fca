//! Issue 15 point 2, the scripted newcomer run: a Hugging Face hub cache (repo folder with
//! `refs/main`, `snapshots/<rev>` whose files are symlinks into `blobs/`) packs into the same
//! artifact as its snapshot, with `revision` and `sourceURL` filled and no cache internals.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::pack::{pack, run};
use crate::util::plugins_built;

const REV: &str = "8a2c5d0e1f9b7c3a4d6e8f0a1b2c3d4e5f6a7b8c";

/// Builds `hub/models--acme--tiny-model` the way huggingface_hub does: each file's content in
/// `blobs/<sha256>`, a relative symlink to it in `snapshots/<rev>/`, and `refs/main`.
fn fake_cache(root: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    let repo = root.join("hub/models--acme--tiny-model");
    let snap = repo.join("snapshots").join(REV);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(repo.join("refs/main"), REV).unwrap();
    // An older snapshot that refs/main does not name must not be packed.
    std::fs::create_dir_all(repo.join("snapshots/0000000000000000000000000000000000000000"))
        .unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        let blob = hex::encode(Sha256::digest(&bytes));
        std::fs::write(repo.join("blobs").join(&blob), &bytes).unwrap();
        std::os::unix::fs::symlink(
            Path::new("../../blobs").join(&blob),
            snap.join(e.file_name()),
        )
        .unwrap();
    }
    repo
}

#[test]
fn hf_cache_repo_folder_packs_as_its_snapshot() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let repo = fake_cache(work.path());
    let snap = repo.join("snapshots").join(REV);

    let a = pack(&repo, &work.path().join("from-repo"), &[]);
    let b = pack(&snap, &work.path().join("from-snapshot"), &[]);
    assert_eq!(
        a["manifest"]["digest"], b["manifest"]["digest"],
        "same artifact from the repo folder and the snapshot"
    );
    let paths: Vec<&str> = a["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["filepath"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths.len(),
        6,
        "one layer per model file, no blobs/refs: {paths:?}"
    );
    assert!(
        paths
            .iter()
            .all(|p| !p.contains("blobs") && !p.contains("refs") && !p.contains("snapshots")),
        "{paths:?}"
    );

    let (code, stdout, stderr) = run(&["generate", repo.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let d = &doc["config"]["descriptor"];
    assert_eq!(d["revision"], REV, "{doc:#}");
    assert_eq!(d["sourceURL"], "https://huggingface.co/acme/tiny-model");
    assert_eq!(d["name"], "tiny-model");

    // The cache's internals are refused with a pointer to the repo folder.
    let (code, _, stderr) = run(&[
        "pack",
        repo.join("blobs").to_str().unwrap(),
        "-o",
        work.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("pack the repo folder"), "{stderr}");
}
