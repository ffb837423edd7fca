//! What a plugin is, read from its component bytes without compiling it.
//!
//! The SDK embeds the plugin description as JSON in a `modelpack-plugin-info` custom section;
//! the WIT version comes from the names of the interfaces the component exports. Both are
//! found with a plain `wasmparser` walk that costs microseconds.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Version of the `modelpack:plugin` WIT package this host implements.
pub const WIT_VERSION: &str = "0.2.0";
/// Name of the custom section holding the plugin description.
pub const INFO_SECTION: &str = "modelpack-plugin-info";

/// Which world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Reads one weight format (exports `format-handler`).
    Format,
    /// Checks a whole model (exports `policy`).
    Policy,
    /// Knows a model-directory convention (exports `convention`, `wit/convention.wit`).
    Convention,
    /// Maps a foreign artifact to ModelPack (exports `artifact-converter`).
    Converter,
}

/// Magic bytes at an offset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Magic {
    /// Byte offset in the file.
    pub offset: u32,
    /// Expected bytes, as hex.
    pub hex: String,
}

/// The static description of a plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Unique plugin name.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// Format or policy.
    #[serde(default = "default_kind")]
    pub kind: Kind,
    /// The WIT package version the plugin was built against.
    #[serde(default)]
    pub wit_version: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Claimed file extensions (lowercase, no dot).
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Claimed file names or `*` globs.
    #[serde(default)]
    pub file_names: Vec<String>,
    /// Claimed magic numbers.
    #[serde(default)]
    pub magic: Vec<Magic>,
    /// Format plugins: how canonical the format is when a directory holds several (WIT
    /// `plugin-info.preference`).
    #[serde(default)]
    pub preference: u8,
}

fn default_kind() -> Kind {
    Kind::Format
}

impl PluginInfo {
    /// Whether this plugin claims a file by name, extension or leading bytes.
    pub fn claims(&self, file_name: &str, head: &[u8]) -> bool {
        let lower = file_name.to_ascii_lowercase();
        let by_ext = lower
            .rsplit_once('.')
            .is_some_and(|(_, ext)| self.extensions.iter().any(|e| e == ext));
        let by_name = self.file_names.iter().any(|g| glob_match(g, &lower));
        let by_magic = self.magic.iter().any(|m| {
            let Ok(bytes) = hex::decode(&m.hex) else {
                return false;
            };
            let start = m.offset as usize;
            head.get(start..start + bytes.len()) == Some(&bytes[..])
        });
        by_ext || by_name || by_magic
    }
}

/// Matches a glob with `*` wildcards only (file names, not paths).
pub fn glob_match(glob: &str, name: &str) -> bool {
    fn go(g: &[u8], n: &[u8]) -> bool {
        match g.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n
                .split_first()
                .is_some_and(|(d, nr)| c == d && go(rest, nr)),
        }
    }
    go(glob.as_bytes(), name.as_bytes())
}

