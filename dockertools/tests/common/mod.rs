//! Shared helpers for the dockertools integration tests: a fake store with a static
//! program, a chroot script runner, and Docker helpers.
#![allow(dead_code)]

use anyhow::{bail, Context, Result};
use dockertools::{ClosureEntry, RootInput, ScriptRunner};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A fake physical store: logical `/nix/store/<name>` lives at `<dir>/<name>`.
pub struct FakeStore {
    pub dir: PathBuf,
}

pub fn hash32(c: char) -> String {
    std::iter::repeat_n(c, 32).collect()
}

impl FakeStore {
    pub fn new(dir: &Path) -> FakeStore {
        fs::create_dir_all(dir).unwrap();
        FakeStore {
            dir: dir.to_path_buf(),
        }
    }

    /// Create a store path; `build` fills it. Returns its logical path.
    pub fn add(&self, hash: char, name: &str, build: impl FnOnce(&Path)) -> String {
        let n = format!("{}-{}", hash32(hash), name);
        let p = self.dir.join(&n);
        if p.exists() {
            make_writable(&p);
            fs::remove_dir_all(&p).unwrap();
        }
        fs::create_dir(&p).unwrap();
        build(&p);
        make_read_only(&p);
        format!("/nix/store/{n}")
    }

    pub fn real(&self, logical: &str) -> PathBuf {
        self.dir.join(logical.strip_prefix("/nix/store/").unwrap())
    }

    pub fn entry(&self, logical: &str, refs: &[&str]) -> ClosureEntry {
        ClosureEntry {
            logical: logical.to_string(),
            real: self.real(logical),
            references: refs.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn root_input(&self, logical: &str) -> RootInput {
        RootInput {
            logical: logical.to_string(),
            real: self.real(logical),
        }
    }
}

/// Store-like permissions: files 0444/0555, directories 0555.
pub fn make_read_only(p: &Path) {
    let md = fs::symlink_metadata(p).unwrap();
    if md.is_dir() {
        for e in fs::read_dir(p).unwrap() {
            make_read_only(&e.unwrap().path());
        }
        fs::set_permissions(p, fs::Permissions::from_mode(0o555)).unwrap();
    } else if md.is_file() {
        let exec = md.permissions().mode() & 0o111 != 0;
        fs::set_permissions(
            p,
            fs::Permissions::from_mode(if exec { 0o555 } else { 0o444 }),
        )
        .unwrap();
    }
}

pub fn make_writable(p: &Path) {
    let md = fs::symlink_metadata(p).unwrap();
    if md.is_dir() {
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
        for e in fs::read_dir(p).unwrap() {
            make_writable(&e.unwrap().path());
        }
    }
}

/// Compile a statically linked C program printing `message` into `dst`.
pub fn static_hello(dst: &Path, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello.c");
    let lit = message.replace('\\', "\\\\").replace('"', "\\\"");
    fs::write(
        &src,
        format!(
            "#include <stdio.h>\n#include <stdlib.h>\nint main(void) {{ const char *g = getenv(\"GREETING_SUFFIX\"); printf(\"{lit}%s\\n\", g ? g : \"\"); return 0; }}\n"
        ),
    )
    .unwrap();
    let st = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(dst)
        .arg(&src)
        .status()
        .expect("running cc (a C compiler with static glibc is needed: gcc, libc6-dev)");
    assert!(st.success(), "cc -static failed");
}

/// Is the tool there? In CI its absence fails the test; elsewhere the test is skipped
/// with a printed reason.
pub fn require(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!(
                "{tool} is required in CI but `{tool} {}` failed",
                probe.join(" ")
            );
        }
        eprintln!(
            "SKIPPED: {tool} is not available (`{tool} {}` failed)",
            probe.join(" ")
        );
    }
    ok
}

pub fn docker_available() -> bool {
    require("docker", &["info"])
}

