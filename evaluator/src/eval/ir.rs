//! The intermediate representation the syntax tree is lowered into.
//!
//! Variables are resolved ahead of time: a lexical variable is `(depth, index)` into the chain
//! of runtime [`Env`](super::value::Env)s (each `let`, `rec`, lambda and `with` opens one
//! level). A variable with no lexical binding under a `with` is looked up dynamically in the
//! `with` scopes, innermost first, starting at the recorded depth. Expression nodes are
//! reference counted (`Rc<Expr>`): they are shared by the thunks that evaluate them.

use std::rc::Rc;

use super::value::{Pos, Value};

pub type ExprRef = Rc<Expr>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Impl,
    Update,
    Concat,
}

pub enum AttrKey {
    Static(Rc<str>),
    Dynamic(ExprRef),
}

pub enum Expr {
    Lit(Value),
    Var {
        depth: u32,
        idx: u32,
    },
    /// Lookup through `with` scopes; `depth` is the innermost `with` env.
    WithVar {
        name: Rc<str>,
        depth: u32,
        pos: Pos,
    },
    Lambda(Rc<LambdaDef>),
    Apply {
        f: ExprRef,
        args: Vec<ExprRef>,
        pos: Pos,
    },
    Select {
        e: ExprRef,
        path: Vec<AttrKey>,
        default: Option<ExprRef>,
        pos: Pos,
    },
    HasAttr {
        e: ExprRef,
        path: Vec<AttrKey>,
    },
    Attrs(Rc<AttrsDef>),
    Let {
        def: Rc<AttrsDef>,
        body: ExprRef,
    },
    With {
        attrs: ExprRef,
        body: ExprRef,
        pos: Pos,
    },
    If {
        cond: ExprRef,
        then: ExprRef,
        else_: ExprRef,
        pos: Pos,
    },
    Assert {
        cond: ExprRef,
        body: ExprRef,
        pos: Pos,
        text: String,
    },
    Not(ExprRef, Pos),
    Neg(ExprRef, Pos),
    Bin {
        op: BinOp,
        l: ExprRef,
        r: ExprRef,
        pos: Pos,
    },
    /// String (or path, when `path` is set) interpolation.
    Interp {
        parts: Vec<ExprRef>,
        path: bool,
        pos: Pos,
    },
    List(Vec<ExprRef>),
    CurPos(Pos),
}

pub enum AttrValue {
    /// Evaluated in the set's scope (the rec env for `rec`/`let`, the outer one otherwise).
    Expr(ExprRef),
}

pub struct StaticAttr {
    pub name: Rc<str>,
    pub value: ExprRef,
    pub pos: Pos,
    /// `inherit x` in a rec set/let: the value expression is resolved in the outer scope,
    /// but it is still evaluated in the rec env (its depths already account for that).
    pub inherited: bool,
}

pub struct DynAttr {
    pub name: ExprRef,
    pub value: ExprRef,
    pub pos: Pos,
}

pub struct AttrsDef {
    pub rec: bool,
    pub statics: Vec<StaticAttr>,
    pub dynamics: Vec<DynAttr>,
    pub pos: Pos,
}

pub enum Param {
    Ident,
    Pattern {
        formals: Vec<Formal>,
        ellipsis: bool,
        bind: bool,
    },
}

pub struct Formal {
    pub name: Rc<str>,
    pub default: Option<ExprRef>,
    pub pos: Pos,
}

pub struct LambdaDef {
    pub name: Option<Rc<str>>,
    /// For `Param::Ident`, the argument name.
    pub arg: Option<Rc<str>>,
    pub param: Param,
    pub body: ExprRef,
    pub pos: Pos,
}

impl LambdaDef {
    /// Env slot layout for a pattern: formals in order, then the `@` binding.
    pub fn nslots(&self) -> usize {
        match &self.param {
            Param::Ident => 1,
            Param::Pattern { formals, bind, .. } => formals.len() + usize::from(*bind),
        }
    }
}
