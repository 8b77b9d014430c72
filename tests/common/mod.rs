//! Helpers shared by the end-to-end tests (rnix-build + Docker).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Docker image names are global: the scenarios run one at a time.
pub static DOCKER: Mutex<()> = Mutex::new(());

pub const IMAGE: &str = "simple-python-api";

pub fn docker_available() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// False (with a printed reason) when builds cannot run in namespaces here; panics under CI.
pub fn namespaces_or_skip() -> bool {
    if realise::sandbox::namespaces_available() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but Linux user namespaces are not available");
    }
    eprintln!("SKIPPED: Linux user namespaces are not available here");
    false
}

/// False (with a printed reason) when the test must be skipped; panics under CI.
pub fn require_docker() -> bool {
    if docker_available() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("Docker is required for the end-to-end tests under CI, but `docker info` failed");
    }
    eprintln!("SKIP: no Docker daemon reachable (set CI=1 to make this a failure)");
    false
}

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/simple-python-api")
}

/// A fresh copy of the seed folder (only default.nix and main.py).
pub fn seed_copy(dir: &Path) -> PathBuf {
    let d = dir.join("simple-python-api");
    std::fs::create_dir_all(&d).unwrap();
    for f in ["default.nix", "main.py"] {
        std::fs::copy(fixture().join(f), d.join(f)).unwrap();
    }
    d
}

/// A store shared by the scenarios that do not test cold builds: downloads are done once.
pub fn shared_store() -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-store");
    std::fs::create_dir_all(&p).unwrap();
    p
}

pub fn rnix_build(cwd: &Path, store: &Path, args: &[&str]) -> Output {
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

pub fn build_ok(cwd: &Path, store: &Path, args: &[&str]) -> String {
    let out = rnix_build(cwd, store, args);
    assert!(out.status.success(), "rnix-build {args:?} failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let path = stdout
        .lines()
        .last()
        .expect("an output path on stdout")
        .to_string();
    assert!(path.contains("/nix/store/"), "unexpected stdout: {stdout}");
    assert!(
        Path::new(&path).exists(),
        "the printed path {path} does not exist"
    );
    // The store path itself (the same in every store root).
    path[path.rfind("/nix/store/").unwrap()..].to_string()
}

pub fn sh(cmd: &str) -> Output {
    Command::new("sh").arg("-c").arg(cmd).output().unwrap()
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

pub fn docker_ok(args: &[&str]) -> String {
    let o = docker(args);
    assert!(
        o.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn load(result: &Path) -> String {
    let o = sh(&format!("docker load < '{}'", result.display()));
    assert!(
        o.status.success(),
        "docker load failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn http_get(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// `GET /` on 127.0.0.1:`port`, retried every 300 ms until a 200 answer or `limit`.
pub fn wait_for_http(port: u16, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(b) = http_get(port) {
            return Some(b);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    None
}

/// Runs `argv` (store programs) chrooted into a directory holding only `nix/store`, which is
/// the store's physical directory bind-mounted, with an empty environment.
pub fn run_in_store_chroot(store_root: &Path, argv: &[&str]) -> Output {
    let jail = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(jail.path().join("nix/store")).unwrap();
    let quoted: Vec<String> = argv
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let script = format!(
        "mount --bind '{store}' '{jail}/nix/store' && exec env -i /usr/sbin/chroot '{jail}' {cmd}",
        store = store_root.join("nix/store").display(),
        jail = jail.path().display(),
        cmd = quoted.join(" ")
    );
    Command::new("unshare")
        .args(["-Urm", "sh", "-c", &script])
        .output()
        .unwrap()
}

/// Runs the image, waits for the server, returns the body of `GET /`.
pub fn run_and_curl(image: &str) -> String {
    let port = free_port();
    let id = docker_ok(&["run", "-d", "-p", &format!("127.0.0.1:{port}:5000"), image]);
    let id = id.trim().to_string();
    let body = wait_for_http(port, Duration::from_secs(60));
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

/// A tag unique to this run, so that an image's derivation is built by the code under test
/// even in the shared store.
pub fn nonce() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("t{}-{}", std::process::id(), t.as_nanos())
}

/// Writes `expr` to `dir/default.nix` and builds it with `--argstr tag <tag>` in the shared
/// store; returns the physical path rnix-build printed.
pub fn build_expr(dir: &Path, expr: &str, tag: &str) -> PathBuf {
    std::fs::write(dir.join("default.nix"), expr).unwrap();
    let store = shared_store();
    let out = rnix_build(dir, &store, &["default.nix", "--argstr", "tag", tag]);
    assert!(out.status.success(), "rnix-build failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().expect("an output path").trim())
}

/// `$(rnix-build …) | docker load` for a streamLayeredImage executable, with rnix-store on
/// PATH (the script runs `rnix-store --stream-image`).
pub fn stream_into_docker(exe: &Path) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_rnix-store"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' | docker load", exe.display()))
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
