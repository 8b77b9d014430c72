//! The store-aware builtins: the layer that joins the evaluator (which knows nothing of the
//! store) to the local store and the fetchers. `derivationStrict`, `toFile`, `path`,
//! `filterSource`, `storePath`, `fetchurl`, `fetchTarball`, `fetchGit`/`fetchTree` (in
//! `fetchtree.rs`), path coercion and the mapping of
//! logical `/nix/store` paths to the physical store root.

use evaluator::eval::{
    bytes_to_string, mkerr, Attrs, Context, Evaluator, Result, StoreHooks, Thunk, Value,
};
use realise::fetchers::{self, FetchOptions};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use store::derivation::{field_from_bytes, parse_hash_algo, Derivation, ModuloHashCache, Output};
use store::hash::{Hash, HashAlgo};
use store::local::LocalStore;
use store::store_path::{FileIngestionMethod, StorePath};

use store::STORE_DIR;

/// Settings of the glue layer.
#[derive(Clone, Debug)]
pub struct GlueOptions {
    /// Answer `<nixpkgs>` and nixpkgs tarball URLs with the embedded package set.
    pub embedded_nixpkgs: bool,
    /// Print notices (e.g. which package set stands in for nixpkgs).
    pub quiet: bool,
    pub fetch: FetchOptions,
}

impl GlueOptions {
    /// Apply `--option NAME VALUE` for the settings the glue reads (`embedded-nixpkgs`,
    /// `tarball-ttl`); other names are left to their owners. Errors name the bad value.
    pub fn set_option(&mut self, name: &str, value: &str) -> std::result::Result<(), String> {
        match name {
            "embedded-nixpkgs" => self.embedded_nixpkgs = value == "true" || value == "1",
            "tarball-ttl" => {
                self.fetch.ttl = value
                    .parse()
                    .map_err(|_| format!("invalid tarball-ttl '{value}'"))?
            }
            _ => {}
        }
        Ok(())
    }
}

impl Default for GlueOptions {
    fn default() -> Self {
        GlueOptions {
            embedded_nixpkgs: std::env::var("RNIX_EMBEDDED_NIXPKGS")
                .map(|v| v != "0" && v != "false")
                .unwrap_or(true),
            quiet: false,
            fetch: FetchOptions::default(),
        }
    }
}

/// State shared by the hooks and the builtins of one evaluation.
pub struct Glue {
    pub store: Rc<LocalStore>,
    pub opts: GlueOptions,
    modulo: RefCell<ModuloHashCache>,
    copied: RefCell<HashMap<PathBuf, String>>,
    pkgs: RefCell<Option<String>>,
    notified: RefCell<bool>,
}

fn e<T: std::fmt::Display>(x: T) -> evaluator::eval::Error {
    mkerr(x.to_string())
}

impl Glue {
    pub fn new(store: Rc<LocalStore>, opts: GlueOptions) -> Rc<Glue> {
        Rc::new(Glue {
            store,
            opts,
            modulo: RefCell::new(ModuloHashCache::new()),
            copied: RefCell::new(HashMap::new()),
            pkgs: RefCell::new(None),
            notified: RefCell::new(false),
        })
    }

    /// Physical location of a logical path.
    pub fn real(&self, p: &Path) -> PathBuf {
        match p.strip_prefix(STORE_DIR) {
            Ok(rest) if !rest.as_os_str().is_empty() => self.store.store_dir().join(rest),
            _ => p.to_path_buf(),
        }
    }

