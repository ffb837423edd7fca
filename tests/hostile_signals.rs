//! Interruptions of the commands that write outputs (issue 16 items 10-12 and the standing
//! signal suite).
//!
//! - SIGKILL at seeded random moments of `pack` (new and appending), `pull` and `unpack` of a
//!   1 GiB model: after each kill the output is absent or valid; the next run of the same
//!   command succeeds and leaves no hidden staging file or directory beside or inside it.
//!   The seed is printed; `MODELPACK_SIGNAL_SEED=N` replays a run, `MODELPACK_SIGNAL_KILLS`
//!   sets the kills per command (default 20).
//! - SIGINT, SIGTERM and SIGHUP: the process ends by that signal (the shell shows 130, 143,
//!   129) after removing its staging directory and the parents it created.
//! - A pack killed inside an append (crash points between the blob moves, the `index.json`
//!   rename and the journal removal) is rolled back by the next pack, and only its own blobs.
//! - A live staging directory (its owner stopped, not dead) survives another run's sweep.
//!
//! The 1 GiB model is 4 sparse safetensors shards with random blocks, made once per test
//! binary under `target/test-signals` (sparse: it costs the disk almost nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::pack::{sample_tree, validate};
use crate::util::{plugins_built, shared_cache};

/// splitmix64: a seeded, reproducible sequence of kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seeded(test: &str) -> (u64, Rng) {
    let seed = std::env::var("MODELPACK_SIGNAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("{test}: seed {seed} (MODELPACK_SIGNAL_SEED={seed} replays it)");
    (seed, Rng(seed))
}

fn kills() -> usize {
    std::env::var("MODELPACK_SIGNAL_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// Skips (returns None) with a printed reason, or fails under CI.
use crate::util::env;

/// The `modelpack` binary as a plain `Command` (spawned and killed here), isolated like
/// `util::modelpack`.
fn modelpack(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
    static CONFIG: OnceLock<tempfile::TempDir> = OnceLock::new();
    let config = CONFIG.get_or_init(|| tempfile::tempdir().unwrap());
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("modelpack"));
    for a in args {
        let a: &std::ffi::OsStr = (*a).as_ref();
        cmd.arg(a);
    }
    cmd.env("MODELPACK_CACHE_DIR", shared_cache())
        .env("XDG_CONFIG_HOME", config.path())
        .env_remove("MODELPACK_PLUGIN_PATH")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("MODELPACK_REGISTRY_USERNAME")
        .env_remove("MODELPACK_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", "/nonexistent-modelpack-test")
        .stdin(Stdio::null());
    cmd
}

/// Runs to completion; (status, stdout, stderr).
fn finish(mut cmd: Command) -> (ExitStatus, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The shared 1 GiB model and a layout of it.
struct Big {
    model: PathBuf,
    layout: PathBuf,
    /// filepath → sha256 hex of every file in the model.
    files: BTreeMap<String, String>,
}

const SHARDS: usize = 4;
const SHARD_DATA: u64 = 256 << 20;

fn big() -> &'static Big {
    static BIG: OnceLock<Big> = OnceLock::new();
    BIG.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-signals");
        let _ = std::fs::remove_dir_all(&root);
        let model = root.join("model");
        std::fs::create_dir_all(&model).unwrap();
        write_big_model(&model);
        let layout = root.join("layout");
        // Hard links: the shared layout costs no second GiB (it is only read).
        let (status, stdout, stderr) = finish(modelpack(&[
            &"pack",
            &model,
            &"-o",
            &layout,
            &"--link",
            &"hardlink",
            &"--format",
            &"json",
        ]));
        assert!(status.success(), "packing the big model: {stderr}");
        let summary: Value = serde_json::from_str(&stdout).unwrap();
        let files = summary["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let d = l["digest"].as_str().unwrap();
                (
                    l["filepath"].as_str().unwrap().to_string(),
                    d.strip_prefix("sha256:").unwrap().to_string(),
                )
            })
            .collect();
        Big {
            model,
            layout,
            files,
        }
    })
}

