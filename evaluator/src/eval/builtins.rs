//! The builtins of Nix 2.8.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use super::error::{ErrorKind, EvalError};
use super::ir::{BinOp, Param};
use super::print::{self, ErrPrinter};
use super::value::{bytes_to_string, cut_at_nul, Attr, Attrs, Thunk, Value};
use super::{canon_path, err, mkerr, Context, Evaluator, Pos, Result};

fn reg(
    ev: &mut Evaluator,
    name: &str,
    arity: usize,
    f: impl Fn(&mut Evaluator, &[Thunk]) -> Result<Value> + 'static,
) {
    ev.set_builtin_lazy(name, arity, Rc::new(f));
}

/// Builtins that need a store: they fail until the glue layer replaces them.
pub const STORE_BUILTINS: &[(&str, usize)] = &[
    ("derivationStrict", 1),
    ("toFile", 2),
    ("path", 1),
    ("filterSource", 2),
    ("storePath", 1),
    ("fetchurl", 1),
    ("fetchTarball", 1),
];

thread_local! {
    static REGEX_CACHE: RefCell<HashMap<Vec<u8>, Rc<regex::bytes::Regex>>> = RefCell::new(HashMap::new());
}

/// A byte regex (Nix 2.8's std::regex works on bytes: `.` is one byte, classes are ASCII).
fn build_byte_regex(pattern: &str, re: &[u8]) -> Result<regex::bytes::Regex> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .map_err(|_| {
            mkerr(format!(
                "invalid regular expression '{}'",
                String::from_utf8_lossy(re)
            ))
        })
}

fn get_regex(re: &[u8]) -> Result<Rc<regex::bytes::Regex>> {
    if let Some(r) = REGEX_CACHE.with(|c| c.borrow().get(re).cloned()) {
        return Ok(r);
    }
    let translated = translate_ere(re);
    let r = build_byte_regex(&format!("(?s)^(?:{translated})$"), re)?;
    let r = Rc::new(r);
    REGEX_CACHE.with(|c| c.borrow_mut().insert(re.to_vec(), r.clone()));
    Ok(r)
}

fn get_regex_unanchored(re: &[u8]) -> Result<Rc<regex::bytes::Regex>> {
    // strings never hold NUL, so a leading NUL keeps the two caches apart
    let mut key = vec![0u8];
    key.extend_from_slice(re);
    if let Some(r) = REGEX_CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(r);
    }
    let r = build_byte_regex(&format!("(?s){}", translate_ere(re)), re)?;
    let r = Rc::new(r);
    REGEX_CACHE.with(|c| c.borrow_mut().insert(key, r.clone()));
    Ok(r)
}

/// Push one pattern character: bytes of 0x80 and above (carried as U+0080..U+00FF) become
/// `\xHH`, which the non-Unicode byte regex matches as that single byte.
fn push_pat(out: &mut String, ch: char) {
    if (ch as u32) >= 0x80 {
        out.push_str(&format!("\\x{:02X}", ch as u32));
    } else {
        out.push(ch);
    }
}

/// Translate a POSIX extended regular expression into the `regex` crate's syntax.
fn translate_ere(re: &[u8]) -> String {
    let mut out = String::new();
    // one char per byte (latin-1), so that each byte of the pattern is one element
    let cs: Vec<char> = re.iter().map(|&b| b as char).collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c == '\\' && i + 1 < cs.len() {
            if (cs[i + 1] as u32) >= 0x80 {
                push_pat(&mut out, cs[i + 1]);
            } else {
                out.push(c);
                out.push(cs[i + 1]);
            }
            i += 2;
            continue;
        }
        if c == '[' {
            // bracket expression: copy verbatim, escaping what the regex crate treats specially
            out.push('[');
            i += 1;
            if i < cs.len() && cs[i] == '^' {
                out.push('^');
                i += 1;
            }
            if i < cs.len() && cs[i] == ']' {
                out.push_str("\\]");
                i += 1;
            }
            while i < cs.len() && cs[i] != ']' {
                if cs[i] == '['
                    && i + 1 < cs.len()
                    && (cs[i + 1] == ':' || cs[i + 1] == '=' || cs[i + 1] == '.')
                {
                    let close = cs[i + 1];
                    let mut j = i + 2;
                    while j + 1 < cs.len() && !(cs[j] == close && cs[j + 1] == ']') {
                        j += 1;
                    }
                    let s: String = cs[i..(j + 2).min(cs.len())].iter().collect();
                    out.push_str(&s);
                    i = j + 2;
                    continue;
                }
                match cs[i] {
                    '\\' | '[' | '&' | '~' | '|' => {
                        out.push('\\');
                        out.push(cs[i]);
                    }
                    '-' if i + 1 < cs.len() && cs[i + 1] == '-' => {
                        out.push_str("\\-");
                    }
                    ch => push_pat(&mut out, ch),
                }
                i += 1;
            }
            out.push(']');
            i += 1;
            continue;
        }
        if c == '{' {
            // literal brace unless it starts a valid repetition
            let rest: String = cs[i..].iter().collect();
            let ok = regex::Regex::new(r"^\{[0-9]+(,[0-9]*)?\}")
                .map(|r| r.is_match(&rest))
                .unwrap_or(false);
            if !ok || out.is_empty() {
                out.push_str("\\{");
                i += 1;
                continue;
            }
        }
        if c == '}' {
            // a '}' not closing a repetition
            let before: String = out.clone();
            let opened = before.rfind("\\{").map(|p| p + 2).unwrap_or(0);
            let last_open = before.rfind('{');
            if last_open
                .map(|p| p < opened || before[p..].contains('}'))
                .unwrap_or(true)
            {
                out.push_str("\\}");
                i += 1;
                continue;
            }
        }
        push_pat(&mut out, c);
        i += 1;
    }
    out
}

fn bool_v(b: bool) -> Value {
    Value::Bool(b)
}

fn s(x: &str) -> Value {
    Value::string(x)
}

impl Evaluator {
    /// Force argument `i` of a builtin.
    pub fn arg(&mut self, args: &[Thunk], i: usize) -> Result<Value> {
        self.force(&args[i])
    }

    fn arg_list(&mut self, args: &[Thunk], i: usize, what: &str) -> Result<Rc<Vec<Thunk>>> {
        let v = self.force(&args[i])?;
        self.expect_list(&v)
            .map_err(|e| self.add_frame(e, Pos::NONE, what.to_string()))
    }

    fn arg_attrs(&mut self, args: &[Thunk], i: usize) -> Result<Rc<Attrs>> {
        let v = self.force(&args[i])?;
        self.expect_attrs(&v)
    }

    fn arg_int(&mut self, args: &[Thunk], i: usize) -> Result<i64> {
        let v = self.force(&args[i])?;
        self.expect_int(&v)
    }

    /// A string argument's bytes (no coercion of non-strings).
    fn arg_bytes(&mut self, args: &[Thunk], i: usize) -> Result<(Vec<u8>, Context)> {
        let v = self.force(&args[i])?;
        let s = self.expect_string(&v)?;
        Ok((s.s.clone(), s.ctx.clone()))
    }