/// Reads the description and WIT version of a plugin component, refusing foreign or
/// incompatible ones with a message naming both versions.
pub fn read_info(wasm: &[u8], origin: &str) -> Result<PluginInfo> {
    let mut section: Option<Vec<u8>> = None;
    let mut exports: Vec<String> = Vec::new();
    let mut encoding = None;
    for payload in sections(wasm) {
        let payload = payload.with_context(|| format!("{origin}: not a valid WebAssembly file"))?;
        match payload {
            wasmparser::Payload::Version { encoding: e, .. } => {
                encoding.get_or_insert(e);
            }
            wasmparser::Payload::CustomSection(c) if c.name() == INFO_SECTION => {
                section.get_or_insert_with(|| c.data().to_vec());
            }
            wasmparser::Payload::ComponentExportSection(reader) => {
                for export in reader {
                    let export = export.with_context(|| format!("{origin}: bad export section"))?;
                    exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    if encoding != Some(wasmparser::Encoding::Component) {
        bail!("{origin}: not a WebAssembly component (build plugins for wasm32-wasip2)");
    }
    let (kind, version) = exports
        .iter()
        .find_map(|e| {
            let rest = e.strip_prefix("modelpack:plugin/")?;
            let (iface, version) = rest.split_once('@')?;
            let kind = match iface {
                "format-handler" => Kind::Format,
                "policy" => Kind::Policy,
                "convention" => Kind::Convention,
                "artifact-converter" => Kind::Converter,
                _ => return None,
            };
            Some((kind, version.to_string()))
        })
        .with_context(|| {
            format!("{origin}: not a modelpack plugin (exports none of modelpack:plugin/format-handler, policy, convention or artifact-converter)")
        })?;
    if !compatible(&version, WIT_VERSION) {
        bail!(
            "{origin}: plugin was built for modelpack:plugin@{version}, but this modelpack implements modelpack:plugin@{WIT_VERSION}; rebuild the plugin against {} ({}; see docs/plugins.md, \"Contract versions\")",
            compat_range(WIT_VERSION),
            rebuild_hint(&version)
        );
    }
    let data = section.with_context(|| {
        format!("{origin}: no `{INFO_SECTION}` custom section (build it with modelpack-plugin-sdk's export macro)")
    })?;
    let mut info: PluginInfo = serde_json::from_slice(&data)
        .with_context(|| format!("{origin}: invalid plugin description in `{INFO_SECTION}`"))?;
    info.kind = kind;
    info.wit_version = version;
    if info.name.is_empty()
        || !info
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        bail!(
            "{origin}: plugin name {:?} must be lowercase letters, digits, '-' or '_'",
            info.name
        );
    }
    Ok(info)
}

/// Every payload of a component and its nested modules and components, as
/// `Parser::parse_all` yields them, except that code sections are skipped whole instead of
/// walked function by function: a plugin is mostly code, and every run reads the description
/// of every plugin it knows (30 built in), so walking the code would touch megabytes of the
/// binary for a few hundred bytes of JSON and export names.
fn sections(mut data: &[u8]) -> impl Iterator<Item = Result<wasmparser::Payload<'_>>> {
    use wasmparser::{Chunk, Parser, Payload};
    let mut stack: Vec<Parser> = Vec::new();
    let mut cur = Parser::new(0);
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let payload = match cur.parse(data, true) {
            Err(e) => {
                done = true;
                return Some(Err(e.into()));
            }
            // `eof` is true: the whole input is there.
            Ok(Chunk::NeedMoreData(_)) => unreachable!("parse with eof never needs more data"),
            Ok(Chunk::Parsed { payload, consumed }) => {
                data = &data[consumed..];
                payload
            }
        };
        match &payload {
            Payload::ModuleSection { parser, .. } | Payload::ComponentSection { parser, .. } => {
                stack.push(cur.clone());
                cur = parser.clone();
            }
            Payload::CodeSectionStart { size, .. } => {
                let Some(rest) = data.get(*size as usize..) else {
                    done = true;
                    return Some(Err(anyhow::anyhow!(
                        "code section of {size} bytes extends past the end of the file"
                    )));
                };
                cur.skip_section();
                data = rest;
            }
            Payload::End(_) => match stack.pop() {
                Some(p) => cur = p,
                None => done = true,
            },
            _ => {}
        }
        Some(Ok(payload))
    })
}

/// Semver compatibility as wasmtime's linker applies it: same major, and for 0.x same minor.
pub fn compatible(plugin: &str, host: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split(['.', '-', '+']);
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parse(plugin), parse(host)) {
        (Some((pm, pn)), Some((hm, hn))) => pm == hm && (hm != 0 || pn == hn),
        _ => false,
    }
}

/// How to rebuild a plugin of another contract version.
fn rebuild_hint(plugin_version: &str) -> &'static str {
    if compatible(plugin_version, "0.1.0") {
        "point it at modelpack-plugin-sdk 0.2 and fill the 0.2 report fields: tensor roles, weight-parameters, dtypes with precision words"
    } else {
        "use the modelpack-plugin-sdk of the modelpack release you target"
    }
}

fn compat_range(v: &str) -> String {
    let mut it = v.split('.');
    let major = it.next().unwrap_or("0");
    let minor = it.next().unwrap_or("0");
    if major == "0" {
        format!("modelpack:plugin@0.{minor}.x")
    } else {
        format!("modelpack:plugin@{major}.x")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_rules() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.7", "0.1.0"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(compatible("0.2.3", "0.2.0"));
        assert!(!compatible("1.0.0", "0.1.0"));
        assert!(compatible("1.4.0", "1.0.0"));
        assert!(!compatible("garbage", "0.1.0"));
    }

    #[test]
    fn globs() {
        assert!(glob_match(
            "*.safetensors.index.json",
            "model.safetensors.index.json"
        ));
        assert!(!glob_match("*.safetensors.index.json", "model.safetensors"));
        assert!(glob_match("config.json", "config.json"));
    }

    #[test]
    fn host_version_matches_the_wit_file() {
        let wit = include_str!("../../../wit/plugin.wit");
        assert!(wit.contains(&format!("package modelpack:plugin@{WIT_VERSION};")));
    }
}
