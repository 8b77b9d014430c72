//! The package set's C toolchain (`stdenv.cc`: Debian's GCC 12 behind the cc-wrapper, glibc
//! from the store) through `rnix-build`:
//!
//! - a C program linking zlib (`pkgs.debian.zlib1g-dev`): its interpreter is the store's
//!   glibc loader and its RUNPATH exactly the glibc and zlib1g library directories;
//! - a C++ program (std::vector, std::string, iostream, an exception);
//! - GNU hello 2.10 from its release tarball with stdenv's default phases (autotools);
//! - the C program as an image's `config.Cmd`, loaded and run in Docker.
//!
//! The programs run in the build and again afterwards with only the store mounted at
//! `/nix/store` (a chroot in a user namespace, empty environment).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const HELLO_C: &str = r#"#include <stdio.h>
#include <string.h>
#include <zlib.h>

int main(void) {
    /* the library loaded at run time is the one the program was compiled against */
    if (strcmp(zlibVersion(), ZLIB_VERSION) != 0) {
        fprintf(stderr, "zlib %s at run time, %s in the header\n", zlibVersion(), ZLIB_VERSION);
        return 1;
    }
    printf("Hello from C, zlib %s\n", zlibVersion());
    return 0;
}
"#;

/// The derivation of the brief, as a file to import (`./hello.c` beside it).
const HELLO_C_NIX: &str = r#"{ pkgs ? import <nixpkgs> { } }:
pkgs.stdenv.mkDerivation {
  name = "hello-c";
  src = ./hello.c;
  dontUnpack = true;
  buildInputs = [ pkgs.debian.zlib1g-dev ];
  buildPhase = "gcc -O2 -o hello $src -lz";
  installPhase = ''
    mkdir -p $out/bin && cp hello $out/bin/ && $out/bin/hello
    $out/bin/hello | grep -q '^Hello from C, zlib 1\.'
  '';
}
"#;

/// zlib of Debian bookworm (zlib1g 1:1.2.13.dfsg-1).
const HELLO_C_OUT: &str = "Hello from C, zlib 1.2.13\n";

const HELLO_CPP: &str = r#"#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

struct Oops : std::runtime_error {
    explicit Oops(const std::string &w) : std::runtime_error(w) {}
};

static std::string join(const std::vector<std::string> &words) {
    std::string s;
    for (const auto &w : words) {
        if (!s.empty()) s += ' ';
        s += w;
    }
    return s;
}

int main() {
    std::vector<std::string> words{"Hello", "from"};
    words.push_back("C++");
    try {
        words.at(words.size());
        return 1;
    } catch (const std::out_of_range &) {
    }
    try {
        throw Oops(join(words));
    } catch (const std::exception &e) {
        std::cout << e.what() << ", " << words.size() << " words" << std::endl;
    }
    return 0;
}
"#;

const HELLO_CPP_NIX: &str = r#"let pkgs = import <nixpkgs> { }; in
pkgs.stdenv.mkDerivation {
  name = "hello-cpp";
  src = ./hello.cpp;
  dontUnpack = true;
  buildPhase = "g++ -std=c++17 -O2 -o hello-cpp $src";
  installPhase = ''
    mkdir -p $out/bin && cp hello-cpp $out/bin/
    test "$($out/bin/hello-cpp)" = "Hello from C++, 3 words"
  '';
}
"#;

const HELLO_CPP_OUT: &str = "Hello from C++, 3 words\n";

/// GNU hello from source with stdenv's default phases (configure, make, make install).
const GNU_HELLO_NIX: &str = r#"let pkgs = import <nixpkgs> { }; in
pkgs.stdenv.mkDerivation {
  pname = "hello";
  version = "2.10";
  src = pkgs.fetchurl {
    url = "mirror://debian/pool/main/h/hello/hello_2.10.orig.tar.gz";
    sha256 = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";
  };
}
"#;

/// An image whose command is the C program (nonce in the name: the image's derivation is
/// built by the code under test; hello-c itself may come from the shared store).
const IMAGE_NIX: &str = r#"{ tag }:
let
  pkgs = import <nixpkgs> { };
  helloC = import ./hello-c.nix { inherit pkgs; };
in
pkgs.dockerTools.buildImage {
  name = "rnix-hello-c-${tag}";
  config.Cmd = [ "${helloC}/bin/hello" ];
}
"#;

