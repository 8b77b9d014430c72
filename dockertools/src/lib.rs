//! dockertools: docker-archive and OCI image writers with nixpkgs `dockerTools` semantics.
//!
//! * [`build_image`] writes `buildImage` (one layer over an optional base image) or
//!   `buildLayeredImage` (popularity layering) archives, gzip/zstd/uncompressed, in the
//!   docker-archive layout or the OCI/docker hybrid.
//! * [`prepare_stream`] + [`stream_image`] implement `streamLayeredImage`: the first runs at
//!   build time (customisation layer, layer plan, a JSON config), the second writes the
//!   image to any `Write` at run time.
//!
//! Scripts (`runAsRoot`, `extraCommands`, `fakeRootCommands`) are run through a
//! [`ScriptRunner`] supplied by the caller.
//!
//! Everything is deterministic: entries sorted, mtime [`layer::FIXED_MTIME`], owner 0:0
//! (ownership changed by a root script is kept), no xattrs, hard links stored as files,
//! gzip without name/time.

pub mod archive;
pub mod base;
pub mod export;
pub mod fakeroot;
pub mod layer;
pub mod merge;
pub mod popularity;
pub mod tree;

use anyhow::{bail, Context, Result};
use archive::{image_config, write_archive, Layer, Layout};
use layer::{add_tree, Entries, Entry, Source};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tree::StoreMap;

/// Runs a shell script for the image build.
pub trait ScriptRunner {
    /// * `as_root == false` (`extraCommands`): run `script` with the builder's shell, as the
    ///   building user, with `root_dir` as the working directory (paths are relative:
    ///   `mkdir -p tmp`).
    /// * `as_root == true` (`runAsRoot`, `fakeRootCommands`): run `script` as uid 0 with
    ///   `root_dir` as `/` (chroot), working directory `/`, and the build's input closure
    ///   (including the shell) visible at `/nix/store` (mounted over `root_dir/nix/store`,
    ///   which exists and is empty when the runner is called).
    ///
    /// The runner must leave no trace in `root_dir` other than what the script did
    /// (remove any mount points it created outside `nix/store`). Writes under `/nix/store`
    /// are not captured. A non-zero exit status must be returned as an error.
    fn run(&self, root_dir: &Path, script: &str, as_root: bool) -> Result<()>;
}

/// Compression of the whole image tarball.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compressor {
    Gz,
    Zstd,
    None,
}

impl FromStr for Compressor {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gz" | "gzip" => Ok(Compressor::Gz),
            "zstd" => Ok(Compressor::Zstd),
            "none" | "" => Ok(Compressor::None),
            other => bail!("unknown compressor {other:?} (expected gz, zstd or none)"),
        }
    }
}

/// Archive layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// docker-archive, as nixpkgs writes it.
    Docker,
    /// OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`) plus a docker
    /// `manifest.json` pointing into the blobs, as `docker save` of Docker 25 writes.
    OciHybrid,
}

impl FromStr for Format {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "docker" | "" => Ok(Format::Docker),
            "oci" | "oci-hybrid" => Ok(Format::OciHybrid),
            other => bail!("unknown image format {other:?} (expected docker or oci)"),
        }
    }
}

/// One `copyToRoot`/`contents` input: a store path and where it physically is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootInput {
    pub logical: String,
    pub real: PathBuf,
}

/// One store path of the closure to put under `/nix/store` (the caller computes the
/// closure). `references` (logical store paths) are used by the layered layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosureEntry {
    pub logical: String,
    pub real: PathBuf,
    #[serde(default)]
    pub references: Vec<String>,
}

/// Everything `buildImage`/`buildLayeredImage` take. Build with [`ImageSpec::new`] and set
/// fields.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub name: String,
    /// `None`: the hash part of the output path's file name, as nixpkgs does.
    pub tag: Option<String>,
    pub copy_to_root: Vec<RootInput>,
    pub keep_contents_dirlinks: bool,
    pub closure: Vec<ClosureEntry>,
    /// Store paths the scripts (`extraCommands`, `runAsRoot`, `fakeRootCommands`) may
    /// refer to in what they write (the build's input closure, minus `closure`), with
    /// their references. After the scripts ran, those whose hash part occurs in the image
    /// root (file contents, symlink targets, names) are added with their closure, as
    /// nixpkgs' reference scan of the layer it builds does.
    pub script_candidates: Vec<ClosureEntry>,
    /// The shell (a logical store path) that runs the scripts; with it, `fakeRootCommands`
    /// get the recording `chown`/`chgrp` of [`fakeroot`].
    pub shell: Option<String>,
    /// The user's `config` attrset (`Cmd`, `Env`, ...); `null` for none.
    pub config: Value,
    /// RFC 3339 or `"now"`; default `1970-01-01T00:00:01Z`.
    pub created: String,
    pub architecture: String,
    pub compressor: Compressor,
    pub from_image: Option<PathBuf>,
    pub from_image_name: Option<String>,
    pub from_image_tag: Option<String>,
    pub run_as_root: Option<String>,
    pub extra_commands: Option<String>,
    pub fake_root_commands: Option<String>,
    pub include_store_paths: bool,
    pub layered: bool,
    /// Layered only: at most this many layers in the image (base layers included).
    pub max_layers: usize,
    pub format: Format,
    /// Layered only: store paths at most this big that only the contents reach go into
    /// the customisation layer instead of a layer of their own (see
    /// [`popularity::plan_layers`]). Default 1 MiB.
    pub small_path_bytes: u64,
    /// Where temporary trees go (the image root, the unpacked base image); `None`: the
    /// system's temporary directory. Builders give a directory of the build (inside the
    /// store's state directory), so a killed build leaves nothing elsewhere.
    pub scratch_dir: Option<PathBuf>,
}

