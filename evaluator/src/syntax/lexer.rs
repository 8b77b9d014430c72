//! Context-sensitive Nix lexer: a `logos` lexer for code, hand-written scanners for the
//! string, indented-string and path contexts, driven by a mode stack exactly like the
//! flex start conditions of Nix's `lexer.l`.

use super::kind::SyntaxKind::{self, *};
use logos::Logos;
use rowan::{TextRange, TextSize};

#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    #[regex(r"[ \t\r\n]+")]
    Whitespace,
    #[regex(r"#[^\r\n]*")]
    LineComment,
    #[regex(r"/\*([^*]|\*+[^*/])*\*+/")]
    BlockComment,
    #[token("if")]
    If,
    #[token("then")]
    Then,
    #[token("else")]
    Else,
    #[token("assert")]
    Assert,
    #[token("with")]
    With,
    #[token("let")]
    Let,
    #[token("in")]
    In,
    #[token("rec")]
    Rec,
    #[token("inherit")]
    Inherit,
    #[token("or")]
    Or,
    #[token("...")]
    Ellipsis,
    #[token("==")]
    Eq,
    #[token("!=")]
    Neq,
    #[token("<=")]
    Leq,
    #[token(">=")]
    Geq,
    #[token("&&")]
    And,
    #[token("||")]
    OrOr,
    #[token("->")]
    Impl,
    #[token("//")]
    Update,
    #[token("++")]
    Concat,
    #[token("${")]
    DollarCurly,
    #[token("''")]
    IndStringOpen,
    #[token("\"")]
    Quote,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBrack,
    #[token("]")]
    RBrack,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    #[token("?")]
    Question,
    #[token("@")]
    At,
    #[token("=")]
    Assign,
    #[token("+")]
    Add,
    #[token("-")]
    Sub,
    #[token("*")]
    Mul,
    #[token("/")]
    Div,
    #[token("<")]
    Less,
    #[token(">")]
    More,
    #[token("!")]
    Not,
    #[regex(r"[a-zA-Z_][a-zA-Z0-9_'\-]*")]
    Ident,
    #[regex(r"[0-9]+")]
    Int,
    #[regex(r"([1-9][0-9]*\.[0-9]*)|(0?\.[0-9]+)")]
    Float,
    #[regex(r"[a-zA-Z0-9._\-+]*(/[a-zA-Z0-9._\-+]+)+/?")]
    Path,
    #[regex(r"[a-zA-Z0-9._\-+]*/\$\{")]
    PathSegInterp,
    #[regex(r"~(/[a-zA-Z0-9._\-+]+)+/?")]
    HPath,
    #[token("~/${")]
    HPathInterp,
    #[regex(r"<[a-zA-Z0-9._\-+]+(/[a-zA-Z0-9._\-+]+)*>")]
    SPath,
    #[regex(r"[a-zA-Z][a-zA-Z0-9+\-.]*:[a-zA-Z0-9%/?:@&=+$,\-_.!~*']+")]
    Uri,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Code,
    Str,
    IndStr,
    /// Inside a path after a fragment; `slash` when the last fragment ended in `/`.
    Path {
        slash: bool,
    },
}

/// One lexed token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: SyntaxKind,
    pub range: TextRange,
}

/// A lexer-level error (the token stays in the stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub range: TextRange,
    pub message: String,
}

const WINDOW: usize = 1024;

fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+')
}

/// Length of a path fragment at the start of `s` (`{PATH}|{PATH_SEG}|{PATH_CHAR}+`).
fn path_fragment_len(s: &[u8]) -> usize {
    let mut i = 0;
    while i < s.len() && is_path_char(s[i]) {
        i += 1;
    }
    loop {
        if i < s.len() && s[i] == b'/' {
            if i + 1 < s.len() && is_path_char(s[i + 1]) {
                i += 1;
                while i < s.len() && is_path_char(s[i]) {
                    i += 1;
                }
                continue;
            }
            return i + 1;
        }
        return i;
    }
}

fn utf8_len(s: &str, at: usize) -> usize {
    s[at..].chars().next().map(|c| c.len_utf8()).unwrap_or(0)
}

/// Length of a run of literal content of a "double-quoted" string.
fn str_content_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => break,
            b'\\' => {
                if i + 1 >= b.len() {
                    return i + 1;
                }
                i += 1 + utf8_len(s, i + 1);
            }
            b'$' => {
                if i + 1 >= b.len() {
                    return i + 1;
                }
                match b[i + 1] {
                    b'{' => break,
                    b'"' | b'\\' => i += 1,
                    _ => i += 1 + utf8_len(s, i + 1),
                }
            }
            _ => i += utf8_len(s, i),
        }
    }
    i
}