/// Runs a store program in the chroot; its stdout (asserting success).
fn run_ok(store_root: &Path, argv: &[&str]) -> String {
    let o = run_in_store_chroot(store_root, argv);
    assert!(
        o.status.success(),
        "{argv:?} with only the store: {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The physical path of a logical store path in `store_root`.
fn physical(store_root: &Path, logical: &str) -> PathBuf {
    store_root
        .join("nix/store")
        .join(logical.trim_start_matches("/nix/store/"))
}

/// Writes the files into `dir`, builds `default.nix` (no out-link) in the shared store.
fn build_files(dir: &Path, files: &[(&str, &str)]) -> String {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    build_ok(dir, &shared_store(), &["default.nix", "--no-out-link"])
}

/// `readelf` of the host (binutils) on an ELF file; its stdout.
fn readelf(flag: &str, file: &Path) -> String {
    let o = Command::new("readelf")
        .args([flag, "-W"])
        .arg(file)
        .output()
        .expect("running readelf (binutils)");
    assert!(
        o.status.success(),
        "readelf {flag} {}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The bracketed value after `marker` on the first line of `text` containing it
/// (`(RUNPATH)  Library runpath: [a:b]`, `(NEEDED)  Shared library: [libz.so.1]`).
fn bracketed<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let line = text.lines().find(|l| l.contains(marker))?;
    let rest = &line[line.find(marker)? + marker.len()..];
    let start = rest.find('[')? + 1;
    let end = rest[start..].find(']')? + start;
    Some(&rest[start..end])
}

fn runpath(file: &Path) -> Vec<String> {
    let d = readelf("-d", file);
    assert!(
        !d.contains("(RPATH)"),
        "{}: DT_RPATH instead of DT_RUNPATH:\n{d}",
        file.display()
    );
    // `… (RUNPATH)  Library runpath: [a:b]`
    let rp = bracketed(&d, "(RUNPATH)")
        .unwrap_or_else(|| panic!("{}: no RUNPATH:\n{d}", file.display()));
    rp.split(':').map(str::to_string).collect()
}

fn needed(file: &Path) -> Vec<String> {
    readelf("-d", file)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| bracketed(l, "Shared library:").map(str::to_string))
        .collect()
}

fn interpreter(file: &Path) -> String {
    let l = readelf("-l", file);
    let marker = "[Requesting program interpreter: ";
    l.lines()
        .find_map(|line| {
            let rest = &line[line.find(marker)? + marker.len()..];
            Some(rest[..rest.find(']')?].to_string())
        })
        .unwrap_or_else(|| panic!("{}: no PT_INTERP:\n{l}", file.display()))
}

/// The store path a path inside the store belongs to (`/nix/store/<hash>-<name>`).
fn store_path_of(p: &str) -> &str {
    let rest = p
        .strip_prefix("/nix/store/")
        .unwrap_or_else(|| panic!("{p} is not in /nix/store"));
    match rest.find('/') {
        Some(i) => &p[..("/nix/store/".len() + i)],
        None => p,
    }
}

/// The name part of a store path (`/nix/store/<hash>-<name>/…` → `<name>`).
fn store_name(p: &str) -> &str {
    let sp = store_path_of(p);
    let base = &sp["/nix/store/".len()..];
    base.split_once('-').map(|(_, n)| n).unwrap_or(base)
}

/// The interpreter is the loader of a glibc in the store, and exists there.
fn assert_store_interpreter(store: &Path, exe: &Path) -> String {
    let interp = interpreter(exe);
    assert!(
        interp.starts_with("/nix/store/") && interp.ends_with("/lib/ld-linux-x86-64.so.2"),
        "{}: PT_INTERP {interp}",
        exe.display()
    );
    assert!(
        store_name(&interp).starts_with("glibc"),
        "{}: the interpreter {interp} is not glibc's",
        exe.display()
    );
    assert!(
        physical(store, &interp).exists(),
        "{interp} is not in the store"
    );
    interp
}

#[test]
fn c_program_linking_zlib() {
    if !namespaces_or_skip() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let store = shared_store();
    let out = build_files(
        tmp.path(),
        &[
            ("hello.c", HELLO_C),
            ("hello-c.nix", HELLO_C_NIX),
            ("default.nix", "import ./hello-c.nix { }\n"),
        ],
    );
    let exe_l = format!("{out}/bin/hello");
    let exe = physical(&store, &exe_l);
    eprintln!("hello-c built: {:.1} s", started.elapsed().as_secs_f64());

    assert_eq!(run_ok(&store, &[&exe_l]), HELLO_C_OUT);

    let interp = assert_store_interpreter(&store, &exe);
    let rp = runpath(&exe);
    assert_eq!(rp.len(), 2, "RUNPATH {rp:?}: glibc's and zlib1g's lib/");
    let names: Vec<&str> = rp.iter().map(|d| store_name(d)).collect();
    assert!(
        rp.iter()
            .all(|d| d.ends_with("/lib") && physical(&store, d).is_dir()),
        "RUNPATH {rp:?}"
    );
    let glibc = rp
        .iter()
        .find(|d| store_name(d).starts_with("glibc"))
        .unwrap_or_else(|| panic!("no glibc in RUNPATH {rp:?} ({names:?})"));
    assert_eq!(
        store_path_of(glibc),
        store_path_of(&interp),
        "RUNPATH's glibc and the interpreter's"
    );
    let zlib = rp
        .iter()
        .find(|d| store_name(d).starts_with("zlib1g") && !store_name(d).starts_with("zlib1g-dev"))
        .unwrap_or_else(|| panic!("no zlib1g in RUNPATH {rp:?} ({names:?})"));
    assert!(
        physical(&store, zlib).join("libz.so.1").exists(),
        "{zlib}/libz.so.1"
    );
    let mut n = needed(&exe);
    n.sort();
    assert_eq!(n, ["libc.so.6", "libz.so.1"], "NEEDED");
    eprintln!("hello-c: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn cxx_program_with_exceptions() {
    if !namespaces_or_skip() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let store = shared_store();
    let out = build_files(
        tmp.path(),
        &[("hello.cpp", HELLO_CPP), ("default.nix", HELLO_CPP_NIX)],
    );
    let exe_l = format!("{out}/bin/hello-cpp");
    let exe = physical(&store, &exe_l);
    assert_eq!(run_ok(&store, &[&exe_l]), HELLO_CPP_OUT);
    assert_store_interpreter(&store, &exe);
    let n = needed(&exe);
    assert!(n.iter().any(|l| l == "libstdc++.so.6"), "NEEDED {n:?}");
    let rp = runpath(&exe);
    assert!(
        rp.iter()
            .all(|d| d.starts_with("/nix/store/") && physical(&store, d).is_dir()),
        "RUNPATH {rp:?}"
    );
    assert!(
        rp.iter()
            .any(|d| physical(&store, d).join("libstdc++.so.6").exists()),
        "no directory of RUNPATH {rp:?} has libstdc++.so.6"
    );
    eprintln!("hello-cpp: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn gnu_hello_from_source_with_autotools() {
    if !namespaces_or_skip() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let store = shared_store();
    let out = build_files(tmp.path(), &[("default.nix", GNU_HELLO_NIX)]);
    assert!(out.ends_with("-hello-2.10"), "{out}");
    let exe_l = format!("{out}/bin/hello");
    let exe = physical(&store, &exe_l);
    assert_store_interpreter(&store, &exe);
    let version = run_ok(&store, &[&exe_l, "--version"]);
    assert!(
        version.lines().next().unwrap_or("").contains("2.10"),
        "hello --version:\n{version}"
    );
    assert_eq!(run_ok(&store, &[&exe_l]), "Hello, world!\n");
    eprintln!("GNU hello: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn image_running_the_c_program() {
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    if !namespaces_or_skip() || !require_docker() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let tag = nonce();
    std::fs::write(tmp.path().join("hello.c"), HELLO_C).unwrap();
    std::fs::write(tmp.path().join("hello-c.nix"), HELLO_C_NIX).unwrap();
    let result = build_expr(tmp.path(), IMAGE_NIX, &tag);
    let loaded = load(&result);
    let image = loaded
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .unwrap_or_else(|| panic!("no `Loaded image:` line in {loaded:?}"))
        .trim()
        .to_string();
    let out = docker(&["run", "--rm", &image]);
    let _ = docker(&["rmi", "-f", &image]);
    eprintln!("hello-c image: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        image.starts_with(&format!("rnix-hello-c-{tag}:")),
        "loaded {image}"
    );
    assert!(
        out.status.success(),
        "docker run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), HELLO_C_OUT);
}

const CMAKE_LISTS: &str = r#"cmake_minimum_required(VERSION 3.13)
project(hellocm C)
find_package(ZLIB REQUIRED)
add_executable(hellocm main.c)
target_link_libraries(hellocm ZLIB::ZLIB)
install(TARGETS hellocm)
"#;

const CMAKE_MAIN: &str = r#"#include <stdio.h>
#include <zlib.h>
int main(void) { printf("Hello from CMake, zlib %s\n", zlibVersion()); return 0; }
"#;

/// The project is built by stdenv's default phases: cmake's setup hook gives the configure
/// phase (in ./build, prefix $out) and CMAKE_PREFIX_PATH (find_package(ZLIB)).
const CMAKE_NIX: &str = r#"let pkgs = import <nixpkgs> { }; in
pkgs.stdenv.mkDerivation {
  name = "hellocm";
  src = ./src;
  nativeBuildInputs = [ pkgs.cmake ];
  buildInputs = [ pkgs.debian.zlib1g-dev ];
}
"#;

#[test]
fn cmake_project_with_default_phases() {
    if !namespaces_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = shared_store();
    std::fs::create_dir_all(tmp.path().join("src")).unwrap();
    let out = build_files(
        tmp.path(),
        &[
            ("src/CMakeLists.txt", CMAKE_LISTS),
            ("src/main.c", CMAKE_MAIN),
            ("default.nix", CMAKE_NIX),
        ],
    );
    let exe_l = format!("{out}/bin/hellocm");
    let exe = physical(&store, &exe_l);
    assert_store_interpreter(&store, &exe);
    assert_eq!(run_ok(&store, &[&exe_l]), "Hello from CMake, zlib 1.2.13\n");
}
