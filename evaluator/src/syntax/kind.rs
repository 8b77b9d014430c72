//! Syntax kinds of the lossless tree (tokens and nodes) and the rowan language.

/// Every token and node kind of the Nix syntax tree.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum SyntaxKind {
    // trivia
    TOKEN_WHITESPACE = 0,
    TOKEN_COMMENT,
    TOKEN_ERROR,
    // keywords
    TOKEN_ASSERT,
    TOKEN_ELSE,
    TOKEN_IF,
    TOKEN_IN,
    TOKEN_INHERIT,
    TOKEN_LET,
    TOKEN_OR,
    TOKEN_REC,
    TOKEN_THEN,
    TOKEN_WITH,
    // punctuation
    TOKEN_L_BRACE,
    TOKEN_R_BRACE,
    TOKEN_L_BRACK,
    TOKEN_R_BRACK,
    TOKEN_L_PAREN,
    TOKEN_R_PAREN,
    TOKEN_SEMICOLON,
    TOKEN_COLON,
    TOKEN_COMMA,
    TOKEN_DOT,
    TOKEN_ELLIPSIS,
    TOKEN_QUESTION,
    TOKEN_AT,
    TOKEN_ASSIGN,
    TOKEN_DOLLAR_CURLY,
    // operators
    TOKEN_CONCAT,
    TOKEN_ADD,
    TOKEN_SUB,
    TOKEN_MUL,
    TOKEN_DIV,
    TOKEN_UPDATE,
    TOKEN_AND_AND,
    TOKEN_OR_OR,
    TOKEN_IMPLICATION,
    TOKEN_EQUAL,
    TOKEN_NOT_EQUAL,
    TOKEN_LESS,
    TOKEN_LESS_OR_EQ,
    TOKEN_MORE,
    TOKEN_MORE_OR_EQ,
    TOKEN_INVERT,
    // literals
    TOKEN_IDENT,
    TOKEN_INTEGER,
    TOKEN_FLOAT,
    TOKEN_URI,
    /// A fragment of a path (`./a/`, `b`, `~/x`, `/abs`); interpolations sit between fragments.
    TOKEN_PATH,
    /// `<nixpkgs/lib>`
    TOKEN_SEARCH_PATH,
    TOKEN_STRING_START,
    TOKEN_STRING_END,
    TOKEN_IND_STRING_START,
    TOKEN_IND_STRING_END,
    /// Literal content of a string; in indented strings each token is one Nix lexer token
    /// (a raw run, `''$`, `'''`, `''\x`, a lone `$` or `'`).
    TOKEN_STRING_CONTENT,

    // nodes
    NODE_ROOT,
    NODE_ERROR,
    NODE_APPLY,
    NODE_ASSERT,
    NODE_ATTRPATH,
    NODE_DYNAMIC,
    NODE_ATTRPATH_VALUE,
    NODE_ATTR_SET,
    NODE_BIN_OP,
    NODE_HAS_ATTR,
    NODE_IDENT,
    NODE_IF_ELSE,
    NODE_INHERIT,
    NODE_INHERIT_FROM,
    NODE_INTERPOL,
    NODE_LAMBDA,
    NODE_PATTERN,
    NODE_PAT_ENTRY,
    NODE_PAT_BIND,
    NODE_LEGACY_LET,
    NODE_LET_IN,
    NODE_LIST,
    NODE_LITERAL,
    NODE_PAREN,
    NODE_PATH,
    NODE_SELECT,
    NODE_STRING,
    NODE_UNARY_OP,
    NODE_WITH,
    #[doc(hidden)]
    __LAST,
}

pub use SyntaxKind::*;

impl SyntaxKind {
    pub fn is_trivia(self) -> bool {
        matches!(self, TOKEN_WHITESPACE | TOKEN_COMMENT)
    }
    pub fn is_token(self) -> bool {
        (self as u16) < (NODE_ROOT as u16)
    }
}

impl From<SyntaxKind> for rowan::SyntaxKind {
    fn from(kind: SyntaxKind) -> Self {
        rowan::SyntaxKind(kind as u16)
    }
}

/// The rowan language tag for Nix.
#[derive(Debug, Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NixLanguage {}

impl rowan::Language for NixLanguage {
    type Kind = SyntaxKind;
    fn kind_from_raw(raw: rowan::SyntaxKind) -> SyntaxKind {
        assert!(raw.0 < __LAST as u16);
        // SAFETY: SyntaxKind is repr(u16) with contiguous discriminants below __LAST.
        unsafe { std::mem::transmute::<u16, SyntaxKind>(raw.0) }
    }
    fn kind_to_raw(kind: SyntaxKind) -> rowan::SyntaxKind {
        kind.into()
    }
}

pub type SyntaxNode = rowan::SyntaxNode<NixLanguage>;
pub type SyntaxToken = rowan::SyntaxToken<NixLanguage>;
pub type SyntaxElement = rowan::NodeOrToken<SyntaxNode, SyntaxToken>;
