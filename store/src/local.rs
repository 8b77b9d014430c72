//! The local store: physical root, registry of valid paths, atomic adds, per-path locks,
//! GC roots, closures, garbage collection and verification.
//!
//! Layout under the physical root `ROOT`:
//! - `ROOT/nix/store/<hash>-<name>`: store objects (read-only, mtime 1);
//!   `ROOT/nix/store/.rnix-tmp-<pid>-…`: objects being added (never valid).
//! - `ROOT/nix/var/rnix/db/<hashpart>.json`: one registry entry per valid path, written
//!   atomically (temporary file, fsync, rename, fsync directory). A path is valid iff its
//!   entry exists and its object exists.
//! - `ROOT/nix/var/rnix/locks/<hashpart>.lock`: per-path `flock` locks.
//! - `ROOT/nix/var/rnix/gc.lock`: exclusive for a whole garbage collection; shared while
//!   adding a temporary root, from a new path's temporary root to its registration, and
//!   during `verify` (see [`LocalStore::collect_garbage`] for the protocol).
//! - `ROOT/nix/var/rnix/temproots/<pid>`: temporary roots of a live process (locked by it);
//!   they keep their paths alive, valid or still being made.
//! - `ROOT/nix/var/rnix/gcroots/`: symlinks to store paths (direct roots) and
//!   `gcroots/auto/<hash>` symlinks to `result`-style links (indirect roots).

