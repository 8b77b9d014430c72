//! Fuzzing the parser with proptest: random token soups and mutated corpus files.
//! Properties: no panic, the tree prints back the exact input, and the canonical printer,
//! the checks and the error renderers never panic.
//!
//! Default run is short (part of `cargo test`). Long run:
//! `PARSER_FUZZ_SECONDS=600 cargo test -p evaluator --release --test parser_fuzz -- --nocapture`

use evaluator::syntax::{self, SourceContext};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::Path;
use std::time::{Duration, Instant};

const FRAGMENTS: &[&str] = &[
    "let",
    "in",
    "rec",
    "inherit",
    "if",
    "then",
    "else",
    "assert",
    "with",
    "or",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ";",
    ":",
    ",",
    ".",
    "...",
    "?",
    "@",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "&&",
    "||",
    "->",
    "//",
    "++",
    "+",
    "-",
    "*",
    "/",
    "!",
    "${",
    "\"",
    "''",
    "'''",
    "''$",
    "''\\n",
    "$",
    "'",
    "\\",
    "x",
    "or",
    "a.b",
    "__curPos",
    "1",
    "0.5",
    ".5",
    "1.",
    "1e3",
    "123456789012345678901234567890",
    "./a",
    "./a/${",
    "~/a",
    "/abs",
    "a/b",
    "<nixpkgs>",
    "http://x/y?z",
    "#c\n",
    "/* c */",
    "/*",
    "*/",
    " ",
    "\n",
    "\r\n",
    "\t",
    "é",
    "\u{0}",
    "x:",
    "{ a, b ? 1, ... }:",
    "args@{ ... }:",
    "\"a${b}c\"",
    "''\n  a\n  ''",
];

fn check(src: &str) {
    let parse = syntax::parse(src);
    assert_eq!(parse.syntax().to_string(), src, "round trip");
    let ctx = SourceContext {
        file: "/fuzz.nix".into(),
        base_dir: "/".into(),
        home: "/home".into(),
    };
    for e in &parse.errors {
        let _ = syntax::render_nix_style(src, &ctx.file, e);
    }
    let _ = syntax::render_codespan(src, &ctx.file, &parse.errors);
    if parse.errors.is_empty() {
        match syntax::print_parse(&parse.root(), src, &ctx) {
            Ok(s) => assert!(!s.is_empty()),
            Err(e) => {
                let _ = syntax::render_nix_style(src, &ctx.file, &e);
            }
        }
    }
}

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(FRAGMENTS).prop_map(str::to_string),
            1 => any::<char>().prop_map(|c| c.to_string()),
        ],
        0..60,
    )
    .prop_map(|v| v.concat())
}

fn corpus() -> Vec<String> {
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        root.join("test_data/parser/ok"),
        root.join("test_data/parser/err"),
        root.join("../../shared/conformance/lang"),
        root.join("../fixtures/simple-python-api"),
    ] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "nix") {
                    if let Ok(s) = std::fs::read_to_string(e.path()) {
                        if s.len() < 20_000 {
                            out.push(s);
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    Duplicate(usize, usize),
    Swap(usize, usize),
}

fn mutated(corpus: Vec<String>) -> impl Strategy<Value = String> {
    let n = corpus.len().max(1);
    let mutation = prop_oneof![
        (any::<usize>(), 0usize..20).prop_map(|(a, l)| Mutation::Delete(a, l)),
        (any::<usize>(), prop::sample::select(FRAGMENTS))
            .prop_map(|(a, f)| Mutation::Insert(a, f.to_string())),
        (any::<usize>(), 0usize..40).prop_map(|(a, l)| Mutation::Duplicate(a, l)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
    ];
    (0..n, prop::collection::vec(mutation, 1..8)).prop_map(move |(i, muts)| {
        let mut chars: Vec<char> = corpus.get(i).cloned().unwrap_or_default().chars().collect();
        for m in muts {
            let len = chars.len().max(1);
            match m {
                Mutation::Delete(a, l) => {
                    let a = a % len;
                    let b = (a + l).min(chars.len());
                    if a < b {
                        chars.drain(a..b);
                    }
                }
                Mutation::Insert(a, f) => {
                    let a = a % (chars.len() + 1);
                    chars.splice(a..a, f.chars());
                }
                Mutation::Duplicate(a, l) => {
                    let a = a % len;
                    let b = (a + l).min(chars.len());
                    if a < b {
                        let piece: Vec<char> = chars[a..b].to_vec();
                        chars.splice(b..b, piece);
                    }
                }
                Mutation::Swap(a, b) => {
                    if !chars.is_empty() {
                        let (a, b) = (a % chars.len(), b % chars.len());
                        chars.swap(a, b);
                    }
                }
            }
        }
        chars.into_iter().collect()
    })
}

fn run_for(strategy: impl Strategy<Value = String>, budget: Option<Duration>, cases: u32) -> u64 {
    let start = Instant::now();
    let mut total = 0u64;
    loop {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |s| {
                check(&s);
                Ok(())
            })
            .unwrap();
        total += u64::from(cases);
        match budget {
            Some(b) if start.elapsed() < b => continue,
            _ => return total,
        }
    }
}

fn budget() -> Option<Duration> {
    std::env::var("PARSER_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
}

#[test]
fn fuzz_token_soup() {
    let n = run_for(soup(), budget().map(|b| b / 2), 512);
    eprintln!("token soup: {n} cases without a failure");
}

#[test]
fn fuzz_mutated_corpus() {
    let c = corpus();
    assert!(!c.is_empty(), "no corpus files found");
    let n = run_for(mutated(c), budget().map(|b| b / 2), 256);
    eprintln!("mutated corpus: {n} cases without a failure");
}
