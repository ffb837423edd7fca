//! Hostile files, built here byte by byte: pickles that CPython reads but a looser scanner
//! would not, headers whose counts overflow u64, FIFOs named by a model's own metadata, and
//! weights that cannot be read. Each command must give the safe answer, finish, and exit with
//! the code the README promises.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::util::{modelpack, plugins_built, shared_cache};

/// Runs modelpack with a deadline: a hang is a failure, not a stuck test run.
pub fn run(args: &[&str]) -> Output {
    modelpack()
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap_or_else(|e| panic!("modelpack {args:?} did not finish: {e}"))
}

/// (exit code, stdout, stderr); a run killed by the deadline has no code and fails here.
pub fn outcome(o: &Output) -> (i32, String, String) {
    let code = o.status.code().unwrap_or_else(|| {
        panic!(
            "killed (hang?): stderr {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (
        code,
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(stdout: &str, stderr: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"))
}

/// `check DIR --policy NAME [--policy-config FILE] --format json`: (exit code, report).
fn check(dir: &Path, policy: &str, config: Option<&Path>) -> (i32, Value, String) {
    let mut args = vec![
        "check".to_string(),
        dir.display().to_string(),
        "--policy".into(),
        policy.into(),
        "--format".into(),
        "json".into(),
    ];
    if let Some(c) = config {
        args.extend(["--policy-config".into(), c.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = outcome(&run(&args));
    let report = if out.trim().is_empty() {
        Value::Null
    } else {
        json(&out, &err)
    };
    (code, report, err)
}

fn policy_findings(report: &Value) -> Vec<Value> {
    report["policies"][0]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

// ---- item 1: pickles exactly as CPython's C unpickler reads them, and fail closed

/// A protocol-2 pickle: `prefix` (opcodes that leave the stack as they found it), then
/// `os.system("touch <marker>")` via GLOBAL and REDUCE.
fn pickle_with(prefix: &[u8], marker: &Path) -> Vec<u8> {
    let mut p = b"\x80\x02".to_vec();
    p.extend_from_slice(prefix);
    p.extend_from_slice(b"cos\nsystem\n(S'touch ");
    p.extend_from_slice(marker.as_os_str().as_encoded_bytes());
    p.extend_from_slice(b"'\ntR.");
    p
}

#[test]
fn int_with_underscore_before_os_system_fails_no_unsafe_code() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    // The red team's payload: `I1_000\n` (CPython reads 1000) then POP, then the call.
    let payload = pickle_with(b"I1_000\n0", &marker);
    std::fs::write(dir.path().join("model.pkl"), &payload).unwrap();
    let (code, report, err) = check(dir.path(), "no-unsafe-code", None);
    assert_eq!(
        code, 1,
        "an os.system pickle must fail the gate: {report} {err}"
    );
    let f = policy_findings(&report);
    let unsafe_code = f
        .iter()
        .find(|x| x["id"] == "unsafe-code")
        .unwrap_or_else(|| panic!("no unsafe-code finding: {report}"));
    assert_eq!(unsafe_code["severity"], "error");
    assert!(
        unsafe_code["message"]
            .as_str()
            .unwrap()
            .contains("os.system"),
        "{unsafe_code}"
    );
    assert!(!marker.exists(), "the pickle was executed");
}

#[test]
fn every_cpython_literal_spelling_is_read_and_the_global_found() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    // Each prefix is valid for CPython's `_pickle.c` (strtol first, then Python literal
    // rules; C strings end at a NUL; PyBytes_DecodeEscape; raw-unicode-escape).
    let prefixes: &[(&str, &[u8])] = &[
        ("int-underscore", b"I1_000\n0"),
        ("int-signed-hex", b"I+0x10\n0"),
        ("int-blank", b"I 7\n0"),
        ("int-c-octal", b"I012\n0"),
        ("int-py-octal", b"I0o17\n0"),
        ("int-nul-ends", b"I5\x00junk\n0"),
        ("int-bool", b"I01\n0"),
        ("int-huge", b"I123456789012345678901234567890\n0"),
        ("long-underscore", b"L1_000L\n0"),
        ("long-binary", b"L-0b101\n0"),
        ("float-exp", b"F1.5e3\n0"),
        ("float-inf", b"F-inf\n0"),
        ("string-escapes", b"S'a\\x41\\157\\q'\n0"),
        ("unicode-escape", b"V\\u0041b\\\\\n0"),
        ("memo-underscore", b"Np0_1\n0g+1\n0"),
    ];
    for (name, prefix) in prefixes {
        std::fs::write(
            dir.path().join(format!("{name}.pkl")),
            pickle_with(prefix, &marker),
        )
        .unwrap();
    }
    let (_, out, err) = outcome(&run(&[
        "inspect",
        "--format",
        "json",
        dir.path().to_str().unwrap(),
    ]));
    let report = json(&out, &err);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), prefixes.len());
    for f in files {
        assert_eq!(f["status"], "ok", "{f}");
        let flagged = f["findings"].as_array().unwrap().iter().any(|x| {
            x["id"] == "unsafe-pickle-global"
                && x["message"].as_str().unwrap().contains("os.system")
        });
        assert!(flagged, "os.system not found after a valid literal: {f}");
    }
    assert!(!marker.exists(), "a pickle was executed");
}

#[test]
fn a_pickle_the_scanner_cannot_read_fails_closed() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    // `1__000` is refused by CPython too: whatever follows is never reached by the scanner,
    // so the file must fail the gate rather than pass with a warning.
    std::fs::write(
        dir.path().join("model.pkl"),
        pickle_with(b"I1__000\n0", &marker),
    )
    .unwrap();
    let (code, report, err) = check(dir.path(), "no-unsafe-code", None);
    assert_eq!(code, 1, "{report} {err}");
    let f = policy_findings(&report);
    let unscanned = f
        .iter()
        .find(|x| x["id"] == "unscanned-file")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(unscanned["severity"], "error", "{unscanned}");
    assert_eq!(unscanned["file"], "model.pkl");
    assert!(
        unscanned["message"]
            .as_str()
            .unwrap()
            .contains("could not convert string to int"),
        "{unscanned}"
    );
}

// ---- item 5: counts that overflow u64 are an error, never a small number

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(field: u64, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(field << 3, &mut out);
    varint(v, &mut out);
    out
}

fn field_bytes(field: u64, b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint((field << 3) | 2, &mut out);
    varint(b.len() as u64, &mut out);
    out.extend_from_slice(b);
    out
}

/// A ModelProto whose graph has one FLOAT initializer of `dims` stored externally in
/// `location`: a header of a few dozen bytes claiming any number of parameters.
pub fn onnx_external(name: &str, dims: &[u64], location: &str) -> Vec<u8> {
    let entry = [
        field_bytes(1, b"location"),
        field_bytes(2, location.as_bytes()),
    ]
    .concat();
    let tensor = [
        dims.iter().flat_map(|&d| field_varint(1, d)).collect(),
        field_varint(2, 1),
        field_bytes(8, name.as_bytes()),
        field_bytes(13, &entry),
        field_varint(14, 1),
    ]
    .concat();
    [field_varint(1, 8), field_bytes(7, &field_bytes(5, &tensor))].concat()
}

#[test]
fn overflowing_parameter_counts_never_pass_or_become_a_small_param_size() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    // Four headers whose counts add up to 2^64 + 10: a wrapping sum says 10.
    let counts = [
        8_000_000_000_000_000_000u64,
        5_000_000_000_000_000_000,
        3_000_000_000_000_000_000,
        2_446_744_073_709_551_626,
    ];
    assert_eq!(
        counts.iter().fold(0u64, |a, &n| a.wrapping_add(n)),
        10,
        "the counts are chosen to wrap to 10"
    );
    for (i, &n) in counts.iter().enumerate() {
        let bytes = onnx_external(&format!("w{i}"), &[n], &format!("w{i}.bin"));
        assert!(bytes.len() < 64, "a tiny header: {} bytes", bytes.len());
        std::fs::write(model.join(format!("part{i}.onnx")), bytes).unwrap();
    }
    // Each file alone is read and reports its own (huge) count…
    let part0 = model.join("part0.onnx");
    let (_, out, err) = outcome(&run(&[
        "inspect",
        "--format",
        "json",
        part0.to_str().unwrap(),
    ]));
    let report = json(&out, &err);
    let f = &report["files"][0];
    // snake_case until the CLI engineer's camelCase rename lands.
    let n = f.get("parameterCount").or_else(|| f.get("parameter_count"));
    assert_eq!(n.and_then(Value::as_u64), Some(counts[0]), "{f}");
    // …but inspect's totals over the four refuse rather than wrap.
    let (code, out, err) = outcome(&run(&[
        "inspect",
        "--format",
        "json",
        model.to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "inspect totals must not wrap: {out} {err}");
    assert!(err.contains("parameter count overflows 64 bits"), "{err}");

    // generate refuses instead of writing some paramSize.
    let (code, out, err) = outcome(&run(&["generate", model.to_str().unwrap()]));
    assert_eq!(code, 2, "generate must refuse: stdout {out} stderr {err}");
    assert!(out.is_empty(), "no config may be printed: {out}");
    assert!(err.contains("parameter count overflows 64 bits"), "{err}");

    // check with max_parameters: 1K is not a pass.
    let cfg = dir.path().join("policy.yaml");
    std::fs::write(&cfg, "policies:\n  size-limits:\n    max_parameters: 1K\n").unwrap();
    let (code, report, err) = check(&model, "size-limits", Some(&cfg));
    assert_ne!(
        code, 0,
        "overflowing counts passed size-limits: {report} {err}"
    );
    assert!(
        err.contains("parameter count overflows 64 bits")
            || report.to_string().contains("size-overflow"),
        "{report} {err}"
    );

    // One header whose own dims overflow: unreadable, so its count is unknown, not zero.
    let single = dir.path().join("single");
    std::fs::create_dir(&single).unwrap();
    std::fs::write(
        single.join("model.onnx"),
        onnx_external("w", &[1 << 40, 1 << 40], "w.bin"),
    )
    .unwrap();
    let (code, report, err) = check(&single, "size-limits", Some(&cfg));
    assert_eq!(code, 1, "{report} {err}");
    let f = policy_findings(&report);
    assert!(
        f.iter()
            .any(|x| x["id"] == "parameters-incomplete" && x["severity"] == "error"),
        "{report}"
    );
}

// ---- item 6: FIFOs named by a model's metadata are never opened for reading

pub fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(st.success(), "mkfifo {}", path.display());
}

#[test]
fn a_fifo_named_by_onnx_external_data_is_refused_without_hanging() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("model.onnx"),
        onnx_external("w", &[4], "weights.bin"),
    )
    .unwrap();
    mkfifo(&dir.path().join("weights.bin"));
    let model = dir.path().join("model.onnx");
    let (_, out, err) = outcome(&run(&[
        "inspect",
        "--format",
        "json",
        model.to_str().unwrap(),
    ]));
    let report = json(&out, &err);
    let f = &report["files"][0];
    let missing = f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "missing-external-data")
        .unwrap_or_else(|| panic!("{f}"));
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("a FIFO, not a regular file"),
        "{missing}"
    );
}

