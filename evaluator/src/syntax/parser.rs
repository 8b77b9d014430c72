//! Recursive-descent parser building a lossless rowan tree, with error recovery and a
//! nesting-depth limit (deep input gives an error, never a stack overflow).

use super::kind::SyntaxKind::{self, *};
use super::kind::{NixLanguage, SyntaxNode};
use super::lexer::{tokenize, Token};
use rowan::{Checkpoint, GreenNode, GreenNodeBuilder, Language, TextRange, TextSize};

/// Depth of the syntax tree at most: a left-associative chain of 2,100 `+` nests its tree
/// 2,100 levels (Nix evaluates such chains). Kept well below what a 2 MiB thread can walk
/// (rowan prints and drops trees recursively), though rnix runs its consumers on a large stack.
pub const MAX_TREE_DEPTH: usize = 10_000;

/// Maximum nesting depth of expressions (the parser recurses once per level).
pub const MAX_DEPTH: usize = 2048;

/// A syntax error with the byte range it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub range: TextRange,
    pub message: String,
}

/// The result of parsing: a lossless green tree and the errors found.
#[derive(Debug, Clone)]
pub struct Parse {
    pub green: GreenNode,
    pub errors: Vec<ParseError>,
}

impl Parse {
    /// The root `NODE_ROOT` syntax node.
    pub fn syntax(&self) -> SyntaxNode {
        SyntaxNode::new_root(self.green.clone())
    }
    /// The typed root.
    pub fn root(&self) -> super::ast::Root {
        super::ast::Root::cast(self.syntax()).expect("parser always produces NODE_ROOT")
    }
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Human name of a token kind, as Nix's bison grammar spells it in messages.
pub fn token_name(kind: SyntaxKind) -> &'static str {
    match kind {
        TOKEN_ASSERT => "ASSERT",
        TOKEN_ELSE => "ELSE",
        TOKEN_IF => "IF",
        TOKEN_IN => "IN",
        TOKEN_INHERIT => "INHERIT",
        TOKEN_LET => "LET",
        TOKEN_OR => "OR_KW",
        TOKEN_REC => "REC",
        TOKEN_THEN => "THEN",
        TOKEN_WITH => "WITH",
        TOKEN_L_BRACE => "'{'",
        TOKEN_R_BRACE => "'}'",
        TOKEN_L_BRACK => "'['",
        TOKEN_R_BRACK => "']'",
        TOKEN_L_PAREN => "'('",
        TOKEN_R_PAREN => "')'",
        TOKEN_SEMICOLON => "';'",
        TOKEN_COLON => "':'",
        TOKEN_COMMA => "','",
        TOKEN_DOT => "'.'",
        TOKEN_ELLIPSIS => "ELLIPSIS",
        TOKEN_QUESTION => "'?'",
        TOKEN_AT => "'@'",
        TOKEN_ASSIGN => "'='",
        TOKEN_DOLLAR_CURLY => "DOLLAR_CURLY",
        TOKEN_CONCAT => "CONCAT",
        TOKEN_ADD => "'+'",
        TOKEN_SUB => "'-'",
        TOKEN_MUL => "'*'",
        TOKEN_DIV => "'/'",
        TOKEN_UPDATE => "UPDATE",
        TOKEN_AND_AND => "AND",
        TOKEN_OR_OR => "OR",
        TOKEN_IMPLICATION => "IMPL",
        TOKEN_EQUAL => "EQ",
        TOKEN_NOT_EQUAL => "NEQ",
        TOKEN_LESS => "'<'",
        TOKEN_LESS_OR_EQ => "LEQ",
        TOKEN_MORE => "'>'",
        TOKEN_MORE_OR_EQ => "GEQ",
        TOKEN_INVERT => "'!'",
        TOKEN_IDENT => "ID",
        TOKEN_INTEGER => "INT",
        TOKEN_FLOAT => "FLOAT",
        TOKEN_URI => "URI",
        TOKEN_PATH => "PATH",
        TOKEN_SEARCH_PATH => "SPATH",
        TOKEN_STRING_START | TOKEN_STRING_END => "'\"'",
        TOKEN_IND_STRING_START => "IND_STRING_OPEN",
        TOKEN_IND_STRING_END => "IND_STRING_CLOSE",
        TOKEN_STRING_CONTENT => "STR",
        TOKEN_ERROR => "invalid token",
        _ => "token",
    }
}

