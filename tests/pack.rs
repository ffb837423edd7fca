//! `pack` and `unpack` through the real binary: round trips over every fixture directory and
//! layer format, reproducibility, atomicity, appending to a layout, and unpack's refusals.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{fixtures, modelpack, plugins_built};

/// Every `--layer-format`.
pub const FORMATS: [&str; 4] = ["raw", "tar", "tar+gzip", "tar+zstd"];

/// Runs modelpack; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = modelpack().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `modelpack pack DIR -o LAYOUT --format json EXTRA…`, which must succeed; the summary.
pub fn pack(dir: &Path, layout: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "pack",
        dir.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(&args);
    // Exit 1 (as generate gives) when a weight its plugin cannot read (a truncated or
    // unsupported fixture) was packed unverified; the layout is still written.
    let unverified = code == 1 && stderr.contains("could not be read by their format plugin");
    assert!(
        code == 0 || unverified,
        "pack {args:?} failed ({code}): {stderr}"
    );
    serde_json::from_str(&stdout).unwrap()
}

/// `modelpack validate PATH --format json`: (exit code, report).
pub fn validate(path: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["validate", path.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(&args);
    let v = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("validate output is not JSON ({e}): {stdout}\n{stderr}"));
    (code, v)
}

/// The files a pack of `dir` holds: every non-hidden regular file (symlinks followed), by
/// `/`-separated relative path, with content and executable bit.
pub fn tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, (Vec<u8>, bool)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "__pycache__" || name == "node_modules" {
                continue;
            }
            let path = e.path();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                walk(&path, &r, out);
            } else {
                let exec = meta.permissions().mode() & 0o111 != 0;
                out.insert(r, (std::fs::read(&path).unwrap(), exec));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

/// pack (in `format`) → validate → unpack, and the unpacked tree equals the source.
/// What a pack with `--allow-missing-weights` holds: the tree minus Git LFS pointer files.
pub fn packed_tree(src: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    let mut t = tree(src);
    t.retain(|_, (bytes, _)| !bytes.starts_with(b"version https://git-lfs"));
    t
}

fn round_trip(src: &Path, work: &Path, format: &str) {
    let layout = work.join(format!("layout-{}", format.replace('+', "-")));
    let out = work.join(format!("out-{}", format.replace('+', "-")));
    // The HF fixture checkouts hold Git LFS pointers instead of weights: pack leaves them out
    // (it refuses without --allow-missing-weights), so they are not expected back.
    let summary = pack(
        src,
        &layout,
        &["--layer-format", format, "--allow-missing-weights"],
    );
    let (code, report) = validate(&layout, &[]);
    assert_eq!(
        code,
        0,
        "{} ({format}) does not validate: {report:#}",
        src.display()
    );
    assert_eq!(report["valid"], true);
    let (code, _, stderr) = run(&[
        "unpack",
        layout.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "unpack {} ({format}): {stderr}", src.display());
    let (want, got) = (packed_tree(src), tree(&out));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{} ({format})",
        src.display()
    );
    for (path, w) in &want {
        assert!(
            got[path] == *w,
            "{} ({format}): {path} differs after unpack",
            src.display()
        );
    }
    // Weights are raw whatever the format; other kinds are tarred unless the format is raw.
    for l in summary["layers"].as_array().unwrap() {
        let mt = l["mediaType"].as_str().unwrap();
        if mt.contains(".weight.v1.") {
            assert!(mt.ends_with(".raw"), "{mt}");
        } else {
            assert!(
                mt.ends_with(&format!(".{format}")),
                "{mt} in a {format} pack"
            );
        }
    }
}

/// The fixture directories: the HF checkouts and the bundled example.
fn model_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures().join("hf-lfs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model"));
    dirs
}

/// Every single-file fixture (by format directory).
fn single_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for d in ["gguf", "numpy", "onnx", "other", "pytorch", "safetensors"] {
        walk(&fixtures().join(d), &mut out);
    }
    out.sort();
    assert!(
        out.len() >= 50,
        "expected the full fixture set, found {}",
        out.len()
    );
    out
}

#[test]
fn round_trip_every_model_dir_and_format() {
    if !plugins_built() {
        return;
    }
    for dir in model_dirs() {
        let work = tempfile::tempdir().unwrap();
        for format in FORMATS {
            round_trip(&dir, work.path(), format);
        }
    }
}

