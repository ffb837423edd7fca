//! The pickle machine: reads opcodes one by one, like `pickletools.genops`, and keeps a symbolic
//! stack, mark stack and memo. Nothing is imported or called: globals stay names, calls become
//! inert [`Node::Object`]s (or tensors, for torch's rebuild helpers; see `calls.rs`).
//!
//! Every opcode consumes at least one input byte and pushes at most one value, so the work is
//! linear in the pickle length; stack, memo and arena sizes are capped by [`Limits`] as well.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::opcodes as op;
use super::text;
use super::value::{Arena, Dict, Node, NodeId, RcStr, Value, rc};

/// Caps that keep a hostile pickle from exhausting memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most values on the stack at once.
    pub max_stack: usize,
    /// Most open MARKs.
    pub max_marks: usize,
    /// Most memo entries.
    pub max_memo: usize,
    /// Most containers/objects made.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stack: 1 << 21,
            max_marks: 1 << 16,
            max_memo: 1 << 22,
            max_nodes: 1 << 22,
        }
    }
}

/// Why a pickle could not be read to its STOP.
#[derive(Debug, Clone, PartialEq)]
pub enum PickleError {
    /// The bytes ran out before STOP (more input might complete it).
    Truncated(String),
    /// The bytes are not a valid pickle.
    Malformed(String),
    /// A limit was hit.
    TooLarge(String),
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PickleError::Truncated(m) | PickleError::Malformed(m) | PickleError::TooLarge(m) => {
                f.write_str(m)
            }
        }
    }
}

/// The first reference to a `module.name` made by GLOBAL, STACK_GLOBAL, INST or an EXT opcode
/// (later references to the same name are not repeated).
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalUse {
    /// `module.name` as written in the pickle.
    pub name: String,
    /// The opcode that named it.
    pub opcode: &'static str,
    /// Byte offset of that opcode.
    pub offset: usize,
}

/// Something the real unpickler would invoke: REDUCE, NEWOBJ(_EX), OBJ, INST, or BUILD on an
/// object (which runs its class's `__setstate__`). Only the first use of each distinct
/// (callable, opcode) pair is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct CallUse {
    /// `module.name` of the callable or class; `None` when it was computed by the pickle.
    pub callable: Option<String>,
    /// The opcode.
    pub opcode: &'static str,
    /// Byte offset of that opcode.
    pub offset: usize,
}

/// Everything learned from one pickle.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The value STOP returned.
    pub value: Option<Value>,
    /// Nodes the value refers to.
    pub arena: Arena,
    /// Offset just past STOP.
    pub end: usize,
    /// The PROTO argument, if the pickle has one.
    pub protocol: Option<u8>,
    /// Every distinct global named, in order of first use.
    pub globals: Vec<GlobalUse>,
    /// Every distinct (callable, opcode) pair, in order of first use.
    pub calls: Vec<CallUse>,
    /// Oddities that are not errors (unknown persistent ids, unreadable tensor arguments).
    pub notes: Vec<String>,
}

/// A failed run: the error plus what was seen before it (so a malicious global before a
/// corrupt byte is still reported).
#[derive(Debug, Clone)]
pub struct Failure {
    /// What went wrong.
    pub error: PickleError,
    /// The partial scan (no value).
    pub partial: Scan,
}

/// Runs the pickle that starts at `data[0]` up to its STOP.
pub fn run(data: &[u8], limits: Limits) -> Result<Scan, Box<Failure>> {
    let mut vm = Vm {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: Memo::default(),
        limits,
        scan: Scan::default(),
        interned: HashMap::new(),
        calls_seen: HashSet::new(),
    };
    match vm.execute() {
        Ok(v) => {
            vm.scan.value = Some(v);
            vm.scan.end = vm.pos;
            Ok(vm.scan)
        }
        Err(error) => {
            vm.scan.end = vm.pos;
            Err(Box::new(Failure {
                error,
                partial: vm.scan,
            }))
        }
    }
}

/// The memo: picklers number entries 0, 1, 2…, so a vector holds them; keys far from the end
/// (only hostile pickles make those) go to a map.
#[derive(Default)]
struct Memo {
    dense: Vec<Option<Value>>,
    sparse: HashMap<u64, Value>,
    count: usize,
}

