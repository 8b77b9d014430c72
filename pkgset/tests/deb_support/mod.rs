//! Shared helpers of the builder tests: pinned packages (from `pkgs/lock.json` when it holds
//! them, else the fixture `packages.json` next to this file), a download cache keyed by sha256,
//! a temporary store layout and a namespace runner that shows only given store paths at
//! `/nix/store`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use pkgset::builders::StoreObject;
use pkgset::deb::{build_deb_package, DebBuild};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Tests needing the network, namespaces or host tools: fail in CI, skip (with a reason) elsewhere.
pub fn unavailable(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("required for this test in CI: {reason}");
    }
    eprintln!("SKIPPED (not in CI): {reason}");
}

#[derive(Debug, Clone)]
pub struct Pinned {
    pub version: String,
    pub url: String,
    pub sha256: String,
    pub depends: Vec<String>,
}

fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_str(&fs::read_to_string(p).ok()?).ok()
}

/// Debian packages: name -> pin. Uses the repository's lock when it has every name in `needed`.
pub fn debian_packages(needed: &[&str]) -> BTreeMap<String, Pinned> {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pkgs/lock.json");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deb_support/packages.json");
    let from_lock = read_json(&lock).and_then(|v| v.get("debian")?.get("packages").cloned());
    let fixture = read_json(&fixture)
        .and_then(|v| v.get("packages").cloned())
        .expect("fixture packages.json");
    // The lock wins; the fixture fills in packages the lock does not have (libstdc++6).
    let mut pick = fixture;
    if let Some(Value::Object(l)) = from_lock {
        if needed.iter().all(|n| l.contains_key(*n)) {
            let obj = pick.as_object_mut().expect("packages object");
            for (k, v) in l {
                obj.insert(k, v);
            }
        }
    }
    let mut out = BTreeMap::new();
    for (name, p) in pick.as_object().expect("packages object") {
        let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        out.insert(
            name.clone(),
            Pinned {
                version: s("version"),
                url: format!("mirror://{}/{}", s("archive"), s("path")),
                sha256: s("sha256"),
                depends: p["depends"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
        );
    }
    out
}

/// Wheels: normalised name -> pin (lock first, else fixture `wheels.json`).
pub fn wheels(needed: &[&str]) -> BTreeMap<String, Pinned> {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pkgs/lock.json");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deb_support/wheels.json");
    let from_lock = read_json(&lock).and_then(|v| v.get("pypi").cloned());
    let fixture = read_json(&fixture)
        .and_then(|v| v.get("pypi").cloned())
        .expect("fixture wheels.json");
    let pick = match from_lock {
        Some(l) if needed.iter().all(|n| l.get(*n).is_some()) => l,
        _ => fixture,
    };
    let mut out = BTreeMap::new();
    for (name, p) in pick.as_object().expect("pypi object") {
        let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        out.insert(
            name.clone(),
            Pinned {
                version: s("version"),
                url: format!("mirror://pypi/{}/{}", name, s("filename")),
                sha256: s("sha256"),
                depends: p["depends"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
        );
    }
    out
}

pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| PathBuf::from(d).join("rnix-test-cache"))
        .unwrap_or_else(|| PathBuf::from("/tmp/rnix-test-cache"));
    base.join("sha256")
}

