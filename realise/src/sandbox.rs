//! Running programs in Linux namespaces, like Nix's build sandbox.
//!
//! The low-level entry point is [`run_namespaced`]: it forks a helper process that
//! unshares user, mount, pid, ipc, uts (and network, unless asked not to) namespaces,
//! maps one uid/gid onto the caller's own, forks the program as pid 1 of the new pid
//! namespace, sets up its mounts, pivots into the new root and execs.
//!
//! On top of it:
//! * [`BuildSandbox`] builds a fresh root for a derivation builder: the input closure
//!   bind-mounted read-only at `/nix/store/<name>`, a writable `/nix/store` for the
//!   outputs, `/build` as the build directory, a minimal `/dev`, `/proc`, `/etc/passwd`
//!   and `/etc/group` with `nixbld`, `/etc/hosts`, and the configured sandbox paths
//!   (for instance `/bin/sh`).
//! * [`run_in_root`] runs a program as uid 0 with a caller-provided directory as `/`
//!   (dockerTools' `runAsRoot`).

use anyhow::{anyhow, bail, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// uid the builder sees inside the sandbox (as in Nix).
pub const SANDBOX_UID: u32 = 1000;
/// gid the builder sees inside the sandbox (as in Nix).
pub const SANDBOX_GID: u32 = 100;

/// One bind mount into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Host path (followed if it is a symlink, unless `copy_symlink`).
    pub source: PathBuf,
    /// Absolute path inside the sandbox.
    pub target: PathBuf,
    pub writable: bool,
}

impl Bind {
    pub fn ro(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Bind {
        Bind {
            source: source.into(),
            target: target.into(),
            writable: false,
        }
    }
    pub fn rw(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Bind {
        Bind {
            source: source.into(),
            target: target.into(),
            writable: true,
        }
    }
}

/// Everything [`run_namespaced`] needs.
#[derive(Debug, Clone)]
pub struct NsConfig {
    /// Directory that becomes `/`.
    pub root: PathBuf,
    /// Remount `/` read-only after all mounts are set up.
    pub root_readonly: bool,
    /// A tmpfs mounted at `/nix/store` before the binds (used by [`run_in_root`]).
    pub store_tmpfs: bool,
    /// Bind mounts, applied in order (mount points are created as needed).
    pub binds: Vec<Bind>,
    /// Symlinks to create inside the sandbox after the binds (target path, link text);
    /// used for store paths that are themselves symlinks.
    pub symlinks: Vec<(PathBuf, PathBuf)>,
    /// Mount a minimal `/dev` (tmpfs with host device nodes bound in).
    pub dev: bool,
    /// Mount a fresh `/proc`.
    pub proc_: bool,
    /// Share the host network namespace (fixed-output derivations).
    pub network: bool,
    /// uid/gid seen inside.
    pub uid: u32,
    pub gid: u32,
    pub hostname: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Working directory inside the sandbox.
    pub cwd: PathBuf,
}

impl NsConfig {
    pub fn new(root: impl Into<PathBuf>, argv: Vec<String>) -> NsConfig {
        NsConfig {
            root: root.into(),
            root_readonly: false,
            store_tmpfs: false,
            binds: Vec::new(),
            symlinks: Vec::new(),
            dev: true,
            proc_: true,
            network: false,
            uid: SANDBOX_UID,
            gid: SANDBOX_GID,
            hostname: "localhost".into(),
            argv,
            env: Vec::new(),
            cwd: PathBuf::from("/"),
        }
    }
}

/// How a sandboxed program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn success(&self) -> bool {
        *self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with code {c}"),
            Exit::Signal(s) => write!(f, "was killed by signal {s}"),
        }
    }
}

