//! `dockerTools.exportImage`: the flattened root filesystem of an image as one tar.
//!
//! As nixpkgs (which mounts the layers as an overlay in a VM and tars the mount point): the
//! layers are applied in order, whiteouts (`.wh.NAME`) remove what lower layers had, opaque
//! whiteouts (`.wh..wh..opq`) hide a directory's lower contents; the result is an
//! uncompressed tar with members `./…` sorted by name (directories before their contents),
//! hard links stored as separate files, times set to `SOURCE_DATE_EPOCH` (315532800), owners
//! and modes as the layers give them. Nothing is unpacked to disk: the layers' data is copied
//! from the layer files.

/// The tar crate this module reads and writes with (for callers that inspect the result).
pub use tar;

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// nixpkgs' stdenv `SOURCE_DATE_EPOCH`, the time of every member.
pub const EXPORT_MTIME: u64 = 315532800;

/// One path of the flattened tree.
#[derive(Clone)]
struct Node {
    layer: usize,
    /// The layer file holding the data (a hard link's target may be in a lower one).
    src: usize,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    /// Offset and size of the data in the layer file (regular files).
    data: Option<(u64, u64)>,
    link: Option<Vec<u8>>,
    dev: (u32, u32),
}

type Key = Vec<Vec<u8>>;

/// The path of a layer member as components (`./a/b/` -> [a, b]); `None` for the root.
fn key_of(path: &[u8]) -> Result<Key> {
    let mut k = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => bail!(
                "layer member {} leaves the image root",
                String::from_utf8_lossy(path)
            ),
            c => k.push(c.to_vec()),
        }
    }
    Ok(k)
}

/// Remove `key`'s descendants that come from layers below `layer` (and `key` itself when
/// `with_self`).
fn remove_lower(tree: &mut BTreeMap<Key, Node>, key: &Key, layer: usize, with_self: bool) {
    let doomed: Vec<Key> = tree
        .range(key.clone()..)
        .take_while(|(k, _)| k.starts_with(key))
        .filter(|(k, n)| n.layer < layer && (with_self || k.len() > key.len()))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        tree.remove(&k);
    }
}

/// Apply the uncompressed layer tars in order; returns the tree.
fn flatten(layers: &[PathBuf]) -> Result<BTreeMap<Key, Node>> {
    let mut tree: BTreeMap<Key, Node> = BTreeMap::new();
    for (i, path) in layers.iter().enumerate() {
        let f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut ar = tar::Archive::new(io::BufReader::new(f));
        for entry in ar.entries()? {
            let e = entry.with_context(|| format!("reading layer {i}"))?;
            let raw = e.path_bytes().into_owned();
            let key = key_of(&raw)?;
            let h = e.header();
            let kind = h.entry_type();
            let bad = || format!("layer {i}: bad header of {}", String::from_utf8_lossy(&raw));
            let name = key.last().cloned().unwrap_or_default();
            if let Some(hidden) = name.strip_prefix(b".wh.") {
                let parent: Key = key[..key.len() - 1].to_vec();
                if hidden == b".wh..opq" {
                    remove_lower(&mut tree, &parent, i, false);
                } else {
                    let mut victim = parent;
                    victim.push(hidden.to_vec());
                    remove_lower(&mut tree, &victim, i, true);
                }
                continue;
            }
            let mut node = Node {
                layer: i,
                src: i,
                kind,
                mode: h.mode().with_context(bad)? & 0o7777,
                uid: h.uid().with_context(bad)?,
                gid: h.gid().with_context(bad)?,
                data: None,
                link: None,
                dev: (0, 0),
            };
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    node.kind = tar::EntryType::Regular;
                    node.data = Some((e.raw_file_position(), e.size()));
                }
                tar::EntryType::Directory => {}
                tar::EntryType::Symlink => {
                    node.link = Some(
                        e.link_name_bytes()
                            .context("symlink without target in layer")?
                            .into_owned(),
                    );
                }
                tar::EntryType::Link => {
                    // Stored as a copy of the file it names (`--hard-dereference`).
                    let target = key_of(
                        &e.link_name_bytes()
                            .context("hard link without target in layer")?,
                    )?;
                    let t = tree.get(&target).cloned().with_context(|| {
                        format!(
                            "layer {i}: hard link {} to a missing file",
                            String::from_utf8_lossy(&raw)
                        )
                    })?;
                    node.kind = t.kind;
                    node.data = t.data;
                    node.link = t.link;
                    node.dev = t.dev;
                    node.src = t.src;
                    remove_lower(&mut tree, &key, i, false);
                    tree.insert(key, node);
                    continue;
                }
                tar::EntryType::Char | tar::EntryType::Block => {
                    node.dev = (
                        h.device_major()?.unwrap_or(0),
                        h.device_minor()?.unwrap_or(0),
                    );
                }
                tar::EntryType::Fifo => {}
                tar::EntryType::XGlobalHeader => continue,
                other => bail!(
                    "layer {i}: member {} has an unsupported type {other:?}",
                    String::from_utf8_lossy(&raw)
                ),
            }
            if kind != tar::EntryType::Directory {
                remove_lower(&mut tree, &key, i, false);
            }
            tree.insert(key, node);
        }
    }
    // Parents that no layer lists are directories (as unpacking would create them).
    let implied: Vec<Key> = tree
        .keys()
        .flat_map(|k| (1..k.len()).map(move |l| k[..l].to_vec()))
        .filter(|p| !tree.contains_key(p))
        .collect();
    for k in implied {
        tree.entry(k).or_insert(Node {
            layer: 0,
            src: 0,
            kind: tar::EntryType::Directory,
            mode: 0o755,
            uid: 0,
            gid: 0,
            data: None,
            link: None,
            dev: (0, 0),
        });
    }
    Ok(tree)
}

