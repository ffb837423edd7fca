//! Config fields, where their values come from, and which source wins.
//!
//! Precedence, highest first: explicit flags (`--set`, `--name`, `--created`) > the user's
//! override file (`--config-override`) > the environment (`SOURCE_DATE_EPOCH`, for
//! `createdAt` only) > Hugging Face files (`config.json`, `README.md` front matter, index
//! files) > weight headers (what the format plugins read) > heuristics (directory name,
//! LICENSE text, estimates from file sizes, the declared `torch_dtype`). Within one source,
//! the first candidate found wins.
//!
//! The config JSON is written with keys in the order of the Go structs of the spec
//! (`specs-go/v1/config.go`): descriptor, modelfs, config, and their fields likewise, which is
//! the order modctl and KitOps emit.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::{Map, Value};

/// Where a value came from, highest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `--set`, `--name`, `--created`.
    Flag,
    /// `--config-override FILE`.
    OverrideFile,
    /// `SOURCE_DATE_EPOCH`.
    Environment,
    /// config.json, model card, index files.
    HfFiles,
    /// What format plugins read from the weights.
    WeightHeaders,
    /// Directory name, LICENSE text, estimates.
    Heuristic,
}

/// The kind of JSON value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string.
    Text,
    /// A list of strings.
    List,
    /// A boolean.
    Bool,
}

/// Every settable field: dotted path and type, in the spec's Go struct order.
pub const FIELDS: &[(&str, FieldType)] = &[
    ("descriptor.createdAt", FieldType::Text),
    ("descriptor.authors", FieldType::List),
    ("descriptor.vendor", FieldType::Text),
    ("descriptor.family", FieldType::Text),
    ("descriptor.name", FieldType::Text),
    ("descriptor.docURL", FieldType::Text),
    ("descriptor.sourceURL", FieldType::Text),
    ("descriptor.datasetsURL", FieldType::List),
    ("descriptor.version", FieldType::Text),
    ("descriptor.revision", FieldType::Text),
    ("descriptor.licenses", FieldType::List),
    ("descriptor.title", FieldType::Text),
    ("descriptor.description", FieldType::Text),
    ("config.architecture", FieldType::Text),
    ("config.format", FieldType::Text),
    ("config.paramSize", FieldType::Text),
    ("config.precision", FieldType::Text),
    ("config.quantization", FieldType::Text),
    ("config.capabilities.inputTypes", FieldType::List),
    ("config.capabilities.outputTypes", FieldType::List),
    ("config.capabilities.knowledgeCutoff", FieldType::Text),
    ("config.capabilities.reasoning", FieldType::Bool),
    ("config.capabilities.toolUsage", FieldType::Bool),
    ("config.capabilities.reward", FieldType::Bool),
    ("config.capabilities.languages", FieldType::List),
];

/// A possible value of a field.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Dotted field path (`config.paramSize`).
    pub field: &'static str,
    /// The value; `null` means "leave the field out" (`--set FIELD=`).
    pub value: Value,
    /// Source class.
    pub source: Source,
    /// The file, key or flag it came from (`config.json: model_type`).
    pub from: String,
    /// How it was derived, when that is not obvious.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One field of the result and how it was decided.
#[derive(Debug, Clone, Serialize)]
pub struct FieldExplain {
    /// Dotted field path.
    pub field: &'static str,
    /// The value written (`null` when left out on purpose).
    pub value: Value,
    /// Source class of the winner.
    pub source: Source,
    /// Where the winner came from.
    pub from: String,
    /// How it was derived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Lower-precedence candidates that lost.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overridden: Vec<Candidate>,
}

