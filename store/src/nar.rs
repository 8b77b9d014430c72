//! NAR (Nix ARchive) serialisation, byte-identical to `nix-store --dump`, and a safe reader/restorer.

use crate::hash::{Hash, HashAlgo, Hasher};
use std::ffi::OsStr;
use std::fs::{self, File, FileType};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const MAGIC: &str = "nix-archive-1";
/// Longest non-contents string (names, symlink targets, tags) the reader accepts.
const MAX_SMALL_STRING: u64 = 64 * 1024;
const BUF_SIZE: usize = 256 * 1024;

/// Errors from NAR writing and reading.
#[derive(Debug, thiserror::Error)]
pub enum NarError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("I/O error in NAR stream: {0}")]
    Stream(#[source] io::Error),
    #[error("NAR stream is truncated (unexpected end of input)")]
    Truncated,
    #[error("bad NAR: {0}")]
    Format(String),
    #[error("{path}: unsupported file type (only regular files, directories and symlinks can be stored)")]
    UnsupportedFileType { path: PathBuf },
    #[error("path filter failed on {path}: {source}")]
    Filter {
        path: PathBuf,
        #[source]
        source: anyhow::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> NarError + '_ {
    move |source| NarError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn stream_err(e: io::Error) -> NarError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        NarError::Truncated
    } else {
        NarError::Stream(e)
    }
}

fn pad_len(n: u64) -> usize {
    ((8 - (n % 8)) % 8) as usize
}

/// Low-level NAR token writer.
struct NarWriter<'a> {
    w: &'a mut dyn Write,
}

impl NarWriter<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), NarError> {
        self.w
            .write_all(&(b.len() as u64).to_le_bytes())
            .map_err(NarError::Stream)?;
        self.w.write_all(b).map_err(NarError::Stream)?;
        self.w
            .write_all(&[0u8; 8][..pad_len(b.len() as u64)])
            .map_err(NarError::Stream)
    }
    fn strs(&mut self, ss: &[&str]) -> Result<(), NarError> {
        for s in ss {
            self.bytes(s.as_bytes())?;
        }
        Ok(())
    }
}

/// A path filter: called with the full path of every directory entry (never the root) and
/// its type; `false` leaves the entry (and everything below it) out.
pub type PathFilter<'f> = dyn FnMut(&Path, FileType) -> anyhow::Result<bool> + 'f;

/// Serialise the tree at `path` as a NAR into `out`.
pub fn dump_path(path: &Path, out: &mut dyn Write) -> Result<(), NarError> {
    dump_path_filtered(path, out, &mut |_, _| Ok(true))
}

/// Serialise the tree at `path` as a NAR into `out`, leaving out entries rejected by `filter`.
pub fn dump_path_filtered(
    path: &Path,
    out: &mut dyn Write,
    filter: &mut PathFilter<'_>,
) -> Result<(), NarError> {
    let mut w = NarWriter { w: out };
    w.strs(&[MAGIC])?;
    let mut buf = vec![0u8; BUF_SIZE];
    dump_node(path, &mut w, filter, &mut buf)
}

