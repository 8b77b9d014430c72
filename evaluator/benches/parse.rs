//! Parse throughput benchmark (no external harness).
//!
//! `cargo bench -p evaluator --bench parse -- FILE [ITERATIONS]` parses FILE ITERATIONS times
//! (default 5) and prints the best MB/s for `parse` alone and for `parse` + `print_parse`
//! (what `rnix-instantiate --parse` does). Without FILE it generates a ~10 MB input.
//! `bench/parse.sh` wraps it and compares with `nix-instantiate --parse`.

use evaluator::syntax::{self, SourceContext};
use std::time::Instant;

/// A large Nix file without undefined variables (also used by bench/parse.sh).
pub fn generate(target_bytes: usize) -> String {
    let mut s =
        String::from("let\n  f = x: y: x + y;\n  g = { a, b ? 2, ... }@args: a * b;\nin rec {\n");
    let mut i = 0usize;
    while s.len() < target_bytes {
        s.push_str(&format!(
            "  attr{i} = {{\n    name = \"item-${{toString {i}}}\";\n    value = f {i} (g {{ a = {i}; }});\n    \
             list = [ 1 2.5 \"str\" ./some/path/{i} ({i} - 1) ];\n    nested.deep.attr = if {i} > 3 then true else false;\n    \
             text = ''\n      line one\n        indented ${{toString {i}}}\n    '';\n    inherit f;\n  }};\n"
        ));
        i += 1;
    }
    s.push_str("}\n");
    s
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let src = match args.first() {
        Some(f) => std::fs::read_to_string(f).expect("read input file"),
        None => generate(10 << 20),
    };
    let iterations: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let ctx = SourceContext::for_text("«bench»");
    let mb = src.len() as f64 / 1e6;
    let mut best_parse = f64::MAX;
    let mut best_total = f64::MAX;
    for _ in 0..iterations {
        let t = Instant::now();
        let parse = syntax::parse(&src);
        let tp = t.elapsed().as_secs_f64();
        assert!(
            parse.errors.is_empty(),
            "benchmark input has errors: {:?}",
            parse.errors[0]
        );
        let out = syntax::print_parse(&parse.root(), &src, &ctx).expect("print");
        let tt = t.elapsed().as_secs_f64();
        std::hint::black_box(out);
        best_parse = best_parse.min(tp);
        best_total = best_total.min(tt);
    }
    println!("input: {:.2} MB", mb);
    println!(
        "parse:          {:8.3} s  {:8.2} MB/s",
        best_parse,
        mb / best_parse
    );
    println!(
        "parse+print:    {:8.3} s  {:8.2} MB/s",
        best_total,
        mb / best_total
    );
}
