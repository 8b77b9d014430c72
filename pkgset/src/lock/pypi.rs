//! PyPI side of the updater: PEP 691 JSON index, wheel choice for CPython 3.11 on
//! x86_64 Linux (glibc 2.36), `Requires-Dist` with markers, a greedy resolver that
//! honours pins and checks each candidate against what is already chosen.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use pep508_rs::pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{
    ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VersionOrUrl,
};
use serde::Deserialize;

use super::debian::{check_hash, sha256_hex};
use super::error::LockError;
use super::model::PypiEntry;

/// The interpreter the lock targets (Debian bookworm's python3.11).
pub const PYTHON_FULL_VERSION: &str = "3.11.2";
/// glibc of Debian bookworm: manylinux wheels up to this version are usable.
pub const GLIBC: (u32, u32) = (2, 36);

pub fn marker_env() -> MarkerEnvironment {
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: PYTHON_FULL_VERSION,
        os_name: "posix",
        platform_machine: "x86_64",
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: "Linux",
        platform_version: "",
        python_full_version: PYTHON_FULL_VERSION,
        python_version: "3.11",
        sys_platform: "linux",
    })
    .expect("valid marker environment")
}

/// PEP 503 normalisation.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.trim().chars() {
        if c == '-' || c == '_' || c == '.' {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Preference of a wheel file name for our target; `None` when incompatible.
/// Higher is better: (interpreter-specific ABI rank, manylinux glibc minor).
pub fn wheel_rank(filename: &str) -> Option<(u32, u32)> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() != 5 && parts.len() != 6 {
        return None;
    }
    let (py, abi, plat) = (
        parts[parts.len() - 3],
        parts[parts.len() - 2],
        parts[parts.len() - 1],
    );
    let mut best_plat: Option<u32> = None;
    for p in plat.split('.') {
        let r = if p == "any" {
            Some(0)
        } else if let Some(rest) = p.strip_suffix("_x86_64") {
            match rest {
                "manylinux1" => Some(5),
                "manylinux2010" => Some(12),
                "manylinux2014" => Some(17),
                _ => rest.strip_prefix("manylinux_").and_then(|v| {
                    let (maj, min) = v.split_once('_')?;
                    let (maj, min) = (maj.parse::<u32>().ok()?, min.parse::<u32>().ok()?);
                    (maj, min).le(&GLIBC).then_some(min)
                }),
            }
        } else {
            None
        };
        if let Some(r) = r {
            best_plat = Some(best_plat.map_or(r, |b| b.max(r)));
        }
    }
    let plat_rank = best_plat?;
    let any_plat = plat_rank == 0 && plat.split('.').any(|p| p == "any");
    let mut best: Option<u32> = None;
    for py in py.split('.') {
        for abi in abi.split('.') {
            let r = match (py, abi) {
                ("cp311", "cp311") => Some(4),
                (p, "abi3") => p
                    .strip_prefix("cp3")
                    .and_then(|m| m.parse::<u32>().ok())
                    .filter(|m| *m <= 11)
                    .map(|_| 3),
                ("cp311", "none") => Some(2),
                (p, "none") if p == "py3" || p == "py311" => Some(1),
                (p, "none") => p
                    .strip_prefix("py3")
                    .and_then(|m| m.parse::<u32>().ok())
                    .filter(|m| *m <= 11)
                    .map(|_| 1),
                _ => None,
            };
            if let Some(r) = r {
                best = Some(best.map_or(r, |b| b.max(r)));
            }
        }
    }
    let abi_rank = best?;
    if any_plat && abi_rank > 2 {
        // cp311-cp311-any does not exist in practice; keep it but below platform wheels
        return Some((abi_rank, 0));
    }
    Some((abi_rank, plat_rank))
}

/// Version part of a wheel file name.
pub fn wheel_version(filename: &str) -> Option<Version> {
    let stem = filename.strip_suffix(".whl")?;
    let v = stem.split('-').nth(1)?;
    Version::from_str(v).ok()
}

#[derive(Debug, Clone, Deserialize)]
pub struct IndexFile {
    pub filename: String,
    pub url: String,
    #[serde(default)]
    pub hashes: BTreeMap<String, String>,
    #[serde(rename = "requires-python", default)]
    pub requires_python: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub yanked: serde_json::Value,
    #[serde(rename = "core-metadata", default)]
    pub core_metadata: serde_json::Value,
    #[serde(rename = "data-dist-info-metadata", default)]
    pub data_dist_info_metadata: serde_json::Value,
}

