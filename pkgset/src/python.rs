//! Python environments from wheels (`builtin:rnix-python-env`).
//!
//! Layout (the "copy" variant of the recipe, which works when `bin/` is symlinked from an image
//! root): `bin/python3.11` is a real copy of the interpreter so that the prefix is the
//! environment, `bin/python3` and `bin/python` point to it, `lib/python3.11` is a symlink to the
//! interpreter's standard library, and wheels are installed into `lib/python3/dist-packages`
//! (the directory Debian's `site.py` adds). Console scripts become `bin/<name>` with
//! `#!<env>/bin/python3.11`. Native extensions get a RUNPATH into the library packages.
//! Byte-compiling needs the environment's own interpreter running at its store path:
//! [`compile_argv`] gives the command, run by the caller in a sandbox.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::builders::StoreObject;
use crate::deb::{normalize_member, LOADER_NAME};
use crate::elf;

/// Inputs of an `rnix-python-env` build.
#[derive(Debug, Clone)]
pub struct PythonEnvBuild {
    /// The interpreter package (Debian's python3.11 group).
    pub python: StoreObject,
    /// `.whl` files.
    pub wheels: Vec<PathBuf>,
    /// Library packages searched for the sonames of native extensions (glibc, libgcc-s1, ...).
    pub deps: Vec<StoreObject>,
    /// `3.11`.
    pub python_version: String,
    pub out: StoreObject,
}

/// What was installed.
#[derive(Debug, Default)]
pub struct PythonEnvReport {
    /// (distribution name, version) per wheel.
    pub installed: Vec<(String, String)>,
    /// Console scripts written to `bin/`.
    pub scripts: Vec<String>,
    pub patched: Vec<elf::PatchedElf>,
    pub log: Vec<String>,
}

/// The site directory inside an environment, relative to it.
pub const SITE_DIR: &str = "lib/python3/dist-packages";

/// Where the parts of a wheel go (relative to the environment root, except `site`).
struct Layout<'a> {
    out: &'a StoreObject,
    python_version: &'a str,
}

impl Layout<'_> {
    fn interpreter(&self) -> String {
        format!(
            "{}/bin/python{}",
            self.out.logical.display(),
            self.python_version
        )
    }
}

/// One `RECORD` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    pub path: String,
    /// `sha256=<urlsafe base64, no padding>` (or empty).
    pub hash: String,
    pub size: String,
}

/// Parse a wheel `RECORD` file (CSV: path, hash, size; fields may be quoted).
pub fn parse_record(text: &str) -> Result<Vec<RecordEntry>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields = parse_csv_line(line).with_context(|| format!("RECORD line {}", n + 1))?;
        if fields.len() != 3 {
            bail!(
                "RECORD line {}: expected 3 fields, got {}",
                n + 1,
                fields.len()
            );
        }
        let mut it = fields.into_iter();
        out.push(RecordEntry {
            path: it.next().unwrap_or_default(),
            hash: it.next().unwrap_or_default(),
            size: it.next().unwrap_or_default(),
        });
    }
    Ok(out)
}

fn parse_csv_line(line: &str) -> Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if quoted {
        bail!("unterminated quote");
    }
    fields.push(cur);
    Ok(fields)
}

/// `[console_scripts]` and `[gui_scripts]` of an `entry_points.txt`: name -> (module, attribute).
pub fn parse_entry_points(text: &str) -> Result<BTreeMap<String, (String, String)>> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        if section != "console_scripts" && section != "gui_scripts" {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| anyhow!("entry_points.txt: bad line {line:?}"))?;
        let value = value.split('[').next().unwrap_or("").trim();
        let (module, attr) = value
            .split_once(':')
            .ok_or_else(|| anyhow!("entry_points.txt: entry point {value:?} has no ':'"))?;
        let (name, module, attr) = (name.trim(), module.trim(), attr.trim());
        let ident_ok = |s: &str| {
            !s.is_empty()
                && s.split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
        };
        if name.is_empty()
            || name.contains('/')
            || name.starts_with('.')
            || !ident_ok(module)
            || !ident_ok(attr)
        {
            bail!("entry_points.txt: invalid entry point {line:?}");
        }
        out.insert(name.to_string(), (module.to_string(), attr.to_string()));
    }
    Ok(out)
}

/// The launcher pip writes for a console script.
pub fn console_script(interpreter: &str, module: &str, attr: &str) -> String {
    let import_name = attr.split('.').next().unwrap_or(attr);
    format!(
        "#!{interpreter}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom {module} import {import_name}\nif __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit({attr}())\n"
    )
}

fn record_hash(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
    )
}

