//! Desugaring of the typed AST into the expression shapes of Nix's own parser (nested
//! attribute paths merged, operators turned into primop calls, strings and paths split into
//! parts), the checks Nix performs at parse time (duplicate attributes and formals, undefined
//! variables, dynamic attributes where they are not allowed), and the printer that produces
//! exactly `nix-instantiate --parse`'s canonical output.

use super::ast::{self, Attr, Entry, Expr, HasEntries, LiteralValue, Part, PathKind};
use super::parser::ParseError;
use rowan::{TextRange, TextSize};
use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Names bound in Nix's base environment (Nix 2.8), i.e. the variables usable without `builtins.`.
pub const GLOBAL_NAMES: &[&str] = &[
    "__add",
    "__addErrorContext",
    "__all",
    "__any",
    "__appendContext",
    "__attrNames",
    "__attrValues",
    "__bitAnd",
    "__bitOr",
    "__bitXor",
    "__catAttrs",
    "__ceil",
    "__compareVersions",
    "__concatLists",
    "__concatMap",
    "__concatStringsSep",
    "__currentSystem",
    "__currentTime",
    "__deepSeq",
    "__div",
    "__elem",
    "__elemAt",
    "__fetchurl",
    "__filter",
    "__filterSource",
    "__findFile",
    "__floor",
    "__foldl'",
    "__fromJSON",
    "__functionArgs",
    "__genList",
    "__genericClosure",
    "__getAttr",
    "__getContext",
    "__getEnv",
    "__groupBy",
    "__hasAttr",
    "__hasContext",
    "__hashFile",
    "__hashString",
    "__head",
    "__intersectAttrs",
    "__isAttrs",
    "__isBool",
    "__isFloat",
    "__isFunction",
    "__isInt",
    "__isList",
    "__isPath",
    "__isString",
    "__langVersion",
    "__length",
    "__lessThan",
    "__listToAttrs",
    "__mapAttrs",
    "__match",
    "__mul",
    "__nixPath",
    "__nixVersion",
    "__parseDrvName",
    "__partition",
    "__path",
    "__pathExists",
    "__readDir",
    "__readFile",
    "__replaceStrings",
    "__seq",
    "__sort",
    "__split",
    "__splitVersion",
    "__storeDir",
    "__storePath",
    "__stringLength",
    "__sub",
    "__substring",
    "__tail",
    "__toFile",
    "__toJSON",
    "__toPath",
    "__toXML",
    "__trace",
    "__tryEval",
    "__typeOf",
    "__unsafeDiscardOutputDependency",
    "__unsafeDiscardStringContext",
    "__unsafeGetAttrPos",
    "__zipAttrsWith",
    "abort",
    "baseNameOf",
    "builtins",
    "derivation",
    "derivationStrict",
    "dirOf",
    "false",
    "fetchGit",
    "fetchMercurial",
    "fetchTarball",
    "fetchTree",
    "fromTOML",
    "import",
    "isNull",
    "map",
    "null",
    "placeholder",
    "removeAttrs",
    "scopedImport",
    "throw",
    "toString",
    "true",
];

/// Where the source comes from (for path literals and error positions).
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// Name shown in messages (`/abs/file.nix`, or `«stdin»`, `«string»`).
    pub file: String,
    /// Directory relative paths are resolved against.
    pub base_dir: PathBuf,
    /// Home directory for `~/…` paths.
    pub home: String,
}

impl SourceContext {
    /// Context for a file (its directory is the base), `$HOME` from the environment.
    pub fn for_file(path: &Path) -> Self {
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(path)
        };
        let abs = PathBuf::from(canon_path(&abs.to_string_lossy()));
        SourceContext {
            file: abs.to_string_lossy().into_owned(),
            base_dir: abs
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| "/".into()),
            home: std::env::var("HOME").unwrap_or_default(),
        }
    }
    /// Context for text without a file (`-`, `-E`): the current directory is the base.
    pub fn for_text(name: &str) -> Self {
        SourceContext {
            file: name.to_string(),
            base_dir: std::env::current_dir().unwrap_or_else(|_| "/".into()),
            home: std::env::var("HOME").unwrap_or_default(),
        }
    }
}

