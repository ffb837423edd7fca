//! Unit tests over small GGUF files built in memory by a tiny writer.

use crate::{detect, inspect};
use modelpack_plugin_sdk::MemSource;
use modelpack_plugin_sdk::prelude::*;

/// Value type ids.
const U8: u32 = 0;
const I8: u32 = 1;
const U16: u32 = 2;
const I16: u32 = 3;
const U32: u32 = 4;
const I32: u32 = 5;
const F32: u32 = 6;
const BOOL: u32 = 7;
const STR: u32 = 8;
const ARR: u32 = 9;
const U64: u32 = 10;
const I64: u32 = 11;
const F64: u32 = 12;

/// A `gguf_string`.
fn s(x: &str) -> Vec<u8> {
    let mut v = (x.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(x.as_bytes());
    v
}

/// An array value payload: element type, count, then the encoded elements.
fn arr(et: u32, items: &[Vec<u8>]) -> Vec<u8> {
    let mut v = et.to_le_bytes().to_vec();
    v.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for i in items {
        v.extend_from_slice(i);
    }
    v
}

/// Builds a GGUF file: header, metadata, tensor infos, padding, then `data` zero bytes.
struct Gguf {
    magic: [u8; 4],
    version: u32,
    kvs: Vec<Vec<u8>>,
    tensors: Vec<Vec<u8>>,
    alignment: usize,
    data: usize,
}

impl Gguf {
    fn new() -> Self {
        Gguf {
            magic: *b"GGUF",
            version: 3,
            kvs: vec![],
            tensors: vec![],
            alignment: 32,
            data: 0,
        }
    }

    fn kv(mut self, key: &str, vtype: u32, payload: impl AsRef<[u8]>) -> Self {
        let mut v = s(key);
        v.extend_from_slice(&vtype.to_le_bytes());
        v.extend_from_slice(payload.as_ref());
        self.kvs.push(v);
        self
    }

    fn kv_str(self, key: &str, value: &str) -> Self {
        self.kv(key, STR, s(value))
    }

    fn kv_u32(self, key: &str, value: u32) -> Self {
        self.kv(key, U32, value.to_le_bytes())
    }

    fn tensor(mut self, name: &str, ne: &[u64], ty: u32, offset: u64) -> Self {
        let mut v = s(name);
        v.extend_from_slice(&(ne.len() as u32).to_le_bytes());
        for n in ne {
            v.extend_from_slice(&n.to_le_bytes());
        }
        v.extend_from_slice(&ty.to_le_bytes());
        v.extend_from_slice(&offset.to_le_bytes());
        self.tensors.push(v);
        self
    }

    fn data(mut self, n: usize) -> Self {
        self.data = n;
        self
    }

    fn build(&self) -> Vec<u8> {
        let mut out = self.magic.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.kvs.len() as u64).to_le_bytes());
        for kv in &self.kvs {
            out.extend_from_slice(kv);
        }
        for t in &self.tensors {
            out.extend_from_slice(t);
        }
        if !self.tensors.is_empty() {
            out.resize(out.len().div_ceil(self.alignment) * self.alignment, 0);
        }
        out.resize(out.len() + self.data, 0);
        out
    }
}

fn run(bytes: Vec<u8>) -> Result<ModelReport, Error> {
    let src = MemSource::new("t.gguf", bytes);
    inspect(&[&src as &dyn Source])
}

