//! Resolving paths "chrooted": symlinks are followed the way the kernel would inside a
//! sandbox whose file system is only the store (or only a tree being built), never on the
//! host. A builder that runs outside the sandbox (image writer, buildEnv, runAsRoot tree
//! building, unpackers) must look at store contents through this, or a symlink such as
//! `/etc`, `../../../etc` or `/nix/store/../../etc` in a build output would make it read (or
//! write) the host's files.
//!
//! Absolute link targets and `..` are interpreted in the logical namespace of the [`View`]
//! (`..` of `/` is `/`); a path that leaves it is reported as [`Resolution::Outside`], and
//! callers then keep the link as a link (dangling where it is copied), as in Nix's sandbox.

use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The most symlinks followed for one path (Linux's limit).
pub const MAX_SYMLINKS: usize = 40;

/// A logical file system.
#[derive(Clone, Copy)]
pub enum View<'a> {
    /// Only store paths exist: `<dir>/<name>/...` (e.g. `/nix/store/<hash>-<name>/bin`) is
    /// `map(name)/...`; `<dir>` and its parents are empty directories; everything else is
    /// outside. `map` gives `None` for names that are not (visible) store paths.
    Store {
        dir: &'a Path,
        map: &'a dyn Fn(&str) -> Option<PathBuf>,
    },
    /// The directory `root` seen as `/` (a chroot). Nothing is outside it.
    Tree(&'a Path),
}

/// Where a logical path leads.
#[derive(Debug)]
pub enum Resolution {
    /// It exists: its canonical logical path, its physical path (no symlink in any
    /// component but possibly the last when not following it) and metadata (not followed).
    Found {
        logical: PathBuf,
        physical: PathBuf,
        metadata: fs::Metadata,
    },
    /// Some component does not exist (or is not a directory).
    Missing,
    /// It leads out of the view (or is the store directory itself).
    Outside,
    /// More than [`MAX_SYMLINKS`] symlinks.
    Loop,
}

impl Resolution {
    /// `(logical, physical)` if it was found and is a directory.
    pub fn dir(self) -> Option<(PathBuf, PathBuf)> {
        match self {
            Resolution::Found {
                logical,
                physical,
                metadata,
            } if metadata.is_dir() => Some((logical, physical)),
            _ => None,
        }
    }

    /// The physical path if it was found.
    pub fn physical(self) -> Option<PathBuf> {
        match self {
            Resolution::Found { physical, .. } => Some(physical),
            _ => None,
        }
    }
}

enum Phys {
    /// At or above the store directory: a directory with no physical counterpart.
    Virtual,
    At(PathBuf),
    Outside,
}

impl View<'_> {
    fn phys(&self, stack: &[OsString]) -> Phys {
        match self {
            View::Tree(root) => {
                let mut p = root.to_path_buf();
                p.extend(stack);
                Phys::At(p)
            }
            View::Store { dir, map } => {
                let dcomps: Vec<&std::ffi::OsStr> = dir
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(n) => Some(n),
                        _ => None,
                    })
                    .collect();
                if stack.len() <= dcomps.len() {
                    return if stack.iter().zip(&dcomps).all(|(a, b)| a == b) {
                        Phys::Virtual
                    } else {
                        Phys::Outside
                    };
                }
                if !stack.iter().zip(&dcomps).all(|(a, b)| a == b) {
                    return Phys::Outside;
                }
                let Some(name) = stack[dcomps.len()].to_str() else {
                    return Phys::Outside;
                };
                match map(name) {
                    Some(mut p) => {
                        p.extend(&stack[dcomps.len() + 1..]);
                        Phys::At(p)
                    }
                    None => Phys::Outside,
                }
            }
        }
    }

    /// Resolve the logical path `path` (relative paths are taken from `/`), following
    /// symlinks inside the view only; the last component is followed when `follow_last`.
    pub fn resolve(&self, path: &Path, follow_last: bool) -> Resolution {
        let mut todo: Vec<OsString> = Vec::new();
        push_components(&mut todo, path);
        let mut stack: Vec<OsString> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                stack.pop();
                continue;
            }
            stack.push(c);
            let last = todo.is_empty();
            let p = match self.phys(&stack) {
                Phys::Virtual => continue,
                Phys::Outside => return Resolution::Outside,
                Phys::At(p) => p,
            };
            let Ok(md) = fs::symlink_metadata(&p) else {
                return Resolution::Missing;
            };
            if md.file_type().is_symlink() && (!last || follow_last) {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Resolution::Loop;
                }
                let Ok(target) = fs::read_link(&p) else {
                    return Resolution::Missing;
                };
                stack.pop();
                if target.is_absolute() {
                    stack.clear();
                }
                push_components(&mut todo, &target);
            } else if !last && !md.is_dir() {
                return Resolution::Missing;
            }
        }
        match self.phys(&stack) {
            Phys::At(physical) => match fs::symlink_metadata(&physical) {
                Ok(metadata) => {
                    let mut logical = PathBuf::from("/");
                    logical.extend(&stack);
                    Resolution::Found {
                        logical,
                        physical,
                        metadata,
                    }
                }
                Err(_) => Resolution::Missing,
            },
            _ => Resolution::Outside,
        }
    }
}

/// Push the components of `p` (without `.` and `/`) so that the first is popped first.
fn push_components(todo: &mut Vec<OsString>, p: &Path) {
    let comps: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    todo.extend(comps.into_iter().rev());
}