impl Memo {
    /// Slack allowed past the end of the vector before a key counts as sparse.
    const SLACK: u64 = 64;

    fn get(&self, k: u64) -> Option<&Value> {
        match self.dense.get(k as usize) {
            Some(v) => v.as_ref(),
            None => self.sparse.get(&k),
        }
    }

    fn contains(&self, k: u64) -> bool {
        self.get(k).is_some()
    }

    fn insert(&mut self, k: u64, v: Value) {
        let len = self.dense.len() as u64;
        if k < len + Self::SLACK && !self.sparse.contains_key(&k) {
            if k >= len {
                self.dense.resize(k as usize + 1, None);
            }
            let slot = &mut self.dense[k as usize];
            if slot.is_none() {
                self.count += 1;
            }
            *slot = Some(v);
        } else if self.sparse.insert(k, v).is_none() {
            self.count += 1;
        }
    }
}

pub(super) struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: Memo,
    limits: Limits,
    pub(super) scan: Scan,
    /// Global names seen so far, shared by every value naming them.
    interned: HashMap<String, RcStr>,
    /// (callable, opcode) pairs already recorded.
    calls_seen: HashSet<(Option<RcStr>, &'static str)>,
}

type R<T> = Result<T, PickleError>;

impl<'a> Vm<'a> {
    fn take(&mut self, n: u64, what: &str) -> R<&'a [u8]> {
        let remaining = (self.data.len() - self.pos) as u64;
        if n > remaining {
            return Err(PickleError::Truncated(format!(
                "pickle truncated: {what} of {n} bytes at offset {} but only {remaining} remain",
                self.pos
            )));
        }
        let s = &self.data[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1, "opcode argument")?[0])
    }

    fn le<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64, "opcode argument")?);
        Ok(a)
    }

    fn line(&mut self) -> R<&'a [u8]> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(PickleError::Truncated(format!(
                "pickle truncated: no newline after offset {}",
                self.pos
            ))),
        }
    }

    fn malformed(&self, at: usize, msg: impl std::fmt::Display) -> PickleError {
        PickleError::Malformed(format!("pickle offset {at}: {msg}"))
    }

    pub(super) fn push(&mut self, v: Value) -> R<()> {
        if self.stack.len() >= self.limits.max_stack {
            return Err(PickleError::TooLarge(format!(
                "pickle stack exceeds {} values at offset {}",
                self.limits.max_stack, self.pos
            )));
        }
        self.stack.push(v);
        Ok(())
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    /// The items of an argument tuple (empty when the value is not a sequence).
    fn seq_items(&self, args: &Value) -> Vec<Value> {
        self.scan
            .arena
            .seq(args)
            .map(<[Value]>::to_vec)
            .unwrap_or_default()
    }

    fn pop(&mut self, at: usize, opc: u8) -> R<Value> {
        if self.stack.len() <= self.floor() {
            return Err(self.malformed(at, format!("stack underflow in {}", op::name(opc))));
        }
        Ok(self.stack.pop().unwrap_or(Value::None))
    }

    fn top(&self, at: usize, opc: u8) -> R<&Value> {
        if self.stack.len() <= self.floor() {
            return Err(self.malformed(at, format!("empty stack in {}", op::name(opc))));
        }
        self.stack
            .last()
            .ok_or_else(|| self.malformed(at, "empty stack"))
    }

    fn pop_mark(&mut self, at: usize, opc: u8) -> R<Vec<Value>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed(at, format!("{} without MARK", op::name(opc))))?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    pub(super) fn add(&mut self, n: Node) -> R<NodeId> {
        if self.scan.arena.len() >= self.limits.max_nodes {
            return Err(PickleError::TooLarge(format!(
                "pickle makes more than {} objects (offset {})",
                self.limits.max_nodes, self.pos
            )));
        }
        Ok(self.scan.arena.add(n))
    }

    fn push_node(&mut self, n: Node) -> R<()> {
        let id = self.add(n)?;
        self.push(Value::Node(id))
    }

    fn memo_put(&mut self, at: usize, key: u64, opc: u8) -> R<()> {
        let v = self.top(at, opc)?.clone();
        if !self.memo.contains(key) && self.memo.count >= self.limits.max_memo {
            return Err(PickleError::TooLarge(format!(
                "pickle memo exceeds {} entries at offset {at}",
                self.limits.max_memo
            )));
        }
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, at: usize, key: u64) -> R<()> {
        let v = self
            .memo
            .get(key)
            .cloned()
            .ok_or_else(|| self.malformed(at, format!("memo key {key} was never stored")))?;
        self.push(v)
    }

    fn global(&mut self, at: usize, opcode: &'static str, name: String) -> Value {
        if let Some(g) = self.interned.get(&name) {
            return Value::Global(g.clone());
        }
        let g = rc(&name);
        self.interned.insert(name.clone(), g.clone());
        self.scan.globals.push(GlobalUse {
            name,
            opcode,
            offset: at,
        });
        Value::Global(g)
    }

    /// Records a call-like opcode on `callable`.
    pub(super) fn note_call(&mut self, callable: &Value, opcode: u8, at: usize) {
        let callable = match callable {
            Value::Global(g) => Some(g.clone()),
            _ => None,
        };
        let opcode = op::name(opcode);
        if self.calls_seen.insert((callable.clone(), opcode)) {
            self.scan.calls.push(CallUse {
                callable: callable.map(|c| c.to_string()),
                opcode,
                offset: at,
            });
        }
    }

    /// Parses a text argument with `f`, turning its complaint into a malformed-pickle error.
    fn arg<T>(&self, at: usize, r: Result<T, String>) -> R<T> {
        r.map_err(|m| self.malformed(at, m))
    }

    fn execute(&mut self) -> R<Value> {
        loop {
            let at = self.pos;
            let Some(&opc) = self.data.get(self.pos) else {
                return Err(PickleError::Truncated(format!(
                    "pickle truncated: no STOP before offset {at}"
                )));
            };
            self.pos += 1;
            match opc {
                op::STOP => return self.pop(at, opc),
                op::PROTO => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(self.malformed(at, format!("unsupported pickle protocol {p}")));
                    }
                    self.scan.protocol.get_or_insert(p);
                }
                op::FRAME => {
                    let n = u64::from_le_bytes(self.le::<8>()?);
                    let remaining = (self.data.len() - self.pos) as u64;
                    if n > remaining {
                        return Err(PickleError::Truncated(format!(
                            "pickle truncated: frame of {n} bytes at offset {at} but only {remaining} remain"
                        )));
                    }
                }
                op::MARK => {
                    if self.marks.len() >= self.limits.max_marks {
                        return Err(PickleError::TooLarge(format!(
                            "more than {} nested MARKs at offset {at}",
                            self.limits.max_marks
                        )));
                    }
                    self.marks.push(self.stack.len());
                }
                op::POP => {
                    if self.stack.len() > self.floor() {
                        self.stack.pop();
                    } else {
                        self.pop_mark(at, opc)?;
                    }
                }
                op::POP_MARK => {
                    self.pop_mark(at, opc)?;
                }
                op::DUP => {
                    let v = self.top(at, opc)?.clone();
                    self.push(v)?;
                }
                // ---- scalars
                op::NONE => self.push(Value::None)?,
                op::NEWTRUE => self.push(Value::Bool(true))?,
                op::NEWFALSE => self.push(Value::Bool(false))?,
                op::INT => {
                    let line = self.line()?;
                    let v = self.arg(at, text::int(line))?;
                    self.push(v)?;
                }
                op::LONG => {
                    let line = self.line()?;
                    let v = self.arg(at, text::long(line))?;
                    self.push(v)?;
                }
                op::BININT => {
                    let v = i32::from_le_bytes(self.le::<4>()?);
                    self.push(Value::Int(v as i64))?;
                }
                op::BININT1 => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64))?;
                }
                op::BININT2 => {
                    let v = u16::from_le_bytes(self.le::<2>()?);
                    self.push(Value::Int(v as i64))?;
                }
                op::LONG1 => {
                    let n = self.u8()? as u64;
                    let b = self.take(n, "LONG1")?;
                    self.push(long_from_le(b))?;
                }
                op::LONG4 => {
                    let n = i32::from_le_bytes(self.le::<4>()?);
                    if n < 0 {
                        return Err(self.malformed(at, "LONG4 with negative byte count"));
                    }
                    let b = self.take(n as u64, "LONG4")?;
                    self.push(long_from_le(b))?;
                }
                op::FLOAT => {
                    let line = self.line()?;
                    let f = self.arg(at, text::float(line))?;
                    self.push(Value::Float(f))?;
                }
                op::BINFLOAT => {
                    let f = f64::from_be_bytes(self.le::<8>()?);
                    self.push(Value::Float(f))?;
                }
                // ---- strings and bytes
                op::STRING => {
                    let line = self.line()?;
                    let s = self.arg(at, text::string(line))?;
                    self.push(Value::Str(Rc::new(s)))?;
                }
                op::BINSTRING => {
                    let n = i32::from_le_bytes(self.le::<4>()?);
                    if n < 0 {
                        return Err(self.malformed(at, "BINSTRING with negative length"));
                    }
                    let b = self.take(n as u64, "BINSTRING")?;
                    self.push(str_value(b))?;
                }
                op::SHORT_BINSTRING => {
                    let n = self.u8()? as u64;
                    let b = self.take(n, "SHORT_BINSTRING")?;
                    self.push(str_value(b))?;
                }
                op::UNICODE => {
                    let line = self.line()?;
                    let s = self.arg(at, text::unicode(line))?;
                    self.push(Value::Str(Rc::new(s)))?;
                }
                op::BINUNICODE => {
                    let n = u32::from_le_bytes(self.le::<4>()?) as u64;
                    let b = self.take(n, "BINUNICODE")?;
                    self.push(str_value(b))?;
                }
                op::SHORT_BINUNICODE => {
                    let n = self.u8()? as u64;
                    let b = self.take(n, "SHORT_BINUNICODE")?;
                    self.push(str_value(b))?;
                }
                op::BINUNICODE8 => {
                    let n = u64::from_le_bytes(self.le::<8>()?);
                    let b = self.take(n, "BINUNICODE8")?;
                    self.push(str_value(b))?;
                }
                op::BINBYTES => {
                    let n = u32::from_le_bytes(self.le::<4>()?) as u64;
                    self.take(n, "BINBYTES")?;
                    self.push(Value::Bytes(n))?;
                }
                op::SHORT_BINBYTES => {
                    let n = self.u8()? as u64;
                    self.take(n, "SHORT_BINBYTES")?;
                    self.push(Value::Bytes(n))?;
                }
                op::BINBYTES8 | op::BYTEARRAY8 => {
                    let n = u64::from_le_bytes(self.le::<8>()?);
                    self.take(n, op::name(opc))?;
                    self.push(Value::Bytes(n))?;
                }
                op::NEXT_BUFFER => {
                    // Out-of-band buffers: torch.load passes none, so the real load fails here.
                    return Err(self.malformed(at, "NEXT_BUFFER refers to out-of-band data"));
                }
                op::READONLY_BUFFER => {
                    self.top(at, opc)?;
                }
                // ---- containers
                op::EMPTY_LIST => self.push_node(Node::List(Vec::new()))?,
                op::EMPTY_TUPLE => self.push_node(Node::Tuple(Vec::new()))?,
                op::EMPTY_DICT => self.push_node(Node::Dict(Box::default()))?,
                op::EMPTY_SET => self.push_node(Node::Set(Vec::new()))?,
                op::LIST => {
                    let items = self.pop_mark(at, opc)?;
                    self.push_node(Node::List(items))?;
                }
                op::TUPLE => {
                    let items = self.pop_mark(at, opc)?;
                    self.push_node(Node::Tuple(items))?;
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = (opc - op::TUPLE1 + 1) as usize;
                    let mut items = vec![Value::None; n];
                    for slot in items.iter_mut().rev() {
                        *slot = self.pop(at, opc)?;
                    }
                    self.push_node(Node::Tuple(items))?;
                }
                op::FROZENSET => {
                    let items = self.pop_mark(at, opc)?;
                    self.push_node(Node::Set(items))?;
                }
                op::DICT => {
                    let items = self.pop_mark(at, opc)?;
                    if items.len() % 2 != 0 {
                        return Err(self.malformed(at, "DICT with an odd number of items"));
                    }
                    let mut d = Dict::default();
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        d.insert(k, v);
                    }
                    self.push_node(Node::Dict(Box::new(d)))?;
                }
                op::APPEND => {
                    let v = self.pop(at, opc)?;
                    let target = self.top(at, opc)?.clone();
                    self.extend(&target, vec![v]);
                }
                op::APPENDS | op::ADDITEMS => {
                    let items = self.pop_mark(at, opc)?;
                    let target = self.top(at, opc)?.clone();
                    self.extend(&target, items);
                }
                op::SETITEM => {
                    let v = self.pop(at, opc)?;
                    let k = self.pop(at, opc)?;
                    let target = self.top(at, opc)?.clone();
                    self.set_items(&target, vec![k, v])?;
                }
                op::SETITEMS => {
                    let items = self.pop_mark(at, opc)?;
                    if items.len() % 2 != 0 {
                        return Err(self.malformed(at, "SETITEMS with an odd number of items"));
                    }
                    let target = self.top(at, opc)?.clone();
                    self.set_items(&target, items)?;
                }
                // ---- memo
                op::PUT => {
                    let line = self.line()?;
                    let k = self.arg(at, text::memo_key("PUT", line))?;
                    self.memo_put(at, k, opc)?;
                }
                op::BINPUT => {
                    let k = self.u8()? as u64;
                    self.memo_put(at, k, opc)?;
                }
                op::LONG_BINPUT => {
                    let k = u32::from_le_bytes(self.le::<4>()?) as u64;
                    self.memo_put(at, k, opc)?;
                }
                op::MEMOIZE => {
                    let k = self.memo.count as u64;
                    self.memo_put(at, k, opc)?;
                }
                op::GET => {
                    let line = self.line()?;
                    let k = self.arg(at, text::memo_key("GET", line))?;
                    self.memo_get(at, k)?;
                }
                op::BINGET => {
                    let k = self.u8()? as u64;
                    self.memo_get(at, k)?;
                }
                op::LONG_BINGET => {
                    let k = u32::from_le_bytes(self.le::<4>()?) as u64;
                    self.memo_get(at, k)?;
                }
                // ---- globals and calls
                op::GLOBAL => {
                    let module = self.line()?;
                    let module = self.arg(at, text::name("GLOBAL", module))?;
                    let name = self.line()?;
                    let name = self.arg(at, text::name("GLOBAL", name))?;
                    let v = self.global(at, "GLOBAL", format!("{module}.{name}"));
                    self.push(v)?;
                }
                op::STACK_GLOBAL => {
                    let name = self.pop(at, opc)?;
                    let module = self.pop(at, opc)?;
                    let (Some(m), Some(n)) = (module.as_str(), name.as_str()) else {
                        return Err(self.malformed(at, "STACK_GLOBAL requires str"));
                    };
                    let v = self.global(at, "STACK_GLOBAL", format!("{m}.{n}"));
                    self.push(v)?;
                }
                op::EXT1 | op::EXT2 | op::EXT4 => {
                    let code = match opc {
                        op::EXT1 => self.u8()? as i64,
                        op::EXT2 => u16::from_le_bytes(self.le::<2>()?) as i64,
                        _ => i32::from_le_bytes(self.le::<4>()?) as i64,
                    };
                    // The copyreg extension registry maps codes to arbitrary globals.
                    let v = self.global(at, op::name(opc), format!("copyreg.extension[{code}]"));
                    self.push(v)?;
                }
                op::INST => {
                    let module = self.line()?;
                    let module = self.arg(at, text::name("INST", module))?;
                    let name = self.line()?;
                    let name = self.arg(at, text::name("INST", name))?;
                    let class = self.global(at, "INST", format!("{module}.{name}"));
                    let args = self.pop_mark(at, opc)?;
                    let v = self.instantiate(class, args, opc, at)?;
                    self.push(v)?;
                }
                op::OBJ => {
                    let mut items = self.pop_mark(at, opc)?;
                    if items.is_empty() {
                        return Err(self.malformed(at, "OBJ without a class"));
                    }
                    let class = items.remove(0);
                    let v = self.instantiate(class, items, opc, at)?;
                    self.push(v)?;
                }
                op::NEWOBJ | op::NEWOBJ_EX => {
                    if opc == op::NEWOBJ_EX {
                        // Keyword arguments never change which class is instantiated.
                        let _kwargs = self.pop(at, opc)?;
                    }
                    let args = self.pop(at, opc)?;
                    let class = self.pop(at, opc)?;
                    let args = self.seq_items(&args);
                    let v = self.instantiate(class, args, opc, at)?;
                    self.push(v)?;
                }
                op::REDUCE => {
                    let args = self.pop(at, opc)?;
                    let func = self.pop(at, opc)?;
                    let args = self.seq_items(&args);
                    let v = self.call(func, args, opc, at, 0)?;
                    self.push(v)?;
                }
                op::BUILD => {
                    let state = self.pop(at, opc)?;
                    let target = self.top(at, opc)?.clone();
                    self.build(&target, state, at);
                }
                op::PERSID => {
                    let line = self.line()?;
                    let pid = Value::Str(Rc::new(self.arg(at, text::persistent_id(line))?));
                    let v = self.persistent(pid)?;
                    self.push(v)?;
                }
                op::BINPERSID => {
                    let pid = self.pop(at, opc)?;
                    let v = self.persistent(pid)?;
                    self.push(v)?;
                }
                other => {
                    return Err(self.malformed(at, format!("unknown opcode 0x{other:02x}")));
                }
            }
        }
    }

    fn extend(&mut self, target: &Value, items: Vec<Value>) {
        if let Value::Node(id) = target
            && let Some(Node::List(l) | Node::Set(l)) = self.scan.arena.get_mut(*id)
        {
            l.extend(items);
        }
    }

    fn set_items(&mut self, target: &Value, items: Vec<Value>) -> R<()> {
        let Value::Node(id) = target else {
            return Ok(());
        };
        // Items set on a stand-in object land in its state dict (created on first use).
        let dict_id = match self.scan.arena.get(*id) {
            Some(Node::Dict(_)) => *id,
            Some(Node::Object(o)) => match &o.state {
                Some(Value::Node(s)) if matches!(self.scan.arena.get(*s), Some(Node::Dict(_))) => {
                    *s
                }
                Some(_) => return Ok(()),
                None => {
                    let s = self.add(Node::Dict(Box::default()))?;
                    if let Some(Node::Object(o)) = self.scan.arena.get_mut(*id) {
                        o.state = Some(Value::Node(s));
                    }
                    s
                }
            },
            _ => return Ok(()),
        };
        if let Some(Node::Dict(d)) = self.scan.arena.get_mut(dict_id) {
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                d.insert(k, v);
            }
        }
        Ok(())
    }
}

