//! Lowering of the typed AST ([`crate::syntax::ast`]) into the IR, resolving scopes.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use crate::syntax::ast::{self, HasEntries};
use crate::syntax::parse;

use super::error::{ErrorKind, EvalError};
use super::ir::{
    AttrKey, AttrsDef, BinOp, DynAttr, Expr, ExprRef, Formal, LambdaDef, Param, StaticAttr,
};
use super::value::{cut_at_nul, Pos, Value};
use super::{canon_path, BaseEnv, Evaluator, Result};
use crate::syntax::source;

enum Scope {
    Names(HashMap<Rc<str>, u32>),
    With,
    Base(Rc<BaseEnv>),
    /// scopedImport: the base env is reachable only dynamically
    DynBase,
}

struct Lowerer<'a> {
    ev: &'a Evaluator,
    file: u32,
    base_dir: String,
    scopes: Vec<Scope>,
}

/// Lower a whole source file.
pub(crate) fn lower_source(
    ev: &mut Evaluator,
    src: &str,
    file: u32,
    base_dir: &Path,
    base: &Rc<BaseEnv>,
) -> Result<ExprRef> {
    lower_with_scopes(ev, src, file, base_dir, vec![Scope::Base(base.clone())])
}

/// Lower a file for `scopedImport` (evaluated in a `with`-like scope over the base env).
pub(crate) fn lower_scoped(
    ev: &mut Evaluator,
    src: &str,
    file: u32,
    base_dir: &Path,
    _base: &Rc<BaseEnv>,
) -> Result<ExprRef> {
    lower_with_scopes(ev, src, file, base_dir, vec![Scope::DynBase, Scope::With])
}

fn lower_with_scopes(
    ev: &mut Evaluator,
    src: &str,
    file: u32,
    base_dir: &Path,
    scopes: Vec<Scope>,
) -> Result<ExprRef> {
    let p = parse(src);
    if let Some(e) = p.errors.first() {
        let mut er = EvalError::new(ErrorKind::Syntax, e.message.clone());
        er.pos = Pos {
            file,
            offset: u32::from(e.range.start()),
        };
        return Err(er);
    }
    let root = p.root();
    let mut l = Lowerer {
        ev: &*ev,
        file,
        base_dir: base_dir.to_string_lossy().into_owned(),
        scopes,
    };
    match root.expr() {
        Some(e) => l.expr(&e),
        None => Err(l.err_at(0, "syntax error, unexpected end of file")),
    }
}

// ---------------------------------------------------------------- bindings

enum Item {
    Value(ast::Expr),
    Nested(Bindings, Pos),
    InheritScope(ast::Ident),
    InheritFrom(usize, Rc<str>),
}

struct Binding {
    name: Rc<str>,
    pos: Pos,
    item: Item,
}

#[derive(Default)]
struct Bindings {
    rec: bool,
    statics: Vec<Binding>,
    dynamics: Vec<(ast::Attr, Pos, Item)>,
    inherit_from: Vec<ast::Expr>,
}

fn binop(k: ast::BinOpKind) -> BinOp {
    use ast::BinOpKind as K;
    match k {
        K::Concat => BinOp::Concat,
        K::Update => BinOp::Update,
        K::Add => BinOp::Add,
        K::Sub => BinOp::Sub,
        K::Mul => BinOp::Mul,
        K::Div => BinOp::Div,
        K::And => BinOp::And,
        K::Or => BinOp::Or,
        K::Implication => BinOp::Impl,
        K::Equal => BinOp::Eq,
        K::NotEqual => BinOp::Neq,
        K::Less => BinOp::Lt,
        K::LessOrEq => BinOp::Le,
        K::More => BinOp::Gt,
        K::MoreOrEq => BinOp::Ge,
    }
}

fn binop_str(k: ast::BinOpKind) -> &'static str {
    use ast::BinOpKind as K;
    match k {
        K::Concat => "++",
        K::Update => "//",
        K::Add => "+",
        K::Sub => "-",
        K::Mul => "*",
        K::Div => "/",
        K::And => "&&",
        K::Or => "||",
        K::Implication => "->",
        K::Equal => "==",
        K::NotEqual => "!=",
        K::Less => "<",
        K::LessOrEq => "<=",
        K::More => ">",
        K::MoreOrEq => ">=",
    }
}