/// Finds a field by its dotted path or an unambiguous short form (`paramSize`,
/// `capabilities.reasoning`, `name`).
pub fn lookup(name: &str) -> Result<(&'static str, FieldType)> {
    if let Some(f) = FIELDS.iter().find(|(p, _)| *p == name) {
        return Ok(*f);
    }
    let hits: Vec<_> = FIELDS
        .iter()
        .filter(|(p, _)| p.ends_with(&format!(".{name}")))
        .collect();
    match hits.as_slice() {
        [one] => Ok(**one),
        [] => bail!(
            "unknown config field `{name}`{}; fields: {}",
            crate::suggest::hint(
                name,
                FIELDS
                    .iter()
                    .flat_map(|(p, _)| [*p, p.rsplit('.').next().unwrap_or(p)])
            ),
            FIELDS
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => bail!("config field `{name}` is ambiguous; write the full path"),
    }
}

/// Parses `FIELD=VALUE` from `--set`. Lists are comma-separated (or a JSON array), booleans
/// `true`/`false`; an empty value leaves the field out.
pub fn parse_set(arg: &str) -> Result<Candidate> {
    let Some((name, raw)) = arg.split_once('=') else {
        bail!("--set {arg:?}: expected FIELD=VALUE (e.g. config.paramSize=7B)");
    };
    let (field, ty) = lookup(name.trim()).map_err(|e| anyhow::anyhow!("--set {arg:?}: {e}"))?;
    let value = if raw.is_empty() {
        Value::Null
    } else {
        typed(field, ty, raw).map_err(|e| anyhow::anyhow!("--set {arg:?}: {e}"))?
    };
    Ok(Candidate {
        field,
        value,
        source: Source::Flag,
        from: format!("--set {name}"),
        note: None,
    })
}

fn typed(field: &str, ty: FieldType, raw: &str) -> Result<Value> {
    Ok(match ty {
        FieldType::Text => Value::String(raw.to_string()),
        FieldType::Bool => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => bail!("{field} is true or false"),
        },
        FieldType::List if raw.trim_start().starts_with('[') => {
            let v: Value = serde_json::from_str(raw)
                .map_err(|e| anyhow::anyhow!("{field}: not a JSON array: {e}"))?;
            if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                bail!("{field} is a list of strings");
            }
            v
        }
        FieldType::List => Value::Array(
            raw.split(',')
                .map(|s| Value::String(s.trim().to_string()))
                .filter(|s| s.as_str() != Some(""))
                .collect(),
        ),
    })
}

/// Reads the override file: a partial ModelPack config (`descriptor`, `config` with
/// `capabilities`); each field present is a candidate. `modelfs` is computed and refused.
pub fn parse_override(v: &Value, file: &str) -> Result<Vec<Candidate>> {
    let Some(top) = v.as_object() else {
        bail!("{file}: expected a JSON object like {{\"descriptor\": {{…}}, \"config\": {{…}}}}");
    };
    let mut out = Vec::new();
    for (k, section) in top {
        if k == "modelfs" {
            bail!("{file}: `modelfs` is computed from the files and cannot be overridden");
        }
        if k != "descriptor" && k != "config" {
            bail!("{file}: unknown top-level key `{k}` (descriptor, config)");
        }
        let Some(obj) = section.as_object() else {
            bail!("{file}: `{k}` must be an object");
        };
        collect(k, obj, file, &mut out)?;
    }
    Ok(out)
}

fn collect(
    prefix: &str,
    obj: &Map<String, Value>,
    file: &str,
    out: &mut Vec<Candidate>,
) -> Result<()> {
    for (k, v) in obj {
        let path = format!("{prefix}.{k}");
        if path == "config.capabilities" {
            let Some(caps) = v.as_object() else {
                bail!("{file}: `config.capabilities` must be an object");
            };
            collect(&path, caps, file, out)?;
            continue;
        }
        let Some((field, _)) = FIELDS.iter().find(|(p, _)| *p == path) else {
            bail!("{file}: unknown field `{path}`");
        };
        out.push(Candidate {
            field,
            value: v.clone(),
            source: Source::OverrideFile,
            from: file.to_string(),
            note: None,
        });
    }
    Ok(())
}

/// Picks the winner of each field and builds the config (without `modelfs`).
pub fn decide(candidates: &[Candidate]) -> (Value, Vec<FieldExplain>) {
    let mut by_field: BTreeMap<&str, Vec<&Candidate>> = BTreeMap::new();
    for c in candidates {
        by_field.entry(c.field).or_default().push(c);
    }
    let mut config = serde_json::json!({"descriptor": {}, "config": {}});
    let mut explain = Vec::new();
    for (field, _) in FIELDS {
        let Some(cands) = by_field.get(field) else {
            continue;
        };
        let mut sorted = cands.clone();
        sorted.sort_by_key(|c| c.source);
        let win = sorted[0];
        if !win.value.is_null() {
            set(&mut config, field, win.value.clone());
        }
        explain.push(FieldExplain {
            field,
            value: win.value.clone(),
            source: win.source,
            from: win.from.clone(),
            note: win.note.clone(),
            overridden: sorted[1..].iter().map(|c| (*c).clone()).collect(),
        });
    }
    (config, explain)
}

fn set(config: &mut Value, field: &str, value: Value) {
    let mut cur = config;
    let parts: Vec<&str> = field.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        cur = cur
            .as_object_mut()
            .expect("config levels are objects")
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(obj) = cur.as_object_mut() {
        obj.insert(parts[parts.len() - 1].to_string(), value);
    }
}

