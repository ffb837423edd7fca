//! The OpenVINO IR topology file (`.xml`, IR version 10 and later), parsed with `roxmltree`.
//!
//! ```text
//! <net name=".." version="11">
//!   <layers>
//!     <layer id="0" name="x" type="Parameter"><data shape="?,3,1..8" element_type="f32"/>
//!       <output><port id="0" precision="FP32" names="x"><dim>-1</dim>…</port></output></layer>
//!     <layer id="1" name="w" type="Const"><data element_type="f16" shape="8, 3" offset="0" size="48"/>…
//!     <layer id="9" name="y/sink" type="Result"><input><port id="0"><dim>…</dim></port></input></layer>
//!   </layers>
//!   <edges><edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>…</edges>
//!   <rt_info><Runtime_version value=".."/><conversion_parameters>…</conversion_parameters></rt_info>
//! </net>
//! ```
//!
//! Only the top-level `<layers>` are the model's operations (what `Model.get_ops()` returns);
//! constants inside the bodies of `TensorIterator` / `Loop` / `If` are counted separately.
//! The weights file is never read here: a `Const` only says where its bytes are.

use modelpack_plugin_sdk::prelude::*;
use roxmltree::{Document, Node};
use std::collections::HashMap;

/// Largest `.xml` read. The DOM costs about ten times the text: a 24.6 MB topology (92k
/// constants) peaks near 250 MB in the sandbox, a 32 MB one exceeds the default 256 MiB cap.
/// Real topologies are far smaller (a 7B LLM's is a few MB); a streaming parser would lift it.
pub const MAX_XML: u64 = 24 << 20;
/// Most `rt_info` entries kept as metadata.
const MAX_RT: usize = 256;
/// Longest `rt_info` value kept.
const MAX_VALUE: usize = 1024;

/// A `Const` layer: a weight stored in the `.bin`.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    /// Layer name.
    pub name: String,
    /// `element_type` as IR spells it (`f32`, `f16`, `i8`, `u4`, `boolean`…).
    pub element_type: String,
    /// Shape; empty for a scalar.
    pub shape: Vec<u64>,
    /// Byte offset into the `.bin`.
    pub offset: u64,
    /// Byte size in the `.bin`.
    pub size: u64,
}

/// A graph input (`Parameter`) or output (`Result`).
#[derive(Debug, Clone)]
pub struct Io {
    /// Tensor name (the port's first name, or the layer name).
    pub name: String,
    /// Element type (IR spelling).
    pub element_type: String,
    /// Dimensions; `None` for a dynamic rank.
    pub shape: Option<Vec<Dim>>,
}

/// The parsed topology.
#[derive(Debug, Clone)]
pub struct Ir {
    /// `net` name.
    pub name: String,
    /// IR version.
    pub version: u64,
    /// Top-level layers.
    pub layers: usize,
    /// Top-level `Const` layers, in file order.
    pub consts: Vec<Const>,
    /// `Const` layers inside sub-graph bodies (not model operations).
    pub nested_consts: usize,
    /// `Parameter` layers.
    pub inputs: Vec<Io>,
    /// `Result` layers.
    pub outputs: Vec<Io>,
    /// `rt_info`, flattened to dotted keys.
    pub rt_info: Vec<(String, String)>,
    /// Layer count per type.
    pub layer_types: Vec<(String, u64)>,
}

fn malformed(file: &str, msg: String) -> Error {
    Error::Malformed(format!("{file}: {msg}"))
}

/// Line of a node, for messages.
fn line(doc: &Document, n: Node) -> u32 {
    doc.text_pos_at(n.range().start).row
}