/// Nix's `canonPath` without symlink resolution: collapse `//`, `.` and `..`.
pub fn canon_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::new();
    for s in &parts {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// 1-based line and column (in bytes) of an offset.
pub fn line_col(src: &str, offset: TextSize) -> (usize, usize) {
    let off = usize::from(offset).min(src.len());
    let before = &src.as_bytes()[..off];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let col = off
        - before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

/// An attribute name after desugaring.
#[derive(Debug, Clone)]
pub enum AttrName {
    Static(String),
    Dynamic(Box<E>),
}

/// One static attribute.
#[derive(Debug, Clone)]
pub struct AttrDef {
    pub value: E,
    pub inherited: bool,
    pub range: TextRange,
}

/// Attribute set contents as Nix's `ExprAttrs` keeps them.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    pub rec: bool,
    /// static attributes in insertion order
    pub attrs: Vec<(String, AttrDef)>,
    pub dynamic: Vec<(E, E, TextRange)>,
    /// name -> index into `attrs`
    index: HashMap<String, usize>,
}

impl Attrs {
    fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
    fn push(&mut self, name: String, def: AttrDef) {
        self.index.insert(name.clone(), self.attrs.len());
        self.attrs.push((name, def));
    }
}

/// Desugared expression (the shape of Nix 2.8's `Expr` classes).
#[derive(Debug, Clone)]
pub enum E {
    Int(i64),
    Float(f64),
    Str(String),
    Path(String),
    Var(String, TextRange),
    CurPos,
    Select(Box<E>, Vec<AttrName>, Option<Box<E>>),
    HasAttr(Box<E>, Vec<AttrName>),
    Attrs(Attrs),
    List(Vec<E>),
    Lambda {
        arg: Option<String>,
        formals: Option<(Vec<(String, Option<E>)>, bool)>,
        body: Box<E>,
    },
    Call(Box<E>, Vec<E>),
    Let(Attrs, Box<E>),
    With(Box<E>, Box<E>),
    If(Box<E>, Box<E>, Box<E>),
    Assert(Box<E>, Box<E>),
    Not(Box<E>),
    Op(&'static str, Box<E>, Box<E>),
    /// `(a + b + …)`: string concatenation / interpolation / `+`
    Concat(Vec<E>),
}

struct Lower<'a> {
    src: &'a str,
    ctx: &'a SourceContext,
}

type R<T> = Result<T, ParseError>;

fn err(range: TextRange, message: String) -> ParseError {
    ParseError { range, message }
}

fn missing(range: TextRange) -> ParseError {
    err(range, "syntax error, incomplete expression".into())
}

fn var(name: &str) -> E {
    E::Var(name.to_string(), TextRange::empty(0.into()))
}

fn call(f: E, args: Vec<E>) -> E {
    E::Call(Box::new(f), args)
}

fn show_attr_path(path: &[AttrName]) -> String {
    let mut s = String::new();
    for (i, a) in path.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        match a {
            AttrName::Static(n) => s.push_str(n),
            AttrName::Dynamic(e) => {
                s.push_str("\"${");
                print_expr(&mut s, e);
                s.push_str("}\"");
            }
        }
    }
    s
}

impl<'a> Lower<'a> {
    fn pos(&self, r: TextRange) -> String {
        let (l, c) = line_col(self.src, r.start());
        format!("{}:{}:{}", self.ctx.file, l, c)
    }

    fn dup(&self, path: &str, range: TextRange, prev: TextRange) -> ParseError {
        err(
            range,
            format!("attribute '{}' already defined at {}", path, self.pos(prev)),
        )
    }

    fn expr(&self, e: Option<Expr>, parent: TextRange) -> R<E> {
        match e {
            Some(e) => self.lower(&e),
            None => Err(missing(parent)),
        }
    }

