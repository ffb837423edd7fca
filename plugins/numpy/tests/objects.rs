//! Object arrays whose pickled payload calls `os.system`, built byte by byte: both the
//! `object-array` finding and the unsafe global must be reported, and nothing may run.

mod common;

use modelpack_plugin_sdk::MemSource;
use modelpack_plugin_sdk::prelude::*;

/// `os.system('touch <canary>')` as protocol 2: c'os\nsystem' X'…' \x85 R .
fn evil_payload(canary: &str) -> Vec<u8> {
    let cmd = format!("touch {canary}");
    let mut p = vec![0x80, 2];
    p.extend(b"cos\nsystem\n");
    p.push(b'X');
    p.extend((cmd.len() as u32).to_le_bytes());
    p.extend(cmd.as_bytes());
    p.extend([0x85, b'R', b'.']);
    p
}

fn canary(tag: &str) -> String {
    let p = std::env::temp_dir().join(format!(
        "modelpack-numpy-canary-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    p.display().to_string()
}

fn ids(r: &ModelReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.id.as_str()).collect()
}

#[test]
fn object_npy_with_os_system_payload_is_flagged_twice() {
    let c = canary("npy");
    let file = common::npy(
        "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
        &evil_payload(&c),
    );
    let src = MemSource::new("evil.npy", file);
    let r = numpy::inspect(&[&src as &dyn Source]).expect("report");
    assert_eq!(r.format, "npy");
    assert_eq!(r.tensors[0].dtype, "object");
    let obj = r
        .findings
        .iter()
        .find(|f| f.id == "object-array")
        .expect("object-array");
    assert_eq!(obj.severity, Severity::Error);
    assert!(obj.message.contains("np.load(allow_pickle=True)"));
    let g = r
        .findings
        .iter()
        .find(|f| f.id == "unsafe-pickle-global")
        .unwrap_or_else(|| panic!("no unsafe global in {:?}", ids(&r)));
    assert!(
        g.message.starts_with("unsafe pickle global os.system"),
        "{}",
        g.message
    );
    assert_eq!(g.location.field.as_deref(), Some("evil.npy"));
    assert!(ids(&r).contains(&"unsafe-pickle-call"));
    assert!(!std::path::Path::new(&c).exists(), "payload ran");
}

#[test]
fn object_member_in_npz_is_flagged_with_member_name() {
    let c = canary("npz");
    let safe = common::npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
        &[0u8; 16],
    );
    let evil = common::npy(
        "{'descr': [('a', '|O')], 'fortran_order': False, 'shape': (), }",
        &evil_payload(&c),
    );
    let z = common::zip(&[("w.npy", &safe), ("x/evil.npy", &evil)]);
    let src = MemSource::new("bundle.npz", z);
    let r = numpy::inspect(&[&src as &dyn Source]).expect("report");
    assert_eq!(r.format, "npz");
    let names: Vec<&str> = r.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["w", "x/evil"]);
    assert_eq!(r.parameter_count, 5);
    let obj = r
        .findings
        .iter()
        .find(|f| f.id == "object-array")
        .expect("object-array");
    assert_eq!(obj.location.field.as_deref(), Some("x/evil"));
    assert!(
        r.findings
            .iter()
            .any(|f| f.id == "unsafe-pickle-global" && f.message.contains("os.system"))
    );
    assert!(!std::path::Path::new(&c).exists(), "payload ran");
}

#[test]
fn unreadable_object_payload_is_a_warning() {
    let file = common::npy(
        "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
        b"\x80\x02cposix\nsystem\n\xff",
    );
    let src = MemSource::new("broken.npy", file);
    let r = numpy::inspect(&[&src as &dyn Source]).expect("report");
    let got = ids(&r);
    assert!(got.contains(&"object-array"), "{got:?}");
    assert!(got.contains(&"unsafe-pickle-global"), "{got:?}");
    assert!(got.contains(&"object-array-payload-unreadable"), "{got:?}");
}
