//! Convention plugin `convention-hf-cache`: the Hugging Face hub cache
//! (`~/.cache/huggingface/hub`), which keeps each repo as
//! `models--<org>--<name>/{blobs/<sha>, refs/<branch>, snapshots/<rev>/<files → ../../blobs/…>}`.
//!
//! Packing the repo folder as a plain directory would pack the weights twice (the blob and the
//! snapshot link), the hash-named blobs as `code` layers and `refs/main` as a file. So this
//! plugin answers the host's *locate* call (it claims the directories `snapshots/` and
//! `models--*/`):
//! * the root is a repo folder → the model lives in the snapshot `refs/main` names (or the
//!   only snapshot when there is no `refs/main`); an error when neither decides;
//! * the root is a snapshot (`models--org--name/snapshots/<rev>`) → no move;
//! * the root is the repo folder's `blobs/`, `refs/` or `snapshots/` → an error naming the repo
//!   folder to pack instead;
//!
//! and in the first two cases offers `descriptor.revision` (the snapshot's commit), the repo's
//! hub URL as `descriptor.sourceURL` and, as a heuristic, the repo's name as
//! `descriptor.name` (a snapshot directory is named by a hash).

use modelpack_plugin_sdk::convention::*;
use serde_json::json;

/// The plugin.
pub struct HfCache;

impl ConventionPlugin for HfCache {
    const INFO: &'static str = r#"{"name":"convention-hf-cache","version":"0.1.0","description":"Hugging Face hub cache: a repo folder (models--org--name) is packed as the snapshot refs/main names, with revision and source URL","file_names":["snapshots/","models--*/"]}"#;

    fn run(files: &dyn Files, input: &ConventionInput) -> Result<ConventionReport, String> {
        let mut out = empty_report();
        if input.locate {
            locate(files, input, &mut out);
        }
        Ok(out)
    }
}

modelpack_plugin_sdk::export_convention_plugin!(HfCache);

/// `models--org--name` → `org/name`.
pub fn repo_id(folder: &str) -> Option<String> {
    let rest = folder.strip_prefix("models--")?;
    if rest.is_empty() {
        return None;
    }
    Some(rest.split("--").collect::<Vec<_>>().join("/"))
}

/// A revision as `refs/<branch>` may hold it: a commit hash or a tag-like name.
fn is_revision(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn error(out: &mut ConventionReport, text: String) {
    out.findings
        .push(message(Severity::Error, "hf-cache-layout", None, text));
}

/// The answer to the locate call.
pub fn locate(files: &dyn Files, input: &ConventionInput, out: &mut ConventionReport) {
    let names = &input.root_names;
    let last = |i: usize| names.len().checked_sub(i + 1).map(|k| names[k].as_str());
    let has_dir = |p: &str| {
        input
            .entries
            .iter()
            .any(|e| e.path == p && matches!(e.kind, EntryKind::Dir))
    };
    // The repo folder itself.
    if let Some(id) = last(0).and_then(repo_id)
        && has_dir("snapshots")
    {
        let snapshots: Vec<&str> = input
            .entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Dir))
            .filter_map(|e| e.path.strip_prefix("snapshots/"))
            .filter(|r| !r.contains('/'))
            .collect();
        let has_ref = input.entries.iter().any(|e| e.path == "refs/main");
        let rev = if has_ref {
            let text = match read_text(files, "refs/main") {
                Ok(t) => t,
                Err(e) => return error(out, format!("refs/main: {e}")),
            };
            let rev = text.trim();
            if !is_revision(rev) {
                return error(
                    out,
                    format!(
                        "refs/main holds {:?}, not a revision",
                        rev.chars().take(80).collect::<String>()
                    ),
                );
            }
            if !snapshots.contains(&rev) {
                return error(
                    out,
                    format!(
                        "refs/main names revision {rev}, but snapshots/{rev} is not in the cache \
                         (download it with `huggingface-cli download {id}`)"
                    ),
                );
            }
            out.findings.push(message(
                Severity::Info,
                "hf-cache",
                Some("refs/main"),
                format!("Hugging Face cache repo {id}: refs/main names snapshot {rev}"),
            ));
            rev.to_string()
        } else {
            match snapshots.as_slice() {
                [one] => one.to_string(),
                [] => return error(out, "a Hugging Face cache repo without snapshots".into()),
                many => {
                    return error(
                        out,
                        format!(
                            "no refs/main and {} snapshots ({}); pack one of its snapshots/<rev>",
                            many.len(),
                            many.join(", ")
                        ),
                    );
                }
            }
        };
        out.model_root = Some(format!("snapshots/{rev}"));
        facts(&id, &rev, out);
        return;
    }
    // Inside a repo folder.
    if let Some(folder) = last(1).filter(|f| repo_id(f).is_some()) {
        let name = last(0).unwrap_or("");
        if matches!(name, "blobs" | "refs" | "snapshots") {
            error(
                out,
                format!(
                    "this is the Hugging Face cache's {name}/ folder; pack the repo folder \
                     {folder} (or one of its snapshots) instead"
                ),
            );
        }
        return;
    }
    // A snapshot.
    if last(1) == Some("snapshots")
        && let Some(id) = last(2).and_then(repo_id)
        && let Some(rev) = last(0)
    {
        facts(&id, rev, out);
    }
}

