//! Value printing: `nix-instantiate --eval` output, error-message rendering, JSON and XML.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::rc::Rc;

use super::ir::Param;
use super::value::{Attrs, Thunk, Value};
use super::{mkerr, Context, Evaluator, Pos, Result};

/// Format a float as C++ `std::ostream << double` does (`%g`, precision 6).
pub fn fmt_float(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{:.5e}", f);
    let (mant, exp) = e.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    if exp < -4 || exp >= 6 {
        let mant = trim_zeros(mant);
        format!(
            "{}e{}{:02}",
            mant,
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    } else {
        let prec = (5 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", prec, f)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Quote a string as Nix prints it.
pub fn quote_string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => o.push_str("\\$"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Quote string bytes as Nix prints them (bytes that are not escaped are copied as they are).
pub fn quote_bytes(s: &[u8], o: &mut Vec<u8>) {
    o.reserve(s.len() + 2);
    o.push(b'"');
    for (i, &c) in s.iter().enumerate() {
        match c {
            b'"' => o.extend_from_slice(b"\\\""),
            b'\\' => o.extend_from_slice(b"\\\\"),
            b'\n' => o.extend_from_slice(b"\\n"),
            b'\r' => o.extend_from_slice(b"\\r"),
            b'\t' => o.extend_from_slice(b"\\t"),
            b'$' if s.get(i + 1) == Some(&b'{') => o.extend_from_slice(b"\\$"),
            c => o.push(c),
        }
    }
    o.push(b'"');
}

/// `push_str` for byte output buffers.
pub trait PushStr {
    fn push_str(&mut self, s: &str);
}

impl PushStr for Vec<u8> {
    fn push_str(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
}

/// Is `s` printable as a bare attribute name?
pub fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    match cs.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    if !cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '\'' || c == '-') {
        return false;
    }
    !matches!(
        s,
        "if" | "then" | "else" | "assert" | "with" | "let" | "in" | "rec" | "inherit" | "or"
    )
}

pub fn attr_name(s: &str) -> String {
    if is_ident(s) {
        s.to_string()
    } else {
        quote_string(s)
    }
}

/// `nix-instantiate --eval [--strict]` output.
pub fn print_nix(ev: &mut Evaluator, v: &Value, strict: bool) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    if strict {
        ev.force_deep(v)?;
    }
    print_rec(ev, v, strict, &mut seen, &mut out)?;
    Ok(out)
}

fn print_thunk(
    ev: &mut Evaluator,
    t: &Thunk,
    strict: bool,
    seen: &mut HashSet<usize>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let v = if strict {
        Some(ev.force(t)?)
    } else {
        t.value()
    };
    match v {
        // Nix stores lists of up to two elements inline in the value, so their identity
        // is the value's (the thunk's), not the element vector's.
        Some(Value::List(l)) if l.len() <= 2 && !l.is_empty() => {
            if !seen.insert(Rc::as_ptr(&t.0) as *const u8 as usize) {
                out.push_str("«repeated»");
                return Ok(());
            }
            print_list(ev, &l, strict, seen, out)
        }
        Some(v) => print_rec(ev, &v, strict, seen, out),
        None => {
            out.push_str("<CODE>");
            Ok(())
        }
    }
}

fn print_list(
    ev: &mut Evaluator,
    l: &[Thunk],
    strict: bool,
    seen: &mut HashSet<usize>,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.push_str("[ ");
    for t in l.iter() {
        print_thunk(ev, t, strict, seen, out)?;
        out.push(b' ');
    }
    out.push(b']');
    Ok(())
}

fn print_rec(
    ev: &mut Evaluator,
    v: &Value,
    strict: bool,
    seen: &mut HashSet<usize>,
    out: &mut Vec<u8>,
) -> Result<()> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => write!(out, "{i}").unwrap(),
        Value::Float(f) => out.push_str(&fmt_float(*f)),
        Value::String(s) => quote_bytes(&s.s, out),
        Value::Path(p) => out.push_str(p),
        Value::List(l) => {
            if l.len() > 2 && !seen.insert(Rc::as_ptr(l) as *const u8 as usize) {
                out.push_str("«repeated»");
                return Ok(());
            }
            print_list(ev, l, strict, seen, out)?;
        }
        Value::Attrs(a) => {
            if !a.is_empty() && !seen.insert(Rc::as_ptr(a) as *const u8 as usize) {
                out.push_str("«repeated»");
                return Ok(());
            }
            out.push_str("{ ");
            for at in a.entries.iter() {
                out.push_str(&attr_name(&at.name));
                out.push_str(" = ");
                print_thunk(ev, &at.value, strict, seen, out)?;
                out.push_str("; ");
            }
            out.push(b'}');
        }
        Value::Lambda(_) => out.push_str("<LAMBDA>"),
        Value::PrimOp(_) => out.push_str("<PRIMOP>"),
        Value::PrimOpApp(..) => out.push_str("<PRIMOP-APP>"),
    }
    Ok(())
}

/// Printer for values inside error messages and `trace` (bounded, never forces).
pub struct ErrPrinter<'a> {
    ev: &'a Evaluator,
    attrs_printed: usize,
    items_printed: usize,
    max_items: usize,
    max_depth: usize,
    seen: HashSet<usize>,
}

