//! Builds real Debian packages (bash, coreutils, python3.11, gawk, sed, ca-certificates and
//! their libraries) into a temporary store, runs their programs with only their closure at
//! `/nix/store` and a clean environment, and checks that no ELF file refers to `/usr/lib` or
//! `/lib64`. Also checks that malformed or malicious `.deb`s are rejected with an error.

mod deb_support;

use std::fs;
use std::io::Write;
use std::path::Path;

use deb_support::*;
use pkgset::builders::StoreObject;
use pkgset::deb::{build_deb_package, DebBuild, DebUnpacker};
use pkgset::elf;

const NEEDED: &[&str] = &[
    "bash",
    "coreutils",
    "libc6",
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "gawk",
    "sed",
    "ca-certificates",
];

fn check_elf_tree(obj: &StoreObject, glibc: &StoreObject) {
    let mut files = Vec::new();
    elf::walk_files(&obj.real, "", &mut files).unwrap();
    let loader = format!("{}/lib/ld-linux-x86-64.so.2", glibc.logical.display());
    let mut n = 0;
    for rel in files {
        let p = obj.real.join(&rel);
        let Some(info) = elf::read_file_info(&p).unwrap() else {
            continue;
        };
        n += 1;
        for r in &info.runpath {
            assert!(
                r.starts_with("/nix/store/") || r.starts_with("$ORIGIN"),
                "{rel}: RUNPATH entry {r}"
            );
        }
        if let Some(i) = &info.interpreter {
            assert_eq!(i, &loader, "{rel}: interpreter");
        }
        let re = readelf(&p).unwrap();
        for bad in ["/usr/lib", "/lib64", "x86_64-linux-gnu/"] {
            assert!(!re.contains(bad), "{rel}: readelf shows {bad}:\n{re}");
        }
    }
    assert!(n > 0, "no ELF files in {}", obj.logical.display());
}

