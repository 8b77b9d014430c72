//! Computes the fingerprint of the embedded package set (`RNIX_PKGS_FINGERPRINT`): the sha256
//! of every file under `pkgs/` (path and contents, in sorted order) and of the Debian index.
use sha2::{Digest, Sha256};
use std::path::Path;

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("reading pkgs/")
        .map(|e| e.expect("reading pkgs/").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, base, out);
        } else {
            let rel = p
                .strip_prefix(base)
                .expect("under pkgs/")
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read(&p).expect("reading a file of pkgs/")));
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=pkgs");
    println!("cargo:rerun-if-changed=snapshot");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("pkgs"), &root.join("pkgs"), &mut files);
    let mut h = Sha256::new();
    // the layout version of what `embedded::write_to` writes
    h.update(b"rnix-pkgs layout 1\0");
    for (rel, data) in &files {
        h.update(rel.as_bytes());
        h.update([0]);
        h.update((data.len() as u64).to_le_bytes());
        h.update(data);
    }
    let index = std::fs::read(root.join("snapshot/debian-bookworm.json.zst"))
        .expect("snapshot/debian-bookworm.json.zst (written by rnix-update-lock)");
    h.update(b"debian-index\0");
    h.update(&index);
    println!(
        "cargo:rustc-env=RNIX_PKGS_FINGERPRINT={}",
        hex::encode(h.finalize())
    );
}