impl<'a> ErrPrinter<'a> {
    pub fn new(ev: &'a Evaluator) -> Self {
        ErrPrinter {
            ev,
            attrs_printed: 0,
            items_printed: 0,
            max_items: 10,
            max_depth: 10,
            seen: HashSet::new(),
        }
    }
    pub fn unbounded(ev: &'a Evaluator) -> Self {
        ErrPrinter {
            ev,
            attrs_printed: 0,
            items_printed: 0,
            max_items: usize::MAX,
            max_depth: usize::MAX,
            seen: HashSet::new(),
        }
    }
    fn thunk(&mut self, t: &Thunk, depth: usize, out: &mut String) {
        match t.value() {
            Some(v) => self.value(&v, depth, out),
            None => out.push_str("«thunk»"),
        }
    }
    pub fn value(&mut self, v: &Value, depth: usize, out: &mut String) {
        match v {
            Value::List(l) => {
                if l.is_empty() {
                    out.push_str("[ ]");
                    return;
                }
                if depth >= self.max_depth {
                    out.push_str("[ ... ]");
                    return;
                }
                if !self.seen.insert(Rc::as_ptr(l) as *const u8 as usize) {
                    out.push_str("«repeated»");
                    return;
                }
                out.push_str("[ ");
                for (i, t) in l.iter().enumerate() {
                    if self.items_printed >= self.max_items {
                        let n = l.len() - i;
                        write!(out, "«{} item{} elided» ", n, if n == 1 { "" } else { "s" })
                            .unwrap();
                        break;
                    }
                    self.thunk(t, depth + 1, out);
                    out.push(' ');
                    self.items_printed += 1;
                }
                out.push(']');
                self.seen.remove(&(Rc::as_ptr(l) as *const u8 as usize));
            }
            Value::Attrs(a) => {
                if a.is_empty() {
                    out.push_str("{ }");
                    return;
                }
                if let Some(d) = self.derivation_path(a) {
                    write!(out, "«derivation {d}»").unwrap();
                    return;
                }
                if depth >= self.max_depth {
                    out.push_str("{ ... }");
                    return;
                }
                if !self.seen.insert(Rc::as_ptr(a) as *const u8 as usize) {
                    out.push_str("«repeated»");
                    return;
                }
                out.push_str("{ ");
                for (i, at) in a.entries.iter().enumerate() {
                    if self.attrs_printed >= self.max_items {
                        let n = a.len() - i;
                        write!(
                            out,
                            "«{} attribute{} elided» ",
                            n,
                            if n == 1 { "" } else { "s" }
                        )
                        .unwrap();
                        break;
                    }
                    out.push_str(&attr_name(&at.name));
                    out.push_str(" = ");
                    self.thunk(&at.value, depth + 1, out);
                    out.push_str("; ");
                    self.attrs_printed += 1;
                }
                out.push('}');
                self.seen.remove(&(Rc::as_ptr(a) as *const u8 as usize));
            }
            Value::Lambda(c) => {
                let pos = self
                    .ev
                    .show_pos(c.def.pos)
                    .unwrap_or_else(|| "«unknown»".into());
                match &c.def.name {
                    Some(n) => write!(out, "«lambda {n} @ {pos}»").unwrap(),
                    None => write!(out, "«lambda @ {pos}»").unwrap(),
                }
            }
            Value::PrimOp(p) => write!(out, "«primop {}»", p.name).unwrap(),
            Value::PrimOpApp(p, _) => write!(out, "«partially applied primop {}»", p.name).unwrap(),
            Value::Path(p) => out.push_str(p),
            Value::String(s) => out.push_str(&quote_string(&s.to_str_lossy())),
            Value::Float(f) => out.push_str(&fmt_float(*f)),
            Value::Int(i) => write!(out, "{i}").unwrap(),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Null => out.push_str("null"),
        }
    }
    fn derivation_path(&self, a: &Attrs) -> Option<String> {
        let t = a.get("type")?.value()?;
        match t {
            Value::String(s) if s.s == b"derivation" => {}
            _ => return None,
        }
        match a.get("drvPath").and_then(|t| t.value()) {
            Some(Value::String(s)) => Some(s.to_str_lossy().into_owned()),
            _ => Some("???".into()),
        }
    }
}

