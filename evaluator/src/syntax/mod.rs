//! Nix syntax: lexer, lossless rowan tree, typed AST, parse printer.
pub mod kind;
pub mod lexer;
pub use kind::*;
pub mod ast;
pub mod parser;
pub use parser::{parse, Parse, ParseError, MAX_DEPTH};
