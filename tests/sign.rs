//! `sign`/`verify` against the OpenSSF `model-signing` Python package, both directions:
//! modelpack signs → model_signing verifies; model_signing signs → modelpack verifies; a
//! flipped byte in any file, an added or removed file, or another key → both refuse.
//!
//! Needs `python3 -m model_signing` and `openssl` (installed by `.ci/run`); elsewhere the
//! tests skip with a message, and under `CI=true` a missing tool is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{fixtures, keypair, modelpack};

/// Skips (returns true) with a printed reason, or fails under CI.
fn missing_tools() -> bool {
    let python = Command::new("python3")
        .args(["-c", "import model_signing"])
        .output()
        .is_ok_and(|o| o.status.success());
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if python && openssl {
        return false;
    }
    let why = if python {
        "openssl is not installed"
    } else {
        "the model-signing Python package is not installed (pip install model-signing)"
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}: CI must provide it (see .ci/run)");
    }
    eprintln!("skipping: {why}");
    true
}

/// A small model: real weights from the fixtures, a nested directory, an empty file, names
/// whose string order differs from their path order (`a.json` < `a/…` as strings only), and
/// git metadata that model-signing leaves out.
fn model(root: &Path) -> PathBuf {
    let m = root.join("tiny-model");
    std::fs::create_dir_all(m.join("a")).unwrap();
    std::fs::create_dir_all(m.join(".git")).unwrap();
    let f = fixtures();
    std::fs::copy(
        f.join("safetensors/with-metadata.safetensors"),
        m.join("model.safetensors"),
    )
    .unwrap();
    std::fs::copy(
        f.join("onnx/onnx1.23-backend/light_squeezenet.onnx"),
        m.join("a/squeezenet.onnx"),
    )
    .unwrap();
    std::fs::write(m.join("a.json"), br#"{"model_type": "test"}"#).unwrap();
    std::fs::write(m.join("empty.txt"), b"").unwrap();
    std::fs::write(m.join(".gitattributes"), b"*.onnx filter=lfs\n").unwrap();
    std::fs::write(m.join(".git/HEAD"), b"ref: refs/heads/main\n").unwrap();
    m
}

/// The files a signature covers (relative paths), for tampering with each.
const SIGNED: [&str; 4] = [
    "model.safetensors",
    "a/squeezenet.onnx",
    "a.json",
    "empty.txt",
];

/// `python3 -m model_signing verify key`: (success, combined output).
fn ms_verify(dir: &Path, sig: &Path, public: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .args(["-m", "model_signing", "verify", "key"])
        .arg(dir)
        .arg("--signature")
        .arg(sig)
        .arg("--public_key")
        .arg(public)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("Verification succeeded"),
        text,
    )
}

