//! Runs the plugin over every GGUF fixture (and the legacy GGML one) in /work/shared/fixtures
//! and compares with the gguf-py reference JSON; then truncates and flips bytes of each
//! fixture to check the parser always returns.

use modelpack_plugin_sdk::prelude::*;
use modelpack_plugin_sdk::{FileSource, MemSource};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ));
    assert!(
        dir.join("gguf").is_dir(),
        "shared fixtures not found at {}",
        dir.display()
    );
    dir.to_path_buf()
}

/// Every `.gguf` fixture, plus the legacy GGML file.
fn fixture_files() -> Vec<PathBuf> {
    let dir = fixtures();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("gguf"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 7,
        "expected at least 7 GGUF fixtures, found {}",
        files.len()
    );
    files.push(dir.join("other/ggml-silero-v6.2.0.bin"));
    files
}

/// The reference JSON, and its metadata keys in the order the file lists them (serde_json's
/// map sorts keys, so the order is taken from the text: one key per line at indent 2).
fn reference(path: &Path) -> Option<(Value, Vec<String>)> {
    let dir = fixtures();
    let rel = path
        .strip_prefix(&dir)
        .unwrap()
        .to_string_lossy()
        .replace('/', "__");
    let file = dir.join("reference").join(format!("{rel}.json"));
    let text = std::fs::read_to_string(file).ok()?;
    let order = text
        .lines()
        .skip_while(|l| *l != " \"metadata\": {")
        .skip(1)
        .take_while(|l| *l != " },")
        .filter_map(|l| l.strip_prefix("  \"")?.strip_suffix("\": {"))
        .map(|k| serde_json::from_str::<String>(&format!("\"{k}\"")).unwrap())
        .collect();
    Some((serde_json::from_str(&text).unwrap(), order))
}

fn inspect_path(path: &Path) -> Result<ModelReport, Error> {
    let src = FileSource::open(path).unwrap();
    gguf::inspect(&[&src as &dyn Source])
}

fn meta<'a>(r: &'a ModelReport, key: &str) -> Option<&'a MetaValue> {
    r.metadata.iter().find(|m| m.key == key).map(|m| &m.value)
}

/// Checks one reference metadata entry (`{"type", "value"}` or an array summary).
fn check_meta(name: &str, r: &ModelReport, key: &str, want: &Value) {
    let got = meta(r, key).unwrap_or_else(|| panic!("{name}: metadata key {key} missing"));
    let ty = want["type"].as_str().unwrap();
    if let Some(et) = ty.strip_prefix("ARRAY[").and_then(|t| t.strip_suffix(']')) {
        let MetaValue::Array(a) = got else {
            panic!("{name}: {key}: expected an array summary, got {got:?}")
        };
        assert_eq!(a.element_type, et, "{name}: {key}");
        assert_eq!(
            Some(a.length),
            want["array_length"].as_u64(),
            "{name}: {key}"
        );
        let head: Vec<Value> = serde_json::from_str(&a.head).unwrap();
        assert_eq!(head.len() as u64, a.length.min(16), "{name}: {key}");
        let first = want["first"].as_array().unwrap();
        assert_eq!(&head[..first.len()], first.as_slice(), "{name}: {key}");
        return;
    }
    let v = &want["value"];
    match (ty, got) {
        ("STRING", MetaValue::Text(t)) => assert_eq!(Some(t.as_str()), v.as_str(), "{name}: {key}"),
        ("UINT8" | "UINT16" | "UINT32" | "UINT64", MetaValue::Uint(u)) => {
            assert_eq!(Some(*u), v.as_u64(), "{name}: {key}")
        }
        ("INT8" | "INT16" | "INT32" | "INT64", MetaValue::Int(i)) => {
            assert_eq!(Some(*i), v.as_i64(), "{name}: {key}")
        }
        ("FLOAT32" | "FLOAT64", MetaValue::Float(f)) => {
            assert_eq!(Some(*f), v.as_f64(), "{name}: {key}")
        }
        ("BOOL", MetaValue::Boolean(b)) => assert_eq!(Some(*b), v.as_bool(), "{name}: {key}"),
        _ => panic!("{name}: {key}: reference type {ty} but got {got:?}"),
    }
}

