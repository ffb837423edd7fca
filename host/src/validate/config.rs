//! The ModelPack config: JSON Schema (draft 2020-12, formats asserted) plus, with `strict`,
//! what the spec's prose requires but its schema does not.

use serde_json::Value;

use super::Problem;

/// Validates a ModelPack config; every problem is listed, not only the first.
pub fn validate_config(_config: &Value, _strict: bool) -> Vec<Problem> {
    // Placeholder until the schema lands (issue 5 work in progress).
    Vec::new()
}
