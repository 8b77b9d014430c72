//! The protocol between the garbage collector and processes that add and use store paths
//! (issue 11, defect 2), as Nix's: the collector holds `gc.lock` exclusively for its whole
//! run and reads the temporary roots under it; adding a temporary root and registering a
//! path take it shared; a temporary root protects a path (valid or still being added) from
//! the moment it is written; a dead path that someone has locked is kept with its closure.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::store_path::FileIngestionMethod;
use store::LocalStore;

/// Holds `gc.lock` exclusively, as a running collector does (released on drop).
struct ExclusiveGcLock(#[allow(dead_code)] File);

fn hold_gc_lock(s: &LocalStore) -> ExclusiveGcLock {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(s.state_dir().join("gc.lock"))
        .unwrap();
    // SAFETY: flock on an owned descriptor.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    ExclusiveGcLock(f)
}

/// Runs `f` on a thread and checks that it does not finish while the collector's lock is
/// held, and does once it is released.
fn blocked_by_collector<T: Send + 'static>(
    s: &LocalStore,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let lock = hold_gc_lock(s);
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let h = std::thread::spawn(move || {
        let r = f();
        d.store(true, Ordering::SeqCst);
        r
    });
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !done.load(Ordering::SeqCst),
        "{what} went ahead while the collector held gc.lock"
    );
    drop(lock);
    let t = Instant::now();
    while !done.load(Ordering::SeqCst) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{what} never finished"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    h.join().unwrap()
}

#[test]
fn adding_registering_and_verifying_wait_for_the_collector() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("st");
    let s = LocalStore::open(&root).unwrap();
    let r = root.clone();
    let p = blocked_by_collector(&s, "add_text_to_store", move || {
        let s = LocalStore::open(&r).unwrap();
        s.add_text_to_store("a", b"a", &BTreeSet::new()).unwrap()
    });
    assert!(s.is_valid(&p).unwrap());

    let src = t.path().join("tree");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("f"), "f").unwrap();
    let r = root.clone();
    let q = blocked_by_collector(&s, "add_to_store", move || {
        let s = LocalStore::open(&r).unwrap();
        s.add_to_store("tree", &src, FileIngestionMethod::Recursive, None)
            .unwrap()
    });
    assert!(s.is_valid(&q).unwrap());

    // A temporary root of a path that is already valid (what a build does with its inputs;
    // the roots written above are dropped first, or this would be a no-op).
    s.release_temp_roots().unwrap();
    let r = root.clone();
    let p2 = p.clone();
    blocked_by_collector(&s, "add_temp_root", move || {
        LocalStore::open(&r).unwrap().add_temp_root(&p2).unwrap()
    });

    // Verification reads a consistent snapshot (Nix's verifyStore takes the lock shared).
    let r = root.clone();
    let rep = blocked_by_collector(&s, "verify", move || {
        LocalStore::open(&r).unwrap().verify(true).unwrap()
    });
    assert!(rep.is_clean(), "{:?}", rep.errors);
}

#[test]
fn temp_rooted_objects_that_are_not_valid_yet_are_kept() {
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    // What a build does: its output path is temporary-rooted before it exists, then written
    // and registered (here, an object in place without a registration yet).
    let a = s.add_text_to_store("a", b"a", &BTreeSet::new()).unwrap();
    let out =
        store::StorePath::from_absolute("/nix/store/7rjj86a15146cq1d3qy068lml7n8ykzm-being-built")
            .unwrap();
    s.add_temp_root(&out).unwrap();
    fs::write(s.real_path(&out), "partial").unwrap();
    let res = s.collect_garbage(false).unwrap();
    assert!(res.dead.is_empty(), "{:?}", res.dead);
    assert!(s.real_path(&out).exists());
    assert!(s.is_valid(&a).unwrap());
    // Without the temporary roots, the unregistered object and `a` are garbage.
    s.release_temp_roots().unwrap();
    let res = s.collect_garbage(false).unwrap();
    assert_eq!(res.dead.len(), 2, "{:?}", res.dead);
    assert!(!s.real_path(&out).exists());
    assert!(!s.real_path(&a).exists());
}

