//! Shell-style wildcard patterns for cable rules (`serial: "2102*"`, `usb_path: "1-1.?"`).
//!
//! Rules match a handful of short strings, so a tiny matcher is enough: `*` (any run of
//! characters), `?` (one character), `[abc]`, `[a-z]`, `[!a-z]` (one character in / not in a
//! set) and `\` to take the next character literally. A bad pattern is a config error, found
//! when the file is loaded rather than silently never matching.

use std::fmt;

/// A compiled pattern. Equality and display use the text as written.
#[derive(Clone)]
pub struct Glob {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    AnyChar,
    /// `*`
    AnyRun,
    /// `[...]`: inclusive ranges (a single character is a range of one).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Why a pattern is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("unclosed `[` in pattern {0:?}")]
    UnclosedClass(String),
    #[error("empty `[]` in pattern {0:?}")]
    EmptyClass(String),
    #[error("range `{1}-{2}` runs backwards in pattern {0:?}")]
    BackwardsRange(String, char, char),
    #[error("pattern {0:?} ends with a lone `\\`")]
    TrailingEscape(String),
}

impl Glob {
    /// Compiles `text`.
    pub fn new(text: &str) -> Result<Glob, GlobError> {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' => Token::AnyRun,
                '?' => Token::AnyChar,
                '\\' => match chars.next() {
                    Some(escaped) => Token::Literal(escaped),
                    None => return Err(GlobError::TrailingEscape(text.into())),
                },
                '[' => {
                    let negated = chars.next_if(|&c| c == '!' || c == '^').is_some();
                    let mut ranges = Vec::new();
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        if c == ']' {
                            closed = true;
                            break;
                        }
                        let low = if c == '\\' {
                            chars
                                .next()
                                .ok_or_else(|| GlobError::UnclosedClass(text.into()))?
                        } else {
                            c
                        };
                        // `a-z`, unless the `-` is last in the class (then it is literal).
                        let high = if chars.peek() == Some(&'-') {
                            let mut ahead = chars.clone();
                            ahead.next();
                            match ahead.next() {
                                Some(']') | None => low,
                                Some(h) => {
                                    chars.next();
                                    chars.next();
                                    h
                                }
                            }
                        } else {
                            low
                        };
                        if high < low {
                            return Err(GlobError::BackwardsRange(text.into(), low, high));
                        }
                        ranges.push((low, high));
                    }
                    if !closed {
                        return Err(GlobError::UnclosedClass(text.into()));
                    }
                    if ranges.is_empty() {
                        return Err(GlobError::EmptyClass(text.into()));
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Literal(c),
            };
            tokens.push(token);
        }
        Ok(Glob {
            text: text.to_string(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the pattern has no wildcard, i.e. matches exactly one string.
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }

    /// True when the whole of `s` matches the pattern.
    pub fn matches(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        // Classic wildcard matching: walk both, and on a mismatch go back to the last `*`
        // and let it swallow one more character.
        let (mut t, mut c) = (0, 0);
        let mut last_star: Option<(usize, usize)> = None;
        while c < chars.len() {
            match self.tokens.get(t) {
                Some(Token::AnyRun) => {
                    last_star = Some((t, c));
                    t += 1;
                }
                Some(token) if token.matches_one(chars[c]) => {
                    t += 1;
                    c += 1;
                }
                _ => match last_star {
                    Some((star_t, star_c)) => {
                        last_star = Some((star_t, star_c + 1));
                        t = star_t + 1;
                        c = star_c + 1;
                    }
                    None => return false,
                },
            }
        }
        self.tokens[t..].iter().all(|tok| *tok == Token::AnyRun)
    }
}

impl Token {
    fn matches_one(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::AnyChar => true,
            Token::AnyRun => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Glob {}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.text)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, s: &str) -> bool {
        Glob::new(pattern).unwrap().matches(s)
    }

    #[test]
    fn literals_and_wildcards() {
        assert!(m("210249A2B6C1", "210249A2B6C1"));
        assert!(!m("210249A2B6C1", "210249A2B6C"));
        assert!(m("1-1.*", "1-1.4"));
        assert!(m("1-1.*", "1-1."));
        assert!(!m("1-1.*", "1-2.4"));
        assert!(m("*", ""));
        assert!(m("*A*B*", "xxAyyBzz"));
        assert!(!m("*A*B", "xxAyyBzz"));
        assert!(m("1-1.?", "1-1.4"));
        assert!(!m("1-1.?", "1-1.14"));
        assert!(m("a*b*c", "aXbYbZc"));
    }

    #[test]
    fn classes() {
        assert!(m("1-1.[1-4]", "1-1.3"));
        assert!(!m("1-1.[1-4]", "1-1.5"));
        assert!(m("1-1.[!1-4]", "1-1.5"));
        assert!(m("[a-]", "-"));
        assert!(m("x[*]", "x*"));
        assert!(!m("x[*]", "xy"));
        assert!(m(r"x\*", "x*"));
    }

    #[test]
    fn bad_patterns() {
        assert!(matches!(
            Glob::new("1-1.[1-4"),
            Err(GlobError::UnclosedClass(_))
        ));
        assert!(matches!(Glob::new("[]"), Err(GlobError::EmptyClass(_))));
        assert!(matches!(
            Glob::new("[z-a]"),
            Err(GlobError::BackwardsRange(..))
        ));
        assert!(matches!(
            Glob::new("ab\\"),
            Err(GlobError::TrailingEscape(_))
        ));
    }

    #[test]
    fn literal_detection() {
        assert!(Glob::new("0403:6014").unwrap().is_literal());
        assert!(!Glob::new("0403:*").unwrap().is_literal());
    }
}
