//! Issue 11, acceptance 2: `rnix-store --gc` running in a loop while `rnix-build` builds the
//! seed (fixtures/simple-python-api) into the same store, 10 times (two at a time). Every build must succeed,
//! every `result` must resolve (also after a collection that started once the build had
//! ended), and `rnix-store --verify --check-contents` must be clean at the end.
//!
//! The store lives in the cargo target's temporary directory and is kept between runs. The
//! outputs of the fixed-output fetches (`builtin:fetchurl`: the `.deb`s and wheels, ~27 MB
//! from the configured mirrors) are kept alive by direct GC roots made before the loop
//! starts (from the instantiated seed's derivations), so only a cold run downloads them. Everything else (the `.drv`s, the
//! embedded package set, the app's source, relocated packages, the python environment, the
//! image) is garbage as soon as the previous iteration's `result` is removed, so the
//! collector keeps deleting what the next build is adding and using: the race is real.
//!
//! Needs the package mirrors (network) on a cold run, like the other seed tests.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BUILDS: usize = 10;
/// Builds started together (in their own directories): two cores do two builds in less
/// time than one after the other, and the second build of a pair races the first one too.
const PARALLEL: usize = 2;
/// A single build (warm: ~10 s on 2 cores; cold: plus the downloads) is killed after this.
const BUILD_LIMIT: Duration = Duration::from_secs(100);

fn rnix_store(store: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rnix-store"))
        .arg("--store")
        .arg(store)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running rnix-store")
}

/// Waits for `child` at most `limit`; kills it after that.
fn wait_bounded(mut child: Child, limit: Duration, what: &str) -> std::process::Output {
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "{what} did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The output path of a fixed-output `builtin:fetchurl` derivation, read from its ATerm text.
fn fetch_output(drv_text: &str) -> Option<String> {
    if !drv_text.contains("\"builtin:fetchurl\"") {
        return None;
    }
    let rest = drv_text.strip_prefix("Derive([(\"out\",\"")?;
    Some(rest[..rest.find('"')?].to_string())
}

/// Direct roots under `gcroots/gc-stress/` for the outputs of the fetch derivations the
/// seed needs (valid or not yet: a root to a path not built yet keeps it once it is).
/// Runs before the collector loop starts: the `.drv` files are not rooted.
fn root_fetched_outputs(store: &Path, seed: &Path) -> usize {
    let inst = Command::new(env!("CARGO_BIN_EXE_rnix-instantiate"))
        .current_dir(seed)
        .env("RNIX_STORE", store)
        .stdin(Stdio::null())
        .output()
        .expect("running rnix-instantiate");
    assert!(inst.status.success(), "{inst:?}");
    let drv = String::from_utf8(inst.stdout).unwrap().trim().to_string();
    let closure = rnix_store(store, &["-q", "-R", &drv]);
    assert!(closure.status.success(), "{closure:?}");
    let roots = store.join("nix/var/rnix/gcroots/gc-stress");
    let _ = std::fs::remove_dir_all(&roots);
    std::fs::create_dir_all(&roots).unwrap();
    let mut n = 0;
    for p in String::from_utf8(closure.stdout).unwrap().lines() {
        if !p.ends_with(".drv") {
            continue;
        }
        let real = store.join(p.trim_start_matches('/'));
        let text = std::fs::read_to_string(&real).unwrap();
        if let Some(out) = fetch_output(&text) {
            let base = out.rsplit('/').next().unwrap();
            std::os::unix::fs::symlink(store.join("nix/store").join(base), roots.join(base))
                .unwrap();
            n += 1;
        }
    }
    n
}

/// Spawns `cmd`, retrying for a few seconds when the binary is missing or busy (a concurrent
/// `cargo build` in the same target directory replaces it).
fn spawn_retrying(cmd: &mut Command) -> Child {
    let t = Instant::now();
    loop {
        match cmd.spawn() {
            Ok(c) => return c,
            Err(e) if t.elapsed() < Duration::from_secs(10) => {
                eprintln!("spawning {cmd:?}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("spawning {cmd:?}: {e}"),
        }
    }
}

struct GcLoop {
    stop: Arc<AtomicBool>,
    /// Completed collections.
    runs: Arc<AtomicUsize>,
    /// Collections that deleted something.
    deleting: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl GcLoop {
    fn start(store: PathBuf) -> GcLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(AtomicUsize::new(0));
        let deleting = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (s, r, d, f) = (
            stop.clone(),
            runs.clone(),
            deleting.clone(),
            failures.clone(),
        );
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let child = spawn_retrying(
                    Command::new(env!("CARGO_BIN_EXE_rnix-store"))
                        .arg("--store")
                        .arg(&store)
                        .arg("--gc")
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped()),
                );
                let o = wait_bounded(child, Duration::from_secs(60), "rnix-store --gc");
                let out = String::from_utf8_lossy(&o.stdout).into_owned();
                if !o.status.success() {
                    f.lock().unwrap().push(format!(
                        "rnix-store --gc: {}: {}",
                        o.status,
                        String::from_utf8_lossy(&o.stderr)
                    ));
                } else if !out.starts_with("0 store paths deleted") {
                    d.fetch_add(1, Ordering::SeqCst);
                }
                r.fetch_add(1, Ordering::SeqCst);
            }
        });
        GcLoop {
            stop,
            runs,
            deleting,
            failures,
            handle: Some(handle),
        }
    }

    /// Waits until a collection that started after this call has finished.
    fn wait_for_a_full_run(&self) {
        let now = self.runs.load(Ordering::SeqCst);
        let t = Instant::now();
        while self.runs.load(Ordering::SeqCst) < now + 2 {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the collector loop is stuck"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap();
        let f = self.failures.lock().unwrap().clone();
        (
            self.runs.load(Ordering::SeqCst),
            self.deleting.load(Ordering::SeqCst),
            f,
        )
    }
}

