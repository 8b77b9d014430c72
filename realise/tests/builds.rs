//! Realisation behaviour: fixed-output downloads and hash checks, the sandbox's network
//! rules, failures (log tail, dependents, --keep-going, --keep-failed), logs, and
//! interruptions (SIGKILL/SIGINT during a build or a download).

mod common;
use common::http::Server;
use common::*;
use realise::Realiser;
use std::collections::BTreeMap;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use store::local::LocalStore;
use store::StorePath;

const PY: &str = "/usr/bin/python3";

#[test]
fn fixed_output_fetchurl_and_hash_mismatch() {
    let data = b"payload served over HTTP\n".repeat(1000);
    let mut files = BTreeMap::new();
    files.insert("payload.txt".to_string(), data.clone());
    let srv = Server::start(files, None);
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let good = add_fetchurl_drv(
        &store,
        "payload.txt",
        &srv.url("payload.txt"),
        &sha256_hex(&data),
    );
    let r = Realiser::new(&store, test_options(1));
    let outs = r.realise_one(&good).unwrap();
    let out = &outs["out"];
    assert_eq!(fs::read(store.real_path(out)).unwrap(), data);
    assert_eq!(r.progress().downloaded_count(), 1);
    assert!(
        r.progress().summary().contains("1 downloaded"),
        "{}",
        r.progress().summary()
    );
    let info = store.path_info(out).unwrap();
    assert!(
        info.ca.as_deref().unwrap().starts_with("fixed:sha256:"),
        "{:?}",
        info.ca
    );
    assert_eq!(info.deriver.as_ref(), Some(&good));

    let wrong = sha256_hex(b"something else");
    let bad = add_fetchurl_drv(&store, "payload-bad.txt", &srv.url("payload.txt"), &wrong);
    let e = Realiser::new(&store, test_options(1))
        .realise_one(&bad)
        .unwrap_err();
    let m = format!("{e:#}");
    let drv = bad.to_absolute();
    assert!(
        m.contains(&format!(
            "hash mismatch in fixed-output derivation '{drv}':\n  specified: sha256-"
        )),
        "{m}"
    );
    assert!(m.contains("\n     got:    sha256-"), "{m}");
    let d =
        store::Derivation::from_aterm(&fs::read_to_string(store.real_path(&bad)).unwrap()).unwrap();
    let p = d.output_paths().unwrap()["out"].clone();
    assert!(!store.is_valid(&p).unwrap());
    assert!(!store.real_path(&p).exists());
}

#[test]
fn sandbox_network_only_for_fixed_output() {
    if !ns_or_skip() {
        return;
    }
    let data = b"downloaded by a fixed-output builder\n".to_vec();
    let mut files = BTreeMap::new();
    files.insert("f".to_string(), data.clone());
    let srv = Server::start(files, None);
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let url = srv.url("f");
    let fetch_py = format!(
        "import os, urllib.request\n\
         try:\n    d = urllib.request.urlopen('{url}', timeout=5).read()\n\
         except Exception as e:\n    d = b'NO-NETWORK'\n\
         open(os.environ['out'], 'wb').write(d)\n"
    );
    let script = format!("{PY} -c \"$code\"");
    let fo = add_drv(
        &store,
        "fo-download",
        &script,
        &[("code", &fetch_py)],
        &[],
        Some(("sha256", &sha256_hex(&data))),
    );
    let pure = add_drv(
        &store,
        "pure-download",
        &script,
        &[("code", &fetch_py)],
        &[],
        None,
    );
    let r = Realiser::new(&store, test_options(2));
    let built = r.realise_all(&[fo.clone(), pure.clone()]).unwrap();
    assert_eq!(fs::read(store.real_path(&built[&fo]["out"])).unwrap(), data);
    assert_eq!(
        fs::read_to_string(store.real_path(&built[&pure]["out"])).unwrap(),
        "NO-NETWORK"
    );
}