impl IndexFile {
    fn is_yanked(&self) -> bool {
        match &self.yanked {
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::String(_) => true,
            _ => false,
        }
    }
    fn metadata_sha(&self) -> Option<Option<String>> {
        for v in [&self.core_metadata, &self.data_dist_info_metadata] {
            match v {
                serde_json::Value::Bool(true) => return Some(None),
                serde_json::Value::Object(m) => {
                    return Some(m.get("sha256").and_then(|s| s.as_str()).map(str::to_string))
                }
                _ => {}
            }
        }
        None
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProjectPage {
    #[serde(default)]
    pub name: String,
    pub files: Vec<IndexFile>,
}

/// Fetches bytes for the resolver; implemented over HTTP by the updater and by a map in tests.
pub trait Fetch {
    /// The project page (PEP 691 JSON) and its URL (to resolve relative file URLs).
    fn project(&self, name: &str) -> Result<(String, ProjectPage)>;
    fn get(&self, url: &str, what: &str) -> Result<Vec<u8>>;
}

/// An index reached over HTTP.
pub struct HttpIndex<'a> {
    pub http: &'a super::http::Http,
    pub index: String,
}

impl Fetch for HttpIndex<'_> {
    fn project(&self, name: &str) -> Result<(String, ProjectPage)> {
        let url = format!("{}/{}/", self.index.trim_end_matches('/'), normalize(name));
        let body = self.http.get(
            &url,
            Some("application/vnd.pypi.simple.v1+json"),
            &format!("Python project {name}"),
        )?;
        let page: ProjectPage = serde_json::from_slice(&body).with_context(|| {
            format!("{url}: not a PEP 691 JSON project page (does the index support `Accept: application/vnd.pypi.simple.v1+json`?)")
        })?;
        Ok((url, page))
    }
    fn get(&self, url: &str, what: &str) -> Result<Vec<u8>> {
        Ok(self.http.get(url, None, what)?)
    }
}

pub fn resolve_url(page_url: &str, file_url: &str) -> Result<String> {
    let base = url::Url::parse(page_url).with_context(|| format!("bad URL {page_url}"))?;
    let u = base
        .join(file_url)
        .with_context(|| format!("bad file URL {file_url}"))?;
    let mut s = u.to_string();
    if let Some(i) = s.find('#') {
        s.truncate(i);
    }
    Ok(s)
}

/// `Requires-Dist` and `Requires-Python` of a METADATA file.
pub fn parse_metadata(text: &str) -> (Vec<String>, Option<String>) {
    let mut reqs = Vec::new();
    let mut rp = None;
    let mut last_req = false;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if (line.starts_with(' ') || line.starts_with('\t')) && last_req {
            if let Some(r) = reqs.last_mut() {
                let r: &mut String = r;
                r.push(' ');
                r.push_str(line.trim());
            }
            continue;
        }
        last_req = false;
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("Requires-Dist") {
                reqs.push(v.trim().to_string());
                last_req = true;
            } else if k.eq_ignore_ascii_case("Requires-Python") {
                rp = Some(v.trim().to_string());
            }
        }
    }
    (reqs, rp)
}

/// Reads `*.dist-info/METADATA` from a wheel.
pub fn wheel_metadata(wheel: &[u8]) -> Result<String> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(wheel)).context("wheel is not a zip")?;
    let name = (0..z.len())
        .filter_map(|i| z.name_for_index(i).map(str::to_string))
        .find(|n| n.ends_with(".dist-info/METADATA") && n.matches('/').count() == 1)
        .ok_or_else(|| anyhow!("wheel has no .dist-info/METADATA"))?;
    let mut s = String::new();
    z.by_name(&name)?.read_to_string(&mut s)?;
    Ok(s)
}

#[derive(Debug, Clone)]
struct Candidate {
    version: Version,
    file: IndexFile,
    file_url: String,
    reqs: Vec<Requirement>,
}

#[derive(Debug, Clone)]
struct Chosen {
    cand: Candidate,
    extras: BTreeSet<ExtraName>,
    pinned: bool,
}

