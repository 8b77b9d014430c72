//! End-to-end: the seed workflow of `fixtures/simple-python-api` with `rnix-build` in place
//! of `nix-build`, then `docker load`, `docker run`, `curl` (issue 7's acceptance).
//!
//! Needs Docker and the package mirrors (network). Under CI (`CI` set) a missing Docker is a
//! failure; elsewhere the test is skipped with a printed reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Docker image names are global: the scenarios run one at a time.
static DOCKER: Mutex<()> = Mutex::new(());

const IMAGE: &str = "simple-python-api";

fn docker_available() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// False (with a printed reason) when the test must be skipped; panics under CI.
fn require_docker() -> bool {
    if docker_available() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("Docker is required for the end-to-end tests under CI, but `docker info` failed");
    }
    eprintln!("SKIP: no Docker daemon reachable (set CI=1 to make this a failure)");
    false
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/simple-python-api")
}

/// A fresh copy of the seed folder (only default.nix and main.py).
fn seed_copy(dir: &Path) -> PathBuf {
    let d = dir.join("simple-python-api");
    std::fs::create_dir_all(&d).unwrap();
    for f in ["default.nix", "main.py"] {
        std::fs::copy(fixture().join(f), d.join(f)).unwrap();
    }
    d
}

/// A store shared by the scenarios that do not test cold builds: downloads are done once.
fn shared_store() -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-store");
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn rnix_build(cwd: &Path, store: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_rnix-build"))
        .args(args)
        .current_dir(cwd)
        .env("RNIX_STORE", store)
        .stdin(Stdio::null())
        .output()
        .expect("running rnix-build");
    eprintln!(
        "rnix-build {:?}: {}\n--- stderr ---\n{}",
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn build_ok(cwd: &Path, store: &Path, args: &[&str]) -> String {
    let out = rnix_build(cwd, store, args);
    assert!(out.status.success(), "rnix-build {args:?} failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let path = stdout.lines().last().expect("an output path on stdout").to_string();
    assert!(path.starts_with("/nix/store/"), "unexpected stdout: {stdout}");
    path
}

fn sh(cmd: &str) -> Output {
    Command::new("sh").arg("-c").arg(cmd).output().unwrap()
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

fn docker_ok(args: &[&str]) -> String {
    let o = docker(args);
    assert!(
        o.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn load(result: &Path) -> String {
    let o = sh(&format!("docker load < '{}'", result.display()));
    assert!(o.status.success(), "docker load failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http_get(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Runs the image, waits for the server, returns the body of `GET /`.
fn run_and_curl() -> String {
    let port = free_port();
    let id = docker_ok(&["run", "-d", "-p", &format!("127.0.0.1:{port}:5000"), IMAGE]);
    let id = id.trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut body = None;
    while Instant::now() < deadline {
        if let Some(b) = http_get(port) {
            body = Some(b);
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let logs = docker(&["logs", &id]);
    let _ = docker(&["rm", "-f", &id]);
    body.unwrap_or_else(|| {
        panic!(
            "the server did not answer within 60 s; container logs:\n{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        )
    })
}

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
    assert_eq!(pa, pb, "the same expression gives the same output path in two stores");
    let ra = std::fs::read(a.join("result")).expect("result symlink in the seed folder");
    let rb = std::fs::read(b.join("result")).unwrap();
    assert!(ra == rb, "two builds into two empty stores differ");

    remove_image();
    let loaded = load(&a.join("result"));
    assert!(loaded.contains("Loaded image: simple-python-api:latest"), "{loaded}");
    let size: u64 = docker_ok(&["image", "inspect", "--format", "{{.Size}}", IMAGE]).trim().parse().unwrap();
    eprintln!("seed image size: {size} bytes");
    assert!(size <= 100_000_000, "the seed image is {size} bytes, more than 100 MB");

    let body = run_and_curl();
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

    build_ok(&d, &store, &["-E", "with (import <nixpkgs>{}); callPackage ./default.nix { isDev = true; }"]);
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
        assert!(err.contains(needle), "{args:?}: expected {needle:?} in:\n{err}");
        assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
        assert_eq!(std::fs::read_link(d.join("result")).unwrap(), sentinel, "result was changed");
    };
    check(&["missing.nix"], &[], "missing.nix");
    check(&["--arg", "nosuchArg", "1"], &[], "nosuchArg");
    check(&["-E", "with import <nixpkgs> {}; nosuchpkg"], &[], "nosuchpkg");
    check(&["-E", "(import <nixpkgs> {}).nosuchpkg"], &[], "attribute 'nosuchpkg' missing");
    std::fs::write(d.join("broken.nix"), "{ x = ; }").unwrap();
    check(&["broken.nix"], &[], "broken.nix:1:");
    // An unreachable mirror: a package that is not yet in this store must be downloaded.
    let empty = tmp.path().join("empty-store");
    let mut c = Command::new(env!("CARGO_BIN_EXE_rnix-build"));
    c.args(["-E", "with import <nixpkgs> {}; gawk"])
        .current_dir(&d)
        .env("RNIX_STORE", &empty)
        .env("RNIX_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
        .env("RNIX_DEBIAN_SECURITY_MIRROR", "http://127.0.0.1:9/debian-security");
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an unreachable mirror must fail the build");
    assert!(err.contains("127.0.0.1:9"), "the error names the mirror:\n{err}");
    assert_eq!(std::fs::read_link(d.join("result")).unwrap(), sentinel);
}
