//! The scheduler: realising derivations in dependency order, in parallel, with per-output
//! locks, logs, sandboxing and output registration.

use crate::builtin::{BuildCtx, BuiltinRegistry};
use crate::fetch::MirrorConfig;
use crate::progress::Progress;
use crate::sandbox::{self, Bind, BuildSandbox, Exit};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use store::derivation::parse_hash_algo;
use store::hash::{Encoding, Hash};
use store::local::{LocalStore, PathLock};
use store::{Derivation, FileIngestionMethod, StorePath};

/// How to realise.
#[derive(Debug, Clone)]
pub struct Options {
    /// Builds at once (`-j`); default: the number of cores.
    pub max_jobs: usize,
    /// Continue with other builds after a failure.
    pub keep_going: bool,
    /// Keep the build directory of failed builds.
    pub keep_failed: bool,
    /// Build in namespaces (falls back, with a warning, where they are unavailable).
    pub sandbox: bool,
    /// 0: normal; 1 or more: echo build logs (`-L`).
    pub verbosity: u8,
    /// `NIX_BUILD_CORES`.
    pub cores: usize,
    /// Host paths made visible in the sandbox (Nix's `sandbox-paths`).
    pub sandbox_paths: Vec<Bind>,
    /// A store path providing `/bin/sh` in the sandbox (a package with `bin/sh`, or the
    /// shell itself); its closure is made visible too.
    pub sh: Option<StorePath>,
    /// Lines of log shown when a build fails.
    pub log_lines: usize,
    /// No progress output (errors are still printed).
    pub quiet: bool,
    /// nix-build's `--timeout`: a build running longer is killed (None: no limit).
    pub timeout: Option<std::time::Duration>,
    /// nix-build's `--max-silent-time`: a build writing no log output for this long is killed.
    pub max_silent_time: Option<std::time::Duration>,
}

fn ncpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `RNIX_SANDBOX_PATHS`: `:`-separated host paths (`/p` or `/inside=/host`) made visible
/// read-only in the sandbox, like Nix's `sandbox-paths`.
pub fn sandbox_paths_from_env() -> Vec<Bind> {
    parse_sandbox_paths(&std::env::var("RNIX_SANDBOX_PATHS").unwrap_or_default())
}

/// Parses `/a:/b=/host/b` into read-only binds.
pub fn parse_sandbox_paths(s: &str) -> Vec<Bind> {
    s.split(':')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (target, source) = p.split_once('=').unwrap_or((p, p));
            Bind::ro(source, target)
        })
        .collect()
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_jobs: ncpus(),
            keep_going: false,
            keep_failed: false,
            sandbox: true,
            verbosity: 0,
            cores: ncpus(),
            sandbox_paths: sandbox_paths_from_env(),
            sh: None,
            log_lines: 25,
            quiet: false,
            timeout: None,
            max_silent_time: None,
        }
    }
}

/// Why a realisation failed.
#[derive(Debug, thiserror::Error)]
pub enum RealiseError {
    #[error("{0}")]
    BuildFailed(String),
}

struct Node {
    drv_path: StorePath,
    drv: Derivation,
    outputs: BTreeMap<String, StorePath>,
    deps: Vec<usize>,
    dependents: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Waiting(usize),
    Running,
    Done,
    Failed(String),
    DepFailed,
}

struct Sched {
    states: Vec<State>,
    ready: VecDeque<usize>,
    running: usize,
    stop: bool,
}

/// Builds derivations in a [`LocalStore`].
pub struct Realiser<'s> {
    store: &'s LocalStore,
    opts: Options,
    registry: BuiltinRegistry,
    progress: Progress,
    mirrors: OnceLock<MirrorConfig>,
    drv_cache: Mutex<HashMap<StorePath, Derivation>>,
    /// Some build was killed for `--timeout`/`--max-silent-time` (nix-build then exits 101).
    timed_out: AtomicBool,
}

