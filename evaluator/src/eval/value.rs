//! The value model of the evaluator: weak-head-normal-form [`Value`]s and lazy [`Thunk`]s.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::rc::Rc;

use super::error::{EvalError, Result};
use super::ir::{Expr, LambdaDef};
use super::Evaluator;

/// String context, as Nix 2.8 encodes it (see `docs/ARCHITECTURE.md`):
/// `/nix/store/…` (opaque path), `=/nix/store/….drv` (all outputs and the drv closure),
/// `!<output>!/nix/store/….drv` (one output of a derivation).
pub type Context = BTreeSet<String>;

/// Source position: a file of the evaluator's file table and a byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    pub file: u32,
    pub offset: u32,
}

impl Pos {
    pub const NONE: Pos = Pos {
        file: u32::MAX,
        offset: 0,
    };
    pub fn is_none(&self) -> bool {
        self.file == u32::MAX
    }
}

/// A string with its context. Nix strings are bytes (not necessarily UTF-8); they never
/// hold a NUL byte (Nix 2.8 keeps them as C strings: sources cut them at the first NUL,
/// see [`cut_at_nul`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NixString {
    pub s: Vec<u8>,
    pub ctx: Context,
}

impl NixString {
    pub fn as_bytes(&self) -> &[u8] {
        &self.s
    }
    /// The text, with invalid UTF-8 replaced by U+FFFD (for messages and names only).
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.s)
    }
}

/// Nix 2.8 keeps string values as C strings: bytes after a NUL are lost wherever a string
/// is made from raw data (string literals, `fromJSON`, `fromTOML`).
pub fn cut_at_nul(mut b: Vec<u8>) -> Vec<u8> {
    if let Some(i) = b.iter().position(|&c| c == 0) {
        b.truncate(i);
    }
    b
}

/// One attribute of a set.
#[derive(Clone)]
pub struct Attr {
    pub name: Rc<str>,
    pub value: Thunk,
    pub pos: Pos,
}

/// An attribute set, kept sorted by name (byte order, as Nix prints and lists them).
#[derive(Clone, Default)]
pub struct Attrs {
    pub entries: Vec<Attr>,
}

impl Attrs {
    pub fn new() -> Self {
        Attrs {
            entries: Vec::new(),
        }
    }
    /// Build from unsorted entries; later duplicates win.
    pub fn from_unsorted(mut entries: Vec<Attr>) -> Self {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        // keep the last of equal names
        let mut out: Vec<Attr> = Vec::with_capacity(entries.len());
        for e in entries {
            if let Some(l) = out.last_mut() {
                if l.name == e.name {
                    *l = e;
                    continue;
                }
            }
            out.push(e);
        }
        Attrs { entries: out }
    }
    pub fn get(&self, name: &str) -> Option<&Thunk> {
        self.entries
            .binary_search_by(|a| (*a.name).cmp(name))
            .ok()
            .map(|i| &self.entries[i].value)
    }
    pub fn get_attr(&self, name: &str) -> Option<&Attr> {
        self.entries
            .binary_search_by(|a| (*a.name).cmp(name))
            .ok()
            .map(|i| &self.entries[i])
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Insert or replace.
    pub fn insert(&mut self, name: Rc<str>, value: Thunk, pos: Pos) {
        match self.entries.binary_search_by(|a| (*a.name).cmp(&name)) {
            Ok(i) => self.entries[i] = Attr { name, value, pos },
            Err(i) => self.entries.insert(i, Attr { name, value, pos }),
        }
    }
    /// `self // other`
    pub fn update(&self, other: &Attrs) -> Attrs {
        let (a, b) = (&self.entries, &other.entries);
        let mut out = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].name.cmp(&b[j].name) {
                std::cmp::Ordering::Less => {
                    out.push(a[i].clone());
                    i += 1
                }
                std::cmp::Ordering::Greater => {
                    out.push(b[j].clone());
                    j += 1
                }
                std::cmp::Ordering::Equal => {
                    out.push(b[j].clone());
                    i += 1;
                    j += 1
                }
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        Attrs { entries: out }
    }
}

/// A closure: a lambda definition and the environment it was created in.
pub struct Closure {
    pub def: Rc<LambdaDef>,
    pub env: Rc<Env>,
}

/// Signature of a builtin implementation. Arguments are lazy thunks (force them with
/// [`Evaluator::force`]); most builtins force all of them.
pub type PrimOpFn = Rc<dyn Fn(&mut Evaluator, &[Thunk]) -> Result<Value>>;

/// A builtin function of fixed arity.
pub struct PrimOp {
    pub name: Rc<str>,
    pub arity: usize,
    pub f: PrimOpFn,
}

/// A value in weak head normal form.
#[derive(Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Rc<NixString>),
    /// An absolute, canonical path.
    Path(Rc<str>),
    List(Rc<Vec<Thunk>>),
    Attrs(Rc<Attrs>),
    Lambda(Rc<Closure>),
    PrimOp(Rc<PrimOp>),
    /// A partially applied primop.
    PrimOpApp(Rc<PrimOp>, Rc<Vec<Thunk>>),
}