    fn lower(&self, e: &Expr) -> R<E> {
        let r = e.range();
        Ok(match e {
            Expr::Error(_) => return Err(err(r, "syntax error".into())),
            Expr::Paren(p) => self.expr(p.expr(), r)?,
            Expr::Literal(l) => match l.value().map_err(|m| err(r, m))? {
                LiteralValue::Int(i) => E::Int(i),
                LiteralValue::Float(f) => E::Float(f),
                LiteralValue::Uri(u) => E::Str(u),
            },
            Expr::Ident(i) => {
                let n = i.name();
                if n == "__curPos" {
                    E::CurPos
                } else {
                    E::Var(n, r)
                }
            }
            Expr::Str(s) => self.string(s)?,
            Expr::Path(p) => self.path(p)?,
            Expr::List(l) => E::List(l.items().iter().map(|i| self.lower(i)).collect::<R<_>>()?),
            Expr::Apply(a) => {
                let f = self.expr(a.lambda(), r)?;
                let x = self.expr(a.argument(), r)?;
                match f {
                    E::Call(f, mut args) => {
                        args.push(x);
                        E::Call(f, args)
                    }
                    f => call(f, vec![x]),
                }
            }
            Expr::Select(s) => {
                let base = self.expr(s.expr(), r)?;
                let path = self.attrpath(s.attrpath(), r)?;
                let def = match s.default_expr() {
                    Some(d) => Some(Box::new(self.lower(&d)?)),
                    None => None,
                };
                E::Select(Box::new(base), path, def)
            }
            Expr::HasAttr(h) => {
                let base = self.expr(h.expr(), r)?;
                E::HasAttr(Box::new(base), self.attrpath(h.attrpath(), r)?)
            }
            Expr::UnaryOp(u) => {
                let v = self.expr(u.value(), r)?;
                match u.operator() {
                    Some(ast::UnaryOpKind::Invert) => E::Not(Box::new(v)),
                    _ => call(var("__sub"), vec![E::Int(0), v]),
                }
            }
            Expr::BinOp(b) => {
                use ast::BinOpKind::*;
                let l = self.expr(b.lhs(), r)?;
                let rr = self.expr(b.rhs(), r)?;
                let op = b.operator().ok_or_else(|| missing(r))?;
                let bx = Box::new;
                match op {
                    Concat => E::Op("++", bx(l), bx(rr)),
                    Update => E::Op("//", bx(l), bx(rr)),
                    Add => E::Concat(vec![l, rr]),
                    Sub => call(var("__sub"), vec![l, rr]),
                    Mul => call(var("__mul"), vec![l, rr]),
                    Div => call(var("__div"), vec![l, rr]),
                    And => E::Op("&&", bx(l), bx(rr)),
                    Or => E::Op("||", bx(l), bx(rr)),
                    Implication => E::Op("->", bx(l), bx(rr)),
                    Equal => E::Op("==", bx(l), bx(rr)),
                    NotEqual => E::Op("!=", bx(l), bx(rr)),
                    Less => call(var("__lessThan"), vec![l, rr]),
                    More => call(var("__lessThan"), vec![rr, l]),
                    LessOrEq => E::Not(bx(call(var("__lessThan"), vec![rr, l]))),
                    MoreOrEq => E::Not(bx(call(var("__lessThan"), vec![l, rr]))),
                }
            }
            Expr::IfElse(i) => E::If(
                Box::new(self.expr(i.condition(), r)?),
                Box::new(self.expr(i.body(), r)?),
                Box::new(self.expr(i.else_body(), r)?),
            ),
            Expr::Assert(a) => E::Assert(
                Box::new(self.expr(a.condition(), r)?),
                Box::new(self.expr(a.body(), r)?),
            ),
            Expr::With(w) => E::With(
                Box::new(self.expr(w.namespace(), r)?),
                Box::new(self.expr(w.body(), r)?),
            ),
            Expr::AttrSet(s) => {
                let mut attrs = self.binds(s)?;
                attrs.rec = s.is_rec();
                E::Attrs(attrs)
            }
            Expr::LetIn(l) => {
                let attrs = self.binds(l)?;
                if let Some((_, _, dr)) = attrs.dynamic.first() {
                    return Err(err(*dr, "dynamic attributes not allowed in let".into()));
                }
                E::Let(attrs, Box::new(self.expr(l.body(), r)?))
            }
            Expr::LegacyLet(l) => {
                let mut attrs = self.binds(l)?;
                attrs.rec = true;
                E::Select(
                    Box::new(E::Attrs(attrs)),
                    vec![AttrName::Static("body".into())],
                    None,
                )
            }
            Expr::Lambda(l) => self.lambda(l)?,
        })
    }

