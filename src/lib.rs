//! rnix: glue between the evaluator, the store, the realiser, the package set and dockertools.
pub mod build_cmd;
pub mod builders;
pub mod cli;
pub mod embedded;
pub mod fetchtree;
pub mod glue;