/// 4 shards of 256 MiB of F32 data: sparse files with 64 KiB random blocks (so no two shards
/// and no two regions are alike), an index and a config.
fn write_big_model(dir: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let mut rng = Rng(0x5eed_0fb1e);
    let mut weight_map = serde_json::Map::new();
    for i in 1..=SHARDS {
        let name = format!("model-{i:05}-of-{SHARDS:05}.safetensors");
        let tensor = format!("model.layers.{i}.weight");
        let mut entries = serde_json::Map::new();
        entries.insert(
            tensor.clone(),
            serde_json::json!({"dtype": "F32", "shape": [SHARD_DATA / 4], "data_offsets": [0, SHARD_DATA]}),
        );
        let mut header = Value::Object(entries).to_string();
        while !header.len().is_multiple_of(8) {
            header.push(' ');
        }
        let mut f = std::fs::File::create(dir.join(&name)).unwrap();
        f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        let start = 8 + header.len() as u64;
        f.set_len(start + SHARD_DATA).unwrap();
        for k in 0..16u64 {
            let block: Vec<u8> = (0..8192).flat_map(|_| rng.next().to_le_bytes()).collect();
            f.seek(SeekFrom::Start(start + k * (SHARD_DATA / 16)))
                .unwrap();
            f.write_all(&block).unwrap();
        }
        weight_map.insert(tensor, Value::String(name));
    }
    let index = serde_json::json!({
        "metadata": {"total_size": SHARD_DATA * SHARDS as u64},
        "weight_map": weight_map,
    });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    std::fs::write(
        dir.join("config.json"),
        br#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "torch_dtype": "float32"}"#,
    )
    .unwrap();
}

/// Hidden entries beside `output` (in its parent) and anywhere inside it.
fn hidden_leftovers(output: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                out.push(p.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&p, out);
            }
        }
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(output.parent().unwrap())
        .unwrap()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with('.') {
            out.push(e.path());
        }
    }
    walk(output, &mut out);
    out
}

fn assert_valid_layout(layout: &Path, ctx: &str) {
    let (code, report) = validate(layout, &[]);
    assert_eq!(
        code,
        0,
        "{ctx}: {} does not validate: {report:#}",
        layout.display()
    );
}

/// The unpacked tree equals the big model: the same files, each with the same digest.
fn assert_unpacked(dir: &Path, ctx: &str) {
    let mut found = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let mut h = Sha256::new();
                std::io::copy(&mut std::fs::File::open(&p).unwrap(), &mut h).unwrap();
                out.insert(rel, hex::encode(h.finalize()));
            }
        }
    }
    walk(dir, dir, &mut found);
    assert_eq!(found, big().files, "{ctx}: the unpacked tree differs");
}

/// One command under SIGKILL.
struct Scenario<'a> {
    name: &'a str,
    /// The command (a fresh one per run).
    command: &'a dyn Fn() -> Command,
    output: &'a Path,
    /// Puts the world back before a round (the output removed, or a fresh layout to add to).
    reset: &'a dyn Fn(),
    /// Checks a present output (complete and valid).
    check: &'a dyn Fn(&str),
    /// The output existed before (an append): it must exist after every kill.
    kept: bool,
    /// The command refuses an existing output: a complete one is removed before the rerun,
    /// as a user would.
    refuses_existing: bool,
}

