//! Debian side of the updater: signed `InRelease` -> `Packages.xz` -> resolved,
//! pruned, acyclic runtime closure of the roots.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use super::debver::{self, Relation};
use super::error::LockError;
use super::http::{join, Http};
use super::mirrors::DebianMirrors;
use super::model::{find_cycle, DebEntry};
use super::openpgp::Keyring;

/// The suites merged into the lock, with the archive each comes from.
pub const SUITES: [(&str, &str); 3] = [
    ("bookworm", "debian"),
    ("bookworm-updates", "debian"),
    ("bookworm-security", "debian-security"),
];

/// Packages that appear in `Depends` but are not needed at run time by what the lock
/// serves (package management, configuration frontends, data-only helpers). Edges to
/// them are dropped; a group of alternatives that contains one of them is dropped whole.
pub const PRUNED: &[&str] = &[
    "dpkg",
    "tar",
    "readline-common",
    "gcc-12-base",
    "media-types",
    "mime-support",
    "libtirpc-common",
    "debconf",
    "debconf-2.0",
    "cdebconf",
    "perl-base",
    "install-info",
    "sensible-utils",
    "base-files",
    "debianutils",
    "libc-bin",
    "lsb-base",
    "sysvinit-utils",
    "init-system-helpers",
    "libpam-runtime",
    "krb5-config",
    "libsemanage-common",
    "ucf",
    "netbase",
];

/// Edges removed to make the graph acyclic (store paths cannot reference each other in
/// a cycle). Any other cycle is an error.
pub const DROPPED_EDGES: &[(&str, &str)] = &[
    // libgcc-s1 depends on libc6; glibc only dlopens libgcc_s (pthread_cancel)
    ("libc6", "libgcc-s1"),
    // python-is-python3 is only the `python -> python3` link; it joins the python311
    // group (with python3-minimal), and `python3` depends back on that group
    ("python-is-python3", "python3"),
];

/// One stanza of a `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub depends: String,
    pub pre_depends: String,
    pub provides: String,
    pub archive: String,
}