/// The result: lock entries plus the downloaded wheel bytes are checked by the caller.
pub struct PypiResolution {
    pub entries: BTreeMap<String, PypiEntry>,
    /// key -> absolute URL of the chosen wheel (for downloading/verifying)
    pub urls: BTreeMap<String, String>,
}

pub struct Resolver<'a, F: Fetch> {
    pub fetch: &'a F,
    env: MarkerEnvironment,
    python: Version,
    pages: BTreeMap<String, (String, ProjectPage)>,
    meta: BTreeMap<String, Vec<String>>,
}

impl<'a, F: Fetch> Resolver<'a, F> {
    pub fn new(fetch: &'a F) -> Self {
        Resolver {
            fetch,
            env: marker_env(),
            python: Version::from_str(PYTHON_FULL_VERSION).expect("version"),
            pages: BTreeMap::new(),
            meta: BTreeMap::new(),
        }
    }

    fn page(&mut self, name: &str) -> Result<&(String, ProjectPage)> {
        if !self.pages.contains_key(name) {
            let p = self.fetch.project(name)?;
            self.pages.insert(name.to_string(), p);
        }
        Ok(&self.pages[name])
    }

    fn requirements(
        &mut self,
        name: &str,
        page_url: &str,
        f: &IndexFile,
    ) -> Result<Vec<Requirement>> {
        let url = resolve_url(page_url, &f.url)?;
        if !self.meta.contains_key(&url) {
            let text = match f.metadata_sha() {
                Some(sha) => {
                    let murl = format!("{url}.metadata");
                    let b = self
                        .fetch
                        .get(&murl, &format!("metadata of {}", f.filename))?;
                    if let Some(sha) = sha {
                        if sha256_hex(&b) != sha.to_ascii_lowercase() {
                            bail!("metadata of {} ({murl}) does not match the sha256 given by the index", f.filename);
                        }
                    }
                    String::from_utf8_lossy(&b).into_owned()
                }
                None => {
                    let b = self.fetch.get(&url, &format!("wheel {}", f.filename))?;
                    if let Some(sha) = f.hashes.get("sha256") {
                        check_hash(
                            &b,
                            &sha.to_ascii_lowercase(),
                            b.len() as u64,
                            &f.filename,
                            &url,
                        )?;
                    }
                    wheel_metadata(&b).with_context(|| url.clone())?
                }
            };
            let (reqs, _) = parse_metadata(&text);
            self.meta.insert(url.clone(), reqs);
        }
        self.meta[&url]
            .iter()
            .map(|r| {
                Requirement::from_str(r)
                    .map_err(|e| anyhow!("{name}: bad Requires-Dist `{r}`: {e}"))
            })
            .collect()
    }

    /// Versions with a compatible wheel, newest first.
    fn versions(&mut self, name: &str) -> Result<Vec<(Version, IndexFile)>> {
        let python = self.python.clone();
        let (_, page) = self.page(name)?;
        let mut by_version: BTreeMap<Version, (u32, u32, IndexFile)> = BTreeMap::new();
        for f in &page.files {
            if f.is_yanked() || !f.hashes.contains_key("sha256") {
                continue;
            }
            let Some(rank) = wheel_rank(&f.filename) else {
                continue;
            };
            let Some(v) = wheel_version(&f.filename) else {
                continue;
            };
            if let Some(rp) = &f.requires_python {
                if let Ok(spec) = VersionSpecifiers::from_str(rp) {
                    if !spec.contains(&python) {
                        continue;
                    }
                }
            }
            let better = match by_version.get(&v) {
                None => true,
                Some((a, b, old)) => {
                    (rank.0, rank.1) > (*a, *b)
                        || ((rank.0, rank.1) == (*a, *b) && f.filename < old.filename)
                }
            };
            if better {
                by_version.insert(v, (rank.0, rank.1, f.clone()));
            }
        }
        Ok(by_version
            .into_iter()
            .rev()
            .map(|(v, (_, _, f))| (v, f))
            .collect())
    }

    fn active_deps(&self, reqs: &[Requirement], extras: &BTreeSet<ExtraName>) -> Vec<Requirement> {
        let ex: Vec<ExtraName> = extras.iter().cloned().collect();
        reqs.iter()
            .filter(|r| r.evaluate_markers(&self.env, &ex))
            .cloned()
            .collect()
    }