/// Parses the topology text of `file`.
pub fn parse(file: &str, text: &str) -> Result<Ir, Error> {
    let doc = Document::parse(text).map_err(|e| malformed(file, format!("not valid XML: {e}")))?;
    let net = doc.root_element();
    if net.tag_name().name() != "net" {
        return Err(Error::Malformed(format!(
            "{file}: not an OpenVINO IR: the root element is <{}>, not <net>",
            net.tag_name().name()
        )));
    }
    let version = match net.attribute("version") {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| malformed(file, format!("<net version=\"{v}\"> is not a number")))?,
        None => return Err(malformed(file, "<net> has no version attribute".into())),
    };
    if version < 10 {
        return Err(Error::Unsupported(format!(
            "{file}: IR version {version} (this plugin reads IR v10 and later)"
        )));
    }
    let layers_el =
        child(net, "layers").ok_or_else(|| malformed(file, "<net> has no <layers>".into()))?;

    let mut ir = Ir {
        name: net.attribute("name").unwrap_or_default().to_string(),
        version,
        layers: 0,
        consts: Vec::new(),
        nested_consts: 0,
        inputs: Vec::new(),
        outputs: Vec::new(),
        rt_info: Vec::new(),
        layer_types: Vec::new(),
    };
    let mut by_id: HashMap<&str, Node> = HashMap::new();
    let mut types: HashMap<&str, u64> = HashMap::new();
    let mut results = Vec::new();
    for layer in layers_el.children().filter(|n| n.has_tag_name("layer")) {
        ir.layers += 1;
        let ty = layer.attribute("type").unwrap_or_default();
        *types.entry(ty).or_default() += 1;
        if let Some(id) = layer.attribute("id") {
            by_id.insert(id, layer);
        }
        match ty {
            "Const" => ir.consts.push(constant(file, &doc, layer)?),
            "Parameter" => ir.inputs.push(parameter(file, &doc, layer)?),
            "Result" => results.push(layer),
            _ => {
                ir.nested_consts += layer
                    .descendants()
                    .filter(|n| n.has_tag_name("layer") && n.attribute("type") == Some("Const"))
                    .count();
            }
        }
    }
    // Edges tell which port feeds each Result: its names and element type live there.
    let mut feeds: HashMap<(&str, &str), (&str, &str)> = HashMap::new();
    if let Some(edges) = child(net, "edges") {
        for e in edges.children().filter(|n| n.has_tag_name("edge")) {
            if let (Some(fl), Some(fp), Some(tl), Some(tp)) = (
                e.attribute("from-layer"),
                e.attribute("from-port"),
                e.attribute("to-layer"),
                e.attribute("to-port"),
            ) {
                feeds.insert((tl, tp), (fl, fp));
            }
        }
    }
    for r in results {
        ir.outputs.push(result(file, &doc, r, &by_id, &feeds)?);
    }
    if let Some(rt) = child(net, "rt_info") {
        flatten_rt(rt, "", &mut ir.rt_info);
    }
    let mut types: Vec<(String, u64)> =
        types.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    types.sort();
    ir.layer_types = types;
    Ok(ir)
}

fn child<'a, 'i>(n: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(tag))
}

fn constant(file: &str, doc: &Document, layer: Node) -> Result<Const, Error> {
    let name = layer.attribute("name").unwrap_or_default().to_string();
    let at = || format!("Const '{name}' (line {})", line(doc, layer));
    let data =
        child(layer, "data").ok_or_else(|| malformed(file, format!("{} has no <data>", at())))?;
    let attr = |k: &str| {
        data.attribute(k)
            .ok_or_else(|| malformed(file, format!("{} has no {k} attribute", at())))
    };
    let number = |k: &str| -> Result<u64, Error> {
        let v = attr(k)?;
        v.trim().parse::<u64>().map_err(|_| {
            malformed(
                file,
                format!("{}: {k}=\"{v}\" is not a non-negative integer", at()),
            )
        })
    };
    let shape_text = attr("shape")?;
    let shape = static_shape(shape_text).ok_or_else(|| {
        malformed(
            file,
            format!("{}: shape=\"{shape_text}\" is not a static shape", at()),
        )
    })?;
    Ok(Const {
        element_type: attr("element_type")?.to_string(),
        shape,
        offset: number("offset")?,
        size: number("size")?,
        name,
    })
}

/// A shape of fixed dimensions (`"8, 1, 5, 5"`, `""` for a scalar).
fn static_shape(s: &str) -> Option<Vec<u64>> {
    let s = s.trim();
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',').map(|d| d.trim().parse::<u64>().ok()).collect()
}

/// A partial shape: `?` / `-1` unknown, `a..b` an interval (kept as text), `...` a dynamic rank.
pub fn partial_shape(s: &str) -> Option<Vec<Dim>> {
    let s = s.trim();
    if s == "..." {
        return None;
    }
    if s.is_empty() {
        return Some(Vec::new());
    }
    Some(
        s.split(',')
            .map(|d| {
                let d = d.trim();
                match d.parse::<u64>() {
                    Ok(n) => Dim::Fixed(n),
                    Err(_) if d == "?" || d == "-1" || d.is_empty() => Dim::Unknown,
                    Err(_) => Dim::Symbolic(d.to_string()),
                }
            })
            .collect(),
    )
}

fn port_dims(port: Node) -> Vec<Dim> {
    port.children()
        .filter(|n| n.has_tag_name("dim"))
        .map(|d| {
            let t = d.text().unwrap_or_default().trim();
            match t.parse::<u64>() {
                Ok(n) => Dim::Fixed(n),
                Err(_) if t == "-1" || t == "?" || t.is_empty() => Dim::Unknown,
                Err(_) => Dim::Symbolic(t.to_string()),
            }
        })
        .collect()
}

