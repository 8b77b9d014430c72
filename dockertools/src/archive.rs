//! The outer image archive: docker-archive (buildImage layout or layered layout) and the
//! OCI/docker hybrid.

use crate::layer::{digest_layer, write_layer, Entries, OuterTar};
use crate::Format;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

pub enum LayerData {
    /// An uncompressed layer tar on disk (from this byte offset to the end).
    File(PathBuf, u64),
    /// Entries turned into a tar on demand (twice: once to hash, once to write).
    Entries(Entries),
}

pub struct Layer {
    /// sha256 hex of the uncompressed layer tar.
    pub diff_id: String,
    pub size: u64,
    /// For the config's `history`.
    pub comment: String,
    pub data: LayerData,
}

impl Layer {
    pub fn from_entries(entries: Entries, comment: String) -> Result<Layer> {
        let (diff_id, size) = digest_layer(&entries)?;
        Ok(Layer {
            diff_id,
            size,
            comment,
            data: LayerData::Entries(entries),
        })
    }

    pub fn from_file(path: PathBuf, diff_id: String, comment: String) -> Result<Layer> {
        Self::from_file_at(path, 0, diff_id, comment)
    }

    /// A layer tar stored in `path` from byte `offset` to the end.
    pub fn from_file_at(
        path: PathBuf,
        offset: u64,
        diff_id: String,
        comment: String,
    ) -> Result<Layer> {
        let len = fs::metadata(&path)
            .with_context(|| format!("cannot read layer {}", path.display()))?
            .size();
        let size = len.checked_sub(offset).with_context(|| {
            format!(
                "layer {} is shorter than its offset {offset}",
                path.display()
            )
        })?;
        Ok(Layer {
            diff_id,
            size,
            comment,
            data: LayerData::File(path, offset),
        })
    }

    fn write_to(&self, w: &mut dyn Write) -> Result<()> {
        match &self.data {
            LayerData::Entries(e) => write_layer(e, w),
            LayerData::File(p, offset) => {
                use std::io::{Read, Seek};
                let mut f =
                    fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
                f.seek(io::SeekFrom::Start(*offset))?;
                io::copy(&mut f.take(self.size), w)?;
                Ok(())
            }
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The full image config (`<digest>.json`).
pub fn image_config(
    layers: &[Layer],
    base_history: &[Value],
    base_layer_count: usize,
    created: &str,
    architecture: &str,
    config: Value,
) -> Value {
    let mut history: Vec<Value> = Vec::new();
    // Keep the base's history when it matches its layers; otherwise describe them.
    let base_non_empty = base_history
        .iter()
        .filter(|h| !h["empty_layer"].as_bool().unwrap_or(false))
        .count();
    if base_non_empty == base_layer_count {
        history.extend(base_history.iter().cloned());
    } else {
        for l in &layers[..base_layer_count] {
            history.push(json!({"created": created, "comment": l.comment}));
        }
    }
    for l in &layers[base_layer_count..] {
        history.push(
            json!({"created": created, "created_by": "rnix dockertools", "comment": l.comment}),
        );
    }
    json!({
        "architecture": architecture,
        "config": config,
        "created": created,
        "history": history,
        "os": "linux",
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| format!("sha256:{}", l.diff_id)).collect::<Vec<_>>(),
        },
    })
}

/// Layout of the docker-archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// nixpkgs `buildImage`: `<id>/{VERSION,json,layer.tar}`, `repositories`, sorted.
    Legacy,
    /// nixpkgs `streamLayeredImage`: `<diff_id>/layer.tar`, no `repositories`.
    Layered,
}

enum Member<'a> {
    Dir,
    Bytes(Vec<u8>),
    Layer(&'a Layer),
}

fn oci_image_name(name: &str) -> String {
    let first = name.split('/').next().unwrap_or("");
    if name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    }
}

