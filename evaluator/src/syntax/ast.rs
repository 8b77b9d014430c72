//! Typed AST over the rowan tree.

use super::kind::SyntaxKind::{self, *};
use super::kind::{SyntaxNode, SyntaxToken};
use rowan::TextRange;

macro_rules! node {
    ($(#[$m:meta])* $name:ident, $kind:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(pub SyntaxNode);
        impl $name {
            pub fn cast(node: SyntaxNode) -> Option<Self> {
                (node.kind() == $kind).then(|| Self(node))
            }
            pub fn syntax(&self) -> &SyntaxNode {
                &self.0
            }
            pub fn range(&self) -> TextRange {
                self.0.text_range()
            }
        }
    };
}

fn child<T>(node: &SyntaxNode, f: impl Fn(SyntaxNode) -> Option<T>) -> Option<T> {
    node.children().find_map(f)
}

fn nth_expr(node: &SyntaxNode, n: usize) -> Option<Expr> {
    node.children().filter_map(Expr::cast).nth(n)
}

fn token(node: &SyntaxNode, kind: SyntaxKind) -> Option<SyntaxToken> {
    node.children_with_tokens()
        .filter_map(|e| e.into_token())
        .find(|t| t.kind() == kind)
}

/// Any expression node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    Apply(Apply),
    Assert(Assert),
    AttrSet(AttrSet),
    BinOp(BinOp),
    HasAttr(HasAttr),
    Ident(Ident),
    IfElse(IfElse),
    Lambda(Lambda),
    LegacyLet(LegacyLet),
    LetIn(LetIn),
    List(List),
    Literal(Literal),
    Paren(Paren),
    Path(Path),
    Select(Select),
    Str(Str),
    UnaryOp(UnaryOp),
    With(With),
    /// A syntax error placeholder.
    Error(ErrorNode),
}

impl Expr {
    pub fn cast(node: SyntaxNode) -> Option<Self> {
        Some(match node.kind() {
            NODE_APPLY => Expr::Apply(Apply(node)),
            NODE_ASSERT => Expr::Assert(Assert(node)),
            NODE_ATTR_SET => Expr::AttrSet(AttrSet(node)),
            NODE_BIN_OP => Expr::BinOp(BinOp(node)),
            NODE_HAS_ATTR => Expr::HasAttr(HasAttr(node)),
            NODE_IDENT => Expr::Ident(Ident(node)),
            NODE_IF_ELSE => Expr::IfElse(IfElse(node)),
            NODE_LAMBDA => Expr::Lambda(Lambda(node)),
            NODE_LEGACY_LET => Expr::LegacyLet(LegacyLet(node)),
            NODE_LET_IN => Expr::LetIn(LetIn(node)),
            NODE_LIST => Expr::List(List(node)),
            NODE_LITERAL => Expr::Literal(Literal(node)),
            NODE_PAREN => Expr::Paren(Paren(node)),
            NODE_PATH => Expr::Path(Path(node)),
            NODE_SELECT => Expr::Select(Select(node)),
            NODE_STRING => Expr::Str(Str(node)),
            NODE_UNARY_OP => Expr::UnaryOp(UnaryOp(node)),
            NODE_WITH => Expr::With(With(node)),
            NODE_ERROR => Expr::Error(ErrorNode(node)),
            _ => return None,
        })
    }
    pub fn syntax(&self) -> &SyntaxNode {
        match self {
            Expr::Apply(n) => &n.0,
            Expr::Assert(n) => &n.0,
            Expr::AttrSet(n) => &n.0,
            Expr::BinOp(n) => &n.0,
            Expr::HasAttr(n) => &n.0,
            Expr::Ident(n) => &n.0,
            Expr::IfElse(n) => &n.0,
            Expr::Lambda(n) => &n.0,
            Expr::LegacyLet(n) => &n.0,
            Expr::LetIn(n) => &n.0,
            Expr::List(n) => &n.0,
            Expr::Literal(n) => &n.0,
            Expr::Paren(n) => &n.0,
            Expr::Path(n) => &n.0,
            Expr::Select(n) => &n.0,
            Expr::Str(n) => &n.0,
            Expr::UnaryOp(n) => &n.0,
            Expr::With(n) => &n.0,
            Expr::Error(n) => &n.0,
        }
    }
    pub fn range(&self) -> TextRange {
        self.syntax().text_range()
    }
}

