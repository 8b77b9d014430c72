//! Issue 6, acceptance 1 and 2 through the CLI: `rnix-build` of a python environment and of
//! the seed's app + buildEnv; the programs run with only the store at `/nix/store` (a chroot
//! in a user namespace) and a clean environment.

mod common;
use common::*;

fn logical(printed: &str) -> String {
    printed[printed.rfind("/nix/store/").unwrap()..].to_string()
}

#[test]
fn python_env_runs_with_only_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = shared_store();
    let env = build_ok(
        tmp.path(),
        &store,
        &[
            "--no-out-link",
            "-E",
            "with import <nixpkgs> {}; python311.withPackages (ps: [ ps.fastapi ps.uvicorn ])",
        ],
    );
    let env = logical(&env);
    let py = format!("{env}/bin/python3");
    let o = run_in_store_chroot(
        &store,
        &[
            &py,
            "-c",
            "import fastapi, uvicorn, ssl; print('imports ok')",
        ],
    );
    assert!(
        o.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "imports ok");
    let uv = format!("{env}/bin/uvicorn");
    let o = run_in_store_chroot(&store, &[&uv, "--version"]);
    assert!(
        o.status.success(),
        "uvicorn --version failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0.24.0.post1"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn seed_app_and_build_env_are_laid_out_as_nixpkgs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = seed_copy(tmp.path());
    let store = shared_store();
    let expr = r#"
      let pkgs = import <nixpkgs> {};
          app = pkgs.stdenv.mkDerivation rec {
            name = "api-code";
            src = builtins.path { name = "${name}"; path = builtins.filterSource (p: t: baseNameOf p == "main.py") ./.; };
            buildPhase = "";
            installPhase = "mkdir -p $out/app && cp -rT $src $out/app";
          };
          python = pkgs.python311.withPackages (ps: [ ps.fastapi ps.uvicorn ]);
      in pkgs.buildEnv { name = "image-root"; paths = [ app python ]; pathsToLink = [ "/app" "/bin" ]; }
    "#;
    let root = build_ok(&d, &store, &["--no-out-link", "-E", expr]);
    let phys = store
        .join("nix/store")
        .join(logical(&root).trim_start_matches("/nix/store/"));
    let app = phys.join("app");
    assert!(
        std::fs::symlink_metadata(&app).unwrap().is_dir(),
        "app/ is a real directory"
    );
    let main = std::fs::read_link(app.join("main.py")).expect("app/main.py is a symlink");
    let main = main.to_string_lossy();
    assert!(
        main.starts_with("/nix/store/") && main.ends_with("-api-code/app/main.py"),
        "{main}"
    );
    let uv = std::fs::read_link(phys.join("bin/uvicorn")).expect("bin/uvicorn is a symlink");
    assert!(
        uv.to_string_lossy().contains("-env/bin/uvicorn"),
        "{}",
        uv.display()
    );
}

/// As in Nix's sandbox, `/bin/sh` exists for builders (the package set's bash).
#[test]
fn bin_sh_builder_works_in_the_sandbox() {
    let tmp = tempfile::tempdir().unwrap();
    let store = shared_store();
    let p = build_ok(
        tmp.path(),
        &store,
        &[
            "--no-out-link",
            "-E",
            r#"derivation { name = "sh-test"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "echo hello from sh > $out"]; }"#,
        ],
    );
    let phys = store
        .join("nix/store")
        .join(p.trim_start_matches("/nix/store/"));
    assert_eq!(std::fs::read_to_string(phys).unwrap(), "hello from sh\n");
}
