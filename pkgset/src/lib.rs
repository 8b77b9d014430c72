//! pkgset