fn malformed(bytes: Vec<u8>) -> String {
    match run(bytes) {
        Err(Error::Malformed(m)) => m,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn unsupported(bytes: Vec<u8>) -> String {
    match run(bytes) {
        Err(Error::Unsupported(m)) => m,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

fn meta<'a>(r: &'a ModelReport, key: &str) -> &'a MetaValue {
    &r.metadata
        .iter()
        .find(|m| m.key == key)
        .unwrap_or_else(|| panic!("no metadata key {key}"))
        .value
}

fn has_finding(r: &ModelReport, id: &str) -> bool {
    r.findings.iter().any(|f| f.id == id)
}

fn llama() -> Gguf {
    Gguf::new().kv_str("general.architecture", "llama")
}

#[test]
fn reads_a_small_model() {
    let r = run(llama()
        .kv_str("general.name", "tiny")
        .kv_u32("general.file_type", 15)
        .tensor("tok.weight", &[256, 2], 12, 0) // Q4_K: 2 blocks = 288 bytes
        .tensor("norm.weight", &[4], 0, 288)
        .data(288 + 16)
        .build())
    .unwrap();
    assert_eq!(r.format, "gguf");
    assert_eq!(r.tensors.len(), 2);
    assert_eq!(r.tensors[0].dtype, "Q4_K");
    assert_eq!(r.tensors[0].shape, [2, 256]);
    assert_eq!(r.tensors[1].shape, [4]);
    assert_eq!(r.parameter_count, 512 + 4);
    assert!(matches!(meta(&r, "general.name"), MetaValue::Text(t) if t == "tiny"));
    assert!(matches!(meta(&r, "general.file_type"), MetaValue::Uint(15)));
    assert!(
        matches!(meta(&r, "general.file_type_name"), MetaValue::Text(t) if t == "MOSTLY_Q4_K_M")
    );
    assert!(matches!(meta(&r, "gguf.version"), MetaValue::Uint(3)));
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn version_2_is_read() {
    let mut g = llama();
    g.version = 2;
    let r = run(g.build()).unwrap();
    assert!(matches!(meta(&r, "gguf.version"), MetaValue::Uint(2)));
    assert!(has_finding(&r, "no-tensors"));
}

#[test]
fn v1_is_unsupported() {
    let mut g = llama();
    g.version = 1;
    let m = unsupported(g.build());
    assert!(m.starts_with("GGUF v1 is not supported ("), "{m}");
}

#[test]
fn big_endian_is_unsupported() {
    let mut bytes = llama().build();
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    let m = unsupported(bytes);
    assert!(m.starts_with("big-endian GGUF is not supported"), "{m}");
}

#[test]
fn newer_and_zero_versions_are_refused() {
    let mut g = llama();
    g.version = 4;
    assert!(unsupported(g.build()).contains("GGUF version 4"));
    g = llama();
    g.version = 0;
    assert!(malformed(g.build()).contains("version 0"));
}

#[test]
fn bad_magic_is_malformed() {
    let m = malformed(b"output_norm=F32\ntoken_embd=Q6_K\n".to_vec());
    assert!(m.starts_with("not a GGUF file: bad magic 6f757470"), "{m}");
    let m = malformed(b"GG".to_vec());
    assert!(m.contains("too short"), "{m}");
}

#[test]
fn legacy_ggml_is_unsupported() {
    let mut g = llama();
    g.magic = *b"lmgg";
    let m = unsupported(g.build());
    assert!(
        m.starts_with("legacy GGML-family file (magic 'lmgg'"),
        "{m}"
    );
    assert!(m.ends_with("convert it to GGUF"), "{m}");
    g.magic = *b"tjgg";
    assert!(unsupported(g.build()).contains("'ggjt'"));
}

#[test]
fn truncated_kv_is_malformed() {
    let bytes = llama().kv_u32("llama.block_count", 2).build();
    for cut in [bytes.len() - 1, bytes.len() - 4, 30, 24, 10] {
        let m = malformed(bytes[..cut].to_vec());
        assert!(
            m.contains("needs") || m.contains("cannot fit"),
            "{cut}: {m}"
        );
    }
}

#[test]
fn string_length_beyond_file_is_malformed() {
    let mut payload = (1u64 << 40).to_le_bytes().to_vec();
    payload.extend_from_slice(b"abc");
    let m = malformed(llama().kv("general.name", STR, payload).build());
    assert!(m.contains("string length 1099511627776"), "{m}");
    assert!(m.contains("exceeds"), "{m}");
    // A key length beyond the limit.
    let mut bytes = Gguf::new().build();
    bytes[16..24].copy_from_slice(&1u64.to_le_bytes());
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 8]);
    assert!(malformed(bytes).contains("bytes long"));
}

#[test]
fn huge_counts_fail_before_allocating() {
    let mut bytes = llama().build();
    bytes[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let m = malformed(bytes.clone());
    assert!(m.contains("tensor count 1152921504606846976"), "{m}");
    bytes[8..16].copy_from_slice(&0u64.to_le_bytes());
    bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(malformed(bytes).contains("cannot fit"));
    // Plausible for the file size but beyond what a report should hold.
    let mut many = Gguf::new().build();
    many[8..16].copy_from_slice(&((1u64 << 20) + 1).to_le_bytes());
    many.resize(many.len() + (25 << 20), 0);
    assert!(matches!(run(many), Err(Error::TooLarge(m)) if m.contains("1048577 tensors")));
    let m = malformed(
        llama()
            .kv("tokens", ARR, arr(STR, &[]))
            .build_with_len(1 << 50),
    );
    assert!(
        m.contains("array of 1125899906842624 STRING elements"),
        "{m}"
    );
}

impl Gguf {
    /// Builds, then overwrites the count of the last metadata array with `len`.
    fn build_with_len(&self, len: u64) -> Vec<u8> {
        let mut b = self.build();
        let at = b.len() - 8;
        b[at..].copy_from_slice(&len.to_le_bytes());
        b
    }
}

#[test]
fn every_scalar_type() {
    let r = run(llama()
        .kv("u8", U8, [200])
        .kv("i8", I8, [0xff])
        .kv("u16", U16, 60000u16.to_le_bytes())
        .kv("i16", I16, (-2i16).to_le_bytes())
        .kv("u32", U32, 4_000_000_000u32.to_le_bytes())
        .kv("i32", I32, (-3i32).to_le_bytes())
        .kv("f32", F32, 1.5f32.to_le_bytes())
        .kv("bool", BOOL, [1])
        .kv("u64", U64, u64::MAX.to_le_bytes())
        .kv("i64", I64, i64::MIN.to_le_bytes())
        .kv("f64", F64, 0.1f64.to_le_bytes())
        .build())
    .unwrap();
    assert!(matches!(meta(&r, "u8"), MetaValue::Uint(200)));
    assert!(matches!(meta(&r, "i8"), MetaValue::Int(-1)));
    assert!(matches!(meta(&r, "u16"), MetaValue::Uint(60000)));
    assert!(matches!(meta(&r, "i16"), MetaValue::Int(-2)));
    assert!(matches!(meta(&r, "u32"), MetaValue::Uint(4_000_000_000)));
    assert!(matches!(meta(&r, "i32"), MetaValue::Int(-3)));
    assert!(matches!(meta(&r, "f32"), MetaValue::Float(f) if *f == 1.5));
    assert!(matches!(meta(&r, "bool"), MetaValue::Boolean(true)));
    assert!(matches!(meta(&r, "u64"), MetaValue::Uint(u64::MAX)));
    assert!(matches!(meta(&r, "i64"), MetaValue::Int(i64::MIN)));
    assert!(matches!(meta(&r, "f64"), MetaValue::Float(f) if *f == 0.1));
    // 12 file keys + gguf.version.
    assert_eq!(r.metadata.len(), 13);
}

fn summary<'a>(r: &'a ModelReport, key: &str) -> &'a ArraySummary {
    match meta(r, key) {
        MetaValue::Array(a) => a,
        other => panic!("{key}: expected an array, got {other:?}"),
    }
}