impl ImageSpec {
    pub fn new(name: &str) -> Self {
        ImageSpec {
            name: name.to_string(),
            tag: None,
            copy_to_root: Vec::new(),
            keep_contents_dirlinks: false,
            closure: Vec::new(),
            script_candidates: Vec::new(),
            shell: None,
            config: Value::Null,
            created: "1970-01-01T00:00:01Z".to_string(),
            architecture: "amd64".to_string(),
            compressor: Compressor::Gz,
            from_image: None,
            from_image_name: None,
            from_image_tag: None,
            run_as_root: None,
            extra_commands: None,
            fake_root_commands: None,
            include_store_paths: true,
            layered: false,
            max_layers: 100,
            format: Format::Docker,
            small_path_bytes: 1 << 20,
            scratch_dir: None,
        }
    }
}

/// A temporary directory in `dir` (or the system's temporary directory), removed on drop.
pub fn scratch(dir: Option<&Path>) -> Result<tempfile::TempDir> {
    let b = {
        let mut b = tempfile::Builder::new();
        b.prefix("rnix-image-");
        b
    };
    match dir {
        Some(d) => {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            b.tempdir_in(d)
        }
        None => b.tempdir(),
    }
    .context("creating a temporary directory")
}

/// The tag nixpkgs uses when none is given: the hash part of the output's file name.
pub fn derive_tag(out: &Path) -> Result<String> {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("cannot derive an image tag from {}", out.display()))?;
    let hash = name.split('-').next().unwrap_or(name);
    if hash.is_empty() {
        bail!("cannot derive an image tag from {}", out.display());
    }
    Ok(hash.to_string())
}

fn check_name(name: &str) -> Result<String> {
    let n = name.to_lowercase();
    let ok = !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !ok {
        bail!("invalid image name {name:?}: use letters, digits and . _ - / only");
    }
    Ok(n)
}

fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        bail!("invalid image tag {tag:?}: use letters, digits and . _ - (at most 128)");
    }
    Ok(())
}

/// Validate `created`; `"now"` becomes the current UTC time.
pub fn resolve_created(created: &str) -> Result<String> {
    use time::format_description::well_known::Rfc3339;
    if created == "now" {
        let now = time::OffsetDateTime::now_utc().replace_nanosecond(0)?;
        return Ok(now.format(&Rfc3339)?);
    }
    time::OffsetDateTime::parse(created, &Rfc3339).with_context(|| {
        format!(
            "invalid created date {created:?}: expected RFC 3339 (1970-01-01T00:00:01Z) or \"now\""
        )
    })?;
    Ok(created.to_string())
}

/// The user's config with the base image's `Env` first (duplicates: the last wins, at the
/// position of the first), as nixpkgs does.
fn merge_config(user: &Value, base: Option<&Value>) -> Result<Value> {
    let mut cfg = match user {
        Value::Null => Value::Object(Default::default()),
        Value::Object(_) => user.clone(),
        other => bail!("image config must be an attribute set, got {other}"),
    };
    if let Some(base_env) = base.and_then(|b| b["config"]["Env"].as_array()) {
        let mine = cfg["Env"].as_array().cloned().unwrap_or_default();
        let mut keys: Vec<String> = Vec::new();
        let mut vals: std::collections::HashMap<String, Value> = Default::default();
        for e in base_env.iter().chain(mine.iter()) {
            let s = e.as_str().unwrap_or_default();
            let k = s.split('=').next().unwrap_or_default().to_string();
            if !vals.contains_key(&k) {
                keys.push(k.clone());
            }
            vals.insert(k, e.clone());
        }
        let env: Vec<Value> = keys.into_iter().map(|k| vals.remove(&k).unwrap()).collect();
        if !env.is_empty() {
            cfg["Env"] = Value::Array(env);
        }
    }
    Ok(cfg)
}

fn store_map(spec: &ImageSpec) -> Result<StoreMap> {
    let mut m = StoreMap::default();
    for c in &spec.closure {
        m.insert(&c.logical, &c.real)?;
    }
    for r in &spec.copy_to_root {
        if tree::store_name(&r.logical).is_some() {
            m.insert(&r.logical, &r.real)?;
        }
    }
    Ok(m)
}

/// Check the inputs; returns each `copyToRoot` input as a directory `(logical, physical)`,
/// its symlinks resolved inside the store only.
fn check_inputs(spec: &ImageSpec, map: &StoreMap) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut dirs = Vec::new();
    for r in &spec.copy_to_root {
        tree::store_name(&r.logical).with_context(|| {
            format!("copyToRoot input {} is not a path in /nix/store", r.logical)
        })?;
        let d = tree::input_dir(&r.logical, map).with_context(|| {
            format!(
                "copyToRoot input {} (looked at {})",
                r.logical,
                r.real.display()
            )
        })?;
        dirs.push(d);
    }
    for c in &spec.closure {
        tree::store_name(&c.logical)
            .with_context(|| format!("closure entry {} is not a path in /nix/store", c.logical))?;
        fs::symlink_metadata(&c.real).with_context(|| {
            format!(
                "store path {} does not exist (looked at {})",
                c.logical,
                c.real.display()
            )
        })?;
    }
    Ok(dirs)
}