use crate::derivation::Derivation;
use crate::hash::{Encoding, Hash, HashAlgo};
use crate::nar::{self, NarError, PathFilter, SymlinkPolicy};
use crate::store_path::{
    make_fixed_output_path, make_text_path, FileIngestionMethod, StorePath, StorePathError,
    STORE_DIR,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

const TMP_PREFIX: &str = ".rnix-tmp-";

/// Errors from the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Nar(#[from] NarError),
    #[error(transparent)]
    StorePath(#[from] StorePathError),
    #[error("registry entry {file} is damaged: {msg}")]
    CorruptRegistry { file: PathBuf, msg: String },
    #[error("path '{0}' is not valid")]
    NotValid(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Metadata of a valid store path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub path: StorePath,
    pub deriver: Option<StorePath>,
    /// sha256 of the NAR serialisation.
    pub nar_hash: Hash,
    pub nar_size: u64,
    pub references: BTreeSet<StorePath>,
    /// Seconds since the epoch.
    pub registration_time: u64,
    /// Content address (`fixed:r:sha256:…`, `text:sha256:…`), if any.
    pub ca: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PathInfoJson {
    path: String,
    deriver: Option<String>,
    nar_hash: String,
    nar_size: u64,
    references: Vec<String>,
    registration_time: u64,
    #[serde(default)]
    ca: Option<String>,
}

impl PathInfo {
    fn to_json(&self) -> String {
        let j = PathInfoJson {
            path: self.path.to_absolute(),
            deriver: self.deriver.as_ref().map(|d| d.to_absolute()),
            nar_hash: self.nar_hash.encode(Encoding::Base32, true),
            nar_size: self.nar_size,
            references: self.references.iter().map(|r| r.to_absolute()).collect(),
            registration_time: self.registration_time,
            ca: self.ca.clone(),
        };
        serde_json::to_string_pretty(&j).expect("serialisable") + "\n"
    }

    fn from_json(file: &Path, text: &str) -> Result<PathInfo> {
        let bad = |msg: String| StoreError::CorruptRegistry {
            file: file.to_path_buf(),
            msg,
        };
        let j: PathInfoJson = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let sp = |s: &str| StorePath::from_absolute(s).map_err(|e| bad(e.to_string()));
        Ok(PathInfo {
            path: sp(&j.path)?,
            deriver: j.deriver.as_deref().map(sp).transpose()?,
            nar_hash: Hash::parse(&j.nar_hash, Some(HashAlgo::Sha256))
                .map_err(|e| bad(e.to_string()))?,
            nar_size: j.nar_size,
            references: j.references.iter().map(|r| sp(r)).collect::<Result<_>>()?,
            registration_time: j.registration_time,
            ca: j.ca,
        })
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| StoreError::Io {
        path: p.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"),
    })
}

fn flock(f: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a valid, owned file descriptor.
        let r = unsafe { libc::flock(f.as_raw_fd(), op) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn fsync_dir(p: &Path) -> Result<()> {
    File::open(p).and_then(|f| f.sync_all()).map_err(io_err(p))
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// An exclusive lock on a store path (released on drop). Shared with other processes
/// through `flock`; note that locking the same path twice in one process deadlocks.
#[derive(Debug)]
pub struct PathLock {
    path: StorePath,
    _file: File,
}

impl PathLock {
    pub fn path(&self) -> &StorePath {
        &self.path
    }
}

/// The garbage collector's lock held shared (see [`LocalStore::lock_gc_shared`]); released
/// on drop.
#[derive(Debug)]
pub struct GcLock {
    _file: File,
}

/// Where a build writes one output before [`LocalStore::finalise_output`] moves it into place.
#[derive(Debug)]
pub struct OutputTemp {
    /// Write the output (file, directory or symlink) exactly here.
    pub path: PathBuf,
    for_path: StorePath,
}

/// What `collect_garbage` found or did.
#[derive(Debug, Default)]
pub struct GcResult {
    /// Dead store paths (logical, absolute), sorted.
    pub dead: Vec<String>,
    pub bytes_freed: u64,
}

/// Problems found by `verify`.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub errors: Vec<String>,
    pub checked: usize,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A local store on a physical root.
pub struct LocalStore {
    root: PathBuf,
    store_dir: PathBuf,
    state_dir: PathBuf,
}

/// This process's temporary roots on one store root: the file `temproots/<pid>` (locked by
/// this process for as long as it lives) and the paths already written to it.
struct TempRoots {
    file: File,
    rooted: HashSet<StorePath>,
}

/// This process's temporary roots per store root (one `flock` holder per process, shared
/// by every `LocalStore` on that root).
fn temp_roots_files() -> &'static Mutex<HashMap<PathBuf, TempRoots>> {
    static FILES: OnceLock<Mutex<HashMap<PathBuf, TempRoots>>> = OnceLock::new();
    FILES.get_or_init(|| Mutex::new(HashMap::new()))
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The default physical root: `RNIX_STORE`, else `$XDG_DATA_HOME/rnix`, else
/// `~/.local/share/rnix`.
pub fn default_root() -> Result<PathBuf> {
    if let Some(s) = std::env::var_os("RNIX_STORE").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(s));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(x).join("rnix"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(h).join(".local/share/rnix"));
    }
    Err(StoreError::Other(
        "cannot choose a store root: set RNIX_STORE, XDG_DATA_HOME or HOME, or pass --store ROOT"
            .into(),
    ))
}

impl LocalStore {
    /// Open (creating if needed) the store at physical root `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<LocalStore> {
        let root = root.as_ref();
        fs::create_dir_all(root).map_err(io_err(root))?;
        let root = fs::canonicalize(root).map_err(io_err(root))?;
        let store_dir = root.join("nix/store");
        let state_dir = root.join("nix/var/rnix");
        Self::open_dirs(root, store_dir, state_dir)
    }

    /// Open (creating if needed) a store whose objects live in `store_dir` and metadata in
    /// `state_dir`; `root` identifies the store (its temporary roots).
    fn open_dirs(root: PathBuf, store_dir: PathBuf, state_dir: PathBuf) -> Result<LocalStore> {
        for d in [
            store_dir.clone(),
            state_dir.join("db"),
            state_dir.join("locks"),
            state_dir.join("temproots"),
            state_dir.join("gcroots/auto"),
            state_dir.join("log"),
        ] {
            fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        Ok(LocalStore {
            root,
            store_dir,
            state_dir,
        })
    }

    /// Open the store at [`default_root`]; or, as Nix does when `NIX_STORE_DIR` is set (and
    /// `RNIX_STORE` is not), the store in that directory itself (logical = physical), with its
    /// metadata under `NIX_STATE_DIR` (default: `<store dir>/../var/nix`).
    pub fn open_default() -> Result<LocalStore> {
        let rnix_store = std::env::var_os("RNIX_STORE").filter(|s| !s.is_empty());
        if rnix_store.is_none() && !STORE_DIR.is_default() {
            let store_dir = PathBuf::from(&*STORE_DIR);
            let state = std::env::var_os("NIX_STATE_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| store_dir.parent().unwrap_or(Path::new("/")).join("var/nix"));
            fs::create_dir_all(&store_dir).map_err(io_err(&store_dir))?;
            return Self::open_dirs(store_dir.clone(), store_dir, state.join("rnix"));
        }
        Self::open(default_root()?)
    }

    /// Physical root.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Physical store directory (`ROOT/nix/store`).
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }
    /// `ROOT/nix/var/rnix` (for logs etc.).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Physical location of a store path.
    pub fn real_path(&self, p: &StorePath) -> PathBuf {
        self.store_dir.join(p.base_name())
    }

    /// Physical location of a logical path `/nix/store/<hash>-<name>[/sub]`.
    pub fn real_path_of(&self, logical: &str) -> Result<PathBuf> {
        let (sp, rest) = StorePath::from_absolute_prefix(logical)?;
        let mut p = self.real_path(&sp);
        for c in Path::new(&rest).components() {
            match c {
                std::path::Component::Normal(n) => p.push(n),
                std::path::Component::RootDir | std::path::Component::CurDir => {}
                _ => {
                    return Err(StoreError::Other(format!(
                        "path '{logical}' leaves its store object"
                    )))
                }
            }
        }
        Ok(p)
    }

    /// Logical path for a physical path inside the store (inverse of `real_path_of`).
    pub fn logical_path_of(&self, physical: &Path) -> Option<String> {
        let rel = physical.strip_prefix(&self.store_dir).ok()?;
        Some(format!("{}/{}", STORE_DIR, rel.to_str()?))
    }

    fn db_file(&self, p: &StorePath) -> PathBuf {
        self.state_dir
            .join("db")
            .join(format!("{}.json", p.hash_part()))
    }

    /// Is `p` registered and present?
    pub fn is_valid(&self, p: &StorePath) -> Result<bool> {
        let f = self.db_file(p);
        match fs::symlink_metadata(&f) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(&f)(e)),
        }
        match self.query_path_info(p)? {
            Some(info) if info.path == *p => Ok(fs::symlink_metadata(self.real_path(p)).is_ok()),
            _ => Ok(false),
        }
    }

    /// Registry entry of `p`, if registered.
    pub fn query_path_info(&self, p: &StorePath) -> Result<Option<PathInfo>> {
        let f = self.db_file(p);
        let text = match fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(StoreError::CorruptRegistry {
                    file: f,
                    msg: "not UTF-8".into(),
                })
            }
            Err(e) => return Err(io_err(&f)(e)),
        };
        let info = PathInfo::from_json(&f, &text)?;
        if info.path.hash_part() != p.hash_part() {
            return Err(StoreError::CorruptRegistry {
                file: f,
                msg: format!("entry is for {}", info.path),
            });
        }
        if info.path != *p {
            return Ok(None);
        }
        Ok(Some(info))
    }

    /// Registry entry of a valid path, or a `NotValid` error.
    pub fn path_info(&self, p: &StorePath) -> Result<PathInfo> {
        if !self.is_valid(p)? {
            return Err(StoreError::NotValid(p.to_absolute()));
        }
        self.query_path_info(p)?
            .ok_or_else(|| StoreError::NotValid(p.to_absolute()))
    }

    /// Find the valid path with the given hash part.
    pub fn query_path_from_hash_part(&self, hash_part: &str) -> Result<Option<StorePath>> {
        let f = self.state_dir.join("db").join(format!("{hash_part}.json"));
        match fs::read_to_string(&f) {
            Ok(t) => Ok(Some(PathInfo::from_json(&f, &t)?.path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&f)(e)),
        }
    }

    /// All registered paths.
    pub fn all_valid_paths(&self) -> Result<BTreeSet<StorePath>> {
        let mut out = BTreeSet::new();
        for info in self.all_path_infos()? {
            out.insert(info?.path);
        }
        Ok(out)
    }

    /// Every registry entry (damaged ones as errors).
    fn all_path_infos(&self) -> Result<Vec<Result<PathInfo>>> {
        let dir = self.state_dir.join("db");
        let mut v = Vec::new();
        let mut names: Vec<PathBuf> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().map(|x| x == "json").unwrap_or(false))
            .collect();
        names.sort();
        for f in names {
            v.push(
                fs::read_to_string(&f)
                    .map_err(io_err(&f))
                    .and_then(|t| PathInfo::from_json(&f, &t)),
            );
        }
        Ok(v)
    }

    // ---------------------------------------------------------------- locks and roots

    fn lock_file(&self, p: &StorePath) -> Result<File> {
        let f = self
            .state_dir
            .join("locks")
            .join(format!("{}.lock", p.hash_part()));
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&f)
            .map_err(io_err(&f))
    }

    /// Take the exclusive lock of `p`, waiting for other holders.
    pub fn lock_path(&self, p: &StorePath) -> Result<PathLock> {
        let f = self.lock_file(p)?;
        flock(&f, libc::LOCK_EX).map_err(io_err(&self.state_dir.join("locks")))?;
        Ok(PathLock {
            path: p.clone(),
            _file: f,
        })
    }

    /// Take the lock of `p` if nobody holds it.
    pub fn try_lock_path(&self, p: &StorePath) -> Result<Option<PathLock>> {
        let f = self.lock_file(p)?;
        match flock(&f, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(PathLock {
                path: p.clone(),
                _file: f,
            })),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(io_err(&self.state_dir.join("locks"))(e)),
        }
    }

    fn gc_lock(&self, op: libc::c_int) -> Result<File> {
        let p = self.state_dir.join("gc.lock");
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&p)
            .map_err(io_err(&p))?;
        flock(&f, op).map_err(io_err(&p))?;
        Ok(f)
    }

    /// Take the garbage collector's lock shared (released on drop): no collection runs
    /// while it is held, and one that is running is waited for. Registrations hold it, so
    /// that the set of valid paths does not change under a collector; code that must see a
    /// consistent store (e.g. `verify`) can hold it too.
    pub fn lock_gc_shared(&self) -> Result<GcLock> {
        Ok(GcLock {
            _file: self.gc_lock(libc::LOCK_SH)?,
        })
    }

    /// Protect `p` from garbage collection for the lifetime of this process (or until
    /// [`LocalStore::release_temp_roots`]). Call it *before* checking that `p` is valid or
    /// using it: once this returns, no collection is running and every later one sees the
    /// root, so a path that is valid now stays valid, and a path not valid yet (a build
    /// output, a path being added) is not deleted while it is being made.
    pub fn add_temp_root(&self, p: &StorePath) -> Result<()> {
        if self.is_temp_rooted(p) {
            return Ok(());
        }
        // Blocks while a collection runs; the collector reads the roots under its lock.
        let _gc = self.lock_gc_shared()?;
        self.write_temp_root(p)
    }

    /// Has this process written a temporary root for `p` (and not released it)?
    fn is_temp_rooted(&self, p: &StorePath) -> bool {
        let map = temp_roots_files().lock().unwrap_or_else(|e| e.into_inner());
        map.get(&self.root).is_some_and(|t| t.rooted.contains(p))
    }

    /// Append `p` to this process's temporary-roots file; the caller holds the GC lock.
    fn write_temp_root(&self, p: &StorePath) -> Result<()> {
        let mut map = temp_roots_files().lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.state_dir.join("temproots");
        if !map.contains_key(&self.root) {
            let fp = dir.join(std::process::id().to_string());
            let f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .mode(0o600)
                .open(&fp)
                .map_err(io_err(&fp))?;
            // Held until the process ends: the collector takes an unlocked file for a dead
            // process's.
            flock(&f, libc::LOCK_EX).map_err(io_err(&fp))?;
            map.insert(
                self.root.clone(),
                TempRoots {
                    file: f,
                    rooted: HashSet::new(),
                },
            );
        }
        let t = map.get_mut(&self.root).expect("inserted above");
        if t.rooted.contains(p) {
            return Ok(());
        }
        t.file
            .write_all(format!("{}\n", p.to_absolute()).as_bytes())
            .map_err(io_err(&dir))?;
        t.rooted.insert(p.clone());
        Ok(())
    }

    /// Drop this process's temporary roots (e.g. once the results are registered as roots).
    pub fn release_temp_roots(&self) -> Result<()> {
        let _gc = self.lock_gc_shared()?;
        let mut map = temp_roots_files().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = map.get_mut(&self.root) {
            t.file
                .set_len(0)
                .map_err(io_err(&self.state_dir.join("temproots")))?;
            t.rooted.clear();
        }
        Ok(())
    }

    fn gc_roots_dir(&self) -> PathBuf {
        self.state_dir.join("gcroots")
    }

    /// Register `link` (a symlink, e.g. `./result`, pointing into this store) as a GC root
    /// for as long as it exists and points into the store.
    pub fn add_indirect_root(&self, link: &Path) -> Result<()> {
        let abs = if link.is_absolute() {
            link.to_path_buf()
        } else {
            std::env::current_dir().map_err(io_err(link))?.join(link)
        };
        let h = Hash::sha256(abs.as_os_str().as_bytes());
        let name = &h.to_base32()[..32];
        let root = self.gc_roots_dir().join("auto").join(name);
        let tmp =
            self.gc_roots_dir()
                .join("auto")
                .join(format!(".{}.{}", name, std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&abs, &tmp).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &root).map_err(io_err(&root))?;
        Ok(())
    }

    /// Create (or replace) the symlink `link` → physical path of `p` and register it as an
    /// indirect root (what `rnix-build` does with `result`).
    pub fn add_perm_root(&self, p: &StorePath, link: &Path) -> Result<()> {
        // As Nix's addPermRoot: an existing path is replaced only when it is a link into the
        // store (a previous result); anything else is the user's.
        if let Ok(md) = fs::symlink_metadata(link) {
            let into_store = md.file_type().is_symlink()
                && fs::read_link(link).is_ok_and(|t| self.store_path_of_target(&t).is_some());
            if !into_store {
                return Err(StoreError::Other(format!(
                    "cannot create symlink '{}'; already exists",
                    link.display()
                )));
            }
        }
        // As Nix: on the safe side, `p` is temporarily rooted until the link and the
        // indirect root exist (callers have usually rooted it already).
        self.add_temp_root(p)?;
        let target = self.real_path(p);
        let tmp = link.with_file_name(format!(
            ".{}.tmp-{}",
            link.file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).map_err(io_err(&tmp))?;
        fs::rename(&tmp, link).map_err(io_err(link))?;
        self.add_indirect_root(link)
    }

    /// Resolve a path (physical or logical) that should point into the store to its store path.
    fn store_path_of_target(&self, target: &Path) -> Option<StorePath> {
        let rel = target
            .strip_prefix(&self.store_dir)
            .or_else(|_| target.strip_prefix(STORE_DIR))
            .ok()?;
        let first = rel.components().next()?;
        StorePath::from_base_name(first.as_os_str().to_str()?).ok()
    }

    /// Current GC roots: root description → store path.
    pub fn find_roots(&self) -> Result<BTreeMap<String, StorePath>> {
        let mut roots = BTreeMap::new();
        let dir = self.gc_roots_dir();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            let rd = match fs::read_dir(&d) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&d)(e)),
            };
            for e in rd {
                let e = e.map_err(io_err(&d))?;
                let p = e.path();
                let ft = e.file_type().map_err(io_err(&p))?;
                if ft.is_dir() {
                    stack.push(p);
                    continue;
                }
                if !ft.is_symlink() {
                    continue;
                }
                let target = match fs::read_link(&p) {
                    Ok(t) => t,
                    Err(_) => continue,
                };
                if let Some(sp) = self.store_path_of_target(&target) {
                    roots.insert(p.display().to_string(), sp);
                    continue;
                }
                // Indirect root: target is a link elsewhere (e.g. ./result).
                match fs::read_link(&target) {
                    Ok(t2) => {
                        if let Some(sp) = self.store_path_of_target(&t2) {
                            roots.insert(target.display().to_string(), sp);
                        } else if p.starts_with(dir.join("auto")) {
                            let _ = fs::remove_file(&p);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if p.starts_with(dir.join("auto")) {
                            let _ = fs::remove_file(&p);
                        }
                    }
                    Err(_) => {}
                }
            }
        }
        Ok(roots)
    }

    fn temp_roots_of_live_processes(&self) -> Result<BTreeSet<StorePath>> {
        let dir = self.state_dir.join("temproots");
        let mut out = BTreeSet::new();
        let me = std::process::id().to_string();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            let p = e.path();
            let f = match File::open(&p) {
                Ok(f) => f,
                Err(_) => continue,
            };
            let mine = e.file_name().to_str() == Some(me.as_str());
            if !mine && flock(&f, libc::LOCK_SH | libc::LOCK_NB).is_ok() {
                // Nobody holds it: the process is gone.
                let _ = fs::remove_file(&p);
                continue;
            }
            let mut s = String::new();
            let _ = (&f).read_to_string(&mut s);
            for line in s.lines() {
                if let Ok(sp) = StorePath::from_absolute(line) {
                    out.insert(sp);
                }
            }
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- adding paths

    fn new_temp_path(&self) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.store_dir.join(format!(
            "{}{}-{}-{}",
            TMP_PREFIX,
            std::process::id(),
            n,
            nanos
        ))
    }

    /// Compute the path `src` would get with `add_to_store`, without adding it.
    pub fn compute_path_for_add(
        name: &str,
        src: &Path,
        method: FileIngestionMethod,
        algo: HashAlgo,
        filter: Option<&mut PathFilter<'_>>,
    ) -> Result<StorePath> {
        let h = match method {
            FileIngestionMethod::Flat => crate::hash::hash_file(algo, src).map_err(io_err(src))?,
            FileIngestionMethod::Recursive => {
                let mut all = |_: &Path, _: fs::FileType| Ok(true);
                nar::hash_path_filtered(src, algo, filter.unwrap_or(&mut all))?.0
            }
        };
        Ok(make_fixed_output_path(method, &h, name, [], false)?)
    }

    /// Copy `src` (a file for `Flat`; any tree for `Recursive`, filtered) into the store as a
    /// content-addressed path (`source` type for recursive sha256) and register it.
    pub fn add_to_store(
        &self,
        name: &str,
        src: &Path,
        method: FileIngestionMethod,
        filter: Option<&mut PathFilter<'_>>,
    ) -> Result<StorePath> {
        self.add_to_store_with(name, src, method, HashAlgo::Sha256, filter)
    }

    /// `add_to_store` with any hash algorithm (`builtins.path`, `builtins.fetchurl`-style).
    pub fn add_to_store_with(
        &self,
        name: &str,
        src: &Path,
        method: FileIngestionMethod,
        algo: HashAlgo,
        filter: Option<&mut PathFilter<'_>>,
    ) -> Result<StorePath> {
        self.add_to_store_impl(name, src, method, algo, filter, false)
    }

    /// What `nix-store --add-fixed` does (Nix's `addToStoreSlow`): like
    /// [`LocalStore::add_to_store_with`], except that a flat file keeps its executable bit.
    pub fn add_to_store_slow(
        &self,
        name: &str,
        src: &Path,
        method: FileIngestionMethod,
        algo: HashAlgo,
    ) -> Result<StorePath> {
        self.add_to_store_impl(name, src, method, algo, None, true)
    }

    fn add_to_store_impl(
        &self,
        name: &str,
        src: &Path,
        method: FileIngestionMethod,
        algo: HashAlgo,
        filter: Option<&mut PathFilter<'_>>,
        flat_keeps_executable: bool,
    ) -> Result<StorePath> {
        crate::store_path::validate_name(name)?;
        let tmp = self.new_temp_path();
        let res = (|| {
            match method {
                FileIngestionMethod::Flat => {
                    let meta = fs::metadata(src).map_err(io_err(src))?;
                    if !meta.is_file() {
                        return Err(StoreError::Other(format!(
                            "{}: flat ingestion needs a regular file",
                            src.display()
                        )));
                    }
                    let exec = flat_keeps_executable && meta.permissions().mode() & 0o100 != 0;
                    copy_file(src, &tmp, exec)?;
                }
                FileIngestionMethod::Recursive => {
                    let mut all = |_: &Path, _: fs::FileType| Ok(true);
                    copy_tree(src, &tmp, filter.unwrap_or(&mut all))?;
                }
            }
            canonicalise(&tmp)?;
            let content_hash = match method {
                FileIngestionMethod::Flat => {
                    crate::hash::hash_file(algo, &tmp).map_err(io_err(&tmp))?
                }
                FileIngestionMethod::Recursive => {
                    nar::hash_path_filtered(&tmp, algo, &mut |_, _| Ok(true))?.0
                }
            };
            let path = make_fixed_output_path(method, &content_hash, name, [], false)?;
            let ca = format!(
                "fixed:{}{}",
                method.prefix(),
                content_hash.encode(Encoding::Base32, true)
            );
            self.move_into_place(&tmp, &path, BTreeSet::new(), None, Some(ca), None)?;
            Ok(path)
        })();
        remove_tree_if_exists(&tmp);
        res
    }

    /// Add a text file with references (`builtins.toFile`, `.drv` files).
    pub fn add_text_to_store(
        &self,
        name: &str,
        contents: &[u8],
        references: &BTreeSet<StorePath>,
    ) -> Result<StorePath> {
        let h = Hash::sha256(contents);
        let path = make_text_path(name, &h, references.iter())?;
        // As Nix: the temp root first, then the validity check; a valid path is not
        // written again.
        self.add_temp_root(&path)?;
        if self.is_valid(&path)? {
            return Ok(path);
        }
        let tmp = self.new_temp_path();
        let res = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)
                .map_err(io_err(&tmp))?;
            f.write_all(contents).map_err(io_err(&tmp))?;
            drop(f);
            canonicalise(&tmp)?;
            let ca = format!("text:{}", h.encode(Encoding::Base32, true));
            self.move_into_place(&tmp, &path, references.clone(), None, Some(ca), None)
        })();
        remove_tree_if_exists(&tmp);
        res.map(|_| path)
    }

    /// Restore a NAR as `path` and register it. With `expected_nar_hash`, the NAR must match.
    pub fn add_nar(
        &self,
        path: &StorePath,
        nar_stream: &mut dyn Read,
        references: BTreeSet<StorePath>,
        deriver: Option<StorePath>,
        ca: Option<String>,
        expected_nar_hash: Option<&Hash>,
    ) -> Result<PathInfo> {
        let tmp = self.new_temp_path();
        let res = (|| {
            let mut hr = nar::HashingReader::new(nar_stream, HashAlgo::Sha256);
            nar::restore(&mut hr, &tmp, SymlinkPolicy::InsideStore)?;
            let (h, _) = hr.finish();
            if let Some(e) = expected_nar_hash {
                if *e != h {
                    return Err(StoreError::Other(format!(
                        "NAR hash mismatch for {path}: expected {e}, got {h}"
                    )));
                }
            }
            canonicalise(&tmp)?;
            self.move_into_place(&tmp, path, references, deriver, ca, None)
        })();
        remove_tree_if_exists(&tmp);
        res
    }

    /// Under the lock of `path`: if already valid, return its info; otherwise fsync `tmp`,
    /// replace any stale object, rename, fsync the store directory and register.
    fn move_into_place(
        &self,
        tmp: &Path,
        path: &StorePath,
        references: BTreeSet<StorePath>,
        deriver: Option<StorePath>,
        ca: Option<String>,
        held: Option<&PathLock>,
    ) -> Result<PathInfo> {
        // The GC lock is held (shared) from the temporary root to the registration: the
        // path is rooted before anything else, the references checked below stay valid,
        // and a collector never sees a half-registered path. It is not held while waiting
        // for another process's lock on the path.
        let mut gc = Some(self.lock_gc_shared()?);
        self.write_temp_root(path)?;
        let own_lock;
        match held {
            Some(l) if l.path() == path => {}
            Some(l) => {
                return Err(StoreError::Other(format!(
                    "lock held for {} but finalising {}",
                    l.path(),
                    path
                )))
            }
            None => {
                if self.is_valid(path)? {
                    return self.path_info(path);
                }
                own_lock = match self.try_lock_path(path)? {
                    Some(l) => l,
                    None => {
                        drop(gc.take());
                        let l = self.lock_path(path)?;
                        gc = Some(self.lock_gc_shared()?);
                        l
                    }
                };
                let _ = &own_lock;
            }
        }
        let _gc = gc;
        if self.is_valid(path)? {
            return self.path_info(path);
        }
        let (nar_hash, nar_size) = nar::hash_path(tmp)?;
        fsync_tree(tmp)?;
        for r in &references {
            if r != path && !self.is_valid(r)? {
                return Err(StoreError::Other(format!(
                    "cannot add {path}: its reference {r} is not valid"
                )));
            }
        }
        let real = self.real_path(path);
        if fs::symlink_metadata(&real).is_ok() {
            // A leftover from an interrupted add or a deleted registration: not valid.
            remove_tree(&real)?;
        }
        fs::rename(tmp, &real).map_err(io_err(&real))?;
        fsync_dir(&self.store_dir)?;
        let info = PathInfo {
            path: path.clone(),
            deriver,
            nar_hash,
            nar_size,
            references,
            registration_time: now(),
            ca,
        };
        self.write_registration(&info)?;
        Ok(info)
    }

    fn write_registration(&self, info: &PathInfo) -> Result<()> {
        let db = self.state_dir.join("db");
        let f = self.db_file(&info.path);
        let tmp = db.join(format!(
            ".{}.{}.{}",
            info.path.hash_part(),
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let res = (|| {
            let mut fh = File::create(&tmp).map_err(io_err(&tmp))?;
            fh.write_all(info.to_json().as_bytes())
                .map_err(io_err(&tmp))?;
            fh.sync_all().map_err(io_err(&tmp))?;
            fs::rename(&tmp, &f).map_err(io_err(&f))?;
            fsync_dir(&db)
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    /// Register an object that is already in place (canonicalised) at `real_path(info.path)`.
    /// The caller should hold the path's lock. The NAR hash/size in `info` must be right.
    pub fn register_valid_path(&self, info: &PathInfo) -> Result<()> {
        self.add_temp_root(&info.path)?;
        let real = self.real_path(&info.path);
        fs::symlink_metadata(&real).map_err(io_err(&real))?;
        fsync_tree(&real)?;
        let _gc = self.lock_gc_shared()?;
        for r in &info.references {
            if *r != info.path && !self.is_valid(r)? {
                return Err(StoreError::Other(format!(
                    "cannot register {}: its reference {r} is not valid",
                    info.path
                )));
            }
        }
        self.write_registration(info)
    }

    /// A temporary location (inside the store's filesystem) where a build writes the output
    /// that will become `p`.
    pub fn prepare_output(&self, p: &StorePath) -> Result<OutputTemp> {
        Ok(OutputTemp {
            path: self.new_temp_path(),
            for_path: p.clone(),
        })
    }

    /// Canonicalise a built output, compute its NAR hash, move it into place and register it.
    /// `references` are the store paths it refers to (see [`crate::references::scan_references`]).
    /// The caller must hold `lock` (from [`LocalStore::lock_path`] on the same path).
    pub fn finalise_output(
        &self,
        tmp: OutputTemp,
        lock: &PathLock,
        references: BTreeSet<StorePath>,
        deriver: Option<StorePath>,
        ca: Option<String>,
    ) -> Result<PathInfo> {
        let path = tmp.for_path.clone();
        if lock.path() != &path {
            return Err(StoreError::Other(format!(
                "finalise_output for {path} called with the lock of {}",
                lock.path()
            )));
        }
        let res = (|| {
            fs::symlink_metadata(&tmp.path).map_err(|_| {
                StoreError::Other(format!("builder failed to produce output path {path}"))
            })?;
            canonicalise(&tmp.path)?;
            self.move_into_place(&tmp.path, &path, references, deriver, ca, Some(lock))
        })();
        remove_tree_if_exists(&tmp.path);
        res
    }

    /// Discard an unfinished output.
    pub fn discard_output(&self, tmp: OutputTemp) {
        remove_tree_if_exists(&tmp.path);
    }

    /// Write a derivation as `<name>.drv` (a text path referring to its input sources and
    /// input derivations, which must be valid) and return its store path.
    pub fn write_derivation(&self, drv: &Derivation, name: &str) -> Result<StorePath> {
        let refs = drv.references()?;
        self.add_text_to_store(&format!("{name}.drv"), &drv.to_aterm_bytes(), &refs)
    }

    /// Read and parse a `.drv` file from the store (logical path).
    pub fn read_derivation(&self, drv_path: &StorePath) -> Result<Derivation> {
        let real = self.real_path(drv_path);
        let text = fs::read(&real).map_err(io_err(&real))?;
        Derivation::from_aterm_bytes(&text)
            .map_err(|e| StoreError::Other(format!("{drv_path}: {e}")))
    }

    // ---------------------------------------------------------------- queries

    /// References of a valid path.
    pub fn references(&self, p: &StorePath) -> Result<BTreeSet<StorePath>> {
        Ok(self.path_info(p)?.references)
    }

    /// Valid paths that refer to `p` (excluding itself).
    pub fn referrers(&self, p: &StorePath) -> Result<BTreeSet<StorePath>> {
        let mut out = BTreeSet::new();
        for info in self.all_path_infos()? {
            let info = info?;
            if info.path != *p && info.references.contains(p) {
                out.insert(info.path);
            }
        }
        Ok(out)
    }

    /// The closure of `paths` under references.
    pub fn closure<'a>(
        &self,
        paths: impl IntoIterator<Item = &'a StorePath>,
    ) -> Result<BTreeSet<StorePath>> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<StorePath> = paths.into_iter().cloned().collect();
        while let Some(p) = stack.pop() {
            if seen.contains(&p) {
                continue;
            }
            let refs = self.references(&p)?;
            seen.insert(p);
            for r in refs {
                if !seen.contains(&r) {
                    stack.push(r);
                }
            }
        }
        Ok(seen)
    }

    /// Nix's `topoSortPaths`: referrers before their references.
    pub fn topo_sort(&self, paths: &BTreeSet<StorePath>) -> Result<Vec<StorePath>> {
        let mut sorted = Vec::new();
        let mut visited = BTreeSet::new();
        let mut parents = BTreeSet::new();
        fn visit(
            s: &LocalStore,
            p: &StorePath,
            items: &BTreeSet<StorePath>,
            visited: &mut BTreeSet<StorePath>,
            parents: &mut BTreeSet<StorePath>,
            sorted: &mut Vec<StorePath>,
        ) -> Result<()> {
            if parents.contains(p) {
                return Err(StoreError::Other(format!(
                    "cycle detected in the references of '{p}'"
                )));
            }
            if !visited.insert(p.clone()) {
                return Ok(());
            }
            parents.insert(p.clone());
            for r in s.references(p)? {
                if r != *p && items.contains(&r) {
                    visit(s, &r, items, visited, parents, sorted)?;
                }
            }
            sorted.push(p.clone());
            parents.remove(p);
            Ok(())
        }
        for p in paths {
            visit(self, p, paths, &mut visited, &mut parents, &mut sorted)?;
        }
        sorted.reverse();
        Ok(sorted)
    }

    /// Closure in dependency order (dependencies first), as `nix-store -qR` prints it.
    pub fn requisites_ordered<'a>(
        &self,
        paths: impl IntoIterator<Item = &'a StorePath>,
    ) -> Result<Vec<StorePath>> {
        let c = self.closure(paths)?;
        let mut v = self.topo_sort(&c)?;
        v.reverse();
        Ok(v)
    }

    // ---------------------------------------------------------------- GC and verify

    /// Delete (or with `print_dead` only list) every store object not reachable from a root
    /// or a live process's temporary roots; also removes stale temporary objects.
    ///
    /// The protocol with the processes that add and use paths (as Nix's): the collector holds
    /// `gc.lock` exclusively for its whole run, so no temporary root is added and no path is
    /// registered meanwhile (both take it shared); it then reads the roots and the temporary
    /// roots of live processes. A temporary root keeps its path alive whether it is valid or
    /// still being made, and a valid one keeps its closure. A dead path is unregistered
    /// before its object is removed (moved out of the way in one rename first), referrers
    /// first, so that no reader ever sees a valid path without its contents or references.
    pub fn collect_garbage(&self, print_dead: bool) -> Result<GcResult> {
        let _gc = self.gc_lock(libc::LOCK_EX)?;
        // The reference graph, read once (no registration can happen while the lock is held).
        let mut graph: BTreeMap<StorePath, BTreeSet<StorePath>> = BTreeMap::new();
        for info in self.all_path_infos()? {
            let info = info?;
            graph.insert(info.path, info.references);
        }
        let mut roots: BTreeSet<StorePath> = self.find_roots()?.into_values().collect();
        roots.extend(self.temp_roots_of_live_processes()?);
        // Live: the roots (a temporary root may not be valid yet: a path being built or
        // added) and the closures of the valid ones.
        let mut live: BTreeSet<StorePath> = BTreeSet::new();
        mark_closure(&graph, roots, &mut live);
        let mut res = GcResult::default();
        // Valid dead paths, referrers first so that nothing valid is left dangling.
        let order = dead_in_deletion_order(&graph, &live)?;
        for p in order {
            if live.contains(&p) {
                // Referenced by a dead path that is kept (see below).
                continue;
            }
            if print_dead {
                res.dead.push(p.to_absolute());
                continue;
            }
            // Someone holds its lock (a process that did not root it is checking or using
            // it): keep it, and with it everything it refers to.
            let Some(_lock) = self.try_lock_path(&p)? else {
                mark_closure(&graph, [p], &mut live);
                continue;
            };
            res.dead.push(p.to_absolute());
            res.bytes_freed += self.delete_valid_object(&p)?;
        }
        // Unregistered objects and stale temporaries.
        for e in fs::read_dir(&self.store_dir).map_err(io_err(&self.store_dir))? {
            let e = e.map_err(io_err(&self.store_dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let full = e.path();
            if let Some(rest) = name.strip_prefix(TMP_PREFIX) {
                let pid: i32 = rest
                    .split('-')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                if pid > 0 && (pid as u32 == std::process::id() || pid_alive(pid)) {
                    continue;
                }
                if !print_dead {
                    res.bytes_freed += tree_size(&full);
                    remove_tree_if_exists(&full);
                }
                continue;
            }
            let Ok(sp) = StorePath::from_base_name(&name) else {
                continue;
            };
            if graph.contains_key(&sp) || live.contains(&sp) {
                continue;
            }
            if print_dead {
                res.dead.push(sp.to_absolute());
                continue;
            }
            if let Some(_lock) = self.try_lock_path(&sp)? {
                if !self.is_valid(&sp)? {
                    res.dead.push(sp.to_absolute());
                    res.bytes_freed += self.remove_object(&full);
                }
            }
        }
        if !print_dead {
            res.bytes_freed += self.remove_stale_build_dirs();
        }
        res.dead.sort();
        res.dead.dedup();
        Ok(res)
    }

    /// Unregister the valid path `p` (durably), then remove its object. The caller holds
    /// the exclusive GC lock and `p`'s lock. Returns the bytes freed.
    fn delete_valid_object(&self, p: &StorePath) -> Result<u64> {
        // Invalidate first: a crash then leaves an unregistered object, never a registered
        // one without contents.
        let f = self.db_file(p);
        fs::remove_file(&f).map_err(io_err(&f))?;
        fsync_dir(&self.state_dir.join("db"))?;
        Ok(self.remove_object(&self.real_path(p)))
    }

    /// Remove a store object: first renamed to a temporary name of this process (so that it
    /// disappears at once, and a crash leaves a temporary that the next collection removes),
    /// then deleted. Returns the bytes freed.
    fn remove_object(&self, real: &Path) -> u64 {
        let size = tree_size(real);
        let trash = self.new_temp_path();
        match fs::rename(real, &trash) {
            Ok(()) => remove_tree_if_exists(&trash),
            Err(_) => remove_tree_if_exists(real),
        }
        size
    }

    /// Where builds keep their scratch space (`ROOT/nix/var/rnix/builds`), one directory
    /// `rnix-build-<pid>-<name>-XXXXXX` per build.
    pub fn builds_dir(&self) -> PathBuf {
        self.state_dir.join("builds")
    }

    /// Remove the build directories whose process is gone (left by a killed build), except
    /// those kept on purpose (holding a `.kept` file). Returns the bytes freed.
    pub fn remove_stale_build_dirs(&self) -> u64 {
        let Ok(rd) = fs::read_dir(self.builds_dir()) else {
            return 0;
        };
        let mut freed = 0;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("rnix-build-") else {
                continue;
            };
            let pid: i32 = rest
                .split('-')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            if pid <= 0 || pid_alive(pid) || e.path().join(".kept").exists() {
                continue;
            }
            freed += tree_size(&e.path());
            remove_tree_if_exists(&e.path());
        }
        freed
    }

    /// Check every registry entry: parseable, object present, references valid, and with
    /// `check_contents` the NAR hash and size.
    pub fn verify(&self, check_contents: bool) -> Result<VerifyReport> {
        // A consistent view: no collection deletes paths while they are checked (as Nix's
        // verifyStore).
        let _gc = self.lock_gc_shared()?;
        let mut rep = VerifyReport::default();
        let infos = self.all_path_infos()?;
        let mut valid = BTreeSet::new();
        let mut good = Vec::new();
        for i in infos {
            match i {
                Ok(info) => {
                    valid.insert(info.path.clone());
                    good.push(info);
                }
                Err(e) => rep.errors.push(e.to_string()),
            }
        }
        for info in good {
            rep.checked += 1;
            let real = self.real_path(&info.path);
            if fs::symlink_metadata(&real).is_err() {
                rep.errors.push(format!(
                    "path '{}' disappeared, but it is still valid",
                    info.path
                ));
                continue;
            }
            for r in &info.references {
                if !valid.contains(r) {
                    rep.errors.push(format!(
                        "path '{}' refers to invalid path '{}'",
                        info.path, r
                    ));
                }
            }
            if check_contents {
                match nar::hash_path(&real) {
                    Ok((h, n)) => {
                        if h != info.nar_hash {
                            rep.errors.push(format!(
                                "path '{}' was modified! expected hash '{}', got '{}'",
                                info.path, info.nar_hash, h
                            ));
                        } else if n != info.nar_size {
                            rep.errors.push(format!(
                                "path '{}' has wrong NAR size: expected {}, got {}",
                                info.path, info.nar_size, n
                            ));
                        }
                    }
                    Err(e) => rep
                        .errors
                        .push(format!("cannot read path '{}': {e}", info.path)),
                }
            }
        }
        Ok(rep)
    }
}

// -------------------------------------------------------------------- GC graph helpers

/// Add `from` and everything reachable from it in `graph` to `live`.
fn mark_closure(
    graph: &BTreeMap<StorePath, BTreeSet<StorePath>>,
    from: impl IntoIterator<Item = StorePath>,
    live: &mut BTreeSet<StorePath>,
) {
    let mut stack: Vec<StorePath> = from.into_iter().collect();
    while let Some(p) = stack.pop() {
        if live.contains(&p) {
            continue;
        }
        if let Some(refs) = graph.get(&p) {
            stack.extend(refs.iter().filter(|r| !live.contains(*r)).cloned());
        }
        live.insert(p);
    }
}

/// The valid paths of `graph` that are not `live`, referrers before their references.
fn dead_in_deletion_order(
    graph: &BTreeMap<StorePath, BTreeSet<StorePath>>,
    live: &BTreeSet<StorePath>,
) -> Result<Vec<StorePath>> {
    // Depth-first post-order over references (references first), then reversed.
    let mut order = Vec::new();
    let mut done: BTreeSet<&StorePath> = BTreeSet::new();
    for start in graph.keys().filter(|p| !live.contains(*p)) {
        if done.contains(start) {
            continue;
        }
        let mut on_path: BTreeSet<&StorePath> = BTreeSet::new();
        // (path, children pushed)
        let mut stack: Vec<(&StorePath, bool)> = vec![(start, false)];
        while let Some((p, expanded)) = stack.pop() {
            if expanded {
                on_path.remove(p);
                if done.insert(p) {
                    order.push(p.clone());
                }
                continue;
            }
            if done.contains(p) {
                continue;
            }
            on_path.insert(p);
            stack.push((p, true));
            for r in &graph[p] {
                if r == p || live.contains(r) || !graph.contains_key(r) || done.contains(r) {
                    continue;
                }
                if on_path.contains(r) {
                    return Err(StoreError::Other(format!(
                        "cycle detected in the references of '{p}'"
                    )));
                }
                stack.push((r, false));
            }
        }
    }
    order.reverse();
    Ok(order)
}

// -------------------------------------------------------------------- filesystem helpers

fn copy_file(src: &Path, dst: &Path, executable: bool) -> Result<()> {
    let mut i = File::open(src).map_err(io_err(src))?;
    let mut o = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(if executable { 0o755 } else { 0o644 })
        .open(dst)
        .map_err(io_err(dst))?;
    io::copy(&mut i, &mut o).map_err(io_err(dst))?;
    Ok(())
}

/// Copy a tree (no symlink following), keeping only entries accepted by `filter`.
pub fn copy_tree(src: &Path, dst: &Path, filter: &mut PathFilter<'_>) -> Result<()> {
    let meta = fs::symlink_metadata(src).map_err(io_err(src))?;
    let ft = meta.file_type();
    if ft.is_file() {
        copy_file(src, dst, meta.permissions().mode() & 0o100 != 0)
    } else if ft.is_symlink() {
        let t = fs::read_link(src).map_err(io_err(src))?;
        std::os::unix::fs::symlink(&t, dst).map_err(io_err(dst))
    } else if ft.is_dir() {
        fs::create_dir(dst).map_err(io_err(dst))?;
        let mut names: Vec<_> = fs::read_dir(src)
            .map_err(io_err(src))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(io_err(src))?;
        names.sort();
        for n in names {
            let c = src.join(&n);
            let cft = fs::symlink_metadata(&c).map_err(io_err(&c))?.file_type();
            let keep = filter(&c, cft).map_err(|source| NarError::Filter {
                path: c.clone(),
                source,
            })?;
            if keep {
                copy_tree(&c, &dst.join(&n), filter)?;
            }
        }
        Ok(())
    } else {
        Err(NarError::UnsupportedFileType {
            path: src.to_path_buf(),
        }
        .into())
    }
}

/// Canonicalise as Nix does: mtime 1, no write bits, no setuid/setgid/sticky, files 0444 or
/// 0555, directories 0555, root-owned when running as root.
pub fn canonicalise(path: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        for e in fs::read_dir(path).map_err(io_err(path))? {
            let e = e.map_err(io_err(path))?;
            canonicalise(&e.path())?;
        }
    }
    let c = cstr(path)?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 && (meta.uid() != 0 || meta.gid() != 0) {
        // SAFETY: valid NUL-terminated path.
        if unsafe { libc::lchown(c.as_ptr(), 0, 0) } != 0 {
            return Err(io_err(path)(io::Error::last_os_error()));
        }
    }
    if !ft.is_symlink() {
        let mode = if ft.is_dir() || meta.permissions().mode() & 0o100 != 0 {
            0o555
        } else {
            0o444
        };
        if meta.permissions().mode() & 0o7777 != mode {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))?;
        }
    }
    let times = [
        libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        },
    ];
    // SAFETY: valid path and a two-element timespec array.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(io_err(path)(io::Error::last_os_error()));
    }
    Ok(())
}

