//! Errors of the lock updater that callers (and tests) may want to match on.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LockError {
    #[error("no Debian mirror configured: set RNIX_DEBIAN_MIRROR (and RNIX_DEBIAN_SECURITY_MIRROR for bookworm-security), or add a deb822 source in /etc/apt/sources.list.d/*.sources / a `deb` line in /etc/apt/sources.list")]
    NoDebianMirror,
    #[error("no Debian security mirror configured (needed for bookworm-security): set RNIX_DEBIAN_SECURITY_MIRROR, or add an apt source whose suites include bookworm-security")]
    NoDebianSecurityMirror,
    #[error("no Python package index configured and pip's default could not be determined: set RNIX_PYPI_INDEX (or PIP_INDEX_URL) to a PEP 691 simple index URL ({0})")]
    NoPypiIndex(String),
    #[error("{what} is no longer on the mirror ({url}: HTTP 404); the lock is out of date: re-run `cargo run -p pkgset --bin rnix-update-lock` to refresh pkgs/lock.json")]
    NotOnMirror { what: String, url: String },
    #[error("HTTP {status} fetching {url}")]
    Http { url: String, status: u16 },
    #[error("cannot fetch {url}: {msg}")]
    Transport { url: String, msg: String },
    #[error("OpenPGP signature check of {what} failed: {msg}")]
    BadSignature { what: String, msg: String },
    #[error("{what} is expired (Valid-Until {valid_until}); set RNIX_DEBIAN_IGNORE_VALID_UNTIL=1 to accept an old snapshot")]
    Expired { what: String, valid_until: String },
    #[error("hash mismatch for {what} ({url}): expected sha256 {expected} size {expected_size}, got sha256 {actual} size {actual_size}; the mirror served altered or corrupt data")]
    HashMismatch {
        what: String,
        url: String,
        expected: String,
        expected_size: u64,
        actual: String,
        actual_size: u64,
    },
    #[error("{0}")]
    Resolve(String),
}