#[test]
fn debian_packages_run_from_the_store() {
    if !realise::sandbox::namespaces_available() {
        return unavailable("Linux user namespaces");
    }
    let pkgs = debian_packages(NEEDED);
    let mut ts = TestStore::new(pkgs);
    // Download everything first: a network failure is an environment problem, not a bug.
    let mut all = std::collections::BTreeSet::new();
    for g in [
        "bash",
        "coreutils",
        "python311",
        "gawk",
        "sed",
        "ca-certificates",
    ] {
        all.insert(g.to_string());
        all.extend(ts.closure_of(g).unwrap());
    }
    for g in &all {
        let members = ts.groups.get(g).cloned().unwrap_or_else(|| vec![g.clone()]);
        for m in members {
            if let Err(e) = fetch(&ts.pkgs[&m]) {
                return unavailable(&format!("downloading {m}: {e:#}"));
            }
        }
    }

    let glibc = ts.build("glibc").unwrap();
    assert!(glibc.real.join("lib/ld-linux-x86-64.so.2").is_file());
    assert!(glibc.real.join("lib/libc.so.6").exists());
    assert!(!glibc.real.join("lib64").exists());
    assert!(!glibc.real.join("share/doc").exists());

    let bash = ts.build("bash").unwrap();
    let (ok, out) = run_isolated(
        &ts.store_dir(),
        &ts.closure_paths("bash"),
        &[&format!("{}/bin/bash", bash.logical.display()), "--version"],
        &[],
    )
    .unwrap();
    assert!(ok && out.contains("GNU bash"), "bash --version: {out}");
    let (ok, out) = run_isolated(
        &ts.store_dir(),
        &ts.closure_paths("bash"),
        &[
            &format!("{}/bin/sh", bash.logical.display()),
            "-c",
            "echo hi $((6*7))",
        ],
        &[],
    )
    .unwrap();
    assert!(ok && out.contains("hi 42"), "sh -c: {out}");
    // RUNPATH of bash: exactly glibc and libtinfo6.
    let info = elf::read_file_info(&bash.real.join("bin/bash"))
        .unwrap()
        .unwrap();
    let tinfo = &ts.built["libtinfo6"];
    let mut expected = vec![
        format!("{}/lib", tinfo.logical.display()),
        format!("{}/lib", glibc.logical.display()),
    ];
    let mut got = info.runpath.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);

    let coreutils = ts.build("coreutils").unwrap();
    let (ok, out) = run_isolated(
        &ts.store_dir(),
        &ts.closure_paths("coreutils"),
        &[
            &format!("{}/bin/ls", coreutils.logical.display()),
            "--version",
        ],
        &[],
    )
    .unwrap();
    assert!(ok && out.contains("GNU coreutils"), "ls --version: {out}");
    let (ok, out) = run_isolated(
        &ts.store_dir(),
        &ts.closure_paths("coreutils"),
        &[
            &format!("{}/bin/ls", coreutils.logical.display()),
            "/nix/store",
        ],
        &[],
    )
    .unwrap();
    assert!(ok && out.contains("-coreutils-9"), "ls /nix/store: {out}");

    let python = ts.build("python311").unwrap();
    assert_eq!(
        fs::read_link(python.real.join("bin/python3")).unwrap(),
        Path::new("python3.11")
    );
    let (ok, out) = run_isolated(
        &ts.store_dir(),
        &ts.closure_paths("python311"),
        &[&format!("{}/bin/python3", python.logical.display()), "-c", "import ssl, zlib, sqlite3, bz2, lzma, ctypes, uuid, json, decimal, hashlib, sys; print(ssl.OPENSSL_VERSION, sqlite3.sqlite_version, sys.prefix)"],
        &[],
    )
    .unwrap();
    assert!(ok && out.contains("OpenSSL 3"), "python3 -c import: {out}");
    assert!(
        out.contains(&python.logical.display().to_string()),
        "sys.prefix: {out}"
    );

    let gawk = ts.build("gawk").unwrap();
    let (ok, out) = run_isolated(
        &ts.store_dir(),
        &ts.closure_paths("gawk"),
        &[
            &format!("{}/bin/awk", gawk.logical.display()),
            "BEGIN { print 6*7 }",
        ],
        &[],
    )
    .unwrap();
    assert!(ok && out.trim() == "42", "awk: {out}");
    let sed = ts.build("sed").unwrap();
    let (ok, out) = run_isolated(
        &ts.store_dir(),
        &ts.closure_paths("sed"),
        &[&format!("{}/bin/sed", sed.logical.display()), "--version"],
        &[],
    )
    .unwrap();
    assert!(ok && out.contains("GNU sed"), "sed: {out}");

    let ca = ts.build("ca-certificates").unwrap();
    let bundle = fs::read_to_string(ca.real.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(
        bundle.matches("BEGIN CERTIFICATE").count() > 100,
        "ca bundle too small"
    );
    assert_eq!(
        fs::read_link(ca.real.join("etc/ssl/certs/ca-bundle.crt")).unwrap(),
        Path::new("ca-certificates.crt")
    );

    for (name, obj) in &ts.built {
        if name == "ca-certificates" {
            continue;
        }
        check_elf_tree(obj, &glibc);
    }
    // Absolute symlinks only point into the store.
    for obj in ts.built.values() {
        let mut stack = vec![obj.real.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let ft = e.file_type().unwrap();
                if ft.is_dir() {
                    stack.push(e.path());
                } else if ft.is_symlink() {
                    let t = fs::read_link(e.path()).unwrap();
                    let t = t.to_string_lossy();
                    assert!(
                        !t.starts_with('/')
                            || t.starts_with("/nix/store/")
                            || t.starts_with("/etc/"),
                        "{}: {t}",
                        e.path().display()
                    );
                }
            }
        }
    }
}

fn make_deb(
    dir: &Path,
    entries: &[(&str, tar::EntryType, &[u8], Option<&str>)],
) -> std::path::PathBuf {
    let mut data = tar::Builder::new(Vec::new());
    for (path, kind, content, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(0o755);
        h.set_size(content.len() as u64);
        // Write the raw name so that `..` is not rejected by the tar crate itself.
        let name = h.as_old_mut();
        name.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        data.append(&h, *content).unwrap();
    }
    let data = data.into_inner().unwrap();
    let mut control = tar::Builder::new(Vec::new());
    let c = b"Package: test\nVersion: 1\n";
    let mut h = tar::Header::new_gnu();
    h.set_path("./control").unwrap();
    h.set_size(c.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    control.append(&h, &c[..]).unwrap();
    let control = control.into_inner().unwrap();
    let p = dir.join("test.deb");
    let mut ar = ar::Builder::new(fs::File::create(&p).unwrap());
    ar.append(
        &ar::Header::new(b"debian-binary".to_vec(), 4),
        &b"2.0\n"[..],
    )
    .unwrap();
    ar.append(
        &ar::Header::new(b"control.tar".to_vec(), control.len() as u64),
        &control[..],
    )
    .unwrap();
    ar.append(
        &ar::Header::new(b"data.tar".to_vec(), data.len() as u64),
        &data[..],
    )
    .unwrap();
    p
}

#[test]
fn escaping_entries_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let deb = make_deb(
        dir.path(),
        &[(
            "./usr/bin/../../../evil",
            tar::EntryType::Regular,
            b"x",
            None,
        )],
    );
    let out = dir.path().join("out");
    let mut u = DebUnpacker::new(&out).unwrap();
    let err = u.add_deb(&deb).unwrap_err();
    assert!(format!("{err:#}").contains("escapes"), "{err:#}");
    assert!(!dir.path().join("evil").exists());
}

