//! The ModelPack config as JSON: parsing the host's strings, JSON-pointer look-ups, and the
//! "missing or empty" test the policies share.

use serde_json::Value;

/// Parses one of the JSON strings of the policy input; `what` names it in the error.
pub fn parse(what: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} is not valid JSON: {e}"))
}

/// Parses the ModelPack config of the policy input; it must be a JSON object.
pub fn config(text: &str) -> Result<Value, String> {
    let v = parse("the ModelPack config", text)?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(format!(
            "the ModelPack config is {}, not a JSON object",
            kind(&v)
        ))
    }
}

/// The value at a JSON pointer (`/descriptor/licenses/0`); `""` is the whole document.
pub fn lookup<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    doc.pointer(pointer)
}

/// Whether a value counts as absent: missing, `null`, a blank string, or an empty array/object.
pub fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

/// The string at a pointer, if it is a non-blank string.
pub fn string_at<'a>(doc: &'a Value, pointer: &str) -> Option<&'a str> {
    lookup(doc, pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// A JSON value's kind with an article, for messages: `a string`, `an array`, `null`.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks that a string is a JSON pointer (empty, or `/`-prefixed with valid `~` escapes).
pub fn check_pointer(p: &str) -> Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!(
            "{p:?} is not a JSON pointer (it must start with '/')"
        ));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "{p:?} is not a JSON pointer ('~' must be followed by 0 or 1)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_and_emptiness() {
        let doc = json!({"descriptor": {"name": "m", "licenses": [], "title": " "},
                         "config": {"paramSize": "7B", "a/b": 1, "n": null}});
        assert_eq!(string_at(&doc, "/descriptor/name"), Some("m"));
        assert!(is_empty(lookup(&doc, "/descriptor/licenses")));
        assert!(is_empty(lookup(&doc, "/descriptor/title")));
        assert!(is_empty(lookup(&doc, "/descriptor/missing")));
        assert!(is_empty(lookup(&doc, "/config/n")));
        assert!(!is_empty(lookup(&doc, "/config/paramSize")));
        assert_eq!(lookup(&doc, "/config/a~1b"), Some(&json!(1)));
        assert!(!is_empty(Some(&json!(0))));
        assert!(!is_empty(Some(&json!(false))));
    }

    #[test]
    fn parsing() {
        assert!(config("{}").is_ok());
        assert_eq!(
            config("[1]").unwrap_err(),
            "the ModelPack config is an array, not a JSON object"
        );
        assert!(
            config("{")
                .unwrap_err()
                .starts_with("the ModelPack config is not valid JSON")
        );
    }

    #[test]
    fn pointer_syntax() {
        assert!(check_pointer("/descriptor/name").is_ok());
        assert!(check_pointer("").is_ok());
        assert!(check_pointer("/a~0b~1c").is_ok());
        assert!(check_pointer("descriptor/name").is_err());
        assert!(check_pointer("/a~2").is_err());
        assert!(check_pointer("/a~").is_err());
    }
}
