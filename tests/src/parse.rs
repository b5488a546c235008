//! Reading what the runtime wrote: the marker comments of the C programs
//! (`/* RACE:tag */`) and the text reports and `SUMMARY` line on stderr
//! (format: docs/reports.md).

use std::fs;

use crate::paths::c_source;

/// Report kind: a forbidden access.
pub const DATA_RACE: &str = "data race";
/// Report kind: a policy change not ordered by happens-before.
pub const UNORDERED_POLICY_CHANGE: &str = "unordered policy change";
/// Report kind: a misused annotation.
pub const ANNOTATION_ERROR: &str = "annotation error";

const WARNING_PREFIX: &str = "WARNING: PUSh: ";
pub(crate) const SUMMARY_PREFIX: &str = "SUMMARY: PUSh:";

// ---------------------------------------------------------------------------
// Markers
// ---------------------------------------------------------------------------

/// The 1-based line of the unique line of `c_file` (a name in `tests/c` or a
/// path) containing `needle`.
pub fn line_containing(c_file: &str, needle: &str) -> u32 {
    let path = c_source(c_file);
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let hits: Vec<u32> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i as u32 + 1)
        .collect();
    match hits.as_slice() {
        [line] => *line,
        [] => panic!("{} has no line with {needle:?}", path.display()),
        _ => panic!(
            "{} has {needle:?} on several lines: {hits:?}",
            path.display()
        ),
    }
}

/// The line marked `/* RACE:tag */` in `c_file`.
pub fn marker_line(c_file: &str, tag: &str) -> u32 {
    line_containing(c_file, &format!("/* RACE:{tag} */"))
}

/// The file name (`x.c`) of a C program name or path.
pub fn c_file_name(name: &str) -> String {
    c_source(name)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string())
}

// ---------------------------------------------------------------------------
// Text reports
// ---------------------------------------------------------------------------

/// Whether an access was a read or a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Either is acceptable (e.g. a read-modify-write instruction).
    Any,
}

impl Access {
    pub(crate) fn matches(self, is_write: Option<bool>) -> bool {
        match self {
            Access::Any => is_write.is_some(),
            Access::Write => is_write == Some(true),
            Access::Read => is_write == Some(false),
        }
    }
}

/// One report block of the text format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `data race`, `unordered policy change` or `annotation error`.
    pub kind: String,
    /// The `(pid=N)` of the first line.
    pub pid: Option<u32>,
    /// For an access: whether the `Write at`/`Read at` line says write.
    pub is_write: Option<bool>,
    /// The `Write at ...`/`Read at ...` line, trimmed.
    pub access_line: Option<String>,
    /// Frame `#0` of the access (the line right after the access line) or,
    /// without an access line, the first `#0` frame of the block; trimmed.
    pub frame0: Option<String>,
    /// Auto mode's `Previous read|write at ADDR by thread TN ...:` section:
    /// the other access of the race, with its stack.
    pub previous: Option<PreviousAccess>,
    /// Every line of the block after the `WARNING:` line.
    pub lines: Vec<String>,
}

/// The other access of an auto-mode data race: the `Previous read at ...`
/// or `Previous write at ...` line and the stack under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousAccess {
    /// Whether the line says `Previous write`.
    pub is_write: bool,
    /// The `Previous ... at ...` line, trimmed.
    pub line: String,
    /// Its frames (`#0 0x... in f /src/x.c:13`), trimmed, in order.
    pub stack: Vec<String>,
}

impl PreviousAccess {
    /// Frame `#0` of the previous access.
    pub fn frame0(&self) -> Option<&str> {
        self.stack.first().map(String::as_str)
    }

    /// Whether frame `#0` of the previous access is at `file:line`.
    pub fn frame0_at(&self, file: &str, line: u32) -> bool {
        self.frame0().is_some_and(|f| frame_is_at(f, file, line))
    }

    /// The address after `at` (`0x7f00001000`).
    pub fn address(&self) -> Option<&str> {
        address_after_at(&self.line)
    }

