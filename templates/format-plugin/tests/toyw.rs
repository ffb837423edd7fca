//! Native tests of the whole plugin: a real file through `FileSource`, in-memory variants
//! through `MemSource`, and a robustness property (truncations and byte flips never panic).

use modelpack_plugin_sdk::prelude::*;
use modelpack_plugin_sdk::{FileSource, MemSource};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny.toyw");

fn inspect_bytes(bytes: Vec<u8>) -> Result<ModelReport, Error> {
    let src = MemSource::new("m.toyw", bytes);
    toyw::inspect(&[&src as &dyn Source])
}

#[test]
fn reads_the_sample_file() {
    let src = FileSource::open(SAMPLE).expect("tests/data/tiny.toyw");
    let r = toyw::inspect(&[&src as &dyn Source]).unwrap();
    assert_eq!(r.format, "toyw");
    let names: Vec<_> = r
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.dtype.as_str()))
        .collect();
    assert_eq!(names, [("embed.weight", "F32"), ("head.bias", "F16")]);
    assert_eq!(r.parameter_count, 16);
    assert_eq!(r.weight_parameters, 16);
    let words: Vec<_> = r
        .dtypes
        .iter()
        .map(|d| (d.dtype.as_str(), d.precision))
        .collect();
    assert_eq!(
        words,
        [
            ("F32", Some(Precision::Float32)),
            ("F16", Some(Precision::Float16))
        ]
    );
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    let author = r.metadata.iter().find(|m| m.key == "author").unwrap();
    assert!(matches!(&author.value, MetaValue::Text(s) if s == "template"));
}

#[test]
fn detects_by_magic_and_extension() {
    let head = std::fs::read(SAMPLE).unwrap();
    assert_eq!(toyw::detect("x.bin", &head), 1.0);
    assert_eq!(toyw::detect("x.toyw", b"GGUF\x03\0\0\0"), 0.0);
    assert_eq!(toyw::detect("x.toyw", b""), 0.5);
}

#[test]
fn short_data_is_a_finding() {
    let mut bytes = std::fs::read(SAMPLE).unwrap();
    bytes.truncate(bytes.len() - 4);
    let r = inspect_bytes(bytes).unwrap();
    assert_eq!(r.findings[0].id, "data-size-mismatch");
    assert_eq!(r.findings[0].severity, Severity::Warning);
}

#[test]
fn lfs_pointers_are_reported_as_such() {
    let pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:4b794068a5fc23c195695e60246a142e2d086010d2801af084c4c573917ad1b6\nsize 2015434520\n";
    let r = inspect_bytes(pointer.to_vec()).unwrap();
    assert_eq!(r.findings[0].id, "git-lfs-pointer");
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    let original = std::fs::read(SAMPLE).unwrap();
    for cut in 0..original.len() {
        let _ = inspect_bytes(original[..cut].to_vec());
    }
    // A tiny deterministic PRNG (xorshift), so failures reproduce.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2000 {
        let mut b = original.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() % b.len() as u64) as usize;
            b[i] = next() as u8;
        }
        let _ = inspect_bytes(b);
    }
}