#[test]
fn relocation_and_symlinks_in_a_synthetic_package() {
    let dir = tempfile::tempdir().unwrap();
    let dep_real = dir.path().join("dep");
    fs::create_dir_all(dep_real.join("lib")).unwrap();
    fs::write(dep_real.join("lib/libdep.so.1"), b"").unwrap();
    let deb = make_deb(
        dir.path(),
        &[
            ("./usr/", tar::EntryType::Directory, b"", None),
            (
                "./usr/bin/prog",
                tar::EntryType::Regular,
                b"#!/bin/sh\n",
                None,
            ),
            ("./usr/sbin/tool", tar::EntryType::Regular, b"t", None),
            (
                "./usr/lib/x86_64-linux-gnu/libx.so.1.2",
                tar::EntryType::Regular,
                b"lib",
                None,
            ),
            (
                "./usr/lib/x86_64-linux-gnu/libx.so.1",
                tar::EntryType::Symlink,
                b"",
                Some("libx.so.1.2"),
            ),
            (
                "./usr/bin/alias",
                tar::EntryType::Symlink,
                b"",
                Some("/usr/sbin/tool"),
            ),
            (
                "./usr/lib/x86_64-linux-gnu/libdep.so",
                tar::EntryType::Symlink,
                b"",
                Some("/usr/lib/x86_64-linux-gnu/libdep.so.1"),
            ),
            (
                "./usr/share/doc/test/copyright",
                tar::EntryType::Regular,
                b"c",
                None,
            ),
            (
                "./usr/share/test/readme",
                tar::EntryType::Symlink,
                b"",
                Some("../doc/test/copyright"),
            ),
            (
                "./usr/bin/hard",
                tar::EntryType::Link,
                b"",
                Some("./usr/bin/prog"),
            ),
            (
                "./lib64/ld.so",
                tar::EntryType::Symlink,
                b"",
                Some("/lib/x86_64-linux-gnu/ld.so"),
            ),
        ],
    );
    let out = dir.path().join("out");
    let mut u = DebUnpacker::new(&out).unwrap();
    u.add_deb(&deb).unwrap();
    let deps = [StoreObject::new(
        "/nix/store/00000000000000000000000000000000-dep",
        &dep_real,
    )];
    let log = u.finish(&deps).unwrap();
    assert_eq!(fs::read(out.join("bin/prog")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(fs::read(out.join("bin/hard")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(fs::read(out.join("bin/tool")).unwrap(), b"t");
    assert_eq!(
        fs::read_link(out.join("lib/libx.so.1")).unwrap(),
        Path::new("libx.so.1.2")
    );
    assert_eq!(
        fs::read_link(out.join("bin/alias")).unwrap(),
        Path::new("tool")
    );
    assert_eq!(
        fs::read_link(out.join("lib/libdep.so")).unwrap(),
        Path::new("/nix/store/00000000000000000000000000000000-dep/lib/libdep.so.1")
    );
    assert!(
        fs::symlink_metadata(out.join("share/test/readme")).is_err(),
        "link to dropped doc kept"
    );
    assert!(!out.join("share/doc").exists());
    assert!(!out.join("lib64").exists());
    assert!(log.iter().any(|l| l.contains("dropping link")), "{log:?}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.deb");
    fs::File::create(&p)
        .unwrap()
        .write_all(b"this is not an ar archive")
        .unwrap();
    let build = DebBuild {
        debs: vec![p.clone()],
        deps: vec![],
        glibc: None,
        out: StoreObject::new(
            "/nix/store/00000000000000000000000000000000-x",
            dir.path().join("out"),
        ),
    };
    let err = build_deb_package(&build).unwrap_err();
    assert!(format!("{err:#}").contains("bad.deb"), "{err:#}");
    assert!(elf::read_info(b"\x7fELF garbage").is_err());
}