    fn lambda(&self, l: &ast::Lambda) -> R<E> {
        let r = l.range();
        let body = Box::new(self.expr(l.body(), r)?);
        if let Some(i) = l.ident_param() {
            return Ok(E::Lambda {
                arg: Some(i.name()),
                formals: None,
                body,
            });
        }
        let pat = l.pattern().ok_or_else(|| missing(r))?;
        let arg = pat.bind().map(|b| b.name());
        let mut seen: Vec<String> = Vec::new();
        let mut formals = Vec::new();
        for ent in pat.entries() {
            let id = ent.ident().ok_or_else(|| missing(r))?;
            let name = id.name();
            if seen.contains(&name) {
                return Err(err(
                    id.range(),
                    format!("duplicate formal function argument '{name}'"),
                ));
            }
            seen.push(name.clone());
            let def = match ent.default() {
                Some(d) => Some(self.lower(&d)?),
                None => None,
            };
            formals.push((name, def));
        }
        if let Some(a) = &arg {
            if seen.contains(a) {
                let br = pat.bind().map(|b| b.range()).unwrap_or(r);
                return Err(err(br, format!("duplicate formal function argument '{a}'")));
            }
        }
        formals.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(E::Lambda {
            arg,
            formals: Some((formals, pat.has_ellipsis())),
            body,
        })
    }

    fn attr_name(&self, a: &Attr) -> R<AttrName> {
        if let Some(n) = a.static_name() {
            return Ok(AttrName::Static(n));
        }
        let r = a.syntax().text_range();
        Ok(match a {
            Attr::Ident(i) => AttrName::Static(i.name()),
            Attr::Str(s) => AttrName::Dynamic(Box::new(self.string(s)?)),
            Attr::Dynamic(d) => AttrName::Dynamic(Box::new(self.expr(d.expr(), r)?)),
        })
    }

    fn attrpath(&self, p: Option<ast::Attrpath>, parent: TextRange) -> R<Vec<AttrName>> {
        let p = p.ok_or_else(|| missing(parent))?;
        let attrs = p.attrs();
        if attrs.is_empty() {
            return Err(missing(p.range()));
        }
        attrs.iter().map(|a| self.attr_name(a)).collect()
    }

    fn binds(&self, n: &impl HasEntries) -> R<Attrs> {
        let mut out = Attrs::default();
        for entry in n.entries() {
            match entry {
                Entry::Inherit(inh) => {
                    let from = match inh.from() {
                        Some(f) => Some(self.expr(f.expr(), f.range())?),
                        None => None,
                    };
                    let attrs = inh.attrs();
                    let pos = attrs
                        .first()
                        .map(|a| a.syntax().text_range())
                        .unwrap_or(inh.range());
                    for a in &attrs {
                        let name = match self.attr_name(a)? {
                            AttrName::Static(s) => s,
                            AttrName::Dynamic(_) => {
                                return Err(err(
                                    a.syntax().text_range(),
                                    "dynamic attributes not allowed in inherit".into(),
                                ))
                            }
                        };
                        if let Some(j) = out.find(&name) {
                            return Err(self.dup(&name, pos, out.attrs[j].1.range));
                        }
                        let ar = a.syntax().text_range();
                        let def = match &from {
                            None => AttrDef {
                                value: E::Var(name.clone(), ar),
                                inherited: true,
                                range: pos,
                            },
                            Some(f) => AttrDef {
                                value: E::Select(
                                    Box::new(f.clone()),
                                    vec![AttrName::Static(name.clone())],
                                    None,
                                ),
                                inherited: false,
                                range: pos,
                            },
                        };
                        out.push(name, def);
                    }
                }
                Entry::AttrpathValue(av) => {
                    let r = av.range();
                    let ap = av.attrpath().ok_or_else(|| missing(r))?;
                    let path = self.attrpath(Some(ap.clone()), r)?;
                    let value = self.expr(av.value(), r)?;
                    self.add_attr(&mut out, &path, value, ap.range())?;
                }
            }
        }
        Ok(out)
    }