    /// The thread name (`T1`) in the line.
    pub fn thread(&self) -> Option<String> {
        let rest = &self.line[self.line.find("by thread ")? + "by thread ".len()..];
        Some(rest.split_whitespace().next()?.to_string())
    }
}

/// The token after ` at ` in an access line (`Write at 0x10 (offset ...`).
fn address_after_at(line: &str) -> Option<&str> {
    let rest = &line[line.find(" at ")? + " at ".len()..];
    rest.split_whitespace().next()
}

/// The frame lines (`#N ...`, trimmed) right after `lines[start]`, up to
/// the first line that is not one.
fn stack_after(lines: &[String], start: usize) -> Vec<String> {
    lines
        .iter()
        .skip(start + 1)
        .map(|l| l.trim())
        .take_while(|l| l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

impl Report {
    /// The first non-empty line after the `WARNING:` line (an annotation
    /// error's call line), trimmed.
    pub fn first_line(&self) -> Option<&str> {
        self.lines.iter().map(|l| l.trim()).find(|l| !l.is_empty())
    }

    /// The `Object 0x... of N bytes, policy ...` line, trimmed.
    pub fn object_line(&self) -> Option<&str> {
        self.lines
            .iter()
            .map(|l| l.trim())
            .find(|l| l.starts_with("Object "))
    }

    /// The access's stack: the frames under the `Write at`/`Read at` line.
    pub fn access_stack(&self) -> Vec<String> {
        self.lines
            .iter()
            .position(|l| {
                let t = l.trim_start();
                t.starts_with("Write at ") || t.starts_with("Read at ")
            })
            .map_or_else(Vec::new, |i| stack_after(&self.lines, i))
    }

    /// The address of the access (the token after `Write at`/`Read at`).
    pub fn access_address(&self) -> Option<&str> {
        address_after_at(self.access_line.as_deref()?)
    }

    /// The allocation stack: the frames under the `allocated by thread ...
    /// at:` line (empty without one).
    pub fn allocation_stack(&self) -> Vec<String> {
        self.lines
            .iter()
            .position(|l| l.trim_start().starts_with("allocated by "))
            .map_or_else(Vec::new, |i| stack_after(&self.lines, i))
    }

    /// The whole block as text.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The thread name (`T1`) in the access line.
    pub fn access_thread(&self) -> Option<String> {
        let line = self.access_line.as_ref()?;
        let rest = &line[line.find("by thread ")? + "by thread ".len()..];
        Some(rest.split_whitespace().next()?.to_string())
    }

    /// The name of the accessing thread (what `pthread_setname_np` set,
    /// libtest's test name, or the program's name), quoted after `T<n>` on
    /// the access line: `by thread T1 "worker" (tid 4243):`. For a report
    /// without an access line, the same on the first line (the call).
    pub fn thread_name(&self) -> Option<String> {
        let line = self.access_line.as_deref().or_else(|| self.first_line())?;
        quoted_thread_name(line)
    }

    /// Whether frame `#0` is at `file:line`.
    pub fn frame0_at(&self, file: &str, line: u32) -> bool {
        self.frame0
            .as_deref()
            .is_some_and(|f| frame_is_at(f, file, line))
    }
}

/// The quoted thread name after `by thread T<n> ` in a report line, with
/// the escapes of the text format (`\"`, `\\`) undone.
pub fn quoted_thread_name(line: &str) -> Option<String> {
    let rest = &line[line.find("by thread ")? + "by thread ".len()..];
    let rest = rest.split_once(' ')?.1.strip_prefix('"')?;
    let mut name = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(name),
            '\\' => name.push(chars.next()?),
            c => name.push(c),
        }
    }
    None
}

/// Whether a frame line (`#0 0x... in fn /src/x.c:14`) names `file:line`
/// (a trailing `:column` is allowed).
pub fn frame_is_at(frame: &str, file: &str, line: u32) -> bool {
    let want = format!("{file}:{line}");
    frame.split_whitespace().any(|tok| {
        let tok = tok.trim_matches(|c| c == '(' || c == ')' || c == ',');
        let base = match tok.rfind('/') {
            Some(i) => &tok[i + 1..],
            None => tok,
        };
        base == want
            || base
                .strip_prefix(&want)
                .is_some_and(|rest| rest.starts_with(':'))
    })
}

