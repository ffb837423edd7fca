//! Embeds the git commit the binary is built from in `--version` (`MODELPACK_GIT_COMMIT`):
//! `git rev-parse --short HEAD`, `-dirty` when the work tree has changes; `unknown commit`
//! when there is no git or no repository (a source tarball), so the build never fails on it.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = std::env::var("MODELPACK_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let hash = git(&["rev-parse", "--short=12", "HEAD"]).filter(|h| !h.is_empty())?;
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            Some(if dirty { format!("{hash}-dirty") } else { hash })
        })
        .map(|c| format!("commit {c}"))
        .unwrap_or_else(|| "unknown commit".to_string());
    println!("cargo:rustc-env=MODELPACK_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=MODELPACK_GIT_COMMIT");
    // Rebuild when HEAD moves (a commit, a checkout); the paths are relative to host/.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = std::path::Path::new(&dir);
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        let common = git(&["rev-parse", "--git-common-dir"]).unwrap_or_default();
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let r = std::path::Path::new(&common).join(r);
            println!("cargo:rerun-if-changed={}", r.display());
        }
    }
}
