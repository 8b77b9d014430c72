//! `builtins.fetchGit` and `builtins.fetchTree` (types `git`, `tarball`, `file`, `path`)
//! as Nix 2.8 has them: the argument is turned into an input (a map of attributes, as Nix's
//! `fetchers::Input`), fetched (`realise::git`, `realise::fetchers`), checked against the
//! `narHash`/`lastModified`/`revCount` it was given, and returned as Nix's
//! `emitTreeAttrs` does. Nix 2.8 has `fetchTree` behind the `flakes` experimental
//! feature; rnix always has it, and also the `file` type of later Nix versions (2.8
//! rejects it as an unsupported input).

use crate::glue::Glue;
use evaluator::eval::{bytes_to_string, mkerr, Context, Evaluator, Result, Value};
use realise::fetchers;
use realise::git::{self, GitInput};
use std::collections::BTreeMap;
use std::path::Path;
use store::hash::{Hash, HashAlgo};
use store::store_path::{FileIngestionMethod, StorePath};

/// An input attribute as Nix keeps it: a string, a Boolean or an integer.
#[derive(Debug, Clone, PartialEq)]
enum Attr {
    S(String),
    B(bool),
    I(u64),
}

type Attrs = BTreeMap<String, Attr>;

fn attrs_json(a: &Attrs) -> String {
    let m: serde_json::Map<String, serde_json::Value> = a
        .iter()
        .map(|(k, v)| {
            let j = match v {
                Attr::S(s) => serde_json::Value::from(s.clone()),
                Attr::B(b) => serde_json::Value::from(*b),
                Attr::I(i) => serde_json::Value::from(*i),
            };
            (k.clone(), j)
        })
        .collect();
    serde_json::Value::Object(m).to_string()
}

fn get_str(a: &Attrs, name: &str) -> Result<Option<String>> {
    match a.get(name) {
        None => Ok(None),
        Some(Attr::S(s)) => Ok(Some(s.clone())),
        Some(_) => Err(mkerr(format!(
            "input attribute '{name}' is not a string {}",
            attrs_json(a)
        ))),
    }
}

fn req_str(a: &Attrs, name: &str) -> Result<String> {
    get_str(a, name)?.ok_or_else(|| mkerr(format!("input attribute '{name}' is missing")))
}

fn get_bool(a: &Attrs, name: &str) -> Result<Option<bool>> {
    match a.get(name) {
        None => Ok(None),
        Some(Attr::B(b)) => Ok(Some(*b)),
        Some(_) => Err(mkerr(format!("input attribute '{name}' is not a Boolean"))),
    }
}

fn get_int(a: &Attrs, name: &str) -> Result<Option<u64>> {
    match a.get(name) {
        None => Ok(None),
        Some(Attr::I(i)) => Ok(Some(*i)),
        Some(_) => Err(mkerr(format!("input attribute '{name}' is not an integer"))),
    }
}

/// Nix's `fixURI`: a string without `://` is a local path.
fn fix_uri(s: &str) -> String {
    if s.contains("://") {
        s.to_string()
    } else {
        format!("file://{s}")
    }
}

/// Nix's `fixURIForGit`: scp-style `user@host:path` becomes `ssh://user@host/path`.
fn fix_uri_for_git(s: &str) -> String {
    if !s.starts_with('/') {
        // ([^/]*)@(.*):(.*), matched as a whole, greedy.
        let head_end = s.find('/').unwrap_or(s.len());
        if let Some(at) = s[..head_end].rfind('@') {
            let rest = &s[at + 1..];
            if let Some(colon) = rest.rfind(':') {
                return fix_uri_with(
                    &format!("{}@{}/{}", &s[..at], &rest[..colon], &rest[colon + 1..]),
                    "ssh",
                );
            }
        }
    }
    fix_uri(s)
}

fn fix_uri_with(s: &str, scheme: &str) -> String {
    if s.contains("://") {
        s.to_string()
    } else {
        format!("{scheme}://{s}")
    }
}

