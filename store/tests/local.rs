//! LocalStore behaviour: atomic adds, canonicalisation, locks, registry, roots, GC, verify.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use store::local::StoreError;
use store::nar;
use store::store_path::{FileIngestionMethod, StorePath};
use store::{Hash, LocalStore};

fn tree(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("a"), "a").unwrap();
    fs::write(src.join("sub/x"), "x").unwrap();
    fs::set_permissions(src.join("sub/x"), fs::Permissions::from_mode(0o4775)).unwrap();
    std::os::unix::fs::symlink("../a", src.join("sub/l")).unwrap();
    src
}

#[test]
fn add_canonicalises_and_is_idempotent() {
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    let src = tree(t.path());
    let p = s
        .add_to_store("src", &src, FileIngestionMethod::Recursive, None)
        .unwrap();
    assert!(s.is_valid(&p).unwrap());
    let real = s.real_path(&p);
    assert_eq!(
        real,
        t.path()
            .canonicalize()
            .unwrap()
            .join("st/nix/store")
            .join(p.base_name())
    );
    for (rel, mode) in [("", 0o555), ("a", 0o444), ("sub", 0o555), ("sub/x", 0o555)] {
        let m = fs::symlink_metadata(real.join(rel)).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, mode, "{rel}");
        assert_eq!(m.mtime(), 1, "{rel}");
    }
    assert_eq!(fs::symlink_metadata(real.join("sub/l")).unwrap().mtime(), 1);
    let p2 = s
        .add_to_store("src", &src, FileIngestionMethod::Recursive, None)
        .unwrap();
    assert_eq!(p, p2);
    let info = s.path_info(&p).unwrap();
    assert_eq!(
        info.ca.as_deref().unwrap(),
        format!("fixed:r:{}", info.nar_hash)
    );
    assert_eq!(
        nar::hash_path(&real).unwrap(),
        (info.nar_hash, info.nar_size)
    );
    assert_eq!(
        s.real_path_of(&format!("{p}/sub/x")).unwrap(),
        real.join("sub/x")
    );
    assert_eq!(
        s.logical_path_of(&real.join("a")).unwrap(),
        format!("{p}/a")
    );
    // no temporaries left behind
    let leftovers: Vec<_> = fs::read_dir(s.store_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_names_and_sources_are_clear_errors() {
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    let src = tree(t.path());
    for bad in ["", ".dot", "a b", "x/y", &"n".repeat(212)] {
        let e = s
            .add_to_store(bad, &src, FileIngestionMethod::Recursive, None)
            .unwrap_err();
        assert!(matches!(e, StoreError::StorePath(_)), "{bad}: {e}");
    }
    let e = s
        .add_to_store("x", &src, FileIngestionMethod::Flat, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("regular file"), "{e}");
    let e = s
        .add_to_store(
            "x",
            &t.path().join("missing"),
            FileIngestionMethod::Recursive,
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing"), "{e}");
    let mut failing =
        |_: &Path, _: fs::FileType| -> anyhow::Result<bool> { anyhow::bail!("filter exploded") };
    let e = s
        .add_to_store(
            "x",
            &src,
            FileIngestionMethod::Recursive,
            Some(&mut failing),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("filter exploded"), "{e}");
    assert!(s.all_valid_paths().unwrap().is_empty());
}

#[test]
fn text_references_closure_referrers_order() {
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    let a = s.add_text_to_store("a", b"leaf", &BTreeSet::new()).unwrap();
    let b = s
        .add_text_to_store("b", format!("uses {a}").as_bytes(), &[a.clone()].into())
        .unwrap();
    let c = s
        .add_text_to_store(
            "c",
            format!("{a} {b}").as_bytes(),
            &[a.clone(), b.clone()].into(),
        )
        .unwrap();
    assert_eq!(s.references(&c).unwrap(), [a.clone(), b.clone()].into());
    assert_eq!(s.referrers(&a).unwrap(), [b.clone(), c.clone()].into());
    assert_eq!(s.closure([&c]).unwrap().len(), 3);
    assert_eq!(
        s.requisites_ordered([&c]).unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );
    // references must be valid
    let ghost =
        StorePath::from_absolute("/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-ghost").unwrap();
    let e = s
        .add_text_to_store("d", b"x", &[ghost].into())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid"), "{e}");
    // the scanner finds the references
    let found = store::references::scan_references(&s.real_path(&c), &s.all_valid_paths().unwrap())
        .unwrap();
    assert_eq!(found, [a, b].into());
}

#[test]
fn locks_exclude_each_other() {
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    let p = StorePath::from_absolute("/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-x").unwrap();
    let g = s.lock_path(&p).unwrap();
    assert!(s.try_lock_path(&p).unwrap().is_none());
    drop(g);
    assert!(s.try_lock_path(&p).unwrap().is_some());
}

#[test]
fn concurrent_adders_in_threads_share_one_copy() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("st");
    let src = tree(t.path());
    let paths: Vec<StorePath> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (root, src) = (root.clone(), src.clone());
                sc.spawn(move || {
                    let s = LocalStore::open(&root).unwrap();
                    s.add_to_store("src", &src, FileIngestionMethod::Recursive, None)
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(paths.windows(2).all(|w| w[0] == w[1]));
    let s = LocalStore::open(&root).unwrap();
    assert_eq!(s.all_valid_paths().unwrap().len(), 1);
    assert_eq!(fs::read_dir(s.store_dir()).unwrap().count(), 1);
    assert!(s.verify(true).unwrap().is_clean());
}

#[test]
fn build_outputs_are_finalised_atomically() {
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    let dep = s
        .add_text_to_store("dep", b"dep", &BTreeSet::new())
        .unwrap();
    let out = StorePath::from_absolute("/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-out").unwrap();
    let lock = s.lock_path(&out).unwrap();
    let tmp = s.prepare_output(&out).unwrap();
    fs::create_dir(&tmp.path).unwrap();
    fs::write(tmp.path.join("f"), format!("see {dep}/x")).unwrap();
    assert!(!s.is_valid(&out).unwrap());
    let refs =
        store::references::scan_references(&tmp.path, &[dep.clone(), out.clone()].into()).unwrap();
    assert_eq!(refs, [dep.clone()].into());
    let info = s.finalise_output(tmp, &lock, refs, None, None).unwrap();
    assert!(s.is_valid(&out).unwrap());
    assert_eq!(info.references, [dep].into());
    // missing output
    let out2 =
        StorePath::from_absolute("/nix/store/11bgd045z0d4icpbc2yyz4gx48ak44la-out2").unwrap();
    let lock2 = s.lock_path(&out2).unwrap();
    let tmp2 = s.prepare_output(&out2).unwrap();
    let e = s
        .finalise_output(tmp2, &lock2, BTreeSet::new(), None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("failed to produce output"), "{e}");
    // wrong lock
    let tmp3 = s.prepare_output(&out2).unwrap();
    fs::write(&tmp3.path, "x").unwrap();
    assert!(s
        .finalise_output(tmp3, &lock, BTreeSet::new(), None, None)
        .is_err());
    assert!(!s.is_valid(&out2).unwrap());
}

#[test]
fn add_nar_checks_and_rejects_bad_input() {
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    let src = tree(t.path());
    let good = nar::dump_to_vec(&src).unwrap();
    let p = StorePath::from_absolute("/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-n").unwrap();
    // truncated
    let e = s
        .add_nar(
            &p,
            &mut &good[..good.len() - 20],
            BTreeSet::new(),
            None,
            None,
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated"), "{e}");
    // wrong expected hash
    let wrong = Hash::sha256(b"nope");
    let e = s
        .add_nar(
            &p,
            &mut &good[..],
            BTreeSet::new(),
            None,
            None,
            Some(&wrong),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("hash mismatch"), "{e}");
    assert!(!s.is_valid(&p).unwrap());
    assert_eq!(
        fs::read_dir(s.store_dir()).unwrap().count(),
        0,
        "nothing left behind"
    );
    let (h, _) = nar::hash_path(&src).unwrap();
    let info = s
        .add_nar(&p, &mut &good[..], BTreeSet::new(), None, None, Some(&h))
        .unwrap();
    assert_eq!(info.nar_hash, h);
}

#[test]
fn verify_detects_damage_and_registry_corruption() {
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    let a = s
        .add_text_to_store("a", b"original", &BTreeSet::new())
        .unwrap();
    let b = s
        .add_text_to_store("b", b"other", &BTreeSet::new())
        .unwrap();
    assert!(s.verify(true).unwrap().is_clean());
    let real = s.real_path(&a);
    fs::set_permissions(&real, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&real, "tampered").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o444)).unwrap();
    assert!(s.verify(false).unwrap().is_clean());
    let rep = s.verify(true).unwrap();
    assert_eq!(rep.errors.len(), 1, "{:?}", rep.errors);
    assert!(rep.errors[0].contains("was modified"), "{:?}", rep.errors);
    // damaged registry entry
    let db = s
        .state_dir()
        .join("db")
        .join(format!("{}.json", b.hash_part()));
    fs::write(&db, "{ not json").unwrap();
    let e = s.query_path_info(&b).unwrap_err();
    assert!(matches!(e, StoreError::CorruptRegistry { .. }), "{e}");
    assert!(e.to_string().contains("damaged"), "{e}");
    let rep = s.verify(false).unwrap();
    assert!(
        rep.errors.iter().any(|e| e.contains("damaged")),
        "{:?}",
        rep.errors
    );
}

#[test]
fn gc_keeps_roots_and_their_closure() {
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    let a = s.add_text_to_store("a", b"a", &BTreeSet::new()).unwrap();
    let b = s
        .add_text_to_store("b", format!("{a}").as_bytes(), &[a.clone()].into())
        .unwrap();
    let junk = s
        .add_text_to_store("junk", b"junk", &BTreeSet::new())
        .unwrap();
    let link = t.path().join("result");
    s.add_perm_root(&b, &link).unwrap();
    assert_eq!(fs::read_link(&link).unwrap(), s.real_path(&b));
    // Everything is still protected by this process's temporary roots.
    assert!(s.collect_garbage(true).unwrap().dead.is_empty());
    s.release_temp_roots().unwrap();
    let dead = s.collect_garbage(true).unwrap().dead;
    assert_eq!(dead, vec![junk.to_absolute()]);
    assert!(s.is_valid(&junk).unwrap(), "print-dead deletes nothing");
    let res = s.collect_garbage(false).unwrap();
    assert_eq!(res.dead, vec![junk.to_absolute()]);
    assert!(!s.is_valid(&junk).unwrap());
    assert!(!s.real_path(&junk).exists());
    assert!(s.is_valid(&a).unwrap() && s.is_valid(&b).unwrap());
    // removing the result link drops the root
    fs::remove_file(&link).unwrap();
    let res = s.collect_garbage(false).unwrap();
    assert_eq!(res.dead.len(), 2);
    assert!(s.all_valid_paths().unwrap().is_empty());
    assert_eq!(fs::read_dir(s.store_dir()).unwrap().count(), 0);
}

#[test]
fn derivations_written_and_read_back() {
    use store::derivation::{Derivation, Output};
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    let src = s
        .add_text_to_store("builder.sh", b"echo", &BTreeSet::new())
        .unwrap();
    let mut d = Derivation {
        platform: "x86_64-linux".into(),
        builder: "/bin/sh".into(),
        args: vec![src.to_absolute()],
        ..Default::default()
    };
    d.input_srcs.insert(src.to_absolute());
    d.env.insert("name".into(), "hello".into());
    d.outputs.insert("out".into(), Output::default());
    let drv_path = d
        .fill_outputs("hello", &mut |_| anyhow::bail!("no inputs"))
        .unwrap();
    let written = s.write_derivation(&d, "hello").unwrap();
    assert_eq!(written, drv_path);
    assert_eq!(s.read_derivation(&written).unwrap(), d);
    assert_eq!(s.references(&written).unwrap(), [src].into());
    let e = s
        .real_path_of(&format!("{written}/../../etc/passwd"))
        .unwrap_err();
    assert!(e.to_string().contains("leaves its store object"), "{e}");
}