impl Evaluator {
    /// Render a value for an error message (bounded, does not force).
    pub fn show_value_err(&self, v: &Value) -> String {
        let mut s = String::new();
        ErrPrinter::new(self).value(v, 0, &mut s);
        s
    }
}

// ---------------------------------------------------------------------- JSON

/// `builtins.toJSON`: returns the JSON text and the collected string context.
pub fn to_json(ev: &mut Evaluator, v: &Value, copy_to_store: bool) -> Result<(Vec<u8>, Context)> {
    let mut out = Vec::new();
    let mut ctx = Context::new();
    json_rec(ev, v, copy_to_store, &mut out, &mut ctx)?;
    Ok((out, ctx))
}

/// A JSON string as Nix 2.8 writes it: escapes for `"`, `\\` and control characters, every
/// other byte (also invalid UTF-8) copied as it is.
fn json_str(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            8 => out.push_str("\\b"),
            12 => out.push_str("\\f"),
            c if c < 0x20 => write!(out, "\\u{:04x}", c).unwrap(),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn json_rec(
    ev: &mut Evaluator,
    v: &Value,
    copy: bool,
    out: &mut Vec<u8>,
    ctx: &mut Context,
) -> Result<()> {
    if out.len() > 0 && JSON_DEPTH.with(|d| d.get()) > 10000 {
        return Err(mkerr("stack overflow; max-call-depth exceeded"));
    }
    JSON_DEPTH.with(|d| d.set(d.get() + 1));
    let r = json_rec_inner(ev, v, copy, out, ctx);
    JSON_DEPTH.with(|d| d.set(d.get() - 1));
    r
}

thread_local! {
    static JSON_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn json_rec_inner(
    ev: &mut Evaluator,
    v: &Value,
    copy: bool,
    out: &mut Vec<u8>,
    ctx: &mut Context,
) -> Result<()> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => write!(out, "{i}").unwrap(),
        // Nix 2.8 prints floats in JSON as C++ streams do (`%g`)
        Value::Float(f) => out.push_str(&fmt_float(*f)),
        Value::String(s) => {
            json_str(&s.s, out);
            ctx.extend(s.ctx.iter().cloned());
        }
        Value::Path(_) => {
            let (s, c) = ev.coerce_to_string(v, false, copy)?;
            json_str(&s, out);
            ctx.extend(c);
        }
        Value::List(l) => {
            out.push(b'[');
            for (i, t) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let x = ev.force(t)?;
                json_rec(ev, &x, copy, out, ctx)?;
            }
            out.push(b']');
        }
        Value::Attrs(a) => {
            if let Some(f) = a.get("__toString").cloned() {
                let f = ev.force(&f)?;
                let r = ev.call_function(f, Thunk::new(v.clone()), Pos::NONE)?;
                match &r {
                    Value::String(s) => {
                        json_str(&s.s, out);
                        ctx.extend(s.ctx.iter().cloned());
                        return Ok(());
                    }
                    // sets returned by `__toString` are peeled further
                    Value::Attrs(_) => {
                        let (s, c) = ev.coerce_to_string(&r, false, copy)?;
                        json_str(&s, out);
                        ctx.extend(c);
                        return Ok(());
                    }
                    _ => {
                        return Err(mkerr(format!(
                            "`__toString` should return a string, but got {}: {}",
                            r.show_type(),
                            ev.show_value_err(&r)
                        )))
                    }
                }
            }
            if let Some(o) = a.get("outPath").cloned() {
                let o = ev.force(&o)?;
                return json_rec(ev, &o, copy, out, ctx);
            }
            out.push(b'{');
            for (i, at) in a.entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(at.name.as_bytes(), out);
                out.push(b':');
                let x = ev.force(&at.value).map_err(|e| {
                    ev.add_frame(
                        e,
                        at.pos,
                        format!("while evaluating attribute '{}'", at.name),
                    )
                })?;
                json_rec(ev, &x, copy, out, ctx)?;
            }
            out.push(b'}');
        }
        _ => return Err(mkerr(format!("cannot convert {} to JSON", v.show_type()))),
    }
    Ok(())
}

