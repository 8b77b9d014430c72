//! Debian/PyPI lock updater and the lock file (`pkgs/lock.json`).
//!
//! Format (version 1; sorted keys, 2-space indentation, trailing newline):
//! `{"version": 1, "debian": {"suites": [...], "packages": {NAME: {"version", "archive",
//! "path", "sha256", "size", "depends"}}}, "pypi": {KEY: {"version", "filename", "sha256",
//! "size", "depends"}}}`.
//! A `.deb` is fetched as `mirror://<archive>/<path>` (`archive` is `debian` or
//! `debian-security`), a wheel as `mirror://pypi/<key>/<filename>` (key: PEP 503 name).
//! Debian `depends` are resolved direct runtime dependencies (alternatives, virtual
//! packages and version constraints resolved; [`debian::PRUNED`] left out; the graph is
//! acyclic after dropping [`debian::DROPPED_EDGES`]). PyPI `depends` are the normalised
//! `Requires-Dist` names whose markers hold for CPython 3.11 on x86_64 Linux.
//! Every name in a `depends` list is a key of the same table ([`LockFile::check`]).
//!
//! Regenerate with `cargo run -p pkgset --bin rnix-update-lock` (roots in
//! `pkgs/lock-roots.json`).
pub mod debian;
pub mod debver;
pub mod error;
pub mod http;
pub mod mirrors;
pub mod model;
pub mod openpgp;
pub mod pypi;

pub use error::LockError;
pub use model::{DebEntry, DebianLock, GroupEntry, LockFile, PypiEntry, Roots};
pub mod update;

pub use update::{update, update_all, Update, UpdateOptions};

/// The error a fetcher should report when a pinned `.deb` or wheel is gone from the
/// mirror (HTTP 404): it names the file and says how to refresh the lock.
pub fn missing_from_mirror(what: &str, url: &str) -> LockError {
    LockError::NotOnMirror {
        what: what.to_string(),
        url: url.to_string(),
    }
}