fn finish_report(header: &str, lines: Vec<String>) -> Report {
    let (kind, pid) = match header.rfind(" (pid=") {
        Some(i) => {
            let pid = header[i + " (pid=".len()..]
                .trim_end_matches(')')
                .trim()
                .parse()
                .ok();
            (header[..i].trim().to_string(), pid)
        }
        None => (header.trim().to_string(), None),
    };
    let mut is_write = None;
    let mut access_line = None;
    let mut frame0 = None;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let w = if t.starts_with("Write at ") {
            Some(true)
        } else if t.starts_with("Read at ") {
            Some(false)
        } else {
            None
        };
        if w.is_some() {
            is_write = w;
            access_line = Some(t.trim_end().to_string());
            frame0 = lines.get(i + 1).map(|f| f.trim().to_string());
            break;
        }
    }
    let previous = lines.iter().enumerate().find_map(|(i, l)| {
        let t = l.trim();
        let is_write = if t.starts_with("Previous write at ") {
            true
        } else if t.starts_with("Previous read at ") {
            false
        } else {
            return None;
        };
        Some(PreviousAccess {
            is_write,
            line: t.to_string(),
            stack: stack_after(&lines, i),
        })
    });
    if frame0.is_none() {
        frame0 = lines
            .iter()
            .map(|l| l.trim())
            .find(|l| l.starts_with("#0 ") || *l == "#0")
            .map(str::to_string);
    }
    Report {
        kind,
        pid,
        is_write,
        access_line,
        frame0,
        previous,
        lines,
    }
}

/// Splits stderr into report blocks: each starts at a `WARNING: PUSh: `
/// line and ends at the next `=====` separator, `WARNING:` or `SUMMARY:`
/// line.
pub fn parse_reports(stderr: &str) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in stderr.lines() {
        if let Some(header) = line.strip_prefix(WARNING_PREFIX) {
            if let Some((h, ls)) = current.take() {
                reports.push(finish_report(&h, ls));
            }
            current = Some((header.to_string(), Vec::new()));
        } else if line.starts_with(SUMMARY_PREFIX) || line.starts_with("==========") {
            if let Some((h, ls)) = current.take() {
                reports.push(finish_report(&h, ls));
            }
        } else if let Some((_, ls)) = current.as_mut() {
            ls.push(line.to_string());
        }
    }
    if let Some((h, ls)) = current.take() {
        reports.push(finish_report(&h, ls));
    }
    reports
}

/// The counts of the `SUMMARY: PUSh: N reports (A data races, B unordered
/// policy changes, C annotation errors)` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub reports: u64,
    pub data_races: u64,
    pub unordered_policy_changes: u64,
    pub annotation_errors: u64,
}

