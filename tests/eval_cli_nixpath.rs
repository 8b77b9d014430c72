//! Issue 14: what nixpkgs' lib suites need of `rnix-instantiate --eval`, as Nix 2.8 does it:
//! `-I nixpkgs=…`/`NIX_PATH` win over the embedded package set, `--option embedded-nixpkgs
//! false`, `NIX_STORE_DIR` (the logical store dir, with paths that exist on disk), and the
//! quoting of attribute names in "unexpected argument" errors. Values recorded from Nix 2.8;
//! under CI (or RNIX_LIVE_NIX=1) also compared with the live `nix-instantiate`.

use std::path::Path;
use std::process::{Command, Output};

const INSTANTIATE: &str = env!("CARGO_BIN_EXE_rnix-instantiate");

fn live() -> bool {
    let want =
        std::env::var_os("CI").is_some() || std::env::var("RNIX_LIVE_NIX").is_ok_and(|v| v == "1");
    if !want {
        return false;
    }
    let have = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have && std::env::var_os("CI").is_some() {
        panic!("CI is set but nix-instantiate (Nix 2.8) is not installed");
    }
    have
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// rnix-instantiate with a private store and no NIX_PATH.
fn rnix(store: &Path) -> Command {
    let mut c = Command::new(INSTANTIATE);
    c.env("RNIX_STORE", store).env_remove("NIX_PATH");
    c
}

#[test]
fn search_path_wins_over_the_embedded_package_set() {
    let tmp = tempfile::tempdir().unwrap();
    let np = tmp.path().join("np");
    std::fs::create_dir_all(np.join("lib")).unwrap();
    std::fs::write(np.join("default.nix"), "{ ... }: { mine = true; }").unwrap();
    std::fs::write(np.join("lib/default.nix"), "{ answer = 42; }").unwrap();
    let store = tmp.path().join("store");

    let o = rnix(&store)
        .args(["--eval", "-I"])
        .arg(format!("nixpkgs={}", np.display()))
        .args(["-E", "(import <nixpkgs/lib>).answer"])
        .output()
        .unwrap();
    assert_eq!(out(&o), "42\n", "{}", err(&o));
    assert!(!err(&o).contains("embedded package set"), "{}", err(&o));

    let o = rnix(&store)
        .env("NIX_PATH", format!("nixpkgs={}", np.display()))
        .args(["--eval", "-E", "(import <nixpkgs> {}).mine"])
        .output()
        .unwrap();
    assert_eq!(out(&o), "true\n", "{}", err(&o));

    // Without a nixpkgs entry the embedded set answers (with its notice) ...
    let o = rnix(&store)
        .args(["--eval", "-E", "builtins.isAttrs (import <nixpkgs> {})"])
        .output()
        .unwrap();
    assert_eq!(out(&o), "true\n", "{}", err(&o));
    assert!(err(&o).contains("embedded package set"), "{}", err(&o));
    // ... unless it is turned off: then it is Nix's error.
    let o = rnix(&store)
        .args(["--eval", "--option", "embedded-nixpkgs", "false"])
        .args(["-E", "import <nixpkgs>"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("file 'nixpkgs' was not found in the Nix search path"),
        "{}",
        err(&o)
    );
}

#[test]
fn nix_store_dir_is_the_logical_store_dir() {
    // A fixed directory: store paths hash the store dir, so the recorded values need it.
    let dir = Path::new("/tmp/rnix-test-nix-store-dir");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("store")).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/a.txt"), "hello\n").unwrap();
    let exprs = [
        (
            "toString (builtins.toFile \"x\" \"y\")",
            "\"/tmp/rnix-test-nix-store-dir/store/apyrl3fidcnn41sphxfljfvjpcyc5207-x\"\n",
        ),
        (
            "builtins.storeDir",
            "\"/tmp/rnix-test-nix-store-dir/store\"\n",
        ),
        (
            "\"${/tmp/rnix-test-nix-store-dir/src}\"",
            "\"/tmp/rnix-test-nix-store-dir/store/l3h4kclyx1y9jfmd2qpwx7id0q73iwr6-src\"\n",
        ),
    ];
    let env = |c: &mut Command| {
        c.env("NIX_STORE_DIR", dir.join("store"))
            .env("NIX_STATE_DIR", dir.join("var/nix"))
            .env("NIX_LOG_DIR", dir.join("var/log/nix"))
            .env("NIX_CONF_DIR", dir.join("etc"))
            .env_remove("RNIX_STORE")
            .env_remove("NIX_PATH");
    };
    for (e, want) in exprs {
        let mut c = Command::new(INSTANTIATE);
        env(&mut c);
        let o = c
            .args(["--eval", "--read-write-mode", "-E", e])
            .output()
            .unwrap();
        assert_eq!(out(&o), want, "{e}: {}", err(&o));
        let printed = want.trim().trim_matches('"');
        assert!(Path::new(printed).exists(), "{printed} must exist on disk");
        if live() {
            let mut c = Command::new("nix-instantiate");
            env(&mut c);
            let o = c
                .args(["--eval", "--read-write-mode", "-E", e])
                .output()
                .unwrap();
            assert_eq!(out(&o), want, "Nix 2.8 on {e}: {}", err(&o));
        }
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("store/l3h4kclyx1y9jfmd2qpwx7id0q73iwr6-src/a.txt"))
            .unwrap(),
        "hello\n"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unexpected_argument_names_are_quoted_as_nix_prints_them() {
    let tmp = tempfile::tempdir().unwrap();
    for (arg, shown) in [
        ("\"b c\"", "'\"b c\"'"),
        ("\"if\"", "'\"if\"'"),
        ("b-c'", "'b-c''"),
        ("b", "'b'"),
    ] {
        let e = format!("({{ a }}: a) {{ {arg} = 1; a = 1; }}");
        let o = rnix(tmp.path())
            .args(["--eval", "-E", &e])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        let want = format!("called with unexpected argument {shown}");
        assert!(err(&o).contains(&want), "{e}: {}", err(&o));
        if live() {
            let o = Command::new("nix-instantiate")
                .args(["--eval", "-E", &e])
                .output()
                .unwrap();
            assert!(err(&o).contains(&want), "Nix 2.8 on {e}: {}", err(&o));
        }
    }
}