fn sha256_file(p: &Path) -> Result<String> {
    let mut f = fs::File::open(p)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// Download (through the user's mirror configuration) into the cache and check the hash.
pub fn fetch(pin: &Pinned) -> Result<PathBuf> {
    let dir = cache_dir();
    fs::create_dir_all(&dir)?;
    let name = pin.url.rsplit('/').next().unwrap_or("file").to_string();
    let dest = dir.join(format!("{}-{}", pin.sha256, name));
    if dest.exists() && sha256_file(&dest)? == pin.sha256 {
        return Ok(dest);
    }
    let tmp = dir.join(format!(".{}.part", pin.sha256));
    let cfg = realise::fetch::MirrorConfig::from_environment();
    if let Err(e) = realise::fetch::fetch_to(&cfg, &pin.url, &tmp, &|_, _| {}) {
        // Wheels: fall back to the host's pip (test-only), which uses the host's CA store.
        let Some(rest) = pin.url.strip_prefix("mirror://pypi/") else {
            return Err(e).with_context(|| format!("downloading {}", pin.url));
        };
        eprintln!(
            "note: realise could not download {} ({e:#}); trying the host's pip",
            pin.url
        );
        pip_download(rest, &tmp)
            .with_context(|| format!("downloading {} (realise: {e:#})", pin.url))?;
    }
    let got = sha256_file(&tmp)?;
    if got != pin.sha256 {
        let _ = fs::remove_file(&tmp);
        bail!("{}: sha256 {} but expected {}", pin.url, got, pin.sha256);
    }
    fs::rename(&tmp, &dest)?;
    Ok(dest)
}

fn pip_download(project_and_file: &str, dest: &Path) -> Result<()> {
    let (project, filename) = project_and_file
        .split_once('/')
        .ok_or_else(|| anyhow!("bad pypi URL"))?;
    let version = filename
        .split('-')
        .nth(1)
        .ok_or_else(|| anyhow!("bad wheel name {filename}"))?;
    let dir = tempfile::tempdir()?;
    let st = std::process::Command::new("pip")
        .args([
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--platform",
            "manylinux2014_x86_64",
            "--dest",
        ])
        .arg(dir.path())
        .arg(format!("{project}=={version}"))
        .stdout(std::process::Stdio::null())
        .status()
        .context("running pip")?;
    if !st.success() {
        bail!("pip download {project}=={version} failed");
    }
    fs::copy(dir.path().join(filename), dest)
        .with_context(|| format!("pip did not download {filename}"))?;
    Ok(())
}

/// A fake but well-formed store path for `name`.
pub fn logical_path(name: &str) -> String {
    let d = Sha256::digest(name.as_bytes());
    let mut digest = [0u8; 20];
    digest.copy_from_slice(&d[..20]);
    store::StorePath::new(digest, name)
        .expect("valid store name")
        .to_absolute()
}

/// Store name of a Debian package: epoch dropped, `~` -> `_`.
pub fn store_name(name: &str, version: &str) -> String {
    let v = version
        .split_once(':')
        .map(|(_, v)| v)
        .unwrap_or(version)
        .replace('~', "_");
    format!("{name}-{v}")
}

/// The temporary store: `dir/nix/store/<hash>-<name>`.
pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub pkgs: BTreeMap<String, Pinned>,
    /// group name -> members
    pub groups: BTreeMap<String, Vec<String>>,
    pub built: BTreeMap<String, StoreObject>,
    pub deps_of: BTreeMap<String, BTreeSet<String>>,
    /// Build log lines per group.
    pub logs: BTreeMap<String, Vec<String>>,
}

impl TestStore {
    pub fn new(pkgs: BTreeMap<String, Pinned>) -> TestStore {
        let dir = tempfile::Builder::new()
            .prefix("rnix-builders-")
            .tempdir()
            .expect("tempdir");
        fs::create_dir_all(dir.path().join("nix/store")).unwrap();
        let mut groups = BTreeMap::new();
        groups.insert("glibc".to_string(), vec!["libc6".to_string()]);
        groups.insert(
            "python311".to_string(),
            vec![
                "python3.11-minimal".into(),
                "libpython3.11-minimal".into(),
                "libpython3.11-stdlib".into(),
            ],
        );
        TestStore {
            dir,
            pkgs,
            groups,
            built: BTreeMap::new(),
            deps_of: BTreeMap::new(),
            logs: BTreeMap::new(),
        }
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("nix/store")
    }

    fn group_of(&self, pkg: &str) -> String {
        for (g, m) in &self.groups {
            if m.iter().any(|x| x == pkg) {
                return g.clone();
            }
        }
        pkg.to_string()
    }

    fn members(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .cloned()
            .unwrap_or_else(|| vec![group.to_string()])
    }

