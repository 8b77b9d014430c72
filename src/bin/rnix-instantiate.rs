//! `rnix-instantiate`: a `nix-instantiate` work-alike. `--parse` is implemented here;
//! the other modes are added by the evaluator.

use clap::Parser;
use evaluator::syntax::{self, SourceContext};
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "rnix-instantiate", about = "Parse or evaluate Nix expressions")]
struct Args {
    /// Print the parsed expression in canonical form
    #[arg(long)]
    parse: bool,
    /// Evaluate and print the value
    #[arg(long)]
    eval: bool,
    /// Evaluate deeply
    #[arg(long)]
    strict: bool,
    /// Print values as JSON
    #[arg(long)]
    json: bool,
    /// Print values as XML
    #[arg(long)]
    xml: bool,
    /// Omit source locations in XML output
    #[arg(long = "no-location")]
    no_location: bool,
    /// Treat the arguments as expressions instead of files
    #[arg(short = 'E', long = "expr")]
    expr: bool,
    /// Pass NAME = EXPR to a top-level function
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "EXPR"], action = clap::ArgAction::Append)]
    arg: Vec<String>,
    /// Pass NAME = "STR" to a top-level function
    #[arg(long = "argstr", num_args = 2, value_names = ["NAME", "STR"], action = clap::ArgAction::Append)]
    argstr: Vec<String>,
    /// Select an attribute of the result
    #[arg(short = 'A', long = "attr")]
    attr: Vec<String>,
    /// Add a search path entry
    #[arg(short = 'I', long = "include")]
    include: Vec<String>,
    /// Show the evaluation trace on errors
    #[arg(long = "show-trace")]
    show_trace: bool,
    /// Allow writes to the store during evaluation
    #[arg(long = "read-write-mode")]
    read_write_mode: bool,
    /// Store root
    #[arg(long)]
    store: Option<String>,
    /// Set a Nix option
    #[arg(long = "option", num_args = 2, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append)]
    option: Vec<String>,
    /// Build timeout in seconds (accepted as nix-instantiate does; nothing is built)
    #[arg(long = "timeout")]
    timeout: Option<String>,
    /// Files (or expressions with -E); `-` reads standard input
    #[arg(value_name = "FILE")]
    files: Vec<String>,
}

/// Read one input: returns (source text, context).
fn read_input(args: &Args, item: &str) -> Result<(String, SourceContext), String> {
    if args.expr {
        return Ok((item.to_string(), SourceContext::for_text("«string»")));
    }
    if item == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("error: reading standard input: {e}"))?;
        return Ok((
            String::from_utf8_lossy(&buf).into_owned(),
            SourceContext::for_text("«stdin»"),
        ));
    }
    let mut path = Path::new(item).to_path_buf();
    if path.is_dir() {
        path = path.join("default.nix");
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("error: getting status of '{}': {e}", path.display()))?;
    Ok((
        String::from_utf8_lossy(&bytes).into_owned(),
        SourceContext::for_file(&path),
    ))
}

fn run_parse(args: &Args) -> ExitCode {
    let items: Vec<String> = if args.files.is_empty() {
        vec![if args.expr {
            String::new()
        } else {
            "./default.nix".into()
        }]
    } else {
        args.files.clone()
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for item in &items {
        let (src, ctx) = match read_input(args, item) {
            Ok(x) => x,
            Err(e) => {
                rnix_util::errln!("{e}");
                return ExitCode::from(1);
            }
        };
        let parse = syntax::parse(&src);
        if !parse.errors.is_empty() {
            const SHOWN: usize = 10;
            for e in parse.errors.iter().take(SHOWN) {
                rnix_util::err!("{}", syntax::render_nix_style(&src, &ctx.file, e));
            }
            if parse.errors.len() > SHOWN {
                rnix_util::errln!(
                    "error: {} more syntax errors not shown",
                    parse.errors.len() - SHOWN
                );
            }
            return ExitCode::from(1);
        }
        match syntax::print_parse(&parse.root(), &src, &ctx) {
            Ok(s) => {
                if writeln!(out, "{s}").is_err() {
                    return ExitCode::from(1);
                }
            }
            Err(e) => {
                rnix_util::err!("{}", syntax::render_nix_style(&src, &ctx.file, &e));
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

/// `--store ROOT` (or `--store=ROOT`) taken out of the arguments and applied as `RNIX_STORE`.
fn take_store_flag(raw: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.into_iter();
    while let Some(a) = it.next() {
        if a == "--store" {
            if let Some(root) = it.next() {
                std::env::set_var("RNIX_STORE", root);
            }
        } else if let Some(root) = a.strip_prefix("--store=") {
            std::env::set_var("RNIX_STORE", root);
        } else {
            out.push(a);
        }
    }
    out
}

/// Plain `nix-instantiate`: evaluate, write the `.drv` files, print their paths
/// (`drv!output` for outputs other than `out`).
fn run_instantiate(args: &Args) -> ExitCode {
    let b = rnix::cli::BuildArgs {
        paths: args.files.clone(),
        expr: args.expr,
        arg: args.arg.clone(),
        argstr: args.argstr.clone(),
        attr: args.attr.clone(),
        out_link: None,
        no_out_link: true,
        include: args.include.clone(),
        show_trace: args.show_trace,
        dry_run: false,
        max_jobs: None,
        cores: None,
        timeout: args.timeout.clone(),
        max_silent_time: None,
        keep_failed: false,
        keep_going: false,
        option: args.option.clone(),
        verbose: 0,
        quiet: true,
        store: args.store.as_ref().map(std::path::PathBuf::from),
    };
    match rnix::build_cmd::evaluate(&b) {
        Ok(drvs) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for d in drvs {
                let line = if d.output_name == "out" {
                    d.drv_path
                } else {
                    format!("{}!{}", d.drv_path, d.output_name)
                };
                if writeln!(out, "{line}").is_err() {
                    return ExitCode::from(1);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            rnix_util::errln!("{}", e.trim_end());
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    rnix_util::tune_malloc();
    // `--eval` (and evaluation without `--parse`) is handled by the evaluator's CLI module.
    let raw: Vec<String> = match rnix_util::utf8_args() {
        Ok(a) => a,
        Err(e) => {
            rnix_util::errln!("{e}");
            return ExitCode::from(1);
        }
    };
    if !raw.iter().any(|a| a == "--parse")
        && raw.iter().any(|a| a == "--eval" || a == "--eval-only")
    {
        let raw = take_store_flag(raw);
        let code = evaluator::eval::cli::run_eval_with(raw, rnix::glue::instantiate_setup);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    let args =
        match Args::try_parse_from(std::iter::once("rnix-instantiate".to_string()).chain(raw)) {
            Ok(a) => a,
            Err(e) => return ExitCode::from(rnix::cli::report_usage_error(e) as u8),
        };
    for pair in args.option.chunks(2) {
        if !rnix_util::is_known_setting(&pair[0]) {
            rnix_util::errln!("warning: unknown setting '{}'", pair[0]);
        }
    }
    if args.parse {
        // Deep trees (long operator chains) are printed recursively: use a large stack.
        return evaluator::eval::with_big_stack(move || run_parse(&args));
    }
    run_instantiate(&args)
}