/// Parses RFC 822 style paragraphs into ordered field maps (continuation lines joined).
pub fn parse_paragraphs(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut cur: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            last = None;
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(k) = &last {
                let v = cur.entry(k.clone()).or_default();
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim().to_string();
            cur.insert(k.clone(), v.trim().to_string());
            last = Some(k);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The parts of a verified `InRelease` the updater uses.
#[derive(Debug, Clone)]
pub struct Release {
    pub suite: String,
    pub valid_until: Option<String>,
    /// path -> (sha256, size), from the SHA256 section only.
    pub sha256: BTreeMap<String, (String, u64)>,
}

pub fn parse_release(text: &str) -> Result<Release> {
    let paras = parse_paragraphs(text);
    let p = paras.first().ok_or_else(|| anyhow!("empty Release file"))?;
    let mut sha256 = BTreeMap::new();
    let sec = p
        .get("SHA256")
        .ok_or_else(|| anyhow!("Release file has no SHA256 section"))?;
    for line in sec.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() == 3 {
            let size = w[1]
                .parse::<u64>()
                .map_err(|_| anyhow!("bad size in Release SHA256 line `{line}`"))?;
            sha256.insert(w[2].to_string(), (w[0].to_ascii_lowercase(), size));
        }
    }
    Ok(Release {
        suite: p
            .get("Suite")
            .or(p.get("Codename"))
            .cloned()
            .unwrap_or_default(),
        valid_until: p.get("Valid-Until").cloned(),
        sha256,
    })
}

/// Parses an RFC 2822 date as written in Release files (`Sat, 21 Nov 2026 09:41:17 UTC`).
pub fn parse_release_date(s: &str) -> Result<SystemTime> {
    let fixed = s.trim().replace(" UTC", " +0000").replace(" GMT", " +0000");
    let d =
        chrono::DateTime::parse_from_rfc2822(&fixed).map_err(|e| anyhow!("bad date `{s}`: {e}"))?;
    Ok(SystemTime::from(d))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Checks data against an expected hash and size.
pub fn check_hash(
    data: &[u8],
    sha: &str,
    size: u64,
    what: &str,
    url: &str,
) -> Result<(), LockError> {
    let actual = sha256_hex(data);
    if actual != sha || data.len() as u64 != size {
        return Err(LockError::HashMismatch {
            what: what.to_string(),
            url: url.to_string(),
            expected: sha.to_string(),
            expected_size: size,
            actual,
            actual_size: data.len() as u64,
        });
    }
    Ok(())
}

pub fn parse_packages(text: &str, archive: &str) -> Result<Vec<Stanza>> {
    let mut out = Vec::new();
    for p in parse_paragraphs(text) {
        let get = |k: &str| p.get(k).cloned().unwrap_or_default();
        let package = get("Package");
        if package.is_empty() {
            continue;
        }
        let size = get("Size")
            .parse::<u64>()
            .map_err(|_| anyhow!("package {package}: bad Size"))?;
        let sha256 = get("SHA256").to_ascii_lowercase();
        if sha256.len() != 64 {
            bail!("package {package}: missing or bad SHA256");
        }
        out.push(Stanza {
            version: get("Version"),
            architecture: get("Architecture"),
            filename: get("Filename"),
            depends: get("Depends"),
            pre_depends: get("Pre-Depends"),
            provides: get("Provides"),
            size,
            sha256,
            package,
            archive: archive.to_string(),
        });
    }
    Ok(out)
}

/// One alternative of a dependency: `name[:arch] [(rel version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    pub constraint: Option<(Relation, String)>,
}

/// Parses a `Depends` field into groups of alternatives.
pub fn parse_depends(field: &str) -> Result<Vec<Vec<Dep>>> {
    let mut groups = Vec::new();
    for group in field.split(',') {
        let group = group.trim();
        if group.is_empty() {
            continue;
        }
        let mut alts = Vec::new();
        for alt in group.split('|') {
            let alt = alt.trim();
            // drop architecture restrictions `[amd64]` and build profiles `<!nocheck>`
            // (both follow the name and the optional version constraint)
            let alt = match alt.find(')') {
                Some(i) => &alt[..=i],
                None => alt.split(['[', '<']).next().unwrap_or("").trim(),
            };
            let alt_no_ver;
            let constraint = if let Some(i) = alt.find('(') {
                let inner = alt[i + 1..]
                    .trim_end()
                    .strip_suffix(')')
                    .ok_or_else(|| anyhow!("bad dependency `{alt}`"))?
                    .trim();
                let split = inner
                    .find(|c: char| !"<>=".contains(c))
                    .ok_or_else(|| anyhow!("bad dependency `{alt}`"))?;
                let rel = Relation::parse(inner[..split].trim())
                    .ok_or_else(|| anyhow!("bad relation in `{alt}`"))?;
                alt_no_ver = alt[..i].trim();
                Some((rel, inner[split..].trim().to_string()))
            } else {
                alt_no_ver = alt;
                None
            };
            let name = alt_no_ver.split(':').next().unwrap_or("").trim();
            if name.is_empty() {
                bail!("empty package name in dependency `{group}`");
            }
            alts.push(Dep {
                name: name.to_string(),
                constraint,
            });
        }
        groups.push(alts);
    }
    Ok(groups)
}

/// The merged view of the suites: the highest version of each package.
#[derive(Debug, Default)]
pub struct Universe {
    pub packages: BTreeMap<String, Stanza>,
    /// virtual name -> [(provider, provided version)]
    pub provides: BTreeMap<String, Vec<(String, Option<String>)>>,
}

impl Universe {
    pub fn from_stanzas(all: impl IntoIterator<Item = Stanza>) -> Result<Self> {
        let mut packages: BTreeMap<String, Stanza> = BTreeMap::new();
        for s in all {
            if s.architecture != "amd64" && s.architecture != "all" {
                continue;
            }
            match packages.get(&s.package) {
                Some(old)
                    if debver::compare(&old.version, &s.version) != std::cmp::Ordering::Less => {}
                _ => {
                    packages.insert(s.package.clone(), s);
                }
            }
        }
        let mut provides: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
        for s in packages.values() {
            for g in
                parse_depends(&s.provides).with_context(|| format!("Provides of {}", s.package))?
            {
                for d in g {
                    provides
                        .entry(d.name)
                        .or_default()
                        .push((s.package.clone(), d.constraint.map(|c| c.1)));
                }
            }
        }
        Ok(Universe { packages, provides })
    }

    /// Candidates for one alternative, in preference order.
    fn candidates(&self, d: &Dep) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(s) = self.packages.get(&d.name) {
            if d.constraint
                .as_ref()
                .is_none_or(|(r, v)| r.holds(&s.version, v))
            {
                out.push(s.package.clone());
            }
        }
        if let Some(ps) = self.provides.get(&d.name) {
            for (p, pv) in ps {
                let ok = match (&d.constraint, pv) {
                    (None, _) => true,
                    (Some((r, v)), Some(pv)) => r.holds(pv, v),
                    (Some(_), None) => false,
                };
                if ok && !out.contains(p) {
                    out.push(p.clone());
                }
            }
        }
        out
    }

    /// Resolves the roots transitively. Returns each selected package with its resolved,
    /// pruned direct runtime dependencies.
    pub fn resolve(&self, roots: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
        let mut selected: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut queue: VecDeque<String> = VecDeque::new();
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for r in roots {
            let c = self.candidates(&Dep {
                name: r.clone(),
                constraint: None,
            });
            let first = c.first().ok_or_else(|| {
                LockError::Resolve(format!(
                    "root package `{r}` is in none of the suites {}",
                    SUITES.map(|s| s.0).join(", ")
                ))
            })?;
            if wanted.insert(first.clone()) {
                queue.push_back(first.clone());
            }
        }
        while let Some(name) = queue.pop_front() {
            if selected.contains_key(&name) {
                continue;
            }
            let s = &self.packages[&name];
            let mut deps = BTreeSet::new();
            let mut groups =
                parse_depends(&s.pre_depends).with_context(|| format!("Pre-Depends of {name}"))?;
            groups.extend(parse_depends(&s.depends).with_context(|| format!("Depends of {name}"))?);
            for g in groups {
                if g.iter().any(|d| PRUNED.contains(&d.name.as_str())) {
                    continue;
                }
                let mut cands = Vec::new();
                for d in &g {
                    cands.extend(self.candidates(d));
                }
                let pick = cands
                    .iter()
                    .find(|c| wanted.contains(*c))
                    .or(cands.first())
                    .cloned()
                    .ok_or_else(|| {
                        let txt: Vec<String> = g
                            .iter()
                            .map(|d| match &d.constraint {
                                Some((r, v)) => format!("{} ({r:?} {v})", d.name),
                                None => d.name.clone(),
                            })
                            .collect();
                        LockError::Resolve(format!(
                            "cannot satisfy dependency `{}` of {name} {}",
                            txt.join(" | "),
                            s.version
                        ))
                    })?;
                if pick == name || PRUNED.contains(&pick.as_str()) {
                    continue;
                }
                if DROPPED_EDGES.contains(&(name.as_str(), pick.as_str())) {
                    continue;
                }
                deps.insert(pick.clone());
                if wanted.insert(pick.clone()) {
                    queue.push_back(pick);
                }
            }
            selected.insert(name, deps.into_iter().collect());
        }
        if let Some(c) = find_cycle(selected.iter().map(|(k, v)| (k.as_str(), v.as_slice()))) {
            return Err(LockError::Resolve(format!(
                "dependency cycle {} is not in the updater's list of dropped edges (debian::DROPPED_EDGES)",
                c.join(" -> ")
            ))
            .into());
        }
        Ok(selected)
    }
}

