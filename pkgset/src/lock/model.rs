//! The lock file (`pkgs/lock.json`) and the roots file (`pkgs/lock-roots.json`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub const LOCK_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    pub version: u32,
    pub debian: DebianLock,
    pub pypi: BTreeMap<String, PypiEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebianLock {
    pub suites: Vec<String>,
    pub packages: BTreeMap<String, DebEntry>,
    /// Packages that share one store path: the package set's groups (`python311`, `glibc`)
    /// and every dependency cycle of the archive (store paths cannot refer to each other in
    /// a cycle). Keyed by the group's name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupEntry>,
}

/// A store path holding several Debian packages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEntry {
    /// The packages, in unpacking order; the first gives the store path's version.
    pub members: Vec<String>,
    /// Direct dependencies of the group: keys (see [`DebianLock::keys`]), sorted.
    pub depends: Vec<String>,
    /// The store path's name when it is not the group's name (`python311` -> `python3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pname: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebEntry {
    pub version: String,
    /// `debian` or `debian-security`; fetched as `mirror://<archive>/<path>`.
    pub archive: String,
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// Direct dependencies: keys (see [`DebianLock::keys`]), sorted. For a member of a
    /// group, its own dependencies outside the group (the group's are their union).
    pub depends: Vec<String>,
    /// The group whose store path holds this package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PypiEntry {
    pub version: String,
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    pub depends: Vec<String>,
}

impl DebEntry {
    pub fn url(&self) -> String {
        format!("mirror://{}/{}", self.archive, self.path)
    }
}

/// Where the archive index lives in the repository (relative to its root).
pub const INDEX_PATH: &str = "snapshot/debian-bookworm.json.zst";

impl DebianLock {
    /// The archive index as the repository stores it: compact JSON with sorted keys,
    /// compressed with zstd.
    pub fn to_index_bytes(&self) -> Result<Vec<u8>> {
        let v = sort_keys(serde_json::to_value(self).context("serialising the index")?);
        let json = serde_json::to_vec(&v).context("serialising the index")?;
        zstd::encode_all(&json[..], 19).context("compressing the index")
    }

    /// Reads and checks an index written by [`DebianLock::to_index_bytes`].
    pub fn from_index_bytes(b: &[u8]) -> Result<Self> {
        let json = zstd::decode_all(b).context("decompressing the Debian index")?;
        let l: DebianLock = serde_json::from_slice(&json).context("parsing the Debian index")?;
        l.check().context("checking the Debian index")?;
        Ok(l)
    }

    /// Writes the index atomically.
    pub fn write_index(&self, path: &Path) -> Result<()> {
        let bytes = self.to_index_bytes()?;
        write_atomic(path, &bytes)
    }

    /// The names of store paths: every group, and every package outside a group.
    pub fn is_key(&self, name: &str) -> bool {
        self.groups.contains_key(name) || self.packages.get(name).is_some_and(|p| p.group.is_none())
    }

    /// The key of the store path holding package `name`.
    pub fn key_of<'a>(&'a self, name: &'a str) -> &'a str {
        match self.packages.get(name).and_then(|p| p.group.as_deref()) {
            Some(g) => g,
            None => name,
        }
    }

    /// The direct dependencies (keys) of the store path `key`.
    pub fn key_depends(&self, key: &str) -> &[String] {
        if let Some(g) = self.groups.get(key) {
            return &g.depends;
        }
        self.packages
            .get(key)
            .map(|p| p.depends.as_slice())
            .unwrap_or(&[])
    }

    /// Checks the contract: well-formed hashes and archives, groups that list their
    /// members and whose members name them, closed `depends` over keys, acyclic.
    pub fn check(&self) -> Result<()> {
        for (name, p) in &self.packages {
            check_sha(&p.sha256, name)?;
            if p.archive != "debian" && p.archive != "debian-security" {
                anyhow::bail!("{name}: unknown archive `{}`", p.archive);
            }
            if let Some(g) = &p.group {
                let ok = self
                    .groups
                    .get(g)
                    .is_some_and(|ge| ge.members.iter().any(|m| m == name));
                if !ok {
                    anyhow::bail!("Debian package {name} names group {g}, which does not list it");
                }
            }
            for d in &p.depends {
                if !self.is_key(d) {
                    anyhow::bail!("Debian package {name} depends on {d}, which is not locked (or is inside a group)");
                }
            }
        }
        for (g, ge) in &self.groups {
            if self
                .packages
                .get(g)
                .is_some_and(|p| p.group.as_deref() != Some(g))
            {
                anyhow::bail!("group {g} has the name of a package outside it");
            }
            if ge.members.is_empty() {
                anyhow::bail!("group {g} has no members");
            }
            for m in &ge.members {
                match self.packages.get(m) {
                    Some(p) if p.group.as_deref() == Some(g) => {}
                    _ => anyhow::bail!("group {g}: member {m} is not locked as a member of it"),
                }
            }
            for d in &ge.depends {
                if !self.is_key(d) || d == g {
                    anyhow::bail!("group {g} depends on {d}, which is not a locked key");
                }
            }
        }
        let keys: Vec<&str> = self
            .packages
            .keys()
            .map(|k| k.as_str())
            .filter(|k| self.is_key(k) && !self.groups.contains_key(*k))
            .chain(self.groups.keys().map(|k| k.as_str()))
            .collect();
        if let Some(cycle) = find_cycle(keys.iter().map(|k| (*k, self.key_depends(k)))) {
            anyhow::bail!("Debian dependency cycle: {}", cycle.join(" -> "));
        }
        Ok(())
    }
}

impl PypiEntry {
    pub fn url(&self, key: &str) -> String {
        format!("mirror://pypi/{}/{}", key, self.filename)
    }
}

