//! `modelpack validate`: ModelPack configs, manifests and OCI image layouts.

pub mod config;
pub mod datetime;
pub mod descriptor;
pub mod layout;
pub mod manifest;
pub mod rules;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Makes the document invalid.
    Error,
    /// Accepted, but worth fixing (legacy media types, …).
    Warning,
}

/// One problem found while validating.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Error or warning.
    pub level: Level,
    /// JSON pointer to the offending value (`""` for the document root).
    pub pointer: String,
    /// The rule that failed: a JSON Schema keyword (`type`, `enum`…) or a modelpack rule id.
    pub keyword: String,
    /// One readable line.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {} ({})", self.message, self.keyword)
    }
}
