//! Downloads: `builtin:fetchurl`, `mirror://` resolution from the user's configuration,
//! retries and resumption.

use anyhow::{anyhow, bail, Context, Result};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Called with (bytes so far, total if known).
pub type ProgressFn<'a> = &'a (dyn Fn(u64, Option<u64>) + Sync);

/// Where `mirror://` URLs point, read from the environment and the apt/pip configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorConfig {
    pub debian: Option<String>,
    pub debian_security: Option<String>,
    /// A PEP 503/691 "simple" index URL (pip's `index-url`, usually ending in `/simple`).
    pub pypi_index: Option<String>,
    /// When no index is configured, ask pip (`pip config list`, else pip's default index)
    /// at the moment a `mirror://pypi/` URL is resolved.
    pub ask_pip: bool,
}

/// One apt source: its URIs and suites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uris: Vec<String>,
    pub suites: Vec<String>,
}

/// Parses deb822 `.sources` text (stanzas separated by blank lines).
pub fn parse_deb822_sources(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut uris = Vec::new();
        let mut suites = Vec::new();
        let mut types_ok = true;
        let mut enabled = true;
        for line in stanza.lines() {
            let line = line.trim_end();
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                let vals: Vec<String> = v.split_whitespace().map(str::to_string).collect();
                match k.trim().to_ascii_lowercase().as_str() {
                    "uris" => uris = vals,
                    "suites" => suites = vals,
                    "types" => types_ok = vals.iter().any(|t| t == "deb"),
                    "enabled" => enabled = !vals.iter().any(|t| t == "no"),
                    _ => {}
                }
            }
        }
        if types_ok && enabled && !uris.is_empty() {
            out.push(AptSource { uris, suites });
        }
    }
    out
}

/// Parses one-line-style `sources.list` text.
pub fn parse_sources_list(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        // Options: `[arch=amd64 signed-by=...]`, possibly spanning several words.
        if words.peek().map(|w| w.starts_with('[')).unwrap_or(false) {
            for w in words.by_ref() {
                if w.ends_with(']') {
                    break;
                }
            }
        }
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        out.push(AptSource {
            uris: vec![uri.to_string()],
            suites: vec![suite.to_string()],
        });
    }
    out
}

/// Picks the Debian archive and security mirrors from apt sources: the security mirror is
/// the source whose suites include a `*-security` suite, the archive one any other.
pub fn mirrors_from_apt(sources: &[AptSource]) -> (Option<String>, Option<String>) {
    let mut debian = None;
    let mut security = None;
    for s in sources {
        let is_sec = s.suites.iter().any(|x| x.ends_with("-security"));
        let uri = s.uris.first().cloned();
        if is_sec {
            if security.is_none() {
                security = uri;
            }
        } else if debian.is_none() {
            debian = uri;
        }
    }
    (debian, security)
}

fn read_apt_sources() -> Vec<AptSource> {
    let mut all = Vec::new();
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let Ok(text) = fs::read_to_string(&f) else {
                continue;
            };
            match f.extension().and_then(|e| e.to_str()) {
                Some("sources") => all.extend(parse_deb822_sources(&text)),
                Some("list") => all.extend(parse_sources_list(&text)),
                _ => {}
            }
        }
    }
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        all.extend(parse_sources_list(&text));
    }
    all
}