fn fsync_tree(path: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    if meta.is_dir() {
        for e in fs::read_dir(path).map_err(io_err(path))? {
            let e = e.map_err(io_err(path))?;
            fsync_tree(&e.path())?;
        }
        fsync_dir(path)
    } else if meta.is_file() {
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(io_err(path))
    } else {
        Ok(())
    }
}

fn make_writable(path: &Path) {
    if let Ok(m) = fs::symlink_metadata(path) {
        if m.is_dir() {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
            if let Ok(rd) = fs::read_dir(path) {
                for e in rd.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}

/// Remove a (read-only) tree.
pub fn remove_tree(path: &Path) -> Result<()> {
    let m = fs::symlink_metadata(path).map_err(io_err(path))?;
    if m.is_dir() {
        make_writable(path);
        fs::remove_dir_all(path).map_err(io_err(path))
    } else {
        fs::remove_file(path).map_err(io_err(path))
    }
}

fn remove_tree_if_exists(path: &Path) {
    if fs::symlink_metadata(path).is_ok() {
        let _ = remove_tree(path);
    }
}

fn tree_size(path: &Path) -> u64 {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let mut n = m.len();
            if let Ok(rd) = fs::read_dir(path) {
                for e in rd.flatten() {
                    n += tree_size(&e.path());
                }
            }
            n
        }
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// Hash algorithm + content hash of a `fixed:…` content address, if it is one.
pub fn parse_fixed_ca(ca: &str) -> Option<(FileIngestionMethod, Hash)> {
    let rest = ca.strip_prefix("fixed:")?;
    let (m, h) = match rest.strip_prefix("r:") {
        Some(h) => (FileIngestionMethod::Recursive, h),
        None => (FileIngestionMethod::Flat, rest),
    };
    Some((m, Hash::parse(h, None).ok()?))
}