#[test]
fn sandbox_hides_host_and_home() {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let script = format!(
        r#"{{
        if /bin/ls {home} >/dev/null 2>&1; then echo HOME-READABLE; fi
        if [ -e {root} ]; then echo STORE-ROOT-VISIBLE; fi
        if echo x > /tmp-outside 2>/dev/null; then echo ROOT-WRITABLE; fi
        echo "procs=$(/bin/ls /proc | /bin/grep -c '^[0-9]')"
        echo "user=$(/usr/bin/id -u):$(/usr/bin/id -g)"
        echo "hostname=$(/bin/cat /proc/sys/kernel/hostname)"
        echo x > /build/ok && echo build-writable
        }} > $out"#,
        root = tmp.path().display()
    );
    let d = add_drv(&store, "isolation", &script, &[], &[], None);
    let outs = Realiser::new(&store, test_options(1))
        .realise_one(&d)
        .unwrap();
    let text = fs::read_to_string(store.real_path(&outs["out"])).unwrap();
    for bad in ["HOME-READABLE", "STORE-ROOT-VISIBLE", "ROOT-WRITABLE"] {
        assert!(!text.contains(bad), "{bad}: {text}");
    }
    assert!(text.contains("user=1000:100"), "{text}");
    assert!(text.contains("hostname=localhost"), "{text}");
    assert!(text.contains("build-writable"), "{text}");
    let procs: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(procs <= 5, "host processes visible: {text}");
}

#[test]
fn failures_keep_going_keep_failed_and_logs() {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let failing = add_drv(
        &store,
        "failing",
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do echo line $i; done; echo doomed >&2; exit 3",
        &[],
        &[],
        None,
    );
    let dependent = add_drv(
        &store,
        "dependent",
        "echo should-not-run > $out",
        &[("dep", "")],
        &[(&failing, &["out"])],
        None,
    );
    let independent = add_drv(&store, "independent", "echo fine > $out", &[], &[], None);

    // Without --keep-going: the error names the builder, its exit code and the log tail.
    let e = Realiser::new(&store, test_options(1))
        .realise_all(std::slice::from_ref(&dependent))
        .unwrap_err();
    let m = format!("{e:#}");
    assert!(
        m.contains(&format!(
            "builder for '{}' failed with exit code 3",
            failing.to_absolute()
        )),
        "{m}"
    );
    assert!(m.contains("> doomed") && m.contains("> line 30"), "{m}");
    assert!(!m.contains("> line 5\n"), "only the tail is shown: {m}");
    assert!(m.contains("rnix-store --read-log"), "{m}");
    let log = realise::cli::read_log(&store, &failing.to_absolute()).unwrap();
    assert!(log.contains("line 1\n") && log.contains("doomed"), "{log}");

    // With --keep-going the independent build still happens; the dependent never runs.
    let mut o = test_options(1);
    o.keep_going = true;
    o.keep_failed = true;
    let e = Realiser::new(&store, o)
        .realise_all(&[dependent.clone(), independent.clone()])
        .unwrap_err();
    let m = format!("{e:#}");
    let ind =
        store::Derivation::from_aterm(&fs::read_to_string(store.real_path(&independent)).unwrap())
            .unwrap()
            .output_paths()
            .unwrap()["out"]
            .clone();
    assert!(store.is_valid(&ind).unwrap(), "{m}");
    let dep_out =
        store::Derivation::from_aterm(&fs::read_to_string(store.real_path(&dependent)).unwrap())
            .unwrap()
            .output_paths()
            .unwrap()["out"]
            .clone();
    assert!(!store.is_valid(&dep_out).unwrap());
    // --keep-failed names the kept build directory.
    let kept = m
        .lines()
        .find_map(|l| l.strip_prefix("note: keeping build directory '"))
        .map(|l| l.trim_end_matches('\''))
        .unwrap_or_else(|| panic!("no kept directory in: {m}"));
    assert!(std::path::Path::new(kept).is_dir(), "{kept}");
    // The log of an output path is found through its deriver.
    let log = realise::cli::read_log(&store, &ind.to_absolute()).unwrap();
    assert_eq!(log, "");
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rnix-realise")
}