impl LockFile {
    /// The deterministic text: sorted keys, 2-space indentation, trailing newline.
    pub fn to_json_string(&self) -> String {
        // Keys sorted explicitly: serde_json's map keeps insertion order when another crate of
        // the workspace enables its `preserve_order` feature.
        let v = sort_keys(serde_json::to_value(self).expect("lock serialises"));
        let mut s = serde_json::to_string_pretty(&v).expect("lock serialises");
        s.push('\n');
        s
    }

    pub fn from_json_str(s: &str) -> Result<Self> {
        let l: LockFile = serde_json::from_str(s).context("parsing lock file")?;
        if l.version != LOCK_VERSION {
            anyhow::bail!(
                "lock file version {} is not supported (expected {LOCK_VERSION})",
                l.version
            );
        }
        l.check()?;
        Ok(l)
    }

    pub fn read(path: &Path) -> Result<Self> {
        let s =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_json_str(&s).with_context(|| format!("in {}", path.display()))
    }

    /// Writes atomically (temporary file + rename) so a failed run leaves no partial file.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.to_json_string().as_bytes())
    }

    /// Checks the contract: the Debian part ([`DebianLock::check`]), closed PyPI `depends`,
    /// well-formed hashes.
    pub fn check(&self) -> Result<()> {
        self.debian.check()?;
        for (name, p) in &self.pypi {
            check_sha(&p.sha256, name)?;
            for d in &p.depends {
                if !self.pypi.contains_key(d) {
                    anyhow::bail!("Python package {name} depends on {d}, which is not locked");
                }
            }
        }
        Ok(())
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn check_sha(s: &str, name: &str) -> Result<()> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        anyhow::bail!("{name}: sha256 `{s}` is not 64 lower-case hex digits");
    }
    Ok(())
}

/// Returns one cycle of the graph, if any (deterministic: nodes visited in sorted order).
pub fn find_cycle<'a>(graph: impl Iterator<Item = (&'a str, &'a [String])>) -> Option<Vec<String>> {
    let g: BTreeMap<&str, &[String]> = graph.collect();
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        New,
        Active,
        Done,
    }
    let mut state: BTreeMap<&str, S> = g.keys().map(|k| (*k, S::New)).collect();
    fn visit<'a>(
        n: &'a str,
        g: &BTreeMap<&'a str, &'a [String]>,
        state: &mut BTreeMap<&'a str, S>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(n, S::Active);
        stack.push(n);
        for d in g.get(n).copied().unwrap_or(&[]) {
            match state.get(d.as_str()).copied() {
                Some(S::Active) => {
                    let i = stack.iter().position(|x| *x == d).unwrap_or(0);
                    let mut c: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
                    c.push(d.clone());
                    return Some(c);
                }
                Some(S::New) => {
                    let (k, _) = g.get_key_value(d.as_str())?;
                    if let Some(c) = visit(k, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n, S::Done);
        None
    }
    let keys: Vec<&str> = g.keys().copied().collect();
    for k in keys {
        if state[k] == S::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(k, &g, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// `pkgs/lock-roots.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roots {
    pub debian: Vec<String>,
    /// project -> pinned version, or `null` for the newest compatible one.
    pub pypi: BTreeMap<String, Option<String>>,
}

impl Roots {
    pub fn read(path: &Path) -> Result<Self> {
        let s =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&s).with_context(|| format!("parsing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampered_index_is_refused() {
        let entry = |deps: &[&str]| DebEntry {
            version: "1".into(),
            archive: "debian".into(),
            path: "pool/main/h/hello/hello_1_amd64.deb".into(),
            sha256: "a".repeat(64),
            size: 1,
            depends: deps.iter().map(|d| d.to_string()).collect(),
            group: None,
        };
        let mut l = DebianLock {
            suites: vec!["bookworm".into()],
            packages: BTreeMap::from([
                ("hello".to_string(), entry(&["libc6"])),
                ("libc6".to_string(), entry(&[])),
            ]),
            groups: BTreeMap::new(),
        };
        let ok = l.to_index_bytes().unwrap();
        assert!(DebianLock::from_index_bytes(&ok).is_ok());
        // not zstd / not JSON
        let e = DebianLock::from_index_bytes(b"garbage").unwrap_err();
        assert!(
            format!("{e:#}").contains("decompressing the Debian index"),
            "{e:#}"
        );
        // a dependency that is not in the index
        l.packages.get_mut("hello").unwrap().depends = vec!["nope".into()];
        let e = DebianLock::from_index_bytes(&l.to_index_bytes().unwrap()).unwrap_err();
        assert!(format!("{e:#}").contains("depends on nope"), "{e:#}");
        // a hash that is not a sha256
        l.packages.get_mut("hello").unwrap().depends = vec!["libc6".into()];
        l.packages.get_mut("hello").unwrap().sha256 = "xyz".into();
        let e = DebianLock::from_index_bytes(&l.to_index_bytes().unwrap()).unwrap_err();
        assert!(format!("{e:#}").contains("sha256"), "{e:#}");
    }

    #[test]
    fn cycles() {
        let a = vec!["b".to_string()];
        let b = vec!["c".to_string()];
        let c = vec!["a".to_string()];
        let g = vec![
            ("a", a.as_slice()),
            ("b", b.as_slice()),
            ("c", c.as_slice()),
        ];
        assert_eq!(find_cycle(g.into_iter()).unwrap(), vec!["a", "b", "c", "a"]);
        let e: Vec<String> = vec![];
        let g = vec![("a", b.as_slice()), ("c", e.as_slice())];
        assert!(find_cycle(g.into_iter()).is_none());
    }
}

/// `v` with the keys of every object in sorted order.
fn sort_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(sort_keys).collect())
        }
        other => other,
    }
}
