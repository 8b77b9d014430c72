//! The `--eval` mode of `rnix-instantiate` (argument parsing, evaluation, printing).
//!
//! The binary calls [`run_eval`] with its arguments (without the program name). The glue
//! layer can customise the evaluator (store hooks, builtins) through the `setup` callback.

use std::path::{Path, PathBuf};

use super::{with_big_stack, EvalOptions, Evaluator, Thunk, Value};

/// Parsed command line of `nix-instantiate --eval`.
#[derive(Clone, Debug, Default)]
pub struct EvalArgs {
    pub strict: bool,
    pub json: bool,
    pub xml: bool,
    pub no_location: bool,
    pub show_trace: bool,
    pub expr: Option<String>,
    pub files: Vec<String>,
    pub args: Vec<(String, String)>,
    pub argstrs: Vec<(String, String)>,
    pub attr_paths: Vec<String>,
    pub include: Vec<String>,
    /// `--option NAME VALUE` pairs, in order.
    pub options: Vec<(String, String)>,
}

impl EvalArgs {
    /// Parse `nix-instantiate` style arguments (`--eval` itself is accepted and ignored).
    pub fn parse(argv: &[String]) -> Result<EvalArgs, String> {
        let mut a = EvalArgs::default();
        let mut i = 0;
        let mut is_expr = false;
        let need = |i: usize, n: usize, name: &str| -> Result<(), String> {
            if i + n >= argv.len() {
                Err(format!("flag '{name}' requires {n} argument(s)"))
            } else {
                Ok(())
            }
        };
        while i < argv.len() {
            let s = argv[i].as_str();
            match s {
                "--eval" | "--eval-only" | "--parse-only" | "--read-write-mode"
                | "--readonly-mode" => {}
                // Build settings, meaningless for evaluation (nix-instantiate accepts them).
                "--timeout" | "--max-silent-time" | "--cores" | "-j" | "--max-jobs" => {
                    need(i, 1, s)?;
                    i += 1;
                }
                "--strict" => a.strict = true,
                "--json" => a.json = true,
                "--xml" => a.xml = true,
                "--no-location" => a.no_location = true,
                "--show-trace" => a.show_trace = true,
                "--no-show-trace" => a.show_trace = false,
                "-E" | "--expr" => is_expr = true,
                "--arg" => {
                    need(i, 2, s)?;
                    a.args.push((argv[i + 1].clone(), argv[i + 2].clone()));
                    i += 2;
                }
                "--argstr" => {
                    need(i, 2, s)?;
                    a.argstrs.push((argv[i + 1].clone(), argv[i + 2].clone()));
                    i += 2;
                }
                "-A" | "--attr" => {
                    need(i, 1, s)?;
                    a.attr_paths.push(argv[i + 1].clone());
                    i += 1;
                }
                "-I" | "--include" => {
                    need(i, 1, s)?;
                    a.include.push(argv[i + 1].clone());
                    i += 1;
                }
                "--option" => {
                    need(i, 2, s)?;
                    if !rnix_util::is_known_setting(&argv[i + 1]) {
                        rnix_util::errln!("warning: unknown setting '{}'", argv[i + 1]);
                    }
                    a.options.push((argv[i + 1].clone(), argv[i + 2].clone()));
                    i += 2;
                }
                _ if s.starts_with("-I") && s.len() > 2 => a.include.push(s[2..].to_string()),
                _ if s.starts_with('-') && s != "-" => {
                    return Err(format!("unrecognised flag '{s}'"))
                }
                _ => a.files.push(s.to_string()),
            }
            i += 1;
        }
        if is_expr {
            if a.files.is_empty() {
                return Err("no expression given with -E".into());
            }
            a.expr = Some(a.files.remove(0));
        }
        Ok(a)
    }
}

/// Build an evaluator from parsed arguments (search path from `-I` then `NIX_PATH`).
pub fn make_evaluator(a: &EvalArgs) -> Evaluator {
    let mut opts = EvalOptions {
        show_trace: a.show_trace,
        ..Default::default()
    };
    for i in &a.include {
        opts.add_search_path(i);
    }
    opts.add_nix_path_env();
    Evaluator::new(opts)
}