fn dir_entry(mode: u32) -> Entry {
    Entry {
        source: Source::Dir,
        mode,
        uid: 0,
        gid: 0,
    }
}

/// Add store paths under `nix/store/<name>` with `nix` and `nix/store` at 0555.
fn add_store_paths<'a>(
    entries: &mut Entries,
    paths: impl IntoIterator<Item = (&'a str, &'a Path)>,
) -> Result<()> {
    let mut any = false;
    for (logical, real) in paths {
        let name = tree::store_name(logical)
            .with_context(|| format!("{logical} is not a path in /nix/store"))?;
        add_tree(entries, &format!("nix/store/{name}"), real)?;
        any = true;
    }
    if any {
        entries.insert("nix".into(), dir_entry(0o555));
        entries.insert("nix/store".into(), dir_entry(0o555));
    }
    Ok(())
}

/// The steps after the root tree is laid out, shared by both image kinds: directory modes,
/// the scripts, `/tmp`, and the store paths the scripts' output refers to (with their
/// closure). Returns the owners `fakeRootCommands` gave and those store paths.
fn finish_root(
    spec: &ImageSpec,
    root: &Path,
    modes: tree::DirModes,
    runner: &dyn ScriptRunner,
) -> Result<(Vec<fakeroot::Owner>, Vec<ClosureEntry>)> {
    modes.apply_writable()?;
    let (scripted, owners) = run_scripts(spec, root, runner)?;
    modes.restore()?;
    ensure_tmp(root)?;
    let script_refs = if scripted && spec.include_store_paths {
        script_references(spec, root)?
    } else {
        Vec::new()
    };
    Ok((owners, script_refs))
}

/// Run the scripts over `root` in nixpkgs' order: runAsRoot then extraCommands
/// (buildImage's root layer), extraCommands then fakeRootCommands (layered images).
/// `/tmp` is created (1777) before runAsRoot, as nixpkgs' VM does; otherwise the callers
/// add it after the scripts when they did not make one (so `mkdir -m 1777 tmp` works).
/// `nix/store` exists while they run and is removed afterwards when it was created for
/// them and is still empty.
/// Returns whether any script ran, and the owners `fakeRootCommands` gave.
fn run_scripts(
    spec: &ImageSpec,
    root: &Path,
    runner: &dyn ScriptRunner,
) -> Result<(bool, Vec<fakeroot::Owner>)> {
    let scripts: Vec<(&str, &String, bool)> = [
        ("runAsRoot", spec.run_as_root.as_ref(), true),
        ("extraCommands", spec.extra_commands.as_ref(), false),
        ("fakeRootCommands", spec.fake_root_commands.as_ref(), true),
    ]
    .into_iter()
    .filter_map(|(n, s, r)| s.filter(|s| !s.trim().is_empty()).map(|s| (n, s, r)))
    .collect();
    if scripts.is_empty() {
        return Ok((false, Vec::new()));
    }
    let nix = root.join("nix");
    let store = nix.join("store");
    // The store, /dev and /proc are mounted there: they must be real directories of the
    // tree, if present (a symlink would make the mount, prepared outside the chroot, land
    // elsewhere, e.g. on the host's /etc).
    for d in [&nix, &store, &root.join("dev"), &root.join("proc")] {
        if let Ok(md) = fs::symlink_metadata(d) {
            if !md.is_dir() {
                bail!(
                    "cannot run the image scripts: /{} in the image is a symlink or a file, not a directory",
                    d.strip_prefix(root).unwrap_or(d).display()
                );
            }
        }
    }
    let created_nix = fs::symlink_metadata(&nix).is_err();
    let created_store = fs::symlink_metadata(&store).is_err();
    fs::create_dir_all(&store).context("creating nix/store in the image root")?;
    let mut owners = Vec::new();
    for (what, script, as_root) in scripts {
        if what == "runAsRoot" {
            ensure_tmp(root)?;
        }
        // Both scripts that run as root get the recording chown/chgrp: first on PATH
        // (fakeRootCommands' PATH puts $RNIX_FAKEROOT_BIN first) and as exported shell
        // functions, which win over a PATH the script sets itself (runAsRoot scripts put
        // coreutils and shadow first, as nixpkgs' shadowSetup does).
        let fake = as_root && spec.shell.is_some();
        let text;
        let script = if let (true, Some(shell)) = (fake, &spec.shell) {
            if fs::symlink_metadata(root.join(fakeroot::DIR)).is_ok() {
                bail!("cannot run {what}: /{} exists in the image", fakeroot::DIR);
            }
            fakeroot::install(root, shell)?;
            let bin = fakeroot::BIN_IN_ROOT;
            text = format!(
                "export RNIX_FAKEROOT_BIN={bin}\n\
                 chown() {{ {bin}/chown \"$@\"; }}\n\
                 chgrp() {{ {bin}/chgrp \"$@\"; }}\n\
                 export -f chown chgrp\n{script}"
            );
            &text
        } else {
            script
        };
        let r = runner
            .run(root, script, as_root)
            .with_context(|| format!("{what} failed"));
        if fake {
            owners.extend(fakeroot::collect(root)?);
        }
        r?;
    }
    if created_store {
        let _ = fs::remove_dir(&store);
    }
    if created_nix {
        let _ = fs::remove_dir(&nix);
    }
    Ok((true, owners))
}

