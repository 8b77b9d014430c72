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
    r.register("rnix-docker-merge", docker_merge);
    r.register("rnix-docker-export", docker_export);
}

/// The physical file behind the logical store path `logical` (an input of the build), its
/// symlinks followed inside the input closure only ([`store::confine`]).
fn input_file(ctx: &BuildCtx, logical: &str) -> Result<std::path::PathBuf> {
    use store::confine::{Resolution, View};
    let store_dir = Path::new(logical)
        .parent()
        .context("not a store path")?
        .to_path_buf();
    let map = |name: &str| {
        let sp = StorePath::from_absolute_prefix(&format!("{}/{name}", store_dir.display()))
            .ok()?
            .0;
        ctx.input_closure
            .contains(&sp)
            .then(|| ctx.store.real_path(&sp))
    };
    let view = View::Store {
        dir: &store_dir,
        map: &map,
    };
    match view.resolve(Path::new(logical), true) {
        Resolution::Found {
            physical, metadata, ..
        } if metadata.is_file() => Ok(physical),
        Resolution::Found { .. } => bail!("{logical} is not a file (expected an image tarball)"),
        _ => bail!("{logical} does not lead to a file in the build's inputs"),
    }
}

/// `builtin:rnix-docker-merge`: dockerTools.mergeImages (`images`: the image tarballs).
fn docker_merge(ctx: &mut BuildCtx) -> Result<()> {
    let images = ctx
        .env
        .get("images")
        .map(String::as_str)
        .unwrap_or("")
        .split_whitespace()
        .map(|p| input_file(ctx, p).with_context(|| format!("mergeImages: {p}")))
        .collect::<Result<Vec<_>>>()?;
    let scratch = ctx.build_dir().join("merge");
    let out = ctx.out()?.to_path_buf();
    dockertools::merge::merge_images(&images, &out, Some(&scratch))
}

