//! The image writer runs outside any sandbox: symlinks in its inputs (copyToRoot paths,
//! base image layers) must be followed inside the store / the image root only, never on
//! the host (issue 11, item 1). Each case writes to or reads from a "host" directory that
//! stands for /etc; none may be touched or copied.

mod common;
use common::*;
use dockertools::{build_image, ImageSpec, ScriptRunner};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

struct NoScripts;
impl ScriptRunner for NoScripts {
    fn run(&self, _: &Path, _: &str, _: bool) -> anyhow::Result<()> {
        panic!("no script expected");
    }
}

/// A host directory with files that must stay as they are and never reach an image.
fn host_dir(t: &Path) -> PathBuf {
    let h = t.join("host-etc");
    fs::create_dir_all(h.join("x")).unwrap();
    fs::write(h.join("victim"), "host secret\n").unwrap();
    fs::write(h.join("x/keep"), "host secret 2\n").unwrap();
    h
}

fn assert_host_intact(h: &Path) {
    assert_eq!(
        fs::read_to_string(h.join("victim")).unwrap(),
        "host secret\n"
    );
    assert_eq!(
        fs::read_to_string(h.join("x/keep")).unwrap(),
        "host secret 2\n"
    );
    let mut names: Vec<String> = fs::read_dir(h)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["victim", "x"],
        "files were written into the host directory"
    );
    assert_eq!(fs::read_dir(h.join("x")).unwrap().count(), 1);
}

/// No member of any layer of `image` holds a host file's content.
fn assert_no_host_content(image: &Path) {
    let outer = read_archive(image);
    for (name, data) in &outer {
        if !name.ends_with(".tar") {
            continue;
        }
        let mut ar = tar::Archive::new(&data[..]);
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let n = e.path().unwrap().display().to_string();
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            assert!(
                !v.windows(11).any(|w| w == b"host secret"),
                "{name}: {n} holds a host file"
            );
        }
    }
}

#[test]
fn copy_to_root_input_linking_out_of_the_store_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let h = host_dir(t.path());
    let store = FakeStore::new(&t.path().join("store"));
    let name = format!("{}-p", hash32('p'));
    symlink(&h, store.dir.join(&name)).unwrap();
    let p = format!("/nix/store/{name}");
    let mut spec = ImageSpec::new("x");
    spec.tag = Some("t".into());
    spec.copy_to_root = vec![store.root_input(&p)];
    spec.include_store_paths = false;
    let out = t.path().join("image.tar");
    let e = format!("{:#}", build_image(&spec, &NoScripts, &out).unwrap_err());
    assert!(e.contains("leads out of the store"), "{e}");
    assert!(!out.exists());
    assert_host_intact(&h);
}

#[test]
fn links_to_host_directories_stay_links_in_both_layouts() {
    let t = tempfile::tempdir().unwrap();
    let h = host_dir(t.path());
    let store = FakeStore::new(&t.path().join("store"));
    let hs = h.display().to_string();
    let up = format!("../../../../../../../../../../../..{hs}");
    let p = store.add('p', "p", |d| {
        symlink(&hs, d.join("abs")).unwrap();
        symlink(&up, d.join("up")).unwrap();
        symlink("/nix/store/../..".to_string() + &hs, d.join("dotdot")).unwrap();
        symlink("abs/x", d.join("through")).unwrap();
        symlink(".", d.join("self")).unwrap();
    });
    for layered in [false, true] {
        let mut spec = ImageSpec::new("x");
        spec.tag = Some("t".into());
        spec.copy_to_root = vec![store.root_input(&p)];
        spec.closure = vec![store.entry(&p, &[])];
        spec.layered = layered;
        spec.compressor = dockertools::Compressor::None;
        let out = t.path().join(format!("image-{layered}.tar"));
        build_image(&spec, &NoScripts, &out).unwrap();
        assert_no_host_content(&out);
        assert_host_intact(&h);
    }
}

#[test]
fn keep_contents_dirlinks_never_writes_through_a_host_link() {
    let t = tempfile::tempdir().unwrap();
    let h = host_dir(t.path());
    let store = FakeStore::new(&t.path().join("store"));
    let hs = h.display().to_string();
    // `d` -> `a/x`, and `a` -> the host directory: resolving `d` must stay in the image root.
    let a = store.add('a', "a", |d| {
        symlink(&hs, d.join("a")).unwrap();
        symlink("a/x", d.join("d")).unwrap();
    });
    let b = store.add('b', "b", |d| {
        fs::create_dir_all(d.join("d")).unwrap();
        fs::write(d.join("d/f"), "from b\n").unwrap();
    });
    let mut spec = ImageSpec::new("x");
    spec.tag = Some("t".into());
    spec.copy_to_root = vec![store.root_input(&a), store.root_input(&b)];
    spec.closure = vec![store.entry(&a, &[]), store.entry(&b, &[])];
    spec.keep_contents_dirlinks = true;
    let out = t.path().join("image.tar.gz");
    build_image(&spec, &NoScripts, &out).unwrap();
    assert_host_intact(&h);
    assert_no_host_content(&out);
}

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A docker-archive base image whose layers are given as tar builders' outputs.
fn base_image(path: &Path, layers: Vec<Vec<u8>>) {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256(l)))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": []
    });
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let manifest = serde_json::json!([{
        "Config": "config.json", "RepoTags": ["base:latest"], "Layers": names
    }]);
    let mut b = tar::Builder::new(fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("manifest.json", manifest.to_string().as_bytes());
    add("config.json", config.to_string().as_bytes());
    for (n, l) in names.iter().zip(&layers) {
        add(n, l);
    }
    b.finish().unwrap();
}