fn kill_at_random_moments(s: &Scenario) {
    let (seed, mut rng) = seeded(s.name);
    let started = Instant::now();
    (s.reset)();
    let (status, _, stderr) = finish((s.command)());
    assert!(
        status.success(),
        "{}: an uninterrupted run failed: {stderr}",
        s.name
    );
    (s.check)(&format!("{}: uninterrupted", s.name));
    // Timed on a second run: the first may have compiled plugins or filled the page cache.
    (s.reset)();
    let t0 = Instant::now();
    let (status, _, stderr) = finish((s.command)());
    let mut full = t0.elapsed();
    assert!(
        status.success(),
        "{}: an uninterrupted run failed: {stderr}",
        s.name
    );
    let mut stats = [0usize; 2];
    for round in 0..kills() {
        (s.reset)();
        // Uniform over the whole run and a little after (a kill after exit proves nothing new,
        // but keeps the distribution honest at the end).
        let delay = Duration::from_millis(rng.below(full.as_millis() as u64 * 11 / 10 + 1));
        let ctx = format!(
            "{} seed {seed} round {round} (SIGKILL after {} ms of ~{} ms)",
            s.name,
            delay.as_millis(),
            full.as_millis()
        );
        let mut cmd = (s.command)();
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let t = Instant::now();
        while t.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        stats[usize::from(status.signal() == Some(libc::SIGKILL))] += 1;

        // After the kill: absent, or complete and valid.
        if s.output.exists() {
            (s.check)(&format!("{ctx}, after the kill"));
            if s.refuses_existing && !s.kept {
                std::fs::remove_dir_all(s.output).unwrap();
            }
        } else {
            assert!(!s.kept, "{ctx}: the layout added to disappeared");
        }
        // The next run of the same command succeeds and leaves nothing hidden.
        let t = Instant::now();
        let (status, _, stderr) = finish((s.command)());
        // The machine's load changes: the next kills scale with the recent full runs.
        full = (full + t.elapsed()) / 2;
        assert!(status.success(), "{ctx}: the next run failed: {stderr}");
        let left = hidden_leftovers(s.output);
        assert!(left.is_empty(), "{ctx}: left after the next run: {left:?}");
        if round + 1 == kills() {
            (s.check)(&format!("{ctx}, after the next run"));
        }
    }
    eprintln!(
        "{}: {} kills ({} mid-run, {} after exit), last full run ~{} ms, {:.1} s in all",
        s.name,
        kills(),
        stats[1],
        stats[0],
        full.as_millis(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        stats[1] >= kills() / 3,
        "{}: too few kills landed mid-run (seed {seed})",
        s.name
    );
}

#[test]
fn sigkill_during_pack_of_a_new_layout() {
    if !plugins_built() {
        return;
    }
    let big = big();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("layout");
    kill_at_random_moments(&Scenario {
        name: "pack (new layout)",
        command: &|| modelpack(&[&"pack", &big.model, &"-o", &out]),
        output: &out,
        reset: &|| {
            let _ = std::fs::remove_dir_all(&out);
        },
        check: &|ctx| assert_valid_layout(&out, ctx),
        kept: false,
        refuses_existing: false,
    });
}

/// Blobs that the manifests of `layout` use (manifests, configs, layers).
fn referenced_blobs(layout: &Path) -> BTreeSet<String> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut used = BTreeSet::new();
    for m in index["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap().to_string();
        let bytes = std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap();
        let manifest: Value = serde_json::from_slice(&bytes).unwrap();
        used.insert(d);
        used.insert(manifest["config"]["digest"].as_str().unwrap().to_string());
        for l in manifest["layers"].as_array().unwrap() {
            used.insert(l["digest"].as_str().unwrap().to_string());
        }
    }
    used
}

fn blobs_present(layout: &Path) -> BTreeSet<String> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect()
}

fn tag_digest(layout: &Path, tag: &str) -> Option<String> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .map(|m| m["digest"].as_str().unwrap().to_string())
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn sigkill_during_pack_adding_to_a_layout() {
    if !plugins_built() {
        return;
    }
    let big = big();
    let work = tempfile::tempdir().unwrap();
    let small = work.path().join("small");
    sample_tree(&small, 0o022);
    let base = work.path().join("base/layout");
    crate::pack::pack(&small, &base, &["--tag", "v1"]);
    let v1 = tag_digest(&base, "v1").unwrap();
    let out = work.path().join("out/layout");
    kill_at_random_moments(&Scenario {
        name: "pack (adding to a layout)",
        command: &|| modelpack(&[&"pack", &big.model, &"-o", &out, &"--tag", &"v2"]),
        output: &out,
        reset: &|| {
            let _ = std::fs::remove_dir_all(&out);
            copy_tree(&base, &out);
        },
        check: &|ctx| {
            assert_valid_layout(&out, ctx);
            assert_eq!(tag_digest(&out, "v1"), Some(v1.clone()), "{ctx}");
            // Between runs a dead writer's blobs may wait for the next pack; after one,
            // every blob is one a manifest uses.
            if !out.join(".modelpack-append.json").exists() {
                assert_eq!(
                    blobs_present(&out),
                    referenced_blobs(&out),
                    "{ctx}: orphans"
                );
            }
        },
        kept: true,
        refuses_existing: false,
    });
}

