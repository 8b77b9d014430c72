//! End-to-end (issue 13): `dockerTools.mergeImages` (one archive that `docker load` reads
//! as several images) and `dockerTools.exportImage` (the flattened root filesystem of an
//! image as a tar, whiteouts of later layers honoured).
//!
//! Each build gets a tag unique to the run, so its derivations are built by the code under
//! test even in the shared store.

mod common;
use common::*;
use dockertools::export::tar;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The members of a (possibly gzip'd) tar: name -> (type, contents).
fn tar_members(path: &Path) -> Vec<(String, tar::EntryType, Vec<u8>)> {
    let f = std::fs::File::open(path).unwrap();
    let r = dockertools::base::open_maybe_compressed_reader(f).unwrap();
    let mut ar = tar::Archive::new(r);
    let mut v = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = e.header().entry_type();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        v.push((name, kind, data));
    }
    v
}

const MERGE: &str = r#"
{ tag }:
let
  pkgs = import <nixpkgs> { };
  # "a" with buildImage, "b" with buildLayeredImage (several layers).
  image = which: (if which == "a" then pkgs.dockerTools.buildImage else pkgs.dockerTools.buildLayeredImage) {
    name = "rnix-merge-${which}";
    inherit tag;
    config.Cmd = [
      "${pkgs.writeShellScriptBin "merge-app-${which}" ''
        echo "hello from image ${which}: $(${pkgs.coreutils}/bin/basename "$0")"
      ''}/bin/merge-app-${which}"
    ];
  };
in
pkgs.dockerTools.mergeImages [ (image "a") (image "b") ]
"#;

#[test]
fn merge_images_loads_every_image() {
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    if !namespaces_or_skip() || !require_docker() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tag = nonce();
    let result = build_expr(dir.path(), MERGE, &tag);
    assert!(
        result
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with("-merge-docker-images"),
        "{}",
        result.display()
    );
    // One archive, two manifest entries, the repositories kept.
    let members = tar_members(&result);
    let manifest = &members
        .iter()
        .find(|m| m.0 == "manifest.json")
        .expect("manifest.json")
        .2;
    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let tags: Vec<String> = manifest
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["RepoTags"].as_array().unwrap().clone())
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let a = format!("rnix-merge-a:{tag}");
    let b = format!("rnix-merge-b:{tag}");
    assert_eq!(tags, vec![a.clone(), b.clone()]);
    let repos = &members
        .iter()
        .find(|m| m.0 == "repositories")
        .expect("repositories")
        .2;
    let repos: serde_json::Value = serde_json::from_slice(repos).unwrap();
    assert!(repos["rnix-merge-a"][&tag].is_string(), "{repos}");
    // Layered archives (as nixpkgs' stream_layered_image) have no `repositories`: only
    // the manifest names "b".
    assert!(repos.get("rnix-merge-b").is_none(), "{repos}");

    for i in [&a, &b] {
        let _ = docker(&["rmi", "-f", i]);
    }
    let loaded = load(&result);
    assert!(loaded.contains(&a) && loaded.contains(&b), "{loaded}");
    let out_a = docker_ok(&["run", "--rm", &a]);
    let out_b = docker_ok(&["run", "--rm", &b]);
    for i in [&a, &b] {
        let _ = docker(&["rmi", "-f", i]);
    }
    assert_eq!(out_a.trim(), "hello from image a: merge-app-a");
    assert_eq!(out_b.trim(), "hello from image b: merge-app-b");
}

/// A layered image with two files in /etc, and an image on top of it whose runAsRoot
/// removes one (a whiteout in its layer) and adds another; exportImage of the top image.
const EXPORT: &str = r#"
{ tag, part ? "export" }:
let
  pkgs = import <nixpkgs> { };
  base = pkgs.dockerTools.buildLayeredImage {
    name = "rnix-export-base";
    inherit tag;
    contents = [
      (pkgs.writeTextDir "etc/victim" "to be removed\n")
      (pkgs.writeTextDir "etc/keeper" "kept\n")
    ];
  };
  top = pkgs.dockerTools.buildImage {
    name = "rnix-export-top";
    inherit tag;
    fromImage = base;
    runAsRoot = ''
      rm /etc/victim
      echo added > /etc/added
    '';
  };