/// What Nix 2.8 refuses as a Git branch or tag name (`badGitRefRegex`).
fn bad_git_ref(r: &str) -> bool {
    r.is_empty()
        || r == "@"
        || r.contains("//")
        || r.starts_with('.')
        || r.starts_with('/')
        || r.contains("/.")
        || r.contains("..")
        || r.chars().any(|c| {
            c.is_control() || c.is_whitespace() || matches!(c, ':' | '?' | '^' | '~' | '[')
        })
        || r.contains('\\')
        || r.contains('*')
        || r.ends_with(".lock")
        || r.contains(".lock/")
        || r.contains("@{")
        || r.ends_with('/')
        || r.ends_with('.')
}

fn has_tarball_extension(path: &str) -> bool {
    [
        ".zip", ".tar", ".tgz", ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst",
    ]
    .iter()
    .any(|e| path.ends_with(e))
}

/// (scheme, rest after `://`, query pairs) of a URL.
fn split_url(url: &str) -> (String, String, Vec<(String, String)>) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let q = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    (scheme.to_string(), rest.to_string(), q)
}

/// `Input::fromURL` for the schemes rnix knows: `git+…`, `path://…`, URLs of tarballs.
fn input_from_url(url: &str) -> Result<Attrs> {
    let unsupported = || mkerr(format!("input '{url}' is unsupported"));
    let (scheme, rest, query) = split_url(url);
    let mut a = Attrs::new();
    if let Some(transport) = scheme.strip_prefix("git+") {
        a.insert("type".into(), Attr::S("git".into()));
        let mut kept = Vec::new();
        for (k, v) in query {
            match k.as_str() {
                "rev" | "ref" => {
                    a.insert(k, Attr::S(v));
                }
                "shallow" | "submodules" => {
                    a.insert(k, Attr::B(v == "1"));
                }
                _ => kept.push(format!("{k}={v}")),
            }
        }
        let mut u = format!("{transport}://{rest}");
        if !kept.is_empty() {
            u = format!("{u}?{}", kept.join("&"));
        }
        a.insert("url".into(), Attr::S(u));
        return Ok(a);
    }
    if scheme == "path" {
        a.insert("type".into(), Attr::S("path".into()));
        a.insert("path".into(), Attr::S(rest));
        for (k, v) in query {
            match k.as_str() {
                "rev" | "narHash" => a.insert(k, Attr::S(v)),
                "revCount" | "lastModified" => {
                    a.insert(k.clone(), Attr::I(v.parse().map_err(|_| unsupported())?))
                }
                _ => {
                    return Err(mkerr(format!(
                        "path URL '{url}' has unsupported parameter '{k}'"
                    )))
                }
            };
        }
        return Ok(a);
    }
    if matches!(scheme.as_str(), "file" | "http" | "https") && has_tarball_extension(&rest) {
        a.insert("type".into(), Attr::S("tarball".into()));
        a.insert("url".into(), Attr::S(url.to_string()));
        return Ok(a);
    }
    Err(unsupported())
}

fn check_allowed(a: &Attrs, what: &str, allowed: &[&str]) -> Result<()> {
    for k in a.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(mkerr(format!("unsupported {what} input attribute '{k}'")));
        }
    }
    Ok(())
}

/// Nix's `Input::to_string` for the error messages that name an input.
fn input_url(a: &Attrs) -> String {
    let ty = get_str(a, "type").ok().flatten().unwrap_or_default();
    match ty.as_str() {
        "git" => {
            let url = get_str(a, "url").ok().flatten().unwrap_or_default();
            let mut u = if url.starts_with("git://") {
                url
            } else {
                format!("git+{url}")
            };
            let mut q = Vec::new();
            if let Ok(Some(r)) = get_str(a, "ref") {
                q.push(format!("ref={r}"));
            }
            if let Ok(Some(r)) = get_str(a, "rev") {
                q.push(format!("rev={r}"));
            }
            if let Ok(Some(true)) = get_bool(a, "shallow") {
                q.push("shallow=1".into());
            }
            if !q.is_empty() {
                u = format!(
                    "{u}{}{}",
                    if u.contains('?') { "&" } else { "?" },
                    q.join("&")
                );
            }
            u
        }
        "path" => format!(
            "path:{}",
            get_str(a, "path").ok().flatten().unwrap_or_default()
        ),
        _ => get_str(a, "url").ok().flatten().unwrap_or_default(),
    }
}

