//! Store paths: `/nix/store/<32 chars nixbase32>-<name>` and how Nix computes them.

use crate::hash::{compress_hash, Encoding, Hash, HashAlgo};
use crate::nixbase32;
use std::collections::BTreeSet;
use std::fmt;

/// The logical store directory (what appears in `.drv` files and string contexts):
/// `/nix/store`, or `NIX_STORE_DIR` when set, as in Nix. Read once per process; use it as a
/// `&str` (`&*STORE_DIR`), a path (`AsRef<Path>`) or in `format!`.
pub static STORE_DIR: StoreDir = StoreDir;

/// Nix's default store directory.
pub const DEFAULT_STORE_DIR: &str = "/nix/store";

/// The process's logical store directory; see [`STORE_DIR`].
#[derive(Debug, Clone, Copy)]
pub struct StoreDir;

impl StoreDir {
    pub fn as_str(&self) -> &'static str {
        static DIR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        DIR.get_or_init(|| {
            match std::env::var("NIX_STORE_DIR") {
                Ok(d) if d.starts_with('/') && d.len() > 1 => {
                    let d = d.trim_end_matches('/');
                    // Canonical, as Nix's `canonPath`: an existing directory through its
                    // real path, so that printed paths exist on disk.
                    std::fs::canonicalize(d)
                        .ok()
                        .and_then(|p| p.to_str().map(str::to_string))
                        .unwrap_or_else(|| d.to_string())
                }
                _ => DEFAULT_STORE_DIR.to_string(),
            }
        })
    }
    /// Whether the logical store directory is Nix's default `/nix/store`.
    pub fn is_default(&self) -> bool {
        self.as_str() == DEFAULT_STORE_DIR
    }
}

impl std::ops::Deref for StoreDir {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for StoreDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<std::path::Path> for StoreDir {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(self.as_str())
    }
}

impl AsRef<str> for StoreDir {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<StoreDir> for String {
    fn from(d: StoreDir) -> String {
        d.as_str().to_string()
    }
}

impl From<StoreDir> for std::path::PathBuf {
    fn from(d: StoreDir) -> std::path::PathBuf {
        std::path::PathBuf::from(d.as_str())
    }
}

impl PartialEq<str> for StoreDir {
    fn eq(&self, o: &str) -> bool {
        self.as_str() == o
    }
}
/// Length of the hash part of a store path.
pub const HASH_PART_LEN: usize = 32;
/// Maximum length of a store path name.
pub const MAX_NAME_LEN: usize = 211;

/// Errors about store paths and names.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StorePathError {
    #[error("path '{0}' is not in the Nix store")]
    NotInStore(String),
    #[error("path '{0}' is not a valid store path: {1}")]
    Invalid(String, String),
    #[error("store path name is empty")]
    EmptyName,
    #[error("store path name '{0}' is longer than {MAX_NAME_LEN} characters")]
    NameTooLong(String),
    #[error("store path name '{0}' must not start with a period")]
    NameStartsWithDot(String),
    #[error("store path name '{name}' contains illegal character '{ch}' (allowed: A-Z a-z 0-9 + - . _ ? =)")]
    IllegalChar { name: String, ch: char },
}

/// A store path: 20-byte digest and a name.
///
/// Ordered by `<hash>-<name>` text, as Nix orders store paths.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StorePath {
    digest: [u8; 20],
    name: String,
    /// `<hash>-<name>`, cached for ordering and printing.
    base: String,
}

impl PartialOrd for StorePath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StorePath {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.base.cmp(&other.base)
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({})", self.to_absolute())
    }
}

impl fmt::Display for StorePath {
    /// Absolute logical path (`/nix/store/…`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", STORE_DIR, self.base_name())
    }
}

/// Check a store path name as Nix does.
pub fn validate_name(name: &str) -> Result<(), StorePathError> {
    if name.is_empty() {
        return Err(StorePathError::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StorePathError::NameTooLong(name.to_string()));
    }
    if name.starts_with('.') {
        return Err(StorePathError::NameStartsWithDot(name.to_string()));
    }
    for ch in name.chars() {
        if !(ch.is_ascii_alphanumeric() || "+-._?=".contains(ch)) {
            return Err(StorePathError::IllegalChar {
                name: name.to_string(),
                ch,
            });
        }
    }
    Ok(())
}