/// The store paths of `spec.script_candidates` that the tree at `root` refers to (by hash
/// part, in file contents, symlink targets and file names), with their closure inside the
/// candidates. Sorted by logical path.
fn script_references(spec: &ImageSpec, root: &Path) -> Result<Vec<ClosureEntry>> {
    if spec.script_candidates.is_empty() {
        return Ok(Vec::new());
    }
    let hash_of = |logical: &str| -> Option<String> {
        tree::store_name(logical).and_then(|n| n.get(..32).map(str::to_string))
    };
    let mut sc = store::references::RefScanner::new(
        spec.script_candidates
            .iter()
            .filter_map(|c| hash_of(&c.logical)),
    );
    scan_tree(root, &mut sc).context("scanning the image root for store references")?;
    let found = sc.found();
    let by_path: std::collections::BTreeMap<&str, &ClosureEntry> = spec
        .script_candidates
        .iter()
        .map(|c| (c.logical.as_str(), c))
        .collect();
    let mut todo: Vec<&str> = spec
        .script_candidates
        .iter()
        .filter(|c| hash_of(&c.logical).is_some_and(|h| found.contains(&h)))
        .map(|c| c.logical.as_str())
        .collect();
    let mut seen: std::collections::BTreeSet<&str> = Default::default();
    while let Some(p) = todo.pop() {
        if !seen.insert(p) {
            continue;
        }
        if let Some(c) = by_path.get(p) {
            for r in &c.references {
                if by_path.contains_key(r.as_str()) {
                    todo.push(r.as_str());
                }
            }
        }
    }
    Ok(seen.into_iter().map(|p| by_path[p].clone()).collect())
}

/// Feed every name, symlink target and file content under `dir` to `sc` (not following
/// symlinks; `nix/store` at the top is skipped: it is where the store was mounted).
fn scan_tree(dir: &Path, sc: &mut store::references::RefScanner) -> Result<()> {
    fn walk(d: &Path, top: bool, sc: &mut store::references::RefScanner) -> Result<()> {
        for (name, p) in layer::sorted_children(d)? {
            if top && name == "nix" {
                let store = p.join("store");
                for (n, c) in layer::sorted_children(&p).unwrap_or_default() {
                    if c != store {
                        sc.feed(n.as_bytes());
                        walk_one(&c, sc)?;
                    }
                }
                continue;
            }
            sc.feed(name.as_bytes());
            walk_one(&p, sc)?;
        }
        Ok(())
    }
    fn walk_one(p: &Path, sc: &mut store::references::RefScanner) -> Result<()> {
        let md = fs::symlink_metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if md.file_type().is_symlink() {
            use std::os::unix::ffi::OsStrExt;
            sc.feed(fs::read_link(p)?.as_os_str().as_bytes());
        } else if md.is_dir() {
            walk(p, false, sc)?;
        } else if md.is_file() {
            let mut f =
                fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
            io::copy(&mut f, sc)?;
        }
        Ok(())
    }
    walk(dir, true, sc)
}

fn ensure_tmp(root: &Path) -> Result<()> {
    let tmp = root.join("tmp");
    if fs::symlink_metadata(&tmp).is_err() {
        fs::create_dir(&tmp).context("creating /tmp in the image root")?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))?;
    }
    Ok(())
}

/// Writer for the compressed output.
enum OutWriter {
    Plain(BufWriter<fs::File>),
    Gz(flate2::write::GzEncoder<BufWriter<fs::File>>),
    Zstd(zstd::Encoder<'static, BufWriter<fs::File>>),
}

impl OutWriter {
    fn create(path: &Path, c: Compressor) -> Result<OutWriter> {
        let f = BufWriter::new(
            fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        Ok(match c {
            Compressor::None => OutWriter::Plain(f),
            // GzBuilder writes mtime 0 and no file name: byte-reproducible.
            Compressor::Gz => {
                OutWriter::Gz(flate2::GzBuilder::new().write(f, flate2::Compression::default()))
            }
            Compressor::Zstd => OutWriter::Zstd(zstd::Encoder::new(f, 3)?),
        })
    }

    fn finish(self) -> Result<()> {
        let mut f = match self {
            OutWriter::Plain(f) => f,
            OutWriter::Gz(g) => g.finish()?,
            OutWriter::Zstd(z) => z.finish()?,
        };
        f.flush()?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all().ok();
        Ok(())
    }
}

impl Write for OutWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            OutWriter::Plain(w) => w.write(buf),
            OutWriter::Gz(w) => w.write(buf),
            OutWriter::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            OutWriter::Plain(w) => w.flush(),
            OutWriter::Gz(w) => w.flush(),
            OutWriter::Zstd(w) => w.flush(),
        }
    }
}

/// Build the image described by `spec` into the file `out` (nixpkgs `buildImage`, or
/// `buildLayeredImage` when `spec.layered`). On error `out` is removed.
pub fn build_image(spec: &ImageSpec, runner: &dyn ScriptRunner, out: &Path) -> Result<()> {
    let r = build_image_inner(spec, runner, out);
    if r.is_err() {
        let _ = fs::remove_file(out);
    }
    r.with_context(|| format!("building image {}", spec.name))
}