/// Whether user namespaces (with mount, pid, net, ipc, uts) can be created here.
/// Probed once per process by forking a child that tries.
pub fn namespaces_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if std::env::var_os("RNIX_NO_SANDBOX").is_some() {
            return false;
        }
        // SAFETY: the child only calls async-signal-safe functions before _exit.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                let flags = CloneFlags::CLONE_NEWUSER
                    | CloneFlags::CLONE_NEWNS
                    | CloneFlags::CLONE_NEWPID
                    | CloneFlags::CLONE_NEWNET
                    | CloneFlags::CLONE_NEWIPC
                    | CloneFlags::CLONE_NEWUTS;
                let code = if unshare(flags).is_ok() { 0 } else { 1 };
                unsafe { libc::_exit(code) }
            }
            Ok(ForkResult::Parent { child }) => {
                matches!(waitpid(child, None), Ok(WaitStatus::Exited(_, 0)))
            }
            Err(_) => false,
        }
    })
}

/// Prints, once per process, that builds run without a sandbox.
pub fn warn_no_sandbox_once(reason: &str) {
    static WARNED: OnceLock<()> = OnceLock::new();
    WARNED.get_or_init(|| {
        rnix_util::errln!(
            "warning: cannot create Linux namespaces ({reason}); building without a sandbox"
        );
    });
}

struct Prepared {
    root: CString,
    binds: Vec<(CString, CString, bool, bool, MsFlags)>, // source, target, writable, is_dir, locked flags
    symlinks: Vec<(CString, CString)>,
    mkdirs_store: Option<CString>,
    dev: Option<Vec<(CString, CString)>>,
    dev_root: CString,
    proc_dir: CString,
    proc_sys: CString,
    proc_: bool,
    argv: Vec<CString>,
    env: Vec<CString>,
    cwd: CString,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    hostname: String,
}

fn cstr(p: impl AsRef<std::ffi::OsStr>) -> Result<CString> {
    CString::new(p.as_ref().as_bytes()).map_err(|_| anyhow!("path contains a NUL byte"))
}

fn join_root(root: &Path, inner: &Path) -> PathBuf {
    let rel = inner.strip_prefix("/").unwrap_or(inner);
    root.join(rel)
}

/// Flags of the mount holding `p` that an unprivileged remount must keep.
fn locked_flags(p: &Path) -> MsFlags {
    let mut f = MsFlags::empty();
    if let Ok(st) = nix::sys::statvfs::statvfs(p) {
        use nix::sys::statvfs::FsFlags;
        let fl = st.flags();
        if fl.contains(FsFlags::ST_NOSUID) {
            f |= MsFlags::MS_NOSUID;
        }
        if fl.contains(FsFlags::ST_NODEV) {
            f |= MsFlags::MS_NODEV;
        }
        if fl.contains(FsFlags::ST_NOEXEC) {
            f |= MsFlags::MS_NOEXEC;
        }
        if fl.contains(FsFlags::ST_NOATIME) {
            f |= MsFlags::MS_NOATIME;
        }
        if fl.contains(FsFlags::ST_NODIRATIME) {
            f |= MsFlags::MS_NODIRATIME;
        }
        if fl.contains(FsFlags::ST_RELATIME) {
            f |= MsFlags::MS_RELATIME;
        }
    }
    f
}

