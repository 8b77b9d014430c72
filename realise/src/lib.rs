//! realise: turning derivations into store paths.
//!
//! * [`sandbox`]: Linux namespaces sandbox for builders (and `run_in_root`).
//! * [`fetch`]: downloads (`builtin:fetchurl`), `mirror://` resolution.
//! * [`unpack`]: safe tar/zip extraction.

pub mod builtin;
pub mod cli;
pub mod fetch;
pub mod fetchers;
pub mod git;
pub mod progress;
pub mod sandbox;
pub mod scheduler;
pub mod unpack;

pub use builtin::{BuildCtx, BuiltinFn, BuiltinRegistry};
pub use scheduler::{Options, Realiser};
