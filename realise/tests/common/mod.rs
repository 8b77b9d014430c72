//! Helpers shared by the realise integration tests.
#![allow(dead_code)]

pub mod http;

use realise::sandbox;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use store::local::LocalStore;
use store::{Derivation, FileIngestionMethod, StorePath};

/// True when namespaces work; panics under CI when they do not, else prints a skip notice.
pub fn ns_or_skip() -> bool {
    if sandbox::namespaces_available() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but Linux user namespaces are not available");
    }
    eprintln!("SKIPPED: Linux user namespaces are not available here");
    false
}

/// The host's tools, visible in the sandbox as Nix's `sandbox-paths` would make them
/// (tests only: real builds get `/bin/sh` from the package set).
pub fn host_tools() -> Vec<sandbox::Bind> {
    sandbox::host_paths(&["/bin", "/usr", "/lib", "/lib64"])
}

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Adds the golden `.drv` files (and sources) to `store`. The `fetched.txt` derivation's
/// URL is rewritten to this checkout's copy of the file (its output path does not depend
/// on the URL); derivations referring to rewritten ones are rewritten accordingly.
/// Returns old drv path -> new drv path.
pub fn load_golden(store: &LocalStore) -> BTreeMap<String, String> {
    let dir = golden_dir();
    for e in fs::read_dir(dir.join("srcs")).unwrap() {
        let e = e.unwrap();
        let base = e.file_name().to_string_lossy().into_owned();
        let want = StorePath::from_base_name(&base).unwrap();
        let got = store
            .add_to_store(want.name(), &e.path(), FileIngestionMethod::Recursive, None)
            .unwrap();
        assert_eq!(got, want, "source {base} added at a different path");
    }
    let mut drvs: BTreeMap<String, Derivation> = BTreeMap::new();
    for e in fs::read_dir(dir.join("drvs")).unwrap() {
        let e = e.unwrap();
        let base = e.file_name().to_string_lossy().into_owned();
        let text = fs::read_to_string(e.path()).unwrap();
        let d = Derivation::from_aterm(&text).unwrap();
        assert_eq!(d.to_aterm(), text, "ATerm round trip of {base}");
        drvs.insert(format!("/nix/store/{base}"), d);
    }
    let fetched_url = format!("file://{}", dir.join("fetched.txt").display());
    let mut remap: BTreeMap<String, String> = BTreeMap::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    while done.len() < drvs.len() {
        let mut progress = false;
        for (old, d) in &drvs {
            if done.contains(old) || d.input_drvs.keys().any(|k| !done.contains(k)) {
                continue;
            }
            let mut d = d.clone();
            if d.builder == "builtin:fetchurl" {
                d.env.insert("url".into(), fetched_url.clone());
                d.env.insert("urls".into(), fetched_url.clone());
            }
            d.input_drvs = d
                .input_drvs
                .iter()
                .map(|(k, v)| (remap[k].clone(), v.clone()))
                .collect();
            let name = StorePath::from_absolute(old)
                .unwrap()
                .name()
                .trim_end_matches(".drv")
                .to_string();
            let refs = d.references().unwrap();
            let p = store
                .add_text_to_store(&format!("{name}.drv"), d.to_aterm().as_bytes(), &refs)
                .unwrap();
            assert_eq!(p, d.drv_path(&name).unwrap());
            remap.insert(old.clone(), p.to_absolute());
            done.insert(old.clone());
            progress = true;
        }
        assert!(progress, "cycle in golden derivations");
    }
    remap
}

