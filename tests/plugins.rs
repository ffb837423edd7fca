//! Plugin discovery and listing, WIT version refusal, and the compiled-code cache.

use crate::util::{modelpack, plugins_built, run_json, test_plugin};

#[test]
fn plugins_list_shows_the_bundled_format_plugins() {
    if !plugins_built() {
        return;
    }
    let (code, json, _) = run_json(&["plugins", "list", "--format", "json"]);
    assert_eq!(code, 0);
    let list = json["plugins"].as_array().unwrap();
    for name in [
        "safetensors",
        "gguf",
        "onnx",
        "pytorch",
        "numpy",
        "tflite",
        "openvino",
    ] {
        let p = list
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {json}"));
        assert_eq!(p["kind"], "format");
        assert_eq!(p["witVersion"], "0.2.0");
        assert_eq!(p["source"], "built-in");
        assert!(
            !p["extensions"].as_array().unwrap().is_empty()
                || !p["fileNames"].as_array().unwrap().is_empty()
        );
    }
    let text = modelpack().args(["plugins", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("safetensors") && text.contains("built-in"),
        "{text}"
    );
}

#[test]
fn an_explicit_plugin_is_listed_with_its_path() {
    if !plugins_built() {
        return;
    }
    let evil = test_plugin("evil");
    let (_, json, _) = run_json(&[
        "--plugin",
        &evil.display().to_string(),
        "plugins",
        "list",
        "--format",
        "json",
    ]);
    let p = json["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "evil")
        .cloned()
        .unwrap();
    assert_eq!(p["source"], evil.display().to_string());
}

#[test]
fn plugin_for_another_wit_version_is_refused_naming_both_versions() {
    if !plugins_built() {
        return;
    }
    let future = test_plugin("future-wit");
    let out = modelpack()
        .args(["--plugin", &future.display().to_string(), "plugins", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("built for modelpack:plugin@0.3.0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("implements modelpack:plugin@0.2.0"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "not one line: {stderr}");
}

#[test]
fn plugin_for_contract_0_1_is_refused_with_how_to_rebuild_it() {
    if !plugins_built() {
        return;
    }
    let old = test_plugin("old-wit");
    let out = modelpack()
        .args(["--plugin", &old.display().to_string(), "plugins", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("plugin was built for modelpack:plugin@0.1.0, but this modelpack implements modelpack:plugin@0.2.0; rebuild the plugin against modelpack:plugin@0.2.x (point it at modelpack-plugin-sdk 0.2"),
        "{stderr}"
    );
    assert!(stderr.contains("docs/plugins.md"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "not one line: {stderr}");
    // The same plugin in a plugin directory costs a warning, not the run.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&old, dir.path().join("old.wasm")).unwrap();
    let out = modelpack()
        .env("MODELPACK_PLUGIN_PATH", dir.path())
        .args(["plugins", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("modelpack:plugin@0.1.0"));
}

#[test]
fn incompatible_plugin_in_a_plugin_dir_is_skipped_with_a_warning() {
    if !plugins_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(test_plugin("future-wit"), dir.path().join("future.wasm")).unwrap();
    std::fs::copy(test_plugin("evil"), dir.path().join("evil.wasm")).unwrap();
    std::fs::write(dir.path().join("garbage.wasm"), b"\0asm garbage").unwrap();
    let out = modelpack()
        .env("MODELPACK_PLUGIN_PATH", dir.path())
        .args(["plugins", "list", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("modelpack:plugin@0.3.0"), "{stderr}");
    assert!(stderr.contains("garbage.wasm"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "evil")
    );
    assert!(
        !json["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "future")
    );
}

#[test]
fn second_run_loads_compiled_code_from_the_cache_and_corrupt_entries_are_recompiled() {
    if !plugins_built() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("x.evil"), "OK").unwrap();
    let run = || {
        let out = modelpack()
            .env("MODELPACK_CACHE_DIR", cache.path())
            .args([
                "--plugin",
                &test_plugin("evil").display().to_string(),
                "-v",
                "inspect",
            ])
            .arg(files.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = run();
    assert!(first.contains("plugin evil@0.1.0: compiled in"), "{first}");
    let second = run();
    assert!(
        second.contains("plugin evil@0.1.0: compiled code loaded from cache (cache hit)"),
        "{second}"
    );
    // Only the plugin the run needed was compiled: no built-in plugin claims `.evil`.
    let entries: Vec<_> = std::fs::read_dir(cache.path()).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    // Corrupt the entry: it must be recompiled, not trusted.
    let entry = entries[0].path();
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let third = run();
    assert!(third.contains("plugin evil@0.1.0: compiled in"), "{third}");
    let fourth = run();
    assert!(fourth.contains("cache hit"), "{fourth}");
}