fn prepare(cfg: &NsConfig) -> Result<Prepared> {
    if cfg.argv.is_empty() {
        bail!("no program to run");
    }
    let mut binds = Vec::new();
    for b in &cfg.binds {
        let meta = fs::metadata(&b.source)
            .with_context(|| format!("sandbox path '{}' does not exist", b.source.display()))?;
        binds.push((
            cstr(&b.source)?,
            cstr(join_root(&cfg.root, &b.target))?,
            b.writable,
            meta.is_dir(),
            locked_flags(&b.source),
        ));
    }
    let symlinks = cfg
        .symlinks
        .iter()
        .map(|(t, l)| Ok((cstr(join_root(&cfg.root, t))?, cstr(l)?)))
        .collect::<Result<Vec<_>>>()?;
    let dev = if cfg.dev {
        let mut v = Vec::new();
        for d in ["null", "zero", "full", "random", "urandom", "tty"] {
            let host = Path::new("/dev").join(d);
            if host.exists() {
                v.push((cstr(&host)?, cstr(cfg.root.join("dev").join(d))?));
            }
        }
        Some(v)
    } else {
        None
    };
    let euid = nix::unistd::geteuid().as_raw();
    let egid = nix::unistd::getegid().as_raw();
    let mut env = Vec::new();
    for (k, v) in &cfg.env {
        // derivation strings carry non-UTF-8 bytes as reserved characters: pass the bytes
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(&store::derivation::field_bytes(v));
        env.push(CString::new(kv).map_err(|_| anyhow!("NUL in environment"))?);
    }
    Ok(Prepared {
        root: cstr(&cfg.root)?,
        binds,
        symlinks,
        mkdirs_store: if cfg.store_tmpfs {
            Some(cstr(cfg.root.join("nix/store"))?)
        } else {
            None
        },
        dev,
        dev_root: cstr(cfg.root.join("dev"))?,
        proc_dir: cstr(cfg.root.join("proc"))?,
        proc_sys: cstr(cfg.root.join("proc/sys"))?,
        proc_: cfg.proc_,
        argv: cfg
            .argv
            .iter()
            .map(|a| {
                CString::new(store::derivation::field_bytes(a).into_owned())
                    .map_err(|_| anyhow!("NUL in argument"))
            })
            .collect::<Result<_>>()?,
        env,
        cwd: cstr(&cfg.cwd)?,
        uid_map: format!("{} {} 1\n", cfg.uid, euid).into_bytes(),
        gid_map: format!("{} {} 1\n", cfg.gid, egid).into_bytes(),
        hostname: cfg.hostname.clone(),
    })
}

fn write_file(path: &str, data: &[u8]) -> std::result::Result<(), String> {
    fs::write(path, data).map_err(|e| format!("writing {path}: {e}"))
}

fn mkdir_p(p: &CString) -> std::result::Result<(), String> {
    let path = Path::new(std::ffi::OsStr::from_bytes(p.as_bytes()));
    fs::create_dir_all(path).map_err(|e| format!("creating {}: {e}", path.display()))
}

fn ensure_file(p: &CString) -> std::result::Result<(), String> {
    let path = Path::new(std::ffi::OsStr::from_bytes(p.as_bytes()));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    if fs::symlink_metadata(path).is_err() {
        fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    }
    Ok(())
}

fn m(
    src: Option<&CString>,
    target: &CString,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> std::result::Result<(), String> {
    mount(
        src.map(|s| s.as_c_str()),
        target.as_c_str(),
        fstype,
        flags,
        data,
    )
    .map_err(|e| format!("mounting {:?} on {:?}: {e}", src, target))
}

/// Brings the loopback interface up in a fresh network namespace.
fn loopback_up() {
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return;
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as i16;
        libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &ifr);
        libc::close(fd);
    }
}

