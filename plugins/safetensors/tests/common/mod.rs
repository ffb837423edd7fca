//! Helpers shared by the fixture tests: where the fixtures are and how to read references.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use modelpack_plugin_sdk::prelude::*;

/// The shared fixtures directory; panics with a clear message when it is missing.
pub fn fixtures() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ));
    assert!(
        dir.join("reference").is_dir(),
        "shared fixtures not found at {}",
        dir.display()
    );
    dir
}

/// The reference JSON for a fixture path relative to the fixtures directory.
pub fn reference(rel: &str) -> serde_json::Value {
    let path = fixtures()
        .join("reference")
        .join(format!("{}.json", rel.replace('/', "__")));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reference {} unreadable: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Files under `fixtures/<dir>` whose name ends with `suffix`, sorted, relative to fixtures.
pub fn files(dir: &str, suffix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![fixtures().join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                let rel = p.strip_prefix(fixtures()).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// Σ elements per dtype of a report's tensors.
pub fn dtype_parameters(r: &ModelReport) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for t in &r.tensors {
        *m.entry(t.dtype.clone()).or_default() += t.shape.iter().product::<u64>();
    }
    m
}

/// A metadata value in `Debug` form (`MetaValue` has no `PartialEq`), `None` when absent.
pub fn meta(r: &ModelReport, key: &str) -> Option<String> {
    r.metadata
        .iter()
        .find(|e| e.key == key)
        .map(|e| format!("{:?}", e.value))
}
