//! buildImage: real `docker load`/`docker run`, reproducibility, base images, bad input.

mod common;

use common::*;
use dockertools::{build_image, Compressor, ImageSpec, ScriptRunner};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

struct NoScripts;
impl ScriptRunner for NoScripts {
    fn run(&self, _: &Path, _: &str, _: bool) -> anyhow::Result<()> {
        panic!("no script expected");
    }
}

const LONG: &str = "a-file-name-that-is-quite-long-on-purpose-to-need-the-gnu-long-name-extension-of-tar-because-it-exceeds-one-hundred-bytes.txt";

/// hello (static program) + an env whose `bin/hello` links to it and whose `share` is a
/// symlink to a directory.
fn hello_spec(store: &FakeStore, name: &str, message: &str) -> (ImageSpec, String, String) {
    let hello = store.add('1', "hello", |p| {
        fs::create_dir(p.join("bin")).unwrap();
        static_hello(&p.join("bin/hello"), message);
        fs::create_dir_all(p.join("share/doc")).unwrap();
        fs::write(p.join("share/doc/README"), "hello docs\n").unwrap();
        // A hard link, which must be stored as a regular file.
        fs::hard_link(p.join("share/doc/README"), p.join("share/doc/README.hard")).unwrap();
        // A name longer than the 100 bytes of a tar header.
        fs::write(p.join("share/doc").join(LONG), "long\n").unwrap();
    });
    let h = hello.clone();
    let env = store.add('2', "image-root", move |p| {
        fs::create_dir(p.join("bin")).unwrap();
        symlink(format!("{h}/bin/hello"), p.join("bin/hello")).unwrap();
        symlink(format!("{h}/share"), p.join("share")).unwrap();
        symlink(format!("{h}/share/doc/{LONG}"), p.join("bin/long-link")).unwrap();
    });
    let mut spec = ImageSpec::new(name);
    spec.tag = Some("latest".into());
    spec.copy_to_root = vec![store.root_input(&env)];
    spec.closure = vec![store.entry(&env, &[&hello]), store.entry(&hello, &[])];
    spec.config = json!({"Cmd": ["/bin/hello"], "Env": ["GREETING_SUFFIX=!"], "WorkingDir": "/"});
    (spec, hello, env)
}

#[test]
fn build_image_layout_is_deterministic_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store"));
    let (spec, hello, _env) = hello_spec(&store, "Layout-Test", "hi");
    let out = tmp.path().join("img.tar.gz");
    build_image(&spec, &NoScripts, &out).unwrap();
    let files = read_archive(&out);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let m = &manifest[0];
    assert_eq!(m["RepoTags"], json!(["layout-test:latest"]));
    let config: Value = serde_json::from_slice(&files[m["Config"].as_str().unwrap()]).unwrap();
    let layers = m["Layers"].as_array().unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(diff_ids.len(), 1);
    let layer = &files[layers[0].as_str().unwrap()];
    assert_eq!(
        diff_ids[0].as_str().unwrap(),
        format!("sha256:{}", hex::encode(Sha256::digest(layer)))
    );
    assert_eq!(config["created"], "1970-01-01T00:00:01Z");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["config"]["Cmd"], json!(["/bin/hello"]));
    let id = layers[0].as_str().unwrap().trim_end_matches("/layer.tar");
    assert_eq!(files[&format!("{id}/VERSION")], b"1.0");
    let repos: Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert_eq!(repos, json!({"layout-test": {"latest": id}}));
    // Config file is named by its own digest.
    let cfg_name = m["Config"].as_str().unwrap();
    assert_eq!(
        cfg_name,
        format!("{}.json", hex::encode(Sha256::digest(&files[cfg_name])))
    );

    // The layer: sorted, fixed mtime, root-owned, symlinks kept for files, dirlinks
    // turned into directories, hard links as regular files, store at 0555.
    let mut ar = tar::Archive::new(&layer[..]);
    let mut names = Vec::new();
    let hname = hello.strip_prefix("/").unwrap();
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        assert_eq!(
            h.mtime().unwrap(),
            dockertools::layer::FIXED_MTIME,
            "{name}"
        );
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0), "{name}");
        assert!(
            !h.entry_type().is_hard_link(),
            "{name} must not be a hard link"
        );
        match name.as_str() {
            "bin/hello" => {
                assert!(h.entry_type().is_symlink());
                assert_eq!(
                    e.link_name().unwrap().unwrap().to_str().unwrap(),
                    format!("{hello}/bin/hello")
                );
            }
            "share" | "share/doc" => assert!(h.entry_type().is_dir(), "{name} must be a dir"),
            "share/doc/README.hard" => assert!(h.entry_type().is_file()),
            "bin/long-link" => assert_eq!(
                e.link_name().unwrap().unwrap().to_str().unwrap(),
                format!("{hello}/share/doc/{LONG}")
            ),
            "nix" | "nix/store" => assert_eq!(h.mode().unwrap() & 0o7777, 0o555),
            "tmp" => assert_eq!(h.mode().unwrap() & 0o7777, 0o1777),
            _ => {}
        }
        names.push(name);
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "layer entries must be sorted");
    for want in [
        "bin/hello",
        "share/doc/README",
        &format!("share/doc/{LONG}"),
        "bin/long-link",
        "tmp",
        "nix/store",
        &format!("{hname}/bin/hello"),
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }

    // Byte-identical on rebuild, for each compressor.
    for c in [Compressor::Gz, Compressor::Zstd, Compressor::None] {
        let mut s = spec.clone();
        s.compressor = c;
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        build_image(&s, &NoScripts, &a).unwrap();
        build_image(&s, &NoScripts, &b).unwrap();
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap(), "{c:?}");
    }
}

