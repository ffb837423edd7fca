//! Split (multi-file) GGUF models: `<prefix>-00001-of-00003.gguf` and its siblings.
//!
//! Each part is a complete GGUF file whose metadata carries `split.no` (0-based),
//! `split.count` and `split.tensors.count` (tensors in all parts). When the host hands over
//! only the first part, its siblings are opened by name so the report covers the whole model.

use crate::header::{self, Header};
use modelpack_plugin_sdk::prelude::*;

/// Most parts opened on our own; real splits have tens, a forged count could ask for 65 535.
const MAX_PARTS: u64 = 1024;

/// A parsed part of a model: its file name and header.
pub struct Part {
    /// File name as the source reports it.
    pub name: String,
    /// The part's header.
    pub header: Header,
}

/// Parses one part; `named` prefixes errors with the file name, for parts other than the
/// one the user named (the host already prints that one's path).
pub fn parse_part(src: &dyn Source, named: bool) -> Result<Part, Error> {
    let name = src.name();
    match header::parse(src) {
        Ok(header) => Ok(Part { name, header }),
        Err(e) if !named => Err(e),
        Err(e) => Err(match e {
            Error::Io(m) => Error::Io(format!("{name}: {m}")),
            Error::Malformed(m) => Error::Malformed(format!("{name}: {m}")),
            Error::Unsupported(m) => Error::Unsupported(format!("{name}: {m}")),
            Error::TooLarge(m) => Error::TooLarge(format!("{name}: {m}")),
        }),
    }
}

/// What a header says about the split it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitInfo {
    /// 0-based part number (`split.no`).
    pub no: u64,
    /// Number of parts (`split.count`).
    pub count: u64,
    /// Tensors in all parts together (`split.tensors.count`).
    pub tensors: Option<u64>,
}

/// The split keys of a header, when it has `split.count`.
pub fn info(h: &Header) -> Option<SplitInfo> {
    Some(SplitInfo {
        no: h.uint("split.no").unwrap_or(0),
        count: h.uint("split.count")?,
        tensors: h.uint("split.tensors.count"),
    })
}

/// Names of all parts of a split whose first part is `name` (llama.cpp's
/// `%s-%05d-of-%05d.gguf`), or `None` when the name does not follow that pattern.
pub fn part_names(name: &str, count: u64) -> Option<Vec<String>> {
    let file = name.rsplit('/').next()?;
    let stem = file.strip_suffix(".gguf")?;
    let (front, total) = stem.rsplit_once("-of-")?;
    let (prefix, no) = front.rsplit_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(no) || !digits(total) || total.parse::<u64>().ok()? != count {
        return None;
    }
    let width = no.len();
    Some(
        (1..=count)
            .map(|i| format!("{prefix}-{i:0width$}-of-{total}.gguf"))
            .collect(),
    )
}

/// Opens and parses the other parts of the split `parts[0]` starts, appending them to
/// `parts`; missing parts become a finding. Does nothing unless `parts[0]` is part 1 of
/// several and named like one.
pub fn open_siblings(
    first: &dyn Source,
    parts: &mut Vec<Part>,
    findings: &mut Vec<Finding>,
) -> Result<(), Error> {
    let Some(lead) = parts.first() else {
        return Ok(());
    };
    let Some(split) = info(&lead.header) else {
        return Ok(());
    };
    if split.no != 0 || split.count < 2 || split.count > MAX_PARTS {
        return Ok(());
    }
    let Some(names) = part_names(&lead.name, split.count) else {
        return Ok(());
    };
    let mut missing = Vec::new();
    for name in names.iter().skip(1) {
        match first.open_related(name) {
            Ok(src) => parts.push(parse_part(src.as_ref(), true)?),
            Err(e) => missing.push(format!("{name} ({e})")),
        }
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(4).map(String::as_str).collect();
        let more = missing.len().saturating_sub(shown.len());
        findings.push(finding(
            "split-part-missing",
            Severity::Warning,
            format!(
                "{} of {} parts of the split model could not be opened: {}{}",
                missing.len(),
                split.count,
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
            None,
        ));
    }
    Ok(())
}

/// Findings about the split as a whole: one `split-file` per part, and a tensor-count
/// check once every part is present.
pub fn findings(parts: &[Part], located: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut expected = None;
    let mut count = None;
    for p in parts {
        let Some(s) = info(&p.header) else { continue };
        let mut f = finding(
            "split-file",
            Severity::Info,
            format!(
                "{} is part {} of {} of a split GGUF model",
                p.name,
                s.no.saturating_add(1),
                s.count
            ),
            None,
        );
        if located {
            f.location.file = Some(p.name.clone());
        }
        out.push(f);
        total = total.saturating_add(p.header.tensors.len() as u64);
        expected = expected.or(s.tensors);
        count = count.or(Some(s.count));
    }
    if let (Some(want), Some(n)) = (expected, count)
        && parts.len() as u64 == n
        && n > 1
        && total != want
    {
        out.push(finding(
            "split-tensor-count-mismatch",
            Severity::Warning,
            format!("the {n} parts hold {total} tensors but split.tensors.count says {want}"),
            None,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_llama_cpp_pattern() {
        let n = part_names("Qwen-7B-Q4_K_M-00001-of-00003.gguf", 3).unwrap();
        assert_eq!(
            n,
            [
                "Qwen-7B-Q4_K_M-00001-of-00003.gguf",
                "Qwen-7B-Q4_K_M-00002-of-00003.gguf",
                "Qwen-7B-Q4_K_M-00003-of-00003.gguf"
            ]
        );
        assert!(part_names("model-00001-of-00003.gguf", 4).is_none());
        assert!(part_names("model.gguf", 1).is_none());
        assert!(part_names("model-x-of-00002.gguf", 2).is_none());
    }
}
