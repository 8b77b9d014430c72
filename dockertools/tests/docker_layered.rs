//! buildLayeredImage / streamLayeredImage / OCI output, with real Docker, skopeo, umoci.

mod common;

use common::*;
use dockertools::{build_image, prepare_stream, stream_image, Compressor, Format, ImageSpec};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};

struct NoScripts;
impl dockertools::ScriptRunner for NoScripts {
    fn run(&self, _: &Path, _: &str, _: bool) -> anyhow::Result<()> {
        panic!("no script expected");
    }
}

/// A seed-like closure: env (`image-root`, a buildEnv) -> app (tiny) and python (big)
/// -> libc (big). `version` changes the app's content (and so its hash and the env's).
fn seed_like(store: &FakeStore, name: &str, version: u32) -> ImageSpec {
    let libc = store.add('a', "glibc-2.36", |p| {
        fs::create_dir(p.join("lib")).unwrap();
        let blob: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(p.join("lib/libc.so.6"), blob).unwrap();
    });
    let python = store.add('p', "python3-3.11-env", |p| {
        fs::create_dir(p.join("bin")).unwrap();
        static_hello(&p.join("bin/hello"), "layered hello");
        let blob: Vec<u8> = (0..1_500_000u32).map(|i| (i % 241) as u8).collect();
        fs::write(p.join("bin/blob"), blob).unwrap();
    });
    let (app_hash, env_hash) = if version == 1 { ('c', 'e') } else { ('d', 'f') };
    let app = store.add(app_hash, "api-code", move |p| {
        fs::create_dir(p.join("app")).unwrap();
        fs::write(p.join("app/main.py"), format!("print('v{version}')\n")).unwrap();
    });
    let (a, py) = (app.clone(), python.clone());
    let env = store.add(env_hash, "image-root", move |p| {
        fs::create_dir(p.join("app")).unwrap();
        symlink(format!("{a}/app/main.py"), p.join("app/main.py")).unwrap();
        fs::create_dir(p.join("bin")).unwrap();
        symlink(format!("{py}/bin/hello"), p.join("bin/hello")).unwrap();
    });
    let mut spec = ImageSpec::new(name);
    spec.tag = Some("latest".into());
    spec.layered = true;
    spec.copy_to_root = vec![store.root_input(&env)];
    spec.closure = vec![
        store.entry(&env, &[&app, &python]),
        store.entry(&app, &[]),
        store.entry(&python, &[&libc, &python]),
        store.entry(&libc, &[]),
    ];
    spec.config = json!({"Cmd": ["/bin/hello"], "WorkingDir": "/app"});
    spec
}

fn manifest_and_config(path: &Path) -> (Value, Value, std::collections::BTreeMap<String, Vec<u8>>) {
    let files = read_archive(path);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config: Value =
        serde_json::from_slice(&files[manifest[0]["Config"].as_str().unwrap()]).unwrap();
    (manifest, config, files)
}