/// Render an expression roughly as Nix's `ExprXXX::show` does (for assertion messages).
fn show_expr(e: &ast::Expr) -> String {
    match e {
        ast::Expr::BinOp(b) => {
            let l = b.lhs().map(|x| show_expr(&x)).unwrap_or_default();
            let r = b.rhs().map(|x| show_expr(&x)).unwrap_or_default();
            format!(
                "({} {} {})",
                l,
                b.operator().map(binop_str).unwrap_or("?"),
                r
            )
        }
        ast::Expr::Ident(i) => i.name(),
        ast::Expr::Paren(p) => p.expr().map(|x| show_expr(&x)).unwrap_or_default(),
        ast::Expr::Str(s) => match s.as_literal() {
            Some(l) => super::print::quote_string(&l),
            None => s.syntax().text().to_string(),
        },
        ast::Expr::UnaryOp(u) => {
            let v = u.value().map(|x| show_expr(&x)).unwrap_or_default();
            match u.operator() {
                Some(ast::UnaryOpKind::Invert) => format!("(! {v})"),
                _ => format!("(- {v})"),
            }
        }
        ast::Expr::Apply(a) => {
            let f = a.lambda().map(|x| show_expr(&x)).unwrap_or_default();
            let x = a.argument().map(|x| show_expr(&x)).unwrap_or_default();
            format!("({f} {x})")
        }
        _ => e.syntax().text().to_string().trim().to_string(),
    }
}

impl<'a> Lowerer<'a> {
    fn pos(&self, n: &crate::syntax::SyntaxNode) -> Pos {
        Pos {
            file: self.file,
            offset: u32::from(n.text_range().start()),
        }
    }

    fn err_at(&self, offset: u32, msg: impl Into<String>) -> super::Error {
        let mut e = EvalError::new(ErrorKind::Syntax, msg);
        e.pos = Pos {
            file: self.file,
            offset,
        };
        e
    }

    fn err_node(&self, n: &crate::syntax::SyntaxNode, msg: impl Into<String>) -> super::Error {
        let mut e = EvalError::new(ErrorKind::Syntax, msg);
        e.pos = self.pos(n);
        e
    }

    fn missing(&self, n: &crate::syntax::SyntaxNode) -> super::Error {
        self.err_node(n, "syntax error, incomplete expression")
    }

    fn resolve(&self, name: &str, pos: Pos, skip: usize) -> Result<Expr> {
        let mut with_depth: Option<u32> = None;
        let n = self.scopes.len();
        for (d, sc) in self.scopes.iter().rev().enumerate() {
            if d < skip {
                continue;
            }
            let _ = n;
            match sc {
                Scope::Names(m) => {
                    if let Some(&i) = m.get(name) {
                        return Ok(Expr::Var {
                            depth: d as u32,
                            idx: i,
                        });
                    }
                }
                Scope::With => {
                    if with_depth.is_none() {
                        with_depth = Some(d as u32);
                    }
                }
                Scope::Base(b) => {
                    if let Some(&i) = b.names.get(name) {
                        return Ok(Expr::Var {
                            depth: d as u32,
                            idx: i,
                        });
                    }
                }
                Scope::DynBase => {}
            }
        }
        match with_depth {
            Some(depth) => Ok(Expr::WithVar {
                name: name.into(),
                depth,
                pos,
            }),
            None => {
                let mut e = EvalError::new(ErrorKind::Eval, format!("undefined variable '{name}'"));
                e.pos = pos;
                Err(e)
            }
        }
    }

    fn expr(&mut self, e: &ast::Expr) -> Result<ExprRef> {
        self.expr_named(e, None)
    }

    fn sub(&mut self, e: Option<ast::Expr>, parent: &crate::syntax::SyntaxNode) -> Result<ExprRef> {
        match e {
            Some(e) => self.expr(&e),
            None => Err(self.missing(parent)),
        }
    }