    /// Nix 2.8's `addAttr`.
    fn add_attr(&self, attrs: &mut Attrs, path: &[AttrName], e: E, pos: TextRange) -> R<()> {
        let mut cur = attrs;
        let (last, prefix) = path.split_last().ok_or_else(|| missing(pos))?;
        for a in prefix {
            match a {
                AttrName::Static(s) => match cur.find(s) {
                    Some(j) => {
                        let prev = cur.attrs[j].1.range;
                        let def = &mut cur.attrs[j].1;
                        match (&mut def.value, def.inherited) {
                            (E::Attrs(inner), false) => cur = inner,
                            _ => return Err(self.dup(&show_attr_path(path), pos, prev)),
                        }
                    }
                    None => {
                        cur.push(
                            s.clone(),
                            AttrDef {
                                value: E::Attrs(Attrs::default()),
                                inherited: false,
                                range: pos,
                            },
                        );
                        let last = cur.attrs.len() - 1;
                        match &mut cur.attrs[last].1.value {
                            E::Attrs(inner) => cur = inner,
                            _ => unreachable!("just inserted an attribute set"),
                        }
                    }
                },
                AttrName::Dynamic(n) => {
                    cur.dynamic
                        .push(((**n).clone(), E::Attrs(Attrs::default()), pos));
                    let last = cur.dynamic.len() - 1;
                    match &mut cur.dynamic[last].1 {
                        E::Attrs(inner) => cur = inner,
                        _ => unreachable!("just inserted an attribute set"),
                    }
                }
            }
        }
        match last {
            AttrName::Static(s) => match cur.find(s) {
                Some(j) => {
                    let prev = cur.attrs[j].1.range;
                    let def = &mut cur.attrs[j].1;
                    match (&mut def.value, e) {
                        (E::Attrs(existing), E::Attrs(new)) if !def.inherited => {
                            for (n, ad) in new.attrs {
                                if let Some(k) = existing.find(&n) {
                                    return Err(self.dup(&n, existing.attrs[k].1.range, ad.range));
                                }
                                existing.push(n, ad);
                            }
                            Ok(())
                        }
                        _ => Err(self.dup(&show_attr_path(path), pos, prev)),
                    }
                }
                None => {
                    cur.push(
                        s.clone(),
                        AttrDef {
                            value: e,
                            inherited: false,
                            range: pos,
                        },
                    );
                    Ok(())
                }
            },
            AttrName::Dynamic(n) => {
                cur.dynamic.push(((**n).clone(), e, pos));
                Ok(())
            }
        }
    }

    fn string(&self, s: &ast::Str) -> R<E> {
        let parts = s.normalized_parts();
        let mut es = Vec::new();
        for p in parts {
            match p {
                Part::Literal(l) => es.push(E::Str(l)),
                Part::Interpolation(i) => es.push(self.expr(i.expr(), i.range())?),
            }
        }
        let interpolated = s
            .syntax()
            .children()
            .any(|c| c.kind() == super::kind::NODE_INTERPOL);
        if s.is_indented() && es.len() == 1 && matches!(es[0], E::Str(_)) {
            // Nix's stripIndentation returns a lone string part (even an interpolated
            // string literal) without concatenation
            return Ok(es.pop().expect("one element"));
        }
        if !interpolated {
            // plain string (indented strings: a single literal part)
            if es.len() == 1 {
                return Ok(es.pop().expect("one element"));
            }
            if es.is_empty() {
                return Ok(E::Str(String::new()));
            }
        }
        Ok(E::Concat(es))
    }

    fn path(&self, p: &ast::Path) -> R<E> {
        if let Some(sp) = p.search_path() {
            return Ok(call(var("__findFile"), vec![var("__nixPath"), E::Str(sp)]));
        }
        let kind = p.kind();
        let parts = p.parts();
        let mut es = Vec::new();
        for (i, part) in parts.into_iter().enumerate() {
            match part {
                Part::Literal(l) if i == 0 => {
                    let abs = match kind {
                        PathKind::Home => format!("{}{}", self.ctx.home, &l[1..]),
                        _ => {
                            let joined = if l.starts_with('/') {
                                l.clone()
                            } else {
                                format!("{}/{}", self.ctx.base_dir.to_string_lossy(), l)
                            };
                            let mut c = canon_path(&joined);
                            if l.ends_with('/') && l.len() > 1 {
                                c.push('/');
                            }
                            c
                        }
                    };
                    es.push(E::Path(abs));
                }
                Part::Literal(l) => es.push(E::Str(l)),
                Part::Interpolation(ip) => es.push(self.expr(ip.expr(), ip.range())?),
            }
        }
        if es.len() == 1 {
            return Ok(es.pop().expect("one element"));
        }
        Ok(E::Concat(es))
    }
}

