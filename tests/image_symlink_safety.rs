//! Issue 11, items 1 and 7, through `rnix-build` on real expressions:
//!
//! * a build output holding symlinks to host directories (`/etc`, `../../../etc`,
//!   `/nix/store/../../etc`, a chain of links) put into an image by `buildImage` and
//!   `buildLayeredImage` keeps those links as links: no host file (nor host file name) ends up in
//!   a layer. The layer tars are read directly, no Docker needed.
//! * an image build killed mid-way leaves no scratch tree outside the store, and the next
//!   run (or `rnix-store --gc`) removes the one it left in the store's state directory.
//!
//! Needs the package mirrors (the stdenv's `.deb`s are fetched for `runCommand`).

mod common;
use common::*;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The links of the output `p`, with their targets as written by `ln -s`.
const LINKS: &[(&str, &str)] = &[
    ("etc-link", "/etc"),
    ("up", "../../../etc"),
    (
        "sub/deep-up",
        "../../../../../../../../../../../../../../../../etc",
    ),
    ("chain", "etc-link"),
    ("passwd-link", "/etc/passwd"),
    ("store-dotdot", "/nix/store/../../etc"),
    ("sub/via-store", "/nix/store/../../etc/ssl"),
    ("dot", "/etc/."),
];

fn expression() -> String {
    let mut script = String::from("mkdir -p $out/sub\n");
    for (name, target) in LINKS {
        script.push_str(&format!("ln -s '{target}' $out/{name}\n"));
    }
    format!(
        r#"{{ layered ? false, runAsRoot ? null, salt ? "" }}:
with import <nixpkgs> {{}};
let
  p = runCommand "p" {{}} ''
{script}  '';
  # `salt` makes a new image derivation, so that the image is really built by this
  # rnix-build (not found in the shared store from an earlier run).
  config = {{ Env = [ "SALT=${{salt}}" ]; }};
in
if layered then dockerTools.buildLayeredImage {{
  name = "symlink-safety"; tag = "t"; contents = [ p ]; inherit config;
}} else dockerTools.buildImage {{
  name = "symlink-safety"; tag = "t"; copyToRoot = [ p ]; inherit runAsRoot config;
}}
"#
    )
}

/// One tar member: type flag, link target, content.
#[derive(Debug)]
struct Member {
    kind: u8,
    link: String,
    data: Vec<u8>,
}

