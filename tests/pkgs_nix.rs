//! Tests of the embedded package set (`pkgs/`), with real Nix 2.8.
//!
//! rnix's own evaluator is tested elsewhere; these tests pin the package set's
//! behaviour against the reference implementation: the lib assertions, the
//! package-set assertions (on the fixture lock `tests/pkgs/lock-fixture.json`),
//! the seed expression's instantiation (compared with the golden `.drv` paths
//! recorded by `tests/pkgs/record-golden.sh`), and the generic builder
//! `pkgs/stdenv/setup.sh` run with the host's bash and coreutils.
//!
//! Without `nix-instantiate` on PATH the Nix tests fail when `CI` is set and
//! are skipped with a printed reason otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

fn repo() -> PathBuf {
    PathBuf::from(option_env!("CARGO_MANIFEST_DIR").unwrap_or("."))
}

/// True when `nix-instantiate` can be run; panics in CI when it cannot.
fn have_nix(test: &str) -> bool {
    let ok = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("{test}: nix-instantiate (Nix 2.8) is required in CI but was not found on PATH");
        }
        eprintln!("{test}: SKIPPED: nix-instantiate not found on PATH (install Nix 2.8 to run it)");
    }
    ok
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

fn stdout_ok(cmd: &mut Command) -> String {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{desc} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A fresh temporary directory (removed on drop).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rnix-pkgs-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("dir entry");
        let ty = entry.file_type().expect("file type");
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            copy_dir(&entry.path(), &dest);
        } else if ty.is_file() {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
        // symlinks (e.g. a stale `result`) are left out
    }
}

/// Copies `pkgs/` with `lock` as its lock.json, and the seed fixture, into a
/// temp dir; returns (temp dir, pkgs dir, seed dir).
fn setup_seed(tag: &str, lock: &Path) -> (TempDir, PathBuf, PathBuf) {
    let tmp = TempDir::new(tag);
    let pkgs = tmp.0.join("pkgs");
    copy_dir(&repo().join("pkgs"), &pkgs);
    std::fs::copy(lock, pkgs.join("lock.json")).expect("copy lock");
    let seed = tmp.0.join("simple-python-api");
    copy_dir(&repo().join("fixtures/simple-python-api"), &seed);
    (tmp, pkgs, seed)
}

fn instantiate_seed_forms(seed: &Path) -> [String; 3] {
    let plain = stdout_ok(Command::new("nix-instantiate").current_dir(seed).args([
        "default.nix",
        "--arg",
        "nixpkgs",
        "../pkgs",
    ]));
    let dev = stdout_ok(Command::new("nix-instantiate").current_dir(seed).args([
        "default.nix",
        "--arg",
        "nixpkgs",
        "../pkgs",
        "--arg",
        "isDev",
        "true",
    ]));
    let callpkg = stdout_ok(Command::new("nix-instantiate").current_dir(seed).args([
        "-I",
        "nixpkgs=../pkgs",
        "-E",
        "with (import <nixpkgs> {}); callPackage ./default.nix { isDev = true; nixpkgs = <nixpkgs>; }",
    ]));
    [
        plain.trim().to_string(),
        dev.trim().to_string(),
        callpkg.trim().to_string(),
    ]
}

fn golden_value(key: &str) -> String {
    let text = std::fs::read_to_string(repo().join("tests/pkgs/golden/seed.json"))
        .expect("tests/pkgs/golden/seed.json (run tests/pkgs/record-golden.sh)");
    // The file is a flat JSON object of strings, written by jq.
    let needle = format!("\"{key}\": \"");
    let start = text
        .find(&needle)
        .unwrap_or_else(|| panic!("golden seed.json has no key {key}"))
        + needle.len();
    let end = start + text[start..].find('"').expect("closing quote");
    text[start..end].to_string()
}

#[test]
fn pkgs_lib_assertions_hold() {
    if !have_nix("pkgs_lib_assertions_hold") {
        return;
    }
    let out = stdout_ok(Command::new("nix-instantiate").current_dir(repo()).args([
        "--eval",
        "--strict",
        "tests/pkgs/lib.nix",
    ]));
    assert_eq!(out.trim(), "true");
}

