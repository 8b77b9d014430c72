//! Every Debian package of the list, built from the repository's lock into a temporary
//! store: each main program runs with only its closure at `/nix/store`, no ELF file needs a
//! library that its dependencies do not provide, and none refers to `/usr/lib` or `/lib64`.
//! Also a Python environment with every wheel of the lock.

mod deb_support;

use std::fs;

use deb_support::*;
use pkgset::builders::StoreObject;
use pkgset::elf;
use pkgset::python::{build_python_env, compile_argv, compile_env, PythonEnvBuild};

/// (group, program, args, expected output)
const PROGRAMS: &[(&str, &str, &[&str], &str)] = &[
    ("bash", "bash", &["--version"], "GNU bash"),
    ("coreutils", "ls", &["--version"], "GNU coreutils"),
    (
        "findutils",
        "find",
        &["/nix/store", "-maxdepth", "0"],
        "/nix/store",
    ),
    ("sed", "sed", &["--version"], "GNU sed"),
    ("grep", "grep", &["-E", "--version"], "GNU grep"),
    ("gawk", "awk", &["BEGIN { print 6*7 }"], "42"),
    ("tar", "tar", &["--version"], "GNU tar"),
    ("gzip", "gzip", &["--version"], "gzip 1.12"),
    ("xz-utils", "xz", &["--version"], "liblzma 5.4.1"),
    ("diffutils", "diff", &["--version"], "GNU diffutils"),
    ("patch", "patch", &["--version"], "GNU patch"),
    ("openssl", "openssl", &["version"], "OpenSSL 3.0"),
    ("curl", "curl", &["--version"], "libcurl/7.88.1 OpenSSL/3.0"),
    (
        "python311",
        "python3",
        &[
            "-c",
            "import ssl, sqlite3, zlib, bz2, lzma, ctypes, curses, readline, dbm; print('py ok')",
        ],
        "py ok",
    ),
];

const NEEDED: &[&str] = &[
    "bash",
    "coreutils",
    "findutils",
    "sed",
    "grep",
    "gawk",
    "tar",
    "gzip",
    "xz-utils",
    "diffutils",
    "patch",
    "openssl",
    "curl",
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "ca-certificates",
    "tzdata",
    "libc6",
];

fn fetch_all(ts: &TestStore, groups: &[&str]) -> bool {
    let mut all = std::collections::BTreeSet::new();
    for g in groups {
        all.insert(g.to_string());
        all.extend(ts.closure_of(g).unwrap());
    }
    for g in &all {
        for m in ts.groups.get(g).cloned().unwrap_or_else(|| vec![g.clone()]) {
            if let Err(e) = fetch(&ts.pkgs[&m]) {
                unavailable(&format!("downloading {m}: {e:#}"));
                return false;
            }
        }
    }
    true
}

#[test]
fn every_listed_package_runs_from_its_closure() {
    if !realise::sandbox::namespaces_available() {
        return unavailable("Linux user namespaces");
    }
    let pkgs = debian_packages(NEEDED);
    if !NEEDED.iter().all(|n| pkgs.contains_key(*n)) {
        return unavailable("pkgs/lock.json does not hold every listed package yet");
    }
    let mut ts = TestStore::new(pkgs);
    let mut groups: Vec<&str> = PROGRAMS.iter().map(|p| p.0).collect();
    groups.extend(["ca-certificates", "tzdata"]);
    if !fetch_all(&ts, &groups) {
        return;
    }
    for (group, prog, args, expect) in PROGRAMS {
        let obj = ts.build(group).unwrap_or_else(|e| panic!("{group}: {e:#}"));
        let exe = format!("{}/bin/{prog}", obj.logical.display());
        let mut argv = vec![exe.as_str()];
        argv.extend(args.iter());
        let (ok, out) =
            run_isolated(&ts.store_dir(), &ts.closure_paths(group), &argv, &[]).unwrap();
        assert!(ok && out.contains(expect), "{group}: {argv:?}: {out}");
    }
    let tz = ts.build("tzdata").unwrap();
    assert!(tz.real.join("share/zoneinfo/Europe/Paris").exists());
    let ca = ts.build("ca-certificates").unwrap();
    assert!(ca.real.join("etc/ssl/certs/ca-certificates.crt").is_file());
    // curl can read the bundle (no network needed to load it).
    let curl = ts.built["curl"].clone();
    let mut closure = ts.closure_paths("curl");
    closure.push(ca.logical.display().to_string());
    let bundle = format!("{}/etc/ssl/certs/ca-certificates.crt", ca.logical.display());
    let (_, out) = run_isolated(
        &ts.store_dir(),
        &closure,
        &[
            &format!("{}/bin/curl", curl.logical.display()),
            "--cacert",
            &bundle,
            "-sS",
            "file:///nix/store/",
        ],
        &[],
    )
    .unwrap();
    assert!(!out.contains("error setting certificate"), "{out}");

    let glibc = ts.built["glibc"].clone();
    let loader = format!("{}/lib/ld-linux-x86-64.so.2", glibc.logical.display());
    for (group, obj) in &ts.built {
        for l in &ts.logs[group] {
            assert!(!l.starts_with("warning:"), "{group}: {l}");
        }
        let mut files = Vec::new();
        elf::walk_files(&obj.real, "", &mut files).unwrap();
        for rel in files {
            let p = obj.real.join(&rel);
            let Some(info) = elf::read_file_info(&p).unwrap() else {
                continue;
            };
            for r in &info.runpath {
                assert!(
                    r.starts_with("/nix/store/") || r.starts_with("$ORIGIN"),
                    "{group}/{rel}: RUNPATH {r}"
                );
            }
            if let Some(i) = &info.interpreter {
                assert_eq!(i, &loader, "{group}/{rel}");
            }
            let re = readelf(&p).unwrap();
            assert!(
                !re.contains("/usr/lib") && !re.contains("/lib64"),
                "{group}/{rel}:\n{re}"
            );
        }
    }
}