fn field(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn octal(b: &[u8]) -> usize {
    let s = field(b);
    usize::from_str_radix(s.trim(), 8).unwrap_or_else(|_| panic!("bad tar number {s:?}"))
}

/// A small reader for the ustar/GNU tars rnix writes (GNU long names and links included).
fn read_tar(bytes: &[u8]) -> BTreeMap<String, Member> {
    let mut out = BTreeMap::new();
    let mut pos = 0;
    let (mut long_name, mut long_link) = (None::<String>, None::<String>);
    while pos + 512 <= bytes.len() {
        let h = &bytes[pos..pos + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let size = octal(&h[124..136]);
        let kind = h[156];
        let data = bytes[pos + 512..pos + 512 + size].to_vec();
        pos += 512 + size.div_ceil(512) * 512;
        match kind {
            b'L' => {
                long_name = Some(field(&data));
                continue;
            }
            b'K' => {
                long_link = Some(field(&data));
                continue;
            }
            b'x' | b'g' => continue,
            _ => {}
        }
        let mut name = long_name.take().unwrap_or_else(|| {
            let prefix = field(&h[345..500]);
            let n = field(&h[0..100]);
            if prefix.is_empty() {
                n
            } else {
                format!("{prefix}/{n}")
            }
        });
        let link = long_link.take().unwrap_or_else(|| field(&h[157..257]));
        while name.ends_with('/') {
            name.pop();
        }
        let name = name.trim_start_matches("./").to_string();
        out.insert(name, Member { kind, link, data });
    }
    out
}

/// The layers (uncompressed tars) of an image file, in order.
fn image_layers(image: &Path) -> Vec<BTreeMap<String, Member>> {
    let mut raw = Vec::new();
    dockertools::base::open_maybe_compressed(image)
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    let outer = read_tar(&raw);
    let manifest: serde_json::Value =
        serde_json::from_slice(&outer["manifest.json"].data).expect("manifest.json");
    manifest[0]["Layers"]
        .as_array()
        .expect("Layers in manifest.json")
        .iter()
        .map(|l| {
            let m = &outer[l.as_str().unwrap()];
            let mut data = Vec::new();
            dockertools::base::open_maybe_compressed_reader(&m.data[..])
                .unwrap()
                .read_to_end(&mut data)
                .unwrap();
            read_tar(&data)
        })
        .collect()
}

/// Contents of host files an image must never hold (those that exist and are not empty).
fn host_secrets() -> Vec<(String, Vec<u8>)> {
    [
        "/etc/passwd",
        "/etc/group",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/os-release",
    ]
    .iter()
    .filter_map(|p| {
        let c = std::fs::read(p).ok()?;
        (!c.is_empty()).then(|| (p.to_string(), c))
    })
    .collect()
}

fn check_image(image: &Path, layered: bool) {
    let layers = image_layers(image);
    assert!(!layers.is_empty());
    let secrets = host_secrets();
    assert!(!secrets.is_empty(), "no host file to compare with");
    // `p` holds only directories and symlinks: a regular file can only come from the host.
    for (i, layer) in layers.iter().enumerate() {
        for (name, m) in layer {
            for (host, content) in &secrets {
                assert!(
                    m.data != *content,
                    "layer {i}: {name} has the content of the host's {host}"
                );
            }
        }
    }
    for (i, layer) in layers.iter().enumerate() {
        for (name, m) in layer {
            assert!(
                !matches!(m.kind, b'0' | 0 | b'1' | b'7'),
                "layer {i}: unexpected regular file {name} ({} bytes) in the image",
                m.data.len()
            );
        }
    }
    let mut seen_links = BTreeMap::new();
    let mut store_p = None;
    for (i, layer) in layers.iter().enumerate() {
        for (name, m) in layer {
            let in_store = name.strip_prefix("nix/store/").and_then(|r| {
                let (sp, rest) = r.split_once('/')?;
                sp.ends_with("-p").then_some((sp, rest))
            });
            let rel = match in_store {
                Some((sp, rest)) => {
                    store_p = Some(sp.to_string());
                    rest
                }
                None => name.as_str(),
            };
            for (link, _) in LINKS {
                assert!(
                    !rel.starts_with(&format!("{link}/")),
                    "layer {i}: {name} was read through the link {link} (host directory copied)"
                );
            }
            if LINKS.iter().any(|(l, _)| *l == rel) {
                seen_links
                    .entry((in_store.is_some(), rel.to_string()))
                    .or_insert((m.kind, m.link.clone()));
            }
        }
    }
    let store_p = store_p.expect("the store path of p is in the image");
    for (link, target) in LINKS {
        for in_store in [true, false] {
            let Some((kind, got)) = seen_links.get(&(in_store, link.to_string())) else {
                panic!("{link} (in the store: {in_store}) is missing from the image");
            };
            assert_eq!(
                *kind, b'2',
                "{link} (in the store: {in_store}) is not a symlink"
            );
            // buildImage copies the link; buildLayeredImage's symlink farm links to it in
            // the store (nixpkgs' symlinkJoin), which keeps it a link too.
            let via_store = format!("/nix/store/{store_p}/{link}");
            let ok = got == target || (layered && !in_store && *got == via_store);
            assert!(
                ok,
                "{link} (in the store: {in_store}) points to {got}, expected {target}"
            );
        }
    }
}

fn write_expr(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let f = dir.join("default.nix");
    std::fs::write(&f, expression()).unwrap();
    f
}

fn image_path(dir: &Path, out_link: &str) -> PathBuf {
    std::fs::canonicalize(dir.join(out_link)).unwrap()
}

fn salt() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}-{}", t.as_nanos(), std::process::id())
}

#[test]
fn build_image_keeps_links_to_host_directories_as_links() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("expr");
    write_expr(&d);
    let store = shared_store();
    build_ok(&d, &store, &["--argstr", "salt", &salt(), "-o", "img"]);
    check_image(&image_path(&d, "img"), false);
}