#[test]
fn pkgs_set_assertions_hold_on_fixture_lock() {
    if !have_nix("pkgs_set_assertions_hold_on_fixture_lock") {
        return;
    }
    let out = stdout_ok(Command::new("nix-instantiate").current_dir(repo()).args([
        "--eval",
        "--strict",
        "tests/pkgs/pkgs.nix",
    ]));
    assert_eq!(out.trim(), "true");
}

#[test]
fn pkgs_seed_instantiates_as_recorded_with_fixture_lock() {
    if !have_nix("pkgs_seed_instantiates_as_recorded_with_fixture_lock") {
        return;
    }
    let lock = repo().join("tests/pkgs/lock-fixture.json");
    let (_tmp, _pkgs, seed) = setup_seed("fixture", &lock);
    let [plain, dev, callpkg] = instantiate_seed_forms(&seed);
    assert!(
        plain.ends_with("-docker-image-simple-python-api.tar.gz.drv"),
        "{plain}"
    );
    assert_ne!(plain, dev, "isDev must change the image");
    assert_eq!(dev, callpkg, "--arg isDev true and callPackage must agree");
    let stale = "golden .drv paths are stale: re-run tests/pkgs/record-golden.sh";
    assert_eq!(plain, golden_value("seed"), "{stale}");
    assert_eq!(dev, golden_value("seed-isDev"), "{stale}");
    assert_eq!(callpkg, golden_value("seed-callPackage-isDev"), "{stale}");

    // The graph: image <- image-root (buildEnv) <- api-code (stdenv) + python env.
    let tree = stdout_ok(Command::new("nix-store").args(["-q", "--tree", &plain]));
    for name in [
        "-image-root.drv",
        "-api-code.drv",
        "-stdenv-linux.drv",
        "-python3-3.11.2-6+deb12u9-env.drv",
        "-python3-3.11.2-6+deb12u9.drv",
        "-glibc-2.36-9+deb12u14.drv",
        "-fastapi-0.104.1-py3-none-any.whl.drv",
        "-libc6_2.36-9+deb12u14_amd64.deb.drv",
    ] {
        assert!(tree.contains(name), "seed graph lacks {name}:\n{tree}");
    }
    let dev_tree = stdout_ok(Command::new("nix-store").args(["-q", "--tree", &dev]));
    assert!(dev_tree.contains("-coreutils-9.1-1.drv"));
}

#[test]
fn pkgs_seed_instantiates_with_committed_lock() {
    if !have_nix("pkgs_seed_instantiates_with_committed_lock") {
        return;
    }
    let lock = repo().join("pkgs/lock.json");
    assert!(
        lock.exists(),
        "pkgs/lock.json is missing: the package set cannot build anything without it"
    );
    let (_tmp, _pkgs, seed) = setup_seed("lock", &lock);
    let [plain, dev, callpkg] = instantiate_seed_forms(&seed);
    assert!(
        plain.ends_with("-docker-image-simple-python-api.tar.gz.drv"),
        "{plain}"
    );
    assert_ne!(plain, dev);
    assert_eq!(dev, callpkg);
    // Every package named in issue 6 instantiates from the committed lock.
    let all = stdout_ok(Command::new("nix-instantiate").current_dir(&seed).args([
        "-I",
        "nixpkgs=../pkgs",
        "-E",
        "with import <nixpkgs> {}; [ bash bashInteractive coreutils findutils gnused gnugrep gawk gnutar gzip xz \
         diffutils patch glibc openssl zlib cacert tzdata curl python311 python3 stdenv \
         (python311.withPackages (ps: [ ps.fastapi ps.uvicorn ])) ]",
    ]));
    assert!(all.lines().count() >= 20, "{all}");
}

