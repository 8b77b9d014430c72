//! buildEnv semantics (nixpkgs' builder.pl) on store trees made by the test.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use pkgset::buildenv::{build_env, BuildEnvArgs, StoreFs};

struct Store {
    dir: tempfile::TempDir,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("nix/store")).unwrap();
        Store { dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("nix/store")
    }
    /// Creates `/nix/store/<32 chars>-<name>` with `files` (path, content); content starting
    /// with `->` makes a symlink.
    fn add(&self, name: &str, files: &[(&str, &str)]) -> String {
        let hash: String = name
            .bytes()
            .cycle()
            .take(32)
            .map(|b| (b'a' + b % 26) as char)
            .collect();
        let base = format!("{hash}-{name}");
        let p = self.root().join(&base);
        fs::create_dir_all(&p).unwrap();
        for (f, c) in files {
            let fp = p.join(f);
            fs::create_dir_all(fp.parent().unwrap()).unwrap();
            if let Some(t) = c.strip_prefix("->") {
                symlink(t, &fp).unwrap();
            } else {
                fs::write(&fp, c).unwrap();
            }
        }
        format!("/nix/store/{base}")
    }
    fn fs(&self) -> StoreFs<'static> {
        let root = self.root();
        StoreFs {
            store_dir: "/nix/store".into(),
            real_of: Box::new(move |b: &str| {
                let p = root.join(b);
                fs::symlink_metadata(&p).ok().map(|_| p)
            }),
        }
    }
    fn build(
        &self,
        paths: &[&str],
        to_link: &[&str],
        f: impl FnOnce(&mut BuildEnvArgs),
    ) -> anyhow::Result<(PathBuf, Vec<String>)> {
        let out = self.dir.path().join(format!(
            "out{}",
            fs::read_dir(self.dir.path()).unwrap().count()
        ));
        let mut args = BuildEnvArgs {
            paths: paths.iter().map(|p| (p.to_string(), 5)).collect(),
            paths_to_link: to_link.iter().map(|s| s.to_string()).collect(),
            extra_prefix: String::new(),
            ignore_collisions: false,
            check_collision_contents: true,
            manifest: String::new(),
            out: out.clone(),
        };
        f(&mut args);
        let r = build_env(&args, &self.fs())?;
        Ok((out, r.warnings))
    }
}

fn link(p: &Path) -> String {
    fs::read_link(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .display()
        .to_string()
}

fn is_real_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false)
}

#[test]
fn seed_layout_app_and_bin() {
    let s = Store::new();
    let app = s.add("api-code", &[("app/main.py", "print()")]);
    let env = s.add(
        "python3.11-env",
        &[
            ("bin/python3.11", "ELF"),
            ("bin/python3", "->python3.11"),
            ("bin/uvicorn", "#!..."),
            ("lib/python3/dist-packages/fastapi/__init__.py", ""),
        ],
    );
    let (out, _) = s.build(&[&app, &env], &["/app", "/bin"], |_| {}).unwrap();
    assert!(
        is_real_dir(&out.join("app")),
        "app must be a real directory"
    );
    assert_eq!(link(&out.join("app/main.py")), format!("{app}/app/main.py"));
    assert!(is_real_dir(&out.join("bin")));
    assert_eq!(link(&out.join("bin/uvicorn")), format!("{env}/bin/uvicorn"));
    assert_eq!(link(&out.join("bin/python3")), format!("{env}/bin/python3"));
    assert!(
        fs::symlink_metadata(out.join("lib")).is_err(),
        "lib is not in pathsToLink"
    );
}

#[test]
fn single_package_dirs_are_symlinks_merged_dirs_are_real() {
    let s = Store::new();
    let a = s.add(
        "a",
        &[("bin/a", "a"), ("share/a/doc", "x"), ("lib/libx.so", "x")],
    );
    let b = s.add("b", &[("bin/b", "b"), ("share/b/doc", "y")]);
    let (out, _) = s.build(&[&a, &b], &["/"], |_| {}).unwrap();
    assert!(is_real_dir(&out.join("bin")));
    assert_eq!(link(&out.join("bin/a")), format!("{a}/bin/a"));
    assert_eq!(link(&out.join("bin/b")), format!("{b}/bin/b"));
    assert!(is_real_dir(&out.join("share")));
    assert_eq!(link(&out.join("share/a")), format!("{a}/share/a"));
    assert_eq!(link(&out.join("lib")), format!("{a}/lib"));

    // One package: its top-level directories are symlinks, the root is real.
    let (out, _) = s.build(&[&a], &[], |_| {}).unwrap();
    assert!(is_real_dir(&out));
    assert_eq!(link(&out.join("bin")), format!("{a}/bin"));
}

