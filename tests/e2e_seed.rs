//! End-to-end: the seed workflow of `fixtures/simple-python-api` with `rnix-build` in place
//! of `nix-build`, then `docker load`, `docker run`, `curl` (issue 7's acceptance).
//!
//! Needs Docker and the package mirrors (network). Under CI (`CI` set) a missing Docker is a
//! failure; elsewhere the test is skipped with a printed reason.

mod common;
use common::*;
use std::process::Command;

fn remove_image() {
    let _ = docker(&["rmi", "-f", &format!("{IMAGE}:latest")]);
}

/// Acceptance 1, 3 and 4: `rnix-build` with no arguments, docker load/run/curl; two cold
/// builds into two empty stores are byte-identical; the image is at most 100 MB.
#[test]
fn seed_image_serves_and_is_reproducible() {
    if !require_docker() {
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let a = seed_copy(&tmp.path().join("a"));
    let b = seed_copy(&tmp.path().join("b"));
    let store_a = tmp.path().join("store-a");
    let store_b = tmp.path().join("store-b");

    let pa = build_ok(&a, &store_a, &[]);
    let pb = build_ok(&b, &store_b, &[]);
    assert_eq!(
        pa, pb,
        "the same expression gives the same output path in two stores"
    );
    let ra = std::fs::read(a.join("result")).expect("result symlink in the seed folder");
    let rb = std::fs::read(b.join("result")).unwrap();
    assert!(ra == rb, "two builds into two empty stores differ");

    remove_image();
    let loaded = load(&a.join("result"));
    assert!(
        loaded.contains("Loaded image: simple-python-api:latest"),
        "{loaded}"
    );
    let size: u64 = docker_ok(&["image", "inspect", "--format", "{{.Size}}", IMAGE])
        .trim()
        .parse()
        .unwrap();
    eprintln!("seed image size: {size} bytes");
    assert!(
        size <= 100_000_000,
        "the seed image is {size} bytes, more than 100 MB"
    );

    let body = run_and_curl(IMAGE);
    assert_eq!(body, r#"{"message":"Nix is cool!"}"#);
    remove_image();
}

fn check_dev_image() {
    let ls = docker_ok(&["run", "--rm", IMAGE, "bash", "-c", "ls -l /app"]);
    assert!(ls.contains("main.py -> /nix/store/"), "{ls}");
    assert!(ls.contains("-api-code/app/main.py"), "{ls}");
    let store = docker_ok(&["run", "--rm", IMAGE, "bash", "-c", "ls /nix/store"]);
    for part in ["-api-code", "-python3", "-bash", "-coreutils", "-glibc"] {
        assert!(store.contains(part), "ls /nix/store lacks {part}: {store}");
    }
    let _ = docker(&["rm", "-f", "x"]);
}

/// Acceptance 2: the isDev variants have bash and coreutils.
#[test]
fn dev_variants_have_bash_and_coreutils() {
    if !require_docker() {
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let d = seed_copy(tmp.path());
    let store = shared_store();

    build_ok(
        &d,
        &store,
        &[
            "-E",
            "with (import <nixpkgs>{}); callPackage ./default.nix { isDev = true; }",
        ],
    );
    remove_image();
    load(&d.join("result"));
    check_dev_image();

    std::fs::remove_file(d.join("result")).unwrap();
    build_ok(&d, &store, &["--arg", "isDev", "true"]);
    remove_image();
    load(&d.join("result"));
    check_dev_image();
    remove_image();
}

/// Acceptance 7: bad input exits non-zero with one clear message and leaves `result` alone.
#[test]
fn bad_input_is_reported_and_result_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let d = seed_copy(tmp.path());
    let store = shared_store();
    let sentinel = tmp.path().join("sentinel");
    std::fs::write(&sentinel, "old").unwrap();
    std::os::unix::fs::symlink(&sentinel, d.join("result")).unwrap();
    let check = |args: &[&str], env: &[(&str, &str)], needle: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rnix-build"));
        c.args(args).current_dir(&d).env("RNIX_STORE", &store);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in:\n{err}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
        assert_eq!(
            std::fs::read_link(d.join("result")).unwrap(),
            sentinel,
            "result was changed"
        );
    };
    check(&["missing.nix"], &[], "missing.nix");
    check(&["--arg", "nosuchArg", "1"], &[], "nosuchArg");
    check(
        &["-E", "with import <nixpkgs> {}; nosuchpkg"],
        &[],
        "nosuchpkg",
    );
    check(
        &["-E", "(import <nixpkgs> {}).nosuchpkg"],
        &[],
        "attribute 'nosuchpkg' missing",
    );
    std::fs::write(d.join("broken.nix"), "{ x = ; }").unwrap();
    check(&["broken.nix"], &[], "broken.nix:1:");
    // An unreachable mirror: a package that is not yet in this store must be downloaded.
    let empty = tmp.path().join("empty-store");
    let mut c = Command::new(env!("CARGO_BIN_EXE_rnix-build"));
    c.args(["-E", "with import <nixpkgs> {}; gawk"])
        .current_dir(&d)
        .env("RNIX_STORE", &empty)
        .env("RNIX_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
        .env(
            "RNIX_DEBIAN_SECURITY_MIRROR",
            "http://127.0.0.1:9/debian-security",
        );
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "an unreachable mirror must fail the build"
    );
    assert!(
        err.contains("127.0.0.1:9"),
        "the error names the mirror:\n{err}"
    );
    assert_eq!(std::fs::read_link(d.join("result")).unwrap(), sentinel);
}