impl<'s> Realiser<'s> {
    pub fn new(store: &'s LocalStore, opts: Options) -> Realiser<'s> {
        let progress = if opts.quiet {
            Progress::silent()
        } else {
            Progress::new(false)
        };
        Realiser {
            store,
            opts,
            registry: BuiltinRegistry::new(),
            progress,
            mirrors: OnceLock::new(),
            drv_cache: Mutex::new(HashMap::new()),
            timed_out: AtomicBool::new(false),
        }
    }

    /// Whether a build was killed for `--timeout` or `--max-silent-time`.
    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// Replaces the builtin registry (to add the builders of other crates).
    pub fn with_registry(mut self, registry: BuiltinRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// Uses this mirror configuration instead of the environment's.
    pub fn with_mirrors(self, m: MirrorConfig) -> Self {
        let _ = self.mirrors.set(m);
        self
    }

    pub fn registry_mut(&mut self) -> &mut BuiltinRegistry {
        &mut self.registry
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    fn mirrors(&self) -> &MirrorConfig {
        self.mirrors.get_or_init(MirrorConfig::from_environment)
    }

    /// Reads a `.drv` file from the store.
    pub fn read_drv(&self, p: &StorePath) -> Result<Derivation> {
        if let Some(d) = self.drv_cache.lock().unwrap().get(p) {
            return Ok(d.clone());
        }
        let real = self.store.real_path(p);
        let text = fs::read(&real)
            .with_context(|| format!("derivation '{}' is not in the store", p.to_absolute()))?;
        let d = Derivation::from_aterm_bytes(&text)
            .with_context(|| format!("reading derivation '{}'", p.to_absolute()))?;
        self.drv_cache.lock().unwrap().insert(p.clone(), d.clone());
        Ok(d)
    }

    /// Realises one derivation: returns output name -> store path.
    pub fn realise_one(&self, drv: &StorePath) -> Result<BTreeMap<String, StorePath>> {
        let mut all = self.realise_all(std::slice::from_ref(drv))?;
        Ok(all.remove(drv).unwrap_or_default())
    }

    /// Realises derivations; returns, for each one, output name -> store path. With several
    /// derivations the keys of [`Realiser::realise`] would clash, so this is the general form.
    pub fn realise_all(
        &self,
        drvs: &[StorePath],
    ) -> Result<BTreeMap<StorePath, BTreeMap<String, StorePath>>> {
        // Build directories left by killed builds (whose process is gone).
        self.store.remove_stale_build_dirs();
        let mut nodes: Vec<Node> = Vec::new();
        let mut index: HashMap<StorePath, usize> = HashMap::new();
        for d in drvs {
            self.store.add_temp_root(d)?;
            self.plan(d, None, &mut nodes, &mut index)?;
        }
        self.run_graph(&nodes)?;
        let mut out = BTreeMap::new();
        for d in drvs {
            let drv = self.read_drv(d)?;
            let outs = drv.output_paths()?;
            for p in outs.values() {
                if !self.store.is_valid(p)? {
                    bail!("output '{}' of '{}' is not valid after building", p, d);
                }
            }
            out.insert(d.clone(), outs);
        }
        if !self.opts.quiet
            && (self.progress.built_count() > 0 || self.progress.downloaded_count() > 0)
        {
            self.progress.println(&self.progress.summary());
        }
        Ok(out)
    }

    /// Realises derivations; returns output name -> store path (for several derivations the
    /// outputs are merged; use [`Realiser::realise_all`] to keep them apart).
    pub fn realise(&self, drvs: &[StorePath]) -> Result<BTreeMap<String, StorePath>> {
        let all = self.realise_all(drvs)?;
        let mut out = BTreeMap::new();
        for (_, m) in all {
            out.extend(m);
        }
        Ok(out)
    }

    /// Adds `drv` (and what it needs) to the graph; None when nothing has to be built.
    fn plan(
        &self,
        drv_path: &StorePath,
        wanted: Option<&BTreeSet<String>>,
        nodes: &mut Vec<Node>,
        index: &mut HashMap<StorePath, usize>,
    ) -> Result<Option<usize>> {
        if let Some(&i) = index.get(drv_path) {
            return Ok(Some(i));
        }
        let drv = self.read_drv(drv_path)?;
        let outputs = drv.output_paths()?;
        let check: Vec<&StorePath> = match wanted {
            Some(w) => outputs
                .iter()
                .filter(|(k, _)| w.contains(*k))
                .map(|(_, v)| v)
                .collect(),
            None => outputs.values().collect(),
        };
        let mut all_valid = true;
        for p in &check {
            self.store.add_temp_root(p)?;
            if !self.store.is_valid(p)? {
                all_valid = false;
            }
        }
        if all_valid {
            return Ok(None);
        }
        for src in &drv.input_srcs {
            let sp = StorePath::from_absolute(src)?;
            self.store.add_temp_root(&sp)?;
            if !self.store.is_valid(&sp)? {
                bail!(
                    "input path '{src}' of '{}' is not valid (and rnix has no substituters)",
                    drv_path.to_absolute()
                );
            }
        }
        let mut deps = Vec::new();
        for (in_drv, outs) in &drv.input_drvs {
            let p = StorePath::from_absolute(in_drv)?;
            // (Already alive as a reference of `drv_path`; rooted for the build's lifetime.)
            self.store.add_temp_root(&p)?;
            if let Some(i) = self.plan(&p, Some(outs), nodes, index)? {
                if !deps.contains(&i) {
                    deps.push(i);
                }
            }
        }
        let i = nodes.len();
        for &d in &deps {
            nodes[d].dependents.push(i);
        }
        nodes.push(Node {
            drv_path: drv_path.clone(),
            drv: drv.with_output_paths(),
            outputs,
            deps,
            dependents: Vec::new(),
        });
        index.insert(drv_path.clone(), i);
        Ok(Some(i))
    }

    fn run_graph(&self, nodes: &[Node]) -> Result<()> {
        if nodes.is_empty() {
            return Ok(());
        }
        let mut states = Vec::with_capacity(nodes.len());
        let mut ready = VecDeque::new();
        for (i, n) in nodes.iter().enumerate() {
            states.push(State::Waiting(n.deps.len()));
            if n.deps.is_empty() {
                ready.push_back(i);
            }
        }
        let sched = Mutex::new(Sched {
            states,
            ready,
            running: 0,
            stop: false,
        });
        let cv = Condvar::new();
        let jobs = self.opts.max_jobs.max(1).min(nodes.len());
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(|| self.worker(nodes, &sched, &cv));
            }
        });
        let sched = sched.into_inner().unwrap();
        let failed: Vec<(usize, String)> = sched
            .states
            .iter()
            .enumerate()
            .filter_map(|(i, st)| match st {
                State::Failed(m) => Some((i, m.clone())),
                _ => None,
            })
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        let mut msg = String::new();
        for (_, m) in &failed {
            msg.push_str(m);
            msg.push('\n');
        }
        if failed.len() > 1 {
            msg.push_str(&format!("{} builds failed", failed.len()));
        } else {
            msg.push_str(&format!(
                "build of '{}' failed",
                nodes[failed[0].0].drv_path.to_absolute()
            ));
        }
        Err(RealiseError::BuildFailed(msg.trim_end().to_string()).into())
    }