#[derive(Debug, serde::Deserialize)]
pub struct GoldenOut {
    pub path: String,
    #[serde(rename = "narHash")]
    pub nar_hash: String,
    #[serde(rename = "narSize")]
    pub nar_size: u64,
    pub references: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct GoldenDrv {
    pub drv: String,
    pub outputs: BTreeMap<String, GoldenOut>,
}

pub fn golden() -> BTreeMap<String, GoldenDrv> {
    serde_json::from_str(&fs::read_to_string(golden_dir().join("golden.json")).unwrap()).unwrap()
}

/// Realiser options for tests: host tools in the sandbox, quiet.
pub fn test_options(jobs: usize) -> realise::Options {
    realise::Options {
        max_jobs: jobs,
        sandbox_paths: host_tools(),
        quiet: true,
        ..Default::default()
    }
}

/// Writes a derivation into the store (computing its output paths), returns the drv path.
pub fn add_drv(
    store: &LocalStore,
    name: &str,
    script: &str,
    extra_env: &[(&str, &str)],
    input_drvs: &[(&StorePath, &[&str])],
    fixed: Option<(&str, &str)>,
) -> StorePath {
    let mut d = Derivation {
        platform: "x86_64-linux".into(),
        builder: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        ..Default::default()
    };
    d.env.insert("name".into(), name.into());
    d.env.insert("builder".into(), "/bin/sh".into());
    d.env.insert("system".into(), "x86_64-linux".into());
    for (k, v) in extra_env {
        d.env.insert(k.to_string(), v.to_string());
    }
    for (p, outs) in input_drvs {
        d.input_drvs.insert(
            p.to_absolute(),
            outs.iter().map(|s| s.to_string()).collect(),
        );
    }
    let mut out = store::Output::default();
    if let Some((algo, hash)) = fixed {
        out.hash_algo = algo.into();
        out.hash = hash.into();
    }
    d.outputs.insert("out".into(), out);
    let mut cache = store::derivation::ModuloHashCache::new();
    let mut read = |p: &str| -> anyhow::Result<store::Hash> {
        let mut rd = |q: &str| -> anyhow::Result<Derivation> {
            let sp = StorePath::from_absolute(q)?;
            Ok(Derivation::from_aterm(&fs::read_to_string(
                store.real_path(&sp),
            )?)?)
        };
        cache.get(p, &mut rd)
    };
    let drv_path = d.fill_outputs(name, &mut read).unwrap();
    let refs = d.references().unwrap();
    let p = store
        .add_text_to_store(&format!("{name}.drv"), d.to_aterm().as_bytes(), &refs)
        .unwrap();
    assert_eq!(p, drv_path);
    p
}

/// True when Nix is installed; panics under CI when it is not, else prints a skip notice.
pub fn have_nix() -> bool {
    let ok = std::process::Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var_os("CI").is_some() {
        panic!("CI is set but nix-instantiate (Nix 2.8) is not installed");
    }
    if !ok {
        eprintln!("SKIPPED: Nix is not installed");
    }
    ok
}

/// A `builtin:fetchurl` derivation (flat sha256) for `url`.
pub fn add_fetchurl_drv(store: &LocalStore, name: &str, url: &str, sha256: &str) -> StorePath {
    let mut d = Derivation {
        platform: "builtin".into(),
        builder: "builtin:fetchurl".into(),
        ..Default::default()
    };
    for (k, v) in [
        ("builder", "builtin:fetchurl"),
        ("name", name),
        ("system", "builtin"),
        ("url", url),
        ("urls", url),
        ("executable", ""),
        ("unpack", ""),
        ("outputHashAlgo", "sha256"),
        ("outputHashMode", "flat"),
        ("outputHash", sha256),
    ] {
        d.env.insert(k.into(), v.into());
    }
    d.outputs.insert(
        "out".into(),
        store::Output {
            path: String::new(),
            hash_algo: "sha256".into(),
            hash: sha256.into(),
        },
    );
    let mut none = |_: &str| -> anyhow::Result<store::Hash> { anyhow::bail!("no inputs") };
    let p = d.fill_outputs(name, &mut none).unwrap();
    let refs = d.references().unwrap();
    let got = store
        .add_text_to_store(&format!("{name}.drv"), d.to_aterm().as_bytes(), &refs)
        .unwrap();
    assert_eq!(got, p);
    p
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}
