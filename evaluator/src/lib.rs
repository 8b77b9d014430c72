//! evaluator
pub mod syntax;