fn dump_node(
    path: &Path,
    w: &mut NarWriter<'_>,
    filter: &mut PathFilter<'_>,
    buf: &mut [u8],
) -> Result<(), NarError> {
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    let ft = meta.file_type();
    w.strs(&["("])?;
    if ft.is_file() {
        w.strs(&["type", "regular"])?;
        if meta.permissions().mode() & 0o100 != 0 {
            w.strs(&["executable", ""])?;
        }
        w.strs(&["contents"])?;
        let mut f = File::open(path).map_err(io_err(path))?;
        let size = f.metadata().map_err(io_err(path))?.len();
        w.w.write_all(&size.to_le_bytes())
            .map_err(NarError::Stream)?;
        let mut left = size;
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = f.read(&mut buf[..want]).map_err(io_err(path))?;
            if n == 0 {
                return Err(NarError::Io {
                    path: path.to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while it was being read",
                    ),
                });
            }
            w.w.write_all(&buf[..n]).map_err(NarError::Stream)?;
            left -= n as u64;
        }
        w.w.write_all(&[0u8; 8][..pad_len(size)])
            .map_err(NarError::Stream)?;
    } else if ft.is_symlink() {
        let target = fs::read_link(path).map_err(io_err(path))?;
        w.strs(&["type", "symlink", "target"])?;
        w.bytes(target.as_os_str().as_bytes())?;
    } else if ft.is_dir() {
        w.strs(&["type", "directory"])?;
        let mut names: Vec<Vec<u8>> = fs::read_dir(path)
            .map_err(io_err(path))?
            .map(|e| e.map(|e| e.file_name().as_bytes().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(io_err(path))?;
        names.sort();
        for name in names {
            let child = path.join(OsStr::from_bytes(&name));
            let cft = fs::symlink_metadata(&child)
                .map_err(io_err(&child))?
                .file_type();
            let keep = filter(&child, cft).map_err(|source| NarError::Filter {
                path: child.clone(),
                source,
            })?;
            if !keep {
                continue;
            }
            w.strs(&["entry", "(", "name"])?;
            w.bytes(&name)?;
            w.strs(&["node"])?;
            dump_node(&child, w, filter, buf)?;
            w.strs(&[")"])?;
        }
    } else {
        return Err(NarError::UnsupportedFileType {
            path: path.to_path_buf(),
        });
    }
    w.strs(&[")"])
}

/// NAR of `path` in memory.
pub fn dump_to_vec(path: &Path) -> Result<Vec<u8>, NarError> {
    let mut v = Vec::new();
    dump_path(path, &mut v)?;
    Ok(v)
}

/// sha256 of the NAR serialisation and its size (what Nix records as narHash/narSize).
pub fn hash_path(path: &Path) -> Result<(Hash, u64), NarError> {
    hash_path_filtered(path, HashAlgo::Sha256, &mut |_, _| Ok(true))
}

/// Hash of the filtered NAR serialisation with any algorithm, and the NAR size.
pub fn hash_path_filtered(
    path: &Path,
    algo: HashAlgo,
    filter: &mut PathFilter<'_>,
) -> Result<(Hash, u64), NarError> {
    let mut h = Hasher::new(algo);
    dump_path_filtered(path, &mut h, filter)?;
    let n = h.len();
    Ok((h.finish(), n))
}

// ---------------------------------------------------------------------------------------------
// Reading

/// What the parser emits; implemented by the restorer and by validators.
pub trait NarSink {
    fn directory(&mut self, path: &Path) -> Result<(), NarError>;
    /// `contents` yields exactly `size` bytes; the sink must consume all of them.
    fn file(
        &mut self,
        path: &Path,
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> Result<(), NarError>;
    fn symlink(&mut self, path: &Path, target: &[u8]) -> Result<(), NarError>;
}

struct NarReader<'a> {
    r: &'a mut dyn Read,
}

impl NarReader<'_> {
    fn u64(&mut self) -> Result<u64, NarError> {
        let mut b = [0u8; 8];
        self.r.read_exact(&mut b).map_err(stream_err)?;
        Ok(u64::from_le_bytes(b))
    }
    fn padding(&mut self, len: u64) -> Result<(), NarError> {
        let p = pad_len(len);
        let mut b = [0u8; 8];
        self.r.read_exact(&mut b[..p]).map_err(stream_err)?;
        if b[..p].iter().any(|&x| x != 0) {
            return Err(NarError::Format("non-zero padding".into()));
        }
        Ok(())
    }
    fn small(&mut self) -> Result<Vec<u8>, NarError> {
        let len = self.u64()?;
        if len > MAX_SMALL_STRING {
            return Err(NarError::Format(format!(
                "string of {len} bytes where a name or tag was expected"
            )));
        }
        let mut v = vec![0u8; len as usize];
        self.r.read_exact(&mut v).map_err(stream_err)?;
        self.padding(len)?;
        Ok(v)
    }
    fn expect(&mut self, tag: &str) -> Result<(), NarError> {
        let got = self.small()?;
        if got != tag.as_bytes() {
            return Err(NarError::Format(format!(
                "expected '{}', got '{}'",
                tag,
                String::from_utf8_lossy(&got)
            )));
        }
        Ok(())
    }
}

