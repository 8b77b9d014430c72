//! Safe extraction of tarballs (plain, gzip, xz, bzip2, zstd) and zip files.
//!
//! Every entry must stay inside the target directory: absolute paths, `..` components,
//! symlinks whose target leaves the tree, hard links to outside paths and writes through
//! symlinks are refused with an [`UnpackError`].

use anyhow::{Context, Result};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("archive entry '{0}' has an absolute path or a '..' component and would escape the target directory")]
    EscapingPath(String),
    #[error("archive entry '{entry}' is a symlink to '{target}', which points outside the unpacked tree")]
    EscapingSymlink { entry: String, target: String },
    #[error("archive entry '{entry}' is a hard link to '{target}', which is outside the unpacked tree or missing")]
    EscapingHardlink { entry: String, target: String },
    #[error("archive entry '{0}' would be written through a symlink")]
    ThroughSymlink(String),
    #[error("archive entry '{entry}' has an unsupported type ({kind})")]
    UnsupportedType { entry: String, kind: String },
}

/// Compression formats recognised by magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Bzip2,
    Zstd,
}

pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `r` in a decompressor for `c`.
pub fn decompress<'a>(c: Compression, r: Box<dyn Read + 'a>) -> Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => r,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
    })
}

/// A decompressor chosen from a file name's extension (as Nix does for `unpack` NARs).
pub fn decompressor_for_name<'a>(name: &str, r: Box<dyn Read + 'a>) -> Result<Box<dyn Read + 'a>> {
    let c = if name.ends_with(".gz") || name.ends_with(".tgz") {
        Compression::Gzip
    } else if name.ends_with(".xz") || name.ends_with(".txz") {
        Compression::Xz
    } else if name.ends_with(".bz2") || name.ends_with(".tbz2") {
        Compression::Bzip2
    } else if name.ends_with(".zst") || name.ends_with(".tzst") {
        Compression::Zstd
    } else {
        Compression::None
    };
    decompress(c, r)
}

/// A decompressing reader chosen by sniffing the first bytes.
pub fn auto_decompress<'a>(r: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(64 * 1024, r);
    let head = br.fill_buf()?.to_vec();
    decompress(sniff(&head), Box::new(br))
}

/// Checks an archive path and returns it as a relative path (`.` components dropped).
pub fn safe_relative(name: &str) -> Result<PathBuf, UnpackError> {
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return Err(UnpackError::EscapingPath(name.to_string())),
        }
    }
    Ok(out)
}

/// Whether a symlink at `rel` (relative to the root) with `target` stays inside the tree.
pub fn symlink_stays_inside(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = rel
        .parent()
        .map(|p| p.components().count() as i64)
        .unwrap_or(0);
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// Creates the parent directories of `dest/rel`, refusing to go through symlinks.
fn prepare_parent(dest: &Path, rel: &Path, name: &str) -> Result<PathBuf> {
    let mut cur = dest.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(UnpackError::ThroughSymlink(name.to_string()).into())
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&cur)?;
                    fs::create_dir(&cur)?;
                }
                Err(_) => {
                    fs::create_dir(&cur).with_context(|| format!("creating {}", cur.display()))?
                }
            }
        }
    }
    let full = dest.join(rel);
    // Replace whatever is at the final path (later entries win, as in tar), but never
    // follow a symlink there.
    if let Ok(m) = fs::symlink_metadata(&full) {
        if m.is_dir() && !m.file_type().is_symlink() {
            // A directory stays (its contents merge).
        } else {
            fs::remove_file(&full)?;
        }
    }
    Ok(full)
}

fn file_mode(exec: bool) -> u32 {
    if exec {
        0o755
    } else {
        0o644
    }
}