/// Logical path (`/a/b`) of the physical `path` inside the tree `root`, if it is below it
/// lexically.
pub fn logical_in_tree(root: &Path, path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix(root).ok()?;
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    Some(Path::new("/").join(rel))
}

/// Create the directory at logical `path` in the tree `root` and its missing parents, like
/// `mkdir -p` run chrooted into `root` that also creates what a dangling symlink on the way
/// points to (as Docker extracts layers): symlinks are followed inside the tree only.
/// Returns the physical directory.
pub fn create_dir_all_in(root: &Path, path: &Path) -> std::io::Result<PathBuf> {
    let mut todo = Vec::new();
    push_components(&mut todo, path);
    let mut stack: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            stack.pop();
            continue;
        }
        stack.push(c);
        let mut p = root.to_path_buf();
        p.extend(&stack);
        match fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(std::io::Error::other(format!(
                        "{}: too many levels of symbolic links",
                        p.display()
                    )));
                }
                let target = fs::read_link(&p)?;
                stack.pop();
                if target.is_absolute() {
                    stack.clear();
                }
                push_components(&mut todo, &target);
            }
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    format!("{} is not a directory", p.display()),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::create_dir(&p)?,
            Err(e) => return Err(e),
        }
    }
    let mut p = root.to_path_buf();
    p.extend(&stack);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn store_fixture() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let s = t.path().join("nix/store");
        fs::create_dir_all(s.join("aaa-p/sub")).unwrap();
        fs::create_dir_all(s.join("bbb-q/share/doc")).unwrap();
        fs::write(s.join("bbb-q/share/doc/f"), "x").unwrap();
        for (l, t) in [
            ("aaa-p/etc", "/etc"),
            ("aaa-p/up", "../../../etc"),
            ("aaa-p/sub/deep", "../../../../../../../../../../../etc"),
            ("aaa-p/dotdot", "/nix/store/../../etc"),
            ("aaa-p/q", "/nix/store/bbb-q/share"),
            ("aaa-p/q-rel", "../bbb-q/share"),
            ("aaa-p/via", "q/doc/../../share/doc/f"),
            ("aaa-p/chain", "etc"),
            ("aaa-p/loop", "loop"),
            ("aaa-p/unknown", "/nix/store/ccc-r/bin"),
        ] {
            symlink(t, s.join(l)).unwrap();
        }
        (t, s)
    }

    #[test]
    fn store_view_never_leaves_the_store() {
        let (_t, s) = store_fixture();
        let s2 = s.clone();
        let map = move |n: &str| {
            let p = s2.join(n);
            p.symlink_metadata().is_ok().then_some(p)
        };
        let v = View::Store {
            dir: Path::new("/nix/store"),
            map: &map,
        };
        for l in ["etc", "up", "sub/deep", "dotdot", "chain", "unknown"] {
            let r = v.resolve(&Path::new("/nix/store/aaa-p").join(l), true);
            assert!(
                matches!(r, Resolution::Outside | Resolution::Missing),
                "{l}: {r:?}"
            );
        }
        assert!(matches!(
            v.resolve(Path::new("/nix/store/aaa-p/loop"), true),
            Resolution::Loop
        ));
        for l in ["q", "q-rel"] {
            let (logical, physical) = v
                .resolve(&Path::new("/nix/store/aaa-p").join(l), true)
                .dir()
                .unwrap();
            assert_eq!(logical, Path::new("/nix/store/bbb-q/share"));
            assert_eq!(physical, s.join("bbb-q/share"));
        }
        let f = v
            .resolve(Path::new("/nix/store/aaa-p/via"), true)
            .physical()
            .unwrap();
        assert_eq!(f, s.join("bbb-q/share/doc/f"));
        // Not following the last component: the link itself.
        match v.resolve(Path::new("/nix/store/aaa-p/etc"), false) {
            Resolution::Found { metadata, .. } => assert!(metadata.file_type().is_symlink()),
            r => panic!("{r:?}"),
        }
        assert!(matches!(
            v.resolve(Path::new("/nix/store"), true),
            Resolution::Outside
        ));
    }

    #[test]
    fn tree_view_is_a_chroot() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), "mine").unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../../../etc", root.join("rel")).unwrap();
        let v = View::Tree(&root);
        for l in ["/abs/passwd", "/rel/passwd", "/../../etc/passwd"] {
            assert_eq!(
                v.resolve(Path::new(l), true).physical().unwrap(),
                root.join("etc/passwd"),
                "{l}"
            );
        }
        // mkdir -p through a link stays inside.
        let d = create_dir_all_in(&root, Path::new("abs/new/dir")).unwrap();
        assert_eq!(d, root.join("etc/new/dir"));
        assert!(d.is_dir());
        // A dangling link is followed inside the tree, as Docker does.
        symlink("/nonexistent-dir", root.join("dangling")).unwrap();
        let d = create_dir_all_in(&root, Path::new("dangling/x")).unwrap();
        assert_eq!(d, root.join("nonexistent-dir/x"));
        assert!(!Path::new("/nonexistent-dir").exists());
        fs::write(root.join("file"), "").unwrap();
        assert!(create_dir_all_in(&root, Path::new("file/x")).is_err());
        symlink("loop", root.join("loop")).unwrap();
        assert!(create_dir_all_in(&root, Path::new("loop/x")).is_err());
        assert_eq!(
            logical_in_tree(&root, &root.join("a/b")).unwrap(),
            Path::new("/a/b")
        );
    }
}