#[test]
fn every_locked_wheel_imports() {
    if !realise::sandbox::namespaces_available() {
        return unavailable("Linux user namespaces");
    }
    // numpy's wheel needs libstdc++.so.6 (allowed by the manylinux policy).
    let pkgs = debian_packages(&[
        "libc6",
        "python3.11-minimal",
        "libpython3.11-minimal",
        "libpython3.11-stdlib",
        "libgcc-s1",
    ]);
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pkgs/lock.json");
    let pins = wheels(&[
        "numpy",
        "sqlalchemy",
        "pyyaml",
        "flask",
        "gunicorn",
        "requests",
        "httpx",
        "jinja2",
    ]);
    if !pins.contains_key("numpy") || !lock.exists() {
        return unavailable("pkgs/lock.json does not hold the wheels yet");
    }
    let mut ts = TestStore::new(pkgs);
    if !fetch_all(&ts, &["python311", "libgcc-s1", "libstdc++6"]) {
        return;
    }
    let mut files = Vec::new();
    for (k, pin) in &pins {
        match fetch(pin) {
            Ok(p) => files.push(p),
            Err(e) => return unavailable(&format!("downloading wheel {k}: {e:#}")),
        }
    }
    let python = ts.build("python311").unwrap();
    let glibc = ts.build("glibc").unwrap();
    let gcc = ts.build("libgcc-s1").unwrap();
    let stdcxx = ts.build("libstdc++6").unwrap();
    let logical = logical_path("python3-3.11.2-env-all");
    let out = StoreObject::new(
        &logical,
        ts.store_dir()
            .join(logical.trim_start_matches("/nix/store/")),
    );
    build_python_env(&PythonEnvBuild {
        python,
        wheels: files,
        deps: ts.deps_of["python311"]
            .iter()
            .map(|g| ts.built[g].clone())
            .chain([glibc, gcc.clone(), stdcxx.clone()])
            .collect(),
        python_version: "3.11".into(),
        out: out.clone(),
    })
    .unwrap();
    let mut closure = ts.closure_paths("python311");
    closure.push(gcc.logical.display().to_string());
    closure.push(stdcxx.logical.display().to_string());
    let root = tempfile::tempdir().unwrap();
    let argv = compile_argv(&out.logical, "3.11");
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let env = compile_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (ok, log) = run_in(
        root.path(),
        &ts.store_dir(),
        &closure,
        &argv,
        &env,
        vec![realise::sandbox::Bind::rw(&out.real, &logical)],
    )
    .unwrap();
    assert!(ok, "compileall: {log}");
    closure.push(logical.clone());
    let code = "import fastapi, uvicorn, flask, gunicorn, requests, httpx, sqlalchemy, jinja2, numpy, yaml, markupsafe, charset_normalizer; \
                print('sum', int(numpy.arange(10).sum()), yaml.__with_libyaml__)";
    let (ok, o) = run_isolated(
        &ts.store_dir(),
        &closure,
        &[&format!("{logical}/bin/python3"), "-c", code],
        &[],
    )
    .unwrap();
    assert!(ok && o.contains("sum 45"), "{o}");
    for script in ["gunicorn", "flask", "uvicorn", "httpx"] {
        assert!(
            fs::metadata(out.real.join("bin").join(script)).is_ok(),
            "bin/{script} missing"
        );
    }
    let (ok, o) = run_isolated(
        &ts.store_dir(),
        &closure,
        &[&format!("{logical}/bin/gunicorn"), "--version"],
        &[],
    )
    .unwrap();
    assert!(ok && o.contains("gunicorn"), "{o}");
}

use std::path::Path;