/// The result of fetching an input, before `emitTreeAttrs`.
struct Fetched {
    path: StorePath,
    nar_hash: Hash,
    rev: Option<String>,
    rev_count: Option<u64>,
    last_modified: Option<u64>,
    /// The input's attributes after the fetch (for error messages).
    attrs: Attrs,
}

fn err_of(x: anyhow::Error) -> evaluator::eval::Error {
    mkerr(format!("{x:#}"))
}

fn fetch_input(g: &Glue, a: &Attrs) -> Result<Fetched> {
    let ty = req_str(a, "type")?;
    let mut after = a.clone();
    let f = match ty.as_str() {
        "git" => {
            check_allowed(
                a,
                "Git",
                &[
                    "type",
                    "url",
                    "ref",
                    "rev",
                    "shallow",
                    "submodules",
                    "lastModified",
                    "revCount",
                    "narHash",
                    "allRefs",
                    "name",
                ],
            )?;
            let url = req_str(a, "url")?;
            let mut input = GitInput::new(url);
            if let Some(r) = get_str(a, "ref")? {
                if bad_git_ref(&r) {
                    return Err(mkerr(format!("invalid Git branch/tag name '{r}'")));
                }
                input.git_ref = Some(r);
            }
            if let Some(r) = get_str(a, "rev")? {
                input.rev = Some(git::parse_rev(&r).map_err(err_of)?);
            }
            get_int(a, "revCount")?;
            get_int(a, "lastModified")?;
            input.shallow = get_bool(a, "shallow")?.unwrap_or(false);
            input.submodules = get_bool(a, "submodules")?.unwrap_or(false);
            input.all_refs = get_bool(a, "allRefs")?.unwrap_or(false);
            if let Some(n) = get_str(a, "name")? {
                input.name = n;
            }
            if let Some(f) = already_in_store(g, a, &ty)? {
                return Ok(f);
            }
            let t = git::fetch_git(&g.store, &input, &g.opts.fetch).map_err(err_of)?;
            if let Some(rev) = &t.rev {
                after.insert("rev".into(), Attr::S(rev.clone()));
                let r = match &input.git_ref {
                    Some(r) => r.clone(),
                    None => default_ref(&input.url),
                };
                after.insert("ref".into(), Attr::S(r));
            }
            Fetched {
                path: t.path,
                nar_hash: t.nar_hash,
                rev: t.rev,
                rev_count: t.rev_count,
                last_modified: Some(t.last_modified),
                attrs: after,
            }
        }
        "tarball" | "file" => {
            check_allowed(a, &ty, &["type", "url", "narHash", "name", "unpack"])?;
            let url = req_str(a, "url")?;
            if ty == "tarball" && !has_tarball_extension(&split_url(&url).1) {
                return Err(mkerr(format!(
                    "cannot fetch unsupported input '{}'",
                    attrs_json(a)
                )));
            }
            if let Some(f) = already_in_store(g, a, &ty)? {
                return Ok(f);
            }
            let name = get_str(a, "name")?.unwrap_or_else(|| "source".into());
            let p = if ty == "tarball" {
                fetchers::fetch_tarball(&g.store, &url, None, Some(&name), &g.opts.fetch)
            } else {
                fetchers::fetch_url(&g.store, &url, None, Some(&name), &g.opts.fetch)
            }
            .map_err(err_of)?;
            let nar_hash = g
                .store
                .path_info(&p)
                .map_err(|x| mkerr(x.to_string()))?
                .nar_hash;
            Fetched {
                path: p,
                nar_hash,
                rev: None,
                rev_count: None,
                last_modified: None,
                attrs: after,
            }
        }
        "path" => {
            check_allowed(
                a,
                "path",
                &["type", "path", "rev", "revCount", "lastModified", "narHash"],
            )?;
            let path = req_str(a, "path")?;
            if !path.starts_with('/') {
                return Err(mkerr(format!(
                    "cannot fetch input '{}' because it uses a relative path",
                    input_url(a)
                )));
            }
            if let Some(f) = already_in_store(g, a, &ty)? {
                return Ok(f);
            }
            let (p, mtime) = fetch_path(g, &path)?;
            let nar_hash = g
                .store
                .path_info(&p)
                .map_err(|x| mkerr(x.to_string()))?
                .nar_hash;
            after.insert("lastModified".into(), Attr::I(mtime));
            Fetched {
                path: p,
                nar_hash,
                rev: get_str(a, "rev")?,
                rev_count: get_int(a, "revCount")?,
                last_modified: Some(mtime),
                attrs: after,
            }
        }
        _ => {
            return Err(mkerr(format!(
                "cannot fetch unsupported input '{}'",
                attrs_json(a)
            )))
        }
    };
    // Input::fetch's checks of what the caller pinned.
    if let Some(h) = get_str(a, "narHash")? {
        let want = Hash::parse(&h, Some(HashAlgo::Sha256)).map_err(|x| mkerr(x.to_string()))?;
        if want != f.nar_hash {
            return Err(mkerr(format!(
                "NAR hash mismatch in input '{}' ({}), expected '{}', got '{}'",
                input_url(a),
                // Nix names the physical path (`tree.actualPath`).
                g.store.real_path(&f.path).display(),
                want.to_sri(),
                f.nar_hash.to_sri()
            )));
        }
    }
    if let Some(lm) = get_int(a, "lastModified")? {
        if f.last_modified != Some(lm) {
            return Err(mkerr(format!(
                "'lastModified' attribute mismatch in input '{}', expected {lm}",
                input_url(&f.attrs)
            )));
        }
    }
    if let Some(rc) = get_int(a, "revCount")? {
        if f.rev_count != Some(rc) {
            return Err(mkerr(format!(
                "'revCount' attribute mismatch in input '{}', expected {rc}",
                input_url(&f.attrs)
            )));
        }
    }
    Ok(f)
}

