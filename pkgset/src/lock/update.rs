//! The updater: roots -> verified Debian and PyPI resolutions -> `LockFile`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use super::debian::{self, check_hash, sha256_hex, DebianSource};
use super::error::LockError;
use super::http::{join, Http};
use super::mirrors::{self, DebianMirrors};
use super::model::{DebianLock, LockFile, Roots, LOCK_VERSION};
use super::openpgp::Keyring;
use super::pypi::{HttpIndex, Resolver};

pub const DEFAULT_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

#[derive(Debug, Clone)]
pub struct UpdateOptions {
    pub roots: Roots,
    /// Debian mirrors; `None`: from the environment / apt configuration.
    pub mirrors: Option<DebianMirrors>,
    /// PEP 691 index; `None`: from the environment / pip configuration.
    pub pypi_index: Option<String>,
    /// `RNIX_DEBIAN_KEYRING`, default Debian's archive keyring.
    pub keyring: PathBuf,
    /// Where verified downloads are kept (by sha256) between runs.
    pub cache_dir: Option<PathBuf>,
    /// Accept an `InRelease` whose `Valid-Until` has passed (`RNIX_DEBIAN_IGNORE_VALID_UNTIL=1`).
    pub ignore_valid_until: bool,
    pub now: SystemTime,
    /// Progress messages go to stderr when set.
    pub verbose: bool,
}

impl UpdateOptions {
    /// Options from the environment: `RNIX_DEBIAN_KEYRING`, `RNIX_LOCK_CACHE`,
    /// `RNIX_DEBIAN_IGNORE_VALID_UNTIL`.
    pub fn from_env(roots: Roots) -> Self {
        let keyring = std::env::var_os("RNIX_DEBIAN_KEYRING")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_KEYRING));
        UpdateOptions {
            roots,
            mirrors: None,
            pypi_index: None,
            keyring,
            cache_dir: default_cache_dir(),
            ignore_valid_until: std::env::var("RNIX_DEBIAN_IGNORE_VALID_UNTIL")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            now: SystemTime::now(),
            verbose: true,
        }
    }
}

pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("RNIX_LOCK_CACHE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("rnix").join("lock-downloads"))
}

/// Downloads `url` (or takes it from the cache) and checks sha256 (and size when known).
fn fetch_verified(
    http: &Http,
    cache: Option<&Path>,
    url: &str,
    sha: &str,
    size: Option<u64>,
    what: &str,
) -> Result<u64, LockError> {
    if let Some(c) = cache {
        if let Ok(b) = std::fs::read(c.join(sha)) {
            if sha256_hex(&b) == sha && size.is_none_or(|s| s == b.len() as u64) {
                return Ok(b.len() as u64);
            }
        }
    }
    let b = http.get(url, None, what)?;
    check_hash(&b, sha, size.unwrap_or(b.len() as u64), what, url)?;
    if let Some(c) = cache {
        if std::fs::create_dir_all(c).is_ok() {
            if let Ok(mut t) = tempfile::NamedTempFile::new_in(c) {
                if std::io::Write::write_all(&mut t, &b).is_ok() {
                    let _ = t.persist(c.join(sha));
                }
            }
        }
    }
    Ok(b.len() as u64)
}

/// What an update produces: the lock (the roots' part of the archive, and the PyPI
/// resolution) and, when Debian roots were given, the index of the whole archive.
pub struct Update {
    pub lock: LockFile,
    pub index: Option<DebianLock>,
    /// Packages of the index with a dependency nothing in the archive satisfies.
    pub broken: BTreeMap<String, Vec<String>>,
}

/// Runs the whole update; returns the lock without writing it.
pub fn update(opts: &UpdateOptions) -> Result<LockFile> {
    Ok(update_all(opts)?.lock)
}

/// Runs the whole update; returns the lock and the archive index without writing them.
pub fn update_all(opts: &UpdateOptions) -> Result<Update> {
    let http = Http::new();
    let log = |m: String| {
        if opts.verbose {
            eprintln!("rnix-update-lock: {m}");
        }
    };
    // --- Debian
    let mut debian_lock = DebianLock {
        suites: debian::SUITES.iter().map(|s| s.0.to_string()).collect(),
        packages: BTreeMap::new(),
        groups: BTreeMap::new(),
    };
    let mut index = None;
    let mut broken = BTreeMap::new();
    if !opts.roots.debian.is_empty() {
        let mirrors = match &opts.mirrors {
            Some(m) => m.clone(),
            None => mirrors::debian_mirrors()?,
        };
        let keyring = Keyring::load(&opts.keyring).with_context(|| {
            "the Debian archive keyring is needed to check InRelease (set RNIX_DEBIAN_KEYRING)"
        })?;
        let src = DebianSource {
            http: &http,
            mirrors: &mirrors,
            keyring: &keyring,
            now: opts.now,
            ignore_valid_until: opts.ignore_valid_until,
        };
        log("fetching and verifying InRelease and Packages.xz of bookworm, bookworm-updates, bookworm-security".into());
        let universe = src.fetch_universe()?;
        let (full, bad) = universe.index()?;
        log(format!(
            "indexed {} Debian packages ({} groups; {} with a dependency nothing satisfies)",
            full.packages.len(),
            full.groups.len(),
            bad.len()
        ));
        debian_lock = universe.resolve_in(&full, &bad, &opts.roots.debian)?;
        log(format!(
            "resolved {} Debian packages for the roots; verifying their .deb files",
            debian_lock.packages.len()
        ));
        index = Some(full);
        broken = bad;
        for (name, e) in &debian_lock.packages {
            let url = join(mirrors.for_archive(&e.archive), &e.path);
            let what = format!("Debian package {name} {} ({})", e.version, e.path);
            fetch_verified(
                &http,
                opts.cache_dir.as_deref(),
                &url,
                &e.sha256,
                Some(e.size),
                &what,
            )?;
        }
    }
    // --- PyPI
    let mut pypi = BTreeMap::new();
    if !opts.roots.pypi.is_empty() {
        let index = match &opts.pypi_index {
            Some(i) => i.clone(),
            None => mirrors::pypi_index()?,
        };
        let idx = HttpIndex {
            http: &http,
            index: index.clone(),
        };
        log(format!("resolving {} Python roots", opts.roots.pypi.len()));
        let res = Resolver::new(&idx).resolve(&opts.roots.pypi)?;
        pypi = res.entries;
        for (name, e) in pypi.iter_mut() {
            let url = &res.urls[name];
            let what = format!("Python wheel {}", e.filename);
            let size = fetch_verified(
                &http,
                opts.cache_dir.as_deref(),
                url,
                &e.sha256,
                (e.size != 0).then_some(e.size),
                &what,
            )?;
            e.size = size;
        }
        log(format!("resolved {} Python packages", pypi.len()));
    }
    let lock = LockFile {
        version: LOCK_VERSION,
        debian: debian_lock,
        pypi,
    };
    lock.check()?;
    Ok(Update {
        lock,
        index,
        broken,
    })
}
