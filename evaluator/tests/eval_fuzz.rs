//! Fuzz target for evaluation: random small expressions (grammar-generated, and byte-level
//! mutations of the differential corpus) must evaluate to a value or a clean error, never a
//! panic. Default: a quick run of 300 inputs. `RNIX_FUZZ_SECS=600 cargo test -p evaluator
//! --release --test eval_fuzz -- --nocapture` runs for ten minutes; `RNIX_FUZZ_SEED` picks
//! the seed (printed, so a failure can be replayed).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use evaluator::eval::{with_big_stack, EvalOptions, Evaluator};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const VARS: &[&str] = &["x", "y", "f", "s", "l"];
const BUILTINS: &[&str] = &[
    "builtins.length",
    "builtins.head",
    "builtins.tail",
    "builtins.attrNames",
    "builtins.toString",
    "builtins.typeOf",
    "builtins.isAttrs",
    "toString",
    "builtins.toJSON",
    "builtins.fromJSON",
    "builtins.stringLength",
    "builtins.tryEval",
    "builtins.deepSeq 1",
    "builtins.seq null",
    "builtins.map (z: z)",
    "builtins.filter (z: true)",
    "builtins.elemAt [ 1 2 ]",
    "builtins.genList (i: i)",
    "builtins.concatStringsSep \",\"",
    "builtins.match \"a(.*)\"",
    "builtins.split \",\"",
    "builtins.attrValues",
    "builtins.sort builtins.lessThan",
    "builtins.splitVersion",
    "builtins.replaceStrings [ \"a\" ] [ \"b\" ]",
    "builtins.substring 1 2",
    "builtins.functionArgs",
    "builtins.listToAttrs",
    "builtins.fromTOML",
    "builtins.toXML",
    "builtins.hashString \"sha1\"",
    "builtins.floor",
    "builtins.ceil",
    "builtins.throw",
    "builtins.abort",
    "builtins.parseDrvName",
];
const OPS: &[&str] = &[
    "+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "->", "//", "++",
];

fn gen(r: &mut Rng, depth: usize) -> String {
    if depth == 0 {
        return match r.below(8) {
            0 => format!("{}", r.below(20) as i64 - 5),
            1 => format!("{}.5", r.below(10)),
            2 => r
                .pick(&["\"a\"", "\"\"", "\"a,b\"", "''x''", "\"1.2\""])
                .to_string(),
            3 => r.pick(&["true", "false", "null"]).to_string(),
            4 => r.pick(&["[ ]", "{ }", "[ 1 2 ]", "{ a = 1; }"]).to_string(),
            5 => r.pick(&["./.", "/tmp", "<nixpkgs>"]).to_string(),
            _ => r.pick(VARS).to_string(),
        };
    }
    let d = depth - 1;
    match r.below(16) {
        0 => format!("({} {} {})", gen(r, d), r.pick(OPS), gen(r, d)),
        1 => format!("({} {})", r.pick(BUILTINS), gen(r, d)),
        2 => format!("[ {} {} ]", gen(r, d), gen(r, d)),
        3 => format!("{{ a = {}; b = {}; }}", gen(r, d), gen(r, d)),
        4 => format!("rec {{ a = {}; b = a; }}", gen(r, d)),
        5 => format!(
            "(let x = {}; y = {}; in {})",
            gen(r, d),
            gen(r, d),
            gen(r, d)
        ),
        6 => format!("(if {} then {} else {})", gen(r, d), gen(r, d), gen(r, d)),
        7 => format!("({}).{}", gen(r, d), r.pick(&["a", "b", "x", "${\"a\"}"])),
        8 => format!("({}).a or {}", gen(r, d), gen(r, d)),
        9 => format!("(with {}; {})", gen(r, d), gen(r, d)),
        10 => format!("(x: {}) {}", gen(r, d), gen(r, d)),
        11 => format!(
            "({{ a ? {}, ... }}@s: {}) {}",
            gen(r, d),
            gen(r, d),
            gen(r, d)
        ),
        12 => format!("\"${{{}}}\"", gen(r, d)),
        13 => format!("(assert {}; {})", gen(r, d), gen(r, d)),
        14 => format!("({} ? a)", gen(r, d)),
        _ => format!("(!{})", gen(r, d)),
    }
}

fn mutate(r: &mut Rng, s: &str) -> String {
    let mut b: Vec<u8> = s.as_bytes().to_vec();
    for _ in 0..1 + r.below(3) {
        if b.is_empty() {
            break;
        }
        let i = r.below(b.len());
        match r.below(3) {
            0 => {
                b.remove(i);
            }
            1 => b.insert(i, *b"(){}[];:.\"'$@?!+-*/=<>".get(r.below(22)).unwrap()),
            _ => {
                let j = r.below(b.len());
                b.swap(i, j);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn eval_one(src: &str) {
    let mut ev = Evaluator::new(EvalOptions::default());
    let prelude = format!(
        "let x = 1; y = \"s\"; f = a: a; s = {{ a = 1; b = [ 2 ]; }}; l = [ 1 \"a\" ]; in {src}"
    );
    if let Ok(v) = ev.eval_expr(&prelude, Path::new("/")) {
        let _ = ev.print_value(&v, true);
        let _ = evaluator::eval::print::to_json(&mut ev, &v, false);
    }
}

#[test]
fn eval_fuzz() {
    let secs: u64 = std::env::var("RNIX_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let seed: u64 = std::env::var("RNIX_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd);
    eprintln!("eval_fuzz: seed {seed}, {secs}s");
    let corpus: Vec<String> = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/eval/exprs.txt"),
    )
    .unwrap()
    .lines()
    // genericClosure mutants can legitimately run forever (as in Nix)
    .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.contains("genericClosure"))
    .map(|l| l.to_string())
    .collect();
    let (count, panics) = with_big_stack(move || {
        let mut r = Rng(seed | 1);
        let start = Instant::now();
        let mut n = 0u64;
        let mut panics = Vec::new();
        loop {
            if secs == 0 && n >= 300 || secs > 0 && start.elapsed() >= Duration::from_secs(secs) {
                break;
            }
            let src = if n % 2 == 0 {
                let d = 1 + r.below(4);
                gen(&mut r, d)
            } else {
                let base = corpus[r.below(corpus.len())].clone();
                mutate(&mut r, &base)
            };
            if let Ok(f) = std::env::var("RNIX_FUZZ_LOG") {
                let _ = std::fs::write(f, &src);
            }
            let res = catch_unwind(AssertUnwindSafe(|| eval_one(&src)));
            if res.is_err() {
                panics.push(src);
            }
            n += 1;
        }
        (n, panics)
    });
    eprintln!("eval_fuzz: {count} inputs");
    assert!(
        panics.is_empty(),
        "inputs that panicked:\n{}",
        panics.join("\n")
    );
}
