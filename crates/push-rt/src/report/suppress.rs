//! Suppressions in ThreadSanitizer's format: `kind:pattern` lines, the
//! pattern matched against every frame's function, file and module.

use super::symbolize::Frame;
use super::Kind;

/// One suppression line: `kind:pattern`, where it came from, and how many
/// reports it hid.
pub struct Suppression {
    /// `race`, `policy` or `annotation` (see [`Kind::suppression_name`]).
    pub kind: &'static str,
    pub pattern: String,
    pub source: String,
    pub hits: u32,
}

impl Suppression {
    /// Whether this line hides a report of `kind` with these frames: its
    /// pattern matches a frame's function, file or module.
    pub(super) fn matches(&self, kind: Kind, frames: &[Frame]) -> bool {
        self.kind == kind.suppression_name()
            && frames.iter().any(|f| {
                [&f.function, &f.file, &f.module].iter().any(|s| {
                    s.as_deref()
                        .is_some_and(|s| template_match(&self.pattern, s))
                })
            })
    }
}

/// Parses suppressions in ThreadSanitizer's format: one `kind:pattern` a
/// line, `#` comments, blank lines ignored. `origin` names the text in
/// errors (`FILE:LINE`).
///
/// # Errors
/// A message naming the first malformed line.
pub fn parse_suppressions(origin: &str, text: &str) -> Result<Vec<Suppression>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((kind, pat)) = line.split_once(':') else {
            return Err(format!(
                "{origin}:{}: expected KIND:PATTERN, got '{line}'",
                n + 1
            ));
        };
        let kind = match kind.trim() {
            "race" => "race",
            "policy" => "policy",
            "annotation" => "annotation",
            k => {
                return Err(format!(
                    "{origin}:{}: unknown suppression kind '{k}' (race, policy, annotation)",
                    n + 1
                ))
            }
        };
        let pattern = pat.trim().to_string();
        if pattern.is_empty() || pattern == "^" || pattern == "$" {
            return Err(format!(
                "{origin}:{}: empty pattern in '{line}' (it would hide every report)",
                n + 1
            ));
        }
        out.push(Suppression {
            kind,
            pattern,
            source: format!("{origin}:{}", n + 1),
            hits: 0,
        });
    }
    Ok(out)
}

/// ThreadSanitizer's pattern match: `pattern` is found anywhere in `s`;
/// `*` matches any characters, a leading `^` anchors it at the start and a
/// trailing `$` at the end.
pub fn template_match(pattern: &str, s: &str) -> bool {
    let (start_anchor, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (end_anchor, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    let parts: Vec<&str> = p.split('*').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        let last = i == parts.len() - 1;
        if i == 0 && start_anchor {
            if !s.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if last && end_anchor {
            if s.len() < pos + part.len() || !s.ends_with(part) {
                return false;
            }
            pos = s.len();
        } else {
            match s[pos..].find(part) {
                Some(k) => pos += k + part.len(),
                None => return false,
            }
        }
    }
    // `^$`-anchored patterns without a trailing `*` must end the string.
    !end_anchor || pos == s.len() || p.ends_with('*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsan_patterns() {
        for (p, s, m) in [
            ("intruder", "intruder", true),
            ("trud", "intruder", true),
            ("^intr", "intruder", true),
            ("^trud", "intruder", false),
            ("der$", "intruder", true),
            ("de$", "intruder", false),
            ("^intruder$", "intruder", true),
            ("^intr*der$", "intruder", true),
            ("^in*x*er$", "intruder", false),
            ("src/*.c", "/w/src/racy.c", true),
            ("*", "anything", true),
            ("a*b*c", "xaxbxcx", true),
            ("a*b*c", "xaxcxbx", false),
        ] {
            assert_eq!(template_match(p, s), m, "{p} ~ {s}");
        }
    }

    #[test]
    fn suppression_files_parse_like_tsan() {
        let s = parse_suppressions("f", "# c\n\nrace:a*b\n policy : x \nannotation:^y$\n").unwrap();
        let got: Vec<(&str, &str, &str)> = s
            .iter()
            .map(|x| (x.kind, x.pattern.as_str(), x.source.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("race", "a*b", "f:3"),
                ("policy", "x", "f:4"),
                ("annotation", "^y$", "f:5")
            ]
        );
        assert!(parse_suppressions("f", "race:").is_err());
        assert!(parse_suppressions("f", "deadlock:x").is_err());
        assert!(parse_suppressions("f", "nocolon").is_err());
    }
}
