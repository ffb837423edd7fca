//! `modelfs.diffIds`: one per layer, in layer order.
//!
//! A raw layer's bytes are the file itself, so its diffId is the SHA-256 of the file (what
//! modctl and KitOps write; the spec defines diffIds only for tars). Files are streamed, never
//! loaded whole, on up to as many threads as there are cores. Tar layers are not produced
//! here yet: `pack` owns the tar writer, and the two will share one code path.

use std::io::Read;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::model::{LayerFormat, PlannedFile};

/// Read buffer per hashing thread.
const CHUNK: usize = 1 << 20;

/// `sha256:<hex>` of a file's bytes, streamed.
pub fn sha256_file(path: &std::path::Path) -> Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("{}: read failed", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// The diffIds of the layers holding `files`, one per file, in the order given.
pub fn diff_ids(files: &[PlannedFile], format: LayerFormat) -> Result<Vec<String>> {
    if format != LayerFormat::Raw {
        bail!(
            "diffIds for {} layers: not yet supported (only raw layers)",
            format.as_str()
        );
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, files.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<String>>>> =
        files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let r = sha256_file(&f.abs).with_context(|| f.path.clone());
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every file was hashed")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LayerKind;

    #[test]
    fn raw_diff_ids_are_file_digests() {
        let t = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (name, body) in [("a", &b""[..]), ("b", b"abc")] {
            let abs = t.path().join(name);
            std::fs::write(&abs, body).unwrap();
            files.push(PlannedFile {
                path: name.into(),
                abs,
                kind: LayerKind::Doc,
                size: body.len() as u64,
                mode: 0o644,
                untested: false,
            });
        }
        let ids = diff_ids(&files, LayerFormat::Raw).unwrap();
        assert_eq!(
            ids,
            [
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ]
        );
        let err = diff_ids(&files, LayerFormat::Tar).unwrap_err().to_string();
        assert!(err.contains("not yet supported"), "{err}");
    }
}