/// Code of the process that becomes pid 1 of the new pid namespace. Returns only on error.
fn inner_child(p: &Prepared, network: bool, root_readonly: bool, log_fd: RawFd) -> String {
    let r = (|| -> std::result::Result<(), String> {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("prctl: {e}"))?;
        nix::unistd::setsid().ok();
        m(
            None,
            &cstr("/").unwrap(),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        )?;
        m(
            Some(&p.root),
            &p.root,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        if let Some(store) = &p.mkdirs_store {
            mkdir_p(store)?;
            m(
                Some(&cstr("tmpfs").unwrap()),
                store,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some("mode=1775"),
            )?;
        }
        for (src, target, writable, is_dir, locked) in &p.binds {
            if *is_dir {
                mkdir_p(target)?;
            } else {
                ensure_file(target)?;
            }
            m(
                Some(src),
                target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            if !writable {
                m(
                    None,
                    target,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | *locked,
                    None,
                )?;
            }
        }
        for (target, link) in &p.symlinks {
            let t = Path::new(std::ffi::OsStr::from_bytes(target.as_bytes()));
            if let Some(parent) = t.parent() {
                fs::create_dir_all(parent).map_err(|e| format!("creating {parent:?}: {e}"))?;
            }
            let l = Path::new(std::ffi::OsStr::from_bytes(link.as_bytes()));
            symlink(l, t).map_err(|e| format!("creating symlink {t:?}: {e}"))?;
        }
        if let Some(devs) = &p.dev {
            mkdir_p(&p.dev_root)?;
            m(
                Some(&cstr("tmpfs").unwrap()),
                &p.dev_root,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("mode=0755"),
            )?;
            for (src, target) in devs {
                ensure_file(target)?;
                m(Some(src), target, None, MsFlags::MS_BIND, None)?;
            }
            let dev = Path::new(std::ffi::OsStr::from_bytes(p.dev_root.as_bytes()));
            let _ = symlink("/proc/self/fd", dev.join("fd"));
            let _ = symlink("/proc/self/fd/0", dev.join("stdin"));
            let _ = symlink("/proc/self/fd/1", dev.join("stdout"));
            let _ = symlink("/proc/self/fd/2", dev.join("stderr"));
            let shm = cstr(dev.join("shm")).unwrap();
            mkdir_p(&shm)?;
            m(
                Some(&cstr("tmpfs").unwrap()),
                &shm,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some("mode=1777"),
            )?;
            let pts = cstr(dev.join("pts")).unwrap();
            mkdir_p(&pts)?;
            if m(
                Some(&cstr("devpts").unwrap()),
                &pts,
                Some("devpts"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("newinstance,mode=0620,ptmxmode=0666"),
            )
            .is_ok()
            {
                let _ = symlink("/dev/pts/ptmx", dev.join("ptmx"));
            }
        }
        Ok(())
    })();
    if let Err(e) = r {
        return e;
    }
    let r = (|| -> std::result::Result<(), String> {
        if p.proc_ {
            mkdir_p(&p.proc_dir)?;
            m(
                Some(&cstr("proc").unwrap()),
                &p.proc_dir,
                Some("proc"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None,
            )?;
            // /proc/sys belongs to the host: keep it read-only.
            m(
                Some(&p.proc_sys),
                &p.proc_sys,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            m(
                None,
                &p.proc_sys,
                None,
                MsFlags::MS_BIND
                    | MsFlags::MS_REMOUNT
                    | MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC,
                None,
            )?;
        }
        nix::unistd::sethostname(&p.hostname).map_err(|e| format!("sethostname: {e}"))?;
        if !network {
            loopback_up();
        }
        nix::unistd::chdir(p.root.as_c_str()).map_err(|e| format!("chdir root: {e}"))?;
        nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("umount old root: {e}"))?;
        nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;
        if root_readonly {
            let locked = locked_flags(Path::new("/"));
            m(
                None,
                &cstr("/").unwrap(),
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked,
                None,
            )?;
        }
        nix::unistd::chdir(p.cwd.as_c_str()).map_err(|e| format!("chdir {:?}: {e}", p.cwd))?;
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        // stdin from /dev/null, stdout and stderr to the log.
        let null = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::empty(),
        );
        if let Ok(fd) = null {
            let _ = nix::unistd::dup2(fd, 0);
        }
        nix::unistd::dup2(log_fd, 1).map_err(|e| format!("dup2: {e}"))?;
        nix::unistd::dup2(log_fd, 2).map_err(|e| format!("dup2: {e}"))?;
        unsafe {
            // Close every other descriptor at exec.
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                4u32, /* CLOSE_RANGE_CLOEXEC */
            );
        }
        let err = nix::unistd::execve(&p.argv[0], &p.argv, &p.env).unwrap_err();
        Err(format!(
            "executing '{}': {err}",
            p.argv[0].to_string_lossy()
        ))
    })();
    match r {
        Err(e) => e,
        Ok(()) => "exec returned".into(),
    }
}

fn pipe_cloexec() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((r, w))
}

/// Sets up a process killed when `run_namespaced` is abandoned.
pub struct Running {
    helper: Pid,
}

impl Running {
    /// The process whose death ends the sandbox (all of it: its children die with it).
    pub fn pid(&self) -> i32 {
        self.helper.as_raw()
    }
    pub fn kill(&self) {
        let _ = nix::sys::signal::kill(self.helper, Signal::SIGKILL);
    }
}

/// Runs `cfg.argv` inside new namespaces. Output (stdout and stderr) goes to `log_fd`.
/// Errors are setup failures; the program's own failure is an [`Exit`].
pub fn run_namespaced(cfg: &NsConfig, log_fd: RawFd) -> Result<Exit> {
    run_namespaced_with(cfg, log_fd, |_| {})
}