impl StorePath {
    pub fn new(digest: [u8; 20], name: &str) -> Result<StorePath, StorePathError> {
        validate_name(name)?;
        Ok(StorePath {
            digest,
            name: name.to_string(),
            base: format!("{}-{}", nixbase32::encode(&digest), name),
        })
    }

    pub fn digest(&self) -> &[u8; 20] {
        &self.digest
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The 32-character nixbase32 hash part.
    pub fn hash_part(&self) -> &str {
        &self.base[..HASH_PART_LEN]
    }
    /// `<hash>-<name>`
    pub fn base_name(&self) -> &str {
        &self.base
    }
    /// `/nix/store/<hash>-<name>`
    pub fn to_absolute(&self) -> String {
        self.to_string()
    }

    /// Parse `<hash>-<name>` (no directory).
    pub fn from_base_name(s: &str) -> Result<StorePath, StorePathError> {
        let invalid = |why: &str| StorePathError::Invalid(s.to_string(), why.to_string());
        if s.len() < HASH_PART_LEN + 2 || s.as_bytes()[HASH_PART_LEN] != b'-' {
            return Err(invalid("expected '<32-character hash>-<name>'"));
        }
        let digest = nixbase32::decode(&s[..HASH_PART_LEN])
            .map_err(|e| invalid(&format!("bad hash part: {e}")))?;
        let mut d = [0u8; 20];
        d.copy_from_slice(&digest);
        StorePath::new(d, &s[HASH_PART_LEN + 1..])
    }

    /// Parse an absolute path in the logical store dir (`/nix/store/<hash>-<name>`).
    pub fn from_absolute(s: &str) -> Result<StorePath, StorePathError> {
        Self::from_absolute_in(&STORE_DIR, s)
    }

    /// Parse an absolute path in the given store dir.
    pub fn from_absolute_in(store_dir: &str, s: &str) -> Result<StorePath, StorePathError> {
        let rest = s
            .strip_prefix(store_dir)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| StorePathError::NotInStore(s.to_string()))?;
        if rest.contains('/') {
            return Err(StorePathError::Invalid(
                s.to_string(),
                "contains a path below the store object".into(),
            ));
        }
        Self::from_base_name(rest)
    }

    /// Parse `/nix/store/<hash>-<name>[/sub/path]` and return the store path and the rest
    /// (Nix's `toStorePath`).
    pub fn from_absolute_prefix(s: &str) -> Result<(StorePath, String), StorePathError> {
        let rest = s
            .strip_prefix(&*STORE_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| StorePathError::NotInStore(s.to_string()))?;
        let (base, sub) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, String::new()),
        };
        Ok((Self::from_base_name(base)?, sub))
    }

    /// A placeholder path used for masking (all-zero digest).
    pub fn dummy() -> StorePath {
        StorePath::new([0; 20], "x").expect("valid name")
    }
}

/// Nix's `makeStorePath(type, hash, name)`.
pub fn make_store_path(
    path_type: &str,
    inner_hash: &Hash,
    name: &str,
) -> Result<StorePath, StorePathError> {
    validate_name(name)?;
    let s = format!(
        "{}:{}:{}:{}",
        path_type,
        inner_hash.encode(Encoding::Base16, true),
        STORE_DIR,
        name
    );
    let h = Hash::sha256(s.as_bytes());
    let mut d = [0u8; 20];
    d.copy_from_slice(&compress_hash(h.bytes(), 20));
    StorePath::new(d, name)
}

/// Nix's `makeType`: `type[:ref]*[:self]`.
fn make_type<'a>(
    base: &str,
    references: impl IntoIterator<Item = &'a StorePath>,
    has_self_ref: bool,
) -> String {
    let mut refs: Vec<String> = references.into_iter().map(|r| r.to_absolute()).collect();
    refs.sort();
    let mut s = base.to_string();
    for r in refs {
        s.push(':');
        s.push_str(&r);
    }
    if has_self_ref {
        s.push_str(":self");
    }
    s
}