    fn worker(&self, nodes: &[Node], sched: &Mutex<Sched>, cv: &Condvar) {
        loop {
            let i = {
                let mut g = sched.lock().unwrap();
                loop {
                    if g.stop && !self.opts.keep_going {
                        if g.running == 0 {
                            cv.notify_all();
                        }
                        return;
                    }
                    if let Some(i) = g.ready.pop_front() {
                        g.states[i] = State::Running;
                        g.running += 1;
                        break i;
                    }
                    if g.running == 0 {
                        cv.notify_all();
                        return;
                    }
                    g = cv.wait(g).unwrap();
                }
            };
            let r = self.build_node(&nodes[i]);
            let mut g = sched.lock().unwrap();
            g.running -= 1;
            match r {
                Ok(()) => {
                    g.states[i] = State::Done;
                    for &d in &nodes[i].dependents {
                        if let State::Waiting(n) = g.states[d] {
                            g.states[d] = State::Waiting(n - 1);
                            if n == 1 {
                                g.ready.push_back(d);
                            }
                        }
                    }
                }
                Err(e) => {
                    if self.opts.keep_going && !self.opts.quiet {
                        // Shown as it happens; the final error repeats it with the others.
                        self.progress.eprintln(&format!("error: {e:#}"));
                    }
                    g.states[i] = State::Failed(format!("{e:#}"));
                    // Everything that depends on it cannot be built.
                    let mut stack = nodes[i].dependents.clone();
                    while let Some(d) = stack.pop() {
                        if matches!(g.states[d], State::Waiting(_)) {
                            g.states[d] = State::DepFailed;
                            stack.extend(nodes[d].dependents.iter().copied());
                        }
                    }
                    g.stop = true;
                }
            }
            cv.notify_all();
        }
    }

    /// Path of the build log of `drv`.
    pub fn log_path(store: &LocalStore, drv: &StorePath) -> PathBuf {
        store.state_dir().join("log").join(drv.base_name())
    }