/// Parse Nix source text into a lossless tree. Never panics; errors are collected.
pub fn parse(src: &str) -> Parse {
    if src.len() >= u32::MAX as usize {
        let mut b = GreenNodeBuilder::new();
        b.start_node(NODE_ROOT.into());
        b.finish_node();
        return Parse {
            green: b.finish(),
            errors: vec![ParseError {
                range: TextRange::empty(TextSize::from(0)),
                message: "input too large (4 GiB or more)".into(),
            }],
        };
    }
    let (tokens, lex_errors) = tokenize(src);
    let mut p = Parser {
        src,
        tokens,
        pos: 0,
        builder: GreenNodeBuilder::new(),
        errors: lex_errors
            .into_iter()
            .map(|e| ParseError {
                range: e.range,
                message: e.message,
            })
            .collect(),
        depth: 0,
        tree_depth: 0,
        aborted: false,
    };
    p.builder.start_node(NODE_ROOT.into());
    p.parse_expr();
    p.bump_trivia();
    if p.pos < p.tokens.len() {
        p.error_at_current();
        p.builder.start_node(NODE_ERROR.into());
        while p.pos < p.tokens.len() {
            p.bump_raw();
        }
        p.builder.finish_node();
    }
    p.builder.finish_node();
    let mut errors = p.errors;
    // stable sort keeps lexer errors before parser errors at the same place; keep one
    // error per position
    errors.sort_by_key(|e| e.range.start());
    errors.dedup_by_key(|e| e.range.start());
    Parse {
        green: p.builder.finish(),
        errors,
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    builder: GreenNodeBuilder<'static>,
    errors: Vec<ParseError>,
    depth: usize,
    /// Depth of the tree being built (nesting plus operands of left-associative chains).
    tree_depth: usize,
    aborted: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Assoc {
    Left,
    Right,
    None,
}

fn infix(kind: SyntaxKind) -> Option<(u8, Assoc)> {
    Some(match kind {
        TOKEN_IMPLICATION => (1, Assoc::Right),
        TOKEN_OR_OR => (2, Assoc::Left),
        TOKEN_AND_AND => (3, Assoc::Left),
        TOKEN_EQUAL | TOKEN_NOT_EQUAL => (4, Assoc::None),
        TOKEN_LESS | TOKEN_MORE | TOKEN_LESS_OR_EQ | TOKEN_MORE_OR_EQ => (5, Assoc::None),
        TOKEN_UPDATE => (6, Assoc::Right),
        // 7: `!`
        TOKEN_ADD | TOKEN_SUB => (8, Assoc::Left),
        TOKEN_MUL | TOKEN_DIV => (9, Assoc::Left),
        TOKEN_CONCAT => (10, Assoc::Right),
        TOKEN_QUESTION => (11, Assoc::None),
        // 12: unary `-`
        _ => return None,
    })
}
const NOT_BP: u8 = 7;
const NEG_BP: u8 = 12;

impl<'a> Parser<'a> {
    fn kind_at(&self, i: usize) -> Option<SyntaxKind> {
        self.tokens.get(i).map(|t| t.kind)
    }

    /// Index of the n-th non-trivia token from the current position.
    fn nth_index(&self, mut n: usize) -> Option<usize> {
        let mut i = self.pos;
        while i < self.tokens.len() {
            if !self.tokens[i].kind.is_trivia() {
                if n == 0 {
                    return Some(i);
                }
                n -= 1;
            }
            i += 1;
        }
        None
    }

    fn nth(&self, n: usize) -> Option<SyntaxKind> {
        self.nth_index(n).map(|i| self.tokens[i].kind)
    }

    fn peek(&self) -> Option<SyntaxKind> {
        self.nth(0)
    }

    fn bump_raw(&mut self) {
        let t = self.tokens[self.pos];
        self.builder
            .token(NixLanguage::kind_to_raw(t.kind), &self.src[t.range]);
        self.pos += 1;
    }

    fn bump_trivia(&mut self) {
        while self.pos < self.tokens.len() && self.tokens[self.pos].kind.is_trivia() {
            self.bump_raw();
        }
    }

    /// Bump trivia and the next token.
    fn bump(&mut self) {
        self.bump_trivia();
        if self.pos < self.tokens.len() {
            self.bump_raw();
        }
    }

    fn current_range(&self) -> TextRange {
        match self.nth_index(0) {
            Some(i) => self.tokens[i].range,
            None => TextRange::empty(TextSize::from(self.src.len() as u32)),
        }
    }

    fn unexpected_message(&self) -> String {
        match self.peek() {
            None => "syntax error, unexpected end of file".to_string(),
            Some(TOKEN_ERROR) => {
                let r = self.current_range();
                format!(
                    "syntax error, unexpected invalid token '{}'",
                    self.src[r].escape_debug()
                )
            }
            Some(k) => format!("syntax error, unexpected {}", token_name(k)),
        }
    }

    fn error(&mut self, range: TextRange, message: String) {
        self.errors.push(ParseError { range, message });
    }

    fn error_at_current(&mut self) {
        let msg = self.unexpected_message();
        let r = self.current_range();
        self.error(r, msg);
    }

    fn error_expecting(&mut self, what: &str) {
        let msg = format!("{}, expecting {}", self.unexpected_message(), what);
        let r = self.current_range();
        self.error(r, msg);
    }

    /// Expect a token; on mismatch record an error and do not consume.
    fn expect(&mut self, kind: SyntaxKind) -> bool {
        if self.peek() == Some(kind) {
            self.bump();
            true
        } else {
            self.error_expecting(token_name(kind));
            false
        }
    }

    fn checkpoint(&mut self) -> Checkpoint {
        self.bump_trivia();
        self.builder.checkpoint()
    }

    fn start_node(&mut self, kind: SyntaxKind) {
        self.bump_trivia();
        self.builder.start_node(kind.into());
    }

    fn finish_node(&mut self) {
        self.builder.finish_node();
    }

    fn start_node_at(&mut self, cp: Checkpoint, kind: SyntaxKind) {
        self.builder.start_node_at(cp, kind.into());
    }

    /// Consume the rest of the input into an error node (after the depth limit).
    fn abort_rest(&mut self) {
        self.builder.start_node(NODE_ERROR.into());
        while self.pos < self.tokens.len() {
            self.bump_raw();
        }
        self.builder.finish_node();
    }

    fn enter(&mut self) -> bool {
        if self.aborted {
            return false;
        }
        self.depth += 1;
        self.tree_depth += 1;
        if self.depth > MAX_DEPTH || self.tree_depth > MAX_TREE_DEPTH {
            self.aborted = true;
            let r = self.current_range();
            self.error(
                r,
                format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
            );
            self.abort_rest();
            self.depth -= 1;
            self.tree_depth -= 1;
            return false;
        }
        true
    }

    fn leave(&mut self) {
        self.depth -= 1;
        self.tree_depth -= 1;
    }

    /// One more operand of a left-associative chain (`a + b + c`, `f a b c`): the parser
    /// loops instead of recursing, so only the depth of the tree it builds grows (its
    /// consumers recurse on it and run on a large stack).
    fn enter_chain(&mut self) -> bool {
        if self.aborted {
            return false;
        }
        self.tree_depth += 1;
        if self.tree_depth > MAX_TREE_DEPTH {
            self.aborted = true;
            let r = self.current_range();
            self.error(
                r,
                format!("expression nested too deeply (more than {MAX_TREE_DEPTH} levels)"),
            );
            self.abort_rest();
            self.tree_depth -= 1;
            return false;
        }
        true
    }

    /// expr: lambda, assert, with, let-in, if, or an operator expression.
    fn parse_expr(&mut self) {
        if !self.enter() {
            // still produce a node so the tree shape stays valid
            self.builder.start_node(NODE_ERROR.into());
            self.builder.finish_node();
            return;
        }
        self.parse_expr_inner();
        self.leave();
    }

    fn parse_expr_inner(&mut self) {
        match self.peek() {
            Some(TOKEN_IDENT) if self.nth(1) == Some(TOKEN_COLON) => {
                self.start_node(NODE_LAMBDA);
                self.start_node(NODE_IDENT);
                self.bump();
                self.finish_node();
                self.bump(); // ':'
                self.parse_expr();
                self.finish_node();
            }
            Some(TOKEN_IDENT) if self.nth(1) == Some(TOKEN_AT) => {
                self.start_node(NODE_LAMBDA);
                self.start_node(NODE_PATTERN);
                self.start_node(NODE_PAT_BIND);
                self.start_node(NODE_IDENT);
                self.bump();
                self.finish_node();
                self.bump(); // '@'
                self.finish_node();
                self.parse_pattern_body();
                self.finish_node();
                self.expect(TOKEN_COLON);
                self.parse_expr();
                self.finish_node();
            }
            Some(TOKEN_L_BRACE) if self.looks_like_pattern() => {
                self.start_node(NODE_LAMBDA);
                self.start_node(NODE_PATTERN);
                self.parse_pattern_body();
                if self.peek() == Some(TOKEN_AT) {
                    self.start_node(NODE_PAT_BIND);
                    self.bump();
                    if self.peek() == Some(TOKEN_IDENT) {
                        self.start_node(NODE_IDENT);
                        self.bump();
                        self.finish_node();
                    } else {
                        self.error_expecting("ID");
                    }
                    self.finish_node();
                }
                self.finish_node();
                self.expect(TOKEN_COLON);
                self.parse_expr();
                self.finish_node();
            }
            Some(TOKEN_ASSERT) => {
                self.start_node(NODE_ASSERT);
                self.bump();
                self.parse_expr();
                self.expect(TOKEN_SEMICOLON);
                self.parse_expr();
                self.finish_node();
            }
            Some(TOKEN_WITH) => {
                self.start_node(NODE_WITH);
                self.bump();
                self.parse_expr();
                self.expect(TOKEN_SEMICOLON);
                self.parse_expr();
                self.finish_node();
            }
            Some(TOKEN_LET) if self.nth(1) != Some(TOKEN_L_BRACE) => {
                self.start_node(NODE_LET_IN);
                self.bump();
                self.parse_binds(TOKEN_IN);
                self.expect(TOKEN_IN);
                self.parse_expr();
                self.finish_node();
            }
            Some(TOKEN_IF) => {
                self.start_node(NODE_IF_ELSE);
                self.bump();
                self.parse_expr();
                self.expect(TOKEN_THEN);
                self.parse_expr();
                self.expect(TOKEN_ELSE);
                self.parse_expr();
                self.finish_node();
            }
            _ => self.parse_op(0),
        }
    }

    /// After `{`: is this a lambda pattern rather than an attribute set?
    fn looks_like_pattern(&self) -> bool {
        match (self.nth(1), self.nth(2)) {
            (Some(TOKEN_R_BRACE), _) => matches!(self.nth(2), Some(TOKEN_COLON | TOKEN_AT)),
            (Some(TOKEN_ELLIPSIS), _) => true,
            (Some(TOKEN_IDENT), Some(TOKEN_COMMA | TOKEN_QUESTION)) => true,
            (Some(TOKEN_IDENT), Some(TOKEN_R_BRACE)) => {
                matches!(self.nth(3), Some(TOKEN_COLON | TOKEN_AT))
            }
            _ => false,
        }
    }

    /// `{ a, b ? d, ... }` (inside an open NODE_PATTERN).
    fn parse_pattern_body(&mut self) {
        if !self.expect(TOKEN_L_BRACE) {
            return;
        }
        loop {
            match self.peek() {
                Some(TOKEN_R_BRACE) => {
                    self.bump();
                    break;
                }
                Some(TOKEN_ELLIPSIS) => {
                    self.bump();
                    if self.peek() == Some(TOKEN_R_BRACE) {
                        self.bump();
                    } else {
                        self.error_expecting("'}'");
                        self.recover_pattern();
                    }
                    break;
                }
                Some(TOKEN_IDENT) => {
                    self.start_node(NODE_PAT_ENTRY);
                    self.start_node(NODE_IDENT);
                    self.bump();
                    self.finish_node();
                    if self.peek() == Some(TOKEN_QUESTION) {
                        self.bump();
                        self.parse_expr();
                    }
                    self.finish_node();
                    match self.peek() {
                        Some(TOKEN_COMMA) => self.bump(),
                        Some(TOKEN_R_BRACE) => {}
                        _ => {
                            self.error_at_current();
                            self.recover_pattern();
                            break;
                        }
                    }
                }
                _ => {
                    self.error_at_current();
                    self.recover_pattern();
                    break;
                }
            }
        }
    }

    fn recover_pattern(&mut self) {
        self.start_node(NODE_ERROR);
        while let Some(k) = self.peek() {
            if k == TOKEN_R_BRACE {
                break;
            }
            if matches!(k, TOKEN_COLON | TOKEN_SEMICOLON) {
                self.finish_node();
                return;
            }
            self.bump();
        }
        self.finish_node();
        if self.peek() == Some(TOKEN_R_BRACE) {
            self.bump();
        }
    }

    /// Pratt loop over binary operators.
    fn parse_op(&mut self, min_bp: u8) {
        if !self.enter() {
            self.builder.start_node(NODE_ERROR.into());
            self.builder.finish_node();
            return;
        }
        let cp = self.checkpoint();
        match self.peek() {
            Some(TOKEN_INVERT) => {
                self.start_node(NODE_UNARY_OP);
                self.bump();
                self.parse_op(NOT_BP);
                self.finish_node();
            }
            Some(TOKEN_SUB) => {
                self.start_node(NODE_UNARY_OP);
                self.bump();
                self.parse_op(NEG_BP);
                self.finish_node();
            }
            _ => self.parse_app(),
        }
        let mut last_nonassoc: Option<u8> = None;
        let mut extra_depth = 0;
        while let Some(k) = self.peek() {
            let Some((bp, assoc)) = infix(k) else { break };
            if bp < min_bp {
                break;
            }
            if assoc == Assoc::None && last_nonassoc == Some(bp) {
                // `a == b == c`: non-associative
                self.error_at_current();
                break;
            }
            // every operator application nests the tree one level deeper
            if !self.enter_chain() {
                break;
            }
            extra_depth += 1;
            if k == TOKEN_QUESTION {
                self.start_node_at(cp, NODE_HAS_ATTR);
                self.bump();
                self.parse_attrpath();
                self.finish_node();
            } else {
                self.start_node_at(cp, NODE_BIN_OP);
                self.bump();
                let next = match assoc {
                    Assoc::Left | Assoc::None => bp + 1,
                    Assoc::Right => bp,
                };
                self.parse_op(next);
                self.finish_node();
            }
            last_nonassoc = if assoc == Assoc::None { Some(bp) } else { None };
        }
        self.tree_depth -= extra_depth;
        self.leave();
    }

    fn at_simple_start(&self) -> bool {
        matches!(
            self.peek(),
            Some(
                TOKEN_IDENT
                    | TOKEN_INTEGER
                    | TOKEN_FLOAT
                    | TOKEN_URI
                    | TOKEN_PATH
                    | TOKEN_SEARCH_PATH
                    | TOKEN_STRING_START
                    | TOKEN_IND_STRING_START
                    | TOKEN_L_PAREN
                    | TOKEN_L_BRACE
                    | TOKEN_L_BRACK
                    | TOKEN_REC
                    | TOKEN_LET
            )
        ) && !(self.peek() == Some(TOKEN_LET) && self.nth(1) != Some(TOKEN_L_BRACE))
    }

    /// Function application: a sequence of select expressions.
    fn parse_app(&mut self) {
        let cp = self.checkpoint();
        self.parse_select();
        let mut extra_depth = 0;
        while self.at_simple_start() && !self.aborted {
            if !self.enter_chain() {
                break;
            }
            extra_depth += 1;
            self.start_node_at(cp, NODE_APPLY);
            self.parse_select();
            self.finish_node();
        }
        self.tree_depth -= extra_depth;
    }

    /// `e.a.b or d`, `e or` (application of the variable `or`), or a simple expression.
    fn parse_select(&mut self) {
        let cp = self.checkpoint();
        self.parse_simple();
        match self.peek() {
            Some(TOKEN_DOT) => {
                self.start_node_at(cp, NODE_SELECT);
                self.bump();
                self.parse_attrpath();
                if self.peek() == Some(TOKEN_OR) {
                    self.bump();
                    if self.enter() {
                        self.parse_select();
                        self.leave();
                    }
                }
                self.finish_node();
            }
            Some(TOKEN_OR) => {
                self.start_node_at(cp, NODE_APPLY);
                self.start_node(NODE_IDENT);
                self.bump();
                self.finish_node();
                self.finish_node();
            }
            _ => {}
        }
    }

    fn parse_simple(&mut self) {
        if !self.enter() {
            self.builder.start_node(NODE_ERROR.into());
            self.builder.finish_node();
            return;
        }
        match self.peek() {
            Some(TOKEN_IDENT) => {
                self.start_node(NODE_IDENT);
                self.bump();
                self.finish_node();
            }
            Some(TOKEN_INTEGER | TOKEN_FLOAT | TOKEN_URI) => {
                self.start_node(NODE_LITERAL);
                self.bump();
                self.finish_node();
            }
            Some(TOKEN_SEARCH_PATH) => {
                self.start_node(NODE_PATH);
                self.bump();
                self.finish_node();
            }
            Some(TOKEN_PATH) => self.parse_path(),
            Some(TOKEN_STRING_START) => self.parse_string(TOKEN_STRING_END),
            Some(TOKEN_IND_STRING_START) => self.parse_string(TOKEN_IND_STRING_END),
            Some(TOKEN_L_PAREN) => {
                self.start_node(NODE_PAREN);
                self.bump();
                self.parse_expr();
                self.expect(TOKEN_R_PAREN);
                self.finish_node();
            }
            Some(TOKEN_L_BRACK) => {
                self.start_node(NODE_LIST);
                self.bump();
                loop {
                    match self.peek() {
                        Some(TOKEN_R_BRACK) => {
                            self.bump();
                            break;
                        }
                        _ if self.at_simple_start() => self.parse_select(),
                        _ => {
                            self.error_expecting("']'");
                            break;
                        }
                    }
                    if self.aborted {
                        break;
                    }
                }
                self.finish_node();
            }
            Some(TOKEN_LET) => {
                self.start_node(NODE_LEGACY_LET);
                self.bump();
                self.bump(); // '{'
                self.parse_binds(TOKEN_R_BRACE);
                self.expect(TOKEN_R_BRACE);
                self.finish_node();
            }
            Some(TOKEN_REC) => {
                self.start_node(NODE_ATTR_SET);
                self.bump();
                if self.expect(TOKEN_L_BRACE) {
                    self.parse_binds(TOKEN_R_BRACE);
                    self.expect(TOKEN_R_BRACE);
                }
                self.finish_node();
            }
            Some(TOKEN_L_BRACE) => {
                self.start_node(NODE_ATTR_SET);
                self.bump();
                self.parse_binds(TOKEN_R_BRACE);
                self.expect(TOKEN_R_BRACE);
                self.finish_node();
            }
            _ => {
                self.error_at_current();
                // consume one token (unless it can close an enclosing construct)
                self.start_node(NODE_ERROR);
                if !matches!(
                    self.peek(),
                    None | Some(
                        TOKEN_R_BRACE
                            | TOKEN_R_PAREN
                            | TOKEN_R_BRACK
                            | TOKEN_SEMICOLON
                            | TOKEN_IN
                            | TOKEN_THEN
                            | TOKEN_ELSE
                            | TOKEN_STRING_END
                            | TOKEN_IND_STRING_END
                    )
                ) {
                    self.bump();
                }
                self.finish_node();
            }
        }
        self.leave();
    }

    fn parse_path(&mut self) {
        self.start_node(NODE_PATH);
        self.bump();
        loop {
            match self.kind_at(self.pos) {
                Some(TOKEN_PATH) => self.bump_raw(),
                Some(TOKEN_DOLLAR_CURLY) => self.parse_interpol(),
                _ => break,
            }
        }
        self.finish_node();
    }

    /// `${ expr }` at the current (raw) position.
    fn parse_interpol(&mut self) {
        self.builder.start_node(NODE_INTERPOL.into());
        self.bump_raw();
        self.parse_expr();
        self.expect(TOKEN_R_BRACE);
        self.builder.finish_node();
    }

    fn parse_string(&mut self, end: SyntaxKind) {
        self.start_node(NODE_STRING);
        self.bump();
        loop {
            match self.kind_at(self.pos) {
                Some(TOKEN_STRING_CONTENT) => self.bump_raw(),
                Some(TOKEN_DOLLAR_CURLY) => {
                    self.parse_interpol();
                    if self.aborted {
                        break;
                    }
                }
                Some(k) if k == end => {
                    self.bump_raw();
                    break;
                }
                _ => {
                    let r = self.current_range();
                    let what = if end == TOKEN_STRING_END {
                        "unterminated string"
                    } else {
                        "unterminated indented string"
                    };
                    self.error(r, format!("syntax error, {what}"));
                    break;
                }
            }
        }
        self.finish_node();
    }

    /// Attribute path: `a.b."c".${d}`.
    fn parse_attrpath(&mut self) {
        self.start_node(NODE_ATTRPATH);
        self.parse_attr();
        while self.peek() == Some(TOKEN_DOT) {
            self.bump();
            self.parse_attr();
        }
        self.finish_node();
    }

    /// One attribute name: identifier, `or`, string, or `${e}`. Returns false on error.
    fn parse_attr(&mut self) -> bool {
        match self.peek() {
            Some(TOKEN_IDENT | TOKEN_OR) => {
                self.start_node(NODE_IDENT);
                self.bump();
                self.finish_node();
                true
            }
            Some(TOKEN_STRING_START) => {
                self.parse_string(TOKEN_STRING_END);
                true
            }
            Some(TOKEN_DOLLAR_CURLY) => {
                self.start_node(NODE_DYNAMIC);
                self.bump();
                self.parse_expr();
                self.expect(TOKEN_R_BRACE);
                self.finish_node();
                true
            }
            _ => {
                self.error_at_current();
                false
            }
        }
    }

    /// Bindings up to `end` (not consumed).
    fn parse_binds(&mut self, end: SyntaxKind) {
        loop {
            if self.aborted {
                return;
            }
            match self.peek() {
                None => return,
                Some(k) if k == end => return,
                Some(TOKEN_INHERIT) => {
                    self.start_node(NODE_INHERIT);
                    self.bump();
                    if self.peek() == Some(TOKEN_L_PAREN) {
                        self.start_node(NODE_INHERIT_FROM);
                        self.bump();
                        self.parse_expr();
                        self.expect(TOKEN_R_PAREN);
                        self.finish_node();
                    }
                    let mut ok = true;
                    while !matches!(self.peek(), Some(TOKEN_SEMICOLON) | None) {
                        if !self.parse_attr() {
                            ok = false;
                            break;
                        }
                    }
                    if ok {
                        self.expect(TOKEN_SEMICOLON);
                    } else {
                        self.recover_bind(end);
                    }
                    self.finish_node();
                }
                Some(TOKEN_IDENT | TOKEN_OR | TOKEN_STRING_START | TOKEN_DOLLAR_CURLY) => {
                    self.start_node(NODE_ATTRPATH_VALUE);
                    self.parse_attrpath();
                    if self.expect(TOKEN_ASSIGN) {
                        self.parse_expr();
                        if !self.expect(TOKEN_SEMICOLON) {
                            self.recover_bind(end);
                        }
                    } else {
                        self.recover_bind(end);
                    }
                    self.finish_node();
                }
                _ => {
                    self.error_at_current();
                    self.start_node(NODE_ERROR);
                    self.bump();
                    self.recover_bind_inner(end);
                    self.finish_node();
                }
            }
        }
    }

    fn recover_bind(&mut self, end: SyntaxKind) {
        self.start_node(NODE_ERROR);
        self.recover_bind_inner(end);
        self.finish_node();
    }

    /// Skip to just after the next `;` (or up to `end`/EOF).
    fn recover_bind_inner(&mut self, end: SyntaxKind) {
        while let Some(k) = self.peek() {
            if k == end {
                return;
            }
            self.bump();
            if k == TOKEN_SEMICOLON {
                return;
            }
        }
    }
}