/// As [`run_namespaced`], calling `started` with a handle that can kill the sandbox.
pub fn run_namespaced_with(
    cfg: &NsConfig,
    log_fd: RawFd,
    started: impl FnOnce(&Running),
) -> Result<Exit> {
    let prepared = prepare(cfg)?;
    let (err_r, err_w) = pipe_cloexec()?;
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    if !cfg.network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let network = cfg.network;
    let root_ro = cfg.root_readonly;
    // SAFETY: after fork the helper only runs code that does not depend on other threads.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Child => {
            drop(err_r);
            let mut errw = unsafe { fs::File::from_raw_fd(err_w.as_raw_fd()) };
            std::mem::forget(err_w);
            let fail = |errw: &mut fs::File, msg: String| -> ! {
                let _ = errw.write_all(msg.as_bytes());
                unsafe { libc::_exit(126) }
            };
            if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
                fail(&mut errw, format!("prctl: {e}"));
            }
            if let Err(e) = unshare(flags) {
                fail(&mut errw, format!("unshare: {e}"));
            }
            if let Err(e) = write_file("/proc/self/setgroups", b"deny") {
                fail(&mut errw, e);
            }
            if let Err(e) = write_file("/proc/self/uid_map", &prepared.uid_map) {
                fail(&mut errw, e);
            }
            if let Err(e) = write_file("/proc/self/gid_map", &prepared.gid_map) {
                fail(&mut errw, e);
            }
            match unsafe { fork() } {
                Err(e) => fail(&mut errw, format!("fork: {e}")),
                Ok(ForkResult::Child) => {
                    let msg = inner_child(&prepared, network, root_ro, log_fd);
                    fail(&mut errw, msg);
                }
                Ok(ForkResult::Parent { child }) => {
                    drop(errw);
                    // This helper only waits: drop every inherited descriptor (other builds'
                    // log pipes among them, which would otherwise stay open until we exit).
                    unsafe {
                        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                    }
                    loop {
                        match waitpid(child, None) {
                            Ok(WaitStatus::Exited(_, c)) => unsafe { libc::_exit(c) },
                            Ok(WaitStatus::Signaled(_, s, _)) => unsafe {
                                // Die of the same signal so the caller sees it.
                                libc::signal(s as i32, libc::SIG_DFL);
                                libc::raise(s as i32);
                                libc::_exit(128 + s as i32)
                            },
                            Ok(_) => continue,
                            Err(nix::errno::Errno::EINTR) => continue,
                            Err(_) => unsafe { libc::_exit(125) },
                        }
                    }
                }
            }
        }
        ForkResult::Parent { child } => {
            drop(err_w);
            let running = Running { helper: child };
            started(&running);
            let mut msg = String::new();
            let _ = fs::File::from(err_r).read_to_string(&mut msg);
            let status = loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, c)) => break Exit::Code(c),
                    Ok(WaitStatus::Signaled(_, s, _)) => break Exit::Signal(s as i32),
                    Ok(_) => continue,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => bail!("waitpid: {e}"),
                }
            };
            if !msg.is_empty() {
                bail!("sandbox setup failed: {msg}");
            }
            Ok(status)
        }
    }
}

/// Nix's `/etc/passwd` inside the sandbox.
pub fn etc_passwd(uid: u32, gid: u32) -> String {
    format!(
        "root:x:0:0:Nix build user:/build:/noshell\n\
         nixbld:x:{uid}:{gid}:Nix build user:/build:/noshell\n\
         nobody:x:65534:65534:Nobody:/:/noshell\n"
    )
}

/// Nix's `/etc/group` inside the sandbox.
pub fn etc_group(gid: u32) -> String {
    format!("root:x:0:\nnixbld:!:{gid}:\nnogroup:x:65534:\n")
}