    fn expr_named(&mut self, e: &ast::Expr, name: Option<Rc<str>>) -> Result<ExprRef> {
        let node = e.syntax();
        let pos = self.pos(node);
        Ok(Rc::new(match e {
            ast::Expr::Paren(p) => {
                return match p.expr() {
                    Some(x) => self.expr_named(&x, name),
                    None => Err(self.missing(node)),
                }
            }
            ast::Expr::Apply(a) => {
                let mut args = Vec::new();
                let mut cur = a.clone();
                loop {
                    args.push(cur.argument().ok_or_else(|| self.missing(node))?);
                    match cur.lambda() {
                        Some(ast::Expr::Apply(inner)) => cur = inner,
                        Some(f) => {
                            args.reverse();
                            let fx = self.expr(&f)?;
                            let mut lowered = Vec::with_capacity(args.len());
                            for x in &args {
                                lowered.push(self.expr(x)?);
                            }
                            break Expr::Apply {
                                f: fx,
                                args: lowered,
                                pos,
                            };
                        }
                        None => return Err(self.missing(node)),
                    }
                }
            }
            ast::Expr::Assert(a) => {
                let c = a.condition().ok_or_else(|| self.missing(node))?;
                let text = show_expr(&c);
                Expr::Assert {
                    cond: self.expr(&c)?,
                    body: self.sub(a.body(), node)?,
                    pos,
                    text,
                }
            }
            ast::Expr::AttrSet(s) => {
                let b = self.collect(&s.entries(), false)?;
                Expr::Attrs(Rc::new(self.finish(b, s.is_rec(), pos)?))
            }
            ast::Expr::LetIn(l) => {
                let b = self.collect(&l.entries(), true)?;
                let body = l.body().ok_or_else(|| self.missing(node))?;
                let (def, body) = self.finish_let(b, pos, &body)?;
                Expr::Let {
                    def: Rc::new(def),
                    body,
                }
            }
            ast::Expr::LegacyLet(l) => {
                let b = self.collect(&l.entries(), false)?;
                let def = self.finish(b, true, pos)?;
                Expr::Select {
                    e: Rc::new(Expr::Attrs(Rc::new(def))),
                    path: vec![AttrKey::Static("body".into())],
                    default: None,
                    pos,
                }
            }
            ast::Expr::BinOp(b) => {
                let op = b.operator().ok_or_else(|| self.missing(node))?;
                let l = self.sub(b.lhs(), node)?;
                let r = self.sub(b.rhs(), node)?;
                let opos = b.operator_token().map(|t| Pos {
                    file: self.file,
                    offset: u32::from(t.text_range().start()),
                });
                Expr::Bin {
                    op: binop(op),
                    l,
                    r,
                    pos: opos.unwrap_or(pos),
                }
            }
            ast::Expr::HasAttr(h) => {
                let e = self.sub(h.expr(), node)?;
                let path = self.attrpath(h.attrpath().ok_or_else(|| self.missing(node))?)?;
                Expr::HasAttr { e, path }
            }
            ast::Expr::Select(s) => {
                let e = self.sub(s.expr(), node)?;
                let path = self.attrpath(s.attrpath().ok_or_else(|| self.missing(node))?)?;
                let default = match s.default_expr() {
                    Some(d) => Some(self.expr(&d)?),
                    None => None,
                };
                Expr::Select {
                    e,
                    path,
                    default,
                    pos,
                }
            }
            ast::Expr::Ident(i) => {
                let n = i.name();
                if n == "__curPos" {
                    Expr::CurPos(pos)
                } else {
                    self.resolve(&n, pos, 0)?
                }
            }
            ast::Expr::IfElse(i) => Expr::If {
                cond: self.sub(i.condition(), node)?,
                then: self.sub(i.body(), node)?,
                else_: self.sub(i.else_body(), node)?,
                pos,
            },
            ast::Expr::Lambda(l) => Expr::Lambda(Rc::new(self.lambda(l, name, pos)?)),
            ast::Expr::List(l) => {
                let mut items = Vec::new();
                for x in l.items() {
                    items.push(self.expr(&x)?);
                }
                Expr::List(items)
            }
            ast::Expr::Literal(l) => match l.value() {
                Ok(ast::LiteralValue::Int(i)) => Expr::Lit(Value::Int(i)),
                Ok(ast::LiteralValue::Float(f)) => Expr::Lit(Value::Float(f)),
                Ok(ast::LiteralValue::Uri(u)) => Expr::Lit(Value::string(u)),
                Err(m) => return Err(self.err_node(node, m)),
            },
            ast::Expr::Path(p) => self.path(p, pos)?,
            ast::Expr::Str(s) => {
                let mut parts = s.normalized_parts();
                if s.is_indented() && ind_string_keeps_first_line(s) {
                    // Nix's lexer drops a first line consisting only of spaces (the syntax
                    // tree keeps it in the first content token)
                    if let Some(ast::Part::Literal(first)) = parts.first_mut() {
                        let t = first.trim_start_matches(' ');
                        if let Some(rest) = t.strip_prefix('\n') {
                            *first = rest.to_string();
                        }
                    }
                }
                if !s.is_indented() {
                    // one lexer token (one C string in Nix) between interpolations
                    let mut merged: Vec<ast::Part> = Vec::with_capacity(parts.len());
                    for p in parts {
                        match (merged.last_mut(), p) {
                            (Some(ast::Part::Literal(a)), ast::Part::Literal(b)) => a.push_str(&b),
                            (_, p) => merged.push(p),
                        }
                    }
                    parts = merged;
                }
                // a literal's value: its source bytes, cut at a NUL as Nix's C strings are
                let lit_bytes = |x: &str| cut_at_nul(source::decode_literal(x));
                let mut lowered = Vec::new();
                let all_lit = parts.iter().all(|p| matches!(p, ast::Part::Literal(_)));
                if all_lit {
                    let mut lit = Vec::new();
                    for p in &parts {
                        if let ast::Part::Literal(x) = p {
                            lit.extend_from_slice(&lit_bytes(x));
                        }
                    }
                    Expr::Lit(Value::string(lit))
                } else {
                    for p in parts {
                        match p {
                            ast::Part::Literal(x) => {
                                if !x.is_empty() {
                                    lowered.push(Rc::new(Expr::Lit(Value::string(lit_bytes(&x)))))
                                }
                            }
                            ast::Part::Interpolation(i) => {
                                lowered.push(self.sub(i.expr(), i.syntax())?)
                            }
                        }
                    }
                    Expr::Interp {
                        parts: lowered,
                        path: false,
                        pos,
                    }
                }
            }
            ast::Expr::UnaryOp(u) => {
                let v = self.sub(u.value(), node)?;
                match u.operator() {
                    Some(ast::UnaryOpKind::Invert) => Expr::Not(v, pos),
                    _ => Expr::Neg(v, pos),
                }
            }
            ast::Expr::With(w) => {
                let attrs = self.sub(w.namespace(), node)?;
                self.scopes.push(Scope::With);
                let body = self.sub(w.body(), node);
                self.scopes.pop();
                Expr::With {
                    attrs,
                    body: body?,
                    pos,
                }
            }
            ast::Expr::Error(_) => return Err(self.err_node(node, "syntax error")),
        }))
    }

