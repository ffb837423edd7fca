//! A policy's settings: the JSON object the host passes (`{}` when the policy config file names
//! none). Policies deserialize it into a struct with `#[serde(deny_unknown_fields)]`, so a typo
//! such as `max_paramters` is an error instead of a rule that silently never fires.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::Severity;

/// Parses settings JSON into `T`; errors start with `invalid settings:` and say what was wrong.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, String> {
    // The host sends `{}` for "no settings", but be lenient with an empty string or `null`.
    let json = match json.trim() {
        "" | "null" => "{}",
        s => s,
    };
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("invalid settings: {e}"))?;
    // Structs also deserialize from arrays; settings are a mapping, so say so plainly.
    if !v.is_object() {
        return Err(format!(
            "invalid settings: expected a mapping of setting names to values, found {}",
            crate::json::kind(&v)
        ));
    }
    serde_json::from_value(v).map_err(|e| format!("invalid settings: {e}"))
}

/// What to do about a condition: report it as an error or a warning, or ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Report an error finding.
    Error,
    /// Report a warning finding.
    Warning,
    /// Report nothing.
    Ignore,
}

impl Action {
    /// The finding severity for this action, or `None` for `ignore`.
    pub fn severity(self) -> Option<Severity> {
        match self {
            Action::Error => Some(Severity::Error),
            Action::Warning => Some(Severity::Warning),
            Action::Ignore => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct S {
        #[serde(default)]
        on: Option<Action>,
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(parse::<S>("{}"), Ok(S { on: None }));
        assert_eq!(parse::<S>(""), Ok(S { on: None }));
        assert_eq!(parse::<S>("null"), Ok(S { on: None }));
        assert_eq!(
            parse::<S>(r#"{"on":"warning"}"#),
            Ok(S {
                on: Some(Action::Warning)
            })
        );
        let e = parse::<S>(r#"{"onn":"warning"}"#).unwrap_err();
        assert!(
            e.starts_with("invalid settings: unknown field `onn`"),
            "{e}"
        );
        let e = parse::<S>(r#"{"on":"fatal"}"#).unwrap_err();
        assert!(e.contains("unknown variant `fatal`"), "{e}");
        assert!(parse::<S>("[]").is_err());
    }

    #[test]
    fn severities() {
        assert!(matches!(Action::Error.severity(), Some(Severity::Error)));
        assert!(matches!(
            Action::Warning.severity(),
            Some(Severity::Warning)
        ));
        assert!(Action::Ignore.severity().is_none());
    }
}