#[test]
fn a_fifo_named_by_a_safetensors_index_is_refused_without_hanging() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        r#"{"metadata": {}, "weight_map": {"w": "model-00001-of-00001.safetensors"}}"#,
    )
    .unwrap();
    mkfifo(&dir.path().join("model-00001-of-00001.safetensors"));
    let index = dir.path().join("model.safetensors.index.json");
    let (_, out, err) = outcome(&run(&[
        "inspect",
        "--format",
        "json",
        index.to_str().unwrap(),
    ]));
    assert!(
        out.contains("a FIFO, not a regular file") || err.contains("a FIFO, not a regular file"),
        "stdout {out}\nstderr {err}"
    );
    // The whole directory: the walk leaves the FIFO out and the index names it as missing.
    for cmd in ["inspect", "generate"] {
        let (code, out, err) = outcome(&run(&[cmd, dir.path().to_str().unwrap()]));
        assert!(code == 0 || code == 1, "{cmd}: exit {code}: {out} {err}");
    }
}

// ---- item 15: the same exit code from generate and pack; unreadable weights exit 1

/// A valid safetensors file with one F32 tensor of two elements.
pub fn tiny_safetensors() -> Vec<u8> {
    let mut header = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.to_string();
    while !(header.len() + 8).is_multiple_of(8) {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&[0u8; 8]);
    out
}