/// What the layout states about a snapshot.
fn facts(id: &str, rev: &str, out: &mut ConventionReport) {
    let from = |key: &str| Origin {
        file: None,
        key: Some(key.to_string()),
    };
    out.candidates.push(candidate(
        "/descriptor/revision",
        json!(rev),
        SourceClass::ConventionFiles,
        from(&format!("Hugging Face cache snapshots/{rev}")),
        None,
    ));
    out.candidates.push(candidate(
        "/descriptor/sourceURL",
        json!(format!("https://huggingface.co/{id}")),
        SourceClass::ConventionFiles,
        from(&format!("Hugging Face cache repo {id}")),
        None,
    ));
    let name = id.rsplit('/').next().unwrap_or(id);
    out.candidates.push(candidate(
        "/descriptor/name",
        json!(name),
        SourceClass::Heuristic,
        from(&format!("Hugging Face cache repo {id}")),
        None,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    const REV: &str = "abc123";

    fn dir(p: &str) -> DirEntry {
        DirEntry {
            path: p.into(),
            kind: EntryKind::Dir,
            size: 0,
        }
    }

    fn call(names: &[&str], files: &[(&str, &str)], dirs: &[&str]) -> ConventionReport {
        let files = MemFiles::new(files.iter().copied());
        let mut entries = files.entries();
        entries.extend(dirs.iter().map(|d| dir(d)));
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let input = ConventionInput {
            root_names: names.iter().map(|s| s.to_string()).collect(),
            locate: true,
            entries,
            weights: vec![],
            missing: vec![],
        };
        HfCache::run(&files, &input).unwrap()
    }

    fn value<'a>(r: &'a ConventionReport, field: &str) -> Option<&'a str> {
        r.candidates
            .iter()
            .find(|c| c.field == field)
            .map(|c| c.value.as_str())
    }

    fn errors(r: &ConventionReport) -> Vec<&str> {
        r.findings
            .iter()
            .filter(|f| matches!(f.severity, Severity::Error))
            .map(|f| f.message.as_str())
            .collect()
    }

    #[test]
    fn repo_folder_moves_to_the_snapshot_refs_main_names() {
        let r = call(
            &["hub", "models--org--tiny-model"],
            &[
                ("refs/main", "abc123\n"),
                ("snapshots/abc123/config.json", "{}"),
            ],
            &[
                "blobs",
                "refs",
                "snapshots",
                "snapshots/abc123",
                "snapshots/old999",
            ],
        );
        assert_eq!(r.model_root.as_deref(), Some("snapshots/abc123"));
        assert_eq!(value(&r, "/descriptor/revision"), Some(r#""abc123""#));
        assert_eq!(
            value(&r, "/descriptor/sourceURL"),
            Some(r#""https://huggingface.co/org/tiny-model""#)
        );
        assert_eq!(value(&r, "/descriptor/name"), Some(r#""tiny-model""#));
        assert!(errors(&r).is_empty());
        assert_eq!(
            r.findings[0].message,
            "Hugging Face cache repo org/tiny-model: refs/main names snapshot abc123"
        );
    }

    #[test]
    fn without_refs_main_only_a_single_snapshot_decides() {
        let r = call(&["models--gpt2"], &[], &["snapshots", "snapshots/abc123"]);
        assert_eq!(r.model_root.as_deref(), Some("snapshots/abc123"));
        assert_eq!(
            value(&r, "/descriptor/sourceURL"),
            Some(r#""https://huggingface.co/gpt2""#)
        );
        let r = call(
            &["models--gpt2"],
            &[],
            &["snapshots", "snapshots/abc123", "snapshots/def456"],
        );
        assert_eq!(r.model_root, None);
        assert_eq!(
            errors(&r),
            ["no refs/main and 2 snapshots (abc123, def456); pack one of its snapshots/<rev>"]
        );
    }

    #[test]
    fn dangling_or_bad_refs_are_errors() {
        let r = call(
            &["models--org--m"],
            &[("refs/main", "fff000")],
            &["snapshots", "snapshots/abc123"],
        );
        assert_eq!(
            errors(&r),
            [
                "refs/main names revision fff000, but snapshots/fff000 is not in the cache \
              (download it with `huggingface-cli download org/m`)"
            ]
        );
        let r = call(
            &["models--org--m"],
            &[("refs/main", "../../etc")],
            &["snapshots", "snapshots/abc123"],
        );
        assert_eq!(
            errors(&r),
            [r#"refs/main holds "../../etc", not a revision"#]
        );
        assert_eq!(r.model_root, None);
    }

    #[test]
    fn snapshot_gives_facts_and_internals_are_refused() {
        let r = call(
            &["models--org--m", "snapshots", REV],
            &[("config.json", "{}")],
            &[],
        );
        assert_eq!(r.model_root, None);
        assert_eq!(value(&r, "/descriptor/revision"), Some(r#""abc123""#));
        let r = call(&["models--org--m", "blobs"], &[("aaa", "x")], &[]);
        assert_eq!(
            errors(&r),
            [
                "this is the Hugging Face cache's blobs/ folder; pack the repo folder \
              models--org--m (or one of its snapshots) instead"
            ]
        );
        // Not a cache: no answer.
        let r = call(&["work", "snapshots"], &[("a.txt", "x")], &["snapshots"]);
        assert!(r.candidates.is_empty() && r.findings.is_empty() && r.model_root.is_none());
        // Only the locate call is answered.
        let files = MemFiles::new([("refs/main", REV)]);
        let input = ConventionInput {
            root_names: vec!["models--org--m".into()],
            locate: false,
            entries: files.entries(),
            weights: vec![],
            missing: vec![],
        };
        let r = HfCache::run(&files, &input).unwrap();
        assert!(r.candidates.is_empty() && r.model_root.is_none());
    }
}