/// Static scope check (Nix's `bindVars`): every variable must be bound by an enclosing
/// lambda, `let`, `rec` set or be global, unless a `with` encloses it.
struct Scopes<'a> {
    frames: Vec<Frame<'a>>,
    globals: HashMap<&'static str, ()>,
}

enum Frame<'a> {
    Names(std::collections::HashSet<&'a str>),
    With,
}

impl<'a> Scopes<'a> {
    fn lookup(&self, name: &str) -> bool {
        for f in self.frames.iter().rev() {
            match f {
                Frame::With => return true,
                Frame::Names(ns) => {
                    if ns.contains(name) {
                        return true;
                    }
                }
            }
        }
        self.globals.contains_key(name)
    }

    fn check(&mut self, e: &'a E) -> R<()> {
        match e {
            E::Int(_) | E::Float(_) | E::Str(_) | E::Path(_) | E::CurPos => Ok(()),
            E::Var(n, r) => {
                if self.lookup(n) {
                    Ok(())
                } else {
                    Err(err(*r, format!("undefined variable '{n}'")))
                }
            }
            E::Select(b, path, def) => {
                self.check(b)?;
                self.check_path(path)?;
                if let Some(d) = def {
                    self.check(d)?;
                }
                Ok(())
            }
            E::HasAttr(b, path) => {
                self.check(b)?;
                self.check_path(path)
            }
            E::Attrs(a) => {
                if a.rec {
                    let names = a.attrs.iter().map(|(n, _)| n.as_str()).collect();
                    // inherited values are looked up outside the new scope
                    for (_, d) in &a.attrs {
                        if d.inherited {
                            self.check(&d.value)?;
                        }
                    }
                    self.frames.push(Frame::Names(names));
                    let res = self.check_attr_values(a, true);
                    self.frames.pop();
                    res
                } else {
                    self.check_attr_values(a, false)
                }
            }
            E::Let(a, body) => {
                for (_, d) in &a.attrs {
                    if d.inherited {
                        self.check(&d.value)?;
                    }
                }
                let names = a.attrs.iter().map(|(n, _)| n.as_str()).collect();
                self.frames.push(Frame::Names(names));
                let res = self
                    .check_attr_values(a, true)
                    .and_then(|_| self.check(body));
                self.frames.pop();
                res
            }
            E::List(items) => items.iter().try_for_each(|i| self.check(i)),
            E::Lambda { arg, formals, body } => {
                let mut names = std::collections::HashSet::new();
                if let Some(a) = arg {
                    names.insert(a.as_str());
                }
                if let Some((fs, _)) = formals {
                    names.extend(fs.iter().map(|(n, _)| n.as_str()));
                }
                self.frames.push(Frame::Names(names));
                let mut res = Ok(());
                if let Some((fs, _)) = formals {
                    for (_, d) in fs {
                        if let Some(d) = d {
                            res = res.and_then(|_| self.check(d));
                        }
                    }
                }
                let res = res.and_then(|_| self.check(body));
                self.frames.pop();
                res
            }
            E::Call(f, args) => {
                self.check(f)?;
                args.iter().try_for_each(|a| self.check(a))
            }
            E::With(ns, body) => {
                self.check(ns)?;
                self.frames.push(Frame::With);
                let res = self.check(body);
                self.frames.pop();
                res
            }
            E::If(a, b, c) => {
                self.check(a)?;
                self.check(b)?;
                self.check(c)
            }
            E::Assert(a, b) | E::Op(_, a, b) => {
                self.check(a)?;
                self.check(b)
            }
            E::Not(a) => self.check(a),
            E::Concat(es) => es.iter().try_for_each(|x| self.check(x)),
        }
    }

