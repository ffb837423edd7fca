//! `convert` does not fsync by default (issue 12: it runs at `cp` speed); what it promises
//! instead is atomicity against interruption, and this proves it:
//!
//! - SIGKILL at seeded random moments of converting a 256 MiB array: after each kill the output
//!   is absent or whole and bit-exact; the next run succeeds and leaves no hidden staging
//!   directory. `MODELPACK_SIGNAL_SEED=N` replays a run, `MODELPACK_SIGNAL_KILLS` sets the kills
//!   (default 8).
//! - SIGINT while the bytes are being copied: the process ends by the signal with nothing left.
//! - `--sync` (fsync before the rename) writes the same bytes, for a directory with nested
//!   files too.
//!
//! The input is a sparse `.npy` file with random blocks (costs the disk almost nothing).

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::util::{plugins_built, shared_cache};

/// float32 elements of the big array (256 MiB of data).
const ELEMENTS: u64 = 64 << 20;

/// The big `.npy` and the sha256 of its data.
struct Big {
    path: PathBuf,
    data_sha: String,
    _dir: tempfile::TempDir,
}

/// An `.npy` (format 1.0) header for a 1-D little-endian float32 array of `n` elements.
fn npy_header(n: u64) -> Vec<u8> {
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n},), }}");
    // Magic (6) + version (2) + length (2) + dict + '\n', padded to a multiple of 64.
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

fn big() -> &'static Big {
    static BIG: OnceLock<Big> = OnceLock::new();
    BIG.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.npy");
        let header = npy_header(ELEMENTS);
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&header).unwrap();
        f.set_len(header.len() as u64 + ELEMENTS * 4).unwrap();
        // Random 1 MiB blocks at the start, the end and between, so a shifted or partial copy
        // cannot match.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let data = ELEMENTS * 4;
        for at in [0, data / 3, data / 2 + 4093, data - (1 << 20)] {
            let block: Vec<u8> = (0..1 << 20)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            f.seek(SeekFrom::Start(header.len() as u64 + at)).unwrap();
            f.write_all(&block).unwrap();
        }
        drop(f);
        let data_sha = sha256_from(&path, header.len() as u64);
        Big {
            path,
            data_sha,
            _dir: dir,
        }
    })
}

fn sha256_from(path: &Path, offset: u64) -> String {
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).unwrap();
    hex::encode(h.finalize())
}

/// The single tensor of `out/model.safetensors`: (dtype, shape, sha256 of its data), checked
/// to span the whole data section.
fn written_tensor(out: &Path) -> (String, serde_json::Value, String) {
    let path = out.join("model.safetensors");
    let mut f = std::fs::File::open(&path).unwrap();
    let mut len = [0u8; 8];
    f.read_exact(&mut len).unwrap();
    let len = u64::from_le_bytes(len);
    let mut head = vec![0u8; len as usize];
    f.read_exact(&mut head).unwrap();
    let head: serde_json::Value = serde_json::from_slice(&head).unwrap();
    let tensors: Vec<_> = head
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .collect();
    assert_eq!(tensors.len(), 1, "{head}");
    let t = tensors[0].1;
    let file_len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(
        t["data_offsets"],
        serde_json::json!([0, file_len - 8 - len]),
        "{head}"
    );
    (
        t["dtype"].as_str().unwrap().to_string(),
        t["shape"].clone(),
        sha256_from(&path, 8 + len),
    )
}

fn assert_whole(out: &Path) {
    let (dtype, shape, sha) = written_tensor(out);
    assert_eq!(dtype, "F32");
    assert_eq!(shape, serde_json::json!([ELEMENTS]));
    assert_eq!(
        sha,
        big().data_sha,
        "{}: tensor bytes differ",
        out.display()
    );
}

fn modelpack(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("modelpack"));
    for a in args {
        cmd.arg(a);
    }
    cmd.env("MODELPACK_CACHE_DIR", shared_cache())
        .env_remove("MODELPACK_PLUGIN_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Entries of `dir` other than `keep`.
fn entries_except(dir: &Path, keep: &[&str]) -> Vec<OsString> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !keep.iter().any(|k| n == *k))
        .collect()
}

fn kill(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we own has no memory-safety preconditions.
    let r = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(r, 0, "kill({}, {sig})", child.id());
}

