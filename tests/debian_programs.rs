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
    ("node", "2,4,6 npm-10\n"),
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

/// Issue 12, acceptance 4: a lock whose sha256 for a `.deb` was changed makes the download fail
/// with the hash mismatch, and the package is not built (nothing registered for it).
#[test]
fn tampered_deb_hash_is_refused() {
    if !namespaces_or_skip() {
        return;
    }
    let index = pkgset::lock::DebianLock::from_index_bytes(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("snapshot/debian-bookworm.json.zst"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut lock =
        pkgset::lock::debian::subset(&index, &["hello".to_string()], &Default::default()).unwrap();
    let good = lock.packages["hello"].sha256.clone();
    let bad: String = good
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    lock.packages.get_mut("hello").unwrap().sha256 = bad.clone();
    let file = serde_json::json!({ "version": 2, "debian": lock, "pypi": {} });
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("lock.json"), file.to_string()).unwrap();
    std::fs::write(
        tmp.path().join("default.nix"),
        "(import <nixpkgs> { lockFile = ./lock.json; }).hello\n",
    )
    .unwrap();
    // a store of its own: the genuine .deb must not be there already
    let store = tmp.path().join("store");
    let out = rnix_build(tmp.path(), &store, &["default.nix", "--no-out-link"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("hash mismatch"), "{err}");
    assert!(
        err.contains("specified:") && err.contains("got:"),
        "the error shows both hashes: {err}"
    );
    let names: Vec<String> = std::fs::read_dir(store.join("nix/store"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with(|c: char| c.is_ascii_alphanumeric())
                && n.contains("hello")
                && !n.ends_with(".drv")),
        "a hello path was registered: {names:?}"
    );
}

/// Issue 12, acceptance 1: every attribute of tests/debian/versions.nix (the nixpkgs names
/// the issue lists) runs in the sandbox and prints what is expected (one rnix-build,
/// `--keep-going`, so that every failure is reported).
#[test]
fn listed_attributes_run_in_the_sandbox() {
    if !namespaces_or_skip() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/debian");
    let text = std::fs::read_to_string(dir.join("versions.nix")).unwrap();
    let body = &text[text.find("checks = {").expect("a checks set")..];
    let body = &body[..body.find("\n  };").expect("the end of the checks")];
    let attrs: Vec<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter_map(|l| l.split_once(" = [").map(|(a, _)| a.trim().to_string()))
        .collect();
    assert!(attrs.len() >= 75, "only {} checks found", attrs.len());
    let mut args: Vec<String> = vec![
        "versions.nix".into(),
        "--keep-going".into(),
        "--no-out-link".into(),
    ];
    for a in &attrs {
        args.push("-A".into());
        args.push(a.clone());
    }
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = rnix_build(&dir, &shared_store(), &argv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "some listed attributes failed:\n{}",
        tail(&err, 120)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.lines().count(), attrs.len(), "{printed}");
}