    fn path(&mut self, p: &ast::Path, pos: Pos) -> Result<Expr> {
        let kind = p.kind();
        if kind == ast::PathKind::Search {
            let sp = p.search_path().unwrap_or_default();
            let f = self.resolve("__findFile", pos, 0)?;
            let np = self.resolve("__nixPath", pos, 0)?;
            return Ok(Expr::Apply {
                f: Rc::new(f),
                args: vec![Rc::new(np), Rc::new(Expr::Lit(Value::string(sp)))],
                pos,
            });
        }
        let parts = p.parts();
        let mut out: Vec<ExprRef> = Vec::new();
        let mut first = true;
        for part in parts {
            match part {
                ast::Part::Literal(s) => {
                    let s = if first {
                        match kind {
                            ast::PathKind::Home => {
                                let home = std::env::var("HOME").unwrap_or_default();
                                format!("{home}{}", &s[1..])
                            }
                            ast::PathKind::Absolute => s,
                            _ => format!("{}/{}", self.base_dir, s),
                        }
                    } else {
                        s
                    };
                    if first {
                        out.push(Rc::new(Expr::Lit(Value::Path(s.into()))));
                    } else {
                        out.push(Rc::new(Expr::Lit(Value::string(s))));
                    }
                }
                ast::Part::Interpolation(i) => out.push(self.sub(i.expr(), i.syntax())?),
            }
            first = false;
        }
        if out.len() == 1 {
            if let Expr::Lit(Value::Path(s)) = &*out[0] {
                return Ok(Expr::Lit(Value::Path(canon_path(s).into())));
            }
        }
        Ok(Expr::Interp {
            parts: out,
            path: true,
            pos,
        })
    }

