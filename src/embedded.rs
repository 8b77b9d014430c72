//! The package set written in Nix (`pkgs/`), embedded in the binary and put into the store
//! as a source path on first use. It stands in for nixpkgs.

use include_dir::{include_dir, Dir, DirEntry};
use std::path::Path;

static PKGS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/pkgs");

/// Name and version of the embedded package set, as shown in the notice.
pub const PKGS_NAME: &str = "rnix-pkgs";
pub const PKGS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Write the embedded package set into `dir` (which must exist and be empty).
pub fn write_to(dir: &Path) -> std::io::Result<()> {
    write_dir(&PKGS, dir)
}

fn write_dir(d: &Dir<'static>, root: &Path) -> std::io::Result<()> {
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
    }
}
