//! Malicious pickles through the real binary: flagged in the JSON findings, never executed.

use crate::util::{plugins_built, run_json};

/// `pickle.dumps` of an object whose `__reduce__` is `(os.system, ("touch <marker>",))`.
fn reduce_to_os_system(marker: &str) -> Vec<u8> {
    let cmd = format!("touch {marker}");
    let mut p = b"\x80\x02cos\nsystem\nq\x00X".to_vec();
    p.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
    p.extend_from_slice(cmd.as_bytes());
    p.extend_from_slice(b"q\x01\x85q\x02Rq\x03.");
    p
}

/// A version-1.0 `.npy` of dtype object whose payload is the given pickle.
fn object_npy(payload: &[u8]) -> Vec<u8> {
    let mut header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn unsafe_globals_are_flagged_and_nothing_runs() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let pickle = reduce_to_os_system(&marker.display().to_string());
    std::fs::write(dir.path().join("model.pkl"), &pickle).unwrap();
    std::fs::write(dir.path().join("weights.npy"), object_npy(&pickle)).unwrap();
    let (_, json, _) = run_json(&[
        "inspect",
        "--format",
        "json",
        &dir.path().display().to_string(),
    ]);
    let files = json["files"].as_array().unwrap();
    let find = |name: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .unwrap()
            .clone()
    };
    let pkl = find("model.pkl");
    let npy = find("weights.npy");
    let ids = |f: &serde_json::Value| -> Vec<String> {
        f["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    let global = pkl["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "unsafe-pickle-global")
        .unwrap_or_else(|| panic!("{pkl}"));
    assert_eq!(global["severity"], "error");
    assert!(
        global["message"].as_str().unwrap().contains("os.system"),
        "{global}"
    );
    assert!(ids(&npy).contains(&"object-array".to_string()), "{npy}");
    assert!(
        ids(&npy).contains(&"unsafe-pickle-global".to_string()),
        "{npy}"
    );
    assert!(!marker.exists(), "the pickle was executed");
}
