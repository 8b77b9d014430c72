//! `buildEnv` with nixpkgs' semantics (`pkgs/build-support/buildenv/builder.pl`), written
//! anew in Rust: a tree of symlinks merging several store paths.
//!
//! - The directories named in `pathsToLink`, and their parents, are real directories.
//! - Below them, a directory that only one package provides is a symlink to it; directories
//!   provided by several packages are real directories whose entries are merged recursively.
//! - Files are symlinks. Two packages providing the same file collide (`collision between
//!   `a' and `b'`) unless they resolve to the same file, `checkCollisionContents` finds them
//!   identical, `ignoreCollisions` is set, or priorities decide.
//! - Packages named in `nix-support/propagated-user-env-packages` are added afterwards with
//!   lower priority and collisions ignored.
//!
//! Symlink targets are logical (`/nix/store/...`) paths; the file system is examined through
//! a [`StoreFs`], which maps logical store paths to where they are on disk and follows
//! symlinks inside the store.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use store::confine::{Resolution, View};

/// The default `meta.priority` of nixpkgs.
pub const DEFAULT_PRIORITY: i64 = 5;

/// Logical view of the store: maps `/nix/store/<base>` to a physical path.
pub struct StoreFs<'a> {
    pub store_dir: String,
    /// Physical location of a store path given its base name (`<hash>-<name>`); `None` when
    /// it is not in the store.
    pub real_of: Box<dyn Fn(&str) -> Option<PathBuf> + 'a>,
}

impl StoreFs<'_> {
    /// Physical path of a logical path, without following symlinks in it.
    pub fn real(&self, logical: &str) -> Option<PathBuf> {
        let rest = logical.strip_prefix(&self.store_dir)?.strip_prefix('/')?;
        let (base, sub) = rest.split_once('/').unwrap_or((rest, ""));
        if base.is_empty() {
            return None;
        }
        let mut p = (self.real_of)(base)?;
        if !sub.is_empty() {
            p.push(sub);
        }
        Some(p)
    }

    /// Resolve every symlink in `logical` (like `realpath`), inside the store only (see
    /// [`store::confine`]). `None` when something along the way does not exist or leaves the
    /// store (`/etc`, `../../../etc`).
    pub fn canonicalize(&self, logical: &str) -> Option<String> {
        let map = |base: &str| (self.real_of)(base);
        let view = View::Store {
            dir: Path::new(&self.store_dir),
            map: &map,
        };
        match view.resolve(Path::new(logical), true) {
            Resolution::Found { logical, .. } => logical.to_str().map(str::to_string),
            _ => None,
        }
    }

    fn stat(&self, logical: &str) -> Option<fs::Metadata> {
        let c = self.canonicalize(logical)?;
        fs::metadata(self.real(&c)?).ok()
    }

    pub fn exists(&self, logical: &str) -> bool {
        self.stat(logical).is_some()
    }

    pub fn is_dir(&self, logical: &str) -> bool {
        self.stat(logical).is_some_and(|m| m.is_dir())
    }

    pub fn is_file(&self, logical: &str) -> bool {
        self.stat(logical).is_some_and(|m| m.is_file())
    }

    pub fn is_symlink(&self, logical: &str) -> bool {
        self.real(logical)
            .and_then(|r| fs::symlink_metadata(r).ok())
            .is_some_and(|m| m.file_type().is_symlink())
    }

    /// Entry names of a directory (following symlinks), sorted.
    pub fn read_dir(&self, logical: &str) -> Result<Vec<String>> {
        let c = self
            .canonicalize(logical)
            .ok_or_else(|| anyhow!("cannot open `{logical}': no such directory"))?;
        let real = self
            .real(&c)
            .ok_or_else(|| anyhow!("cannot open `{logical}'"))?;
        let mut names = Vec::new();
        for e in fs::read_dir(&real).with_context(|| format!("cannot open `{logical}'"))? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn read(&self, logical: &str) -> Option<Vec<u8>> {
        let c = self.canonicalize(logical)?;
        fs::read(self.real(&c)?).ok()
    }
}

