//! Builtin builders of the package set (`builtin:rnix-deb`, `builtin:rnix-python-env`,
//! `builtin:rnix-buildenv`) and the types they share.

use std::path::PathBuf;

/// A store path known both by its logical name (`/nix/store/<hash>-<name>`, what is written
/// into files and symlinks) and by where it is on disk now (`ROOT/nix/store/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreObject {
    pub logical: PathBuf,
    pub real: PathBuf,
}

impl StoreObject {
    pub fn new(logical: impl Into<PathBuf>, real: impl Into<PathBuf>) -> StoreObject {
        StoreObject {
            logical: logical.into(),
            real: real.into(),
        }
    }

    /// Resolve `rel` inside this store object with [`store::confine`]: symlinks are followed
    /// within it only (one to `/etc`, `../../etc` or another store path leads nowhere).
    pub fn resolve(&self, rel: &str, follow_last: bool) -> store::confine::Resolution {
        use store::confine::{Resolution, View};
        let (Some(name), Some(dir)) = (
            self.logical.file_name().and_then(|n| n.to_str()),
            self.logical.parent(),
        ) else {
            return Resolution::Outside;
        };
        let map = |n: &str| (n == name).then(|| self.real.clone());
        View::Store { dir, map: &map }.resolve(&self.logical.join(rel), follow_last)
    }
}

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use realise::{BuildCtx, BuiltinRegistry};
use store::StorePath;

use crate::buildenv::{build_env, BuildEnvArgs, StoreFs, DEFAULT_PRIORITY};
use crate::deb::{build_deb_package, DebBuild};
use crate::python::{build_python_env, compile_argv, compile_env, PythonEnvBuild};

/// Register `rnix-deb`, `rnix-python-env` and `rnix-buildenv` (contracts in
/// `docs/ARCHITECTURE.md`).
pub fn register(registry: &mut BuiltinRegistry) {
    registry.register("rnix-deb", builtin_deb);
    registry.register("rnix-python-env", builtin_python_env);
    registry.register("rnix-buildenv", builtin_buildenv);
}

fn words(ctx: &BuildCtx, name: &str) -> Vec<String> {
    ctx.attr(name)
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn store_object(ctx: &BuildCtx, logical: &str) -> Result<StoreObject> {
    StorePath::from_absolute(logical)
        .with_context(|| format!("`{logical}' is not a store path"))?;
    let real = ctx.real_path(logical)?;
    if std::fs::symlink_metadata(&real).is_err() {
        bail!("input {logical} is not in the store ({})", real.display());
    }
    Ok(StoreObject::new(logical, real))
}

fn output(ctx: &BuildCtx) -> Result<StoreObject> {
    let logical = ctx
        .output_paths
        .get("out")
        .ok_or_else(|| anyhow!("derivation has no output `out'"))?
        .to_absolute();
    Ok(StoreObject::new(logical, ctx.out()?.to_path_buf()))
}

/// `builtin:rnix-deb`: `debs`, `deps`, `glibc`.
pub fn builtin_deb(ctx: &mut BuildCtx) -> Result<()> {
    let out = output(ctx)?;
    let mut debs = Vec::new();
    for d in words(ctx, "debs") {
        debs.push(ctx.real_path(&d)?);
    }
    if debs.is_empty() {
        bail!("rnix-deb: attribute `debs' is empty");
    }
    let deps = words(ctx, "deps")
        .iter()
        .map(|d| store_object(ctx, d))
        .collect::<Result<Vec<_>>>()?;
    let glibc = match ctx.attr("glibc").map(str::trim).filter(|s| !s.is_empty()) {
        Some(g) => Some(store_object(ctx, g)?),
        None => None,
    };
    let report = build_deb_package(&DebBuild {
        debs,
        deps,
        glibc,
        out: out.clone(),
    })?;
    writeln!(ctx.log, "rnix-deb: unpacked {}", report.packages.join(" "))?;
    for l in &report.log {
        writeln!(ctx.log, "rnix-deb: {l}")?;
    }
    writeln!(
        ctx.log,
        "rnix-deb: patched {} ELF files",
        report.patched.iter().filter(|p| p.changed).count()
    )?;
    compile_stdlib(ctx, &out)?;
    Ok(())
}

/// Debian ships no `.pyc`: when the output is a Python interpreter package, byte-compile its
/// standard library with itself. A failure is logged, not fatal (the stdlib still works).
fn compile_stdlib(ctx: &mut BuildCtx, out: &StoreObject) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(out.real.join("lib")) else {
        return Ok(());
    };
    let mut versions: Vec<String> = rd
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("python"))
                .map(String::from)
        })
        .filter(|v| v.contains('.') && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .collect();
    versions.sort();
    for v in versions {
        let exe = out.real.join(format!("bin/python{v}"));
        if !exe.is_file() || !out.real.join(format!("lib/python{v}/os.py")).is_file() {
            continue;
        }
        let argv = vec![
            format!("{}/bin/python{v}", out.logical.display()),
            "-m".into(),
            "compileall".into(),
            "-f".into(),
            "-q".into(),
            "--invalidation-mode".into(),
            "unchecked-hash".into(),
            format!("{}/lib/python{v}", out.logical.display()),
        ];
        writeln!(ctx.log, "rnix-deb: byte-compiling lib/python{v}")?;
        match ctx.sandbox_run_status(&argv, &compile_env(), &[]) {
            Ok(exit) if exit.success() => {}
            Ok(exit) => writeln!(
                ctx.log,
                "rnix-deb: warning: compileall of lib/python{v} {exit}"
            )?,
            Err(e) => writeln!(
                ctx.log,
                "rnix-deb: warning: cannot byte-compile lib/python{v}: {e:#}"
            )?,
        }
    }
    Ok(())
}

