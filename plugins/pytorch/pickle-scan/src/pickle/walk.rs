//! Finds the tensors reachable from a pickle's result and names them by their dotted path
//! (dict keys and list indices joined with `.`), the way the reference reader does: each
//! container is entered once (shared dicts are listed under their first path), a stand-in
//! object's state is walked under the object's own path and its container arguments under
//! `<path>.<argN>`.

use std::collections::HashSet;
use std::rc::Rc;

use super::value::{Arena, Node, StorageRef, TensorRef, Value};

/// Caps on the walk.
#[derive(Debug, Clone, Copy)]
pub struct WalkLimits {
    /// Containers nested deeper than this are not entered.
    pub max_depth: usize,
    /// Most tensors listed.
    pub max_tensors: usize,
    /// Most bytes of tensor names in total.
    pub max_name_bytes: usize,
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits {
            max_depth: 256,
            max_tensors: 4 << 20,
            max_name_bytes: 64 << 20,
        }
    }
}

/// A tensor found in the object graph.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundTensor {
    /// Dotted path.
    pub name: String,
    /// The first path component (the top-level key).
    pub top: Rc<str>,
    /// The tensor.
    pub tensor: TensorRef,
    /// Its storage, when it has one.
    pub storage: Option<StorageRef>,
}

/// The walk's result.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// Tensors in pickle order.
    pub tensors: Vec<FoundTensor>,
    /// True when some container was too deep to enter.
    pub too_deep: bool,
    /// Keys of the top-level container in order (dict keys, or a module's attributes).
    pub top_level_keys: Vec<String>,
}

/// Collects the tensors reachable from `root`; `Err` names the limit that was exceeded.
pub fn collect(arena: &Arena, root: &Value, limits: WalkLimits) -> Result<Walk, String> {
    let mut walk = Walk {
        top_level_keys: top_level_keys(arena, root),
        ..Walk::default()
    };
    let mut seen: HashSet<u32> = HashSet::new();
    let mut name_bytes = 0usize;
    // (value, path, top-level key, depth)
    let mut todo: Vec<(Value, Rc<str>, Rc<str>, usize)> =
        vec![(root.clone(), Rc::from(""), Rc::from(""), 0)];
    while let Some((v, prefix, top, depth)) = todo.pop() {
        let Value::Node(id) = v else { continue };
        let Some(node) = arena.get(id) else { continue };
        if let Node::Tensor(t) = node {
            if walk.tensors.len() >= limits.max_tensors {
                return Err(format!("more than {} tensors", limits.max_tensors));
            }
            name_bytes += prefix.len();
            if name_bytes > limits.max_name_bytes {
                return Err(format!(
                    "tensor names exceed {} bytes",
                    limits.max_name_bytes
                ));
            }
            let storage = t.storage.and_then(|s| match arena.get(s) {
                Some(Node::Storage(st)) => Some((**st).clone()),
                _ => None,
            });
            walk.tensors.push(FoundTensor {
                name: prefix.to_string(),
                top: top.clone(),
                tensor: (**t).clone(),
                storage,
            });
            continue;
        }
        let is_container = matches!(
            node,
            Node::Dict(_) | Node::List(_) | Node::Tuple(_) | Node::Set(_) | Node::Object(_)
        );
        if !is_container || !seen.insert(id) {
            continue;
        }
        if depth >= limits.max_depth {
            walk.too_deep = true;
            continue;
        }
        let child = |key: &str| -> (Rc<str>, Rc<str>) {
            if prefix.is_empty() {
                (Rc::from(key), Rc::from(key))
            } else {
                (Rc::from(format!("{prefix}.{key}").as_str()), top.clone())
            }
        };
        let mut kids: Vec<(Value, Rc<str>, Rc<str>, usize)> = Vec::new();
        match node {
            Node::Dict(d) => {
                for (k, val) in &d.items {
                    let (p, t) = child(&py_str(arena, k));
                    kids.push((val.clone(), p, t, depth + 1));
                }
            }
            Node::List(items) | Node::Tuple(items) | Node::Set(items) => {
                for (i, val) in items.iter().enumerate() {
                    let (p, t) = child(&i.to_string());
                    kids.push((val.clone(), p, t, depth + 1));
                }
            }
            Node::Object(o) => {
                let (args, state) = (&o.args, &o.state);
                if let Some(s) = state {
                    kids.push((s.clone(), prefix.clone(), top.clone(), depth + 1));
                }
                for (i, a) in args.iter().enumerate() {
                    if matches!(arena.node(a), Some(n) if !matches!(n, Node::Storage(_) | Node::Persistent))
                    {
                        let (p, t) = child(&format!("<arg{i}>"));
                        kids.push((a.clone(), p, t, depth + 1));
                    }
                }
            }
            _ => {}
        }
        todo.extend(kids.into_iter().rev());
    }
    Ok(walk)
}

