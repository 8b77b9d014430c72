//! Every builtin builder of rnix: `fetchurl` (realise), the package builders (pkgset) and
//! `rnix-docker-image` (dockertools, adapted here to the realiser's build context).

use anyhow::{bail, Context as _, Result};
use dockertools::{ClosureEntry, ScriptRunner};
use realise::{BuildCtx, BuiltinRegistry};
use std::cell::RefCell;
use std::path::Path;
use store::StorePath;

/// Register all of rnix's builtin builders.
pub fn register(r: &mut BuiltinRegistry) {
    pkgset::builders::register(r);
    r.register("rnix-docker-image", docker_image);
}

/// Runs dockerTools scripts through the realiser's namespaces.
struct CtxRunner<'c, 'a> {
    ctx: RefCell<&'c mut BuildCtx<'a>>,
    shell: String,
}

impl ScriptRunner for CtxRunner<'_, '_> {
    fn run(&self, root_dir: &Path, script: &str, as_root: bool) -> Result<()> {
        let mut ctx = self.ctx.borrow_mut();
        let inputs: Vec<StorePath> = ctx.input_closure.iter().cloned().collect();
        let env = vec![
            ("HOME".to_string(), "/root".to_string()),
            ("TMPDIR".to_string(), "/tmp".to_string()),
            ("PATH".to_string(), "/path-not-set".to_string()),
        ];
        if as_root {
            let argv = vec![self.shell.clone(), "-c".to_string(), script.to_string()];
            let exit = ctx.run_in_root(root_dir, &argv, &env, &inputs, Vec::new())?;
            if !exit.success() {
                bail!("runAsRoot script {exit}");
            }
            Ok(())
        } else {
            // extraCommands: in the build sandbox, with the root tree as working directory.
            let script = format!("cd {} && {}", shell_quote(&root_in_sandbox(&ctx, root_dir)?), script);
            let argv = vec![self.shell.clone(), "-c".to_string(), script];
            ctx.sandbox_run(&argv, &env, &[])
        }
    }
}

/// Where a directory under the build directory appears inside the sandbox (`/build/...`).
fn root_in_sandbox(ctx: &BuildCtx, dir: &Path) -> Result<String> {
    let b = ctx.build_dir();
    let rel = dir
        .strip_prefix(&b)
        .with_context(|| format!("{} is not inside the build directory", dir.display()))?;
    Ok(format!("/build/{}", rel.display()))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `builtin:rnix-docker-image`: dockerTools.buildImage / buildLayeredImage.
fn docker_image(ctx: &mut BuildCtx) -> Result<()> {
    let env = ctx.env.clone();
    let mut roots = Vec::new();
    for p in env.get("copyToRoot").map(String::as_str).unwrap_or("").split_whitespace() {
        let (sp, _) = StorePath::from_absolute_prefix(p)?;
        roots.push(sp);
    }
    let include = env.get("includeStorePaths").map(|v| v == "1").unwrap_or(true);
    let mut closure = Vec::new();
    if include {
        for p in ctx.closure(&roots)? {
            let refs = ctx.store.references(&p)?;
            closure.push(ClosureEntry {
                logical: p.to_absolute(),
                real: ctx.store.real_path(&p),
                references: refs.iter().map(|r| r.to_absolute()).collect(),
            });
        }
    }
    let spec = dockertools::spec_from_env(
        &|k| env.get(k).cloned(),
        &|p| ctx.real_path(p),
        closure,
    )?;
    let out = ctx.out()?.to_path_buf();
    let shell = env.get("shell").cloned().unwrap_or_default();
    let runner = CtxRunner { ctx: RefCell::new(ctx), shell };
    dockertools::build_image(&spec, &runner, &out)
}