/// `builtin:rnix-python-env`: `python`, `wheels`, `deps`, `pythonVersion`.
pub fn builtin_python_env(ctx: &mut BuildCtx) -> Result<()> {
    let out = output(ctx)?;
    let python = ctx
        .attr("python")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("rnix-python-env: attribute `python' missing"))?
        .to_string();
    let python = store_object(ctx, &python)?;
    let mut wheels = Vec::new();
    for w in words(ctx, "wheels") {
        wheels.push(ctx.real_path(&w)?);
    }
    // The given library packages first, then the rest of their closure and the interpreter's
    // (wheels may link libraries that the interpreter's dependencies provide, e.g. libz).
    let mut given = words(ctx, "deps");
    given.push(python.logical.display().to_string());
    let given_paths = given
        .iter()
        .map(|d| StorePath::from_absolute(d).map_err(|e| anyhow!("`{d}': {e}")))
        .collect::<Result<Vec<_>>>()?;
    let mut dep_names = given.clone();
    for p in ctx.closure(&given_paths)? {
        let a = p.to_absolute();
        if !dep_names.contains(&a) {
            dep_names.push(a);
        }
    }
    let deps = dep_names
        .iter()
        .map(|d| store_object(ctx, d))
        .collect::<Result<Vec<_>>>()?;
    let python_version = ctx
        .attr("pythonVersion")
        .unwrap_or("3.11")
        .trim()
        .to_string();
    let report = build_python_env(&PythonEnvBuild {
        python,
        wheels,
        deps,
        python_version: python_version.clone(),
        out: out.clone(),
    })?;
    for (n, v) in &report.installed {
        writeln!(ctx.log, "rnix-python-env: installed {n} {v}")?;
    }
    writeln!(
        ctx.log,
        "rnix-python-env: scripts: {}",
        report.scripts.join(" ")
    )?;
    ctx.sandbox_run(
        &compile_argv(&out.logical, &python_version),
        &compile_env(),
        &[],
    )
    .context("rnix-python-env: byte-compiling the environment")?;
    Ok(())
}

/// `builtin:rnix-buildenv`: `paths` (or nixpkgs' `pkgs` JSON with priorities), `pathsToLink`,
/// `extraPrefix`, `ignoreCollisions`, `checkCollisionContents` (default on), `manifest`,
/// `postBuild` (run with `shell`; `PATH` from `nativeBuildInputs`/`buildInputs`).
pub fn builtin_buildenv(ctx: &mut BuildCtx) -> Result<()> {
    let out = output(ctx)?;
    let mut paths: Vec<(String, i64)> = Vec::new();
    if let Some(pkgs) = ctx.attr("pkgs").filter(|s| !s.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(pkgs).context("rnix-buildenv: attribute `pkgs' is not JSON")?;
        for p in v
            .as_array()
            .ok_or_else(|| anyhow!("rnix-buildenv: `pkgs' is not a list"))?
        {
            let prio = p
                .get("priority")
                .and_then(|x| x.as_i64())
                .unwrap_or(DEFAULT_PRIORITY);
            for path in p
                .get("paths")
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(s) = path.as_str() {
                    paths.push((s.to_string(), prio));
                }
            }
        }
    } else {
        paths = words(ctx, "paths")
            .into_iter()
            .map(|p| (p, DEFAULT_PRIORITY))
            .collect();
    }
    let flag = |ctx: &BuildCtx, n: &str, default: bool| {
        ctx.attr(n).map(|v| v.trim() == "1").unwrap_or(default)
    };
    let args = BuildEnvArgs {
        paths,
        paths_to_link: words(ctx, "pathsToLink"),
        extra_prefix: ctx.attr("extraPrefix").unwrap_or("").to_string(),
        ignore_collisions: flag(ctx, "ignoreCollisions", false),
        check_collision_contents: flag(ctx, "checkCollisionContents", true),
        manifest: ctx.attr("manifest").unwrap_or("").trim().to_string(),
        out: out.real.clone(),
    };
    let report = {
        let c: &BuildCtx = ctx;
        let fs = StoreFs {
            store_dir: "/nix/store".into(),
            real_of: Box::new(move |base: &str| {
                if base.contains('/') {
                    return None;
                }
                c.real_path(&format!("/nix/store/{base}")).ok()
            }),
        };
        build_env(&args, &fs)?
    };
    for w in &report.warnings {
        writeln!(ctx.log, "warning: {w}")?;
    }
    writeln!(
        ctx.log,
        "created {} symlinks in user environment",
        report.links
    )?;
    let post = ctx.attr("postBuild").unwrap_or("").to_string();
    if !post.trim().is_empty() {
        let shell = ctx
            .attr("shell")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("rnix-buildenv: `postBuild' is set but `shell' is not"))?
            .to_string();
        let mut bins: Vec<String> = Vec::new();
        for p in words(ctx, "nativeBuildInputs")
            .into_iter()
            .chain(words(ctx, "buildInputs"))
        {
            bins.push(format!("{p}/bin"));
        }
        if let Some(d) = Path::new(&shell).parent() {
            bins.push(d.display().to_string());
        }
        let mut env: Vec<(String, String)> = ctx
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.retain(|(k, _)| k != "PATH");
        env.push(("PATH".into(), bins.join(":")));
        let argv = vec![shell, "-c".into(), post];
        ctx.sandbox_run(&argv, &env, &[])
            .context("rnix-buildenv: postBuild failed")?;
    }
    Ok(())
}