/// `python3 -m model_signing sign key`.
fn ms_sign(dir: &Path, sig: &Path, private: &Path) {
    let out = Command::new("python3")
        .args(["-m", "model_signing", "sign", "key"])
        .arg(dir)
        .arg("--signature")
        .arg(sig)
        .arg("--private_key")
        .arg(private)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "model_signing sign failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `modelpack verify`: (exit code, stdout, stderr).
fn mp_verify(dir: &Path, sig: &Path, public: &Path) -> (i32, String, String) {
    let out = modelpack()
        .arg("verify")
        .arg(dir)
        .arg("--public-key")
        .arg(public)
        .arg("--signature")
        .arg(sig)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn flip_byte(path: &Path) -> Vec<u8> {
    let original = std::fs::read(path).unwrap();
    let mut changed = original.clone();
    if changed.is_empty() {
        changed.push(0);
    } else {
        let mid = changed.len() / 2;
        changed[mid] ^= 0x01;
    }
    std::fs::write(path, &changed).unwrap();
    original
}

/// Both tools refuse every tampering of a signed model, and accept it again once undone.
fn both_refuse_tampering(m: &Path, sig: &Path, public: &Path, other_public: &Path) {
    for rel in SIGNED {
        let path = m.join(rel);
        let original = flip_byte(&path);
        let (ok, text) = ms_verify(m, sig, public);
        assert!(!ok, "model_signing accepted a modified {rel}: {text}");
        assert!(
            text.contains(rel),
            "model_signing does not name {rel}: {text}"
        );
        let (code, _, err) = mp_verify(m, sig, public);
        assert_eq!(code, 1, "modelpack accepted a modified {rel}: {err}");
        assert!(
            err.contains(&format!("{rel} was modified")),
            "modelpack does not name {rel}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
        std::fs::write(&path, original).unwrap();
    }

    let added = m.join("a/extra.bin");
    std::fs::write(&added, b"not signed").unwrap();
    let (ok, text) = ms_verify(m, sig, public);
    assert!(!ok, "model_signing accepted an added file: {text}");
    let (code, _, err) = mp_verify(m, sig, public);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a/extra.bin is not in the signature"), "{err}");
    std::fs::remove_file(&added).unwrap();

    let removed = m.join("a.json");
    let kept = std::fs::read(&removed).unwrap();
    std::fs::remove_file(&removed).unwrap();
    let (ok, text) = ms_verify(m, sig, public);
    assert!(!ok, "model_signing accepted a removed file: {text}");
    let (code, _, err) = mp_verify(m, sig, public);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a.json is signed but missing"), "{err}");
    std::fs::write(&removed, kept).unwrap();

    let (ok, text) = ms_verify(m, sig, other_public);
    assert!(!ok, "model_signing accepted another key: {text}");
    let (code, _, err) = mp_verify(m, sig, other_public);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("signed by another key"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");

    // Untampered again: both accept.
    let (ok, text) = ms_verify(m, sig, public);
    assert!(ok, "model_signing refused the restored model: {text}");
    let (code, out, err) = mp_verify(m, sig, public);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("verified: 4 files"), "{out}");
}

#[test]
fn modelpack_signs_and_model_signing_verifies() {
    if missing_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "signer");
    let (_, other_public) = keypair(tmp.path(), "other");
    let m = model(tmp.path());
    let out = modelpack()
        .arg("sign")
        .arg(&m)
        .arg("--key")
        .arg(&private)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("signed 4 files"), "{stdout}");
    let sig = m.join("model.sig");
    assert!(sig.is_file());
    // No temporary file left beside the signature.
    let mut names: Vec<String> = std::fs::read_dir(&m)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".git",
            ".gitattributes",
            "a",
            "a.json",
            "empty.txt",
            "model.safetensors",
            "model.sig"
        ]
    );

    // The statement lists every file with its real SHA-256, in model-signing's shape.
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&sig).unwrap()).unwrap();
    assert_eq!(
        bundle["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(st["predicateType"], "https://model_signing/signature/v1.0");
    let resources = st["predicate"]["resources"].as_array().unwrap();
    let names: Vec<&str> = resources
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // Path order (components), as model-signing sorts: a/… before a.json.
    assert_eq!(
        names,
        [
            "a/squeezenet.onnx",
            "a.json",
            "empty.txt",
            "model.safetensors"
        ]
    );
    for r in resources {
        let bytes = std::fs::read(m.join(r["name"].as_str().unwrap())).unwrap();
        use sha2::Digest as _;
        assert_eq!(r["digest"], hex::encode(sha2::Sha256::digest(&bytes)));
    }
    let ignored = st["predicate"]["serialization"]["ignore_paths"]
        .as_array()
        .unwrap();
    assert!(ignored.iter().any(|p| p == "model.sig"), "{ignored:?}");

    let (ok, text) = ms_verify(&m, &sig, &public);
    assert!(ok, "model_signing refused modelpack's signature: {text}");
    // model-signing checks the key id hint against the key; a mismatch would print this.
    assert!(!text.contains("Key mismatch"), "{text}");
    both_refuse_tampering(&m, &sig, &public, &other_public);
}

#[test]
fn model_signing_signs_and_modelpack_verifies() {
    if missing_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "signer");
    let (_, other_public) = keypair(tmp.path(), "other");
    let m = model(tmp.path());
    let sig = m.join("model.sig");
    ms_sign(&m, &sig, &private);
    // The default signature path is DIR/model.sig.
    let out = modelpack()
        .arg("verify")
        .arg(&m)
        .arg("--public-key")
        .arg(&public)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["method"], "files");
    assert_eq!(v["resources"], 4);
    assert_eq!(v["modelName"], "tiny-model");
    let pem = std::fs::read(&public).unwrap();
    use sha2::Digest as _;
    assert_eq!(v["keyId"], hex::encode(sha2::Sha256::digest(&pem)));
    both_refuse_tampering(&m, &sig, &public, &other_public);
}

/// model-signing's `shards` serialization (through its Python API: the CLI has no flag),
/// with a shard size that cuts the weights into several pieces.
#[test]
fn model_signing_shards_verify_and_a_flipped_byte_names_the_shard() {
    if missing_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "signer");
    let m = model(tmp.path());
    let sig = tmp.path().join("sharded.sig");
    let script = "import sys, model_signing as ms\n\
        h = ms.hashing.Config().use_shard_serialization(shard_size=1000)\n\
        ms.signing.Config().use_elliptic_key_signer(private_key=sys.argv[2])\
        .set_hashing_config(h).sign(sys.argv[1], sys.argv[3])\n";
    let ok = Command::new("python3")
        .args(["-c", script])
        .arg(&m)
        .arg(&private)
        .arg(&sig)
        .status()
        .unwrap()
        .success();
    assert!(ok, "model_signing shard signing failed");
    let (code, out, err) = mp_verify(&m, &sig, &public);
    assert_eq!(code, 0, "{err}");
    // 2048 + 15618 + 22 bytes in 1000-byte shards (3 + 16 + 1); the empty file has none.
    assert!(out.starts_with("verified: 20 shards"), "{out}");
    let path = m.join("a/squeezenet.onnx");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[7500] ^= 0x80;
    std::fs::write(&path, &bytes).unwrap();
    let (code, _, err) = mp_verify(&m, &sig, &public);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("a/squeezenet.onnx:7000:8000 was modified"),
        "{err}"
    );
}