#[test]
fn pkgs_unknown_attribute_is_nix_error() {
    if !have_nix("pkgs_unknown_attribute_is_nix_error") {
        return;
    }
    let lock = repo().join("tests/pkgs/lock-fixture.json");
    let (_tmp, pkgs, _seed) = setup_seed("unknown", &lock);
    let out = run(Command::new("nix-instantiate").args([
        "--eval",
        "-E",
        &format!("(import {} {{}}).nosuchpkg", pkgs.display()),
    ]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("attribute 'nosuchpkg' missing"), "{err}");
}

#[test]
fn pkgs_missing_lock_entry_names_the_package() {
    if !have_nix("pkgs_missing_lock_entry_names_the_package") {
        return;
    }
    let tmp = TempDir::new("emptylock");
    let empty = tmp.0.join("empty-lock.json");
    std::fs::write(
        &empty,
        r#"{"version":1,"debian":{"packages":{}},"pypi":{}}"#,
    )
    .expect("write lock");
    let out = run(Command::new("nix-instantiate").current_dir(repo()).args([
        "--eval",
        "--strict",
        "-E",
        &format!(
            "(import ./pkgs {{ lockFile = {}; }}).bash.drvPath",
            empty.display()
        ),
    ]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Debian package `bash' is not in the lock file"),
        "{err}"
    );
}

#[test]
fn pkgs_stdenv_setup_sh_runs_with_host_tools() {
    let script = repo().join("tests/pkgs/setup-sh.sh");
    let out = run(Command::new("bash").arg(&script));
    assert!(
        out.status.success(),
        "setup.sh checks failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}

fn nix_build_attr(attr: &str) -> Vec<PathBuf> {
    let out = stdout_ok(Command::new("nix-build").current_dir(repo()).args([
        "--option",
        "sandbox",
        "false",
        "--no-out-link",
        "tests/pkgs/host-stdenv.nix",
        "-A",
        attr,
    ]));
    out.lines().map(PathBuf::from).collect()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

#[test]
fn pkgs_stdenv_and_trivial_builders_build_with_nix() {
    if !have_nix("pkgs_stdenv_and_trivial_builders_build_with_nix") {
        return;
    }
    // The seed's app: app/main.py copied from the (filtered) source.
    let app = nix_build_attr("app");
    assert_eq!(app.len(), 1);
    assert!(app[0].to_string_lossy().ends_with("-api-code"));
    assert_eq!(
        read(&app[0].join("app/main.py")),
        read(&repo().join("fixtures/simple-python-api/main.py"))
    );
    assert!(!app[0].join("app/default.nix").exists());

    // finalAttrs + two outputs + preInstall hook.
    let mut fin = nix_build_attr("final");
    fin.extend(nix_build_attr("final.doc"));
    assert_eq!(fin.len(), 2, "{fin:?}");
    assert_eq!(read(&fin[0].join("name")), "final-1.2\n");
    assert_eq!(read(&fin[0].join("pre.txt")), "pre\n");
    assert!(fin[1].to_string_lossy().ends_with("-final-1.2-doc"));
    assert_eq!(read(&fin[1].join("README")), "documentation\n");

    let text = nix_build_attr("text");
    assert_eq!(read(&text[0]), "hello\n");

    let script = nix_build_attr("script");
    let greet = script[0].join("bin/greet");
    assert!(read(&greet).starts_with("#!/usr/bin/bash\n"));
    use std::os::unix::fs::PermissionsExt;
    assert_ne!(
        std::fs::metadata(&greet).unwrap().permissions().mode() & 0o111,
        0
    );

    let joined = nix_build_attr("joined");
    let main_link =
        std::fs::read_link(joined[0].join("app/main.py")).expect("app/main.py is a link");
    assert_eq!(main_link, app[0].join("app/main.py"));
    assert_eq!(
        std::fs::read_link(joined[0].join("bin/greet")).unwrap(),
        greet
    );

    let command = nix_build_attr("command");
    assert_eq!(read(&command[0].join("foo")), "bar\n");
    assert_eq!(
        read(&command[0].join("greet")),
        format!("hi from {}\n", greet.display())
    );
}

/// rnix's own evaluator must instantiate the seed to exactly the `.drv` files
/// that Nix 2.8 writes (recorded in tests/pkgs/golden by record-golden.sh).
#[test]
fn pkgs_rnix_instantiate_matches_nix_golden() {
    let Some(bin) = option_env!("CARGO_BIN_EXE_rnix-instantiate") else {
        eprintln!("pkgs_rnix_instantiate_matches_nix_golden: SKIPPED: not built by cargo (no rnix-instantiate binary)");
        return;
    };
    let lock = repo().join("tests/pkgs/lock-fixture.json");
    let (tmp, _pkgs, seed) = setup_seed("rnix", &lock);
    let store = tmp.0.join("store");
    std::fs::create_dir_all(&store).expect("mkdir store");
    for (key, extra) in [
        ("seed", &[][..]),
        ("seed-isDev", &["--arg", "isDev", "true"][..]),
    ] {
        let mut cmd = Command::new(bin);
        cmd.current_dir(&seed)
            .env("RNIX_STORE", &store)
            .arg("--store")
            .arg(&store)
            .args(["default.nix", "--arg", "nixpkgs", "../pkgs"])
            .args(extra);
        let out = stdout_ok(&mut cmd);
        assert_eq!(
            out.trim(),
            golden_value(key),
            "rnix-instantiate ({key}) differs from Nix 2.8"
        );
    }
    // Every .drv Nix wrote must have been written by rnix, byte for byte.
    let golden = repo().join("tests/pkgs/golden/drvs");
    for entry in std::fs::read_dir(&golden).expect("golden drvs") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        let ours = store.join("nix/store").join(&name);
        let expected = std::fs::read(entry.path()).expect("read golden");
        let got = std::fs::read(&ours)
            .unwrap_or_else(|e| panic!("rnix did not write {} ({e})", ours.display()));
        assert!(
            got == expected,
            "{} differs from Nix's:\n nix: {}\nrnix: {}",
            name.to_string_lossy(),
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(&got)
        );
    }
}

/// fetchzip (pkgs/build-support/fetchzip.nix) with the host's curl and tar:
/// the unpacked, top-level-stripped tree has nixpkgs' hash (NAR hash of the
/// tree); a wrong hash fails the build.
#[test]
fn pkgs_fetchzip_unpacks_and_checks_hash_with_nix() {
    if !have_nix("pkgs_fetchzip_unpacks_and_checks_hash_with_nix") {
        return;
    }
    let tmp = TempDir::new("fetchzip");
    let tree = tmp.0.join("proj-1.0");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    // Unique content, so that Nix really builds (fixed outputs are cached).
    let unique = format!(
        "{}-{:?}\n",
        std::process::id(),
        std::time::SystemTime::now()
    );
    std::fs::write(tree.join("sub/a.txt"), &unique).unwrap();
    std::fs::write(tree.join("run.sh"), "#!/bin/sh\necho x\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tree.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    stdout_ok(
        Command::new("tar")
            .current_dir(&tmp.0)
            .args(["czf", "proj.tar.gz", "proj-1.0"]),
    );
    let hash = stdout_ok(
        Command::new("nix")
            .args([
                "--extra-experimental-features",
                "nix-command",
                "hash",
                "path",
            ])
            .arg(&tree),
    );
    let url = format!("file://{}/proj.tar.gz", tmp.0.display());
    let build = |hash: &str| {
        run(Command::new("nix-build").current_dir(repo()).args([
            "--option",
            "sandbox",
            "false",
            "--no-out-link",
            "tests/pkgs/host-stdenv.nix",
            "-A",
            "fetchzip",
            "--argstr",
            "url",
            &url,
            "--argstr",
            "hash",
            hash,
        ]))
    };
    let ok = build(hash.trim());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = PathBuf::from(String::from_utf8_lossy(&ok.stdout).trim().to_string());
    assert_eq!(read(&out.join("sub/a.txt")), unique);
    assert_ne!(
        std::fs::metadata(out.join("run.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o111,
        0
    );
    let bad = build("sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("hash mismatch"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