/// Parses the (last) `SUMMARY: PUSh:` line of stderr.
pub fn parse_summary(stderr: &str) -> Option<Summary> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with(SUMMARY_PREFIX))?;
    let rest = &line[SUMMARY_PREFIX.len()..];
    let mut summary = Summary {
        reports: 0,
        data_races: 0,
        unordered_policy_changes: 0,
        annotation_errors: 0,
    };
    // "3 reports (2 data races, 0 unordered policy changes, 1 annotation error)"
    let (total, details) = rest.split_once('(').unwrap_or((rest, ""));
    summary.reports = total.split_whitespace().next()?.parse().ok()?;
    for part in details.trim_end().trim_end_matches(')').split(',') {
        let part = part.trim();
        let Some((n, what)) = part.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse() else { continue };
        if what.starts_with("data race") {
            summary.data_races = n;
        } else if what.starts_with("unordered policy change") {
            summary.unordered_policy_changes = n;
        } else if what.starts_with("annotation error") {
            summary.annotation_errors = n;
        }
    }
    Some(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::c_dir;

    const SAMPLE: &str = "\
some program output
==================
WARNING: PUSh: data race (pid=4242)
  Write at 0x7f2a1c000008 (offset 8 in object 0x7f2a1c000000) by thread T1 \"writer \\\"1\\\"\" (tid 4243):
    #0 0x5555555551a9 in writer /src/racy.c:14
    #1 0x7ffff7e2a144 in start_thread (/lib/x86_64-linux-gnu/libc.so.6+0x8a144)

  Object 0x7f2a1c000000 of 64 bytes, policy protected_by(lock 0x5555555580a0, held by T2)
  allocated by thread T0 (tid 4242) at:
    #0 0x555555555230 in main /src/racy.c:30
==================
==================
WARNING: PUSh: annotation error (pid=4242)
  push_private(0x55555555a2a0) by thread T0 (tid 4242): not a tracked object (EINVAL)
    #0 0x555555555230 in main /src/misuse.c:12
==================
==================
WARNING: PUSh: data race (pid=4242)
  Read at 0x7f2a1c000010 (offset 16 in object 0x7f2a1c000000) by thread T3 (tid 4245):
    #0 0x5555555551b0 in reader /src/racy.c:140
==================
SUMMARY: PUSh: 3 reports (2 data races, 0 unordered policy changes, 1 annotation error)
";

    #[test]
    fn parses_sample_reports() {
        let reports = parse_reports(SAMPLE);
        assert_eq!(reports.len(), 3);
        let r = &reports[0];
        assert_eq!(r.kind, DATA_RACE);
        assert_eq!(r.pid, Some(4242));
        assert_eq!(r.is_write, Some(true));
        assert!(r.frame0_at("racy.c", 14));
        assert!(!r.frame0_at("racy.c", 1));
        assert!(!r.frame0_at("y.c", 14));
        assert_eq!(r.access_thread().as_deref(), Some("T1"));
        assert_eq!(r.thread_name().as_deref(), Some("writer \"1\""));
        assert!(r.object_line().unwrap().contains("of 64 bytes"));

        let a = &reports[1];
        assert_eq!(a.kind, ANNOTATION_ERROR);
        assert_eq!(a.is_write, None);
        assert_eq!(a.thread_name(), None);
        assert!(a.first_line().unwrap().starts_with("push_private("));
        assert!(a.frame0_at("misuse.c", 12));

        let b = &reports[2];
        assert_eq!(b.is_write, Some(false));
        assert!(b.frame0_at("racy.c", 140));
        assert!(!b.frame0_at("racy.c", 14));
    }

    /// An auto-mode data race (`push run --auto`): the access, then the
    /// other access of the pair under `Previous write at`.
    const AUTO_SAMPLE: &str = "\
==================
WARNING: PUSh: data race (pid=1234)
  Write at 0x7f00001000 (offset 16 in object 0x7f00000ff0) by thread T2 \"prog\" (tid 5678):
    #0 0x55d0c1 in careless /path/tests/c/auto_lock_forgotten.c:23
    #1 0x55d0d2 in start_thread (/lib/x86_64-linux-gnu/libc.so.6+0x8a144)

  Previous write at 0x7f00001000 by thread T1 \"prog\" (tid 5677):
    #0 0x55d0a1 in careful /path/tests/c/auto_lock_forgotten.c:13
    #1 0x55d0b2 in start_thread (/lib/x86_64-linux-gnu/libc.so.6+0x8a144)

  Object 0x7f00000ff0 of 32 bytes, policy protected_by(lock 0x7f00000ff0, not held), watched by --auto
  allocated by thread T0 (tid 5676) at:
    #0 0x55d0f1 in main /path/tests/c/auto_lock_forgotten.c:30
    #1 0x7ffff7dd1d8f in __libc_start_call_main (/lib/x86_64-linux-gnu/libc.so.6+0x29d8f)
==================
==================
WARNING: PUSh: data race (pid=1234)
  Read at 0x7f00002008 (offset 8 in object 0x7f00002000) by thread T3 (tid 5679):
    #0 0x55d111 in reader /path/tests/c/auto_flag.c:40
  Previous read at 0x7f00002008 by thread T4 (tid 5680):
    #0 0x55d222 in other /path/tests/c/auto_flag.c:41
  Object 0x7f00002000 of 16 bytes, policy racy, watched by --auto
  allocated by thread T0 (tid 5676) at:
==================
SUMMARY: PUSh: 2 reports (2 data races, 0 unordered policy changes, 0 annotation errors)
";

    #[test]
    fn parses_the_previous_access_of_an_auto_race() {
        let reports = parse_reports(AUTO_SAMPLE);
        assert_eq!(reports.len(), 2);
        let r = &reports[0];
        assert_eq!(r.kind, DATA_RACE);
        assert_eq!(r.is_write, Some(true));
        assert!(r.frame0_at("auto_lock_forgotten.c", 23));
        assert_eq!(r.access_thread().as_deref(), Some("T2"));
        assert_eq!(r.access_address(), Some("0x7f00001000"));
        assert_eq!(r.access_stack().len(), 2);
        let p = r.previous.as_ref().expect("a Previous section");
        assert!(p.is_write);
        assert!(p
            .line
            .starts_with("Previous write at 0x7f00001000 by thread T1"));
        assert_eq!(p.address(), Some("0x7f00001000"));
        assert_eq!(p.thread().as_deref(), Some("T1"));
        assert_eq!(p.stack.len(), 2, "{p:?}");
        assert!(p.frame0_at("auto_lock_forgotten.c", 13));
        assert!(!p.frame0_at("auto_lock_forgotten.c", 23));
        assert!(p.stack[1].contains("start_thread"));
        // The previous section does not leak into the allocation stack.
        let alloc = r.allocation_stack();
        assert_eq!(alloc.len(), 2, "{alloc:?}");
        assert!(frame_is_at(&alloc[0], "auto_lock_forgotten.c", 30));
        assert!(r.object_line().unwrap().ends_with("watched by --auto"));

        let b = &reports[1];
        assert_eq!(b.is_write, Some(false));
        let p = b.previous.as_ref().expect("a Previous section");
        assert!(!p.is_write);
        assert_eq!(p.stack.len(), 1);
        assert!(p.frame0_at("auto_flag.c", 41));
        assert!(b.allocation_stack().is_empty());

        // The annotated modes' reports have no previous access.
        assert!(parse_reports(SAMPLE).iter().all(|r| r.previous.is_none()));
    }

    #[test]
    fn parses_summary() {
        assert_eq!(
            parse_summary(SAMPLE),
            Some(Summary {
                reports: 3,
                data_races: 2,
                unordered_policy_changes: 0,
                annotation_errors: 1
            })
        );
        let one = "SUMMARY: PUSh: 1 report (1 data race, 0 unordered policy changes, 0 annotation errors)";
        assert_eq!(
            parse_summary(one).map(|s| (s.reports, s.data_races)),
            Some((1, 1))
        );
        assert_eq!(parse_summary("nothing"), None);
    }

    #[test]
    fn frame_matching() {
        assert!(frame_is_at("#0 0x1 in f /a/b/x.c:7", "x.c", 7));
        assert!(frame_is_at("#0 0x1 in f x.c:7:3", "x.c", 7));
        assert!(!frame_is_at("#0 0x1 in f /a/b/x.c:70", "x.c", 7));
        assert!(!frame_is_at("#0 0x1 in f /a/b/xx.c:7", "x.c", 7));
        assert!(!frame_is_at("#0 0x1 (/bin/x+0x1234)", "x.c", 7));
    }

    #[test]
    fn every_marker_is_unique() {
        let mut count = 0;
        for entry in fs::read_dir(c_dir()).unwrap() {
            let path = entry.unwrap().path();
            if !matches!(path.extension().and_then(|e| e.to_str()), Some("c" | "cpp")) {
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            for (i, l) in text.lines().enumerate() {
                if let Some(pos) = l.find("/* RACE:") {
                    let tag = l[pos + 8..].split(' ').next().unwrap();
                    let line = marker_line(path.to_str().unwrap(), tag);
                    assert_eq!(line, i as u32 + 1);
                    count += 1;
                }
            }
        }
        assert!(count > 10, "found only {count} markers");
    }
}