enum L<'a> {
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
    File(&'a str, &'a str),
}

fn layer(entries: &[L]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        match e {
            L::Link(n, t) | L::Hard(n, t) => {
                h.set_entry_type(if matches!(e, L::Link(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_size(0);
                b.append_link(&mut h, n, t).unwrap();
            }
            L::File(n, c) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(c.len() as u64);
                b.append_data(&mut h, n, c.as_bytes()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

#[test]
fn hostile_base_image_layers_cannot_touch_host_files() {
    let t = tempfile::tempdir().unwrap();
    let h = host_dir(t.path());
    let hs = h.display().to_string();
    let up = format!("../../../../../../../../../../../..{hs}");
    let links = layer(&[L::Link("evil", &hs), L::Link("rel", &up)]);
    let store = FakeStore::new(&t.path().join("store"));
    let p = store.add('p', "p", |d| fs::write(d.join("hello"), "hi\n").unwrap());
    let spec_for = |base: &Path| {
        let mut spec = ImageSpec::new("x");
        spec.tag = Some("t".into());
        spec.copy_to_root = vec![store.root_input(&p)];
        spec.closure = vec![store.entry(&p, &[])];
        spec.from_image = Some(base.to_path_buf());
        spec
    };

    // Files, whiteouts and opaque markers written through the links land in the image root.
    let base = t.path().join("base1.tar");
    base_image(
        &base,
        vec![
            links.clone(),
            layer(&[
                L::File("evil/pwned", "x"),
                L::File("rel/pwned2", "x"),
                L::File("evil/.wh.victim", ""),
                L::File("rel/x/.wh..wh..opq", ""),
            ]),
        ],
    );
    let out = t.path().join("image1.tar");
    build_image(&spec_for(&base), &NoScripts, &out).unwrap();
    assert_host_intact(&h);

    // A hard link through a link to a host file is not copied.
    let base = t.path().join("base2.tar");
    base_image(
        &base,
        vec![links.clone(), layer(&[L::Hard("stolen", "evil/victim")])],
    );
    let out = t.path().join("image2.tar");
    match build_image(&spec_for(&base), &NoScripts, &out) {
        Ok(()) => assert_no_host_content(&out),
        Err(e) => assert!(format!("{e:#}").contains("hard link"), "{e:#}"),
    }
    assert_host_intact(&h);

    // A manifest (or config) that is a symlink to a host file is not read.
    let base = t.path().join("base3.tar");
    {
        let mut b = tar::Builder::new(fs::File::create(&base).unwrap());
        let mut hd = tar::Header::new_gnu();
        hd.set_entry_type(tar::EntryType::Symlink);
        hd.set_size(0);
        hd.set_mode(0o777);
        b.append_link(&mut hd, "manifest.json", h.join("victim"))
            .unwrap();
        b.finish().unwrap();
    }
    let out = t.path().join("image3.tar");
    let e = format!(
        "{:#}",
        build_image(&spec_for(&base), &NoScripts, &out).unwrap_err()
    );
    assert!(e.contains("manifest.json"), "{e}");
    assert_host_intact(&h);
}

#[test]
fn scripts_refuse_mount_points_that_are_links() {
    let t = tempfile::tempdir().unwrap();
    let h = host_dir(t.path());
    let hs = h.display().to_string();
    let store = FakeStore::new(&t.path().join("store"));
    for name in ["nix", "dev", "proc"] {
        let p = store.add('p', "p", |d| symlink(&hs, d.join(name)).unwrap());
        let mut spec = ImageSpec::new("x");
        spec.tag = Some("t".into());
        spec.copy_to_root = vec![store.root_input(&p)];
        spec.closure = vec![store.entry(&p, &[])];
        spec.run_as_root = Some("true".into());
        let out = t.path().join("image.tar");
        let e = format!("{:#}", build_image(&spec, &NoScripts, &out).unwrap_err());
        assert!(
            e.contains(&format!("/{name} in the image is a symlink")),
            "{e}"
        );
        assert_host_intact(&h);
    }
}
