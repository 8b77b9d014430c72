//! `rnix-store`: a `nix-store`-compatible command line over [`LocalStore`].
//!
//! The root crate's `src/bin/rnix-store.rs` calls [`main_with`], passing extra operations
//! (e.g. `--realise`, `--read-log`) implemented by other crates.

use crate::hash::HashAlgo;
use crate::local::{LocalStore, StoreError};
use crate::nar::{self, SymlinkPolicy};
use crate::store_path::{FileIngestionMethod, StorePath};
use anyhow::{anyhow, bail, Context};
use std::collections::BTreeSet;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// An extra operation: `(flag, handler)`; the handler gets the opened store, the remaining
/// option flags (`--foo`) and the positional arguments, and returns the exit code.
pub type ExtraOp = (
    &'static str,
    fn(&LocalStore, &[String], &[String]) -> anyhow::Result<i32>,
);

const USAGE: &str = "usage: rnix-store [--store ROOT] OPERATION [OPTIONS] [ARGS]
operations:
  --dump PATH                 write the NAR serialisation of PATH to stdout
  --restore PATH              restore a NAR from stdin into PATH
  --add PATHS                 add paths (recursive, sha256) and print their store paths
  --add-fixed [--recursive] ALGO PATHS
  --query|-q --references|--requisites|-R|--referrers|--deriver|--hash|--size PATHS
  --verify [--check-contents]
  --gc [--print-dead]
  --hash-path [--type ALGO] [--base32] PATH   NAR hash of PATH (as nix-hash)
  --realise, --read-log       (when built with the realiser)
store root: --store ROOT, else $RNIX_STORE, else $XDG_DATA_HOME/rnix";