    fn build_node(&self, node: &Node) -> Result<()> {
        let drv_abs = node.drv_path.to_absolute();
        // Every output is rooted before it is checked or built (a garbage collection keeps a
        // rooted path even while it is not valid yet), as Nix's DerivationGoal does.
        for p in node.outputs.values() {
            self.store.add_temp_root(p)?;
        }
        // Per-output locks, in a fixed order (shared with other processes).
        let mut sorted: Vec<&StorePath> = node.outputs.values().collect();
        sorted.sort();
        let mut locks: Vec<PathLock> = Vec::new();
        for p in &sorted {
            if let Some(l) = self.store.try_lock_path(p)? {
                locks.push(l);
            } else {
                self.progress
                    .println(&format!("waiting for the lock on '{}'...", p.to_absolute()));
                locks.push(self.store.lock_path(p)?);
            }
        }
        let mut all_valid = true;
        for p in node.outputs.values() {
            if !self.store.is_valid(p)? {
                all_valid = false;
            }
        }
        if all_valid {
            return Ok(());
        }
        let drv = &node.drv;
        let builtin = drv.builder.strip_prefix("builtin:");

        // The input closure.
        let mut inputs: BTreeSet<StorePath> = BTreeSet::new();
        for s in &drv.input_srcs {
            inputs.insert(StorePath::from_absolute(s)?);
        }
        for (in_drv, outs) in &drv.input_drvs {
            let d = self.read_drv(&StorePath::from_absolute(in_drv)?)?;
            let paths = d.output_paths()?;
            for o in outs {
                let p = paths.get(o).ok_or_else(|| {
                    anyhow!("derivation '{in_drv}' has no output '{o}' (needed by '{drv_abs}')")
                })?;
                inputs.insert(p.clone());
            }
        }
        // Keep the inputs alive for a concurrent garbage collection: rooted before their
        // closure is read (a valid rooted path keeps its closure), and the closure too.
        for p in &inputs {
            self.store.add_temp_root(p)?;
        }
        let closure = self.store.closure(inputs.iter())?;
        for p in &closure {
            self.store.add_temp_root(p)?;
        }
        let mut visible = closure.clone();
        let mut sh_link = None;
        if let Some(sh) = &self.opts.sh {
            if builtin.is_none() {
                self.store.add_temp_root(sh)?;
                visible.extend(self.store.closure(std::iter::once(sh))?);
                let target = if self.store.real_path(sh).is_dir() {
                    format!("{}/bin/sh", sh.to_absolute())
                } else {
                    sh.to_absolute()
                };
                sh_link = Some((PathBuf::from("/bin/sh"), PathBuf::from(target)));
            }
        }

        let is_fixed = drv.is_fixed_output();
        let ns_ok = sandbox::namespaces_available();
        let store_at_root = self.store.store_dir() == Path::new(&*store::STORE_DIR);
        // Without the sandbox (`sandbox = false`), a store elsewhere than /nix/store is still
        // mapped there through namespaces, but the build sees the host's programs and network.
        let use_ns = ns_ok && (self.opts.sandbox || !store_at_root);
        let relaxed = use_ns && !self.opts.sandbox;
        if self.opts.sandbox && !ns_ok && builtin.is_none() {
            sandbox::warn_no_sandbox_once("user namespaces are unavailable");
        }
        let name = drv
            .env
            .get("name")
            .cloned()
            .unwrap_or_else(|| node.drv_path.name().trim_end_matches(".drv").to_string());
        let tmp_base = self.store.state_dir().join("builds");
        let mut sb = BuildSandbox::new(
            &tmp_base,
            &format!("{}-{}", std::process::id(), name),
            self.store.store_dir(),
        )?;
        sb.inputs = visible.iter().map(|p| p.base_name().to_string()).collect();
        sb.symlinks.extend(sh_link);
        sb.extra = self.opts.sandbox_paths.clone();
        sb.network = is_fixed || relaxed;
        if relaxed {
            sb.extra.extend(sandbox::host_paths(&[
                "/bin", "/sbin", "/usr", "/lib", "/lib64", "/opt",
            ]));
        }

        // Where the outputs are written: in the sandbox's store, or (unsandboxed) at the
        // logical path, which must then be the physical store.
        let unsandboxed_shell = builtin.is_none() && !use_ns;
        if unsandboxed_shell && self.store.store_dir() != Path::new(&*store::STORE_DIR) {
            bail!(
                "cannot build '{drv_abs}': Linux user namespaces are unavailable and the store's \
                 physical directory '{}' is not {}; builds without a sandbox need a store at /",
                self.store.store_dir().display(),
                store::STORE_DIR
            );
        }
        let out_dirs: BTreeMap<String, PathBuf> = node
            .outputs
            .iter()
            .map(|(k, p)| {
                let d = if unsandboxed_shell {
                    self.store.real_path(p)
                } else {
                    sb.output_path(p.base_name())
                };
                (k.clone(), d)
            })
            .collect();
        for d in out_dirs.values() {
            if fs::symlink_metadata(d).is_ok() {
                store::local::remove_tree(d)?;
            }
        }

        let build_top = if unsandboxed_shell {
            sb.build_dir().to_string_lossy().into_owned()
        } else {
            "/build".to_string()
        };
        let env = self.build_env(drv, &sb, &build_top)?;

        // Log: a pipe read by a thread that writes the log file and keeps the tail.
        let log_path = Self::log_path(self.store, &node.drv_path);
        let log_file = fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let echo = self.opts.verbosity > 0;
        let tail_n = self.opts.log_lines;
        let prog = &self.progress;
        let short = name.clone();
        let result: Result<bool>;
        let tail: Vec<String>;
        // A download shows its own activity (bytes and rate) instead of a build line.
        let act = (builtin != Some("fetchurl")).then(|| self.progress.build(&drv_abs));
        let watch = Watch::new();
        {
            let (res, t) = std::thread::scope(|s| {
                let w = &watch;
                let reader =
                    s.spawn(move || log_reader(rd, log_file, echo, tail_n, prog, &short, w));
                let limits = (self.opts.timeout, self.opts.max_silent_time);
                let dog = (limits.0.is_some() || limits.1.is_some())
                    .then(|| s.spawn(move || w.guard(limits.0, limits.1)));
                let res = self.run_builder(
                    node, builtin, &sb, &out_dirs, &closure, env, wr, use_ns, &watch,
                );
                watch.finish();
                if let Some(d) = dog {
                    let _ = d.join();
                }
                let t = reader.join().unwrap_or_default();
                (res, t)
            });
            result = match watch.fired() {
                Some(why) if res.is_err() => {
                    self.timed_out.store(true, Ordering::Relaxed);
                    let outs: Vec<&str> = node.outputs.keys().map(|k| k.as_str()).collect();
                    Err(anyhow!(
                        "building of '{drv_abs}!{}' from .drv file timed out after {why}",
                        outs.join(",")
                    ))
                }
                _ => res,
            };
            tail = t;
        }
        let result = result.and_then(|downloaded| {
            self.register_outputs(node, &out_dirs, &closure, is_fixed, &locks)?;
            Ok(downloaded)
        });
        match result {
            Ok(downloaded) => {
                if let Some(act) = act {
                    if downloaded && builtin.is_some() {
                        // Counted as a download by the builtin.
                        act.fail();
                    } else {
                        act.finish();
                    }
                }
                Ok(())
            }
            Err(e) => {
                if let Some(act) = act {
                    act.fail();
                }
                let mut msg = format!("{e:#}");
                if !tail.is_empty() && e.downcast_ref::<BuilderFailed>().is_some() {
                    msg.push_str(&format!(";\nlast {} log lines:\n", tail.len()));
                    for l in &tail {
                        msg.push_str("> ");
                        msg.push_str(l);
                        msg.push('\n');
                    }
                    msg.push_str(&format!(
                        "For full logs, run 'rnix-store --read-log {drv_abs}'."
                    ));
                }
                if self.opts.keep_failed {
                    sb.keep = true;
                    let _ = fs::write(sb.dir.join(".kept"), "");
                    msg.push_str(&format!(
                        "\nnote: keeping build directory '{}'",
                        sb.build_dir().display()
                    ));
                } else {
                    for d in out_dirs.values() {
                        if unsandboxed_shell && fs::symlink_metadata(d).is_ok() {
                            let _ = store::local::remove_tree(d);
                        }
                    }
                }
                drop(locks);
                Err(anyhow!(msg))
            }
        }
    }

