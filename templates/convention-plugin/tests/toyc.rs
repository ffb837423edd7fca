//! Native test of the whole plugin over a real directory, through `DirFiles`.

use modelpack_plugin_sdk::convention::*;

#[test]
fn reads_the_sample_directory() {
    let files = DirFiles(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/model").into());
    let input = ConventionInput {
        root_names: vec![],
        locate: false,
        entries: files.entries(),
        weights: vec![],
        missing: vec![],
    };
    let r = toyc::Toyc::run(&files, &input).unwrap();
    assert_eq!(r.candidates.len(), 3);
    assert_eq!(r.candidates[0].value, r#""Toy Models Inc.""#);
    assert_eq!(r.hints[0].path, "train.jsonl");
    assert!(r.findings.is_empty());
}