/// Length of a raw run of an indented string (`([^$']|\$[^{']|'[^'$])+`).
fn ind_raw_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' => {
                if i + 1 >= b.len() || matches!(b[i + 1], b'{' | b'\'') {
                    break;
                }
                i += 1 + utf8_len(s, i + 1);
            }
            b'\'' => {
                if i + 1 >= b.len() || matches!(b[i + 1], b'\'' | b'$') {
                    break;
                }
                i += 1 + utf8_len(s, i + 1);
            }
            _ => i += utf8_len(s, i),
        }
    }
    i
}

fn is_uri_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"%/?:@&=+$,-_.!~*'".contains(&c)
}

/// The exact length of a token of kind `t` at the start of `rb`.
fn token_len(t: Code, rb: &[u8]) -> usize {
    let count =
        |from: usize, f: &dyn Fn(u8) -> bool| rb[from..].iter().take_while(|&&c| f(c)).count();
    match t {
        Code::Whitespace | Code::LineComment | Code::BlockComment => 1, // handled before logos
        Code::If | Code::In | Code::Or => 2,
        Code::Let | Code::Rec => 3,
        Code::Then | Code::Else | Code::With => 4,
        Code::Assert => 6,
        Code::Inherit => 7,
        Code::Ellipsis => 3,
        Code::Eq
        | Code::Neq
        | Code::Leq
        | Code::Geq
        | Code::And
        | Code::OrOr
        | Code::Impl
        | Code::Update
        | Code::Concat
        | Code::DollarCurly => 2,
        // `''(\ *\n)?`: Nix's IND_STRING_OPEN swallows trailing spaces and one newline
        Code::IndStringOpen => {
            let sp = count(2, &|c| c == b' ');
            if rb.get(2 + sp) == Some(&b'\n') {
                3 + sp
            } else {
                2
            }
        }
        Code::Quote
        | Code::LBrace
        | Code::RBrace
        | Code::LBrack
        | Code::RBrack
        | Code::LParen
        | Code::RParen
        | Code::Semi
        | Code::Colon
        | Code::Comma
        | Code::Dot
        | Code::Question
        | Code::At
        | Code::Assign
        | Code::Add
        | Code::Sub
        | Code::Mul
        | Code::Div
        | Code::Less
        | Code::More
        | Code::Not => 1,
        Code::Ident => {
            1 + count(1, &|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'_' | b'\'' | b'-')
            })
        }
        Code::Int => count(0, &|c| c.is_ascii_digit()),
        Code::Float => {
            let int = count(0, &|c| c.is_ascii_digit());
            let mut len = int + 1 + count(int + 1, &|c| c.is_ascii_digit());
            let e = &rb[len..];
            if e.len() >= 2 && matches!(e[0], b'e' | b'E') {
                let sign = usize::from(matches!(e[1], b'+' | b'-'));
                let digits = e[1 + sign..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                if digits > 0 {
                    len += 1 + sign + digits;
                }
            }
            len
        }
        Code::Path => path_fragment_len(rb),
        Code::PathSegInterp => count(0, &is_path_char) + 3,
        Code::HPath => 1 + path_fragment_len(&rb[1..]),
        Code::HPathInterp => 4,
        Code::SPath => rb
            .iter()
            .position(|&c| c == b'>')
            .map_or(rb.len(), |p| p + 1),
        Code::Uri => {
            let scheme = 1 + count(1, &|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')
            });
            scheme + 1 + count(scheme + 1, &is_uri_char)
        }
    }
}

