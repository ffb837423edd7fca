//! Malformed, truncated and bit-flipped inputs: errors or reports, never panics.

mod common;

use common::Rng;
use modelpack_plugin_sdk::MemSource;
use modelpack_plugin_sdk::prelude::*;

fn run(name: &str, bytes: Vec<u8>) -> Result<ModelReport, Error> {
    let src = MemSource::new(name, bytes);
    numpy::inspect(&[&src as &dyn Source])
}

#[test]
fn short_data_and_overflowing_shapes_are_malformed() {
    let f = common::npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
        &[0u8; 23],
    );
    assert!(matches!(run("a.npy", f), Err(Error::Malformed(m)) if m.contains("24 bytes")));
    let f = common::npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
        &[],
    );
    assert!(matches!(run("b.npy", f), Err(Error::Malformed(m)) if m.contains("overflows")));
    // Zero-size and 0-d arrays are fine.
    let f = common::npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 7), }",
        &[],
    );
    assert_eq!(run("c.npy", f).unwrap().parameter_count, 0);
    let f = common::npy(
        "{'descr': '<i8', 'fortran_order': True, 'shape': (), }",
        &[0u8; 8],
    );
    let r = run("d.npy", f).unwrap();
    assert_eq!((r.parameter_count, r.tensors[0].shape.len()), (1, 0));
    // Short member inside an npz.
    let m = common::npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }",
        &[0u8; 4],
    );
    assert!(matches!(
        run("e.npz", common::zip(&[("m.npy", &m)])),
        Err(Error::Malformed(_))
    ));
    // Not an array at all.
    assert!(matches!(
        run("f.npy", b"hello world".to_vec()),
        Err(Error::Malformed(_))
    ));
    // Non-array npz member: a warning, not an error.
    let r = run("g.npz", common::zip(&[("notes.txt", b"hi")])).unwrap();
    assert!(r.findings.iter().any(|f| f.id == "npz-non-array-member"));
}

#[test]
fn truncated_and_flipped_fixtures_never_panic() {
    for file in common::fixture_files("numpy") {
        let data = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for cut in 0..data.len().min(400) {
            let _ = run(&name, data[..cut].to_vec());
        }
        let mut rng = Rng(0xfeed_beef ^ data.len() as u64);
        for _ in 0..200 {
            let mut d = data.clone();
            for _ in 0..1 + rng.below(3) {
                let span = (data.len() as u64).min(1024);
                let at = if rng.below(2) == 0 {
                    rng.below(span) as usize
                } else {
                    data.len() - 1 - rng.below(span) as usize
                };
                d[at] ^= 1 << rng.below(8);
            }
            let _ = run(&name, d);
        }
    }
}

#[test]
fn lfs_pointer_is_reported() {
    let text = b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 99\n".to_vec();
    let r = run("weights.npz", text).unwrap();
    assert_eq!(r.format, "npz");
    assert!(r.findings.iter().any(|f| f.id == "git-lfs-pointer"));
}
