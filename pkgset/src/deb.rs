//! Unpacking Debian binary packages (`.deb`) into Nix-style store paths.
//!
//! A `.deb` is an `ar` archive holding `control.tar.*` and `data.tar.*`. The data tarball is
//! unpacked into the output directory with its paths relocated (see [`relocate`]): `usr/` is
//! stripped, multiarch library directories become `lib/`, `sbin` becomes `bin`, `lib64/` and
//! documentation are dropped. Several `.deb`s can be unpacked into one output (package groups
//! such as `python311`). Absolute symlinks are rewritten through the relocation map: relative
//! when the target is inside the output, into a dependency's store path when a dependency
//! provides it.
//!
//! The ELF patching that follows is in [`crate::elf`]; [`build_deb_package`] does both.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::builders::StoreObject;
use crate::elf;

/// Name of the program loader shipped by libc6.
pub const LOADER_NAME: &str = "ld-linux-x86-64.so.2";

/// Directories under `share/` that are never installed.
const DROPPED_SHARE_DIRS: &[&str] = &["doc", "man", "info", "lintian", "locale"];

/// Program-name symlinks that Debian creates at install time (update-alternatives in
/// maintainer scripts) and that nixpkgs' packages ship: `(debian package, link in bin/, target)`.
/// A link is only added when its target exists and the link does not.
const PROGRAM_ALIASES: &[(&str, &str, &str)] = &[
    ("bash", "sh", "bash"),
    ("gawk", "awk", "gawk"),
    ("mawk", "awk", "mawk"),
    ("python3.11-minimal", "python3", "python3.11"),
    ("python3.11-minimal", "python", "python3.11"),
    ("xz-utils", "lzma", "xz"),
    ("xz-utils", "unlzma", "unxz"),
    ("xz-utils", "lzcat", "xzcat"),
    ("ncurses-bin", "reset", "tset"),
];

/// Directories whose `<name>/bin` subdirectories hold programs that Debian runs through
/// alternatives or wrappers (see `DebUnpacker::post_process`).
const PRIVATE_PROGRAM_DIRS: &[&str] = &["lib/jvm", "lib/postgresql"];

/// Map a path of a Debian package (relative to `/`, without `./`) to its place in a Nix-style
/// store path. `None` means the path is not installed.
///
/// ```
/// use pkgset::deb::relocate;
/// assert_eq!(relocate("usr/lib/x86_64-linux-gnu/libz.so.1").as_deref(), Some("lib/libz.so.1"));
/// assert_eq!(relocate("lib/x86_64-linux-gnu/libc.so.6").as_deref(), Some("lib/libc.so.6"));
/// assert_eq!(relocate("usr/lib/python3.11/os.py").as_deref(), Some("lib/python3.11/os.py"));
/// assert_eq!(relocate("usr/sbin/update-ca-certificates").as_deref(), Some("bin/update-ca-certificates"));
/// assert_eq!(relocate("bin/bash").as_deref(), Some("bin/bash"));
/// assert_eq!(relocate("etc/bash.bashrc").as_deref(), Some("etc/bash.bashrc"));
/// assert_eq!(relocate("usr/share/doc/bash/copyright"), None);
/// assert_eq!(relocate("lib64/ld-linux-x86-64.so.2"), None);
/// ```
pub fn relocate(path: &str) -> Option<String> {
    let path = path.trim_matches('/');
    if path == "usr" {
        return Some(String::new());
    }
    let p = path.strip_prefix("usr/").unwrap_or(path);
    let first = p.split('/').next().unwrap_or("");
    if first == "lib64" {
        return None;
    }
    if let Some(rest) = strip_dir(p, "lib/x86_64-linux-gnu") {
        return Some(join_rel("lib", rest));
    }
    if let Some(rest) = strip_dir(p, "sbin") {
        return Some(join_rel("bin", rest));
    }
    if let Some(rest) = strip_dir(p, "share") {
        let sub = rest.split('/').next().unwrap_or("");
        if DROPPED_SHARE_DIRS.contains(&sub) {
            return None;
        }
    }
    Some(p.to_string())
}

/// `Some(rest)` when `path` is `dir` or below it (`rest` is `""` for `dir` itself).
fn strip_dir<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    if path == dir {
        Some("")
    } else {
        path.strip_prefix(dir).and_then(|r| r.strip_prefix('/'))
    }
}

fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// Normalise an archive member path: drops `.` and leading `/`, rejects `..` and anything that
/// is not valid UTF-8. Returns the path relative to the package root (`""` for the root).
pub fn normalize_member(raw: &[u8]) -> Result<String> {
    let s = std::str::from_utf8(raw).map_err(|_| {
        anyhow!(
            "archive member name is not UTF-8: {:?}",
            String::from_utf8_lossy(raw)
        )
    })?;
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(s).components() {
        match c {
            Component::CurDir | Component::RootDir => {}
            Component::Normal(n) => parts.push(n.to_str().expect("checked UTF-8")),
            Component::ParentDir => bail!("archive member {s:?} escapes the target directory"),
            Component::Prefix(_) => bail!("archive member {s:?} has a path prefix"),
        }
    }
    Ok(parts.join("/"))
}

