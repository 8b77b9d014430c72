//! Golden tests recorded from real Nix 2.8 by `fixtures/store/record.sh` (no Nix needed here).

use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use store::derivation::{Derivation, ModuloHashCache};
use store::hash::{Encoding, Hash, HashAlgo};
use store::nar::{self, SymlinkPolicy};
use store::store_path::{make_text_path, FileIngestionMethod, StorePath};
use store::LocalStore;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/store")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

fn drv_file(drv_path: &str) -> PathBuf {
    fixtures()
        .join("drv/store")
        .join(Path::new(drv_path).file_name().unwrap())
}

fn load_drv(drv_path: &str) -> anyhow::Result<Derivation> {
    let text = fs::read(drv_file(drv_path))?;
    Ok(Derivation::from_aterm_bytes(&text)?)
}

#[test]
fn derivations_match_nix() {
    let cases = read_json(&fixtures().join("drv/expected.json"));
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let mut cache = ModuloHashCache::new();
    let mut checked = 0;
    for c in cases {
        let case = c["case"].as_str().unwrap();
        let drv_path = c["drvPath"].as_str().unwrap();
        // .drv files are bytes: strings need not be UTF-8 (the `bytes-*` cases)
        let bytes = fs::read(drv_file(drv_path)).unwrap();
        let parsed = Derivation::from_aterm_bytes(&bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(parsed.to_aterm_bytes(), bytes, "{case}: ATerm round trip");
        let sp = StorePath::from_absolute(drv_path).unwrap();
        let name = sp.name().strip_suffix(".drv").unwrap();

        // Rebuild as derivationStrict would: outputs declared, paths unknown.
        let mut d = parsed.clone();
        for (k, o) in d.outputs.iter_mut() {
            o.path.clear();
            d.env.remove(k);
        }
        let got = d
            .fill_outputs(name, &mut |p| cache.get(p, &mut load_drv))
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(got.to_absolute(), drv_path, "{case}: drv path");
        assert_eq!(d, parsed, "{case}: recomputed derivation");
        assert_eq!(d.to_aterm_bytes(), bytes, "{case}: bytes");
        for (o, p) in c["outputs"].as_object().unwrap() {
            assert_eq!(d.outputs[o].path, p.as_str().unwrap(), "{case}: output {o}");
        }
        checked += 1;
    }
    assert_eq!(checked, cases.len());
}

#[test]
fn all_recorded_drvs_roundtrip_and_hash() {
    // Every .drv in the recorded closures (dependencies included) parses, prints back
    // byte-identically, and its store path is recomputed from its contents.
    let mut n = 0;
    for e in fs::read_dir(fixtures().join("drv/store")).unwrap() {
        let p = e.unwrap().path();
        let text = fs::read(&p).unwrap();
        let d = Derivation::from_aterm_bytes(&text).unwrap();
        assert_eq!(d.to_aterm_bytes(), text);
        let base = p.file_name().unwrap().to_str().unwrap();
        let sp = StorePath::from_base_name(base).unwrap();
        let name = sp.name().strip_suffix(".drv").unwrap();
        assert_eq!(d.drv_path(name).unwrap(), sp, "{base}");
        n += 1;
    }
    assert!(n >= 100);
}

fn filter_for(kind: &str, root: PathBuf) -> Box<store::nar::PathFilter<'static>> {
    let base = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    match kind {
        "seed" => {
            Box::new(move |p, _| Ok(!(base(p).ends_with(".nix") || p == root.join("result"))))
        }
        "no-hidden" => Box::new(move |p, _| Ok(!base(p).starts_with('.'))),
        "no-symlinks" => Box::new(|_, t| Ok(!t.is_symlink())),
        "no-dirs" => Box::new(|_, t| Ok(!t.is_dir())),
        "none" => Box::new(|_, _| Ok(false)),
        "no-sub" => Box::new(move |p, _| Ok(base(p) != "sub")),
        other => panic!("unknown filter kind {other}"),
    }
}

fn restore_tree(tree: &str, dir: &Path) -> PathBuf {
    let nar = fs::read(fixtures().join("paths/trees").join(format!("{tree}.nar"))).unwrap();
    let dst = dir.join(tree);
    if fs::symlink_metadata(&dst).is_err() {
        nar::restore(&mut &nar[..], &dst, SymlinkPolicy::Any).unwrap();
    }
    dst
}