    fn check_attr_values(&mut self, a: &'a Attrs, skip_inherited: bool) -> R<()> {
        for (_, d) in &a.attrs {
            if skip_inherited && d.inherited {
                continue;
            }
            self.check(&d.value)?;
        }
        for (n, v, _) in &a.dynamic {
            self.check(n)?;
            self.check(v)?;
        }
        Ok(())
    }

    fn check_path(&mut self, path: &'a [AttrName]) -> R<()> {
        for a in path {
            if let AttrName::Dynamic(e) = a {
                self.check(e)?;
            }
        }
        Ok(())
    }
}

/// Desugar a parsed file like Nix's parser does and run the parse-time checks
/// (duplicate attributes/formals, undefined variables, dynamic attributes in `let`/`inherit`).
///
/// Runs on a helper thread with a large stack (the recursion depth is bounded by the parser's
/// nesting limit, but debug builds use big frames), so callers on small stacks are safe.
pub fn lower(root: &ast::Root, src: &str, ctx: &SourceContext) -> Result<E, ParseError> {
    let green = root.syntax().green().into_owned();
    on_big_stack(move || {
        let root = ast::Root::cast(super::kind::SyntaxNode::new_root(green))
            .expect("root node stays a root");
        lower_here(&root, src, ctx)
    })
}

/// Stack size of the helper thread used for lowering and printing.
pub const BIG_STACK: usize = 512 << 20;

fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("nix-lower".into())
            .stack_size(BIG_STACK)
            .spawn_scoped(s, f)
        {
            Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            Err(e) => panic!("cannot start the lowering thread: {e}"),
        }
    })
}

fn lower_here(root: &ast::Root, src: &str, ctx: &SourceContext) -> Result<E, ParseError> {
    let l = Lower { src, ctx };
    let e = match root.expr() {
        Some(e) => l.lower(&e)?,
        None => {
            return Err(err(
                TextRange::empty(TextSize::from(src.len() as u32)),
                "syntax error, unexpected end of file".into(),
            ))
        }
    };
    let mut scopes = Scopes {
        frames: Vec::new(),
        globals: GLOBAL_NAMES.iter().map(|n| (*n, ())).collect(),
    };
    scopes.check(&e)?;
    Ok(e)
}

/// `nix-instantiate --parse` output (without the trailing newline) of a parsed file.
pub fn print_parse(root: &ast::Root, src: &str, ctx: &SourceContext) -> Result<String, ParseError> {
    let green = root.syntax().green().into_owned();
    on_big_stack(move || {
        let root = ast::Root::cast(super::kind::SyntaxNode::new_root(green))
            .expect("root node stays a root");
        let e = lower_here(&root, src, ctx)?;
        let mut s = String::new();
        print_expr(&mut s, &e);
        Ok(s)
    })
}

/// C++ `ostream << double` with default flags (`%g`, 6 significant digits).
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf" } else { "inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:.5e}", f);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= 6 {
        let m = strip(mant);
        format!("{}e{}{:02}", m, if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        strip(&format!("{:.*}", decimals, f))
    }
}

/// Nix's `printLiteralString`.
pub fn print_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' | '"' | '$' => {
                out.push('\\');
                out.push(c)
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Nix's `printIdentifier`.
pub fn print_identifier(out: &mut String, s: &str) {
    let ok_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '\'' | '-');
    if s.is_empty() {
        out.push_str("\"\"");
    } else if s == "if" {
        out.push_str("\"if\"");
    } else if !s.chars().next().is_some_and(ok_start) || !s.chars().all(ok) {
        print_string(out, s);
    } else {
        out.push_str(s);
    }
}

fn print_attr_path(out: &mut String, path: &[AttrName]) {
    for (i, a) in path.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        match a {
            AttrName::Static(s) => print_identifier(out, s),
            AttrName::Dynamic(e) => {
                out.push_str("\"${");
                print_expr(out, e);
                out.push_str("}\"");
            }
        }
    }
}

