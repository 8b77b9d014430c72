//! Command-line options shared by `rnix-build` (nix-build's interface).

use clap::{ArgAction, Parser};
use std::path::PathBuf;

/// nix-build's interface: evaluate an expression, realise the derivations it yields and
/// leave `result` symlinks to their outputs.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "rnix-build",
    version,
    about = "Build a Nix expression (nix-build compatible)"
)]
pub struct BuildArgs {
    /// Files or directories to build (a directory means its default.nix); default ./default.nix.
    /// With -E, the expressions to evaluate.
    #[arg(value_name = "FILE | DIR | EXPR")]
    pub paths: Vec<String>,

    /// Interpret the positional arguments as Nix expressions.
    #[arg(short = 'E', long = "expr")]
    pub expr: bool,

    /// Pass NAME = (evaluated EXPR) to the top-level function.
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "EXPR"], action = ArgAction::Append)]
    pub arg: Vec<String>,

    /// Pass NAME = "STRING" to the top-level function.
    #[arg(long = "argstr", num_args = 2, value_names = ["NAME", "STRING"], action = ArgAction::Append)]
    pub argstr: Vec<String>,

    /// Select an attribute of the top-level value (repeatable).
    #[arg(short = 'A', long = "attr", action = ArgAction::Append)]
    pub attr: Vec<String>,

    /// Name of the symlink to the output (default: result).
    #[arg(short = 'o', long = "out-link")]
    pub out_link: Option<PathBuf>,

    /// Do not create a result symlink.
    #[arg(long = "no-out-link")]
    pub no_out_link: bool,

    /// Add a path to the Nix search path (NAME=PATH or PATH).
    #[arg(short = 'I', long = "include", action = ArgAction::Append)]
    pub include: Vec<String>,

    /// Show the full evaluation trace on errors.
    #[arg(long = "show-trace")]
    pub show_trace: bool,

    /// Show what would be built, without building.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Maximum number of parallel builds.
    #[arg(short = 'j', long = "max-jobs")]
    pub max_jobs: Option<String>,

    /// Value of NIX_BUILD_CORES given to builders (0: all cores).
    #[arg(long = "cores")]
    pub cores: Option<String>,

    /// Kill a build that runs longer than this many seconds (0: no limit).
    #[arg(long = "timeout")]
    pub timeout: Option<String>,

    /// Kill a build that writes no output for this many seconds (0: no limit).
    #[arg(long = "max-silent-time")]
    pub max_silent_time: Option<String>,

    /// Keep the build directory of failed builds.
    #[arg(short = 'K', long = "keep-failed")]
    pub keep_failed: bool,

    /// Keep going when a build fails.
    #[arg(short = 'k', long = "keep-going")]
    pub keep_going: bool,

    /// Set a Nix option (e.g. `embedded-nixpkgs false`, `sandbox false`, `tarball-ttl 0`).
    #[arg(long = "option", num_args = 2, value_names = ["NAME", "VALUE"], action = ArgAction::Append)]
    pub option: Vec<String>,

    /// Increase verbosity.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,

    /// Less output.
    #[arg(short = 'Q', long = "quiet")]
    pub quiet: bool,

    /// Physical root of the store (default: $RNIX_STORE or $XDG_DATA_HOME/rnix).
    #[arg(long = "store")]
    pub store: Option<PathBuf>,
}

impl BuildArgs {
    /// `--arg NAME EXPR` pairs.
    pub fn arg_pairs(&self) -> Vec<(String, String)> {
        pairs(&self.arg)
    }
    /// `--argstr NAME STRING` pairs.
    pub fn argstr_pairs(&self) -> Vec<(String, String)> {
        pairs(&self.argstr)
    }
    /// `--option NAME VALUE` pairs.
    pub fn option_pairs(&self) -> Vec<(String, String)> {
        pairs(&self.option)
    }
    /// The value of `--option NAME VALUE`, the last one given.
    pub fn option(&self, name: &str) -> Option<String> {
        self.option_pairs()
            .into_iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
    /// `-j N` (or `auto`) as a number; default: the number of cores.
    pub fn jobs(&self) -> anyhow::Result<usize> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        match self.max_jobs.as_deref() {
            None | Some("auto") => Ok(cores),
            Some(s) => s
                .parse::<usize>()
                .map_err(|_| anyhow::anyhow!("error: '{s}' is not a valid value for --max-jobs")),
        }
    }