fn check_valid(name: &str, r: &ModelReport, want: &Value, order: &[String]) {
    assert_eq!(r.format, "gguf", "{name}");
    assert_eq!(
        Some(r.tensors.len() as u64),
        want["tensor_count"].as_u64(),
        "{name}: tensor_count"
    );
    assert_eq!(
        Some(r.parameter_count),
        want["total_parameters"].as_u64(),
        "{name}: total_parameters"
    );
    let mut by_dtype: BTreeMap<String, u64> = BTreeMap::new();
    for t in &r.tensors {
        *by_dtype.entry(t.dtype.clone()).or_default() += t.shape.iter().product::<u64>();
    }
    let want_dtypes: BTreeMap<String, u64> = want["dtype_parameters"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(by_dtype, want_dtypes, "{name}: dtype_parameters");
    // Tensors in file order, with the reference's outermost-first shape.
    for (t, w) in r.tensors.iter().zip(want["tensors"].as_array().unwrap()) {
        assert_eq!(Some(t.name.as_str()), w["name"].as_str(), "{name}");
        assert_eq!(
            Some(t.dtype.as_str()),
            w["dtype"].as_str(),
            "{name}: {}",
            t.name
        );
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(t.shape, shape, "{name}: {}", t.name);
    }
    // Every file key, plus general.file_type_name (when known) and gguf.version.
    let reference_meta = want["metadata"].as_object().unwrap();
    let added = 1 + usize::from(want.get("file_type_name").is_some_and(|v| v.is_string()));
    assert_eq!(
        r.metadata.len(),
        reference_meta.len() + added,
        "{name}: metadata count"
    );
    assert_eq!(
        Some(reference_meta.len() as u64),
        want["metadata_key_count"].as_u64()
    );
    assert_eq!(
        order.len(),
        reference_meta.len(),
        "{name}: reference key order"
    );
    for (i, key) in order.iter().enumerate() {
        assert_eq!(&r.metadata[i].key, key, "{name}: metadata order");
        check_meta(name, r, key, &reference_meta[key]);
    }
    let text = |k: &str| match meta(r, k) {
        Some(MetaValue::Text(t)) => Some(t.as_str()),
        _ => None,
    };
    assert_eq!(
        text("general.architecture"),
        want["architecture"].as_str(),
        "{name}"
    );
    assert_eq!(text("general.name"), want["name"].as_str(), "{name}");
    assert_eq!(
        text("general.file_type_name"),
        want["file_type_name"].as_str(),
        "{name}"
    );
    assert!(
        matches!(meta(r, "gguf.version"), Some(MetaValue::Uint(v)) if Some(*v) == want["gguf_version"].as_u64())
    );
}

#[test]
fn every_fixture_matches_its_reference() {
    let mut checked = 0;
    for path in fixture_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let result = inspect_path(&path);
        if name == "ggml-silero-v6.2.0.bin" {
            match result {
                Err(Error::Unsupported(m)) => {
                    assert!(
                        m.starts_with("legacy GGML-family file (magic 'lmgg'"),
                        "{m}"
                    );
                    assert!(m.contains("convert it to GGUF"), "{m}");
                }
                other => panic!("{name}: expected Unsupported, got {other:?}"),
            }
            let head = std::fs::read(&path).unwrap();
            assert_eq!(gguf::detect(&name, &head[..64]), 1.0);
            checked += 1;
            continue;
        }
        let (want, order) = reference(&path).unwrap_or_else(|| panic!("{name}: no reference JSON"));
        let head = std::fs::read(&path).unwrap();
        let head = &head[..head.len().min(64 << 10)];
        if want["valid"] == Value::Bool(false) {
            let err = match result {
                Err(e) => e,
                Ok(r) => panic!("{name}: negative fixture gave a report: {r:?}"),
            };
            match name.as_str() {
                "header-only-truncated.gguf" => assert!(
                    matches!(&err, Error::Malformed(m) if m.starts_with("data section is truncated")),
                    "{name}: {err:?}"
                ),
                "not-gguf-text.gguf" => {
                    assert!(
                        matches!(&err, Error::Malformed(m) if m.starts_with("not a GGUF file: bad magic")),
                        "{name}: {err:?}"
                    );
                    assert_eq!(gguf::detect(&name, head), 0.0);
                }
                _ => {}
            }
        } else {
            let r = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            check_valid(&name, &r, &want, &order);
            assert_eq!(gguf::detect(&name, head), 1.0, "{name}");
        }
        checked += 1;
    }
    assert_eq!(checked, 8);
}

#[test]
fn vocab_only_files_are_flagged() {
    let r = inspect_path(&fixtures().join("gguf/ggml-vocab-gpt-2.gguf")).unwrap();
    assert!(r.findings.iter().any(|f| f.id == "no-tensors"));
    let tiny = inspect_path(&fixtures().join("gguf/llama-2-tiny-random.gguf")).unwrap();
    assert!(tiny.findings.is_empty(), "{:?}", tiny.findings);
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn run_bytes(bytes: Vec<u8>) {
    let src = MemSource::new("prop.gguf", bytes);
    let _ = gguf::inspect(&[&src as &dyn Source]);
}

#[test]
fn truncation_never_panics() {
    for path in fixture_files() {
        let data = std::fs::read(&path).unwrap();
        // Every cut in the first 4 KiB (where the fixed fields are), then spread cuts.
        let mut cuts: Vec<usize> = (0..data.len().min(4096)).collect();
        let step = (data.len() / 200).max(1);
        cuts.extend((0..data.len()).step_by(step));
        for cut in cuts {
            run_bytes(data[..cut].to_vec());
        }
    }
}

#[test]
fn byte_flips_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for path in fixture_files() {
        let data = std::fs::read(&path).unwrap();
        if data.is_empty() {
            continue;
        }
        // Flips land mostly in the header's first KiB, where counts and lengths live.
        let hot = data.len().min(1024) as u64;
        for round in 0..300 {
            let mut d = data.clone();
            for _ in 0..1 + rng.next() % 4 {
                let range = if round % 4 == 0 { d.len() as u64 } else { hot };
                let i = (rng.next() % range) as usize;
                d[i] = rng.next() as u8;
            }
            run_bytes(d);
        }
    }
}
