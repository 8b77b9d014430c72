//! Layer contents: a sorted list of entries and a deterministic tar writer for it.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Modification time of every entry written into layers and the outer archive
/// (`SOURCE_DATE_EPOCH` of nixpkgs' stdenv: 1980-01-01T00:00:00Z).
pub const FIXED_MTIME: u64 = 315_532_800;

/// Where the bytes of an entry come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Dir,
    /// A regular file read from this path (hard links are stored as regular files).
    File(PathBuf),
    Symlink(PathBuf),
    /// An empty regular file, e.g. an overlay whiteout `.wh.<name>`.
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub source: Source,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// The contents of one layer: archive path (relative, no leading `/`, no trailing `/`)
/// to entry. A `BTreeMap` keeps the names sorted, so parents precede their children.
pub type Entries = BTreeMap<String, Entry>;

/// Join an archive directory path and a child name.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn name_str(name: &std::ffi::OsStr, at: &Path) -> Result<String> {
    name.to_str()
        .map(str::to_string)
        .with_context(|| format!("file name is not valid UTF-8: {}", at.display()))
}

/// Sorted directory listing (by byte order of the names).
pub fn sorted_children(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))? {
        let e = e.with_context(|| format!("reading directory {}", dir.display()))?;
        let p = e.path();
        out.push((name_str(&e.file_name(), &p)?, p));
    }
    out.sort();
    Ok(out)
}

/// Describe the file at `path` (not following symlinks) as an entry owned by 0:0.
pub fn entry_for(path: &Path) -> Result<Entry> {
    let md =
        fs::symlink_metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let ft = md.file_type();
    let mode = md.permissions().mode() & 0o7777;
    let source = if ft.is_dir() {
        Source::Dir
    } else if ft.is_symlink() {
        Source::Symlink(
            fs::read_link(path).with_context(|| format!("reading symlink {}", path.display()))?,
        )
    } else if ft.is_file() {
        Source::File(path.to_path_buf())
    } else {
        bail!(
            "unsupported file type (device, fifo or socket) at {}",
            path.display()
        );
    };
    let mode = if ft.is_symlink() { 0o777 } else { mode };
    Ok(Entry {
        source,
        mode,
        uid: 0,
        gid: 0,
    })
}

/// Add `path` (recursively) under the archive name `name`, owned by 0:0.
pub fn add_tree(entries: &mut Entries, name: &str, path: &Path) -> Result<()> {
    let e = entry_for(path)?;
    let is_dir = e.source == Source::Dir;
    entries.insert(name.to_string(), e);
    if is_dir {
        for (child, p) in sorted_children(path)? {
            add_tree(entries, &join(name, &child), &p)?;
        }
    }
    Ok(())
}

/// Make sure every parent directory of every entry has an entry (mode 0755 unless given).
pub fn add_missing_parents(entries: &mut Entries, mode: u32) {
    let mut missing = Vec::new();
    for name in entries.keys() {
        let mut cur = name.as_str();
        while let Some(i) = cur.rfind('/') {
            cur = &cur[..i];
            if !entries.contains_key(cur) {
                missing.push(cur.to_string());
            }
        }
    }
    for m in missing {
        entries.entry(m).or_insert(Entry {
            source: Source::Dir,
            mode,
            uid: 0,
            gid: 0,
        });
    }
}

/// A `Write` that only hashes and counts.
#[derive(Default)]
pub struct HashSink {
    pub hasher: Sha256,
    pub size: u64,
}

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.size += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl HashSink {
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.size)
    }
}

/// A `Write` adaptor that hashes and counts what goes through it.
pub struct HashingWriter<W: Write> {
    pub inner: W,
    pub hasher: Sha256,
    pub size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.size)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn base_header(mode: u32, uid: u64, gid: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(FIXED_MTIME);
    h
}

