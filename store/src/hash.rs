//! Hashes as Nix prints and parses them: md5, sha1, sha256, sha512 in base16, nixbase32,
//! base64 and SRI form, plus Nix's `compressHash`.

use crate::nixbase32;
use data_encoding::{BASE64, HEXLOWER_PERMISSIVE};
use sha2::Digest;
use std::fmt;
use std::str::FromStr;

/// A hash algorithm known to Nix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgo {
    /// Digest size in bytes.
    pub fn size(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }
    pub fn all() -> [HashAlgo; 4] {
        [
            HashAlgo::Md5,
            HashAlgo::Sha1,
            HashAlgo::Sha256,
            HashAlgo::Sha512,
        ]
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgo {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, HashError> {
        match s {
            "md5" => Ok(HashAlgo::Md5),
            "sha1" => Ok(HashAlgo::Sha1),
            "sha256" => Ok(HashAlgo::Sha256),
            "sha512" => Ok(HashAlgo::Sha512),
            _ => Err(HashError::UnknownAlgo(s.to_string())),
        }
    }
}

/// Errors when parsing hashes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    #[error("unknown hash algorithm '{0}'")]
    UnknownAlgo(String),
    #[error("hash '{0}' does not include a type")]
    MissingAlgo(String),
    #[error("hash '{hash}' should have type '{expected}'")]
    AlgoMismatch { hash: String, expected: HashAlgo },
    #[error("hash '{hash}' has wrong length for hash type '{algo}'")]
    WrongLength { hash: String, algo: HashAlgo },
    #[error("invalid base-16 hash '{0}'")]
    InvalidBase16(String),
    #[error("invalid base-32 hash '{0}'")]
    InvalidBase32(String),
    #[error("invalid base-64 hash '{0}'")]
    InvalidBase64(String),
}

/// How to print a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Base16,
    Base32,
    Base64,
    /// `algo-base64`
    Sri,
}

/// A hash value with its algorithm.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash {
    algo: HashAlgo,
    bytes: Vec<u8>,
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_sri())
    }
}

impl fmt::Display for Hash {
    /// `algo:nixbase32`, as `nix-store --query --hash` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode(Encoding::Base32, true))
    }
}

impl Hash {
    /// Build from raw digest bytes (the length must match the algorithm).
    pub fn from_bytes(algo: HashAlgo, bytes: &[u8]) -> Result<Hash, HashError> {
        if bytes.len() != algo.size() {
            return Err(HashError::WrongLength {
                hash: HEXLOWER_PERMISSIVE.encode(bytes),
                algo,
            });
        }
        Ok(Hash {
            algo,
            bytes: bytes.to_vec(),
        })
    }

    pub fn algo(&self) -> HashAlgo {
        self.algo
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Hash a byte string.
    pub fn digest(algo: HashAlgo, data: &[u8]) -> Hash {
        let mut h = Hasher::new(algo);
        h.update(data);
        h.finish()
    }

    pub fn sha256(data: &[u8]) -> Hash {
        Hash::digest(HashAlgo::Sha256, data)
    }

    /// Print the hash in the given encoding; with `with_algo`, prefix `algo:` (ignored for SRI,
    /// which always carries the algorithm as `algo-`).
    pub fn encode(&self, enc: Encoding, with_algo: bool) -> String {
        let body = match enc {
            Encoding::Base16 => data_encoding::HEXLOWER.encode(&self.bytes),
            Encoding::Base32 => nixbase32::encode(&self.bytes),
            Encoding::Base64 => BASE64.encode(&self.bytes),
            Encoding::Sri => return format!("{}-{}", self.algo, BASE64.encode(&self.bytes)),
        };
        if with_algo {
            format!("{}:{}", self.algo, body)
        } else {
            body
        }
    }

    pub fn to_base16(&self) -> String {
        self.encode(Encoding::Base16, false)
    }
    pub fn to_base32(&self) -> String {
        self.encode(Encoding::Base32, false)
    }
    pub fn to_base64(&self) -> String {
        self.encode(Encoding::Base64, false)
    }
    pub fn to_sri(&self) -> String {
        self.encode(Encoding::Sri, true)
    }

    /// Parse the body of a hash whose algorithm is known: base16, nixbase32 or base64,
    /// distinguished by length as Nix does.
    pub fn parse_body(algo: HashAlgo, body: &str) -> Result<Hash, HashError> {
        let size = algo.size();
        if body.len() == size * 2 {
            let bytes = HEXLOWER_PERMISSIVE
                .decode(body.as_bytes())
                .map_err(|_| HashError::InvalidBase16(body.to_string()))?;
            Hash::from_bytes(algo, &bytes)
        } else if body.len() == nixbase32::encoded_len(size) {
            let bytes =
                nixbase32::decode(body).map_err(|_| HashError::InvalidBase32(body.to_string()))?;
            Hash::from_bytes(algo, &bytes)
        } else if body.len() == BASE64.encode_len(size) {
            let bytes = BASE64
                .decode(body.as_bytes())
                .map_err(|_| HashError::InvalidBase64(body.to_string()))?;
            Hash::from_bytes(algo, &bytes).map_err(|_| HashError::InvalidBase64(body.to_string()))
        } else {
            Err(HashError::WrongLength {
                hash: body.to_string(),
                algo,
            })
        }
    }

    /// Parse `algo:body`, `algo-base64` (SRI), or — when `algo` is given — a bare body.
    /// Mirrors Nix's `Hash::parseAny`/`newHashAllowEmpty` (minus the empty case).
    pub fn parse(s: &str, algo: Option<HashAlgo>) -> Result<Hash, HashError> {
        let (found, body, sri) = if let Some((a, b)) = s.split_once(':') {
            (Some(a.parse::<HashAlgo>()?), b, false)
        } else if let Some((a, b)) = s.split_once('-') {
            match a.parse::<HashAlgo>() {
                Ok(a) => (Some(a), b, true),
                Err(_) => (None, s, false),
            }
        } else {
            (None, s, false)
        };
        let algo = match (found, algo) {
            (Some(f), Some(e)) if f != e => {
                return Err(HashError::AlgoMismatch {
                    hash: s.to_string(),
                    expected: e,
                })
            }
            (Some(f), _) => f,
            (None, Some(e)) => e,
            (None, None) => return Err(HashError::MissingAlgo(s.to_string())),
        };
        if sri {
            let bytes = BASE64
                .decode(body.as_bytes())
                .map_err(|_| HashError::InvalidBase64(s.to_string()))?;
            return Hash::from_bytes(algo, &bytes).map_err(|_| HashError::WrongLength {
                hash: s.to_string(),
                algo,
            });
        }
        Hash::parse_body(algo, body)
    }

    /// Parse an SRI hash (`sha256-…`).
    pub fn parse_sri(s: &str) -> Result<Hash, HashError> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| HashError::MissingAlgo(s.to_string()))?;
        let algo: HashAlgo = a.parse()?;
        let bytes = BASE64
            .decode(b.as_bytes())
            .map_err(|_| HashError::InvalidBase64(s.to_string()))?;
        Hash::from_bytes(algo, &bytes)
    }
}