    /// The embedded package set as a store path. It is written and added on first use; its
    /// path is remembered under the set's fingerprint (`ROOT/nix/var/rnix/embedded/`), so later
    /// runs only check that the path is still valid.
    pub fn embedded_pkgs(&self) -> std::result::Result<String, String> {
        if let Some(p) = self.pkgs.borrow().as_ref() {
            return Ok(p.clone());
        }
        let marker = self
            .store
            .state_dir()
            .join("embedded")
            .join(crate::embedded::FINGERPRINT);
        if let Ok(text) = std::fs::read_to_string(&marker) {
            if let Ok(p) = StorePath::from_absolute(text.trim()) {
                // the temp root comes before the validity check (GC protocol)
                if self.store.add_temp_root(&p).is_ok() && self.store.is_valid(&p).unwrap_or(false)
                {
                    let s = p.to_absolute();
                    *self.pkgs.borrow_mut() = Some(s.clone());
                    return Ok(s);
                }
            }
        }
        let tmp = tempfile::tempdir_in(self.store.state_dir())
            .or_else(|_| tempfile::tempdir())
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        let dir = tmp.path().join("pkgs");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        crate::embedded::write_to(&dir)
            .map_err(|e| format!("writing the embedded package set: {e:#}"))?;
        let p = self
            .store
            .add_to_store(
                crate::embedded::PKGS_NAME,
                &dir,
                FileIngestionMethod::Recursive,
                None,
            )
            .map_err(|e| format!("adding the embedded package set to the store: {e}"))?;
        let s = p.to_absolute();
        // Remembering the path is an optimisation: a failure here is not an error.
        if let Some(parent) = marker.parent() {
            if std::fs::create_dir_all(parent).is_ok() {
                if let Ok(mut t) = tempfile::NamedTempFile::new_in(parent) {
                    if std::io::Write::write_all(&mut t, s.as_bytes()).is_ok() {
                        let _ = t.persist(&marker);
                    }
                }
            }
        }
        *self.pkgs.borrow_mut() = Some(s.clone());
        Ok(s)
    }

    fn notice_nixpkgs(&self, what: &str) {
        if self.opts.quiet || *self.notified.borrow() {
            return;
        }
        *self.notified.borrow_mut() = true;
        rnix_util::errln!(
            "rnix: using the embedded package set {} {} for {what} (disable with --option embedded-nixpkgs false)",
            crate::embedded::PKGS_NAME,
            crate::embedded::PKGS_VERSION
        );
    }

    fn copy_path(&self, path: &Path) -> std::result::Result<String, String> {
        if let Some(s) = self.copied.borrow().get(path) {
            return Ok(s.clone());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                format!(
                    "cannot copy '{}' to the store: it has no file name",
                    path.display()
                )
            })?;
        if name.ends_with(".drv") {
            return Err(format!("file names are not allowed to end in '.drv'"));
        }
        let real = self.real(path);
        std::fs::symlink_metadata(&real).map_err(|_| {
            format!(
                "getting status of '{}': No such file or directory",
                path.display()
            )
        })?;
        let p = self
            .store
            .add_to_store(&name, &real, FileIngestionMethod::Recursive, None)
            .map_err(|e| format!("copying '{}' to the store: {e}", path.display()))?;
        let s = p.to_absolute();
        self.copied
            .borrow_mut()
            .insert(path.to_path_buf(), s.clone());
        Ok(s)
    }

    fn read_drv(&self, drv_path: &str) -> anyhow::Result<Derivation> {
        let real = self.real(Path::new(drv_path));
        let text = std::fs::read(&real)
            .map_err(|e| anyhow::anyhow!("reading derivation '{drv_path}': {e}"))?;
        Ok(Derivation::from_aterm_bytes(&text)?)
    }

    fn modulo_hash(&self, drv_path: &str) -> anyhow::Result<Hash> {
        let mut cache = self.modulo.borrow_mut();
        cache.get(drv_path, &mut |p| self.read_drv(p))
    }
}

/// The hooks the evaluator calls: path copying, path mapping, `<nixpkgs>`.
pub struct Hooks(pub Rc<Glue>);

impl StoreHooks for Hooks {
    fn copy_path_to_store(&self, path: &Path) -> std::result::Result<String, String> {
        self.0.copy_path(path)
    }
    fn real_path(&self, path: &Path) -> PathBuf {
        self.0.real(path)
    }
    fn resolve_search_path(&self, name: &str) -> Option<PathBuf> {
        if name == "nixpkgs" && self.0.opts.embedded_nixpkgs {
            match self.0.embedded_pkgs() {
                Ok(p) => {
                    self.0.notice_nixpkgs("<nixpkgs>");
                    return Some(PathBuf::from(p));
                }
                Err(e) => rnix_util::errln!("rnix: warning: {e}"),
            }
        }
        None
    }
}

