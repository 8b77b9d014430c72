//! Parses every `.nix` file of the conformance suite and the fixtures and checks that the
//! lossless tree prints back the exact input.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "nix") {
            out.push(p);
        }
    }
}

#[test]
fn every_nix_file_round_trips() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = root.join("../shared/conformance/lang");
    let mut files = Vec::new();
    if shared.is_dir() {
        collect(&shared, &mut files);
    } else if std::env::var_os("CI").is_some() {
        panic!("{} is missing (required under CI)", shared.display());
    } else {
        eprintln!("skipping conformance files: {} not found", shared.display());
    }
    let n_shared = files.len();
    collect(&root.join("fixtures"), &mut files);
    collect(&root.join("evaluator/test_data/parser"), &mut files);
    assert!(files.len() > n_shared, "no fixture .nix files found");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let Ok(src) = String::from_utf8(bytes) else {
            // non-UTF-8 inputs are covered by the CLI (lossy decoding)
            continue;
        };
        let parse = evaluator::syntax::parse(&src);
        assert_eq!(
            parse.syntax().to_string(),
            src,
            "round trip failed for {}",
            f.display()
        );
    }
    eprintln!("{} files round-tripped", files.len());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let n = 100_000;
    let src = format!("{}1{}", "(".repeat(n), ")".repeat(n));
    let parse = evaluator::syntax::parse(&src);
    assert!(!parse.errors.is_empty());
    assert!(parse.errors[0].message.contains("nested too deeply"));
    assert_eq!(parse.syntax().to_string(), src);
    for prefix in [
        "[",
        "{a=",
        "!",
        "-",
        "x: ",
        "a.b or ",
        "\"${",
        "let a = 1; in ",
        "if a then b else ",
        "1 + ",
        "f ",
        "a ++ ",
        "a // ",
        "a -> ",
        "a.b.c or a.",
        "./a${",
        "''${",
    ] {
        let src = format!("{}x", prefix.repeat(50_000));
        let parse = evaluator::syntax::parse(&src);
        assert!(!parse.errors.is_empty(), "{prefix}");
        assert_eq!(parse.syntax().to_string(), src);
    }
}

/// Nesting below the limit parses, and lowering/printing it stays within the stack of a
/// normal 2 MiB test thread.
#[test]
fn deep_but_allowed_nesting_prints() {
    use evaluator::syntax::{self, SourceContext};
    let ctx = SourceContext::for_text("«string»");
    for (prefix, n) in [
        ("(", 600),
        ("1 + ", 1500),
        ("f ", 1500),
        ("x: ", 1000),
        ("[", 600),
    ] {
        let close = match prefix {
            "(" => ")".repeat(n),
            "[" => "]".repeat(n),
            _ => String::new(),
        };
        let src = format!("f: x: {}x{}", prefix.repeat(n), close);
        let parse = syntax::parse(&src);
        assert!(
            parse.errors.is_empty(),
            "{prefix}: {:?}",
            parse.errors.first()
        );
        let printed = syntax::print_parse(&parse.root(), &src, &ctx).unwrap();
        assert!(!printed.is_empty());
    }
}
