//! Hostile layouts: a blob that is a symlink out of the layout (to a secret, to `/dev/zero`),
//! a FIFO blob, a manifest named by thousands of index entries, and every tar entry and
//! descriptor `unpack` refuses, which `validate` must report in the same words.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::hostile_registries::{Fake, Reply};
use crate::unpack::{Layer, craft_layout, put_blob, raw, tar_layer};
use crate::util::{modelpack, plugins_built};

/// Runs modelpack (killed after 90 s, which fails the test: nothing here may hang).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = modelpack()
        .args(args)
        .env("DOCKER_CONFIG", "/nonexistent-modelpack-test")
        .env_remove("MODELPACK_REGISTRY_USERNAME")
        .env_remove("MODELPACK_REGISTRY_PASSWORD")
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn one_line(stderr: &str) {
    assert_eq!(stderr.trim().lines().count(), 1, "not one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `validate --format json`: (exit code, error messages).
fn validate_errors(layout: &Path) -> (i32, Vec<String>) {
    let (code, stdout, stderr) = run(&["validate", layout.to_str().unwrap(), "--format", "json"]);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("validate printed no JSON ({e}): {stdout}\n{stderr}"));
    let errors = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["level"] == "error")
        .map(|p| {
            format!(
                "{}: {}",
                p["document"].as_str().unwrap_or(""),
                p["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    (code, errors)
}

fn blob_file(layout: &Path, digest: &str) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn manifest_digest(layout: &Path) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn manifest_of(layout: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(blob_file(layout, &manifest_digest(layout))).unwrap())
        .unwrap()
}

/// Rewrites the manifest and points index.json at the new one.
fn edit_manifest(layout: &Path, f: impl FnOnce(&mut Value)) {
    let mut m = manifest_of(layout);
    f(&mut m);
    let bytes = serde_json::to_vec(&m).unwrap();
    let digest = put_blob(layout, &bytes);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

fn layer_digest(layout: &Path, i: usize) -> String {
    manifest_of(layout)["layers"][i]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Replaces a blob by a symlink to `target`.
fn link_blob(layout: &Path, digest: &str, target: &Path) {
    let p = blob_file(layout, digest);
    std::fs::remove_file(&p).unwrap();
    std::os::unix::fs::symlink(target, &p).unwrap();
}

/// A registry that accepts every upload (monolithic: POST, then PUT with the content) and
/// records it.
fn accepting_registry() -> Fake {
    Fake::start(|req, _| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v2/") => Reply::json(200, "{}"),
        ("HEAD", _) => Reply::json(404, "{}"),
        ("POST", p) if p.contains("/blobs/uploads/") => Reply::Full(
            202,
            vec![(
                "Location".into(),
                "/v2/models/x/blobs/uploads/1?state=s".into(),
            )],
            Vec::new(),
        ),
        ("PUT", p) => Reply::Full(
            201,
            vec![(
                "Location".into(),
                p.split('?').next().unwrap_or(p).to_string(),
            )],
            Vec::new(),
        ),
        _ => Reply::json(404, "{}"),
    })
}

const SECRET: &[u8] = b"-----BEGIN OPENSSH PRIVATE KEY----- do not upload me";

#[test]
fn push_never_sends_a_blob_that_is_not_its_own_regular_file() {
    let work = tempfile::tempdir().unwrap();
    let secret = work.path().join("id_ed25519");
    std::fs::write(&secret, SECRET).unwrap();
    // The descriptor claims the secret's size, so only the file type or digest can stop it.
    let decoy = vec![b'x'; SECRET.len()];

    // A good layout first: the fake registry speaks enough of the protocol to take a push.
    let good = work.path().join("good");
    craft_layout(&good, &[raw("w.bin", b"the weights")]);
    let registry = accepting_registry();
    let target = format!("{}/models/x:v1", registry.addr);
    let (code, _, stderr) = run(&["push", good.to_str().unwrap(), &target]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        registry
            .requests()
            .iter()
            .any(|r| r.method == "PUT" && r.body == b"the weights"),
        "the control push uploaded nothing"
    );

    let sent_secret = |fake: &Fake| {
        fake.requests()
            .iter()
            .any(|r| r.body.windows(16).any(|w| w == &SECRET[..16]))
    };
    // 1. The blob is a symlink to the secret. 2. `blobs/sha256` is a symlink to a directory
    // holding it. 3. The blob is a regular copy of the secret (right size, wrong digest).
    for case in ["symlink", "linked-dir", "wrong-content"] {
        let layout = work.path().join(case);
        craft_layout(&layout, &[raw("w.bin", &decoy)]);
        let d = layer_digest(&layout, 0);
        match case {
            "symlink" => link_blob(&layout, &d, &secret),
            "linked-dir" => {
                // The blobs live outside the layout, the secret among them under the name.
                let elsewhere = work.path().join("elsewhere");
                std::fs::rename(layout.join("blobs/sha256"), &elsewhere).unwrap();
                std::fs::write(elsewhere.join(d.strip_prefix("sha256:").unwrap()), SECRET).unwrap();
                std::os::unix::fs::symlink(&elsewhere, layout.join("blobs/sha256")).unwrap();
            }
            _ => {
                let p = blob_file(&layout, &d);
                std::fs::remove_file(&p).unwrap();
                std::fs::write(&p, SECRET).unwrap();
            }
        }
        let registry = accepting_registry();
        let target = format!("{}/models/x:v1", registry.addr);
        let (code, stdout, stderr) = run(&["push", layout.to_str().unwrap(), &target]);
        assert_eq!(code, 2, "{case}: {stdout}\n{stderr}");
        one_line(&stderr);
        let why = match case {
            "wrong-content" => "does not match its digest",
            _ => "symlink",
        };
        assert!(stderr.contains(why), "{case}: {stderr}");
        assert!(
            !sent_secret(&registry),
            "{case}: the secret reached the registry"
        );
        assert!(
            !registry
                .requests()
                .iter()
                .any(|r| r.path.contains("/manifests/")),
            "{case}: a manifest was pushed"
        );
    }
}

/// Layouts whose layer (or manifest) blob is `/dev/zero` or a FIFO.
fn device_layouts(work: &Path) -> Vec<(String, std::path::PathBuf, &'static str)> {
    let mut out = Vec::new();
    for (name, what) in [
        ("layer-zero", "symlink"),
        ("manifest-zero", "symlink"),
        ("layer-fifo", "FIFO"),
        ("tar-zero", "symlink"),
    ] {
        let layout = work.join(name);
        let layer = if name == "tar-zero" {
            tar_layer(&[("a.txt", tar::EntryType::Regular, "", b"hello")])
        } else {
            raw("w.bin", &[7u8; 70])
        };
        craft_layout(&layout, &[layer]);
        let d = if name == "manifest-zero" {
            manifest_digest(&layout)
        } else {
            layer_digest(&layout, 0)
        };
        if name == "layer-fifo" {
            let p = blob_file(&layout, &d);
            std::fs::remove_file(&p).unwrap();
            let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        } else {
            link_blob(&layout, &d, Path::new("/dev/zero"));
        }
        out.push((name.to_string(), layout, what));
    }
    out
}

#[test]
fn a_blob_that_is_dev_zero_or_a_fifo_is_one_line_for_every_command() {
    let work = tempfile::tempdir().unwrap();
    let registry = accepting_registry();
    for (name, layout, what) in device_layouts(work.path()) {
        let l = layout.to_str().unwrap();
        // validate: a problem in the report, exit 1, no hang.
        let (code, errors) = validate_errors(&layout);
        assert_eq!(code, 1, "{name}: {errors:?}");
        assert!(
            errors.iter().any(|e| e.contains(what)),
            "{name}: expected {what:?} in {errors:?}"
        );
        // unpack and push: one line, exit 2, nothing left behind.
        let out = work.path().join(format!("{name}-out"));
        let (code, _, stderr) = run(&["unpack", l, "-o", out.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {stderr}");
        one_line(&stderr);
        assert!(stderr.contains(what), "{name}: {stderr}");
        assert!(!out.exists(), "{name}");
        let target = format!("{}/models/{name}:v1", registry.addr);
        let (code, _, stderr) = run(&["push", l, &target]);
        assert_eq!(code, 2, "{name}: {stderr}");
        one_line(&stderr);
        assert!(stderr.contains(what), "{name}: {stderr}");
        // check reads the manifest, the config and the raw layers' blobs.
        if plugins_built() && name != "tar-zero" {
            let (code, _, stderr) = run(&["check", l, "--policy", "required-metadata"]);
            assert_eq!(code, 2, "{name}: {stderr}");
            one_line(&stderr);
            assert!(stderr.contains(what), "{name}: {stderr}");
        }
    }
    let leftovers: Vec<String> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_blob_longer_than_its_descriptor_is_not_read_to_its_end() {
    // 70 bytes claimed, 1 TiB on disk (sparse): reading it to its end would take hours, so
    // finishing at all shows that no command reads past the descriptor's size.
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    craft_layout(&layout, &[raw("w.bin", &[7u8; 70])]);
    let p = blob_file(&layout, &layer_digest(&layout, 0));
    std::fs::remove_file(&p).unwrap();
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(1 << 40).unwrap();
    let (code, errors) = validate_errors(&layout);
    assert_eq!(code, 1);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("size is 70") && e.contains("1099511627776 bytes")),
        "{errors:?}"
    );
    let out = work.path().join("out");
    let (code, _, stderr) = run(&[
        "unpack",
        layout.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    one_line(&stderr);
    assert!(
        stderr.contains("1099511627776 bytes on disk, descriptor says 70"),
        "{stderr}"
    );
    // push and check stop at the same size check.
    let registry = accepting_registry();
    let target = format!("{}/models/x:v1", registry.addr);
    let (code, _, stderr) = run(&["push", layout.to_str().unwrap(), &target]);
    assert_eq!(code, 2, "{stderr}");
    one_line(&stderr);
    assert!(stderr.contains("descriptor says 70"), "{stderr}");
    if plugins_built() {
        let l = layout.to_str().unwrap();
        let (code, _, stderr) = run(&["check", l, "--policy", "required-metadata"]);
        assert_eq!(code, 2, "{stderr}");
        one_line(&stderr);
        assert!(stderr.contains("descriptor says 70"), "{stderr}");
    }
}

#[test]
fn validate_checks_a_manifest_shared_by_many_index_entries_once() {
    // 300 layers, 3,000 index entries naming the same manifest (the red team's case was
    // 2,000 × 5,000: 74 s and 3 GB before the fix).
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let layers: Vec<Layer> = (0..300)
        .map(|i| raw(&format!("w/{i}.bin"), format!("layer {i}").as_bytes()))
        .collect();
    craft_layout(&layout, &layers);
    // One defect inside the manifest, which must be reported once, not once per entry.
    edit_manifest(&layout, |m| {
        m["layers"][7]["annotations"]["org.cncf.model.file.mediatype.untested"] = json!("maybe");
    });
    let d = manifest_digest(&layout);
    let size = std::fs::metadata(blob_file(&layout, &d)).unwrap().len();
    let mut entries: Vec<Value> = (0..3000)
        .map(|i| {
            json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d,
                "size": size,
                "annotations": {"org.opencontainers.image.ref.name": format!("t{i}")},
            })
        })
        .collect();
    // One entry with a wrong size: reported against that entry only.
    entries[1234]["size"] = json!(size + 1);
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }))
        .unwrap(),
    )
    .unwrap();
    let (code, stdout, stderr) = run(&["validate", layout.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    let untested: Vec<&Value> = problems
        .iter()
        .filter(|p| p["keyword"] == "untested")
        .collect();
    assert_eq!(untested.len(), 1, "{untested:?}");
    assert_eq!(
        untested[0]["pointer"],
        "/layers/7/annotations/org.cncf.model.file.mediatype.untested"
    );
    let sizes: Vec<&Value> = problems
        .iter()
        .filter(|p| p["keyword"] == "blob-size")
        .collect();
    assert_eq!(sizes.len(), 1, "{sizes:?}");
    assert_eq!(sizes[0]["pointer"], "/manifests/1234/size");
    assert_eq!(sizes[0]["document"], "index.json");
    assert!(problems.len() < 10, "{problems:#?}");
}

/// A manifest whose layer 0 descriptor is edited by `f` after crafting.
fn with_layer(layout: &Path, layer: Layer, f: impl FnOnce(&mut Value)) {
    craft_layout(layout, &[layer]);
    edit_manifest(layout, |m| f(&mut m["layers"][0]));
}

#[test]
fn validate_reports_what_unpack_refuses_in_unpacks_words() {
    use tar::EntryType::{Fifo, Link, Regular, Symlink};
    let work = tempfile::tempdir().unwrap();
    type Build = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Build, &str)> = vec![
        (
            "symlink-out",
            Box::new(|l| craft_layout(l, &[tar_layer(&[("s", Symlink, "/etc/passwd", b"")])])),
            "refusing symlink s -> /etc/passwd: absolute target",
        ),
        (
            "hardlink-out",
            Box::new(|l| craft_layout(l, &[tar_layer(&[("h", Link, "/etc/passwd", b"")])])),
            "refusing hard link h: its target \"/etc/passwd\" is absolute",
        ),
        (
            "hardlink-to-nothing",
            Box::new(|l| craft_layout(l, &[tar_layer(&[("h", Link, "missing", b"")])])),
            "hard link h -> missing: the target is not a file in the artifact",
        ),
        (
            "fifo",
            Box::new(|l| craft_layout(l, &[tar_layer(&[("p", Fifo, "", b"")])])),
            "p: unsupported tar entry type",
        ),
        (
            "duplicate-in-a-tar",
            Box::new(|l| {
                craft_layout(
                    l,
                    &[tar_layer(&[
                        ("a", Regular, "", b"1"),
                        ("a", Regular, "", b"2"),
                    ])],
                )
            }),
            "a: written twice",
        ),
        (
            "duplicate-across-layers",
            Box::new(|l| {
                craft_layout(l, &[raw("a", b"1"), tar_layer(&[("a", Regular, "", b"2")])])
            }),
            "a: written twice",
        ),
        (
            "below-a-symlink",
            Box::new(|l| {
                craft_layout(
                    l,
                    &[tar_layer(&[
                        ("d", Symlink, "sub", b""),
                        ("d/f", Regular, "", b"x"),
                    ])],
                )
            }),
            "d/f: its parent d is a file or link",
        ),
        (
            "raw-without-filepath",
            Box::new(|l| {
                with_layer(l, raw("w.bin", b"w"), |d| {
                    d["annotations"] = json!({});
                })
            }),
            "raw layer without org.cncf.model.filepath",
        ),
        (
            "unknown-digest-algorithm",
            Box::new(|l| {
                with_layer(l, raw("w.bin", b"w"), |d| {
                    d["digest"] = json!(format!("sha512:{}", "ab".repeat(64)));
                })
            }),
            "only sha256 blobs can be verified",
        ),
        (
            "manifest-over-4MiB",
            Box::new(|l| {
                craft_layout(l, &[raw("w.bin", b"w")]);
                edit_manifest(l, |m| {
                    m["annotations"] = json!({"padding": "p".repeat(5 << 20)});
                });
            }),
            "4194304",
        ),
    ];
    for (name, build, why) in cases {
        let layout = work.path().join(name);
        build(&layout);
        let out = work.path().join(format!("{name}-out"));
        let (code, _, stderr) = run(&[
            "unpack",
            layout.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{name}: unpack must refuse: {stderr}");
        one_line(&stderr);
        assert!(stderr.contains(why), "{name}: unpack said {stderr}");
        assert!(!out.exists());
        let (code, errors) = validate_errors(&layout);
        assert_eq!(code, 1, "{name}: validate must fail: {errors:?}");
        assert!(
            errors.iter().any(|e| e.contains(why)),
            "{name}: validate must say {why:?}, said {errors:?}"
        );
    }
}