/// Lexically resolve `target` of a symlink located at `link` (both relative to the package root)
/// into a path relative to the package root. `..` above the root stays at the root, as the kernel does.
pub fn resolve_link_target(link: &str, target: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !target.starts_with('/') {
        parts.extend(link.split('/').filter(|s| !s.is_empty()));
        parts.pop();
    }
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            n => parts.push(n),
        }
    }
    parts.join("/")
}

/// Relative path from directory `from_dir` to `to` (both relative to the same root).
pub fn relative_path(from_dir: &str, to: &str) -> String {
    let from: Vec<&str> = from_dir.split('/').filter(|s| !s.is_empty()).collect();
    let to_parts: Vec<&str> = to.split('/').filter(|s| !s.is_empty()).collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out: Vec<&str> = vec![".."; from.len() - common];
    out.extend(&to_parts[common..]);
    if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }
}

/// The tarball members of a `.deb`, decompressed.
pub struct DebArchive {
    /// `Package:` from the control file.
    pub package: String,
    /// `Version:` from the control file.
    pub version: String,
    /// The whole control file.
    pub control: String,
    /// The `postinst` maintainer script, when there is one.
    pub postinst: Option<String>,
    data: Vec<u8>,
}

fn decompress(name: &str, raw: Vec<u8>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if name.ends_with(".xz") {
        xz2::read::XzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .with_context(|| format!("decompressing {name}"))?;
    } else if name.ends_with(".zst") {
        zstd::stream::read::Decoder::new(&raw[..])?
            .read_to_end(&mut out)
            .with_context(|| format!("decompressing {name}"))?;
    } else if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .with_context(|| format!("decompressing {name}"))?;
    } else if name.ends_with(".tar") {
        out = raw;
    } else {
        bail!("unsupported compression for member {name}");
    }
    Ok(out)
}

impl DebArchive {
    /// Read a `.deb` file.
    pub fn open(path: &Path) -> Result<DebArchive> {
        let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut ar = ar::Archive::new(io::BufReader::new(file));
        let mut control_tar = None;
        let mut data_tar = None;
        let mut saw_binary = false;
        while let Some(entry) = ar.next_entry() {
            let mut entry = entry.with_context(|| {
                format!("{}: not a Debian package (bad ar archive)", path.display())
            })?;
            let name = String::from_utf8_lossy(entry.header().identifier())
                .trim_end_matches('/')
                .to_string();
            let mut buf = Vec::new();
            entry
                .read_to_end(&mut buf)
                .with_context(|| format!("reading {} from {}", name, path.display()))?;
            if name == "debian-binary" {
                saw_binary = true;
                let v = String::from_utf8_lossy(&buf);
                if !v.trim().starts_with("2.") {
                    bail!(
                        "{}: unsupported .deb format version {:?}",
                        path.display(),
                        v.trim()
                    );
                }
            } else if name.starts_with("control.tar") {
                control_tar =
                    Some(decompress(&name, buf).with_context(|| path.display().to_string())?);
            } else if name.starts_with("data.tar") {
                data_tar =
                    Some(decompress(&name, buf).with_context(|| path.display().to_string())?);
            }
        }
        if !saw_binary {
            bail!(
                "{}: not a Debian package (no debian-binary member)",
                path.display()
            );
        }
        let control_tar =
            control_tar.ok_or_else(|| anyhow!("{}: no control.tar member", path.display()))?;
        let data = data_tar.ok_or_else(|| anyhow!("{}: no data.tar member", path.display()))?;
        let mut control = None;
        let mut postinst = None;
        let mut tar = tar::Archive::new(&control_tar[..]);
        for e in tar.entries()? {
            let mut e = e?;
            let name = normalize_member(&e.path_bytes())?;
            if name == "control" {
                let mut s = String::new();
                e.read_to_string(&mut s)?;
                control = Some(s);
            } else if name == "postinst" {
                let mut b = Vec::new();
                e.read_to_end(&mut b)?;
                postinst = Some(String::from_utf8_lossy(&b).into_owned());
            }
        }
        let control = control
            .ok_or_else(|| anyhow!("{}: control.tar has no control file", path.display()))?;
        let field = |f: &str| {
            control.lines().find_map(|l| {
                l.strip_prefix(f)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(|v| v.trim().to_string())
            })
        };
        let package = field("Package")
            .ok_or_else(|| anyhow!("{}: control has no Package field", path.display()))?;
        let version = field("Version").unwrap_or_default();
        Ok(DebArchive {
            postinst,
            package,
            version,
            control,
            data,
        })
    }
}

#[derive(Debug, Clone)]
struct PendingLink {
    /// Where the link was in the package (relative to `/`).
    old: String,
    /// Where it goes in the output.
    new: String,
    target: String,
}

