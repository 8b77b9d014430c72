//! Small utilities shared by rnix's crates.
//!
//! [`errln!`] and [`outln!`] are `eprintln!`/`println!` that never panic: std's macros panic
//! when the stream is a closed pipe (`rnix-instantiate … 2>&1 | head -1`), while Nix's tools
//! end quietly. A failed write is ignored; the exit code stays the program's own.

pub mod bytes_text;

/// `eprintln!` that ignores write errors (closed or full stderr).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that ignores write errors.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::write!(::std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that ignores write errors (closed stdout).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stdout(), $($arg)*);
    }};
}

/// The program's arguments as UTF-8 strings (without the program name), or one clear
/// error naming the first argument that is not valid UTF-8 (std's `env::args` panics).
pub fn utf8_args() -> Result<Vec<String>, String> {
    std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string().map_err(|a| {
                format!(
                    "error: command-line argument '{}' is not valid UTF-8, which rnix does not support",
                    a.to_string_lossy()
                )
            })
        })
        .collect()
}

/// Settings rnix uses itself; the others of [`NIX_SETTINGS`] are accepted and ignored.
pub const RNIX_SETTINGS: &[&str] = &[
    "embedded-nixpkgs",
    "sandbox",
    "tarball-ttl",
    "cores",
    "max-jobs",
    "timeout",
    "max-silent-time",
];

/// Nix 2.8's setting names (nix.conf), which `--option` accepts without a warning.
pub const NIX_SETTINGS: &[&str] = &[
    "accept-flake-config",
    "access-tokens",
    "allow-dirty",
    "allow-import-from-derivation",
    "allow-symlinked-store",
    "allow-unsafe-native-code-during-evaluation",
    "allowed-impure-host-deps",
    "allowed-uris",
    "allowed-users",
    "auto-optimise-store",
    "build-dir",
    "build-hook",
    "build-poll-interval",
    "build-users-group",
    "builders",
    "builders-use-substitutes",
    "commit-lockfile-summary",
    "compress-build-log",
    "connect-timeout",
    "cores",
    "diff-hook",
    "download-attempts",
    "download-speed",
    "eval-cache",
    "experimental-features",
    "extra-platforms",
    "fallback",
    "filter-syscalls",
    "flake-registry",
    "fsync-metadata",
    "gc-reserved-space",
    "hashed-mirrors",
    "http-connections",
    "http2",
    "ignored-acls",
    "impersonate-linux-26",
    "keep-build-log",
    "keep-derivations",
    "keep-env-derivations",
    "keep-failed",
    "keep-going",
    "keep-outputs",
    "log-lines",
    "max-build-log-size",
    "max-free",
    "max-jobs",
    "max-silent-time",
    "min-free",
    "min-free-check-interval",
    "nar-buffer-size",
    "narinfo-cache-negative-ttl",
    "narinfo-cache-positive-ttl",
    "netrc-file",
    "nix-path",
    "plugin-files",
    "post-build-hook",
    "pre-build-hook",
    "preallocate-contents",
    "print-missing",
    "pure-eval",
    "require-sigs",
    "restrict-eval",
    "run-diff-hook",
    "sandbox",
    "sandbox-build-dir",
    "sandbox-dev-shm-size",
    "sandbox-fallback",
    "sandbox-paths",
    "secret-key-files",
    "show-trace",
    "ssl-cert-file",
    "stalled-download-timeout",
    "store",
    "substitute",
    "substituters",
    "sync-before-registering",
    "system",
    "system-features",
    "tarball-ttl",
    "timeout",
    "trace-function-calls",
    "trusted-public-keys",
    "trusted-substituters",
    "trusted-users",
    "use-case-hack",
    "use-registries",
    "use-sqlite-wal",
    "user-agent-suffix",
    "warn-dirty",
];

/// Whether `--option NAME` names a setting (Nix's `extra-` prefix included).
pub fn is_known_setting(name: &str) -> bool {
    let n = name.strip_prefix("extra-").unwrap_or(name);
    RNIX_SETTINGS.contains(&n) || NIX_SETTINGS.contains(&n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_settings() {
        assert!(super::is_known_setting("sandbox"));
        assert!(super::is_known_setting("extra-substituters"));
        assert!(!super::is_known_setting("foo"));
    }

    #[test]
    fn macros_ignore_errors() {
        errln!("x {}", 1);
        err!("y");
        outln!("z");
    }
}

/// Lets glibc's allocator grow the heap in large steps (32 MiB instead of 128 KiB): evaluation
/// allocates many small objects on one thread, and growing that thread's heap a page range at
/// a time costs thousands of `mprotect` calls. Call it first thing in `main`.
pub fn tune_malloc() {
    // SAFETY: mallopt only sets allocator parameters; it is called before other threads start.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 32 << 20);
    }
}