/// A fresh sandbox root for one build, under a temporary directory.
///
/// Layout of the temporary directory `T`:
/// `T/root` becomes `/`, `T/store` is bound at `/nix/store` (writable: outputs are
/// created there, see [`BuildSandbox::output_path`]), `T/build` is bound at `/build`.
pub struct BuildSandbox {
    pub dir: PathBuf,
    /// Physical store directory (`ROOT/nix/store`) holding the inputs.
    pub physical_store: PathBuf,
    /// Logical store dir, `/nix/store`.
    pub store_dir: PathBuf,
    /// Base names of the store paths visible in the sandbox.
    pub inputs: Vec<String>,
    /// Extra host paths (target inside, source on the host), like Nix's `sandbox-paths`.
    pub extra: Vec<Bind>,
    /// Symlinks created inside (path, target), e.g. `/bin/sh` -> a store path.
    pub symlinks: Vec<(PathBuf, PathBuf)>,
    /// Fixed-output: share the network and the host's resolver configuration.
    pub network: bool,
    /// Keep the directory on drop.
    pub keep: bool,
}

impl BuildSandbox {
    /// Creates `T` under `tmp_base` (which should be on the same file system as the store,
    /// so that outputs can be moved into place with `rename`).
    pub fn new(tmp_base: &Path, name: &str, physical_store: &Path) -> Result<BuildSandbox> {
        fs::create_dir_all(tmp_base).with_context(|| format!("creating {}", tmp_base.display()))?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("rnix-build-{name}-"))
            .tempdir_in(tmp_base)?
            .keep();
        for d in ["root", "store", "build", "root/etc"] {
            fs::create_dir_all(dir.join(d))?;
        }
        fs::set_permissions(dir.join("store"), fs::Permissions::from_mode(0o1775))?;
        fs::set_permissions(dir.join("build"), fs::Permissions::from_mode(0o700))?;
        fs::write(
            dir.join("root/etc/passwd"),
            etc_passwd(SANDBOX_UID, SANDBOX_GID),
        )?;
        fs::write(dir.join("root/etc/group"), etc_group(SANDBOX_GID))?;
        fs::write(
            dir.join("root/etc/hosts"),
            "127.0.0.1 localhost\n::1 localhost\n",
        )?;
        Ok(BuildSandbox {
            dir,
            physical_store: physical_store.to_path_buf(),
            store_dir: PathBuf::from("/nix/store"),
            inputs: Vec::new(),
            extra: Vec::new(),
            symlinks: Vec::new(),
            network: false,
            keep: false,
        })
    }

    /// Host directory bound at `/build`.
    pub fn build_dir(&self) -> PathBuf {
        self.dir.join("build")
    }

    /// Host path where the builder's `/nix/store/<base>` (an output) ends up.
    pub fn output_path(&self, base: &str) -> PathBuf {
        self.dir.join("store").join(base)
    }

    /// The namespace configuration for running `argv` with `env` in `/build`.
    pub fn ns_config(&self, argv: Vec<String>, env: Vec<(String, String)>) -> Result<NsConfig> {
        let mut cfg = NsConfig::new(self.dir.join("root"), argv);
        cfg.root_readonly = true;
        cfg.network = self.network;
        cfg.env = env;
        cfg.cwd = PathBuf::from("/build");
        cfg.binds
            .push(Bind::rw(self.dir.join("store"), self.store_dir.clone()));
        cfg.binds.push(Bind::rw(self.build_dir(), "/build"));
        for base in &self.inputs {
            let src = self.physical_store.join(base);
            let target = self.store_dir.join(base);
            let meta = fs::symlink_metadata(&src)
                .with_context(|| format!("input '{}' is not in the store", src.display()))?;
            if meta.file_type().is_symlink() {
                cfg.symlinks.push((target, fs::read_link(&src)?));
            } else {
                cfg.binds.push(Bind::ro(src, target));
            }
        }
        if self.network {
            for f in ["/etc/resolv.conf", "/etc/services", "/etc/hosts"] {
                if Path::new(f).exists() {
                    cfg.binds.push(Bind::ro(f, f));
                }
            }
        }
        for b in &self.extra {
            cfg.binds.push(b.clone());
        }
        cfg.symlinks.extend(self.symlinks.iter().cloned());
        Ok(cfg)
    }

    /// Runs `argv` in the sandbox, output to `log_fd`.
    pub fn run(
        &self,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        log_fd: RawFd,
    ) -> Result<Exit> {
        self.run_with(argv, env, log_fd, |_| {})
    }

    /// As [`BuildSandbox::run`], calling `started` once the sandbox's process exists.
    pub fn run_with(
        &self,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        log_fd: RawFd,
        started: impl FnOnce(&Running),
    ) -> Result<Exit> {
        let cfg = self.ns_config(argv, env)?;
        run_namespaced_with(&cfg, log_fd, started)
    }

    /// Removes the temporary directory now.
    pub fn remove(&mut self) -> Result<()> {
        if self.dir.exists() {
            make_writable(&self.dir);
            fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing {}", self.dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for BuildSandbox {
    fn drop(&mut self) {
        if !self.keep {
            let _ = self.remove();
        }
    }
}

/// Adds owner write permission to every directory below `p` (so it can be deleted).
pub fn make_writable(p: &Path) {
    if let Ok(meta) = fs::symlink_metadata(p) {
        if meta.is_dir() {
            let mode = meta.permissions().mode();
            if mode & 0o700 != 0o700 {
                let _ = fs::set_permissions(p, fs::Permissions::from_mode(mode | 0o700));
            }
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}

/// Bind mounts for host tools, for tests and for `sandbox-paths`-style configuration:
/// each host path is bound read-only at the same place.
pub fn host_paths(paths: &[&str]) -> Vec<Bind> {
    paths
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| Bind::ro(*p, *p))
        .collect()
}

/// Runs `argv` as uid 0 with `root_dir` as `/` (dockerTools' `runAsRoot`).
///
/// `store_paths` (logical `/nix/store/...` paths) are bound read-only over a tmpfs at
/// `/nix/store`, from `physical_store/<base>`. `extra_binds` are added as given.
/// `/dev` and `/proc` are mounted; directories that had to be created for them in
/// `root_dir` are removed afterwards. Output goes to `log_fd`.
pub fn run_in_root(
    root_dir: &Path,
    physical_store: &Path,
    store_paths: &[String],
    argv: Vec<String>,
    env: Vec<(String, String)>,
    extra_binds: Vec<Bind>,
    log_fd: RawFd,
) -> Result<Exit> {
    if !namespaces_available() {
        bail!("run_in_root needs Linux user namespaces, which cannot be created here");
    }
    // Mount points this call creates in `root_dir` are removed afterwards (when empty).
    let mut created: Vec<PathBuf> = Vec::new();
    let mut note = |inner: &Path| {
        let mut p = root_dir.to_path_buf();
        for c in inner.strip_prefix("/").unwrap_or(inner).components() {
            p.push(c);
            if fs::symlink_metadata(&p).is_err() && !created.contains(&p) {
                created.push(p.clone());
            }
        }
    };
    for d in ["/dev", "/proc", "/nix/store"] {
        note(Path::new(d));
    }
    for b in &extra_binds {
        note(&b.target);
    }
    let mut cfg = NsConfig::new(root_dir, argv);
    cfg.uid = 0;
    cfg.gid = 0;
    cfg.env = env;
    cfg.store_tmpfs = true;
    for sp in store_paths {
        let base = sp
            .strip_prefix("/nix/store/")
            .ok_or_else(|| anyhow!("'{sp}' is not in /nix/store"))?;
        let base = base.split('/').next().unwrap_or(base);
        let src = physical_store.join(base);
        let meta = fs::symlink_metadata(&src)
            .with_context(|| format!("'{}' is not in the store", src.display()))?;
        let target = PathBuf::from("/nix/store").join(base);
        if meta.file_type().is_symlink() {
            cfg.symlinks.push((target, fs::read_link(&src)?));
        } else {
            cfg.binds.push(Bind::ro(src, target));
        }
    }
    cfg.binds.extend(extra_binds);
    let r = run_namespaced(&cfg, log_fd);
    // Remove what we created, deepest first (only if still empty).
    created.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in created {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                let _ = fs::remove_dir(&p);
            }
            Ok(m) if m.is_file() && m.len() == 0 => {
                let _ = fs::remove_file(&p);
            }
            _ => {}
        }
    }
    r
}
