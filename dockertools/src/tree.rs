//! Building the image's root directory on disk: `copyToRoot` copies, symlink farms,
//! base-image extraction, and capturing what changed as a layer.

use crate::layer::{join, sorted_children, Entries, Entry, Source};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Maps logical store paths (`/nix/store/<name>/...`) to physical ones.
#[derive(Debug, Default, Clone)]
pub struct StoreMap {
    /// store path name (`<hash>-<name>`) -> physical path
    by_name: HashMap<String, PathBuf>,
}

pub const STORE_DIR: &str = "/nix/store";

/// `<hash>-<name>` of a logical store path, if it is one.
pub fn store_name(logical: &str) -> Option<&str> {
    let rest = logical.strip_prefix(STORE_DIR)?.strip_prefix('/')?;
    let name = rest.split('/').next()?;
    if name.is_empty() || name == "." || name == ".." {
        None
    } else {
        Some(name)
    }
}

impl StoreMap {
    pub fn insert(&mut self, logical: &str, real: &Path) -> Result<()> {
        let name = store_name(logical)
            .with_context(|| format!("{logical} is not a path in {STORE_DIR}"))?;
        self.by_name.insert(name.to_string(), real.to_path_buf());
        Ok(())
    }

    /// Physical location of a logical path (which may point inside a store path).
    pub fn map(&self, logical: &Path) -> Option<PathBuf> {
        let s = logical.to_str()?;
        let name = store_name(s)?;
        let real = self.by_name.get(name)?;
        let rest = &s[STORE_DIR.len() + 1 + name.len()..];
        let rest = rest.trim_start_matches('/');
        Some(if rest.is_empty() {
            real.clone()
        } else {
            real.join(rest)
        })
    }
}

/// Follow symlinks of a physical path, mapping absolute store targets through `map`.
/// Returns the final physical path if it exists and is a directory.
fn resolve_dir(path: &Path, map: &StoreMap) -> Option<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        let md = fs::symlink_metadata(&p).ok()?;
        if md.file_type().is_symlink() {
            let t = fs::read_link(&p).ok()?;
            p = if t.is_absolute() {
                map.map(&t).unwrap_or(t)
            } else {
                p.parent()?.join(t)
            };
        } else {
            return if md.is_dir() { Some(p) } else { None };
        }
    }
    None
}

/// Resolve a path inside the image root (symlinks interpreted relative to `root`).
/// Returns the physical path if it is a directory inside the root.
fn resolve_in_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        let md = fs::symlink_metadata(&p).ok()?;
        if md.file_type().is_symlink() {
            let t = fs::read_link(&p).ok()?;
            let cand = if t.is_absolute() {
                root.join(t.strip_prefix("/").ok()?)
            } else {
                p.parent()?.join(t)
            };
            // Normalise lexically and refuse to leave the root.
            let mut norm = PathBuf::new();
            for c in cand.components() {
                match c {
                    Component::ParentDir => {
                        norm.pop();
                    }
                    Component::CurDir => {}
                    other => norm.push(other.as_os_str()),
                }
            }
            if !norm.starts_with(root) {
                return None;
            }
            p = norm;
        } else {
            return if md.is_dir() { Some(p) } else { None };
        }
    }
    None
}

/// Directories whose final mode is applied after everything has been copied (so that
/// read-only store directories can still be filled while copying).
#[derive(Default)]
pub struct DirModes(Vec<(PathBuf, u32)>);

impl DirModes {
    pub fn apply(self) -> Result<()> {
        // Deepest first, so a read-only parent does not block its children.
        let mut v = self.0;
        v.sort_by(|a, b| b.0.cmp(&a.0));
        for (p, mode) in v {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode))
                .with_context(|| format!("setting mode of {}", p.display()))?;
        }
        Ok(())
    }
}

fn make_dir_at(dst: &Path) -> Result<()> {
    match fs::symlink_metadata(dst) {
        Ok(md) if md.is_dir() => {
            // Keep it writable while we copy.
            let mode = md.permissions().mode();
            if mode & 0o700 != 0o700 {
                fs::set_permissions(dst, fs::Permissions::from_mode(mode | 0o700))?;
            }
            Ok(())
        }
        Ok(_) => {
            fs::remove_file(dst).with_context(|| format!("replacing {}", dst.display()))?;
            fs::create_dir(dst).with_context(|| format!("creating {}", dst.display()))
        }
        Err(_) => fs::create_dir(dst).with_context(|| format!("creating {}", dst.display())),
    }
}

