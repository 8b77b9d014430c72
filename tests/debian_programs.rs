//! Programs of the Debian-backed package set (pkgs/debian-names.nix) run inside the build
//! sandbox: `tests/debian/programs.nix` has one `runCommand` per program that fails its
//! build unless the program answers as expected (hello, jq, sqlite3, lua, php, a redis
//! server and client, a memcached server with a python client, git, javac + java, a
//! postgres cluster queried with psql), and writes the checked answer to `$out`.
//!
//! All of them are built by one rnix-build in the shared store; a tag unique to the run
//! rebuilds the checks (never the packages). Fetching the packages needs the Debian mirror
//! of apt's sources.
//!
//! nodejs, perl and ruby's `require "json"` do not work yet (paths under /usr compiled into
//! them); see the comment in programs.nix.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Attribute of programs.nix -> what its output file holds.
const EXPECTED: &[(&str, &str)] = &[
    ("hello", "Hello, world!\n"),
    ("jq", "1\n"),
    ("sqlite", "42\n"),
    ("lua", "3\n"),
    ("perl", "6\n"),
    ("ruby", "[1,1]\n"),
    ("php", "42\n"),
    ("redis", "PONG\n"),
    ("memcached", "STORED\nVALUE k 0 2\nhi\nEND\n"),
    ("git", "m\n"),
    ("java", "Hello from Java\n"),
    ("postgresql", "1\n"),
];

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn debian_programs_run_in_the_sandbox() {
    if !namespaces_or_skip() {
        return;
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/debian/programs.nix");
    let store = shared_store();
    let tag = nonce();
    let mut args: Vec<String> = vec![
        file.display().to_string(),
        "--argstr".into(),
        "tag".into(),
        tag,
        "--no-out-link".into(),
        "--keep-going".into(),
    ];
    for (attr, _) in EXPECTED {
        args.push("-A".into());
        args.push(attr.to_string());
    }
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_rnix-build"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RNIX_STORE", &store)
        .stdin(Stdio::null())
        .output()
        .expect("running rnix-build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "rnix-build of {} checks: {} in {:.1} s\n--- stderr (tail) ---\n{}",
        EXPECTED.len(),
        out.status,
        started.elapsed().as_secs_f64(),
        tail(&stderr, 30)
    );
    assert!(
        out.status.success(),
        "rnix-build of tests/debian/programs.nix failed ({}); stderr tail:\n{}",
        out.status,
        tail(&stderr, 80)
    );

    // The output paths, by the name of their check derivation.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut outputs = BTreeMap::new();
    for line in stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let name = line.rsplit('/').next().unwrap();
        if let Some((_, attr)) = name.split_once("-rnix-debian-check-") {
            outputs.insert(attr.to_string(), line.to_string());
        }
    }
    let mut failures = Vec::new();
    for (attr, expected) in EXPECTED {
        let Some(path) = outputs.get(*attr) else {
            failures.push(format!("{attr}: no output path on stdout"));
            continue;
        };
        match std::fs::read_to_string(path) {
            Ok(got) if got == *expected => {}
            Ok(got) => failures.push(format!("{attr}: {got:?}, expected {expected:?}")),
            Err(e) => failures.push(format!("{attr}: reading {path}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "wrong outputs:\n{}\nstdout:\n{stdout}",
        failures.join("\n")
    );
}
