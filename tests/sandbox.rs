//! The evil plugin misbehaves in every way we could think of; each costs exactly one file, with
//! a specific one-line error, within the deadline plus a margin, and the run goes on.

use std::sync::Once;
use std::time::{Duration, Instant};

use crate::util::{modelpack, plugins_built, run_json, test_plugin};

/// Deadline used in these tests, and the slack allowed on top of it (debug build, busy CI).
const TIMEOUT_SECS: f64 = 1.0;
const MARGIN: Duration = Duration::from_millis(2500);

fn evil() -> String {
    test_plugin("evil").display().to_string()
}

/// Compiles the evil plugin into the shared cache once, so timings measure the call only.
fn warm_up() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.evil"), "OK").unwrap();
        modelpack()
            .args(["--plugin", &evil(), "inspect"])
            .arg(dir.path())
            .assert()
            .success();
    });
}

/// Runs one misbehaving command next to a good file; returns the two reports and the time.
fn run_case(
    command: &str,
    extra: &[&str],
) -> (serde_json::Value, serde_json::Value, i32, Duration, String) {
    run_case_with_timeout(command, TIMEOUT_SECS, extra)
}

fn run_case_with_timeout(
    command: &str,
    timeout: f64,
    extra: &[&str],
) -> (serde_json::Value, serde_json::Value, i32, Duration, String) {
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-bad.evil"), command).unwrap();
    std::fs::write(dir.path().join("b-good.evil"), "OK").unwrap();
    let timeout = timeout.to_string();
    let path = dir.path().display().to_string();
    let evil = evil();
    let mut args = vec![
        "--plugin",
        &evil,
        "--plugin-timeout",
        &timeout,
        "inspect",
        "--format",
        "json",
        &path,
    ];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let (code, json, stderr) = run_json(&args);
    let elapsed = started.elapsed();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{json}");
    (files[0].clone(), files[1].clone(), code, elapsed, stderr)
}

fn assert_contained(command: &str, expected: &str) {
    if !plugins_built() {
        return;
    }
    let (bad, good, code, elapsed, _) = run_case(command, &[]);
    let error = bad["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{command}: no error in {bad}"));
    assert!(
        error.contains(expected),
        "{command}: expected {expected:?} in {error:?}"
    );
    assert!(
        !error.contains('\n'),
        "{command}: error is not one line: {error:?}"
    );
    assert_eq!(bad["status"], "error");
    assert_eq!(
        good["status"], "ok",
        "{command}: the good file failed: {good}"
    );
    assert_eq!(good["metadata"]["evil.note"], "ok");
    assert_eq!(code, 1, "{command}: a failed file must make the run exit 1");
    assert!(
        elapsed < Duration::from_secs_f64(TIMEOUT_SECS) + MARGIN,
        "{command}: took {elapsed:?}"
    );
}

#[test]
fn endless_loop_hits_the_cpu_deadline() {
    assert_contained("LOOP", "exceeded its CPU deadline of 1.0 s");
}

#[test]
fn two_gib_allocation_hits_the_memory_cap() {
    assert_contained("ALLOC", "exceeded its memory cap of 256 MiB");
}

#[test]
fn panic_is_reported_with_its_message() {
    assert_contained("PANIC", "panicked: plugin panicked on purpose");
}

#[test]
fn unbounded_recursion_is_contained() {
    assert_contained("STACK", "out-of-bounds memory access");
}

#[test]
fn read_of_u32_max_bytes_is_refused_by_the_host() {
    assert_contained(
        "BIGREAD",
        "read of 4294967295 bytes exceeds host cap 16777216",
    );
}

#[test]
fn gigabyte_result_cannot_be_built_under_the_memory_cap() {
    assert_contained("BIGRESULT", "exceeded its memory cap");
}

#[test]
fn gigabyte_result_is_refused_by_the_result_cap() {
    if !plugins_built() {
        return;
    }
    // Building 1 GiB of strings takes the guest a few seconds in a debug build.
    let (bad, good, code, _, _) =
        run_case_with_timeout("BIGRESULT", 120.0, &["--plugin-memory", "2048"]);
    let error = bad["error"].as_str().unwrap();
    assert!(
        error.contains("returned a result too large to accept"),
        "{error}"
    );
    assert_eq!(good["status"], "ok");
    assert_eq!(code, 1);
}

#[test]
fn reading_etc_passwd_is_denied() {
    assert_contained("PASSWD", "denied wasi:filesystem/");
}

#[test]
fn opening_a_socket_is_denied() {
    assert_contained("SOCKET", "denied wasi:sockets/");
}

#[test]
fn environment_and_arguments_are_empty() {
    if !plugins_built() {
        return;
    }
    // The test process itself has plenty of variables; the plugin must see none of them.
    let (bad, good, code, _, _) = run_case("ENV", &[]);
    assert_eq!(bad["status"], "ok", "{bad}");
    assert_eq!(bad["metadata"]["evil.note"], "env=0 args=0");
    assert_eq!(good["status"], "ok");
    assert_eq!(code, 0);
}

#[test]
fn plugin_output_is_captured_and_shown_only_with_verbose() {
    if !plugins_built() {
        return;
    }
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.evil"), "STDOUT").unwrap();
    let quiet = modelpack()
        .args(["--plugin", &evil(), "inspect"])
        .arg(dir.path())
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&quiet.stdout),
        String::from_utf8_lossy(&quiet.stderr)
    );
    assert!(quiet.status.success());
    assert!(
        !all.contains("hello from plugin"),
        "plugin output leaked: {all}"
    );
    let loud = modelpack()
        .args(["--plugin", &evil(), "-v", "inspect"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&loud.stderr);
    assert!(stderr.contains("hello from plugin stdout"), "{stderr}");
    assert!(stderr.contains("hello from plugin stderr"), "{stderr}");
    assert!(!String::from_utf8_lossy(&loud.stdout).contains("hello from plugin"));
}

#[test]
fn every_misbehaviour_in_one_run_costs_one_file_each() {
    if !plugins_built() {
        return;
    }
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        "LOOP", "ALLOC", "PANIC", "STACK", "BIGREAD", "PASSWD", "SOCKET",
    ];
    for c in bad {
        std::fs::write(dir.path().join(format!("{c}.evil")), c).unwrap();
    }
    std::fs::write(dir.path().join("zz-good.evil"), "OK").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a model").unwrap();
    let (code, json, _) = run_json(&[
        "--plugin",
        &evil(),
        "--plugin-timeout",
        "1",
        "inspect",
        "--format",
        "json",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(code, 1);
    let files = json["files"].as_array().unwrap();
    let status = |suffix: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} missing"))["status"]
            .clone()
    };
    for c in bad {
        assert_eq!(status(&format!("{c}.evil")), "error", "{c}");
    }
    assert_eq!(status("zz-good.evil"), "ok");
    assert_eq!(status("notes.txt"), "unrecognised");
}