fn build_image_inner(spec: &ImageSpec, runner: &dyn ScriptRunner, out: &Path) -> Result<()> {
    if spec.layered {
        let work = scratch(spec.scratch_dir.as_deref())?;
        let conf = prepare_stream_with_tag(spec, runner, work.path(), out)?;
        let mut w = OutWriter::create(out, spec.compressor)?;
        stream_image_in(&conf, &mut w, spec.scratch_dir.as_deref())?;
        return w.finish();
    }
    let name = check_name(&spec.name)?;
    let tag = match &spec.tag {
        Some(t) => t.clone(),
        None => derive_tag(out)?,
    };
    check_tag(&tag)?;
    let created = resolve_created(&spec.created)?;
    let map = store_map(spec)?;
    let inputs = check_inputs(spec, &map)?;
    let base = match &spec.from_image {
        Some(p) => Some(base::load(
            p,
            spec.from_image_name.as_deref(),
            spec.from_image_tag.as_deref(),
            spec.scratch_dir.as_deref(),
        )?),
        None => None,
    };

    let work = scratch(spec.scratch_dir.as_deref())?;
    let root = work.path().join("root");
    fs::create_dir(&root)?;
    let mut base_store: std::collections::HashSet<String> = Default::default();
    let before = if let Some(b) = &base {
        let mut modes = std::collections::BTreeMap::new();
        for (p, _) in &b.layers {
            let f = fs::File::open(p)?;
            tree::extract_layer(&root, io::BufReader::new(f), &mut modes)
                .context("unpacking the base image")?;
        }
        let store = root.join("nix/store");
        if store.is_dir() {
            for (n, _) in layer::sorted_children(&store)? {
                base_store.insert(n);
            }
        }
        let mut v: Vec<_> = modes.into_iter().collect();
        v.sort_by(|a, b| b.0.cmp(&a.0));
        for (p, m) in v {
            if fs::symlink_metadata(&p)
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                fs::set_permissions(&p, fs::Permissions::from_mode(m))?;
            }
        }
        tree::snapshot(&root)?
    } else {
        Default::default()
    };

    let mut modes = tree::DirModes::default();
    for (input, (logical, real)) in spec.copy_to_root.iter().zip(&inputs) {
        tree::copy_contents(
            &root,
            real,
            logical,
            &root,
            &map,
            spec.keep_contents_dirlinks,
            &mut modes,
        )
        .with_context(|| format!("copying {} into the image", input.logical))?;
    }
    let (owners, script_refs) = finish_root(spec, &root, modes, runner)?;
    let mut entries = tree::capture(&root, &before)?;
    fakeroot::apply(&mut entries, &owners);
    if spec.include_store_paths {
        let mut closure: Vec<&ClosureEntry> = spec
            .closure
            .iter()
            .chain(&script_refs)
            .filter(|c| !base_store.contains(tree::store_name(&c.logical).unwrap_or("")))
            .collect();
        closure.sort_by(|a, b| a.logical.cmp(&b.logical));
        closure.dedup_by(|a, b| a.logical == b.logical);
        add_store_paths(
            &mut entries,
            closure
                .iter()
                .map(|c| (c.logical.as_str(), c.real.as_path())),
        )?;
    }
    layer::add_missing_parents(&mut entries, 0o755);

    let (mut layers, base_history) = base_layers(base.as_ref())?;
    let base_count = layers.len();
    layers.push(Layer::from_entries(
        entries,
        format!("{name}: contents and store paths"),
    )?);
    let cfg = merge_config(&spec.config, base.as_ref().map(|b| &b.config))?;
    let config = image_config(
        &layers,
        &base_history,
        base_count,
        &created,
        &spec.architecture,
        cfg,
    );
    let mut w = OutWriter::create(out, spec.compressor)?;
    write_archive(
        &layers,
        &config,
        &name,
        &tag,
        spec.format,
        Layout::Legacy,
        &mut w,
    )?;
    w.finish()
}

/// A store path as recorded in the stream configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorePathRef {
    pub logical: String,
    pub real: PathBuf,
}

/// The configuration `streamLayeredImage`'s executable reads (written by
/// [`prepare_stream`], read by [`stream_image`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamConf {
    pub name: String,
    pub tag: String,
    /// As given (`"now"` is resolved when streaming).
    pub created: String,
    pub architecture: String,
    pub config: Value,
    pub from_image: Option<PathBuf>,
    pub from_image_name: Option<String>,
    pub from_image_tag: Option<String>,
    pub format: Format,
    /// Store layers in order; each is the list of store paths it holds.
    pub store_layers: Vec<Vec<StorePathRef>>,
    /// The prebuilt customisation layer (uncompressed tar) and its sha256.
    pub customisation_layer: PathBuf,
    /// Where the layer starts in that file (it may follow other data).
    #[serde(default)]
    pub customisation_layer_offset: u64,
    pub customisation_diff_id: String,
    pub customisation_paths: Vec<String>,
}

/// The layers of a base image (`fromImage`), in order, and its history entries.
fn base_layers(base: Option<&base::BaseImage>) -> Result<(Vec<Layer>, Vec<Value>)> {
    let Some(b) = base else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut layers = Vec::new();
    for (i, (p, d)) in b.layers.iter().enumerate() {
        layers.push(Layer::from_file(
            p.clone(),
            d.clone(),
            format!("base layer {}", i + 1),
        )?);
    }
    let history = b.config["history"].as_array().cloned().unwrap_or_default();
    Ok((layers, history))
}

/// Build-time part of `streamLayeredImage`: plan the layers, build the customisation
/// layer (contents symlink farm, small top store paths, scripts) into `dir`, and write
/// `dir/stream.json`. Returns the path of that JSON, to be given to [`stream_image`].
/// The tag defaults to the hash part of `dir`'s file name.
pub fn prepare_stream(spec: &ImageSpec, runner: &dyn ScriptRunner, dir: &Path) -> Result<PathBuf> {
    prepare_stream_with_tag(spec, runner, dir, dir)
        .with_context(|| format!("preparing image {}", spec.name))
}