/// Install one wheel into the environment at `layout.out.real`. Returns (name, version) and
/// the console scripts written.
fn install_wheel(wheel: &Path, layout: &Layout) -> Result<((String, String), Vec<String>)> {
    let file = fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{}: not a wheel (bad zip)", wheel.display()))?;
    // Read every member first; check names.
    let mut members: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i)?;
        let raw = f.name_raw().to_vec();
        if raw.contains(&b'\\') {
            bail!(
                "{}: member {:?} contains a backslash",
                wheel.display(),
                String::from_utf8_lossy(&raw)
            );
        }
        let name = normalize_member(&raw).with_context(|| wheel.display().to_string())?;
        if f.is_dir() || name.is_empty() {
            continue;
        }
        let mode = f.unix_mode().unwrap_or(0o644);
        let mut data = Vec::new();
        f.read_to_end(&mut data)
            .with_context(|| format!("{}: reading {name}", wheel.display()))?;
        if members.insert(name.clone(), (data, mode)).is_some() {
            bail!("{}: member {name} appears twice", wheel.display());
        }
    }
    let dist_infos: BTreeSet<&str> = members
        .keys()
        .filter_map(|n| n.split_once('/').map(|(d, _)| d))
        .filter(|d| d.ends_with(".dist-info"))
        .collect();
    let dist_info = match dist_infos.len() {
        1 => dist_infos
            .into_iter()
            .next()
            .unwrap_or_default()
            .to_string(),
        0 => bail!("{}: no .dist-info directory", wheel.display()),
        _ => bail!(
            "{}: several .dist-info directories: {dist_infos:?}",
            wheel.display()
        ),
    };
    let stem = dist_info.trim_end_matches(".dist-info").to_string();
    let (name, version) = stem
        .split_once('-')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or((stem.clone(), String::new()));
    let text = |p: &str| -> Result<String> {
        let (d, _) = members
            .get(p)
            .ok_or_else(|| anyhow!("{}: missing {p}", wheel.display()))?;
        String::from_utf8(d.clone()).map_err(|_| anyhow!("{}: {p} is not UTF-8", wheel.display()))
    };
    let wheel_meta = text(&format!("{dist_info}/WHEEL"))?;
    if let Some(v) = wheel_meta
        .lines()
        .find_map(|l| l.strip_prefix("Wheel-Version:"))
    {
        if !v.trim().starts_with("1.") {
            bail!(
                "{}: unsupported Wheel-Version {}",
                wheel.display(),
                v.trim()
            );
        }
    }
    // RECORD: every member but RECORD (and its signatures) must be listed with a matching hash.
    let record_path = format!("{dist_info}/RECORD");
    let record = parse_record(&text(&record_path)?)
        .with_context(|| format!("{}: RECORD", wheel.display()))?;
    let mut recorded: BTreeMap<String, String> = BTreeMap::new();
    for r in &record {
        let p = normalize_member(r.path.as_bytes())
            .with_context(|| format!("{}: RECORD", wheel.display()))?;
        recorded.insert(p, r.hash.clone());
    }
    for (p, (data, _)) in &members {
        if *p == record_path
            || *p == format!("{record_path}.jws")
            || *p == format!("{record_path}.p7s")
        {
            continue;
        }
        let h = recorded
            .get(p)
            .ok_or_else(|| anyhow!("{}: {p} is not listed in RECORD", wheel.display()))?;
        if !h.starts_with("sha256=") {
            bail!("{}: RECORD has no sha256 for {p}", wheel.display());
        }
        if *h != record_hash(data) {
            bail!("{}: {p} does not match its RECORD hash", wheel.display());
        }
    }
    for p in recorded.keys() {
        if !members.contains_key(p) {
            bail!(
                "{}: RECORD lists {p}, which is not in the wheel",
                wheel.display()
            );
        }
    }

    let root = &layout.out.real;
    let data_prefix = format!("{stem}.data/");
    let mut scripts = Vec::new();
    for (p, (data, mode)) in &members {
        let (dest_rel, is_script) = if let Some(rest) = p.strip_prefix(&data_prefix) {
            let (kind, sub) = rest
                .split_once('/')
                .ok_or_else(|| anyhow!("{}: bad data member {p}", wheel.display()))?;
            match kind {
                "purelib" | "platlib" => (format!("{SITE_DIR}/{sub}"), false),
                "scripts" => (format!("bin/{sub}"), true),
                "headers" => (
                    format!("include/python{}/{name}/{sub}", layout.python_version),
                    false,
                ),
                "data" => (sub.to_string(), false),
                other => bail!("{}: unknown wheel data directory {other}", wheel.display()),
            }
        } else {
            (format!("{SITE_DIR}/{p}"), false)
        };
        let dest = root.join(&dest_rel);
        if fs::symlink_metadata(&dest).is_ok() {
            bail!(
                "{}: {dest_rel} is already installed by another wheel",
                wheel.display()
            );
        }
        // Parents are created inside the output only: a symlink on the way (such as
        // `lib/python3.X`, into the interpreter's store path) is not written through.
        let parent_rel = Path::new(&dest_rel).parent().unwrap_or(Path::new(""));
        let parent = store::confine::create_dir_all_in(root, parent_rel)
            .with_context(|| format!("{}: installing {dest_rel}", wheel.display()))?;
        if parent != dest.parent().unwrap_or(root) {
            bail!(
                "{}: {dest_rel} would be installed through a symlink",
                wheel.display()
            );
        }
        let mut content = data.clone();
        let mut exec = mode & 0o111 != 0;
        if is_script {
            exec = true;
            if content.starts_with(b"#!python") {
                let nl = content
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(content.len());
                let rest = content[nl..].to_vec();
                content = format!("#!{}", layout.interpreter()).into_bytes();
                content.extend_from_slice(&rest);
            }
            scripts.push(sub_name(&dest_rel));
        }
        fs::write(&dest, &content).with_context(|| format!("writing {}", dest.display()))?;
        fs::set_permissions(
            &dest,
            fs::Permissions::from_mode(if exec { 0o755 } else { 0o644 }),
        )?;
    }
    fs::write(
        root.join(SITE_DIR).join(&dist_info).join("INSTALLER"),
        "rnix\n",
    )?;

    if let Some((d, _)) = members.get(&format!("{dist_info}/entry_points.txt")) {
        let eps = parse_entry_points(&String::from_utf8_lossy(d))
            .with_context(|| wheel.display().to_string())?;
        for (script, (module, attr)) in eps {
            let dest = root.join("bin").join(&script);
            if fs::symlink_metadata(&dest).is_ok() {
                bail!(
                    "{}: console script bin/{script} is already installed",
                    wheel.display()
                );
            }
            fs::create_dir_all(root.join("bin"))?;
            fs::write(&dest, console_script(&layout.interpreter(), &module, &attr))?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))?;
            scripts.push(script);
        }
    }
    Ok(((name, version), scripts))
}