/// The keys of the top-level dict (through a module object's state), stringified.
fn top_level_keys(arena: &Arena, root: &Value) -> Vec<String> {
    let mut v = root;
    if let Some(Node::Object(o)) = arena.node(v)
        && let Some(s) = &o.state
    {
        v = s;
    }
    match arena.node(v) {
        Some(Node::Dict(d)) => d.items.iter().map(|(k, _)| py_str(arena, k)).collect(),
        _ => Vec::new(),
    }
}

/// The value a top-level key maps to (through a module object's state).
pub fn top_level_entries<'a>(arena: &'a Arena, root: &'a Value) -> Option<&'a [(Value, Value)]> {
    let mut v = root;
    if let Some(Node::Object(o)) = arena.node(v)
        && let Some(s) = &o.state
    {
        v = s;
    }
    match arena.node(v) {
        Some(Node::Dict(d)) => Some(&d.items),
        _ => None,
    }
}

/// Python's `str()` of a key, for path components.
pub fn py_str(arena: &Arena, v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        _ => py_repr(arena, v, 0),
    }
}

fn py_repr(arena: &Arena, v: &Value, depth: usize) -> String {
    match v {
        Value::None => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(_) => "<int>".into(),
        Value::Float(f) => {
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
                format!("{f:.1}")
            } else {
                format!("{f}")
            }
        }
        Value::Str(s) => format!("'{s}'"),
        Value::Bytes(_) => "b'...'".into(),
        Value::Global(g) => format!("<{g}>"),
        Value::Node(_) if depth > 4 => "...".into(),
        Value::Node(_) => match arena.node(v) {
            Some(Node::Tuple(items)) => {
                let parts: Vec<String> =
                    items.iter().map(|x| py_repr(arena, x, depth + 1)).collect();
                if parts.len() == 1 {
                    format!("({},)", parts[0])
                } else {
                    format!("({})", parts.join(", "))
                }
            }
            _ => "<object>".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::{Limits, run};

    fn names(pkl: &[u8]) -> Vec<String> {
        let s = run(pkl, Limits::default()).expect("pickle");
        let w = collect(&s.arena, s.value.as_ref().unwrap(), WalkLimits::default()).unwrap();
        w.tensors.into_iter().map(|t| t.name).collect()
    }

    /// `_rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 1), 0, (1,), (1,))`.
    const T: &[u8] = b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQK\x00K\x01\x85K\x01\x85tR";

    #[test]
    fn dotted_paths_through_dicts_lists_and_objects() {
        // {'a': [T, {'b': T}], 3: T}
        let mut p = b"\x80\x02}(X\x01\x00\x00\x00a](".to_vec();
        p.extend(T);
        p.extend(b"}X\x01\x00\x00\x00b");
        p.extend(T);
        p.extend(b"seK\x03");
        p.extend(T);
        p.extend(b"u.");
        assert_eq!(names(&p), ["a.0", "a.1.b", "3"]);

        // A shared dict (memo) is listed once, under its first path.
        let mut p = b"\x80\x02}(X\x01\x00\x00\x00x}q\x00X\x01\x00\x00\x00w".to_vec();
        p.extend(T);
        p.extend(b"sX\x01\x00\x00\x00yh\x00u.");
        assert_eq!(names(&p), ["x.w"]);

        // An unknown class's state is walked under its own path, its arguments as <argN>.
        let mut p = b"\x80\x02}X\x01\x00\x00\x00mcmy\nModel\n(".to_vec();
        p.extend(T);
        p.extend(b"t\x81}X\x01\x00\x00\x00s");
        p.extend(T);
        p.extend(b"sbs.");
        assert_eq!(names(&p), ["m.s", "m.<arg0>"]);
    }
}