/// Arguments of `rnix-buildenv`.
#[derive(Debug, Clone)]
pub struct BuildEnvArgs {
    /// (store path, priority); a lower number wins.
    pub paths: Vec<(String, i64)>,
    pub paths_to_link: Vec<String>,
    pub extra_prefix: String,
    pub ignore_collisions: bool,
    pub check_collision_contents: bool,
    /// A path to link as `$out/manifest` (empty for none).
    pub manifest: String,
    /// Physical output directory.
    pub out: PathBuf,
}

/// What happened (warnings like nixpkgs prints them, and the number of links).
#[derive(Debug, Default)]
pub struct BuildEnvReport {
    pub warnings: Vec<String>,
    pub links: usize,
}

#[derive(Debug, Clone)]
enum Entry {
    Dir,
    Link(String),
}

struct Env<'a, 'b> {
    fs: &'a StoreFs<'b>,
    paths_to_link: Vec<String>,
    check_contents: bool,
    symlinks: BTreeMap<String, (Entry, i64)>,
    warnings: Vec<String>,
}

/// `path` equals `elem` or is below it.
fn is_under(path: &str, elem: &str) -> bool {
    path == elem || (path.starts_with(elem) && path.as_bytes().get(elem.len()) == Some(&b'/'))
}

impl Env<'_, '_> {
    fn in_paths_to_link(&self, path: &str) -> bool {
        let path = if path.is_empty() { "/" } else { path };
        self.paths_to_link
            .iter()
            .any(|e| e == "/" || is_under(path, e))
    }

    /// Whether `path` may contain something named in pathsToLink.
    fn has_paths_to_link(&self, path: &str) -> bool {
        self.paths_to_link
            .iter()
            .any(|e| path.is_empty() || is_under(e, path))
    }

    fn dangling(&self, p: &str) -> String {
        if self.fs.is_symlink(p) && !self.fs.exists(p) {
            format!("dangling symlink `{p}'")
        } else {
            format!("`{p}'")
        }
    }

