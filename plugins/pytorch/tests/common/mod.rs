//! Test helpers: the shared fixtures folder, a tiny pickle assembler and a tiny zip writer.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared fixtures folder (panics with a clear message when absent).
pub fn fixtures_dir() -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ));
    assert!(p.is_dir(), "shared fixtures not found at {}", p.display());
    p
}

/// Every file of one fixture subfolder, sorted.
pub fn fixture_files(sub: &str) -> Vec<PathBuf> {
    let dir = fixtures_dir().join(sub);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("shared fixtures not found at {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Hand-written pickle bytes, one opcode per call (names follow `pickletools`).
#[derive(Default)]
pub struct P(pub Vec<u8>);

impl P {
    pub fn new() -> Self {
        P(Vec::new())
    }
    pub fn proto(mut self, n: u8) -> Self {
        self.0.extend([0x80, n]);
        self
    }
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    /// GLOBAL 'module name'.
    pub fn global(mut self, module: &str, name: &str) -> Self {
        self.0.push(b'c');
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        self
    }
    /// BINUNICODE.
    pub fn str(mut self, s: &str) -> Self {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    /// SHORT_BINUNICODE.
    pub fn short_str(mut self, s: &str) -> Self {
        self.0.push(0x8c);
        self.0.push(s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    /// BININT.
    pub fn int(mut self, i: i32) -> Self {
        self.0.push(b'J');
        self.0.extend_from_slice(&i.to_le_bytes());
        self
    }
    pub fn op(mut self, b: u8) -> Self {
        self.0.push(b);
        self
    }
    pub fn mark(self) -> Self {
        self.op(b'(')
    }
    pub fn tuple(self) -> Self {
        self.op(b't')
    }
    pub fn tuple1(self) -> Self {
        self.op(0x85)
    }
    pub fn reduce(self) -> Self {
        self.op(b'R')
    }
    pub fn stop(self) -> Self {
        self.op(b'.')
    }
    pub fn binput(mut self, i: u8) -> Self {
        self.0.extend([b'q', i]);
        self
    }
    pub fn binget(mut self, i: u8) -> Self {
        self.0.extend([b'h', i]);
        self
    }
    pub fn empty_dict(self) -> Self {
        self.op(b'}')
    }
    pub fn setitems(self) -> Self {
        self.op(b'u')
    }
    /// `OrderedDict()` via GLOBAL + EMPTY_TUPLE + REDUCE.
    pub fn ordered_dict(self) -> Self {
        self.global("collections", "OrderedDict").op(b')').reduce()
    }
    /// `_rebuild_tensor_v2(('storage', torch.<Storage>, key, 'cpu', numel), 0, shape, contiguous stride, False, OrderedDict())`.
    pub fn tensor(self, storage: &str, key: &str, numel: i32, shape: &[i32]) -> Self {
        let mut p = self
            .global("torch._utils", "_rebuild_tensor_v2")
            .mark()
            .mark()
            .str("storage")
            .global("torch", storage)
            .str(key)
            .str("cpu")
            .int(numel)
            .tuple()
            .op(b'Q')
            .int(0)
            .mark();
        for &d in shape {
            p = p.int(d);
        }
        p = p.tuple().mark();
        let mut stride = Vec::new();
        let mut acc: i32 = 1;
        for &d in shape.iter().rev() {
            stride.push(acc);
            acc = acc.wrapping_mul(d.max(1));
        }
        for s in stride.iter().rev() {
            p = p.int(*s);
        }
        p.tuple().op(0x89).ordered_dict().tuple().reduce()
    }
    /// `os.system(cmd)` style call: GLOBAL + (arg,) + REDUCE.
    pub fn call1(self, module: &str, name: &str, arg: &str) -> Self {
        self.global(module, name).str(arg).tuple1().reduce()
    }
    pub fn bytes(self) -> Vec<u8> {
        self.0
    }
}

/// CRC-32 (IEEE), bitwise; tests only.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A zip archive; `deflate` compresses members with miniz_oxide.
pub fn zip(entries: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let (method, body) = if deflate {
            (8u16, miniz_oxide::deflate::compress_to_vec(data, 6))
        } else {
            (0u16, data.to_vec())
        };
        let crc = crc32(data);
        let mut local = Vec::new();
        local.extend(0x0403_4b50u32.to_le_bytes());
        local.extend(20u16.to_le_bytes());
        local.extend(0u16.to_le_bytes());
        local.extend(method.to_le_bytes());
        local.extend([0u8; 4]);
        local.extend(crc.to_le_bytes());
        local.extend((body.len() as u32).to_le_bytes());
        local.extend((data.len() as u32).to_le_bytes());
        local.extend((name.len() as u16).to_le_bytes());
        local.extend(0u16.to_le_bytes());
        local.extend(name.as_bytes());
        out.extend(&local);
        out.extend(&body);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        central.extend(0u16.to_le_bytes());
        central.extend(method.to_le_bytes());
        central.extend([0u8; 4]);
        central.extend(crc.to_le_bytes());
        central.extend((body.len() as u32).to_le_bytes());
        central.extend((data.len() as u32).to_le_bytes());
        central.extend((name.len() as u16).to_le_bytes());
        central.extend([0u8; 12]);
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// A simple deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}
