//! End-to-end (issue 13): the image closure as nixpkgs computes it (store paths named only
//! in `config`, or only in what `extraCommands` writes, are in the image) and the
//! customisation scripts (`extraCommands`, `fakeRootCommands` + `enableFakechroot`),
//! checked by loading the images in Docker and running them.
//!
//! Each image gets a tag unique to the run, so its derivation is built by the code under
//! test even in the shared store (the packages it uses stay cached there).

mod common;
use common::*;
use std::path::Path;

fn load_file(image: &str, result: &Path) {
    let _ = docker(&["rmi", "-f", image]);
    let o = sh(&format!("docker load < '{}'", result.display()));
    assert!(
        o.status.success(),
        "docker load failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `docker run --rm IMAGE ARGS…`; panics with the container's stderr on failure.
fn run(image: &str, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm", image];
    a.extend_from_slice(args);
    docker_ok(&a)
}

/// An app (a `writeShellScriptBin`) referenced only from `config.Cmd`; nothing in
/// `contents`/`copyToRoot`.
const CMD_ONLY: &str = r#"
{ tag, kind }:
let
  pkgs = import <nixpkgs> { };
  app = pkgs.writeShellScriptBin "rnix-closure-app" ''
    echo "app from the config closure: $1"
  '';
  args = {
    name = "rnix-closure-${kind}";
    inherit tag;
    config.Cmd = [ "${app}/bin/rnix-closure-app" "${kind}" ];
  };
in
if kind == "layered" then pkgs.dockerTools.buildLayeredImage args
else if kind == "stream" then pkgs.dockerTools.streamLayeredImage args
else throw "kind"
"#;

#[test]
fn layered_image_runs_app_named_only_in_cmd() {
    if !require_docker() {
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    let expr = CMD_ONLY.replace("{ tag, kind }:", "{ tag, kind ? \"layered\" }:");
    let result = build_expr(tmp.path(), &expr, &tag);
    let image = format!("rnix-closure-layered:{tag}");
    load_file(&image, &result);
    let out = run(&image, &[]);
    let _ = docker(&["rmi", "-f", &image]);
    assert_eq!(out.trim(), "app from the config closure: layered");
}

#[test]
fn stream_layered_image_runs_app_named_only_in_cmd() {
    if !require_docker() {
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    let expr = CMD_ONLY.replace("{ tag, kind }:", "{ tag, kind ? \"stream\" }:");
    let exe = build_expr(tmp.path(), &expr, &tag);
    let image = format!("rnix-closure-stream:{tag}");
    let _ = docker(&["rmi", "-f", &image]);
    stream_into_docker(&exe);
    let out = run(&image, &[]);
    let _ = docker(&["rmi", "-f", &image]);
    assert_eq!(out.trim(), "app from the config closure: stream");
}

/// The nix.dev tutorial's shape: `buildImage`, no `copyToRoot`, the program named only in
/// `config`: python from the package set in `Entrypoint`, a script of its own only in `Env`.
#[test]
fn build_image_without_copy_to_root_runs_config_paths() {
    if !require_docker() {
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    let expr = r#"
{ tag }:
let
  pkgs = import <nixpkgs> { };
  greeting = pkgs.writeText "rnix-greeting.py" ''
    print("python from the config closure")
  '';
in
pkgs.dockerTools.buildImage {
  name = "rnix-closure-image";
  inherit tag;
  config = {
    Entrypoint = [ "${pkgs.python3}/bin/python3" ];
    Cmd = [ "-c" "import os; exec(open(os.environ['GREETING']).read())" ];
    Env = [ "GREETING=${greeting}" ];
  };
}
"#;
    let result = build_expr(tmp.path(), expr, &tag);
    let image = format!("rnix-closure-image:{tag}");
    load_file(&image, &result);
    let out = run(&image, &[]);
    let _ = docker(&["rmi", "-f", &image]);
    assert_eq!(out.trim(), "python from the config closure");
}

/// `extraCommands` on buildImage and buildLayeredImage: `mkdir -m 1777 tmp` (nixpkgs makes
/// no /tmp of its own), `chmod 1777`, and a file it writes that names a store path nothing
/// else in the image refers to (bash, as the script's interpreter): that path is in the
/// image, as nixpkgs' reference scan of the layer puts it there.
const EXTRA_COMMANDS: &str = r#"
{ tag, kind }:
let
  pkgs = import <nixpkgs> { };
  args = {
    name = "rnix-extra-${kind}";
    inherit tag;
    extraCommands = ''
      mkdir -m 1777 tmp
      mkdir shared
      chmod 1777 shared
      printf '#!${pkgs.bash}/bin/bash\necho "written by extraCommands"\n' > hello
      chmod 755 hello
    '';
    config.Cmd = [ "/hello" ];
  };
in
if kind == "layered" then pkgs.dockerTools.buildLayeredImage (args // { contents = [ pkgs.coreutils ]; })
else pkgs.dockerTools.buildImage (args // { copyToRoot = pkgs.coreutils; })
"#;

fn extra_commands(kind: &str) {
    if !require_docker() {
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    let expr = EXTRA_COMMANDS.replace("{ tag, kind }:", &format!("{{ tag, kind ? \"{kind}\" }}:"));
    let result = build_expr(tmp.path(), &expr, &tag);
    let image = format!("rnix-extra-{kind}:{tag}");
    load_file(&image, &result);
    let stat = run(&image, &["stat", "-c", "%n %u:%g %a", "/tmp", "/shared"]);
    let hello = run(&image, &[]);
    let _ = docker(&["rmi", "-f", &image]);
    assert_eq!(stat.trim(), "/tmp 0:0 1777\n/shared 0:0 1777");
    assert_eq!(hello.trim(), "written by extraCommands");
}

/// buildImage with `runAsRoot` and `extraCommands`: runAsRoot runs first (nixpkgs' order),
/// and a store path named only in what it writes is in the image.
#[test]
fn build_image_run_as_root_output_and_order() {
    if !require_docker() {
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    let expr = r#"
{ tag }:
let
  pkgs = import <nixpkgs> { };
  marker = pkgs.writeText "rnix-marker" "marker from runAsRoot";
in
pkgs.dockerTools.buildImage {
  name = "rnix-run-as-root";
  inherit tag;
  copyToRoot = pkgs.coreutils;
  runAsRoot = ''
    echo ${marker} > /marker
    echo runAsRoot > /order
  '';
  extraCommands = ''
    echo extraCommands >> order
  '';
}
"#;
    let result = build_expr(tmp.path(), expr, &tag);
    let image = format!("rnix-run-as-root:{tag}");
    load_file(&image, &result);
    let order = run(&image, &["cat", "/order"]);
    let marker = run(&image, &["cat", "/marker"]);
    let text = run(&image, &["cat", marker.trim()]);
    let _ = docker(&["rmi", "-f", &image]);
    assert_eq!(order, "runAsRoot\nextraCommands\n");
    assert_eq!(text, "marker from runAsRoot");
}

#[test]
fn build_image_extra_commands() {
    extra_commands("image");
}

#[test]
fn layered_image_extra_commands() {
    extra_commands("layered");
}

/// `fakeRootCommands` with `enableFakechroot` (absolute paths are the image root): a file
/// made and `chown`ed to 1000:1000 keeps that owner in the image, and `chown -R` by name
/// (the image's /etc/passwd and /etc/group, written by the same script) reaches a tree.
#[test]
fn layered_image_fake_root_commands_chown() {
    if !require_docker() {
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    let expr = r#"
{ tag }:
let pkgs = import <nixpkgs> { }; in
pkgs.dockerTools.buildLayeredImage {
  name = "rnix-fakeroot";
  inherit tag;
  contents = [ pkgs.coreutils ];
  enableFakechroot = true;
  fakeRootCommands = ''
    mkdir -p /data
    echo owned > /data/owned.txt
    chmod 640 /data/owned.txt
    chown 1000:1000 /data/owned.txt
    mkdir -p /etc /home/app/sub
    echo 'app:x:1001:1002::/home/app:/bin/sh' > /etc/passwd
    echo 'staff:x:1002:' > /etc/group
    touch /home/app/sub/file
    chown -R app:staff /home/app
  '';
}
"#;
    let result = build_expr(tmp.path(), expr, &tag);
    let image = format!("rnix-fakeroot:{tag}");
    load_file(&image, &result);
    let stat = run(
        &image,
        &[
            "stat",
            "-c",
            "%n %u:%g %a",
            "/data",
            "/data/owned.txt",
            "/home",
            "/home/app",
            "/home/app/sub/file",
        ],
    );
    let _ = docker(&["rmi", "-f", &image]);
    assert_eq!(
        stat.trim(),
        "/data 0:0 755\n/data/owned.txt 1000:1000 640\n/home 0:0 755\n/home/app 1001:1002 755\n/home/app/sub/file 1001:1002 644"
    );
}
