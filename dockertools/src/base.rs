//! Reading a base image (`fromImage`): a docker-archive tarball, plain or compressed.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use store::confine::{Resolution, View};

/// A loaded base image: its layers as uncompressed tar files and its config.
pub struct BaseImage {
    _dir: tempfile::TempDir,
    /// (uncompressed layer tar, sha256 hex of it == diff_id)
    pub layers: Vec<(PathBuf, String)>,
    pub config: Value,
}

/// Open `path`, transparently decompressing gzip or zstd.
pub fn open_maybe_compressed(path: &Path) -> Result<Box<dyn Read>> {
    let f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    open_maybe_compressed_reader(f).with_context(|| path.display().to_string())
}

/// [`open_maybe_compressed`] of any reader.
pub fn open_maybe_compressed_reader<'a>(r: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::new(r);
    let head = r.fill_buf()?.to_vec();
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(r)?)
    } else if head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']) {
        bail!("bzip2/xz compressed images are not supported as fromImage (use gzip, zstd or none)")
    } else {
        Box::new(r)
    })
}

fn read_json(path: &Path) -> Result<Value> {
    let s = fs::read(path).with_context(|| format!("base image lacks {}", path.display()))?;
    serde_json::from_slice(&s).with_context(|| format!("invalid JSON in {}", path.display()))
}

/// The regular file `rel` of the unpacked archive in `dir`; a symlink in the archive is
/// followed inside `dir` only (never to the host's files).
fn inside(dir: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        bail!("unsafe path {rel} in base image manifest");
    }
    match View::Tree(dir).resolve(p, true) {
        Resolution::Found {
            physical, metadata, ..
        } if metadata.is_file() => Ok(physical),
        _ => bail!("base image lacks {rel}"),
    }
}

/// Load `path` (a docker-archive such as another rnix image). `name`/`tag` choose the
/// image when the archive holds several (`fromImageName`/`fromImageTag`); by default the
/// first image is used. It is unpacked into a temporary directory in `scratch` (default:
/// the system's temporary directory).
pub fn load(
    path: &Path,
    name: Option<&str>,
    tag: Option<&str>,
    scratch: Option<&Path>,
) -> Result<BaseImage> {
    let ctx = || format!("fromImage {}", path.display());
    if !path.exists() {
        bail!("fromImage {} does not exist", path.display());
    }
    let dir = crate::scratch(scratch)?;
    let unpacked = dir.path().join("archive");
    fs::create_dir(&unpacked)?;
    tar::Archive::new(open_maybe_compressed(path).with_context(ctx)?)
        .unpack(&unpacked)
        .with_context(|| format!("fromImage {} is not a tar archive", path.display()))?;
    let manifest = read_json(&inside(&unpacked, "manifest.json")?)
        .with_context(|| format!("fromImage {} is not a docker-archive", path.display()))?;
    let images = manifest
        .as_array()
        .with_context(|| format!("fromImage {}: manifest.json is not a list", path.display()))?;
    let chosen = images
        .iter()
        .find(|img| {
            let tags: Vec<&str> = img["RepoTags"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match (name, tag) {
                (None, None) => true,
                (n, t) => tags.iter().any(|rt| {
                    let (rn, rtag) = rt.rsplit_once(':').unwrap_or((rt, "latest"));
                    n.is_none_or(|n| n == rn) && t.is_none_or(|t| t == rtag)
                }),
            }
        })
        .with_context(|| {
            format!(
                "fromImage {}: no image named {}:{} in it",
                path.display(),
                name.unwrap_or("*"),
                tag.unwrap_or("*")
            )
        })?;
    let config_rel = chosen["Config"]
        .as_str()
        .with_context(|| format!("fromImage {}: manifest has no Config", path.display()))?;
    let config = read_json(&inside(&unpacked, config_rel)?)?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim_start_matches("sha256:").to_string())
                .collect()
        })
        .unwrap_or_default();
    let layer_rels: Vec<&str> = chosen["Layers"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if layer_rels.len() != diff_ids.len() {
        bail!(
            "fromImage {}: {} layers but {} diff_ids",
            path.display(),
            layer_rels.len(),
            diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for (i, (rel, diff_id)) in layer_rels.iter().zip(diff_ids).enumerate() {
        let src = inside(&unpacked, rel)?;
        let dst = dir.path().join(format!("layer-{i}.tar"));
        let mut r = open_maybe_compressed(&src).with_context(ctx)?;
        let mut w = io::BufWriter::new(fs::File::create(&dst)?);
        let mut h = crate::layer::HashingWriter::new(&mut w);
        io::copy(&mut r, &mut h).with_context(|| format!("reading layer {rel} of fromImage"))?;
        let (_, digest, _) = h.finish();
        if digest != diff_id {
            bail!(
                "fromImage {}: layer {rel} has sha256 {digest}, but the config says {diff_id}",
                path.display()
            );
        }
        layers.push((dst, diff_id));
    }
    Ok(BaseImage {
        _dir: dir,
        layers,
        config,
    })
}
