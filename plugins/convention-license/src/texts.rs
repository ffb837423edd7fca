//! Licence texts: the common licences recognised from the text of `LICENSE`/`COPYING` files
//! as SPDX ids.
//!
//! Hand-written phrase rules instead of a licence scanner (askalono, scancode): a scanner's
//! corpus is megabytes and matches fragments; here only full, well-known texts count, each
//! rule names the phrase that gave it away (shown by `--explain`), and the set covers what
//! model repositories ship (Apache, MIT, BSD, GPL family, MPL, Creative Commons, Llama and
//! Gemma terms).

/// Recognises a licence from the text of a LICENSE file: the SPDX id and what gave it away.
/// Only full, well-known texts are recognised; a GPL text alone does not say "or later", so
/// it is reported as `-only`.
pub fn recognize(text: &str) -> Option<(&'static str, &'static str)> {
    let t: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let has = |s: &str| t.contains(s);
    let rules: &[(bool, &str, &str)] = &[
        (
            has("apache license") && has("version 2.0"),
            "Apache-2.0",
            "\"Apache License, Version 2.0\"",
        ),
        (
            has("gnu affero general public license") && has("version 3"),
            "AGPL-3.0-only",
            "\"GNU Affero General Public License, Version 3\"",
        ),
        (
            has("gnu lesser general public license") && has("version 3"),
            "LGPL-3.0-only",
            "\"GNU Lesser General Public License, Version 3\"",
        ),
        (
            has("gnu lesser general public license") && has("version 2.1"),
            "LGPL-2.1-only",
            "\"GNU Lesser General Public License, Version 2.1\"",
        ),
        (
            has("gnu general public license") && has("version 3"),
            "GPL-3.0-only",
            "\"GNU General Public License, Version 3\"",
        ),
        (
            has("gnu general public license") && has("version 2"),
            "GPL-2.0-only",
            "\"GNU General Public License, Version 2\"",
        ),
        (
            has("mozilla public license") && has("version 2.0"),
            "MPL-2.0",
            "\"Mozilla Public License Version 2.0\"",
        ),
        (
            has("llama 2 community license agreement"),
            "LicenseRef-llama2",
            "\"LLAMA 2 COMMUNITY LICENSE AGREEMENT\"",
        ),
        (
            has("llama 3.1 community license agreement"),
            "LicenseRef-llama3.1",
            "\"Llama 3.1 Community License Agreement\"",
        ),
        (
            has("llama 3.2 community license agreement"),
            "LicenseRef-llama3.2",
            "\"Llama 3.2 Community License Agreement\"",
        ),
        (
            has("llama 3.3 community license agreement"),
            "LicenseRef-llama3.3",
            "\"Llama 3.3 Community License Agreement\"",
        ),
        (
            has("meta llama 3 community license agreement"),
            "LicenseRef-llama3",
            "\"META LLAMA 3 COMMUNITY LICENSE AGREEMENT\"",
        ),
        (
            has("gemma terms of use"),
            "LicenseRef-gemma",
            "\"Gemma Terms of Use\"",
        ),
        (
            has("attribution-noncommercial-sharealike 4.0 international"),
            "CC-BY-NC-SA-4.0",
            "\"Attribution-NonCommercial-ShareAlike 4.0 International\"",
        ),
        (
            has("attribution-noncommercial 4.0 international"),
            "CC-BY-NC-4.0",
            "\"Attribution-NonCommercial 4.0 International\"",
        ),
        (
            has("attribution-sharealike 4.0 international"),
            "CC-BY-SA-4.0",
            "\"Attribution-ShareAlike 4.0 International\"",
        ),
        (
            has("creative commons attribution 4.0 international")
                || has("attribution 4.0 international public license"),
            "CC-BY-4.0",
            "\"Creative Commons Attribution 4.0 International\"",
        ),
        (has("cc0 1.0 universal"), "CC0-1.0", "\"CC0 1.0 Universal\""),
        (
            has("this is free and unencumbered software released into the public domain"),
            "Unlicense",
            "\"free and unencumbered software released into the public domain\"",
        ),
        (
            has(
                "permission to use, copy, modify, and/or distribute this software for any purpose with or without fee",
            ),
            "ISC",
            "the ISC permission sentence",
        ),
        (
            has("permission is hereby granted, free of charge, to any person obtaining a copy"),
            "MIT",
            "the MIT permission sentence",
        ),
        (
            has("redistribution and use in source and binary forms") && has("neither the name of"),
            "BSD-3-Clause",
            "BSD redistribution conditions with the endorsement clause",
        ),
        (
            has("redistribution and use in source and binary forms"),
            "BSD-2-Clause",
            "BSD redistribution conditions without the endorsement clause",
        ),
    ];
    rules
        .iter()
        .find(|(hit, _, _)| *hit)
        .map(|(_, id, why)| (*id, *why))
}

/// Whether a root file name is a licence file (LICENSE, LICENCE, COPYING, with any suffix).
pub fn is_license_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["license", "licence", "copying"]
        .iter()
        .any(|p| lower.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_texts() {
        let apache = "                                 Apache License\n                           Version 2.0, January 2004\n";
        assert_eq!(recognize(apache).unwrap().0, "Apache-2.0");
        let mit = "MIT License\n\nCopyright (c) 2024 X\n\nPermission is hereby granted, free of charge, to any\nperson obtaining a copy of this software";
        assert_eq!(recognize(mit).unwrap().0, "MIT");
        let bsd3 = "Redistribution and use in source and binary forms, with or without modification... Neither the name of the copyright holder";
        assert_eq!(recognize(bsd3).unwrap().0, "BSD-3-Clause");
        assert_eq!(
            recognize("GNU LESSER GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007")
                .unwrap()
                .0,
            "LGPL-3.0-only"
        );
        assert_eq!(
            recognize(
                "META LLAMA 3 COMMUNITY LICENSE AGREEMENT\nMeta Llama 3 Version Release Date"
            )
            .unwrap()
            .0,
            "LicenseRef-llama3"
        );
        assert_eq!(recognize("All rights reserved. Do not copy."), None);
        assert!(
            is_license_file("LICENSE.txt")
                && is_license_file("COPYING")
                && !is_license_file("README.md")
        );
    }
}