/// Nix's `Input::fetch` shortcut: an input with all its facts given (`hasAllInfo`: a
/// `narHash`, and for git also `rev`, `revCount` unless shallow, `lastModified`) whose
/// store path (recursive sha256 of the NAR hash, the input's name) is valid is used as it
/// is, without fetching.
fn already_in_store(g: &Glue, a: &Attrs, ty: &str) -> Result<Option<Fetched>> {
    let Some(h) = get_str(a, "narHash")? else {
        return Ok(None);
    };
    let all = match ty {
        "git" => {
            get_str(a, "rev")?.is_some()
                && (get_bool(a, "shallow")? == Some(true) || get_int(a, "revCount")?.is_some())
                && get_int(a, "lastModified")?.is_some()
        }
        "tarball" | "path" => true,
        _ => false,
    };
    if !all {
        return Ok(None);
    }
    let se = |x: &dyn std::fmt::Display| mkerr(x.to_string());
    let h = Hash::parse(&h, Some(HashAlgo::Sha256)).map_err(|x| se(&x))?;
    let name = get_str(a, "name")?.unwrap_or_else(|| "source".into());
    let p = store::store_path::make_fixed_output_path(
        FileIngestionMethod::Recursive,
        &h,
        &name,
        [],
        false,
    )
    .map_err(|x| se(&x))?;
    g.store.add_temp_root(&p).map_err(|x| se(&x))?;
    if !g.store.is_valid(&p).map_err(|x| se(&x))? {
        return Ok(None);
    }
    let rev = match get_str(a, "rev")? {
        Some(r) if ty == "git" => Some(git::parse_rev(&r).map_err(err_of)?),
        r => r,
    };
    Ok(Some(Fetched {
        path: p,
        nar_hash: h,
        rev,
        rev_count: get_int(a, "revCount")?,
        last_modified: get_int(a, "lastModified")?,
        attrs: a.clone(),
    }))
}