in
if part == "top" then top else
pkgs.dockerTools.exportImage {
  fromImage = top;
  fromImageName = "rnix-export-top";
  fromImageTag = tag;
  diskSize = 4096;
  buildVMMemorySize = 1024;
}
"#;

#[test]
fn export_image_flattens_layers_and_honours_whiteouts() {
    if !namespaces_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tag = nonce();
    let result = build_expr(dir.path(), EXPORT, &tag);
    // nixpkgs: the name of the exported image's derivation.
    assert!(
        result
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with("-docker-image-rnix-export-top.tar.gz"),
        "{}",
        result.display()
    );
    // The export is a plain tar (nixpkgs does not compress it).
    let mut head = [0u8; 2];
    std::fs::File::open(&result)
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert_ne!(head, [0x1f, 0x8b], "exportImage output is gzip'd");
    let members = tar_members(&result);
    let names: Vec<&str> = members.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(names[0], "./", "{names:?}");
    // Sorted by name, directories before their contents, no duplicates.
    let mut sorted: Vec<Vec<&str>> = names
        .iter()
        .map(|n| n.trim_end_matches('/').split('/').collect())
        .collect();
    sorted.sort();
    sorted.dedup();
    let resorted: Vec<String> = sorted.iter().map(|c| c.join("/")).collect();
    let plain: Vec<String> = names
        .iter()
        .map(|n| n.trim_end_matches('/').to_string())
        .collect();
    assert_eq!(plain, resorted);
    assert!(!names.iter().any(|n| n.contains(".wh.")), "{names:?}");
    assert!(names.contains(&"./etc/keeper"), "{names:?}");
    assert!(names.contains(&"./etc/added"), "{names:?}");
    assert!(!names.contains(&"./etc/victim"), "{names:?}");
    let added = members.iter().find(|m| m.0 == "./etc/added").unwrap();
    assert_eq!(added.1, tar::EntryType::Regular);
    assert_eq!(added.2, b"added\n");
    // The store paths of the lower layers are there too (the keeper's target).
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("./nix/store/") && n.ends_with("/etc/keeper")),
        "{names:?}"
    );

    // The whiteout really is in the top image's layer (so the export had to apply it).
    let out = rnix_build(
        dir.path(),
        &shared_store(),
        &[
            "default.nix",
            "--argstr",
            "tag",
            &tag,
            "--argstr",
            "part",
            "top",
        ],
    );
    assert!(out.status.success(), "rnix-build of the top image failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let top = PathBuf::from(stdout.lines().last().unwrap().trim());
    let whiteouts: Vec<String> = tar_members(&top)
        .iter()
        .filter(|m| m.0.ends_with("layer.tar"))
        .flat_map(|m| {
            let mut ar = tar::Archive::new(&m.2[..]);
            ar.entries()
                .unwrap()
                .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
                .collect::<Vec<_>>()
        })
        .filter(|n| n.contains(".wh."))
        .collect();
    assert!(
        whiteouts
            .iter()
            .any(|n| n.trim_start_matches("./") == "etc/.wh.victim"),
        "{whiteouts:?}"
    );
}

/// Something that is not an image gives one clear error (exit 1), for both functions.
#[test]
fn not_an_image_is_a_clear_error() {
    if !namespaces_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tag = nonce();
    for (func, call, want) in [
        (
            "mergeImages",
            "pkgs.dockerTools.mergeImages [ notImage ]",
            "is not a tar archive",
        ),
        (
            "exportImage",
            "pkgs.dockerTools.exportImage { fromImage = notImage; }",
            "is not a tar archive",
        ),
        (
            "mergeImages",
            "pkgs.dockerTools.mergeImages notImage",
            "expects a list of images",
        ),
    ] {
        let expr = format!(
            "{{ tag }}:\nlet\n  pkgs = import <nixpkgs> {{ }};\n  notImage = pkgs.writeText \"not-an-image-${{tag}}\" \"hello\\n\";\nin\n{call}\n"
        );
        std::fs::write(dir.path().join("default.nix"), expr).unwrap();
        let out = rnix_build(
            dir.path(),
            &shared_store(),
            &["default.nix", "--argstr", "tag", &tag],
        );
        assert_eq!(out.status.code(), Some(1), "{func}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{func}: {err}");
        assert!(!err.contains("panicked"), "{func}: {err}");
    }
}
