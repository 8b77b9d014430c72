//! `rnix-realise [--store ROOT] [-jN] [-k] [-K] [-L] [-Q] [--no-sandbox]
//! [--sandbox-paths=/a:/b] PATHS...`: builds derivations already in the store and prints
//! their output paths (as `rnix-store --realise`), `--read-log PATH` prints a build log.

fn main() {
    let args: Vec<String> = match rnix_util::utf8_args() {
        Ok(a) => a,
        Err(e) => {
            rnix_util::errln!("{e}");
            std::process::exit(1)
        }
    };
    let code = match run(&args) {
        Ok(c) => c,
        Err(e) => {
            rnix_util::errln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code)
}

fn run(args: &[String]) -> anyhow::Result<i32> {
    let mut root = None;
    let mut flags = Vec::new();
    let mut pos = Vec::new();
    let mut read_log = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--store" => {
                root = Some(
                    it.next()
                        .ok_or_else(|| anyhow::anyhow!("--store needs a ROOT"))?
                        .clone(),
                )
            }
            "--read-log" => read_log = true,
            "--realise" | "-r" => {}
            s if s.starts_with('-') && s.len() > 1 => flags.push(s.to_string()),
            s => pos.push(s.to_string()),
        }
    }
    let store = match root {
        Some(r) => store::local::LocalStore::open(r)?,
        None => store::local::LocalStore::open_default()?,
    };
    if read_log {
        realise::cli::op_read_log(&store, &flags, &pos)
    } else {
        realise::cli::op_realise(&store, &flags, &pos)
    }
}
