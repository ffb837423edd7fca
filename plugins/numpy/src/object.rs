//! Object arrays (`|O` anywhere in the dtype): their payload is a pickle that
//! `np.load(allow_pickle=True)` would run. It is flagged, and when small enough walked with the
//! `pickle-scan` pickle reader shared with the pytorch plugin (never executed) so unsafe globals are reported too.

use modelpack_plugin_sdk::prelude::*;
use pickle_scan::pickle::{self, GlobalUse};
use pickle_scan::safety;

/// Largest object payload walked.
pub const MAX_OBJECT_PICKLE: u64 = 16 << 20;

/// Findings for one object array. `payload` is `None` when it was too large to read.
pub fn scan(name: &str, payload: Option<&[u8]>, globals: &mut Vec<GlobalUse>) -> Vec<Finding> {
    let mut out = vec![finding(
        "object-array",
        Severity::Error,
        format!(
            "array {name} has dtype object: its payload is a pickle and would be executed by np.load(allow_pickle=True)"
        ),
        Some(name.to_string()),
    )];
    let Some(payload) = payload else {
        out.push(finding(
            "object-array-not-scanned",
            Severity::Warning,
            format!(
                "array {name}: object payload larger than {MAX_OBJECT_PICKLE} bytes was not scanned"
            ),
            Some(name.to_string()),
        ));
        return out;
    };
    match pickle::run(payload, pickle::Limits::default()) {
        Ok(s) => {
            out.extend(safety::findings(&s.globals, &s.calls, name));
            globals.extend(s.globals);
        }
        Err(f) => {
            out.extend(safety::findings(&f.partial.globals, &f.partial.calls, name));
            globals.extend(f.partial.globals);
            out.push(finding(
                "object-array-payload-unreadable",
                Severity::Warning,
                format!(
                    "array {name}: object payload is not a readable pickle: {}",
                    f.error
                ),
                Some(name.to_string()),
            ));
        }
    }
    out
}