#[test]
fn bad_keys_and_missing_signatures_are_one_line() {
    if missing_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "signer");
    let m = model(tmp.path());

    // No signature yet: a verdict (exit 1), not a crash.
    let (code, _, err) = mp_verify(&m, &m.join("model.sig"), &public);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no signature"), "{err}");

    // A private key where the public one belongs.
    let (code, _, err) = mp_verify(&m, &m.join("model.sig"), &private);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("this is a private key"), "{err}");

    // A P-384 key is refused by name, and nothing is written.
    let p384 = tmp.path().join("p384.pem");
    assert!(
        Command::new("openssl")
            .args(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out"])
            .arg(&p384)
            .status()
            .unwrap()
            .success()
    );
    let out = modelpack()
        .arg("sign")
        .arg(&m)
        .arg("--key")
        .arg(&p384)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not an ECDSA P-256 private key"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!m.join("model.sig").exists());

    // A PKCS#8 key (as Python's cryptography writes it) signs too.
    let pkcs8 = tmp.path().join("pkcs8.pem");
    assert!(
        Command::new("openssl")
            .args(["pkcs8", "-topk8", "-nocrypt", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&pkcs8)
            .status()
            .unwrap()
            .success()
    );
    let sig = tmp.path().join("elsewhere.sig");
    let out = modelpack()
        .arg("sign")
        .arg(&m)
        .arg("--key")
        .arg(&pkcs8)
        .arg("--signature")
        .arg(&sig)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, _, err) = mp_verify(&m, &sig, &public);
    assert_eq!(code, 0, "{err}");

    // A signature that is not JSON.
    std::fs::write(&sig, b"garbage").unwrap();
    let (code, _, err) = mp_verify(&m, &sig, &public);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a sigstore bundle"), "{err}");
}

/// An OCI layout: the signature is an OCI 1.1 referrer (sigstore bundle artifactType, subject
/// = the model manifest) stored in the layout; verify finds it, checks every blob, and
/// refuses an unsigned layout, another key or a flipped byte in a layer.
#[test]
fn layout_signature_is_a_referrer_and_verify_finds_it() {
    if missing_tools() || !crate::util::plugins_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keypair(tmp.path(), "signer");
    let (_, other_public) = keypair(tmp.path(), "other");
    let layout = tmp.path().join("layout");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tiny-model");
    let out = modelpack()
        .arg("pack")
        .arg(&example)
        .arg("--output")
        .arg(&layout)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verify = |public: &Path| {
        let out = modelpack()
            .arg("verify")
            .arg(format!("{}:latest", layout.display()))
            .arg("--public-key")
            .arg(public)
            .args(["--format", "json"])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = verify(&public);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has no signature"), "{err}");

    let out = modelpack()
        .arg("sign")
        .arg(&layout)
        .arg("--key")
        .arg(&private)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // The referrer as the OCI 1.1 image spec lays it out.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["digest"] == signed["referrer"])
        .unwrap();
    assert_eq!(
        entry["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    let blob = |d: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(d.strip_prefix("sha256:").unwrap()),
        )
        .unwrap()
    };
    let referrer: serde_json::Value =
        serde_json::from_slice(&blob(signed["referrer"].as_str().unwrap())).unwrap();
    assert_eq!(referrer["subject"]["digest"], signed["manifest"]);
    assert_eq!(
        referrer["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(
        referrer["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );

    let (code, stdout, err) = verify(&public);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_slice(stdout.as_bytes()).unwrap();
    assert_eq!(v["manifest"], signed["manifest"]);
    assert_eq!(v["blobs"], 7, "config and six layers");

    let (code, _, err) = verify(&other_public);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("signed by another key"), "{err}");

    // The layout still validates and unpacks with the referrer in it.
    let out = modelpack().arg("validate").arg(&layout).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // One flipped byte in the weights layer.
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(signed["manifest"].as_str().unwrap())).unwrap();
    let weights = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"].as_str().unwrap().contains(".weight.v1."))
        .unwrap();
    let path = layout.join("blobs/sha256").join(
        weights["digest"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap(),
    );
    // Replace the blob rather than write into it: pack may have linked it to the example.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x01;
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let (code, _, err) = verify(&public);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("content does not match its digest"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