    /// Nix's `initEnv`.
    fn build_env(
        &self,
        drv: &Derivation,
        sb: &BuildSandbox,
        build_top: &str,
    ) -> Result<Vec<(String, String)>> {
        if drv.env.contains_key("__json") {
            bail!("derivations with structured attributes (__structuredAttrs) are not supported by rnix yet");
        }
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("PATH".into(), "/path-not-set".into());
        env.insert("HOME".into(), "/homeless-shelter".into());
        env.insert("NIX_STORE".into(), store::STORE_DIR.into());
        env.insert("NIX_BUILD_CORES".into(), self.opts.cores.to_string());
        let pass_as_file: BTreeSet<&str> = drv
            .env
            .get("passAsFile")
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default();
        for (k, v) in &drv.env {
            if pass_as_file.contains(k.as_str()) {
                let h = Hash::sha256(k.as_bytes()).encode(Encoding::Base32, false);
                let fname = format!(".attr-{h}");
                fs::write(
                    sb.build_dir().join(&fname),
                    store::derivation::field_bytes(v),
                )?;
                env.insert(format!("{k}Path"), format!("{build_top}/{fname}"));
            } else {
                env.insert(k.clone(), v.clone());
            }
        }
        for k in ["NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"] {
            env.insert(k.into(), build_top.into());
        }
        if drv.is_fixed_output() {
            env.insert("NIX_OUTPUT_CHECKED".into(), "1".into());
            if let Some(vars) = drv.env.get("impureEnvVars") {
                for v in vars.split_whitespace() {
                    if let Ok(val) = std::env::var(v) {
                        env.insert(v.into(), val);
                    }
                }
            }
        }
        env.insert("NIX_LOG_FD".into(), "2".into());
        env.insert("TERM".into(), "xterm-256color".into());
        Ok(env.into_iter().collect())
    }