    fn attrpath(&mut self, ap: ast::Attrpath) -> Result<Vec<AttrKey>> {
        let mut out = Vec::new();
        for a in ap.attrs() {
            out.push(self.attr_key(&a)?);
        }
        Ok(out)
    }

    fn attr_key(&mut self, a: &ast::Attr) -> Result<AttrKey> {
        if let Some(n) = static_attr_name(&a) {
            return Ok(AttrKey::Static(n.into()));
        }
        match a {
            ast::Attr::Dynamic(d) => Ok(AttrKey::Dynamic(self.sub(d.expr(), d.syntax())?)),
            ast::Attr::Str(s) => Ok(AttrKey::Dynamic(self.expr(&ast::Expr::Str(s.clone()))?)),
            ast::Attr::Ident(i) => Ok(AttrKey::Static(i.name().into())),
        }
    }

    fn lambda(&mut self, l: &ast::Lambda, name: Option<Rc<str>>, pos: Pos) -> Result<LambdaDef> {
        let node = l.syntax();
        // Note: `ast::Lambda::ident_param` also matches an identifier *body* of a pattern
        // lambda, so look for the pattern first.
        let pattern = l.pattern();
        let ident = if pattern.is_none() {
            l.ident_param()
        } else {
            None
        };
        if let Some(id) = ident {
            let n: Rc<str> = id.name().into();
            let mut m = HashMap::new();
            m.insert(n.clone(), 0);
            self.scopes.push(Scope::Names(m));
            let body = self.sub(l.body(), node);
            self.scopes.pop();
            return Ok(LambdaDef {
                name,
                arg: Some(n),
                param: Param::Ident,
                body: body?,
                pos,
            });
        }
        let pat = pattern.ok_or_else(|| self.missing(node))?;
        let mut m: HashMap<Rc<str>, u32> = HashMap::new();
        let mut names: Vec<(Rc<str>, Option<ast::Expr>, Pos)> = Vec::new();
        for ent in pat.entries() {
            let id = ent.ident().ok_or_else(|| self.missing(ent.syntax()))?;
            let n: Rc<str> = id.name().into();
            if m.contains_key(&n) {
                return Err(self.err_node(
                    id.syntax(),
                    format!("duplicate formal function argument '{n}'"),
                ));
            }
            m.insert(n.clone(), names.len() as u32);
            names.push((n, ent.default(), self.pos(ent.syntax())));
        }
        let bind = pat.bind();
        let mut arg = None;
        if let Some(b) = &bind {
            let n: Rc<str> = b.name().into();
            if m.contains_key(&n) {
                return Err(self.err_node(
                    b.syntax(),
                    format!("duplicate formal function argument '{n}'"),
                ));
            }
            m.insert(n.clone(), names.len() as u32);
            arg = Some(n);
        }
        self.scopes.push(Scope::Names(m));
        let r = (|| -> Result<(Vec<Formal>, ExprRef)> {
            let mut formals = Vec::new();
            for (n, d, p) in names {
                let default = match d {
                    Some(d) => Some(self.expr(&d)?),
                    None => None,
                };
                formals.push(Formal {
                    name: n,
                    default,
                    pos: p,
                });
            }
            let body = self.sub(l.syntax().children().find_map(ast::Expr::cast), node)?;
            Ok((formals, body))
        })();
        self.scopes.pop();
        let (formals, body) = r?;
        Ok(LambdaDef {
            name,
            arg,
            param: Param::Pattern {
                formals,
                ellipsis: pat.has_ellipsis(),
                bind: bind.is_some(),
            },
            body,
            pos,
        })
    }

