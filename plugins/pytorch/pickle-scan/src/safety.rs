//! Turns the globals and calls a pickle makes into findings, judged against the allowlist.
//!
//! * `unsafe-pickle-global` (error): a GLOBAL / STACK_GLOBAL / INST / EXT names something not on
//!   the allowlist; the message starts `unsafe pickle global <module.name>`.
//! * `unsafe-pickle-call` (error): REDUCE / NEWOBJ / NEWOBJ_EX / OBJ / INST / BUILD would invoke
//!   such a name, or a callable the pickle computed itself.
//!
//! One finding per distinct name per pickle; the location field is the pickle's label (the zip
//! member path, or `pickle@<offset>` in a stream).

use std::collections::{HashMap, HashSet};

use modelpack_plugin_sdk::prelude::*;

use crate::allowlist;
use crate::pickle::{CallUse, GlobalUse};

/// Sorted, de-duplicated names of every global.
pub fn global_names(globals: &[GlobalUse]) -> Vec<String> {
    let mut v: Vec<String> = globals.iter().map(|g| g.name.clone()).collect();
    v.sort();
    v.dedup();
    v
}

/// Sorted, de-duplicated names of the globals outside the allowlist.
pub fn unsafe_names(globals: &[GlobalUse]) -> Vec<String> {
    let mut v = global_names(globals);
    v.retain(|g| !allowlist::is_allowed(g));
    v
}

/// Findings for one pickle's globals and calls.
pub fn findings(globals: &[GlobalUse], calls: &[CallUse], label: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for g in globals {
        if allowlist::is_allowed(&g.name) || !seen.insert(&g.name) {
            continue;
        }
        out.push(finding(
            "unsafe-pickle-global",
            Severity::Error,
            format!(
                "unsafe pickle global {} ({} at offset {} of {label}); loading this file with \
                 pickle/torch.load can import and run it",
                g.name, g.opcode, g.offset
            ),
            Some(label.to_string()),
        ));
    }
    // Group calls by callable, keeping the opcodes used and the first offset.
    let mut by_callable: Vec<(Option<&str>, Vec<&str>, usize)> = Vec::new();
    let mut slot: HashMap<Option<&str>, usize> = HashMap::new();
    for c in calls {
        let name = c.callable.as_deref();
        if name.is_some_and(allowlist::is_allowed) {
            continue;
        }
        match slot.get(&name) {
            Some(&i) => {
                let ops = &mut by_callable[i].1;
                if !ops.contains(&c.opcode) {
                    ops.push(c.opcode);
                }
            }
            None => {
                slot.insert(name, by_callable.len());
                by_callable.push((name, vec![c.opcode], c.offset));
            }
        }
    }
    for (name, ops, offset) in by_callable {
        let what = match name {
            Some(n) => n.to_string(),
            None => "a callable computed by the pickle".to_string(),
        };
        out.push(finding(
            "unsafe-pickle-call",
            Severity::Error,
            format!(
                "pickle calls {what} via {} (first at offset {offset} of {label})",
                ops.join(", ")
            ),
            Some(label.to_string()),
        ));
    }
    out
}

/// True when any finding reports an unsafe global or call.
pub fn has_unsafe(findings: &[Finding]) -> bool {
    findings
        .iter()
        .any(|f| f.id == "unsafe-pickle-global" || f.id == "unsafe-pickle-call")
}