/// Accumulates one or more `.deb`s into one output directory.
pub struct DebUnpacker {
    out: PathBuf,
    /// Every relocated path that will exist in the output (files, dirs, links; with ancestors).
    present: BTreeSet<String>,
    links: Vec<PendingLink>,
    hardlinks: Vec<(String, String)>,
    packages: Vec<String>,
    /// `update-alternatives` links of the maintainer scripts: (link, target), both as
    /// absolute Debian paths.
    alternatives: Vec<(String, String)>,
    log: Vec<String>,
}

impl DebUnpacker {
    /// Unpack into `out` (created if missing).
    pub fn new(out: &Path) -> Result<DebUnpacker> {
        fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        Ok(DebUnpacker {
            out: out.to_path_buf(),
            present: BTreeSet::new(),
            links: Vec::new(),
            hardlinks: Vec::new(),
            packages: Vec::new(),
            alternatives: Vec::new(),
            log: Vec::new(),
        })
    }

    /// Debian package names unpacked so far.
    pub fn packages(&self) -> &[String] {
        &self.packages
    }

    fn mark_present(&mut self, rel: &str) {
        let mut cur = String::new();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(part);
            self.present.insert(cur.clone());
        }
    }

    /// Unpack the data of one `.deb` (regular files and directories now, links at [`finish`](Self::finish)).
    pub fn add_deb(&mut self, deb_path: &Path) -> Result<()> {
        let deb = DebArchive::open(deb_path)?;
        self.add_archive(&deb)
            .with_context(|| format!("unpacking {} ({})", deb.package, deb_path.display()))
    }

    /// Unpack an already opened archive.
    pub fn add_archive(&mut self, deb: &DebArchive) -> Result<()> {
        self.packages.push(deb.package.clone());
        if let Some(script) = &deb.postinst {
            self.alternatives.extend(alternatives_in(script));
        }
        let mut tar = tar::Archive::new(&deb.data[..]);
        for entry in tar.entries()? {
            let mut entry = entry?;
            let old = normalize_member(&entry.path_bytes())?;
            let Some(new) = relocate(&old) else { continue };
            let kind = entry.header().entry_type();
            let dest = self.out.join(&new);
            match kind {
                tar::EntryType::Directory => {
                    if !new.is_empty() {
                        if let Ok(m) = fs::symlink_metadata(&dest) {
                            if !m.is_dir() {
                                bail!("{old}: directory collides with a file at {new}");
                            }
                        }
                        fs::create_dir_all(&dest)
                            .with_context(|| format!("creating {}", dest.display()))?;
                        self.mark_present(&new);
                    }
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mode = entry.header().mode().unwrap_or(0o644);
                    let mut data = Vec::new();
                    entry
                        .read_to_end(&mut data)
                        .with_context(|| format!("reading {old}"))?;
                    if let Ok(m) = fs::symlink_metadata(&dest) {
                        if m.is_file() && fs::read(&dest)? == data {
                            continue;
                        }
                        bail!("collision: {old} relocates to {new}, which another file already occupies");
                    }
                    if self.links.iter().any(|l| l.new == new) {
                        // A link at the same place (e.g. `usr/bin/x -> /bin/x`) loses against the file.
                        self.links.retain(|l| l.new != new);
                    }
                    if let Some(parent) = dest.parent() {
                        fs::create_dir_all(parent)
                            .with_context(|| format!("creating {}", parent.display()))?;
                    }
                    write_file(&dest, &data, mode)?;
                    self.mark_present(&new);
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .ok_or_else(|| anyhow!("{old}: symlink without target"))?;
                    let target = String::from_utf8(target.into_owned())
                        .map_err(|_| anyhow!("{old}: symlink target is not UTF-8"))?;
                    if self.present.contains(&new) && !self.links.iter().any(|l| l.new == new) {
                        // A real file is already there; a link to it from the old location is redundant.
                        let resolved = resolve_link_target(&old, &target);
                        if relocate(&alias_target(&resolved)).as_deref() == Some(new.as_str()) {
                            continue;
                        }
                        bail!("collision: symlink {old} relocates to {new}, which a file already occupies");
                    }
                    self.links.retain(|l| l.new != new);
                    self.links.push(PendingLink {
                        old: old.clone(),
                        new: new.clone(),
                        target,
                    });
                    self.mark_present(&new);
                }
                tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .ok_or_else(|| anyhow!("{old}: hard link without target"))?;
                    let target = normalize_member(&target)?;
                    let target_new = relocate(&target).ok_or_else(|| {
                        anyhow!("{old}: hard link to {target}, which is not installed")
                    })?;
                    self.hardlinks.push((new.clone(), target_new));
                    self.mark_present(&new);
                }
                other => {
                    self.log
                        .push(format!("skipping {old}: unsupported entry type {other:?}"));
                }
            }
        }
        Ok(())
    }

    /// Create hard-linked files (as copies) and symlinks. Symlink targets are rewritten:
    /// inside the output they become relative, otherwise they point into the first dependency
    /// (in `deps` order) that has the relocated target. Links to paths that are not installed
    /// (documentation) are dropped. Returns log lines.
    pub fn finish(mut self, deps: &[StoreObject]) -> Result<Vec<String>> {
        for (new, target) in std::mem::take(&mut self.hardlinks) {
            let src = self.out.join(&target);
            let dest = self.out.join(&new);
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::copy(&src, &dest).with_context(|| {
                format!("hard link {new} -> {target}: copying {}", src.display())
            })?;
        }
        for link in std::mem::take(&mut self.links) {
            let resolved = alias_target(&resolve_link_target(&link.old, &link.target));
            let Some(new_target) = relocate(&resolved) else {
                self.log.push(format!(
                    "dropping link {} -> {} (target not installed)",
                    link.old, link.target
                ));
                self.present.remove(&link.new);
                continue;
            };
            if new_target == link.new {
                continue;
            }
            let parent = link.new.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            let value = if self.present.contains(&new_target) || new_target.is_empty() {
                relative_path(parent, &new_target)
            } else if let Some(dep) = deps.iter().find(|d| {
                matches!(
                    d.resolve(&new_target, false),
                    store::confine::Resolution::Found { .. }
                )
            }) {
                format!("{}/{}", dep.logical.display(), new_target)
            } else if !link.target.starts_with('/') {
                self.log
                    .push(format!("dangling link {} -> {}", link.new, link.target));
                relative_path(parent, &new_target)
            } else {
                self.log.push(format!(
                    "dangling link {} -> {} (kept as is)",
                    link.new, link.target
                ));
                link.target.clone()
            };
            // Links made earlier are followed inside the output only (never to the host).
            let (parent_rel, file) = link.new.rsplit_once('/').unwrap_or(("", &link.new));
            let dest = store::confine::create_dir_all_in(&self.out, Path::new(parent_rel))
                .with_context(|| format!("creating the parent of {}", link.new))?
                .join(file);
            symlink(&value, &dest)
                .with_context(|| format!("creating symlink {}", dest.display()))?;
        }
        self.post_process()?;
        Ok(self.log)
    }

    fn post_process(&mut self) -> Result<()> {
        let bin = self.out.join("bin");
        let bin_is_dir = fs::symlink_metadata(&bin).is_ok_and(|m| m.is_dir());
        for (pkg, link, target) in PROGRAM_ALIASES {
            if bin_is_dir
                && self.packages.iter().any(|p| p == pkg)
                && fs::symlink_metadata(bin.join(target)).is_ok()
                && fs::symlink_metadata(bin.join(link)).is_err()
            {
                symlink(target, bin.join(link))?;
                self.log.push(format!("added bin/{link} -> {target}"));
            }
        }
        // update-alternatives links of the maintainer scripts: programs (bin/<name>) and
        // libraries (lib/<name>, e.g. libblas.so.3 -> blas/libblas.so.3) -> the target, when
        // the target is a file of this output and nothing has the name yet
        let alternatives = std::mem::take(&mut self.alternatives);
        for (link, target) in alternatives {
            let (Some(l), Some(t)) = (
                relocate(link.trim_start_matches('/')),
                relocate(target.trim_start_matches('/')),
            ) else {
                continue;
            };
            let Some((dir, name)) = l.split_once('/') else {
                continue;
            };
            if !(dir == "bin" || dir == "lib") || name.contains('/') || t == l {
                continue;
            }
            if fs::metadata(self.out.join(&t)).is_ok_and(|m| m.is_file())
                && fs::symlink_metadata(self.out.join(&l)).is_err()
            {
                fs::create_dir_all(self.out.join(dir))?;
                let rel = relative_path(dir, &t);
                symlink(&rel, self.out.join(&l))?;
                self.log
                    .push(format!("added {l} -> {rel} (update-alternatives)"));
            }
        }
        // Programs kept in a private directory that Debian puts on PATH through alternatives
        // or wrappers (openjdk's maintainer scripts loop over lib/jvm/<jdk>/bin, postgresql-common's
        // pg_wrapper runs lib/postgresql/<version>/bin): linked into bin/, as nixpkgs has them
        let mut progs = Vec::new();
        for parent in PRIVATE_PROGRAM_DIRS {
            let Ok(subs) = fs::read_dir(self.out.join(parent)) else {
                continue;
            };
            for sub in subs.flatten() {
                if !sub.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let dir = format!("{parent}/{}/bin", sub.file_name().to_string_lossy());
                if let Ok(es) = fs::read_dir(self.out.join(&dir)) {
                    for e in es.flatten() {
                        progs.push(format!("{dir}/{}", e.file_name().to_string_lossy()));
                    }
                }
            }
        }
        progs.sort();
        for t in progs {
            let name = t.rsplit('/').next().unwrap_or_default().to_string();
            if fs::metadata(self.out.join(&t)).is_ok_and(|m| m.is_file())
                && fs::symlink_metadata(bin.join(&name)).is_err()
            {
                fs::create_dir_all(&bin)?;
                symlink(relative_path("bin", &t), bin.join(&name))?;
                self.log.push(format!("added bin/{name} -> {t}"));
            }
        }
        if self.packages.iter().any(|p| p == "ca-certificates") {
            let n = generate_ca_bundle(&self.out)?;
            self.log.push(format!(
                "generated etc/ssl/certs/ca-certificates.crt from {n} certificates"
            ));
        }
        Ok(())
    }
}

