//! `builtins.fetchGit` and `fetchTree { type = "git"; }` as Nix 2.8 does them, with the
//! `git` program.
//!
//! - A local working tree (a `file` URL whose directory has a `.git`) is read in place.
//!   Without `ref` and `rev`, a tree with uncommitted changes (`git diff HEAD`, submodules
//!   ignored unless `submodules = true`) is copied as it is, tracked files only
//!   (`git ls-files`), with the warning "Git tree '…' is dirty"; it has no rev.
//! - Other URLs (and local bare repositories) are fetched into a bare clone under the
//!   store's state directory (`gitv3/<sha256 of the URL>`), refreshed when the ref is older
//!   than `tarball-ttl` seconds or the wanted rev is missing.
//! - The tree of the commit (`git archive`, or a checkout with `git submodule update` for
//!   `submodules = true`, without `.git`) is added like `builtins.path` (recursive sha256).
//!   Results are cached in the fetch cache: by rev for good, by URL and ref for the TTL.

use crate::fetchers::{self, CacheEntry, FetchOptions};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use store::hash::{Encoding, Hash, HashAlgo};
use store::local::LocalStore;
use store::{FileIngestionMethod, StorePath};

/// What to fetch (the attributes of a `git` input).
#[derive(Debug, Clone)]
pub struct GitInput {
    /// A URL with a scheme (`file:///…` for local paths).
    pub url: String,
    pub name: String,
    pub git_ref: Option<String>,
    /// 40 hex digits (see [`parse_rev`]).
    pub rev: Option<String>,
    pub submodules: bool,
    pub shallow: bool,
    pub all_refs: bool,
}

impl GitInput {
    pub fn new(url: impl Into<String>) -> GitInput {
        GitInput {
            url: url.into(),
            name: "source".into(),
            git_ref: None,
            rev: None,
            submodules: false,
            shallow: false,
            all_refs: false,
        }
    }
}

/// A fetched tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitTree {
    pub path: StorePath,
    /// None for a dirty working tree.
    pub rev: Option<String>,
    /// None for a dirty tree and for `shallow = true`.
    pub rev_count: Option<u64>,
    pub last_modified: u64,
    pub nar_hash: Hash,
}

/// A rev as Nix parses it (`Hash::parseAny(rev, htSHA1)`): 40 hex digits (or another
/// encoding of a sha1); returns the hex form.
pub fn parse_rev(s: &str) -> Result<String> {
    let h = Hash::parse(s, Some(HashAlgo::Sha1)).map_err(|_| {
        if s.len() != 40 && !s.contains(':') && !s.contains('-') {
            anyhow!("hash '{s}' has wrong length for hash type 'sha1'")
        } else {
            anyhow!("invalid hash '{s}' for hash type 'sha1'")
        }
    })?;
    Ok(h.encode(Encoding::Base16, false))
}

/// Runs git; returns (exit code, stdout). stderr goes to ours unless `quiet`.
fn git_run(args: &[&str], quiet: bool) -> Result<(i32, Vec<u8>)> {
    let out = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stderr(if quiet {
            Stdio::null()
        } else {
            Stdio::inherit()
        })
        .output()
        .map_err(|e| anyhow!("executing 'git': {}", io_words(&e)))?;
    Ok((out.status.code().unwrap_or(-1), out.stdout))
}

fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        _ => e.to_string(),
    }
}

fn failed(code: i32) -> anyhow::Error {
    anyhow!("program 'git' failed with exit code {code}")
}

/// Runs git and returns its stdout, trimmed; a non-zero exit is an error.
fn git(args: &[&str]) -> Result<String> {
    let (code, out) = git_run(args, false)?;
    if code != 0 {
        return Err(failed(code));
    }
    Ok(String::from_utf8_lossy(&out).trim_end().to_string())
}

fn git_u64(args: &[&str]) -> Result<u64> {
    let s = git(args)?;
    s.trim()
        .parse()
        .map_err(|_| anyhow!("unexpected output of git {}: '{s}'", args.join(" ")))
}

/// (is the URL a local working tree, the URL or path git is given).
fn actual_url(url: &str) -> (bool, String) {
    // Nix uses the URL without its query and fragment.
    let url = url.split(['?', '#']).next().unwrap_or(url);
    if let Some(path) = url.strip_prefix("file://") {
        let is_bare = !Path::new(path).join(".git").exists();
        if !is_bare {
            return (true, path.to_string());
        }
    }
    (false, url.to_string())
}