    /// Direct dependencies (groups) of a group.
    pub fn direct_deps(&self, group: &str) -> Result<BTreeSet<String>> {
        let members = self.members(group);
        let mut out = BTreeSet::new();
        for m in &members {
            let p = self
                .pkgs
                .get(m)
                .ok_or_else(|| anyhow!("package {m} not pinned"))?;
            for d in &p.depends {
                if !members.contains(d) {
                    out.insert(self.group_of(d));
                }
            }
        }
        Ok(out)
    }

    /// Transitive dependency groups (not including `group`).
    pub fn closure_of(&self, group: &str) -> Result<BTreeSet<String>> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = self.direct_deps(group)?.into_iter().collect();
        while let Some(g) = todo.pop() {
            if seen.insert(g.clone()) {
                todo.extend(self.direct_deps(&g)?);
            }
        }
        Ok(seen)
    }

    /// Build a group (and its dependencies first).
    pub fn build(&mut self, group: &str) -> Result<StoreObject> {
        if let Some(o) = self.built.get(group) {
            return Ok(o.clone());
        }
        let deps = self.closure_of(group)?;
        for d in self.direct_deps(group)? {
            self.build(&d)?;
        }
        let members = self.members(group);
        let mut debs = Vec::new();
        for m in &members {
            debs.push(fetch(&self.pkgs[m])?);
        }
        let version = &self.pkgs[&members[0]].version;
        let name = store_name(
            if members.len() > 1 {
                group
            } else {
                &members[0]
            },
            version,
        );
        let logical = logical_path(&name);
        let real = self
            .store_dir()
            .join(logical.trim_start_matches("/nix/store/"));
        let out = StoreObject::new(&logical, &real);
        let glibc = if group == "glibc" {
            None
        } else {
            Some(self.build("glibc")?)
        };
        let build = DebBuild {
            debs,
            deps: deps.iter().map(|d| self.built[d].clone()).collect(),
            glibc,
            out: out.clone(),
        };
        let report = build_deb_package(&build).with_context(|| format!("building {group}"))?;
        for l in &report.log {
            eprintln!("[{group}] {l}");
        }
        self.logs.insert(group.to_string(), report.log.clone());
        self.built.insert(group.to_string(), out.clone());
        self.deps_of.insert(group.to_string(), deps);
        Ok(out)
    }

    /// Logical paths of a group and its closure.
    pub fn closure_paths(&self, group: &str) -> Vec<String> {
        let mut v = vec![self.built[group].logical.to_string_lossy().into_owned()];
        for d in &self.deps_of[group] {
            v.push(self.built[d].logical.to_string_lossy().into_owned());
        }
        v
    }
}

/// Run `argv` with an empty root where only `store_paths` are visible at `/nix/store` and the
/// environment is exactly `env`. Returns (success, combined output).
pub fn run_isolated(
    store_dir: &Path,
    store_paths: &[String],
    argv: &[&str],
    env: &[(&str, &str)],
) -> Result<(bool, String)> {
    let root = tempfile::Builder::new().prefix("rnix-root-").tempdir()?;
    run_in(root.path(), store_dir, store_paths, argv, env, Vec::new())
}

/// As [`run_isolated`] with a given root directory and extra bind mounts.
pub fn run_in(
    root: &Path,
    store_dir: &Path,
    store_paths: &[String],
    argv: &[&str],
    env: &[(&str, &str)],
    binds: Vec<realise::sandbox::Bind>,
) -> Result<(bool, String)> {
    let mut log = tempfile::tempfile()?;
    let exit = realise::sandbox::run_in_root(
        root,
        store_dir,
        store_paths,
        argv.iter().map(|s| s.to_string()).collect(),
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        binds,
        log.as_raw_fd(),
    )?;
    log.rewind()?;
    let mut out = String::new();
    log.read_to_string(&mut out)?;
    Ok((exit.success(), out))
}

/// `readelf -d` / `-l` of a file (host tool, tests only).
pub fn readelf(path: &Path) -> Result<String> {
    let o = std::process::Command::new("readelf")
        .arg("-d")
        .arg("-l")
        .arg("-W")
        .arg(path)
        .output()?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}