/// Nix's `compressHash`: fold a hash into `n` bytes by XOR.
pub fn compress_hash(hash: &[u8], n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    for (i, b) in hash.iter().enumerate() {
        out[i % n] ^= b;
    }
    out
}

enum Inner {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

/// Incremental hasher; also an `io::Write` sink.
pub struct Hasher {
    inner: Inner,
    len: u64,
}

impl Hasher {
    pub fn new(algo: HashAlgo) -> Hasher {
        let inner = match algo {
            HashAlgo::Md5 => Inner::Md5(md5::Md5::new()),
            HashAlgo::Sha1 => Inner::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => Inner::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha512 => Inner::Sha512(sha2::Sha512::new()),
        };
        Hasher { inner, len: 0 }
    }
    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        match &mut self.inner {
            Inner::Md5(h) => h.update(data),
            Inner::Sha1(h) => h.update(data),
            Inner::Sha256(h) => h.update(data),
            Inner::Sha512(h) => h.update(data),
        }
    }
    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn finish(self) -> Hash {
        let (algo, bytes) = match self.inner {
            Inner::Md5(h) => (HashAlgo::Md5, h.finalize().to_vec()),
            Inner::Sha1(h) => (HashAlgo::Sha1, h.finalize().to_vec()),
            Inner::Sha256(h) => (HashAlgo::Sha256, h.finalize().to_vec()),
            Inner::Sha512(h) => (HashAlgo::Sha512, h.finalize().to_vec()),
        };
        Hash { algo, bytes }
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hash a file's contents (Nix's `hashFile`).
pub fn hash_file(algo: HashAlgo, path: &std::path::Path) -> std::io::Result<Hash> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Hasher::new(algo);
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_of_abc() {
        let h = Hash::sha256(b"abc");
        assert_eq!(
            h.to_base16(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            h.to_sri(),
            "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        for enc in [Encoding::Base16, Encoding::Base32, Encoding::Base64] {
            let s = h.encode(enc, true);
            assert_eq!(Hash::parse(&s, None).unwrap(), h);
            assert_eq!(
                Hash::parse(&h.encode(enc, false), Some(HashAlgo::Sha256)).unwrap(),
                h
            );
        }
        assert_eq!(Hash::parse(&h.to_sri(), None).unwrap(), h);
        assert_eq!(
            Hash::digest(HashAlgo::Md5, b"abc").to_base16(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            Hash::digest(HashAlgo::Sha1, b"abc").to_base16(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert!(Hash::digest(HashAlgo::Sha512, b"abc")
            .to_base16()
            .starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            Hash::parse("abc", None),
            Err(HashError::MissingAlgo(_))
        ));
        assert!(matches!(
            Hash::parse("foo:abc", None),
            Err(HashError::UnknownAlgo(_))
        ));
        assert!(matches!(
            Hash::parse("sha256:abc", None),
            Err(HashError::WrongLength { .. })
        ));
        let h = Hash::sha256(b"x").encode(Encoding::Base16, true);
        assert!(matches!(
            Hash::parse(&h, Some(HashAlgo::Sha1)),
            Err(HashError::AlgoMismatch { .. })
        ));
        let bad = format!("sha256:{}", "g".repeat(64));
        assert!(matches!(
            Hash::parse(&bad, None),
            Err(HashError::InvalidBase16(_))
        ));
    }

    #[test]
    fn compress() {
        assert_eq!(compress_hash(&[1, 2, 3, 4], 2), vec![1 ^ 3, 2 ^ 4]);
    }
}