// ---------------------------------------------------------------------- XML

/// XML-escape string bytes (other bytes copied as they are, as Nix 2.8 does).
fn xml_escape_bytes(s: &[u8], o: &mut Vec<u8>) {
    for &c in s {
        match c {
            b'"' => o.push_str("&quot;"),
            b'<' => o.push_str("&lt;"),
            b'>' => o.push_str("&gt;"),
            b'&' => o.push_str("&amp;"),
            b'\n' => o.push_str("&#xA;"),
            b'\r' => o.push_str("&#xD;"),
            b'\t' => o.push_str("&#x9;"),
            c => o.push(c),
        }
    }
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("&quot;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '\n' => o.push_str("&#xA;"),
            '\r' => o.push_str("&#xD;"),
            '\t' => o.push_str("&#x9;"),
            c => o.push(c),
        }
    }
    o
}

/// `builtins.toXML` / `--xml` output (strict).
pub fn to_xml(ev: &mut Evaluator, v: &Value, location: bool) -> Result<(Vec<u8>, Context)> {
    let mut out = b"<?xml version='1.0' encoding='utf-8'?>\n<expr>\n".to_vec();
    let mut ctx = Context::new();
    let mut drvs = HashSet::new();
    xml_rec(ev, v, 1, &mut out, &mut ctx, &mut drvs, location)?;
    out.push_str("</expr>\n");
    Ok((out, ctx))
}

fn ind(n: usize) -> String {
    "  ".repeat(n)
}

fn xml_pos_attrs(ev: &Evaluator, pos: Pos, location: bool) -> String {
    if !location {
        return String::new();
    }
    match ev.pos_info(pos) {
        Some((f, l, c)) => format!(" column=\"{c}\" line=\"{l}\" path=\"{}\"", xml_escape(&f)),
        None => String::new(),
    }
}

fn xml_rec(
    ev: &mut Evaluator,
    v: &Value,
    d: usize,
    out: &mut Vec<u8>,
    ctx: &mut Context,
    drvs: &mut HashSet<String>,
    location: bool,
) -> Result<()> {
    // XML nesting costs quadratic output (indentation): stop long before the depth limit
    if d > 2000 {
        return Err(mkerr("stack overflow; max-call-depth exceeded"));
    }
    ev.enter()?;
    let r = xml_rec_unguarded(ev, v, d, out, ctx, drvs, location);
    ev.depth_leave();
    r
}

