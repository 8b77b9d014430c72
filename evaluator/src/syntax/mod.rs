//! Nix syntax: lexer, lossless rowan tree, typed AST, parse printer.
pub mod kind;
pub mod lexer;
pub use kind::*;
pub mod ast;
pub mod parser;
pub use parser::{parse, Parse, ParseError, MAX_DEPTH};
pub mod lower;
pub use lower::{print_parse, SourceContext, GLOBAL_NAMES};
pub mod diagnostics;
pub mod source;
pub use diagnostics::{render_codespan, render_nix_style};
