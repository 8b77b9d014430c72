//! Nix-compatible store: nixbase32, hashes, store paths, NAR, `.drv` ATerm,
//! `hashDerivationModulo`, a local store (registry, locks, GC roots) and reference scanning.
//!
//! The logical store directory is always `/nix/store`; [`local::LocalStore`] maps it onto a
//! physical root.

pub mod cli;
pub mod confine;
pub mod derivation;
pub mod hash;
pub mod local;
pub mod nar;
pub mod nixbase32;
pub mod references;
pub mod store_path;

pub use derivation::{Derivation, Output};
pub use hash::{Hash, HashAlgo};
pub use local::{LocalStore, PathInfo};

pub use store_path::{FileIngestionMethod, StorePath, STORE_DIR};
