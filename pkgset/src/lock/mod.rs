//! Debian/PyPI lock updater and the lock file (`pkgs/lock.json`).
pub mod debian;
pub mod debver;
pub mod error;
pub mod http;
pub mod mirrors;
pub mod model;
pub mod openpgp;
pub mod pypi;

pub use error::LockError;
pub use model::{DebEntry, DebianLock, LockFile, PypiEntry, Roots};
pub mod update;

pub use update::{update, UpdateOptions};
