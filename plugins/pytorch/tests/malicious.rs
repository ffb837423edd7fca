//! Malicious pickles written by hand (opcode by opcode, as `pickletools.dis` would show them):
//! each must be reported with the right global, and nothing may run. The payloads try to create
//! a canary file; the tests check the report *and* that the canary never appears.

mod common;

use common::P;
use modelpack_plugin_sdk::MemSource;
use modelpack_plugin_sdk::prelude::*;

fn canary(tag: &str) -> String {
    let p = std::env::temp_dir().join(format!(
        "modelpack-pytorch-canary-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    p.display().to_string()
}

fn inspect(name: &str, bytes: Vec<u8>) -> Result<ModelReport, Error> {
    let src = MemSource::new(name, bytes);
    pytorch::inspect(&[&src as &dyn Source])
}

fn ids(r: &ModelReport) -> Vec<(&str, &str)> {
    r.findings
        .iter()
        .map(|f| (f.id.as_str(), f.message.as_str()))
        .collect()
}

/// Asserts an error finding `id` whose message contains `text`, located at `field`.
fn assert_finding(r: &ModelReport, id: &str, text: &str, field: Option<&str>) {
    let f = r
        .findings
        .iter()
        .find(|f| f.id == id && f.message.contains(text))
        .unwrap_or_else(|| panic!("no {id} finding mentioning {text:?} in {:?}", ids(r)));
    assert_eq!(f.severity, Severity::Error, "{id}");
    if let Some(field) = field {
        assert_eq!(f.location.field.as_deref(), Some(field), "{id} location");
    }
}

fn non_allowlisted(r: &ModelReport) -> Vec<String> {
    let v = r
        .metadata
        .iter()
        .find(|m| m.key == "pickle.non_allowlisted_globals")
        .map(|m| match &m.value {
            MetaValue::Json(s) => s.clone(),
            _ => panic!("not json"),
        })
        .expect("non_allowlisted_globals");
    serde_json::from_str(&v).unwrap()
}

#[test]
fn reduce_to_os_system_is_flagged_not_run() {
    let c = canary("os");
    // \x80\x02 c'os\nsystem' X'touch …' \x85 R .
    let pkl = P::new()
        .proto(2)
        .call1("os", "system", &format!("touch {c}"))
        .stop()
        .bytes();
    let r = inspect("evil.pkl", pkl).expect("report");
    assert_finding(
        &r,
        "unsafe-pickle-global",
        "unsafe pickle global os.system",
        Some("pickle@0"),
    );
    assert_finding(
        &r,
        "unsafe-pickle-call",
        "pickle calls os.system via REDUCE",
        Some("pickle@0"),
    );
    assert_eq!(non_allowlisted(&r), vec!["os.system"]);
    assert!(!std::path::Path::new(&c).exists(), "payload ran");
}

#[test]
fn protocol0_inst_and_builtin_eval_are_flagged() {
    // (S'…' i os\nsystem\n .   and   c__builtin__\neval\n (S'1+1'\n t R .
    let inst = b"(S'echo hi'\nios\nsystem\n.".to_vec();
    let r = inspect("inst.pkl", inst).expect("report");
    assert_finding(
        &r,
        "unsafe-pickle-global",
        "unsafe pickle global os.system",
        None,
    );
    assert_finding(&r, "unsafe-pickle-call", "os.system via INST", None);

    let eval = b"c__builtin__\neval\n(S'1+1'\ntR.".to_vec();
    let r = inspect("eval.pkl", eval).expect("report");
    assert_finding(
        &r,
        "unsafe-pickle-global",
        "unsafe pickle global __builtin__.eval",
        None,
    );
}

#[test]
fn protocol4_stack_global_to_builtins_exec_is_flagged() {
    // \x80\x04 \x95<frame> \x8c'builtins' \x94 \x8c'exec' \x94 \x93 \x94 \x8c'…' \x94 \x85 \x94 R \x94 .
    let body = P::new()
        .short_str("builtins")
        .op(0x94)
        .short_str("exec")
        .op(0x94)
        .op(0x93)
        .op(0x94)
        .short_str("import os; os.system('id')")
        .op(0x94)
        .tuple1()
        .op(0x94)
        .reduce()
        .op(0x94)
        .stop()
        .bytes();
    let mut pkl = vec![0x80, 4, 0x95];
    pkl.extend((body.len() as u64).to_le_bytes());
    pkl.extend(body);
    let r = inspect("exec.pt", pkl).expect("report");
    assert_finding(
        &r,
        "unsafe-pickle-global",
        "unsafe pickle global builtins.exec",
        None,
    );
    let g = r
        .findings
        .iter()
        .find(|f| f.id == "unsafe-pickle-global")
        .unwrap();
    assert!(g.message.contains("STACK_GLOBAL"), "{}", g.message);
    assert_finding(&r, "unsafe-pickle-call", "builtins.exec via REDUCE", None);
}

#[test]
fn posix_system_inside_a_zip_checkpoint_is_flagged_with_member_path() {
    let c = canary("zip");
    // {'model': OrderedDict(w=tensor), 'hook': posix.system('touch …')}
    let data = P::new()
        .proto(2)
        .empty_dict()
        .mark()
        .str("model")
        .ordered_dict()
        .mark()
        .str("w")
        .tensor("FloatStorage", "0", 6, &[2, 3])
        .setitems()
        .str("hook")
        .call1("posix", "system", &format!("touch {c}"))
        .setitems()
        .stop()
        .bytes();
    let zip = common::zip(
        &[
            ("mymodel/data.pkl", &data),
            ("mymodel/data/0", &[0u8; 24]),
            ("mymodel/version", b"3\n"),
        ],
        false,
    );
    let r = inspect("ckpt.pt", zip).expect("report");
    assert_finding(
        &r,
        "unsafe-pickle-global",
        "unsafe pickle global posix.system",
        Some("mymodel/data.pkl"),
    );
    assert_finding(
        &r,
        "unsafe-pickle-call",
        "posix.system via REDUCE",
        Some("mymodel/data.pkl"),
    );
    // The real tensor is still listed.
    assert_eq!(r.tensors.len(), 1);
    assert_eq!(r.tensors[0].name, "model.w");
    assert_eq!(r.tensors[0].shape, vec![2, 3]);
    assert_eq!(r.parameter_count, 6);
    assert!(!std::path::Path::new(&c).exists(), "payload ran");
}

#[test]
fn deflated_zip_members_are_read() {
    let data = P::new()
        .proto(2)
        .ordered_dict()
        .mark()
        .str("w")
        .tensor("HalfStorage", "0", 4, &[4])
        .setitems()
        .stop()
        .bytes();
    let zip = common::zip(&[("a/data.pkl", &data), ("a/data/0", &[0u8; 8])], true);
    let r = inspect("ckpt.pt", zip).expect("report");
    assert_eq!(r.tensors[0].dtype, "F16");
    assert!(
        !r.findings.iter().any(|f| f.severity == Severity::Error),
        "{:?}",
        ids(&r)
    );
}

#[test]
fn legacy_stream_with_posix_system_is_flagged() {
    let magic = P::new()
        .proto(2)
        .raw(&[
            0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
        ])
        .stop()
        .bytes();
    let version = P::new().proto(2).raw(&[b'M', 0xe9, 0x03]).stop().bytes();
    let sys = P::new().proto(2).empty_dict().stop().bytes();
    let main = P::new()
        .proto(2)
        .ordered_dict()
        .mark()
        .str("w")
        .tensor("FloatStorage", "k1", 2, &[2])
        .str("x")
        .call1("posix", "system", "id")
        .setitems()
        .stop()
        .bytes();
    let keys = P::new()
        .proto(2)
        .op(b']')
        .mark()
        .str("k1")
        .op(b'e')
        .stop()
        .bytes();
    let mut file = [magic, version, sys, main, keys].concat();
    file.extend(2u64.to_le_bytes());
    file.extend([0u8; 8]);
    let r = inspect("old.pth", file).expect("report");
    assert_finding(
        &r,
        "unsafe-pickle-global",
        "unsafe pickle global posix.system",
        None,
    );
    assert_eq!(r.tensors.len(), 1);
    assert!(r.metadata.iter().any(
        |m| m.key == "pt.container" && matches!(&m.value, MetaValue::Text(t) if t == "legacy")
    ));
}

#[test]
fn unsafe_global_before_garbage_is_still_reported() {
    let mut pkl = P::new().proto(2).call1("nt", "system", "calc").bytes();
    pkl.extend([0xff, 0xfe]);
    let r = inspect("broken.pkl", pkl).expect("report despite the parse error");
    assert_finding(
        &r,
        "unsafe-pickle-global",
        "unsafe pickle global nt.system",
        None,
    );
    assert!(r.findings.iter().any(|f| f.id == "malformed-checkpoint"));
}

#[test]
fn other_code_paths_are_flagged() {
    // NEWOBJ on subprocess.Popen, BUILD on an arbitrary class, EXT1, computed callable.
    let newobj = P::new()
        .proto(2)
        .global("subprocess", "Popen")
        .str("id")
        .tuple1()
        .op(0x81)
        .stop()
        .bytes();
    let r = inspect("a.pkl", newobj).expect("report");
    assert_finding(
        &r,
        "unsafe-pickle-call",
        "subprocess.Popen via NEWOBJ",
        None,
    );

    let build = P::new()
        .proto(2)
        .global("mylib", "Model")
        .op(b')')
        .op(0x81)
        .empty_dict()
        .op(b'b')
        .stop()
        .bytes();
    let r = inspect("b.pkl", build).expect("report");
    assert_finding(
        &r,
        "unsafe-pickle-call",
        "mylib.Model via NEWOBJ, BUILD",
        None,
    );

    let ext = P::new()
        .proto(2)
        .raw(&[0x82, 7])
        .op(b')')
        .reduce()
        .stop()
        .bytes();
    let r = inspect("c.pkl", ext).expect("report");
    assert_finding(&r, "unsafe-pickle-global", "copyreg.extension[7]", None);

    // getattr(builtins, 'eval')('1'): the second REDUCE calls a computed callable.
    let computed = P::new()
        .proto(2)
        .global("builtins", "getattr")
        .global("builtins", "object")
        .str("__init__")
        .op(0x86)
        .reduce()
        .str("x")
        .tuple1()
        .reduce()
        .stop()
        .bytes();
    let r = inspect("d.pkl", computed).expect("report");
    assert_finding(
        &r,
        "unsafe-pickle-global",
        "unsafe pickle global builtins.getattr",
        None,
    );
    assert_finding(
        &r,
        "unsafe-pickle-call",
        "a callable computed by the pickle",
        None,
    );
}

#[test]
fn allowlisted_pickles_have_no_findings() {
    let pkl = P::new()
        .proto(2)
        .ordered_dict()
        .mark()
        .str("a.weight")
        .tensor("BFloat16Storage", "0", 8, &[2, 4])
        .str("a.running_mean")
        .tensor("FloatStorage", "1", 2, &[2])
        .setitems()
        .stop()
        .bytes();
    let r = inspect("sd.pkl", pkl).expect("report");
    assert!(r.findings.is_empty(), "{:?}", ids(&r));
    assert_eq!(r.tensors[0].dtype, "BF16");
    let roles: Vec<_> = r.groups.iter().map(|g| (g.name.as_str(), g.role)).collect();
    assert_eq!(
        roles,
        vec![
            ("weights", GroupRole::Weights),
            ("buffers", GroupRole::Buffers)
        ]
    );
}

#[test]
fn storage_problems_are_reported() {
    // Storage 0 declares 100 floats but the record holds 8 bytes; storage 1 is missing; the
    // third tensor's view runs past its storage.
    let data = P::new()
        .proto(2)
        .ordered_dict()
        .mark()
        .str("a")
        .tensor("FloatStorage", "0", 100, &[100])
        .str("b")
        .tensor("FloatStorage", "1", 4, &[4])
        .str("c")
        .tensor("FloatStorage", "2", 4, &[3, 3])
        .setitems()
        .stop()
        .bytes();
    let zip = common::zip(
        &[
            ("archive/data.pkl", &data),
            ("archive/data/0", &[0u8; 8]),
            ("archive/data/2", &[0u8; 16]),
        ],
        false,
    );
    let r = inspect("bad.pt", zip).expect("report");
    assert_finding(
        &r,
        "storage-size-mismatch",
        "holds 8 bytes",
        Some("archive/data/0"),
    );
    assert_finding(&r, "missing-storage", "tensor b", Some("archive/data/1"));
    assert_finding(&r, "tensor-out-of-bounds", "tensor c", Some("c"));
}

#[test]
fn a_duplicate_data_pkl_is_scanned_too() {
    let benign = P::new().proto(2).empty_dict().stop().bytes();
    let evil = P::new().proto(2).call1("os", "system", "id").stop().bytes();
    let zip = common::zip(
        &[("archive/data.pkl", &benign), ("archive/data.pkl", &evil)],
        false,
    );
    let r = inspect("dup.pt", zip).expect("report");
    assert_finding(
        &r,
        "zip-duplicate-member",
        "archive/data.pkl",
        Some("archive/data.pkl"),
    );
    assert_finding(
        &r,
        "unsafe-pickle-global",
        "unsafe pickle global os.system",
        Some("archive/data.pkl#2"),
    );
}
