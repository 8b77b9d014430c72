//! Golden test: the derivations of tests/golden/golden.nix, built by rnix, give the output
//! paths, NAR hashes, sizes and references that Nix 2.8 gave (recorded in golden.json by
//! tests/golden/record.sh). A second test checks the recorded values against a live Nix
//! when one is installed (required when CI is set).

mod common;
use common::*;
use std::collections::BTreeSet;
use std::process::Command;
use store::hash::Encoding;
use store::local::LocalStore;
use store::StorePath;

#[test]
fn golden_derivations_match_nix() {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let remap = load_golden(&store);
    let golden = golden();
    assert!(golden.len() >= 20);
    let drvs: Vec<StorePath> = golden
        .values()
        .map(|g| StorePath::from_absolute(&remap[&g.drv]).unwrap())
        .collect();
    let r = realise::Realiser::new(&store, test_options(2));
    let built = r.realise_all(&drvs).unwrap();
    let mut checked = 0;
    for (attr, g) in &golden {
        let outs = &built[&StorePath::from_absolute(&remap[&g.drv]).unwrap()];
        assert_eq!(
            outs.keys().collect::<Vec<_>>(),
            g.outputs.keys().collect::<Vec<_>>(),
            "{attr}"
        );
        for (o, go) in &g.outputs {
            let p = &outs[o];
            assert_eq!(p.to_absolute(), go.path, "{attr}.{o} path");
            let info = store.path_info(p).unwrap();
            assert_eq!(
                info.nar_hash.encode(Encoding::Base32, true),
                go.nar_hash,
                "{attr}.{o} NAR hash"
            );
            assert_eq!(info.nar_size, go.nar_size, "{attr}.{o} NAR size");
            let refs: BTreeSet<String> = info.references.iter().map(|r| r.to_absolute()).collect();
            let want: BTreeSet<String> = go.references.iter().cloned().collect();
            assert_eq!(refs, want, "{attr}.{o} references");
            assert!(info.deriver.is_some(), "{attr}.{o} deriver");
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked}");
    // A second realisation builds nothing.
    let r2 = realise::Realiser::new(&store, test_options(2));
    r2.realise_all(&drvs).unwrap();
    assert_eq!(r2.progress().built_count(), 0);
}

#[test]
fn golden_values_match_live_nix() {
    if !have_nix() {
        return;
    }
    let dir = golden_dir();
    let nixfile = dir.join("golden.nix");
    let expr = format!(
        "builtins.mapAttrs (n: d: builtins.listToAttrs (map (o: {{ name = o.outputName; value = o.outPath; }}) d.all)) (import {})",
        nixfile.display()
    );
    let o = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "-E", &expr])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let live: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> =
        serde_json::from_slice(&o.stdout).unwrap();
    let golden = golden();
    assert_eq!(live.len(), golden.len());
    for (attr, g) in &golden {
        for (o, go) in &g.outputs {
            assert_eq!(live[attr][o], go.path, "{attr}.{o}");
        }
    }
    // Build with Nix (sandbox off, as recorded) and compare NAR hashes.
    let o = Command::new("nix-build")
        .args([
            "--option",
            "sandbox",
            "false",
            "--option",
            "substituters",
            "",
            "--no-out-link",
        ])
        .arg(&nixfile)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (attr, g) in &golden {
        for (o, go) in &g.outputs {
            let h = Command::new("nix-store")
                .args(["-q", "--hash", &go.path])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&h.stdout).trim(),
                go.nar_hash,
                "{attr}.{o}"
            );
        }
    }
}
