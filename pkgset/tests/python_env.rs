//! Builds a Python environment with fastapi and uvicorn from real wheels on top of Debian's
//! python3.11 in a temporary store, byte-compiles it in a namespace, and runs
//! `python3 -c 'import fastapi, uvicorn, ssl'` and `uvicorn --version` with only the store at
//! `/nix/store`, both directly and through an image-like root whose `/bin` links into the env.

mod deb_support;

use std::fs;
use std::os::unix::fs::symlink;

use deb_support::*;
use pkgset::builders::StoreObject;
use pkgset::python::{build_python_env, compile_argv, compile_env, PythonEnvBuild, SITE_DIR};

const WHEELS: &[&str] = &[
    "fastapi",
    "uvicorn",
    "pydantic",
    "pydantic-core",
    "starlette",
    "anyio",
    "idna",
    "sniffio",
    "typing-extensions",
    "annotated-types",
    "h11",
    "click",
];

#[test]
fn fastapi_uvicorn_env_runs() {
    if !realise::sandbox::namespaces_available() {
        return unavailable("Linux user namespaces");
    }
    let mut ts = TestStore::new(debian_packages(&[
        "libc6",
        "python3.11-minimal",
        "libpython3.11-minimal",
        "libpython3.11-stdlib",
        "libgcc-s1",
    ]));
    let pins = wheels(WHEELS);
    let mut wheel_files = Vec::new();
    for w in WHEELS {
        match fetch(&pins[*w]) {
            Ok(p) => wheel_files.push(p),
            Err(e) => return unavailable(&format!("downloading wheel {w}: {e:#}")),
        }
    }
    let python = match ts.build("python311") {
        Ok(p) => p,
        Err(e) if format!("{e:#}").contains("downloading") => {
            return unavailable(&format!("{e:#}"))
        }
        Err(e) => panic!("{e:#}"),
    };
    let glibc = ts.build("glibc").unwrap();
    let gcc = ts.build("libgcc-s1").unwrap();

    let logical = logical_path("python3.11-3.11.2-env");
    let out = StoreObject::new(
        &logical,
        ts.store_dir()
            .join(logical.trim_start_matches("/nix/store/")),
    );
    let report = build_python_env(&PythonEnvBuild {
        python: python.clone(),
        wheels: wheel_files,
        deps: vec![glibc.clone(), gcc.clone()],
        python_version: "3.11".into(),
        out: out.clone(),
    })
    .unwrap();
    assert_eq!(report.installed.len(), WHEELS.len());
    assert!(
        report.scripts.contains(&"uvicorn".to_string()),
        "{:?}",
        report.scripts
    );
    // pydantic-core's extension links libgcc_s from the store.
    let so = report
        .patched
        .iter()
        .find(|p| p.path.starts_with("pydantic_core/"))
        .expect("pydantic_core .so patched");
    assert!(
        so.runpath
            .contains(&format!("{}/lib", gcc.logical.display())),
        "{so:?}"
    );
    assert!(
        so.runpath
            .contains(&format!("{}/lib", glibc.logical.display())),
        "{so:?}"
    );
    let script = fs::read_to_string(out.real.join("bin/uvicorn")).unwrap();
    assert!(
        script.starts_with(&format!("#!{logical}/bin/python3.11\n")),
        "{script}"
    );

    // The closure of the environment: itself, python311's closure, libgcc-s1.
    let mut closure = ts.closure_paths("python311");
    closure.push(gcc.logical.display().to_string());
    let mut with_env = closure.clone();
    with_env.push(logical.clone());

    // Byte-compile with the env's interpreter; the output is writable at its logical path.
    let root = tempfile::tempdir().unwrap();
    let argv = compile_argv(&out.logical, "3.11");
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let env = compile_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (ok, log) = run_in(
        root.path(),
        &ts.store_dir(),
        &closure,
        &argv,
        &env,
        vec![realise::sandbox::Bind::rw(&out.real, &logical)],
    )
    .unwrap();
    assert!(ok, "compileall failed: {log}");
    let pyc = out
        .real
        .join(SITE_DIR)
        .join("fastapi/__pycache__/applications.cpython-311.pyc");
    let data = fs::read(&pyc).unwrap_or_else(|e| panic!("{}: {e}", pyc.display()));
    assert_eq!(data[4] & 1, 1, "pyc is not hash-based");

    let py = format!("{logical}/bin/python3");
    let (ok, out_s) = run_isolated(&ts.store_dir(), &with_env, &[&py, "-c", "import fastapi, uvicorn, ssl, pydantic_core, sys; print('ok', fastapi.__version__, sys.prefix)"], &[]).unwrap();
    assert!(ok && out_s.contains("ok 0.104.1"), "import: {out_s}");
    assert!(
        out_s.contains(&logical),
        "sys.prefix is not the env: {out_s}"
    );
    let (ok, out_s) = run_isolated(
        &ts.store_dir(),
        &with_env,
        &[&format!("{logical}/bin/uvicorn"), "--version"],
        &[],
    )
    .unwrap();
    assert!(
        ok && out_s.contains("Running uvicorn 0.24.0"),
        "uvicorn --version: {out_s}"
    );

    // As in an image: /bin/* link into the env's bin.
    let img = tempfile::tempdir().unwrap();
    fs::create_dir(img.path().join("bin")).unwrap();
    for p in ["python3", "uvicorn"] {
        symlink(format!("{logical}/bin/{p}"), img.path().join("bin").join(p)).unwrap();
    }
    let (ok, out_s) = run_in(
        img.path(),
        &ts.store_dir(),
        &with_env,
        &[
            "/bin/python3",
            "-c",
            "import fastapi, uvicorn, ssl; print('ok')",
        ],
        &[],
        vec![],
    )
    .unwrap();
    assert!(ok && out_s.contains("ok"), "/bin/python3: {out_s}");
    let (ok, out_s) = run_in(
        img.path(),
        &ts.store_dir(),
        &with_env,
        &["/bin/uvicorn", "--version"],
        &[],
        vec![],
    )
    .unwrap();
    assert!(
        ok && out_s.contains("Running uvicorn"),
        "/bin/uvicorn: {out_s}"
    );
}