/// The `update-alternatives --install LINK NAME PATH PRIORITY` and `--slave LINK NAME PATH`
/// links of a maintainer script, as (LINK, PATH), when both are literal absolute paths.
///
/// ```
/// let s = "update-alternatives --install /usr/bin/php php /usr/bin/php8.2 82 \\\n  --slave /usr/share/man/man1/php.1.gz php.1.gz /usr/share/man/man1/php8.2.1.gz\n";
/// assert_eq!(pkgset::deb::alternatives_in(s), vec![
///     ("/usr/bin/php".to_string(), "/usr/bin/php8.2".to_string()),
///     ("/usr/share/man/man1/php.1.gz".to_string(), "/usr/share/man/man1/php8.2.1.gz".to_string()),
/// ]);
/// let s = "for b in php phar; do\n  update-alternatives --install /usr/bin/${b} ${b} /usr/bin/${b}8.2 82\ndone\n";
/// assert_eq!(pkgset::deb::alternatives_in(s), vec![
///     ("/usr/bin/php".to_string(), "/usr/bin/php8.2".to_string()),
///     ("/usr/bin/phar".to_string(), "/usr/bin/phar8.2".to_string()),
/// ]);
/// let s = "ver=1.16\nupdate-alternatives --install /usr/bin/automake automake /usr/bin/automake-$ver 1\n";
/// assert_eq!(pkgset::deb::alternatives_in(s), vec![
///     ("/usr/bin/automake".to_string(), "/usr/bin/automake-1.16".to_string()),
/// ]);
/// ```
pub fn alternatives_in(script: &str) -> Vec<(String, String)> {
    let joined = script.replace("\\\n", " ");
    let mut out = Vec::new();
    // `for VAR in WORDS; do` ... `done` (one level): the calls inside run once per word
    let mut lp: Option<(String, Vec<String>)> = None;
    // `NAME=VALUE` assignments of literal values (`ver=1.16`, `basedir=/usr/share/maven`)
    let mut vars: Vec<(String, String)> = Vec::new();
    for line in joined.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [w] = words.as_slice() {
            if let Some((name, value)) = w.split_once('=') {
                let value = value.trim_matches(['"', '\'']);
                let literal_name =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if literal_name && !value.contains(['$', '`', '(', ';']) {
                    vars.retain(|(n, _)| n != name);
                    vars.push((name.to_string(), value.to_string()));
                }
                continue;
            }
        }
        if words.first() == Some(&"for") && words.get(2) == Some(&"in") {
            let var = words.get(1).copied().unwrap_or_default().to_string();
            let vals: Vec<String> = words[3..]
                .iter()
                .map(|w| w.trim_end_matches(';'))
                .take_while(|w| *w != "do")
                .filter(|w| !w.is_empty())
                .map(|w| w.to_string())
                .collect();
            let literal = vals.iter().all(|v| !v.contains(['$', '`', '*', '"', '\'']));
            lp = literal.then_some((var, vals));
            continue;
        }
        if words.first().is_some_and(|w| *w == "done" || *w == "done;") {
            lp = None;
            continue;
        }
        let Some(start) = words
            .iter()
            .position(|w| w.ends_with("update-alternatives"))
        else {
            continue;
        };
        let w = &words[start..];
        let expansions: Vec<Option<(&str, &str)>> = match &lp {
            Some((var, vals)) => vals
                .iter()
                .map(|v| Some((var.as_str(), v.as_str())))
                .collect(),
            None => vec![None],
        };
        for exp in expansions {
            let subst = |t: &str| {
                let mut t = match exp {
                    Some((var, val)) => t
                        .replace(&format!("${{{var}}}"), val)
                        .replace(&format!("${var}"), val),
                    None => t.to_string(),
                };
                // longest names first, so that `$verx` is not taken for `$ver` + `x`
                let mut vs: Vec<&(String, String)> = vars.iter().collect();
                vs.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
                for (n, v) in vs {
                    t = t
                        .replace(&format!("${{{n}}}"), v)
                        .replace(&format!("${n}"), v);
                }
                t
            };
            for i in 0..w.len() {
                if w[i] == "--install" || w[i] == "--slave" {
                    let (Some(link), Some(path)) = (w.get(i + 1), w.get(i + 3)) else {
                        continue;
                    };
                    let (link, path) = (subst(link), subst(path));
                    if link.starts_with('/')
                        && path.starts_with('/')
                        && !link.contains('$')
                        && !path.contains('$')
                    {
                        out.push((link, path));
                    }
                }
            }
        }
    }
    out
}

