//! rnix: glue between the evaluator, the store, the realiser, the package set and dockertools.
pub mod cli;
pub mod embedded;