/// Reads pip's configured `index-url` from `pip config list` output.
pub fn parse_pip_config_list(text: &str) -> Option<String> {
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if k.trim().ends_with(".index-url") {
                let v = v.trim().trim_matches('\'').trim_matches('"');
                if !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

fn pip_index_from_pip() -> Option<String> {
    for py in ["python3", "python"] {
        if let Ok(o) = std::process::Command::new(py)
            .args(["-m", "pip", "config", "list"])
            .stderr(std::process::Stdio::null())
            .output()
        {
            if let Some(u) = parse_pip_config_list(&String::from_utf8_lossy(&o.stdout)) {
                return Some(u);
            }
        }
        // pip's documented default index, asked from pip itself.
        if let Ok(o) = std::process::Command::new(py)
            .args([
                "-c",
                "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
            ])
            .stderr(std::process::Stdio::null())
            .output()
        {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if o.status.success() && s.starts_with("http") {
                return Some(s);
            }
        }
    }
    None
}

fn pip_index_cached() -> Option<String> {
    static CACHE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    CACHE.get_or_init(pip_index_from_pip).clone()
}

fn env_nonempty(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

impl MirrorConfig {
    /// From `RNIX_DEBIAN_MIRROR`, `RNIX_DEBIAN_SECURITY_MIRROR`, `RNIX_PYPI_INDEX`,
    /// `PIP_INDEX_URL`, the apt sources and pip's configuration.
    pub fn from_environment() -> MirrorConfig {
        let apt = read_apt_sources();
        let (deb, sec) = mirrors_from_apt(&apt);
        MirrorConfig {
            debian: env_nonempty("RNIX_DEBIAN_MIRROR").or(deb),
            debian_security: env_nonempty("RNIX_DEBIAN_SECURITY_MIRROR").or(sec),
            pypi_index: env_nonempty("RNIX_PYPI_INDEX").or_else(|| env_nonempty("PIP_INDEX_URL")),
            ask_pip: true,
        }
    }
}

/// PEP 503 project name normalisation.
pub fn normalize_project(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if c == '-' || c == '_' || c == '.' {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The `<index>/<project>/` page URL for a pip-style index URL.
pub fn pypi_project_url(index: &str, project: &str) -> String {
    let base = index.trim_end_matches('/');
    let base = if base.ends_with("/simple") {
        base.to_string()
    } else {
        format!("{base}/simple")
    };
    format!("{base}/{}/", normalize_project(project))
}

/// Finds `filename` in a PEP 691 JSON project page; returns its absolute URL.
pub fn find_in_pep691(page_url: &str, json: &str, filename: &str) -> Result<String> {
    let v: serde_json::Value =
        serde_json::from_str(json).with_context(|| format!("parsing the index page {page_url}"))?;
    let files = v
        .get("files")
        .and_then(|f| f.as_array())
        .ok_or_else(|| anyhow!("index page {page_url} has no 'files' list"))?;
    for f in files {
        if f.get("filename").and_then(|x| x.as_str()) == Some(filename) {
            let u = f
                .get("url")
                .and_then(|x| x.as_str())
                .ok_or_else(|| anyhow!("index entry for {filename} has no url"))?;
            let base = url::Url::parse(page_url)?;
            let mut abs = base.join(u)?;
            abs.set_fragment(None);
            return Ok(abs.to_string());
        }
    }
    bail!("file '{filename}' is not listed on {page_url}")
}

/// An HTTP client for downloads. Trusts the bundled web roots, the system's certificate
/// store, and the bundles named by `NIX_SSL_CERT_FILE`, `SSL_CERT_FILE` and pip's `cert`
/// setting (`PIP_CERT`), as a proxy with its own CA needs.
pub fn client() -> Result<reqwest::blocking::Client> {
    static CLIENT: std::sync::OnceLock<reqwest::blocking::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let c = new_client()?;
    Ok(CLIENT.get_or_init(|| c).clone())
}

fn new_client() -> Result<reqwest::blocking::Client> {
    let mut b = reqwest::blocking::Client::builder()
        .user_agent(concat!("rnix/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(120));
    for var in ["NIX_SSL_CERT_FILE", "SSL_CERT_FILE", "PIP_CERT"] {
        if let Some(f) = env_nonempty(var) {
            let pem = fs::read(&f).with_context(|| format!("reading {var}={f}"))?;
            for c in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("parsing certificates in {var}={f}"))?
            {
                b = b.add_root_certificate(c);
            }
        }
    }
    Ok(b.build()?)
}

/// Resolves `mirror://` URLs; other URLs are returned unchanged.
pub fn resolve_url(
    client: &reqwest::blocking::Client,
    cfg: &MirrorConfig,
    url: &str,
) -> Result<String> {
    let Some(rest) = url.strip_prefix("mirror://") else {
        return Ok(url.to_string());
    };
    let (kind, path) = rest
        .split_once('/')
        .ok_or_else(|| anyhow!("malformed mirror URL '{url}'"))?;
    let join = |base: &str| format!("{}/{}", base.trim_end_matches('/'), path);
    match kind {
        "debian" => cfg.debian.as_deref().map(join).ok_or_else(|| {
            anyhow!(
                "cannot resolve '{url}': no Debian mirror configured; set RNIX_DEBIAN_MIRROR \
                 (or add a source to /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list)"
            )
        }),
        "debian-security" => cfg.debian_security.as_deref().map(join).ok_or_else(|| {
            anyhow!(
                "cannot resolve '{url}': no Debian security mirror configured; set \
                 RNIX_DEBIAN_SECURITY_MIRROR (or add an apt source with a *-security suite)"
            )
        }),
        "pypi" => {
            let (project, filename) = path.split_once('/').ok_or_else(|| {
                anyhow!("malformed PyPI mirror URL '{url}' (want mirror://pypi/<project>/<file>)")
            })?;
            let asked = if cfg.pypi_index.is_none() && cfg.ask_pip {
                pip_index_cached()
            } else {
                None
            };
            let index = cfg
                .pypi_index
                .as_deref()
                .or(asked.as_deref())
                .ok_or_else(|| {
                    anyhow!(
                        "cannot resolve '{url}': no Python package index configured; set \
                     RNIX_PYPI_INDEX (or PIP_INDEX_URL / pip.conf index-url)"
                    )
                })?;
            let page = pypi_project_url(index, project);
            let text = with_retries(3, || {
                let r = client
                    .get(&page)
                    .header("Accept", "application/vnd.pypi.simple.v1+json")
                    .send()?;
                if !r.status().is_success() {
                    bail!("HTTP status {} for {page}", r.status());
                }
                Ok(r.text()?)
            })?;
            find_in_pep691(&page, &text, filename)
        }
        other => bail!("unknown mirror '{other}' in '{url}'"),
    }
}

fn with_retries<T>(tries: u32, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut delay = Duration::from_millis(250);
    let mut last = None;
    for i in 0..tries {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) => {
                if e.downcast_ref::<Permanent>().is_some() {
                    return Err(e);
                }
                last = Some(e);
                if i + 1 < tries {
                    std::thread::sleep(delay);
                    delay *= 2;
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("no attempt made")))
}

/// An error that retrying will not fix (HTTP 4xx, bad URL).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);

/// Downloads `url` (already resolved) to `dest`, resuming from a partial `dest` when the
/// server supports ranges, retrying transient failures. `file://` URLs are copied.
/// Returns the number of bytes of the complete file.
pub fn download(
    client: &reqwest::blocking::Client,
    url: &str,
    dest: &Path,
    progress: ProgressFn,
) -> Result<u64> {
    if let Some(path) = url.strip_prefix("file://") {
        let n = fs::copy(path, dest).with_context(|| format!("reading {url}"))?;
        progress(n, Some(n));
        return Ok(n);
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("unsupported URL '{url}' (only http, https, file and mirror:// URLs)");
    }
    Ok(download_etag(client, url, dest, progress)?.0)
}

/// As [`download`], also returning the server's `ETag` (HTTP only).
pub fn download_etag(
    client: &reqwest::blocking::Client,
    url: &str,
    dest: &Path,
    progress: ProgressFn,
) -> Result<(u64, Option<String>)> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Ok((download(client, url, dest, progress)?, None));
    }
    with_retries(5, || download_once(client, url, dest, progress))
        .with_context(|| format!("downloading '{url}'"))
}

fn download_once(
    client: &reqwest::blocking::Client,
    url: &str,
    dest: &Path,
    progress: ProgressFn,
) -> Result<(u64, Option<String>)> {
    let have = fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    let mut req = client.get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let mut resp = req.send()?;
    let status = resp.status();
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (mut file, mut done, total) = if status == reqwest::StatusCode::PARTIAL_CONTENT && have > 0
    {
        let f = fs::OpenOptions::new().append(true).open(dest)?;
        let total = resp.content_length().map(|l| l + have);
        (f, have, total)
    } else if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE && have > 0 {
        // Our partial file is already complete (or bogus): start over.
        fs::remove_file(dest)?;
        bail!("server refused to resume; retrying from the start");
    } else if status.is_success() {
        let f = fs::File::create(dest)?;
        (f, 0, resp.content_length())
    } else if status.is_client_error() {
        return Err(Permanent(format!("HTTP error {status} for '{url}'")).into());
    } else {
        bail!("HTTP error {status} for '{url}'");
    };
    progress(done, total);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = resp.read(&mut buf)?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])?;
        done += n as u64;
        progress(done, total);
    }
    file.flush()?;
    if let Some(t) = total {
        if done != t {
            bail!("transfer ended after {done} of {t} bytes");
        }
    }
    Ok((done, etag))
}

/// Resolves and downloads `url` to `dest`.
pub fn fetch_to(cfg: &MirrorConfig, url: &str, dest: &Path, progress: ProgressFn) -> Result<u64> {
    let c = client()?;
    let resolved = resolve_url(&c, cfg, url)?;
    download(&c, &resolved, dest, progress)
}

/// Nix's `builtin:fetchurl`, given the derivation environment and the physical path of
/// `$out`. Downloads to `partial` (kept across interrupted runs so that the next one
/// resumes; default: a file next to `out`), then renames; with `unpack = "1"`
/// the (possibly compressed) download is a NAR that is restored at `out`;
/// `executable = "1"` makes the file executable. The output hash is checked by the caller
/// (the scheduler) before the output becomes valid.
pub fn builtin_fetchurl(
    env: &std::collections::BTreeMap<String, String>,
    out: &Path,
    cfg: &MirrorConfig,
    log: &mut dyn Write,
    partial: Option<&Path>,
    progress: ProgressFn,
) -> Result<()> {
    let url = env
        .get("url")
        .ok_or_else(|| anyhow!("builtin:fetchurl: attribute 'url' missing"))?;
    let partial = match partial {
        Some(p) => p.to_path_buf(),
        None => out.with_file_name(format!(
            ".{}.part",
            out.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("download")
        )),
    };
    if let Some(d) = partial.parent() {
        fs::create_dir_all(d)?;
    }
    if let Ok(m) = fs::metadata(&partial) {
        let _ = writeln!(log, "resuming '{url}' after {} bytes", m.len());
    }
    let _ = writeln!(log, "downloading '{url}'...");
    let n = fetch_to(cfg, url, &partial, progress)?;
    let _ = writeln!(log, "downloaded {n} bytes");
    if env.get("unpack").map(|s| s == "1").unwrap_or(false) {
        let f = fs::File::open(&partial)?;
        let mut reader = crate::unpack::decompressor_for_name(url, Box::new(f))?;
        store::nar::restore(&mut reader, out, store::nar::SymlinkPolicy::Any)
            .map_err(|e| anyhow!("unpacking NAR from '{url}': {e}"))?;
        fs::remove_file(&partial)?;
    } else {
        fs::rename(&partial, out)?;
        let mode = if env.get("executable").map(|s| s == "1").unwrap_or(false) {
            0o555
        } else {
            0o444
        };
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(out, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822() {
        let text = "Types: deb\n# comment\nURIs: http://a.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://a.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let s = parse_deb822_sources(text);
        assert_eq!(s.len(), 2);
        let (d, sec) = mirrors_from_apt(&s);
        assert_eq!(d.as_deref(), Some("http://a.example/debian"));
        assert_eq!(sec.as_deref(), Some("http://a.example/debian-security"));
    }

    #[test]
    fn one_line() {
        let text = "# x\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\ndeb-src http://m.example/debian bookworm main\ndeb http://s.example/ bookworm-security main\n";
        let s = parse_sources_list(text);
        assert_eq!(s.len(), 2);
        let (d, sec) = mirrors_from_apt(&s);
        assert_eq!(d.as_deref(), Some("http://m.example/debian"));
        assert_eq!(sec.as_deref(), Some("http://s.example/"));
    }

    #[test]
    fn mirrors_resolve_and_errors_name_the_variable() {
        let c = client().unwrap();
        let cfg = MirrorConfig {
            debian: Some("http://m.example/debian/".into()),
            debian_security: None,
            pypi_index: None,
            ask_pip: false,
        };
        assert_eq!(
            resolve_url(&c, &cfg, "mirror://debian/pool/main/z/zlib/z.deb").unwrap(),
            "http://m.example/debian/pool/main/z/zlib/z.deb"
        );
        let e = resolve_url(&c, &cfg, "mirror://debian-security/pool/x.deb").unwrap_err();
        assert!(e.to_string().contains("RNIX_DEBIAN_SECURITY_MIRROR"), "{e}");
        let e = resolve_url(&c, &cfg, "mirror://pypi/h11/h11-0.14.0-py3-none-any.whl").unwrap_err();
        assert!(e.to_string().contains("RNIX_PYPI_INDEX"), "{e}");
        assert!(resolve_url(&c, &cfg, "mirror://nope/x").is_err());
        assert_eq!(resolve_url(&c, &cfg, "http://x/y").unwrap(), "http://x/y");
    }

    #[test]
    fn pep691() {
        assert_eq!(normalize_project("Typing_Extensions"), "typing-extensions");
        assert_eq!(normalize_project("a.-_b"), "a-b");
        assert_eq!(
            pypi_project_url("http://i.example/simple", "Foo_Bar"),
            "http://i.example/simple/foo-bar/"
        );
        assert_eq!(
            pypi_project_url("http://i.example/root/", "x"),
            "http://i.example/root/simple/x/"
        );
        let json = r#"{"meta":{"api-version":"1.0"},"name":"h11","files":[
            {"filename":"h11-0.13.0.tar.gz","url":"../../packages/a/h11-0.13.0.tar.gz#sha256=00","hashes":{}},
            {"filename":"h11-0.14.0-py3-none-any.whl","url":"https://files.example/p/h11-0.14.0-py3-none-any.whl","hashes":{}}]}"#;
        let page = "http://i.example/simple/h11/";
        assert_eq!(
            find_in_pep691(page, json, "h11-0.13.0.tar.gz").unwrap(),
            "http://i.example/packages/a/h11-0.13.0.tar.gz"
        );
        assert_eq!(
            find_in_pep691(page, json, "h11-0.14.0-py3-none-any.whl").unwrap(),
            "https://files.example/p/h11-0.14.0-py3-none-any.whl"
        );
        assert!(find_in_pep691(page, json, "nope.whl").is_err());
        assert!(find_in_pep691(page, "not json", "x").is_err());
    }

    #[test]
    fn pip_config_list() {
        let t =
            ":env:.cert='/etc/ssl/certs/ca.crt'\nglobal.index-url='http://idx.example/simple'\n";
        assert_eq!(
            parse_pip_config_list(t).as_deref(),
            Some("http://idx.example/simple")
        );
        assert_eq!(parse_pip_config_list(":env:.cert='/x'\n"), None);
    }
}