/// Evaluate `--arg`/`--argstr` into thunks.
pub fn auto_args(ev: &mut Evaluator, a: &EvalArgs) -> super::Result<Vec<(String, Thunk)>> {
    let mut out = Vec::new();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    for (n, e) in &a.args {
        let v = ev.eval_expr(e, &cwd)?;
        out.push((n.clone(), Thunk::new(v)));
    }
    for (n, s) in &a.argstrs {
        out.push((n.clone(), Thunk::new(Value::string(s.clone()))));
    }
    Ok(out)
}

/// Run the evaluation part of `nix-instantiate --eval`; prints results to stdout and errors
/// to stderr; returns the process exit code. `setup` may install hooks and builtins.
pub fn run_eval_with(argv: Vec<String>, setup: fn(&mut Evaluator, &EvalArgs)) -> i32 {
    with_big_stack(move || {
        let a = match EvalArgs::parse(&argv) {
            Ok(a) => a,
            Err(e) => {
                rnix_util::errln!("error: {e}");
                return 1;
            }
        };
        let mut ev = make_evaluator(&a);
        setup(&mut ev, &a);
        match eval_and_print(&mut ev, &a) {
            Ok(out) => {
                use std::io::Write;
                let mut so = std::io::stdout().lock();
                let _ = so.write_all(&out);
                let _ = so.flush();
                0
            }
            Err(e) => {
                rnix_util::errln!("{}", ev.format_error(&e));
                1
            }
        }
    })
}

/// [`run_eval_with`] without customisation.
pub fn run_eval(argv: Vec<String>) -> i32 {
    run_eval_with(argv, |_, _| {})
}

/// Evaluate what the arguments ask for and render the output text.
/// The output is bytes: Nix strings need not be UTF-8, and are printed as they are.
pub fn eval_and_print(ev: &mut Evaluator, a: &EvalArgs) -> super::Result<Vec<u8>> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut roots = Vec::new();
    if let Some(e) = &a.expr {
        roots.push(ev.eval_expr(e, &cwd)?);
    } else if a.files.is_empty() {
        roots.push(ev.eval_file(Path::new("default.nix"))?);
    } else {
        for f in &a.files {
            if f == "-" {
                let mut s = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut s)
                    .map_err(|e| super::mkerr(e.to_string()))?;
                let s = crate::syntax::source::source_text(s);
                roots.push(ev.eval_source_text(&s, &cwd)?);
            } else if f.starts_with('<') && f.ends_with('>') {
                roots.push(ev.eval_expr(f, &cwd)?);
            } else {
                roots.push(ev.eval_file(Path::new(f))?);
            }
        }
    }
    let args = auto_args(ev, a)?;
    let mut out: Vec<u8> = Vec::new();
    let paths = if a.attr_paths.is_empty() {
        vec![String::new()]
    } else {
        a.attr_paths.clone()
    };
    for root in roots {
        for p in &paths {
            let v = ev.select_attr_path(root.clone(), p, &args)?;
            // nix-instantiate --eval auto-calls the result only when arguments were given
            // (a function with defaults prints as <LAMBDA> otherwise).
            let v = if args.is_empty() {
                v
            } else {
                ev.auto_call(v, &args)?
            };
            if a.xml {
                if a.strict {
                    ev.force_deep(&v)?;
                }
                out.extend_from_slice(&super::print::to_xml(ev, &v, !a.no_location)?.0);
            } else if a.json {
                if a.strict {
                    ev.force_deep(&v)?;
                }
                // nix-instantiate 2.8 prints JSON without a trailing newline
                out.extend_from_slice(&super::print::to_json(ev, &v, true)?.0);
            } else {
                out.extend_from_slice(&super::print::print_nix(ev, &v, a.strict)?);
                out.push(b'\n');
            }
        }
    }
    Ok(out)
}