impl Value {
    pub fn string(s: impl Into<Vec<u8>>) -> Value {
        Value::String(Rc::new(NixString {
            s: s.into(),
            ctx: Context::new(),
        }))
    }
    pub fn string_ctx(s: impl Into<Vec<u8>>, ctx: Context) -> Value {
        Value::String(Rc::new(NixString { s: s.into(), ctx }))
    }
    pub fn list(v: Vec<Thunk>) -> Value {
        Value::List(Rc::new(v))
    }
    pub fn attrs(a: Attrs) -> Value {
        Value::Attrs(Rc::new(a))
    }
    /// Build an attribute set from (name, value) pairs.
    pub fn attrs_from<I: IntoIterator<Item = (S, Value)>, S: Into<Rc<str>>>(it: I) -> Value {
        Value::attrs(Attrs::from_unsorted(
            it.into_iter()
                .map(|(n, v)| Attr {
                    name: n.into(),
                    value: Thunk::new(v),
                    pos: Pos::NONE,
                })
                .collect(),
        ))
    }
    /// Type name as `builtins.typeOf` returns it.
    pub fn type_of(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Path(_) => "path",
            Value::List(_) => "list",
            Value::Attrs(_) => "set",
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(..) => "lambda",
        }
    }
    /// Type name as error messages show it ("an integer", "a set", ...).
    pub fn show_type(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a Boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Path(_) => "a path",
            Value::List(_) => "a list",
            Value::Attrs(_) => "a set",
            Value::Lambda(_) => "a function",
            Value::PrimOp(_) => "a built-in function",
            Value::PrimOpApp(..) => "a partially applied built-in function",
        }
    }
    pub fn is_function(&self) -> bool {
        matches!(
            self,
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(..)
        )
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => write!(f, "{:?}", s.to_str_lossy()),
            Value::Path(p) => write!(f, "{p}"),
            Value::List(l) => write!(f, "[list of {}]", l.len()),
            Value::Attrs(a) => write!(f, "{{set of {}}}", a.len()),
            _ => write!(f, "<function>"),
        }
    }
}

/// A native lazy computation.
pub type NativeThunk = Rc<dyn Fn(&mut Evaluator) -> Result<Value>>;

pub(crate) enum ThunkState {
    Done(Value),
    Expr(Rc<Env>, Rc<Expr>),
    /// Apply a function to arguments when forced.
    Apply(Value, Vec<Thunk>),
    Native(NativeThunk),
    Blackhole,
}

/// A lazily evaluated value, shared and memoised.
#[derive(Clone)]
pub struct Thunk(pub(crate) Rc<RefCell<ThunkState>>);

impl Thunk {
    pub fn new(v: Value) -> Thunk {
        Thunk(Rc::new(RefCell::new(ThunkState::Done(v))))
    }
    pub fn expr(env: Rc<Env>, e: Rc<Expr>) -> Thunk {
        Thunk(Rc::new(RefCell::new(ThunkState::Expr(env, e))))
    }
    pub fn apply(f: Value, args: Vec<Thunk>) -> Thunk {
        Thunk(Rc::new(RefCell::new(ThunkState::Apply(f, args))))
    }
    pub fn native(f: impl Fn(&mut Evaluator) -> Result<Value> + 'static) -> Thunk {
        Thunk(Rc::new(RefCell::new(ThunkState::Native(Rc::new(f)))))
    }
    pub fn error(e: EvalError) -> Thunk {
        let e = Rc::new(e);
        Thunk::native(move |_| Err(Box::new((*e).clone())))
    }
    /// The value if already evaluated.
    pub fn value(&self) -> Option<Value> {
        match &*self.0.borrow() {
            ThunkState::Done(v) => Some(v.clone()),
            _ => None,
        }
    }
    pub fn ptr_eq(&self, other: &Thunk) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl From<Value> for Thunk {
    fn from(v: Value) -> Thunk {
        Thunk::new(v)
    }
}

/// A runtime environment: one static scope level (or one `with`).
/// Slots of an environment (inline for the common small cases: one lambda argument).
pub type EnvSlots = smallvec::SmallVec<[Thunk; 2]>;

pub struct Env {
    pub vals: RefCell<EnvSlots>,
    pub parent: Option<Rc<Env>>,
    /// For `with` scopes: the attribute-set expression.
    pub with: Option<Thunk>,
}

impl Env {
    pub fn new(parent: Option<Rc<Env>>, vals: Vec<Thunk>) -> Rc<Env> {
        Rc::new(Env {
            vals: RefCell::new(EnvSlots::from_vec(vals)),
            parent,
            with: None,
        })
    }

    /// An environment with one slot (a lambda's argument).
    pub fn one(parent: Option<Rc<Env>>, val: Thunk) -> Rc<Env> {
        let mut v = EnvSlots::new();
        v.push(val);
        Rc::new(Env {
            vals: RefCell::new(v),
            parent,
            with: None,
        })
    }
}

/// Text of string bytes for the places that need text (paths, names, messages): the
/// bytes themselves when they are UTF-8, else with invalid sequences replaced by U+FFFD.
pub fn bytes_to_string(b: Vec<u8>) -> String {
    match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}
