//! Nix source files are bytes; the lexer and the syntax tree work on `str`. Bytes that are
//! not valid UTF-8 (a latin-1 `é` inside a string literal, say) are carried through the
//! tree losslessly as characters of a reserved range, and turned back into the same bytes
//! when a string literal becomes a value ([`decode_literal`]).
//!
//! The reserved range is U+10FF80..=U+10FFFF: byte `b` (0x80..=0xFF) is carried as
//! U+10FF00 + `b`. A source that holds a character of that range itself is carried as its
//! four UTF-8 bytes, each as a reserved character, so that decoding is exact for every input.

/// Source bytes as text for the lexer (see [`rnix_util::bytes_text`]).
pub fn source_text(bytes: Vec<u8>) -> String {
    rnix_util::bytes_text::from_bytes(bytes)
}

/// The bytes of a piece of source text made by [`source_text`].
pub fn decode_literal(s: &str) -> Vec<u8> {
    rnix_util::bytes_text::to_bytes(s).into_owned()
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
