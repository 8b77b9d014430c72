//! Without namespaces (forced with RNIX_NO_SANDBOX): shell builds need the physical store at
//! /nix/store and say so clearly; builtin builders still work.

mod common;
use common::*;
use std::fs;
use store::local::LocalStore;

#[test]
fn without_namespaces() {
    // This test binary holds only this test, so the process-wide probe sees the variable.
    std::env::set_var("RNIX_NO_SANDBOX", "1");
    assert!(!realise::sandbox::namespaces_available());
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let d = add_drv(&store, "plain", "echo hi > $out", &[], &[], None);
    let e = realise::Realiser::new(&store, test_options(1))
        .realise_one(&d)
        .unwrap_err();
    let m = format!("{e:#}");
    assert!(m.contains("namespaces are unavailable"), "{m}");
    assert!(m.contains("is not /nix/store"), "{m}");

    let f = tmp.path().join("file.txt");
    fs::write(&f, "local file\n").unwrap();
    let url = format!("file://{}", f.display());
    let fd = add_fetchurl_drv(&store, "file.txt", &url, &sha256_hex(b"local file\n"));
    let outs = realise::Realiser::new(&store, test_options(1))
        .realise_one(&fd)
        .unwrap();
    assert_eq!(
        fs::read_to_string(store.real_path(&outs["out"])).unwrap(),
        "local file\n"
    );
}