    /// A string argument as text (invalid UTF-8 replaced; for names, algorithms, versions).
    fn arg_str(&mut self, args: &[Thunk], i: usize) -> Result<(String, Context)> {
        let v = self.force(&args[i])?;
        let s = self.expect_string(&v)?;
        Ok((bytes_to_string(s.s.clone()), s.ctx.clone()))
    }

    fn arg_fn(&mut self, args: &[Thunk], i: usize) -> Result<Value> {
        let v = self.force(&args[i])?;
        self.expect_function(&v)?;
        Ok(v)
    }

    fn call2(&mut self, f: &Value, a: Thunk, b: Thunk) -> Result<Value> {
        let g = self.call_function(f.clone(), a, Pos::NONE)?;
        self.call_function(g, b, Pos::NONE)
    }

    fn call_bool(&mut self, f: &Value, a: Thunk) -> Result<bool> {
        let r = self.call_function(f.clone(), a, Pos::NONE)?;
        self.expect_bool(&r)
    }

    /// Resolve a path argument (path or string) to a logical absolute path.
    pub fn arg_path(&mut self, v: &Value) -> Result<(String, Context)> {
        match v {
            Value::Path(p) => Ok((p.to_string(), Context::new())),
            _ => self.coerce_to_path(v),
        }
    }

    fn real(&self, p: &str) -> std::path::PathBuf {
        self.hooks.real_path(Path::new(p))
    }

    /// `findFile`: resolve `<name>` against a search-path list value.
    pub fn find_file(&mut self, search: &Value, name: &str, pos: Pos) -> Result<Value> {
        let first = name.split('/').next().unwrap_or(name);
        let list = self.expect_list(search)?;
        for t in list.iter() {
            let e = self.force(t)?;
            let a = self.expect_attrs(&e)?;
            let prefix = match a.get("prefix").cloned() {
                Some(t) => {
                    let v = self.force(&t)?;
                    bytes_to_string(self.coerce_to_string(&v, false, false)?.0)
                }
                None => String::new(),
            };
            let path_t = a
                .get("path")
                .cloned()
                .ok_or_else(|| mkerr("attribute 'path' missing"))?;
            let pv = self.force(&path_t)?;
            let path = bytes_to_string(self.coerce_to_string(&pv, false, false)?.0);
            let rest = if prefix.is_empty() {
                Some(name.to_string())
            } else if name == prefix {
                Some(String::new())
            } else if name.starts_with(&format!("{prefix}/")) {
                Some(name[prefix.len() + 1..].to_string())
            } else {
                None
            };
            if let Some(rest) = rest {
                let base = if path.starts_with('/') {
                    path.clone()
                } else {
                    std::env::current_dir()
                        .map(|d| d.join(&path).to_string_lossy().into_owned())
                        .unwrap_or(path.clone())
                };
                let cand = if rest.is_empty() {
                    canon_path(&base)
                } else {
                    canon_path(&format!("{base}/{rest}"))
                };
                if self.real(&cand).exists() {
                    return Ok(Value::Path(cand.into()));
                }
            }
        }
        if let Some(rest) = name.strip_prefix("nix/") {
            let p = format!("/__corepkgs__/{rest}");
            if Evaluator::corepkg(&p).is_some() {
                return Ok(Value::Path(p.into()));
            }
        }
        // Only what the user's search path does not answer is asked of the hooks (the
        // glue answers `<nixpkgs>` with its embedded package set).
        if let Some(p) = self.hooks.resolve_search_path(first) {
            let rest = &name[first.len()..];
            return Ok(Value::Path(
                canon_path(&format!("{}{}", p.display(), rest)).into(),
            ));
        }
        Err(EvalError::new(
            ErrorKind::Throw,
            format!(
                "file '{name}' was not found in the Nix search path (add it using $NIX_PATH or -I)"
            ),
        )
        .at(pos))
    }

    pub(crate) fn nix_path_value(&self) -> Value {
        let items: Vec<Thunk> = self
            .options
            .search_path
            .iter()
            .map(|(p, path)| {
                Thunk::new(Value::attrs_from([
                    ("path", s(path)),
                    ("prefix", s(p.as_deref().unwrap_or(""))),
                ]))
            })
            .collect();
        Value::list(items)
    }
}

/// Split a version string into components as Nix does.
pub fn split_version(v: &str) -> Vec<String> {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b'.' || b[i] == b'-') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let st = i;
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            while i < b.len() && !b[i].is_ascii_digit() && b[i] != b'.' && b[i] != b'-' {
                i += 1;
            }
        }
        out.push(v[st..i].to_string());
    }
    out
}

fn components_lt(c1: &str, c2: &str) -> bool {
    let n1: Option<u64> = if !c1.is_empty() && c1.bytes().all(|b| b.is_ascii_digit()) {
        c1.parse().ok()
    } else {
        None
    };
    let n2: Option<u64> = if !c2.is_empty() && c2.bytes().all(|b| b.is_ascii_digit()) {
        c2.parse().ok()
    } else {
        None
    };
    if let (Some(a), Some(b)) = (n1, n2) {
        a < b
    } else if c1.is_empty() && n2.is_some() {
        true
    } else if c1 == "pre" && c2 != "pre" {
        true
    } else if c2 == "pre" {
        false
    } else if n2.is_some() {
        true
    } else if n1.is_some() {
        false
    } else {
        c1 < c2
    }
}

pub fn compare_versions(a: &str, b: &str) -> i64 {
    let ca = split_version(a);
    let cb = split_version(b);
    let n = ca.len().max(cb.len());
    for i in 0..n {
        let x = ca.get(i).map(|s| s.as_str()).unwrap_or("");
        let y = cb.get(i).map(|s| s.as_str()).unwrap_or("");
        if components_lt(x, y) {
            return -1;
        } else if components_lt(y, x) {
            return 1;
        }
    }
    0
}

const B32: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Nix's base-32 encoding.
pub fn nix_base32(h: &[u8]) -> String {
    let len = (h.len() * 8 - 1) / 5 + 1;
    let mut s = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let c = (h[i] as u16 >> j)
            | if i + 1 < h.len() {
                (h[i + 1] as u16) << (8 - j)
            } else {
                0
            };
        s.push(B32[(c & 0x1f) as usize] as char);
    }
    s
}