#[test]
fn sigkill_during_unpack() {
    if !plugins_built() {
        return;
    }
    let big = big();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("files");
    kill_at_random_moments(&Scenario {
        name: "unpack",
        command: &|| modelpack(&[&"unpack", &big.layout, &"-o", &out]),
        output: &out,
        reset: &|| {
            let _ = std::fs::remove_dir_all(&out);
        },
        check: &|ctx| assert_unpacked(&out, ctx),
        kept: false,
        refuses_existing: true,
    });
}

/// The big layout pushed once to the test registry; its reference.
fn pushed_big(registry: &str) -> &'static str {
    static REF: OnceLock<String> = OnceLock::new();
    REF.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let target = format!("{registry}/modelpack-test/signals-{nanos}:v1");
        let (status, _, stderr) = finish(modelpack(&[&"push", &big().layout, &target]));
        assert!(status.success(), "pushing the big layout: {stderr}");
        target
    })
}

#[test]
fn sigkill_during_pull() {
    let Some(registry) = env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    if !plugins_built() {
        return;
    }
    let source = pushed_big(&registry);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("pulled");
    kill_at_random_moments(&Scenario {
        name: "pull",
        command: &|| modelpack(&[&"pull", &source, &"-o", &out]),
        output: &out,
        reset: &|| {
            let _ = std::fs::remove_dir_all(&out);
        },
        check: &|ctx| assert_valid_layout(&out, ctx),
        kept: false,
        refuses_existing: true,
    });
}

/// Waits until a staging directory appears in `dir`.
fn wait_for_staging(dir: &Path, child: &mut std::process::Child) -> PathBuf {
    let t = Instant::now();
    loop {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(".modelpack-") {
                    return e.path();
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the command ended ({status}) before staging anything in {}",
                dir.display()
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "no staging directory appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until `dir` holds an entry (its owner locked it and started writing).
fn wait_for_content(dir: &Path, child: &mut std::process::Child) {
    let t = Instant::now();
    while std::fs::read_dir(dir).map_or(true, |mut e| e.next().is_none()) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the command ended ({status}) before writing into {}",
                dir.display()
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "nothing was written into {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: kill(2) on a child we own has no memory-safety preconditions.
    let r = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(r, 0, "kill({}, {sig})", child.id());
}

/// Sends `sig` once the command staged its output; it must end by that signal with nothing
/// left: no output, no staging, not even the parent directories it created.
fn interrupt(name: &str, cmd: Command, work: &Path, output: &Path, sig: i32) {
    let mut cmd = cmd;
    let stderr_path = work.join("stderr.txt");
    cmd.stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    let mut child = cmd.spawn().unwrap();
    wait_for_staging(output.parent().unwrap(), &mut child);
    std::thread::sleep(Duration::from_millis(50));
    signal(&child, sig);
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    // Ended by the signal itself: the shell reports 128 + sig (130 SIGINT, 143 SIGTERM).
    assert_eq!(status.signal(), Some(sig), "{name}: {status}: {stderr}");
    assert!(
        stderr.contains("interrupted by SIG") && stderr.contains("partial output removed"),
        "{name}: {stderr}"
    );
    assert!(!output.exists(), "{name}: the output exists");
    let mut p = output.parent().unwrap();
    while p != work {
        assert!(
            !p.exists(),
            "{name}: the created parent {} is left",
            p.display()
        );
        p = p.parent().unwrap();
    }
    let left: Vec<_> = std::fs::read_dir(work)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "stderr.txt")
        .collect::<Vec<OsString>>();
    assert!(
        left.is_empty(),
        "{name}: left in {}: {left:?}",
        work.display()
    );
}

#[test]
fn sigint_during_pack_removes_everything_it_made() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("new/parents/layout");
    let cmd = modelpack(&[&"pack", &big().model, &"-o", &out]);
    interrupt("pack", cmd, work.path(), &out, libc::SIGINT);
}

#[test]
fn sigterm_during_unpack_removes_everything_it_made() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("new/parents/files");
    let cmd = modelpack(&[&"unpack", &big().layout, &"-o", &out]);
    interrupt("unpack", cmd, work.path(), &out, libc::SIGTERM);
}