#[test]
fn build_layered_image_keeps_links_to_host_directories_as_links() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("expr");
    write_expr(&d);
    let store = shared_store();
    build_ok(
        &d,
        &store,
        &[
            "--arg",
            "layered",
            "true",
            "--argstr",
            "salt",
            &salt(),
            "-o",
            "img",
        ],
    );
    check_image(&image_path(&d, "img"), true);
}

/// Every file named `name` under `dir` (not following symlinks).
fn find_named(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_name() == name {
            out.push(p.clone());
        }
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            find_named(&p, name, out);
        }
    }
}

/// Starts a `buildImage` whose `runAsRoot` creates `/started-marker` then sleeps; once the
/// marker exists, kills the build (its whole process group). Returns where the marker was.
fn start_and_kill(d: &Path, store: &Path, tmpdir: &Path) -> Vec<PathBuf> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rnix-build"))
        .args([
            "--no-out-link",
            "--argstr",
            "runAsRoot",
            "touch /started-marker; sleep 300",
            "--argstr",
            "salt",
            &salt(),
        ])
        .current_dir(d)
        .env("RNIX_STORE", store)
        .env("TMPDIR", tmpdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(900);
    let found = loop {
        let mut found = Vec::new();
        find_named(store, "started-marker", &mut found);
        find_named(tmpdir, "started-marker", &mut found);
        if !found.is_empty() {
            break found;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("rnix-build ended ({st}) before its script started");
        }
        assert!(
            Instant::now() < deadline,
            "the image build never started its script"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let k = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(k.success());
    child.wait().unwrap();
    found
}

fn leftovers(tmpdir: &Path, store: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut outside = Vec::new();
    find_named(tmpdir, "started-marker", &mut outside);
    // Anything left in TMPDIR by the build is a leak, marker or not.
    outside.extend(
        std::fs::read_dir(tmpdir)
            .unwrap()
            .flatten()
            .map(|e| e.path()),
    );
    outside.sort();
    outside.dedup();
    let mut inside = Vec::new();
    find_named(store, "started-marker", &mut inside);
    (outside, inside)
}

#[test]
fn killed_image_build_leaves_no_scratch_tree_and_it_is_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("expr");
    write_expr(&d);
    // A store of its own: the test collects its garbage.
    let store = tmp.path().join("store");
    let tmpdir = tmp.path().join("tmpdir");
    std::fs::create_dir_all(&tmpdir).unwrap();

    // Killed mid-way; the next build cleans the scratch tree up.
    let found = start_and_kill(&d, &store, &tmpdir);
    let (outside, inside) = leftovers(&tmpdir, &store);
    assert!(
        outside.is_empty(),
        "a killed image build left scratch files outside the store: {outside:?} (marker at {found:?})"
    );
    assert!(
        !inside.is_empty()
            && inside
                .iter()
                .all(|p| p.starts_with(store.join("nix/var/rnix"))),
        "the scratch tree of the killed build is in the store's state directory: {inside:?}"
    );
    for layered in ["false", "true"] {
        let o = Command::new(env!("CARGO_BIN_EXE_rnix-build"))
            .args(["--no-out-link", "--arg", "layered", layered])
            .current_dir(&d)
            .env("RNIX_STORE", &store)
            .env("TMPDIR", &tmpdir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "rnix-build after the kill failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let (outside, inside) = leftovers(&tmpdir, &store);
        assert!(outside.is_empty(), "left outside the store: {outside:?}");
        assert!(inside.is_empty(), "the next run did not clean {inside:?}");
    }

    // Killed mid-way; garbage collection cleans it.
    start_and_kill(&d, &store, &tmpdir);
    let (outside, inside) = leftovers(&tmpdir, &store);
    assert!(outside.is_empty(), "left outside the store: {outside:?}");
    assert!(!inside.is_empty());
    let o = Command::new(env!("CARGO_BIN_EXE_rnix-store"))
        .args(["--gc"])
        .env("RNIX_STORE", &store)
        .env("TMPDIR", &tmpdir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "rnix-store --gc failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (outside, inside) = leftovers(&tmpdir, &store);
    assert!(outside.is_empty(), "left outside the store: {outside:?}");
    assert!(
        inside.is_empty(),
        "garbage collection did not clean {inside:?}"
    );
}