fn code_kind(t: Code) -> SyntaxKind {
    match t {
        Code::Whitespace => TOKEN_WHITESPACE,
        Code::LineComment | Code::BlockComment => TOKEN_COMMENT,
        Code::If => TOKEN_IF,
        Code::Then => TOKEN_THEN,
        Code::Else => TOKEN_ELSE,
        Code::Assert => TOKEN_ASSERT,
        Code::With => TOKEN_WITH,
        Code::Let => TOKEN_LET,
        Code::In => TOKEN_IN,
        Code::Rec => TOKEN_REC,
        Code::Inherit => TOKEN_INHERIT,
        Code::Or => TOKEN_OR,
        Code::Ellipsis => TOKEN_ELLIPSIS,
        Code::Eq => TOKEN_EQUAL,
        Code::Neq => TOKEN_NOT_EQUAL,
        Code::Leq => TOKEN_LESS_OR_EQ,
        Code::Geq => TOKEN_MORE_OR_EQ,
        Code::And => TOKEN_AND_AND,
        Code::OrOr => TOKEN_OR_OR,
        Code::Impl => TOKEN_IMPLICATION,
        Code::Update => TOKEN_UPDATE,
        Code::Concat => TOKEN_CONCAT,
        Code::DollarCurly => TOKEN_DOLLAR_CURLY,
        Code::IndStringOpen => TOKEN_IND_STRING_START,
        Code::Quote => TOKEN_STRING_START,
        Code::LBrace => TOKEN_L_BRACE,
        Code::RBrace => TOKEN_R_BRACE,
        Code::LBrack => TOKEN_L_BRACK,
        Code::RBrack => TOKEN_R_BRACK,
        Code::LParen => TOKEN_L_PAREN,
        Code::RParen => TOKEN_R_PAREN,
        Code::Semi => TOKEN_SEMICOLON,
        Code::Colon => TOKEN_COLON,
        Code::Comma => TOKEN_COMMA,
        Code::Dot => TOKEN_DOT,
        Code::Question => TOKEN_QUESTION,
        Code::At => TOKEN_AT,
        Code::Assign => TOKEN_ASSIGN,
        Code::Add => TOKEN_ADD,
        Code::Sub => TOKEN_SUB,
        Code::Mul => TOKEN_MUL,
        Code::Div => TOKEN_DIV,
        Code::Less => TOKEN_LESS,
        Code::More => TOKEN_MORE,
        Code::Not => TOKEN_INVERT,
        Code::Ident => TOKEN_IDENT,
        Code::Int => TOKEN_INTEGER,
        Code::Float => TOKEN_FLOAT,
        Code::Path | Code::PathSegInterp | Code::HPath | Code::HPathInterp => TOKEN_PATH,
        Code::SPath => TOKEN_SEARCH_PATH,
        Code::Uri => TOKEN_URI,
    }
}

fn range(start: usize, end: usize) -> TextRange {
    TextRange::new(TextSize::from(start as u32), TextSize::from(end as u32))
}