#[test]
fn round_trip_a_dir_per_fixture_file() {
    if !plugins_built() {
        return;
    }
    let files = single_files();
    // Two threads: the packs are independent processes.
    std::thread::scope(|s| {
        for half in files.chunks(files.len().div_ceil(2)) {
            s.spawn(move || {
                for file in half {
                    let work = tempfile::tempdir().unwrap();
                    let src = work.path().join("model");
                    std::fs::create_dir(&src).unwrap();
                    // A copy: a symlink leaving the model directory is refused by design.
                    std::fs::copy(file, src.join(file.file_name().unwrap())).unwrap();
                    for format in FORMATS {
                        round_trip(&src, work.path(), format);
                    }
                }
            });
        }
    });
}

/// A small model tree with nested directories, an executable script and a long path.
pub fn sample_tree(root: &Path, umask: u32) {
    let files: [(&str, &[u8], u32); 6] = [
        (
            "model.safetensors",
            include_bytes!("../examples/tiny-model/model.safetensors"),
            0o644,
        ),
        ("config.json", b"{\"model_type\": \"llama\"}", 0o644),
        ("README.md", b"# tiny\n", 0o644),
        ("scripts/run.sh", b"#!/bin/sh\necho hi\n", 0o755),
        (
            "docs/a/very/long/directory/name/that/goes/on/and/on/for/more/than/one/hundred/bytes/notes.txt",
            b"long path\n",
            0o644,
        ),
        ("docs/.hidden", b"never packed", 0o644),
    ];
    for (path, data, mode) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        let base = if mode & 0o111 != 0 { 0o777 } else { 0o666 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(base & !umask)).unwrap();
    }
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
}

#[test]
fn pack_is_reproducible() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a/m"), work.path().join("b/m"));
    sample_tree(&a, 0o022);
    sample_tree(&b, 0o077);
    // Different mtimes too: only content, names and the execute bit may matter.
    filetime_shift(&b);
    for format in FORMATS {
        let sa = pack(
            &a,
            &work.path().join(format!("la-{format}")),
            &["--layer-format", format],
        );
        let sb = pack(
            &b,
            &work.path().join(format!("lb-{format}")),
            &["--layer-format", format],
        );
        assert_eq!(sa["manifest"], sb["manifest"], "{format}");
        assert_eq!(sa["config"], sb["config"], "{format}");
        assert_eq!(sa["layers"], sb["layers"], "{format}");
        let ia = std::fs::read(work.path().join(format!("la-{format}/index.json"))).unwrap();
        let ib = std::fs::read(work.path().join(format!("lb-{format}/index.json"))).unwrap();
        assert_eq!(ia, ib, "{format}: index.json");
    }
    // The manifest and config are canonical JSON: sorted keys, no whitespace.
    let layout = work.path().join("la-tar+zstd");
    let summary = pack(&a, &layout, &["--layer-format", "tar+zstd"]);
    for d in [&summary["manifest"]["digest"], &summary["config"]["digest"]] {
        let bytes = blob(&layout, d.as_str().unwrap());
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(serde_json::to_vec(&v).unwrap(), bytes);
    }
    // The config names the diffIds, in layer order.
    let config: Value = serde_json::from_slice(&blob(
        &layout,
        summary["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let diff_ids: Vec<&Value> = summary["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["diffId"])
        .collect();
    assert_eq!(
        config["modelfs"]["diffIds"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        diff_ids
    );
    assert_eq!(config["modelfs"]["type"], "layers");
}

/// Sets every file's mtime to 2001-09-09 (and so unlike a fresh checkout's).
fn filetime_shift(dir: &Path) {
    for (path, _) in tree(dir) {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.join(path))
            .unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000))
            .unwrap();
    }
}

