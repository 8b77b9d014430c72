//! Debian side of the updater: signed `InRelease` -> `Packages.xz` -> resolved,
//! pruned, acyclic runtime closure of the roots.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::io::Read;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use super::debver::{self, Relation};
use super::error::LockError;
use super::http::{join, Http};
use super::mirrors::DebianMirrors;
use super::model::{DebEntry, DebianLock, GroupEntry};
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

/// Groups of the package set: (group name, store path name, members in unpacking order).
/// A group is one store path; packages that depend on a member depend on the group.
pub const MANUAL_GROUPS: &[(&str, &str, &[&str])] = &[
    // nixpkgs' python3: the interpreter, its standard library, `python3` and `python`
    (
        "python311",
        "python3",
        &[
            "python3.11-minimal",
            "libpython3.11-minimal",
            "libpython3.11-stdlib",
            "python3-minimal",
            "python-is-python3",
        ],
    ),
    // nixpkgs' glibc
    ("glibc", "glibc", &["libc6"]),
    // packages that install into one directory and find each other relative to their own
    // files (javac loads ../lib/libjli.so of the JRE; postgres' server and client programs
    // share lib/postgresql/15/bin and its relative paths to share/)
    (
        "openjdk-17",
        "openjdk",
        &["openjdk-17-jre-headless", "openjdk-17-jdk-headless"],
    ),
    (
        "postgresql-15",
        "postgresql",
        &["postgresql-15", "postgresql-client-15"],
    ),
    // CMake finds its modules (CMAKE_ROOT) beside its program
    ("cmake", "cmake", &["cmake", "cmake-data"]),
    // GCC finds cc1, cc1plus, crtbegin.o, libgcc and the C++ headers relative to its own
    // program: the compiler packages share one tree
    (
        "gcc-12",
        "gcc-unwrapped",
        &[
            "gcc-12",
            "cpp-12",
            "libgcc-12-dev",
            "g++-12",
            "libstdc++-12-dev",
        ],
    ),
];