fn spawn_realise(root: &std::path::Path, drv: &StorePath) -> std::process::Child {
    spawn_realise_with(root, drv, "/bin:/usr:/lib:/lib64")
}

fn spawn_realise_with(
    root: &std::path::Path,
    drv: &StorePath,
    sandbox_paths: &str,
) -> std::process::Child {
    Command::new(bin())
        .args(["--store"])
        .arg(root)
        .arg("-Q")
        .arg(format!("--sandbox-paths={sandbox_paths}"))
        .arg(drv.to_absolute())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn out_of(store: &LocalStore, drv: &StorePath) -> StorePath {
    store::Derivation::from_aterm(&fs::read_to_string(store.real_path(drv)).unwrap())
        .unwrap()
        .output_paths()
        .unwrap()["out"]
        .clone()
}

fn interrupted_build(signal: i32) {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    // Writes part of its output, then sleeps while /marker is visible (first run only).
    let d = add_drv(
        &store,
        &format!("slow-{signal}"),
        "/bin/mkdir $out; echo partial > $out/a; echo started; \
         if [ -e /marker ]; then /bin/sleep $delay; fi; echo done > $out/b",
        &[("delay", &format!("30{signal}"))],
        &[],
        None,
    );
    let out = out_of(&store, &d);
    let marker = tmp.path().join("marker");
    fs::write(&marker, "").unwrap();
    let mut child = spawn_realise_with(
        tmp.path(),
        &d,
        &format!("/bin:/usr:/lib:/lib64:/marker={}", marker.display()),
    );
    let log = Realiser::log_path(&store, &d);
    wait_until("the build to start", || {
        fs::read_to_string(&log)
            .map(|l| l.contains("started"))
            .unwrap_or(false)
    });
    let sleeping = || {
        let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .any(|l| l.trim() == format!("/bin/sleep 30{signal}"))
    };
    wait_until("the builder to sleep", sleeping);
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    let st = child.wait().unwrap();
    assert!(!st.success());
    assert!(!store.is_valid(&out).unwrap());
    assert!(!store.real_path(&out).exists());
    // The sandbox went with it: no builder left behind (its pid namespace died).
    let build_dirs = store.state_dir().join("builds");
    wait_until("the builder to die", || !sleeping());
    // The next run completes the same derivation (lock released, leftovers ignored).
    let o = spawn_realise(tmp.path(), &d).wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), out.to_absolute());
    assert_eq!(
        fs::read_to_string(store.real_path(&out).join("b")).unwrap(),
        "done\n"
    );
    // Stale build directories of the dead process were cleaned up by the next run.
    let left: Vec<_> = fs::read_dir(&build_dirs).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sigkill_during_build_leaves_nothing_valid() {
    interrupted_build(libc::SIGKILL);
}

#[test]
fn sigint_during_build_leaves_nothing_valid() {
    interrupted_build(libc::SIGINT);
}

