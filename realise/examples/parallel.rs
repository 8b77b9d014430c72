//! Benchmark for `bench/parallel.sh`: 8 independent derivations that each sleep one
//! second, realised with `-j 1` and then (fresh ones) with `-j 2`; prints both times.
//! Uses the host's /bin, /usr, /lib, /lib64 in the sandbox for `sleep`.

use realise::sandbox;
use std::time::Instant;
use store::local::LocalStore;
use store::{Derivation, Output, StorePath};

fn add(store: &LocalStore, name: &str, nonce: &str) -> StorePath {
    let mut d = Derivation {
        platform: "x86_64-linux".into(),
        builder: "/bin/sh".into(),
        args: vec!["-c".into(), "/bin/sleep 1; echo $nonce > $out".into()],
        ..Default::default()
    };
    for (k, v) in [
        ("name", name),
        ("builder", "/bin/sh"),
        ("system", "x86_64-linux"),
        ("nonce", nonce),
    ] {
        d.env.insert(k.into(), v.into());
    }
    d.outputs.insert("out".into(), Output::default());
    let mut none = |_: &str| -> anyhow::Result<store::Hash> { anyhow::bail!("no inputs") };
    let p = d.fill_outputs(name, &mut none).expect("outputs");
    let refs = d.references().expect("refs");
    store
        .add_text_to_store(&format!("{name}.drv"), d.to_aterm().as_bytes(), &refs)
        .expect("add drv");
    p
}

fn main() -> anyhow::Result<()> {
    if !sandbox::namespaces_available() {
        anyhow::bail!("this benchmark needs Linux user namespaces");
    }
    let tmp = tempfile::tempdir()?;
    let store = LocalStore::open(tmp.path())?;
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let mut results = Vec::new();
    for jobs in [1usize, 2] {
        let drvs: Vec<StorePath> = (0..8)
            .map(|i| add(&store, &format!("sleep-{jobs}-{i}"), &nonce))
            .collect();
        let opts = realise::Options {
            max_jobs: jobs,
            quiet: true,
            sandbox_paths: sandbox::host_paths(&["/bin", "/usr", "/lib", "/lib64"]),
            ..Default::default()
        };
        let t = Instant::now();
        realise::Realiser::new(&store, opts).realise_all(&drvs)?;
        let secs = t.elapsed().as_secs_f64();
        println!("-j {jobs}: 8 one-second builds in {secs:.2} s");
        results.push(secs);
    }
    println!("speed-up -j 2 vs -j 1: {:.2}x", results[0] / results[1]);
    Ok(())
}