#[test]
fn arrays_are_summarised() {
    let tokens: Vec<Vec<u8>> = (0..100_000).map(|i| s(&format!("tok{i}"))).collect();
    let scores: Vec<Vec<u8>> = (0..1000)
        .map(|i| (i as f32).to_le_bytes().to_vec())
        .collect();
    let r = run(llama()
        .kv("tokenizer.ggml.tokens", ARR, arr(STR, &tokens))
        .kv("tokenizer.ggml.scores", ARR, arr(F32, &scores))
        .kv("empty", ARR, arr(BOOL, &[]))
        .kv_u32("after", 7)
        .build())
    .unwrap();
    let t = summary(&r, "tokenizer.ggml.tokens");
    assert_eq!((t.element_type.as_str(), t.length), ("STRING", 100_000));
    let head: Vec<String> = serde_json::from_str(&t.head).unwrap();
    assert_eq!(head.len(), 16);
    assert_eq!(head[15], "tok15");
    let sc = summary(&r, "tokenizer.ggml.scores");
    assert_eq!((sc.element_type.as_str(), sc.length), ("FLOAT32", 1000));
    assert!(sc.head.starts_with("[0.0,1.0,2.0,"), "{}", sc.head);
    let e = summary(&r, "empty");
    assert_eq!(
        (e.element_type.as_str(), e.length, e.head.as_str()),
        ("BOOL", 0, "[]")
    );
    assert!(matches!(meta(&r, "after"), MetaValue::Uint(7)));
}

