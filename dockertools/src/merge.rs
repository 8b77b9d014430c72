//! `dockerTools.mergeImages`: several docker archives as one, so that `docker load` of the
//! result loads every image.
//!
//! As nixpkgs: the members of the inputs are put together (a member already taken by an
//! earlier input is kept, as `cp --no-clobber`), the `manifest.json` lists are concatenated
//! and the `repositories` objects merged; the result is a gzip'd tar sorted by name with
//! fixed times and owner 0:0. Links in an input are followed inside that input only.

use crate::base::open_maybe_compressed;
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use store::confine::{Resolution, View};

/// The regular files of the unpacked archive `dir` (relative name -> physical path),
/// symlinks resolved inside `dir`.
fn members(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let here = if rel.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(&rel)
        };
        for (name, path) in crate::layer::sorted_children(&here)? {
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let md = fs::symlink_metadata(&path)?;
            if md.is_dir() {
                stack.push(rel);
            } else if md.is_file() {
                out.insert(rel, path);
            } else if md.file_type().is_symlink() {
                match View::Tree(dir).resolve(Path::new(&rel), true) {
                    Resolution::Found {
                        physical, metadata, ..
                    } if metadata.is_file() => {
                        out.insert(rel, physical);
                    }
                    // A link to a directory or out of the archive: nothing docker reads.
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

fn read_json(path: &Path, what: &str) -> Result<Value> {
    let s = fs::read(path).with_context(|| format!("reading {what}"))?;
    serde_json::from_slice(&s).with_context(|| format!("invalid JSON in {what}"))
}

/// Merge the docker archives `images` (plain or compressed) into the gzip'd archive `out`.
/// Scratch space is taken in `scratch` (default: the system's temporary directory).
pub fn merge_images(images: &[PathBuf], out: &Path, scratch: Option<&Path>) -> Result<()> {
    if images.is_empty() {
        bail!("mergeImages: no images given");
    }
    let dir = crate::scratch(scratch)?;
    let mut taken: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut manifest: Vec<Value> = Vec::new();
    let mut repositories: Map<String, Value> = Map::new();
    let mut any_repositories = false;
    for (i, image) in images.iter().enumerate() {
        let what = format!("mergeImages: {}", image.display());
        let unpacked = dir.path().join(format!("input-{i}"));
        fs::create_dir(&unpacked)?;
        let r = open_maybe_compressed(image).with_context(|| what.clone())?;
        tar::Archive::new(r)
            .unpack(&unpacked)
            .with_context(|| format!("{what} is not a tar archive"))?;
        let files = members(&unpacked)?;
        let m = files
            .get("manifest.json")
            .with_context(|| format!("{what} is not a docker archive (no manifest.json)"))?;
        match read_json(m, &format!("{what}: manifest.json"))? {
            Value::Array(a) => manifest.extend(a),
            _ => bail!("{what}: manifest.json is not a list"),
        }
        if let Some(r) = files.get("repositories") {
            any_repositories = true;
            match read_json(r, &format!("{what}: repositories"))? {
                Value::Object(o) => {
                    for (repo, tags) in o {
                        // Tags of the same repository from several images are all kept.
                        match (repositories.get_mut(&repo), tags) {
                            (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
                            (_, tags) => {
                                repositories.insert(repo, tags);
                            }
                        }
                    }
                }
                _ => bail!("{what}: repositories is not an object"),
            }
        }
        for (name, path) in files {
            if name != "manifest.json" && name != "repositories" {
                taken.entry(name).or_insert(path);
            }
        }
    }
    let manifest_bytes = serde_json::to_vec(&Value::Array(manifest))?;
    let repositories_bytes = serde_json::to_vec(&Value::Object(repositories))?;
    // Members in name order, directories before their contents.
    let mut names: BTreeMap<Vec<String>, Option<&Path>> = BTreeMap::new();
    for (name, path) in &taken {
        let parts: Vec<String> = name.split('/').map(str::to_string).collect();
        for n in 1..parts.len() {
            names.entry(parts[..n].to_vec()).or_insert(None);
        }
        names.insert(parts, Some(path));
    }
    let f = fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::default());
    let mut tar = crate::layer::OuterTar::new(gz);
    let mut special: Vec<(Vec<String>, &[u8])> =
        vec![(vec!["manifest.json".into()], &manifest_bytes)];
    if any_repositories {
        special.push((vec!["repositories".into()], &repositories_bytes));
    }
    let mut all: BTreeMap<Vec<String>, Result<Option<&Path>, &[u8]>> =
        names.into_iter().map(|(k, v)| (k, Ok(v))).collect();
    for (k, data) in special {
        all.insert(k, Err(data));
    }
    for (parts, what) in all {
        let name = parts.join("/");
        match what {
            Ok(None) => tar.add_dir(&name)?,
            Ok(Some(path)) => tar.add_file(&name, path)?,
            Err(data) => tar.add_bytes(&name, data)?,
        }
    }
    let gz = tar.finish()?;
    let mut w = gz.finish()?;
    std::io::Write::flush(&mut w)?;
    w.get_ref().sync_all()?;
    Ok(())
}