node!(
    /// The whole file.
    Root, NODE_ROOT);
impl Root {
    pub fn expr(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
}

node!(ErrorNode, NODE_ERROR);

node!(
    /// `f x`
    Apply, NODE_APPLY);
impl Apply {
    pub fn lambda(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
    pub fn argument(&self) -> Option<Expr> {
        nth_expr(&self.0, 1)
    }
}

node!(
    /// `assert c; body`
    Assert, NODE_ASSERT);
impl Assert {
    pub fn condition(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
    pub fn body(&self) -> Option<Expr> {
        nth_expr(&self.0, 1)
    }
}

node!(
    /// `with e; body`
    With, NODE_WITH);
impl With {
    pub fn namespace(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
    pub fn body(&self) -> Option<Expr> {
        nth_expr(&self.0, 1)
    }
}

node!(
    /// `if c then a else b`
    IfElse, NODE_IF_ELSE);
impl IfElse {
    pub fn condition(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
    pub fn body(&self) -> Option<Expr> {
        nth_expr(&self.0, 1)
    }
    pub fn else_body(&self) -> Option<Expr> {
        nth_expr(&self.0, 2)
    }
}

/// Items shared by `{ }`, `rec { }`, `let … in` and `let { }`.
pub trait HasEntries {
    fn node(&self) -> &SyntaxNode;
    fn entries(&self) -> Vec<Entry> {
        self.node().children().filter_map(Entry::cast).collect()
    }
}

/// A binding: `a.b = e;` or `inherit …;`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entry {
    AttrpathValue(AttrpathValue),
    Inherit(Inherit),
}
impl Entry {
    pub fn cast(node: SyntaxNode) -> Option<Self> {
        match node.kind() {
            NODE_ATTRPATH_VALUE => Some(Entry::AttrpathValue(AttrpathValue(node))),
            NODE_INHERIT => Some(Entry::Inherit(Inherit(node))),
            _ => None,
        }
    }
}

node!(
    /// `{ … }` or `rec { … }`
    AttrSet, NODE_ATTR_SET);
impl AttrSet {
    pub fn is_rec(&self) -> bool {
        token(&self.0, TOKEN_REC).is_some()
    }
}
impl HasEntries for AttrSet {
    fn node(&self) -> &SyntaxNode {
        &self.0
    }
}

node!(
    /// `let … in body`
    LetIn, NODE_LET_IN);
impl LetIn {
    pub fn body(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
}
impl HasEntries for LetIn {
    fn node(&self) -> &SyntaxNode {
        &self.0
    }
}

node!(
    /// Legacy `let { …; body = e; }` (means `(rec { … }).body`).
    LegacyLet, NODE_LEGACY_LET);
impl HasEntries for LegacyLet {
    fn node(&self) -> &SyntaxNode {
        &self.0
    }
}

node!(
    /// `a.b.c = value;`
    AttrpathValue, NODE_ATTRPATH_VALUE);
impl AttrpathValue {
    pub fn attrpath(&self) -> Option<Attrpath> {
        child(&self.0, Attrpath::cast)
    }
    pub fn value(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
}

node!(
    /// `a.b."c".${d}`
    Attrpath, NODE_ATTRPATH);
impl Attrpath {
    pub fn attrs(&self) -> Vec<Attr> {
        self.0.children().filter_map(Attr::cast).collect()
    }
}

/// One attribute name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attr {
    Ident(Ident),
    Str(Str),
    Dynamic(Dynamic),
}
impl Attr {
    pub fn cast(node: SyntaxNode) -> Option<Self> {
        match node.kind() {
            NODE_IDENT => Some(Attr::Ident(Ident(node))),
            NODE_STRING => Some(Attr::Str(Str(node))),
            NODE_DYNAMIC => Some(Attr::Dynamic(Dynamic(node))),
            _ => None,
        }
    }
    pub fn syntax(&self) -> &SyntaxNode {
        match self {
            Attr::Ident(n) => &n.0,
            Attr::Str(n) => &n.0,
            Attr::Dynamic(n) => &n.0,
        }
    }
    /// The name if it is static (an identifier, or a string / `${"…"}` without interpolation).
    pub fn static_name(&self) -> Option<String> {
        match self {
            Attr::Ident(i) => Some(i.name()),
            Attr::Str(s) => s.as_literal(),
            Attr::Dynamic(d) => match d.expr()? {
                Expr::Str(s) => s.as_literal(),
                _ => None,
            },
        }
    }
}

node!(
    /// `${ e }` as an attribute name.
    Dynamic, NODE_DYNAMIC);
impl Dynamic {
    pub fn expr(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
}

node!(
    /// `inherit a b;` / `inherit (e) a b;`
    Inherit, NODE_INHERIT);
impl Inherit {
    pub fn from(&self) -> Option<InheritFrom> {
        child(&self.0, InheritFrom::cast)
    }
    pub fn attrs(&self) -> Vec<Attr> {
        self.0.children().filter_map(Attr::cast).collect()
    }
}

node!(InheritFrom, NODE_INHERIT_FROM);
impl InheritFrom {
    pub fn expr(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOpKind {
    Concat,
    Update,
    Add,
    Sub,
    Mul,
    Div,
    And,
    Or,
    Implication,
    Equal,
    NotEqual,
    Less,
    LessOrEq,
    More,
    MoreOrEq,
}

impl BinOpKind {
    pub fn from_token(kind: SyntaxKind) -> Option<Self> {
        Some(match kind {
            TOKEN_CONCAT => BinOpKind::Concat,
            TOKEN_UPDATE => BinOpKind::Update,
            TOKEN_ADD => BinOpKind::Add,
            TOKEN_SUB => BinOpKind::Sub,
            TOKEN_MUL => BinOpKind::Mul,
            TOKEN_DIV => BinOpKind::Div,
            TOKEN_AND_AND => BinOpKind::And,
            TOKEN_OR_OR => BinOpKind::Or,
            TOKEN_IMPLICATION => BinOpKind::Implication,
            TOKEN_EQUAL => BinOpKind::Equal,
            TOKEN_NOT_EQUAL => BinOpKind::NotEqual,
            TOKEN_LESS => BinOpKind::Less,
            TOKEN_LESS_OR_EQ => BinOpKind::LessOrEq,
            TOKEN_MORE => BinOpKind::More,
            TOKEN_MORE_OR_EQ => BinOpKind::MoreOrEq,
            _ => return None,
        })
    }
}

node!(
    /// `a op b`
    BinOp, NODE_BIN_OP);
impl BinOp {
    pub fn lhs(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
    pub fn rhs(&self) -> Option<Expr> {
        nth_expr(&self.0, 1)
    }
    pub fn operator_token(&self) -> Option<SyntaxToken> {
        self.0
            .children_with_tokens()
            .filter_map(|e| e.into_token())
            .find(|t| BinOpKind::from_token(t.kind()).is_some())
    }
    pub fn operator(&self) -> Option<BinOpKind> {
        self.operator_token()
            .and_then(|t| BinOpKind::from_token(t.kind()))
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOpKind {
    Invert,
    Negate,
}

node!(
    /// `!e` or `-e`
    UnaryOp, NODE_UNARY_OP);
impl UnaryOp {
    pub fn operator(&self) -> Option<UnaryOpKind> {
        self.0
            .children_with_tokens()
            .filter_map(|e| e.into_token())
            .find_map(|t| match t.kind() {
                TOKEN_INVERT => Some(UnaryOpKind::Invert),
                TOKEN_SUB => Some(UnaryOpKind::Negate),
                _ => None,
            })
    }
    pub fn value(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
}

node!(
    /// `e ? a.b`
    HasAttr, NODE_HAS_ATTR);
impl HasAttr {
    pub fn expr(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
    pub fn attrpath(&self) -> Option<Attrpath> {
        child(&self.0, Attrpath::cast)
    }
}

node!(
    /// `e.a.b` or `e.a.b or default`
    Select, NODE_SELECT);
impl Select {
    pub fn expr(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
    pub fn attrpath(&self) -> Option<Attrpath> {
        child(&self.0, Attrpath::cast)
    }
    pub fn default_expr(&self) -> Option<Expr> {
        nth_expr(&self.0, 1)
    }
}

node!(
    /// An identifier (variable reference, attribute name, parameter); also the `or` keyword
    /// used as an identifier.
    Ident, NODE_IDENT);
impl Ident {
    pub fn token(&self) -> Option<SyntaxToken> {
        self.0
            .children_with_tokens()
            .filter_map(|e| e.into_token())
            .find(|t| matches!(t.kind(), TOKEN_IDENT | TOKEN_OR))
    }
    pub fn name(&self) -> String {
        self.token()
            .map(|t| t.text().to_string())
            .unwrap_or_default()
    }
}

/// Literal values.
#[derive(Debug, Clone, PartialEq)]
pub enum LiteralValue {
    Int(i64),
    Float(f64),
    Uri(String),
}

node!(
    /// Integer, float or URI.
    Literal, NODE_LITERAL);
impl Literal {
    pub fn token(&self) -> Option<SyntaxToken> {
        self.0
            .children_with_tokens()
            .filter_map(|e| e.into_token())
            .find(|t| matches!(t.kind(), TOKEN_INTEGER | TOKEN_FLOAT | TOKEN_URI))
    }
    /// The value; `Err` for an integer that does not fit in 64 bits (Nix: "invalid integer").
    pub fn value(&self) -> Result<LiteralValue, String> {
        let t = self.token().ok_or_else(|| "missing literal".to_string())?;
        match t.kind() {
            TOKEN_INTEGER => t
                .text()
                .parse::<i64>()
                .map(LiteralValue::Int)
                .map_err(|_| format!("invalid integer '{}'", t.text())),
            TOKEN_FLOAT => {
                let text = t.text();
                // As Nix's strtod check: a value out of range (overflow to infinity, or a
                // non-zero literal that underflows to zero or a subnormal) is invalid.
                let nonzero_digits = text
                    .split(['e', 'E'])
                    .next()
                    .is_some_and(|m| m.bytes().any(|b| (b'1'..=b'9').contains(&b)));
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() && (f.is_normal() || (f == 0.0 && !nonzero_digits)) => {
                        Ok(LiteralValue::Float(f))
                    }
                    _ => Err(format!("invalid float '{text}'")),
                }
            }
            _ => Ok(LiteralValue::Uri(t.text().to_string())),
        }
    }
}

node!(
    /// `[ a b c ]`
    List, NODE_LIST);
impl List {
    pub fn items(&self) -> Vec<Expr> {
        self.0.children().filter_map(Expr::cast).collect()
    }
}

node!(
    /// `( e )`
    Paren, NODE_PAREN);
impl Paren {
    pub fn expr(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
}

node!(
    /// `${ e }` inside a string or path.
    Interpol, NODE_INTERPOL);
impl Interpol {
    pub fn expr(&self) -> Option<Expr> {
        nth_expr(&self.0, 0)
    }
}

/// A part of a string or path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text (escapes resolved, indentation stripped).
    Literal(String),
    Interpolation(Interpol),
}

/// What kind of path literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// `./a`, `../a`, `a/b`: relative to the file's directory
    Relative,
    /// `/a`
    Absolute,
    /// `~/a`
    Home,
    /// `<nixpkgs/lib>`
    Search,
}

node!(
    /// A path literal, possibly with interpolations.
    Path, NODE_PATH);
impl Path {
    pub fn kind(&self) -> PathKind {
        let first = self
            .0
            .children_with_tokens()
            .filter_map(|e| e.into_token())
            .find(|t| matches!(t.kind(), TOKEN_PATH | TOKEN_SEARCH_PATH));
        match first {
            Some(t) if t.kind() == TOKEN_SEARCH_PATH => PathKind::Search,
            Some(t) if t.text().starts_with('~') => PathKind::Home,
            Some(t) if t.text().starts_with('/') => PathKind::Absolute,
            _ => PathKind::Relative,
        }
    }
    /// For `<a/b>`: `a/b`.
    pub fn search_path(&self) -> Option<String> {
        token(&self.0, TOKEN_SEARCH_PATH).map(|t| {
            let s = t.text();
            s[1..s.len() - 1].to_string()
        })
    }
    /// Raw text fragments and interpolations, in order.
    pub fn parts(&self) -> Vec<Part> {
        let mut out = Vec::new();
        for e in self.0.children_with_tokens() {
            match e {
                rowan::NodeOrToken::Token(t) if t.kind() == TOKEN_PATH => {
                    out.push(Part::Literal(t.text().to_string()))
                }
                rowan::NodeOrToken::Node(n) => {
                    if let Some(i) = Interpol::cast(n) {
                        out.push(Part::Interpolation(i))
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// Resolve Nix string escapes and normalise CR / CR LF to LF (Nix's `unescapeStr`).
pub fn unescape_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            },
            '\r' => {
                out.push('\n');
                if it.peek() == Some(&'\n') {
                    it.next();
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// One token of an indented string before indentation stripping.
enum IndPart {
    /// raw text that counts for indentation
    Raw(String),
    /// escape result or lone `$`/`'`: ends start-of-line whitespace
    Escaped(String),
    Interp(Interpol),
}

node!(
    /// `"…"` or `''…''`
    Str, NODE_STRING);
impl Str {
    pub fn is_indented(&self) -> bool {
        token(&self.0, TOKEN_IND_STRING_START).is_some()
    }

    /// The parts of the string as Nix's parser produces them: escapes resolved, and for
    /// indented strings the indentation stripped exactly like Nix's `stripIndentation`.
    /// Adjacent literal parts are NOT merged (Nix keeps one part per lexer token).
    pub fn normalized_parts(&self) -> Vec<Part> {
        if self.is_indented() {
            self.ind_parts()
        } else {
            let mut out = Vec::new();
            for e in self.0.children_with_tokens() {
                match e {
                    rowan::NodeOrToken::Token(t) if t.kind() == TOKEN_STRING_CONTENT => {
                        out.push(Part::Literal(unescape_str(t.text())))
                    }
                    rowan::NodeOrToken::Node(n) => {
                        if let Some(i) = Interpol::cast(n) {
                            out.push(Part::Interpolation(i))
                        }
                    }
                    _ => {}
                }
            }
            out
        }
    }

    /// The string's value if it has no interpolation.
    pub fn as_literal(&self) -> Option<String> {
        let mut s = String::new();
        for p in self.normalized_parts() {
            match p {
                Part::Literal(l) => s.push_str(&l),
                Part::Interpolation(_) => return None,
            }
        }
        Some(s)
    }

    fn ind_parts(&self) -> Vec<Part> {
        let mut es: Vec<IndPart> = Vec::new();
        for e in self.0.children_with_tokens() {
            match e {
                rowan::NodeOrToken::Token(t) if t.kind() == TOKEN_STRING_CONTENT => {
                    let s = t.text();
                    if s == "''$" || s == "$" {
                        es.push(IndPart::Escaped("$".into()))
                    } else if s == "'''" {
                        es.push(IndPart::Escaped("''".into()))
                    } else if let Some(rest) = s.strip_prefix("''\\") {
                        es.push(IndPart::Escaped(unescape_str(&format!("\\{rest}"))))
                    } else if s == "'" {
                        es.push(IndPart::Escaped("'".into()))
                    } else {
                        es.push(IndPart::Raw(s.to_string()))
                    }
                }
                rowan::NodeOrToken::Node(n) => {
                    if let Some(i) = Interpol::cast(n) {
                        es.push(IndPart::Interp(i))
                    }
                }
                _ => {}
            }
        }
        strip_indentation(es)
    }
}

fn strip_indentation(es: Vec<IndPart>) -> Vec<Part> {
    if es.is_empty() {
        return vec![Part::Literal(String::new())];
    }
    // Pass 1: minimum indentation.
    let mut at_start = true;
    let mut min_indent = usize::MAX;
    let mut cur_indent = 0usize;
    for p in &es {
        match p {
            IndPart::Raw(s) => {
                for c in s.bytes() {
                    if at_start {
                        if c == b' ' {
                            cur_indent += 1;
                        } else if c == b'\n' {
                            cur_indent = 0;
                        } else {
                            at_start = false;
                            min_indent = min_indent.min(cur_indent);
                        }
                    } else if c == b'\n' {
                        at_start = true;
                        cur_indent = 0;
                    }
                }
            }
            _ => {
                if at_start {
                    at_start = false;
                    min_indent = min_indent.min(cur_indent);
                }
            }
        }
    }
    // Pass 2: strip.
    let mut out = Vec::new();
    at_start = true;
    let mut cur_dropped = 0usize;
    let n_total = es.len();
    for (idx, p) in es.into_iter().enumerate() {
        let s = match p {
            IndPart::Interp(i) => {
                at_start = false;
                cur_dropped = 0;
                out.push(Part::Interpolation(i));
                continue;
            }
            IndPart::Raw(s) | IndPart::Escaped(s) => s,
        };
        let mut s2 = Vec::with_capacity(s.len());
        for c in s.bytes() {
            if at_start {
                if c == b' ' {
                    if cur_dropped >= min_indent {
                        s2.push(c);
                    }
                    cur_dropped += 1;
                } else if c == b'\n' {
                    cur_dropped = 0;
                    s2.push(c);
                } else {
                    at_start = false;
                    cur_dropped = 0;
                    s2.push(c);
                }
            } else {
                s2.push(c);
                if c == b'\n' {
                    at_start = true;
                }
            }
        }
        // Remove the last line if it is empty and consists only of spaces.
        if idx + 1 == n_total {
            if let Some(p) = s2.iter().rposition(|&c| c == b'\n') {
                if s2[p + 1..].iter().all(|&c| c == b' ') {
                    s2.truncate(p + 1);
                }
            }
        }
        out.push(Part::Literal(String::from_utf8_lossy(&s2).into_owned()));
    }
    out
}

node!(
    /// `x: body`, `{ a, b ? 1, ... }: body`, `args@{ … }: body`
    Lambda, NODE_LAMBDA);
impl Lambda {
    /// The plain parameter `x` of `x: …` (None for patterns).
    pub fn ident_param(&self) -> Option<Ident> {
        self.0.first_child().and_then(Ident::cast)
    }
    pub fn pattern(&self) -> Option<Pattern> {
        child(&self.0, Pattern::cast)
    }
    pub fn body(&self) -> Option<Expr> {
        let skip = usize::from(self.ident_param().is_some());
        self.0.children().filter_map(Expr::cast).nth(skip)
    }
}

node!(
    /// `{ a, b ? 1, ... }` with an optional `@name` binding on either side.
    Pattern, NODE_PATTERN);
impl Pattern {
    pub fn entries(&self) -> Vec<PatEntry> {
        self.0.children().filter_map(PatEntry::cast).collect()
    }
    pub fn has_ellipsis(&self) -> bool {
        token(&self.0, TOKEN_ELLIPSIS).is_some()
    }
    /// The `@` name.
    pub fn bind(&self) -> Option<Ident> {
        child(&self.0, PatBind::cast).and_then(|b| child(&b.0, Ident::cast))
    }
}

node!(PatBind, NODE_PAT_BIND);

node!(
    /// `a` or `a ? default` in a pattern.
    PatEntry, NODE_PAT_ENTRY);
impl PatEntry {
    pub fn ident(&self) -> Option<Ident> {
        child(&self.0, Ident::cast)
    }
    pub fn default(&self) -> Option<Expr> {
        self.0.children().filter_map(Expr::cast).nth(1)
    }
}