/// Downloads, verifies and parses the three suites.
pub struct DebianSource<'a> {
    pub http: &'a Http,
    pub mirrors: &'a DebianMirrors,
    pub keyring: &'a Keyring,
    pub now: SystemTime,
    pub ignore_valid_until: bool,
}

impl DebianSource<'_> {
    pub fn fetch_universe(&self) -> Result<Universe> {
        let mut all = Vec::new();
        for (suite, archive) in SUITES {
            let base = self.mirrors.for_archive(archive);
            let url = join(base, &format!("dists/{suite}/InRelease"));
            let what = format!("InRelease of {suite}");
            let raw = self.http.get(&url, None, &what)?;
            let raw = String::from_utf8(raw)
                .map_err(|_| anyhow!("{url}: InRelease is not UTF-8 text"))?;
            let text = self
                .keyring
                .verify_clearsigned(&raw, self.now)
                .map_err(|e| LockError::BadSignature {
                    what: url.clone(),
                    msg: format!("{e:#}"),
                })?;
            let rel = parse_release(&text).with_context(|| url.clone())?;
            if let Some(vu) = &rel.valid_until {
                let t = parse_release_date(vu).with_context(|| url.clone())?;
                if t < self.now && !self.ignore_valid_until {
                    return Err(LockError::Expired {
                        what: url.clone(),
                        valid_until: vu.clone(),
                    }
                    .into());
                }
            }
            let idx = "main/binary-amd64/Packages.xz";
            let (sha, size) = rel
                .sha256
                .get(idx)
                .cloned()
                .ok_or_else(|| anyhow!("{url}: the SHA256 section does not list {idx}"))?;
            let purl = join(base, &format!("dists/{suite}/{idx}"));
            let xz = self.http.get(&purl, None, &format!("{idx} of {suite}"))?;
            check_hash(&xz, &sha, size, &format!("{idx} of {suite}"), &purl)?;
            let mut text = String::new();
            xz2::read::XzDecoder::new(&xz[..])
                .read_to_string(&mut text)
                .with_context(|| format!("decompressing {purl}"))?;
            all.extend(parse_packages(&text, archive).with_context(|| purl.clone())?);
        }
        Universe::from_stanzas(all)
    }
}