fn layer_names(layer: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(layer);
    ar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn layered_layout_and_one_layer_per_change() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store"));
    let spec1 = seed_like(&store, "rnix-dt-layered", 1);
    let out1 = tmp.path().join("l1.tar.gz");
    build_image(&spec1, &NoScripts, &out1).unwrap();
    let (m1, c1, files) = manifest_and_config(&out1);
    assert!(!files.contains_key("repositories"));
    let layers1: Vec<String> = m1[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    // libc, python (own layers, most popular first), customisation (env + app + farm).
    assert_eq!(layers1.len(), 3, "{layers1:?}");
    for (l, d) in layers1
        .iter()
        .zip(c1["rootfs"]["diff_ids"].as_array().unwrap())
    {
        let hex = hex::encode(Sha256::digest(&files[l]));
        assert_eq!(l, &format!("{hex}/layer.tar"));
        assert_eq!(d.as_str().unwrap(), format!("sha256:{hex}"));
    }
    let hist = c1["history"].as_array().unwrap();
    assert_eq!(hist.len(), 3);
    assert!(hist[0]["comment"].as_str().unwrap().contains("glibc-2.36"));
    assert!(hist[1]["comment"]
        .as_str()
        .unwrap()
        .contains("python3-3.11-env"));
    let custom = layer_names(&files[&layers1[2]]);
    assert!(custom.iter().any(|n| n == "app/main.py"), "{custom:?}");
    assert!(
        custom.iter().any(|n| n.contains("-api-code/app/main.py")),
        "{custom:?}"
    );
    assert!(
        custom.iter().any(|n| n.contains("-image-root/bin/hello")),
        "{custom:?}"
    );
    assert!(!custom.iter().any(|n| n.contains("glibc")), "{custom:?}");
    let libc_layer = layer_names(&files[&layers1[0]]);
    assert_eq!(libc_layer[..2], ["nix/", "nix/store/"]);

    // Reproducible.
    let again = tmp.path().join("l1b.tar.gz");
    build_image(&spec1, &NoScripts, &again).unwrap();
    assert_eq!(fs::read(&out1).unwrap(), fs::read(&again).unwrap());

    // Editing the app changes exactly one layer.
    let spec2 = seed_like(&store, "rnix-dt-layered", 2);
    let out2 = tmp.path().join("l2.tar.gz");
    build_image(&spec2, &NoScripts, &out2).unwrap();
    let (_, c2, _) = manifest_and_config(&out2);
    let d1 = c1["rootfs"]["diff_ids"].as_array().unwrap();
    let d2 = c2["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(d1.len(), d2.len());
    let changed = d1.iter().zip(d2).filter(|(a, b)| a != b).count();
    assert_eq!(changed, 1, "{d1:?} vs {d2:?}");

    // maxLayers: 3 layers allowed -> one single store layer, one shared, customisation.
    let mut many = spec1.clone();
    let mut extra = Vec::new();
    for (i, h) in ['g', 'h', 'i', 'j'].into_iter().enumerate() {
        let p = store.add(h, &format!("lib{i}"), |p| {
            let blob: Vec<u8> = (0..1_200_000u32)
                .map(|x| ((x + i as u32) % 13) as u8)
                .collect();
            fs::write(p.join("data"), blob).unwrap();
        });
        extra.push(p);
    }
    let refs: Vec<&str> = extra.iter().map(String::as_str).collect();
    let libc = many.closure[3].logical.clone();
    let python = many.closure[2].logical.clone();
    let mut py_refs = vec![libc.as_str()];
    py_refs.extend(refs.iter().copied());
    many.closure[2] = store.entry(&python, &py_refs);
    for p in &extra {
        many.closure.push(store.entry(p, &[]));
    }
    many.max_layers = 3;
    let out3 = tmp.path().join("l3.tar");
    build_image(&many, &NoScripts, &out3).unwrap();
    let (m3, c3, _) = manifest_and_config(&out3);
    assert_eq!(m3[0]["Layers"].as_array().unwrap().len(), 3);
    assert_eq!(c3["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
}

#[test]
fn stream_equals_layered_build_and_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store"));
    let mut spec = seed_like(&store, "rnix-dt-stream", 1);
    spec.compressor = Compressor::None;
    let built = tmp.path().join("built.tar");
    build_image(&spec, &NoScripts, &built).unwrap();
    let dir = tmp.path().join("stream-dir");
    let conf = prepare_stream(&spec, &NoScripts, &dir).unwrap();
    let mut streamed = Vec::new();
    stream_image(&conf, &mut streamed).unwrap();
    assert_eq!(streamed, fs::read(&built).unwrap());

    // A broken configuration is a clear error.
    let bad = tmp.path().join("bad.json");
    fs::write(&bad, b"{\"name\": 1}").unwrap();
    let e = format!("{:#}", stream_image(&bad, &mut Vec::new()).unwrap_err());
    assert!(e.contains("invalid stream configuration"), "{e}");

    if !docker_available() {
        return;
    }
    docker_rmi("rnix-dt-stream:latest");
    let mut child = Command::new("docker")
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        stream_image(&conf, &mut stdin).unwrap();
        stdin.flush().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(docker_run("rnix-dt-stream:latest", &[]), "layered hello\n");
    docker_rmi("rnix-dt-stream:latest");
}

#[test]
fn docker_layered_change_main_changes_one_layer() {
    if !docker_available() {
        return;
    }
    let Some(bb) = busybox() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store"));
    let bbp = add_busybox(&store, &bb);
    let mut rootfs = Vec::new();
    for v in [1, 2] {
        let mut spec = seed_like(&store, "rnix-dt-lay", v);
        spec.tag = Some(format!("v{v}"));
        spec.closure.push(store.entry(&bbp, &[]));
        spec.fake_root_commands =
            Some("mkdir -p ./home/alice && chown 1000:1000 ./home/alice\n".into());
        let runner = ChrootRunner {
            closure: spec.closure.clone(),
            shell: bbp.clone(),
        };
        let out = tmp.path().join(format!("lay{v}.tar.gz"));
        build_image(&spec, &runner, &out).unwrap();
        let tag = format!("rnix-dt-lay:v{v}");
        docker_rmi(&tag);
        docker_load(&out);
        assert_eq!(docker_run(&tag, &[]), "layered hello\n");
        let listing = docker_run(
            &tag,
            &[
                &format!("{bbp}/bin/sh"),
                "-c",
                "cat /app/main.py; stat -c '%u:%g' /home/alice",
            ],
        );
        assert!(
            listing.starts_with(&format!("print('v{v}')\n")),
            "{listing}"
        );
        assert!(listing.ends_with("\n1000:1000\n"), "{listing}");
        rootfs.push(docker_layers(&tag));
        docker_rmi(&tag);
    }
    assert_eq!(rootfs[0].len(), rootfs[1].len());
    let changed = rootfs[0]
        .iter()
        .zip(&rootfs[1])
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(changed, 1, "{rootfs:?}");
}

#[test]
fn oci_hybrid_is_read_by_skopeo_umoci_and_docker() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store"));
    for layered in [false, true] {
        let mut spec = seed_like(&store, "rnix-dt-oci", 1);
        spec.layered = layered;
        spec.format = Format::OciHybrid;
        spec.compressor = Compressor::None;
        let out = tmp.path().join(format!("oci-{layered}.tar"));
        build_image(&spec, &NoScripts, &out).unwrap();
        let files = read_archive(&out);
        assert_eq!(files["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
        let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
        let mdigest = index["manifests"][0]["digest"].as_str().unwrap();
        let manifest: Value = serde_json::from_slice(
            &files[&format!("blobs/sha256/{}", mdigest.trim_start_matches("sha256:"))],
        )
        .unwrap();
        let docker_manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(
            manifest["layers"].as_array().unwrap().len(),
            docker_manifest[0]["Layers"].as_array().unwrap().len()
        );
        for (name, data) in &files {
            if let Some(h) = name.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
                assert_eq!(h, hex::encode(Sha256::digest(data)), "blob {name}");
            }
        }

        if require("skopeo", &["--version"]) {
            let inspect = sh(Command::new("skopeo")
                .arg("inspect")
                .arg(format!("oci-archive:{}", out.display())));
            let v: Value = serde_json::from_str(&inspect).unwrap();
            assert_eq!(
                v["Layers"].as_array().unwrap().len(),
                manifest["layers"].as_array().unwrap().len()
            );
            assert_eq!(v["Architecture"], "amd64");
        }
        if require("umoci", &["--version"]) {
            let layout = tmp.path().join(format!("layout-{layered}"));
            fs::create_dir(&layout).unwrap();
            sh(Command::new("tar")
                .arg("-xf")
                .arg(&out)
                .arg("-C")
                .arg(&layout));
            let stat = sh(Command::new("umoci")
                .arg("stat")
                .arg("--image")
                .arg(format!("{}:latest", layout.display())));
            assert!(stat.contains("LAYER") || stat.contains("Layer"), "{stat}");
            let bundle = tmp.path().join(format!("bundle-{layered}"));
            sh(Command::new("umoci")
                .args(["unpack", "--rootless", "--image"])
                .arg(format!("{}:latest", layout.display()))
                .arg(&bundle));
            let main = fs::read_link(bundle.join("rootfs/app/main.py")).unwrap();
            assert!(main.to_string_lossy().contains("/nix/store/"), "{main:?}");
        }
        if docker_available() {
            docker_rmi("rnix-dt-oci:latest");
            docker_load(&out);
            assert_eq!(docker_run("rnix-dt-oci:latest", &[]), "layered hello\n");
            docker_rmi("rnix-dt-oci:latest");
        }
    }
}

#[test]
fn layered_from_image() {
    if !docker_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store"));
    let base_spec = seed_like(&store, "rnix-dt-lbase", 1);
    let base = tmp.path().join("base.tar.gz");
    build_image(&base_spec, &NoScripts, &base).unwrap();
    let mut top = ImageSpec::new("rnix-dt-ltop");
    top.tag = Some("latest".into());
    top.layered = true;
    top.from_image = Some(base.clone());
    let extra = store.add('x', "extra", |p| {
        fs::create_dir(p.join("etc")).unwrap();
        fs::write(p.join("etc/extra.conf"), "x=1\n").unwrap();
    });
    top.copy_to_root = vec![store.root_input(&extra)];
    top.closure = vec![store.entry(&extra, &[])];
    top.config = json!({"Cmd": ["/bin/hello"]});
    let out = tmp.path().join("top.tar.gz");
    build_image(&top, &NoScripts, &out).unwrap();
    let (m, c, _) = manifest_and_config(&out);
    assert_eq!(m[0]["Layers"].as_array().unwrap().len(), 3 + 1);
    assert_eq!(c["history"].as_array().unwrap().len(), 4);
    docker_rmi("rnix-dt-lbase:latest");
    docker_rmi("rnix-dt-ltop:latest");
    docker_load(&base);
    docker_load(&out);
    assert_eq!(docker_run("rnix-dt-ltop:latest", &[]), "layered hello\n");
    let bl = docker_layers("rnix-dt-lbase:latest");
    let tl = docker_layers("rnix-dt-ltop:latest");
    assert_eq!(&tl[..3], &bl[..]);
    docker_rmi("rnix-dt-ltop:latest");
    docker_rmi("rnix-dt-lbase:latest");
}
