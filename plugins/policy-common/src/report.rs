//! One-line constructors for policy findings and the accessors policies use to read the facts.

use crate::{FileFacts, Finding, Location, Severity};

/// A finding with an optional file and config field.
pub fn finding(
    id: &str,
    severity: Severity,
    message: impl Into<String>,
    file: Option<&str>,
    field: Option<&str>,
) -> Finding {
    Finding {
        id: id.to_string(),
        severity,
        message: message.into(),
        location: Location {
            file: file.map(str::to_string),
            field: field.map(str::to_string),
        },
    }
}

/// A finding about a config field (a JSON pointer such as `/descriptor/licenses/0`).
pub fn at_field(id: &str, severity: Severity, message: impl Into<String>, field: &str) -> Finding {
    finding(id, severity, message, None, Some(field))
}

/// A finding about one file of the model.
pub fn at_file(id: &str, severity: Severity, message: impl Into<String>, file: &str) -> Finding {
    finding(id, severity, message, Some(file), None)
}

/// A finding about the model as a whole.
pub fn general(id: &str, severity: Severity, message: impl Into<String>) -> Finding {
    finding(id, severity, message, None, None)
}

/// The files of a given layer kind (`weight`, `weight.config`, `doc`, `code`, `dataset`).
pub fn files_of_kind<'a>(
    files: &'a [FileFacts],
    kind: &'a str,
) -> impl Iterator<Item = &'a FileFacts> + 'a {
    files.iter().filter(move |f| f.kind == kind)
}

/// The severity as the WIT spells it, for messages and tests.
pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_locations() {
        let f = at_field("x", Severity::Error, "m", "/config/format");
        assert_eq!(f.location.field.as_deref(), Some("/config/format"));
        assert!(f.location.file.is_none());
        let f = at_file("y", Severity::Warning, "m", "a.bin");
        assert_eq!(f.location.file.as_deref(), Some("a.bin"));
        assert_eq!(severity_name(f.severity), "warning");
        let f = general("z", Severity::Info, "m");
        assert!(f.location.file.is_none() && f.location.field.is_none());
    }
}
