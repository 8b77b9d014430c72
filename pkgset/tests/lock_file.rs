//! The committed `pkgs/lock.json` honours the contract: deterministic text, closed and
//! acyclic `depends`, the seed's versions and the packages the package set needs.

use std::path::PathBuf;

use pkgset::lock::{LockFile, Roots};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn lock() -> (String, LockFile) {
    let text = std::fs::read_to_string(repo().join("pkgs/lock.json")).unwrap();
    let l = LockFile::from_json_str(&text).expect("pkgs/lock.json is valid");
    (text, l)
}

#[test]
fn lock_text_is_canonical() {
    let (text, l) = lock();
    assert_eq!(
        l.to_json_string(),
        text,
        "pkgs/lock.json is not in canonical form"
    );
    assert_eq!(
        l.debian.suites,
        vec!["bookworm", "bookworm-updates", "bookworm-security"]
    );
}

#[test]
fn roots_are_locked() {
    let (_, l) = lock();
    let roots = Roots::read(&repo().join("pkgs/lock-roots.json")).unwrap();
    for r in &roots.debian {
        assert!(
            l.debian.packages.contains_key(r),
            "Debian root {r} is not locked"
        );
    }
    for (name, pin) in &roots.pypi {
        let e = l
            .pypi
            .get(&pkgset::lock::pypi::normalize(name))
            .unwrap_or_else(|| panic!("PyPI root {name} is not locked"));
        if let Some(v) = pin {
            assert_eq!(&e.version, v, "{name}");
        }
    }
}

#[test]
fn seed_closure_has_nixpkgs_2023_versions() {
    let (_, l) = lock();
    for (k, v) in [
        ("fastapi", "0.104.1"),
        ("uvicorn", "0.24.0.post1"),
        ("pydantic", "2.4.2"),
        ("pydantic-core", "2.10.1"),
        ("starlette", "0.27.0"),
        ("anyio", "3.7.1"),
        ("idna", "3.4"),
        ("sniffio", "1.3.0"),
        ("typing-extensions", "4.8.0"),
        ("annotated-types", "0.6.0"),
        ("h11", "0.14.0"),
        ("click", "8.1.7"),
    ] {
        assert_eq!(l.pypi[k].version, v, "{k}");
    }
    for p in l.pypi.values() {
        assert!(
            p.filename.ends_with("-none-any.whl") || p.filename.contains("-cp311-"),
            "{}",
            p.filename
        );
        assert!(p.size > 0);
    }
    for m in [
        "python3.11-minimal",
        "libpython3.11-minimal",
        "libpython3.11-stdlib",
        "libc6",
    ] {
        assert!(l.debian.packages.contains_key(m), "{m}");
    }
    for (n, p) in &l.debian.packages {
        assert!(
            p.path.starts_with("pool/") && p.path.ends_with(".deb"),
            "{n}"
        );
    }
    assert!(l.debian.packages["libc6"].depends.is_empty());
}
