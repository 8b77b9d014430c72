//! End-to-end: images of Debian-backed packages, loaded in Docker and run.
//!
//! - the nix.dev tutorial's expression, verbatim (`pkgsLinux.hello` named only in
//!   `config.Cmd`, the tag derived from the output hash);
//! - nginx serving a `writeTextDir` web root, as nixpkgs' dockerTools examples;
//! - a postgres cluster made, started and queried inside a container, as `nobody`.
//!
//! The nginx and postgres images get a tag unique to the run, so their derivations are
//! built by the code under test even in the shared store (the packages stay cached there).
//! The tutorial expression takes no tag: its image may come from the shared store.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// The nix.dev tutorial ("Building and running Docker images"), verbatim.
const TUTORIAL: &str = r#"{ pkgs ? import <nixpkgs> { }
, pkgsLinux ? import <nixpkgs> { system = "x86_64-linux"; }
}:

pkgs.dockerTools.buildImage {
  name = "hello-docker";
  config = {
    Cmd = [ "${pkgsLinux.hello}/bin/hello" ];
  };
}
"#;

/// Builds `dir/default.nix` (no arguments) in the shared store; the physical output path.
fn build_plain(dir: &Path, expr: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("default.nix"), expr).unwrap();
    let out = rnix_build(dir, &shared_store(), &["default.nix", "--no-out-link"]);
    assert!(out.status.success(), "rnix-build failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.lines().last().expect("an output path").trim().into()
}

/// The `name:tag` of the "Loaded image: …" line of `docker load`.
fn loaded_image(load_output: &str) -> String {
    load_output
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .unwrap_or_else(|| panic!("no `Loaded image:` line in {load_output:?}"))
        .trim()
        .to_string()
}

