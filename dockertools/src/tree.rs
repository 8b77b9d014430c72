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
use store::confine::{self, Resolution, View};

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

    /// Physical location of a store path given its name (`<hash>-<name>`).
    pub fn get(&self, name: &str) -> Option<PathBuf> {
        self.by_name.get(name).cloned()
    }

    /// Resolve the logical path `logical` with symlinks followed inside the mapped store
    /// paths only (see [`store::confine`]): a link to `/etc`, `../../../etc` or a store path
    /// that is not mapped leads nowhere.
    pub fn resolve(&self, logical: &Path, follow_last: bool) -> Resolution {
        let map = |n: &str| self.get(n);
        View::Store {
            dir: Path::new(&*STORE_DIR),
            map: &map,
        }
        .resolve(logical, follow_last)
    }

    /// `(logical, physical)` of the directory `logical` leads to, if it is one in the store.
    pub fn resolve_dir(&self, logical: &Path) -> Option<(PathBuf, PathBuf)> {
        self.resolve(logical, true).dir()
    }
}

/// Resolve a physical path inside the image root as if chrooted into `root`. Returns the
/// physical path if it is a directory.
fn resolve_in_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let logical = confine::logical_in_tree(root, path)?;
    View::Tree(root)
        .resolve(&logical, true)
        .dir()
        .map(|(_, p)| p)
}

/// Source directories being copied (device, inode): a symlink back to one of them is kept
/// as a link instead of being expanded forever.
type Ancestors = Vec<(u64, u64)>;

fn dev_ino(p: &Path) -> Result<(u64, u64)> {
    let md = fs::symlink_metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok((md.dev(), md.ino()))
}

/// Directories whose final mode is applied after everything has been copied (so that
/// read-only store directories can still be filled while copying).
#[derive(Default)]
pub struct DirModes(Vec<(PathBuf, u32)>);

impl DirModes {
    /// The modes with owner write added, so that the scripts (which run as the building
    /// user, as nixpkgs' `extraCommands`) can create files in copied directories; call
    /// [`DirModes::restore`] after them.
    pub fn apply_writable(&self) -> Result<()> {
        let mut v: Vec<&(PathBuf, u32)> = self.0.iter().collect();
        v.sort_by(|a, b| b.0.cmp(&a.0));
        for (p, mode) in v {
            fs::set_permissions(p, fs::Permissions::from_mode(mode | 0o200))
                .with_context(|| format!("setting mode of {}", p.display()))?;
        }
        Ok(())
    }

