//! Symbolic values of the pickle machine: scalars are copied, containers and objects live in an
//! arena so memo references share identity the way Python objects do.

use std::collections::HashMap;
use std::rc::Rc;

/// Index of a [`Node`] in the [`Arena`].
pub type NodeId = u32;

/// A shared string. A thin pointer keeps [`Value`] at 16 bytes: big checkpoints make millions.
pub type RcStr = Rc<String>;

/// A new shared string.
pub fn rc(s: &str) -> RcStr {
    Rc::new(s.to_string())
}

/// A value on the pickle stack or in the memo.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A larger integer: little-endian two's complement bytes (empty when too long to keep).
    BigInt(Rc<Vec<u8>>),
    /// A float.
    Float(f64),
    /// A text string.
    Str(RcStr),
    /// A bytes object, summarised by its length (contents are never needed).
    Bytes(u64),
    /// A reference to `module.name`, never resolved.
    Global(RcStr),
    /// A container, object, storage or tensor in the arena.
    Node(NodeId),
}

impl Value {
    /// The integer, when this is one that fits in 64 bits (bools count as Python does).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// The string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_nodes_stay_small() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Node>(), 32);
    }
}

/// A storage named by a persistent id `('storage', type, key, location, numel[, view])`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    /// The storage type as pickled (`torch.FloatStorage`, `torch.bfloat16`…).
    pub type_name: RcStr,
    /// The record key (`data/<key>` in zip files).
    pub key: RcStr,
    /// Device the storage was saved from (`cpu`, `cuda:0`).
    pub location: RcStr,
    /// Number of elements the id declares.
    pub numel: Option<u64>,
    /// Legacy view into a root storage: `(offset, size)` in elements.
    pub view: Option<(i64, i64)>,
}

/// A tensor built by one of torch's rebuild helpers.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// The storage node, when the first argument was one.
    pub storage: Option<NodeId>,
    /// Offset into the storage, in elements.
    pub storage_offset: Option<i64>,
    /// Logical shape.
    pub shape: Vec<u64>,
    /// Strides in elements, when given.
    pub stride: Option<Vec<i64>>,
    /// The dtype global of a tensor without storage (`torch.float32`).
    pub dtype_global: Option<RcStr>,
}

/// A hashable dictionary key, for replacing values under equal keys like Python does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyRepr {
    /// Text key.
    Str(RcStr),
    /// Integer key (bools count: `True == 1`).
    Int(i64),
    /// `None` key.
    None,
}

impl KeyRepr {
    /// The key form of a value, when it has one.
    pub fn of(v: &Value) -> Option<KeyRepr> {
        match v {
            Value::Str(s) => Some(KeyRepr::Str(s.clone())),
            Value::Int(i) => Some(KeyRepr::Int(*i)),
            Value::Bool(b) => Some(KeyRepr::Int(*b as i64)),
            Value::None => Some(KeyRepr::None),
            _ => None,
        }
    }
}

/// A dict (or `OrderedDict`) in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dict {
    /// Entries in insertion order.
    pub items: Vec<(Value, Value)>,
    /// Key → position, built once the dict is big enough for a linear search to hurt (most
    /// dicts in a checkpoint are tiny, e.g. one empty `backward_hooks` per tensor).
    // Boxed on purpose: an unused map costs 8 bytes instead of 48 in every tiny dict.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<KeyRepr, usize>>>,
}

impl Dict {
    /// Dicts up to this size are searched linearly.
    const LINEAR: usize = 16;

    /// Inserts or replaces (keeping the first position, as Python dicts do).
    pub fn insert(&mut self, k: Value, v: Value) {
        let Some(key) = KeyRepr::of(&k) else {
            self.items.push((k, v));
            return;
        };
        let found = match &self.index {
            Some(index) => index.get(&key).copied(),
            None => self
                .items
                .iter()
                .position(|(x, _)| KeyRepr::of(x).as_ref() == Some(&key)),
        };
        if let Some(i) = found {
            self.items[i].1 = v;
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(key, self.items.len());
        }
        self.items.push((k, v));
        if self.index.is_none() && self.items.len() > Self::LINEAR {
            let index = self
                .items
                .iter()
                .enumerate()
                .filter_map(|(i, (x, _))| KeyRepr::of(x).map(|k| (k, i)))
                .collect();
            self.index = Some(Box::new(index));
        }
    }
}

/// An inert stand-in for what a call or class would have produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The callable or class (usually a [`Value::Global`]).
    pub class: Value,
    /// Positional arguments it was called with.
    pub args: Vec<Value>,
    /// State given by BUILD (or items set on it), if any.
    pub state: Option<Value>,
}

/// Anything with identity: containers, objects made by calls, storages and tensors. Large
/// variants are boxed so the arena stays at 32 bytes a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A list.
    List(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A dict or `OrderedDict`.
    Dict(Box<Dict>),
    /// A set or frozenset.
    Set(Vec<Value>),
    /// A call's or class's result.
    Object(Box<Object>),
    /// A storage from a persistent id.
    Storage(Box<StorageRef>),
    /// A tensor from a rebuild helper.
    Tensor(Box<TensorRef>),
    /// A persistent id that is not a torch storage.
    Persistent,
}

/// Owner of all nodes of one pickle.
#[derive(Debug, Default, Clone)]
pub struct Arena {
    nodes: Vec<Node>,
}

impl Arena {
    /// Adds a node, returning its id.
    pub fn add(&mut self, n: Node) -> NodeId {
        self.nodes.push(n);
        (self.nodes.len() - 1) as NodeId
    }

    /// The node with this id.
    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id as usize)
    }

    /// The node with this id, mutably.
    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(id as usize)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no node was made.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node a value refers to.
    pub fn node(&self, v: &Value) -> Option<&Node> {
        match v {
            Value::Node(id) => self.get(*id),
            _ => None,
        }
    }

    /// Every node, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter()
    }

    /// The items of a list or tuple value.
    pub fn seq<'a>(&'a self, v: &Value) -> Option<&'a [Value]> {
        match self.node(v)? {
            Node::List(x) | Node::Tuple(x) | Node::Set(x) => Some(x),
            _ => None,
        }
    }
}
