//! Debian version comparison (Debian Policy 5.6.12), used to merge suites and to
//! check versioned dependencies.

use std::cmp::Ordering;

/// A parsed Debian version `[epoch:]upstream[-revision]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebVersion {
    pub epoch: u64,
    pub upstream: String,
    pub revision: String,
}

impl DebVersion {
    /// Parses a version; rejects empty versions and non-numeric epochs.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty Debian version".into());
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((e, r)) => (
                e.parse::<u64>()
                    .map_err(|_| format!("bad epoch in Debian version `{s}`"))?,
                r,
            ),
            None => (0, s),
        };
        let (upstream, revision) = match rest.rfind('-') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(format!("empty upstream version in `{s}`"));
        }
        Ok(DebVersion {
            epoch,
            upstream: upstream.to_string(),
            revision: revision.to_string(),
        })
    }
}

impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| cmp_part(&self.upstream, &other.upstream))
            .then_with(|| cmp_part(&self.revision, &other.revision))
    }
}

impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two version strings; unparsable versions compare as plain strings.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (DebVersion::parse(a), DebVersion::parse(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn cmp_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // non-digit prefix
        loop {
            let ca = a.get(i).copied().filter(|c| !c.is_ascii_digit());
            let cb = b.get(j).copied().filter(|c| !c.is_ascii_digit());
            if ca.is_none() && cb.is_none() {
                break;
            }
            let (oa, ob) = (order(ca), order(cb));
            if oa != ob {
                return oa.cmp(&ob);
            }
            if ca.is_some() {
                i += 1;
            }
            if cb.is_some() {
                j += 1;
            }
        }
        // digit run
        let si = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let sj = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let na = trim_zeros(&a[si..i]);
        let nb = trim_zeros(&b[sj..j]);
        let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let mut k = 0;
    while k < d.len() && d[k] == b'0' {
        k += 1;
    }
    &d[k..]
}

/// A relation in a dependency (`<<`, `<=`, `=`, `>=`, `>>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Relation {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "<<" => Relation::Lt,
            "<=" | "<" => Relation::Le,
            "=" => Relation::Eq,
            ">=" | ">" => Relation::Ge,
            ">>" => Relation::Gt,
            _ => return None,
        })
    }

    /// Does `version` satisfy `version <rel> bound`?
    pub fn holds(self, version: &str, bound: &str) -> bool {
        let o = compare(version, bound);
        match self {
            Relation::Lt => o == Ordering::Less,
            Relation::Le => o != Ordering::Greater,
            Relation::Eq => o == Ordering::Equal,
            Relation::Ge => o != Ordering::Less,
            Relation::Gt => o == Ordering::Greater,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering() {
        let lt = |a: &str, b: &str| {
            assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
        };
        lt("1.0", "1.1");
        lt("1.0~rc1", "1.0");
        lt("1.0", "1.0+deb12u1");
        lt("2.36-9+deb12u9", "2.36-9+deb12u13");
        lt("3.11.2-6", "3.11.2-6+deb12u9");
        lt("9.9", "1:0.1");
        lt("1.2.3", "1.2.10");
        lt("1.0a", "1.0b");
        lt("1.0", "1.0a");
        lt("1.0~", "1.0");
        lt("1.0~~", "1.0~");
        lt("1.0-1", "1.0-2");
        assert_eq!(compare("1.01", "1.1"), Ordering::Equal);
        assert_eq!(compare("0:1.0", "1.0"), Ordering::Equal);
    }

    #[test]
    fn relations() {
        assert!(Relation::Ge.holds("2.36-9", "2.34"));
        assert!(!Relation::Lt.holds("2.36", "2.36"));
        assert!(Relation::Le.holds("2.36", "2.36"));
        assert!(Relation::Gt.holds("1:1", "2"));
        assert!(DebVersion::parse("x:1").is_err());
        assert!(DebVersion::parse("").is_err());
    }
}
