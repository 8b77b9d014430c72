//! In-process builders (`builder = "builtin:<name>"`) and the context they run in.

use crate::progress::Progress;
use crate::sandbox::{self, Bind, BuildSandbox, Exit};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use store::local::LocalStore;
use store::{Derivation, StorePath};

/// A builtin builder.
pub type BuiltinFn = fn(&mut BuildCtx) -> Result<()>;

/// Maps `<name>` of `builtin:<name>` to its implementation.
#[derive(Clone)]
pub struct BuiltinRegistry {
    map: HashMap<String, BuiltinFn>,
}

impl Default for BuiltinRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl BuiltinRegistry {
    /// A registry holding `fetchurl`.
    pub fn new() -> BuiltinRegistry {
        let mut r = BuiltinRegistry {
            map: HashMap::new(),
        };
        r.register("fetchurl", builtin_fetchurl);
        r
    }

    /// Adds (or replaces) a builder.
    pub fn register(&mut self, name: &str, f: BuiltinFn) {
        self.map.insert(name.to_string(), f);
    }

    pub fn get(&self, name: &str) -> Option<BuiltinFn> {
        self.map.get(name).copied()
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.map.keys().cloned().collect();
        v.sort();
        v
    }
}

/// Everything a builtin builder gets.
pub struct BuildCtx<'a> {
    pub drv: &'a Derivation,
    pub drv_path: &'a StorePath,
    /// The derivation's environment plus Nix's standard variables.
    pub env: BTreeMap<String, String>,
    /// Output name -> logical store path.
    pub output_paths: BTreeMap<String, StorePath>,
    /// Output name -> physical location to write the output to (does not exist yet).
    pub outputs: BTreeMap<String, PathBuf>,
    pub store: &'a LocalStore,
    /// The closure of the derivation's inputs (input sources and used outputs of input
    /// derivations).
    pub input_closure: BTreeSet<StorePath>,
    /// Build log (kept in the store's log directory).
    pub log: &'a mut (dyn Write + Send),
    pub(crate) log_fd: RawFd,
    pub(crate) sandbox: &'a BuildSandbox,
    pub(crate) progress: &'a Progress,
    pub(crate) use_sandbox: bool,
    pub(crate) mirrors: &'a crate::fetch::MirrorConfig,
    pub(crate) downloaded: bool,
}

