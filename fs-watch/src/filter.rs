//! [`PathFilter`]: which paths the watcher reports, a glob or a predicate.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// Which events the watcher reports: those with a path that matches. Directories are still
/// watched whatever the filter says (so `**/*.rs` sees files in new subdirectories).
#[derive(Clone)]
pub enum PathFilter {
    /// A glob (see [`PathFilter::glob`]).
    Glob(Glob),
    /// A predicate on the full path of the event.
    Predicate(Arc<dyn Fn(&Path) -> bool + Send + Sync>),
}

impl PathFilter {
    /// A glob: `*` (any run of characters but `/`), `?` (one character but `/`), `**` (any run
    /// of path components), `[abc]`, `[a-z]`, `[!a]`. A pattern with no `/` is matched against
    /// the file name (`*.rs`); one with a `/` against the path relative to the watched root
    /// (`src/**/*.rs`).
    ///
    /// # Errors
    /// `InvalidInput` for an unclosed `[`.
    pub fn glob(pattern: &str) -> io::Result<PathFilter> {
        Glob::new(pattern).map(PathFilter::Glob)
    }

    /// A predicate on the full path.
    pub fn predicate(f: impl Fn(&Path) -> bool + Send + Sync + 'static) -> PathFilter {
        PathFilter::Predicate(Arc::new(f))
    }

    /// Does the event path `path` (under root `root`) pass?
    pub(crate) fn matches(&self, root: &Path, path: &Path) -> bool {
        match self {
            PathFilter::Predicate(f) => f(path),
            PathFilter::Glob(g) => {
                let rel = path.strip_prefix(root).unwrap_or(path);
                if g.by_name {
                    let name = path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or(b"");
                    g.matches(name)
                } else {
                    g.matches(rel.as_os_str().as_encoded_bytes())
                }
            }
        }
    }
}

impl<F: Fn(&Path) -> bool + Send + Sync + 'static> From<F> for PathFilter {
    fn from(f: F) -> PathFilter {
        PathFilter::predicate(f)
    }
}

impl From<Glob> for PathFilter {
    fn from(g: Glob) -> PathFilter {
        PathFilter::Glob(g)
    }
}

impl fmt::Debug for PathFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathFilter::Glob(g) => f.debug_tuple("Glob").field(&g.pattern).finish(),
            PathFilter::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    Any,
    Star,
    DoubleStar,
    Class { neg: bool, ranges: Vec<(u8, u8)> },
}

/// A compiled glob pattern (bytes, so non-UTF-8 names match too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    toks: Vec<Tok>,
    by_name: bool,
}

impl Glob {
    /// Compiles `pattern` (see [`PathFilter::glob`]).
    ///
    /// # Errors
    /// `InvalidInput` for an unclosed `[`.
    pub fn new(pattern: &str) -> io::Result<Glob> {
        let b = pattern.as_bytes();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'*' if b.get(i + 1) == Some(&b'*') => {
                    toks.push(Tok::DoubleStar);
                    i += 2;
                    // `**/` also matches zero components.
                    if b.get(i) == Some(&b'/') {
                        i += 1;
                    }
                }
                b'*' => {
                    toks.push(Tok::Star);
                    i += 1;
                }
                b'?' => {
                    toks.push(Tok::Any);
                    i += 1;
                }
                b'[' => {
                    let close =
                        b[i + 1..].iter().skip(1).position(|&c| c == b']').map(|p| p + i + 2);
                    let Some(close) = close else {
                        let msg = format!("glob {pattern:?}: unclosed '['");
                        return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
                    };
                    let mut body = &b[i + 1..close];
                    let neg = matches!(body.first(), Some(b'!') | Some(b'^'));
                    if neg {
                        body = &body[1..];
                    }
                    let mut ranges = Vec::new();
                    let mut j = 0;
                    while j < body.len() {
                        if j + 2 < body.len() && body[j + 1] == b'-' {
                            ranges.push((body[j], body[j + 2]));
                            j += 3;
                        } else {
                            ranges.push((body[j], body[j]));
                            j += 1;
                        }
                    }
                    toks.push(Tok::Class { neg, ranges });
                    i = close + 1;
                }
                c => {
                    toks.push(Tok::Lit(c));
                    i += 1;
                }
            }
        }
        Ok(Glob { pattern: pattern.to_string(), toks, by_name: !pattern.contains('/') })
    }

    /// Does `s` match the whole pattern?
    pub fn matches(&self, s: &[u8]) -> bool {
        match_from(&self.toks, s)
    }
}

fn match_from(toks: &[Tok], s: &[u8]) -> bool {
    let Some((t, rest)) = toks.split_first() else { return s.is_empty() };
    match t {
        Tok::Lit(c) => s.first() == Some(c) && match_from(rest, &s[1..]),
        Tok::Any => s.first().is_some_and(|&c| c != b'/') && match_from(rest, &s[1..]),
        Tok::Class { neg, ranges } => {
            s.first().is_some_and(|&c| {
                c != b'/' && ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *neg
            }) && match_from(rest, &s[1..])
        }
        Tok::Star => {
            for k in 0..=s.len() {
                if match_from(rest, &s[k..]) {
                    return true;
                }
                if k < s.len() && s[k] == b'/' {
                    return false;
                }
            }
            false
        }
        Tok::DoubleStar => (0..=s.len()).any(|k| match_from(rest, &s[k..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = |p: &str, s: &str| Glob::new(p).unwrap().matches(s.as_bytes());
        assert!(g("*.rs", "main.rs"));
        assert!(!g("*.rs", "main.rs.bak"));
        assert!(g("src/**/*.rs", "src/a/b/c.rs"));
        assert!(g("src/**/*.rs", "src/c.rs"));
        assert!(!g("src/*.rs", "src/a/c.rs"));
        assert!(g("f?le", "file"));
        assert!(g("[a-c]x", "bx"));
        assert!(!g("[!a-c]x", "bx"));
        assert!(Glob::new("[abc").is_err());
    }
}