/// Lock entries for a resolution.
pub fn entries(u: &Universe, sel: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, DebEntry> {
    sel.iter()
        .map(|(name, deps)| {
            let s = &u.packages[name];
            (
                name.clone(),
                DebEntry {
                    version: s.version.clone(),
                    archive: s.archive.clone(),
                    path: s.filename.clone(),
                    sha256: s.sha256.clone(),
                    size: s.size,
                    depends: deps.clone(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(name: &str, ver: &str, dep: &str, pre: &str, prov: &str) -> Stanza {
        Stanza {
            package: name.into(),
            version: ver.into(),
            architecture: "amd64".into(),
            filename: format!("pool/main/{name}.deb"),
            size: 1,
            sha256: "0".repeat(64),
            depends: dep.into(),
            pre_depends: pre.into(),
            provides: prov.into(),
            archive: "debian".into(),
        }
    }

    #[test]
    fn depends_parsing() {
        let g = parse_depends("libc6 (>= 2.34), python3:any (>= 3.11~), a | b [amd64], c (<< 2)")
            .unwrap();
        assert_eq!(g.len(), 4);
        assert_eq!(g[0][0].constraint, Some((Relation::Ge, "2.34".into())));
        assert_eq!(g[1][0].name, "python3");
        assert_eq!(g[2].len(), 2);
        assert_eq!(g[2][1].name, "b");
        assert_eq!(g[3][0].constraint, Some((Relation::Lt, "2".into())));
        assert!(parse_depends("a (>= 1").is_err());
    }

    #[test]
    fn resolution() {
        let mut s2 = st("libc6", "2.36-9+deb12u13", "libgcc-s1", "", "");
        s2.archive = "debian-security".into();
        let u = Universe::from_stanzas(vec![
            st("libc6", "2.36-9", "libgcc-s1", "", ""),
            s2,
            st("libgcc-s1", "12.2", "gcc-12-base, libc6 (>= 2.35)", "", ""),
            st(
                "bash",
                "5.2",
                "base-files, debianutils",
                "libc6 (>= 2.36), libtinfo6",
                "",
            ),
            st("libtinfo6", "6.4", "", "libc6", ""),
            st(
                "py",
                "3.11",
                "media-types | mime-support, libvirt | libffi8, libmta",
                "",
                "",
            ),
            st("libffi8", "3.4", "libc6", "", ""),
            st("postfix", "1", "libc6", "", "libmta, mail-transport-agent"),
            st("old", "1", "libc6 (>= 3)", "", ""),
        ])
        .unwrap();
        assert_eq!(u.packages["libc6"].version, "2.36-9+deb12u13");
        assert_eq!(u.packages["libc6"].archive, "debian-security");
        let sel = u
            .resolve(&["bash".into(), "py".into(), "libgcc-s1".into()])
            .unwrap();
        assert_eq!(
            sel.keys().collect::<Vec<_>>(),
            vec![
                "bash",
                "libc6",
                "libffi8",
                "libgcc-s1",
                "libtinfo6",
                "postfix",
                "py"
            ]
        );
        assert_eq!(sel["bash"], vec!["libc6", "libtinfo6"]);
        assert!(sel["libc6"].is_empty());
        assert_eq!(sel["py"], vec!["libffi8", "postfix"]);
        let e = u.resolve(&["old".into()]).unwrap_err().to_string();
        assert!(e.contains("libc6 (Ge 3)"), "{e}");
        let e = u.resolve(&["nope".into()]).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        let u = Universe::from_stanzas(vec![st("a", "1", "b", "", ""), st("b", "1", "a", "", "")])
            .unwrap();
        let e = u.resolve(&["a".into()]).unwrap_err().to_string();
        assert!(e.contains("a -> b -> a"), "{e}");
    }

    #[test]
    fn release_parsing() {
        let t = "Origin: Debian\nSuite: stable\nValid-Until: Sat, 28 Nov 2026 09:41:17 UTC\nMD5Sum:\n 00 12 main/binary-amd64/Packages.xz\nSHA256:\n AB 34 main/binary-amd64/Packages.xz\n cd 5 main/Contents-all\n";
        let r = parse_release(t).unwrap();
        assert_eq!(
            r.sha256["main/binary-amd64/Packages.xz"],
            ("ab".to_string(), 34)
        );
        assert!(parse_release_date(r.valid_until.as_deref().unwrap()).is_ok());
        assert!(parse_release("Origin: x\n").is_err());
    }
}