    fn same_file(&mut self, a: &str, b: &str) -> bool {
        let (Some(ma), Some(mb)) = (self.fs.stat(a), self.fs.stat(b)) else {
            return false;
        };
        let (pa, pb) = (
            ma.permissions().mode() & 0o7777,
            mb.permissions().mode() & 0o7777,
        );
        if pa != pb {
            self.warnings.push(format!(
                "different permissions in `{a}' and `{b}': {pa:04o} <-> {pb:04o}"
            ));
            return false;
        }
        match (self.fs.read(a), self.fs.read(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
    }

    fn find_files(
        &mut self,
        rel: &str,
        target: &str,
        base: &str,
        ignore: u8,
        prio: i64,
    ) -> Result<()> {
        let is_store_path = Path::new(target)
            .parent()
            .is_some_and(|p| p == Path::new(&self.fs.store_dir));
        if is_store_path && self.fs.is_file(target) {
            bail!("The store path {target} is a file and can't be merged into an environment using pkgs.buildEnv!");
        }
        if rel == "/propagated-build-inputs"
            || rel == "/nix-support"
            || rel.ends_with("info/dir")
            || (rel.starts_with("/share/mime/") && !rel.starts_with("/share/mime/packages"))
            || base == "perllocal.pod"
            || base == "log"
            || !(self.has_paths_to_link(rel) || self.in_paths_to_link(rel))
        {
            return Ok(());
        }
        let old = self.symlinks.get(rel).cloned();
        let replace = match &old {
            None => true,
            Some((Entry::Link(o), op)) => prio < *op && !self.fs.is_dir(o),
            Some((Entry::Dir, _)) => false,
        };
        if replace {
            if self.fs.is_symlink(target) && !self.fs.exists(target) {
                self.warnings
                    .push(format!("creating dangling symlink `{rel}' -> `{target}'"));
            }
            self.symlinks
                .insert(rel.to_string(), (Entry::Link(target.to_string()), prio));
            return Ok(());
        }
        let (old_entry, old_prio) = old.expect("checked above");
        if let Entry::Link(o) = &old_entry {
            if let (Some(a), Some(b)) = (self.fs.canonicalize(target), self.fs.canonicalize(o)) {
                if a == b && self.fs.exists(target) {
                    if self.fs.is_symlink(o) && !self.fs.is_symlink(target) {
                        self.symlinks
                            .insert(rel.to_string(), (Entry::Link(target.to_string()), prio));
                    }
                    return Ok(());
                }
            }
            if prio > old_prio && !self.fs.is_dir(o) {
                return Ok(());
            }
        }
        if matches!(old_entry, Entry::Dir) && !self.fs.is_dir(target) {
            bail!("not a directory: `{target}'");
        }
        let old_is_dir = match &old_entry {
            Entry::Dir => true,
            Entry::Link(o) => self.fs.is_dir(o),
        };
        if !(self.fs.is_dir(target) && old_is_dir) {
            let o = match &old_entry {
                Entry::Link(o) => o.clone(),
                Entry::Dir => String::new(),
            };
            let (t_ref, o_ref) = (self.dangling(target), self.dangling(&o));
            if ignore > 0 {
                if ignore == 1 {
                    self.warnings
                        .push(format!("collision between {t_ref} and {o_ref}"));
                }
                return Ok(());
            }
            if self.check_contents && self.same_file(&o, target) {
                return Ok(());
            }
            bail!("collision between {t_ref} and {o_ref}");
        }
        if let Entry::Link(o) = &old_entry {
            self.find_in_dir(rel, o, ignore, old_prio)?;
        }
        self.find_in_dir(rel, target, ignore, prio)?;
        self.symlinks.insert(rel.to_string(), (Entry::Dir, prio));
        Ok(())
    }

    fn find_in_dir(&mut self, rel: &str, target: &str, ignore: u8, prio: i64) -> Result<()> {
        for name in self.fs.read_dir(target)? {
            self.find_files(
                &format!("{rel}/{name}"),
                &format!("{target}/{name}"),
                &name,
                ignore,
                prio,
            )?;
        }
        Ok(())
    }
}

/// Build the environment into `args.out`.
pub fn build_env(args: &BuildEnvArgs, store: &StoreFs) -> Result<BuildEnvReport> {
    let mut env = Env {
        fs: store,
        paths_to_link: args
            .paths_to_link
            .iter()
            .map(|p| normalize_link_path(p))
            .collect(),
        check_contents: args.check_collision_contents,
        symlinks: BTreeMap::new(),
        warnings: Vec::new(),
    };
    if env.paths_to_link.is_empty() {
        env.paths_to_link.push("/".into());
    }
    // pathsToLink and their parents are directories.
    env.symlinks.insert(String::new(), (Entry::Dir, 0));
    for p in env.paths_to_link.clone() {
        let mut cur = String::new();
        for part in p.split('/').filter(|s| !s.is_empty()) {
            cur = format!("{cur}/{part}");
            env.symlinks.insert(cur.clone(), (Entry::Dir, 0));
        }
    }
    let mut done = BTreeSet::new();
    let mut postponed = BTreeSet::new();
    let add_pkg = |env: &mut Env,
                   dir: &str,
                   ignore: u8,
                   prio: i64,
                   done: &mut BTreeSet<String>,
                   postponed: &mut BTreeSet<String>|
     -> Result<()> {
        if !done.insert(dir.to_string()) {
            return Ok(());
        }
        env.find_files("", dir, "", ignore, prio)?;
        let prop = format!("{dir}/nix-support/propagated-user-env-packages");
        if let Some(data) = env.fs.read(&prop) {
            for p in String::from_utf8_lossy(&data).split_whitespace() {
                if !done.contains(p) {
                    postponed.insert(p.to_string());
                }
            }
        }
        Ok(())
    };
    for (p, prio) in &args.paths {
        if store.exists(p) {
            add_pkg(
                &mut env,
                p,
                u8::from(args.ignore_collisions),
                *prio,
                &mut done,
                &mut postponed,
            )?;
        }
    }
    let mut counter = 1000;
    while !postponed.is_empty() {
        let batch = std::mem::take(&mut postponed);
        for p in batch {
            add_pkg(&mut env, &p, 2, counter, &mut done, &mut postponed)?;
            counter += 1;
        }
    }

    // The environment is written by this process, outside the sandbox: nothing may land
    // outside the output.
    if Path::new(&args.extra_prefix)
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        bail!(
            "extraPrefix `{}' leaves the output (it must not contain `..')",
            args.extra_prefix
        );
    }
    let base = if args.extra_prefix.is_empty() {
        args.out.clone()
    } else {
        args.out.join(args.extra_prefix.trim_start_matches('/'))
    };
    fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let mut links = 0;
    for (rel, (entry, _)) in &env.symlinks {
        if !env.in_paths_to_link(rel) {
            continue;
        }
        let abs = base.join(rel.trim_start_matches('/'));
        match entry {
            Entry::Dir => fs::create_dir_all(&abs)
                .with_context(|| format!("cannot create directory `{}'", abs.display()))?,
            Entry::Link(t) => {
                symlink(t, &abs)
                    .with_context(|| format!("error creating link `{}'", abs.display()))?;
                links += 1;
            }
        }
    }
    if !args.manifest.is_empty() {
        symlink(&args.manifest, args.out.join("manifest")).context("cannot create manifest")?;
    }
    Ok(BuildEnvReport {
        warnings: env.warnings,
        links,
    })
}

/// `pathsToLink` entries are absolute (`/bin`); `/` stays `/`; trailing slashes are dropped.
fn normalize_link_path(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else if t.starts_with('/') {
        t.to_string()
    } else {
        format!("/{t}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two packages: `a` has `etc -> /etc` (and `../` variants), `b` a real `etc/`. Merging
    /// must not look into the host's /etc, and extraPrefix may not leave the output.
    #[test]
    fn links_out_of_the_store_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let store = t.path().join("nix/store");
        let a = store.join("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a");
        let b = store.join("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b");
        fs::create_dir_all(b.join("etc")).unwrap();
        fs::create_dir_all(b.join("share/x")).unwrap();
        fs::write(b.join("etc/mine"), "x").unwrap();
        fs::create_dir_all(&a).unwrap();
        symlink("/etc", a.join("etc")).unwrap();
        symlink("../../../../../../../../../../etc", a.join("share")).unwrap();
        let st = store.clone();
        let sfs = StoreFs {
            store_dir: "/nix/store".into(),
            real_of: Box::new(move |n: &str| {
                let p = st.join(n);
                fs::symlink_metadata(&p).ok().map(|_| p)
            }),
        };
        assert_eq!(
            sfs.canonicalize("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a/etc"),
            None
        );
        assert!(!sfs.is_dir("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a/share"));
        let mut args = BuildEnvArgs {
            paths: vec![
                ("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a".into(), 5),
                ("/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b".into(), 5),
            ],
            paths_to_link: vec!["/".into()],
            extra_prefix: String::new(),
            ignore_collisions: false,
            check_collision_contents: true,
            manifest: String::new(),
            out: t.path().join("out"),
        };
        let e = build_env(&args, &sfs).unwrap_err().to_string();
        assert!(e.contains("collision between"), "{e}");
        args.ignore_collisions = true;
        build_env(&args, &sfs).unwrap();
        let etc = args.out.join("etc");
        assert!(etc.symlink_metadata().unwrap().file_type().is_symlink());
        assert!(!args.out.join("share/passwd").exists());
        args.out = t.path().join("out2");
        args.extra_prefix = "/../../escaped".into();
        let e = build_env(&args, &sfs).unwrap_err().to_string();
        assert!(e.contains("leaves the output"), "{e}");
        assert!(!t.path().parent().unwrap().join("escaped").exists());
    }

    #[test]
    fn path_predicates() {
        assert!(is_under("/bin/x", "/bin"));
        assert!(is_under("/bin", "/bin"));
        assert!(!is_under("/binx", "/bin"));
        assert_eq!(normalize_link_path("bin/"), "/bin");
        assert_eq!(normalize_link_path("/"), "/");
    }
}