    /// Runs the builder; Ok(true) when it downloaded something (builtins).
    #[allow(clippy::too_many_arguments)]
    fn run_builder(
        &self,
        node: &Node,
        builtin: Option<&str>,
        sb: &BuildSandbox,
        out_dirs: &BTreeMap<String, PathBuf>,
        closure: &BTreeSet<StorePath>,
        env: Vec<(String, String)>,
        wr: OwnedFd,
        use_ns: bool,
        watch: &Watch,
    ) -> Result<bool> {
        let drv_abs = node.drv_path.to_absolute();
        if let Some(name) = builtin {
            let f = self.registry.get(name).ok_or_else(|| {
                anyhow!(
                    "cannot build '{drv_abs}': unsupported builtin builder 'builtin:{name}' (known: {})",
                    self.registry.names().join(", ")
                )
            })?;
            let log_fd = wr.as_raw_fd();
            let mut log = fs::File::from(wr.try_clone()?);
            let mut ctx = BuildCtx {
                drv: &node.drv,
                drv_path: &node.drv_path,
                env: env.into_iter().collect(),
                output_paths: node.outputs.clone(),
                outputs: out_dirs.clone(),
                store: self.store,
                input_closure: closure.clone(),
                log: &mut log,
                log_fd,
                sandbox: sb,
                progress: &self.progress,
                use_sandbox: use_ns,
                mirrors: self.mirrors(),
                downloaded: false,
            };
            let r = f(&mut ctx);
            let downloaded = ctx.downloaded;
            if let Err(e) = &r {
                let _ = writeln!(log, "error: {e:#}");
            }
            drop(log);
            drop(wr);
            r.with_context(|| format!("builder for '{drv_abs}' failed"))?;
            return Ok(downloaded);
        }
        let mut argv = vec![node.drv.builder.clone()];
        argv.extend(node.drv.args.iter().cloned());
        let exit = if use_ns {
            let r = sb.run_with(argv, env, wr.as_raw_fd(), |running| {
                watch.started(running.pid())
            });
            drop(wr);
            r.with_context(|| format!("while setting up the build environment for '{drv_abs}'"))?
        } else {
            // derivation strings carry non-UTF-8 bytes as reserved characters: pass the bytes
            use std::os::unix::ffi::OsStrExt;
            let os = |s: &str| {
                std::ffi::OsStr::from_bytes(&store::derivation::field_bytes(s)).to_os_string()
            };
            let mut cmd = std::process::Command::new(os(&argv[0]));
            cmd.args(argv[1..].iter().map(|a| os(a)))
                .env_clear()
                .envs(env.iter().map(|(k, v)| (k.clone(), os(v))))
                .current_dir(sb.build_dir())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::from(wr.try_clone()?))
                .stderr(std::process::Stdio::from(wr));
            // Its own process group, so that a timeout kills the builder's children too.
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
            let mut child = cmd
                .spawn()
                .with_context(|| format!("executing builder '{}'", argv[0]))?;
            drop(cmd);
            watch.started(-(child.id() as i32));
            let st = child
                .wait()
                .with_context(|| format!("waiting for builder '{}'", argv[0]))?;
            use std::os::unix::process::ExitStatusExt;
            match (st.code(), st.signal()) {
                (Some(c), _) => Exit::Code(c),
                (None, Some(s)) => Exit::Signal(s),
                _ => Exit::Code(-1),
            }
        };
        if !exit.success() {
            let how = match exit {
                Exit::Code(c) => format!("failed with exit code {c}"),
                Exit::Signal(s) => format!("was killed by signal {s}"),
            };
            return Err(BuilderFailed(format!("builder for '{drv_abs}' {how}")).into());
        }
        Ok(false)
    }

    /// Checks, scans and registers the outputs of a successful build.
    fn register_outputs(
        &self,
        node: &Node,
        out_dirs: &BTreeMap<String, PathBuf>,
        closure: &BTreeSet<StorePath>,
        is_fixed: bool,
        locks: &[PathLock],
    ) -> Result<()> {
        let drv_abs = node.drv_path.to_absolute();
        let mut temps = BTreeMap::new();
        for (name, p) in &node.outputs {
            let built = &out_dirs[name];
            if fs::symlink_metadata(built).is_err() {
                bail!("builder for '{drv_abs}' failed to produce output path for output '{name}' at '{}'", p.to_absolute());
            }
            let tmp = self.store.prepare_output(p)?;
            move_path(built, &tmp.path)?;
            temps.insert(name.clone(), tmp);
        }
        // Content address of fixed outputs (checked before anything becomes valid).
        let mut ca: BTreeMap<String, String> = BTreeMap::new();
        if is_fixed {
            let o = &node.drv.outputs["out"];
            let (method, algo) = parse_hash_algo(&o.hash_algo)?;
            let expected = Hash::parse(&o.hash, Some(algo))?;
            let tmp = &temps["out"].path;
            let got = match method {
                FileIngestionMethod::Flat => {
                    let m = fs::symlink_metadata(tmp)?;
                    if !m.is_file() {
                        bail!("output path '{}' of fixed-output derivation '{drv_abs}' should be a regular file (flat hashing)", o.path);
                    }
                    store::hash::hash_file(algo, tmp)?
                }
                FileIngestionMethod::Recursive => {
                    store::nar::hash_path_filtered(tmp, algo, &mut |_, _| Ok(true))?.0
                }
            };
            if got != expected {
                // Never resume from a download that gave the wrong content.
                let _ = fs::remove_file(
                    self.store
                        .state_dir()
                        .join("downloads")
                        .join(format!("{}.part", node.outputs["out"].hash_part())),
                );
                for (_, t) in temps {
                    self.store.discard_output(t);
                }
                bail!(
                    "hash mismatch in fixed-output derivation '{drv_abs}':\n  specified: {}\n     got:    {}",
                    expected.to_sri(),
                    got.to_sri()
                );
            }
            ca.insert(
                "out".into(),
                format!(
                    "fixed:{}{}",
                    method.prefix(),
                    got.encode(Encoding::Base32, true)
                ),
            );
        }
        // References: the input closure and this derivation's own outputs.
        let mut candidates: BTreeSet<StorePath> = closure.clone();
        candidates.extend(node.outputs.values().cloned());
        let mut refs: BTreeMap<String, BTreeSet<StorePath>> = BTreeMap::new();
        for (name, tmp) in &temps {
            let r = store::references::scan_references(&tmp.path, &candidates)?;
            if is_fixed && !r.is_empty() {
                bail!(
                    "the fixed-output derivation '{drv_abs}' must not reference store paths, but '{}' refers to '{}'",
                    node.outputs[name],
                    r.iter().next().map(|p| p.to_absolute()).unwrap_or_default()
                );
            }
            refs.insert(name.clone(), r);
        }
        // Register outputs referenced by sibling outputs first.
        let by_path: BTreeMap<StorePath, String> = node
            .outputs
            .iter()
            .map(|(k, v)| (v.clone(), k.clone()))
            .collect();
        let mut order: Vec<String> = Vec::new();
        let mut visiting: BTreeSet<String> = BTreeSet::new();
        fn visit(
            n: &str,
            refs: &BTreeMap<String, BTreeSet<StorePath>>,
            by_path: &BTreeMap<StorePath, String>,
            own: &StorePath,
            order: &mut Vec<String>,
            visiting: &mut BTreeSet<String>,
        ) -> Result<()> {
            if order.iter().any(|o| o == n) {
                return Ok(());
            }
            if !visiting.insert(n.to_string()) {
                bail!("cycle detected in the references of output '{n}'");
            }
            for r in &refs[n] {
                if let Some(other) = by_path.get(r) {
                    if other != n {
                        visit(other, refs, by_path, &own.clone(), order, visiting)?;
                    }
                }
            }
            visiting.remove(n);
            order.push(n.to_string());
            Ok(())
        }
        for n in node.outputs.keys() {
            visit(
                n,
                &refs,
                &by_path,
                &node.outputs[n],
                &mut order,
                &mut visiting,
            )
            .with_context(|| format!("registering the outputs of '{drv_abs}'"))?;
        }
        for n in order {
            let tmp = temps.remove(&n).expect("output temp");
            let p = &node.outputs[&n];
            let lock = locks
                .iter()
                .find(|l| l.path() == p)
                .ok_or_else(|| anyhow!("internal error: no lock held for {p}"))?;
            self.store.finalise_output(
                tmp,
                lock,
                refs.remove(&n).unwrap_or_default(),
                Some(node.drv_path.clone()),
                ca.remove(&n),
            )?;
        }
        Ok(())
    }
}