/// A string from pickled bytes (UTF-8, lossily: the real loader would fail or use latin-1).
fn str_value(b: &[u8]) -> Value {
    Value::Str(Rc::new(String::from_utf8_lossy(b).into_owned()))
}

fn long_from_le(b: &[u8]) -> Value {
    if b.is_empty() {
        return Value::Int(0);
    }
    if b.len() <= 8 {
        let neg = b[b.len() - 1] & 0x80 != 0;
        let mut a = [if neg { 0xFF } else { 0 }; 8];
        a[..b.len()].copy_from_slice(b);
        return Value::Int(i64::from_le_bytes(a));
    }
    // Keep the bytes of moderately long integers (the legacy magic number is 10 bytes).
    if b.len() <= 32 {
        Value::BigInt(Rc::new(b.to_vec()))
    } else {
        Value::BigInt(Rc::new(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::text::big_from_i128;

    #[test]
    fn long_encodings() {
        assert_eq!(long_from_le(&[0xff]), Value::Int(-1));
        assert_eq!(long_from_le(&[0x80, 0x00]), Value::Int(128));
        let magic: i128 = 0x1950a86a20f9469cfc6c;
        let Value::BigInt(b) = big_from_i128(magic) else {
            panic!("magic should be big")
        };
        assert_eq!(
            &*b,
            &[0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
        );
    }
}