fn xml_rec_unguarded(
    ev: &mut Evaluator,
    v: &Value,
    d: usize,
    out: &mut Vec<u8>,
    ctx: &mut Context,
    drvs: &mut HashSet<String>,
    location: bool,
) -> Result<()> {
    let i = ind(d);
    match v {
        Value::Null => writeln!(out, "{i}<null />").unwrap(),
        Value::Bool(b) => writeln!(out, "{i}<bool value=\"{b}\" />").unwrap(),
        Value::Int(n) => writeln!(out, "{i}<int value=\"{n}\" />").unwrap(),
        Value::Float(f) => writeln!(out, "{i}<float value=\"{}\" />", fmt_float(*f)).unwrap(),
        Value::String(s) => {
            ctx.extend(s.ctx.iter().cloned());
            write!(out, "{i}<string value=\"").unwrap();
            xml_escape_bytes(&s.s, out);
            out.push_str("\" />\n");
        }
        Value::Path(p) => writeln!(out, "{i}<path value=\"{}\" />", xml_escape(p)).unwrap(),
        Value::List(l) => {
            writeln!(out, "{i}<list>").unwrap();
            for t in l.iter() {
                let x = ev.force(t)?;
                xml_rec(ev, &x, d + 1, out, ctx, drvs, location)?;
            }
            writeln!(out, "{i}</list>").unwrap();
        }
        Value::Attrs(a) => {
            if ev.is_derivation(a)? {
                let mut attrs = String::new();
                let mut drv_path = None;
                if let Some(t) = a.get("drvPath").cloned() {
                    if let Value::String(s) = ev.force(&t)? {
                        attrs.push_str(&format!(" drvPath=\"{}\"", xml_escape(&s.to_str_lossy())));
                        ctx.extend(s.ctx.iter().cloned());
                        drv_path = Some(s.to_str_lossy().into_owned());
                    }
                }
                if let Some(t) = a.get("outPath").cloned() {
                    if let Value::String(s) = ev.force(&t)? {
                        attrs.push_str(&format!(" outPath=\"{}\"", xml_escape(&s.to_str_lossy())));
                        ctx.extend(s.ctx.iter().cloned());
                    }
                }
                writeln!(out, "{i}<derivation{attrs}>").unwrap();
                let repeated = match &drv_path {
                    Some(p) => !drvs.insert(p.clone()),
                    None => false,
                };
                if repeated {
                    writeln!(out, "{}<repeated />", ind(d + 1)).unwrap();
                } else {
                    xml_attrs(ev, a, d + 1, out, ctx, drvs, location)?;
                }
                writeln!(out, "{i}</derivation>").unwrap();
            } else {
                writeln!(out, "{i}<attrs>").unwrap();
                xml_attrs(ev, a, d + 1, out, ctx, drvs, location)?;
                writeln!(out, "{i}</attrs>").unwrap();
            }
        }
        Value::Lambda(c) => {
            let pa = xml_pos_attrs(ev, c.def.pos, location);
            writeln!(out, "{i}<function{pa}>").unwrap();
            match &c.def.param {
                Param::Ident => writeln!(
                    out,
                    "{}<varpat name=\"{}\" />",
                    ind(d + 1),
                    xml_escape(c.def.arg.as_deref().unwrap_or(""))
                )
                .unwrap(),
                Param::Pattern {
                    formals,
                    ellipsis,
                    bind,
                } => {
                    let mut attrs = String::new();
                    if *ellipsis {
                        attrs.push_str(" ellipsis=\"1\"");
                    }
                    if *bind {
                        attrs.push_str(&format!(
                            " name=\"{}\"",
                            xml_escape(c.def.arg.as_deref().unwrap_or(""))
                        ));
                    }
                    writeln!(out, "{}<attrspat{attrs}>", ind(d + 1)).unwrap();
                    let mut names: Vec<&str> = formals.iter().map(|f| &*f.name).collect();
                    names.sort();
                    for n in names {
                        writeln!(out, "{}<attr name=\"{}\" />", ind(d + 2), xml_escape(n)).unwrap();
                    }
                    writeln!(out, "{}</attrspat>", ind(d + 1)).unwrap();
                }
            }
            writeln!(out, "{i}</function>").unwrap();
        }
        Value::PrimOp(_) | Value::PrimOpApp(..) => writeln!(out, "{i}<unevaluated />").unwrap(),
    }
    Ok(())
}

fn xml_attrs(
    ev: &mut Evaluator,
    a: &Attrs,
    d: usize,
    out: &mut Vec<u8>,
    ctx: &mut Context,
    drvs: &mut HashSet<String>,
    location: bool,
) -> Result<()> {
    for at in a.entries.iter() {
        let pa = xml_pos_attrs(ev, at.pos, location);
        writeln!(
            out,
            "{}<attr{pa} name=\"{}\">",
            ind(d),
            xml_escape(&at.name)
        )
        .unwrap();
        let x = ev.force(&at.value)?;
        xml_rec(ev, &x, d + 1, out, ctx, drvs, location)?;
        writeln!(out, "{}</attr>", ind(d)).unwrap();
    }
    Ok(())
}