/// The ref Nix 2.8 fills in when none is given (for error messages only).
fn default_ref(url: &str) -> String {
    if let Some(p) = url.strip_prefix("file://") {
        if Path::new(p).join(".git").exists() {
            if let Ok(o) = std::process::Command::new("git")
                .args(["-C", p, "rev-parse", "--abbrev-ref", "HEAD"])
                .stderr(std::process::Stdio::null())
                .output()
            {
                return String::from_utf8_lossy(&o.stdout).trim().to_string();
            }
        }
    }
    "master".into()
}

/// The `path` input: `path` copied to the store as `source` (a valid store path named
/// `source` is used as it is); its lastModified is the newest mtime in the tree (0 for a
/// store path used as it is).
fn fetch_path(g: &Glue, path: &str) -> Result<(StorePath, u64)> {
    if let Ok((sp, rest)) = StorePath::from_absolute_prefix(path) {
        if rest.is_empty() && sp.name() == "source" {
            g.store
                .add_temp_root(&sp)
                .map_err(|x| mkerr(x.to_string()))?;
            if g.store.is_valid(&sp).map_err(|x| mkerr(x.to_string()))? {
                return Ok((sp, 0));
            }
        }
    }
    let real = g.real(Path::new(path));
    let mtime = newest_mtime(&real).map_err(|_| {
        mkerr(format!(
            "getting status of '{path}': No such file or directory"
        ))
    })?;
    let p = g
        .store
        .add_to_store("source", &real, FileIngestionMethod::Recursive, None)
        .map_err(|x| mkerr(format!("copying '{path}' to the store: {x}")))?;
    Ok((p, mtime))
}

fn newest_mtime(p: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p)?;
    let mut t = m.mtime().max(0) as u64;
    if m.is_dir() {
        for e in std::fs::read_dir(p)? {
            t = t.max(newest_mtime(&e?.path())?);
        }
    }
    Ok(t)
}

