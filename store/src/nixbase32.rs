//! Nix's base-32 encoding (alphabet without `e`, `o`, `u`, `t`; least significant digit last).

/// The 32 characters used by Nix.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Errors from [`decode`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("invalid character {0:?} in nixbase32 string")]
    InvalidChar(char),
    #[error("nixbase32 string has invalid length {0}")]
    InvalidLength(usize),
    #[error("nixbase32 string has non-zero padding bits")]
    NonZeroPadding,
}

/// Length of the encoding of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n * 8 - 1) / 5 + 1
    }
}

/// Number of bytes decoded from an `n`-character string.
pub const fn decoded_len(n: usize) -> usize {
    n * 5 / 8
}

/// Encode bytes as Nix base-32.
pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let mut c = (bytes[i] as u16) >> j;
        if i + 1 < bytes.len() {
            c |= (bytes[i + 1] as u16) << (8 - j);
        }
        out.push(ALPHABET[(c & 0x1f) as usize] as char);
    }
    out
}

fn digit(c: u8) -> Option<u8> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Is `c` a character of the nixbase32 alphabet?
pub fn is_base32_char(c: u8) -> bool {
    digit(c).is_some()
}

/// Decode a Nix base-32 string.
pub fn decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    let s = s.as_bytes();
    let size = decoded_len(s.len());
    if encoded_len(size) != s.len() {
        return Err(DecodeError::InvalidLength(s.len()));
    }
    let mut out = vec![0u8; size];
    for n in 0..s.len() {
        let c = s[s.len() - n - 1];
        let d = digit(c).ok_or(DecodeError::InvalidChar(c as char))? as u16;
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        if i < size {
            out[i] |= (d << j) as u8;
        } else if d << j != 0 {
            return Err(DecodeError::NonZeroPadding);
        }
        let carry = d >> (8 - j);
        if i + 1 < size {
            out[i + 1] |= carry as u8;
        } else if carry != 0 {
            return Err(DecodeError::NonZeroPadding);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // sha256("") as printed by `nix-hash --type sha256 --to-base32`.
        let h = data_encoding::HEXLOWER
            .decode(b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            .unwrap();
        assert_eq!(
            encode(&h),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(
            decode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").unwrap(),
            h
        );
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x1f]), "0z");
    }

    #[test]
    fn roundtrip_all_lengths() {
        for len in 0..70usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode(&encode(&bytes)).unwrap(), bytes, "len {len}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode("e0"), Err(DecodeError::InvalidChar('e')));
        assert!(matches!(decode("0"), Err(DecodeError::InvalidLength(1))));
        // "zz": 10 bits for one byte, the top two bits must be zero.
        assert_eq!(decode("zz"), Err(DecodeError::NonZeroPadding));
    }
}