#[test]
fn a_locked_dead_path_is_kept_with_its_closure() {
    let t = tempfile::tempdir().unwrap();
    let s = LocalStore::open(t.path().join("st")).unwrap();
    let a = s.add_text_to_store("a", b"a", &BTreeSet::new()).unwrap();
    let b = s
        .add_text_to_store("b", a.to_absolute().as_bytes(), &[a.clone()].into())
        .unwrap();
    let c = s.add_text_to_store("c", b"c", &BTreeSet::new()).unwrap();
    s.release_temp_roots().unwrap();
    let lock = s.lock_path(&b).unwrap();
    s.collect_garbage(false).unwrap();
    assert!(s.is_valid(&b).unwrap(), "a locked path was deleted");
    assert!(
        s.is_valid(&a).unwrap(),
        "the reference of a kept path was deleted"
    );
    assert!(!s.is_valid(&c).unwrap());
    let rep = s.verify(true).unwrap();
    assert!(rep.is_clean(), "{:?}", rep.errors);
    drop(lock);
    s.collect_garbage(false).unwrap();
    assert!(s.all_valid_paths().unwrap().is_empty());
    // Deleted objects leave nothing behind (they are renamed away before removal).
    assert_eq!(fs::read_dir(s.store_dir()).unwrap().count(), 0);
}

/// Collectors in a loop (their own `LocalStore`s, as `rnix-store --gc` would have) while
/// another thread adds paths, some with references and some the same every round, checks
/// them and then drops its temporary roots so that the next collection deletes them while
/// the next round adds them again.
#[test]
fn collector_loop_never_takes_what_an_adder_uses() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("st");
    let s = LocalStore::open(&root).unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("d/f"), "contents").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let collections = Arc::new(AtomicUsize::new(0));
    let deleted = Arc::new(AtomicUsize::new(0));
    let mut gcs = Vec::new();
    for _ in 0..2 {
        let (r, st, c, d) = (
            root.clone(),
            stop.clone(),
            collections.clone(),
            deleted.clone(),
        );
        gcs.push(std::thread::spawn(move || {
            let g = LocalStore::open(&r).unwrap();
            while !st.load(Ordering::SeqCst) {
                let res = g.collect_garbage(false).unwrap();
                d.fetch_add(res.dead.len(), Ordering::SeqCst);
                c.fetch_add(1, Ordering::SeqCst);
                // Two collectors could otherwise hand the lock to each other forever
                // (`flock` is not fair); `rnix-store --gc` in a loop has such gaps too.
                std::thread::sleep(Duration::from_millis(2));
            }
        }));
    }
    let t0 = Instant::now();
    let mut round = 0u64;
    while t0.elapsed() < Duration::from_secs(3) || round < 20 {
        round += 1;
        let fixed = s
            .add_text_to_store("fixed", b"same every round", &BTreeSet::new())
            .unwrap();
        let uniq = s
            .add_text_to_store(
                "uniq",
                format!("round {round}").as_bytes(),
                &BTreeSet::new(),
            )
            .unwrap();
        let tree = s
            .add_to_store("tree", &src, FileIngestionMethod::Recursive, None)
            .unwrap();
        let refs: BTreeSet<_> = [fixed.clone(), uniq.clone(), tree.clone()].into();
        let text = format!("{fixed} {uniq} {tree}");
        let top = s.add_text_to_store("top", text.as_bytes(), &refs).unwrap();
        for p in [&fixed, &uniq, &tree, &top] {
            assert!(s.is_valid(p).unwrap(), "round {round}: {p} is not valid");
        }
        assert_eq!(fs::read_to_string(s.real_path(&top)).unwrap(), text);
        assert_eq!(
            fs::read_to_string(s.real_path(&tree).join("d/f")).unwrap(),
            "contents"
        );
        assert_eq!(s.references(&top).unwrap(), refs);
        s.release_temp_roots().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    for g in gcs {
        g.join().unwrap();
    }
    let rep = s.verify(true).unwrap();
    assert!(rep.is_clean(), "{:?}", rep.errors);
    eprintln!(
        "{round} rounds, {} collections deleted {} paths",
        collections.load(Ordering::SeqCst),
        deleted.load(Ordering::SeqCst)
    );
    assert!(
        deleted.load(Ordering::SeqCst) > 0,
        "the collectors deleted nothing: no race was exercised"
    );
}