    /// The recorded modes, except for directories whose mode a script changed (or removed)
    /// since [`DirModes::apply_writable`].
    pub fn restore(self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let mut v = self.0;
        v.sort_by(|a, b| b.0.cmp(&a.0));
        for (p, mode) in v {
            let Ok(md) = fs::symlink_metadata(&p) else {
                continue;
            };
            if md.is_dir() && md.mode() & 0o7777 == (mode | 0o200) {
                fs::set_permissions(&p, fs::Permissions::from_mode(mode))
                    .with_context(|| format!("setting mode of {}", p.display()))?;
            }
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

/// A `copyToRoot` input as a directory: `(logical, physical)` after resolving symlinks inside
/// the store, or an error if it is not a directory in the store.
pub fn input_dir(logical: &str, map: &StoreMap) -> Result<(PathBuf, PathBuf)> {
    match map.resolve(Path::new(logical), true) {
        Resolution::Found {
            logical: l,
            physical,
            metadata,
        } if metadata.is_dir() => Ok((l, physical)),
        Resolution::Found { .. } => bail!("{logical} is not a directory"),
        Resolution::Missing => bail!("{logical} does not exist"),
        Resolution::Outside => {
            bail!("{logical} is a symlink that leads out of the store (refusing to follow it)")
        }
        Resolution::Loop => bail!("{logical}: too many levels of symbolic links"),
    }
}

/// Copy the contents of directory `src` (physical; `src_logical` is its store path) into
/// `dst` with `rsync -a -k`/`-K` semantics as nixpkgs' `buildImage` uses for `copyToRoot`:
/// symlinks to directories become real directories unless `keep_dirlinks`; then existing
/// symlinks to directories in the destination are followed instead. Symlinks to files stay
/// symlinks. Symlinks are only followed inside the store paths of `map` (and, for the
/// destination, inside `root`): one that leads elsewhere (`/etc`, `../../../etc`) is copied
/// as a symlink, as a sandboxed build would see it.
pub fn copy_contents(
    root: &Path,
    src: &Path,
    src_logical: &Path,
    dst: &Path,
    map: &StoreMap,
    keep_dirlinks: bool,
    modes: &mut DirModes,
) -> Result<()> {
    let mut ancestors = vec![dev_ino(src)?];
    copy_rec(
        root,
        src,
        src_logical,
        dst,
        map,
        keep_dirlinks,
        modes,
        &mut ancestors,
    )
}

#[allow(clippy::too_many_arguments)]
fn copy_rec(
    root: &Path,
    src: &Path,
    src_logical: &Path,
    dst: &Path,
    map: &StoreMap,
    keep_dirlinks: bool,
    modes: &mut DirModes,
    ancestors: &mut Ancestors,
) -> Result<()> {
    for (name, p) in sorted_children(src)? {
        let d = dst.join(&name);
        let l = src_logical.join(&name);
        let md =
            fs::symlink_metadata(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let ft = md.file_type();
        let dir_src = if ft.is_dir() {
            Some((l.clone(), p.clone()))
        } else if ft.is_symlink() && !keep_dirlinks {
            map.resolve_dir(&l)
        } else {
            None
        };
        let dir_src = match dir_src {
            Some((dl, dp)) => {
                let id = dev_ino(&dp)?;
                (!ancestors.contains(&id)).then_some((dl, dp, id))
            }
            None => None,
        };
        if let Some((dlog, dsrc, id)) = dir_src {
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
            let mode = fs::symlink_metadata(&dsrc)?.permissions().mode() & 0o7777;
            modes.0.push((target.clone(), mode));
            ancestors.push(id);
            copy_rec(
                root,
                &dsrc,
                &dlog,
                &target,
                map,
                keep_dirlinks,
                modes,
                ancestors,
            )?;
            ancestors.pop();
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
/// The first package providing a file wins. Symlinks to directories are followed inside the
/// store paths of `map` only; one leading elsewhere becomes a symlink like a file.
pub fn link_farm(
    src: &Path,
    logical: &Path,
    dst: &Path,
    map: &StoreMap,
    modes: &mut DirModes,
) -> Result<()> {
    let mut ancestors = vec![dev_ino(src)?];
    link_farm_rec(src, logical, dst, map, modes, &mut ancestors)
}

fn link_farm_rec(
    src: &Path,
    logical: &Path,
    dst: &Path,
    map: &StoreMap,
    modes: &mut DirModes,
    ancestors: &mut Ancestors,
) -> Result<()> {
    for (name, p) in sorted_children(src)? {
        let d = dst.join(&name);
        let l = logical.join(&name);
        let md =
            fs::symlink_metadata(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let dir_src = if md.is_dir() {
            Some((l.clone(), p.clone()))
        } else if md.file_type().is_symlink() {
            map.resolve_dir(&l)
        } else {
            None
        };
        let dir_src = match dir_src {
            Some((_, dp)) => {
                let id = dev_ino(&dp)?;
                (!ancestors.contains(&id)).then_some((dp, id))
            }
            None => None,
        };
        if let Some((dsrc, id)) = dir_src {
            match fs::symlink_metadata(&d) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => continue,
                Err(_) => {
                    fs::create_dir(&d).with_context(|| format!("creating {}", d.display()))?;
                    modes.0.push((d.clone(), 0o755));
                }
            }
            // Links point at the path as reached from the input (lndir's behaviour).
            ancestors.push(id);
            link_farm_rec(&dsrc, &l, &d, map, modes, ancestors)?;
            ancestors.pop();
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
        let parent_rel = Path::new("/").join(rel.parent().unwrap_or(Path::new("")));
        // Symlinks of earlier entries are followed inside the root only (as Docker does):
        // a layer cannot make the extraction read, write or delete the host's files.
        if fname == ".wh..wh..opq" || fname.starts_with(".wh.") {
            let Some((_, parent)) = View::Tree(root).resolve(&parent_rel, true).dir() else {
                continue;
            };
            if fname == ".wh..wh..opq" {
                for (_, c) in sorted_children(&parent)? {
                    remove_any(&c)?;
                }
            } else if let Some(victim) = fname.strip_prefix(".wh.") {
                remove_any(&parent.join(victim))?;
            }
            continue;
        }
        let parent = confine::create_dir_all_in(root, &parent_rel)
            .with_context(|| format!("creating {} in the image root", parent_rel.display()))?;
        let dst = parent.join(&fname);
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
            if fs::symlink_metadata(&dst).is_err() {
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
            let target = Path::new("/").join(safe_rel(&t)?);
            let src = match View::Tree(root).resolve(&target, true) {
                Resolution::Found {
                    physical, metadata, ..
                } if metadata.is_file() => physical,
                _ => bail!(
                    "hard link {} -> {}: no such file in the layers",
                    path.display(),
                    t.display()
                ),
            };
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
