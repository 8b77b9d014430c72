//! `rnix-update-lock [--roots pkgs/lock-roots.json] [--out pkgs/lock.json]`
//!
//! Resolves the roots against Debian bookworm (+updates, +security; InRelease checked
//! against the Debian archive keyring) and the PyPI index (PEP 691), downloads and
//! verifies every pinned file, and writes the lock deterministically. Nothing is written
//! when any check fails.
//!
//! Environment: RNIX_DEBIAN_MIRROR, RNIX_DEBIAN_SECURITY_MIRROR (else apt's sources),
//! RNIX_PYPI_INDEX (else PIP_INDEX_URL, pip.conf index-url, pip's default),
//! RNIX_DEBIAN_KEYRING, RNIX_LOCK_CACHE, RNIX_DEBIAN_IGNORE_VALID_UNTIL=1 (old snapshots).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pkgset::lock::{model::INDEX_PATH, update_all, Roots, UpdateOptions};

fn usage() -> &'static str {
    "usage: rnix-update-lock [--roots FILE] [--out FILE] [--index FILE] [--keyring FILE]\n\
     defaults: --roots pkgs/lock-roots.json --out pkgs/lock.json\n\
     --index snapshot/debian-bookworm.json.zst with the default --out, else\n\
     debian-index.json.zst beside --out (the whole archive, every package with its\n\
     resolved dependencies; the package set reads it for any Debian package)\n\
     environment: RNIX_DEBIAN_MIRROR, RNIX_DEBIAN_SECURITY_MIRROR, RNIX_PYPI_INDEX,\n\
     RNIX_DEBIAN_KEYRING, RNIX_LOCK_CACHE, RNIX_DEBIAN_IGNORE_VALID_UNTIL=1"
}

fn run() -> anyhow::Result<()> {
    let mut roots = PathBuf::from("pkgs/lock-roots.json");
    let mut out = PathBuf::from("pkgs/lock.json");
    let mut keyring: Option<PathBuf> = None;
    let mut index_out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .map(PathBuf::from)
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--roots" => roots = val("--roots")?,
            "--out" => out = val("--out")?,
            "--keyring" => keyring = Some(val("--keyring")?),
            "--index" => index_out = Some(val("--index")?),
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(());
            }
            _ => anyhow::bail!("unknown argument `{a}`\n{}", usage()),
        }
    }
    // Beside a lock written elsewhere than the default place, unless given.
    let index_out = index_out.unwrap_or_else(|| {
        if out == Path::new("pkgs/lock.json") {
            PathBuf::from(INDEX_PATH)
        } else {
            out.with_file_name("debian-index.json.zst")
        }
    });
    let roots = Roots::read(&roots)?;
    let mut opts = UpdateOptions::from_env(roots);
    if let Some(k) = keyring {
        opts.keyring = k;
    }
    let up = update_all(&opts)?;
    let lock = up.lock;
    if let Some(index) = &up.index {
        for (p, msgs) in &up.broken {
            eprintln!("rnix-update-lock: warning: {p}: {}", msgs.join("; "));
        }
        index.write_index(&index_out)?;
        eprintln!(
            "rnix-update-lock: wrote {} ({} Debian packages, {} groups)",
            index_out.display(),
            index.packages.len(),
            index.groups.len()
        );
    }
    lock.write(&out)?;
    let deb_size: u64 = lock.debian.packages.values().map(|p| p.size).sum();
    let whl_size: u64 = lock.pypi.values().map(|p| p.size).sum();
    eprintln!(
        "rnix-update-lock: wrote {} ({} Debian packages, {} bytes; {} wheels, {} bytes)",
        out.display(),
        lock.debian.packages.len(),
        deb_size,
        lock.pypi.len(),
        whl_size
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rnix-update-lock: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
