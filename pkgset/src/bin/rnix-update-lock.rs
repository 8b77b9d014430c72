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

use std::path::PathBuf;
use std::process::ExitCode;

use pkgset::lock::{update, Roots, UpdateOptions};

fn usage() -> &'static str {
    "usage: rnix-update-lock [--roots FILE] [--out FILE] [--keyring FILE]\n\
     defaults: --roots pkgs/lock-roots.json --out pkgs/lock.json\n\
     environment: RNIX_DEBIAN_MIRROR, RNIX_DEBIAN_SECURITY_MIRROR, RNIX_PYPI_INDEX,\n\
     RNIX_DEBIAN_KEYRING, RNIX_LOCK_CACHE, RNIX_DEBIAN_IGNORE_VALID_UNTIL=1"
}

fn run() -> anyhow::Result<()> {
    let mut roots = PathBuf::from("pkgs/lock-roots.json");
    let mut out = PathBuf::from("pkgs/lock.json");
    let mut keyring: Option<PathBuf> = None;
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
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(());
            }
            _ => anyhow::bail!("unknown argument `{a}`\n{}", usage()),
        }
    }
    let roots = Roots::read(&roots)?;
    let mut opts = UpdateOptions::from_env(roots);
    if let Some(k) = keyring {
        opts.keyring = k;
    }
    let lock = update(&opts)?;
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
