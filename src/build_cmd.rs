//! `rnix-build`: evaluate, instantiate, realise, and leave `result` symlinks (nix-build's flow).

use crate::cli::BuildArgs;
use crate::glue::{self, Glue, GlueOptions};
use anyhow::{anyhow, Context as _, Result};
use evaluator::eval::{cli::EvalArgs, with_big_stack, DrvInfo, Evaluator};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use store::local::LocalStore;
use store::StorePath;

/// Open the store chosen by `--store`, `RNIX_STORE` or the default root.
pub fn open_store(root: Option<&Path>) -> Result<LocalStore> {
    let s = match root {
        Some(r) => LocalStore::open(r),
        None => LocalStore::open_default(),
    };
    s.map_err(|e| anyhow!("opening the store: {e}"))
}

/// Evaluate what `args` name and return the derivations to build (in nix-build's order).
/// Runs the evaluator on a thread with a large stack. Errors are already rendered.
pub fn evaluate(args: &BuildArgs) -> std::result::Result<Vec<DrvInfo>, String> {
    evaluate_with_shell(args).map(|(d, _)| d)
}

/// As [`evaluate`], also instantiating the package set's bash (when the embedded package
/// set is enabled): it provides `/bin/sh` in the build sandbox, as Nix's sandbox does.
pub fn evaluate_with_shell(
    args: &BuildArgs,
) -> std::result::Result<(Vec<DrvInfo>, Option<String>), String> {
    let args = args.clone();
    with_big_stack(move || {
        let store = open_store(args.store.as_deref()).map_err(|e| format!("error: {e:#}"))?;
        let mut gopts = GlueOptions {
            quiet: args.quiet,
            ..Default::default()
        };
        for (name, value) in args.option_pairs() {
            gopts
                .set_option(&name, &value)
                .map_err(|e| format!("error: {e}"))?;
        }
        let ea = EvalArgs {
            show_trace: args.show_trace,
            include: args.include.clone(),
            args: args.arg_pairs(),
            argstrs: args.argstr_pairs(),
            ..Default::default()
        };
        let embedded = gopts.embedded_nixpkgs;
        let mut ev = evaluator::eval::cli::make_evaluator(&ea);
        let glue = Glue::new(Rc::new(store), gopts);
        glue::install(&mut ev, glue.clone());
        let drvs = eval_inner(&mut ev, &args, &ea).map_err(|e| ev.format_error(&e))?;
        let mut shell = None;
        if embedded && !args.dry_run {
            let pkgs = glue.embedded_pkgs().map_err(|e| format!("error: {e}"))?;
            let expr = format!("(import {pkgs} {{}}).bash.drvPath");
            let v = ev
                .eval_expr(&expr, Path::new("/"))
                .map_err(|e| ev.format_error(&e))?;
            if let evaluator::eval::Value::String(s) = v {
                shell = Some(s.to_str_lossy().into_owned());
            }
        }
        Ok((drvs, shell))
    })
}

fn eval_inner(
    ev: &mut Evaluator,
    args: &BuildArgs,
    ea: &EvalArgs,
) -> evaluator::eval::Result<Vec<DrvInfo>> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut roots = Vec::new();
    if args.expr {
        if args.paths.is_empty() {
            return Err(evaluator::eval::mkerr("no expression given with -E"));
        }
        for e in &args.paths {
            roots.push(ev.eval_expr(e, &cwd)?);
        }
    } else if args.paths.is_empty() {
        roots.push(ev.eval_file(Path::new("./default.nix"))?);
    } else {
        for f in &args.paths {
            if f.starts_with('<') && f.ends_with('>') {
                roots.push(ev.eval_expr(f, &cwd)?);
            } else {
                roots.push(ev.eval_file(Path::new(f))?);
            }
        }
    }
    let auto = evaluator::eval::cli::auto_args(ev, ea)?;
    for root in &roots {
        check_auto_args(ev, root, &auto)?;
    }
    let attr_paths = if args.attr.is_empty() {
        vec![String::new()]
    } else {
        args.attr.clone()
    };
    let mut drvs = Vec::new();
    for root in roots {
        for p in &attr_paths {
            let v = ev.select_attr_path(root.clone(), p, &auto)?;
            drvs.extend(ev.find_derivations(&v, &auto)?);
        }
    }
    Ok(drvs)
}