#[test]
fn tag_defaults_to_output_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store"));
    let (mut spec, _, _) = hello_spec(&store, "tagless", "hi");
    spec.tag = None;
    let out = tmp
        .path()
        .join("0abcd1234zzzzzzzzzzzzzzzzzzzzzzz-docker-image-tagless.tar.gz");
    build_image(&spec, &NoScripts, &out).unwrap();
    let files = read_archive(&out);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest[0]["RepoTags"],
        json!(["tagless:0abcd1234zzzzzzzzzzzzzzzzzzzzzzz"])
    );
}

#[test]
fn bad_inputs_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store"));
    let (spec, _, _) = hello_spec(&store, "bad", "hi");
    let out = tmp.path().join("out.tar.gz");

    let mut s = spec.clone();
    s.copy_to_root[0].real = tmp.path().join("missing");
    let e = format!("{:#}", build_image(&s, &NoScripts, &out).unwrap_err());
    assert!(e.contains("does not exist") && e.contains("missing"), "{e}");
    assert!(!out.exists());

    let mut s = spec.clone();
    s.closure[0].real = tmp.path().join("gone");
    let e = format!("{:#}", build_image(&s, &NoScripts, &out).unwrap_err());
    assert!(e.contains("does not exist") && e.contains("gone"), "{e}");

    let mut s = spec.clone();
    s.created = "yesterday".into();
    let e = format!("{:#}", build_image(&s, &NoScripts, &out).unwrap_err());
    assert!(e.contains("invalid created date"), "{e}");

    let mut s = spec.clone();
    s.name = "no spaces allowed".into();
    let e = format!("{:#}", build_image(&s, &NoScripts, &out).unwrap_err());
    assert!(e.contains("invalid image name"), "{e}");

    let mut s = spec.clone();
    s.config = json!(["not", "an", "object"]);
    let e = format!("{:#}", build_image(&s, &NoScripts, &out).unwrap_err());
    assert!(e.contains("config must be an attribute set"), "{e}");

    let mut s = spec.clone();
    s.from_image = Some(tmp.path().join("nonexistent-base.tar"));
    let e = format!("{:#}", build_image(&s, &NoScripts, &out).unwrap_err());
    assert!(
        e.contains("fromImage") && e.contains("does not exist"),
        "{e}"
    );

    let not_image = tmp.path().join("junk.tar");
    fs::write(&not_image, b"this is not a tarball at all").unwrap();
    let mut s = spec.clone();
    s.from_image = Some(not_image);
    let e = format!("{:#}", build_image(&s, &NoScripts, &out).unwrap_err());
    assert!(e.contains("fromImage"), "{e}");
    assert!(!out.exists());

    assert!("brotli".parse::<Compressor>().is_err());
    assert!("oci".parse::<dockertools::Format>().is_ok());
    let e = "tar.xz"
        .parse::<dockertools::Format>()
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown image format"), "{e}");

    let mut s = spec.clone();
    s.layered = true;
    s.max_layers = 1;
    let e = format!("{:#}", build_image(&s, &NoScripts, &out).unwrap_err());
    assert!(e.contains("maxLayers"), "{e}");
}

