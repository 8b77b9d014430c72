//! Evaluation-time fetchers: `builtins.fetchurl` and `builtins.fetchTarball`, giving the
//! store paths Nix 2.8 gives for the same content, with a download cache whose entries
//! live for `tarball-ttl` seconds (3600 by default, `RNIX_TARBALL_TTL` overrides).

use crate::fetch::{self, MirrorConfig};
use crate::unpack;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use store::hash::{Encoding, Hash, HashAlgo};
use store::local::LocalStore;
use store::store_path::make_fixed_output_path;
use store::{FileIngestionMethod, StorePath};

/// Nix's default `tarball-ttl`.
pub const DEFAULT_TTL: u64 = 3600;

/// Options for the fetchers.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Seconds a cached download stays fresh.
    pub ttl: u64,
    pub mirrors: Option<MirrorConfig>,
    /// Print "downloading ..." lines.
    pub verbose: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            ttl: std::env::var("RNIX_TARBALL_TTL")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_TTL),
            mirrors: None,
            verbose: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CacheEntry {
    pub(crate) store_path: String,
    pub(crate) time: u64,
    #[serde(default)]
    pub(crate) etag: Option<String>,
    /// Facts a fetcher records with the path (`fetchGit`: rev, revCount, lastModified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) info: Option<serde_json::Value>,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn cache_file(store: &LocalStore) -> PathBuf {
    store.state_dir().join("fetch-cache.json")
}

pub(crate) fn cache_key(kind: &str, url: &str, name: &str) -> String {
    format!("{kind}\t{name}\t{url}")
}

pub(crate) fn load_cache(store: &LocalStore) -> BTreeMap<String, CacheEntry> {
    fs::read_to_string(cache_file(store))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub(crate) fn save_cache_entry(store: &LocalStore, key: String, e: CacheEntry) -> Result<()> {
    let f = cache_file(store);
    // Serialise writers through a lock file; the cache is a small JSON map.
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(f.with_extension("lock"))?;
    unsafe {
        libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX);
    }
    let mut map = load_cache(store);
    map.insert(key, e);
    let tmp = f.with_extension(format!("tmp.{}", std::process::id()));
    fs::write(&tmp, serde_json::to_string_pretty(&map)?)?;
    fs::rename(&tmp, &f)?;
    Ok(())
}

/// Nix's `baseNameOf` for URLs (text after the last `/`, ignoring a trailing one).
pub fn url_base_name(url: &str) -> String {
    let t = url.trim_end_matches('/');
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn parse_sha256(s: &str) -> Result<Hash> {
    Hash::parse(s, Some(HashAlgo::Sha256)).map_err(|e| anyhow!("invalid sha256 '{s}': {e}"))
}

fn fresh_cached(
    store: &LocalStore,
    key: &str,
    ttl: u64,
) -> Result<(Option<StorePath>, Option<CacheEntry>)> {
    let cache = load_cache(store);
    if let Some(e) = cache.get(key) {
        if let Ok(p) = StorePath::from_absolute(&e.store_path) {
            // Rooted before the validity check, so that a concurrent garbage collection
            // cannot delete it after the check (also when the entry is only revalidated).
            store.add_temp_root(&p)?;
            if store.is_valid(&p)? {
                if now().saturating_sub(e.time) < ttl {
                    return Ok((Some(p), Some(e.clone())));
                }
                return Ok((None, Some(e.clone())));
            }
        }
    }
    Ok((None, None))
}

/// Downloads `url` into a temporary file; returns it (None when the server said 304 for
/// the cached ETag).
fn download_tmp(
    url: &str,
    opts: &FetchOptions,
    etag: Option<&str>,
) -> Result<Option<(tempfile::TempDir, PathBuf, Option<String>)>> {
    let mirrors = opts
        .mirrors
        .clone()
        .unwrap_or_else(MirrorConfig::from_environment);
    let client = fetch::client()?;
    let resolved = fetch::resolve_url(&client, &mirrors, url)?;
    let dir = tempfile::tempdir()?;
    let dest = dir.path().join("download");
    if opts.verbose {
        rnix_util::errln!("downloading '{url}'...");
    }
    if let (Some(tag), true) = (etag, resolved.starts_with("http")) {
        let r = client
            .get(&resolved)
            .header("If-None-Match", tag)
            .send()
            .with_context(|| format!("downloading '{url}'"))?;
        if r.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
    }
    let (_, new_etag) = fetch::download_etag(&client, &resolved, &dest, &|_, _| {})?;
    Ok(Some((dir, dest, new_etag)))
}

/// `builtins.fetchurl`: the file at `url`, added flat (sha256) under `name` (default: the
/// URL's base name). With `sha256`, a valid path is reused without downloading and the
/// download must match.
pub fn fetch_url(
    store: &LocalStore,
    url: &str,
    sha256: Option<&str>,
    name: Option<&str>,
    opts: &FetchOptions,
) -> Result<StorePath> {
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| url_base_name(url));
    fetch_cached(
        store,
        "file",
        url,
        sha256,
        &name,
        FileIngestionMethod::Flat,
        opts,
        &|_, file| Ok(store.add_to_store(&name, file, FileIngestionMethod::Flat, None)?),
    )
}