/// Write the image archive (uncompressed tar) to `w`.
pub fn write_archive(
    layers: &[Layer],
    config: &Value,
    name: &str,
    tag: &str,
    format: Format,
    layout: Layout,
    w: &mut dyn Write,
) -> Result<()> {
    let config_bytes = serde_json::to_vec_pretty(config)?;
    let config_digest = sha256_hex(&config_bytes);
    let repo_tag = format!("{name}:{tag}");
    let mut members: Vec<(String, Member)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    match format {
        Format::Docker => {
            let mut layer_paths = Vec::new();
            match layout {
                Layout::Legacy => {
                    let mut parent: Option<String> = None;
                    for l in layers {
                        let id = match &parent {
                            None => l.diff_id.clone(),
                            Some(p) => sha256_hex(format!("{p} {}", l.diff_id).as_bytes()),
                        };
                        let mut j = json!({"id": id, "created": config["created"]});
                        if let Some(p) = &parent {
                            j["parent"] = json!(p);
                        }
                        members.push((id.clone(), Member::Dir));
                        members.push((format!("{id}/VERSION"), Member::Bytes(b"1.0".to_vec())));
                        members
                            .push((format!("{id}/json"), Member::Bytes(serde_json::to_vec(&j)?)));
                        members.push((format!("{id}/layer.tar"), Member::Layer(l)));
                        layer_paths.push(format!("{id}/layer.tar"));
                        parent = Some(id);
                    }
                    if let Some(top) = &parent {
                        let mut inner = serde_json::Map::new();
                        inner.insert(tag.to_string(), json!(top));
                        let mut repos = serde_json::Map::new();
                        repos.insert(name.to_string(), Value::Object(inner));
                        members.push((
                            "repositories".into(),
                            Member::Bytes(serde_json::to_vec(&repos)?),
                        ));
                    }
                }
                Layout::Layered => {
                    for l in layers {
                        let p = format!("{}/layer.tar", l.diff_id);
                        if seen.insert(p.clone()) {
                            members.push((p.clone(), Member::Layer(l)));
                        }
                        layer_paths.push(p);
                    }
                }
            }
            let config_name = format!("{config_digest}.json");
            let manifest = json!([{
                "Config": config_name,
                "RepoTags": [repo_tag],
                "Layers": layer_paths,
            }]);
            members.push((config_name, Member::Bytes(config_bytes)));
            members.push((
                "manifest.json".into(),
                Member::Bytes(serde_json::to_vec_pretty(&manifest)?),
            ));
        }
        Format::OciHybrid => {
            let mut descs = Vec::new();
            let mut layer_paths = Vec::new();
            members.push(("blobs".into(), Member::Dir));
            members.push(("blobs/sha256".into(), Member::Dir));
            for l in layers {
                let p = format!("blobs/sha256/{}", l.diff_id);
                if seen.insert(p.clone()) {
                    members.push((p.clone(), Member::Layer(l)));
                }
                layer_paths.push(p);
                descs.push(json!({
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{}", l.diff_id),
                    "size": l.size,
                }));
            }
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": format!("sha256:{config_digest}"),
                    "size": config_bytes.len(),
                },
                "layers": descs,
            });
            let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
            let manifest_digest = sha256_hex(&manifest_bytes);
            let index = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [{
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{manifest_digest}"),
                    "size": manifest_bytes.len(),
                    "annotations": {
                        "io.containerd.image.name": oci_image_name(&repo_tag),
                        "org.opencontainers.image.ref.name": tag,
                    },
                }],
            });
            let docker_manifest = json!([{
                "Config": format!("blobs/sha256/{config_digest}"),
                "RepoTags": [repo_tag],
                "Layers": layer_paths,
            }]);
            if seen.insert(format!("blobs/sha256/{config_digest}")) {
                members.push((
                    format!("blobs/sha256/{config_digest}"),
                    Member::Bytes(config_bytes),
                ));
            }
            if seen.insert(format!("blobs/sha256/{manifest_digest}")) {
                members.push((
                    format!("blobs/sha256/{manifest_digest}"),
                    Member::Bytes(manifest_bytes),
                ));
            }
            members.push((
                "index.json".into(),
                Member::Bytes(serde_json::to_vec_pretty(&index)?),
            ));
            members.push((
                "manifest.json".into(),
                Member::Bytes(serde_json::to_vec_pretty(&docker_manifest)?),
            ));
            members.push((
                "oci-layout".into(),
                Member::Bytes(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            ));
        }
    }
    if layout == Layout::Legacy || format == Format::OciHybrid {
        members.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let mut t = OuterTar::new(w);
    for (name, m) in members {
        match m {
            Member::Dir => t.add_dir(&name)?,
            Member::Bytes(b) => t.add_bytes(&name, &b)?,
            Member::Layer(l) => t.add_stream(&name, l.size, |w| l.write_to(w))?,
        }
    }
    t.finish()?;
    Ok(())
}