fn hash_bytes(algo: &str, data: &[u8]) -> Result<Vec<u8>> {
    use sha2::Digest;
    Ok(match algo {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => {
            return err(format!(
                "unknown hash algorithm '{algo}', expect 'md5', 'sha1', 'sha256', or 'sha512'"
            ))
        }
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An attribute name from parsed data, cut at a NUL as Nix 2.8's C-string symbols are.
fn nul_cut_name(k: &str) -> Rc<str> {
    match k.find('\0') {
        Some(i) => k[..i].into(),
        None => k.into(),
    }
}

fn json_to_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(x) => Value::string(cut_at_nul(x.as_bytes().to_vec())),
        serde_json::Value::Array(a) => {
            Value::list(a.iter().map(|x| Thunk::new(json_to_value(x))).collect())
        }
        serde_json::Value::Object(o) => Value::attrs(Attrs::from_unsorted(
            o.iter()
                .map(|(k, v)| Attr {
                    name: nul_cut_name(k),
                    value: Thunk::new(json_to_value(v)),
                    pos: Pos::NONE,
                })
                .collect(),
        )),
    }
}

fn toml_to_value(t: &toml::Value) -> Result<Value> {
    Ok(match t {
        toml::Value::String(x) => Value::string(cut_at_nul(x.as_bytes().to_vec())),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(_) => {
            return err("while parsing TOML: Dates and times are not supported")
        }
        toml::Value::Array(a) => {
            let mut v = Vec::new();
            for x in a {
                v.push(Thunk::new(toml_to_value(x)?));
            }
            Value::list(v)
        }
        toml::Value::Table(tb) => {
            let mut v = Vec::new();
            for (k, x) in tb {
                v.push(Attr {
                    name: nul_cut_name(k),
                    value: Thunk::new(toml_to_value(x)?),
                    pos: Pos::NONE,
                });
            }
            Value::attrs(Attrs::from_unsorted(v))
        }
    })
}

/// Stable merge sort with a fallible comparator.
fn merge_sort(
    ev: &mut Evaluator,
    v: Vec<Thunk>,
    less: &mut dyn FnMut(&mut Evaluator, &Thunk, &Thunk) -> Result<bool>,
) -> Result<Vec<Thunk>> {
    if v.len() <= 1 {
        return Ok(v);
    }
    // insertion sort for small inputs
    if v.len() <= 8 {
        let mut out: Vec<Thunk> = Vec::with_capacity(v.len());
        for x in v {
            let mut i = out.len();
            while i > 0 && less(ev, &x, &out[i - 1])? {
                i -= 1;
            }
            out.insert(i, x);
        }
        return Ok(out);
    }
    let mut v = v;
    let right = v.split_off(v.len() / 2);
    let l = merge_sort(ev, v, less)?;
    let r = merge_sort(ev, right, less)?;
    let mut out = Vec::with_capacity(l.len() + r.len());
    let (mut i, mut j) = (0, 0);
    while i < l.len() && j < r.len() {
        if less(ev, &r[j], &l[i])? {
            out.push(r[j].clone());
            j += 1;
        } else {
            out.push(l[i].clone());
            i += 1;
        }
    }
    out.extend_from_slice(&l[i..]);
    out.extend_from_slice(&r[j..]);
    Ok(out)
}

fn context_attrs(ev: &mut Evaluator, ctx: &Context) -> Value {
    let _ = ev;
    // path -> (path, allOutputs, outputs)
    let mut map: std::collections::BTreeMap<String, (bool, bool, Vec<String>)> = Default::default();
    for c in ctx {
        if let Some(p) = c.strip_prefix('=') {
            map.entry(p.to_string()).or_default().1 = true;
        } else if let Some(rest) = c.strip_prefix('!') {
            if let Some((out, p)) = rest.split_once('!') {
                map.entry(p.to_string())
                    .or_default()
                    .2
                    .push(out.to_string());
            }
        } else {
            map.entry(c.clone()).or_default().0 = true;
        }
    }
    let mut attrs = Vec::new();
    for (p, (path, all, outs)) in map {
        let mut inner: Vec<(&str, Value)> = Vec::new();
        if path {
            inner.push(("path", Value::Bool(true)));
        }
        if all {
            inner.push(("allOutputs", Value::Bool(true)));
        }
        if !outs.is_empty() {
            let mut outs = outs;
            outs.sort();
            inner.push((
                "outputs",
                Value::list(outs.iter().map(|o| Thunk::new(s(o))).collect()),
            ));
        }
        attrs.push(Attr {
            name: p.as_str().into(),
            value: Thunk::new(Value::attrs_from(inner)),
            pos: Pos::NONE,
        });
    }
    Value::attrs(Attrs::from_unsorted(attrs))
}

pub(crate) fn register(ev: &mut Evaluator) {
    // ---------------------------------------------------------------- constants
    ev.set_value_builtin("currentSystem", s(&ev.options.current_system.clone()));
    ev.set_value_builtin("storeDir", s(&ev.options.store_dir.clone()));
    ev.set_value_builtin("langVersion", Value::Int(6));
    ev.set_value_builtin("nixVersion", s("2.8.0"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    ev.set_value_builtin("currentTime", Value::Int(now));
    ev.set_value_builtin("derivation", Value::Null); // replaced by derivation.nix in the base env

    // ---------------------------------------------------------------- store builtins (hooks)
    for (name, arity) in STORE_BUILTINS {
        let n = name.to_string();
        reg(ev, name, *arity, move |_, _| {
            err(format!(
                "'builtins.{n}' requires a store; this evaluator was started without one"
            ))
        });
    }
    for name in ["fetchGit", "fetchMercurial", "fetchTree"] {
        reg(ev, name, 1, move |_, _| {
            err(format!("'builtins.{name}' is not supported by rnix"))
        });
    }

    // ---------------------------------------------------------------- errors & control
    reg(ev, "throw", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (m, _) = ev.coerce_to_string(&v, false, false)?;
        Err(EvalError::new(ErrorKind::Throw, bytes_to_string(m)))
    });
    reg(ev, "abort", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (m, _) = ev.coerce_to_string(&v, false, false)?;
        let m = bytes_to_string(m);
        Err(EvalError::new(
            ErrorKind::Abort,
            format!("evaluation aborted with the following error message: '{m}'"),
        ))
    });
    reg(ev, "addErrorContext", 2, |ev, a| {
        let r = ev.force(&a[1]);
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                let msg = match ev.force(&a[0]) {
                    Ok(Value::String(s)) => s.to_str_lossy().into_owned(),
                    _ => String::new(),
                };
                Err(ev.add_frame(e, Pos::NONE, msg))
            }
        }
    });
    reg(ev, "tryEval", 1, |ev, a| match ev.force(&a[0]) {
        Ok(v) => Ok(Value::attrs_from([
            ("success", Value::Bool(true)),
            ("value", v),
        ])),
        Err(e) if e.catchable() => Ok(Value::attrs_from([
            ("success", Value::Bool(false)),
            ("value", Value::Bool(false)),
        ])),
        Err(e) => Err(e),
    });
    reg(ev, "seq", 2, |ev, a| {
        ev.force(&a[0])?;
        ev.force(&a[1])
    });
    reg(ev, "deepSeq", 2, |ev, a| {
        let v = ev.force(&a[0])?;
        ev.force_deep(&v)?;
        ev.force(&a[1])
    });
    reg(ev, "trace", 2, |ev, a| {
        let v = ev.force(&a[0])?;
        let msg = match &v {
            Value::String(s) => s.to_str_lossy().into_owned(),
            _ => {
                let mut o = String::new();
                ErrPrinter::unbounded(ev).value(&v, 0, &mut o);
                o
            }
        };
        rnix_util::errln!("trace: {msg}");
        ev.force(&a[1])
    });

    // ---------------------------------------------------------------- types
    reg(ev, "typeOf", 1, |ev, a| Ok(s(ev.arg(a, 0)?.type_of())));
    reg(ev, "isNull", 1, |ev, a| {
        Ok(bool_v(matches!(ev.arg(a, 0)?, Value::Null)))
    });
    reg(ev, "isInt", 1, |ev, a| {
        Ok(bool_v(matches!(ev.arg(a, 0)?, Value::Int(_))))
    });
    reg(ev, "isFloat", 1, |ev, a| {
        Ok(bool_v(matches!(ev.arg(a, 0)?, Value::Float(_))))
    });
    reg(ev, "isBool", 1, |ev, a| {
        Ok(bool_v(matches!(ev.arg(a, 0)?, Value::Bool(_))))
    });
    reg(ev, "isString", 1, |ev, a| {
        Ok(bool_v(matches!(ev.arg(a, 0)?, Value::String(_))))
    });
    reg(ev, "isPath", 1, |ev, a| {
        Ok(bool_v(matches!(ev.arg(a, 0)?, Value::Path(_))))
    });
    reg(ev, "isList", 1, |ev, a| {
        Ok(bool_v(matches!(ev.arg(a, 0)?, Value::List(_))))
    });
    reg(ev, "isAttrs", 1, |ev, a| {
        Ok(bool_v(matches!(ev.arg(a, 0)?, Value::Attrs(_))))
    });
    reg(ev, "isFunction", 1, |ev, a| {
        Ok(bool_v(ev.arg(a, 0)?.is_function()))
    });

    // ---------------------------------------------------------------- arithmetic
    for (name, op) in [
        ("add", BinOp::Add),
        ("sub", BinOp::Sub),
        ("mul", BinOp::Mul),
        ("div", BinOp::Div),
    ] {
        reg(ev, name, 2, move |ev, a| {
            let x = ev.arg(a, 0)?;
            let y = ev.arg(a, 1)?;
            if op == BinOp::Div {
                if !matches!(y, Value::Int(_) | Value::Float(_)) {
                    return Err(ev.type_error("a float", &y));
                }
                if matches!(y, Value::Int(0)) || matches!(y, Value::Float(f) if f == 0.0) {
                    return err("division by zero");
                }
            }
            for v in [&x, &y] {
                if !matches!(v, Value::Int(_) | Value::Float(_)) {
                    return Err(ev.type_error(
                        if op == BinOp::Div {
                            "a float"
                        } else {
                            "an integer"
                        },
                        v,
                    ));
                }
            }
            if op == BinOp::Add {
                ev.binop_values(op, x, y, Pos::NONE)
            } else {
                ev.arith(op, &x, &y, Pos::NONE)
            }
        });
    }
    for (name, f) in [
        ("bitAnd", (|x, y| x & y) as fn(i64, i64) -> i64),
        ("bitOr", |x, y| x | y),
        ("bitXor", |x, y| x ^ y),
    ] {
        reg(ev, name, 2, move |ev, a| {
            let x = ev.arg_int(a, 0)?;
            let y = ev.arg_int(a, 1)?;
            Ok(Value::Int(f(x, y)))
        });
    }
    reg(ev, "lessThan", 2, |ev, a| {
        let x = ev.arg(a, 0)?;
        let y = ev.arg(a, 1)?;
        Ok(bool_v(
            ev.compare(&x, &y, Pos::NONE)? == std::cmp::Ordering::Less,
        ))
    });
    for (name, up) in [("floor", false), ("ceil", true)] {
        reg(ev, name, 1, move |ev, a| {
            let v = ev.arg(a, 0)?;
            match v {
                Value::Int(i) => Ok(Value::Int(i)),
                Value::Float(f) => Ok(Value::Int(if up { f.ceil() } else { f.floor() } as i64)),
                _ => Err(ev.type_error("a float", &v)),
            }
        });
    }

    // ---------------------------------------------------------------- attribute sets
    reg(ev, "attrNames", 1, |ev, a| {
        let at = ev.arg_attrs(a, 0)?;
        Ok(Value::list(
            at.entries.iter().map(|x| Thunk::new(s(&x.name))).collect(),
        ))
    });
    reg(ev, "attrValues", 1, |ev, a| {
        let at = ev.arg_attrs(a, 0)?;
        Ok(Value::list(
            at.entries.iter().map(|x| x.value.clone()).collect(),
        ))
    });
    reg(ev, "getAttr", 2, |ev, a| {
        let (n, _) = ev.arg_str(a, 0)?;
        let at = ev.arg_attrs(a, 1)?;
        match at.get(&n) {
            Some(t) => {
                let t = t.clone();
                ev.force(&t)
            }
            None => err(format!("attribute '{n}' missing")),
        }
    });
    reg(ev, "hasAttr", 2, |ev, a| {
        let (n, _) = ev.arg_str(a, 0)?;
        let at = ev.arg_attrs(a, 1)?;
        Ok(bool_v(at.get(&n).is_some()))
    });
    reg(ev, "unsafeGetAttrPos", 2, |ev, a| {
        let (n, _) = ev.arg_str(a, 0)?;
        let at = ev.arg_attrs(a, 1)?;
        match at.get_attr(&n) {
            Some(x) => Ok(ev.pos_value(x.pos)),
            None => Ok(Value::Null),
        }
    });
    reg(ev, "removeAttrs", 2, |ev, a| {
        let at = ev.arg_attrs(a, 0)?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.removeAttrs",
        )?;
        let mut names = Vec::new();
        for t in l.iter() {
            let v = ev.force(t)?;
            names.push(ev.expect_string(&v)?.s.clone());
        }
        Ok(Value::attrs(Attrs {
            entries: at
                .entries
                .iter()
                .filter(|x| !names.iter().any(|n| n[..] == *x.name.as_bytes()))
                .cloned()
                .collect(),
        }))
    });
    reg(ev, "intersectAttrs", 2, |ev, a| {
        let x = ev.arg_attrs(a, 0)?;
        let y = ev.arg_attrs(a, 1)?;
        Ok(Value::attrs(Attrs {
            entries: y
                .entries
                .iter()
                .filter(|e| x.get(&e.name).is_some())
                .cloned()
                .collect(),
        }))
    });
    reg(ev, "listToAttrs", 1, |ev, a| {
        let l = ev.arg_list(
            a,
            0,
            "while evaluating the argument passed to builtins.listToAttrs",
        )?;
        let mut entries: Vec<Attr> = Vec::with_capacity(l.len());
        for t in l.iter() {
            let v = ev.force(t)?;
            let at = ev.expect_attrs(&v)?;
            let n = at
                .get("name")
                .cloned()
                .ok_or_else(|| mkerr("attribute 'name' missing"))?;
            let n = ev.force(&n)?;
            let n = ev.expect_string(&n)?;
            let val = at
                .get_attr("value")
                .cloned()
                .ok_or_else(|| mkerr("attribute 'value' missing"))?;
            entries.push(Attr {
                name: n.to_str_lossy().into(),
                value: val.value,
                pos: val.pos,
            });
        }
        // first occurrence wins: stable sort, keep first
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries.dedup_by(|b, a| a.name == b.name);
        Ok(Value::attrs(Attrs { entries }))
    });
    reg(ev, "mapAttrs", 2, |ev, a| {
        let f = ev.force(&a[0])?;
        let at = ev.arg_attrs(a, 1)?;
        Ok(Value::attrs(Attrs {
            entries: at
                .entries
                .iter()
                .map(|x| Attr {
                    name: x.name.clone(),
                    value: Thunk::apply(f.clone(), vec![Thunk::new(s(&x.name)), x.value.clone()]),
                    // Nix's mapAttrs gives its attributes no position.
                    pos: Pos::NONE,
                })
                .collect(),
        }))
    });
    reg(ev, "zipAttrsWith", 2, |ev, a| {
        let f = ev.arg_fn(a, 0)?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.zipAttrsWith",
        )?;
        let mut map: std::collections::BTreeMap<Rc<str>, Vec<Thunk>> = Default::default();
        for t in l.iter() {
            let v = ev.force(t)?;
            let at = ev.expect_attrs(&v)?;
            for x in at.entries.iter() {
                map.entry(x.name.clone()).or_default().push(x.value.clone());
            }
        }
        Ok(Value::attrs(Attrs {
            entries: map
                .into_iter()
                .map(|(n, vs)| Attr {
                    name: n.clone(),
                    value: Thunk::apply(
                        f.clone(),
                        vec![Thunk::new(s(&n)), Thunk::new(Value::list(vs))],
                    ),
                    pos: Pos::NONE,
                })
                .collect(),
        }))
    });
    reg(ev, "catAttrs", 2, |ev, a| {
        let (n, _) = ev.arg_str(a, 0)?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.catAttrs",
        )?;
        let mut out = Vec::new();
        for t in l.iter() {
            let v = ev.force(t)?;
            let at = ev.expect_attrs(&v)?;
            if let Some(x) = at.get(&n) {
                out.push(x.clone());
            }
        }
        Ok(Value::list(out))
    });
    reg(ev, "functionArgs", 1, |ev, a| {
        let f = ev.arg(a, 0)?;
        match &f {
            Value::Lambda(c) => match &c.def.param {
                Param::Ident => Ok(Value::attrs(Attrs::new())),
                Param::Pattern { formals, .. } => Ok(Value::attrs(Attrs::from_unsorted(
                    formals
                        .iter()
                        .map(|x| Attr {
                            name: x.name.clone(),
                            value: Thunk::new(Value::Bool(x.default.is_some())),
                            pos: x.pos,
                        })
                        .collect(),
                ))),
            },
            Value::PrimOp(_) | Value::PrimOpApp(..) => Ok(Value::attrs(Attrs::new())),
            _ => err("'functionArgs' requires a function"),
        }
    });

    // ---------------------------------------------------------------- lists
    reg(ev, "length", 1, |ev, a| {
        Ok(Value::Int(
            ev.arg_list(
                a,
                0,
                "while evaluating the first argument passed to builtins.length",
            )?
            .len() as i64,
        ))
    });
    reg(ev, "head", 1, |ev, a| {
        let l = ev.arg_list(
            a,
            0,
            "while evaluating the first argument passed to builtins.head",
        )?;
        match l.first() {
            Some(t) => {
                let t = t.clone();
                ev.force(&t)
            }
            None => err("'builtins.head' called on an empty list"),
        }
    });
    reg(ev, "tail", 1, |ev, a| {
        let l = ev.arg_list(
            a,
            0,
            "while evaluating the first argument passed to builtins.tail",
        )?;
        if l.is_empty() {
            return err("'builtins.tail' called on an empty list");
        }
        Ok(Value::list(l[1..].to_vec()))
    });
    reg(ev, "elemAt", 2, |ev, a| {
        let l = ev.arg_list(
            a,
            0,
            "while evaluating the first argument passed to builtins.elemAt",
        )?;
        let i = ev.arg_int(a, 1)?;
        if i < 0 || i as usize >= l.len() {
            return err(format!(
                "'builtins.elemAt' called with index {i} on a list of size {}",
                l.len()
            ));
        }
        let t = l[i as usize].clone();
        ev.force(&t)
    });
    reg(ev, "elem", 2, |ev, a| {
        let x = ev.arg(a, 0)?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.elem",
        )?;
        for t in l.iter() {
            let y = ev.force(t)?;
            if ev.values_equal(&x, &y)? {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    });
    reg(ev, "map", 2, |ev, a| {
        let f = ev.force(&a[0])?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.map",
        )?;
        Ok(Value::list(
            l.iter()
                .map(|t| Thunk::apply(f.clone(), vec![t.clone()]))
                .collect(),
        ))
    });
    reg(ev, "filter", 2, |ev, a| {
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.filter",
        )?;
        let f = ev.arg_fn(a, 0)?;
        let mut out = Vec::new();
        for t in l.iter() {
            if ev.call_bool(&f, t.clone())? {
                out.push(t.clone());
            }
        }
        Ok(Value::list(out))
    });
    reg(ev, "partition", 2, |ev, a| {
        let f = ev.arg_fn(a, 0)?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.partition",
        )?;
        let (mut r, mut w) = (Vec::new(), Vec::new());
        for t in l.iter() {
            if ev.call_bool(&f, t.clone())? {
                r.push(t.clone());
            } else {
                w.push(t.clone());
            }
        }
        Ok(Value::attrs_from([
            ("right", Value::list(r)),
            ("wrong", Value::list(w)),
        ]))
    });
    reg(ev, "groupBy", 2, |ev, a| {
        let f = ev.arg_fn(a, 0)?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.groupBy",
        )?;
        let mut map: std::collections::BTreeMap<String, Vec<Thunk>> = Default::default();
        for t in l.iter() {
            let k = ev.call_function(f.clone(), t.clone(), Pos::NONE)?;
            let k = ev.expect_string(&k)?;
            map.entry(k.to_str_lossy().into_owned())
                .or_default()
                .push(t.clone());
        }
        Ok(Value::attrs(Attrs {
            entries: map
                .into_iter()
                .map(|(n, v)| Attr {
                    name: n.as_str().into(),
                    value: Thunk::new(Value::list(v)),
                    pos: Pos::NONE,
                })
                .collect(),
        }))
    });
    reg(ev, "all", 2, |ev, a| {
        let f = ev.arg_fn(a, 0)?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.all",
        )?;
        for t in l.iter() {
            if !ev.call_bool(&f, t.clone())? {
                return Ok(Value::Bool(false));
            }
        }
        Ok(Value::Bool(true))
    });
    reg(ev, "any", 2, |ev, a| {
        let f = ev.arg_fn(a, 0)?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.any",
        )?;
        for t in l.iter() {
            if ev.call_bool(&f, t.clone())? {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    });
    reg(ev, "concatLists", 1, |ev, a| {
        let l = ev.arg_list(
            a,
            0,
            "while evaluating the first argument passed to builtins.concatLists",
        )?;
        let mut out = Vec::new();
        for t in l.iter() {
            let v = ev.force(t)?;
            out.extend(ev.expect_list(&v)?.iter().cloned());
        }
        Ok(Value::list(out))
    });
    reg(ev, "concatMap", 2, |ev, a| {
        let f = ev.arg_fn(a, 0)?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.concatMap",
        )?;
        let mut out = Vec::new();
        for t in l.iter() {
            let v = ev.call_function(f.clone(), t.clone(), Pos::NONE)?;
            out.extend(ev.expect_list(&v)?.iter().cloned());
        }
        Ok(Value::list(out))
    });
    reg(ev, "foldl'", 3, |ev, a| {
        let f = ev.force(&a[0])?;
        let l = ev.arg_list(
            a,
            2,
            "while evaluating the third argument passed to builtins.foldl'",
        )?;
        let mut acc = ev.force(&a[1])?;
        for t in l.iter() {
            acc = ev.call2(&f, Thunk::new(acc), t.clone())?;
        }
        Ok(acc)
    });
    reg(ev, "genList", 2, |ev, a| {
        let f = ev.force(&a[0])?;
        let n = ev.arg_int(a, 1)?;
        if n < 0 {
            return err(format!("cannot create list of size {n}"));
        }
        Ok(Value::list(
            (0..n)
                .map(|i| Thunk::apply(f.clone(), vec![Thunk::new(Value::Int(i))]))
                .collect(),
        ))
    });
    reg(ev, "sort", 2, |ev, a| {
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.sort",
        )?;
        let f = ev.arg_fn(a, 0)?;
        let fast = matches!(&f, Value::PrimOp(p) if &*p.name == "lessThan");
        let mut less = |ev: &mut Evaluator, x: &Thunk, y: &Thunk| -> Result<bool> {
            if fast {
                let a = ev.force(x)?;
                let b = ev.force(y)?;
                return Ok(ev.compare(&a, &b, Pos::NONE)? == std::cmp::Ordering::Less);
            }
            let r = ev.call2(&f, x.clone(), y.clone())?;
            ev.expect_bool(&r)
        };
        Ok(Value::list(merge_sort(ev, l.to_vec(), &mut less)?))
    });
    reg(ev, "genericClosure", 1, |ev, a| {
        let args = ev.arg_attrs(a, 0)?;
        let start = args
            .get("startSet")
            .cloned()
            .ok_or_else(|| mkerr("attribute 'startSet' missing"))?;
        let op = args
            .get("operator")
            .cloned()
            .ok_or_else(|| mkerr("attribute 'operator' missing"))?;
        let start = ev.force(&start)?;
        let start = ev.expect_list(&start)?;
        let op = ev.force(&op)?;
        ev.expect_function(&op)?;
        let mut work: std::collections::VecDeque<Thunk> = start.iter().cloned().collect();
        let mut keys: Vec<Value> = Vec::new();
        let mut out = Vec::new();
        while let Some(t) = work.pop_front() {
            let v = ev.force(&t)?;
            let at = ev.expect_attrs(&v)?;
            let k = at
                .get("key")
                .cloned()
                .ok_or_else(|| mkerr("attribute 'key' missing"))?;
            let k = ev.force(&k)?;
            // binary search in sorted keys
            let (mut lo, mut hi) = (0usize, keys.len());
            let mut found = false;
            while lo < hi {
                let mid = (lo + hi) / 2;
                match ev.compare(&k, &keys[mid], Pos::NONE)? {
                    std::cmp::Ordering::Greater => lo = mid + 1,
                    std::cmp::Ordering::Less => hi = mid,
                    std::cmp::Ordering::Equal => {
                        found = true;
                        break;
                    }
                }
            }
            if found {
                continue;
            }
            keys.insert(lo, k);
            out.push(t.clone());
            let next = ev.call_function(op.clone(), t.clone(), Pos::NONE)?;
            let next = ev.expect_list(&next)?;
            work.extend(next.iter().cloned());
        }
        Ok(Value::list(out))
    });

    // ---------------------------------------------------------------- strings
    reg(ev, "toString", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (x, c) = ev.coerce_to_string(&v, true, false)?;
        Ok(Value::string_ctx(x, c))
    });
    reg(ev, "stringLength", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (x, _) = ev.coerce_to_string(&v, false, true)?;
        Ok(Value::Int(x.len() as i64))
    });
    reg(ev, "substring", 3, |ev, a| {
        let start = ev.arg_int(a, 0)?;
        let len = ev.arg_int(a, 1)?;
        let v = ev.arg(a, 2)?;
        let (x, c) = ev.coerce_to_string(&v, false, true)?;
        if start < 0 {
            return err("negative start position in 'substring'");
        }
        let b = &x[..];
        let st = (start as usize).min(b.len());
        let end = if len < 0 {
            b.len()
        } else {
            st.saturating_add(len as usize).min(b.len())
        };
        Ok(Value::string_ctx(&b[st..end], c))
    });
    reg(ev, "concatStringsSep", 2, |ev, a| {
        let (sep, mut ctx) = ev.arg_bytes(a, 0)?;
        let l = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.concatStringsSep",
        )?;
        let mut out: Vec<u8> = Vec::new();
        for (i, t) in l.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(&sep);
            }
            let v = ev.force(t)?;
            if let Value::String(sv) = &v {
                out.extend_from_slice(&sv.s);
                if !sv.ctx.is_empty() {
                    ctx.extend(sv.ctx.iter().cloned());
                }
                continue;
            }
            let (x, c) = ev.coerce_to_string(&v, false, true)?;
            out.extend_from_slice(&x);
            ctx.extend(c);
        }
        Ok(Value::string_ctx(out, ctx))
    });
    reg(ev, "replaceStrings", 3, |ev, a| {
        let from = ev.arg_list(
            a,
            0,
            "while evaluating the first argument passed to builtins.replaceStrings",
        )?;
        let to = ev.arg_list(
            a,
            1,
            "while evaluating the second argument passed to builtins.replaceStrings",
        )?;

        if from.len() != to.len() {
            return err("'from' and 'to' arguments passed to builtins.replaceStrings have different lengths");
        }
        // As Nix: every `from` string, then every `to` string, then the input is forced
        // (a replacement that never matches is still evaluated).
        let mut froms = Vec::new();
        for t in from.iter() {
            let v = ev.force(t)?;
            froms.push(ev.expect_string(&v)?.s.clone());
        }
        let mut tos: Vec<(Vec<u8>, Context)> = Vec::with_capacity(to.len());
        for t in to.iter() {
            let v = ev.force(t)?;
            let sv = ev.expect_string(&v)?;
            tos.push((sv.s.clone(), sv.ctx.clone()));
        }
        let (x, mut ctx) = ev.arg_bytes(a, 2)?;
        let b = &x[..];
        let mut res: Vec<u8> = Vec::with_capacity(b.len());
        let mut p = 0;
        let any_empty = froms.iter().any(|f| f.is_empty());
        let mut first_bytes = [false; 256];
        for f in &froms {
            if let Some(&c) = f.first() {
                first_bytes[c as usize] = true;
            }
        }
        while p <= b.len() {
            if !any_empty {
                // copy the run of bytes that cannot start a match in one go
                let st = p;
                while p < b.len() && !first_bytes[b[p] as usize] {
                    p += 1;
                }
                res.extend_from_slice(&b[st..p]);
                if p == b.len() {
                    break;
                }
            }
            let mut found = false;
            for (i, f) in froms.iter().enumerate() {
                if b[p..].starts_with(f) {
                    found = true;
                    let (ts, tc) = &tos[i];
                    res.extend_from_slice(ts);
                    ctx.extend(tc.iter().cloned());
                    if f.is_empty() {
                        if p < b.len() {
                            res.push(b[p]);
                        }
                        p += 1;
                    } else {
                        p += f.len();
                    }
                    break;
                }
            }
            if !found {
                if p < b.len() {
                    res.push(b[p]);
                }
                p += 1;
            }
        }
        Ok(Value::string_ctx(res, ctx))
    });
    reg(ev, "match", 2, |ev, a| {
        let (re, _) = ev.arg_bytes(a, 0)?;
        let (x, _) = ev.arg_bytes(a, 1)?;
        let r = get_regex(&re)?;
        match r.captures(&x) {
            None => Ok(Value::Null),
            Some(c) => Ok(Value::list(
                (1..c.len())
                    .map(|i| {
                        Thunk::new(
                            c.get(i)
                                .map(|m| Value::string(m.as_bytes()))
                                .unwrap_or(Value::Null),
                        )
                    })
                    .collect(),
            )),
        }
    });
    reg(ev, "split", 2, |ev, a| {
        let (re, _) = ev.arg_bytes(a, 0)?;
        let (x, _) = ev.arg_bytes(a, 1)?;
        let r = get_regex_unanchored(&re)?;
        let mut out = Vec::new();
        let mut last = 0;
        for c in r.captures_iter(&x) {
            let m = c.get(0).unwrap();
            out.push(Thunk::new(Value::string(&x[last..m.start()])));
            out.push(Thunk::new(Value::list(
                (1..c.len())
                    .map(|i| {
                        Thunk::new(
                            c.get(i)
                                .map(|m| Value::string(m.as_bytes()))
                                .unwrap_or(Value::Null),
                        )
                    })
                    .collect(),
            )));
            last = m.end();
        }
        out.push(Thunk::new(Value::string(&x[last..])));
        Ok(Value::list(out))
    });
    reg(ev, "baseNameOf", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (x, c) = ev.coerce_to_string(&v, false, false)?;
        let t = x.strip_suffix(b"/").unwrap_or(&x);
        let b = match t.iter().rposition(|&c| c == b'/') {
            Some(i) => &t[i + 1..],
            None => t,
        };
        Ok(Value::string_ctx(b, c))
    });
    reg(ev, "dirOf", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let is_path = matches!(v, Value::Path(_));
        let (x, c) = ev.coerce_to_string(&v, false, false)?;
        let x = bytes_to_string(x);
        let d = match x.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => x[..i].to_string(),
            None => ".".to_string(),
        };
        if is_path {
            Ok(Value::Path(d.into()))
        } else {
            Ok(Value::string_ctx(d, c))
        }
    });
    reg(ev, "toPath", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (p, c) = ev.coerce_to_path(&v)?;
        Ok(Value::string_ctx(canon_path(&p), c))
    });
    reg(ev, "splitVersion", 1, |ev, a| {
        let (x, _) = ev.arg_str(a, 0)?;

        Ok(Value::list(
            split_version(&x).iter().map(|c| Thunk::new(s(c))).collect(),
        ))
    });
    reg(ev, "compareVersions", 2, |ev, a| {
        let (x, _) = ev.arg_str(a, 0)?;
        let (y, _) = ev.arg_str(a, 1)?;
        Ok(Value::Int(compare_versions(&x, &y)))
    });
    reg(ev, "parseDrvName", 1, |ev, a| {
        let (x, _) = ev.arg_str(a, 0)?;

        let b = x.as_bytes();
        let mut split = None;
        for i in 0..b.len() {
            if b[i] == b'-' && i + 1 < b.len() && !b[i + 1].is_ascii_alphabetic() {
                split = Some(i);
                break;
            }
        }
        let (n, ver) = match split {
            Some(i) => (&x[..i], &x[i + 1..]),
            None => (&x[..], ""),
        };
        Ok(Value::attrs_from([("name", s(n)), ("version", s(ver))]))
    });
    reg(ev, "hashString", 2, |ev, a| {
        let (algo, _) = ev.arg_str(a, 0)?;
        let (x, _) = ev.arg_bytes(a, 1)?;
        Ok(s(&hex(&hash_bytes(&algo, &x)?)))
    });
    reg(ev, "placeholder", 1, |ev, a| {
        let (out, _) = ev.arg_str(a, 0)?;
        let h = hash_bytes("sha256", format!("nix-output:{out}").as_bytes())?;
        Ok(s(&format!("/{}", nix_base32(&h))))
    });

    // ---------------------------------------------------------------- string context
    reg(ev, "unsafeDiscardStringContext", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (x, _) = ev.coerce_to_string(&v, false, false)?;
        Ok(Value::string(x))
    });
    reg(ev, "hasContext", 1, |ev, a| {
        let (_, c) = ev.arg_str(a, 0)?;
        Ok(bool_v(!c.is_empty()))
    });
    reg(ev, "unsafeDiscardOutputDependency", 1, |ev, a| {
        let (x, c) = ev.arg_bytes(a, 0)?;
        let c2: Context = c
            .into_iter()
            .map(|e| e.strip_prefix('=').map(|x| x.to_string()).unwrap_or(e))
            .collect();
        Ok(Value::string_ctx(x, c2))
    });
    reg(ev, "getContext", 1, |ev, a| {
        let (_, c) = ev.arg_str(a, 0)?;
        Ok(context_attrs(ev, &c))
    });
    reg(ev, "appendContext", 2, |ev, a| {
        let (x, mut c) = ev.arg_bytes(a, 0)?;
        let at = ev.arg_attrs(a, 1)?;
        for e in at.entries.iter() {
            let info = ev.force(&e.value)?;
            let info = ev.expect_attrs(&info)?;
            if let Some(t) = info.get("path").cloned() {
                if ev.force(&t)?.type_of() == "bool" && matches!(ev.force(&t)?, Value::Bool(true)) {
                    c.insert(e.name.to_string());
                }
            }
            if let Some(t) = info.get("allOutputs").cloned() {
                if matches!(ev.force(&t)?, Value::Bool(true)) {
                    c.insert(format!("={}", e.name));
                }
            }
            if let Some(t) = info.get("outputs").cloned() {
                let l = ev.force(&t)?;
                for o in ev.expect_list(&l)?.iter() {
                    let o = ev.force(o)?;
                    let o = ev.expect_string(&o)?;
                    c.insert(format!("!{}!{}", o.to_str_lossy(), e.name));
                }
            }
        }
        Ok(Value::string_ctx(x, c))
    });

    // ---------------------------------------------------------------- JSON / TOML / XML
    reg(ev, "toJSON", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (j, c) = print::to_json(ev, &v, true)?;
        Ok(Value::string_ctx(j, c))
    });
    reg(ev, "fromJSON", 1, |ev, a| {
        let (x, _) = ev.arg_bytes(a, 0)?;
        // Nix's parser has no nesting limit (serde_json's default is 128 levels); the
        // evaluator runs on a large stack. Input that is not UTF-8 is an error, as in Nix.
        let mut de = serde_json::Deserializer::from_slice(&x);
        de.disable_recursion_limit();
        let j = <serde_json::Value as serde::Deserialize>::deserialize(&mut de)
            .and_then(|j| de.end().map(|()| j))
            .map_err(|e| mkerr(format!("while decoding JSON: {e}")))?;
        Ok(json_to_value(&j))
    });
    reg(ev, "fromTOML", 1, |ev, a| {
        let (x, _) = ev.arg_bytes(a, 0)?;
        let x = std::str::from_utf8(&x)
            .map_err(|e| mkerr(format!("while parsing TOML: invalid UTF-8: {e}")))?;
        let t: toml::Table = x
            .parse()
            .map_err(|e| mkerr(format!("while parsing TOML: {e}")))?;
        toml_to_value(&toml::Value::Table(t))
    });
    reg(ev, "toXML", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (x, c) = print::to_xml(ev, &v, false)?;
        Ok(Value::string_ctx(x, c))
    });

    // ---------------------------------------------------------------- filesystem
    reg(ev, "import", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (p, _) = ev.arg_path(&v)?;
        ev.import_path(&p, Pos::NONE)
    });
    reg(ev, "scopedImport", 2, |ev, a| {
        let scope = ev.force(&a[0])?;
        ev.expect_attrs(&scope)?;
        let v = ev.arg(a, 1)?;
        let (p, _) = ev.arg_path(&v)?;
        let (logical, real) = ev.resolve_import_file(&p)?;
        let src =
            std::fs::read(&real).map_err(|e| mkerr(format!("opening file '{logical}': {e}")))?;
        let src = crate::syntax::source::source_text(src);
        let dir = Path::new(&logical)
            .parent()
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        let file = ev.add_file(&logical, src.as_str().into());
        let base = ev.base();
        let e = super::lower::lower_scoped(ev, &src, file, &dir, &base)?;
        let env = Rc::new(super::value::Env {
            vals: RefCell::new(Default::default()),
            parent: Some(base.env.clone()),
            with: Some(Thunk::new(scope)),
        });
        ev.eval(&env, &e)
    });
    reg(ev, "readFile", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (p, c) = ev.arg_path(&v)?;
        let real = check_exists(ev, &p)?;
        let data = std::fs::read(real).map_err(|e| mkerr(format!("opening file '{p}': {e}")))?;
        if data.contains(&0) {
            return err(format!(
                "the contents of the file '{p}' cannot be represented as a Nix string"
            ));
        }
        Ok(Value::string_ctx(data, c))
    });
    reg(ev, "pathExists", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (p, _) = ev.arg_path(&v)?;
        let real = ev.real(&p);
        // a trailing slash requires a directory
        let (orig, is_path) = match &v {
            Value::Path(_) => (p.clone(), true),
            _ => (
                bytes_to_string(ev.coerce_to_string(&v, false, false)?.0),
                false,
            ),
        };
        if !is_path && (orig.ends_with('/') || orig.ends_with("/.")) {
            return Ok(bool_v(real.is_dir()));
        }
        Ok(bool_v(std::fs::symlink_metadata(&real).is_ok()))
    });
    reg(ev, "readDir", 1, |ev, a| {
        let v = ev.arg(a, 0)?;
        let (p, _) = ev.arg_path(&v)?;
        let real = check_exists(ev, &p)?;
        // A directory is listed once per evaluation (lib.fileset asks for the type of every
        // file through `readDir (dirOf file)`: without this, N files cost N listings).
        if let Some(v) = ev.read_dir_cache.get(&real) {
            return Ok(v.clone());
        }
        let rd = std::fs::read_dir(&real).map_err(|e| {
            if real.exists() && !real.is_dir() {
                mkerr(format!("'{p}' is not a directory"))
            } else {
                mkerr(format!("reading directory '{p}': {e}"))
            }
        })?;
        let mut entries = Vec::new();
        for e in rd {
            let e = e.map_err(|e| mkerr(e.to_string()))?;
            let ft = e.file_type().map_err(|e| mkerr(e.to_string()))?;
            let t = if ft.is_symlink() {
                "symlink"
            } else if ft.is_dir() {
                "directory"
            } else if ft.is_file() {
                "regular"
            } else {
                "unknown"
            };
            entries.push(Attr {
                name: e.file_name().to_string_lossy().as_ref().into(),
                value: Thunk::new(s(t)),
                pos: Pos::NONE,
            });
        }
        let v = Value::attrs(Attrs::from_unsorted(entries));
        ev.read_dir_cache.insert(real, v.clone());
        Ok(v)
    });
    reg(ev, "hashFile", 2, |ev, a| {
        let (algo, _) = ev.arg_str(a, 0)?;
        let v = ev.arg(a, 1)?;
        let (p, _) = ev.arg_path(&v)?;
        let real = check_exists(ev, &p)?;
        let data = std::fs::read(real).map_err(|e| mkerr(format!("opening file '{p}': {e}")))?;
        Ok(s(&hex(&hash_bytes(&algo, &data)?)))
    });
    reg(ev, "findFile", 2, |ev, a| {
        let sp = ev.force(&a[0])?;
        let (name, _) = ev.arg_str(a, 1)?;
        ev.find_file(&sp, &name, Pos::NONE)
    });
    reg(ev, "getEnv", 1, |ev, a| {
        let (n, _) = ev.arg_str(a, 0)?;
        // the environment is bytes too
        use std::os::unix::ffi::OsStringExt;
        Ok(Value::string(
            std::env::var_os(&n)
                .map(|v| v.into_vec())
                .unwrap_or_default(),
        ))
    });
}

/// Check that a path exists (through the path-mapping hook), as Nix does before reading.
pub(crate) fn check_exists(ev: &Evaluator, p: &str) -> Result<std::path::PathBuf> {
    let real = ev.hooks.real_path(Path::new(p));
    if std::fs::symlink_metadata(&real).is_err() {
        return err(format!("path '{p}' does not exist"));
    }
    Ok(real)
}