/// `builtin:rnix-docker-export`: dockerTools.exportImage (`fromImage`, `fromImageName`,
/// `fromImageTag`).
fn docker_export(ctx: &mut BuildCtx) -> Result<()> {
    let opt = |k: &str| ctx.env.get(k).filter(|v| !v.is_empty()).cloned();
    let from = opt("fromImage").context("exportImage: fromImage is empty")?;
    let (name, tag) = (opt("fromImageName"), opt("fromImageTag"));
    let image = input_file(ctx, &from).with_context(|| format!("exportImage: fromImage {from}"))?;
    let scratch = ctx.build_dir().join("export");
    let out = ctx.out()?.to_path_buf();
    dockertools::export::export_image(
        &image,
        name.as_deref(),
        tag.as_deref(),
        &out,
        Some(&scratch),
    )
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
            let script = format!(
                "cd {} && {}",
                shell_quote(&root_in_sandbox(&ctx, root_dir)?),
                script
            );
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
    for p in env
        .get("copyToRoot")
        .map(String::as_str)
        .unwrap_or("")
        .split_whitespace()
    {
        let (sp, _) = StorePath::from_absolute_prefix(p)?;
        roots.push(sp);
    }
    // The store paths of the config's string context (`Cmd`, `Entrypoint`, `Env`, …) are
    // in the image with their closure, as nixpkgs does (its config JSON is a file whose
    // references are scanned): the input paths whose hash part occurs in the config JSON.
    let config = env.get("config").map(String::as_str).unwrap_or("");
    roots.extend(references_in(config.as_bytes(), &ctx.input_closure));
    // The closure is also what symlinks in the contents may lead to (they are resolved
    // inside it only), so it is given even when `includeStorePaths` leaves it out of the
    // image.
    let image_closure = ctx.closure(&roots)?;
    let entry = |p: &StorePath| -> Result<ClosureEntry> {
        let refs = ctx.store.references(p)?;
        Ok(ClosureEntry {
            logical: p.to_absolute(),
            real: ctx.store.real_path(p),
            references: refs.iter().map(|r| r.to_absolute()).collect(),
        })
    };
    let closure = image_closure
        .iter()
        .map(entry)
        .collect::<Result<Vec<_>>>()?;
    // What the scripts write may refer to any other input (nixpkgs scans the layer it
    // builds for references to its inputs).
    let has_scripts = ["extraCommands", "runAsRoot", "fakeRootCommands"]
        .iter()
        .any(|k| env.get(*k).is_some_and(|v| !v.trim().is_empty()));
    let script_candidates = if has_scripts {
        ctx.input_closure
            .iter()
            .filter(|p| !image_closure.contains(p))
            .map(entry)
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let mut spec =
        dockertools::spec_from_env(&|k| env.get(k).cloned(), &|p| ctx.real_path(p), closure)?;
    spec.script_candidates = script_candidates;
    // Scratch trees in the build directory (under the store's state directory, removed with
    // the build, or by the next run or GC when the build was killed).
    spec.scratch_dir = Some(ctx.build_dir().join("image"));
    let out = ctx.out()?.to_path_buf();
    let logical_out = ctx
        .output_paths
        .get("out")
        .map(|p| p.to_absolute())
        .unwrap_or_default();
    let phys_store = ctx.store.store_dir().to_path_buf();
    let build_dir = ctx.build_dir();
    let shell = env.get("shell").cloned().unwrap_or_default();
    let stream = env.get("stream").map(|v| v == "1").unwrap_or(false);
    let runner = CtxRunner {
        ctx: RefCell::new(ctx),
        shell,
    };
    if !stream {
        return dockertools::build_image(&spec, &runner, &out);
    }
    if spec.tag.is_none() {
        spec.tag = Some(dockertools::derive_tag(Path::new(&logical_out))?);
    }
    let conf = dockertools::prepare_stream(&spec, &runner, &build_dir.join("stream"))?;
    write_stream_script(&conf, &phys_store, &out)
}

/// The paths of `candidates` whose hash part occurs in `data`.
fn references_in(
    data: &[u8],
    candidates: &std::collections::BTreeSet<StorePath>,
) -> Vec<StorePath> {
    let mut sc =
        store::references::RefScanner::new(candidates.iter().map(|p| p.hash_part().to_string()));
    sc.feed(data);
    let found = sc.found();
    candidates
        .iter()
        .filter(|p| found.contains(p.hash_part()))
        .cloned()
        .collect()
}

/// Marker between the shell part and the data of a `streamLayeredImage` executable.
const STREAM_MARKER: &str = "__RNIX_STREAM_DATA__";
/// Stands for the physical store directory in the stream data (it differs between stores).
const STORE_ROOT_VAR: &str = "$RNIX_STORE_DIR";

/// `streamLayeredImage`'s result: one executable file. A shell preamble runs
/// `rnix-store --stream-image "$0"`; after the marker come the stream configuration (one
/// JSON line, physical store paths written as `$RNIX_STORE_DIR/…`) and the customisation layer (a tar).
fn write_stream_script(conf_path: &Path, phys_store: &Path, out: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let mut conf: serde_json::Value = serde_json::from_slice(&std::fs::read(conf_path)?)?;
    let layer_path = conf["customisation_layer"]
        .as_str()
        .context("stream configuration without customisation_layer")?
        .to_string();
    let layer = std::fs::read(&layer_path).with_context(|| format!("reading {layer_path}"))?;
    conf["customisation_layer"] = serde_json::Value::String(String::new());
    map_paths(&mut conf, &|s| {
        Path::new(s)
            .strip_prefix(phys_store)
            .ok()
            .map(|rest| format!("{STORE_ROOT_VAR}/{}", rest.display()))
    });
    let mut f = std::fs::File::create(out)?;
    write!(
        f,
        "#!/bin/sh\n# streamLayeredImage: writes the image to standard output (e.g. `| docker load`).\n\
         exec rnix-store --stream-image \"$0\"\nexit 1\n{STREAM_MARKER}\n{}\n",
        serde_json::to_string(&conf)?
    )?;
    f.write_all(&layer)?;
    f.sync_all()?;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Rewrite every string of a JSON value for which `f` gives a replacement.
fn map_paths(v: &mut serde_json::Value, f: &dyn Fn(&str) -> Option<String>) {
    match v {
        serde_json::Value::String(s) => {
            if let Some(n) = f(s) {
                *s = n;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| map_paths(x, f)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| map_paths(x, f)),
        _ => {}
    }
}

/// `rnix-store --stream-image FILE`: what a `streamLayeredImage` executable runs. FILE is
/// the executable itself (physically `ROOT/nix/store/<name>`), which gives the store root.
pub fn op_stream_image(
    _store: &store::local::LocalStore,
    _flags: &[String],
    args: &[String],
) -> Result<i32> {
    let file = args
        .first()
        .context("--stream-image needs the stream executable as argument")?;
    let file = std::fs::canonicalize(file).with_context(|| format!("cannot read {file}"))?;
    let data = std::fs::read(&file)?;
    let marker = format!("\n{STREAM_MARKER}\n");
    let start = data
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .map(|i| i + marker.len())
        .with_context(|| format!("{} is not a streamLayeredImage executable", file.display()))?;
    let nl = data[start..]
        .iter()
        .position(|&b| b == b'\n')
        .context("truncated stream data")?
        + start;
    let mut conf: serde_json::Value = serde_json::from_slice(&data[start..nl])?;
    // ROOT/nix/store/<name> -> ROOT/nix/store
    let phys_store = file
        .parent()
        .context("stream executable outside a store")?
        .to_path_buf();
    map_paths(&mut conf, &|s| {
        let rest = s.strip_prefix(STORE_ROOT_VAR)?;
        // Only paths inside the store (a `..` would be left unmapped, hence not found).
        if Path::new(rest)
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return None;
        }
        Some(
            phys_store
                .join(rest.trim_start_matches('/'))
                .display()
                .to_string(),
        )
    });
    // The customisation layer is read in place (no temporary copy to leave behind).
    conf["customisation_layer"] = serde_json::Value::String(file.display().to_string());
    conf["customisation_layer_offset"] = serde_json::Value::from(nl as u64 + 1);
    let conf: dockertools::StreamConf = serde_json::from_value(conf)
        .with_context(|| format!("{}: invalid stream data", file.display()))?;
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    dockertools::stream_image_conf(&conf, &mut w, None)?;
    use std::io::Write;
    w.flush()?;
    Ok(0)
}
