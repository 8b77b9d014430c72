//! Nix strings are bytes (issue 11): a derivation whose env values, arguments and
//! `passAsFile` attributes are not UTF-8 is stored with those bytes, and its builder gets
//! exactly those bytes, in the sandbox and without it.

mod common;
use common::*;
use realise::Realiser;
use std::fs;
use store::derivation::field_from_bytes;
use store::local::LocalStore;
use store::Derivation;

const LATIN1: &[u8] = b"caf\xe9 cr\xe8me \xff\xfe";

fn byte_drv(store: &LocalStore, name: &str) -> store::StorePath {
    // PATH is unset in builds: shell builtins only
    let script = r#"printf '%s|' "$v" > $out; IFS= read -r x < "$wPath" || true; printf '%s' "$x" >> $out; printf '|%s' "$1" >> $out"#;
    let mut d = Derivation {
        platform: "x86_64-linux".into(),
        builder: "/bin/sh".into(),
        args: vec![
            "-c".into(),
            script.into(),
            "sh".into(),
            field_from_bytes(LATIN1.to_vec()),
        ],
        ..Default::default()
    };
    for (k, v) in [
        ("name", name.as_bytes()),
        ("builder", b"/bin/sh".as_slice()),
        ("system", b"x86_64-linux".as_slice()),
        ("v", LATIN1),
        ("w", LATIN1),
        ("passAsFile", b"w".as_slice()),
    ] {
        d.env.insert(k.into(), field_from_bytes(v.to_vec()));
    }
    d.outputs.insert("out".into(), store::Output::default());
    let mut none = |_: &str| -> anyhow::Result<store::Hash> { anyhow::bail!("no inputs") };
    let p = d.fill_outputs(name, &mut none).unwrap();
    assert_eq!(store.write_derivation(&d, name).unwrap(), p);
    // The .drv holds the raw bytes and reads back as the same derivation.
    let text = fs::read(store.real_path(&p)).unwrap();
    assert!(text.windows(LATIN1.len()).any(|w| w == LATIN1));
    assert_eq!(Derivation::from_aterm_bytes(&text).unwrap(), d);
    p
}

fn expected() -> Vec<u8> {
    [LATIN1, b"|", LATIN1, b"|", LATIN1].concat()
}

#[test]
fn builder_gets_the_bytes_in_the_sandbox() {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let d = byte_drv(&store, "bytes-sandbox");
    let outs = Realiser::new(&store, test_options(1))
        .realise_one(&d)
        .unwrap();
    assert_eq!(fs::read(store.real_path(&outs["out"])).unwrap(), expected());
}

#[test]
fn builder_gets_the_bytes_without_the_sandbox() {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let d = byte_drv(&store, "bytes-relaxed");
    let mut o = test_options(1);
    o.sandbox = false;
    o.sandbox_paths.clear();
    let outs = Realiser::new(&store, o).realise_one(&d).unwrap();
    assert_eq!(fs::read(store.real_path(&outs["out"])).unwrap(), expected());
}