/// Path of a text file with the given content hash (sha256) and references
/// (`builtins.toFile`, `.drv` files).
pub fn make_text_path<'a>(
    name: &str,
    sha256: &Hash,
    references: impl IntoIterator<Item = &'a StorePath>,
) -> Result<StorePath, StorePathError> {
    make_store_path(&make_type("text", references, false), sha256, name)
}

/// How file contents are ingested for a fixed-output path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileIngestionMethod {
    /// Hash of the file contents.
    Flat,
    /// Hash of the NAR serialisation.
    Recursive,
}

impl FileIngestionMethod {
    /// `"r:"` for recursive, `""` for flat (as in `.drv` hashAlgo fields).
    pub fn prefix(self) -> &'static str {
        match self {
            FileIngestionMethod::Flat => "",
            FileIngestionMethod::Recursive => "r:",
        }
    }
}

/// Nix's `makeFixedOutputPath`. Recursive sha256 gives the `source` type (path imports);
/// anything else must have no references.
pub fn make_fixed_output_path<'a>(
    method: FileIngestionMethod,
    hash: &Hash,
    name: &str,
    references: impl IntoIterator<Item = &'a StorePath>,
    has_self_ref: bool,
) -> Result<StorePath, StorePathError> {
    if method == FileIngestionMethod::Recursive && hash.algo() == HashAlgo::Sha256 {
        make_store_path(&make_type("source", references, has_self_ref), hash, name)
    } else {
        if references.into_iter().next().is_some() || has_self_ref {
            return Err(StorePathError::Invalid(
                name.to_string(),
                "fixed-output paths other than recursive sha256 cannot have references".into(),
            ));
        }
        let inner = format!(
            "fixed:out:{}{}:",
            method.prefix(),
            hash.encode(Encoding::Base16, true)
        );
        make_store_path("output:out", &Hash::sha256(inner.as_bytes()), name)
    }
}

/// Name of a derivation output path: `name` for `out`, else `name-output`.
pub fn output_path_name(drv_name: &str, output: &str) -> String {
    if output == "out" {
        drv_name.to_string()
    } else {
        format!("{drv_name}-{output}")
    }
}

/// Nix's `makeOutputPath`: the path of an input-addressed derivation output.
pub fn make_output_path(
    output: &str,
    hash_modulo: &Hash,
    drv_name: &str,
) -> Result<StorePath, StorePathError> {
    make_store_path(
        &format!("output:{output}"),
        hash_modulo,
        &output_path_name(drv_name, output),
    )
}

/// Collect a set of store paths from their absolute forms.
pub fn parse_set<'a>(
    paths: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<StorePath>, StorePathError> {
    paths.into_iter().map(StorePath::from_absolute).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_validation() {
        assert!(validate_name("hello-2.10").is_ok());
        assert!(validate_name("a+b_c?d=e.f").is_ok());
        assert_eq!(validate_name(""), Err(StorePathError::EmptyName));
        assert!(matches!(
            validate_name(".hidden"),
            Err(StorePathError::NameStartsWithDot(_))
        ));
        assert!(matches!(
            validate_name("a b"),
            Err(StorePathError::IllegalChar { ch: ' ', .. })
        ));
        assert!(validate_name(&"x".repeat(211)).is_ok());
        assert!(matches!(
            validate_name(&"x".repeat(212)),
            Err(StorePathError::NameTooLong(_))
        ));
        let e = validate_name("a/b").unwrap_err().to_string();
        assert!(e.contains("illegal character '/'"), "{e}");
    }

    #[test]
    fn parse_print() {
        let s = "/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432";
        let p = StorePath::from_absolute(s).unwrap();
        assert_eq!(p.to_string(), s);
        assert_eq!(p.name(), "net-tools-1.60_p20170221182432");
        assert!(StorePath::from_absolute("/nix/store/foo").is_err());
        assert!(StorePath::from_absolute("/tmp/00bgd045z0d4icpbc2yyz4gx48ak44la-x").is_err());
        assert!(StorePath::from_absolute("/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44lu-x").is_err());
        let (p2, rest) = StorePath::from_absolute_prefix(&format!("{s}/bin/ls")).unwrap();
        assert_eq!(p2, p);
        assert_eq!(rest, "/bin/ls");
    }
}