fn prepare_stream_with_tag(
    spec: &ImageSpec,
    runner: &dyn ScriptRunner,
    dir: &Path,
    tag_from: &Path,
) -> Result<PathBuf> {
    let name = check_name(&spec.name)?;
    let tag = match &spec.tag {
        Some(t) => t.clone(),
        None => derive_tag(tag_from)?,
    };
    check_tag(&tag)?;
    resolve_created(&spec.created)?;
    merge_config(&spec.config, None)?;
    let map = store_map(spec)?;
    let inputs = check_inputs(spec, &map)?;
    if spec.max_layers < 2 {
        bail!("maxLayers must be at least 2 (got {})", spec.max_layers);
    }
    let base_layers = match &spec.from_image {
        Some(p) => base::load(
            p,
            spec.from_image_name.as_deref(),
            spec.from_image_tag.as_deref(),
            spec.scratch_dir.as_deref(),
        )?
        .layers
        .len(),
        None => 0,
    };
    if base_layers + 2 > spec.max_layers {
        bail!(
            "maxLayers {} leaves no room: the base image has {} layers and one more is needed for the customisation layer and at least one for the store",
            spec.max_layers,
            base_layers
        );
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;

    // Customisation layer.
    let work = scratch(spec.scratch_dir.as_deref())?;
    let root = work.path().join("root");
    fs::create_dir(&root)?;
    let mut modes = tree::DirModes::default();
    for (input, (_, real)) in spec.copy_to_root.iter().zip(&inputs) {
        tree::link_farm(real, Path::new(&input.logical), &root, &map, &mut modes)
            .with_context(|| format!("linking {} into the image", input.logical))?;
    }
    let (owners, script_refs) = finish_root(spec, &root, modes, runner)?;

    // Layer plan.
    let all: Vec<&ClosureEntry> = spec.closure.iter().chain(&script_refs).collect();
    let reals: std::collections::HashMap<&str, &Path> = all
        .iter()
        .map(|c| (c.logical.as_str(), c.real.as_path()))
        .collect();
    let plan = if spec.include_store_paths {
        let nodes: Vec<popularity::Node> = all
            .iter()
            .map(|c| popularity::Node {
                path: &c.logical,
                references: &c.references,
            })
            .collect();
        let roots: Vec<String> = spec
            .copy_to_root
            .iter()
            .map(|r| r.logical.clone())
            .collect();
        let size_of = |p: &str| -> Result<u64> { tree_size(reals[p]) };
        popularity::plan_layers(
            &nodes,
            &roots,
            spec.max_layers - base_layers - 1,
            spec.small_path_bytes,
            &size_of,
        )?
    } else {
        popularity::LayerPlan {
            store_layers: Vec::new(),
            customisation_paths: Vec::new(),
        }
    };

    let mut entries = tree::capture(&root, &Default::default())?;
    fakeroot::apply(&mut entries, &owners);
    add_store_paths(
        &mut entries,
        plan.customisation_paths
            .iter()
            .map(|p| (p.as_str(), reals[p.as_str()])),
    )?;
    layer::add_missing_parents(&mut entries, 0o755);
    let custom_tar = dir.join("customisation-layer.tar");
    let f = BufWriter::new(
        fs::File::create(&custom_tar)
            .with_context(|| format!("cannot create {}", custom_tar.display()))?,
    );
    let mut hw = layer::HashingWriter::new(f);
    layer::write_layer(&entries, &mut hw)?;
    let (mut f, diff_id, _) = hw.finish();
    f.flush()?;

    let conf = StreamConf {
        name,
        tag,
        created: spec.created.clone(),
        architecture: spec.architecture.clone(),
        config: spec.config.clone(),
        from_image: spec.from_image.clone(),
        from_image_name: spec.from_image_name.clone(),
        from_image_tag: spec.from_image_tag.clone(),
        format: spec.format,
        store_layers: plan
            .store_layers
            .iter()
            .map(|l| {
                l.iter()
                    .map(|p| StorePathRef {
                        logical: p.clone(),
                        real: reals[p.as_str()].to_path_buf(),
                    })
                    .collect()
            })
            .collect(),
        customisation_layer: custom_tar,
        customisation_layer_offset: 0,
        customisation_diff_id: diff_id,
        customisation_paths: plan.customisation_paths.clone(),
    };
    let conf_path = dir.join("stream.json");
    fs::write(&conf_path, serde_json::to_vec_pretty(&conf)?)
        .with_context(|| format!("writing {}", conf_path.display()))?;
    Ok(conf_path)
}

/// Total size of the files under `p` (not following symlinks).
fn tree_size(p: &Path) -> Result<u64> {
    let md = fs::symlink_metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
    if md.is_dir() {
        let mut total = 0;
        for (_, c) in layer::sorted_children(p)? {
            total += tree_size(&c)?;
        }
        Ok(total)
    } else {
        Ok(md.len())
    }
}

/// Run-time part of `streamLayeredImage`: write the (uncompressed) image described by the
/// configuration at `conf_json_path` to `out`. Each store layer is hashed first, then
/// written, so nothing is stored on disk.
pub fn stream_image(conf_json_path: &Path, out: &mut dyn Write) -> Result<()> {
    stream_image_in(conf_json_path, out, None)
}

/// [`stream_image`] with the base image (if any) unpacked in `scratch`.
fn stream_image_in(
    conf_json_path: &Path,
    out: &mut dyn Write,
    scratch: Option<&Path>,
) -> Result<()> {
    let text = fs::read(conf_json_path)
        .with_context(|| format!("cannot read {}", conf_json_path.display()))?;
    let conf: StreamConf = serde_json::from_slice(&text)
        .with_context(|| format!("invalid stream configuration {}", conf_json_path.display()))?;
    stream_image_conf(&conf, out, scratch)
}

/// [`stream_image`] of a configuration already read.
pub fn stream_image_conf(
    conf: &StreamConf,
    out: &mut dyn Write,
    scratch: Option<&Path>,
) -> Result<()> {
    let created = resolve_created(&conf.created)?;
    let base = match &conf.from_image {
        Some(p) => Some(base::load(
            p,
            conf.from_image_name.as_deref(),
            conf.from_image_tag.as_deref(),
            scratch,
        )?),
        None => None,
    };
    let (mut layers, base_history) = base_layers(base.as_ref())?;
    let base_count = layers.len();
    for paths in &conf.store_layers {
        let mut entries = Entries::new();
        add_store_paths(
            &mut entries,
            paths.iter().map(|p| (p.logical.as_str(), p.real.as_path())),
        )?;
        let names: Vec<&str> = paths.iter().map(|p| p.logical.as_str()).collect();
        layers.push(Layer::from_entries(
            entries,
            format!("store paths: {names:?}"),
        )?);
    }
    layers.push(Layer::from_file_at(
        conf.customisation_layer.clone(),
        conf.customisation_layer_offset,
        conf.customisation_diff_id.clone(),
        format!(
            "customisation layer (contents, config, scripts); store paths: {:?}",
            conf.customisation_paths
        ),
    )?);
    let cfg = merge_config(&conf.config, base.as_ref().map(|b| &b.config))?;
    let config = image_config(
        &layers,
        &base_history,
        base_count,
        &created,
        &conf.architecture,
        cfg,
    );
    let mut w = BufWriter::new(out);
    write_archive(
        &layers,
        &config,
        &conf.name,
        &conf.tag,
        conf.format,
        Layout::Layered,
        &mut w,
    )?;
    w.flush()?;
    Ok(())
}

fn env_bool(v: Option<String>, default: bool) -> Result<bool> {
    match v.as_deref().map(str::trim) {
        None => Ok(default),
        Some("1") | Some("true") => Ok(true),
        Some("") | Some("0") | Some("false") => Ok(false),
        Some(other) => bail!("expected a boolean (1 or empty), got {other:?}"),
    }
}

fn env_opt(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// Build an [`ImageSpec`] from the environment of a `builtin:rnix-docker-image`
/// derivation (see docs/ARCHITECTURE.md): `imageName`, `imageTag`, `copyToRoot`
/// (space-separated store paths), `keepContentsDirlinks`, `runAsRoot`, `extraCommands`,
/// `fakeRootCommands`, `config` (JSON), `created`, `architecture`, `compressor`,
/// `fromImage`, `fromImageName`, `fromImageTag`, `includeStorePaths`, `layered`,
/// `maxLayers`, `format`. Booleans are Nix's (`1` or empty).
///
/// `env` looks a variable up; `real_path` maps a logical store path to its physical
/// location; `closure` is the closure of the `copyToRoot` paths with references.
pub fn spec_from_env(
    env: &dyn Fn(&str) -> Option<String>,
    real_path: &dyn Fn(&str) -> Result<PathBuf>,
    closure: Vec<ClosureEntry>,
) -> Result<ImageSpec> {
    let name = env_opt(env("imageName")).context("imageName is missing")?;
    let mut spec = ImageSpec::new(&name);
    spec.tag = env_opt(env("imageTag"));
    for p in env("copyToRoot").unwrap_or_default().split_whitespace() {
        spec.copy_to_root.push(RootInput {
            logical: p.to_string(),
            real: real_path(p).with_context(|| format!("copyToRoot: {p}"))?,
        });
    }
    spec.keep_contents_dirlinks =
        env_bool(env("keepContentsDirlinks"), false).context("keepContentsDirlinks")?;
    spec.run_as_root = env_opt(env("runAsRoot"));
    spec.extra_commands = env_opt(env("extraCommands"));
    spec.fake_root_commands = env_opt(env("fakeRootCommands"));
    if let Some(c) = env_opt(env("config")) {
        spec.config = serde_json::from_str(&c).context("config is not valid JSON")?;
    }
    if let Some(c) = env_opt(env("created")) {
        spec.created = c;
    }
    if let Some(a) = env_opt(env("architecture")) {
        spec.architecture = a;
    }
    if let Some(c) = env_opt(env("compressor")) {
        spec.compressor = c.parse()?;
    }
    if let Some(f) = env_opt(env("fromImage")) {
        spec.from_image = Some(real_path(&f).with_context(|| format!("fromImage: {f}"))?);
    }
    spec.from_image_name = env_opt(env("fromImageName"));
    spec.from_image_tag = env_opt(env("fromImageTag"));
    spec.include_store_paths =
        env_bool(env("includeStorePaths"), true).context("includeStorePaths")?;
    spec.layered = env_bool(env("layered"), false).context("layered")?;
    if let Some(m) = env_opt(env("maxLayers")) {
        spec.max_layers = m
            .trim()
            .parse()
            .with_context(|| format!("maxLayers must be a number, got {m:?}"))?;
    }
    if let Some(f) = env_opt(env("format")) {
        spec.format = f.parse()?;
    }
    spec.shell = env_opt(env("shell"));
    spec.closure = closure;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_references_are_found_with_their_closure() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let a = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app";
        let b = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-lib";
        let c = "/nix/store/cccccccccccccccccccccccccccccccc-unused";
        let d = "/nix/store/dddddddddddddddddddddddddddddddd-link";
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/run"), format!("#!{a}/bin/app\n")).unwrap();
        std::os::unix::fs::symlink(format!("{d}/x"), root.join("etc/l")).unwrap();
        // The mounted store at the top is not part of the image.
        fs::create_dir_all(root.join("nix/store")).unwrap();
        fs::write(root.join("nix/store/note"), c).unwrap();
        let e = |p: &str, refs: &[&str]| ClosureEntry {
            logical: p.to_string(),
            real: PathBuf::from("/unused"),
            references: refs.iter().map(|r| r.to_string()).collect(),
        };
        let mut spec = ImageSpec::new("x");
        spec.script_candidates = vec![e(a, &[a, b]), e(b, &[]), e(c, &[]), e(d, &[])];
        let found: Vec<String> = script_references(&spec, root)
            .unwrap()
            .into_iter()
            .map(|c| c.logical)
            .collect();
        assert_eq!(found, vec![a, b, d]);
    }

    #[test]
    fn fakeroot_record_is_applied_last_wins() {
        let tmp = tempfile::tempdir().unwrap();
        fakeroot::install(tmp.path(), "/nix/store/x-bash/bin/bash").unwrap();
        let bin = tmp.path().join(fakeroot::DIR).join("bin/chown");
        assert!(fs::read_to_string(bin)
            .unwrap()
            .starts_with("#!/nix/store/x-bash/bin/bash\n"));
        fs::write(
            tmp.path().join(fakeroot::DIR).join("owners"),
            "1000 1000 /data/f\n- 7 /data/f\n5 - /data/with space\n",
        )
        .unwrap();
        let owners = fakeroot::collect(tmp.path()).unwrap();
        assert!(!tmp.path().join(fakeroot::DIR).exists());
        let mut entries = Entries::new();
        for p in ["data", "data/f", "data/with space"] {
            entries.insert(p.to_string(), dir_entry(0o755));
        }
        fakeroot::apply(&mut entries, &owners);
        assert_eq!((entries["data"].uid, entries["data"].gid), (0, 0));
        assert_eq!((entries["data/f"].uid, entries["data/f"].gid), (1000, 7));
        assert_eq!(
            (
                entries["data/with space"].uid,
                entries["data/with space"].gid
            ),
            (5, 0)
        );
    }

    #[test]
    fn spec_from_builder_env() {
        let vars: std::collections::HashMap<&str, &str> = [
            ("imageName", "Simple-Python-API"),
            ("imageTag", ""),
            ("copyToRoot", "/nix/store/aaa-root /nix/store/bbb-more"),
            ("keepContentsDirlinks", ""),
            ("runAsRoot", "mkdir -p /app\n"),
            ("config", r#"{"Cmd":["uvicorn","main:app"]}"#),
            ("created", "now"),
            ("compressor", "zstd"),
            ("layered", "1"),
            ("maxLayers", "42"),
            ("format", "oci"),
        ]
        .into_iter()
        .collect();
        let env = |k: &str| vars.get(k).map(|s| s.to_string());
        let real = |p: &str| Ok(PathBuf::from(format!("/phys{p}")));
        let spec = spec_from_env(&env, &real, vec![]).unwrap();
        assert_eq!(spec.name, "Simple-Python-API");
        assert_eq!(spec.tag, None);
        assert_eq!(spec.copy_to_root.len(), 2);
        assert_eq!(
            spec.copy_to_root[1].real,
            PathBuf::from("/phys/nix/store/bbb-more")
        );
        assert_eq!(spec.run_as_root.as_deref(), Some("mkdir -p /app\n"));
        assert_eq!(spec.config["Cmd"][1], "main:app");
        assert_eq!(spec.created, "now");
        assert_eq!(spec.compressor, Compressor::Zstd);
        assert!(spec.layered && spec.include_store_paths && !spec.keep_contents_dirlinks);
        assert_eq!(spec.max_layers, 42);
        assert_eq!(spec.format, Format::OciHybrid);

        let bad = |k: &str| match k {
            "imageName" => Some("x".to_string()),
            "maxLayers" => Some("many".to_string()),
            _ => None,
        };
        let e = spec_from_env(&bad, &real, vec![]).unwrap_err().to_string();
        assert!(e.contains("maxLayers"), "{e}");
        let e = spec_from_env(&|_| None, &real, vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("imageName"), "{e}");
    }

    #[test]
    fn created_now_and_invalid() {
        let now = resolve_created("now").unwrap();
        assert!(now.ends_with('Z') && now.len() == 20, "{now}");
        assert_eq!(
            resolve_created("2024-05-01T12:00:00+02:00").unwrap(),
            "2024-05-01T12:00:00+02:00"
        );
        assert!(resolve_created("").is_err());
    }

    #[test]
    fn base_env_merges_first_last_wins() {
        let base = serde_json::json!({"config": {"Env": ["PATH=/bin", "A=1"]}});
        let user = serde_json::json!({"Env": ["A=2", "B=3"]});
        let m = merge_config(&user, Some(&base)).unwrap();
        assert_eq!(m["Env"], serde_json::json!(["PATH=/bin", "A=2", "B=3"]));
    }
}