/// `%Y%m%d%H%M%S` of a Unix time, UTC.
fn format_date(t: u64) -> String {
    let days = (t / 86400) as i64;
    let secs = t % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `emitTreeAttrs`.
fn emit(f: Fetched, ty: &str, submodules: bool, empty_rev_fallback: bool) -> Value {
    let out = f.path.to_absolute();
    let mut v: Vec<(&str, Value)> = vec![
        (
            "outPath",
            Value::string_ctx(out.clone(), Context::from([out])),
        ),
        ("narHash", Value::string(f.nar_hash.to_sri())),
    ];
    if ty == "git" {
        v.push(("submodules", Value::Bool(submodules)));
    }
    let rev = match f.rev {
        Some(r) => Some(r),
        None if empty_rev_fallback => Some("0".repeat(40)),
        None => None,
    };
    if let Some(r) = rev {
        v.push(("shortRev", Value::string(&r[..7])));
        v.push(("rev", Value::string(r)));
    }
    match f.rev_count {
        Some(c) => v.push(("revCount", Value::Int(c as i64))),
        None if empty_rev_fallback => v.push(("revCount", Value::Int(0))),
        None => {}
    }
    if let Some(lm) = f.last_modified {
        v.push(("lastModified", Value::Int(lm as i64)));
        v.push(("lastModifiedDate", Value::string(format_date(lm))));
    }
    Value::attrs_from(v)
}

/// `builtins.fetchTree` (`ty` None) and `builtins.fetchGit` (`ty` Some("git"): `name`
/// allowed, an all-zero rev for a dirty tree).
pub fn fetch_tree(g: &Glue, ev: &mut Evaluator, arg: &Value, ty: Option<&str>) -> Result<Value> {
    let is_fetch_git = ty.is_some();
    let attrs = match arg {
        Value::Attrs(set) => {
            let mut a = Attrs::new();
            let mut ty = ty.map(str::to_string);
            if let Some(t) = set.entries.iter().find(|x| &*x.name == "type") {
                if ty.is_some() {
                    return Err(mkerr("unexpected attribute 'type'"));
                }
                let v = ev.force(&t.value)?;
                let s = ev.expect_string(&v)?;
                if !s.ctx.is_empty() {
                    return Err(mkerr(format!(
                        "the string '{}' is not allowed to refer to a store path (such as '{}')",
                        s.to_str_lossy(),
                        s.ctx.iter().next().map(String::as_str).unwrap_or("")
                    )));
                }
                ty = Some(s.to_str_lossy().into_owned());
            }
            let ty =
                ty.ok_or_else(|| mkerr("attribute 'type' is missing in call to 'fetchTree'"))?;
            a.insert("type".into(), Attr::S(ty.clone()));
            for attr in &set.entries {
                if &*attr.name == "type" {
                    continue;
                }
                let v = ev.force(&attr.value)?;
                let x = match &v {
                    Value::String(_) | Value::Path(_) => {
                        let s = bytes_to_string(ev.coerce_to_string(&v, false, false)?.0);
                        if &*attr.name == "url" {
                            Attr::S(if ty == "git" {
                                fix_uri_for_git(&s)
                            } else {
                                fix_uri(&s)
                            })
                        } else {
                            Attr::S(s)
                        }
                    }
                    Value::Bool(b) => Attr::B(*b),
                    Value::Int(i) => Attr::I(*i as u64),
                    other => {
                        return Err(mkerr(format!(
                            "fetchTree argument '{}' is {} while a string, Boolean or integer is expected",
                            attr.name,
                            other.show_type()
                        )))
                    }
                };
                a.insert(attr.name.to_string(), x);
            }
            if !is_fetch_git && a.contains_key("name") {
                return Err(mkerr(
                    "attribute 'name' isn't supported in call to 'fetchTree'",
                ));
            }
            a
        }
        v => {
            let url = bytes_to_string(ev.coerce_to_string(v, false, false)?.0);
            if is_fetch_git {
                Attrs::from([
                    ("type".to_string(), Attr::S("git".into())),
                    ("url".to_string(), Attr::S(fix_uri_for_git(&url))),
                ])
            } else {
                input_from_url(&fix_uri(&url))?
            }
        }
    };
    let ty = get_str(&attrs, "type")?.unwrap_or_default();
    let submodules = get_bool(&attrs, "submodules")
        .ok()
        .flatten()
        .unwrap_or(false);
    let f = fetch_input(g, &attrs)?;
    Ok(emit(f, &ty, submodules, is_fetch_git))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_date(0), "19700101000000");
        assert_eq!(format_date(1577836800), "20200101000000");
        assert_eq!(format_date(1796319837), "20261203174357");
        assert_eq!(format_date(951782400 + 86399), "20000229235959");
    }

    #[test]
    fn git_urls() {
        assert_eq!(
            fix_uri_for_git("git@example.org:owner/repo"),
            "ssh://git@example.org/owner/repo"
        );
        assert_eq!(fix_uri_for_git("/tmp/x"), "file:///tmp/x");
        assert_eq!(fix_uri_for_git("https://h/x"), "https://h/x");
        assert!(bad_git_ref("a..b"));
        assert!(bad_git_ref("x.lock"));
        assert!(!bad_git_ref("refs/heads/main"));
        assert!(!bad_git_ref("v1.0"));
    }
}