#[test]
fn source_date_epoch_sets_mtimes() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("m");
    sample_tree(&src, 0o022);
    let layout = work.path().join("l");
    let out = modelpack()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args([
            "pack",
            src.to_str().unwrap(),
            "-o",
            layout.to_str().unwrap(),
        ])
        .args(["--layer-format", "tar", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest: Value = serde_json::from_slice(&blob(
        &layout,
        summary["manifest"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let meta: Value = serde_json::from_str(
        manifest["layers"][0]["annotations"]["org.cncf.model.file.metadata+json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(meta["mtime"], "2023-11-14T22:13:20Z");
    assert_eq!(
        (meta["uid"].as_u64(), meta["gid"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(meta["typeflag"], 48);
    // The tar layers' headers carry the same mtime, uid/gid 0 and no user or group names.
    let tar_layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"].as_str().unwrap().ends_with(".tar"))
        .unwrap();
    let bytes = blob(&layout, tar_layer["digest"].as_str().unwrap());
    let mut archive = tar::Archive::new(&bytes[..]);
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(h.mtime().unwrap(), 1_700_000_000);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.username().unwrap(), Some(""));
        assert_eq!(h.groupname().unwrap(), Some(""));
    }
    let (code, _, stderr) = {
        let o = modelpack()
            .env("SOURCE_DATE_EPOCH", "yesterday")
            .args([
                "pack",
                src.to_str().unwrap(),
                "-o",
                work.path().join("x").to_str().unwrap(),
            ])
            .output()
            .unwrap();
        (
            o.status.code(),
            o.stdout,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(2));
    assert!(stderr.contains("SOURCE_DATE_EPOCH"), "{stderr}");
}

/// Directory entries of `dir` whose names start with `prefix`.
fn leftovers(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// A model whose pack fails once its layers are stored (the test hook
/// MODELPACK_TEST_FAIL_AFTER_LAYERS), so the failure leaves blobs behind to clean up.
fn failing_model(root: &Path) {
    sample_tree(root, 0o022);
}

fn run_failing(args: &[&str]) -> (i32, String, String) {
    let out = modelpack()
        .args(args)
        .env("MODELPACK_TEST_FAIL_AFTER_LAYERS", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_failed_pack_leaves_no_target() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("m");
    failing_model(&src);
    let layout = work.path().join("out/layout");
    let (code, _, stderr) = run_failing(&[
        "pack",
        src.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("injected failure after storing the layers"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!layout.exists());
    // Nor the parent directory it created for the output (issue 16 item 12).
    assert!(!work.path().join("out").exists());

    // Adding to an existing layout: it stays exactly as it was.
    let good = work.path().join("good");
    sample_tree(&good, 0o022);
    pack(&good, &layout, &["--link", "copy"]);
    let before = tree_bytes(&layout);
    let (code, _, stderr) = run_failing(&[
        "pack",
        src.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
        "--tag",
        "v2",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(tree_bytes(&layout), before);
    assert_eq!(
        leftovers(&work.path().join("out"), ".modelpack"),
        Vec::<String>::new()
    );
}

/// Every file under `dir` with its bytes (hidden ones included).
fn tree_bytes(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn pack_refuses_bad_targets_and_tags() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("m");
    sample_tree(&src, 0o022);
    let not_layout = work.path().join("busy");
    std::fs::create_dir(&not_layout).unwrap();
    std::fs::write(not_layout.join("file"), b"mine").unwrap();
    let (code, _, stderr) = run(&[
        "pack",
        src.to_str().unwrap(),
        "-o",
        not_layout.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("neither an OCI image layout nor an empty directory"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(not_layout.join("file")).unwrap(), b"mine");
    let (code, _, stderr) = run(&[
        "pack",
        src.to_str().unwrap(),
        "-o",
        work.path().join("l").to_str().unwrap(),
        "--tag",
        "bad/tag",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid tag"), "{stderr}");
    // An empty directory is a fine target.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    pack(&src, &empty, &[]);
    assert_eq!(validate(&empty, &[]).0, 0);
}

#[test]
fn append_to_an_existing_layout() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    sample_tree(&a, 0o022);
    sample_tree(&b, 0o022);
    std::fs::write(b.join("README.md"), b"# another model\n").unwrap();
    let layout = work.path().join("layout");
    let first = pack(&a, &layout, &["--tag", "a"]);
    assert_eq!(first["appended"], false);
    let blobs_after_a = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .count();
    let second = pack(&b, &layout, &["--tag", "b"]);
    assert_eq!(second["appended"], true);
    // Only b's README, config and manifest are new: the other blobs are shared.
    let blobs_after_b = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs_after_b, blobs_after_a + 3);
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(tags, ["a", "b"]);
    assert_eq!(validate(&layout, &[]).0, 0);
    // Each tag unpacks to its own tree.
    for (tag, src) in [("a", &a), ("b", &b)] {
        let out = work.path().join(format!("out-{tag}"));
        let reference = format!("{}:{tag}", layout.display());
        let (code, _, stderr) = run(&["unpack", &reference, "-o", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(tree(&out), tree(src));
    }
    // Without a tag and without `latest`, unpack names the tags it has.
    let (code, _, stderr) = run(&[
        "unpack",
        layout.to_str().unwrap(),
        "-o",
        work.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("tags: a, b"), "{stderr}");
    // Packing a again under its tag replaces the entry (same digest) and adds nothing.
    let again = pack(&a, &layout, &["--tag", "a"]);
    assert_eq!(again["replaced"], first["manifest"]["digest"]);
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(
        std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .count(),
        blobs_after_b
    );
}

#[test]
fn pack_never_aliases_source_files_unless_asked() {
    if !plugins_built() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("m");
    sample_tree(&src, 0o022);
    let weight = std::fs::metadata(src.join("model.safetensors")).unwrap();
    // The default: reflink or copy, never the source's inode.
    let default = work.path().join("default");
    let summary = pack(&src, &default, &[]);
    let digest = summary["layers"][0]["digest"].as_str().unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap();
    let blob_meta = std::fs::metadata(default.join("blobs/sha256").join(hex)).unwrap();
    assert_ne!(
        blob_meta.ino(),
        weight.ino(),
        "the default must not hard-link"
    );
    assert_eq!(weight.nlink(), 1);
    // Hard links only when asked.
    let linked = work.path().join("linked");
    pack(&src, &linked, &["--link", "hardlink"]);
    let blob_meta = std::fs::metadata(linked.join("blobs/sha256").join(hex)).unwrap();
    assert_eq!(
        blob_meta.ino(),
        weight.ino(),
        "--link hardlink shares the inode"
    );
    let copied = work.path().join("copied");
    pack(&src, &copied, &["--link", "copy"]);
    let blob_meta = std::fs::metadata(copied.join("blobs/sha256").join(hex)).unwrap();
    assert_ne!(blob_meta.ino(), weight.ino());
    assert_eq!(
        std::fs::read(copied.join("blobs/sha256").join(hex)).unwrap(),
        std::fs::read(src.join("model.safetensors")).unwrap()
    );
}

/// A training script rewriting a weight file through the same inode must not touch a layout
/// packed with the default (issue 16 item 16); with `--link hardlink` it does, and `validate`
/// says so.
#[test]
fn editing_a_source_in_place_leaves_the_default_layout_intact() {
    if !plugins_built() {
        return;
    }
    use std::io::{Seek, SeekFrom, Write};
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("m");
    sample_tree(&src, 0o022);
    let default = work.path().join("default");
    let linked = work.path().join("linked");
    pack(&src, &default, &[]);
    pack(&src, &linked, &["--link", "hardlink"]);
    let weight = src.join("model.safetensors");
    let last = *std::fs::read(&weight).unwrap().last().unwrap();
    // Same inode, no truncation: how `torch.save` into an open file or an mmap writer edits.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&weight)
        .unwrap();
    f.seek(SeekFrom::End(-1)).unwrap();
    f.write_all(&[!last]).unwrap();
    drop(f);
    let (code, report) = validate(&default, &[]);
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = validate(&linked, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["keyword"] == "blob-digest"),
        "{report:#}"
    );
}

#[test]
fn pack_refuses_missing_weights_unless_allowed() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = fixtures().join("hf-lfs/pygmalion-7b");
    let layout = work.path().join("layout");
    let (code, _, stderr) = run(&[
        "pack",
        src.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
    ]);
    // Exit 1: the model is incomplete (generate and check say so too), not a usage error.
    assert_eq!(code, 1, "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.contains("weights missing (model-00001-of-00007.safetensors"),
        "{stderr}"
    );
    assert!(last.contains("--allow-missing-weights"), "{stderr}");
    assert!(!layout.exists());
}