/// nix-build silently ignores `--arg`/`--argstr` names the top-level function does not take;
/// rnix reports them (a misspelt `--arg isdev true` would otherwise build the wrong thing).
fn check_auto_args(
    ev: &Evaluator,
    root: &evaluator::eval::Value,
    auto: &[(String, evaluator::eval::Thunk)],
) -> evaluator::eval::Result<()> {
    use evaluator::eval::ir::Param;
    if let evaluator::eval::Value::Lambda(c) = root {
        if let Param::Pattern {
            formals,
            ellipsis: false,
            ..
        } = &c.def.param
        {
            for (name, _) in auto {
                if !formals.iter().any(|f| &*f.name == name.as_str()) {
                    let at = ev
                        .show_pos(c.def.pos)
                        .map(|p| format!(" at {p}"))
                        .unwrap_or_default();
                    return Err(evaluator::eval::mkerr(format!(
                        "argument '{name}' given with --arg/--argstr is not accepted by the function{at}"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The realiser with every builtin builder of rnix registered.
pub fn registry() -> realise::BuiltinRegistry {
    let mut r = realise::BuiltinRegistry::new();
    crate::builders::register(&mut r);
    r
}

/// `rnix-store --realise` with every builtin builder of rnix.
pub fn op_realise(store: &LocalStore, flags: &[String], args: &[String]) -> Result<i32> {
    realise::cli::op_realise_with(store, flags, args, registry())
}

/// A build was killed for `--timeout`/`--max-silent-time` (nix-build exits 101).
#[derive(Debug)]
struct TimedOut(String);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimedOut {}

/// Run `rnix-build`; returns the exit code.
pub fn run(args: BuildArgs) -> i32 {
    for name in args.unknown_options() {
        rnix_util::errln!("warning: unknown setting '{name}'");
    }
    match run_inner(&args) {
        Ok(()) => 0,
        Err(e) => {
            let msg = format!("{e:#}");
            if msg.starts_with("error") {
                rnix_util::errln!("{msg}");
            } else {
                rnix_util::errln!("error: {msg}");
            }
            if e.chain().any(|c| c.is::<TimedOut>()) {
                101
            } else {
                1
            }
        }
    }
}

/// The out links `rnix-build` will create, one per derivation (result, result-2, …;
/// result-<output> for outputs other than `out`).
fn out_links(args: &BuildArgs, drvs: &[DrvInfo]) -> Result<Vec<PathBuf>> {
    let base = args
        .out_link
        .clone()
        .unwrap_or_else(|| PathBuf::from("result"));
    let mut links = Vec::new();
    for (i, d) in drvs.iter().enumerate() {
        let mut link = base.as_os_str().to_os_string();
        if i > 0 {
            link.push(format!("-{}", i + 1));
        }
        if d.output_name != "out" {
            link.push(format!("-{}", d.output_name));
        }
        links.push(absolute(Path::new(&link))?);
    }
    Ok(links)
}

fn run_inner(args: &BuildArgs) -> Result<()> {
    let jobs = args.jobs()?;
    let cores = args.cores()?;
    let timeout = args.timeout()?;
    let max_silent_time = args.max_silent_time()?;
    let (drvs, shell_drv) = evaluate_with_shell(args).map_err(|e| anyhow!("{}", e.trim_end()))?;
    if drvs.is_empty() {
        return Ok(());
    }
    let store = open_store(args.store.as_deref())?;
    let drv_paths: Vec<StorePath> = drvs
        .iter()
        .map(|d| StorePath::from_absolute(&d.drv_path).map_err(|e| anyhow!("{e}")))
        .collect::<Result<_>>()?;

    if args.dry_run {
        let mut missing = Vec::new();
        for d in &drvs {
            let out = StorePath::from_absolute(&d.out_path).map_err(|e| anyhow!("{e}"))?;
            if !store.is_valid(&out)? {
                missing.push(d.drv_path.clone());
            }
        }
        if missing.is_empty() {
            rnix_util::errln!("nothing to build");
        } else {
            rnix_util::errln!("these derivations will be built:");
            for m in missing {
                rnix_util::errln!("  {m}");
            }
        }
        return Ok(());
    }

    let links = if args.no_out_link {
        Vec::new()
    } else {
        out_links(args, &drvs)?
    };

    let mut opts = realise::Options {
        max_jobs: jobs.max(1),
        cores,
        timeout,
        max_silent_time,
        keep_going: args.keep_going,
        keep_failed: args.keep_failed,
        verbosity: args.verbose,
        quiet: args.quiet,
        ..Default::default()
    };
    if let Some(v) = args.option("sandbox") {
        opts.sandbox = !(v == "false" || v == "0");
    }
    if let Some(sh) = shell_drv {
        let sh = StorePath::from_absolute(&sh).map_err(|e| anyhow!("{e}"))?;
        if needs_bin_sh(&store, &drv_paths)? {
            let r = realise::Realiser::new(&store, opts.clone()).with_registry(registry());
            let outs = r.realise_one(&sh)?;
            opts.sh = outs.get("out").cloned();
        }
    }
    let realiser = realise::Realiser::new(&store, opts).with_registry(registry());
    let built = match realiser.realise_all(&drv_paths) {
        Ok(b) => b,
        Err(e) if realiser.timed_out() => return Err(TimedOut(format!("{e:#}")).into()),
        Err(e) => return Err(e),
    };

    let mut printed = Vec::new();
    for (i, d) in drvs.iter().enumerate() {
        let drv = StorePath::from_absolute(&d.drv_path).map_err(|e| anyhow!("{e}"))?;
        let outs: &BTreeMap<String, StorePath> = built
            .get(&drv)
            .ok_or_else(|| anyhow!("'{}' was not built", d.drv_path))?;
        let out = outs.get(&d.output_name).ok_or_else(|| {
            anyhow!(
                "derivation '{}' has no output '{}'",
                d.drv_path,
                d.output_name
            )
        })?;
        if let Some(link) = links.get(i) {
            // The store's errors name the link (as nix-build's "cannot create symlink").
            store.add_perm_root(out, link)?;
        }
        // The physical location, so that `$(rnix-build …)` can be used directly (it equals the
        // logical `/nix/store/…` path when the store root is `/`).
        printed.push(store.real_path(out).display().to_string());
    }
    for p in printed {
        rnix_util::outln!("{p}");
    }
    Ok(())
}

/// Does any derivation that has to be built run a program in the sandbox? Such builds get
/// `/bin/sh`, as Nix's sandbox has it (its default `sandbox-paths`): programs call it through
/// `system()`/`popen()` (postgres' initdb does).
fn needs_bin_sh(store: &LocalStore, drvs: &[StorePath]) -> Result<bool> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<StorePath> = drvs.to_vec();
    while let Some(d) = todo.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        let text = std::fs::read(store.real_path(&d))
            .with_context(|| format!("reading derivation '{}'", d.to_absolute()))?;
        let drv = store::Derivation::from_aterm_bytes(&text).map_err(|e| anyhow!("{e}"))?;
        let mut all_valid = true;
        for o in drv.outputs.values() {
            if !store.is_valid(&StorePath::from_absolute(&o.path).map_err(|e| anyhow!("{e}"))?)? {
                all_valid = false;
            }
        }
        if all_valid {
            continue;
        }
        if !drv.builder.starts_with("builtin:") {
            return Ok(true);
        }
        for i in drv.input_drvs.keys() {
            todo.push(StorePath::from_absolute(i).map_err(|e| anyhow!("{e}"))?);
        }
    }
    Ok(false)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}
