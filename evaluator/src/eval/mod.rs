//! The lazy evaluator.
//!
//! Pipeline: source → [`crate::syntax`] typed AST → [`lower`] → [`ir::Expr`] (scopes resolved
//! ahead of time) → [`Evaluator::eval`] → [`Value`]s.
//!
//! # Extension points for the store-aware glue layer
//!
//! 1. **Builtins**: [`Evaluator::set_builtin`] adds or replaces a builtin
//!    (`derivationStrict`, `toFile`, `path`, `filterSource`, `storePath`, `fetchurl`,
//!    `fetchTarball`, ...). Until replaced they fail with "... requires a store". The
//!    closure receives `&mut Evaluator` (force values with [`Evaluator::force`], call Nix
//!    functions with [`Evaluator::call_function`], coerce with
//!    [`Evaluator::coerce_to_string`]) and the already-forced arguments. `derivation` is
//!    written in Nix on top of `derivationStrict` (see `derivation.nix`).
//! 2. **Path copying**: [`StoreHooks::copy_path_to_store`] is called when a path is
//!    interpolated into a string (`"${./x}"`); the result becomes the string's context.
//! 3. **Path mapping**: every filesystem read goes through [`StoreHooks::real_path`].
//! 4. **Search path**: `-I`/`NIX_PATH` in [`EvalOptions::search_path`];
//!    [`StoreHooks::resolve_search_path`] may redirect `<nixpkgs>` etc. first.
//! 5. **Entry points**: [`Evaluator::eval_file`], [`Evaluator::eval_expr`],
//!    [`Evaluator::auto_call`], [`Evaluator::select_attr_path`],
//!    [`Evaluator::find_derivations`], [`Evaluator::print_value`], [`with_big_stack`].

//!
//! # Status
//!
//! Conformance runner (`../shared/conformance`, visible lists), with the glue's
//! `rnix-instantiate`: eval-okay 90/94 (the 4 failures need symlinks that the copied test
//! data lacks), eval-fail 184/186, eval-fail with `MSG=1` 181/186. Without a store (this
//! crate alone): 85/94, 186/186, 165/186. Differential corpus: 455 expressions
//! (`test_data/eval`), all equal to Nix 2.8's output. Performance: see `bench/eval.sh`.
//!
//! Deep recursion: evaluation must run on a big stack ([`with_big_stack`], 2 GiB); calls are
//! limited to `max_call_depth` (10000, as Nix) and evaluation/equality/coercion/printing
//! nesting to 60000 frames, both reported as `stack overflow; max-call-depth exceeded`.

pub mod builtins;
pub mod cli;
pub mod error;
pub mod ir;
pub mod lower;
pub mod print;
pub mod value;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use error::{err, mkerr, Error, ErrorKind, EvalError, Result, TraceFrame};
use ir::{AttrKey, AttrsDef, BinOp, Expr, ExprRef, Param};
use value::ThunkState;
pub use value::{
    bytes_to_string, cut_at_nul, Attr, Attrs, Closure, Context, Env, NixString, Pos, PrimOp, Thunk,
    Value,
};

/// Hooks the store-aware glue layer provides. All methods have defaults that work without a
/// store (identity path mapping, copying fails with a clear error).
pub trait StoreHooks {
    /// Copy a (logical) filesystem path into the store, returning the store path.
    fn copy_path_to_store(&self, path: &Path) -> std::result::Result<String, String> {
        Err(format!(
            "cannot copy '{}' to the store: this evaluator has no store (copying paths requires a store)",
            path.display()
        ))
    }
    /// Map a logical path (e.g. `/nix/store/...`) to where it physically is.
    fn real_path(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
    /// Resolve a search-path entry name (`nixpkgs` for `<nixpkgs>`) before `-I`/`NIX_PATH`.
    fn resolve_search_path(&self, _name: &str) -> Option<PathBuf> {
        None
    }
}

/// The default hooks: no store.
pub struct NoStore;
impl StoreHooks for NoStore {}

/// Options of an evaluation.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Search path entries `(prefix, path)`; `prefix` is `None` for plain directories.
    pub search_path: Vec<(Option<String>, String)>,
    pub current_system: String,
    pub max_call_depth: usize,
    pub show_trace: bool,
    pub store_dir: String,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            search_path: Vec::new(),
            current_system: default_system(),
            max_call_depth: 10000,
            show_trace: false,
            store_dir: "/nix/store".into(),
        }
    }
}

fn default_system() -> String {
    let arch = std::env::consts::ARCH;
    let os = std::env::consts::OS;
    format!("{arch}-{os}")
}

impl EvalOptions {
    /// Add `-I` entries (`prefix=path` or `path`).
    pub fn add_search_path(&mut self, s: &str) {
        for part in s.split(':').filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((p, path)) => self
                    .search_path
                    .push((Some(p.to_string()), path.to_string())),
                None => self.search_path.push((None, part.to_string())),
            }
        }
    }
    /// Read `NIX_PATH` from the environment (appended after `-I` entries).
    pub fn add_nix_path_env(&mut self) {
        if let Ok(p) = std::env::var("NIX_PATH") {
            self.add_search_path(&p);
        }
    }
}

/// A source file known to the evaluator (for positions).
pub struct SourceFile {
    pub name: String,
    pub src: Rc<str>,
    line_starts: Vec<u32>,
}

impl SourceFile {
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line] as usize;
        let end = (offset as usize).min(self.src.len());
        let col = self
            .src
            .get(start..end)
            .map(|s| s.chars().count())
            .unwrap_or(end - start)
            + 1;
        (line + 1, col)
    }
}

/// Derivation info found by [`Evaluator::find_derivations`].
#[derive(Clone, Debug)]
pub struct DrvInfo {
    pub attr_path: String,
    pub drv_path: String,
    pub out_path: String,
    pub output_name: String,
}

pub(crate) struct BaseEnv {
    pub env: Rc<Env>,
    pub names: HashMap<Rc<str>, u32>,
}

/// The evaluator state.
pub struct Evaluator {
    pub files: Vec<SourceFile>,
    pub options: EvalOptions,
    pub hooks: Rc<dyn StoreHooks>,
    primops: Vec<(Rc<str>, Value)>,
    base: Option<Rc<BaseEnv>>,
    import_cache: HashMap<String, Value>,
    /// `builtins.readDir` results by physical directory.
    pub(crate) read_dir_cache: HashMap<PathBuf, Value>,
    depth: usize,
    call_depth: usize,
    max_depth: usize,
    derivation_nix: Option<Value>,
}

const MAX_EVAL_DEPTH: usize = 60000;

