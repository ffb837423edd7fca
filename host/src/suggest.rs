//! "Did you mean …?" for names the user typed: config fields, policy settings, commands.
//! Jaro-Winkler from strsim (already in the graph through clap), with clap's own threshold.

/// The closest of `known` to `typed`, when it is close enough to be a likely typo.
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typed_l = typed.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(&typed_l, &k.to_ascii_lowercase()), k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// `; did you mean `x`?` or nothing.
pub fn hint<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    closest(typed, known)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_and_ignores_strangers() {
        let known = ["max_parameters", "max_total_bytes", "max_file_bytes"];
        assert_eq!(closest("max_paramters", known), Some("max_parameters"));
        assert_eq!(closest("zzz", known), None);
        assert_eq!(
            hint(
                "descriptor.verison",
                ["descriptor.version", "descriptor.vendor"]
            ),
            "; did you mean `descriptor.version`?"
        );
    }
}