/// Parse a NAR stream, reporting nodes to `sink` with paths relative to `root`.
pub fn parse(r: &mut dyn Read, root: &Path, sink: &mut dyn NarSink) -> Result<(), NarError> {
    let mut rd = NarReader { r };
    match rd.small() {
        Ok(m) if m == MAGIC.as_bytes() => {}
        Ok(_) => {
            return Err(NarError::Format(
                "input is not a NAR archive (bad magic)".into(),
            ))
        }
        Err(NarError::Truncated) => return Err(NarError::Truncated),
        Err(_) => {
            return Err(NarError::Format(
                "input is not a NAR archive (bad magic)".into(),
            ))
        }
    }
    parse_node(&mut rd, root, sink, 0)
}

const MAX_DEPTH: usize = 4096;

fn parse_node(
    rd: &mut NarReader<'_>,
    path: &Path,
    sink: &mut dyn NarSink,
    depth: usize,
) -> Result<(), NarError> {
    if depth > MAX_DEPTH {
        return Err(NarError::Format("directory nesting too deep".into()));
    }
    rd.expect("(")?;
    rd.expect("type")?;
    let ty = rd.small()?;
    match ty.as_slice() {
        b"regular" => {
            let mut tag = rd.small()?;
            let mut executable = false;
            if tag == b"executable" {
                if !rd.small()?.is_empty() {
                    return Err(NarError::Format("executable marker must be empty".into()));
                }
                executable = true;
                tag = rd.small()?;
            }
            if tag != b"contents" {
                return Err(NarError::Format(format!(
                    "expected 'contents', got '{}'",
                    String::from_utf8_lossy(&tag)
                )));
            }
            let size = rd.u64()?;
            let mut take = (&mut *rd.r).take(size);
            sink.file(path, executable, size, &mut take)?;
            if take.limit() != 0 {
                // The sink stopped early; drain so we can detect truncation.
                io::copy(&mut take, &mut io::sink()).map_err(stream_err)?;
                if take.limit() != 0 {
                    return Err(NarError::Truncated);
                }
            }
            rd.padding(size)?;
            rd.expect(")")?;
        }
        b"symlink" => {
            rd.expect("target")?;
            let target = rd.small()?;
            if target.is_empty() {
                return Err(NarError::Format(format!(
                    "symlink {} has an empty target",
                    path.display()
                )));
            }
            if target.contains(&0) {
                return Err(NarError::Format("symlink target contains NUL".into()));
            }
            sink.symlink(path, &target)?;
            rd.expect(")")?;
        }
        b"directory" => {
            sink.directory(path)?;
            let mut prev: Option<Vec<u8>> = None;
            loop {
                let tag = rd.small()?;
                if tag == b")" {
                    break;
                }
                if tag != b"entry" {
                    return Err(NarError::Format(format!(
                        "expected 'entry' or ')', got '{}'",
                        String::from_utf8_lossy(&tag)
                    )));
                }
                rd.expect("(")?;
                rd.expect("name")?;
                let name = rd.small()?;
                if name.is_empty()
                    || name == b"."
                    || name == b".."
                    || name.contains(&b'/')
                    || name.contains(&0)
                {
                    return Err(NarError::Format(format!(
                        "invalid file name '{}' in NAR directory {}",
                        String::from_utf8_lossy(&name),
                        path.display()
                    )));
                }
                if let Some(p) = &prev {
                    if name <= *p {
                        return Err(NarError::Format(format!(
                            "NAR directory {} is not sorted or has duplicate entry '{}'",
                            path.display(),
                            String::from_utf8_lossy(&name)
                        )));
                    }
                }
                rd.expect("node")?;
                let child = path.join(OsStr::from_bytes(&name));
                parse_node(rd, &child, sink, depth + 1)?;
                rd.expect(")")?;
                prev = Some(name);
            }
        }
        other => {
            return Err(NarError::Format(format!(
                "unknown node type '{}'",
                String::from_utf8_lossy(other)
            )))
        }
    }
    Ok(())
}

/// Which symlink targets the restorer accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymlinkPolicy {
    /// Anything (as `nix-store --restore`); links are never followed while restoring.
    Any,
    /// Absolute targets must be inside `/nix/store`; relative targets must not climb out of
    /// the restored tree.
    InsideStore,
}