/// Append a member with the name and link target bytes exactly as given (GNU tar's
/// `././@LongLink` records for long ones; the tar crate would drop the leading `./`).
fn append_raw(
    b: &mut tar::Builder<&mut dyn Write>,
    h: &mut tar::Header,
    name: &[u8],
    link: Option<&[u8]>,
    data: impl Read,
) -> Result<()> {
    let long = |b: &mut tar::Builder<&mut dyn Write>, kind: u8, bytes: &[u8]| -> Result<()> {
        let mut l = tar::Header::new_gnu();
        let n = b"././@LongLink";
        l.as_old_mut().name[..n.len()].copy_from_slice(n);
        l.set_mode(0o644);
        l.set_mtime(0);
        l.set_entry_type(tar::EntryType::new(kind));
        let mut v = bytes.to_vec();
        v.push(0);
        l.set_size(v.len() as u64);
        l.set_cksum();
        b.append(&l, &v[..])?;
        Ok(())
    };
    if name.len() > 100 {
        long(b, b'L', name)?;
    }
    if let Some(t) = link {
        if t.len() > 100 {
            long(b, b'K', t)?;
        }
        let old = h.as_old_mut();
        old.linkname = [0; 100];
        let n = t.len().min(100);
        old.linkname[..n].copy_from_slice(&t[..n]);
    }
    let old = h.as_old_mut();
    old.name = [0; 100];
    let n = name.len().min(100);
    old.name[..n].copy_from_slice(&name[..n]);
    h.set_cksum();
    b.append(h, data)?;
    Ok(())
}