    /// Resolves the roots (`name -> pinned version`).
    pub fn resolve(&mut self, roots: &BTreeMap<String, Option<String>>) -> Result<PypiResolution> {
        let mut chosen: BTreeMap<String, Chosen> = BTreeMap::new();
        let mut constraints: BTreeMap<String, Vec<(VersionSpecifiers, String)>> = BTreeMap::new();
        let mut want_extras: BTreeMap<String, BTreeSet<ExtraName>> = BTreeMap::new();
        let mut pins: BTreeMap<String, Version> = BTreeMap::new();
        for (k, v) in roots {
            if let Some(v) = v {
                let ver = Version::from_str(v)
                    .map_err(|e| anyhow!("pin {k} = {v} is not a PEP 440 version: {e}"))?;
                pins.insert(normalize(k), ver);
            }
        }
        // pinned roots first, then the others; each group in name order
        let mut queue: VecDeque<String> = pins.keys().cloned().collect();
        for k in roots.keys() {
            let n = normalize(k);
            if !pins.contains_key(&n) {
                queue.push_back(n);
            }
        }
        while let Some(name) = queue.pop_front() {
            let extras = want_extras.get(&name).cloned().unwrap_or_default();
            if let Some(c) = chosen.get_mut(&name) {
                if extras.is_subset(&c.extras) {
                    continue;
                }
                // new extras of an already chosen package: add their dependencies
                c.extras.extend(extras.iter().cloned());
            } else {
                let cand = self.choose(&name, pins.get(&name), &constraints, &chosen)?;
                chosen.insert(
                    name.clone(),
                    Chosen {
                        cand,
                        extras: extras.clone(),
                        pinned: pins.contains_key(&name),
                    },
                );
            }
            let c = &chosen[&name];
            let deps = self.active_deps(&c.cand.reqs, &c.extras);
            for r in deps {
                let dn = normalize(r.name.as_ref());
                if dn == name {
                    continue;
                }
                if let Some(VersionOrUrl::VersionSpecifier(s)) = &r.version_or_url {
                    constraints
                        .entry(dn.clone())
                        .or_default()
                        .push((s.clone(), name.clone()));
                }
                let e = want_extras.entry(dn.clone()).or_default();
                e.extend(r.extras.iter().cloned());
                queue.push_back(dn);
            }
        }
        let mut entries = BTreeMap::new();
        let mut urls = BTreeMap::new();
        for (name, c) in &chosen {
            let deps: BTreeSet<String> = self
                .active_deps(&c.cand.reqs, &c.extras)
                .iter()
                .map(|r| normalize(r.name.as_ref()))
                .filter(|d| d != name)
                .collect();
            let _ = c.pinned;
            entries.insert(
                name.clone(),
                PypiEntry {
                    version: c.cand.version.to_string(),
                    filename: c.cand.file.filename.clone(),
                    sha256: c.cand.file.hashes["sha256"].to_ascii_lowercase(),
                    size: c.cand.file.size.unwrap_or(0),
                    depends: deps.into_iter().collect(),
                },
            );
            urls.insert(name.clone(), c.cand.file_url.clone());
        }
        Ok(PypiResolution { entries, urls })
    }

