//! Shared helpers of the fixture tests: where the shared fixtures live and which are ONNX.

use std::path::{Path, PathBuf};

/// The shared fixtures directory; panics with a clear message when it is missing.
pub fn fixtures_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ));
    assert!(
        dir.is_dir(),
        "shared fixtures not found at {}",
        dir.display()
    );
    dir
}

/// Every `*.onnx` file under `dir`, as paths relative to the fixtures root, sorted.
pub fn onnx_fixtures() -> Vec<String> {
    let root = fixtures_dir();
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    assert!(
        !out.is_empty(),
        "no .onnx fixtures under {}",
        root.display()
    );
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for e in entries {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            walk(root, &p, out);
        } else if p.extension().is_some_and(|x| x == "onnx") {
            let rel = p.strip_prefix(root).expect("under root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