fn remove_existing_non_dir(dst: &Path, src: &Path) -> Result<()> {
    if let Ok(md) = fs::symlink_metadata(dst) {
        if md.is_dir() {
            bail!(
                "cannot put {} at {}: a directory is already there",
                src.display(),
                dst.display()
            );
        }
        fs::remove_file(dst).with_context(|| format!("replacing {}", dst.display()))?;
    }
    Ok(())
}

/// Copy the contents of directory `src` into `dst` with `rsync -a -k`/`-K` semantics as
/// nixpkgs' `buildImage` uses for `copyToRoot`: symlinks to directories become real
/// directories unless `keep_dirlinks`; then existing symlinks to directories in the
/// destination are followed instead. Symlinks to files stay symlinks.
pub fn copy_contents(
    root: &Path,
    src: &Path,
    dst: &Path,
    map: &StoreMap,
    keep_dirlinks: bool,
    modes: &mut DirModes,
) -> Result<()> {
    for (name, p) in sorted_children(src)? {
        let d = dst.join(&name);
        let md =
            fs::symlink_metadata(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let ft = md.file_type();
        let dir_src = if ft.is_dir() {
            Some(p.clone())
        } else if ft.is_symlink() && !keep_dirlinks {
            resolve_dir(&p, map)
        } else {
            None
        };
        if let Some(dsrc) = dir_src {
            let mut target = d.clone();
            if keep_dirlinks {
                if let Ok(dmd) = fs::symlink_metadata(&d) {
                    if dmd.file_type().is_symlink() {
                        if let Some(r) = resolve_in_root(root, &d) {
                            target = r;
                        }
                    }
                }
            }
            make_dir_at(&target)?;
            let mode = fs::metadata(&dsrc)?.permissions().mode() & 0o7777;
            modes.0.push((target.clone(), mode));
            copy_contents(root, &dsrc, &target, map, keep_dirlinks, modes)?;
        } else if ft.is_symlink() {
            remove_existing_non_dir(&d, &p)?;
            let t = fs::read_link(&p)?;
            std::os::unix::fs::symlink(&t, &d)
                .with_context(|| format!("creating symlink {}", d.display()))?;
        } else if ft.is_file() {
            remove_existing_non_dir(&d, &p)?;
            fs::copy(&p, &d)
                .with_context(|| format!("copying {} to {}", p.display(), d.display()))?;
            fs::set_permissions(
                &d,
                fs::Permissions::from_mode(md.permissions().mode() & 0o7777),
            )?;
        } else {
            bail!("unsupported file type at {}", p.display());
        }
    }
    Ok(())
}

/// `symlinkJoin`/`lndir` semantics used for the layered images' customisation layer:
/// directories are created, every other file becomes a symlink to its logical store path.
/// The first package providing a file wins.
pub fn link_farm(
    src: &Path,
    logical: &Path,
    dst: &Path,
    map: &StoreMap,
    modes: &mut DirModes,
) -> Result<()> {
    for (name, p) in sorted_children(src)? {
        let d = dst.join(&name);
        let l = logical.join(&name);
        if let Some(dsrc) = resolve_dir(&p, map) {
            match fs::symlink_metadata(&d) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => continue,
                Err(_) => {
                    fs::create_dir(&d).with_context(|| format!("creating {}", d.display()))?;
                    modes.0.push((d.clone(), 0o755));
                }
            }
            link_farm(&dsrc, &l, &d, map, modes)?;
        } else {
            if fs::symlink_metadata(&d).is_ok() {
                continue;
            }
            std::os::unix::fs::symlink(&l, &d)
                .with_context(|| format!("creating symlink {}", d.display()))?;
        }
    }
    Ok(())
}

/// What a path in the tree looks like, for detecting changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    digest: String,
}

pub type Snapshot = HashMap<String, Meta>;

