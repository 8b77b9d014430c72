//! Derivations: the ATerm `.drv` format (byte-identical to Nix 2.8), `hashDerivationModulo`
//! and output path computation.

use crate::hash::{Hash, HashAlgo};
use crate::store_path::{
    make_fixed_output_path, make_output_path, make_text_path, FileIngestionMethod, StorePath,
    StorePathError,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One output of a derivation, as stored in the `.drv` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Absolute store path (`""` while it is being computed).
    pub path: String,
    /// `""` for input-addressed outputs; `sha256`, `r:sha256`, … for fixed-output ones.
    pub hash_algo: String,
    /// Base-16 hash for fixed-output outputs, else `""`.
    pub hash: String,
}

impl Output {
    pub fn is_fixed(&self) -> bool {
        !self.hash.is_empty()
    }
}

/// A derivation (`Derive(...)`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Derivation {
    pub outputs: BTreeMap<String, Output>,
    /// drv path → names of the outputs used.
    pub input_drvs: BTreeMap<String, BTreeSet<String>>,
    pub input_srcs: BTreeSet<String>,
    pub platform: String,
    pub builder: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

/// Errors about derivations.
#[derive(Debug, thiserror::Error)]
pub enum DerivationError {
    #[error("error parsing derivation at byte {pos}: {msg}")]
    Parse { pos: usize, msg: String },
    #[error(transparent)]
    StorePath(#[from] StorePathError),
    #[error(transparent)]
    Hash(#[from] crate::hash::HashError),
    #[error("multiple outputs are not supported in fixed-output derivations")]
    MultipleFixedOutputs,
    #[error("derivation has no outputs")]
    NoOutputs,
    #[error("invalid output hash algorithm '{0}'")]
    BadHashAlgo(String),
    #[error("while hashing input derivation '{path}': {source}")]
    Input {
        path: String,
        #[source]
        source: anyhow::Error,
    },
}

// ---------------------------------------------------------------------- byte strings
//
// Nix strings, and so a derivation's fields (env values, args, builder, ...), are bytes that
// need not be UTF-8. The fields here are `String`s so that the rest of the workspace reads
// them as text; bytes that are not UTF-8 are carried losslessly as characters of a reserved
// range (U+10FF80..=U+10FFFF: byte `b` is U+10FF00 + `b`; a real character of that range is
// carried as its four bytes), and the ATerm writer puts the original bytes back. A `.drv`
// (and so its store path, whose hash is over the file's bytes) holds the exact bytes.

/// A derivation field from bytes (see above, and [`rnix_util::bytes_text`]); UTF-8 without
/// reserved characters is kept as it is.
pub fn field_from_bytes(bytes: Vec<u8>) -> String {
    rnix_util::bytes_text::from_bytes(bytes)
}

/// The bytes a derivation field stands for (the inverse of [`field_from_bytes`]).
pub fn field_bytes(s: &str) -> std::borrow::Cow<'_, [u8]> {
    rnix_util::bytes_text::to_bytes(s)
}

fn write_escaped(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &c in field_bytes(s).iter() {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn write_list<'a>(out: &mut Vec<u8>, items: impl IntoIterator<Item = &'a str>) {
    out.push(b'[');
    let mut first = true;
    for s in items {
        if !first {
            out.push(b',');
        }
        first = false;
        write_escaped(out, s);
    }
    out.push(b']');
}

/// Split a fixed-output `hash_algo` field (`r:sha256`) into method and algorithm.
pub fn parse_hash_algo(s: &str) -> Result<(FileIngestionMethod, HashAlgo), DerivationError> {
    let (method, algo) = match s.strip_prefix("r:") {
        Some(a) => (FileIngestionMethod::Recursive, a),
        None => (FileIngestionMethod::Flat, s),
    };
    let algo = algo
        .parse::<HashAlgo>()
        .map_err(|_| DerivationError::BadHashAlgo(s.to_string()))?;
    Ok((method, algo))
}

impl Derivation {
    /// Nix's `hashPlaceholder`: what `builtins.placeholder NAME` gives
    /// (`/` + nixbase32 of sha256("nix-output:NAME")).
    pub fn output_placeholder(name: &str) -> String {
        format!(
            "/{}",
            Hash::sha256(format!("nix-output:{name}").as_bytes())
                .encode(crate::hash::Encoding::Base32, false)
        )
    }

    /// The derivation as its builder sees it: every output's placeholder in the environment,
    /// the arguments and the builder replaced by the output's path (as Nix does before a
    /// build). Outputs without a known path keep their placeholder.
    pub fn with_output_paths(&self) -> Derivation {
        let rewrites: Vec<(String, String)> = self
            .outputs
            .iter()
            .filter(|(_, o)| !o.path.is_empty())
            .map(|(n, o)| (Self::output_placeholder(n), o.path.clone()))
            .collect();
        if rewrites.is_empty() {
            return self.clone();
        }
        let fix = |s: &str| {
            let mut s = s.to_string();
            for (from, to) in &rewrites {
                if s.contains(from.as_str()) {
                    s = s.replace(from.as_str(), to);
                }
            }
            s
        };
        let mut d = self.clone();
        d.builder = fix(&d.builder);
        d.args = d.args.iter().map(|a| fix(a)).collect();
        d.env = d.env.iter().map(|(k, v)| (k.clone(), fix(v))).collect();
        d
    }

    /// Serialise as ATerm exactly as Nix 2.8 does: the bytes of the `.drv` file.
    pub fn to_aterm_bytes(&self) -> Vec<u8> {
        self.unparse(false, None)
    }

    /// [`Self::to_aterm_bytes`] as text (exact for derivations whose strings are UTF-8;
    /// other bytes replaced by U+FFFD: write files with `to_aterm_bytes`).
    pub fn to_aterm(&self) -> String {
        match String::from_utf8(self.to_aterm_bytes()) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// Nix's `Derivation::unparse`: with `mask_outputs`, output paths and the env variables
    /// named after outputs are printed empty; `input_drvs` replaces the input derivations.
    pub fn unparse(
        &self,
        mask_outputs: bool,
        input_drvs: Option<&BTreeMap<String, BTreeSet<String>>>,
    ) -> Vec<u8> {
        let mut s: Vec<u8> = Vec::with_capacity(1024);
        s.extend_from_slice(b"Derive([");
        let mut first = true;
        for (name, o) in &self.outputs {
            if !first {
                s.push(b',');
            }
            first = false;
            s.push(b'(');
            write_escaped(&mut s, name);
            s.push(b',');
            write_escaped(&mut s, if mask_outputs { "" } else { &o.path });
            s.push(b',');
            write_escaped(&mut s, &o.hash_algo);
            s.push(b',');
            write_escaped(&mut s, &o.hash);
            s.push(b')');
        }
        s.extend_from_slice(b"],[");
        first = true;
        for (path, outs) in input_drvs.unwrap_or(&self.input_drvs) {
            if !first {
                s.push(b',');
            }
            first = false;
            s.push(b'(');
            write_escaped(&mut s, path);
            s.push(b',');
            write_list(&mut s, outs.iter().map(|x| x.as_str()));
            s.push(b')');
        }
        s.extend_from_slice(b"],");
        write_list(&mut s, self.input_srcs.iter().map(|x| x.as_str()));
        s.push(b',');
        write_escaped(&mut s, &self.platform);
        s.push(b',');
        write_escaped(&mut s, &self.builder);
        s.push(b',');
        write_list(&mut s, self.args.iter().map(|x| x.as_str()));
        s.extend_from_slice(b",[");
        first = true;
        for (k, v) in &self.env {
            if !first {
                s.push(b',');
            }
            first = false;
            s.push(b'(');
            write_escaped(&mut s, k);
            s.push(b',');
            let masked = mask_outputs && self.outputs.contains_key(k);
            write_escaped(&mut s, if masked { "" } else { v });
            s.push(b')');
        }
        s.extend_from_slice(b"])");
        s
    }

    /// Parse a `.drv` file's contents.
    pub fn from_aterm(text: &str) -> Result<Derivation, DerivationError> {
        Self::from_aterm_bytes(text.as_bytes())
    }

    /// Parse a `.drv` file's bytes (strings need not be UTF-8; see [`field_from_bytes`]).
    pub fn from_aterm_bytes(text: &[u8]) -> Result<Derivation, DerivationError> {
        let mut p = Parser { s: text, pos: 0 };
        let drv = p.derivation()?;
        if p.pos != p.s.len() {
            return Err(p.err("trailing data after derivation"));
        }
        Ok(drv)
    }

    /// Is this a fixed-output derivation (one output `out` with a hash)?
    pub fn is_fixed_output(&self) -> bool {
        self.outputs.len() == 1
            && self
                .outputs
                .get("out")
                .map(|o| o.is_fixed())
                .unwrap_or(false)
    }

    /// Store paths this derivation refers to: input sources and input derivations
    /// (the references of its `.drv` file).
    pub fn references(&self) -> Result<BTreeSet<StorePath>, StorePathError> {
        self.input_srcs
            .iter()
            .chain(self.input_drvs.keys())
            .map(|p| StorePath::from_absolute(p))
            .collect()
    }

    /// Store path of the `.drv` file for a derivation named `name`.
    pub fn drv_path(&self, name: &str) -> Result<StorePath, DerivationError> {
        let refs = self.references()?;
        Ok(make_text_path(
            &format!("{name}.drv"),
            &Hash::sha256(&self.to_aterm_bytes()),
            refs.iter(),
        )?)
    }

    /// Nix's `hashDerivationModulo`. `input_hash` gives the modulo hash of an input
    /// derivation by its store path (callers memoise; see [`ModuloHashCache`]).
    pub fn hash_modulo(
        &self,
        mask_outputs: bool,
        input_hash: &mut dyn FnMut(&str) -> anyhow::Result<Hash>,
    ) -> Result<Hash, DerivationError> {
        if self.is_fixed_output() {
            let o = &self.outputs["out"];
            let s = format!("fixed:out:{}:{}:{}", o.hash_algo, o.hash, o.path);
            return Ok(Hash::sha256(s.as_bytes()));
        }
        let mut inputs2: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (path, outs) in &self.input_drvs {
            let h = input_hash(path).map_err(|source| DerivationError::Input {
                path: path.clone(),
                source,
            })?;
            inputs2
                .entry(h.to_base16())
                .or_default()
                .extend(outs.iter().cloned());
        }
        Ok(Hash::sha256(&self.unparse(mask_outputs, Some(&inputs2))))
    }

    /// What `derivationStrict` does once the attributes are collected: given a derivation whose
    /// outputs are declared (empty paths; a fixed-output one carries `hash_algo` like `r:sha256`
    /// — or just `r:`/`""` when the hash is SRI or `algo:`-prefixed — and `hash` in any encoding,
    /// normalised here to base 16), compute the output paths, set them in `outputs` and in `env`
    /// (`out`, `<output>`), and return the `.drv` store path (`name.drv`, referring to the
    /// input sources and input derivations).
    pub fn fill_outputs(
        &mut self,
        name: &str,
        input_hash: &mut dyn FnMut(&str) -> anyhow::Result<Hash>,
    ) -> Result<StorePath, DerivationError> {
        if self.outputs.is_empty() {
            return Err(DerivationError::NoOutputs);
        }
        if self.outputs.values().any(|o| o.is_fixed()) {
            if !self.is_fixed_output() {
                return Err(DerivationError::MultipleFixedOutputs);
            }
            let o = self.outputs.get_mut("out").expect("checked");
            // `hash_algo` may be just the method (`""` or `"r:"`) when the hash names its
            // algorithm (`sha256-…`, `sha256:…`), as with `outputHashAlgo = null`.
            let (method, h) = match o.hash_algo.as_str() {
                "" | "r:" => {
                    let method = if o.hash_algo.is_empty() {
                        FileIngestionMethod::Flat
                    } else {
                        FileIngestionMethod::Recursive
                    };
                    (method, Hash::parse(&o.hash, None)?)
                }
                s => {
                    let (method, algo) = parse_hash_algo(s)?;
                    (method, Hash::parse(&o.hash, Some(algo))?)
                }
            };
            o.hash_algo = format!("{}{}", method.prefix(), h.algo());
            let p = make_fixed_output_path(method, &h, name, [], false)?.to_absolute();
            o.hash = h.to_base16();
            o.path = p.clone();
            self.env.insert("out".into(), p);
        } else {
            for (k, o) in self.outputs.iter_mut() {
                o.path.clear();
                self.env.insert(k.clone(), String::new());
            }
            let h = self.hash_modulo(true, input_hash)?;
            let names: Vec<String> = self.outputs.keys().cloned().collect();
            for k in names {
                let p = make_output_path(&k, &h, name)?.to_absolute();
                self.outputs.get_mut(&k).expect("exists").path = p.clone();
                self.env.insert(k, p);
            }
        }
        self.drv_path(name)
    }

    /// Output name → store path.
    pub fn output_paths(&self) -> Result<BTreeMap<String, StorePath>, StorePathError> {
        self.outputs
            .iter()
            .map(|(k, o)| Ok((k.clone(), StorePath::from_absolute(&o.path)?)))
            .collect()
    }
}

/// Nix's `hashDerivationModulo` as a free function (see [`Derivation::hash_modulo`]).
pub fn hash_derivation_modulo(
    drv: &Derivation,
    mask_outputs: bool,
    input_hash: &mut dyn FnMut(&str) -> anyhow::Result<Hash>,
) -> Result<Hash, DerivationError> {
    drv.hash_modulo(mask_outputs, input_hash)
}

/// Memoising `hashDerivationModulo` over `.drv` files, which `read` loads by store path.
#[derive(Default)]
pub struct ModuloHashCache {
    cache: HashMap<String, Hash>,
}

impl ModuloHashCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a known modulo hash (e.g. right after `fill_outputs` of a new derivation).
    pub fn insert(&mut self, drv_path: &str, h: Hash) {
        self.cache.insert(drv_path.to_string(), h);
    }

    /// Modulo hash of the derivation stored at `drv_path` (not masked, as Nix's
    /// `pathDerivationModulo`).
    pub fn get(
        &mut self,
        drv_path: &str,
        read: &mut dyn FnMut(&str) -> anyhow::Result<Derivation>,
    ) -> anyhow::Result<Hash> {
        if let Some(h) = self.cache.get(drv_path) {
            return Ok(h.clone());
        }
        let drv = read(drv_path)?;
        let h = drv.hash_modulo(false, &mut |p| self.get(p, read))?;
        self.cache.insert(drv_path.to_string(), h.clone());
        Ok(h)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> DerivationError {
        DerivationError::Parse {
            pos: self.pos,
            msg: msg.to_string(),
        }
    }
    fn expect(&mut self, lit: &str) -> Result<(), DerivationError> {
        if self.s[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.err(&format!("expected '{lit}'")))
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn string(&mut self) -> Result<String, DerivationError> {
        self.expect("\"")?;
        let mut out = Vec::new();
        loop {
            let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        e => e,
                    });
                }
                c => out.push(c),
            }
        }
        Ok(field_from_bytes(out))
    }
    fn path(&mut self) -> Result<String, DerivationError> {
        let start = self.pos;
        let s = self.string()?;
        if !s.starts_with('/') {
            self.pos = start;
            return Err(self.err(&format!("bad path '{s}' in derivation")));
        }
        Ok(s)
    }
    /// `[` item (`,` item)* `]`
    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, DerivationError>,
    ) -> Result<Vec<T>, DerivationError> {
        self.expect("[")?;
        let mut v = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(v);
        }
        loop {
            v.push(item(self)?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(v);
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }
    fn derivation(&mut self) -> Result<Derivation, DerivationError> {
        self.expect("Derive(")?;
        let outs = self.list(|p| {
            p.expect("(")?;
            let name = p.string()?;
            p.expect(",")?;
            let path = p.string()?;
            p.expect(",")?;
            let hash_algo = p.string()?;
            p.expect(",")?;
            let hash = p.string()?;
            p.expect(")")?;
            Ok((
                name,
                Output {
                    path,
                    hash_algo,
                    hash,
                },
            ))
        })?;
        self.expect(",")?;
        let ins = self.list(|p| {
            p.expect("(")?;
            let path = p.path()?;
            p.expect(",")?;
            let outs = p.list(|p| p.string())?;
            p.expect(")")?;
            Ok((path, outs))
        })?;
        self.expect(",")?;
        let srcs = self.list(|p| p.path())?;
        self.expect(",")?;
        let platform = self.string()?;
        self.expect(",")?;
        let builder = self.string()?;
        self.expect(",")?;
        let args = self.list(|p| p.string())?;
        self.expect(",")?;
        let env = self.list(|p| {
            p.expect("(")?;
            let k = p.string()?;
            p.expect(",")?;
            let v = p.string()?;
            p.expect(")")?;
            Ok((k, v))
        })?;
        self.expect(")")?;
        let mut drv = Derivation {
            platform,
            builder,
            args,
            ..Default::default()
        };
        for (k, o) in outs {
            if drv.outputs.insert(k.clone(), o).is_some() {
                return Err(self.err(&format!("duplicate output '{k}'")));
            }
        }
        for (k, outs) in ins {
            drv.input_drvs.insert(k, outs.into_iter().collect());
        }
        drv.input_srcs = srcs.into_iter().collect();
        for (k, v) in env {
            drv.env.insert(k, v);
        }
        Ok(drv)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn output_placeholders_become_output_paths() {
        // the value Nix documents for `builtins.placeholder "out"`
        assert_eq!(
            Derivation::output_placeholder("out"),
            "/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9"
        );
        let ph = Derivation::output_placeholder("out");
        let mut d = Derivation {
            outputs: BTreeMap::from([(
                "out".to_string(),
                Output {
                    path: "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x".into(),
                    ..Default::default()
                },
            )]),
            builder: "/bin/sh".into(),
            args: vec!["-c".into(), format!("echo {ph}/bin")],
            ..Default::default()
        };
        d.env.insert("v".into(), format!("{ph}/lib:{ph}"));
        let r = d.with_output_paths();
        assert_eq!(
            r.args[1],
            "echo /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x/bin"
        );
        assert_eq!(
            r.env["v"],
            "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x/lib:/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"
        );
        assert_eq!(r.outputs, d.outputs);
    }

    use super::*;

    #[test]
    fn escapes_roundtrip() {
        let mut d = Derivation {
            platform: "x86_64-linux".into(),
            builder: "/bin/sh".into(),
            args: vec!["-c".into(), "echo \"hi\"\n\t\\ \r".into()],
            ..Default::default()
        };
        d.outputs.insert("out".into(), Output::default());
        d.env.insert("name".into(), "x".into());
        let t = d.to_aterm();
        assert!(t.contains(r#""echo \"hi\"\n\t\\ \r""#), "{t}");
        assert_eq!(Derivation::from_aterm(&t).unwrap(), d);
    }

    #[test]
    fn fixed_output_hash_forms() {
        let mk = |algo: &str, hash: &str| {
            let mut d = Derivation {
                platform: "x86_64-linux".into(),
                builder: "/bin/sh".into(),
                ..Default::default()
            };
            d.outputs.insert(
                "out".into(),
                Output {
                    path: String::new(),
                    hash_algo: algo.into(),
                    hash: hash.into(),
                },
            );
            let p = d
                .fill_outputs("fo", &mut |_| anyhow::bail!("none"))
                .unwrap();
            (p, d)
        };
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let (p1, d1) = mk("r:sha256", hex);
        let (p2, d2) = mk("r:", "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert_eq!(p1, p2);
        assert_eq!(d1, d2);
        assert_eq!(d2.outputs["out"].hash, hex);
        assert_eq!(d2.outputs["out"].hash_algo, "r:sha256");
        let (p3, _) = mk("", &format!("sha256:{hex}"));
        let (p4, _) = mk("sha256", hex);
        assert_eq!(p3, p4);
        assert_ne!(p3, p1);
    }

    #[test]
    fn parse_errors_are_clear() {
        let e = Derivation::from_aterm("Derive([").unwrap_err().to_string();
        assert!(e.contains("error parsing derivation"), "{e}");
        assert!(Derivation::from_aterm("garbage").is_err());
        let e =
            Derivation::from_aterm(r#"Derive([("out","","","")],[],["relative"],"s","b",[],[])"#)
                .unwrap_err()
                .to_string();
        assert!(e.contains("bad path"), "{e}");
    }
}