/// `builtins.fetchTarball`: the tarball (or zip) at `url`, unpacked; its single top-level
/// entry is added recursively (sha256, `source` type) under `name` (default `source`).
/// With `sha256` (the NAR hash of the unpacked tree), a valid path is reused without
/// downloading and the result must match.
pub fn fetch_tarball(
    store: &LocalStore,
    url: &str,
    sha256: Option<&str>,
    name: Option<&str>,
    opts: &FetchOptions,
) -> Result<StorePath> {
    let name = name.unwrap_or("source").to_string();
    fetch_cached(
        store,
        "tarball",
        url,
        sha256,
        &name,
        FileIngestionMethod::Recursive,
        opts,
        &|dir, file| {
            let unpacked = dir.join("unpacked");
            unpack::unpack_archive(file, &unpacked)
                .with_context(|| format!("unpacking the tarball downloaded from '{url}'"))?;
            let top = unpack::single_top_level(&unpacked, url)?;
            Ok(store.add_to_store(&name, &top, FileIngestionMethod::Recursive, None)?)
        },
    )
}

/// What `fetch_url` and `fetch_tarball` share: reuse a valid path when the hash is known,
/// else the TTL/ETag cache, else download into a temporary directory and `ingest` it; then
/// check the expected hash (flat: of the file; recursive: of the NAR).
#[allow(clippy::too_many_arguments)]
fn fetch_cached(
    store: &LocalStore,
    kind: &str,
    url: &str,
    sha256: Option<&str>,
    name: &str,
    method: FileIngestionMethod,
    opts: &FetchOptions,
    ingest: &dyn Fn(&std::path::Path, &std::path::Path) -> Result<StorePath>,
) -> Result<StorePath> {
    let expected = sha256.map(parse_sha256).transpose()?;
    if let Some(h) = &expected {
        let p = make_fixed_output_path(method, h, name, [], false)?;
        store.add_temp_root(&p)?;
        if store.is_valid(&p)? {
            return Ok(p);
        }
    }
    let key = cache_key(kind, url, name);
    let (fresh, stale) = fresh_cached(store, &key, opts.ttl)?;
    let path = if let Some(p) = fresh {
        p
    } else {
        match download_tmp(url, opts, stale.as_ref().and_then(|e| e.etag.as_deref()))? {
            None => {
                let e = stale.expect("304 only with a cached entry");
                let p = StorePath::from_absolute(&e.store_path)?;
                save_cache_entry(store, key, CacheEntry { time: now(), ..e })?;
                p
            }
            Some((dir, file, etag)) => {
                let p = ingest(dir.path(), &file)?;
                save_cache_entry(
                    store,
                    key,
                    CacheEntry {
                        store_path: p.to_absolute(),
                        time: now(),
                        etag,
                        info: None,
                    },
                )?;
                p
            }
        }
    };
    if let Some(h) = expected {
        let got = match method {
            FileIngestionMethod::Flat => {
                store::hash::hash_file(HashAlgo::Sha256, &store.real_path(&path))?
            }
            FileIngestionMethod::Recursive => store.path_info(&path)?.nar_hash,
        };
        if got != h {
            bail!(
                "hash mismatch in file downloaded from '{url}':\n  specified: {}\n  got:       {}",
                h.encode(Encoding::Base32, true),
                got.encode(Encoding::Base32, true)
            );
        }
    }
    store.add_temp_root(&path)?;
    Ok(path)
}