/// Ids of the building user: files it owns are recorded as owned by root in the image.
fn owner(md: &fs::Metadata) -> (u64, u64) {
    // SAFETY: geteuid/getegid cannot fail and have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let uid = if md.uid() == euid { 0 } else { md.uid() as u64 };
    let gid = if md.gid() == egid { 0 } else { md.gid() as u64 };
    (uid, gid)
}

fn file_digest(p: &Path) -> Result<String> {
    let mut f = fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
    let mut h = Sha256::new();
    io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

fn meta_of(p: &Path, md: &fs::Metadata, with_digest: bool) -> Result<Meta> {
    let ft = md.file_type();
    let (uid, gid) = owner(md);
    let (kind, digest) = if ft.is_dir() {
        (0, String::new())
    } else if ft.is_symlink() {
        (1, fs::read_link(p)?.to_string_lossy().into_owned())
    } else if ft.is_file() {
        (
            2,
            if with_digest {
                file_digest(p)?
            } else {
                String::new()
            },
        )
    } else {
        bail!("unsupported file type at {}", p.display());
    };
    let mode = if ft.is_symlink() {
        0o777
    } else {
        md.permissions().mode() & 0o7777
    };
    Ok(Meta {
        kind,
        mode,
        uid,
        gid,
        digest,
    })
}

/// Is `name` excluded from capture (the store is added from the closure instead)?
pub fn in_store(name: &str) -> bool {
    name.starts_with("nix/store/")
}

fn walk(
    root: &Path,
    dir: &str,
    f: &mut dyn FnMut(&str, &Path, &fs::Metadata) -> Result<()>,
) -> Result<()> {
    let phys = if dir.is_empty() {
        root.to_path_buf()
    } else {
        root.join(dir)
    };
    for (name, p) in sorted_children(&phys)? {
        let n = join(dir, &name);
        if in_store(&n) {
            continue;
        }
        let md = fs::symlink_metadata(&p)?;
        f(&n, &p, &md)?;
        if md.is_dir() {
            walk(root, &n, f)?;
        }
    }
    Ok(())
}

/// Record the state of every path of the tree (content digests included).
pub fn snapshot(root: &Path) -> Result<Snapshot> {
    let mut s = Snapshot::new();
    walk(root, "", &mut |n, p, md| {
        s.insert(n.to_string(), meta_of(p, md, true)?);
        Ok(())
    })?;
    Ok(s)
}

/// The layer that turns the `before` state into the current tree: new and changed
/// paths (with their parent directories) and whiteouts for deleted paths.
pub fn capture(root: &Path, before: &Snapshot) -> Result<Entries> {
    let mut entries = Entries::new();
    let mut seen = std::collections::HashSet::new();
    walk(root, "", &mut |n, p, md| {
        seen.insert(n.to_string());
        let old = before.get(n);
        let now = meta_of(p, md, old.is_some() && md.is_file())?;
        let changed = match old {
            None => true,
            Some(o) => *o != now,
        };
        if changed {
            let source = match now.kind {
                0 => Source::Dir,
                1 => Source::Symlink(fs::read_link(p)?),
                _ => Source::File(p.to_path_buf()),
            };
            entries.insert(
                n.to_string(),
                Entry {
                    source,
                    mode: now.mode,
                    uid: now.uid,
                    gid: now.gid,
                },
            );
        }
        Ok(())
    })?;
    // Whiteouts for the topmost deleted paths.
    let mut deleted: Vec<&String> = before.keys().filter(|k| !seen.contains(*k)).collect();
    deleted.sort();
    for d in deleted {
        let parent_deleted = match d.rfind('/') {
            Some(i) => !seen.contains(&d[..i]),
            None => false,
        };
        if parent_deleted {
            continue;
        }
        let wh = match d.rfind('/') {
            Some(i) => format!("{}/.wh.{}", &d[..i], &d[i + 1..]),
            None => format!(".wh.{d}"),
        };
        entries.insert(
            wh,
            Entry {
                source: Source::Empty,
                mode: 0o644,
                uid: 0,
                gid: 0,
            },
        );
    }
    // Parents of changed entries must be in the layer too (with their current metadata).
    let names: Vec<String> = entries.keys().cloned().collect();
    for n in names {
        let mut cur = n.as_str();
        while let Some(i) = cur.rfind('/') {
            cur = &cur[..i];
            if entries.contains_key(cur) {
                continue;
            }
            let p = root.join(cur);
            let md = fs::symlink_metadata(&p)?;
            let m = meta_of(&p, &md, false)?;
            entries.insert(
                cur.to_string(),
                Entry {
                    source: Source::Dir,
                    mode: m.mode,
                    uid: m.uid,
                    gid: m.gid,
                },
            );
        }
    }
    Ok(entries)
}

/// Safe relative path from a tar entry name (no absolute paths, no `..`).
fn safe_rel(name: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir | Component::RootDir => {}
            _ => bail!("unsafe path in layer: {}", name.display()),
        }
    }
    Ok(out)
}