impl BuildCtx<'_> {
    /// Physical path where output `name` must be written.
    pub fn output(&self, name: &str) -> Result<&Path> {
        self.outputs
            .get(name)
            .map(|p| p.as_path())
            .ok_or_else(|| anyhow!("derivation has no output '{name}'"))
    }

    /// Physical path of `$out`.
    pub fn out(&self) -> Result<&Path> {
        self.output("out")
    }

    /// A derivation attribute (from the environment).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(|s| s.as_str())
    }

    /// Physical location of a logical store path (`/nix/store/<hash>-<name>[/sub]`).
    /// Outputs of this build map to their build locations.
    pub fn real_path(&self, logical: &str) -> Result<PathBuf> {
        let (sp, rest) = StorePath::from_absolute_prefix(logical)?;
        for (name, p) in &self.output_paths {
            if *p == sp {
                let mut r = self.outputs[name].clone();
                let rest = rest.trim_start_matches('/');
                if !rest.is_empty() {
                    r.push(rest);
                }
                return Ok(r);
            }
        }
        Ok(self.store.real_path_of(logical)?)
    }

    /// The closure of `paths` (valid store paths).
    pub fn closure(&self, paths: &[StorePath]) -> Result<BTreeSet<StorePath>> {
        Ok(self.store.closure(paths.iter())?)
    }

    /// Physical directory of the build (`/build` in the sandbox), empty at start.
    pub fn build_dir(&self) -> PathBuf {
        self.sandbox.build_dir()
    }

    /// Runs a store program in the build sandbox: the input closure plus `extra_store_paths`
    /// (and their closures) read-only at `/nix/store`, this build's outputs writable at their
    /// logical paths, `/build` as the working directory. `argv[0]` is a logical path.
    /// Output goes to the build log. Fails if the program fails.
    pub fn sandbox_run(
        &mut self,
        argv: &[String],
        env: &[(String, String)],
        extra_store_paths: &[StorePath],
    ) -> Result<()> {
        let exit = self.sandbox_run_status(argv, env, extra_store_paths)?;
        if !exit.success() {
            bail!("'{}' {exit}", argv.join(" "));
        }
        Ok(())
    }

    /// As [`BuildCtx::sandbox_run`], returning how the program ended.
    pub fn sandbox_run_status(
        &mut self,
        argv: &[String],
        env: &[(String, String)],
        extra_store_paths: &[StorePath],
    ) -> Result<Exit> {
        if argv.is_empty() {
            bail!("sandbox_run: no program given");
        }
        let mut paths = self.input_closure.clone();
        paths.extend(self.store.closure(extra_store_paths.iter())?);
        if !self.use_sandbox || !sandbox::namespaces_available() {
            bail!(
                "cannot run '{}': running store programs needs Linux user namespaces \
                 (the physical store is not at /nix/store)",
                argv[0]
            );
        }
        let mut cfg = self.sandbox.ns_config(argv.to_vec(), env.to_vec())?;
        // Inputs of this call (the sandbox itself knows only the build's closure).
        let known: BTreeSet<String> = self.sandbox.inputs.iter().cloned().collect();
        for p in paths {
            let base = p.base_name().to_string();
            if known.contains(&base) {
                continue;
            }
            let src = self.store.real_path(&p);
            let target = PathBuf::from("/nix/store").join(&base);
            let meta = std::fs::symlink_metadata(&src)
                .with_context(|| format!("{} is not in the store", src.display()))?;
            if meta.file_type().is_symlink() {
                cfg.symlinks.push((target, std::fs::read_link(&src)?));
            } else {
                cfg.binds.push(Bind::ro(src, target));
            }
        }
        let _ = self.log.flush();
        sandbox::run_namespaced(&cfg, self.log_fd)
    }

    /// Runs `argv` as root with `root_dir` as `/` (dockerTools' `runAsRoot`); the given store
    /// paths (with their closures) are visible at `/nix/store`.
    pub fn run_in_root(
        &mut self,
        root_dir: &Path,
        argv: &[String],
        env: &[(String, String)],
        store_paths: &[StorePath],
        extra_binds: Vec<Bind>,
    ) -> Result<Exit> {
        let closure = self.store.closure(store_paths.iter())?;
        let logical: Vec<String> = closure.iter().map(|p| p.to_absolute()).collect();
        let _ = self.log.flush();
        sandbox::run_in_root(
            root_dir,
            self.store.store_dir(),
            &logical,
            argv.to_vec(),
            env.to_vec(),
            extra_binds,
            self.log_fd,
        )
    }

    /// Downloads `url` (resolving `mirror://`) to `dest`, showing progress.
    pub fn download(&mut self, url: &str, dest: &Path) -> Result<u64> {
        let act = self.progress.download(url);
        let r = crate::fetch::fetch_to(self.mirrors, url, dest, &|d, t| act.bytes(d, t));
        match &r {
            Ok(_) => act.finish(),
            Err(_) => act.fail(),
        }
        self.downloaded = true;
        r
    }

    /// The mirror configuration in use.
    pub fn mirrors(&self) -> &crate::fetch::MirrorConfig {
        self.mirrors
    }
}

/// Nix's `builtin:fetchurl`.
pub fn builtin_fetchurl(ctx: &mut BuildCtx) -> Result<()> {
    let out = ctx.out()?.to_path_buf();
    let url = ctx
        .attr("url")
        .ok_or_else(|| anyhow!("builtin:fetchurl: attribute 'url' missing"))?
        .to_string();
    let act = ctx.progress.download(&url);
    let env = ctx.env.clone();
    // Partial downloads live in the store's state directory, named after the output, so an
    // interrupted download resumes in the next run (the output hash is checked anyway).
    let partial = ctx
        .store
        .state_dir()
        .join("downloads")
        .join(format!("{}.part", ctx.output_paths["out"].hash_part()));
    let r = crate::fetch::builtin_fetchurl(
        &env,
        &out,
        ctx.mirrors,
        ctx.log,
        Some(&partial),
        &|d, t| act.bytes(d, t),
    );
    if let Err(e) = &r {
        // A failed transfer may be resumed later; anything else starts over.
        if !format!("{e:#}").contains("downloading") {
            let _ = std::fs::remove_file(&partial);
        }
    }
    match &r {
        Ok(_) => act.finish(),
        Err(_) => act.fail(),
    }
    ctx.downloaded = true;
    r
}
