//! `unpack` on hand-made layouts: paths leading out of the output directory (in annotations
//! and in tar entries, through symlinks and hard links) are refused, corrupt blobs are caught
//! while streaming, and a refused unpack leaves nothing behind.

use std::path::Path;

use modelpack::oci::Digest;
use serde_json::{Value, json};

use crate::pack::run;

/// One layer of a hand-made layout.
pub struct Layer {
    /// Layer media type.
    pub media_type: String,
    /// Blob bytes.
    pub bytes: Vec<u8>,
    /// Annotations.
    pub annotations: Value,
}

/// A raw layer holding `data` at `filepath`.
pub fn raw(filepath: &str, data: &[u8]) -> Layer {
    Layer {
        media_type: "application/vnd.cncf.model.weight.v1.raw".into(),
        bytes: data.to_vec(),
        annotations: json!({ "org.cncf.model.filepath": filepath }),
    }
}

/// Writes a blob; returns its digest.
pub fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let d = Digest::of(bytes);
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("blobs/sha256").join(d.hex()), bytes).unwrap();
    d.to_string()
}

/// Writes a layout with one manifest (tag `latest`) over `layers`; the config's diffIds are
/// the layer digests (right for raw and plain tar layers).
pub fn craft_layout(layout: &Path, layers: &[Layer]) {
    std::fs::create_dir_all(layout).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let descs: Vec<Value> = layers
        .iter()
        .map(|l| {
            json!({
                "mediaType": l.media_type,
                "digest": put_blob(layout, &l.bytes),
                "size": l.bytes.len(),
                "annotations": l.annotations,
            })
        })
        .collect();
    let config = json!({
        "descriptor": {"name": "crafted"},
        "config": {},
        "modelfs": {"type": "layers", "diffIds": descs.iter().map(|d| d["digest"].clone()).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.model.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.cncf.model.config.v1+json",
            "digest": put_blob(layout, &config),
            "size": config.len(),
        },
        "layers": descs,
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": put_blob(layout, &manifest),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

/// A tar entry written byte by byte, so names a well-behaved builder refuses (`../x`) and
/// links of any kind can be made.
pub fn tar_entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    {
        let raw = h.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// A hand-written tar entry: name, type, link target, content.
pub type Entry<'a> = (&'a str, tar::EntryType, &'a str, &'a [u8]);

/// A tar layer of kind `doc` made of hand-written entries.
pub fn tar_layer(entries: &[Entry<'_>]) -> Layer {
    let mut bytes = Vec::new();
    for (name, kind, link, data) in entries {
        tar_entry(&mut bytes, name, *kind, link, data);
    }
    bytes.extend_from_slice(&[0u8; 1024]);
    Layer {
        media_type: "application/vnd.cncf.model.doc.v1.tar".into(),
        bytes,
        annotations: json!({ "org.cncf.model.filepath": "." }),
    }
}

/// Unpacks `layout` into `work/out`, expecting a refusal whose message contains `why`;
/// nothing may be left: no output, no temporary directory, no file outside.
fn refused(work: &Path, layout: &Path, why: &str) {
    let out = work.join("out");
    let (code, _, stderr) = run(&[
        "unpack",
        layout.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "unpack should fail: {stderr}");
    assert!(stderr.contains(why), "expected {why:?} in: {stderr}");
    assert!(!out.exists(), "output left behind");
    let names: Vec<String> = std::fs::read_dir(work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with(".modelpack") || n == "evil"),
        "{names:?}"
    );
}

#[test]
fn unpack_refuses_path_traversal_in_filepath() {
    for bad in ["../evil", "/tmp/evil", "a/../../evil", "./evil/../../evil"] {
        let work = tempfile::tempdir().unwrap();
        let layout = work.path().join("layout");
        craft_layout(&layout, &[raw("ok.bin", b"fine"), raw(bad, b"pwned")]);
        refused(work.path(), &layout, "refusing");
    }
}

#[test]
fn unpack_refuses_tar_entries_leading_out() {
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    let cases: Vec<(Vec<Entry<'_>>, &str)> = vec![
        (vec![("../evil", Regular, "", b"x")], "refusing"),
        (vec![("/evil", Regular, "", b"x")], "refusing"),
        (
            vec![
                ("a/", Directory, "", b""),
                ("a/../../evil", Regular, "", b"x"),
            ],
            "refusing",
        ),
        (vec![("s", Symlink, "/etc", b"")], "absolute target"),
        (vec![("s", Symlink, "..", b"")], "leads out"),
        (vec![("d/s", Symlink, "../../etc", b"")], "leads out"),
        (
            vec![("s", Symlink, "x/../../y", b"")],
            "after a directory name",
        ),
        (vec![("h", Link, "../evil", b"")], "refusing"),
        (
            vec![("h", Link, "missing", b"")],
            "not a file in the artifact",
        ),
        // A file below a symlink: the rules refuse it before anything is written (unpack
        // also creates symlinks last, so it could not redirect the file anyway).
        (
            vec![("d", Symlink, "sub", b""), ("d/f", Regular, "", b"x")],
            "its parent d is a file or link",
        ),
    ];
    for (entries, why) in cases {
        let work = tempfile::tempdir().unwrap();
        let layout = work.path().join("layout");
        craft_layout(&layout, &[tar_layer(&entries)]);
        refused(work.path(), &layout, why);
    }
}

#[test]
fn unpack_creates_safe_links() {
    use tar::EntryType::{Link, Regular, Symlink};
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    craft_layout(
        &layout,
        &[tar_layer(&[
            ("dir/file.txt", Regular, "", b"data"),
            ("dir/alias.txt", Symlink, "file.txt", b""),
            ("up.txt", Symlink, "dir/file.txt", b""),
            ("dir/hard.txt", Link, "dir/file.txt", b""),
        ])],
    );
    let out = work.path().join("out");
    let (code, stdout, stderr) = run(&[
        "unpack",
        layout.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("unpacked 4 files"), "{stdout}");
    for p in ["dir/file.txt", "dir/alias.txt", "up.txt", "dir/hard.txt"] {
        assert_eq!(std::fs::read(out.join(p)).unwrap(), b"data", "{p}");
    }
    assert!(
        std::fs::symlink_metadata(out.join("up.txt"))
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn unpack_verifies_blobs_while_streaming() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    craft_layout(&layout, &[raw("a.bin", b"alpha"), raw("b.bin", b"bravo")]);
    // Same size, other bytes: only the digest can tell.
    let hex = Digest::of(b"bravo").hex();
    let blob = layout.join("blobs/sha256").join(&hex);
    std::fs::remove_file(&blob).unwrap();
    std::fs::write(&blob, b"BRAVO").unwrap();
    refused(work.path(), &layout, "does not match its digest");
    std::fs::remove_file(&blob).unwrap();
    refused(work.path(), &layout, "missing");
    std::fs::write(&blob, b"bravo!").unwrap();
    refused(work.path(), &layout, "descriptor says 5");
}

#[test]
fn unpack_refuses_a_non_empty_output_and_unknown_layers() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    craft_layout(&layout, &[raw("a.bin", b"alpha")]);
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine"), b"keep").unwrap();
    let (code, _, stderr) = run(&[
        "unpack",
        layout.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not an empty directory"), "{stderr}");
    assert_eq!(std::fs::read(out.join("mine")).unwrap(), b"keep");

    let layout2 = work.path().join("layout2");
    let mut odd = raw("a.bin", b"alpha");
    // A foreign type is skipped (validate::foreign_layer_types_warn_and_unpack_skips_them);
    // a malformed one in ModelPack's own namespace is refused.
    odd.media_type = "application/vnd.cncf.model.weight.v1.zip".into();
    craft_layout(&layout2, &[odd]);
    let (code, _, stderr) = run(&[
        "unpack",
        layout2.to_str().unwrap(),
        "-o",
        work.path().join("o2").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unsupported media type"), "{stderr}");
    let (code, _, stderr) = run(&[
        "unpack",
        &format!("{}:nope", layout.display()),
        "-o",
        work.path().join("o3").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no manifest tagged \"nope\" (tags: latest)"),
        "{stderr}"
    );
}
