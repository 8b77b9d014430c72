//! Evaluation-time fetchers against a local HTTP server: Nix 2.8's store paths, the cache,
//! hash checks and hostile tarballs.

mod common;
use common::http::Server;
use common::*;
use realise::fetchers::{fetch_tarball, fetch_url, FetchOptions};
use std::collections::BTreeMap;
use std::fs;
use std::sync::atomic::Ordering;
use store::hash::Encoding;
use store::local::LocalStore;

fn fixtures() -> BTreeMap<String, Vec<u8>> {
    let d = golden_dir();
    let mut m = BTreeMap::new();
    for f in ["tarball.tar.gz", "evil-dotdot.tar", "evil-symlink.tar"] {
        m.insert(f.to_string(), fs::read(d.join(f)).unwrap());
    }
    m
}

fn golden_fetchers() -> BTreeMap<String, String> {
    serde_json::from_str(&fs::read_to_string(golden_dir().join("fetchers.json")).unwrap()).unwrap()
}

#[test]
fn fetch_tarball_and_url_give_nix_paths() {
    let srv = Server::start(fixtures(), None);
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let g = golden_fetchers();
    let opts = FetchOptions::default();
    let url = srv.url("tarball.tar.gz");
    let p = fetch_tarball(&store, &url, None, None, &opts).unwrap();
    assert_eq!(p.to_absolute(), g["fetchTarball"]);
    assert_eq!(
        store
            .path_info(&p)
            .unwrap()
            .nar_hash
            .encode(Encoding::Base32, true),
        g["fetchTarballNarHash"]
    );
    let real = store.real_path(&p);
    assert_eq!(
        fs::read_to_string(real.join("README")).unwrap(),
        "A test project\n"
    );
    let p = fetch_tarball(&store, &url, None, Some("proj"), &opts).unwrap();
    assert_eq!(p.to_absolute(), g["fetchTarballNamed"]);
    let p = fetch_url(&store, &url, None, None, &opts).unwrap();
    assert_eq!(p.to_absolute(), g["fetchurl"]);
    let p = fetch_url(&store, &url, None, Some("t.tgz"), &opts).unwrap();
    assert_eq!(p.to_absolute(), g["fetchurlNamed"]);

    // Cached within the TTL: no new request.
    let n = srv.requests.load(Ordering::Relaxed);
    fetch_tarball(&store, &url, None, None, &opts).unwrap();
    assert_eq!(srv.requests.load(Ordering::Relaxed), n);
    // TTL 0: asks again (ETag, 304) and gives the same path.
    let expired = FetchOptions {
        ttl: 0,
        ..FetchOptions::default()
    };
    let p = fetch_tarball(&store, &url, None, None, &expired).unwrap();
    assert_eq!(p.to_absolute(), g["fetchTarball"]);
    assert!(srv.requests.load(Ordering::Relaxed) > n);
    // With the right sha256 of a valid path: no request at all.
    let n = srv.requests.load(Ordering::Relaxed);
    let h = g["fetchTarballNarHash"].clone();
    let p = fetch_tarball(&store, &url, Some(&h), None, &expired).unwrap();
    assert_eq!(p.to_absolute(), g["fetchTarball"]);
    assert_eq!(srv.requests.load(Ordering::Relaxed), n);
}

#[test]
fn fetch_hash_mismatch() {
    let srv = Server::start(fixtures(), None);
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let wrong = "sha256:0000000000000000000000000000000000000000000000000000";
    let e = fetch_url(
        &store,
        &srv.url("tarball.tar.gz"),
        Some(wrong),
        None,
        &FetchOptions::default(),
    )
    .unwrap_err();
    let m = format!("{e:#}");
    assert!(m.contains("hash mismatch in file downloaded from"), "{m}");
    assert!(
        m.contains("\n  specified: sha256:0000000000000000000000000000000000000000000000000000\n  got:       sha256:"),
        "{m}"
    );
    let e = fetch_url(
        &store,
        &srv.url("missing"),
        None,
        None,
        &FetchOptions::default(),
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("404"), "{e:#}");
}

#[test]
fn hostile_tarballs_are_refused() {
    let srv = Server::start(fixtures(), None);
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let before = store.all_valid_paths().unwrap().len();
    let e = fetch_tarball(
        &store,
        &srv.url("evil-dotdot.tar"),
        None,
        None,
        &FetchOptions::default(),
    )
    .unwrap_err();
    let m = format!("{e:#}");
    assert!(m.contains("'..' component") && m.contains("escape"), "{m}");
    let e = fetch_tarball(
        &store,
        &srv.url("evil-symlink.tar"),
        None,
        None,
        &FetchOptions::default(),
    )
    .unwrap_err();
    let m = format!("{e:#}");
    assert!(
        m.contains("symlink to '../../../../etc'") && m.contains("outside"),
        "{m}"
    );
    // Only the downloaded tarballs themselves are never added; nothing became valid.
    assert_eq!(store.all_valid_paths().unwrap().len(), before);
}

#[test]
fn fetcher_golden_values_match_live_nix() {
    if !have_nix() {
        return;
    }
    let g = golden_fetchers();
    let u = format!("file://{}", golden_dir().join("tarball.tar.gz").display());
    let ev = |e: String| -> String {
        let o = std::process::Command::new("nix-instantiate")
            .args(["--eval", "--json", "-E", &e])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    assert_eq!(
        ev(format!("builtins.fetchTarball \"{u}\"")),
        g["fetchTarball"]
    );
    assert_eq!(
        ev(format!(
            "builtins.fetchTarball {{ url = \"{u}\"; name = \"proj\"; }}"
        )),
        g["fetchTarballNamed"]
    );
    assert_eq!(ev(format!("builtins.fetchurl \"{u}\"")), g["fetchurl"]);
}