/// First of a port's comma-separated tensor names.
fn first_name(names: &str) -> Option<String> {
    names
        .split(',')
        .map(str::trim)
        .find(|n| !n.is_empty())
        .map(str::to_string)
}

fn parameter(file: &str, doc: &Document, layer: Node) -> Result<Io, Error> {
    let lname = layer.attribute("name").unwrap_or_default();
    let data = child(layer, "data").ok_or_else(|| {
        malformed(
            file,
            format!(
                "Parameter '{lname}' (line {}) has no <data>",
                line(doc, layer)
            ),
        )
    })?;
    let port = child(layer, "output").and_then(|o| child(o, "port"));
    let name = port
        .and_then(|p| p.attribute("names"))
        .and_then(first_name)
        .unwrap_or_else(|| lname.to_string());
    let shape = match data.attribute("shape") {
        Some(s) => partial_shape(s),
        None => port.map(port_dims),
    };
    Ok(Io {
        name,
        element_type: data
            .attribute("element_type")
            .unwrap_or("undefined")
            .to_string(),
        shape,
    })
}

/// IR port precision (`FP32`, `I64`, `BOOL`) as an element type name (`f32`, `i64`, `boolean`).
pub fn precision_to_type(p: &str) -> String {
    let p = p.to_ascii_lowercase();
    match p.as_str() {
        "bool" | "boolean" => "boolean".into(),
        "bin" => "u1".into(),
        _ => match p.strip_prefix("fp") {
            Some(bits) => format!("f{bits}"),
            None => p,
        },
    }
}

fn result(
    file: &str,
    doc: &Document,
    layer: Node,
    by_id: &HashMap<&str, Node>,
    feeds: &HashMap<(&str, &str), (&str, &str)>,
) -> Result<Io, Error> {
    let lname = layer.attribute("name").unwrap_or_default();
    let input = child(layer, "input").and_then(|i| child(i, "port"));
    let shape = input.map(port_dims);
    let id = layer.attribute("id").unwrap_or_default();
    let in_port = input.and_then(|p| p.attribute("id")).unwrap_or("0");
    // The producing port: `<port names=… precision=…>` in the layer the edge comes from.
    let source = feeds.get(&(id, in_port)).and_then(|(fl, fp)| {
        by_id.get(fl).and_then(|l| {
            child(*l, "output")?
                .children()
                .find(|p| p.has_tag_name("port") && p.attribute("id") == Some(fp))
        })
    });
    if input.is_none() {
        return Err(malformed(
            file,
            format!(
                "Result '{lname}' (line {}) has no input port",
                line(doc, layer)
            ),
        ));
    }
    let name = layer
        .attribute("output_names")
        .and_then(first_name)
        .or_else(|| {
            source
                .and_then(|p| p.attribute("names"))
                .and_then(first_name)
        })
        .unwrap_or_else(|| lname.to_string());
    let element_type = source
        .and_then(|p| p.attribute("precision"))
        .or_else(|| input.and_then(|p| p.attribute("precision")))
        .map_or_else(|| "undefined".to_string(), precision_to_type);
    Ok(Io {
        name,
        element_type,
        shape,
    })
}

/// `rt_info` as dotted keys: `<a value="x"/>` → `a`, `<info name="k" value="v"/>` → `k`,
/// nested elements joined with `.`.
fn flatten_rt(n: Node, prefix: &str, out: &mut Vec<(String, String)>) {
    for c in n.children().filter(|c| c.is_element()) {
        if out.len() >= MAX_RT {
            return;
        }
        let key = match (c.tag_name().name(), c.attribute("name")) {
            ("info", Some(name)) => name.to_string(),
            (tag, _) => tag.to_string(),
        };
        let key = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        if let Some(v) = c.attribute("value") {
            let mut v = v.to_string();
            if v.len() > MAX_VALUE {
                let mut cut = MAX_VALUE;
                while !v.is_char_boundary(cut) {
                    cut -= 1;
                }
                v.truncate(cut);
            }
            out.push((key.clone(), v));
        }
        flatten_rt(c, &key, out);
    }
}

/// Bits per element of an IR element type, for the size check; `None` when unknown.
pub fn element_bits(t: &str) -> Option<u64> {
    Some(match t {
        "f64" | "i64" | "u64" => 64,
        "f32" | "i32" | "u32" => 32,
        "f16" | "bf16" | "i16" | "u16" => 16,
        "i8" | "u8" | "boolean" | "f8e4m3" | "f8e5m2" | "f8e8m0" => 8,
        "u6" => 6,
        "i4" | "u4" | "nf4" | "f4e2m1" => 4,
        "u3" => 3,
        "u2" => 2,
        "u1" => 1,
        _ => return None,
    })
}