#[test]
fn tutorial_hello_docker_runs_hello() {
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    if !namespaces_or_skip() || !require_docker() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let result = build_plain(tmp.path(), TUTORIAL);
    // nixpkgs: the tag is the hash part of the image's output path.
    let base = result.file_name().unwrap().to_string_lossy().into_owned();
    let (hash, name) = base.split_once('-').unwrap();
    assert_eq!(
        name,
        "docker-image-hello-docker.tar.gz",
        "{}",
        result.display()
    );
    let image = format!("hello-docker:{hash}");
    let _ = docker(&["rmi", "-f", &image]);
    let loaded = loaded_image(&load(&result));
    let out = docker(&["run", "--rm", &image]);
    let _ = docker(&["rmi", "-f", &image]);
    eprintln!("tutorial image: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(loaded, image);
    assert!(
        out.status.success(),
        "docker run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, world!\n");
}

/// nixpkgs' dockerTools example `nginx`, with buildImage and copyToRoot.
const NGINX: &str = r#"
{ tag }:
let
  pkgs = import <nixpkgs> { };
  webroot = pkgs.writeTextDir "index.html" ''
    <html><body><h1>Hello from rnix's nginx</h1></body></html>
  '';
  nginxConf = pkgs.writeText "nginx.conf" ''
    user nobody nobody;
    daemon off;
    error_log /dev/stdout info;
    pid /dev/null;
    events {}
    http {
      include ${pkgs.nginx}/conf/mime.types;
      access_log /dev/stdout;
      client_body_temp_path /tmp/nginx_client_body;
      server {
        listen 80;
        index index.html;
        location / {
          root ${webroot};
        }
      }
    }
  '';
in
pkgs.dockerTools.buildImage {
  name = "rnix-nginx";
  inherit tag;
  copyToRoot = [ pkgs.dockerTools.fakeNss pkgs.nginx ];
  extraCommands = ''
    mkdir -p tmp/nginx_client_body var/log/nginx var/lib/nginx
  '';
  config = {
    Cmd = [ "nginx" "-c" nginxConf ];
    ExposedPorts."80/tcp" = { };
  };
}
"#;

#[test]
fn nginx_image_serves_web_root() {
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    if !namespaces_or_skip() || !require_docker() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    let result = build_expr(tmp.path(), NGINX, &tag);
    let image = format!("rnix-nginx:{tag}");
    let loaded = loaded_image(&load(&result));
    assert_eq!(loaded, image);
    let port = free_port();
    let id = docker_ok(&["run", "-d", "-p", &format!("127.0.0.1:{port}:80"), &image]);
    let id = id.trim().to_string();
    let body = wait_for_http(port, Duration::from_secs(30));
    let logs = docker(&["logs", &id]);
    let _ = docker(&["rm", "-f", &id]);
    let _ = docker(&["rmi", "-f", &image]);
    eprintln!("nginx image: {:.1} s", started.elapsed().as_secs_f64());
    let body = body.unwrap_or_else(|| {
        panic!(
            "nginx did not answer within 30 s; container logs:\n{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        )
    });
    assert_eq!(
        body,
        "<html><body><h1>Hello from rnix's nginx</h1></body></html>\n"
    );
}

/// A postgres cluster in a container run as `nobody` (fakeNss): initdb, start on a Unix
/// socket in /tmp, one query with psql, stop.
const POSTGRES: &str = r#"
{ tag }:
let
  pkgs = import <nixpkgs> { };
  run = pkgs.writeShellScript "run-postgres" ''
    set -e
    export HOME=/tmp TMPDIR=/tmp
    initdb -D /tmp/db -U postgres > /tmp/initdb.log 2>&1 || { cat /tmp/initdb.log; exit 1; }
    pg_ctl -D /tmp/db -l /tmp/pg.log -o "-k /tmp -c listen_addresses=" -w start > /dev/null \
      || { cat /tmp/pg.log; exit 1; }
    psql -h /tmp -U postgres -tAc 'select 1'
    pg_ctl -D /tmp/db -m fast -w stop > /dev/null
  '';
in
pkgs.dockerTools.buildImage {
  name = "rnix-postgres";
  inherit tag;
  copyToRoot = [ pkgs.dockerTools.fakeNss pkgs.postgresql pkgs.bash pkgs.coreutils ];
  config.Cmd = [ "${run}" ];
}
"#;

#[test]
fn postgres_image_initdb_start_query() {
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    if !namespaces_or_skip() || !require_docker() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    let result = build_expr(tmp.path(), POSTGRES, &tag);
    let image = format!("rnix-postgres:{tag}");
    let loaded = loaded_image(&load(&result));
    assert_eq!(loaded, image);
    let out = docker(&["run", "--rm", "--user", "65534:65534", &image]);
    let _ = docker(&["rmi", "-f", &image]);
    eprintln!("postgres image: {:.1} s", started.elapsed().as_secs_f64());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().any(|l| l.trim() == "1"),
        "docker run: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

/// The dockerTools manual's runAsRoot example: `shadowSetup`, then groupadd/useradd from
/// shadow and a `chown` to the new user; the image runs redis as that user.
const REDIS_SHADOW: &str = r#"
{ tag }:
let pkgs = import <nixpkgs> { }; in
pkgs.dockerTools.buildImage {
  name = "rnix-redis-shadow";
  inherit tag;
  copyToRoot = pkgs.buildEnv {
    name = "image-root";
    paths = [ pkgs.redis pkgs.coreutils ];
    pathsToLink = [ "/bin" ];
  };
  runAsRoot = ''
    #!${pkgs.runtimeShell}
    ${pkgs.dockerTools.shadowSetup}
    groupadd -r redis
    useradd -r -g redis redis
    mkdir /data
    chown redis:redis /data
  '';
  config = {
    Cmd = [ "/bin/redis-server" "--protected-mode" "no" ];
    User = "redis";
    WorkingDir = "/data";
    Volumes = { "/data" = { }; };
  };
}
"#;

#[test]
fn shadow_setup_useradd_and_chown_in_run_as_root() {
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    if !namespaces_or_skip() || !require_docker() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    let result = build_expr(tmp.path(), REDIS_SHADOW, &tag);
    let image = format!("rnix-redis-shadow:{tag}");
    assert_eq!(loaded_image(&load(&result)), image);
    let id = docker_ok(&["run", "-d", &image]).trim().to_string();
    let mut pong = String::new();
    for _ in 0..50 {
        let o = docker(&["exec", &id, "/bin/redis-cli", "PING"]);
        pong = String::from_utf8_lossy(&o.stdout).into_owned();
        if pong.trim() == "PONG" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let data = docker(&["exec", &id, "/bin/stat", "-c", "%U:%G %a", "/data"]);
    let whoami = docker(&["exec", &id, "/bin/id", "-un"]);
    let _ = docker(&["rm", "-f", &id]);
    let _ = docker(&["rmi", "-f", &image]);
    assert_eq!(pong.trim(), "PONG");
    assert_eq!(
        String::from_utf8_lossy(&data.stdout).trim(),
        "redis:redis 755"
    );
    assert_eq!(String::from_utf8_lossy(&whoami.stdout).trim(), "redis");
}

/// A node HTTP server in an image (issue 12, acceptance 2): `Cmd` runs node on a script from
/// the store; the test queries it through a published port.
const NODE: &str = r#"
{ tag }:
let
  pkgs = import <nixpkgs> { };
  server = pkgs.writeText "server.js" ''
    const http = require("http");
    http.createServer((req, res) => {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ message: "Hello from node " + process.version }));
    }).listen(3000, "0.0.0.0");
  '';
in
pkgs.dockerTools.buildLayeredImage {
  name = "rnix-node";
  inherit tag;
  config.Cmd = [ "${pkgs.nodejs}/bin/node" "${server}" ];
  config.ExposedPorts."3000/tcp" = { };
}
"#;

#[test]
fn node_http_server_image() {
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    if !namespaces_or_skip() || !require_docker() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    let result = build_expr(tmp.path(), NODE, &tag);
    let image = format!("rnix-node:{tag}");
    assert_eq!(loaded_image(&load(&result)), image);
    let port = free_port();
    let id = docker_ok(&["run", "-d", "-p", &format!("127.0.0.1:{port}:3000"), &image])
        .trim()
        .to_string();
    let body = wait_for_http(port, Duration::from_secs(30));
    let logs = docker(&["logs", &id]);
    let _ = docker(&["rm", "-f", &id]);
    let _ = docker(&["rmi", "-f", &image]);
    let body = body.unwrap_or_else(|| {
        panic!(
            "node did not answer within 30 s; container logs:\n{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        )
    });
    assert!(
        body.starts_with("{\"message\":\"Hello from node v22."),
        "{body}"
    );
}