fn remove_any(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(md) if md.is_dir() => {
            make_writable_tree(p);
            fs::remove_dir_all(p).with_context(|| format!("removing {}", p.display()))
        }
        Ok(_) => fs::remove_file(p).with_context(|| format!("removing {}", p.display())),
        Err(_) => Ok(()),
    }
}

fn make_writable_tree(p: &Path) {
    if let Ok(md) = fs::symlink_metadata(p) {
        if md.is_dir() {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o755));
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    make_writable_tree(&e.path());
                }
            }
        }
    }
}

/// Extract one (uncompressed) layer tar over `root`, applying overlay whiteouts.
pub fn extract_layer(root: &Path, r: impl Read, modes: &mut BTreeMap<PathBuf, u32>) -> Result<()> {
    let mut ar = tar::Archive::new(r);
    for e in ar.entries().context("reading a base image layer")? {
        let mut e = e.context("reading a base image layer")?;
        let path = e.path()?.into_owned();
        let rel = safe_rel(&path)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let fname = rel.file_name().unwrap().to_string_lossy().into_owned();
        let parent = root.join(rel.parent().unwrap_or(Path::new("")));
        if fname == ".wh..wh..opq" {
            if parent.is_dir() {
                for (_, c) in sorted_children(&parent)? {
                    remove_any(&c)?;
                }
            }
            continue;
        }
        if let Some(victim) = fname.strip_prefix(".wh.") {
            remove_any(&parent.join(victim))?;
            continue;
        }
        fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        let dst = root.join(&rel);
        let h = e.header();
        let mode = h.mode()? & 0o7777;
        let kind = h.entry_type();
        let (uid, gid) = (h.uid()?, h.gid()?);
        if kind.is_dir() {
            if let Ok(md) = fs::symlink_metadata(&dst) {
                if !md.is_dir() {
                    remove_any(&dst)?;
                }
            }
            if !dst.is_dir() {
                fs::create_dir(&dst).with_context(|| format!("creating {}", dst.display()))?;
            }
            fs::set_permissions(&dst, fs::Permissions::from_mode(0o755))?;
            chown_best_effort(&dst, uid, gid);
            modes.insert(dst, mode);
            continue;
        }
        remove_any(&dst)?;
        modes.remove(&dst);
        if kind.is_symlink() {
            let t = e.link_name()?.context("symlink without target in layer")?;
            std::os::unix::fs::symlink(t.as_ref(), &dst)?;
        } else if kind.is_hard_link() {
            let t = e
                .link_name()?
                .context("hard link without target in layer")?;
            let src = root.join(safe_rel(&t)?);
            fs::copy(&src, &dst)
                .with_context(|| format!("hard link {} -> {}", dst.display(), src.display()))?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(mode))?;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let mut f =
                fs::File::create(&dst).with_context(|| format!("creating {}", dst.display()))?;
            io::copy(&mut e, &mut f)?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(mode))?;
        } else if matches!(
            kind,
            tar::EntryType::XHeader | tar::EntryType::XGlobalHeader
        ) {
            continue;
        } else {
            bail!(
                "base image layer entry {} has an unsupported type ({:?})",
                path.display(),
                kind
            );
        }
        chown_best_effort(&dst, uid, gid);
    }
    Ok(())
}

/// Keep non-root ownership of base image files when the builder may chown.
fn chown_best_effort(p: &Path, uid: u64, gid: u64) {
    if uid != 0 || gid != 0 {
        let _ = std::os::unix::fs::lchown(p, Some(uid as u32), Some(gid as u32));
    }
}