/// Key order of each object in the Go structs.
fn order(path: &str) -> &'static [&'static str] {
    match path {
        "" => &["descriptor", "modelfs", "config"],
        "/modelfs" => &["type", "diffIds"],
        "/descriptor" => &[
            "createdAt",
            "authors",
            "vendor",
            "family",
            "name",
            "docURL",
            "sourceURL",
            "datasetsURL",
            "version",
            "revision",
            "licenses",
            "title",
            "description",
        ],
        "/config" => &[
            "architecture",
            "format",
            "paramSize",
            "precision",
            "quantization",
            "capabilities",
        ],
        "/config/capabilities" => &[
            "inputTypes",
            "outputTypes",
            "knowledgeCutoff",
            "reasoning",
            "toolUsage",
            "reward",
            "languages",
        ],
        _ => &[],
    }
}

/// A config that serialises with its keys in the spec's struct order.
pub struct Ordered<'a> {
    value: &'a Value,
    path: String,
}

/// Wraps a config so that it serialises in the spec's struct order (inside other documents).
pub fn ordered(config: &Value) -> Ordered<'_> {
    Ordered {
        value: config,
        path: String::new(),
    }
}

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(obj) = self.value else {
            return self.value.serialize(s);
        };
        let known = order(&self.path);
        let mut keys: Vec<&String> = known
            .iter()
            .filter_map(|k| obj.get_key_value(*k).map(|(k, _)| k))
            .collect();
        // Keys the structs do not know (an invalid config being shown) go last, sorted.
        keys.extend(obj.keys().filter(|k| !known.contains(&k.as_str())));
        let mut m = s.serialize_map(Some(keys.len()))?;
        for k in keys {
            m.serialize_entry(
                k,
                &Ordered {
                    value: &obj[k],
                    path: format!("{}/{k}", self.path),
                },
            )?;
        }
        m.end()
    }
}

/// The config as pretty JSON in the spec's struct order, with a final newline.
pub fn render_config(config: &Value) -> String {
    let mut s = serde_json::to_string_pretty(&ordered(config)).expect("a JSON value serialises");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn set_parsing() {
        let c = parse_set("config.paramSize=7B").unwrap();
        assert_eq!((c.field, c.value), ("config.paramSize", json!("7B")));
        let c = parse_set("capabilities.reasoning=true").unwrap();
        assert_eq!(
            (c.field, c.value),
            ("config.capabilities.reasoning", json!(true))
        );
        let c = parse_set("licenses=MIT, Apache-2.0").unwrap();
        assert_eq!(c.value, json!(["MIT", "Apache-2.0"]));
        let c = parse_set("languages=[\"en\",\"fr\"]").unwrap();
        assert_eq!(c.value, json!(["en", "fr"]));
        assert_eq!(
            parse_set("descriptor.version=1.10").unwrap().value,
            json!("1.10")
        );
        assert!(parse_set("name=").unwrap().value.is_null());
        for bad in [
            "paramSize",
            "nope=1",
            "reasoning=yes",
            "modelfs.type=x",
            "languages=[1]",
        ] {
            assert!(parse_set(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn precedence_and_explain() {
        let c = |field, v: Value, source| Candidate {
            field,
            value: v,
            source,
            from: format!("{source:?}"),
            note: None,
        };
        let (cfg, ex) = decide(&[
            c("descriptor.name", json!("dir"), Source::Heuristic),
            c("descriptor.name", json!("card"), Source::HfFiles),
            c("config.format", json!("gguf"), Source::WeightHeaders),
            c("config.format", Value::Null, Source::Flag),
        ]);
        assert_eq!(cfg, json!({"descriptor": {"name": "card"}, "config": {}}));
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].field, "descriptor.name");
        assert_eq!(ex[0].overridden.len(), 1);
        assert_eq!(ex[1].source, Source::Flag);
    }

    #[test]
    fn override_file() {
        let v = json!({"descriptor": {"vendor": "ACME"}, "config": {"capabilities": {"toolUsage": true}}});
        let c = parse_override(&v, "o.json").unwrap();
        assert_eq!(c.len(), 2);
        assert!(parse_override(&json!({"modelfs": {}}), "o.json").is_err());
        assert!(parse_override(&json!({"config": {"paramsize": "7B"}}), "o.json").is_err());
    }

    #[test]
    fn rendering_in_struct_order() {
        let v = json!({"config": {"precision": "x", "format": "y"}, "modelfs": {"diffIds": [], "type": "layers"},
                       "descriptor": {"name": "n", "createdAt": "t"}});
        let s = render_config(&v);
        let pos = |k: &str| s.find(k).unwrap();
        assert!(pos("descriptor") < pos("modelfs") && pos("modelfs") < pos("\"config\""));
        assert!(pos("createdAt") < pos("\"name\""));
        assert!(pos("\"type\"") < pos("diffIds"));
        assert!(pos("\"format\"") < pos("precision"));
        assert!(s.ends_with("}\n"));
    }
}
