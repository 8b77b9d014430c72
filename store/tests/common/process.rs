//! Process-level store tests, shared by `store/tests/process.rs` (against `rnix-store-lite`)
//! and the root crate's `tests/store_cli.rs` (against `rnix-store`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A source tree big enough that adding it takes a while (many files, some large).
pub fn make_tree(dir: &Path, salt: u64) -> PathBuf {
    let src = dir.join("payload");
    if src.exists() {
        fs::write(src.join("salt"), salt.to_string()).unwrap();
        return src;
    }
    for d in 0..8 {
        let sub = src.join(format!("d{d:02}"));
        fs::create_dir_all(&sub).unwrap();
        for f in 0..12 {
            let size = if f % 6 == 0 { 32 * 1024 } else { 512 };
            let byte = (d * 12 + f) as u8;
            fs::write(sub.join(format!("f{f:02}")), vec![byte; size]).unwrap();
        }
        std::os::unix::fs::symlink("f00", sub.join("link")).unwrap();
    }
    fs::write(src.join("salt"), salt.to_string()).unwrap();
    src
}

fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

fn run_ok(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {:?} failed: {}{}",
        bin.display(),
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// SIGKILL `--add` 50 times at random moments; then the store verifies clean, nothing partial
/// is registered, and a final add succeeds.
pub fn kill_adds_at_random(bin: &Path) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let root_s = root.to_str().unwrap();
    let src = make_tree(t.path(), 0);
    let src_s = src.to_str().unwrap();
    // How long one add takes here, to spread the kills over it.
    let start = Instant::now();
    run_ok(bin, &["--store", root_s, "--add", src_s]);
    let full = start.elapsed().as_micros().max(2000) as u64;
    let mut seed = 0x5eed ^ full;
    let mut killed = 0;
    for i in 1..=50u64 {
        make_tree(t.path(), i);
        let mut child = Command::new(bin)
            .args(["--store", root_s, "--add", src_s])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = lcg(&mut seed) % (full + full / 4);
        std::thread::sleep(Duration::from_micros(delay));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    eprintln!("killed {killed} of 50 adds while running (one add takes ~{full} us)");
    // Everything registered is complete and correct.
    let out = Command::new(bin)
        .args(["--store", root_s, "--verify", "--check-contents"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verify failed after crashes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every registered path has its object; objects without registration are not valid.
    let db = root.join("nix/var/rnix/db");
    for e in fs::read_dir(&db).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        // A process killed while writing a registry entry leaves its temporary
        // (`.<hash>.<pid>.<n>`, renamed into place only when complete): never read as a
        // registration. Everything else must be a complete entry.
        if name.starts_with('.') {
            continue;
        }
        assert!(name.ends_with(".json"), "stray registry file {name}");
    }
    // Adding again after the crashes works and gives the same path as without crashes.
    make_tree(t.path(), 51);
    let p = run_ok(bin, &["--store", root_s, "--add", src_s]);
    let p2 = run_ok(bin, &["--store", root_s, "--add", src_s]);
    assert_eq!(p, p2);
    let p = p.trim();
    let q = run_ok(bin, &["--store", root_s, "--query", "--hash", p]);
    let dump = Command::new(bin).args(["--dump", src_s]).output().unwrap();
    let h = store::Hash::sha256(&dump.stdout);
    assert_eq!(q.trim(), h.to_string());
    // GC removes the debris of the killed processes (their temporaries and unregistered objects).
    run_ok(bin, &["--store", root_s, "--gc"]);
    for e in fs::read_dir(root.join("nix/store")).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!n.starts_with(".rnix-tmp-"), "temporary {n} survived GC");
    }
    let out = Command::new(bin)
        .args(["--store", root_s, "--verify", "--check-contents"])
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// Two processes adding the same tree at once both succeed, with one copy in the store.
pub fn concurrent_adders(bin: &Path) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let root_s = root.to_str().unwrap();
    let src = make_tree(t.path(), 7);
    for round in 0..5 {
        make_tree(t.path(), 100 + round);
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(bin)
                    .args(["--store", root_s, "--add", src.to_str().unwrap()])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        for o in &outs {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        assert_eq!(outs[0].stdout, outs[1].stdout);
    }
    let objects: Vec<_> = fs::read_dir(root.join("nix/store"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(objects.len(), 5, "one copy per distinct tree: {objects:?}");
    let regs = fs::read_dir(root.join("nix/var/rnix/db")).unwrap().count();
    assert_eq!(regs, 5);
    let out = Command::new(bin)
        .args(["--store", root_s, "--verify", "--check-contents"])
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// `--dump`/`--restore`/`--query` formats and errors.
pub fn cli_formats(bin: &Path) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let root_s = root.to_str().unwrap();
    let src = t.path().join("f.txt");
    fs::write(&src, "hello\n").unwrap();
    let p = run_ok(bin, &["--store", root_s, "--add", src.to_str().unwrap()]);
    let p = p.trim();
    assert!(p.starts_with("/nix/store/") && p.ends_with("-f.txt"), "{p}");
    assert_eq!(
        run_ok(bin, &["--store", root_s, "-q", "--deriver", p]),
        "unknown-deriver\n"
    );
    assert_eq!(
        run_ok(bin, &["--store", root_s, "-q", "--references", p]),
        ""
    );
    assert_eq!(
        run_ok(bin, &["--store", root_s, "-q", "-R", p]),
        format!("{p}\n")
    );
    assert_eq!(
        run_ok(bin, &["--store", root_s, "-q", "--size", p]),
        "120\n"
    );
    // physical path and a symlink to it are accepted too
    let phys = root
        .canonicalize()
        .unwrap()
        .join("nix/store")
        .join(&p["/nix/store/".len()..]);
    let link = t.path().join("result");
    std::os::unix::fs::symlink(&phys, &link).unwrap();
    assert_eq!(
        run_ok(
            bin,
            &["--store", root_s, "-q", "--hash", link.to_str().unwrap()]
        ),
        run_ok(bin, &["--store", root_s, "-q", "--hash", p])
    );
    // dump | restore round trip
    let nar = Command::new(bin)
        .args(["--dump", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(nar.status.success());
    let dst = t.path().join("restored");
    let mut c = Command::new(bin)
        .args(["--restore", dst.to_str().unwrap()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(&nar.stdout).unwrap();
    assert!(c.wait().unwrap().success());
    assert_eq!(fs::read(&dst).unwrap(), b"hello\n");
    // corrupt NAR: clear error, non-zero exit, nothing written
    let mut c = Command::new(bin)
        .args(["--restore", t.path().join("bad").to_str().unwrap()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(&nar.stdout[..nar.stdout.len() - 9])
        .unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("truncated"));
    // unknown path
    let o = Command::new(bin)
        .args([
            "--store",
            root_s,
            "-q",
            "--hash",
            "/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-nope",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not valid"));
    let o = Command::new(bin).args(["--frobnicate"]).output().unwrap();
    assert!(!o.status.success());
}