#[test]
fn sighup_during_pull_removes_everything_it_made() {
    let Some(registry) = env("MODELPACK_TEST_REGISTRY") else {
        return;
    };
    if !plugins_built() {
        return;
    }
    let source = pushed_big(&registry);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("new/parents/pulled");
    let cmd = modelpack(&[&"pull", &source, &"-o", &out]);
    interrupt("pull", cmd, work.path(), &out, libc::SIGHUP);
}

#[test]
fn sigterm_during_an_append_leaves_the_layout_as_it_was() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let small = work.path().join("small");
    sample_tree(&small, 0o022);
    let layout = work.path().join("out/layout");
    crate::pack::pack(&small, &layout, &[]);
    let before = crate::pack::tree(&layout);
    let mut cmd = modelpack(&[&"pack", &big().model, &"-o", &layout, &"--tag", &"v2"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    wait_for_staging(&work.path().join("out"), &mut child);
    std::thread::sleep(Duration::from_millis(50));
    signal(&child, libc::SIGTERM);
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
    assert_eq!(crate::pack::tree(&layout), before);
    assert_eq!(hidden_leftovers(&layout), Vec::<PathBuf>::new());
}

/// Packs `src` into `layout` under `tag` with the process killing itself at `step` of the
/// append (test hook MODELPACK_TEST_CRASH_APPEND).
fn crash_append(src: &Path, layout: &Path, tag: &str, step: &str) {
    let mut cmd = modelpack(&[&"pack", &src, &"-o", &layout, &"--tag", &tag]);
    cmd.env("MODELPACK_TEST_CRASH_APPEND", step);
    let (status, _, stderr) = finish(cmd);
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{step}: {stderr}");
}

fn warnings(report: &Value, keyword: &str) -> usize {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["keyword"] == keyword)
        .count()
}

