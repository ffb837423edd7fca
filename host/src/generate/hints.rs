//! The convention plugins' file-kind hints, applied over the host's own classification.
//!
//! The host's rules ([`super::classify`]) know file formats, not conventions; a convention
//! plugin knows that `tokenizer.json` configures the weights or that `training_args.bin` is a
//! Trainer's arguments, and says so with a hint. What a hint may replace:
//!
//! - a name rule's verdict ([`Hintable::Name`]), unless an exact host rule decided (a README
//!   stays a doc whatever a plugin says);
//! - a format plugin's claim of a file in which it found no tensors
//!   ([`Hintable::NoTensors`]), or could not read ([`Hintable::Unreadable`]), when the hint
//!   says the file is *not* a weight: the convention explains why the plugin found nothing.
//!   Such a file then feeds no weight facts and gives no "could not be read" warning.
//!
//! A weight a format plugin read, and a file a weight report covers, are never re-hinted.

use std::collections::{BTreeMap, BTreeSet};

use super::FileClass;
use super::conventions::ConventionFacts;
use crate::inspect::FileReport;
use crate::model::{LayerKind, PlannedFile};

/// What decided a file before the hints, when a hint may replace it.
#[derive(Debug, Clone)]
pub enum Hintable {
    /// A name rule that is not an exact one (rules 4 and 5 of [`super::classify`]).
    Name,
    /// This format plugin read the file and found no tensors in it.
    NoTensors {
        /// `name@version`.
        plugin: String,
    },
    /// This format plugin claimed the file and could not read it.
    Unreadable {
        /// `name@version`.
        plugin: String,
        /// The warning this gave (one line, in `generate`'s unreadable list).
        error: String,
    },
}

/// What the hints took away from the format plugins, so that the caller forgets it.
#[derive(Debug, Default)]
pub struct Replaced {
    /// Paths of claimed files a hint re-kinded or left out.
    pub paths: BTreeSet<String>,
    /// Their "could not be read" warnings.
    pub errors: Vec<String>,
}

/// Applies every hint the rules above allow to `files` and `classes`.
pub fn apply(
    conv: &ConventionFacts,
    hintable: &BTreeMap<String, Hintable>,
    files: &mut Vec<PlannedFile>,
    classes: &mut [FileClass],
) -> Replaced {
    let mut replaced = Replaced::default();
    for (path, hint) in &conv.hints {
        let Some(how) = hintable.get(path) else {
            continue;
        };
        let rule = match how {
            Hintable::Name => hint.reason.clone(),
            // A format plugin's verdict stands unless the convention says it is no weight.
            _ if hint.kind == Some(LayerKind::Weight) => continue,
            Hintable::NoTensors { plugin } => {
                replaced.paths.insert(path.clone());
                format!("{}; {plugin} found no tensors in it", hint.reason)
            }
            Hintable::Unreadable { plugin, error } => {
                replaced.paths.insert(path.clone());
                replaced.errors.push(error.clone());
                format!("{}; {plugin} could not read it", hint.reason)
            }
        };
        match hint.kind {
            Some(kind) => {
                for f in files.iter_mut().filter(|f| &f.path == path) {
                    f.kind = kind;
                    f.untested = false;
                }
                for c in classes.iter_mut().filter(|c| &c.path == path) {
                    c.kind = kind.as_str().to_string();
                    c.untested = false;
                    c.rule = rule.clone();
                }
            }
            None => {
                files.retain(|f| &f.path != path);
                for c in classes.iter_mut().filter(|c| &c.path == path) {
                    c.kind = "ignored".into();
                    c.untested = false;
                    c.rule = rule.clone();
                }
            }
        }
    }
    replaced
}

impl Replaced {
    /// Drops what the replaced claims contributed: weight facts, unreadable warnings and the
    /// failed reads policies are told about.
    pub fn forget(
        &self,
        read: &mut Vec<(String, &FileReport)>,
        unreadable: &mut Vec<String>,
        failed: &mut Vec<&FileReport>,
    ) {
        if self.paths.is_empty() {
            return;
        }
        read.retain(|(rel, _)| !self.paths.contains(rel));
        failed.retain(|r| !self.paths.contains(&r.path));
        for e in &self.errors {
            if let Some(i) = unreadable.iter().position(|u| u == e) {
                unreadable.remove(i);
            }
        }
    }
}
