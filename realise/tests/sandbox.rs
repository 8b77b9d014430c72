//! Sandbox tests: need Linux user namespaces (they fail when CI is set and namespaces
//! are missing; elsewhere they are skipped with a message).

use realise::sandbox::{self, BuildSandbox, Exit};
use std::fs;
use std::os::fd::AsRawFd;

fn ns_or_skip() -> bool {
    if sandbox::namespaces_available() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but Linux user namespaces are not available");
    }
    eprintln!("SKIPPED: Linux user namespaces are not available here");
    false
}

fn host_tools() -> Vec<sandbox::Bind> {
    sandbox::host_paths(&["/bin", "/usr", "/lib", "/lib64"])
}

fn run_script(sb: &BuildSandbox, script: &str) -> (Exit, String) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let env = vec![
        (
            "out".to_string(),
            "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-out".to_string(),
        ),
        ("HOME".to_string(), "/homeless-shelter".to_string()),
        ("PATH".to_string(), "/usr/bin:/bin".to_string()),
    ];
    let exit = sb
        .run(
            vec!["/bin/sh".into(), "-c".into(), script.into()],
            env,
            log.as_file().as_raw_fd(),
        )
        .unwrap();
    (exit, fs::read_to_string(log.path()).unwrap())
}

#[test]
fn sandbox_isolation() {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("nix/store");
    fs::create_dir_all(store.join("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-input")).unwrap();
    fs::write(
        store.join("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-input/data"),
        "input data",
    )
    .unwrap();
    // A secret next to the store that must not be visible.
    fs::write(tmp.path().join("secret"), "secret").unwrap();
    let mut sb = BuildSandbox::new(&tmp.path().join("tmp"), "t", &store).unwrap();
    sb.inputs
        .push("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-input".into());
    sb.extra = host_tools();
    let (exit, log) = run_script(
        &sb,
        r#"
        set -u
        echo "id=$(id -u):$(id -g)"
        echo "pwd=$(pwd)"
        cat /nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-input/data; echo
        if echo x > /nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-input/new 2>/dev/null; then echo INPUT-WRITABLE; fi
        if echo x > /etc/x 2>/dev/null; then echo ROOT-WRITABLE; fi
        if echo x > /usr/x 2>/dev/null; then echo USR-WRITABLE; fi
        if ls /root 2>/dev/null; then echo HOME-READABLE; fi
        if [ -e /work ]; then echo WORK-VISIBLE; fi
        echo "procs=$(ls /proc | grep -c '^[0-9]')"
        echo "hostname=$(cat /proc/sys/kernel/hostname)"
        grep nixbld /etc/passwd
        echo hello > /build/f && echo build-ok
        mkdir $out && echo result > $out/r && echo out-ok
        if echo 1 > /proc/sys/kernel/domainname 2>/dev/null; then echo SYSCTL-WRITABLE; fi
        "#,
    );
    eprintln!("{log}");
    assert_eq!(exit, Exit::Code(0), "{log}");
    assert!(log.contains("id=1000:100"), "{log}");
    assert!(log.contains("pwd=/build"), "{log}");
    assert!(log.contains("input data"), "{log}");
    assert!(log.contains("build-ok") && log.contains("out-ok"), "{log}");
    assert!(log.contains("hostname=localhost"), "{log}");
    assert!(log.contains("nixbld:x:1000:100:"), "{log}");
    for bad in [
        "INPUT-WRITABLE",
        "ROOT-WRITABLE",
        "USR-WRITABLE",
        "HOME-READABLE",
        "WORK-VISIBLE",
        "SYSCTL-WRITABLE",
    ] {
        assert!(!log.contains(bad), "{bad}: {log}");
    }
    // Only the shell and its children are visible.
    let procs: usize = log
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(procs <= 4, "{log}");
    assert_eq!(
        fs::read_to_string(sb.output_path("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-out/r")).unwrap(),
        "result\n"
    );
    assert!(!store
        .join("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-input/new")
        .exists());
}

#[test]
fn sandbox_exit_codes() {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("nix/store");
    fs::create_dir_all(&store).unwrap();
    let mut sb = BuildSandbox::new(&tmp.path().join("tmp"), "t", &store).unwrap();
    sb.extra = host_tools();
    assert_eq!(run_script(&sb, "exit 3").0, Exit::Code(3));
    // pid 1 of the namespace ignores its own SIGKILL; a child killed shows as 137.
    assert_eq!(run_script(&sb, "sh -c 'kill -9 $$'").0, Exit::Code(137));
    // A missing builder is a setup error.
    let log = tempfile::NamedTempFile::new().unwrap();
    let err = sb
        .run(
            vec!["/nonexistent".into()],
            vec![],
            log.as_file().as_raw_fd(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent"), "{err}");
}

#[test]
fn run_in_root_runs_as_root_in_the_given_tree() {
    if !ns_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("nix/store");
    let sp = "cccccccccccccccccccccccccccccccc-tool";
    fs::create_dir_all(store.join(sp)).unwrap();
    fs::write(store.join(sp).join("data"), "from the store").unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let exit = sandbox::run_in_root(
        &root,
        &store,
        &[format!("/nix/store/{sp}")],
        vec![
            "/bin/sh".into(),
            "-c".into(),
            "set -e; echo uid=$(id -u); cat /nix/store/cccccccccccccccccccccccccccccccc-tool/data; echo; \
             mkdir -p /app && echo hi > /app/f && chown 0:0 /app/f && chmod 600 /app/f; \
             if echo x > /nix/store/cccccccccccccccccccccccccccccccc-tool/new 2>/dev/null; then echo STORE-WRITABLE; fi"
                .into(),
        ],
        vec![("PATH".into(), "/usr/bin:/bin".into())],
        host_tools(),
        log.as_file().as_raw_fd(),
    )
    .unwrap();
    let out = fs::read_to_string(log.path()).unwrap();
    assert_eq!(exit, Exit::Code(0), "{out}");
    assert!(out.contains("uid=0"), "{out}");
    assert!(out.contains("from the store"), "{out}");
    assert!(!out.contains("STORE-WRITABLE"), "{out}");
    assert_eq!(fs::read_to_string(root.join("app/f")).unwrap(), "hi\n");
    // Mount points created for the run are gone; the tree holds only what the script made.
    let mut names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["app", "etc"]);
    assert!(!store.join(sp).join("new").exists());
}