/// Install the hooks and store-aware builtins into `ev`.
pub fn install(ev: &mut Evaluator, glue: Rc<Glue>) {
    ev.set_hooks(Rc::new(Hooks(glue.clone())));
    // The logical store dir (`NIX_STORE_DIR` when set, as in Nix).
    ev.options.store_dir = STORE_DIR.to_string();
    ev.set_value_builtin("storeDir", Value::string(STORE_DIR.to_string()));

    let g = glue.clone();
    ev.set_builtin(
        "derivationStrict",
        1,
        Rc::new(move |ev, args| derivation_strict(&g, ev, &args[0])),
    );

    let g = glue.clone();
    ev.set_builtin(
        "toFile",
        2,
        Rc::new(move |ev, args| {
            let name = ev.expect_string(&args[0])?;
            let contents = ev.expect_string(&args[1])?;
            let mut refs = BTreeSet::new();
            for c in &contents.ctx {
                if c.starts_with('=') || c.starts_with('!') {
                    return Err(mkerr(format!(
                        "in 'toFile': the file named '{}' must not contain a reference to a derivation but contains ({c})",
                        name.to_str_lossy()
                    )));
                }
                refs.insert(StorePath::from_absolute(c).map_err(e)?);
            }
            let p = g
                .store
                .add_text_to_store(&name.to_str_lossy(), contents.as_bytes(), &refs)
                .map_err(e)?
                .to_absolute();
            Ok(Value::string_ctx(p.clone(), Context::from([p])))
        }),
    );

    let g = glue.clone();
    ev.set_builtin(
        "filterSource",
        2,
        Rc::new(move |ev, args| {
            let (path, ctx) = ev.coerce_to_path(&args[1])?;
            if !ctx.is_empty() {
                return Err(mkerr(format!(
                    "string '{path}' cannot refer to other paths"
                )));
            }
            let name = Path::new(&path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            add_path(&g, ev, &path, &name, Some(args[0].clone()), true, None)
        }),
    );

    let g = glue.clone();
    ev.set_builtin(
        "path",
        1,
        Rc::new(move |ev, args| {
            let a = ev.expect_attrs(&args[0])?;
            let mut path = None;
            let mut name = None;
            let mut filter = None;
            let mut recursive = true;
            let mut sha256 = None;
            for attr in &a.entries {
                let v = ev.force(&attr.value)?;
                match &*attr.name {
                    "path" => path = Some(ev.coerce_to_path(&v)?.0),
                    "name" => name = Some(ev.expect_string(&v)?.to_str_lossy().into_owned()),
                    "filter" => filter = Some(v),
                    "recursive" => recursive = ev.expect_bool(&v)?,
                    "sha256" => sha256 = Some(ev.expect_string(&v)?.to_str_lossy().into_owned()),
                    other => {
                        return Err(mkerr(format!(
                            "unsupported argument '{other}' to 'addPath'"
                        )))
                    }
                }
            }
            let path = path.ok_or_else(|| {
                mkerr("missing required 'path' attribute in the first argument to builtins.path")
            })?;
            let name = name.unwrap_or_else(|| {
                Path::new(&path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            add_path(&g, ev, &path, &name, filter, recursive, sha256.as_deref())
        }),
    );

    let g = glue.clone();
    ev.set_builtin(
        "storePath",
        1,
        Rc::new(move |ev, args| {
            let (p, _) = ev.coerce_to_path(&args[0])?;
            let (sp, _) = StorePath::from_absolute_prefix(&p)
                .map_err(|_| mkerr(format!("path '{p}' is not in the Nix store")))?;
            // Rooted before the check (Nix's ensurePath): a garbage collection cannot take
            // it while the evaluation and the build use it.
            g.store.add_temp_root(&sp).map_err(e)?;
            if !g.store.is_valid(&sp).map_err(e)? {
                return Err(mkerr(format!("path '{}' is not valid", sp.to_absolute())));
            }
            Ok(Value::string_ctx(p, Context::from([sp.to_absolute()])))
        }),
    );

    let g = glue.clone();
    ev.set_builtin(
        "fetchurl",
        1,
        Rc::new(move |ev, args| fetch(&g, ev, &args[0], false)),
    );
    let g = glue.clone();
    ev.set_builtin(
        "fetchTarball",
        1,
        Rc::new(move |ev, args| fetch(&g, ev, &args[0], true)),
    );
    let g = glue.clone();
    ev.set_builtin(
        "fetchGit",
        1,
        Rc::new(move |ev, args| crate::fetchtree::fetch_tree(&g, ev, &args[0], Some("git"))),
    );
    let g = glue;
    ev.set_builtin(
        "fetchTree",
        1,
        Rc::new(move |ev, args| crate::fetchtree::fetch_tree(&g, ev, &args[0], None)),
    );
}

fn fetch(g: &Glue, ev: &mut Evaluator, arg: &Value, tarball: bool) -> Result<Value> {
    let what = if tarball { "fetchTarball" } else { "fetchurl" };
    let (mut url, mut sha256, mut name) = (None, None, None);
    match arg {
        Value::Attrs(a) => {
            for attr in &a.entries {
                let v = ev.force(&attr.value)?;
                match &*attr.name {
                    "url" => url = Some(bytes_to_string(ev.coerce_to_string(&v, false, false)?.0)),
                    "sha256" => sha256 = Some(ev.expect_string(&v)?.to_str_lossy().into_owned()),
                    "name" => name = Some(ev.expect_string(&v)?.to_str_lossy().into_owned()),
                    other => {
                        return Err(mkerr(format!("unsupported argument '{other}' to '{what}'")))
                    }
                }
            }
        }
        v => url = Some(bytes_to_string(ev.coerce_to_string(v, false, false)?.0)),
    }
    let url = url.ok_or_else(|| mkerr(format!("'url' argument required")))?;
    if tarball && g.opts.embedded_nixpkgs && crate::embedded::is_nixpkgs_url(&url) {
        let p = g.embedded_pkgs().map_err(mkerr)?;
        g.notice_nixpkgs(&url);
        return Ok(Value::string_ctx(p.clone(), Context::from([p])));
    }
    let res = if tarball {
        fetchers::fetch_tarball(
            &g.store,
            &url,
            sha256.as_deref(),
            name.as_deref(),
            &g.opts.fetch,
        )
    } else {
        fetchers::fetch_url(
            &g.store,
            &url,
            sha256.as_deref(),
            name.as_deref(),
            &g.opts.fetch,
        )
    };
    let p = res.map_err(|err| mkerr(format!("{err:#}")))?.to_absolute();
    Ok(Value::string_ctx(p.clone(), Context::from([p])))
}

/// `builtins.path` / `filterSource`: copy `path` into the store under `name`, keeping only
/// what `filter` (a Nix function of the path string and its type) accepts.
fn add_path(
    g: &Glue,
    ev: &mut Evaluator,
    path: &str,
    name: &str,
    filter: Option<Value>,
    recursive: bool,
    sha256: Option<&str>,
) -> Result<Value> {
    let method = if recursive {
        FileIngestionMethod::Recursive
    } else {
        FileIngestionMethod::Flat
    };
    // The path the expected hash gives: reused when valid, else the copy must land there.
    let expected = match sha256 {
        Some(h) => {
            let h = Hash::parse(h, Some(HashAlgo::Sha256)).map_err(e)?;
            Some(
                store::store_path::make_fixed_output_path(method, &h, name, [], false)
                    .map_err(e)?,
            )
        }
        None => None,
    };
    if let Some(p) = &expected {
        // Rooted before the check, so that a concurrent garbage collection keeps it.
        g.store.add_temp_root(p).map_err(e)?;
        if g.store.is_valid(p).map_err(e)? {
            let s = p.to_absolute();
            return Ok(Value::string_ctx(s.clone(), Context::from([s])));
        }
    }
    let real = g.real(Path::new(path));
    if std::fs::symlink_metadata(&real).is_err() {
        return Err(mkerr(format!(
            "getting status of '{path}': No such file or directory"
        )));
    }
    let mut err_slot: Option<evaluator::eval::Error> = None;
    let result = match &filter {
        None => g.store.add_to_store(name, &real, method, None),
        Some(f) => {
            let f = f.clone();
            let real_root = real.clone();
            let mut cb = |p: &Path, ft: std::fs::FileType| -> anyhow::Result<bool> {
                let rel = p.strip_prefix(&real_root).unwrap_or(p);
                let logical = if rel.as_os_str().is_empty() {
                    path.to_string()
                } else {
                    format!("{}/{}", path.trim_end_matches('/'), rel.display())
                };
                let ty = if ft.is_dir() {
                    "directory"
                } else if ft.is_symlink() {
                    "symlink"
                } else if ft.is_file() {
                    "regular"
                } else {
                    "unknown"
                };
                let r = ev
                    .call_values(f.clone(), vec![Value::string(logical), Value::string(ty)])
                    .and_then(|v| ev.expect_bool(&v));
                match r {
                    Ok(b) => Ok(b),
                    Err(er) => {
                        err_slot = Some(er);
                        Err(anyhow::anyhow!("filter failed"))
                    }
                }
            };
            g.store.add_to_store(name, &real, method, Some(&mut cb))
        }
    };
    if let Some(er) = err_slot {
        return Err(er);
    }
    let p = result.map_err(|er| mkerr(format!("copying '{path}' to the store: {er}")))?;
    if let Some(want) = expected {
        if want != p {
            return Err(mkerr(format!(
                "store path mismatch in (possibly filtered) path added from '{path}'"
            )));
        }
    }
    let s = p.to_absolute();
    Ok(Value::string_ctx(s.clone(), Context::from([s])))
}

/// `derivationStrict`: turn the attribute set into a `.drv` in the store; return `drvPath`
/// and the output paths, with their contexts.
fn derivation_strict(g: &Glue, ev: &mut Evaluator, arg: &Value) -> Result<Value> {
    let attrs = ev.expect_attrs(arg)?;
    let name_t = attrs
        .get("name")
        .cloned()
        .ok_or_else(|| mkerr("required attribute 'name' missing"))?;
    let name_v = ev.force(&name_t)?;
    let drv_name = ev.expect_string(&name_v)?.to_str_lossy().into_owned();
    if let Err(err) = store::store_path::validate_name(&drv_name) {
        let bad = drv_name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "+-._?=".contains(*c)));
        let why = match bad {
            Some(c) => format!("name '{drv_name}' contains illegal character '{c}'"),
            None => err.to_string(),
        };
        return Err(mkerr(format!(
            "invalid derivation name: {why}. Please pass a different 'name'."
        )));
    }
    if drv_name.ends_with(".drv") {
        return Err(mkerr("derivation names are not allowed to end in '.drv'"));
    }
    let ignore_nulls = match attrs.get("__ignoreNulls") {
        Some(t) => {
            let v = ev.force(t)?;
            ev.expect_bool(&v)?
        }
        None => false,
    };
    let structured = match attrs.get("__structuredAttrs") {
        Some(t) => {
            let v = ev.force(t)?;
            ev.expect_bool(&v)?
        }
        None => false,
    };
    let mut drv = Derivation::default();
    let mut ctx = Context::new();
    let mut output_hash: Option<String> = None;
    let mut output_hash_algo: Option<String> = None;
    let mut recursive = false;
    let mut outputs: Vec<String> = vec!["out".into()];
    let mut json = serde_json::Map::new();

    let wrap = |ev: &Evaluator, er: evaluator::eval::Error, pos, key: &str| {
        ev.add_frame(
            er,
            pos,
            format!("while evaluating attribute '{key}' of derivation '{drv_name}'"),
        )
    };

    for attr in attrs.entries.iter() {
        let key: &str = &attr.name;
        if key == "__ignoreNulls" {
            continue;
        }
        let v = ev
            .force(&attr.value)
            .map_err(|er| wrap(ev, er, attr.pos, key))?;
        if ignore_nulls && matches!(v, Value::Null) {
            continue;
        }
        let res: Result<()> = (|| {
            if key == "__contentAddressed" || key == "__impure" {
                if ev.expect_bool(&v)? {
                    let feature = if key == "__impure" {
                        "impure-derivations"
                    } else {
                        "ca-derivations"
                    };
                    return Err(mkerr(format!(
                        "experimental Nix feature '{feature}' is disabled; use '--extra-experimental-features {feature}' to override"
                    )));
                }
                return Ok(());
            }
            if key == "args" {
                let l = ev.expect_list(&v)?;
                for t in l.iter() {
                    let x = ev.force(t)?;
                    let (s, c) = ev.coerce_to_string(&x, true, true)?;
                    ctx.extend(c);
                    drv.args.push(field_from_bytes(s));
                }
                return Ok(());
            }
            if structured && key != "__structuredAttrs" {
                let j = to_json(ev, &v, &mut ctx)?;
                match key {
                    "builder" => {
                        drv.builder = field_from_bytes(ev.coerce_to_string(&v, true, true)?.0)
                    }
                    "system" => {
                        drv.platform = field_from_bytes(ev.coerce_to_string(&v, true, true)?.0)
                    }
                    "outputHash" => {
                        output_hash = Some(ev.expect_string(&v)?.to_str_lossy().into_owned())
                    }
                    "outputHashAlgo" => {
                        output_hash_algo = Some(ev.expect_string(&v)?.to_str_lossy().into_owned())
                    }
                    "outputHashMode" => {
                        recursive = hash_mode(&ev.expect_string(&v)?.to_str_lossy())?
                    }
                    "outputs" => outputs = output_list(ev, &v)?,
                    _ => {}
                }
                json.insert(key.to_string(), j);
                return Ok(());
            }
            if structured {
                return Ok(());
            }
            let (s, c) = ev.coerce_to_string(&v, true, true)?;
            ctx.extend(c);
            // the value's bytes, carried losslessly (see store::derivation::field_from_bytes)
            let s = field_from_bytes(s);
            match key {
                "builder" => drv.builder = s.clone(),
                "system" => drv.platform = s.clone(),
                "outputHash" => output_hash = Some(s.clone()),
                "outputHashAlgo" => output_hash_algo = Some(s.clone()),
                "outputHashMode" => recursive = hash_mode(&s)?,
                "outputs" => {
                    outputs = check_outputs(s.split_whitespace().map(str::to_string).collect())?
                }
                _ => {}
            }
            drv.env.insert(key.to_string(), s);
            Ok(())
        })();
        res.map_err(|er| wrap(ev, er, attr.pos, key))?;
    }
    if structured {
        drv.env
            .insert("__json".into(), serde_json::Value::Object(json).to_string());
    }

    // The context gives the inputs.
    for c in &ctx {
        if let Some(p) = c.strip_prefix('=') {
            let sp = StorePath::from_absolute(p).map_err(e)?;
            let closure = g.store.closure(std::iter::once(&sp)).map_err(e)?;
            for j in closure {
                let js = j.to_absolute();
                drv.input_srcs.insert(js.clone());
                if js.ends_with(".drv") {
                    let d = g.read_drv(&js).map_err(e)?;
                    drv.input_drvs
                        .insert(js, d.outputs.keys().cloned().collect());
                }
            }
        } else if let Some(rest) = c.strip_prefix('!') {
            let (out, p) = rest
                .split_once('!')
                .ok_or_else(|| mkerr(format!("invalid context element '{c}'")))?;
            drv.input_drvs
                .entry(p.to_string())
                .or_default()
                .insert(out.to_string());
        } else {
            drv.input_srcs.insert(c.clone());
        }
    }

    if drv.builder.is_empty() {
        return Err(mkerr("required attribute 'builder' missing"));
    }
    if drv.platform.is_empty() {
        return Err(mkerr("required attribute 'system' missing"));
    }

    if let Some(h) = output_hash {
        if outputs != ["out"] {
            return Err(mkerr(
                "multiple outputs are not supported in fixed-output derivations",
            ));
        }
        let algo = match output_hash_algo.as_deref() {
            Some(a) if !a.is_empty() => Some(a.to_string()),
            _ => None,
        };
        let hash = if h.is_empty() {
            let algo = algo.clone().unwrap_or_else(|| "sha256".into());
            rnix_util::errln!("warning: found empty hash, assuming '{algo}-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='");
            let a = parse_hash_algo(&algo).map_err(e)?.1;
            Hash::from_bytes(a, &vec![0u8; a.size()]).map_err(e)?
        } else {
            let a = match &algo {
                Some(a) => Some(parse_hash_algo(a).map_err(e)?.1),
                None => None,
            };
            Hash::parse(&h, a).map_err(e)?
        };
        let prefix = if recursive { "r:" } else { "" };
        drv.outputs.insert(
            "out".into(),
            Output {
                path: String::new(),
                hash_algo: format!("{prefix}{}", hash.algo().name()),
                hash: hash.to_base16(),
            },
        );
    } else {
        for o in &outputs {
            drv.outputs.insert(o.clone(), Output::default());
        }
    }

    let drv_path = drv
        .fill_outputs(&drv_name, &mut |p| g.modulo_hash(p))
        .map_err(e)?;
    let text = drv.to_aterm_bytes();
    let refs: BTreeSet<StorePath> = drv.references().map_err(e)?;
    let written = g
        .store
        .add_text_to_store(&format!("{drv_name}.drv"), &text, &refs)
        .map_err(e)?;
    debug_assert_eq!(written, drv_path);
    let drv_path_s = drv_path.to_absolute();
    // Remember the (unmasked) modulo hash for derivations that depend on this one.
    let h = drv
        .hash_modulo(false, &mut |p| g.modulo_hash(p))
        .map_err(e)?;
    g.modulo.borrow_mut().insert(&drv_path_s, h);

    let mut out = Attrs::new();
    out.insert(
        "drvPath".into(),
        Thunk::new(Value::string_ctx(
            drv_path_s.clone(),
            Context::from([format!("={drv_path_s}")]),
        )),
        evaluator::eval::Pos::NONE,
    );
    for (o, info) in &drv.outputs {
        out.insert(
            o.as_str().into(),
            Thunk::new(Value::string_ctx(
                info.path.clone(),
                Context::from([format!("!{o}!{drv_path_s}")]),
            )),
            evaluator::eval::Pos::NONE,
        );
    }
    Ok(Value::attrs(out))
}

fn hash_mode(s: &str) -> Result<bool> {
    match s {
        "recursive" => Ok(true),
        "flat" => Ok(false),
        _ => Err(mkerr(format!(
            "invalid value '{s}' for 'outputHashMode' attribute"
        ))),
    }
}

fn check_outputs(list: Vec<String>) -> Result<Vec<String>> {
    let mut seen = BTreeSet::new();
    for o in &list {
        if !seen.insert(o.clone()) {
            return Err(mkerr(format!("duplicate derivation output '{o}'")));
        }
        if o == "drv" {
            return Err(mkerr("invalid derivation output name 'drv'"));
        }
    }
    if list.is_empty() {
        return Err(mkerr("derivation cannot have an empty set of outputs"));
    }
    Ok(list)
}

fn output_list(ev: &mut Evaluator, v: &Value) -> Result<Vec<String>> {
    let l = ev.expect_list(v)?;
    let mut out = Vec::new();
    for t in l.iter() {
        let x = ev.force(t)?;
        out.push(ev.expect_string(&x)?.to_str_lossy().into_owned());
    }
    check_outputs(out)
}

/// JSON for `__structuredAttrs` (paths copied to the store, contexts collected).
fn to_json(ev: &mut Evaluator, v: &Value, ctx: &mut Context) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::String(s) => {
            ctx.extend(s.ctx.iter().cloned());
            // raw bytes ride through JSON as reserved characters; the ATerm writer
            // writes them back as bytes
            J::String(field_from_bytes(s.s.clone()))
        }
        Value::Path(_) => {
            let (s, c) = ev.coerce_to_string(v, false, true)?;
            ctx.extend(c);
            J::String(field_from_bytes(s))
        }
        Value::List(l) => {
            let mut out = Vec::new();
            for t in l.iter() {
                let x = ev.force(t)?;
                out.push(to_json(ev, &x, ctx)?);
            }
            J::Array(out)
        }
        Value::Attrs(a) => {
            if a.get("__toString").is_some() || a.get("outPath").is_some() {
                let (s, c) = ev.coerce_to_string(v, false, true)?;
                ctx.extend(c);
                return Ok(J::String(field_from_bytes(s)));
            }
            let mut m = serde_json::Map::new();
            for attr in &a.entries {
                let x = ev.force(&attr.value)?;
                m.insert(attr.name.to_string(), to_json(ev, &x, ctx)?);
            }
            J::Object(m)
        }
        _ => return Err(mkerr(format!("cannot convert {} to JSON", v.show_type()))),
    })
}

/// Output names of a derivation value found by the evaluator, keyed by drv path.
pub type Wanted = BTreeMap<String, BTreeSet<String>>;

/// Set-up used by `rnix-instantiate --eval`: the default store (`RNIX_STORE` or the user's
/// data directory) with the store-aware builtins. Without a usable store the evaluator keeps
/// its store-less builtins, which fail with a clear message when used.
pub fn instantiate_setup(ev: &mut Evaluator, args: &evaluator::eval::cli::EvalArgs) {
    let mut opts = GlueOptions::default();
    for (name, value) in &args.options {
        if let Err(e) = opts.set_option(name, value) {
            rnix_util::errln!("warning: {e}");
        }
    }
    match LocalStore::open_default() {
        Ok(store) => install(ev, Glue::new(Rc::new(store), opts)),
        Err(err) => {
            rnix_util::errln!(
                "rnix: warning: no store available ({err}); store operations will fail"
            )
        }
    }
}
