//! evaluator
pub mod syntax;
pub mod eval;
