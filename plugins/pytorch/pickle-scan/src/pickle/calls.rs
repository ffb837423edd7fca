//! What call-like opcodes produce. Nothing is invoked: a handful of well-known torch helpers are
//! *modelled* (tensor rebuilders become [`Node::Tensor`], `OrderedDict` becomes a dict, list
//! builders pass their argument through) and every other call becomes an inert
//! [`Node::Object`] recording the callable and its arguments.

use super::value::{Dict, Node, Object, RcStr, StorageRef, TensorRef, Value, rc};
use super::vm::{PickleError, Vm};

/// Tensor rebuild helpers whose first four arguments are `(storage, offset, size, stride)`.
pub const TENSOR_REBUILDERS: &[&str] = &[
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_qtensor",
];

/// Helpers that return their first argument unchanged (for listing purposes).
const PASS_THROUGH: &[&str] = &[
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch.jit._pickle.build_intlist",
    "torch.jit._pickle.build_tensorlist",
    "torch.jit._pickle.build_doublelist",
    "torch.jit._pickle.build_boollist",
    "torch.jit._pickle.build_complexlist",
    "torch.jit._pickle.restore_type_tag",
];

const DICT_TYPES: &[&str] = &[
    "collections.OrderedDict",
    "builtins.dict",
    "__builtin__.dict",
];

const SET_TYPES: &[&str] = &[
    "builtins.set",
    "builtins.frozenset",
    "__builtin__.set",
    "__builtin__.frozenset",
];

type R<T> = Result<T, PickleError>;