#[test]
fn docker_loads_and_runs_build_image() {
    if !docker_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store"));
    let (spec, _, _) = hello_spec(&store, "rnix-dt-basic", "hello from rnix");
    for (c, file) in [
        (Compressor::Gz, "i.tar.gz"),
        (Compressor::Zstd, "i.tar.zst"),
        (Compressor::None, "i.tar"),
    ] {
        let mut s = spec.clone();
        s.compressor = c;
        let mut out = tmp.path().join(file);
        build_image(&s, &NoScripts, &out).unwrap();
        if c == Compressor::Zstd && docker_server_major() < 23 {
            // Docker Engine before 23 cannot read zstd archives: check the stream with the
            // zstd decoder and load the decompressed tar instead.
            eprintln!("docker engine < 23: loading the zstd image decompressed");
            let plain = tmp.path().join("unzstd.tar");
            let mut r = dockertools::base::open_maybe_compressed(&out).unwrap();
            std::io::copy(&mut r, &mut fs::File::create(&plain).unwrap()).unwrap();
            assert_eq!(&fs::read(&out).unwrap()[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
            out = plain;
        }
        docker_rmi("rnix-dt-basic:latest");
        let loaded = docker_load(&out);
        assert!(loaded.contains("rnix-dt-basic:latest"), "{loaded}");
        assert_eq!(
            docker_run("rnix-dt-basic:latest", &[]),
            "hello from rnix!\n",
            "{c:?}"
        );
        docker_rmi("rnix-dt-basic:latest");
    }
}

#[test]
fn docker_run_as_root_and_from_image() {
    if !docker_available() {
        return;
    }
    let Some(bb) = busybox() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store"));
    let bbp = add_busybox(&store, &bb);
    let (mut spec, _, _env) = hello_spec(&store, "rnix-dt-base", "base says hi");
    // The base image gets busybox as /bin/sh etc. too, and a file to delete later.
    let bb2 = bbp.clone();
    let tools = store.add('3', "tools", move |p| {
        fs::create_dir(p.join("bin")).unwrap();
        for a in ["sh", "ls", "cat", "rm", "mkdir", "echo", "stat"] {
            symlink(format!("{bb2}/bin/busybox"), p.join("bin").join(a)).unwrap();
        }
    });
    spec.copy_to_root.push(store.root_input(&tools));
    spec.closure.push(store.entry(&tools, &[&bbp]));
    spec.closure.push(store.entry(&bbp, &[]));
    spec.extra_commands = Some("mkdir -p etc && echo extra > etc/extra".into());
    spec.run_as_root = Some(
        "mkdir -p /data /app\necho made-by-root > /data/file\nchown 1000:1000 /data\necho doomed > /doomed\n"
            .into(),
    );
    let runner = ChrootRunner {
        closure: spec.closure.clone(),
        shell: bbp.clone(),
    };
    let base_out = tmp.path().join("base.tar.gz");
    build_image(&spec, &runner, &base_out).unwrap();
    // runAsRoot output is reproducible too.
    let again = tmp.path().join("base2.tar.gz");
    build_image(&spec, &runner, &again).unwrap();
    assert_eq!(fs::read(&base_out).unwrap(), fs::read(&again).unwrap());

    docker_rmi("rnix-dt-base:latest");
    docker_load(&base_out);
    let out = docker_run(
        "rnix-dt-base:latest",
        &[
            "/bin/sh",
            "-c",
            "cat /data/file /etc/extra /doomed; stat -c '%u:%g %a' /data /tmp; ls /app",
        ],
    );
    assert_eq!(
        out,
        "made-by-root\nextra\ndoomed\n1000:1000 755\n0:0 1777\n"
    );

    // Stack an image on it: base layers first, base Env first, a whiteout for /doomed,
    // and the base's /bin kept.
    let app = store.add('4', "app", |p| {
        fs::create_dir(p.join("app")).unwrap();
        fs::write(p.join("app/main.txt"), "app file\n").unwrap();
    });
    let mut top = dockertools::ImageSpec::new("rnix-dt-top");
    top.tag = Some("v1".into());
    top.from_image = Some(base_out.clone());
    top.copy_to_root = vec![store.root_input(&app)];
    top.closure = vec![store.entry(&app, &[]), store.entry(&bbp, &[])];
    top.config = json!({"Env": ["TOP=1", "GREETING_SUFFIX=?"], "Cmd": ["/bin/hello"]});
    top.run_as_root = Some("rm /doomed\necho top > /data/top\n".into());
    let runner = ChrootRunner {
        closure: top.closure.clone(),
        shell: bbp.clone(),
    };
    let top_out = tmp.path().join("top.tar.gz");
    build_image(&top, &runner, &top_out).unwrap();
    let files = read_archive(&top_out);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config: Value =
        serde_json::from_slice(&files[manifest[0]["Config"].as_str().unwrap()]).unwrap();
    assert_eq!(
        config["config"]["Env"],
        json!(["GREETING_SUFFIX=?", "TOP=1"]),
        "base Env first, duplicates resolved to the last value"
    );
    assert_eq!(manifest[0]["Layers"].as_array().unwrap().len(), 2);
    // The top layer holds only what changed: not the base's store paths.
    let top_layer = &files[manifest[0]["Layers"][1].as_str().unwrap()];
    let mut ar = tar::Archive::new(&top_layer[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == ".wh.doomed"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("-hello")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains(&bbp[11..])), "{names:?}");

    docker_rmi("rnix-dt-top:v1");
    docker_load(&top_out);
    assert_eq!(docker_run("rnix-dt-top:v1", &[]), "base says hi?\n");
    let out = docker_run(
        "rnix-dt-top:v1",
        &[
            "/bin/sh",
            "-c",
            "cat /app/main.txt /data/file /data/top; ls /doomed 2>&1 || echo gone; ls /bin",
        ],
    );
    assert!(out.starts_with("app file\nmade-by-root\ntop\n"), "{out}");
    assert!(out.contains("gone"), "{out}");
    assert!(
        out.contains("hello") && out.contains("sh"),
        "base /bin kept: {out}"
    );
    let base_layers = docker_layers("rnix-dt-base:latest");
    let top_layers = docker_layers("rnix-dt-top:v1");
    assert_eq!(top_layers[0], base_layers[0]);
    docker_rmi("rnix-dt-top:v1");
    docker_rmi("rnix-dt-base:latest");
}