#[test]
fn nested_arrays_are_summarised_and_flagged() {
    let inner = |xs: &[u32]| {
        arr(
            U32,
            &xs.iter()
                .map(|x| x.to_le_bytes().to_vec())
                .collect::<Vec<_>>(),
        )
    };
    let many: Vec<Vec<u8>> = (0..40).map(|i| inner(&[i])).collect();
    let r = run(llama()
        .kv("nested", ARR, arr(ARR, &[inner(&[1, 2]), inner(&[3])]))
        .kv("many", ARR, arr(ARR, &many))
        .kv_u32("after", 1)
        .build())
    .unwrap();
    let n = summary(&r, "nested");
    assert_eq!((n.element_type.as_str(), n.length), ("ARRAY", 2));
    assert_eq!(n.head, "[[1,2],[3]]");
    assert_eq!(summary(&r, "many").length, 40);
    assert!(matches!(meta(&r, "after"), MetaValue::Uint(1)));
    assert!(has_finding(&r, "nested-array"));
    // Nesting deeper than the limit is refused, not recursed into.
    let mut deep = inner(&[1]);
    for _ in 0..20 {
        deep = arr(ARR, &[deep]);
    }
    assert!(malformed(llama().kv("deep", ARR, deep).build()).contains("nested deeper"));
}

#[test]
fn unknown_value_types_are_malformed() {
    assert!(malformed(llama().kv("x", 13, [0; 8]).build()).contains("unknown value type 13"));
    assert!(
        malformed(llama().kv("x", ARR, arr(99, &[])).build())
            .contains("unknown array element type 99")
    );
}

#[test]
fn duplicate_and_empty_keys_are_malformed() {
    let m = malformed(llama().kv_u32("a", 1).kv_u32("a", 2).build());
    assert!(m.contains("duplicate metadata key 'a'"), "{m}");
    assert!(malformed(llama().kv_u32("", 1).build()).contains("empty key"));
    let m = malformed(
        llama()
            .tensor("w", &[4], 0, 0)
            .tensor("w", &[4], 0, 32)
            .data(64)
            .build(),
    );
    assert!(m.contains("duplicate tensor name 'w'"), "{m}");
}

#[test]
fn misaligned_offset_is_malformed() {
    let m = malformed(
        llama()
            .tensor("a", &[4], 0, 0)
            .tensor("b", &[4], 0, 16)
            .data(64)
            .build(),
    );
    assert!(
        m.contains("tensor 'b': offset 16 is not a multiple of the alignment 32"),
        "{m}"
    );
}

#[test]
fn custom_alignment() {
    let g = llama()
        .kv_u32("general.alignment", 64)
        .tensor("a", &[4], 0, 0)
        .tensor("b", &[4], 0, 64);
    let mut g = g.data(128);
    g.alignment = 64;
    let r = run(g.build()).unwrap();
    assert_eq!(r.tensors.len(), 2);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert!(malformed(llama().kv_u32("general.alignment", 48).build()).contains("power of two"));
    let m = malformed(
        llama()
            .kv("general.alignment", U64, 32u64.to_le_bytes())
            .build(),
    );
    assert!(
        m.contains("general.alignment must be UINT32, found UINT64"),
        "{m}"
    );
}

#[test]
fn unknown_and_removed_types_name_the_tensor() {
    let m = malformed(llama().tensor("blk.0.w", &[32], 99, 0).data(64).build());
    assert!(m.contains("tensor 'blk.0.w': unknown ggml type 99"), "{m}");
    let m = malformed(llama().tensor("blk.0.w", &[32], 4, 0).data(64).build());
    assert!(m.contains("ggml type 4 (Q4_2) was removed"), "{m}");
}

#[test]
fn partial_blocks_and_bad_dims_are_malformed() {
    let m = malformed(llama().tensor("w", &[100, 2], 12, 0).data(1024).build());
    assert!(
        m.contains("ne[0] = 100 is not a multiple of the Q4_K block size 256"),
        "{m}"
    );
    let m = malformed(llama().tensor("w", &[1; 5], 0, 0).data(64).build());
    assert!(m.contains("5 dimensions"), "{m}");
    let m = malformed(llama().tensor("w", &[u64::MAX], 0, 0).data(64).build());
    assert!(m.contains("is negative"), "{m}");
    let m = malformed(
        llama()
            .tensor("w", &[1 << 40, 1 << 40], 0, 0)
            .data(64)
            .build(),
    );
    assert!(m.contains("overflows"), "{m}");
}