fn wheel_with(
    files: &[(&str, &[u8])],
    record: Option<String>,
) -> (tempfile::TempDir, std::path::PathBuf) {
    use sha2::Digest;
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("demo-1.0-py3-none-any.whl");
    let mut z = zip::ZipWriter::new(fs::File::create(&p).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let mut rec = String::new();
    for (name, data) in files {
        z.start_file(*name, opts).unwrap();
        z.write_all(data).unwrap();
        let h = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            sha2::Sha256::digest(data),
        );
        rec.push_str(&format!("{name},sha256={h},{}\n", data.len()));
    }
    rec.push_str("demo-1.0.dist-info/RECORD,,\n");
    z.start_file("demo-1.0.dist-info/RECORD", opts).unwrap();
    z.write_all(record.unwrap_or(rec).as_bytes()).unwrap();
    z.finish().unwrap();
    (dir, p)
}

fn fake_python(dir: &std::path::Path) -> StoreObject {
    let py = dir.join("python");
    fs::create_dir_all(py.join("bin")).unwrap();
    fs::create_dir_all(py.join("lib/python3.11")).unwrap();
    fs::write(py.join("bin/python3.11"), b"not really python").unwrap();
    fs::write(py.join("lib/python3.11/os.py"), b"").unwrap();
    StoreObject::new("/nix/store/00000000000000000000000000000000-python3", py)
}

#[test]
fn wheel_install_layout_and_bad_wheels() {
    let good: &[(&str, &[u8])] = &[
        ("demo/__init__.py", b"def main():\n    return 0\n"),
        (
            "demo-1.0.data/scripts/demo-tool",
            b"#!python\nprint('hi')\n",
        ),
        ("demo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
        (
            "demo-1.0.dist-info/entry_points.txt",
            b"[console_scripts]\ndemo = demo:main\n",
        ),
    ];
    let (d, whl) = wheel_with(good, None);
    let out = StoreObject::new(
        "/nix/store/11111111111111111111111111111111-env",
        d.path().join("env"),
    );
    let b = PythonEnvBuild {
        python: fake_python(d.path()),
        wheels: vec![whl],
        deps: vec![],
        python_version: "3.11".into(),
        out: out.clone(),
    };
    let r = build_python_env(&b).unwrap();
    assert_eq!(r.installed, vec![("demo".to_string(), "1.0".to_string())]);
    assert!(out
        .real
        .join("lib/python3/dist-packages/demo/__init__.py")
        .is_file());
    assert!(out
        .real
        .join("lib/python3/dist-packages/demo-1.0.dist-info/INSTALLER")
        .is_file());
    assert_eq!(
        fs::read_link(out.real.join("lib/python3.11")).unwrap(),
        std::path::Path::new("/nix/store/00000000000000000000000000000000-python3/lib/python3.11")
    );
    assert_eq!(
        fs::read(out.real.join("bin/python3.11")).unwrap(),
        b"not really python"
    );
    let tool = fs::read_to_string(out.real.join("bin/demo-tool")).unwrap();
    assert_eq!(
        tool,
        "#!/nix/store/11111111111111111111111111111111-env/bin/python3.11\nprint('hi')\n"
    );
    assert!(fs::read_to_string(out.real.join("bin/demo"))
        .unwrap()
        .contains("from demo import main"));

    // A member that escapes.
    let (d, whl) = wheel_with(
        &[
            ("../evil.py", b"x"),
            ("demo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
        ],
        None,
    );
    let b = PythonEnvBuild {
        python: fake_python(d.path()),
        wheels: vec![whl],
        deps: vec![],
        python_version: "3.11".into(),
        out: StoreObject::new("/nix/store/x-env", d.path().join("env")),
    };
    let e = build_python_env(&b).unwrap_err();
    assert!(format!("{e:#}").contains("escapes"), "{e:#}");

    // A file whose hash does not match RECORD.
    let bad_record = "demo/__init__.py,sha256=AAAA,1\ndemo-1.0.dist-info/WHEEL,sha256=AAAA,1\ndemo-1.0.dist-info/RECORD,,\n".to_string();
    let (d, whl) = wheel_with(
        &[
            ("demo/__init__.py", b"x"),
            ("demo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
        ],
        Some(bad_record),
    );
    let b = PythonEnvBuild {
        python: fake_python(d.path()),
        wheels: vec![whl],
        deps: vec![],
        python_version: "3.11".into(),
        out: StoreObject::new("/nix/store/x-env", d.path().join("env")),
    };
    let e = build_python_env(&b).unwrap_err();
    assert!(format!("{e:#}").contains("RECORD hash"), "{e:#}");

    // Not a zip at all.
    let d = tempfile::tempdir().unwrap();
    let whl = d.path().join("x-1-py3-none-any.whl");
    fs::write(&whl, b"garbage").unwrap();
    let b = PythonEnvBuild {
        python: fake_python(d.path()),
        wheels: vec![whl],
        deps: vec![],
        python_version: "3.11".into(),
        out: StoreObject::new("/nix/store/x-env", d.path().join("env")),
    };
    assert!(build_python_env(&b).is_err());
}
