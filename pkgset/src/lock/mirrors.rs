//! Where the updater downloads from: the user's apt and pip configuration or `RNIX_*`
//! variables. No host name is ever built into rnix.

use std::path::Path;
use std::process::Command;

use super::error::LockError;

/// The two Debian archives of the lock (`archive` field: `debian` / `debian-security`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianMirrors {
    pub debian: String,
    pub security: String,
}

// apt's source formats are parsed by the realiser, which resolves `mirror://` URLs at build time.
pub use realise::fetch::{parse_deb822_sources, parse_sources_list, AptSource};

/// Reads apt's configured sources from `root` (normally `/`).
pub fn apt_sources(root: &Path) -> Vec<AptSource> {
    let mut out = Vec::new();
    let list = root.join("etc/apt/sources.list");
    if let Ok(t) = std::fs::read_to_string(&list) {
        out.extend(parse_sources_list(&t));
    }
    if let Ok(rd) = std::fs::read_dir(root.join("etc/apt/sources.list.d")) {
        let mut files: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let Ok(t) = std::fs::read_to_string(&f) else {
                continue;
            };
            match f.extension().and_then(|e| e.to_str()) {
                Some("sources") => out.extend(parse_deb822_sources(&t)),
                Some("list") => out.extend(parse_sources_list(&t)),
                _ => {}
            }
        }
    }
    out
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Resolves the mirrors from `RNIX_DEBIAN_MIRROR` / `RNIX_DEBIAN_SECURITY_MIRROR`, else
/// apt's sources: the source listing `bookworm-security` is the security mirror, the one
/// listing `bookworm` (or `bookworm-updates`) the main one.
pub fn debian_mirrors_from(
    env_main: Option<String>,
    env_sec: Option<String>,
    sources: &[AptSource],
) -> Result<DebianMirrors, LockError> {
    let find = |suite: &str| {
        sources
            .iter()
            .find(|s| s.suites.iter().any(|x| x == suite))
            .and_then(|s| s.uris.first().cloned())
    };
    let debian = env_main
        .or_else(|| find("bookworm"))
        .or_else(|| find("bookworm-updates"))
        .ok_or(LockError::NoDebianMirror)?;
    let security = env_sec
        .or_else(|| find("bookworm-security"))
        .ok_or(LockError::NoDebianSecurityMirror)?;
    Ok(DebianMirrors {
        debian: debian.trim_end_matches('/').to_string(),
        security: security.trim_end_matches('/').to_string(),
    })
}

/// The Debian mirrors of this machine's configuration.
pub fn debian_mirrors() -> Result<DebianMirrors, LockError> {
    debian_mirrors_from(
        env_nonempty("RNIX_DEBIAN_MIRROR"),
        env_nonempty("RNIX_DEBIAN_SECURITY_MIRROR"),
        &apt_sources(Path::new("/")),
    )
}

impl DebianMirrors {
    pub fn for_archive(&self, archive: &str) -> &str {
        if archive == "debian-security" {
            &self.security
        } else {
            &self.debian
        }
    }
}

/// The PEP 691 simple index: `RNIX_PYPI_INDEX`, `PIP_INDEX_URL`, pip's configured
/// `index-url`, else the default pip itself uses (asked from the installed pip).
pub fn pypi_index() -> Result<String, LockError> {
    if let Some(v) = env_nonempty("RNIX_PYPI_INDEX").or_else(|| env_nonempty("PIP_INDEX_URL")) {
        return Ok(v.trim_end_matches('/').to_string());
    }
    let python = env_nonempty("RNIX_PYTHON").unwrap_or_else(|| "python3".to_string());
    let ask = |args: &[&str]| -> Option<String> {
        let out = Command::new(&python).args(args).output().ok()?;
        if !out.status.success() {
            return None;
        }
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!s.is_empty() && s.contains("://")).then_some(s)
    };
    for key in ["global.index-url", "install.index-url"] {
        if let Some(v) = ask(&["-m", "pip", "config", "get", key]) {
            return Ok(v.trim_end_matches('/').to_string());
        }
    }
    ask(&[
        "-c",
        "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
    ])
    .map(|v| v.trim_end_matches('/').to_string())
    .ok_or_else(|| LockError::NoPypiIndex(format!("`{python} -m pip` gave no index URL")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_and_list() {
        let t = "Types: deb\nURIs: http://m.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://s.example/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb-src\nURIs: http://x.example/\nSuites: bookworm\n";
        let s = parse_deb822_sources(t);
        assert_eq!(s.len(), 2);
        let m = debian_mirrors_from(None, None, &s).unwrap();
        assert_eq!(m.debian, "http://m.example/debian");
        assert_eq!(m.security, "http://s.example/debian-security");
        let l = parse_sources_list("# c\ndeb [arch=amd64 signed-by=/k] http://a.example/d bookworm main\ndeb http://b.example/s bookworm-security main\n");
        let m = debian_mirrors_from(None, None, &l).unwrap();
        assert_eq!(m.debian, "http://a.example/d");
        assert_eq!(m.security, "http://b.example/s");
        let m =
            debian_mirrors_from(Some("http://e/".into()), Some("http://f".into()), &[]).unwrap();
        assert_eq!(
            (m.debian.as_str(), m.security.as_str()),
            ("http://e", "http://f")
        );
        let e = debian_mirrors_from(None, None, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("RNIX_DEBIAN_MIRROR"), "{e}");
        let e = debian_mirrors_from(Some("http://e".into()), None, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("RNIX_DEBIAN_SECURITY_MIRROR"), "{e}");
    }
}
