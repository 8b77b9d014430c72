//! pkgset
pub mod lock;
// package builders (owner: builders)
pub mod buildenv;
pub mod builders;
pub mod deb;
pub mod elf;
pub mod python;