#[test]
fn path_imports_match_nix() {
    let cases = read_json(&fixtures().join("paths/expected.json"));
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 30);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    let store = LocalStore::open(tmp.path().join("store")).unwrap();
    for c in cases {
        let id = c["id"].as_str().unwrap();
        let want = c["path"].as_str().unwrap();
        let name = c["name"].as_str().unwrap();
        match c["op"].as_str().unwrap() {
            "add" => {
                let root = restore_tree(c["tree"].as_str().unwrap(), &src);
                let method = match c["method"].as_str().unwrap() {
                    "flat" => FileIngestionMethod::Flat,
                    _ => FileIngestionMethod::Recursive,
                };
                let mut filter = c["filter"].as_str().map(|k| filter_for(k, root.clone()));
                let computed = LocalStore::compute_path_for_add(
                    name,
                    &root,
                    method,
                    HashAlgo::Sha256,
                    filter.as_mut().map(|f| &mut **f as _),
                )
                .unwrap();
                assert_eq!(computed.to_absolute(), want, "{id}: computed path");
                let mut filter = c["filter"].as_str().map(|k| filter_for(k, root.clone()));
                let added = store
                    .add_to_store(name, &root, method, filter.as_mut().map(|f| &mut **f as _))
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_eq!(added.to_absolute(), want, "{id}: added path");
                let info = store.path_info(&added).unwrap();
                assert_eq!(
                    info.nar_hash.to_string(),
                    c["narHash"].as_str().unwrap(),
                    "{id}"
                );
                assert_eq!(info.nar_size, c["narSize"].as_u64().unwrap(), "{id}");
            }
            "text" => {
                let content = c["content"].as_str().unwrap();
                let refs: BTreeSet<StorePath> = c["refs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| StorePath::from_absolute(r.as_str().unwrap()).unwrap())
                    .collect();
                let p =
                    make_text_path(name, &Hash::sha256(content.as_bytes()), refs.iter()).unwrap();
                assert_eq!(p.to_absolute(), want, "{id}");
                if refs.is_empty() {
                    let added = store
                        .add_text_to_store(name, content.as_bytes(), &refs)
                        .unwrap();
                    assert_eq!(added.to_absolute(), want, "{id}");
                    let info = store.path_info(&added).unwrap();
                    assert_eq!(info.nar_hash.to_string(), c["narHash"].as_str().unwrap());
                }
            }
            op => panic!("unknown op {op}"),
        }
    }
    assert!(store.verify(true).unwrap().is_clean());
}

#[test]
fn nar_bytes_match_nix_store_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    for e in fs::read_dir(fixtures().join("paths/trees")).unwrap() {
        let p = e.unwrap().path();
        let want = fs::read(&p).unwrap();
        let dst = tmp.path().join(p.file_stem().unwrap());
        nar::restore(&mut &want[..], &dst, SymlinkPolicy::Any).unwrap();
        let got = nar::dump_to_vec(&dst).unwrap();
        assert!(
            got == want,
            "NAR of {} differs from nix-store --dump",
            p.display()
        );
        n += 1;
    }
    assert!(n >= 10);
}

#[test]
fn nix_hash_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let hashes = read_json(&fixtures().join("paths/hashes.json"));
    for h in hashes.as_array().unwrap() {
        let tree = restore_tree(h["tree"].as_str().unwrap(), tmp.path());
        let algo: HashAlgo = h["algo"].as_str().unwrap().parse().unwrap();
        let got = if h["flat"].as_bool().unwrap() {
            store::hash::hash_file(algo, &tree).unwrap()
        } else {
            nar::hash_path_filtered(&tree, algo, &mut |_, _| Ok(true))
                .unwrap()
                .0
        };
        let printed = if h["sri"].as_bool().unwrap_or(false) {
            got.to_sri()
        } else if h["base32"].as_bool().unwrap() {
            got.encode(Encoding::Base32, false)
        } else {
            got.encode(Encoding::Base16, false)
        };
        let want = h["hash"].as_str().unwrap();
        assert_eq!(printed, want, "{h}");
        assert_eq!(Hash::parse(want, Some(algo)).unwrap(), got);
    }
}
