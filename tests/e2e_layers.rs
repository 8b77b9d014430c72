//! End-to-end: `buildLayeredImage` of the seed app (editing main.py changes exactly one
//! layer; the image serves the app) and the OCI output (`skopeo inspect` and `docker load`
//! accept it). Issue 7, acceptance 5 and 6.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn layered_dir(dir: &Path) -> std::path::PathBuf {
    let d = seed_copy(dir);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/layered.nix"),
        d.join("layered.nix"),
    )
    .unwrap();
    d
}

fn layers(image: &str) -> Vec<String> {
    let j = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        image,
    ]);
    serde_json::from_str(j.trim()).unwrap()
}

#[test]
fn layered_image_changes_one_layer_when_main_py_changes() {
    if !require_docker() {
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let image = "rnix-e2e-layered:latest";
    let tmp = tempfile::tempdir().unwrap();
    let d = layered_dir(tmp.path());
    let store = shared_store();

    build_ok(&d, &store, &["layered.nix"]);
    let _ = docker(&["rmi", "-f", image]);
    load(&d.join("result"));
    let before = layers(image);
    assert!(
        before.len() > 2,
        "a layered image has several layers: {before:?}"
    );
    assert_eq!(run_and_curl(image), r#"{"message":"Nix is cool!"}"#);

    let main = d.join("main.py");
    let text = std::fs::read_to_string(&main)
        .unwrap()
        .replace("Nix is cool!", "rnix is cool too!");
    std::fs::write(&main, text).unwrap();
    build_ok(&d, &store, &["layered.nix"]);
    let _ = docker(&["rmi", "-f", image]);
    load(&d.join("result"));
    let after = layers(image);
    assert_eq!(before.len(), after.len(), "{before:?} vs {after:?}");
    let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    assert_eq!(
        changed, 1,
        "exactly one layer changes:\n{before:#?}\n{after:#?}"
    );
    assert_eq!(run_and_curl(image), r#"{"message":"rnix is cool too!"}"#);
    let _ = docker(&["rmi", "-f", image]);
}

#[test]
fn oci_output_is_accepted_by_skopeo_and_docker() {
    if !require_docker() {
        return;
    }
    let skopeo = Command::new("skopeo").arg("--version").output();
    if skopeo.is_err() {
        if std::env::var_os("CI").is_some() {
            panic!("skopeo is required under CI (apt-get install skopeo)");
        }
        eprintln!("SKIP: skopeo not installed");
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let image = "rnix-e2e-oci:latest";
    let tmp = tempfile::tempdir().unwrap();
    let d = layered_dir(tmp.path());
    let store = shared_store();
    build_ok(
        &d,
        &store,
        &[
            "layered.nix",
            "--arg",
            "layered",
            "false",
            "--argstr",
            "format",
            "oci",
            "-o",
            "oci",
        ],
    );
    let result = std::fs::canonicalize(d.join("oci")).unwrap();
    // skopeo reads an OCI archive; the result may be compressed, so give it the plain tar.
    let tar = tmp.path().join("image.tar");
    let o = sh(&format!(
        "(gzip -dc '{0}' 2>/dev/null || cat '{0}') > '{1}'",
        result.display(),
        tar.display()
    ));
    assert!(o.status.success());
    let out = Command::new("skopeo")
        .args(["inspect", &format!("oci-archive:{}", tar.display())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["Architecture"], "amd64");
    assert!(
        info["Layers"]
            .as_array()
            .map(|l| !l.is_empty())
            .unwrap_or(false),
        "{info}"
    );

    let _ = docker(&["rmi", "-f", image]);
    load(&result);
    assert_eq!(run_and_curl(image), r#"{"message":"Nix is cool!"}"#);
    let _ = docker(&["rmi", "-f", image]);
}

#[test]
fn stream_layered_image_pipes_into_docker_load() {
    if !require_docker() {
        return;
    }
    let _g = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let nix = tmp.path().join("stream.nix");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/stream.nix"),
        &nix,
    )
    .unwrap();
    let store = shared_store();
    let out = rnix_build(tmp.path(), &store, &["stream.nix"]);
    assert!(out.status.success());
    let exe = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let _ = docker(&["rmi", "-f", "rnix-stream-test:latest"]);
    stream_into_docker(Path::new(&exe));
    let run = docker_ok(&["run", "--rm", "rnix-stream-test:latest"]);
    assert_eq!(run.trim(), "streamed ok");
    let _ = docker(&["rmi", "-f", "rnix-stream-test:latest"]);
}
