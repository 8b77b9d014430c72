//! `rnix-bench-imagewrite ROOT DRV OUT [gz|none]`: writes the image of the
//! `builtin:rnix-docker-image` derivation DRV (logical `/nix/store/…-….drv`, whose inputs
//! are valid in the store at ROOT) to the file OUT with dockertools' writer, as the
//! realiser would (time it from outside, e.g. with hyperfine).
//!
//! `runAsRoot`/`extraCommands`/`fakeRootCommands` are not run (they run a sandboxed shell,
//! which is not image writing); everything else of the derivation's spec is kept.
//!
//! `rnix-bench-imagewrite ROOT DRV --paths` prints the physical paths that go into the
//! image (closure of `copyToRoot`), one per line, for the `tar | gzip` comparison.

use anyhow::{anyhow, bail, Context, Result};
use dockertools::{ClosureEntry, ScriptRunner};
use std::path::{Path, PathBuf};
use store::{LocalStore, StorePath};

struct NoScripts;

impl ScriptRunner for NoScripts {
    fn run(&self, _root: &Path, _script: &str, _as_root: bool) -> Result<()> {
        bail!("rnix-bench-imagewrite does not run image scripts")
    }
}

fn spec_of(st: &LocalStore, drv_path: &str) -> Result<dockertools::ImageSpec> {
    let (sp, _) = StorePath::from_absolute_prefix(drv_path)
        .map_err(|e| anyhow!("'{drv_path}' is not a store path: {e}"))?;
    let drv = st
        .read_derivation(&sp)
        .with_context(|| format!("reading {drv_path}"))?;
    if drv.builder != "builtin:rnix-docker-image" {
        bail!("{drv_path} is not a builtin:rnix-docker-image derivation");
    }
    let env = drv.env.clone();
    let mut roots = Vec::new();
    for p in env
        .get("copyToRoot")
        .map(String::as_str)
        .unwrap_or("")
        .split_whitespace()
    {
        roots.push(
            StorePath::from_absolute_prefix(p)
                .map_err(|e| anyhow!("{p}: {e}"))?
                .0,
        );
    }
    let include = env
        .get("includeStorePaths")
        .map(|v| v == "1")
        .unwrap_or(true);
    let mut closure = Vec::new();
    if include {
        for p in st.closure(roots.iter())? {
            let refs = st.references(&p)?;
            closure.push(ClosureEntry {
                logical: p.to_absolute(),
                real: st.real_path(&p),
                references: refs.iter().map(|r| r.to_absolute()).collect(),
            });
        }
    }
    let mut spec = dockertools::spec_from_env(
        &|k| env.get(k).cloned(),
        &|p| Ok(st.real_path_of(p)?),
        closure,
    )?;
    spec.run_as_root = None;
    spec.extra_commands = None;
    spec.fake_root_commands = None;
    Ok(spec)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (root, drv, out) = match args.as_slice() {
        [r, d, o] | [r, d, o, _] => (r, d, o),
        _ => bail!("usage: rnix-bench-imagewrite ROOT DRV (OUT [gz|none] | --paths)"),
    };
    let st = LocalStore::open(root).with_context(|| format!("opening the store at {root}"))?;
    let mut spec = spec_of(&st, drv)?;
    if out == "--paths" {
        for c in &spec.closure {
            println!("{}", c.real.display());
        }
        return Ok(());
    }
    spec.compressor = args.get(3).map(String::as_str).unwrap_or("gz").parse()?;
    let out = PathBuf::from(out);
    dockertools::build_image(&spec, &NoScripts, &out)
}