/// Split `src` into tokens covering every byte. Inputs larger than 4 GiB are not supported
/// (rowan offsets are 32-bit); `parse` checks that before calling.
pub fn tokenize(src: &str) -> (Vec<Token>, Vec<LexError>) {
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    let mut stack = vec![Mode::Code];
    let mut pos = 0usize;
    let bytes = src.as_bytes();
    while pos < src.len() {
        let rest = &src[pos..];
        let rb = rest.as_bytes();
        let mode = *stack.last().unwrap_or(&Mode::Code);
        let (kind, len) = match mode {
            Mode::Code if matches!(rb[0], b' ' | b'\t' | b'\r' | b'\n') => (
                TOKEN_WHITESPACE,
                rb.iter()
                    .take_while(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                    .count(),
            ),
            Mode::Code if rb[0] == b'#' => (
                TOKEN_COMMENT,
                rb.iter()
                    .take_while(|c| !matches!(c, b'\r' | b'\n'))
                    .count(),
            ),
            Mode::Code if rest.starts_with("/*") => match rest[2..].find("*/") {
                Some(i) => (TOKEN_COMMENT, i + 4),
                None => {
                    errors.push(LexError {
                        range: range(pos, src.len()),
                        message: "unterminated comment".into(),
                    });
                    (TOKEN_ERROR, src.len() - pos)
                }
            },
            Mode::Code => {
                // logos' generated matcher recurses once per byte in debug builds, so it only
                // ever sees a bounded window; token lengths are measured by hand (`token_len`).
                let mut wlen = rest.len().min(WINDOW);
                while !rest.is_char_boundary(wlen) {
                    wlen -= 1;
                }
                let window = &rest[..wlen];
                let mut lex = Code::lexer(window);
                let res = lex.next();
                match res {
                    Some(Ok(t)) => {
                        // logos can report a wrong span after backtracking out of a longer
                        // candidate (e.g. `.b` as a dot of length 2, `1e3` as an integer of
                        // length 3), and only sees a window: every length is re-measured.
                        let len = token_len(t, rb);
                        match t {
                            Code::LBrace | Code::DollarCurly => stack.push(Mode::Code),
                            Code::RBrace => {
                                if stack.len() > 1 {
                                    stack.pop();
                                }
                            }
                            Code::Quote => stack.push(Mode::Str),
                            Code::IndStringOpen => stack.push(Mode::IndStr),
                            Code::Path | Code::HPath => stack.push(Mode::Path {
                                slash: rest[..len].ends_with('/'),
                            }),
                            _ => {}
                        }
                        match t {
                            Code::PathSegInterp | Code::HPathInterp => {
                                stack.push(Mode::Path { slash: true });
                                (TOKEN_PATH, len - 2)
                            }
                            _ => (code_kind(t), len),
                        }
                    }
                    Some(Err(())) | None => (TOKEN_ERROR, utf8_len(rest, 0).max(1)),
                }
            }
            Mode::Str => {
                if rb[0] == b'"' {
                    stack.pop();
                    (TOKEN_STRING_END, 1)
                } else if rest.starts_with("${") {
                    stack.push(Mode::Code);
                    (TOKEN_DOLLAR_CURLY, 2)
                } else {
                    (TOKEN_STRING_CONTENT, str_content_len(rest))
                }
            }
            Mode::IndStr => {
                if rest.starts_with("''$") || rest.starts_with("'''") {
                    (TOKEN_STRING_CONTENT, 3)
                } else if rest.starts_with("''\\") && rest.len() > 3 {
                    (TOKEN_STRING_CONTENT, 3 + utf8_len(rest, 3))
                } else if rest.starts_with("''") {
                    stack.pop();
                    (TOKEN_IND_STRING_END, 2)
                } else if rest.starts_with("${") {
                    stack.push(Mode::Code);
                    (TOKEN_DOLLAR_CURLY, 2)
                } else {
                    let n = ind_raw_len(rest);
                    if n == 0 {
                        // a lone `$` or `'`
                        (TOKEN_STRING_CONTENT, 1)
                    } else {
                        (TOKEN_STRING_CONTENT, n)
                    }
                }
            }
            Mode::Path { slash } => {
                if rest.starts_with("${") {
                    if let Some(top) = stack.last_mut() {
                        *top = Mode::Path { slash: false };
                    }
                    stack.push(Mode::Code);
                    (TOKEN_DOLLAR_CURLY, 2)
                } else {
                    let n = path_fragment_len(rb);
                    if n > 0 {
                        if let Some(top) = stack.last_mut() {
                            *top = Mode::Path {
                                slash: rb[n - 1] == b'/',
                            };
                        }
                        (TOKEN_PATH, n)
                    } else {
                        if slash {
                            let end = tokens
                                .last()
                                .map(|t: &Token| t.range.end())
                                .unwrap_or_default();
                            errors.push(LexError {
                                range: TextRange::new(end - TextSize::from(1), end),
                                message: "path has a trailing slash".into(),
                            });
                        }
                        stack.pop();
                        continue;
                    }
                }
            }
        };
        debug_assert!(len > 0);
        tokens.push(Token {
            kind,
            range: range(pos, pos + len),
        });
        pos += len;
    }
    if let Some(Mode::Path { slash: true }) = stack.last() {
        let end = TextSize::from(bytes.len() as u32);
        errors.push(LexError {
            range: TextRange::new(end - TextSize::from(1), end),
            message: "path has a trailing slash".into(),
        });
    }
    (tokens, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(SyntaxKind, &str)> {
        let (toks, _) = tokenize(s);
        toks.iter()
            .map(|t| (t.kind, &s[t.range]))
            .filter(|(k, _)| *k != TOKEN_WHITESPACE)
            .collect()
    }

    #[test]
    fn numbers() {
        assert_eq!(
            kinds("1 .5 1. 1.5e3 1e3"),
            vec![
                (TOKEN_INTEGER, "1"),
                (TOKEN_FLOAT, ".5"),
                (TOKEN_FLOAT, "1."),
                (TOKEN_FLOAT, "1.5e3"),
                (TOKEN_INTEGER, "1"),
                (TOKEN_IDENT, "e3")
            ]
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            kinds("./a/${b}c <nixpkgs> ~/a a/b"),
            vec![
                (TOKEN_PATH, "./a/"),
                (TOKEN_DOLLAR_CURLY, "${"),
                (TOKEN_IDENT, "b"),
                (TOKEN_R_BRACE, "}"),
                (TOKEN_PATH, "c"),
                (TOKEN_SEARCH_PATH, "<nixpkgs>"),
                (TOKEN_PATH, "~/a"),
                (TOKEN_PATH, "a/b"),
            ]
        );
    }

    #[test]
    fn strings() {
        assert_eq!(
            kinds(r#""a\"${x}$$y" ''a''$'''b''"#),
            vec![
                (TOKEN_STRING_START, "\""),
                (TOKEN_STRING_CONTENT, "a\\\""),
                (TOKEN_DOLLAR_CURLY, "${"),
                (TOKEN_IDENT, "x"),
                (TOKEN_R_BRACE, "}"),
                (TOKEN_STRING_CONTENT, "$$y"),
                (TOKEN_STRING_END, "\""),
                (TOKEN_IND_STRING_START, "''"),
                (TOKEN_STRING_CONTENT, "a"),
                (TOKEN_STRING_CONTENT, "''$"),
                (TOKEN_STRING_CONTENT, "'''"),
                (TOKEN_STRING_CONTENT, "b"),
                (TOKEN_IND_STRING_END, "''"),
            ]
        );
    }
}