/// Write the flattened tree as a tar to `w`.
fn write_tree(tree: &BTreeMap<Key, Node>, layers: &[PathBuf], w: &mut dyn Write) -> Result<()> {
    let mut files: Vec<fs::File> = layers
        .iter()
        .map(|p| fs::File::open(p).with_context(|| format!("cannot open {}", p.display())))
        .collect::<Result<_>>()?;
    let mut b = tar::Builder::new(w);
    // The root directory first (created when no layer has an entry for it).
    let root = tree.get(&Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(root.map(|n| n.mode).unwrap_or(0o755));
    h.set_uid(root.map(|n| n.uid).unwrap_or(0));
    h.set_gid(root.map(|n| n.gid).unwrap_or(0));
    h.set_mtime(EXPORT_MTIME);
    h.set_size(0);
    append_raw(&mut b, &mut h, b"./", None, io::empty())?;
    for (key, n) in tree.iter().filter(|(k, _)| !k.is_empty()) {
        let mut name = b"./".to_vec();
        name.extend(key.join(&b'/'));
        // Every parent of an entry is a directory of the tree (an earlier layer's entry, or
        // one a later layer implied): a path under a non-directory is left out, as a
        // filesystem could not hold it.
        if (1..key.len()).any(|l| {
            tree.get(&key[..l].to_vec())
                .is_some_and(|p| p.kind != tar::EntryType::Directory)
        }) {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(n.kind);
        h.set_mode(n.mode);
        h.set_uid(n.uid);
        h.set_gid(n.gid);
        h.set_mtime(EXPORT_MTIME);
        h.set_size(0);
        match n.kind {
            tar::EntryType::Directory => {
                let mut name = name.clone();
                name.push(b'/');
                append_raw(&mut b, &mut h, &name, None, io::empty())?;
            }
            tar::EntryType::Symlink => {
                let target = n.link.as_deref().unwrap_or_default();
                append_raw(&mut b, &mut h, &name, Some(target), io::empty())?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                h.set_device_major(n.dev.0)?;
                h.set_device_minor(n.dev.1)?;
                append_raw(&mut b, &mut h, &name, None, io::empty())?;
            }
            tar::EntryType::Fifo => append_raw(&mut b, &mut h, &name, None, io::empty())?,
            _ => {
                let (off, size) = n.data.unwrap_or((0, 0));
                let f = &mut files[n.src];
                f.seek(SeekFrom::Start(off))?;
                h.set_size(size);
                append_raw(&mut b, &mut h, &name, None, f.take(size))?;
            }
        }
    }
    b.into_inner()?.flush()?;
    Ok(())
}

/// Export the image `image` (a docker archive; `name`/`tag` choose among several) as the
/// tar of its root filesystem at `out`.
pub fn export_image(
    image: &Path,
    name: Option<&str>,
    tag: Option<&str>,
    out: &Path,
    scratch: Option<&Path>,
) -> Result<()> {
    let base =
        crate::base::load(image, name, tag, scratch).with_context(|| "exportImage".to_string())?;
    let layers: Vec<PathBuf> = base.layers.iter().map(|(p, _)| p.clone()).collect();
    let tree = flatten(&layers)?;
    let f = fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut w = io::BufWriter::new(f);
    write_tree(&tree, &layers, &mut w)?;
    w.flush()?;
    w.get_ref().sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(dir: &Path, i: usize, members: &[(&str, tar::EntryType, &[u8])]) -> PathBuf {
        let p = dir.join(format!("l{i}.tar"));
        let mut b = tar::Builder::new(fs::File::create(&p).unwrap());
        for (name, kind, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    h.set_size(0);
                    b.append_link(&mut h, name, std::str::from_utf8(data).unwrap())
                        .unwrap();
                }
                _ => {
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, name, *data).unwrap();
                }
            }
        }
        b.finish().unwrap();
        p
    }

    fn export(layers: &[PathBuf]) -> Vec<(String, Vec<u8>, Option<String>)> {
        let tree = flatten(layers).unwrap();
        let mut out = Vec::new();
        write_tree(&tree, layers, &mut out).unwrap();
        let mut ar = tar::Archive::new(&out[..]);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8(l.into_owned()).unwrap());
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, data, link)
            })
            .collect()
    }

    #[test]
    fn whiteouts_opaque_dirs_hard_links_and_long_names() {
        use tar::EntryType::*;
        let d = tempfile::tempdir().unwrap();
        let long = format!("deep/{}/file", "x".repeat(120));
        let l0 = layer(
            d.path(),
            0,
            &[
                ("a/", Directory, b""),
                ("a/gone", Regular, b"0"),
                ("a/kept", Regular, b"kept"),
                ("o/", Directory, b""),
                ("o/old", Regular, b"old"),
                ("d/", Directory, b""),
                ("d/sub", Regular, b"s"),
                ("r/", Directory, b""),
                ("r/x", Regular, b"x"),
                (&long, Regular, b"long"),
                ("ln", Symlink, "y".repeat(150).as_bytes()),
            ],
        );
        let l1 = layer(
            d.path(),
            1,
            &[
                ("a/.wh.gone", Regular, b""),
                ("o/.wh..wh..opq", Regular, b""),
                ("o/new", Regular, b"new"),
                (".wh.d", Regular, b""),
                ("r", Regular, b"now a file"),
                ("h", Link, b"a/kept"),
            ],
        );
        let got = export(&[l0, l1]);
        let names: Vec<&str> = got.iter().map(|m| m.0.as_str()).collect();
        let want_long = format!("./{long}");
        assert_eq!(
            names,
            vec![
                "./",
                "./a/",
                "./a/kept",
                "./deep/",
                &format!("./deep/{}/", "x".repeat(120)),
                &want_long,
                "./h",
                "./ln",
                "./o/",
                "./o/new",
                "./r",
            ]
        );
        let get = |n: &str| got.iter().find(|m| m.0 == n).unwrap();
        assert_eq!(get("./h").1, b"kept");
        assert_eq!(get("./r").1, b"now a file");
        assert_eq!(get(&want_long).1, b"long");
        assert_eq!(get("./ln").2.as_deref(), Some(&*"y".repeat(150)));
    }

    #[test]
    fn leaving_the_root_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.tar");
        // Written by hand: the tar crate refuses to write `..` itself.
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..9].copy_from_slice(b"../escape");
        h.set_size(0);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let mut b = tar::Builder::new(fs::File::create(&p).unwrap());
        b.append(&h, io::empty()).unwrap();
        b.finish().unwrap();
        let e = flatten(&[p]).err().expect("an error").to_string();
        assert!(e.contains("leaves the image root"), "{e}");
    }
}
