//! Truncated and bit-flipped fixtures, and hostile pickles: inspect must return (a report or an
//! error), never panic, loop or allocate without bound.

mod common;

use common::{P, Rng};
use modelpack_plugin_sdk::MemSource;
use modelpack_plugin_sdk::prelude::*;

fn run(name: &str, bytes: Vec<u8>) -> Result<ModelReport, Error> {
    let src = MemSource::new(name, bytes);
    pytorch::inspect(&[&src as &dyn Source])
}

#[test]
fn truncated_fixtures_never_panic() {
    for file in common::fixture_files("pytorch") {
        let data = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut cuts: Vec<usize> = (0..64.min(data.len())).collect();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ data.len() as u64);
        cuts.extend((0..60).map(|_| rng.below(data.len() as u64) as usize));
        cuts.extend((1..64).map(|i| data.len().saturating_sub(i)));
        for cut in cuts {
            // Truncated zips lose their central directory; truncated legacy files lose records.
            let r = run(&name, data[..cut].to_vec());
            if let Ok(r) = &r {
                assert!(r.tensors.len() <= 1000, "{name} cut at {cut}");
            }
        }
    }
}

#[test]
fn bit_flipped_fixtures_never_panic() {
    for file in common::fixture_files("pytorch") {
        let data = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut rng = Rng(0x0123_4567_89ab_cdef ^ data.len() as u64);
        for round in 0..120 {
            let mut d = data.clone();
            // Aim half of the flips at the start (headers, pickles), half at the end (zip
            // central directory), where they matter most.
            for _ in 0..1 + rng.below(4) {
                let span = (data.len() as u64).min(8192);
                let at = if round % 2 == 0 {
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
fn hostile_lengths_and_shapes_are_refused() {
    // BINUNICODE8 claiming 2^63 bytes.
    let mut p = vec![0x80, 4, 0x8d];
    p.extend((1u64 << 63).to_le_bytes());
    p.push(b'.');
    assert!(matches!(run("a.pkl", p), Err(Error::Malformed(_))));

    // Unknown opcode, stack underflow, missing memo, MARK-less TUPLE, no STOP.
    for bad in [
        &b"\x80\x02\xff."[..],
        b"\x80\x02R.",
        b"\x80\x02h\x05.",
        b"\x80\x02t.",
        b"\x80\x02N",
    ] {
        assert!(
            matches!(run("b.pkl", bad.to_vec()), Err(Error::Malformed(_))),
            "{bad:?}"
        );
    }

    // A million MARKs exceed the mark limit without allocating per byte.
    let mut marks = vec![0x80, 2];
    marks.extend(std::iter::repeat_n(b'(', 1 << 20));
    marks.push(b'.');
    assert!(matches!(run("c.pkl", marks), Err(Error::TooLarge(_))));

    // A shape whose product overflows u64 is an error, never a count (a later sum of counts
    // could wrap it around to a small number).
    let huge = P::new()
        .proto(2)
        .ordered_dict()
        .mark()
        .str("w")
        .tensor("FloatStorage", "0", 1, &[i32::MAX, i32::MAX, i32::MAX])
        .setitems()
        .stop()
        .bytes();
    match run("d.pkl", huge) {
        Err(Error::Malformed(m)) => assert!(m.contains("parameter count overflows u64"), "{m}"),
        other => panic!("expected an overflow error, got {other:?}"),
    }

    // Deeply nested lists: walked to a depth limit, with a warning.
    let mut deep = vec![0x80, 2];
    deep.extend(std::iter::repeat_n(b']', 5000));
    deep.extend(std::iter::repeat_n(b'a', 4999));
    deep.push(b'.');
    let r = run("e.pkl", deep).expect("report");
    assert!(r.findings.iter().any(|f| f.id == "pickle-too-deep"));

    // Self-referencing list (memo) is walked once.
    let cyc = P::new()
        .proto(2)
        .op(b']')
        .binput(0)
        .binget(0)
        .op(b'a')
        .stop()
        .bytes();
    assert!(run("f.pkl", cyc).is_ok());
}

#[test]
fn zip_edge_cases() {
    // No data.pkl, first member outside a folder, empty archive, EOCD comment, bad offsets.
    let z = common::zip(&[("archive/other.txt", b"x")], false);
    assert!(matches!(run("a.pt", z), Err(Error::Malformed(m)) if m.contains("data.pkl")));
    let z = common::zip(&[("data.pkl", b"\x80\x02N.")], false);
    assert!(matches!(run("b.pt", z), Err(Error::Malformed(m)) if m.contains("not in a folder")));
    let z = common::zip(&[], false);
    assert!(run("c.pt", z).is_err());

    let pkl = P::new().proto(2).empty_dict().stop().bytes();
    let mut z = common::zip(&[("r/data.pkl", &pkl)], false);
    let n = z.len();
    z[n - 2..].copy_from_slice(&5u16.to_le_bytes());
    z.extend(b"hello");
    let r = run("d.pt", z).expect("comment after EOCD");
    assert!(r.tensors.is_empty());

    // Central directory offset pointing past the file.
    let mut z = common::zip(&[("r/data.pkl", &pkl)], false);
    let n = z.len();
    z[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(run("e.pt", z), Err(Error::Malformed(_))));

    // Path traversal in a member name.
    let z = common::zip(&[("r/data.pkl", &pkl), ("r/../../etc/passwd", b"x")], false);
    let r = run("f.pt", z).expect("report");
    assert!(r.findings.iter().any(|f| f.id == "zip-path-traversal"));
}