fn cache_type(i: &GitInput) -> String {
    let mut t = String::from("git");
    if i.shallow {
        t.push_str("-shallow");
    }
    if i.submodules {
        t.push_str("-submodules");
    }
    if i.all_refs {
        t.push_str("-all-refs");
    }
    t
}

fn locked_key(i: &GitInput, rev: &str) -> String {
    fetchers::cache_key(&cache_type(i), &format!("rev={rev}"), &i.name)
}

fn unlocked_key(i: &GitInput, url: &str, git_ref: &str) -> String {
    fetchers::cache_key(
        &cache_type(i),
        &format!("url={url}\tref={git_ref}"),
        &i.name,
    )
}

/// A cached tree: for `ttl` None the entry never expires.
fn lookup(store: &LocalStore, key: &str, ttl: Option<u64>) -> Result<Option<GitTree>> {
    let cache = fetchers::load_cache(store);
    let Some(e) = cache.get(key) else {
        return Ok(None);
    };
    if let Some(ttl) = ttl {
        if ttl == 0 || fetchers::now().saturating_sub(e.time) >= ttl {
            return Ok(None);
        }
    }
    let Ok(p) = StorePath::from_absolute(&e.store_path) else {
        return Ok(None);
    };
    let Some(info) = &e.info else {
        return Ok(None);
    };
    // Rooted before the validity check, so that it stays valid once seen.
    store.add_temp_root(&p)?;
    if !store.is_valid(&p)? {
        return Ok(None);
    }
    let rev = info.get("rev").and_then(|v| v.as_str()).map(str::to_string);
    let last_modified = info
        .get("lastModified")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let rev_count = info.get("revCount").and_then(|v| v.as_u64());
    let nar_hash = store.path_info(&p)?.nar_hash;
    Ok(Some(GitTree {
        path: p,
        rev,
        rev_count,
        last_modified,
        nar_hash,
    }))
}

fn remember(store: &LocalStore, key: String, t: &GitTree) -> Result<()> {
    let mut info = serde_json::Map::new();
    if let Some(r) = &t.rev {
        info.insert("rev".into(), r.clone().into());
    }
    if let Some(c) = t.rev_count {
        info.insert("revCount".into(), c.into());
    }
    info.insert("lastModified".into(), t.last_modified.into());
    fetchers::save_cache_entry(
        store,
        key,
        CacheEntry {
            store_path: t.path.to_absolute(),
            time: fetchers::now(),
            etag: None,
            info: Some(info.into()),
        },
    )
}