/// `lib64/<x>` is a compatibility link in Debian: for link targets it means the multiarch dir.
fn alias_target(path: &str) -> String {
    match strip_dir(path, "lib64") {
        Some(rest) if !rest.is_empty() => format!("lib/x86_64-linux-gnu/{rest}"),
        _ => path.to_string(),
    }
}

fn write_file(dest: &Path, data: &[u8], mode: u32) -> Result<()> {
    let mut f = fs::File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    f.write_all(data)?;
    // No setuid/setgid/sticky in the store; keep the owner able to patch the file.
    let mode = (mode & 0o777) | 0o200;
    fs::set_permissions(dest, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// What `update-ca-certificates` does at install time: concatenate every `.crt` under
/// `share/ca-certificates` (sorted by path) into `etc/ssl/certs/ca-certificates.crt`, and add
/// nixpkgs' name `ca-bundle.crt` for it. Returns the number of certificates.
pub fn generate_ca_bundle(out: &Path) -> Result<usize> {
    use store::confine::View;
    // Symlinks in the output are followed inside it only (never to the host's files).
    let mut certs = Vec::new();
    if let Some((_, src)) = View::Tree(out)
        .resolve(Path::new("share/ca-certificates"), true)
        .dir()
    {
        collect_files(&src, &mut certs)?;
    }
    let src = out.join("share/ca-certificates");
    certs.retain(|p| p.extension().is_some_and(|e| e == "crt"));
    certs.sort();
    if certs.is_empty() {
        bail!("ca-certificates: no .crt files under {}", src.display());
    }
    let mut bundle = Vec::new();
    for c in &certs {
        let data = fs::read(c)?;
        bundle.extend_from_slice(&data);
        if !data.ends_with(b"\n") {
            bundle.push(b'\n');
        }
    }
    let dir = store::confine::create_dir_all_in(out, Path::new("etc/ssl/certs"))?;
    let bundle_path = dir.join("ca-certificates.crt");
    if fs::symlink_metadata(&bundle_path).is_ok() {
        // Never write through whatever a package put there.
        fs::remove_file(&bundle_path)?;
    }
    write_file(&bundle_path, &bundle, 0o644)?;
    if fs::symlink_metadata(dir.join("ca-bundle.crt")).is_err() {
        symlink("ca-certificates.crt", dir.join("ca-bundle.crt"))?;
    }
    Ok(certs.len())
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd {
        let e = e?;
        let ft = e.file_type()?;
        if ft.is_dir() {
            collect_files(&e.path(), out)?;
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

/// Inputs of an `rnix-deb` build.
#[derive(Debug, Clone)]
pub struct DebBuild {
    /// The `.deb` files, unpacked in order into one output.
    pub debs: Vec<PathBuf>,
    /// Dependency packages (already relocated), searched in order for symlink targets and sonames.
    pub deps: Vec<StoreObject>,
    /// The glibc package; `None` when building glibc itself (its own loader is used).
    pub glibc: Option<StoreObject>,
    /// The output: where to write (`real`) and its store path (`logical`).
    pub out: StoreObject,
}

/// Result of [`build_deb_package`].
#[derive(Debug, Default)]
pub struct DebBuildReport {
    pub packages: Vec<String>,
    pub log: Vec<String>,
    pub patched: Vec<elf::PatchedElf>,
}

/// Unpack, relocate and ELF-patch a group of `.deb`s into `build.out`.
pub fn build_deb_package(build: &DebBuild) -> Result<DebBuildReport> {
    let mut unpacker = DebUnpacker::new(&build.out.real)?;
    for deb in &build.debs {
        unpacker.add_deb(deb)?;
    }
    let packages = unpacker.packages().to_vec();
    let mut log = unpacker.finish(&build.deps)?;
    let interp = match &build.glibc {
        Some(g) => {
            let real = g.real.join("lib").join(LOADER_NAME);
            if !real.exists() {
                bail!(
                    "glibc package {} has no lib/{LOADER_NAME}",
                    g.logical.display()
                );
            }
            g.logical.join("lib").join(LOADER_NAME)
        }
        None => {
            if !build.out.real.join("lib").join(LOADER_NAME).exists() {
                bail!("no glibc package given and the output has no lib/{LOADER_NAME}");
            }
            build.out.logical.join("lib").join(LOADER_NAME)
        }
    };
    let mut index = elf::SonameIndex::new();
    index.add_store_object(&build.out)?;
    if let Some(g) = &build.glibc {
        index.add_store_object(g)?;
    }
    for d in &build.deps {
        index.add_store_object(d)?;
    }
    let opts = elf::PatchOptions {
        interpreter: Some(interp.to_string_lossy().into_owned()),
        keep_origin: true,
        own: Some(build.out.clone()),
    };
    let patched = elf::patch_tree(&build.out.real, &index, &opts)?;
    for p in &patched {
        for m in &p.missing {
            log.push(format!(
                "warning: {}: needed library {m} not found in the package or its dependencies",
                p.path
            ));
        }
    }
    fix_text_files(build, &mut log)?;
    Ok(DebBuildReport {
        packages,
        log,
        patched,
    })
}

/// The Debian path `abs` (absolute) as a store path: in the output when it is there, else in
/// the first dependency (or glibc) that has it.
fn store_location(build: &DebBuild, abs: &str) -> Option<String> {
    let rel = relocate(&alias_target(abs.trim_start_matches('/')))?;
    if fs::symlink_metadata(build.out.real.join(&rel)).is_ok() {
        return Some(format!("{}/{rel}", build.out.logical.display()));
    }
    build
        .deps
        .iter()
        .chain(build.glibc.iter())
        .find(|d| {
            matches!(
                d.resolve(&rel, false),
                store::confine::Resolution::Found { .. }
            )
        })
        .map(|d| format!("{}/{rel}", d.logical.display()))
}

/// Text files that name Debian paths, made to name store paths:
/// - linker scripts (`lib/libc.so`: `GROUP ( /lib/x86_64-linux-gnu/libc.so.6 … )`): every
///   absolute path, where the output or a dependency has the file;
/// - pkg-config files (`lib/pkgconfig/*.pc`, `share/pkgconfig/*.pc`): `prefix=/usr` becomes
///   the output, multiarch library directories `lib`;
/// - a package with headers (`include/`, a `-dev` package) lists its dependencies in
///   `nix-support/propagated-build-inputs`, so that a build using it also finds the libraries
///   its `lib*.so` links point to (as nixpkgs' `dev` outputs propagate `out`).
fn fix_text_files(build: &DebBuild, log: &mut Vec<String>) -> Result<()> {
    let out = &build.out.real;
    let lib = out.join("lib");
    if let Ok(entries) = fs::read_dir(&lib) {
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let Ok(md) = fs::symlink_metadata(&p) else {
                continue;
            };
            let is_so = p.extension().is_some_and(|e| e == "so");
            if !md.is_file() || !is_so || md.len() > 64 * 1024 {
                continue;
            }
            let data = fs::read(&p)?;
            if !data.starts_with(b"/* GNU ld script") {
                continue;
            }
            let text = String::from_utf8_lossy(&data).into_owned();
            let mut changed = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(i) = rest.find('/') {
                // a path token starts with `/` after a blank or `(`
                let prev_ok = i == 0 || rest[..i].ends_with([' ', '(', '\t', '\n']);
                let end = rest[i..]
                    .find([' ', ')', '\t', '\n'])
                    .map(|e| i + e)
                    .unwrap_or(rest.len());
                let token = &rest[i..end];
                changed.push_str(&rest[..i]);
                if prev_ok && !token.starts_with("/*") && !token.starts_with("/nix/store/") {
                    match store_location(build, token) {
                        Some(loc) => changed.push_str(&loc),
                        None => changed.push_str(token),
                    }
                } else {
                    changed.push_str(token);
                }
                rest = &rest[end..];
            }
            changed.push_str(rest);
            if changed != text {
                write_replacing(&p, changed.as_bytes(), md.permissions().mode())?;
                log.push(format!(
                    "linker script {} names store paths",
                    p.strip_prefix(out).unwrap_or(&p).display()
                ));
            }
        }
    }
    let logical_out = build.out.logical.display().to_string();
    for dir in ["lib/pkgconfig", "share/pkgconfig"] {
        let Ok(entries) = fs::read_dir(out.join(dir)) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let Ok(md) = fs::symlink_metadata(&p) else {
                continue;
            };
            if !md.is_file() || p.extension().is_none_or(|e| e != "pc") {
                continue;
            }
            let text = String::from_utf8_lossy(&fs::read(&p)?).into_owned();
            let fixed: Vec<String> = text
                .lines()
                .map(|l| {
                    let l = l.replace("/lib/x86_64-linux-gnu", "/lib");
                    if let Some(v) = l.strip_prefix("prefix=") {
                        if v == "/usr" || v == "/" || v.is_empty() {
                            return format!("prefix={logical_out}");
                        }
                    }
                    l.replace("=/usr/", &format!("={logical_out}/"))
                })
                .collect();
            let mut fixed = fixed.join("\n");
            if text.ends_with('\n') {
                fixed.push('\n');
            }
            if fixed != text {
                write_replacing(&p, fixed.as_bytes(), md.permissions().mode())?;
                log.push(format!(
                    "pkg-config file {} names the store path",
                    p.strip_prefix(out).unwrap_or(&p).display()
                ));
            }
        }
    }
    if out.join("include").is_dir() && !build.deps.is_empty() {
        let support = out.join("nix-support");
        fs::create_dir_all(&support)?;
        let list: Vec<String> = build
            .deps
            .iter()
            .map(|d| d.logical.display().to_string())
            .collect();
        fs::write(
            support.join("propagated-build-inputs"),
            format!("{}\n", list.join(" ")),
        )?;
    }
    Ok(())
}

/// Replace a file of the output (which may be read-only, or a hard link) by new contents.
fn write_replacing(p: &Path, data: &[u8], mode: u32) -> Result<()> {
    let tmp = p.with_extension("rnix-tmp");
    fs::write(&tmp, data)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode & 0o7777))?;
    fs::rename(&tmp, p)?;
    Ok(())
}

/// Read the `Package:` names of `.deb` files (for diagnostics).
pub fn package_names(debs: &[PathBuf]) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let mut seen = HashSet::new();
    for d in debs {
        let a = DebArchive::open(d)?;
        if !seen.insert(a.package.clone()) {
            bail!("package {} given twice", a.package);
        }
        out.insert(a.package, d.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `share/ca-certificates` or `etc/ssl/certs/ca-certificates.crt` being links to the host
    /// makes the bundle neither read host certificates nor write through the link.
    #[test]
    fn ca_bundle_does_not_follow_links_out_of_the_output() {
        let t = tempfile::tempdir().unwrap();
        let host = t.path().join("host");
        fs::create_dir_all(host.join("certs")).unwrap();
        fs::write(host.join("certs/host.crt"), "HOST CERT\n").unwrap();
        fs::write(host.join("victim"), "precious\n").unwrap();
        let out = t.path().join("out");
        fs::create_dir_all(out.join("share")).unwrap();
        symlink(host.join("certs"), out.join("share/ca-certificates")).unwrap();
        assert!(
            generate_ca_bundle(&out).is_err(),
            "host certificates were read"
        );

        fs::remove_file(out.join("share/ca-certificates")).unwrap();
        fs::create_dir_all(out.join("share/ca-certificates/x")).unwrap();
        fs::write(out.join("share/ca-certificates/x/a.crt"), "A\n").unwrap();
        fs::create_dir_all(out.join("etc/ssl/certs")).unwrap();
        symlink(
            host.join("victim"),
            out.join("etc/ssl/certs/ca-certificates.crt"),
        )
        .unwrap();
        assert_eq!(generate_ca_bundle(&out).unwrap(), 1);
        assert_eq!(
            fs::read_to_string(host.join("victim")).unwrap(),
            "precious\n"
        );
        assert_eq!(
            fs::read_to_string(out.join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
            "A\n"
        );
    }

    #[test]
    fn relocation_rules() {
        assert_eq!(relocate("usr").as_deref(), Some(""));
        assert_eq!(relocate("usr/bin/ls").as_deref(), Some("bin/ls"));
        assert_eq!(relocate("sbin/ldconfig").as_deref(), Some("bin/ldconfig"));
        assert_eq!(relocate("usr/lib/x86_64-linux-gnu").as_deref(), Some("lib"));
        assert_eq!(
            relocate("usr/lib/x86_64-linux-gnu/gconv/UTF-16.so").as_deref(),
            Some("lib/gconv/UTF-16.so")
        );
        assert_eq!(
            relocate("usr/share/ca-certificates/x.crt").as_deref(),
            Some("share/ca-certificates/x.crt")
        );
        assert_eq!(relocate("usr/share/locale/de/LC_MESSAGES/x.mo"), None);
        assert_eq!(relocate("usr/share/man"), None);
        assert_eq!(
            relocate("usr/share/mandoc").as_deref(),
            Some("share/mandoc")
        );
        assert_eq!(relocate("usr/lib64/foo"), None);
        assert_eq!(relocate("lib64"), None);
        assert_eq!(relocate("usr/libexec/x").as_deref(), Some("libexec/x"));
    }

    #[test]
    fn member_names() {
        assert_eq!(normalize_member(b"./usr/bin/ls").unwrap(), "usr/bin/ls");
        assert_eq!(normalize_member(b"./").unwrap(), "");
        assert_eq!(normalize_member(b"/etc/x").unwrap(), "etc/x");
        assert!(normalize_member(b"./usr/../../etc/passwd").is_err());
        assert!(normalize_member(b"\xff").is_err());
    }

    #[test]
    fn link_targets() {
        assert_eq!(resolve_link_target("usr/bin/x", "/bin/y"), "bin/y");
        assert_eq!(
            resolve_link_target("usr/lib/x86_64-linux-gnu/libz.so.1", "libz.so.1.2.13"),
            "usr/lib/x86_64-linux-gnu/libz.so.1.2.13"
        );
        assert_eq!(
            resolve_link_target(
                "usr/lib/python3.11/sitecustomize.py",
                "../../../etc/python3.11/sitecustomize.py"
            ),
            "etc/python3.11/sitecustomize.py"
        );
        assert_eq!(resolve_link_target("a", "../../../b"), "b");
        assert_eq!(
            relative_path("lib/python3.11", "etc/python3.11/s.py"),
            "../../etc/python3.11/s.py"
        );
        assert_eq!(relative_path("bin", "bin/bash"), "bash");
        assert_eq!(relative_path("", "lib/x"), "lib/x");
        assert_eq!(
            alias_target("lib64/ld-linux-x86-64.so.2"),
            "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        );
    }
}