/// The regular file `rel` of the store object `obj`, symlinks followed inside it only.
fn file_in(obj: &StoreObject, rel: &str) -> Option<PathBuf> {
    match obj.resolve(rel, true) {
        store::confine::Resolution::Found {
            physical, metadata, ..
        } if metadata.is_file() => Some(physical),
        _ => None,
    }
}

fn sub_name(rel: &str) -> String {
    rel.rsplit('/').next().unwrap_or(rel).to_string()
}

/// Create the environment (everything but byte-compilation).
pub fn build_python_env(b: &PythonEnvBuild) -> Result<PythonEnvReport> {
    let ver = &b.python_version;
    if ver.is_empty() || !ver.chars().all(|c| c.is_ascii_digit() || c == '.') {
        bail!("invalid pythonVersion {ver:?}");
    }
    let exe = format!("python{ver}");
    // Copied by this process, outside the sandbox: symlinks are followed inside the
    // interpreter's store path only (never to a host file).
    let src_exe = file_in(&b.python, &format!("bin/{exe}"))
        .with_context(|| format!("{} has no bin/{exe}", b.python.logical.display()))?;
    let stdlib = format!("lib/python{ver}");
    if file_in(&b.python, &format!("{stdlib}/os.py")).is_none() {
        bail!("{} has no {stdlib}/os.py", b.python.logical.display());
    }
    let root = &b.out.real;
    fs::create_dir_all(root.join("bin"))?;
    fs::create_dir_all(root.join(SITE_DIR))?;
    let dest_exe = root.join("bin").join(&exe);
    fs::copy(&src_exe, &dest_exe).with_context(|| format!("copying {}", src_exe.display()))?;
    fs::set_permissions(&dest_exe, fs::Permissions::from_mode(0o755))?;
    symlink(&exe, root.join("bin/python3"))?;
    symlink(&exe, root.join("bin/python"))?;
    symlink(b.python.logical.join(&stdlib), root.join(&stdlib))?;

    let layout = Layout {
        out: &b.out,
        python_version: ver,
    };
    let mut report = PythonEnvReport::default();
    let mut wheels = b.wheels.clone();
    wheels.sort_by_key(|w| w.file_name().map(|n| n.to_os_string()));
    for w in &wheels {
        let (id, scripts) =
            install_wheel(w, &layout).with_context(|| format!("installing {}", w.display()))?;
        report.installed.push(id);
        report.scripts.extend(scripts);
    }

    // Native extensions: RUNPATH into the library packages (and the interpreter's own deps).
    let mut index = elf::SonameIndex::new();
    for d in &b.deps {
        index.add_store_object(d)?;
    }
    index.add_store_object(&b.python)?;
    let interp = b
        .deps
        .iter()
        .find(|d| d.real.join("lib").join(LOADER_NAME).exists())
        .map(|d| format!("{}/lib/{LOADER_NAME}", d.logical.display()));
    let opts = elf::PatchOptions {
        interpreter: interp,
        keep_origin: true,
        own: None,
    };
    report.patched = elf::patch_tree(&root.join(SITE_DIR), &index, &opts)?;
    for p in &report.patched {
        if !p.missing.is_empty() {
            bail!(
                "{SITE_DIR}/{}: needed libraries {} are provided by none of the library packages (deps)",
                p.path,
                p.missing.join(", ")
            );
        }
    }
    Ok(report)
}