#[test]
fn sigkill_during_download_then_resume() {
    let data: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
    let mut files = BTreeMap::new();
    files.insert("big.bin".to_string(), data.clone());
    let srv = Server::start(files, Some(Duration::from_millis(20)));
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let d = add_fetchurl_drv(&store, "big.bin", &srv.url("big.bin"), &sha256_hex(&data));
    let out = out_of(&store, &d);
    let mut child = spawn_realise(tmp.path(), &d);
    let log = Realiser::log_path(&store, &d);
    wait_until("the download to start", || {
        fs::read_to_string(&log)
            .map(|l| l.contains("downloading"))
            .unwrap_or(false)
    });
    let partial = store
        .state_dir()
        .join("downloads")
        .join(format!("{}.part", out.hash_part()));
    wait_until("part of the file to arrive", || {
        fs::metadata(&partial)
            .map(|m| m.len() > 20_000)
            .unwrap_or(false)
    });
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    child.wait().unwrap();
    assert!(!store.is_valid(&out).unwrap());
    assert!(!store.real_path(&out).exists());
    assert!(fs::metadata(&partial).unwrap().len() < data.len() as u64);
    // Second run with a fast server completes and the content is right.
    drop(srv);
    let mut files = BTreeMap::new();
    files.insert("big.bin".to_string(), data.clone());
    let srv2 = Server::start(files, None);
    let d2 = add_fetchurl_drv(&store, "big.bin", &srv2.url("big.bin"), &sha256_hex(&data));
    assert_eq!(
        out_of(&store, &d2),
        out,
        "fixed-output path does not depend on the URL"
    );
    let o = Command::new(bin())
        .args(["--store"])
        .arg(tmp.path())
        .arg("-Q")
        .arg(d2.to_absolute())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), out.to_absolute());
    assert_eq!(fs::read(store.real_path(&out)).unwrap(), data);
    // The second run resumed the partial download with a range request.
    assert_eq!(srv2.ranges.load(std::sync::atomic::Ordering::Relaxed), 1);
    let log = realise::cli::read_log(&store, &d2.to_absolute()).unwrap();
    assert!(log.contains("resuming"), "{log}");
}

#[test]
fn concurrent_processes_share_locks() {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let d = add_drv(
        &store,
        "shared",
        "/bin/sleep 1; echo once > $out",
        &[],
        &[],
        None,
    );
    let a = spawn_realise(tmp.path(), &d);
    let b = spawn_realise(tmp.path(), &d);
    let oa = a.wait_with_output().unwrap();
    let ob = b.wait_with_output().unwrap();
    assert!(
        oa.status.success(),
        "{}",
        String::from_utf8_lossy(&oa.stderr)
    );
    assert!(
        ob.status.success(),
        "{}",
        String::from_utf8_lossy(&ob.stderr)
    );
    assert_eq!(oa.stdout, ob.stdout);
    let out = out_of(&store, &d);
    assert_eq!(fs::read_to_string(store.real_path(&out)).unwrap(), "once\n");
}

#[test]
fn sandbox_off_still_maps_the_store() {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    // No sandbox paths given: with the sandbox off the host's programs are visible anyway.
    let d = add_drv(&store, "relaxed", "/usr/bin/id -u > $out", &[], &[], None);
    let mut o = test_options(1);
    o.sandbox = false;
    o.sandbox_paths.clear();
    let outs = Realiser::new(&store, o).realise_one(&d).unwrap();
    assert_eq!(
        fs::read_to_string(store.real_path(&outs["out"])).unwrap(),
        "1000\n"
    );
}

#[test]
fn a_short_build_finishes_while_a_long_one_runs() {
    if !ns_or_skip() {
        return;
    }
    // The long build is released by a marker file the test creates after the short build
    // has been registered, so the short one must not wait for the long one's sandbox.
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).unwrap();
    let gate = tmp.path().join("gate");
    fs::create_dir(&gate).unwrap();
    let long = add_drv(
        &store,
        "long",
        "i=0; while [ ! -e /gate/open ] && [ $i -lt 600 ]; do /bin/sleep 0.1; i=$((i+1)); done; echo long > $out",
        &[],
        &[],
        None,
    );
    let short = add_drv(
        &store,
        "short",
        "/bin/sleep 0.5; echo short > $out",
        &[],
        &[],
        None,
    );
    let short_out = out_of(&store, &short);
    let long_out = out_of(&store, &long);
    let mut o = test_options(2);
    o.sandbox_paths
        .push(realise::sandbox::Bind::ro(&gate, "/gate"));
    std::thread::scope(|s| {
        let h = s.spawn(|| Realiser::new(&store, o).realise_all(&[long.clone(), short.clone()]));
        wait_until("the short build to be registered", || {
            store.is_valid(&short_out).unwrap()
        });
        assert!(!store.is_valid(&long_out).unwrap());
        fs::write(gate.join("open"), "").unwrap();
        h.join().unwrap().unwrap();
    });
    assert!(store.is_valid(&long_out).unwrap());
}