fn model_dir(weight: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("model.safetensors"), weight).unwrap();
    dir
}

#[test]
fn generate_and_pack_agree_on_a_malformed_weight() {
    if !plugins_built() {
        return;
    }
    // A header length pointing past the end of the file.
    let mut bad = 1_000_000u64.to_le_bytes().to_vec();
    bad.extend_from_slice(b"{\"w\":");
    let dir = model_dir(&bad);
    let (code, out, err) = outcome(&run(&["generate", dir.path().to_str().unwrap()]));
    assert_eq!(code, 1, "generate: {err}");
    let config = json(&out, &err);
    assert!(config["modelfs"]["diffIds"].as_array().unwrap().len() == 2);
    assert!(err.contains("model.safetensors"), "{err}");

    let out_dir = tempfile::tempdir().unwrap();
    let layout = out_dir.path().join("layout");
    let (code, _, err) = outcome(&run(&[
        "pack",
        dir.path().to_str().unwrap(),
        "--output",
        layout.to_str().unwrap(),
    ]));
    assert_eq!(
        code, 1,
        "pack must not exit 0 with an unreadable weight: {err}"
    );
    assert!(
        err.contains("could not be read by their format plugin"),
        "{err}"
    );
    // The artifact is still written, and valid.
    let (code, out, err) = outcome(&run(&["validate", layout.to_str().unwrap()]));
    assert_eq!(code, 0, "{out} {err}");
}