#[test]
fn every_type_sizes_its_data() {
    for t in crate::ggml_type::TYPES {
        let ne = [t.block_elems * 2, 3];
        let bytes = (t.block_bytes * 6) as usize;
        let ok = llama().tensor("w", &ne, t.id, 0).data(bytes).build();
        let r = run(ok.clone()).unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
        assert_eq!(r.tensors[0].dtype, t.name);
        assert_eq!(r.parameter_count, t.block_elems * 6, "{}", t.name);
        // One byte less of data must be reported as truncation.
        let m = malformed(ok[..ok.len() - 1].to_vec());
        assert!(m.contains("data section is truncated"), "{}: {m}", t.name);
    }
}

#[test]
fn truncated_data_section_is_malformed() {
    let m = malformed(llama().tensor("test.weight.0", &[64, 128], 0, 0).build());
    assert!(
        m.contains("data section is truncated: tensor 'test.weight.0'"),
        "{m}"
    );
    let m = malformed(llama().tensor("w", &[4], 0, u64::MAX - 31).data(64).build());
    assert!(m.contains("data section is truncated"), "{m}");
}

#[test]
fn gaps_and_overlaps_are_findings() {
    let r = run(llama()
        .tensor("a", &[4], 0, 0)
        .tensor("b", &[4], 0, 64)
        .data(96)
        .build())
    .unwrap();
    assert!(has_finding(&r, "tensor-offsets-not-contiguous"));
    assert!(!has_finding(&r, "tensor-data-overlap"));
    let r = run(llama()
        .tensor("a", &[16], 0, 0)
        .tensor("b", &[4], 0, 32)
        .tensor("c", &[4], 0, 32)
        .data(96)
        .build())
    .unwrap();
    assert!(has_finding(&r, "tensor-data-overlap"));
}

#[test]
fn long_names_and_q8_1_are_flagged() {
    let long = "x".repeat(70);
    let r = run(llama()
        .tensor(&long, &[4], 0, 0)
        .tensor("q", &[32], 9, 32)
        .data(32 + 36)
        .build())
    .unwrap();
    assert!(has_finding(&r, "tensor-name-too-long"));
    assert!(has_finding(&r, "intermediate-type"));
}

#[test]
fn zero_dim_and_empty_tensors() {
    let r = run(llama()
        .tensor("scalar", &[], 0, 0)
        .tensor("empty", &[0, 4], 0, 32)
        .data(32)
        .build())
    .unwrap();
    assert_eq!(r.tensors[0].shape, Vec::<u64>::new());
    assert_eq!(r.parameter_count, 1);
}

fn split_part(no: u16, count: u16, total: i32, tensor: &str) -> Vec<u8> {
    llama()
        .kv("split.no", U16, no.to_le_bytes())
        .kv("split.count", U16, count.to_le_bytes())
        .kv("split.tensors.count", I32, total.to_le_bytes())
        .tensor(tensor, &[8], 0, 0)
        .data(32)
        .build()
}

#[test]
fn split_part_alone_is_reported_as_such() {
    let src = MemSource::new("m-00002-of-00003.gguf", split_part(1, 3, 3, "b"));
    let r = inspect(&[&src as &dyn Source]).unwrap();
    let f = r.findings.iter().find(|f| f.id == "split-file").unwrap();
    assert!(f.message.contains("part 2 of 3"), "{}", f.message);
    assert!(matches!(meta(&r, "split.count"), MetaValue::Uint(3)));
    assert!(matches!(meta(&r, "split.tensors.count"), MetaValue::Int(3)));
    assert!(r.covers.is_empty());
}

#[test]
fn split_siblings_are_opened_from_the_first_part() {
    let src = MemSource::with_siblings(
        "m-00001-of-00003.gguf",
        split_part(0, 3, 3, "a"),
        vec![("m-00002-of-00003.gguf".into(), split_part(1, 3, 3, "b"))],
    );
    let r = inspect(&[&src as &dyn Source]).unwrap();
    assert_eq!(r.covers, ["m-00002-of-00003.gguf"]);
    assert_eq!(r.parameter_count, 16);
    assert!(has_finding(&r, "split-part-missing"));
    assert_eq!(
        r.findings.iter().filter(|f| f.id == "split-file").count(),
        2
    );

    // Handed all parts by the host, with a tensor total that does not add up.
    let a = MemSource::new("m-00001-of-00002.gguf", split_part(0, 2, 5, "a"));
    let b = MemSource::new("m-00002-of-00002.gguf", split_part(1, 2, 5, "b"));
    let r = inspect(&[&a as &dyn Source, &b]).unwrap();
    assert_eq!(r.tensors.len(), 2);
    assert!(has_finding(&r, "split-tensor-count-mismatch"));
    assert!(!has_finding(&r, "split-part-missing"));

    // A broken later part is named in the error.
    let bad = MemSource::new("m-00002-of-00002.gguf", b"GGUF\x03\0\0\0".to_vec());
    let m = match inspect(&[&a as &dyn Source, &bad]) {
        Err(Error::Malformed(m)) => m,
        other => panic!("expected Malformed, got {other:?}"),
    };
    assert!(m.starts_with("m-00002-of-00002.gguf: tensor count"), "{m}");
}

