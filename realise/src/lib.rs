//! realise: turning derivations into store paths.
//!
//! * [`sandbox`]: Linux namespaces sandbox for builders (and `run_in_root`).
//! * [`fetch`]: downloads (`builtin:fetchurl`), `mirror://` resolution.
//! * [`unpack`]: safe tar/zip extraction.

pub mod fetch;
pub mod sandbox;
pub mod unpack;