/// The modelpack binary run without the capabilities that let root read any file, so a
/// mode-000 file is unreadable even when the tests run as root (as CI does).
fn unprivileged(args: &[&str]) -> Output {
    let bin = assert_cmd::cargo::cargo_bin("modelpack");
    let config = tempfile::tempdir().unwrap();
    let mut cmd = if is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--bounding-set", "-dac_override,-dac_read_search"])
            .arg(&bin);
        c
    } else {
        std::process::Command::new(&bin)
    };
    cmd.args(args)
        .env("MODELPACK_CACHE_DIR", shared_cache())
        .env("XDG_CONFIG_HOME", config.path())
        .env_remove("MODELPACK_PLUGIN_PATH")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("running modelpack")
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[test]
fn an_unreadable_weight_gives_exit_1_and_the_config() {
    if !plugins_built() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = model_dir(&tiny_safetensors());
    let weight = dir.path().join("model.safetensors");
    std::fs::set_permissions(&weight, std::fs::Permissions::from_mode(0o000)).unwrap();
    let o = unprivileged(&["generate", dir.path().to_str().unwrap()]);
    let (code, out, err) = outcome(&o);
    assert_eq!(code, 1, "stdout {out}\nstderr {err}");
    let config = json(&out, &err);
    assert_eq!(
        config["modelfs"]["diffIds"].as_array().unwrap().len(),
        1,
        "only config.json can be hashed: {config}"
    );
    assert!(
        err.contains("model.safetensors") && err.contains("Permission denied"),
        "{err}"
    );
    // pack cannot produce the artifact without the file's bytes: nothing is written, and the
    // exit is 1 like every missing weight (the model is incomplete; not a usage error).
    let out_dir = tempfile::tempdir().unwrap();
    let layout = out_dir.path().join("layout");
    let o = unprivileged(&[
        "pack",
        dir.path().to_str().unwrap(),
        "--output",
        layout.to_str().unwrap(),
    ]);
    let (code, _, err) = outcome(&o);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("model.safetensors"), "{err}");
    assert!(!layout.exists());
    std::fs::set_permissions(&weight, std::fs::Permissions::from_mode(0o644)).unwrap();
}
