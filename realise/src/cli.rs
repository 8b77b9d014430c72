//! Command-line operations: `--realise` and `--read-log` (used by `rnix-store` and by the
//! small `rnix-realise` binary of this crate).

#[cfg(test)]
use crate::sandbox::Bind;
use crate::scheduler::{Options, Realiser};
use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;
use store::local::LocalStore;
use store::StorePath;

/// Options from command-line flags: `-jN`/`--max-jobs=N` (or `-j`/`--max-jobs` followed by
/// a number among the arguments), `-k`/`--keep-going`, `-K`/`--keep-failed`,
/// `--no-sandbox`, `-L`/`--print-build-logs`, `-Q`/`--quiet`, `--cores=N`,
/// `--sandbox-paths=/a:/b` (host paths bound read-only at the same place; also taken from
/// `RNIX_SANDBOX_PATHS`). Returns the options and the remaining (non-numeric) arguments.
pub fn parse_options(flags: &[String], args: &[String]) -> Result<(Options, Vec<String>)> {
    let mut o = Options::default();
    let mut args: Vec<String> = args.to_vec();
    let mut sandbox_paths: Option<String> = None;
    let take_number = |args: &mut Vec<String>, what: &str| -> Result<usize> {
        let i = args
            .iter()
            .position(|a| a.parse::<usize>().is_ok())
            .ok_or_else(|| anyhow!("{what} needs a number"))?;
        Ok(args.remove(i).parse()?)
    };
    for f in flags {
        let f = f.as_str();
        if let Some(n) = f.strip_prefix("--max-jobs=") {
            o.max_jobs = n.parse().context("--max-jobs")?;
        } else if f == "-j" || f == "--max-jobs" {
            o.max_jobs = take_number(&mut args, f)?;
        } else if let Some(n) = f.strip_prefix("-j") {
            o.max_jobs = n.parse().context("-j")?;
        } else if let Some(n) = f.strip_prefix("--cores=") {
            o.cores = n.parse().context("--cores")?;
        } else if let Some(p) = f.strip_prefix("--sandbox-paths=") {
            sandbox_paths = Some(p.to_string());
        } else {
            match f {
                "-k" | "--keep-going" => o.keep_going = true,
                "-K" | "--keep-failed" => o.keep_failed = true,
                "--no-sandbox" => o.sandbox = false,
                "-L" | "--print-build-logs" => o.verbosity = 1,
                "-Q" | "--quiet" => o.quiet = true,
                _ => bail!("unknown flag '{f}'"),
            }
        }
    }
    if o.max_jobs == 0 {
        bail!("-j 0 would build nothing");
    }
    if let Some(p) = sandbox_paths {
        o.sandbox_paths = crate::scheduler::parse_sandbox_paths(&p);
    }
    Ok((o, args))
}

/// `--realise PATHS`: builds derivations (`/nix/store/…drv`, optionally `!out1,out2`) and
/// prints their output paths; other paths must be valid and are printed.
pub fn op_realise(store: &LocalStore, flags: &[String], args: &[String]) -> Result<i32> {
    op_realise_with(store, flags, args, crate::BuiltinRegistry::new())
}

/// [`op_realise`] with the builtin builders of `registry` (the root crate registers those of
/// the package set and dockertools).
pub fn op_realise_with(
    store: &LocalStore,
    flags: &[String],
    args: &[String],
    registry: crate::BuiltinRegistry,
) -> Result<i32> {
    let (opts, args) = parse_options(flags, args)?;
    if args.is_empty() {
        bail!("--realise needs at least one path");
    }
    let mut drvs = Vec::new();
    let mut wanted: Vec<(StorePath, Option<Vec<String>>)> = Vec::new();
    let mut plain = Vec::new();
    for a in &args {
        let (path, outs) = match a.split_once('!') {
            Some((p, o)) => (
                p,
                Some(o.split(',').map(str::to_string).collect::<Vec<_>>()),
            ),
            None => (a.as_str(), None),
        };
        let sp = match store.logical_path_of(std::path::Path::new(path)) {
            Some(l) => StorePath::from_absolute(&l)?,
            None => StorePath::from_absolute(path)
                .with_context(|| format!("'{path}' is not a store path"))?,
        };
        if sp.name().ends_with(".drv") {
            drvs.push(sp.clone());
            wanted.push((sp, outs));
        } else {
            plain.push(sp);
        }
    }
    for p in &plain {
        if !store.is_valid(p)? {
            bail!(
                "path '{}' is not valid (and rnix has no substituters)",
                p.to_absolute()
            );
        }
    }
    let r = Realiser::new(store, opts).with_registry(registry);
    let built = r.realise_all(&drvs)?;
    let mut out = std::io::stdout().lock();
    for (d, outs) in wanted {
        let m = &built[&d];
        match outs {
            Some(names) => {
                for n in names {
                    let p = m
                        .get(&n)
                        .ok_or_else(|| anyhow!("derivation '{}' has no output '{n}'", d))?;
                    writeln!(out, "{}", p.to_absolute())?;
                }
            }
            None => {
                for p in m.values() {
                    writeln!(out, "{}", p.to_absolute())?;
                }
            }
        }
    }
    for p in plain {
        writeln!(out, "{}", p.to_absolute())?;
    }
    Ok(0)
}

/// The build log of a derivation or of an output path (through its deriver).
pub fn read_log(store: &LocalStore, path: &str) -> Result<String> {
    let sp = match store.logical_path_of(std::path::Path::new(path)) {
        Some(l) => StorePath::from_absolute(&l)?,
        None => StorePath::from_absolute(path)
            .with_context(|| format!("'{path}' is not a store path"))?,
    };
    let drv = if sp.name().ends_with(".drv") {
        sp
    } else {
        store
            .query_path_info(&sp)?
            .and_then(|i| i.deriver)
            .ok_or_else(|| anyhow!("path '{path}' has no known deriver, so no build log"))?
    };
    let f = Realiser::log_path(store, &drv);
    std::fs::read_to_string(&f)
        .map_err(|_| anyhow!("build log of '{}' is not available", drv.to_absolute()))
}

/// `--read-log PATHS`.
pub fn op_read_log(store: &LocalStore, flags: &[String], args: &[String]) -> Result<i32> {
    if let Some(f) = flags.first() {
        bail!("unknown flag '{f}' for --read-log");
    }
    if args.is_empty() {
        bail!("--read-log needs a path");
    }
    let mut out = std::io::stdout().lock();
    for a in args {
        out.write_all(read_log(store, a)?.as_bytes())?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_from_flags() {
        let (o, rest) = parse_options(
            &s(&[
                "-j",
                "-k",
                "-K",
                "-L",
                "--no-sandbox",
                "--sandbox-paths=/bin:/x=/y",
            ]),
            &s(&["/nix/store/a.drv", "3"]),
        )
        .unwrap();
        assert_eq!(o.max_jobs, 3);
        assert!(o.keep_going && o.keep_failed && !o.sandbox);
        assert_eq!(o.verbosity, 1);
        assert_eq!(rest, s(&["/nix/store/a.drv"]));
        assert_eq!(
            o.sandbox_paths,
            vec![Bind::ro("/bin", "/bin"), Bind::ro("/y", "/x")]
        );
        let (o, _) = parse_options(&s(&["-j7", "--cores=2"]), &[]).unwrap();
        assert_eq!((o.max_jobs, o.cores), (7, 2));
        assert!(parse_options(&s(&["-j0"]), &[]).is_err());
        assert!(parse_options(&s(&["-j"]), &s(&["x.drv"])).is_err());
        assert!(parse_options(&s(&["--frobnicate"]), &[]).is_err());
    }
}