/// Fetch a Git tree as Nix 2.8's `fetchGit` does.
pub fn fetch_git(store: &LocalStore, input: &GitInput, opts: &FetchOptions) -> Result<GitTree> {
    let mut input = input.clone();
    let rev_given = input.rev.is_some();
    if let Some(rev) = &input.rev {
        if let Some(t) = lookup(store, &locked_key(&input, rev), None)? {
            return Ok(t);
        }
    }
    let (is_local, url) = actual_url(&input.url);

    if is_local && input.git_ref.is_none() && input.rev.is_none() {
        if let Some(t) = fetch_dirty(store, &input, &url)? {
            return Ok(t);
        }
    }

    let git_ref = match &input.git_ref {
        Some(r) => r.clone(),
        None if is_local => git(&["-C", &url, "rev-parse", "--abbrev-ref", "HEAD"])?,
        None => "master".to_string(),
    };
    input.git_ref = Some(git_ref.clone());

    let repo_dir: PathBuf;
    let mut _cache_lock = None;
    if is_local {
        if input.rev.is_none() {
            input.rev = Some(parse_rev(&git(&["-C", &url, "rev-parse", &git_ref])?)?);
        }
        repo_dir = PathBuf::from(&url);
    } else {
        let ukey = unlocked_key(&input, &url, &git_ref);
        if let Some(t) = lookup(store, &ukey, Some(opts.ttl))? {
            if input.rev.is_none() || input.rev == t.rev {
                return Ok(t);
            }
        }
        let cache_base = store.state_dir().join("gitv3");
        let cache_dir =
            cache_base.join(Hash::sha256(url.as_bytes()).encode(Encoding::Base32, false));
        fs::create_dir_all(&cache_base)
            .with_context(|| format!("creating {}", cache_base.display()))?;
        _cache_lock = Some(lock_file(&cache_dir.with_extension("lock"))?);
        let cache_str = cache_dir.to_string_lossy().into_owned();
        if !cache_dir.exists() {
            git(&[
                "-c",
                "init.defaultBranch=master",
                "init",
                "--quiet",
                "--bare",
                &cache_str,
            ])?;
        }
        let local_ref_file = if git_ref.starts_with("refs/") {
            cache_dir.join(&git_ref)
        } else {
            cache_dir.join("refs/heads").join(&git_ref)
        };
        let do_fetch = if let Some(rev) = &input.rev {
            git_run(&["-C", &cache_str, "cat-file", "-e", rev], true)?.0 != 0
        } else if input.all_refs {
            true
        } else {
            match fs::metadata(&local_ref_file).and_then(|m| m.modified()) {
                Ok(t) => {
                    let age = std::time::SystemTime::now()
                        .duration_since(t)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    age >= opts.ttl
                }
                Err(_) => true,
            }
        };
        let fetch_ref = if input.all_refs {
            "refs/*".to_string()
        } else if git_ref.starts_with("refs/") || git_ref == "HEAD" {
            git_ref.clone()
        } else {
            format!("refs/heads/{git_ref}")
        };
        if do_fetch {
            if opts.verbose {
                rnix_util::errln!("fetching Git repository '{url}'");
            }
            let spec = format!("{fetch_ref}:{fetch_ref}");
            let r = git(&[
                "-C", &cache_str, "fetch", "--quiet", "--force", "--", &url, &spec,
            ]);
            if let Err(e) = r {
                if !local_ref_file.exists() {
                    return Err(e);
                }
                rnix_util::errln!(
                    "warning: could not update local clone of Git repository '{url}'; continuing with the most recent version"
                );
            }
            if local_ref_file.exists() {
                let f = fs::File::options().append(true).open(&local_ref_file)?;
                f.set_modified(std::time::SystemTime::now())?;
            }
        }
        if input.rev.is_none() {
            let text = match fs::read_to_string(&local_ref_file) {
                Ok(t) => t,
                Err(_) => git(&["-C", &cache_str, "rev-parse", "--verify", &fetch_ref])?,
            };
            input.rev = Some(parse_rev(text.trim())?);
        }
        repo_dir = cache_dir;
    }
    let rev = input
        .rev
        .clone()
        .ok_or_else(|| anyhow!("cannot find a revision of '{}'", input.url))?;
    let repo = repo_dir.to_string_lossy().into_owned();

    let shallow_repo = git(&["-C", &repo, "rev-parse", "--is-shallow-repository"])? == "true";
    if shallow_repo && !input.shallow {
        bail!("'{url}' is a shallow Git repository, but a non-shallow repository is needed");
    }

    // Now that the rev is known, the tree may be cached.
    if let Some(t) = lookup(store, &locked_key(&input, &rev), None)? {
        return Ok(t);
    }

    let (code, out) = {
        let o = Command::new("git")
            .args(["-C", &repo, "cat-file", "commit", &rev])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| anyhow!("executing 'git': {}", io_words(&e)))?;
        let mut all = o.stdout;
        all.extend_from_slice(&o.stderr);
        (o.status.code().unwrap_or(-1), all)
    };
    if code == 128 && String::from_utf8_lossy(&out).contains("bad file") {
        bail!(
            "Cannot find Git revision '{rev}' in ref '{git_ref}' of repository '{url}'! Please make sure that the rev exists on the ref you've specified or add allRefs = true; to fetchGit."
        );
    }

    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let tree = tmp.path().join("tree");
    let path = if input.submodules {
        let git_dir = tmp.path().join("git");
        let tree_s = tree.to_string_lossy().into_owned();
        let git_dir_s = git_dir.to_string_lossy().into_owned();
        git(&[
            "-c",
            "init.defaultBranch=master",
            "init",
            "--quiet",
            &tree_s,
            "--separate-git-dir",
            &git_dir_s,
        ])?;
        git(&[
            "-C",
            &tree_s,
            "fetch",
            "--quiet",
            "--force",
            "--update-head-ok",
            "--",
            &repo,
            "refs/*:refs/*",
        ])?;
        git(&["-C", &tree_s, "checkout", "--quiet", &rev])?;
        git(&["-C", &tree_s, "remote", "add", "origin", &url])?;
        git(&[
            "-C",
            &tree_s,
            "submodule",
            "--quiet",
            "update",
            "--init",
            "--recursive",
        ])?;
        let mut not_dot_git = |p: &Path, _: fs::FileType| -> Result<bool> {
            Ok(p.file_name() != Some(".git".as_ref()))
        };
        store.add_to_store(
            &input.name,
            &tree,
            FileIngestionMethod::Recursive,
            Some(&mut not_dot_git),
        )?
    } else {
        git_archive(&repo, &rev, &tree)?;
        store.add_to_store(&input.name, &tree, FileIngestionMethod::Recursive, None)?
    };
    drop(tmp);

    let last_modified = git_u64(&[
        "-C",
        &repo,
        "log",
        "-1",
        "--format=%ct",
        "--no-show-signature",
        &rev,
    ])?;
    let rev_count = if input.shallow {
        None
    } else {
        Some(git_u64(&["-C", &repo, "rev-list", "--count", &rev])?)
    };
    let t = GitTree {
        nar_hash: store.path_info(&path)?.nar_hash,
        path,
        rev: Some(rev.clone()),
        rev_count,
        last_modified,
    };
    remember(store, locked_key(&input, &rev), &t)?;
    if !is_local && !rev_given {
        remember(store, unlocked_key(&input, &url, &git_ref), &t)?;
    }
    Ok(t)
}

