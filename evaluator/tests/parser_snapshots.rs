//! Snapshot tests: every `test_data/parser/ok/*.nix` has `*.expect` beside it holding the
//! lossless tree and the canonical `--parse` form; every `test_data/parser/err/*.nix` has
//! the rendered errors. Regenerate with `UPDATE_EXPECT=1 cargo test -p evaluator --test parser_snapshots`.
//! (The `--parse` forms of the `ok` cases were checked against Nix 2.8's `nix-instantiate --parse`.)

use evaluator::syntax::{self, SourceContext};
use std::path::{Path, PathBuf};

fn cases(dir: &str) -> Vec<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/parser")
        .join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "nix"))
        .collect();
    v.sort();
    v
}

fn ctx(name: &str) -> SourceContext {
    SourceContext {
        file: format!("/base/{name}"),
        base_dir: "/base".into(),
        home: "/home/user".into(),
    }
}

fn render(path: &Path) -> (String, bool) {
    let src = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let ctx = ctx(&name);
    let parse = syntax::parse(&src);
    assert_eq!(parse.syntax().to_string(), src, "round trip {name}");
    if !parse.errors.is_empty() {
        let mut out = String::new();
        for e in parse.errors.iter().take(5) {
            out.push_str(&syntax::render_nix_style(&src, &ctx.file, e));
        }
        return (out, false);
    }
    match syntax::print_parse(&parse.root(), &src, &ctx) {
        Ok(printed) => {
            let tree = format!("{:#?}", parse.syntax());
            (format!("{printed}\n---\n{tree}"), true)
        }
        Err(e) => (syntax::render_nix_style(&src, &ctx.file, &e), false),
    }
}

fn check_dir(dir: &str, expect_ok: bool) -> usize {
    let cases = cases(dir);
    for path in &cases {
        let (out, ok) = render(path);
        assert_eq!(
            ok,
            expect_ok,
            "{}: unexpected outcome:\n{out}",
            path.display()
        );
        let exp = path.with_extension("expect");
        expect_test::expect_file![exp].assert_eq(&out);
    }
    cases.len()
}

#[test]
fn snapshots() {
    let ok = check_dir("ok", true);
    let err = check_dir("err", false);
    assert!(ok + err >= 60, "only {} snapshot cases", ok + err);
}