impl Vm<'_> {
    fn object(&mut self, class: Value, args: Vec<Value>) -> R<Value> {
        let id = self.add(Node::Object(Box::new(Object {
            class,
            args,
            state: None,
        })))?;
        Ok(Value::Node(id))
    }

    fn dict_from(&mut self, args: &[Value]) -> R<Value> {
        let mut d = Dict::default();
        if let Some(src) = args.first() {
            match self.scan.arena.node(src) {
                Some(Node::Dict(other)) => {
                    for (k, v) in other.items.clone() {
                        d.insert(k, v);
                    }
                }
                Some(Node::List(pairs) | Node::Tuple(pairs)) => {
                    for p in pairs.clone() {
                        if let Some([k, v]) =
                            self.scan.arena.seq(&p).map(<[Value]>::to_vec).as_deref()
                        {
                            d.insert(k.clone(), v.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        let id = self.add(Node::Dict(Box::new(d)))?;
        Ok(Value::Node(id))
    }

    /// A sequence of integers, also through a `torch.Size(...)` stand-in.
    fn int_seq(&self, v: &Value) -> Option<Vec<i64>> {
        let items = match self.scan.arena.node(v)? {
            Node::Object(o) if matches!(&o.class, Value::Global(g) if g.as_str() == "torch.Size") => {
                self.scan.arena.seq(o.args.first()?)?
            }
            _ => self.scan.arena.seq(v)?,
        };
        items.iter().map(Value::as_int).collect()
    }

    fn tensor(&mut self, func: Value, args: Vec<Value>, at: usize) -> R<Value> {
        let storage = match args.first() {
            Some(Value::Node(id)) if matches!(self.scan.arena.get(*id), Some(Node::Storage(_))) => {
                Some(*id)
            }
            _ => None,
        };
        let shape = args.get(2).and_then(|v| self.int_seq(v)).and_then(|s| {
            s.into_iter()
                .map(|d| u64::try_from(d).ok())
                .collect::<Option<Vec<_>>>()
        });
        let Some(shape) = shape.filter(|s| s.len() <= 64) else {
            self.scan.notes.push(format!(
                "offset {at}: tensor rebuilt with an unreadable size argument"
            ));
            return self.object(func, args);
        };
        let t = TensorRef {
            storage,
            storage_offset: args.get(1).and_then(Value::as_int),
            shape,
            stride: args.get(3).and_then(|v| self.int_seq(v)),
            dtype_global: None,
        };
        let id = self.add(Node::Tensor(Box::new(t)))?;
        Ok(Value::Node(id))
    }

    /// `_rebuild_meta_tensor_no_storage(dtype, size, stride, requires_grad)`: no data at all.
    fn meta_tensor(&mut self, func: Value, args: Vec<Value>) -> R<Value> {
        let dtype = match args.first() {
            Some(Value::Global(g)) => Some(g.clone()),
            _ => None,
        };
        let shape = args.get(1).and_then(|v| self.int_seq(v)).and_then(|s| {
            s.into_iter()
                .map(|d| u64::try_from(d).ok())
                .collect::<Option<Vec<_>>>()
        });
        match shape {
            Some(shape) if shape.len() <= 64 => {
                let t = TensorRef {
                    storage: None,
                    storage_offset: None,
                    shape,
                    stride: args.get(2).and_then(|v| self.int_seq(v)),
                    dtype_global: dtype,
                };
                let id = self.add(Node::Tensor(Box::new(t)))?;
                Ok(Value::Node(id))
            }
            _ => self.object(func, args),
        }
    }

    /// REDUCE: `func(*args)`.
    pub(super) fn call(
        &mut self,
        func: Value,
        args: Vec<Value>,
        opc: u8,
        at: usize,
        depth: u8,
    ) -> R<Value> {
        self.note_call(&func, opc, at);
        let Value::Global(name) = &func else {
            return self.object(func, args);
        };
        let name: RcStr = name.clone();
        let n = name.as_str();
        if TENSOR_REBUILDERS.contains(&n) {
            return self.tensor(func, args, at);
        }
        if n == "torch._utils._rebuild_meta_tensor_no_storage" {
            return self.meta_tensor(func, args);
        }
        if PASS_THROUGH.contains(&n) {
            return Ok(args.into_iter().next().unwrap_or(Value::None));
        }
        if DICT_TYPES.contains(&n) {
            return self.dict_from(&args);
        }
        if SET_TYPES.contains(&n) {
            let items = args
                .first()
                .and_then(|a| self.scan.arena.seq(a))
                .map(<[Value]>::to_vec)
                .unwrap_or_default();
            let id = self.add(Node::Set(items))?;
            return Ok(Value::Node(id));
        }
        if n == "_codecs.encode" {
            let len = args
                .first()
                .and_then(Value::as_str)
                .map_or(0, |s| s.len() as u64);
            return Ok(Value::Bytes(len));
        }
        if n == "torch._tensor._rebuild_from_type_v2" && depth == 0 && args.len() >= 3 {
            // (func, new_type, args, state): the tensor is func(*args).
            let inner = self
                .scan
                .arena
                .seq(&args[2])
                .map(<[Value]>::to_vec)
                .unwrap_or_default();
            return self.call(args[0].clone(), inner, opc, at, depth + 1);
        }
        self.object(func, args)
    }

    /// NEWOBJ / NEWOBJ_EX / OBJ / INST: `cls.__new__(cls, *args)` or `cls(*args)`.
    pub(super) fn instantiate(
        &mut self,
        class: Value,
        args: Vec<Value>,
        opc: u8,
        at: usize,
    ) -> R<Value> {
        self.note_call(&class, opc, at);
        if let Value::Global(g) = &class
            && DICT_TYPES.contains(&g.as_str())
        {
            let fill = if opc == super::opcodes::NEWOBJ || opc == super::opcodes::NEWOBJ_EX {
                Vec::new()
            } else {
                args
            };
            return self.dict_from(&fill);
        }
        self.object(class, args)
    }

    /// BUILD: `obj.__setstate__(state)` or a `__dict__` update.
    pub(super) fn build(&mut self, target: &Value, state: Value, at: usize) {
        let Value::Node(id) = target else {
            return;
        };
        let class = match self.scan.arena.get(*id) {
            Some(Node::Object(o)) => o.class.clone(),
            // Dict attributes (a state dict's `_metadata`) and tensor state list no tensors.
            _ => return,
        };
        self.note_call(&class, super::opcodes::BUILD, at);
        if let Some(Node::Object(o)) = self.scan.arena.get_mut(*id) {
            o.state = Some(state);
        }
    }

    /// BINPERSID / PERSID: torch's `persistent_load`, which only understands storages.
    pub(super) fn persistent(&mut self, pid: Value) -> R<Value> {
        let items = self
            .scan
            .arena
            .seq(&pid)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        if items.len() >= 5 && items[0].as_str() == Some("storage") {
            let type_name = match &items[1] {
                Value::Global(g) | Value::Str(g) => g.clone(),
                _ => rc("?"),
            };
            let key = match &items[2] {
                Value::Str(s) => s.clone(),
                Value::Int(i) => rc(&i.to_string()),
                _ => rc("?"),
            };
            let location = match &items[3] {
                Value::Str(s) => s.clone(),
                _ => rc("?"),
            };
            let view = items
                .get(5)
                .and_then(|v| self.scan.arena.seq(v))
                .and_then(|s| Some((s.get(1)?.as_int()?, s.get(2)?.as_int()?)));
            let st = StorageRef {
                type_name,
                key,
                location,
                numel: items[4].as_int().and_then(|n| u64::try_from(n).ok()),
                view,
            };
            let id = self.add(Node::Storage(Box::new(st)))?;
            return Ok(Value::Node(id));
        }
        self.scan
            .notes
            .push("persistent id that is not a torch storage".to_string());
        let id = self.add(Node::Persistent)?;
        Ok(Value::Node(id))
    }
}
