//! The legacy GGML file family that predates GGUF (August 2023).
//!
//! Those files start with a u32 magic written little-endian, so `0x67676d6c` ("ggml") is the
//! bytes `lmgg` on disk; whisper.cpp still ships such files. The plugin claims them so they
//! are reported as "legacy, convert to GGUF" rather than as an unknown file. Files written
//! big-endian show the readable spelling (`ggml`), so both byte orders are recognised.

/// Magic bytes as they appear at offset 0 (little-endian u32), with the readable name and
/// what the variant was.
const MAGICS: &[(&[u8; 4], &str, &str)] = &[
    (b"lmgg", "ggml", "unversioned GGML"),
    (b"fmgg", "ggmf", "versioned GGMF"),
    (b"tjgg", "ggjt", "GGJT, the mmap-able llama.cpp format"),
    (b"algg", "ggla", "GGLA, a llama.cpp LoRA adapter"),
    (b"asgg", "ggsa", "GGSA"),
];

/// The legacy magic a file starts with, as `(bytes on disk, readable name, variant)`.
fn lookup(head: &[u8]) -> Option<(&'static [u8; 4], &'static str, &'static str)> {
    let magic = head.get(..4)?;
    MAGICS
        .iter()
        .copied()
        .find(|(disk, name, _)| magic == disk.as_slice() || magic == name.as_bytes())
}

/// True when `head` starts with a legacy GGML-family magic (either byte order).
pub fn is_legacy(head: &[u8]) -> bool {
    lookup(head).is_some()
}

/// The one-line `Unsupported` message for a legacy file, or `None` if `head` is not one.
pub fn describe(head: &[u8]) -> Option<String> {
    let (_, name, variant) = lookup(head)?;
    let seen = String::from_utf8_lossy(&head[..4]);
    Some(format!(
        "legacy GGML-family file (magic '{seen}' = '{name}', {variant}; the format before GGUF): convert it to GGUF"
    ))
}

/// Every claimed magic as hex, for the plugin's `INFO`.
#[cfg(test)]
pub fn magic_hex() -> Vec<String> {
    MAGICS
        .iter()
        .flat_map(|(disk, name, _)| [disk.as_slice(), name.as_bytes()])
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whisper_cpp_magic_is_legacy() {
        let msg = describe(b"lmgg\n\0\0\0silero").unwrap();
        assert!(
            msg.starts_with("legacy GGML-family file (magic 'lmgg'"),
            "{msg}"
        );
        assert!(msg.ends_with("convert it to GGUF"));
        assert!(is_legacy(b"ggjt"));
        assert!(is_legacy(b"tjgg\x03\0\0\0"));
        assert!(!is_legacy(b"GGUF"));
        assert!(!is_legacy(b"lmg"));
    }
}
