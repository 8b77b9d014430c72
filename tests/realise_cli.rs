//! `rnix-store --realise` and `--read-log` (the realiser's operations in the store CLI).

mod common;
use std::process::Command;
use store::local::LocalStore;
use store::{Derivation, Output};

#[test]
fn realise_and_read_log_through_rnix_store() {
    if !common::namespaces_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let mut d = Derivation {
        platform: "x86_64-linux".into(),
        builder: "/bin/sh".into(),
        args: vec!["-c".into(), "echo building now; echo hello > $out".into()],
        ..Default::default()
    };
    for (k, v) in [
        ("name", "cli-hello"),
        ("builder", "/bin/sh"),
        ("system", "x86_64-linux"),
    ] {
        d.env.insert(k.into(), v.into());
    }
    d.outputs.insert("out".into(), Output::default());
    let mut none = |_: &str| -> anyhow::Result<store::Hash> { anyhow::bail!("no inputs") };
    let drv = d.fill_outputs("cli-hello", &mut none).unwrap();
    store
        .add_text_to_store(
            "cli-hello.drv",
            d.to_aterm().as_bytes(),
            &d.references().unwrap(),
        )
        .unwrap();
    let out = d.output_paths().unwrap()["out"].clone();

    let bin = env!("CARGO_BIN_EXE_rnix-store");
    let o = Command::new(bin)
        .arg("--store")
        .arg(tmp.path())
        .args(["--realise", "-Q", &drv.to_absolute()])
        .env("RNIX_SANDBOX_PATHS", "/bin:/usr:/lib:/lib64")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), out.to_absolute());
    assert_eq!(
        std::fs::read_to_string(store.real_path(&out)).unwrap(),
        "hello\n"
    );

    let o = Command::new(bin)
        .arg("--store")
        .arg(tmp.path())
        .args(["--read-log", &out.to_absolute()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "building now\n");

    // Unknown derivations give a clear error, not a panic.
    let o = Command::new(bin)
        .arg("--store")
        .arg(tmp.path())
        .args([
            "--realise",
            "/nix/store/00000000000000000000000000000000-missing.drv",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not in the store"), "{err}");
}