/// The command that byte-compiles the environment's packages; run it with the store at
/// `/nix/store`, the output writable, and this environment.
pub fn compile_argv(out_logical: &Path, python_version: &str) -> Vec<String> {
    let out = out_logical.display();
    vec![
        format!("{out}/bin/python{python_version}"),
        "-m".into(),
        "compileall".into(),
        // Rewrite caches that the interpreter may have written for itself at start-up
        // (timestamp-based, so not reproducible).
        "-f".into(),
        "-q".into(),
        "--invalidation-mode".into(),
        "unchecked-hash".into(),
        format!("{out}/{SITE_DIR}"),
    ]
}

/// A clean environment for running the interpreter at build time.
pub fn compile_env() -> Vec<(String, String)> {
    vec![
        ("PYTHONHASHSEED".into(), "0".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("LC_ALL".into(), "C.UTF-8".into()),
        ("HOME".into(), "/homeless-shelter".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An interpreter package whose `bin/python3.11` is a link to a host file: the host file
    /// is not copied into the environment.
    #[test]
    fn interpreter_link_to_the_host_is_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let store = t.path().join("nix/store");
        let py = store.join("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-python3.11");
        fs::create_dir_all(py.join("bin")).unwrap();
        fs::create_dir_all(py.join("lib/python3.11")).unwrap();
        fs::write(py.join("lib/python3.11/os.py"), "").unwrap();
        for (target, link) in [
            ("/etc/passwd", "bin/python3.11"),
            ("../../../../../../../../etc/passwd", "bin/python3"),
        ] {
            symlink(target, py.join(link)).unwrap();
        }
        let obj = |p: &Path| {
            StoreObject::new(
                Path::new("/nix/store").join(p.file_name().unwrap()),
                p.to_path_buf(),
            )
        };
        let out = store.join("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-env");
        let b = PythonEnvBuild {
            python: obj(&py),
            wheels: vec![],
            deps: vec![],
            python_version: "3.11".into(),
            out: obj(&out),
        };
        let e = format!("{:#}", build_python_env(&b).unwrap_err());
        assert!(e.contains("has no bin/python3.11"), "{e}");
        assert!(!out.join("bin/python3.11").exists());
        assert!(file_in(&b.python, "bin/python3").is_none());
        assert!(file_in(&b.python, "lib/python3.11/os.py").is_some());
    }

    #[test]
    fn record_csv() {
        let r = parse_record("a/b.py,sha256=abc,12\n\"x,y.py\",sha256=d,3\nm.dist-info/RECORD,,\n")
            .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].path, "x,y.py");
        assert_eq!(r[2].hash, "");
        assert!(parse_record("a,b\n").is_err());
        assert!(parse_record("\"a,b,c\n").is_err());
    }

    #[test]
    fn entry_points() {
        let e = parse_entry_points("[console_scripts]\nuvicorn = uvicorn.main:main\nx=a.b:c.d [extra]\n\n[other]\ny = z:w\n").unwrap();
        assert_eq!(
            e["uvicorn"],
            ("uvicorn.main".to_string(), "main".to_string())
        );
        assert_eq!(e["x"], ("a.b".to_string(), "c.d".to_string()));
        assert!(!e.contains_key("y"));
        assert!(parse_entry_points("[console_scripts]\n../evil = a:b\n").is_err());
        assert!(parse_entry_points("[console_scripts]\nx = os; import evil:b\n").is_err());
        let s = console_script("/nix/store/x-env/bin/python3.11", "a.b", "c.d");
        assert!(s.starts_with("#!/nix/store/x-env/bin/python3.11\n"));
        assert!(s.contains("from a.b import c\n"));
        assert!(s.contains("sys.exit(c.d())"));
    }

    #[test]
    fn record_hashes() {
        assert_eq!(
            record_hash(b""),
            "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }
}