/// Check a symlink target against [`SymlinkPolicy::InsideStore`]; `rel` is the link's path
/// relative to the restored root.
pub fn check_symlink_target(rel: &Path, target: &[u8]) -> Result<(), NarError> {
    let t = Path::new(OsStr::from_bytes(target));
    if t.is_absolute() {
        if t.starts_with(crate::store_path::STORE_DIR)
            && !t.components().any(|c| c == std::path::Component::ParentDir)
        {
            return Ok(());
        }
        return Err(NarError::Format(format!(
            "symlink {} points outside the store: '{}'",
            rel.display(),
            t.display()
        )));
    }
    // Depth of the directory holding the link, relative to the root.
    let mut depth: i64 = rel.components().count() as i64 - 1;
    for c in t.components() {
        match c {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(NarError::Format(format!(
                "symlink {} escapes the archive: '{}'",
                rel.display(),
                t.display()
            )));
        }
    }
    Ok(())
}

/// Restores a NAR into a directory that must not exist yet; never follows symlinks and never
/// writes outside `target`.
pub struct Restorer {
    target: PathBuf,
    policy: SymlinkPolicy,
    buf: Vec<u8>,
}

impl Restorer {
    fn rel<'p>(&self, p: &'p Path) -> &'p Path {
        p.strip_prefix(&self.target).unwrap_or(p)
    }
}

impl NarSink for Restorer {
    fn directory(&mut self, path: &Path) -> Result<(), NarError> {
        fs::create_dir(path).map_err(io_err(path))
    }
    fn file(
        &mut self,
        path: &Path,
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> Result<(), NarError> {
        let mode = if executable { 0o755 } else { 0o644 };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(mode)
            .open(path)
            .map_err(io_err(path))?;
        let mut left = size;
        while left > 0 {
            let want = self.buf.len().min(left as usize);
            let n = contents.read(&mut self.buf[..want]).map_err(stream_err)?;
            if n == 0 {
                return Err(NarError::Truncated);
            }
            f.write_all(&self.buf[..n]).map_err(io_err(path))?;
            left -= n as u64;
        }
        if executable {
            // umask may have dropped bits.
            fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(io_err(path))?;
        }
        Ok(())
    }
    fn symlink(&mut self, path: &Path, target: &[u8]) -> Result<(), NarError> {
        if self.policy == SymlinkPolicy::InsideStore {
            check_symlink_target(self.rel(path), target)?;
        }
        std::os::unix::fs::symlink(OsStr::from_bytes(target), path).map_err(io_err(path))
    }
}

/// Restore a NAR from `r` into `target` (which must not exist).
pub fn restore(r: &mut dyn Read, target: &Path, policy: SymlinkPolicy) -> Result<(), NarError> {
    if fs::symlink_metadata(target).is_ok() {
        return Err(NarError::Io {
            path: target.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                "restore target already exists",
            ),
        });
    }
    let mut s = Restorer {
        target: target.to_path_buf(),
        policy,
        buf: vec![0u8; BUF_SIZE],
    };
    parse(r, target, &mut s)?;
    // Nothing may follow the archive.
    let mut extra = [0u8; 1];
    match r.read(&mut extra) {
        Ok(0) => Ok(()),
        Ok(_) => Err(NarError::Format(
            "trailing data after the NAR archive".into(),
        )),
        Err(e) => Err(NarError::Stream(e)),
    }
}

/// A sink that only checks the structure (for validating NARs without writing).
pub struct Validator;

impl NarSink for Validator {
    fn directory(&mut self, _: &Path) -> Result<(), NarError> {
        Ok(())
    }
    fn file(&mut self, _: &Path, _: bool, _: u64, c: &mut dyn Read) -> Result<(), NarError> {
        io::copy(c, &mut io::sink()).map_err(stream_err)?;
        Ok(())
    }
    fn symlink(&mut self, _: &Path, _: &[u8]) -> Result<(), NarError> {
        Ok(())
    }
}