#[test]
fn an_append_killed_midway_is_rolled_back_by_the_next_pack() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        work.path().join("a"),
        work.path().join("b"),
        work.path().join("c"),
    );
    sample_tree(&a, 0o022);
    sample_tree(&b, 0o022);
    std::fs::write(b.join("README.md"), "# b\n").unwrap();
    std::fs::write(b.join("extra.txt"), "only in b\n").unwrap();
    sample_tree(&c, 0o022);
    std::fs::write(c.join("README.md"), "# c\n").unwrap();
    let layout = work.path().join("out/layout");
    crate::pack::pack(&a, &layout, &["--tag", "v1"]);
    let index_before = std::fs::read(layout.join("index.json")).unwrap();
    let blobs_before = blobs_present(&layout);

    // Killed after moving its blobs in, before index.json changed.
    crash_append(&b, &layout, "v2", "moved");
    assert_eq!(
        std::fs::read(layout.join("index.json")).unwrap(),
        index_before
    );
    assert!(layout.join(".modelpack-append.json").exists());
    let orphans: BTreeSet<_> = blobs_present(&layout)
        .difference(&blobs_before)
        .cloned()
        .collect();
    assert!(orphans.len() >= 2, "{orphans:?}");
    // validate: still valid, and says what the crash left; unpack ignores it.
    let (code, report) = validate(&layout, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(warnings(&report, "interrupted-append"), 1, "{report:#}");
    let files = work.path().join("files");
    let (status, _, stderr) = finish(modelpack(&[&"unpack", &layout, &"-o", &files]));
    assert!(status.success(), "{stderr}");
    assert_eq!(crate::pack::tree(&files), crate::pack::tree(&a));

    // A blob another tool put there without a journal is never deleted.
    let stray = Sha256::digest(b"put here by skopeo");
    let stray_name = hex::encode(stray);
    std::fs::write(
        layout.join("blobs/sha256").join(&stray_name),
        b"put here by skopeo",
    )
    .unwrap();

    // The next pack rolls the dead writer back, then adds its own manifest.
    let (status, _, stderr) = finish(modelpack(&[&"pack", &c, &"-o", &layout, &"--tag", &"v3"]));
    assert!(status.success(), "{stderr}");
    assert_eq!(hidden_leftovers(&layout), Vec::<PathBuf>::new());
    let mut expect = referenced_blobs(&layout);
    expect.insert(format!("sha256:{stray_name}"));
    assert_eq!(
        blobs_present(&layout),
        expect,
        "orphans of the dead append remain"
    );
    assert!(tag_digest(&layout, "v2").is_none());
    let (code, report) = validate(&layout, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(warnings(&report, "interrupted-append"), 0, "{report:#}");

    // Killed after index.json was replaced, before the journal went: the blobs it listed are
    // now used by a manifest and must stay.
    crash_append(&b, &layout, "v2", "replaced");
    assert!(layout.join(".modelpack-append.json").exists());
    let v2 = tag_digest(&layout, "v2").expect("index.json was replaced");
    let (status, _, stderr) = finish(modelpack(&[&"pack", &a, &"-o", &layout, &"--tag", &"v4"]));
    assert!(status.success(), "{stderr}");
    assert_eq!(tag_digest(&layout, "v2"), Some(v2));
    assert_eq!(hidden_leftovers(&layout), Vec::<PathBuf>::new());
    let (code, report) = validate(&layout, &[]);
    assert_eq!(code, 0, "{report:#}");
    let files = work.path().join("files-v2");
    let reference = format!("{}:v2", layout.display());
    let (status, _, stderr) = finish(modelpack(&[&"unpack", &reference, &"-o", &files]));
    assert!(status.success(), "{stderr}");
    assert_eq!(crate::pack::tree(&files), crate::pack::tree(&b));
}

/// A staging directory whose owner is alive (here: stopped) is never swept by another run;
/// the owner then finishes normally.
#[test]
fn a_live_staging_directory_is_never_swept() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let a_out = shared.join("big-layout");
    let mut cmd = modelpack(&[&"pack", &big().model, &"-o", &a_out]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut a = cmd.spawn().unwrap();
    let staging = wait_for_staging(&shared, &mut a);
    // Stopped only once it writes inside: between its `mkdir` and its `flock` a staging
    // directory is not yet owned, and a sweep there makes the owner start another (see
    // oci/staging.rs), which would leave this test watching the wrong directory.
    wait_for_content(&staging, &mut a);
    signal(&a, libc::SIGSTOP);

    // Another run stages beside it (sweeping that directory first) and finishes.
    let small = work.path().join("small");
    sample_tree(&small, 0o022);
    crate::pack::pack(&small, &shared.join("small-layout"), &[]);
    assert!(
        staging.is_dir(),
        "a live run's staging directory was removed"
    );

    signal(&a, libc::SIGCONT);
    let status = a.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_valid_layout(&a_out, "the stopped pack, resumed");
    assert_eq!(hidden_leftovers(&a_out), Vec::<PathBuf>::new());
}

/// A refused unpack removes the parent directories it created for --output (item 12).
#[test]
fn a_refused_unpack_leaves_no_parent_directories() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let small = work.path().join("small");
    sample_tree(&small, 0o022);
    let layout = work.path().join("layout");
    let summary = crate::pack::pack(&small, &layout, &["--link", "copy"]);
    // Corrupt the weight blob (same size): unpack refuses it after staging began.
    let d = summary["layers"][0]["digest"].as_str().unwrap();
    let blob = layout.join("blobs/sha256").join(&d[7..]);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let out = work.path().join("a/b/c/files");
    let (status, _, stderr) = finish(modelpack(&[&"unpack", &layout, &"-o", &out]));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not match its digest"), "{stderr}");
    assert!(
        !work.path().join("a").exists(),
        "created parents left behind"
    );
}