fn priority_rank(p: &str) -> u8 {
    match p {
        "required" => 0,
        "important" => 1,
        "standard" => 2,
        "optional" => 3,
        "extra" => 4,
        _ => 5,
    }
}

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
    pub priority: String,
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
            priority: get("Priority"),
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
            let mut ps: Vec<&(String, Option<String>)> = ps.iter().collect();
            ps.sort_by(|a, b| {
                priority_rank(&self.packages[&a.0].priority)
                    .cmp(&priority_rank(&self.packages[&b.0].priority))
                    .then(a.0.cmp(&b.0))
            });
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

    /// The resolved, pruned direct runtime dependencies of one package, independent of
    /// any other choice (so that every package has one store path): each group of
    /// `Pre-Depends` and `Depends` is satisfied by its first alternative that some package
    /// satisfies — the real package of that name when its version fits, else the providers
    /// of the virtual name, by `Priority` (required, important, standard, optional, extra)
    /// and then by name. Groups naming a [`PRUNED`] package and [`DROPPED_EDGES`] are left
    /// out. A group nothing satisfies is returned as text in the second list.
    pub fn direct_deps(&self, name: &str) -> Result<(Vec<String>, Vec<String>)> {
        let s = &self.packages[name];
        let mut deps = BTreeSet::new();
        let mut unsatisfied = Vec::new();
        let mut groups =
            parse_depends(&s.pre_depends).with_context(|| format!("Pre-Depends of {name}"))?;
        groups.extend(parse_depends(&s.depends).with_context(|| format!("Depends of {name}"))?);
        for g in groups {
            if g.iter().any(|d| PRUNED.contains(&d.name.as_str())) {
                continue;
            }
            let Some(pick) = g.iter().find_map(|d| self.candidates(d).into_iter().next()) else {
                let txt: Vec<String> = g
                    .iter()
                    .map(|d| match &d.constraint {
                        Some((r, v)) => format!("{} ({r:?} {v})", d.name),
                        None => d.name.clone(),
                    })
                    .collect();
                unsatisfied.push(format!(
                    "cannot satisfy dependency `{}` of {name} {}",
                    txt.join(" | "),
                    s.version
                ));
                continue;
            };
            if pick == name
                || PRUNED.contains(&pick.as_str())
                || DROPPED_EDGES.contains(&(name, pick.as_str()))
            {
                continue;
            }
            deps.insert(pick);
        }
        Ok((deps.into_iter().collect(), unsatisfied))
    }

    /// The whole archive as a lock: every package with its direct dependencies as keys,
    /// the package set's [`MANUAL_GROUPS`], and one group per dependency cycle (named after
    /// the member most depended on from outside it). Also returns the unsatisfiable
    /// dependencies (package -> messages).
    pub fn index(&self) -> Result<(DebianLock, BTreeMap<String, Vec<String>>)> {
        let names: Vec<&str> = self.packages.keys().map(|k| k.as_str()).collect();
        let id: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut direct: Vec<Vec<usize>> = Vec::with_capacity(names.len());
        let mut broken = BTreeMap::new();
        for n in &names {
            let (d, unsat) = self.direct_deps(n)?;
            if !unsat.is_empty() {
                broken.insert(n.to_string(), unsat);
            }
            direct.push(d.iter().map(|x| id[x.as_str()]).collect());
        }
        // union-find: manual groups first, then every strongly connected component
        let mut uf: Vec<usize> = (0..names.len()).collect();
        fn find(uf: &mut [usize], mut x: usize) -> usize {
            while uf[x] != x {
                uf[x] = uf[uf[x]];
                x = uf[x];
            }
            x
        }
        let mut manual_of: HashMap<usize, usize> = HashMap::new();
        for (gi, (_, _, members)) in MANUAL_GROUPS.iter().enumerate() {
            let present: Vec<usize> = members.iter().filter_map(|m| id.get(m).copied()).collect();
            for w in present.windows(2) {
                let (a, b) = (find(&mut uf, w[0]), find(&mut uf, w[1]));
                uf[a] = b;
            }
            for m in present {
                manual_of.insert(m, gi);
            }
        }
        let roots: Vec<usize> = (0..names.len()).map(|i| find(&mut uf, i)).collect();
        let mut cgraph: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for (i, ds) in direct.iter().enumerate() {
            let e = cgraph.entry(roots[i]).or_default();
            for &d in ds {
                if roots[d] != roots[i] {
                    e.insert(roots[d]);
                }
            }
        }
        for comp in sccs(&cgraph) {
            for w in comp.windows(2) {
                let (a, b) = (find(&mut uf, w[0]), find(&mut uf, w[1]));
                uf[a] = b;
            }
        }
        let mut classes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..names.len() {
            let r = find(&mut uf, i);
            classes.entry(r).or_default().push(i);
        }
        // reverse dependencies, for naming cycle groups
        let mut rdeps: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
        for (i, ds) in direct.iter().enumerate() {
            for &d in ds {
                rdeps[d].push(i);
            }
        }
        let mut key: Vec<Option<String>> = vec![None; names.len()];
        let mut groups = BTreeMap::new();
        let mut group_pname: BTreeMap<String, Option<String>> = BTreeMap::new();
        for members in classes.values() {
            let manual: BTreeSet<usize> = members
                .iter()
                .filter_map(|m| manual_of.get(m).copied())
                .collect();
            if members.len() == 1 && manual.is_empty() {
                continue;
            }
            if manual.len() > 1 {
                let gs: Vec<&str> = manual.iter().map(|g| MANUAL_GROUPS[*g].0).collect();
                bail!(
                    "the package groups {} fall into one dependency cycle",
                    gs.join(" and ")
                );
            }
            let mut ordered: Vec<usize> = Vec::new();
            let (gname, pname) = if let Some(&g) = manual.iter().next() {
                let (gname, pname, list) = MANUAL_GROUPS[g];
                ordered.extend(list.iter().filter_map(|m| id.get(m).copied()));
                (
                    gname.to_string(),
                    (pname != gname).then(|| pname.to_string()),
                )
            } else {
                let inside: BTreeSet<usize> = members.iter().copied().collect();
                let outside_rdeps =
                    |m: usize| rdeps[m].iter().filter(|i| !inside.contains(i)).count();
                let best = *members
                    .iter()
                    .max_by(|a, b| {
                        outside_rdeps(**a)
                            .cmp(&outside_rdeps(**b))
                            .then(names[**b].len().cmp(&names[**a].len()))
                            .then(names[**b].cmp(names[**a]))
                    })
                    .expect("a class has members");
                ordered.push(best);
                (names[best].to_string(), None)
            };
            let mut rest: Vec<usize> = members
                .iter()
                .copied()
                .filter(|m| !ordered.contains(m))
                .collect();
            rest.sort_by_key(|m| names[*m]);
            ordered.extend(rest);
            for m in &ordered {
                key[*m] = Some(gname.clone());
            }
            group_pname.insert(gname.clone(), pname);
            groups.insert(gname, ordered);
        }
        let key_of = |i: usize| key[i].clone().unwrap_or_else(|| names[i].to_string());
        let mut packages = BTreeMap::new();
        for (i, n) in names.iter().enumerate() {
            let s = &self.packages[*n];
            let own = key_of(i);
            let depends: BTreeSet<String> = direct[i]
                .iter()
                .map(|d| key_of(*d))
                .filter(|k| *k != own)
                .collect();
            packages.insert(
                n.to_string(),
                DebEntry {
                    version: s.version.clone(),
                    archive: s.archive.clone(),
                    path: s.filename.clone(),
                    sha256: s.sha256.clone(),
                    size: s.size,
                    depends: depends.into_iter().collect(),
                    group: key[i].clone(),
                },
            );
        }
        let groups = groups
            .into_iter()
            .map(|(g, ms)| {
                let depends: BTreeSet<String> = ms
                    .iter()
                    .flat_map(|m| packages[names[*m]].depends.iter().cloned())
                    .collect();
                let entry = GroupEntry {
                    members: ms.iter().map(|m| names[*m].to_string()).collect(),
                    depends: depends.into_iter().collect(),
                    pname: group_pname[&g].clone(),
                };
                (g, entry)
            })
            .collect();
        let lock = DebianLock {
            suites: SUITES.iter().map(|s| s.0.to_string()).collect(),
            packages,
            groups,
        };
        lock.check()
            .context("the archive index breaks the lock's contract")?;
        Ok((lock, broken))
    }

    /// The part of the index the roots need: the store paths holding them and their
    /// dependencies, with every member of each group. A root that is no package (a virtual
    /// name) stands for its first provider. Unsatisfiable dependencies in that part are errors.
    pub fn resolve(&self, roots: &[String]) -> Result<DebianLock> {
        let (index, broken) = self.index()?;
        self.resolve_in(&index, &broken, roots)
    }

    /// [`Universe::resolve`] with the index (and its unsatisfiable dependencies) already made.
    pub fn resolve_in(
        &self,
        index: &DebianLock,
        broken: &BTreeMap<String, Vec<String>>,
        roots: &[String],
    ) -> Result<DebianLock> {
        let mut want: Vec<String> = Vec::new();
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
            want.push(index.key_of(first).to_string());
        }
        subset(index, &want, broken)
    }
}