/// Print a desugared expression the way Nix 2.8's `Expr::show` does.
pub fn print_expr(out: &mut String, e: &E) {
    match e {
        E::Int(i) => {
            let _ = write!(out, "{i}");
        }
        E::Float(f) => out.push_str(&format_float(*f)),
        E::Str(s) => print_string(out, s),
        E::Path(p) => out.push_str(p),
        E::Var(n, _) => out.push_str(n),
        E::CurPos => out.push_str("__curPos"),
        E::Select(b, path, def) => {
            out.push('(');
            print_expr(out, b);
            out.push_str(").");
            print_attr_path(out, path);
            if let Some(d) = def {
                out.push_str(" or (");
                print_expr(out, d);
                out.push(')');
            }
        }
        E::HasAttr(b, path) => {
            out.push_str("((");
            print_expr(out, b);
            out.push_str(") ? ");
            print_attr_path(out, path);
            out.push(')');
        }
        E::Attrs(a) => {
            if a.rec {
                out.push_str("rec ");
            }
            out.push_str("{ ");
            let mut sorted: Vec<&(String, AttrDef)> = a.attrs.iter().collect();
            sorted.sort_by(|x, y| x.0.cmp(&y.0));
            for (n, d) in sorted {
                if d.inherited {
                    out.push_str("inherit ");
                    print_identifier(out, n);
                    out.push_str(" ; ");
                } else {
                    print_identifier(out, n);
                    out.push_str(" = ");
                    print_expr(out, &d.value);
                    out.push_str("; ");
                }
            }
            for (n, v, _) in &a.dynamic {
                out.push_str("\"${");
                print_expr(out, n);
                out.push_str("}\" = ");
                print_expr(out, v);
                out.push_str("; ");
            }
            out.push('}');
        }
        E::List(items) => {
            out.push_str("[ ");
            for i in items {
                out.push('(');
                print_expr(out, i);
                out.push_str(") ");
            }
            out.push(']');
        }
        E::Lambda { arg, formals, body } => {
            out.push('(');
            if let Some((fs, ellipsis)) = formals {
                out.push_str("{ ");
                let mut first = true;
                for (n, d) in fs {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    print_identifier(out, n);
                    if let Some(d) = d {
                        out.push_str(" ? ");
                        print_expr(out, d);
                    }
                }
                if *ellipsis {
                    if !first {
                        out.push_str(", ");
                    }
                    out.push_str("...");
                }
                out.push_str(" }");
                if arg.is_some() {
                    out.push_str(" @ ");
                }
            }
            if let Some(a) = arg {
                out.push_str(a);
            }
            out.push_str(": ");
            print_expr(out, body);
            out.push(')');
        }
        E::Call(f, args) => {
            out.push('(');
            print_expr(out, f);
            for a in args {
                out.push(' ');
                print_expr(out, a);
            }
            out.push(')');
        }
        E::Let(a, body) => {
            out.push_str("(let ");
            for (n, d) in &a.attrs {
                if d.inherited {
                    out.push_str("inherit ");
                    print_identifier(out, n);
                    out.push_str("; ");
                } else {
                    print_identifier(out, n);
                    out.push_str(" = ");
                    print_expr(out, &d.value);
                    out.push_str("; ");
                }
            }
            out.push_str("in ");
            print_expr(out, body);
            out.push(')');
        }
        E::With(a, b) => {
            out.push_str("(with ");
            print_expr(out, a);
            out.push_str("; ");
            print_expr(out, b);
            out.push(')');
        }
        E::If(a, b, c) => {
            out.push_str("(if ");
            print_expr(out, a);
            out.push_str(" then ");
            print_expr(out, b);
            out.push_str(" else ");
            print_expr(out, c);
            out.push(')');
        }
        E::Assert(a, b) => {
            out.push_str("assert ");
            print_expr(out, a);
            out.push_str("; ");
            print_expr(out, b);
        }
        E::Not(a) => {
            out.push_str("(! ");
            print_expr(out, a);
            out.push(')');
        }
        E::Op(op, a, b) => {
            out.push('(');
            print_expr(out, a);
            let _ = write!(out, " {op} ");
            print_expr(out, b);
            out.push(')');
        }
        E::Concat(es) => {
            out.push('(');
            for (i, x) in es.iter().enumerate() {
                if i > 0 {
                    out.push_str(" + ");
                }
                print_expr(out, x);
            }
            out.push(')');
        }
    }
}