    // ------------------------------------------------------------ attribute sets

    fn dup_err(&self, name: &str, pos: Pos, prev: Pos) -> super::Error {
        let at = self.ev.show_pos(prev).unwrap_or_else(|| "«unknown»".into());
        let mut e = EvalError::new(
            ErrorKind::Syntax,
            format!("attribute '{name}' already defined at {at}"),
        );
        e.pos = pos;
        e
    }

    fn collect(&mut self, entries: &[ast::Entry], is_let: bool) -> Result<Bindings> {
        let mut b = Bindings::default();
        self.collect_into(&mut b, entries, is_let)?;
        Ok(b)
    }

    fn collect_into(
        &mut self,
        b: &mut Bindings,
        entries: &[ast::Entry],
        is_let: bool,
    ) -> Result<()> {
        for ent in entries {
            match ent {
                ast::Entry::Inherit(inh) => {
                    let from_idx = match inh.from() {
                        Some(f) => {
                            let e = f.expr().ok_or_else(|| self.missing(f.syntax()))?;
                            b.inherit_from.push(e);
                            Some(b.inherit_from.len() - 1)
                        }
                        None => None,
                    };
                    // Nix gives every name of one `inherit` the same position: just after
                    // the `inherit` keyword, or after the `(expr)` it inherits from.
                    let anchor = inh
                        .from()
                        .map(|f| f.syntax().clone())
                        .into_iter()
                        .flat_map(|f| f.children_with_tokens().filter_map(|e| e.into_token()))
                        .chain(
                            inh.syntax()
                                .children_with_tokens()
                                .filter_map(|e| e.into_token()),
                        )
                        .filter(|t| {
                            matches!(
                                t.kind(),
                                crate::syntax::SyntaxKind::TOKEN_INHERIT
                                    | crate::syntax::SyntaxKind::TOKEN_R_PAREN
                            )
                        })
                        .map(|t| u32::from(t.text_range().end()))
                        .max();
                    for a in inh.attrs() {
                        let pos = match anchor {
                            Some(offset) => Pos {
                                file: self.file,
                                offset,
                            },
                            None => self.pos(a.syntax()),
                        };
                        let name: Rc<str> = match static_attr_name(&a) {
                            Some(n) => n.into(),
                            None => {
                                return Err(self.err_node(
                                    a.syntax(),
                                    "dynamic attributes not allowed in inherit",
                                ))
                            }
                        };
                        if let Some(prev) = b.statics.iter().find(|x| x.name == name) {
                            return Err(self.dup_err(&name, pos, prev.pos));
                        }
                        let item = match (from_idx, &a) {
                            (Some(i), _) => Item::InheritFrom(i, name.clone()),
                            (None, ast::Attr::Ident(id)) => Item::InheritScope(id.clone()),
                            (None, _) => {
                                // inherit "x" / ${"x"}: treat as identifier lookup
                                Item::InheritFrom(usize::MAX, name.clone())
                            }
                        };
                        b.statics.push(Binding { name, pos, item });
                    }
                }
                ast::Entry::AttrpathValue(av) => {
                    let path = av
                        .attrpath()
                        .ok_or_else(|| self.missing(av.syntax()))?
                        .attrs();
                    let value = av.value().ok_or_else(|| self.missing(av.syntax()))?;
                    self.insert_path(b, &path, value, is_let, av.syntax())?;
                }
            }
        }
        Ok(())
    }

