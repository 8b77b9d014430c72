//! evaluator
pub mod eval;
pub mod syntax;