pub fn busybox() -> Option<PathBuf> {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        let p = PathBuf::from(p);
        if p.exists() {
            let out = Command::new("file").arg(&p).output();
            let static_ok = match out {
                Ok(o) => String::from_utf8_lossy(&o.stdout).contains("statically linked"),
                Err(_) => true,
            };
            if static_ok {
                return Some(p);
            }
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("a static busybox is required in CI (apt-get install busybox-static)");
    }
    eprintln!("SKIPPED: no static busybox (apt-get install busybox-static)");
    None
}

/// A store path with a static busybox and applet links in `bin/`.
pub fn add_busybox(store: &FakeStore, bb: &Path) -> String {
    store.add('b', "busybox", |p| {
        fs::create_dir(p.join("bin")).unwrap();
        fs::copy(bb, p.join("bin/busybox")).unwrap();
        for a in [
            "sh", "mkdir", "echo", "rm", "chown", "ls", "cat", "ln", "touch", "chmod",
        ] {
            symlink("busybox", p.join("bin").join(a)).unwrap();
        }
    })
}

/// Runner for tests: `extraCommands` with the host shell in the root directory;
/// root scripts in a private mount namespace, chrooted into the image root, with each
/// closure path bind-mounted at `/nix/store/<name>`.
pub struct ChrootRunner {
    pub closure: Vec<ClosureEntry>,
    /// Logical path of the shell to run root scripts with.
    pub shell: String,
}

impl ScriptRunner for ChrootRunner {
    fn run(&self, root_dir: &Path, script: &str, as_root: bool) -> Result<()> {
        if !as_root {
            let st = Command::new("sh")
                .arg("-ec")
                .arg(script)
                .current_dir(root_dir)
                .status()?;
            if !st.success() {
                bail!("script exited with {st}");
            }
            return Ok(());
        }
        let store = root_dir.join("nix/store");
        let mut mounts = String::new();
        let mut created = Vec::new();
        for c in &self.closure {
            let name = c.logical.strip_prefix("/nix/store/").unwrap();
            let mp = store.join(name);
            if fs::symlink_metadata(&mp).is_err() {
                if c.real.is_dir() {
                    fs::create_dir(&mp)?;
                } else {
                    fs::write(&mp, b"")?;
                }
                created.push(mp.clone());
            }
            mounts.push_str(&format!(
                "mount --bind '{}' '{}'\n",
                c.real.display(),
                mp.display()
            ));
        }
        let full = format!(
            "set -e\n{mounts}cd '{root}'\nexec chroot '{root}' {shell}/bin/sh -ec \"$1\"\n",
            root = root_dir.display(),
            shell = self.shell
        );
        let mut cmd = Command::new("unshare");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            cmd.arg("--map-root-user");
        }
        let st = cmd
            .args(["--mount", "--fork", "sh", "-c", &full, "runner"])
            .arg(format!("export PATH={}/bin; {script}", self.shell))
            .status()
            .context("running unshare")?;
        for mp in created {
            if mp.is_dir() {
                fs::remove_dir(&mp)?;
            } else {
                fs::remove_file(&mp)?;
            }
        }
        if !st.success() {
            bail!("root script exited with {st}");
        }
        Ok(())
    }
}

pub fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `docker load -i path`, returning docker's output.
pub fn docker_server_major() -> u32 {
    let v = sh(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]));
    v.trim()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

pub fn docker_load(path: &Path) -> String {
    sh(Command::new("docker").arg("load").arg("-i").arg(path))
}

pub fn docker_run(image: &str, args: &[&str]) -> String {
    sh(Command::new("docker")
        .args(["run", "--rm", "--network", "none", image])
        .args(args))
}

pub fn docker_rmi(image: &str) {
    let _ = Command::new("docker")
        .args(["rmi", "-f", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

pub fn docker_layers(image: &str) -> Vec<String> {
    let out = sh(Command::new("docker").args([
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        image,
    ]));
    serde_json::from_str(out.trim()).unwrap()
}

/// Read an (uncompressed or gzip/zstd) archive into name -> bytes.
pub fn read_archive(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let r = dockertools::base::open_maybe_compressed(path).unwrap();
    let mut ar = tar::Archive::new(r);
    let mut out = std::collections::BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).unwrap();
        out.insert(name, v);
    }
    out
}