    fn insert_path(
        &mut self,
        b: &mut Bindings,
        path: &[ast::Attr],
        value: ast::Expr,
        is_let: bool,
        node: &crate::syntax::SyntaxNode,
    ) -> Result<()> {
        let first = &path[0];
        let pos = self.pos(first.syntax());
        match static_attr_name(&first) {
            Some(n) => {
                let name: Rc<str> = n.into();
                if let Some(idx) = b.statics.iter().position(|x| x.name == name) {
                    // merge into an existing nested set
                    let existing = &mut b.statics[idx];
                    let can_nest = match &existing.item {
                        Item::Nested(..) => true,
                        Item::Value(ast::Expr::AttrSet(_)) => true,
                        _ => false,
                    };
                    if !can_nest {
                        return Err(self.dup_err(&full_name(path), pos, existing.pos));
                    }
                    if let Item::Value(ast::Expr::AttrSet(s)) = &existing.item {
                        let s = s.clone();
                        let mut nb = Bindings {
                            rec: s.is_rec(),
                            ..Default::default()
                        };
                        self.collect_into(&mut nb, &s.entries(), false)?;
                        b.statics[idx].item = Item::Nested(nb, b.statics[idx].pos);
                    }
                    let Item::Nested(mut nb, npos) = std::mem::replace(
                        &mut b.statics[idx].item,
                        Item::InheritFrom(0, "".into()),
                    ) else {
                        unreachable!()
                    };
                    let r = if path.len() == 1 {
                        match &value {
                            ast::Expr::AttrSet(s) => {
                                self.collect_into(&mut nb, &s.entries(), false)
                            }
                            _ => Err(self.dup_err(&full_name(path), pos, npos)),
                        }
                    } else {
                        self.insert_path(&mut nb, &path[1..], value, false, node)
                    };
                    b.statics[idx].item = Item::Nested(nb, npos);
                    r
                } else if path.len() == 1 {
                    b.statics.push(Binding {
                        name,
                        pos,
                        item: Item::Value(value),
                    });
                    Ok(())
                } else {
                    let mut nb = Bindings::default();
                    self.insert_path(&mut nb, &path[1..], value, false, node)?;
                    b.statics.push(Binding {
                        name,
                        pos,
                        item: Item::Nested(nb, pos),
                    });
                    Ok(())
                }
            }
            None => {
                if is_let {
                    return Err(
                        self.err_node(first.syntax(), "dynamic attributes not allowed in let")
                    );
                }
                let item = if path.len() == 1 {
                    Item::Value(value)
                } else {
                    let mut nb = Bindings::default();
                    self.insert_path(&mut nb, &path[1..], value, false, node)?;
                    Item::Nested(nb, pos)
                };
                b.dynamics.push((first.clone(), pos, item));
                Ok(())
            }
        }
    }

    /// Lower the values of bindings in the current scope (the caller pushed the rec scope if
    /// any). `rec_scope`: inherits without source resolve one level up.
    fn lower_items(
        &mut self,
        mut b: Bindings,
        rec_scope: bool,
        pos: Pos,
        rec: bool,
    ) -> Result<AttrsDef> {
        b.statics.sort_by(|x, y| x.name.cmp(&y.name));
        let mut from_exprs = Vec::new();
        for e in &b.inherit_from {
            from_exprs.push(self.expr(e)?);
        }
        let mut statics = Vec::with_capacity(b.statics.len());
        for bd in b.statics {
            let (value, inherited) =
                self.lower_item(bd.item, &bd.name, bd.pos, rec_scope, &from_exprs)?;
            statics.push(StaticAttr {
                name: bd.name,
                value,
                pos: bd.pos,
                inherited,
            });
        }
        let mut dynamics = Vec::new();
        for (a, p, item) in b.dynamics {
            let name = match &a {
                ast::Attr::Dynamic(d) => self.sub(d.expr(), d.syntax())?,
                ast::Attr::Str(s) => self.expr(&ast::Expr::Str(s.clone()))?,
                ast::Attr::Ident(i) => Rc::new(Expr::Lit(Value::string(i.name()))),
            };
            let (value, _) = self.lower_item(item, "", p, rec_scope, &from_exprs)?;
            dynamics.push(DynAttr {
                name,
                value,
                pos: p,
            });
        }
        Ok(AttrsDef {
            rec,
            statics,
            dynamics,
            pos,
        })
    }

