//! ELF patching: point RUNPATH and the program interpreter into the store.
//!
//! Every dynamically linked ELF file (executables and shared objects, except the program
//! loader itself) gets a RUNPATH made of the `lib` directories (logical `/nix/store/...`
//! paths) of the store paths that provide its `DT_NEEDED` sonames, found through a
//! [`SonameIndex`] built from the physical directories; files with `PT_INTERP` get the store's
//! loader as interpreter. Reading uses `goblin`, rewriting uses `arwen` (a Rust port of
//! patchelf built on `object`'s ELF builder).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{anyhow, Context, Result};

use crate::builders::StoreObject;
use crate::deb::LOADER_NAME;

/// What matters about one ELF file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElfInfo {
    /// `e_type` (`ET_EXEC` = 2, `ET_DYN` = 3, ...).
    pub e_type: u16,
    pub has_dynamic: bool,
    pub needed: Vec<String>,
    pub interpreter: Option<String>,
    /// DT_RUNPATH entries (or DT_RPATH when there is no DT_RUNPATH), split at `:`.
    pub runpath: Vec<String>,
    pub soname: Option<String>,
}

/// `true` when the bytes start with the ELF magic.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

/// Parse the dynamic-linking facts of an ELF file.
pub fn read_info(data: &[u8]) -> Result<ElfInfo> {
    let elf = goblin::elf::Elf::parse(data).map_err(|e| anyhow!("not a valid ELF file: {e}"))?;
    let paths = if !elf.runpaths.is_empty() {
        &elf.runpaths
    } else {
        &elf.rpaths
    };
    let runpath = paths
        .iter()
        .flat_map(|p| p.split(':'))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Ok(ElfInfo {
        e_type: elf.header.e_type,
        has_dynamic: elf.dynamic.is_some(),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        interpreter: elf.interpreter.map(str::to_string),
        runpath,
        soname: elf.soname.map(str::to_string),
    })
}

/// Read the ELF facts of a file; `Ok(None)` when it is not an ELF file.
pub fn read_file_info(path: &Path) -> Result<Option<ElfInfo>> {
    let mut f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut magic = [0u8; 4];
    if f.read(&mut magic)? < 4 || !is_elf(&magic) {
        return Ok(None);
    }
    let data = fs::read(path)?;
    read_info(&data)
        .with_context(|| path.display().to_string())
        .map(Some)
}

/// Maps a soname to the logical `lib` directory of the first store path that provides it.
#[derive(Debug, Default, Clone)]
pub struct SonameIndex {
    map: BTreeMap<String, String>,
}

impl SonameIndex {
    pub fn new() -> SonameIndex {
        SonameIndex::default()
    }

    /// Index the shared libraries directly in `real_dir`, known in the store as `logical_dir`.
    /// Earlier additions win. A missing directory adds nothing.
    pub fn add_dir(&mut self, real_dir: &Path, logical_dir: &str) -> Result<()> {
        let Ok(rd) = fs::read_dir(real_dir) else {
            return Ok(());
        };
        for e in rd {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                continue;
            }
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !name.contains(".so") {
                continue;
            }
            self.map
                .entry(name)
                .or_insert_with(|| logical_dir.to_string());
        }
        Ok(())
    }

    /// Index `<obj>/lib`.
    pub fn add_store_object(&mut self, obj: &StoreObject) -> Result<()> {
        // `lib` may be a symlink: followed inside the store object only (never to the host's).
        let Some((_, lib)) = obj.resolve("lib", true).dir() else {
            return Ok(());
        };
        self.add_dir(&lib, &format!("{}/lib", obj.logical.display()))
    }

    /// The logical lib directory providing `soname`.
    pub fn lookup(&self, soname: &str) -> Option<&str> {
        self.map.get(soname).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// How to patch.
#[derive(Debug, Clone, Default)]
pub struct PatchOptions {
    /// New `PT_INTERP` for files that have one (logical path of the loader).
    pub interpreter: Option<String>,
    /// Keep existing `$ORIGIN`-relative RUNPATH entries (wheels with bundled `.libs`).
    pub keep_origin: bool,
    /// The store path being patched: existing absolute RUNPATH entries of Debian's layout
    /// (private library directories such as `/usr/lib/x86_64-linux-gnu/<pkg>`) are relocated
    /// into it and kept when they provide a needed library.
    pub own: Option<StoreObject>,
}

/// What was done to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchedElf {
    /// Path relative to the patched tree.
    pub path: String,
    pub runpath: String,
    pub interpreter: Option<String>,
    /// Needed sonames found nowhere.
    pub missing: Vec<String>,
    /// Whether the file was rewritten.
    pub changed: bool,
}