/// A reader adapter that hashes (and counts) everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, algo: HashAlgo) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(algo),
        }
    }
    /// Hash and byte count of everything read so far.
    pub fn finish(self) -> (Hash, u64) {
        let n = self.hasher.len();
        (self.hasher.finish(), n)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s);
        out.extend(std::iter::repeat_n(0u8, pad_len(s.len() as u64)));
    }

    fn nar(tokens: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for t in tokens {
            tok(&mut v, t);
        }
        v
    }

    #[test]
    fn single_file_layout() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, b"hello").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        let got = dump_to_vec(&f).unwrap();
        let want = nar(&[
            b"nix-archive-1",
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"hello",
            b")",
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn roundtrip_tree() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub/deeper")).unwrap();
        fs::write(src.join("a"), b"aaa").unwrap();
        fs::write(src.join("sub/x.sh"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(src.join("sub/x.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("../a", src.join("sub/link")).unwrap();
        fs::write(src.join("sub/deeper/empty"), b"").unwrap();
        let n1 = dump_to_vec(&src).unwrap();
        let dst = d.path().join("dst");
        restore(&mut &n1[..], &dst, SymlinkPolicy::InsideStore).unwrap();
        assert_eq!(dump_to_vec(&dst).unwrap(), n1);
        // filtered
        let mut seen = Vec::new();
        let mut filt = |p: &Path, t: FileType| -> anyhow::Result<bool> {
            seen.push(p.to_path_buf());
            Ok(!(t.is_dir() && p.ends_with("deeper")))
        };
        let mut v = Vec::new();
        dump_path_filtered(&src, &mut v, &mut filt).unwrap();
        assert!(v.len() < n1.len());
        assert!(!seen.contains(&src));
    }

    fn restore_err(bytes: &[u8]) -> String {
        let d = tempfile::tempdir().unwrap();
        let e = restore(
            &mut &bytes[..],
            &d.path().join("t"),
            SymlinkPolicy::InsideStore,
        )
        .unwrap_err();
        e.to_string()
    }

    fn dir_with(entries: &[(&[u8], Vec<&[u8]>)]) -> Vec<u8> {
        let mut toks: Vec<&[u8]> = vec![b"nix-archive-1", b"(", b"type", b"directory"];
        for (name, node) in entries {
            toks.extend_from_slice(&[b"entry", b"(", b"name", name, b"node"]);
            toks.extend(node.iter().copied());
            toks.push(b")");
        }
        toks.push(b")");
        nar(&toks)
    }

    #[test]
    fn rejects_bad_archives() {
        let file: Vec<&[u8]> = vec![b"(", b"type", b"regular", b"contents", b"x", b")"];
        for bad in [&b".."[..], b".", b"", b"a/b", b"/etc"] {
            let e = restore_err(&dir_with(&[(bad, file.clone())]));
            assert!(e.contains("invalid file name"), "{e}");
        }
        let e = restore_err(&dir_with(&[(b"b", file.clone()), (b"a", file.clone())]));
        assert!(e.contains("not sorted"), "{e}");
        let e = restore_err(&dir_with(&[(b"a", file.clone()), (b"a", file.clone())]));
        assert!(e.contains("duplicate"), "{e}");
        let good = dir_with(&[(b"a", file.clone())]);
        for cut in [1, 8, 20, good.len() - 8, good.len() - 1] {
            let e = restore_err(&good[..cut]);
            assert!(
                e.contains("truncated") || e.contains("bad magic"),
                "cut {cut}: {e}"
            );
        }
        let e = restore_err(b"hello world, not a nar at all");
        assert!(e.contains("not a NAR") || e.contains("truncated"), "{e}");
        let sym = |t: &'static [u8]| -> Vec<&'static [u8]> {
            vec![b"(", b"type", b"symlink", b"target", t, b")"]
        };
        let e = restore_err(&dir_with(&[(b"l", sym(b"../../etc/passwd"))]));
        assert!(e.contains("escapes"), "{e}");
        let e = restore_err(&dir_with(&[(b"l", sym(b"/etc/passwd"))]));
        assert!(e.contains("outside the store"), "{e}");
        let ok = dir_with(&[(b"l", sym(b"/nix/store/abc-x/bin"))]);
        let d = tempfile::tempdir().unwrap();
        restore(
            &mut &ok[..],
            &d.path().join("t"),
            SymlinkPolicy::InsideStore,
        )
        .unwrap();
        let mut long = good.clone();
        long.push(0);
        assert!(restore_err(&long).contains("trailing"));
    }

    #[test]
    fn check_relative_links() {
        assert!(check_symlink_target(Path::new("a/b/l"), b"../../x").is_ok());
        assert!(check_symlink_target(Path::new("a/b/l"), b"../../../x").is_err());
        assert!(check_symlink_target(Path::new("l"), b"x/../y").is_ok());
    }
}