/// Entry point used by the binary: parse `std::env::args`, run, exit.
pub fn main_with(extra: &[ExtraOp]) -> ! {
    let args: Vec<String> = match rnix_util::utf8_args() {
        Ok(a) => a,
        Err(e) => {
            rnix_util::errln!("{e}");
            std::process::exit(1)
        }
    };
    let code = match run(&args, extra) {
        Ok(c) => c,
        Err(e) => {
            rnix_util::errln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code)
}

/// Run `rnix-store` with the given arguments (without the program name).
pub fn run(args: &[String], extra: &[ExtraOp]) -> anyhow::Result<i32> {
    let mut store_root: Option<PathBuf> = None;
    let mut op: Option<String> = None;
    let mut flags: Vec<String> = Vec::new();
    let mut pos: Vec<String> = Vec::new();
    let mut it = args.iter();
    let ops = [
        "--dump",
        "--restore",
        "--add",
        "--add-fixed",
        "--query",
        "-q",
        "--verify",
        "--gc",
        "--hash-path",
    ];
    while let Some(a) = it.next() {
        match a.as_str() {
            "--store" => {
                store_root = Some(
                    it.next()
                        .ok_or_else(|| anyhow!("--store needs a ROOT"))?
                        .into(),
                )
            }
            "--help" | "-h" => {
                rnix_util::outln!("{USAGE}");
                return Ok(0);
            }
            "--" => pos.extend(it.by_ref().cloned()),
            s if ops.contains(&s) || extra.iter().any(|(f, _)| *f == s) => {
                if op.is_some() {
                    bail!("only one operation may be given\n{USAGE}");
                }
                op = Some(if s == "-q" {
                    "--query".into()
                } else {
                    s.into()
                });
            }
            "-R" => flags.push("--requisites".into()),
            s if s.starts_with('-') && s.len() > 1 => flags.push(s.into()),
            s => pos.push(s.into()),
        }
    }
    let op = op.ok_or_else(|| anyhow!("no operation specified\n{USAGE}"))?;
    let open = || -> anyhow::Result<LocalStore> {
        Ok(match &store_root {
            Some(r) => LocalStore::open(r)?,
            None => LocalStore::open_default()?,
        })
    };
    let known = |allowed: &[&str]| -> anyhow::Result<()> {
        for f in &flags {
            if !allowed.contains(&f.as_str()) {
                bail!("unknown flag '{f}' for {op}");
            }
        }
        Ok(())
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match op.as_str() {
        "--dump" => {
            known(&[])?;
            let [p] = pos.as_slice() else {
                bail!("--dump takes exactly one path");
            };
            nar::dump_path(Path::new(p), &mut out).with_context(|| format!("dumping {p}"))?;
        }
        "--hash-path" => {
            let mut algo = HashAlgo::Sha256;
            let mut rest = pos.as_slice();
            if flags.iter().any(|f| f == "--type") {
                let (a, r) = rest
                    .split_first()
                    .ok_or_else(|| anyhow!("--type needs an algorithm"))?;
                algo = a.parse()?;
                rest = r;
            }
            known(&["--type", "--base32"])?;
            for p in rest {
                let (h, _) = nar::hash_path_filtered(Path::new(p), algo, &mut |_, _| Ok(true))
                    .with_context(|| format!("hashing {p}"))?;
                if flags.iter().any(|f| f == "--base32") {
                    writeln!(out, "{}", h.to_base32())?;
                } else {
                    writeln!(out, "{}", h.to_base16())?;
                }
            }
        }
        "--restore" => {
            known(&[])?;
            let [p] = pos.as_slice() else {
                bail!("--restore takes exactly one path");
            };
            let stdin = io::stdin();
            let mut r = io::BufReader::new(stdin.lock());
            nar::restore(&mut r, Path::new(p), SymlinkPolicy::InsideStore)
                .with_context(|| format!("restoring NAR into {p}"))?;
        }
        "--add" | "--add-fixed" => {
            let mut method = FileIngestionMethod::Recursive;
            let mut algo = HashAlgo::Sha256;
            let mut paths = pos.as_slice();
            if op == "--add-fixed" {
                known(&["--recursive"])?;
                if !flags.iter().any(|f| f == "--recursive") {
                    method = FileIngestionMethod::Flat;
                }
                let (a, rest) = paths
                    .split_first()
                    .ok_or_else(|| anyhow!("--add-fixed needs a hash algorithm"))?;
                algo = a.parse()?;
                paths = rest;
            } else {
                known(&[])?;
            }
            let store = open()?;
            for p in paths {
                let src = Path::new(p);
                let name = src
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| anyhow!("cannot take a store name from '{p}'"))?;
                let sp = if op == "--add" {
                    store.add_to_store(name, src, method, None)
                } else {
                    store.add_to_store_slow(name, src, method, algo)
                };
                let sp = sp.with_context(|| format!("adding '{p}'"))?;
                writeln!(out, "{sp}")?;
            }
        }
        "--query" => {
            let store = open()?;
            let q: Vec<&String> = flags.iter().collect();
            let [q] = q.as_slice() else {
                bail!("--query needs exactly one of --references, --requisites, --referrers, --deriver, --hash, --size");
            };
            let paths = pos
                .iter()
                .map(|p| resolve_path(&store, p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            match q.as_str() {
                "--references" | "--referrers" => {
                    let mut all = BTreeSet::new();
                    for p in &paths {
                        if q.as_str() == "--references" {
                            all.extend(store.references(p)?);
                        } else {
                            store.path_info(p)?;
                            all.extend(store.referrers(p)?);
                        }
                    }
                    for p in all {
                        writeln!(out, "{p}")?;
                    }
                }
                "--requisites" => {
                    for p in store.requisites_ordered(&paths)? {
                        writeln!(out, "{p}")?;
                    }
                }
                "--deriver" => {
                    for p in &paths {
                        match store.path_info(p)?.deriver {
                            Some(d) => writeln!(out, "{d}")?,
                            None => writeln!(out, "unknown-deriver")?,
                        }
                    }
                }
                "--hash" => {
                    for p in &paths {
                        writeln!(out, "{}", store.path_info(p)?.nar_hash)?;
                    }
                }
                "--size" => {
                    for p in &paths {
                        writeln!(out, "{}", store.path_info(p)?.nar_size)?;
                    }
                }
                other => bail!("unknown query '{other}'"),
            }
        }
        "--verify" => {
            known(&["--check-contents"])?;
            let store = open()?;
            rnix_util::errln!("reading the Nix store...");
            if flags.iter().any(|f| f == "--check-contents") {
                rnix_util::errln!("checking hashes...");
            }
            let rep = store.verify(flags.iter().any(|f| f == "--check-contents"))?;
            for e in &rep.errors {
                rnix_util::errln!("error: {e}");
            }
            out.flush()?;
            return Ok(if rep.is_clean() { 0 } else { 1 });
        }
        "--gc" => {
            known(&["--print-dead"])?;
            let store = open()?;
            let print_dead = flags.iter().any(|f| f == "--print-dead");
            rnix_util::errln!("finding garbage collector roots...");
            let res = store.collect_garbage(print_dead)?;
            if print_dead {
                for p in &res.dead {
                    writeln!(out, "{p}")?;
                }
            } else {
                for p in &res.dead {
                    rnix_util::errln!("deleting '{p}'");
                }
                writeln!(
                    out,
                    "{} store paths deleted, {:.2} MiB freed",
                    res.dead.len(),
                    res.bytes_freed as f64 / (1024.0 * 1024.0)
                )?;
            }
        }
        other => {
            let (_, h) = extra
                .iter()
                .find(|(f, _)| *f == other)
                .ok_or_else(|| anyhow!("unknown operation '{other}'"))?;
            let store = open()?;
            out.flush()?;
            return h(&store, &flags, &pos);
        }
    }
    out.flush()?;
    Ok(0)
}

/// Turn a command-line path into a store path: a logical `/nix/store/…` path, a physical
/// path inside the store root, or a symlink (like `result`) to one of these.
pub fn resolve_path(store: &LocalStore, arg: &str) -> anyhow::Result<StorePath> {
    if let Ok((sp, _)) = StorePath::from_absolute_prefix(arg) {
        return Ok(sp);
    }
    let mut p = PathBuf::from(arg);
    for _ in 0..40 {
        let abs = if p.is_absolute() {
            p.clone()
        } else {
            std::env::current_dir()?.join(&p)
        };
        if let Ok(rel) = abs.strip_prefix(store.store_dir()) {
            let first = rel
                .components()
                .next()
                .ok_or_else(|| anyhow!("'{arg}' is the store directory itself"))?;
            return Ok(StorePath::from_base_name(
                first.as_os_str().to_str().unwrap_or_default(),
            )?);
        }
        if let Ok((sp, _)) = StorePath::from_absolute_prefix(&abs.to_string_lossy()) {
            return Ok(sp);
        }
        match std::fs::read_link(&abs) {
            Ok(t) => p = abs.parent().map(|d| d.join(&t)).unwrap_or(t),
            Err(_) => break,
        }
    }
    Err(StoreError::Other(format!("path '{arg}' is not in the store")).into())
}
