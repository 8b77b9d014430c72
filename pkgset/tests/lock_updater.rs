//! Acceptance 4 of issue 6: the updater checks the OpenPGP signature of `InRelease`, the
//! hash of `Packages.xz`, of every `.deb` and of every wheel; altered copies served by a
//! local HTTP server make it fail with a clear error and write nothing.
//!
//! The repository is generated here: a throwaway key made with rpgp signs a tiny
//! bookworm / bookworm-updates / bookworm-security archive and a test keyring holds its
//! certificate.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, EncryptionCaps, KeyType, SecretKeyParamsBuilder,
    SignedPublicKey, SignedSecretKey, SubkeyParamsBuilder,
};
use pgp::ser::Serialize;
use pgp::types::Password;
use sha2::{Digest, Sha256};

type Files = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn keygen(uid: &str) -> SignedSecretKey {
    let mut sub = SubkeyParamsBuilder::default();
    sub.key_type(KeyType::Ed25519Legacy)
        .can_sign(true)
        .can_encrypt(EncryptionCaps::None)
        .can_authenticate(false);
    let mut p = SecretKeyParamsBuilder::default();
    p.key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(false)
        .can_encrypt(EncryptionCaps::None)
        .primary_user_id(uid.into())
        .subkeys(vec![sub.build().unwrap()]);
    p.build()
        .unwrap()
        .generate(rand::thread_rng())
        .expect("key generation")
}

fn clearsign(key: &SignedSecretKey, text: &str) -> String {
    let m = CleartextSignedMessage::sign(
        rand::thread_rng(),
        text,
        &key.secret_subkeys[0].key,
        &Password::empty(),
    )
    .expect("signing");
    m.to_armored_string(ArmorOptions::default()).unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn wheel(name: &str, version: &str, requires: &[&str]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file(format!("{name}/__init__.py"), opts).unwrap();
    z.write_all(b"VALUE = 1\n").unwrap();
    z.start_file(format!("{name}-{version}.dist-info/METADATA"), opts)
        .unwrap();
    let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        meta.push_str(&format!("Requires-Dist: {r}\n"));
    }
    meta.push_str("\nA description.\nRequires-Dist: not-a-header\n");
    z.write_all(meta.as_bytes()).unwrap();
    z.finish().unwrap().into_inner()
}

/// A generated archive + index and the files the server serves (mutable per test).
struct Fixture {
    dir: tempfile::TempDir,
    key: SignedSecretKey,
    files: Files,
    base: String,
    keyring: PathBuf,
}

