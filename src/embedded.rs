//! The package set written in Nix (`pkgs/`), embedded in the binary and put into the store
//! as a source path on first use. It stands in for nixpkgs.

use include_dir::{include_dir, Dir, DirEntry};
use std::path::Path;

static PKGS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/pkgs");

/// The index of the whole Debian archive (`rnix-update-lock` writes it), compressed.
static DEBIAN_INDEX: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/snapshot/debian-bookworm.json.zst"
));

/// sha256 of everything [`write_to`] writes (computed by `build.rs`): the key under which
/// the store path of the package set is remembered, so that it is written and hashed once.
pub const FINGERPRINT: &str = env!("RNIX_PKGS_FINGERPRINT");

/// Name and version of the embedded package set, as shown in the notice.
pub const PKGS_NAME: &str = "rnix-pkgs";
pub const PKGS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Write the embedded package set into `dir` (which must exist and be empty): the Nix files,
/// and the Debian index as `debian-index/<shard>.json` (see `pkgs/debian.nix`) and
/// `debian-index/names.json`.
pub fn write_to(dir: &Path) -> anyhow::Result<()> {
    write_dir(&PKGS, dir)?;
    write_debian_index(&dir.join("debian-index"))
}

/// The shard of a package or group name: the first three hex digits of its sha256.
pub fn shard_of(name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(name.as_bytes()))[..3].to_string()
}

fn write_debian_index(dir: &Path) -> anyhow::Result<()> {
    use pkgset::lock::{DebEntry, DebianLock, GroupEntry};
    use std::collections::BTreeMap;
    #[derive(serde::Serialize, Default)]
    struct Shard<'a> {
        packages: BTreeMap<&'a str, &'a DebEntry>,
        groups: BTreeMap<&'a str, &'a GroupEntry>,
    }
    let index = DebianLock::from_index_bytes(DEBIAN_INDEX)
        .map_err(|e| anyhow::anyhow!("the embedded Debian index is damaged: {e:#}"))?;
    let mut shards: BTreeMap<String, Shard> = BTreeMap::new();
    for a in 0..4096u32 {
        shards.insert(format!("{a:03x}"), Shard::default());
    }
    for (n, e) in &index.packages {
        let s = shards.get_mut(&shard_of(n)).expect("every shard exists");
        s.packages.insert(n, e);
    }
    for (n, g) in &index.groups {
        let s = shards.get_mut(&shard_of(n)).expect("every shard exists");
        s.groups.insert(n, g);
    }
    std::fs::create_dir_all(dir)?;
    for (k, s) in &shards {
        std::fs::write(dir.join(format!("{k}.json")), serde_json::to_vec(s)?)?;
    }
    let names: Vec<&String> = index.packages.keys().collect();
    std::fs::write(dir.join("names.json"), serde_json::to_vec(&names)?)?;
    Ok(())
}

fn write_dir(d: &Dir<'static>, root: &Path) -> anyhow::Result<()> {
    for e in d.entries() {
        match e {
            DirEntry::Dir(sub) => {
                std::fs::create_dir_all(root.join(sub.path()))?;
                write_dir(sub, root)?;
            }
            DirEntry::File(f) => {
                let p = root.join(f.path());
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&p, f.contents())?;
                if f.path().extension().is_some_and(|x| x == "sh") {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
                }
            }
        }
    }
    Ok(())
}

/// True when `url` names a nixpkgs archive or channel (e.g. `…/NixOS/nixpkgs/archive/<rev>.tar.gz`,
/// `…/nixos-23.11/nixexprs.tar.xz`, `…/nixpkgs-unstable`), which rnix answers with the embedded set.
pub fn is_nixpkgs_url(url: &str) -> bool {
    let u = url.to_ascii_lowercase();
    u.contains("/nixpkgs/archive/")
        || u.contains("/nixpkgs/tarball/")
        || u.ends_with("nixexprs.tar.xz")
        || u.contains("/channels/nixos-")
        || u.contains("/channels/nixpkgs-")
        || u.contains("/nixpkgs-channels/")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn nixpkgs_urls() {
        assert!(is_nixpkgs_url(
            "https://github.com/NixOS/nixpkgs/archive/057f9aecfb71c4437d2b27d3323df7f93c010b7e.tar.gz"
        ));
        assert!(is_nixpkgs_url(
            "https://nixos.org/channels/nixos-23.11/nixexprs.tar.xz"
        ));
        assert!(!is_nixpkgs_url("https://example.org/foo.tar.gz"));
    }
    #[test]
    fn embedded_set_has_default_nix() {
        let t = tempfile::tempdir().unwrap();
        write_to(t.path()).unwrap();
        assert!(t.path().join("default.nix").exists());
        let shard = t
            .path()
            .join("debian-index")
            .join(format!("{}.json", shard_of("hello")));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(shard).unwrap()).unwrap();
        assert!(v["packages"]["hello"]["sha256"].is_string());
        assert_eq!(v["groups"]["glibc"], serde_json::Value::Null);
        let glibc = t
            .path()
            .join("debian-index")
            .join(format!("{}.json", shard_of("glibc")));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(glibc).unwrap()).unwrap();
        assert_eq!(v["groups"]["glibc"]["members"][0], "libc6");
    }
}
