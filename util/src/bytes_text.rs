//! Bytes carried losslessly in a `String`. Nix strings (and so source literals and a
//! derivation's fields) are bytes that need not be UTF-8, while the lexer, the syntax tree and
//! most of the workspace work on `str`. Bytes that are not valid UTF-8 are carried as
//! characters of a reserved range and turned back into the same bytes by [`to_bytes`].
//!
//! The reserved range is U+10FF80..=U+10FFFF: byte `b` (0x80..=0xFF) is carried as
//! U+10FF00 + `b`. Text that holds a character of that range itself is carried as its four
//! UTF-8 bytes, each as a reserved character, so that decoding is exact for every input.

use std::borrow::Cow;

const BASE: u32 = 0x10FF00;
const FIRST: u32 = 0x10FF80;

fn is_reserved(c: char) -> bool {
    (c as u32) >= FIRST
}

/// `bytes` as text: valid UTF-8 without reserved characters (nearly every input) is kept as
/// it is, without copying.
pub fn from_bytes(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        // reserved characters all start with the byte F4
        Ok(s) if !s.as_bytes().contains(&0xF4) || !s.chars().any(is_reserved) => s,
        Ok(s) => encode(s.as_bytes()),
        Err(e) => encode(e.as_bytes()),
    }
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 16);
    let raw = |out: &mut String, b: u8| {
        if let Some(c) = char::from_u32(BASE + b as u32) {
            out.push(c)
        }
    };
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_reserved(c) {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    raw(&mut out, b);
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            raw(&mut out, b);
        }
    }
    out
}

/// The bytes a text made by [`from_bytes`] stands for.
pub fn to_bytes(s: &str) -> Cow<'_, [u8]> {
    // reserved characters all start with the byte F4
    if !s.as_bytes().contains(&0xF4) {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if is_reserved(c) {
            out.push((c as u32 - BASE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let cases: Vec<Vec<u8>> = vec![
            b"plain".to_vec(),
            b"caf\xe9 \xff\xfe".to_vec(),
            "\u{10FF80}\u{10FFFF} and U+10FF7F \u{10FF7F}"
                .as_bytes()
                .to_vec(),
            vec![0xF4, 0x8F, 0xBE, 0x80, 0xF4],
            Vec::new(),
        ];
        for b in cases {
            let s = from_bytes(b.clone());
            assert_eq!(to_bytes(&s).as_ref(), b.as_slice(), "{s:?}");
        }
    }
}