struct SuiteSpec<'a> {
    archive: &'a str,
    suite: &'a str,
    packages: Vec<(&'a str, &'a str, &'a str)>, // name, version, Depends
    valid_until: Option<&'a str>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = keygen("rnix test archive <test@invalid>");
        let keyring = dir.path().join("keyring.gpg");
        let public = SignedPublicKey::from(key.clone());
        let mut f = std::fs::File::create(&keyring).unwrap();
        public.to_writer(&mut f).unwrap();
        let files: Files = Arc::new(Mutex::new(BTreeMap::new()));
        let server = tiny_http::Server::http("127.0.0.1:0").expect("local HTTP server");
        let port = server.server_addr().to_ip().unwrap().port();
        let served = files.clone();
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let path = req.url().split('?').next().unwrap_or("").to_string();
                let body = served.lock().unwrap().get(&path).cloned();
                let _ = match body {
                    Some(b) => req.respond(tiny_http::Response::from_data(b)),
                    None => req.respond(tiny_http::Response::empty(404)),
                };
            }
        });
        let mut fx = Fixture {
            dir,
            key,
            files,
            base: format!("http://127.0.0.1:{port}"),
            keyring,
        };
        fx.publish_default(None);
        fx
    }

    fn put(&self, path: &str, data: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_string(), data);
    }

    fn get(&self, path: &str) -> Vec<u8> {
        self.files.lock().unwrap()[path].clone()
    }

    fn remove(&self, path: &str) {
        self.files.lock().unwrap().remove(path);
    }

    fn deb_path(name: &str, version: &str) -> String {
        format!("pool/main/{}/{name}/{name}_{version}_amd64.deb", &name[..1])
    }

    fn publish_suite(&self, s: &SuiteSpec, signer: &SignedSecretKey) {
        let mut packages = String::new();
        for (name, version, depends) in &s.packages {
            let path = Self::deb_path(name, version);
            let deb = format!("!<arch>\nfake deb of {name} {version}\n").into_bytes();
            packages.push_str(&format!(
                "Package: {name}\nVersion: {version}\nArchitecture: amd64\nFilename: {path}\nSize: {}\nSHA256: {}\n",
                deb.len(),
                sha(&deb)
            ));
            if !depends.is_empty() {
                packages.push_str(&format!("Depends: {depends}\n"));
            }
            packages.push('\n');
            self.put(&format!("/{}/{path}", s.archive), deb);
        }
        let pxz = xz(packages.as_bytes());
        let mut release = format!(
            "Origin: Test\nLabel: Test\nSuite: {0}\nCodename: {0}\nDate: Sat, 21 Nov 2026 09:41:17 UTC\n",
            s.suite
        );
        if let Some(v) = s.valid_until {
            release.push_str(&format!("Valid-Until: {v}\n"));
        }
        release.push_str(&format!(
            "Architectures: amd64\nComponents: main\nMD5Sum:\n 00000000000000000000000000000000 {} main/binary-amd64/Packages.xz\nSHA256:\n {} {} main/binary-amd64/Packages.xz\n",
            pxz.len(),
            sha(&pxz),
            pxz.len()
        ));
        let dists = format!("/{}/dists/{}", s.archive, s.suite);
        self.put(
            &format!("{dists}/InRelease"),
            clearsign(signer, &release).into_bytes(),
        );
        self.put(&format!("{dists}/main/binary-amd64/Packages.xz"), pxz);
    }

    fn publish_default(&mut self, security_valid_until: Option<&str>) {
        let key = self.key.clone();
        self.publish_suite(
            &SuiteSpec {
                archive: "debian",
                suite: "bookworm",
                packages: vec![
                    (
                        "hello",
                        "1.0-1",
                        "libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0",
                    ),
                    ("libc6", "2.36-9", "libgcc-s1"),
                    (
                        "libgcc-s1",
                        "12.2.0-14",
                        "gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)",
                    ),
                    ("gcc-12-base", "12.2.0-14", ""),
                ],
                valid_until: None,
            },
            &key,
        );
        self.publish_suite(
            &SuiteSpec {
                archive: "debian",
                suite: "bookworm-updates",
                packages: vec![],
                valid_until: None,
            },
            &key,
        );
        self.publish_suite(
            &SuiteSpec {
                archive: "debian-security",
                suite: "bookworm-security",
                packages: vec![("libc6", "2.36-9+deb12u13", "libgcc-s1")],
                valid_until: security_valid_until,
            },
            &key,
        );
        // PyPI: `demo` (metadata read from the wheel) requires `tinydep` (PEP 658 metadata).
        let demo = wheel(
            "demo",
            "1.0",
            &["tinydep>=1.0", "pywin32; sys_platform == 'win32'"],
        );
        let tiny = wheel("tinydep", "1.1", &[]);
        let tiny_old = wheel("tinydep", "0.9", &[]);
        let tiny_meta = b"Metadata-Version: 2.1\nName: tinydep\nVersion: 1.1\n\n".to_vec();
        let page = |files: Vec<serde_json::Value>| {
            serde_json::to_vec(
                &serde_json::json!({"meta": {"api-version": "1.1"}, "name": "x", "files": files}),
            )
            .unwrap()
        };
        self.put(
            "/pypi/simple/demo/",
            page(vec![serde_json::json!({
                "filename": "demo-1.0-py3-none-any.whl",
                "url": "../../files/demo-1.0-py3-none-any.whl",
                "hashes": {"sha256": sha(&demo)},
                "requires-python": ">=3.8",
            })]),
        );
        self.put(
            "/pypi/simple/tinydep/",
            page(vec![
                serde_json::json!({
                    "filename": "tinydep-0.9-py3-none-any.whl",
                    "url": format!("{}/pypi/files/tinydep-0.9-py3-none-any.whl", self.base),
                    "hashes": {"sha256": sha(&tiny_old)},
                }),
                serde_json::json!({
                    "filename": "tinydep-1.1-py3-none-any.whl",
                    "url": "../../files/tinydep-1.1-py3-none-any.whl",
                    "hashes": {"sha256": sha(&tiny)},
                    "size": tiny.len(),
                    "core-metadata": {"sha256": sha(&tiny_meta)},
                }),
                serde_json::json!({
                    "filename": "tinydep-2.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                    "url": "../../files/tinydep-2.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                    "hashes": {"sha256": "00".repeat(32)},
                }),
            ]),
        );
        self.put("/pypi/files/demo-1.0-py3-none-any.whl", demo);
        self.put("/pypi/files/tinydep-1.1-py3-none-any.whl", tiny);
        self.put(
            "/pypi/files/tinydep-1.1-py3-none-any.whl.metadata",
            tiny_meta,
        );
        self.put("/pypi/files/tinydep-0.9-py3-none-any.whl", tiny_old);
    }

    fn roots(&self) -> PathBuf {
        let p = self.dir.path().join("roots.json");
        std::fs::write(
            &p,
            r#"{"debian": ["hello", "libgcc-s1"], "pypi": {"Demo": null}}"#,
        )
        .unwrap();
        p
    }

    /// Runs the updater binary; returns (success, stderr, lock text or None).
    fn run(&self, out: &Path, extra_env: &[(&str, &str)]) -> (bool, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rnix-update-lock"));
        cmd.arg("--roots")
            .arg(self.roots())
            .arg("--out")
            .arg(out)
            .env("RNIX_DEBIAN_MIRROR", format!("{}/debian", self.base))
            .env(
                "RNIX_DEBIAN_SECURITY_MIRROR",
                format!("{}/debian-security/", self.base),
            )
            .env("RNIX_PYPI_INDEX", format!("{}/pypi/simple", self.base))
            .env("RNIX_DEBIAN_KEYRING", &self.keyring)
            .env("RNIX_LOCK_CACHE", self.dir.path().join("cache"))
            .env_remove("RNIX_DEBIAN_IGNORE_VALID_UNTIL")
            .env_remove("PIP_INDEX_URL");
        for v in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
            cmd.env_remove(v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let o = cmd.output().expect("running rnix-update-lock");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Expects failure with `needle` in the message and the old lock left untouched.
    fn expect_failure(&self, needles: &[&str]) {
        let out = self.dir.path().join("lock.json");
        std::fs::write(&out, "OLD\n").unwrap();
        let (ok, err) = self.run(&out, &[]);
        assert!(!ok, "the updater accepted altered data; stderr:\n{err}");
        for n in needles {
            assert!(err.contains(n), "error does not mention `{n}`:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "OLD\n",
            "lock was written"
        );
        let missing = self.dir.path().join("absent.json");
        let (ok, _) = self.run(&missing, &[]);
        assert!(!ok);
        assert!(!missing.exists(), "a lock file was created");
    }
}

#[test]
fn untampered_repository_gives_a_deterministic_lock() {
    let fx = Fixture::new();
    let out = fx.dir.path().join("lock.json");
    let (ok, err) = fx.run(&out, &[]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let lock = pkgset::lock::LockFile::from_json_str(&text).unwrap();
    assert_eq!(
        lock.debian.packages.keys().collect::<Vec<_>>(),
        vec!["hello", "libc6", "libgcc-s1"]
    );
    let libc = &lock.debian.packages["libc6"];
    assert_eq!(libc.version, "2.36-9+deb12u13");
    assert_eq!(libc.archive, "debian-security");
    assert!(
        libc.depends.is_empty(),
        "libc6 -> libgcc-s1 must be dropped"
    );
    // libc6 is the package set's group `glibc`: dependencies name the group
    assert_eq!(libc.group.as_deref(), Some("glibc"));
    assert_eq!(lock.debian.groups["glibc"].members, vec!["libc6"]);
    assert_eq!(lock.debian.packages["hello"].depends, vec!["glibc"]);
    assert_eq!(lock.debian.packages["libgcc-s1"].depends, vec!["glibc"]);
    // the index of the whole archive is written beside the lock
    let index = pkgset::lock::DebianLock::from_index_bytes(
        &std::fs::read(fx.dir.path().join("debian-index.json.zst")).unwrap(),
    )
    .unwrap();
    assert!(index.packages.contains_key("hello"));
    assert_eq!(
        index.packages["hello"].sha256,
        lock.debian.packages["hello"].sha256
    );
    let deb = fx.get(&format!("/debian/{}", lock.debian.packages["hello"].path));
    assert_eq!(lock.debian.packages["hello"].sha256, sha(&deb));
    assert_eq!(lock.debian.packages["hello"].size, deb.len() as u64);
    assert_eq!(
        lock.pypi.keys().collect::<Vec<_>>(),
        vec!["demo", "tinydep"]
    );
    assert_eq!(lock.pypi["demo"].depends, vec!["tinydep"]);
    assert_eq!(lock.pypi["tinydep"].version, "1.1");
    let whl = fx.get("/pypi/files/demo-1.0-py3-none-any.whl");
    assert_eq!(lock.pypi["demo"].size, whl.len() as u64);
    assert!(text.ends_with("}\n") && text.contains("\n  \"debian\": {"));
    // second run (now from the download cache) gives the same bytes
    let out2 = fx.dir.path().join("lock2.json");
    let (ok, err) = fx.run(&out2, &[]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(&out2).unwrap(), text);
}

#[test]
fn altered_inrelease_is_rejected() {
    let fx = Fixture::new();
    let p = "/debian/dists/bookworm/InRelease";
    let text = String::from_utf8(fx.get(p)).unwrap();
    fx.put(
        p,
        text.replacen("Label: Test", "Label: Evil", 1).into_bytes(),
    );
    fx.expect_failure(&["OpenPGP signature check", "bookworm/InRelease"]);
}

#[test]
fn inrelease_signed_by_an_unknown_key_is_rejected() {
    let fx = Fixture::new();
    let other = keygen("someone else <x@invalid>");
    fx.publish_suite(
        &SuiteSpec {
            archive: "debian",
            suite: "bookworm-updates",
            packages: vec![],
            valid_until: None,
        },
        &other,
    );
    fx.expect_failure(&["OpenPGP signature check", "not in the keyring"]);
}

#[test]
fn unsigned_inrelease_is_rejected() {
    let fx = Fixture::new();
    fx.put(
        "/debian/dists/bookworm/InRelease",
        b"Origin: Test\nSuite: bookworm\nSHA256:\n".to_vec(),
    );
    fx.expect_failure(&["OpenPGP signature check"]);
}

#[test]
fn altered_packages_xz_is_rejected() {
    let fx = Fixture::new();
    let p = "/debian/dists/bookworm/main/binary-amd64/Packages.xz";
    let mut b = fx.get(p);
    let evil = xz(b"Package: hello\nVersion: 9\nArchitecture: amd64\nFilename: x.deb\nSize: 1\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\n");
    b.clear();
    b.extend(evil);
    fx.put(p, b);
    fx.expect_failure(&["hash mismatch", "Packages.xz of bookworm"]);
}

#[test]
fn altered_deb_is_rejected() {
    let fx = Fixture::new();
    let p = format!(
        "/debian-security/{}",
        Fixture::deb_path("libc6", "2.36-9+deb12u13")
    );
    let mut b = fx.get(&p);
    b[10] ^= 1;
    fx.put(&p, b);
    fx.expect_failure(&["hash mismatch", "libc6 2.36-9+deb12u13"]);
}

#[test]
fn altered_wheel_is_rejected() {
    let fx = Fixture::new();
    let p = "/pypi/files/demo-1.0-py3-none-any.whl";
    let mut b = fx.get(p);
    b.push(0);
    fx.put(p, b);
    fx.expect_failure(&["hash mismatch", "demo-1.0-py3-none-any.whl"]);
}

#[test]
fn altered_pep658_metadata_is_rejected() {
    let fx = Fixture::new();
    fx.put(
        "/pypi/files/tinydep-1.1-py3-none-any.whl.metadata",
        b"Metadata-Version: 2.1\nName: tinydep\nVersion: 1.1\nRequires-Dist: evil\n\n".to_vec(),
    );
    fx.expect_failure(&["tinydep-1.1-py3-none-any.whl", "sha256"]);
}

#[test]
fn deb_missing_from_the_mirror_is_named() {
    let fx = Fixture::new();
    let path = Fixture::deb_path("hello", "1.0-1");
    fx.remove(&format!("/debian/{path}"));
    fx.expect_failure(&["hello 1.0-1", &path, "no longer on the mirror", "re-run"]);
}

#[test]
fn expired_release_is_rejected_unless_overridden() {
    let mut fx = Fixture::new();
    fx.publish_default(Some("Sat, 01 Jan 2000 00:00:00 UTC"));
    fx.expect_failure(&["Valid-Until", "RNIX_DEBIAN_IGNORE_VALID_UNTIL"]);
    let out = fx.dir.path().join("lock-old.json");
    let (ok, err) = fx.run(&out, &[("RNIX_DEBIAN_IGNORE_VALID_UNTIL", "1")]);
    assert!(ok, "{err}");
    assert!(out.exists());
}