#[test]
fn gc_loop_during_ten_seed_builds() {
    let t0 = Instant::now();
    let store = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gc-stress-store");
    std::fs::create_dir_all(&store).unwrap();
    // The store is this test's own: a `result` left by an earlier run (or by hand) would keep
    // the image alive and every build would be a no-op.
    let _ = std::fs::remove_dir_all(store.join("nix/var/rnix/gcroots/auto"));
    let work = tempfile::tempdir().unwrap();
    let fetched = root_fetched_outputs(&store, &seed_copy(&work.path().join("instantiate")));
    assert!(fetched > 0, "no fetch derivation in the seed's closure");
    let gc = GcLoop::start(store.clone());
    let mut printed = None;
    let mut errors = Vec::new();
    // The previous round's `result` links: removed before the next round starts (even
    // rounds: the builds start from nothing while the collector deletes it all), or while
    // its builds evaluate (odd rounds: the collector deletes outputs that the builds may
    // just have found valid and are about to use).
    let mut previous: Vec<PathBuf> = Vec::new();
    for round in 0..BUILDS / PARALLEL {
        let late_removal = round % 2 == 1;
        if !late_removal {
            for r in previous.drain(..) {
                std::fs::remove_file(r).unwrap();
            }
        }
        let t = Instant::now();
        let builds: Vec<(usize, PathBuf, Child)> = (0..PARALLEL)
            .map(|k| {
                let i = round * PARALLEL + k;
                let dir = seed_copy(&work.path().join(format!("b{i}")));
                let child = spawn_retrying(
                    Command::new(env!("CARGO_BIN_EXE_rnix-build"))
                        .arg("--quiet")
                        .current_dir(&dir)
                        .env("RNIX_STORE", &store)
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped()),
                );
                (i, dir, child)
            })
            .collect();
        if late_removal {
            std::thread::sleep(Duration::from_millis(300));
            for r in previous.drain(..) {
                std::fs::remove_file(r).unwrap();
            }
        }
        let mut results = Vec::new();
        for (i, dir, child) in builds {
            let o = wait_bounded(child, BUILD_LIMIT, "rnix-build");
            let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
            eprintln!(
                "build {i}: {} after {:.1} s ({} collections so far)",
                o.status,
                t.elapsed().as_secs_f64(),
                gc.runs.load(Ordering::SeqCst)
            );
            if !o.status.success() {
                errors.push(format!(
                    "build {i} failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim_end()
                ));
                continue;
            }
            let out = stdout.lines().last().unwrap_or("").to_string();
            let result = dir.join("result");
            if !Path::new(&out).exists() {
                errors.push(format!(
                    "build {i}: the printed path '{out}' does not exist"
                ));
            }
            if std::fs::metadata(&result).is_err() {
                errors.push(format!("build {i}: result does not resolve"));
                continue;
            }
            match &printed {
                None => printed = Some(out.clone()),
                Some(p) => assert_eq!(p, &out, "the seed built to another path"),
            }
            results.push((i, result));
        }
        // The results are roots: a collection that starts after the builds must keep them.
        gc.wait_for_a_full_run();
        for (i, result) in results {
            if std::fs::metadata(&result).is_err() {
                errors.push(format!(
                    "build {i}: result no longer resolves after a collection"
                ));
                continue;
            }
            let size = rnix_store(&store, &["-q", "--size", result.to_str().unwrap()]);
            if !size.status.success() {
                errors.push(format!(
                    "build {i}: the result is not valid after a collection: {}",
                    String::from_utf8_lossy(&size.stderr)
                ));
            }
            previous.push(result);
        }
    }
    let (runs, deleting, gc_failures) = gc.stop();
    eprintln!(
        "{BUILDS} builds, {runs} collections ({deleting} deleted something) in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    errors.extend(gc_failures);
    let verify = rnix_store(&store, &["--verify", "--check-contents"]);
    let verr = String::from_utf8_lossy(&verify.stderr).into_owned();
    if !verify.status.success() || verr.contains("error") {
        errors.push(format!("rnix-store --verify --check-contents: {verr}"));
    }
    assert!(
        errors.is_empty(),
        "{} problem(s):\n{}",
        errors.len(),
        errors.join("\n---\n")
    );
    // The test is not vacuous: the rounds that start after their predecessors' `result`
    // links are gone (rounds 2 and 4) build while the collector deletes the previous image's
    // closure, so at least two collections must have deleted something. (How many more
    // depends on timing: a round whose builds find everything still valid deletes nothing.)
    assert!(
        deleting >= 2,
        "only {deleting} collections deleted anything: the builds did not race the collector"
    );
}
