//! Nix's reference scanner: which of a set of candidate store path hash parts occur in a tree.

use crate::nar::{dump_path, NarError};
use crate::nixbase32::is_base32_char;
use crate::store_path::{StorePath, HASH_PART_LEN};
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};
use std::path::Path;

/// A streaming scanner (an `io::Write` sink) for 32-character hash parts.
pub struct RefScanner {
    candidates: HashMap<[u8; HASH_PART_LEN], usize>,
    found: Vec<bool>,
    tail: Vec<u8>,
    is_b32: [bool; 256],
}

impl RefScanner {
    /// `hash_parts`: the 32-character hash parts to look for.
    pub fn new<I: IntoIterator<Item = String>>(hash_parts: I) -> Self {
        let mut candidates = HashMap::new();
        for h in hash_parts {
            if let Ok(k) = <[u8; HASH_PART_LEN]>::try_from(h.as_bytes()) {
                let n = candidates.len();
                candidates.entry(k).or_insert(n);
            }
        }
        let mut is_b32 = [false; 256];
        for (i, b) in is_b32.iter_mut().enumerate() {
            *b = is_base32_char(i as u8);
        }
        RefScanner {
            found: vec![false; candidates.len()],
            candidates,
            tail: Vec::new(),
            is_b32,
        }
    }

    fn search(&mut self, s: &[u8]) {
        let mut i = 0;
        'outer: while i + HASH_PART_LEN <= s.len() {
            for j in (0..HASH_PART_LEN).rev() {
                if !self.is_b32[s[i + j] as usize] {
                    i += j + 1;
                    continue 'outer;
                }
            }
            let key: &[u8; HASH_PART_LEN] = s[i..i + HASH_PART_LEN].try_into().expect("len");
            if let Some(&idx) = self.candidates.get(key) {
                self.found[idx] = true;
            }
            i += 1;
        }
    }

    /// Feed more data.
    pub fn feed(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        const KEEP: usize = HASH_PART_LEN - 1;
        // Matches straddling the previous chunk and this one.
        let head = &data[..data.len().min(KEEP)];
        let mut joined = std::mem::take(&mut self.tail);
        joined.extend_from_slice(head);
        self.search(&joined);
        self.search(data);
        // Keep the last KEEP bytes of everything seen so far.
        if data.len() >= KEEP {
            joined.clear();
            joined.extend_from_slice(&data[data.len() - KEEP..]);
        } else if joined.len() > KEEP {
            // head == data here, so joined == old tail + data.
            joined.drain(..joined.len() - KEEP);
        }
        self.tail = joined;
    }

    /// The hash parts found so far.
    pub fn found(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (k, &i) in &self.candidates {
            if self.found[i] {
                out.insert(String::from_utf8_lossy(k).into_owned());
            }
        }
        out
    }
}

impl Write for RefScanner {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Which of `candidates` are referred to (by hash part) in the NAR serialisation of `path`.
pub fn scan_references(
    path: &Path,
    candidates: &BTreeSet<StorePath>,
) -> Result<BTreeSet<StorePath>, NarError> {
    let mut sc = RefScanner::new(candidates.iter().map(|p| p.hash_part().to_string()));
    dump_path(path, &mut sc)?;
    let found = sc.found();
    Ok(candidates
        .iter()
        .filter(|p| found.contains(p.hash_part()))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "00bgd045z0d4icpbc2yyz4gx48ak44la";
    const B: &str = "11bgd045z0d4icpbc2yyz4gx48ak44la";

    #[test]
    fn finds_across_chunks() {
        let text = format!("xx/nix/store/{A}-foo and {B}");
        for split in 0..text.len() {
            let mut s = RefScanner::new([A.to_string(), B.to_string()]);
            s.feed(&text.as_bytes()[..split]);
            s.feed(&text.as_bytes()[split..]);
            assert_eq!(s.found().len(), 2, "split at {split}");
        }
        // byte by byte
        let mut s = RefScanner::new([A.to_string(), B.to_string()]);
        for b in text.as_bytes() {
            s.feed(&[*b]);
        }
        assert_eq!(s.found().len(), 2);
        let mut s = RefScanner::new([A.to_string()]);
        s.feed(&A.as_bytes()[..31]);
        s.feed(b"e");
        assert!(s.found().is_empty());
    }
}