fn run_ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Duration {
    let t = Instant::now();
    let out = modelpack(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

#[test]
fn sigkill_at_any_moment_leaves_no_output_or_a_whole_one() {
    if !plugins_built() {
        return;
    }
    let input = &big().path;
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    // One whole run first: it warms the compiled-plugin cache and times a conversion.
    let whole = run_ok(&[&"convert", input, &"-o", &out]);
    assert_whole(&out);
    std::fs::remove_dir_all(&out).unwrap();

    let seed = std::env::var("MODELPACK_SIGNAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let kills: u64 = std::env::var("MODELPACK_SIGNAL_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    eprintln!("seed {seed} (MODELPACK_SIGNAL_SEED={seed} replays it); a whole run {whole:?}");
    let mut state = seed | 1;
    let (mut absent, mut complete) = (0, 0);
    for k in 0..kills {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Spread over the whole run, a little past it so some kills find it finished.
        let at = Duration::from_micros(state % (whole.as_micros() as u64 * 11 / 10 + 1));
        let mut child = modelpack(&[&"convert", input, &"-o", &out])
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        kill(&child, libc::SIGKILL);
        child.wait().unwrap();
        let found = out.exists();
        if found {
            assert_whole(&out);
            complete += 1;
            std::fs::remove_dir_all(&out).unwrap();
        } else {
            absent += 1;
        }
        eprintln!(
            "kill {k} after {at:?}: output {}",
            ["absent", "whole"][found as usize]
        );
    }
    eprintln!("{absent} kills left no output, {complete} a whole one");
    // The next run succeeds and sweeps the staging directories of the killed ones.
    run_ok(&[&"convert", input, &"-o", &out]);
    assert_whole(&out);
    let left = entries_except(work.path(), &["out"]);
    assert!(left.is_empty(), "left beside the output: {left:?}");
}

#[test]
fn sigint_while_copying_ends_the_run_with_nothing_left() {
    if !plugins_built() {
        return;
    }
    let input = &big().path;
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("new/out");
    let mut child = modelpack(&[&"convert", input, &"-o", &out])
        .spawn()
        .unwrap();
    // Wait until the staged safetensors file has data in it, then interrupt.
    let t = Instant::now();
    let staged = loop {
        let found = std::fs::read_dir(work.path().join("new"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("model.safetensors"))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 1 << 20));
        if let Some(p) = found {
            break p;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "convert ended before it was interrupted"
        );
        assert!(t.elapsed() < Duration::from_secs(120), "nothing staged");
        std::thread::sleep(Duration::from_micros(500));
    };
    kill(&child, libc::SIGINT);
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    if done.status.success() {
        // The copy finished between the check and the signal: then the output must be whole.
        eprintln!(
            "convert finished before SIGINT arrived ({})",
            staged.display()
        );
        assert_whole(&out);
        return;
    }
    assert_eq!(done.status.signal(), Some(libc::SIGINT), "{stderr}");
    assert!(stderr.contains("partial output removed"), "{stderr}");
    assert!(!out.exists(), "the output exists");
    assert!(!staged.exists(), "the staged file is left");
    let left = entries_except(work.path(), &[]);
    assert!(left.is_empty(), "left: {left:?}");
}

#[test]
fn sync_writes_the_same_bytes() {
    if !plugins_built() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    std::fs::create_dir_all(model.join("tokenizer")).unwrap();
    let n = 3000u64;
    let mut npy = npy_header(n);
    let at = npy.len() as u64;
    npy.extend((0..n * 4).map(|i| (i * 7 % 251) as u8));
    std::fs::write(model.join("weights.npy"), &npy).unwrap();
    std::fs::write(model.join("config.json"), b"{\"model_type\": \"test\"}\n").unwrap();
    std::fs::write(model.join("tokenizer/vocab.txt"), b"a\nb\n").unwrap();
    let plain = work.path().join("plain");
    let synced = work.path().join("synced");
    run_ok(&[&"convert", &model, &"-o", &plain]);
    run_ok(&[&"convert", &"--sync", &model, &"-o", &synced]);
    let (dtype, shape, sha) = written_tensor(&synced);
    assert_eq!((dtype.as_str(), shape), ("F32", serde_json::json!([n])));
    assert_eq!(sha, sha256_from(&model.join("weights.npy"), at));
    for name in ["model.safetensors", "config.json", "tokenizer/vocab.txt"] {
        assert_eq!(
            sha256_from(&plain.join(name), 0),
            sha256_from(&synced.join(name), 0),
            "{name}"
        );
    }
    let left = entries_except(work.path(), &["model", "plain", "synced"]);
    assert!(left.is_empty(), "left: {left:?}");
}