/// Write the entries as a deterministic tar stream to `w`.
pub fn write_layer(entries: &Entries, w: &mut dyn Write) -> Result<()> {
    let mut b = tar::Builder::new(w);
    for (name, e) in entries {
        let mut h = base_header(e.mode, e.uid, e.gid);
        match &e.source {
            Source::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{name}/"), io::empty())
                    .with_context(|| format!("writing directory {name} to a layer"))?;
            }
            Source::Empty => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                b.append_data(&mut h, name, io::empty())
                    .with_context(|| format!("writing {name} to a layer"))?;
            }
            Source::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                // The target byte for byte (as in the store's NAR): `set_link_name` would
                // normalise `a/./b` or `a/.`. Long targets go through a GNU long-link record,
                // which is written verbatim too.
                let raw = target.as_os_str().as_encoded_bytes();
                if raw.len() < 100 && !raw.is_empty() {
                    h.set_link_name_literal(raw)?;
                    b.append_data(&mut h, name, io::empty())
                } else {
                    b.append_link(&mut h, name, target)
                }
                .with_context(|| format!("writing symlink {name} to a layer"))?;
            }
            Source::File(path) => {
                let f = fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                let size = f
                    .metadata()
                    .with_context(|| format!("cannot stat {}", path.display()))?
                    .size();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(size);
                // Guard against files changing size while being archived.
                let mut r = io::Read::take(f, size);
                b.append_data(&mut h, name, &mut r)
                    .with_context(|| format!("writing {} to a layer", path.display()))?;
                if r.limit() != 0 {
                    bail!("{} shrank while being archived", path.display());
                }
            }
        }
    }
    b.finish().context("finishing a layer tar")?;
    Ok(())
}

/// sha256 (hex) and size of the layer tar the entries produce, without storing it.
pub fn digest_layer(entries: &Entries) -> Result<(String, u64)> {
    let mut sink = HashSink::default();
    write_layer(entries, &mut sink)?;
    Ok(sink.finish())
}

/// Minimal writer for the outer archive: members are written in the order given.
pub struct OuterTar<W: Write> {
    pub w: W,
}

fn pad(w: &mut dyn Write, size: u64) -> io::Result<()> {
    let rem = (size % 512) as usize;
    if rem != 0 {
        w.write_all(&[0u8; 512][..512 - rem])?;
    }
    Ok(())
}

impl<W: Write> OuterTar<W> {
    pub fn new(w: W) -> Self {
        OuterTar { w }
    }

    fn header(&mut self, name: &str, kind: tar::EntryType, mode: u32, size: u64) -> Result<()> {
        let mut h = base_header(mode, 0, 0);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_path(name)
            .with_context(|| format!("archive member name {name}"))?;
        h.set_cksum();
        self.w.write_all(h.as_bytes())?;
        Ok(())
    }

    pub fn add_dir(&mut self, name: &str) -> Result<()> {
        self.header(&format!("{name}/"), tar::EntryType::Directory, 0o755, 0)
    }

    pub fn add_bytes(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.header(name, tar::EntryType::Regular, 0o444, data.len() as u64)?;
        self.w.write_all(data)?;
        pad(&mut self.w, data.len() as u64)?;
        Ok(())
    }

    /// Add a member whose bytes `produce` writes; `size` must be exact.
    pub fn add_stream(
        &mut self,
        name: &str,
        size: u64,
        produce: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<()> {
        self.header(name, tar::EntryType::Regular, 0o444, size)?;
        let mut counting = HashingWriter::new(&mut self.w);
        produce(&mut counting)?;
        let written = counting.size;
        if written != size {
            bail!("archive member {name}: expected {size} bytes, produced {written} (input changed while building?)");
        }
        pad(&mut self.w, size)?;
        Ok(())
    }

    pub fn add_file(&mut self, name: &str, path: &Path) -> Result<()> {
        let mut f =
            fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = f.metadata()?.size();
        self.add_stream(name, size, |w| {
            io::copy(&mut f, w)?;
            Ok(())
        })
    }

    pub fn finish(mut self) -> Result<W> {
        self.w.write_all(&[0u8; 1024])?;
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_targets_are_written_verbatim() {
        let targets = ["a/./b", "/etc/.", "a//b", "./x", "../../../etc", "x/"];
        let mut entries = Entries::new();
        for (i, t) in targets.iter().enumerate() {
            entries.insert(
                format!("l{i}"),
                Entry {
                    source: Source::Symlink(PathBuf::from(t)),
                    mode: 0o777,
                    uid: 0,
                    gid: 0,
                },
            );
        }
        let mut v = Vec::new();
        write_layer(&entries, &mut v).unwrap();
        let mut ar = tar::Archive::new(&v[..]);
        let got: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                String::from_utf8(e.link_name_bytes().unwrap().into_owned()).unwrap()
            })
            .collect();
        assert_eq!(got, targets);
    }
}
