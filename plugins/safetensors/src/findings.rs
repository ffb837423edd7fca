//! Collecting findings with a cap per id, so a badly broken index cannot flood the report.

use std::collections::HashMap;

use modelpack_plugin_sdk::prelude::*;

/// At most this many findings of one id are kept; the rest are counted.
pub const MAX_PER_ID: usize = 50;

/// Findings in the order they were made, capped per id.
#[derive(Default)]
pub struct Findings {
    list: Vec<Finding>,
    counts: HashMap<String, usize>,
}

impl Findings {
    /// Records a finding about `file` (and optionally a tensor name in `field`).
    pub fn push(
        &mut self,
        id: &str,
        severity: Severity,
        message: String,
        file: Option<String>,
        field: Option<String>,
    ) {
        let n = self.counts.entry(id.to_string()).or_default();
        *n += 1;
        if *n <= MAX_PER_ID {
            let mut f = finding(id, severity, message, field);
            f.location.file = file;
            self.list.push(f);
        }
    }

    /// Adds an already-built finding (e.g. from the SDK's LFS report), setting its file.
    pub fn push_finding(&mut self, mut f: Finding, file: Option<String>) {
        let n = self.counts.entry(f.id.clone()).or_default();
        *n += 1;
        if *n <= MAX_PER_ID {
            if f.location.file.is_none() {
                f.location.file = file;
            }
            self.list.push(f);
        }
    }

    /// Number of findings recorded with `id`, including those over the cap.
    pub fn count(&self, id: &str) -> usize {
        self.counts.get(id).copied().unwrap_or(0)
    }

    /// The kept findings plus one `findings-truncated` note per id that went over the cap.
    pub fn finish(mut self) -> Vec<Finding> {
        let mut over: Vec<(String, usize)> = self
            .counts
            .into_iter()
            .filter(|(_, n)| *n > MAX_PER_ID)
            .collect();
        over.sort();
        for (id, n) in over {
            self.list.push(finding(
                "findings-truncated",
                Severity::Info,
                format!(
                    "{} more `{id}` findings not listed ({n} in all)",
                    n - MAX_PER_ID
                ),
                None,
            ));
        }
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_id() {
        let mut f = Findings::default();
        for i in 0..MAX_PER_ID + 3 {
            f.push("x", Severity::Error, format!("{i}"), None, None);
        }
        f.push("y", Severity::Warning, "y".into(), Some("a".into()), None);
        assert_eq!(f.count("x"), MAX_PER_ID + 3);
        let list = f.finish();
        assert_eq!(list.len(), MAX_PER_ID + 2);
        let last = list.last().unwrap();
        assert_eq!(last.id, "findings-truncated");
        assert!(
            last.message.contains("3 more `x` findings"),
            "{}",
            last.message
        );
    }
}