/// The working tree at `dir` when it has uncommitted changes (or no commit): its tracked
/// files, added to the store. None when it is clean.
fn fetch_dirty(store: &LocalStore, input: &GitInput, dir: &str) -> Result<Option<GitTree>> {
    let has_head = git_run(
        &[
            "-C",
            dir,
            "rev-parse",
            "--verify",
            "--no-revs",
            "HEAD^{commit}",
        ],
        true,
    )?
    .0 == 0;
    if has_head {
        let mut args = vec!["-C", dir, "diff", "HEAD", "--quiet"];
        if !input.submodules {
            args.push("--ignore-submodules");
        }
        args.push("--");
        match git_run(&args, false)?.0 {
            0 => return Ok(None),
            1 => {}
            c => return Err(failed(c)),
        }
    }
    rnix_util::errln!("warning: Git tree '{dir}' is dirty");
    let mut args = vec!["-C", dir, "ls-files", "-z"];
    if input.submodules {
        args.push("--recurse-submodules");
    }
    let (code, out) = git_run(&args, false)?;
    if code != 0 {
        return Err(failed(code));
    }
    let files: BTreeSet<String> = out
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let root = Path::new(dir);
    let mut filter = |p: &Path, ft: fs::FileType| -> Result<bool> {
        let rel = p
            .strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned();
        if ft.is_dir() {
            let prefix = format!("{rel}/");
            Ok(files
                .range(prefix.clone()..)
                .next()
                .is_some_and(|f| f.starts_with(&prefix)))
        } else {
            Ok(files.contains(&rel))
        }
    };
    let path = store.add_to_store(
        &input.name,
        root,
        FileIngestionMethod::Recursive,
        Some(&mut filter),
    )?;
    let last_modified = if has_head {
        git_u64(&[
            "-C",
            dir,
            "log",
            "-1",
            "--format=%ct",
            "--no-show-signature",
            "HEAD",
        ])?
    } else {
        0
    };
    Ok(Some(GitTree {
        nar_hash: store.path_info(&path)?.nar_hash,
        path,
        rev: None,
        rev_count: None,
        last_modified,
    }))
}

/// `git archive <rev>` of `repo`, unpacked into `dest`.
fn git_archive(repo: &str, rev: &str, dest: &Path) -> Result<()> {
    let mut child = Command::new("git")
        .args(["-C", repo, "archive", rev])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow!("executing 'git': {}", io_words(&e)))?;
    let stdout = child.stdout.take().expect("piped");
    fs::create_dir_all(dest)?;
    let mut ar = tar::Archive::new(stdout);
    ar.set_preserve_mtime(false);
    let unpacked = ar.unpack(dest);
    // Drain what is left so that git is not killed by SIGPIPE before it exits.
    let mut rest = ar.into_inner();
    let _ = std::io::copy(&mut rest, &mut std::io::sink());
    let status = child.wait()?;
    if !status.success() {
        return Err(failed(status.code().unwrap_or(-1)));
    }
    unpacked.with_context(|| format!("unpacking 'git archive {rev}'"))?;
    Ok(())
}

fn lock_file(p: &Path) -> Result<fs::File> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p)
        .with_context(|| format!("opening {}", p.display()))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) } != 0 {
        bail!(
            "locking {}: {}",
            p.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(f)
}