    fn choose(
        &mut self,
        name: &str,
        pin: Option<&Version>,
        constraints: &BTreeMap<String, Vec<(VersionSpecifiers, String)>>,
        chosen: &BTreeMap<String, Chosen>,
    ) -> Result<Candidate> {
        let versions = self.versions(name)?;
        let page_url = self.pages[name].0.clone();
        let cons = constraints.get(name).cloned().unwrap_or_default();
        let mut rejected = Vec::new();
        let any_final = versions.iter().any(|(v, _)| !v.any_prerelease());
        for (v, f) in versions {
            if let Some(p) = pin {
                if &v != p {
                    continue;
                }
            } else if any_final && v.any_prerelease() {
                continue;
            }
            if let Some((s, by)) = cons.iter().find(|(s, _)| !s.contains(&v)) {
                if pin.is_some() {
                    bail!(LockError::Resolve(format!(
                        "pinned {name} {v} conflicts with `{s}` required by {by}"
                    )));
                }
                continue;
            }
            let reqs = self.requirements(name, &page_url, &f)?;
            let active = self.active_deps(&reqs, &BTreeSet::new());
            let conflict = active.iter().find_map(|r| {
                let dn = normalize(r.name.as_ref());
                let c = chosen.get(&dn)?;
                match &r.version_or_url {
                    Some(VersionOrUrl::VersionSpecifier(s)) if !s.contains(&c.cand.version) => {
                        Some(format!("needs {dn} {s}, {} is chosen", c.cand.version))
                    }
                    _ => None,
                }
            });
            if let Some(c) = conflict {
                if pin.is_some() {
                    bail!(LockError::Resolve(format!("pinned {name} {v} {c}")));
                }
                rejected.push(format!("{v} ({c})"));
                if rejected.len() > 40 {
                    break;
                }
                continue;
            }
            let file_url = resolve_url(&page_url, &f.url)?;
            return Ok(Candidate {
                version: v,
                file: f,
                file_url,
                reqs,
            });
        }
        let cons_txt: Vec<String> = cons
            .iter()
            .map(|(s, by)| format!("`{s}` from {by}"))
            .collect();
        Err(LockError::Resolve(format!(
            "no version of {name}{} has a wheel for CPython 3.11 on x86_64 Linux that fits{}{}",
            pin.map(|p| format!(" == {p}")).unwrap_or_default(),
            if cons_txt.is_empty() {
                String::new()
            } else {
                format!(" {}", cons_txt.join(", "))
            },
            if rejected.is_empty() {
                String::new()
            } else {
                format!("; rejected: {}", rejected.join(", "))
            },
        ))
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags() {
        assert_eq!(normalize("Typing_Extensions"), "typing-extensions");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("a--b__c"), "a-b-c");
        assert_eq!(wheel_rank("fastapi-0.104.1-py3-none-any.whl"), Some((1, 0)));
        assert_eq!(
            wheel_rank(
                "pydantic_core-2.10.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
            ),
            Some((4, 17))
        );
        assert_eq!(
            wheel_rank("x-1-cp311-cp311-manylinux_2_39_x86_64.whl"),
            None
        );
        assert_eq!(wheel_rank("x-1-cp311-cp311-musllinux_1_1_x86_64.whl"), None);
        assert_eq!(
            wheel_rank("x-1-cp312-cp312-manylinux_2_17_x86_64.whl"),
            None
        );
        assert_eq!(
            wheel_rank("x-1-cp311-cp311-manylinux_2_17_aarch64.whl"),
            None
        );
        assert_eq!(
            wheel_rank("x-1-cp38-abi3-manylinux2014_x86_64.whl"),
            Some((3, 17))
        );
        assert_eq!(wheel_rank("six-1.16.0-py2.py3-none-any.whl"), Some((1, 0)));
        assert_eq!(wheel_rank("x-1-py2-none-any.whl"), None);
        assert_eq!(wheel_rank("x-1.tar.gz"), None);
        assert_eq!(
            wheel_version("uvicorn-0.24.0.post1-py3-none-any.whl")
                .unwrap()
                .to_string(),
            "0.24.0.post1"
        );
    }

    #[test]
    fn metadata_and_markers() {
        let m = "Metadata-Version: 2.1\nName: anyio\nRequires-Python: >=3.7\nRequires-Dist: idna (>=2.8)\nRequires-Dist: sniffio (>=1.1)\nRequires-Dist: exceptiongroup ; python_version < \"3.11\"\nRequires-Dist: pytest ; extra == 'test'\nRequires-Dist: pywin32 ; sys_platform == \"win32\"\n\nRequires-Dist: body\n";
        let (reqs, rp) = parse_metadata(m);
        assert_eq!(rp.as_deref(), Some(">=3.7"));
        assert_eq!(reqs.len(), 5);
        let env = marker_env();
        let keep: Vec<String> = reqs
            .iter()
            .map(|r| Requirement::<pep508_rs::VerbatimUrl>::from_str(r).unwrap())
            .filter(|r| r.evaluate_markers(&env, &[]))
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(keep, vec!["idna", "sniffio"]);
    }

    #[test]
    fn urls() {
        assert_eq!(
            resolve_url(
                "https://i.example/simple/x/",
                "../../packages/a/x-1.whl#sha256=00"
            )
            .unwrap(),
            "https://i.example/packages/a/x-1.whl"
        );
        assert_eq!(
            resolve_url("https://i.example/simple/x/", "https://f.example/x.whl").unwrap(),
            "https://f.example/x.whl"
        );
    }
}