/// Unpacks a tar stream (already decompressed) into `dest` (created if needed).
pub fn unpack_tar(r: impl Read, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    let mut ar = tar::Archive::new(r);
    for entry in ar.entries().context("reading tar archive")? {
        let mut entry = entry.context("reading tar archive")?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let rel = safe_relative(&name)?;
        if rel.as_os_str().is_empty() {
            continue; // the "./" entry
        }
        let kind = entry.header().entry_type();
        use tar::EntryType as E;
        match kind {
            E::Directory => {
                let full = prepare_parent(dest, &rel, &name)?;
                if !full.is_dir() {
                    fs::create_dir(&full)?;
                }
                fs::set_permissions(&full, fs::Permissions::from_mode(0o755))?;
            }
            E::Regular | E::Continuous | E::GNUSparse => {
                let full = prepare_parent(dest, &rel, &name)?;
                if full.is_dir() {
                    fs::remove_dir_all(&full)?;
                }
                let exec = entry
                    .header()
                    .mode()
                    .map(|m| m & 0o111 != 0)
                    .unwrap_or(false);
                let mut f = fs::File::create(&full)
                    .with_context(|| format!("creating {}", full.display()))?;
                std::io::copy(&mut entry, &mut f)
                    .with_context(|| format!("extracting '{name}'"))?;
                fs::set_permissions(&full, fs::Permissions::from_mode(file_mode(exec)))?;
            }
            E::Symlink => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| UnpackError::EscapingSymlink {
                        entry: name.clone(),
                        target: String::new(),
                    })?
                    .into_owned();
                if !symlink_stays_inside(&rel, &target) {
                    return Err(UnpackError::EscapingSymlink {
                        entry: name,
                        target: target.display().to_string(),
                    }
                    .into());
                }
                let full = prepare_parent(dest, &rel, &name)?;
                if full.is_dir() {
                    fs::remove_dir_all(&full)?;
                }
                std::os::unix::fs::symlink(&target, &full)?;
            }
            E::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let trel = safe_relative(&target).map_err(|_| UnpackError::EscapingHardlink {
                    entry: name.clone(),
                    target: target.clone(),
                })?;
                let src = dest.join(&trel);
                // The source must be a regular file inside the tree, reached without symlinks.
                let ok = {
                    let mut cur = dest.to_path_buf();
                    let mut ok = true;
                    for c in trel.components() {
                        cur.push(c);
                        match fs::symlink_metadata(&cur) {
                            Ok(m) if m.file_type().is_symlink() => ok = false,
                            Ok(_) => {}
                            Err(_) => ok = false,
                        }
                    }
                    ok && fs::symlink_metadata(&src)
                        .map(|m| m.is_file())
                        .unwrap_or(false)
                };
                if !ok {
                    return Err(UnpackError::EscapingHardlink {
                        entry: name,
                        target,
                    }
                    .into());
                }
                let full = prepare_parent(dest, &rel, &name)?;
                fs::hard_link(&src, &full)?;
            }
            E::XGlobalHeader | E::XHeader | E::GNULongName | E::GNULongLink => {}
            other => {
                return Err(UnpackError::UnsupportedType {
                    entry: name,
                    kind: format!("{other:?}"),
                }
                .into())
            }
        }
    }
    Ok(())
}

/// Unpacks a zip file into `dest`.
pub fn unpack_zip(path: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    let f = fs::File::open(path)?;
    let mut z = zip::ZipArchive::new(f).context("reading zip archive")?;
    for i in 0..z.len() {
        let mut e = z.by_index(i)?;
        let name = e.name().to_string();
        let rel = safe_relative(&name)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let mode = e.unix_mode();
        let is_link = mode.map(|m| m & 0o170000 == 0o120000).unwrap_or(false);
        if e.is_dir() {
            let full = prepare_parent(dest, &rel, &name)?;
            if !full.is_dir() {
                fs::create_dir(&full)?;
            }
        } else if is_link {
            let mut t = String::new();
            e.read_to_string(&mut t)?;
            let target = PathBuf::from(&t);
            if !symlink_stays_inside(&rel, &target) {
                return Err(UnpackError::EscapingSymlink {
                    entry: name,
                    target: t,
                }
                .into());
            }
            let full = prepare_parent(dest, &rel, &name)?;
            std::os::unix::fs::symlink(&target, &full)?;
        } else {
            let full = prepare_parent(dest, &rel, &name)?;
            let mut f = fs::File::create(&full)?;
            std::io::copy(&mut e, &mut f)?;
            let exec = mode.map(|m| m & 0o111 != 0).unwrap_or(false);
            fs::set_permissions(&full, fs::Permissions::from_mode(file_mode(exec)))?;
        }
    }
    Ok(())
}

/// Unpacks a tarball (any supported compression) or zip file at `archive` into `dest`.
pub fn unpack_archive(archive: &Path, dest: &Path) -> Result<()> {
    let mut head = [0u8; 4];
    let n = fs::File::open(archive)
        .and_then(|mut f| f.read(&mut head))
        .with_context(|| format!("reading {}", archive.display()))?;
    if n == 4 && &head == b"PK\x03\x04" {
        return unpack_zip(archive, dest);
    }
    let f = fs::File::open(archive)?;
    let r = auto_decompress(f)?;
    unpack_tar(r, dest).with_context(|| format!("unpacking {}", archive.display()))
}