/// The closure of `keys` in `index` (keys of store paths), with every member of each group.
pub fn subset(
    index: &DebianLock,
    keys: &[String],
    broken: &BTreeMap<String, Vec<String>>,
) -> Result<DebianLock> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = keys.iter().cloned().collect();
    while let Some(k) = queue.pop_front() {
        if !seen.insert(k.clone()) {
            continue;
        }
        for d in index.key_depends(&k) {
            queue.push_back(d.clone());
        }
    }
    let mut out = DebianLock {
        suites: index.suites.clone(),
        packages: BTreeMap::new(),
        groups: BTreeMap::new(),
    };
    for k in &seen {
        let members: Vec<String> = match index.groups.get(k) {
            Some(g) => {
                out.groups.insert(k.clone(), g.clone());
                g.members.clone()
            }
            None => vec![k.clone()],
        };
        for m in members {
            if let Some(msgs) = broken.get(&m) {
                return Err(LockError::Resolve(msgs.join("; ")).into());
            }
            let e = index
                .packages
                .get(&m)
                .ok_or_else(|| anyhow!("`{m}` is not in the index"))?;
            out.packages.insert(m, e.clone());
        }
    }
    out.check()?;
    Ok(out)
}

/// Strongly connected components with more than one node (iterative Tarjan).
fn sccs(g: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<Vec<usize>> {
    let adj: HashMap<usize, Vec<usize>> = g
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect();
    let mut index: HashMap<usize, usize> = HashMap::new();
    let mut low: HashMap<usize, usize> = HashMap::new();
    let mut on: HashSet<usize> = HashSet::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    let mut counter = 0;
    let empty = Vec::new();
    for &start in g.keys() {
        if index.contains_key(&start) {
            continue;
        }
        // (node, next edge position)
        let mut work: Vec<(usize, usize)> = vec![(start, 0)];
        index.insert(start, counter);
        low.insert(start, counter);
        counter += 1;
        stack.push(start);
        on.insert(start);
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            let edges = adj.get(&v).unwrap_or(&empty);
            if *pos < edges.len() {
                let w = edges[*pos];
                *pos += 1;
                if !index.contains_key(&w) {
                    index.insert(w, counter);
                    low.insert(w, counter);
                    counter += 1;
                    stack.push(w);
                    on.insert(w);
                    work.push((w, 0));
                } else if on.contains(&w) {
                    let lw = index[&w];
                    let lv = low.get_mut(&v).expect("visited");
                    *lv = (*lv).min(lw);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                let lv = low[&v];
                let lp = low.get_mut(&parent).expect("visited");
                *lp = (*lp).min(lv);
            }
            if low[&v] == index[&v] {
                let mut comp = Vec::new();
                loop {
                    let w = stack.pop().expect("on stack");
                    on.remove(&w);
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    out.push(comp);
                }
            }
        }
    }
    out
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
            priority: "optional".into(),
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
            sel.packages.keys().collect::<Vec<_>>(),
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
        assert_eq!(sel.packages["bash"].depends, vec!["glibc", "libtinfo6"]);
        assert_eq!(sel.packages["libc6"].group.as_deref(), Some("glibc"));
        assert!(sel.groups["glibc"].depends.is_empty());
        assert_eq!(sel.packages["py"].depends, vec!["libffi8", "postfix"]);
        let e = u.resolve(&["old".into()]).unwrap_err().to_string();
        assert!(e.contains("libc6 (Ge 3)"), "{e}");
        let e = u.resolve(&["nope".into()]).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        // a dependency cycle becomes one group, named after the member most depended on
        let u = Universe::from_stanzas(vec![
            st("a", "1", "b", "", ""),
            st("b", "1", "a, c", "", ""),
            st("c", "1", "", "", ""),
            st("user", "1", "b", "", ""),
        ])
        .unwrap();
        let sel = u.resolve(&["user".into()]).unwrap();
        assert_eq!(sel.groups["b"].members, vec!["b", "a"]);
        assert_eq!(sel.groups["b"].depends, vec!["c"]);
        assert_eq!(sel.packages["user"].depends, vec!["b"]);
        assert_eq!(sel.packages["a"].group.as_deref(), Some("b"));
        // the choice of an alternative does not depend on what else is wanted
        let u = Universe::from_stanzas(vec![
            st("x", "1", "p | q", "", ""),
            st("p", "1", "", "", ""),
            st("q", "1", "", "", ""),
        ])
        .unwrap();
        let sel = u.resolve(&["q".into(), "x".into()]).unwrap();
        assert_eq!(sel.packages["x"].depends, vec!["p"]);
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
