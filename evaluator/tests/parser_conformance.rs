//! Runs the parser's canonical printer on the upstream `parse-*` tests that Nix 2.8 passes
//! (`../shared/conformance/visible-parse.txt`) without needing the CLI binary.

use evaluator::syntax::{self, SourceContext};
use std::path::Path;

#[test]
fn visible_parse_tests() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    let list = conf.join("visible-parse.txt");
    let Ok(names) = std::fs::read_to_string(&list) else {
        if std::env::var_os("CI").is_some() {
            panic!("{} missing (required under CI)", list.display());
        }
        eprintln!("skipping: {} not found", list.display());
        return;
    };
    let lang = conf.join("lang");
    let mut failures = Vec::new();
    for name in names
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let file = lang.join(format!("{name}.nix"));
        let src = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        let parse = syntax::parse(&src);
        let mut ctx = SourceContext::for_file(&file);
        ctx.home = "/fake-home".into();
        let printed = if parse.errors.is_empty() {
            syntax::print_parse(&parse.root(), &src, &ctx).map_err(|e| e.message)
        } else {
            Err(parse.errors[0].message.clone())
        };
        if name.starts_with("parse-okay") {
            let exp = std::fs::read_to_string(lang.join(format!("{name}.exp"))).unwrap();
            let here = std::fs::canonicalize(&conf).unwrap();
            match printed {
                Ok(s) => {
                    let got = format!("{s}\n").replace(&here.to_string_lossy().to_string(), "/pwd");
                    if got != exp {
                        failures.push(format!("{name}: got\n{got}expected\n{exp}"));
                    }
                }
                Err(e) => failures.push(format!("{name}: unexpected error {e}")),
            }
        } else if let Ok(s) = printed {
            failures.push(format!("{name}: expected an error, got {s}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
