//! Builtin builders of the package set (`builtin:rnix-deb`, `builtin:rnix-python-env`,
//! `builtin:rnix-buildenv`) and the types they share.

use std::path::PathBuf;

/// A store path known both by its logical name (`/nix/store/<hash>-<name>`, what is written
/// into files and symlinks) and by where it is on disk now (`ROOT/nix/store/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreObject {
    pub logical: PathBuf,
    pub real: PathBuf,
}

impl StoreObject {
    pub fn new(logical: impl Into<PathBuf>, real: impl Into<PathBuf>) -> StoreObject {
        StoreObject {
            logical: logical.into(),
            real: real.into(),
        }
    }
}