    /// `--cores N` (or `--option cores N`); 0 means every core, as in Nix.
    pub fn cores(&self) -> anyhow::Result<usize> {
        let all = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        match self.cores.clone().or_else(|| self.option("cores")) {
            None => Ok(all),
            Some(s) => match s.parse::<usize>() {
                Ok(0) => Ok(all),
                Ok(n) => Ok(n),
                Err(_) => anyhow::bail!("error: '{s}' is not a valid value for --cores"),
            },
        }
    }

    /// A number of seconds from a flag or `--option NAME`; 0 or absent: no limit.
    fn seconds(
        &self,
        flag: &Option<String>,
        name: &str,
    ) -> anyhow::Result<Option<std::time::Duration>> {
        match flag.clone().or_else(|| self.option(name)) {
            None => Ok(None),
            Some(s) => match s.parse::<u64>() {
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(std::time::Duration::from_secs(n))),
                Err(_) => anyhow::bail!("error: '{s}' is not a valid value for --{name}"),
            },
        }
    }

    /// `--timeout N` (or `--option timeout N`).
    pub fn timeout(&self) -> anyhow::Result<Option<std::time::Duration>> {
        self.seconds(&self.timeout, "timeout")
    }

    /// `--max-silent-time N` (or `--option max-silent-time N`).
    pub fn max_silent_time(&self) -> anyhow::Result<Option<std::time::Duration>> {
        self.seconds(&self.max_silent_time, "max-silent-time")
    }

    /// `--option` names that Nix does not know, each once (Nix warns about them).
    pub fn unknown_options(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (n, _) in self.option_pairs() {
            if !rnix_util::is_known_setting(&n) && !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}

/// Print a command-line parsing error (or `--help`/`--version`) and return the exit code:
/// 0 for help and version, 1 for errors, as Nix's tools do (clap would use 2).
pub fn report_usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    let code = match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
        _ => 1,
    };
    let _ = e.print();
    code
}

fn pairs(v: &[String]) -> Vec<(String, String)> {
    v.chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nix_build_flags() {
        let a = BuildArgs::try_parse_from([
            "rnix-build",
            "--arg",
            "isDev",
            "true",
            "--argstr",
            "n",
            "v",
            "-A",
            "x.y",
            "-o",
            "out",
            "-j",
            "2",
            "--option",
            "sandbox",
            "false",
            "-vv",
            "default.nix",
        ])
        .unwrap();
        assert_eq!(a.arg_pairs(), vec![("isDev".into(), "true".into())]);
        assert_eq!(a.argstr_pairs(), vec![("n".into(), "v".into())]);
        assert_eq!(a.attr, vec!["x.y".to_string()]);
        assert_eq!(a.out_link, Some(PathBuf::from("out")));
        assert_eq!(a.jobs().unwrap(), 2);
        assert_eq!(a.option("sandbox").as_deref(), Some("false"));
        assert_eq!(a.verbose, 2);
        assert_eq!(a.paths, vec!["default.nix".to_string()]);
    }

    #[test]
    fn expr_mode_and_bad_jobs() {
        let a = BuildArgs::try_parse_from([
            "rnix-build",
            "-E",
            "with import <nixpkgs> {}; hello",
            "-j",
            "x",
        ])
        .unwrap();
        assert!(a.expr);
        assert!(a.jobs().is_err());
    }
}