/// Nix 2.8's rule for `fetchTarball`: the tarball must hold exactly one top-level entry,
/// which is returned.
pub fn single_top_level(dir: &Path, what: &str) -> Result<PathBuf> {
    let entries: Vec<_> = fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    if entries.len() != 1 {
        anyhow::bail!(
            "tarball '{what}' contains an unexpected number of top-level files ({})",
            entries.len()
        );
    }
    Ok(entries[0].path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    h.set_size(0);
                    // Bypass the tar crate's own path checks to build hostile archives.
                    let gnu = h.as_gnu_mut().unwrap();
                    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                    gnu.linkname[..data.len()].copy_from_slice(data.as_bytes());
                    h.set_cksum();
                    b.append(&h, std::io::empty()).unwrap();
                }
                _ => {
                    h.set_size(data.len() as u64);
                    let gnu = h.as_gnu_mut().unwrap();
                    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                    h.set_cksum();
                    b.append(&h, data.as_bytes()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    use tar::EntryType as E;

    #[test]
    fn good_archive() {
        let t = tempfile::tempdir().unwrap();
        let data = tar_with(&[
            ("top/", E::Directory, ""),
            ("top/a", E::Regular, "hello"),
            ("top/sub/b", E::Regular, "b"),
            ("top/link", E::Symlink, "sub/b"),
            ("top/sub/up", E::Symlink, "../a"),
            ("top/hard", E::Link, "top/a"),
        ]);
        unpack_tar(&data[..], t.path()).unwrap();
        assert_eq!(fs::read_to_string(t.path().join("top/a")).unwrap(), "hello");
        assert_eq!(fs::read_to_string(t.path().join("top/link")).unwrap(), "b");
        assert_eq!(
            fs::read_to_string(t.path().join("top/hard")).unwrap(),
            "hello"
        );
        assert_eq!(
            single_top_level(t.path(), "x").unwrap(),
            t.path().join("top")
        );
    }

    fn refused(entries: &[(&str, tar::EntryType, &str)]) -> String {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        let dest = t.path().join("dest");
        let e = unpack_tar(&tar_with(entries)[..], &dest).unwrap_err();
        assert!(!outside.exists());
        format!("{e:#}")
    }

    #[test]
    fn hostile_archives() {
        let e = refused(&[("../outside", E::Regular, "x")]);
        assert!(e.contains("escape"), "{e}");
        let e = refused(&[("/tmp/abs", E::Regular, "x")]);
        assert!(e.contains("escape"), "{e}");
        let e = refused(&[("top/l", E::Symlink, "../../outside")]);
        assert!(e.contains("points outside"), "{e}");
        let e = refused(&[("l", E::Symlink, "/etc")]);
        assert!(e.contains("points outside"), "{e}");
        let e = refused(&[("h", E::Link, "../outside")]);
        assert!(e.contains("hard link"), "{e}");
        // A symlink inside the tree, then a write through it.
        let e = refused(&[
            ("d/", E::Directory, ""),
            ("l", E::Symlink, "d"),
            ("l/f", E::Regular, "x"),
        ]);
        assert!(e.contains("through a symlink"), "{e}");
    }

    #[test]
    fn compressions() {
        let data = tar_with(&[("top/a", E::Regular, "hello")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &data).unwrap();
        let gz = gz.finish().unwrap();
        let xz = {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
            std::io::Write::write_all(&mut e, &data).unwrap();
            e.finish().unwrap()
        };
        let bz = {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            std::io::Write::write_all(&mut e, &data).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        for (i, bytes) in [data.clone(), gz, xz, bz, zst].iter().enumerate() {
            let t = tempfile::tempdir().unwrap();
            let f = t.path().join("a.tar");
            fs::write(&f, bytes).unwrap();
            unpack_archive(&f, &t.path().join("d")).unwrap();
            assert_eq!(
                fs::read_to_string(t.path().join("d/top/a")).unwrap(),
                "hello",
                "format {i}"
            );
        }
    }

    #[test]
    fn zip_files() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("a.zip");
        {
            let mut z = zip::ZipWriter::new(fs::File::create(&f).unwrap());
            let o = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
            z.add_directory("top/", o).unwrap();
            z.start_file("top/x", o).unwrap();
            std::io::Write::write_all(&mut z, b"zipped").unwrap();
            z.finish().unwrap();
        }
        unpack_archive(&f, &t.path().join("d")).unwrap();
        assert_eq!(
            fs::read_to_string(t.path().join("d/top/x")).unwrap(),
            "zipped"
        );

        let bad = t.path().join("bad.zip");
        {
            let mut z = zip::ZipWriter::new(fs::File::create(&bad).unwrap());
            let o = zip::write::SimpleFileOptions::default();
            z.start_file("../evil", o).unwrap();
            std::io::Write::write_all(&mut z, b"x").unwrap();
            z.finish().unwrap();
        }
        let e = unpack_archive(&bad, &t.path().join("d2")).unwrap_err();
        assert!(format!("{e:#}").contains("escape"), "{e:#}");
        assert!(!t.path().join("evil").exists());
    }
}
