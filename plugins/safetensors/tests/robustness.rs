//! Truncated and byte-flipped fixtures must give an error or a report, never a panic.

mod common;

use common::{files, fixtures};
use modelpack_plugin_sdk::MemSource;
use modelpack_plugin_sdk::prelude::*;

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The header region of a file (where flips matter), or the whole file for an index.
fn interesting_len(bytes: &[u8]) -> usize {
    let n = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .unwrap_or(0);
    if n > 0 && n < bytes.len() as u64 {
        (n as usize + 8).min(bytes.len())
    } else {
        bytes.len()
    }
}

fn run(name: &str, bytes: Vec<u8>) {
    let src = MemSource::new(name, bytes);
    // Either outcome is fine; only a panic (or hang) would fail the test.
    let _ = safetensors::inspect(&[&src as &dyn Source]);
}

#[test]
fn truncations_and_flips_never_panic() {
    let mut all = files("safetensors", ".safetensors");
    all.extend(files("hf-lfs", ".safetensors.index.json"));
    all.extend(files("hf-lfs", ".safetensors"));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut runs = 0;
    for rel in &all {
        let bytes = std::fs::read(fixtures().join(rel)).unwrap();
        let name = rel.rsplit('/').next().unwrap();
        let span = interesting_len(&bytes);

        // Every cut inside the header region, then a spread through the rest of the file.
        let mut cuts: Vec<usize> = (0..=span.min(600)).collect();
        cuts.extend((0..64).map(|_| rng.below(bytes.len() + 1)));
        for cut in cuts {
            run(name, bytes[..cut].to_vec());
            runs += 1;
        }

        // 1–4 random bytes changed in the header region (length field included).
        for _ in 0..400 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(span.max(1));
                if let Some(x) = b.get_mut(at) {
                    *x = rng.next() as u8;
                }
            }
            run(name, b);
            runs += 1;
        }
    }
    assert!(runs > 5000, "only {runs} runs");
}

#[test]
fn hostile_lengths_do_not_allocate() {
    // Header lengths near u64::MAX, the cap, and just past the file must be refused quickly.
    for n in [
        u64::MAX,
        u64::MAX - 7,
        1 << 63,
        100_000_001,
        100_000_000,
        9,
        8,
    ] {
        let mut v = n.to_le_bytes().to_vec();
        v.extend_from_slice(b"{}");
        let src = MemSource::new("x.safetensors", v);
        assert!(matches!(
            safetensors::inspect(&[&src as &dyn Source]),
            Err(Error::Malformed(_))
        ));
    }
}
