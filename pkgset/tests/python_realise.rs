//! The builtin builders through the realiser: fetchurl (file:// from the test cache) ->
//! `builtin:rnix-deb` (glibc, python311 and its libraries, libgcc-s1) ->
//! `builtin:rnix-python-env` (fastapi + uvicorn, byte-compiled in the sandbox) ->
//! `builtin:rnix-buildenv` (`paths = [ app env ]; pathsToLink = [ "/app" "/bin" ]`), then runs
//! the environment with only its closure at `/nix/store`.

mod deb_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use deb_support::*;
use store::local::LocalStore;
use store::{Derivation, FileIngestionMethod, StorePath};

/// Writes a derivation (computing its output path); returns (drv path, out path).
fn add_drv(
    store: &LocalStore,
    name: &str,
    builder: &str,
    env: &[(&str, String)],
    inputs: &[&StorePath],
    srcs: &[&StorePath],
    fixed_sha256: Option<&str>,
) -> (StorePath, String) {
    let mut d = Derivation {
        platform: "x86_64-linux".into(),
        builder: builder.into(),
        ..Default::default()
    };
    d.env.insert("name".into(), name.into());
    d.env.insert("builder".into(), builder.into());
    d.env.insert("system".into(), "x86_64-linux".into());
    for (k, v) in env {
        d.env.insert(k.to_string(), v.clone());
    }
    for p in inputs {
        d.input_drvs
            .insert(p.to_absolute(), BTreeSet::from(["out".to_string()]));
    }
    for s in srcs {
        d.input_srcs.insert(s.to_absolute());
    }
    let mut out = store::Output::default();
    if let Some(h) = fixed_sha256 {
        out.hash_algo = "sha256".into();
        out.hash = h.into();
        d.env.insert("outputHashMode".into(), "flat".into());
        d.env.insert("outputHashAlgo".into(), "sha256".into());
        d.env.insert("outputHash".into(), h.into());
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
    let out = d.outputs["out"].path.clone();
    (p, out)
}

fn fetch_drv(store: &LocalStore, pin: &Pinned) -> Option<(StorePath, String)> {
    let file = match fetch(pin) {
        Ok(f) => f,
        Err(e) => {
            unavailable(&format!("downloading {}: {e:#}", pin.url));
            return None;
        }
    };
    let name: String = pin
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-._?=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(add_drv(
        store,
        &name,
        "builtin:fetchurl",
        &[("url", format!("file://{}", file.display()))],
        &[],
        &[],
        Some(&pin.sha256),
    ))
}

struct Setup {
    root_drv: StorePath,
    root_out: String,
    env_out: String,
    app: StorePath,
    built: BTreeMap<String, (StorePath, String)>,
}

/// Writes every derivation of the test into `store`; `None` when a download is unavailable.
fn setup(
    store: &LocalStore,
    pkgs: &BTreeMap<String, Pinned>,
    wheel_pins: &BTreeMap<String, Pinned>,
) -> Option<Setup> {
    // Debian groups, in dependency order.
    let ts = TestStore::new(pkgs.clone());
    let mut order: Vec<String> = Vec::new();
    fn visit(ts: &TestStore, g: &str, order: &mut Vec<String>) {
        if order.iter().any(|x| x == g) {
            return;
        }
        for d in ts.direct_deps(g).unwrap() {
            visit(ts, &d, order);
        }
        order.push(g.to_string());
    }
    visit(&ts, "python311", &mut order);
    visit(&ts, "libgcc-s1", &mut order);
    let mut built: BTreeMap<String, (StorePath, String)> = BTreeMap::new();
    for g in &order {
        let members = ts.groups.get(g).cloned().unwrap_or_else(|| vec![g.clone()]);
        let mut fetches = Vec::new();
        for m in &members {
            let Some(f) = fetch_drv(&store, &pkgs[m]) else {
                return None;
            };
            fetches.push(f);
        }
        let closure = ts.closure_of(g).unwrap();
        let mut inputs: Vec<&StorePath> = fetches.iter().map(|f| &f.0).collect();
        inputs.extend(closure.iter().map(|d| &built[d].0));
        let debs = fetches
            .iter()
            .map(|f| f.1.clone())
            .collect::<Vec<_>>()
            .join(" ");
        let deps = closure
            .iter()
            .map(|d| built[d].1.clone())
            .collect::<Vec<_>>()
            .join(" ");
        let glibc = if g == "glibc" {
            String::new()
        } else {
            built["glibc"].1.clone()
        };
        let version = &pkgs[&members[0]].version;
        let name = store_name(if members.len() > 1 { g } else { &members[0] }, version);
        let (drv, out) = add_drv(
            &store,
            &name,
            "builtin:rnix-deb",
            &[("debs", debs), ("deps", deps), ("glibc", glibc)],
            &inputs,
            &[],
            None,
        );
        built.insert(g.clone(), (drv, out));
    }

    // The python environment.
    let keys = [
        "fastapi",
        "uvicorn",
        "pydantic",
        "pydantic-core",
        "starlette",
        "anyio",
        "idna",
        "sniffio",
        "typing-extensions",
        "annotated-types",
        "h11",
        "click",
    ];
    let mut wheel_drvs = Vec::new();
    for k in keys {
        let Some(f) = fetch_drv(&store, &wheel_pins[k]) else {
            return None;
        };
        wheel_drvs.push(f);
    }
    let mut inputs: Vec<&StorePath> = wheel_drvs.iter().map(|f| &f.0).collect();
    inputs.extend([
        &built["python311"].0,
        &built["glibc"].0,
        &built["libgcc-s1"].0,
    ]);
    let (env_drv, env_out) = add_drv(
        &store,
        "python3-3.11.2-env",
        "builtin:rnix-python-env",
        &[
            ("python", built["python311"].1.clone()),
            (
                "wheels",
                wheel_drvs
                    .iter()
                    .map(|f| f.1.clone())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            (
                "deps",
                format!("{} {}", built["glibc"].1, built["libgcc-s1"].1),
            ),
            ("pythonVersion", "3.11".into()),
        ],
        &inputs,
        &[],
        None,
    );

    // The seed's buildEnv.
    let src = tempfile::tempdir().unwrap();
    fs::create_dir_all(src.path().join("app")).unwrap();
    fs::write(
        src.path().join("app/main.py"),
        "from fastapi import FastAPI\n",
    )
    .unwrap();
    let app = store
        .add_to_store("api-code", src.path(), FileIngestionMethod::Recursive, None)
        .unwrap();
    let (root_drv, root_out) = add_drv(
        &store,
        "root",
        "builtin:rnix-buildenv",
        &[
            ("paths", format!("{} {}", app.to_absolute(), env_out)),
            ("pathsToLink", "/app /bin".into()),
            ("ignoreCollisions", String::new()),
            ("checkCollisionContents", "1".into()),
            ("extraPrefix", String::new()),
            ("postBuild", String::new()),
        ],
        &[&env_drv],
        &[&app],
        None,
    );

    Some(Setup {
        root_drv,
        root_out,
        env_out,
        app,
        built,
    })
}

fn realise_in(store: &LocalStore, drv: &StorePath) -> BTreeMap<String, StorePath> {
    let mut registry = realise::BuiltinRegistry::new();
    pkgset::builders::register(&mut registry);
    let opts = realise::Options {
        max_jobs: 1,
        quiet: true,
        ..Default::default()
    };
    let r = realise::Realiser::new(store, opts).with_registry(registry);
    r.realise_one(drv).unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn builders_through_the_realiser() {
    if !realise::sandbox::namespaces_available() {
        return unavailable("Linux user namespaces");
    }
    let pkgs = debian_packages(&[
        "libc6",
        "python3.11-minimal",
        "libpython3.11-minimal",
        "libpython3.11-stdlib",
        "libgcc-s1",
    ]);
    let wheel_pins = wheels(&["fastapi", "uvicorn"]);
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let Some(Setup {
        root_drv,
        root_out,
        env_out,
        app,
        built,
    }) = setup(&store, &pkgs, &wheel_pins)
    else {
        return;
    };
    let outs = realise_in(&store, &root_drv);
    assert_eq!(outs["out"].to_absolute(), root_out);

    let real = |p: &str| store.real_path_of(p).unwrap();
    let root = real(&root_out);
    assert!(fs::symlink_metadata(root.join("app")).unwrap().is_dir());
    assert_eq!(
        fs::read_link(root.join("app/main.py")).unwrap(),
        Path::new(&format!("{}/app/main.py", app.to_absolute()))
    );
    assert_eq!(
        fs::read_link(root.join("bin/uvicorn")).unwrap(),
        Path::new(&format!("{env_out}/bin/uvicorn"))
    );

    // Byte-compiled: the environment's packages and python311's standard library.
    assert!(real(&env_out)
        .join("lib/python3/dist-packages/uvicorn/__pycache__/main.cpython-311.pyc")
        .is_file());
    assert!(real(&built["python311"].1)
        .join("lib/python3.11/__pycache__/os.cpython-311.pyc")
        .is_file());

    // References are what is used.
    let env_refs: BTreeSet<String> = store
        .path_info(&StorePath::from_absolute(&env_out).unwrap())
        .unwrap()
        .references
        .iter()
        .map(|p| p.to_absolute())
        .collect();
    for g in ["python311", "glibc", "libgcc-s1"] {
        assert!(
            env_refs.contains(&built[g].1),
            "env does not reference {g}: {env_refs:?}"
        );
    }
    let closure: Vec<String> = store
        .closure([StorePath::from_absolute(&root_out).unwrap()].iter())
        .unwrap()
        .iter()
        .map(|p| p.to_absolute())
        .collect();
    let phys = store.store_dir().to_path_buf();
    let (ok, out) = run_isolated(
        &phys,
        &closure,
        &[
            &format!("{root_out}/bin/python3"),
            "-c",
            "import fastapi, uvicorn, ssl; print('imported')",
        ],
        &[],
    )
    .unwrap();
    assert!(ok && out.contains("imported"), "{out}");
    let (ok, out) = run_isolated(
        &phys,
        &closure,
        &[&format!("{root_out}/bin/uvicorn"), "--version"],
        &[],
    )
    .unwrap();
    assert!(ok && out.contains("Running uvicorn"), "{out}");

    // The same build in a second, empty store gives the same paths and NAR hashes.
    let tmp2 = tempfile::tempdir().unwrap();
    let store2 = LocalStore::open(tmp2.path()).unwrap();
    let second = setup(&store2, &pkgs, &wheel_pins).expect("downloads are cached");
    assert_eq!(second.root_out, root_out);
    realise_in(&store2, &second.root_drv);
    for p in store
        .closure([StorePath::from_absolute(&root_out).unwrap()].iter())
        .unwrap()
    {
        let a = store.path_info(&p).unwrap();
        let b = store2.path_info(&p).unwrap();
        if a.nar_hash != b.nar_hash {
            let o = std::process::Command::new("diff")
                .arg("-r")
                .arg("-q")
                .arg(store.real_path(&p))
                .arg(store2.real_path(&p))
                .output();
            eprintln!(
                "{:?}",
                o.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            );
        }
        assert_eq!(
            a.nar_hash,
            b.nar_hash,
            "{} differs between two builds",
            p.to_absolute()
        );
        assert_eq!(a.references, b.references, "{}", p.to_absolute());
    }
}