    fn lower_item(
        &mut self,
        item: Item,
        name: &str,
        pos: Pos,
        rec_scope: bool,
        from: &[ExprRef],
    ) -> Result<(ExprRef, bool)> {
        Ok(match item {
            Item::Value(e) => (
                self.expr_named(
                    &e,
                    if name.is_empty() {
                        None
                    } else {
                        Some(name.into())
                    },
                )?,
                false,
            ),
            Item::Nested(nb, npos) => {
                let rec = nb.rec;
                let def = self.finish(nb, rec, npos)?;
                (Rc::new(Expr::Attrs(Rc::new(def))), false)
            }
            Item::InheritScope(id) => {
                let n = id.name();
                let e = if n == "__curPos" {
                    Expr::CurPos(pos)
                } else {
                    self.resolve(&n, pos, usize::from(rec_scope))?
                };
                (Rc::new(e), true)
            }
            Item::InheritFrom(i, n) => {
                if i == usize::MAX {
                    (
                        Rc::new(self.resolve(&n, pos, usize::from(rec_scope))?),
                        true,
                    )
                } else {
                    (
                        Rc::new(Expr::Select {
                            e: from[i].clone(),
                            path: vec![AttrKey::Static(n)],
                            default: None,
                            pos,
                        }),
                        true,
                    )
                }
            }
        })
    }

    fn rec_scope_of(b: &mut Bindings) -> HashMap<Rc<str>, u32> {
        b.statics.sort_by(|x, y| x.name.cmp(&y.name));
        b.statics
            .iter()
            .enumerate()
            .map(|(i, x)| (x.name.clone(), i as u32))
            .collect()
    }

    fn finish(&mut self, mut b: Bindings, rec: bool, pos: Pos) -> Result<AttrsDef> {
        if !rec {
            return self.lower_items(b, false, pos, false);
        }
        let m = Self::rec_scope_of(&mut b);
        self.scopes.push(Scope::Names(m));
        let r = self.lower_items(b, true, pos, true);
        self.scopes.pop();
        r
    }

    fn finish_let(
        &mut self,
        mut b: Bindings,
        pos: Pos,
        body: &ast::Expr,
    ) -> Result<(AttrsDef, ExprRef)> {
        let m = Self::rec_scope_of(&mut b);
        self.scopes.push(Scope::Names(m));
        let r = (|| {
            let def = self.lower_items(b, true, pos, true)?;
            let body = self.expr(body)?;
            Ok((def, body))
        })();
        self.scopes.pop();
        r
    }
}

fn full_name(path: &[ast::Attr]) -> String {
    path.iter()
        .map(|a| static_attr_name(&a).unwrap_or_else(|| "\"${...}\"".into()))
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether the first content token of an indented string still holds a first line made of
/// spaces only (`''` followed by spaces and a newline), which Nix's lexer drops.
fn ind_string_keeps_first_line(s: &ast::Str) -> bool {
    use crate::syntax::SyntaxKind;
    let mut toks = s
        .syntax()
        .children_with_tokens()
        .filter_map(|e| e.into_token());
    match toks.next() {
        Some(t) if t.kind() == SyntaxKind::TOKEN_IND_STRING_START && t.text() == "''" => {}
        _ => return false,
    }
    match toks.next() {
        Some(t) if t.kind() == SyntaxKind::TOKEN_STRING_CONTENT => {
            t.text().trim_start_matches(' ').starts_with('\n')
        }
        _ => false,
    }
}

/// A static attribute name: the literal's bytes cut at a NUL (as Nix's symbols are made
/// from C strings); names are text, so bytes that are not UTF-8 are replaced.
fn static_attr_name(a: &ast::Attr) -> Option<String> {
    let n = a.static_name()?;
    if !n.as_bytes().iter().any(|&b| b == 0 || b == 0xF4) {
        return Some(n);
    }
    Some(super::value::bytes_to_string(cut_at_nul(
        source::decode_literal(&n),
    )))
}
