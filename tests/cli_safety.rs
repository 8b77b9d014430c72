//! Issue 11, points 4, 5, 6 (CLI part) and 8: the command-line tools behave as Nix's on
//! out links, broken pipes, non-UTF-8 arguments, `--cores`, `--timeout`,
//! `--max-silent-time`, unknown `--option`s and `--eval` without arguments.
//! Expected outputs were checked against Nix 2.8's `nix-build`/`nix-instantiate`.

mod common;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BUILD: &str = env!("CARGO_BIN_EXE_rnix-build");
const INSTANTIATE: &str = env!("CARGO_BIN_EXE_rnix-instantiate");
const STORE: &str = env!("CARGO_BIN_EXE_rnix-store");

/// A derivation whose builder is the host's /bin/sh (made visible in the sandbox), so that
/// nothing has to be downloaded.
fn drv(name: &str, script: &str) -> String {
    format!(
        "derivation {{ name = \"{name}\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; \
         args = [ \"-c\" ''{script}'' ]; }}"
    )
}

/// `rnix-build` in `dir` with a store under `dir/store`, host tools visible in the sandbox.
fn build(dir: &Path, args: &[&str]) -> Output {
    Command::new(BUILD)
        .current_dir(dir)
        .arg("--store")
        .arg(dir.join("store"))
        .args(["--option", "embedded-nixpkgs", "false", "-Q"])
        .args(args)
        .env("RNIX_SANDBOX_PATHS", "/bin:/usr:/lib:/lib64")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn out_link_never_replaces_a_users_file() {
    if !common::namespaces_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let e = drv("outlink", "echo hi > $out");
    std::fs::write(d.join("f"), "data\n").unwrap();
    let o = build(d, &["-o", "f", "-E", &e]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "error: cannot create symlink '{}'; already exists",
            d.join("f").display()
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(d.join("f")).unwrap(), "data\n");

    // A symlink out of the store is the user's too.
    std::os::unix::fs::symlink("/etc/hostname", d.join("g")).unwrap();
    let o = build(d, &["-o", "g", "-E", &e]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_link(d.join("g")).unwrap(),
        Path::new("/etc/hostname")
    );

    // A previous result (a link into the store) is replaced, as nix-build does.
    let o = build(d, &["-o", "r", "-E", &e]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e2 = drv("outlink2", "echo there > $out");
    let o = build(d, &["-o", "r", "-E", &e2]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(d.join("r")).unwrap(), "there\n");
}

#[test]
fn cores_reach_the_builder() {
    if !common::namespaces_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let e = drv("cores", "echo $NIX_BUILD_CORES > $out");
    let o = build(tmp.path(), &["--cores", "3", "-E", &e]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("result")).unwrap(),
        "3\n"
    );
    let o = build(tmp.path(), &["--cores", "x", "-E", &e]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn timeout_kills_a_builder_that_never_ends() {
    if !common::namespaces_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A builder that would run for ten minutes, with a child process holding the log open.
    let e = drv(
        "forever",
        "echo started; /bin/sleep 600 & wait; echo > $out",
    );
    let o = build(tmp.path(), &["--timeout", "1", "-E", &e]);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("from .drv file timed out after 1 seconds"),
        "{}",
        stderr(&o)
    );
    assert!(!tmp.path().join("result").exists());
}

#[test]
fn max_silent_time_kills_a_silent_builder_only() {
    if !common::namespaces_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let silent = drv("silent", "echo started; /bin/sleep 600; echo > $out");
    let o = build(tmp.path(), &["--max-silent-time", "1", "-E", &silent]);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("timed out after 1 seconds of silence"),
        "{}",
        stderr(&o)
    );
    // Output every 0.3 s for about 2.4 s: never silent for 2 s.
    let chatty = drv(
        "chatty",
        "for i in 1 2 3 4 5 6 7 8; do echo $i; /bin/sleep 0.3; done; echo done > $out",
    );
    let o = build(tmp.path(), &["--max-silent-time", "2", "-E", &chatty]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn unknown_option_warns_as_nix_does() {
    let tmp = tempfile::tempdir().unwrap();
    let o = build(
        tmp.path(),
        &["--option", "no-such-setting", "1", "--dry-run", "-E", "{}"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: unknown setting 'no-such-setting'"),
        "{}",
        stderr(&o)
    );
    let o = build(tmp.path(), &["--option", "substituters", "", "-E", "{}"]);
    assert!(!stderr(&o).contains("unknown setting"), "{}", stderr(&o));

    let o = Command::new(INSTANTIATE)
        .args(["--eval", "--option", "no-such-setting", "1", "-E", "1"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(stderr(&o).contains("warning: unknown setting 'no-such-setting'"));
}

#[test]
fn eval_calls_a_function_only_when_given_arguments() {
    let run = |args: &[&str]| {
        let o = Command::new(INSTANTIATE).args(args).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    // Nix 2.8's outputs.
    assert_eq!(run(&["--eval", "-E", "{ a ? 1 }: a"]), "<LAMBDA>\n");
    assert_eq!(
        run(&["--eval", "-E", "{ a ? 1 }: a", "--arg", "b", "2"]),
        "1\n"
    );
    assert_eq!(
        run(&["--eval", "-E", "{ a ? 1 }: a", "--arg", "a", "2"]),
        "2\n"
    );
    // nix-instantiate's other spellings and build flags are accepted.
    assert_eq!(run(&["--eval-only", "--timeout", "5", "-E", "1"]), "1\n");
}

/// Runs `cmd` with `args` and the given stdio; returns the exit code (never 101: a panic).
fn no_panic(cmd: &str, args: &[&OsStr]) -> Option<i32> {
    let o = Command::new(cmd).args(args).output().unwrap();
    let code = o.status.code();
    assert_ne!(code, Some(101), "{cmd} panicked: {}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    code
}

#[test]
fn non_utf8_arguments_are_an_error_not_a_panic() {
    let bad = OsStr::from_bytes(b"/tmp/\xff\xfe.nix");
    for (cmd, pre) in [
        (INSTANTIATE, vec!["--eval"]),
        (INSTANTIATE, vec![]),
        (STORE, vec!["--dump"]),
        (BUILD, vec![]),
    ] {
        let mut args: Vec<&OsStr> = pre.iter().map(OsStr::new).collect();
        args.push(bad);
        assert_eq!(no_panic(cmd, &args), Some(1), "{cmd} {pre:?}");
    }
}

#[test]
fn closed_pipes_end_quietly() {
    for _ in 0..5 {
        // stderr closed before the error is written.
        let mut c = Command::new(INSTANTIATE)
            .args(["--eval", "-E", "throw \"x\""])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(c.stderr.take());
        let st = c.wait().unwrap();
        assert_eq!(st.code(), Some(1), "{st:?}");

        // stdout closed while a large value is printed.
        let mut c = Command::new(INSTANTIATE)
            .args(["--eval", "--strict", "-E", "builtins.genList (x: x) 200000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(c.stdout.take());
        let o = c.wait_with_output().unwrap();
        assert_ne!(o.status.code(), Some(101), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));

        // rnix-store's output to a closed pipe.
        let mut c = Command::new(STORE)
            .args(["--dump", env!("CARGO_MANIFEST_DIR")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(c.stdout.take());
        let o = c.wait_with_output().unwrap();
        assert_ne!(o.status.code(), Some(101), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}