/// Compute the RUNPATH of a file and the sonames that stay unresolved: `$ORIGIN` entries
/// (kept with `keep_origin`) first, then the file's own private library directories, then the
/// store paths of the index.
pub fn compute_runpath(
    file_dir: &Path,
    info: &ElfInfo,
    index: &SonameIndex,
    opts: &PatchOptions,
) -> (Vec<String>, Vec<String>) {
    let mut runpath: Vec<String> = Vec::new();
    // (value to put in RUNPATH, physical directory to look in)
    let mut local: Vec<(String, std::path::PathBuf)> = Vec::new();
    for r in &info.runpath {
        if r.starts_with("$ORIGIN") || r.starts_with("${ORIGIN}") {
            if opts.keep_origin {
                let rest = r
                    .trim_start_matches("${ORIGIN}")
                    .trim_start_matches("$ORIGIN");
                local.push((r.clone(), file_dir.join(rest.trim_start_matches('/'))));
                runpath.push(r.clone());
            }
        } else if let (Some(own), true) = (&opts.own, r.starts_with('/')) {
            if let Some(rel) = crate::deb::relocate(r.trim_start_matches('/')) {
                let real = own.real.join(&rel);
                if !rel.is_empty() && real.is_dir() {
                    local.push((format!("{}/{rel}", own.logical.display()), real));
                }
            }
        }
    }
    let mut missing = Vec::new();
    for soname in &info.needed {
        if soname.contains('/') {
            continue;
        }
        if let Some((value, _)) = local
            .iter()
            .find(|(_, d)| fs::symlink_metadata(d.join(soname)).is_ok())
        {
            if !runpath.iter().any(|r| r == value) {
                runpath.push(value.clone());
            }
            continue;
        }
        match index.lookup(soname) {
            Some(dir) => {
                if !runpath.iter().any(|r| r == dir) {
                    runpath.push(dir.to_string());
                }
            }
            None => missing.push(soname.clone()),
        }
    }
    (runpath, missing)
}

/// Rewrite RUNPATH (removed when `runpath` is empty) and, when given, the interpreter of the
/// ELF bytes `data`.
pub fn rewrite(data: &[u8], runpath: &str, interpreter: Option<&str>) -> Result<Vec<u8>> {
    let normalized = uniform_load_align(data);
    let data = normalized.as_deref().unwrap_or(data);
    let mut c = arwen::elf::ElfContainer::parse(data)
        .map_err(|e| anyhow!("reading ELF for patching: {e}"))?;
    if runpath.is_empty() {
        c.remove_runpath()
            .map_err(|e| anyhow!("removing RUNPATH: {e}"))?;
    } else {
        c.set_runpath(runpath)
            .map_err(|e| anyhow!("setting RUNPATH: {e}"))?;
    }
    if let Some(i) = interpreter {
        c.set_interpreter(i)
            .map_err(|e| anyhow!("setting interpreter: {e}"))?;
    }
    let mut out = Vec::with_capacity(data.len() + 4096);
    c.write(&mut out)
        .map_err(|e| anyhow!("writing patched ELF: {e}"))?;
    check_loadable(&out)?;
    Ok(out)
}

const PAGE: u64 = 0x1000;