/// Run `f` on a thread with a large stack (evaluation is recursive).
pub fn with_big_stack<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    std::thread::Builder::new()
        .stack_size(2 << 30)
        .spawn(f)
        .expect("spawning evaluator thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

pub(crate) fn lookup(env: &Rc<Env>, depth: u32, idx: u32) -> Thunk {
    let mut e = env;
    for _ in 0..depth {
        e = e.parent.as_ref().expect("scope depth");
    }
    let v = e.vals.borrow();
    v[idx as usize].clone()
}

impl Default for Evaluator {
    fn default() -> Self {
        Self::new(EvalOptions::default())
    }
}

impl Evaluator {
    pub fn new(options: EvalOptions) -> Evaluator {
        let mut ev = Evaluator {
            files: Vec::new(),
            options,
            hooks: Rc::new(NoStore),
            primops: Vec::new(),
            base: None,
            import_cache: HashMap::new(),
            read_dir_cache: HashMap::new(),
            depth: 0,
            call_depth: 0,
            max_depth: MAX_EVAL_DEPTH,
            derivation_nix: None,
        };
        builtins::register(&mut ev);
        ev
    }

    /// Replace the store hooks.
    pub fn set_hooks(&mut self, hooks: Rc<dyn StoreHooks>) {
        self.hooks = hooks;
    }

    /// Add or replace a builtin. `f` receives the arguments already forced to WHNF.
    pub fn set_builtin(
        &mut self,
        name: &str,
        arity: usize,
        f: Rc<dyn Fn(&mut Evaluator, Vec<Value>) -> Result<Value>>,
    ) {
        let f2: value::PrimOpFn = Rc::new(move |ev: &mut Evaluator, args: &[Thunk]| {
            let mut vs = Vec::with_capacity(args.len());
            for a in args {
                vs.push(ev.force(a)?);
            }
            f(ev, vs)
        });
        self.set_builtin_lazy(name, arity, f2);
    }

    /// Add or replace a builtin that receives its arguments unforced.
    pub fn set_builtin_lazy(&mut self, name: &str, arity: usize, f: value::PrimOpFn) {
        let name: Rc<str> = name.into();
        let v = Value::PrimOp(Rc::new(PrimOp {
            name: name.clone(),
            arity: arity.max(1),
            f,
        }));
        self.set_value_builtin(&name, v);
    }

    /// Add or replace a builtin constant (e.g. `currentSystem`).
    pub fn set_value_builtin(&mut self, name: &str, v: Value) {
        let name: Rc<str> = name.into();
        if let Some(e) = self.primops.iter_mut().find(|(n, _)| *n == name) {
            e.1 = v;
        } else {
            self.primops.push((name, v));
        }
        self.base = None;
    }

    pub(crate) fn base(&mut self) -> Rc<BaseEnv> {
        if let Some(b) = &self.base {
            return b.clone();
        }
        let b = Rc::new(self.build_base_env());
        self.base = Some(b.clone());
        b
    }

    fn build_base_env(&mut self) -> BaseEnv {
        const GLOBAL: &[&str] = &[
            "abort",
            "baseNameOf",
            "derivation",
            "derivationStrict",
            "dirOf",
            "fetchGit",
            "fetchMercurial",
            "fetchTarball",
            "fetchTree",
            "fromTOML",
            "import",
            "isNull",
            "map",
            "placeholder",
            "removeAttrs",
            "scopedImport",
            "throw",
            "toString",
        ];
        let np = self.nix_path_value();
        self.set_value_builtin("nixPath", np);
        let sys = Value::string(self.options.current_system.clone());
        self.set_value_builtin("currentSystem", sys);
        let env = Env::new(None, Vec::new());
        let mut names: HashMap<Rc<str>, u32> = HashMap::new();
        let mut vals: Vec<Thunk> = Vec::new();
        let mut battrs: Vec<Attr> = Vec::new();
        let add = |names: &mut HashMap<Rc<str>, u32>, vals: &mut Vec<Thunk>, n: &str, t: Thunk| {
            let n: Rc<str> = n.into();
            if let Some(&i) = names.get(&n) {
                vals[i as usize] = t;
            } else {
                names.insert(n, vals.len() as u32);
                vals.push(t);
            }
        };
        for (n, v) in self.primops.clone() {
            let t = if &*n == "derivation" {
                // derivation.nix, evaluated lazily in the base env
                Thunk::native(|ev: &mut Evaluator| ev.derivation_value())
            } else {
                Thunk::new(v)
            };
            battrs.push(Attr {
                name: n.clone(),
                value: t.clone(),
                pos: Pos::NONE,
            });
            let global = GLOBAL.contains(&&*n);
            if global {
                add(&mut names, &mut vals, &n, t.clone());
            }
            add(&mut names, &mut vals, &format!("__{n}"), t);
        }
        for (n, v) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            let t = Thunk::new(v);
            battrs.push(Attr {
                name: n.into(),
                value: t.clone(),
                pos: Pos::NONE,
            });
            add(&mut names, &mut vals, n, t);
        }
        // builtins.builtins refers to the set itself
        let bt = Thunk::new(Value::Null);
        battrs.push(Attr {
            name: "builtins".into(),
            value: bt.clone(),
            pos: Pos::NONE,
        });
        let battrs = Value::attrs(Attrs::from_unsorted(battrs));
        *bt.0.borrow_mut() = ThunkState::Done(battrs.clone());
        add(&mut names, &mut vals, "builtins", bt);
        *env.vals.borrow_mut() = vals.into();
        BaseEnv { env, names }
    }

    fn derivation_value(&mut self) -> Result<Value> {
        if let Some(v) = &self.derivation_nix {
            return Ok(v.clone());
        }
        let src = include_str!("derivation.nix");
        let e = self.parse(
            src,
            "«nix-internal»/derivation-internal.nix",
            Path::new("/"),
        )?;
        let base = self.base();
        let v = self.eval(&base.env.clone(), &e)?;
        self.derivation_nix = Some(v.clone());
        Ok(v)
    }

    // ------------------------------------------------------------------ files & positions

    pub fn add_file(&mut self, name: &str, src: Rc<str>) -> u32 {
        let mut line_starts = vec![0u32];
        for (i, b) in src.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i as u32 + 1);
            }
        }
        self.files.push(SourceFile {
            name: name.to_string(),
            src,
            line_starts,
        });
        (self.files.len() - 1) as u32
    }

    /// `file:line:col` of a position.
    pub fn show_pos(&self, pos: Pos) -> Option<String> {
        let f = self.files.get(pos.file as usize)?;
        let (l, c) = f.line_col(pos.offset);
        Some(format!("{}:{}:{}", f.name, l, c))
    }

    pub fn pos_info(&self, pos: Pos) -> Option<(String, usize, usize)> {
        let f = self.files.get(pos.file as usize)?;
        let (l, c) = f.line_col(pos.offset);
        Some((f.name.clone(), l, c))
    }

    /// Render an error as Nix does (message, position, trace frames with `--show-trace`).
    pub fn format_error(&self, e: &EvalError) -> String {
        let frames: Vec<&TraceFrame> = if self.options.show_trace {
            e.trace.iter().rev().collect()
        } else {
            Vec::new()
        };
        let mut out = String::new();
        if frames.is_empty() {
            out.push_str(&format!("error: {}", e.msg));
        } else {
            out.push_str("error:");
            for f in frames {
                out.push_str(&format!("\n       … {}", f.msg));
                if let Some(p) = self.show_pos(f.pos) {
                    out.push_str(&format!("\n         at {p}:"));
                    out.push_str(&self.snippet(f.pos));
                }
                out.push('\n');
            }
            out.push_str(&format!("\n       error: {}", e.msg));
        }
        if let Some(p) = self.show_pos(e.pos) {
            out.push_str(&format!("\n       at {p}:"));
            out.push_str(&self.snippet(e.pos));
        }
        if let Some(h) = &e.hint {
            out.push_str(&format!("\n       {h}"));
        }
        out
    }

    /// Source lines around a position, as Nix shows them.
    fn snippet(&self, pos: Pos) -> String {
        let Some(f) = self.files.get(pos.file as usize) else {
            return String::new();
        };
        let (l, c) = f.line_col(pos.offset);
        let lines: Vec<&str> = f.src.split('\n').collect();
        let mut s = String::new();
        let line = |s: &mut String, n: usize, t: &str| {
            let t = t.trim_end_matches('\r');
            if t.is_empty() {
                s.push_str(&format!("\n{:>13}|", n));
            } else {
                s.push_str(&format!("\n{:>13}| {}", n, t));
            }
        };
        if l >= 2 {
            if let Some(t) = lines.get(l - 2) {
                line(&mut s, l - 1, t);
            }
        }
        if let Some(t) = lines.get(l - 1) {
            line(&mut s, l, t);
            s.push_str(&format!(
                "\n{:>13}| {}^",
                "",
                " ".repeat(c.saturating_sub(1))
            ));
        }
        if let Some(t) = lines.get(l) {
            line(&mut s, l + 1, t);
        }
        s
    }

    // ------------------------------------------------------------------ parsing

    /// Parse and lower `src` (named `name`, relative paths resolved against `base_dir`).
    /// `src` is source text as [`crate::syntax::source::source_text`] makes it.
    pub fn parse(&mut self, src: &str, name: &str, base_dir: &Path) -> Result<ExprRef> {
        let file = self.add_file(name, src.into());
        let base = self.base();
        lower::lower_source(self, src, file, base_dir, &base)
    }

    /// Evaluate an expression given as text (`-E`).
    pub fn eval_expr(&mut self, src: &str, base_dir: &Path) -> Result<Value> {
        let text;
        let src = if src.as_bytes().contains(&0xF4) {
            // characters of the range that carries raw bytes must be carried themselves
            text = crate::syntax::source::source_text(src.as_bytes().to_vec());
            &text
        } else {
            src
        };
        self.eval_source_text(src, base_dir)
    }

    /// Evaluate source text made by [`crate::syntax::source::source_text`] (source bytes).
    pub fn eval_source_text(&mut self, src: &str, base_dir: &Path) -> Result<Value> {
        let e = self.parse(src, "«string»", base_dir)?;
        let base = self.base();
        self.eval(&base.env.clone(), &e)
    }

    /// Evaluate a file (a directory means its `default.nix`).
    pub fn eval_file(&mut self, path: &Path) -> Result<Value> {
        let p = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| mkerr(e.to_string()))?
                .join(path)
        };
        let p = canon_path(&p.to_string_lossy());
        self.import_path(&p, Pos::NONE)
    }

    /// Nix's built-in `<nix/...>` files (`/__corepkgs__/...`).
    pub(crate) fn corepkg(p: &str) -> Option<&'static str> {
        match p {
            "/__corepkgs__/fetchurl.nix" => Some(include_str!("fetchurl.nix")),
            "/__corepkgs__/derivation.nix" => Some(include_str!("derivation.nix")),
            _ => None,
        }
    }

    pub(crate) fn resolve_import_file(&self, p: &str) -> Result<(String, PathBuf)> {
        if Self::corepkg(p).is_some() {
            return Ok((p.to_string(), PathBuf::from(p)));
        }
        let real = self.hooks.real_path(Path::new(p));
        if real.is_dir() {
            let p2 = format!("{}/default.nix", p.trim_end_matches('/'));
            let r2 = self.hooks.real_path(Path::new(&p2));
            return Ok((p2, r2));
        }
        if !real.exists() {
            return err(format!("path '{p}' does not exist"));
        }
        Ok((p.to_string(), real))
    }

    pub(crate) fn import_path(&mut self, p: &str, pos: Pos) -> Result<Value> {
        if let Some(v) = self.import_cache.get(p) {
            return Ok(v.clone());
        }
        let (logical, real) = self.resolve_import_file(p).map_err(|e| e.at(pos))?;
        if let Some(v) = self.import_cache.get(&logical) {
            return Ok(v.clone());
        }
        let src = match Self::corepkg(&logical) {
            Some(s) => s.to_string(),
            None => {
                let src = std::fs::read(&real)
                    .map_err(|e| mkerr(format!("opening file '{logical}': {e}")).at(pos))?;
                crate::syntax::source::source_text(src)
            }
        };
        let dir = Path::new(&logical)
            .parent()
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        let e = self.parse(&src, &logical, &dir)?;
        let base = self.base();
        let v = self.eval(&base.env.clone(), &e)?;
        self.import_cache.insert(p.to_string(), v.clone());
        self.import_cache.insert(logical, v.clone());
        Ok(v)
    }

    // ------------------------------------------------------------------ forcing

    /// Force a thunk to weak head normal form.
    pub fn force(&mut self, t: &Thunk) -> Result<Value> {
        if let ThunkState::Done(v) = &*t.0.borrow() {
            return Ok(v.clone());
        }
        // take the pending computation out (the thunk is a black hole while it runs) and
        // put it back if it fails, so that a later force re-evaluates it as Nix does
        let st = std::mem::replace(&mut *t.0.borrow_mut(), ThunkState::Blackhole);
        let r = match &st {
            ThunkState::Expr(env, e) => self.eval(env, e),
            ThunkState::Apply(f, args) => {
                let mut v = f.clone();
                let mut r = Ok(Value::Null);
                for a in args {
                    match self.call_function(v, a.clone(), Pos::NONE) {
                        Ok(x) => {
                            v = x.clone();
                            r = Ok(x)
                        }
                        Err(e) => {
                            r = Err(e);
                            break;
                        }
                    }
                }
                r
            }
            ThunkState::Native(f) => f(self),
            ThunkState::Blackhole => {
                return Err(EvalError::new(
                    ErrorKind::InfiniteRecursion,
                    "infinite recursion encountered",
                ))
            }
            ThunkState::Done(_) => unreachable!("checked above"),
        };
        match r {
            Ok(v) => {
                *t.0.borrow_mut() = ThunkState::Done(v.clone());
                Ok(v)
            }
            Err(e) => {
                *t.0.borrow_mut() = st;
                Err(e)
            }
        }
    }

    /// Force deeply (lists and attribute sets recursively), as `--strict` and `deepSeq`.
    pub fn force_deep(&mut self, v: &Value) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        self.force_deep_inner(v, &mut seen)
    }

    fn force_deep_inner(
        &mut self,
        v: &Value,
        seen: &mut std::collections::HashSet<usize>,
    ) -> Result<()> {
        self.enter()?;
        let r = self.force_deep_unguarded(v, seen);
        self.depth -= 1;
        r
    }

    fn force_deep_unguarded(
        &mut self,
        v: &Value,
        seen: &mut std::collections::HashSet<usize>,
    ) -> Result<()> {
        match v {
            Value::List(l) => {
                if !seen.insert(Rc::as_ptr(l) as *const u8 as usize) {
                    return Ok(());
                }
                for t in l.iter() {
                    let x = self.force(t)?;
                    self.force_deep_inner(&x, seen)?;
                }
            }
            Value::Attrs(a) => {
                if !seen.insert(Rc::as_ptr(a) as *const u8 as usize) {
                    return Ok(());
                }
                for at in a.entries.iter() {
                    let x = self.force(&at.value).map_err(|e| {
                        self.add_frame(
                            e,
                            at.pos,
                            format!("while evaluating the attribute '{}'", at.name),
                        )
                    })?;
                    self.force_deep_inner(&x, seen)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub fn add_frame(&self, mut e: Error, pos: Pos, msg: String) -> Error {
        if self.options.show_trace && e.trace.len() < 200 {
            e.trace.push(TraceFrame { pos, msg });
        }
        e
    }

    // ------------------------------------------------------------------ evaluation

    /// Make a thunk for `e` in `env` (constants and variables need no new thunk).
    #[inline]
    pub(crate) fn thunk(&mut self, env: &Rc<Env>, e: &ExprRef) -> Thunk {
        match &**e {
            Expr::Lit(v) => Thunk::new(v.clone()),
            Expr::Var { depth, idx } => lookup(env, *depth, *idx),
            Expr::Lambda(def) => Thunk::new(Value::Lambda(Rc::new(Closure {
                def: def.clone(),
                env: env.clone(),
            }))),
            _ => Thunk::expr(env.clone(), e.clone()),
        }
    }

    /// Like [`Self::thunk`] for an env whose slots are still being filled: variables of
    /// that env (depth 0) are looked up when forced.
    #[inline]
    pub(crate) fn thunk_deferred(&mut self, env: &Rc<Env>, e: &ExprRef) -> Thunk {
        match &**e {
            Expr::Var { depth: 0, .. } => Thunk::expr(env.clone(), e.clone()),
            _ => self.thunk(env, e),
        }
    }

    /// Enter a recursive operation (deep equality, coercion, printing...): counts towards
    /// the same depth limit as evaluation, so cyclic or huge structures give an error
    /// instead of overflowing the stack. Callers decrement `self.depth` when done.
    pub(crate) fn depth_leave(&mut self) {
        self.depth -= 1;
    }

    pub(crate) fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            self.depth -= 1;
            return Err(EvalError::new(
                ErrorKind::StackOverflow,
                "stack overflow; max-call-depth exceeded",
            ));
        }
        Ok(())
    }

    pub fn eval(&mut self, env: &Rc<Env>, e: &Expr) -> Result<Value> {
        self.depth += 1;
        if self.depth > self.max_depth {
            self.depth -= 1;
            return Err(EvalError::new(
                ErrorKind::StackOverflow,
                "stack overflow; max-call-depth exceeded",
            ));
        }
        let r = self.eval_inner(env, e);
        self.depth -= 1;
        r
    }

    fn eval_inner(&mut self, env: &Rc<Env>, e: &Expr) -> Result<Value> {
        match e {
            Expr::Lit(v) => Ok(v.clone()),
            Expr::Var { depth, idx } => {
                let t = lookup(env, *depth, *idx);
                self.force(&t)
            }
            Expr::WithVar { name, depth, pos } => {
                let t = self.lookup_with(env, *depth, name, *pos)?;
                self.force(&t)
            }
            Expr::Lambda(def) => Ok(Value::Lambda(Rc::new(Closure {
                def: def.clone(),
                env: env.clone(),
            }))),
            Expr::Apply { f, args, pos } => {
                let mut fv = self.eval(env, f)?;
                for a in args {
                    let t = self.thunk(env, a);
                    fv = self.call_function(fv, t, *pos)?;
                }
                Ok(fv)
            }
            Expr::Select {
                e,
                path,
                default,
                pos,
            } => {
                let mut v = self.eval(env, e)?;
                for (i, k) in path.iter().enumerate() {
                    let name = self.attr_key(env, k)?;
                    match &v {
                        Value::Attrs(a) => match a.get(&name) {
                            Some(t) => {
                                let t = t.clone();
                                v = self.force(&t).map_err(|e| {
                                    self.add_frame(
                                        e,
                                        *pos,
                                        format!("while evaluating the attribute '{}'", name),
                                    )
                                })?;
                            }
                            None => {
                                if let Some(d) = default {
                                    return self.eval(env, d);
                                }
                                let mut er =
                                    mkerr(format!("attribute '{}' missing", name)).at(*pos);
                                if let Some(h) =
                                    did_you_mean(&name, a.entries.iter().map(|a| &*a.name))
                                {
                                    er.hint = Some(h);
                                }
                                let _ = i;
                                return Err(er);
                            }
                        },
                        _ => {
                            if let Some(d) = default {
                                return self.eval(env, d);
                            }
                            return Err(mkerr(format!(
                                "expected a set but found {}: {}",
                                v.show_type(),
                                self.show_value_err(&v)
                            ))
                            .at(*pos));
                        }
                    }
                }
                Ok(v)
            }
            Expr::HasAttr { e, path } => {
                // `e ? a.b.c` forces `e`, `e.a` and `e.a.b`, never the value of the last
                // attribute (`{ b = throw "x"; } ? b` is true).
                let mut v = self.eval(env, e)?;
                let last = path.len().saturating_sub(1);
                for (i, k) in path.iter().enumerate() {
                    let name = self.attr_key(env, k)?;
                    match &v {
                        Value::Attrs(a) => match a.get(&name) {
                            Some(_) if i == last => return Ok(Value::Bool(true)),
                            Some(t) => {
                                let t = t.clone();
                                v = self.force(&t)?
                            }
                            None => return Ok(Value::Bool(false)),
                        },
                        _ => return Ok(Value::Bool(false)),
                    }
                }
                Ok(Value::Bool(true))
            }
            Expr::Attrs(def) => self.eval_attrs(env, def),
            Expr::Let { def, body } => {
                let newenv = self.rec_env(env, def)?;
                self.eval(&newenv, body)
            }
            Expr::With { attrs, body, .. } => {
                let t = self.thunk(env, attrs);
                let newenv = Rc::new(Env {
                    vals: RefCell::new(Default::default()),
                    parent: Some(env.clone()),
                    with: Some(t),
                });
                self.eval(&newenv, body)
            }
            Expr::If {
                cond,
                then,
                else_,
                pos,
            } => {
                let c = self.eval(env, cond)?;
                match c {
                    Value::Bool(true) => self.eval(env, then),
                    Value::Bool(false) => self.eval(env, else_),
                    _ => Err(self.type_error("a Boolean", &c).at(*pos)),
                }
            }
            Expr::Assert {
                cond,
                body,
                pos,
                text,
            } => {
                let c = self.eval(env, cond)?;
                match c {
                    Value::Bool(true) => self.eval(env, body),
                    Value::Bool(false) => {
                        // explain failed equalities as modern Nix does
                        if let Expr::Bin {
                            op: BinOp::Eq,
                            l,
                            r,
                            ..
                        } = &**cond
                        {
                            let a = self.eval(env, l)?;
                            let b = self.eval(env, r)?;
                            if let Some(msg) = self.explain_neq(&a, &b)? {
                                let mut e = EvalError::new(ErrorKind::Assert, msg);
                                e.pos = *pos;
                                return Err(e);
                            }
                        }
                        let mut e = EvalError::new(
                            ErrorKind::Assert,
                            format!("assertion '{}' failed", text),
                        );
                        e.pos = *pos;
                        Err(e)
                    }
                    _ => Err(self.type_error("a Boolean", &c).at(*pos)),
                }
            }
            Expr::Not(x, pos) => {
                let c = self.eval(env, x)?;
                match c {
                    Value::Bool(b) => Ok(Value::Bool(!b)),
                    _ => Err(self.type_error("a Boolean", &c).at(*pos)),
                }
            }
            Expr::Neg(x, pos) => {
                let v = self.eval(env, x)?;
                match v {
                    Value::Int(i) => i.checked_neg().map(Value::Int).ok_or_else(|| {
                        mkerr(format!("integer overflow in subtracting 0 - {i}")).at(*pos)
                    }),
                    // `-x` is `__sub 0 x` in Nix: `-(0.0)` is `0 - 0.0`, positive zero.
                    Value::Float(f) => Ok(Value::Float(0.0 - f)),
                    _ => Err(self.type_error("an integer", &v).at(*pos)),
                }
            }
            Expr::Bin { op, l, r, pos } => self.eval_bin(env, *op, l, r, *pos),
            Expr::Interp { parts, path, pos } => self.eval_interp(env, parts, *path, *pos),
            Expr::List(items) => {
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    v.push(self.thunk(env, i));
                }
                Ok(Value::list(v))
            }
            Expr::CurPos(pos) => Ok(self.pos_value(*pos)),
        }
    }

    pub(crate) fn pos_value(&self, pos: Pos) -> Value {
        match self.pos_info(pos) {
            Some((f, l, c)) => Value::attrs_from([
                ("file", Value::string(f)),
                ("line", Value::Int(l as i64)),
                ("column", Value::Int(c as i64)),
            ]),
            None => Value::Null,
        }
    }

    fn attr_key(&mut self, env: &Rc<Env>, k: &AttrKey) -> Result<Rc<str>> {
        match k {
            AttrKey::Static(s) => Ok(s.clone()),
            AttrKey::Dynamic(e) => {
                let v = self.eval(env, e)?;
                match &v {
                    Value::String(s) => Ok(s.to_str_lossy().into()),
                    _ => Err(self.type_error("a string", &v)),
                }
            }
        }
    }

    fn lookup_with(&mut self, env: &Rc<Env>, depth: u32, name: &str, pos: Pos) -> Result<Thunk> {
        let mut e = env.clone();
        for _ in 0..depth {
            e = e.parent.clone().expect("with depth");
        }
        loop {
            if let Some(w) = &e.with {
                let w = w.clone();
                let v = self.force(&w)?;
                match &v {
                    Value::Attrs(a) => {
                        if let Some(t) = a.get(name) {
                            return Ok(t.clone());
                        }
                    }
                    _ => return Err(self.type_error("a set", &v).at(pos)),
                }
            }
            match e.parent.clone() {
                Some(p) => e = p,
                None => {
                    // scopedImport: names not in the scope set come from the base env
                    let base = self.base();
                    if let Some(&i) = base.names.get(name) {
                        return Ok(base.env.vals.borrow()[i as usize].clone());
                    }
                    return Err(mkerr(format!("undefined variable '{name}'")).at(pos));
                }
            }
        }
    }

    fn rec_env(&mut self, env: &Rc<Env>, def: &AttrsDef) -> Result<Rc<Env>> {
        let newenv = Env::new(Some(env.clone()), Vec::with_capacity(def.statics.len()));
        let mut vals = Vec::with_capacity(def.statics.len());
        for s in &def.statics {
            vals.push(self.thunk_deferred(&newenv, &s.value));
        }
        *newenv.vals.borrow_mut() = vals.into();
        Ok(newenv)
    }

    fn eval_attrs(&mut self, env: &Rc<Env>, def: &AttrsDef) -> Result<Value> {
        let (scope, vals): (Rc<Env>, Vec<Thunk>) = if def.rec {
            let ne = self.rec_env(env, def)?;
            let vals = ne.vals.borrow().clone();
            (ne, vals.to_vec())
        } else {
            let vals = def
                .statics
                .iter()
                .map(|s| self.thunk(env, &s.value))
                .collect();
            (env.clone(), vals)
        };
        let mut entries: Vec<Attr> = def
            .statics
            .iter()
            .zip(vals)
            .map(|(s, t)| Attr {
                name: s.name.clone(),
                value: t,
                pos: s.pos,
            })
            .collect();
        // statics are sorted by the lowering
        let mut attrs = Attrs {
            entries: std::mem::take(&mut entries),
        };
        if def.rec {
            if let Some(ov) = attrs.get("__overrides").cloned() {
                let ov = self.force(&ov)?;
                self.expect_attrs(&ov)?;
                if let Value::Attrs(o) = ov {
                    for a in o.entries.iter() {
                        if let Some(i) = def.statics.iter().position(|s| s.name == a.name) {
                            scope.vals.borrow_mut()[i] = a.value.clone();
                        }
                        attrs.insert(a.name.clone(), a.value.clone(), a.pos);
                    }
                }
            }
        }
        for d in &def.dynamics {
            let n = self.eval(&scope, &d.name)?;
            let name = match &n {
                Value::Null => continue,
                Value::String(s) => s.to_str_lossy().into_owned(),
                _ => return Err(self.type_error("a string", &n).at(d.pos)),
            };
            if let Some(prev) = attrs.get_attr(&name) {
                let at = self
                    .show_pos(prev.pos)
                    .unwrap_or_else(|| "«unknown»".into());
                return Err(mkerr(format!(
                    "dynamic attribute '{name}' already defined at {at}"
                ))
                .at(d.pos));
            }
            let t = self.thunk(&scope, &d.value);
            attrs.insert(name.as_str().into(), t, d.pos);
        }
        Ok(Value::attrs(attrs))
    }

    // ------------------------------------------------------------------ calls

    /// Apply a function value to one argument.
    pub fn call_function(&mut self, f: Value, arg: Thunk, pos: Pos) -> Result<Value> {
        match f {
            Value::Lambda(c) => {
                self.call_depth += 1;
                if self.call_depth > self.options.max_call_depth {
                    self.call_depth -= 1;
                    return Err(EvalError::new(
                        ErrorKind::StackOverflow,
                        "stack overflow; max-call-depth exceeded",
                    )
                    .at(pos));
                }
                let r = self.call_lambda(&c, arg, pos);
                self.call_depth -= 1;
                r.map_err(|e| {
                    if !self.options.show_trace {
                        return e;
                    }
                    let name = match &c.def.name {
                        Some(n) => format!("while calling '{n}'"),
                        None => "while calling anonymous lambda".to_string(),
                    };
                    let e = self.add_frame(e, c.def.pos, name);
                    self.add_frame(e, pos, "from call site".into())
                })
            }
            Value::PrimOp(p) => {
                if p.arity == 1 {
                    (p.f)(self, &[arg]).map_err(|e| e.at(pos))
                } else {
                    Ok(Value::PrimOpApp(p, Rc::new(vec![arg])))
                }
            }
            Value::PrimOpApp(p, args) => {
                let mut a: Vec<Thunk> = (*args).clone();
                a.push(arg);
                if a.len() == p.arity {
                    (p.f)(self, &a).map_err(|e| {
                        let e = e.at(pos);
                        self.add_frame(e, pos, format!("while calling the '{}' builtin", p.name))
                    })
                } else {
                    Ok(Value::PrimOpApp(p, Rc::new(a)))
                }
            }
            Value::Attrs(ref a) if a.get("__functor").is_some() => {
                let fun = a.get("__functor").unwrap().clone();
                let fun = self.force(&fun)?;
                let g = self.call_function(fun, Thunk::new(f.clone()), pos)?;
                self.call_function(g, arg, pos)
            }
            _ => Err(mkerr(format!(
                "attempt to call something which is not a function but {}: {}",
                f.show_type(),
                self.show_value_err(&f)
            ))
            .at(pos)),
        }
    }

    /// Call with several arguments.
    pub fn call_values(&mut self, f: Value, args: Vec<Value>) -> Result<Value> {
        let mut v = f;
        for a in args {
            v = self.call_function(v, Thunk::new(a), Pos::NONE)?;
        }
        Ok(v)
    }

    fn call_lambda(&mut self, c: &Closure, arg: Thunk, pos: Pos) -> Result<Value> {
        let def = &c.def;
        let env = match &def.param {
            Param::Ident => Env::one(Some(c.env.clone()), arg),
            Param::Pattern {
                formals,
                ellipsis,
                bind,
            } => {
                let av = self.force(&arg)?;
                let a = match &av {
                    Value::Attrs(a) => a.clone(),
                    _ => return Err(self.type_error("a set", &av).at(pos)),
                };
                let newenv = Env::new(Some(c.env.clone()), Vec::new());
                let mut vals = Vec::with_capacity(def.nslots());
                let mut used = 0usize;
                for f in formals {
                    match a.get(&f.name) {
                        Some(t) => {
                            used += 1;
                            vals.push(t.clone())
                        }
                        None => match &f.default {
                            Some(d) => vals.push(self.thunk_deferred(&newenv, d)),
                            None => {
                                let mut e = mkerr(format!(
                                    "function '{}' called without required argument '{}'",
                                    def.name.as_deref().unwrap_or("anonymous lambda"),
                                    f.name
                                ));
                                e.pos = def.pos;
                                return Err(self.add_frame(e, pos, "from call site".into()));
                            }
                        },
                    }
                }
                if !ellipsis && used < a.len() {
                    for at in a.entries.iter() {
                        if !formals.iter().any(|f| f.name == at.name) {
                            let mut e = mkerr(format!(
                                "function '{}' called with unexpected argument '{}'",
                                def.name.as_deref().unwrap_or("anonymous lambda"),
                                // quoted as Nix prints attribute names ('"b c"')
                                print::attr_name(&at.name)
                            ));
                            e.pos = def.pos;
                            e.hint = did_you_mean(&at.name, formals.iter().map(|f| &*f.name));
                            return Err(self.add_frame(e, pos, "from call site".into()));
                        }
                    }
                }
                if *bind {
                    vals.push(arg);
                }
                *newenv.vals.borrow_mut() = vals.into();
                newenv
            }
        };
        self.eval(&env, &def.body)
    }

    // ------------------------------------------------------------------ operators

    fn eval_bin(
        &mut self,
        env: &Rc<Env>,
        op: BinOp,
        l: &ExprRef,
        r: &ExprRef,
        pos: Pos,
    ) -> Result<Value> {
        match op {
            BinOp::And | BinOp::Or | BinOp::Impl => {
                let (opname, sym) = match op {
                    BinOp::And => ("AND", "&&"),
                    BinOp::Or => ("OR", "||"),
                    _ => ("implication", "->"),
                };
                let a = self.eval(env, l)?;
                let a = match a {
                    Value::Bool(b) => b,
                    _ => {
                        let e = self.type_error("a Boolean", &a).at(pos);
                        return Err(self.add_frame(
                            e,
                            pos,
                            format!("in the left operand of the {opname} ({sym}) operator"),
                        ));
                    }
                };
                let short = match op {
                    BinOp::And => (!a).then_some(false),
                    BinOp::Or => a.then_some(true),
                    _ => (!a).then_some(true),
                };
                if let Some(s) = short {
                    return Ok(Value::Bool(s));
                }
                let b = self.eval(env, r)?;
                match b {
                    Value::Bool(b) => Ok(Value::Bool(b)),
                    _ => {
                        let e = self.type_error("a Boolean", &b).at(pos);
                        Err(self.add_frame(
                            e,
                            pos,
                            format!("in the right operand of the {opname} ({sym}) operator"),
                        ))
                    }
                }
            }
            _ => {
                let a = self.eval(env, l)?;
                let b = self.eval(env, r)?;
                self.binop_values(op, a, b, pos)
            }
        }
    }

    pub(crate) fn binop_values(
        &mut self,
        op: BinOp,
        a: Value,
        b: Value,
        pos: Pos,
    ) -> Result<Value> {
        match op {
            BinOp::Eq => Ok(Value::Bool(self.values_equal(&a, &b)?)),
            BinOp::Neq => Ok(Value::Bool(!self.values_equal(&a, &b)?)),
            BinOp::Lt => Ok(Value::Bool(
                self.compare(&a, &b, pos)? == std::cmp::Ordering::Less,
            )),
            BinOp::Gt => Ok(Value::Bool(
                self.compare(&b, &a, pos)? == std::cmp::Ordering::Less,
            )),
            BinOp::Le => Ok(Value::Bool(
                self.compare(&b, &a, pos)? != std::cmp::Ordering::Less,
            )),
            BinOp::Ge => Ok(Value::Bool(
                self.compare(&a, &b, pos)? != std::cmp::Ordering::Less,
            )),
            BinOp::Update => {
                let x = self.expect_attrs(&a).map_err(|e| e.at(pos))?;
                let y = self.expect_attrs(&b).map_err(|e| e.at(pos))?;
                if x.is_empty() {
                    return Ok(b);
                }
                if y.is_empty() {
                    return Ok(a);
                }
                Ok(Value::attrs(x.update(&y)))
            }
            BinOp::Concat => {
                let x = self.expect_list(&a).map_err(|e| e.at(pos))?;
                let y = self.expect_list(&b).map_err(|e| e.at(pos))?;
                if x.is_empty() {
                    return Ok(b);
                }
                if y.is_empty() {
                    return Ok(a);
                }
                let mut v = Vec::with_capacity(x.len() + y.len());
                v.extend(x.iter().cloned());
                v.extend(y.iter().cloned());
                Ok(Value::list(v))
            }
            BinOp::Add => match (&a, &b) {
                (Value::Int(x), Value::Int(y)) => x
                    .checked_add(*y)
                    .map(Value::Int)
                    .ok_or_else(|| mkerr(format!("integer overflow in adding {x} + {y}")).at(pos)),
                (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x + y)),
                (Value::Int(x), Value::Float(y)) => Ok(Value::Float(*x as f64 + y)),
                (Value::Float(x), Value::Int(y)) => Ok(Value::Float(x + *y as f64)),
                (Value::Path(p), _) => {
                    let (s, ctx) = self
                        .coerce_to_string(&b, false, false)
                        .map_err(|e| e.at(pos))?;
                    if !ctx.is_empty() {
                        return Err(mkerr(format!(
                            "a string that refers to a store path cannot be appended to a path"
                        ))
                        .at(pos));
                    }
                    let s = String::from_utf8_lossy(&s);
                    Ok(Value::Path(canon_path(&format!("{p}{s}")).into()))
                }
                // A string, or anything that coerces to one (a set with `outPath` or
                // `__toString`): string concatenation, as Nix's `+` does after its first
                // operand; paths are copied to the store only when that operand is a string.
                (Value::String(_), _) | (Value::Attrs(_), _) => {
                    let copy = matches!(a, Value::String(_));
                    let (s1, mut c1) = self
                        .coerce_to_string(&a, false, copy)
                        .map_err(|e| e.at(pos))?;
                    let (s2, c2) = self
                        .coerce_to_string(&b, false, copy)
                        .map_err(|e| e.at(pos))?;
                    c1.extend(c2);
                    let mut s1 = s1;
                    s1.extend_from_slice(&s2);
                    Ok(Value::string_ctx(s1, c1))
                }
                (Value::Int(_) | Value::Float(_), _) => {
                    if matches!(b, Value::String(_) | Value::Path(_)) {
                        Err(
                            mkerr(format!("cannot add {} to {}", b.show_type(), a.show_type()))
                                .at(pos),
                        )
                    } else {
                        Err(self.type_error("an integer", &b).at(pos))
                    }
                }
                _ => {
                    // Nix coerces the first operand to a string and fails there
                    self.coerce_to_string(&a, false, true)
                        .map_err(|e| e.at(pos))?;
                    Err(mkerr(format!("cannot add {} to {}", b.show_type(), a.show_type())).at(pos))
                }
            },
            BinOp::Sub | BinOp::Mul | BinOp::Div => self.arith(op, &a, &b, pos),
            _ => unreachable!(),
        }
    }

    pub(crate) fn arith(&mut self, op: BinOp, a: &Value, b: &Value, pos: Pos) -> Result<Value> {
        let (sym, verb) = match op {
            BinOp::Sub => ("-", "subtracting"),
            BinOp::Mul => ("*", "multiplying"),
            _ => ("/", "dividing"),
        };
        match (a, b) {
            (Value::Int(x), Value::Int(y)) => {
                let r = match op {
                    BinOp::Sub => x.checked_sub(*y),
                    BinOp::Mul => x.checked_mul(*y),
                    _ => {
                        if *y == 0 {
                            return Err(mkerr("division by zero").at(pos));
                        }
                        x.checked_div(*y)
                    }
                };
                r.map(Value::Int).ok_or_else(|| {
                    mkerr(format!("integer overflow in {verb} {x} {sym} {y}")).at(pos)
                })
            }
            _ => {
                let x = match a {
                    Value::Int(i) => *i as f64,
                    Value::Float(f) => *f,
                    _ => return Err(self.type_error("an integer", a).at(pos)),
                };
                let y = match b {
                    Value::Int(i) => *i as f64,
                    Value::Float(f) => *f,
                    _ => return Err(self.type_error("an integer", b).at(pos)),
                };
                Ok(Value::Float(match op {
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    _ => {
                        if y == 0.0 {
                            return Err(mkerr("division by zero").at(pos));
                        }
                        x / y
                    }
                }))
            }
        }
    }

    fn eval_interp(
        &mut self,
        env: &Rc<Env>,
        parts: &[ExprRef],
        path: bool,
        pos: Pos,
    ) -> Result<Value> {
        let mut s: Vec<u8> = Vec::new();
        let mut ctx = Context::new();
        let mut first = true;
        let mut is_path = false;
        for p in parts {
            let v = self.eval(env, p)?;
            if first && path {
                if let Value::Path(pp) = &v {
                    is_path = true;
                    s.extend_from_slice(pp.as_bytes());
                    first = false;
                    continue;
                }
            }
            first = false;
            if is_path {
                let (x, c) = self
                    .coerce_to_string(&v, false, false)
                    .map_err(|e| e.at(pos))?;
                if !c.is_empty() {
                    return Err(mkerr(
                        "a string that refers to a store path cannot be appended to a path",
                    )
                    .at(pos));
                }
                s.extend_from_slice(&x);
            } else if let Value::String(sv) = &v {
                s.extend_from_slice(&sv.s);
                if !sv.ctx.is_empty() {
                    ctx.extend(sv.ctx.iter().cloned());
                }
            } else {
                let (x, c) = self
                    .coerce_to_string(&v, false, true)
                    .map_err(|e| e.at(pos))?;
                s.extend_from_slice(&x);
                ctx.extend(c);
            }
        }
        if path {
            if !is_path {
                // path interpolation starting with a string: relative paths are resolved
                return Ok(Value::Path(canon_path(&String::from_utf8_lossy(&s)).into()));
            }
            return Ok(Value::Path(canon_path(&String::from_utf8_lossy(&s)).into()));
        }
        Ok(Value::string_ctx(s, ctx))
    }

    // ------------------------------------------------------------------ coercions & checks

    pub fn type_error(&self, expected: &str, v: &Value) -> Error {
        mkerr(format!(
            "expected {} but found {}: {}",
            expected,
            v.show_type(),
            self.show_value_err(v)
        ))
    }

    pub fn expect_attrs(&self, v: &Value) -> Result<Rc<Attrs>> {
        match v {
            Value::Attrs(a) => Ok(a.clone()),
            _ => Err(self.type_error("a set", v)),
        }
    }
    pub fn expect_list(&self, v: &Value) -> Result<Rc<Vec<Thunk>>> {
        match v {
            Value::List(a) => Ok(a.clone()),
            _ => Err(self.type_error("a list", v)),
        }
    }
    pub fn expect_int(&self, v: &Value) -> Result<i64> {
        match v {
            Value::Int(i) => Ok(*i),
            _ => Err(self.type_error("an integer", v)),
        }
    }
    pub fn expect_bool(&self, v: &Value) -> Result<bool> {
        match v {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.type_error("a Boolean", v)),
        }
    }
    pub fn expect_function(&self, v: &Value) -> Result<()> {
        match v {
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(..) => Ok(()),
            Value::Attrs(a) if a.get("__functor").is_some() => Ok(()),
            _ => Err(self.type_error("a function", v)),
        }
    }
    /// A string value (no coercion); returns the string and its context.
    pub fn expect_string(&self, v: &Value) -> Result<Rc<NixString>> {
        match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.type_error("a string", v)),
        }
    }

    pub fn force_value(&mut self, t: &Thunk) -> Result<Value> {
        self.force(t)
    }

    /// Coerce to a string as Nix's `coerceToString`. `coerce_more` is what `toString` does
    /// (null, bools, numbers, lists); `copy_to_store` copies paths into the store (through
    /// [`StoreHooks::copy_path_to_store`]) as string interpolation does.
    pub fn coerce_to_string(
        &mut self,
        v: &Value,
        coerce_more: bool,
        copy_to_store: bool,
    ) -> Result<(Vec<u8>, Context)> {
        self.enter()?;
        let r = self.coerce_to_string_unguarded(v, coerce_more, copy_to_store);
        self.depth -= 1;
        r
    }

    fn coerce_to_string_unguarded(
        &mut self,
        v: &Value,
        coerce_more: bool,
        copy_to_store: bool,
    ) -> Result<(Vec<u8>, Context)> {
        match v {
            Value::String(s) => Ok((s.s.clone(), s.ctx.clone())),
            Value::Path(p) => {
                if copy_to_store {
                    let real = self.hooks.real_path(Path::new(&**p));
                    if std::fs::symlink_metadata(&real).is_err() {
                        return err(format!("path '{p}' does not exist"));
                    }
                    let sp = self
                        .hooks
                        .copy_path_to_store(Path::new(&**p))
                        .map_err(mkerr)?;
                    let mut c = Context::new();
                    c.insert(sp.clone());
                    Ok((sp.into_bytes(), c))
                } else {
                    Ok((p.as_bytes().to_vec(), Context::new()))
                }
            }
            Value::Attrs(a) => {
                if let Some(f) = a.get("__toString").cloned() {
                    let f = self.force(&f)?;
                    let r = self.call_function(f, Thunk::new(v.clone()), Pos::NONE)?;
                    self.coerce_to_string(&r, coerce_more, copy_to_store)
                } else if let Some(o) = a.get("outPath").cloned() {
                    let o = self.force(&o)?;
                    self.coerce_to_string(&o, coerce_more, copy_to_store)
                } else {
                    err(format!(
                        "cannot coerce {} to a string: {}",
                        v.show_type(),
                        self.show_value_err(v)
                    ))
                }
            }
            _ if coerce_more => match v {
                Value::Null => Ok((Vec::new(), Context::new())),
                Value::Bool(b) => Ok((if *b { b"1".to_vec() } else { Vec::new() }, Context::new())),
                Value::Int(i) => Ok((i.to_string().into_bytes(), Context::new())),
                Value::Float(f) => Ok((format!("{:.6}", f).into_bytes(), Context::new())),
                Value::List(l) => {
                    let mut s = Vec::new();
                    let mut ctx = Context::new();
                    let n = l.len();
                    for (i, t) in l.iter().enumerate() {
                        let x = self.force(t)?;
                        let (ss, cc) = self.coerce_to_string(&x, coerce_more, copy_to_store)?;
                        s.extend_from_slice(&ss);
                        ctx.extend(cc);
                        let empty_list = matches!(&x, Value::List(l2) if l2.is_empty());
                        if i + 1 < n && !empty_list {
                            s.push(b' ');
                        }
                    }
                    Ok((s, ctx))
                }
                _ => err(format!(
                    "cannot coerce {} to a string: {}",
                    v.show_type(),
                    self.show_value_err(v)
                )),
            },
            _ => err(format!(
                "cannot coerce {} to a string: {}",
                v.show_type(),
                self.show_value_err(v)
            )),
        }
    }

    /// Coerce to an absolute path string (as `coerceToPath`).
    pub fn coerce_to_path(&mut self, v: &Value) -> Result<(String, Context)> {
        let (s, c) = self.coerce_to_string(v, false, false)?;
        let s = bytes_to_string(s);
        if !s.starts_with('/') {
            return err(format!("string '{s}' doesn't represent an absolute path"));
        }
        Ok((s, c))
    }

    /// Structural equality as Nix's `==`.
    pub fn values_equal(&mut self, a: &Value, b: &Value) -> Result<bool> {
        self.enter()?;
        let r = self.values_equal_unguarded(a, b);
        self.depth -= 1;
        r
    }

    fn values_equal_unguarded(&mut self, a: &Value, b: &Value) -> Result<bool> {
        Ok(match (a, b) {
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Int(x), Value::Float(y)) => (*x as f64) == *y,
            (Value::Float(x), Value::Int(y)) => *x == (*y as f64),
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::String(x), Value::String(y)) => x.s == y.s,
            (Value::Path(x), Value::Path(y)) => x == y,
            (Value::List(x), Value::List(y)) => {
                if Rc::ptr_eq(x, y) {
                    return Ok(true);
                }
                if x.len() != y.len() {
                    return Ok(false);
                }
                for (p, q) in x.iter().zip(y.iter()) {
                    if p.ptr_eq(q) {
                        continue;
                    }
                    let p = self.force(p)?;
                    let q = self.force(q)?;
                    if !self.values_equal(&p, &q)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Value::Attrs(x), Value::Attrs(y)) => {
                if Rc::ptr_eq(x, y) {
                    return Ok(true);
                }
                if self.is_derivation(x)? && self.is_derivation(y)? {
                    if let (Some(p), Some(q)) =
                        (x.get("outPath").cloned(), y.get("outPath").cloned())
                    {
                        let p = self.force(&p)?;
                        let q = self.force(&q)?;
                        return self.values_equal(&p, &q);
                    }
                }
                if x.len() != y.len() {
                    return Ok(false);
                }
                for (p, q) in x.entries.iter().zip(y.entries.iter()) {
                    if p.name != q.name {
                        return Ok(false);
                    }
                }
                for (p, q) in x.entries.iter().zip(y.entries.iter()) {
                    if p.value.ptr_eq(&q.value) {
                        continue;
                    }
                    let pv = self.force(&p.value)?;
                    let qv = self.force(&q.value)?;
                    if !self.values_equal(&pv, &qv)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => false,
        })
    }

    /// Explain why two values differ (for failed `assert a == b`).
    fn explain_neq(&mut self, a: &Value, b: &Value) -> Result<Option<String>> {
        self.enter()?;
        let r = self.explain_neq_unguarded(a, b);
        self.depth -= 1;
        r
    }

    fn explain_neq_unguarded(&mut self, a: &Value, b: &Value) -> Result<Option<String>> {
        let sv = |ev: &Evaluator, v: &Value| ev.show_value_err(v);
        Ok(Some(match (a, b) {
            (Value::String(_), Value::String(_)) => {
                format!(
                    "string '{}' is not equal to string '{}'",
                    sv(self, a),
                    sv(self, b)
                )
            }
            (Value::Bool(_), Value::Bool(_)) => {
                format!(
                    "boolean '{}' is not equal to boolean '{}'",
                    sv(self, a),
                    sv(self, b)
                )
            }
            (Value::Int(_), Value::Int(_)) => {
                format!(
                    "an integer with value '{}' is not equal to an integer with value '{}'",
                    sv(self, a),
                    sv(self, b)
                )
            }
            (Value::Float(_), Value::Float(_)) => {
                format!(
                    "a float with value '{}' is not equal to a float with value '{}'",
                    sv(self, a),
                    sv(self, b)
                )
            }
            (Value::Path(_), Value::Path(_)) => {
                format!(
                    "path '{}' is not equal to path '{}'",
                    sv(self, a),
                    sv(self, b)
                )
            }
            (Value::List(x), Value::List(y)) => {
                if x.len() != y.len() {
                    format!(
                        "list of size '{}' is not equal to list of size '{}'",
                        x.len(),
                        y.len()
                    )
                } else {
                    for (p, q) in x.clone().iter().zip(y.clone().iter()) {
                        let p = self.force(p)?;
                        let q = self.force(q)?;
                        if !self.values_equal(&p, &q)? {
                            return self.explain_neq(&p, &q);
                        }
                    }
                    return Ok(None);
                }
            }
            (Value::Attrs(x), Value::Attrs(y))
                if self.is_derivation(x)? && self.is_derivation(y)? =>
            {
                // derivations compare by their outPath
                match (x.get("outPath").cloned(), y.get("outPath").cloned()) {
                    (Some(p), Some(q)) => {
                        let p = self.force(&p)?;
                        let q = self.force(&q)?;
                        return self.explain_neq(&p, &q);
                    }
                    _ => return Ok(None),
                }
            }
            (Value::Attrs(x), Value::Attrs(y)) => {
                let xn: Vec<&Rc<str>> = x.entries.iter().map(|a| &a.name).collect();
                let yn: Vec<&Rc<str>> = y.entries.iter().map(|a| &a.name).collect();
                if xn != yn {
                    format!(
                        "attribute names of attribute set '{}' differs from attribute set '{}'",
                        sv(self, a),
                        sv(self, b)
                    )
                } else {
                    let (x, y) = (x.clone(), y.clone());
                    for (p, q) in x.entries.iter().zip(y.entries.iter()) {
                        let pv = self.force(&p.value)?;
                        let qv = self.force(&q.value)?;
                        if !self.values_equal(&pv, &qv)? {
                            return self.explain_neq(&pv, &qv);
                        }
                    }
                    return Ok(None);
                }
            }
            _ if std::mem::discriminant(a) != std::mem::discriminant(b) => format!(
                "{} of value '{}' is not equal to {} of value '{}'",
                a.show_type(),
                sv(self, a),
                b.show_type(),
                sv(self, b)
            ),
            _ => return Ok(None),
        }))
    }

    pub fn is_derivation(&mut self, a: &Attrs) -> Result<bool> {
        if let Some(t) = a.get("type").cloned() {
            let v = self.force(&t)?;
            if let Value::String(s) = v {
                return Ok(s.s == b"derivation");
            }
        }
        Ok(false)
    }

    /// Ordering as `<` (numbers, strings, paths, lists).
    pub fn compare(&mut self, a: &Value, b: &Value, pos: Pos) -> Result<std::cmp::Ordering> {
        self.enter()?;
        let r = self.compare_unguarded(a, b, pos);
        self.depth -= 1;
        r
    }

    fn compare_unguarded(&mut self, a: &Value, b: &Value, pos: Pos) -> Result<std::cmp::Ordering> {
        use std::cmp::Ordering;
        Ok(match (a, b) {
            (Value::Int(x), Value::Int(y)) => x.cmp(y),
            (Value::Int(x), Value::Float(y)) => {
                (*x as f64).partial_cmp(y).unwrap_or(Ordering::Equal)
            }
            (Value::Float(x), Value::Int(y)) => {
                x.partial_cmp(&(*y as f64)).unwrap_or(Ordering::Equal)
            }
            (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
            (Value::String(x), Value::String(y)) => x.s.cmp(&y.s),
            (Value::Path(x), Value::Path(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Value::List(x), Value::List(y)) => {
                for (p, q) in x.iter().zip(y.iter()) {
                    let p = self.force(p)?;
                    let q = self.force(q)?;
                    if self.values_equal(&p, &q)? {
                        continue;
                    }
                    return self.compare(&p, &q, pos);
                }
                x.len().cmp(&y.len())
            }
            _ => {
                return Err(mkerr(format!(
                    "cannot compare {} with {}; values are {} and {}",
                    a.show_type(),
                    b.show_type(),
                    self.show_value_err(a),
                    self.show_value_err(b)
                ))
                .at(pos))
            }
        })
    }

    // ------------------------------------------------------------------ entry-point helpers

    /// Call a function with `--arg`/`--argstr` values as nix-build does: if `v` is a function
    /// with a formal-argument pattern, pass the requested arguments it accepts.
    pub fn auto_call(&mut self, v: Value, args: &[(String, Thunk)]) -> Result<Value> {
        match &v {
            Value::Lambda(c) => match &c.def.param {
                Param::Pattern {
                    formals, ellipsis, ..
                } => {
                    let mut attrs = Vec::new();
                    for (n, t) in args {
                        if *ellipsis || formals.iter().any(|f| &*f.name == n.as_str()) {
                            attrs.push(Attr {
                                name: n.as_str().into(),
                                value: t.clone(),
                                pos: Pos::NONE,
                            });
                        }
                    }
                    let a = Value::attrs(Attrs::from_unsorted(attrs));
                    self.call_function(v.clone(), Thunk::new(a), Pos::NONE)
                }
                Param::Ident => Ok(v),
            },
            Value::Attrs(a) if a.get("__functor").is_some() => {
                let a = Value::attrs(Attrs::from_unsorted(
                    args.iter()
                        .map(|(n, t)| Attr {
                            name: n.as_str().into(),
                            value: t.clone(),
                            pos: Pos::NONE,
                        })
                        .collect(),
                ));
                self.call_function(v.clone(), Thunk::new(a), Pos::NONE)
            }
            _ => Ok(v),
        }
    }

    /// Select an attribute path (`-A a.b.0.c`; numbers index lists).
    pub fn select_attr_path(
        &mut self,
        mut v: Value,
        path: &str,
        auto_args: &[(String, Thunk)],
    ) -> Result<Value> {
        if path.is_empty() {
            return Ok(v);
        }
        for comp in split_attr_path(path) {
            v = self.auto_call(v, auto_args)?;
            match (&v, comp.parse::<usize>()) {
                (Value::List(l), Ok(i)) => {
                    let t = l
                        .get(i)
                        .cloned()
                        .ok_or_else(|| mkerr(format!("list index {i} in selection path '{path}' is out of range")))?;
                    v = self.force(&t)?;
                }
                (Value::Attrs(a), _) => {
                    let t = a
                        .get(&comp)
                        .cloned()
                        .ok_or_else(|| mkerr(format!("attribute '{comp}' in selection path '{path}' not found")))?;
                    v = self.force(&t)?;
                }
                _ => {
                    return err(format!(
                        "the expression selected by the selection path '{path}' should be a set but is {}",
                        v.show_type()
                    ))
                }
            }
        }
        Ok(v)
    }

    /// Walk a value as nix-build does and collect derivations (attribute sets with
    /// `type = "derivation"`): a derivation, a list of them, or a set of them (not recursing
    /// into nested sets unless `recurseForDerivations = true`).
    pub fn find_derivations(
        &mut self,
        v: &Value,
        auto_args: &[(String, Thunk)],
    ) -> Result<Vec<DrvInfo>> {
        let mut out = Vec::new();
        let v = self.auto_call(v.clone(), auto_args)?;
        self.find_drvs_inner(&v, String::new(), true, &mut out)?;
        Ok(out)
    }

    fn drv_info(&mut self, a: &Attrs, attr_path: String) -> Result<DrvInfo> {
        let get = |ev: &mut Evaluator, n: &str| -> Result<String> {
            match a.get(n).cloned() {
                Some(t) => {
                    let v = ev.force(&t)?;
                    Ok(bytes_to_string(ev.coerce_to_string(&v, false, false)?.0))
                }
                None => Ok(String::new()),
            }
        };
        let drv_path = get(self, "drvPath")?;
        let out_path = get(self, "outPath")?;
        let mut output_name = get(self, "outputName")?;
        if output_name.is_empty() {
            output_name = "out".into();
        }
        Ok(DrvInfo {
            attr_path,
            drv_path,
            out_path,
            output_name,
        })
    }

    fn find_drvs_inner(
        &mut self,
        v: &Value,
        path: String,
        top: bool,
        out: &mut Vec<DrvInfo>,
    ) -> Result<()> {
        match v {
            Value::Attrs(a) => {
                if self.is_derivation(a)? {
                    out.push(self.drv_info(a, path)?);
                    return Ok(());
                }
                let recurse = top || {
                    match a.get("recurseForDerivations").cloned() {
                        Some(t) => matches!(self.force(&t)?, Value::Bool(true)),
                        None => false,
                    }
                };
                if !recurse {
                    return Ok(());
                }
                for at in a.entries.clone() {
                    let x = self.force(&at.value)?;
                    let p = if path.is_empty() {
                        at.name.to_string()
                    } else {
                        format!("{path}.{}", at.name)
                    };
                    match &x {
                        Value::Attrs(_) => self.find_drvs_inner(&x, p, false, out)?,
                        _ => {}
                    }
                }
            }
            Value::List(l) if top => {
                for (i, t) in l.iter().enumerate() {
                    let x = self.force(t)?;
                    let p = if path.is_empty() {
                        i.to_string()
                    } else {
                        format!("{path}.{i}")
                    };
                    self.find_drvs_inner(&x, p, false, out)?;
                }
            }
            _ => {
                if top {
                    return err(
                        "expression does not evaluate to a derivation (or a set or list of those)",
                    );
                }
            }
        }
        Ok(())
    }

    /// Print a value as `nix-instantiate --eval` does (`strict` forces it deeply first),
    /// as text (bytes of strings that are not UTF-8 replaced; see [`Self::print_value_bytes`]).
    pub fn print_value(&mut self, v: &Value, strict: bool) -> Result<String> {
        print::print_nix(self, v, strict).map(bytes_to_string)
    }

    /// Print a value as `nix-instantiate --eval` does, bytes of strings as they are.
    pub fn print_value_bytes(&mut self, v: &Value, strict: bool) -> Result<Vec<u8>> {
        print::print_nix(self, v, strict)
    }
}

/// Split `a.b."c.d".0` into components.
pub fn split_attr_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q = false;
    for c in p.chars() {
        match c {
            '"' => q = !q,
            '.' if !q => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Canonicalise a path lexically (`.`/`..`, duplicate slashes), as Nix's `canonPath`.
pub fn canon_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(c),
        }
    }
    if parts.is_empty() {
        return "/".into();
    }
    let mut s = String::new();
    for c in parts {
        s.push('/');
        s.push_str(c);
    }
    s
}

pub(crate) fn did_you_mean<'a>(name: &str, cands: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut best: Vec<&str> = cands.filter(|c| levenshtein(name, c) <= 2).collect();
    best.sort();
    match best.len() {
        0 => None,
        1 => Some(format!("Did you mean {}?", best[0])),
        _ => {
            let last = best.pop().unwrap();
            Some(format!(
                "Did you mean one of {} or {}?",
                best.join(", "),
                last
            ))
        }
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let c = if a[i - 1] == b[j - 1] { 0 } else { 1 };
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + c);
        }
        prev = cur;
    }
    prev[b.len()]
}
