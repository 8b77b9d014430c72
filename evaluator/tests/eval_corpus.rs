//! Differential corpus: expressions in `test_data/eval/cases/*.nix` with outputs recorded from
//! real Nix 2.8 (`test_data/eval/record.sh`). The default test checks the recorded outputs
//! (no Nix needed). `eval_corpus_live` re-runs the cases against the live `nix-instantiate`
//! when `RNIX_LIVE_NIX=1` or `CI` is set (in CI a missing `nix-instantiate` is a failure).

use std::path::{Path, PathBuf};
use std::process::Command;

use evaluator::eval::{print, with_big_stack, EvalOptions, Evaluator};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/eval/cases")
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("corpus directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().map(|e| e == "nix").unwrap_or(false))
        .collect();
    v.sort();
    v
}

/// Our result for a case: Ok(output bytes) or Err(error message); `json` selects `--json`.
/// Outputs are bytes: Nix strings need not be UTF-8 and are printed as they are.
fn eval_case(ev: &mut Evaluator, path: &Path, json: bool) -> Result<Vec<u8>, String> {
    let v = ev.eval_file(path).map_err(|e| e.msg.clone())?;
    if json {
        ev.force_deep(&v).map_err(|e| e.msg.clone())?;
        print::to_json(ev, &v, true)
            .map(|(s, _)| s)
            .map_err(|e| e.msg.clone())
    } else {
        ev.print_value_bytes(&v, true)
            .map(|mut s| {
                s.push(b'\n');
                s
            })
            .map_err(|e| e.msg.clone())
    }
}

/// Bytes shown in a failure message.
fn show(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

/// A case's source for failure messages (cases may hold bytes that are not UTF-8).
fn source(case: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(case).unwrap()).into_owned()
}

fn new_evaluator() -> Evaluator {
    Evaluator::new(EvalOptions::default())
}

/// Normalise outputs that legitimately differ between runs.
fn run_all(
    check: impl Fn(&Path, bool, &Result<Vec<u8>, String>) -> Option<String> + Send + 'static,
) -> Vec<String> {
    with_big_stack(move || {
        let mut failures = Vec::new();
        for case in cases() {
            for json in [false, true] {
                let mut ev = new_evaluator();
                let ours = eval_case(&mut ev, &case, json);
                if let Some(f) = check(&case, json, &ours) {
                    failures.push(f);
                }
            }
        }
        failures
    })
}

#[test]
fn eval_corpus_recorded() {
    assert!(
        cases().len() >= 300,
        "the corpus must have at least 300 cases"
    );
    let failures = run_all(|case, json, ours| {
        let exp = case.with_extension(if json { "json.exp" } else { "exp" });
        let err = case.with_extension("err");
        let src = source(case);
        if exp.exists() {
            let want = std::fs::read(&exp).unwrap();
            match ours {
                Ok(got) if *got == want => None,
                Ok(got) => Some(format!(
                    "{}{}: `{}`\n  want {}\n  got  {}",
                    case.display(),
                    if json { " (json)" } else { "" },
                    src.trim(),
                    show(&want),
                    show(got)
                )),
                Err(e) => Some(format!(
                    "{}{}: `{}`\n  want {}\n  got error {:?}",
                    case.display(),
                    if json { " (json)" } else { "" },
                    src.trim(),
                    show(&want),
                    e
                )),
            }
        } else if !json && err.exists() {
            match ours {
                Err(_) => None,
                Ok(got) => Some(format!(
                    "{}: `{}` should fail, got {}",
                    case.display(),
                    src.trim(),
                    show(got)
                )),
            }
        } else {
            None
        }
    });
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn eval_corpus_live() {
    let live = std::env::var("RNIX_LIVE_NIX")
        .map(|v| v == "1")
        .unwrap_or(false)
        || std::env::var_os("CI").is_some();
    if !live {
        eprintln!("eval_corpus_live: skipped (set RNIX_LIVE_NIX=1 to compare with the live nix-instantiate)");
        return;
    }
    let have_nix = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have_nix {
        if std::env::var_os("CI").is_some() {
            panic!("eval_corpus_live: CI is set but nix-instantiate is not installed");
        }
        eprintln!("eval_corpus_live: skipped: nix-instantiate not found");
        return;
    }
    let failures = run_all(|case, json, ours| {
        let mut cmd = Command::new("nix-instantiate");
        cmd.args(["--eval", "--strict"]);
        if json {
            cmd.arg("--json");
        }
        cmd.arg(case).env("NIX_PATH", "");
        let out = cmd.output().expect("running nix-instantiate");
        let src = source(case);
        let theirs = if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(())
        };
        match (theirs, ours) {
            (Ok(a), Ok(b)) if a == *b => None,
            (Err(()), Err(_)) => None,
            (a, b) => Some(format!(
                "{}{}: `{}`\n  nix  {:?}\n  rnix {:?}",
                case.display(),
                if json { " (json)" } else { "" },
                src.trim(),
                a.map(|x| show(&x)),
                b.as_ref().map(|x| show(x))
            )),
        }
    });
    assert!(
        failures.is_empty(),
        "{} differences from live Nix:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