#[test]
fn lfs_pointer_is_reported() {
    let text = b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 4000000000\n";
    let r = run(text.to_vec()).unwrap();
    assert!(has_finding(&r, "git-lfs-pointer"));
    assert_eq!(detect("m.gguf", text), 0.5);
}

#[test]
fn detect_scores() {
    assert_eq!(detect("x.bin", b"GGUF\x03\0\0\0"), 1.0);
    assert_eq!(detect("ggml-silero.bin", b"lmgg\n\0\0\0"), 1.0);
    assert_eq!(detect("test.gguf", b"output_norm=F32\n"), 0.0);
    assert_eq!(detect("test.gguf", b""), 0.5);
    assert_eq!(detect("x.bin", b"PK\x03\x04"), 0.0);
}

#[test]
fn no_inputs_is_an_error() {
    assert!(matches!(inspect(&[]), Err(Error::Malformed(_))));
}

#[test]
fn info_claims_every_legacy_magic() {
    let info: serde_json::Value = serde_json::from_str(crate::INFO).unwrap();
    let hex: Vec<&str> = info["magic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["hex"].as_str().unwrap())
        .collect();
    assert!(hex.contains(&"47475546"));
    for h in crate::legacy::magic_hex() {
        assert!(hex.contains(&h.as_str()), "{h} not claimed");
    }
    assert_eq!(info["extensions"][0], "gguf");
}

#[test]
fn data_offset_matches_gguf_py() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures");
    let mut seen = 0;
    for name in [
        "llama-2-tiny-random.gguf",
        "ggml-vocab-baichuan.gguf",
        "ggml-vocab-gpt-2.gguf",
        "ggml-vocab-phi-3.gguf",
        "no-tensors-minimal.gguf",
    ] {
        let path = format!("{dir}/gguf/{name}");
        let src = modelpack_plugin_sdk::FileSource::open(&path)
            .unwrap_or_else(|e| panic!("shared fixtures not found at {path}: {e}"));
        let json = std::fs::read_to_string(format!("{dir}/reference/gguf__{name}.json")).unwrap();
        let want: serde_json::Value = serde_json::from_str(&json).unwrap();
        let h = crate::header::parse(&src).unwrap();
        assert_eq!(Some(h.data_offset), want["data_offset"].as_u64(), "{name}");
        assert_eq!(Some(h.alignment), want["alignment"].as_u64(), "{name}");
        assert_eq!(
            Some(u64::from(h.version)),
            want["gguf_version"].as_u64(),
            "{name}"
        );
        seen += 1;
    }
    assert_eq!(seen, 5);
}

#[test]
fn base_models_and_datasets_are_lineage() {
    let r = run(llama()
        .kv_u32("general.base_model.count", 2)
        .kv_str("general.base_model.0.name", "Llama 2 7b")
        .kv_str("general.base_model.0.organization", "Meta Llama")
        .kv_str(
            "general.base_model.0.repo_url",
            "https://huggingface.co/meta-llama/Llama-2-7b",
        )
        // No name and no URL: nothing to name, skipped.
        .kv_str("general.base_model.1.version", "2")
        .kv_u32("general.dataset.count", 1)
        .kv_str(
            "general.dataset.0.repo_url",
            "https://huggingface.co/datasets/roneneldan/TinyStories",
        )
        .build())
    .unwrap();
    let got: Vec<_> = r
        .lineage
        .iter()
        .map(|l| {
            (
                matches!(l.kind, LineageKind::BaseModel),
                l.name.as_str(),
                l.organization.as_deref(),
                l.url.as_deref(),
                l.origin.key.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                true,
                "Llama 2 7b",
                Some("Meta Llama"),
                Some("https://huggingface.co/meta-llama/Llama-2-7b"),
                Some("general.base_model.0")
            ),
            (
                false,
                "https://huggingface.co/datasets/roneneldan/TinyStories",
                None,
                Some("https://huggingface.co/datasets/roneneldan/TinyStories"),
                Some("general.dataset.0")
            ),
        ]
    );
}