/// The builder exited unsuccessfully (its log tail is worth showing).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuilderFailed(pub String);

/// Moves a built output into the store's temporary location (copying across file systems).
fn move_path(from: &Path, to: &Path) -> Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let mut all = |_: &Path, _: fs::FileType| Ok(true);
            store::local::copy_tree(from, to, &mut all)?;
            store::local::remove_tree(from)?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("moving {} to {}", from.display(), to.display())),
    }
}

/// Watches a running builder for nix-build's `--timeout` and `--max-silent-time`: the log
/// reader records output activity, [`Watch::guard`] kills the builder when a limit is passed.
struct Watch {
    start: std::time::Instant,
    /// Milliseconds since `start` of the last log output.
    last_output: AtomicU64,
    /// Process to kill (negative: a process group); 0 until started.
    pid: AtomicI32,
    /// 0: running; 1: killed for `--timeout`; 2: killed for `--max-silent-time`.
    fired: AtomicU8,
    done: Mutex<bool>,
    cv: Condvar,
    limits: Mutex<(u64, u64)>,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            start: std::time::Instant::now(),
            last_output: AtomicU64::new(0),
            pid: AtomicI32::new(0),
            fired: AtomicU8::new(0),
            done: Mutex::new(false),
            cv: Condvar::new(),
            limits: Mutex::new((0, 0)),
        }
    }
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    fn output(&self) {
        self.last_output.store(self.now_ms(), Ordering::Relaxed);
    }
    fn started(&self, pid: i32) {
        self.pid.store(pid, Ordering::SeqCst);
    }
    fn finish(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }
    /// Why the builder was killed, in Nix's words ("N seconds", "N seconds of silence").
    fn fired(&self) -> Option<String> {
        let (t, s) = *self.limits.lock().unwrap_or_else(|e| e.into_inner());
        match self.fired.load(Ordering::SeqCst) {
            1 => Some(format!("{} seconds", t / 1000)),
            2 => Some(format!("{} seconds of silence", s / 1000)),
            _ => None,
        }
    }
    fn guard(&self, timeout: Option<std::time::Duration>, silent: Option<std::time::Duration>) {
        let t = timeout.map(|d| d.as_millis() as u64);
        let s = silent.map(|d| d.as_millis() as u64);
        *self.limits.lock().unwrap_or_else(|e| e.into_inner()) = (t.unwrap_or(0), s.unwrap_or(0));
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            let now = self.now_ms();
            let why = if t.is_some_and(|t| now >= t) {
                1
            } else if s
                .is_some_and(|s| now.saturating_sub(self.last_output.load(Ordering::Relaxed)) >= s)
            {
                2
            } else {
                0
            };
            if why != 0 {
                let pid = self.pid.load(Ordering::SeqCst);
                if pid != 0 {
                    self.fired.store(why, Ordering::SeqCst);
                    // SAFETY: kill(2) with a pid/process group this build started.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
            }
            done = self
                .cv
                .wait_timeout(done, std::time::Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A reader that tells a [`Watch`] about every read that returned data.
struct ActivityReader<'w> {
    inner: fs::File,
    watch: &'w Watch,
}

impl std::io::Read for ActivityReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.watch.output();
        }
        Ok(n)
    }
}

fn log_reader(
    rd: OwnedFd,
    mut file: fs::File,
    echo: bool,
    tail_n: usize,
    progress: &Progress,
    name: &str,
    watch: &Watch,
) -> Vec<String> {
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut r = BufReader::new(ActivityReader {
        inner: fs::File::from(rd),
        watch,
    });
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let _ = file.write_all(&buf);
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if echo {
                    progress.println(&format!("{name}> {line}"));
                }
                tail.push_back(line);
                if tail.len() > tail_n {
                    tail.pop_front();
                }
            }
        }
    }
    let _ = file.flush();
    tail.into_iter().collect()
}
