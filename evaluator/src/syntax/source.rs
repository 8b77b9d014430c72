//! Nix source files are bytes; the lexer and the syntax tree work on `str`. Bytes that are
//! not valid UTF-8 (a latin-1 `é` inside a string literal, say) are carried through the
//! tree losslessly as characters of a reserved range, and turned back into the same bytes
//! when a string literal becomes a value ([`decode_literal`]).
//!
//! The reserved range is U+10FF80..=U+10FFFF: byte `b` (0x80..=0xFF) is carried as
//! U+10FF00 + `b`. A source that holds a character of that range itself is carried as its
//! four UTF-8 bytes, each as a reserved character, so that decoding is exact for every input.

const BASE: u32 = 0x10FF00;
const FIRST: u32 = 0x10FF80;

fn is_reserved(c: char) -> bool {
    (c as u32) >= FIRST
}

/// Source bytes as text for the lexer. Valid UTF-8 without reserved characters (nearly every
/// file) is taken as it is.
pub fn source_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        // reserved characters all start with the byte F4
        Ok(s) if !s.as_bytes().contains(&0xF4) || !s.chars().any(is_reserved) => s,
        Ok(s) => encode(s.as_bytes()),
        Err(e) => encode(e.as_bytes()),
    }
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 16);
    let raw = |out: &mut String, b: u8| out.push(char::from_u32(BASE + b as u32).unwrap());
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

/// The bytes of a piece of source text made by [`source_text`].
pub fn decode_literal(s: &str) -> Vec<u8> {
    // reserved characters all start with the byte F4
    if !s.as_bytes().contains(&0xF4) {
        return s.as_bytes().to_vec();
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let cases: Vec<Vec<u8>> = vec![
            b"plain".to_vec(),
            b"caf\xe9 \xff\xfe".to_vec(),
            "reserved \u{10FF80} and \u{10FFFF} with \u{e9}"
                .as_bytes()
                .to_vec(),
            [b"mixed \xe9 ".as_slice(), "\u{10FFAA}".as_bytes()].concat(),
            b"\xf4\x8f\xbe".to_vec(),
        ];
        for c in cases {
            assert_eq!(decode_literal(&source_text(c.clone())), c);
        }
    }
}