/// The `PT_LOAD` program headers of a 64-bit little-endian ELF: (offset of the header in the
/// file, p_offset, p_vaddr, p_align).
fn load_headers(data: &[u8]) -> Option<Vec<(usize, u64, u64, u64)>> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(data.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(data.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(data.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    let mut out = Vec::new();
    for i in 0..phnum {
        let h = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(h)? == goblin::elf::program_header::PT_LOAD {
            out.push((h, u64_at(h + 8)?, u64_at(h + 16)?, u64_at(h + 48)?));
        }
    }
    Some(out)
}

/// When the `PT_LOAD` segments have different alignments (e.g. 0x1000 and 0x2000), a copy
/// with all of them aligned to the page size: the ELF rewriter gives the segments it adds the
/// common alignment, and with none it falls back to 1, which the loader rejects ("ELF load
/// command address/offset not page-aligned"). Offsets stay congruent to addresses modulo
/// the page size, so the file loads as before.
fn uniform_load_align(data: &[u8]) -> Option<Vec<u8>> {
    let loads = load_headers(data)?;
    let first = loads.first()?.3;
    if loads.iter().all(|l| l.3 == first) {
        return None;
    }
    if loads
        .iter()
        .any(|l| l.3 < PAGE || l.3 % PAGE != 0 || l.1 % PAGE != l.2 % PAGE)
    {
        return None;
    }
    let mut copy = data.to_vec();
    for (h, ..) in loads {
        copy[h + 48..h + 56].copy_from_slice(&PAGE.to_le_bytes());
    }
    Some(copy)
}

/// Every `PT_LOAD` of a rewritten file must be loadable: page-aligned, offset congruent to
/// address.
fn check_loadable(data: &[u8]) -> Result<()> {
    let Some(loads) = load_headers(data) else {
        return Ok(());
    };
    for (_, off, vaddr, align) in loads {
        if align < PAGE || off % PAGE != vaddr % PAGE {
            return Err(anyhow!(
                "patching the ELF file gave a segment the loader rejects (offset {off:#x}, address {vaddr:#x}, alignment {align:#x})"
            ));
        }
    }
    Ok(())
}

/// Patch one file in place. `Ok(None)` when it is not a dynamically linked ELF executable or
/// library, or is the loader.
pub fn patch_file(
    path: &Path,
    rel: &str,
    index: &SonameIndex,
    opts: &PatchOptions,
) -> Result<Option<PatchedElf>> {
    let Some(info) = read_file_info(path)? else {
        return Ok(None);
    };
    let is_loader = path.file_name().is_some_and(|n| n == LOADER_NAME)
        || info.soname.as_deref() == Some(LOADER_NAME);
    if is_loader
        || !info.has_dynamic
        || !(info.e_type == goblin::elf::header::ET_EXEC
            || info.e_type == goblin::elf::header::ET_DYN)
    {
        return Ok(None);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let (runpath, missing) = compute_runpath(dir, &info, index, opts);
    let runpath = runpath.join(":");
    let new_interp = match (&info.interpreter, &opts.interpreter) {
        (Some(old), Some(new)) if old != new => Some(new.as_str()),
        _ => None,
    };
    let changed = runpath != info.runpath.join(":") || new_interp.is_some();
    if changed {
        let data = fs::read(path)?;
        let out = rewrite(&data, &runpath, new_interp)
            .with_context(|| format!("patching {}", path.display()))?;
        let perm = fs::metadata(path)?.permissions();
        fs::set_permissions(path, fs::Permissions::from_mode(perm.mode() | 0o200))?;
        fs::write(path, out).with_context(|| format!("writing {}", path.display()))?;
        fs::set_permissions(path, perm)?;
    }
    Ok(Some(PatchedElf {
        path: rel.to_string(),
        runpath,
        interpreter: new_interp.map(str::to_string).or(info.interpreter),
        missing,
        changed,
    }))
}

/// Patch every ELF file below `root` (symlinks are not followed).
pub fn patch_tree(
    root: &Path,
    index: &SonameIndex,
    opts: &PatchOptions,
) -> Result<Vec<PatchedElf>> {
    let mut files = Vec::new();
    walk_files(root, "", &mut files)?;
    let mut out = Vec::new();
    for rel in files {
        if let Some(p) = patch_file(&root.join(&rel), &rel, index, opts)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// Regular files below `dir` (relative paths, sorted), not following symlinks.
pub fn walk_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk_files(&e.path(), &rel, out)?;
        } else if ft.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn mixed_load_alignments_give_loadable_segments() {
        // A real executable whose first PT_LOAD says 0x2000 and the others 0x1000, as
        // Debian's nodejs: the segment the rewriter adds must still be page-aligned.
        let mut data = std::fs::read("/bin/true").expect("/bin/true");
        let loads = load_headers(&data).expect("an ELF64 file");
        let (h, off, vaddr, _) = loads[0];
        assert_eq!(off % 0x2000, vaddr % 0x2000);
        data[h + 48..h + 56].copy_from_slice(&0x2000u64.to_le_bytes());
        let runpath = format!("/nix/store/{}-glibc/lib", "x".repeat(300));
        let interp = format!(
            "/nix/store/{}-glibc/lib/ld-linux-x86-64.so.2",
            "y".repeat(300)
        );
        let out = rewrite(&data, &runpath, Some(&interp)).expect("rewritten");
        for (_, off, vaddr, align) in load_headers(&out).unwrap() {
            assert!(
                align >= 0x1000 && off % 0x1000 == vaddr % 0x1000,
                "{off:#x} {vaddr:#x} {align:#x}"
            );
        }
        assert!(check_loadable(&out).is_ok());
    }

    use super::*;

    #[test]
    fn runpath_from_private_dirs_origin_and_index() {
        let d = tempfile::tempdir().unwrap();
        let own = d.path().join("own");
        fs::create_dir_all(own.join("lib/priv")).unwrap();
        fs::write(own.join("lib/priv/libp.so.1"), b"").unwrap();
        fs::create_dir_all(own.join("lib/python/libs")).unwrap();
        fs::write(own.join("lib/python/libs/libo.so"), b"").unwrap();
        let glibc = d.path().join("glibc");
        fs::create_dir_all(glibc.join("lib")).unwrap();
        fs::write(glibc.join("lib/libc.so.6"), b"").unwrap();
        let mut index = SonameIndex::new();
        index
            .add_dir(&glibc.join("lib"), "/nix/store/g-glibc/lib")
            .unwrap();
        let info = ElfInfo {
            e_type: 3,
            has_dynamic: true,
            needed: vec![
                "libo.so".into(),
                "libp.so.1".into(),
                "libc.so.6".into(),
                "libnone.so".into(),
            ],
            interpreter: None,
            runpath: vec![
                "/usr/lib/x86_64-linux-gnu/priv".into(),
                "$ORIGIN/libs".into(),
                "/opt/x".into(),
            ],
            soname: None,
        };
        let opts = PatchOptions {
            interpreter: None,
            keep_origin: true,
            own: Some(StoreObject::new("/nix/store/o-own", &own)),
        };
        let (rp, missing) = compute_runpath(&own.join("lib/python"), &info, &index, &opts);
        assert_eq!(
            rp,
            vec![
                "$ORIGIN/libs",
                "/nix/store/o-own/lib/priv",
                "/nix/store/g-glibc/lib"
            ]
        );
        assert_eq!(missing, vec!["libnone.so"]);
    }
}