#[test]
fn symlinked_directories_are_merged_through_the_store() {
    let s = Store::new();
    let py = s.add("python", &[("lib/python3.11/os.py", "")]);
    let env = s.add(
        "env",
        &[
            ("lib/python3.11", &format!("->{py}/lib/python3.11")),
            ("lib/other", "o"),
        ],
    );
    let extra = s.add("extra", &[("lib/python3.11/extra.py", "")]);
    let (out, _) = s.build(&[&env, &extra], &["/lib"], |_| {}).unwrap();
    assert!(is_real_dir(&out.join("lib/python3.11")));
    assert_eq!(
        link(&out.join("lib/python3.11/os.py")),
        format!("{env}/lib/python3.11/os.py")
    );
    assert_eq!(
        link(&out.join("lib/python3.11/extra.py")),
        format!("{extra}/lib/python3.11/extra.py")
    );
    assert_eq!(link(&out.join("lib/other")), format!("{env}/lib/other"));
}

#[test]
fn collisions() {
    let s = Store::new();
    let a = s.add("a", &[("bin/x", "one")]);
    let b = s.add("b", &[("bin/x", "two")]);
    let c = s.add("c", &[("bin/x", "one")]);
    let err = s.build(&[&a, &b], &["/"], |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("collision between `{b}/bin/x' and `{a}/bin/x'")
    );
    // Same contents: fine with checkCollisionContents, first one wins.
    let (out, _) = s.build(&[&a, &c], &["/"], |_| {}).unwrap();
    assert_eq!(link(&out.join("bin/x")), format!("{a}/bin/x"));
    let err = s
        .build(&[&a, &c], &["/"], |x| x.check_collision_contents = false)
        .unwrap_err();
    assert!(err.to_string().starts_with("collision between"), "{err}");
    // ignoreCollisions: first wins, with a warning.
    let (out, warnings) = s
        .build(&[&a, &b], &["/"], |x| x.ignore_collisions = true)
        .unwrap();
    assert_eq!(link(&out.join("bin/x")), format!("{a}/bin/x"));
    assert_eq!(
        warnings,
        vec![format!("collision between `{b}/bin/x' and `{a}/bin/x'")]
    );
    // Priorities: the lower number wins regardless of order.
    let (out, _) = s
        .build(&[&a, &b], &["/"], |x| {
            x.paths[1].1 = 1;
        })
        .unwrap();
    assert_eq!(link(&out.join("bin/x")), format!("{b}/bin/x"));
    // A file where pathsToLink wants a directory.
    let f = s.add("f", &[("app", "file")]);
    let err = s.build(&[&f], &["/app"], |_| {}).unwrap_err();
    assert_eq!(err.to_string(), format!("not a directory: `{f}/app'"));
}

#[test]
fn extra_prefix_manifest_and_propagation() {
    let s = Store::new();
    let dep = s.add("dep", &[("bin/dep", "d")]);
    let a = s.add(
        "a",
        &[
            ("bin/a", "a"),
            ("nix-support/propagated-user-env-packages", &dep),
        ],
    );
    let (out, _) = s
        .build(&[&a], &["/bin"], |x| {
            x.extra_prefix = "/usr".into();
            x.manifest = "/nix/store/00000000000000000000000000000000-manifest".into();
        })
        .unwrap();
    assert_eq!(link(&out.join("usr/bin/a")), format!("{a}/bin/a"));
    assert_eq!(link(&out.join("usr/bin/dep")), format!("{dep}/bin/dep"));
    assert!(fs::symlink_metadata(out.join("usr/nix-support")).is_err());
    assert_eq!(
        link(&out.join("manifest")),
        "/nix/store/00000000000000000000000000000000-manifest"
    );
    // A store path that is a file cannot be merged.
    let file = s.root().join("11111111111111111111111111111111-file");
    fs::write(&file, "x").unwrap();
    let err = s
        .build(
            &["/nix/store/11111111111111111111111111111111-file"],
            &["/"],
            |_| {},
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("is a file and can't be merged"),
        "{err}"
    );
}
