//! Truncated and byte-flipped fixtures must give an error or a report: never a panic, a
//! hang or a huge allocation.

mod common;

use modelpack_plugin_sdk::{MemSource, Source};

/// xorshift64*: a tiny deterministic PRNG, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn run(name: &str, bytes: Vec<u8>) {
    let s = MemSource::new(name, bytes);
    let _ = onnx::inspect(&[&s as &dyn Source]);
    let head_len = s.size().min(64 << 10) as usize;
    let head = s.read(0, head_len as u32).unwrap();
    let d = onnx::detect(name, &head);
    assert!((0.0..=1.0).contains(&d));
}

#[test]
fn truncation_never_panics() {
    for rel in common::onnx_fixtures() {
        let data = std::fs::read(common::fixtures_dir().join(&rel)).unwrap();
        let n = data.len();
        // Every cut in the first 300 bytes, then 200 spread over the file.
        let cuts = (0..n.min(300)).chain((0..200).map(|i| i * n / 200));
        for cut in cuts {
            run(&rel, data[..cut].to_vec());
        }
    }
}

#[test]
fn byte_flips_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for rel in common::onnx_fixtures() {
        let data = std::fs::read(common::fixtures_dir().join(&rel)).unwrap();
        let flips = if data.len() > 1 << 20 { 60 } else { 200 };
        for _ in 0..flips {
            let mut d = data.clone();
            // Mostly one byte, sometimes a handful; bias half the flips into the first 4 KiB
            // where the dense metadata lives.
            for _ in 0..1 + rng.next() % 4 {
                let span = if rng.next().is_multiple_of(2) {
                    d.len().min(4096)
                } else {
                    d.len()
                };
                let i = (rng.next() % span as u64) as usize;
                d[i] ^= (rng.next() % 255 + 1) as u8;
            }
            run(&rel, d);
        }
    }
}
