//! Happens-before validation: `unordered policy change` reports, their
//! two shapes (docs/model.md, "Happens-before") and the `/* CHANGE:tag */`
//! markers.

use crate::assert::{assert_exit_code, assert_report_count, assert_stdout};
use crate::parse::{
    c_file_name, frame_is_at, line_containing, marker_line, Access, Report, Summary,
    UNORDERED_POLICY_CHANGE,
};
use crate::run::{RunResult, RACE_EXIT};
use crate::scenarios::{check_native, run_mode, Mode, MODES};

/// The line marked `/* CHANGE:tag */` in `c_file`: the policy change an
/// `unordered policy change` report must show as the change not ordered
/// before the access (rule 2) or as the previous change (rule 1).
pub fn change_marker_line(c_file: &str, tag: &str) -> u32 {
    line_containing(c_file, &format!("/* CHANGE:{tag} */"))
}

/// What an `unordered policy change` report is about (the two rules of
/// docs/model.md, "Happens-before").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unordered<'a> {
    /// Rule 1: the policy change `call` (e.g. `"push_acquire"`) does not
    /// happen after the object's previous change, made by `previous` (e.g.
    /// `"push_release"`) in another thread. The block starts with a
    /// `call(0x...) by thread Tn ...` line; frame `#0` is the call's site.
    Change { call: &'a str, previous: &'a str },
    /// Rule 2: another thread's first access under a new policy does not
    /// happen after the change made by `change` (e.g. `"push_transfer"`).
    /// The block starts with a `Read at`/`Write at` line; frame `#0` is the
    /// access.
    Access { access: Access, change: &'a str },
}

impl Unordered<'_> {
    /// The push_* call whose site the report's second stack shows.
    pub fn change_site_call(&self) -> &str {
        match self {
            Unordered::Change { previous, .. } => previous,
            Unordered::Access { change, .. } => change,
        }
    }
}

fn is_frame0(line: &str) -> bool {
    line.starts_with("#0 ") || line == "#0"
}

impl Report {
    /// Every frame `#0` line of the block, in order, trimmed.
    pub fn frame0_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| is_frame0(l))
            .collect()
    }

    /// The first frame `#0` line of the block, trimmed: the access of an
    /// access report, the call of an annotation error or of an unordered
    /// policy change (rule 1).
    pub fn first_frame0(&self) -> Option<&str> {
        self.lines.iter().map(|l| l.trim()).find(|l| is_frame0(l))
    }

    /// Whether the first frame `#0` of the block is at `file:line`.
    pub fn first_frame0_at(&self, file: &str, line: u32) -> bool {
        self.first_frame0()
            .is_some_and(|f| frame_is_at(f, file, line))
    }

    /// The first line after the block's first frame `#0` that contains
    /// `needle` and is not a frame, trimmed (e.g. `Policy changed by
    /// push_transfer in thread T0 ...`).
    pub fn line_after_first_frame(&self, needle: &str) -> Option<&str> {
        let first = self.lines.iter().position(|l| is_frame0(l.trim()))?;
        self.lines[first + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.starts_with('#') && l.contains(needle))
    }

    /// Frame `#0` of the stack that follows
    /// [`line_after_first_frame(needle)`](Self::line_after_first_frame): for
    /// an unordered policy change, `frame0_after("push_release")` is the
    /// site of that change.
    pub fn frame0_after(&self, needle: &str) -> Option<&str> {
        let first = self.lines.iter().position(|l| is_frame0(l.trim()))?;
        let rest = &self.lines[first + 1..];
        let at = rest.iter().position(|l| {
            let t = l.trim_start();
            !t.starts_with('#') && t.contains(needle)
        })?;
        rest[at + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| is_frame0(l))
    }
}

/// Asserts that stderr has an `unordered policy change` report of the shape
/// `expect` whose first frame `#0` is at `file:line` (the access for rule 2,
/// the later push_* call for rule 1) and whose change site (the stack after
/// the line naming `expect.change_site_call()`) has frame `#0` at
/// `file:change_line`; returns it.
pub fn assert_unordered(
    result: &RunResult,
    expect: Unordered<'_>,
    file: &str,
    line: u32,
    change_line: u32,
) -> Report {
    let reports = result.reports();
    let report = reports
        .iter()
        .find(|r| r.kind == UNORDERED_POLICY_CHANGE && r.first_frame0_at(file, line))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "expected an `{UNORDERED_POLICY_CHANGE}` report ({expect:?}) with frame #0 at \
                 {file}:{line}; parsed {} report(s): {:#?}\n{result}",
                reports.len(),
                reports
                    .iter()
                    .map(|r| (&r.kind, r.first_line(), r.first_frame0()))
                    .collect::<Vec<_>>()
            )
        });
    match expect {
        Unordered::Change { call, .. } => {
            let prefix = format!("{call}(");
            assert!(
                report.first_line().is_some_and(|l| l.starts_with(&prefix)),
                "rule 1: the report's first line names the later call {call}:\n{}\n{result}",
                report.text()
            );
            assert!(
                report.access_line.is_none(),
                "rule 1: a policy change, not an access:\n{}\n{result}",
                report.text()
            );
        }
        Unordered::Access { access, .. } => {
            assert!(
                report.access_line.is_some() && access.matches(report.is_write),
                "rule 2: expected a {access:?} access line:\n{}\n{result}",
                report.text()
            );
        }
    }
    let site = expect.change_site_call();
    assert!(
        report
            .frame0_after(site)
            .is_some_and(|f| frame_is_at(f, file, change_line)),
        "the report must show the change by {site} at {file}:{change_line} (found {:?}):\n{}\n{result}",
        report.frame0_after(site),
        report.text()
    );
    report
}

/// [`check_racy`](crate::check_racy) for happens-before validation: a program with exactly one
/// policy change or first access not ordered by anything the runtime sees.
/// Its unordered line is marked `/* RACE:tag */` and the policy change the
/// report must show as the other side is marked `/* CHANGE:tag */`.
/// Natively it exits 0 with `expected_stdout`; under `LD_PRELOAD` and under
/// `push run` it still prints `expected_stdout`, reports exactly one
/// `unordered policy change` of the shape `expect` (see
/// [`assert_unordered`]) and nothing else, prints the summary
/// `1 report (0 data races, 1 unordered policy change, 0 annotation
/// errors)` and exits 66. Returns the report of the preload run.
pub fn check_unordered(
    name: &str,
    tag: &str,
    expect: Unordered<'_>,
    expected_stdout: &str,
) -> Option<Report> {
    let bin = check_native(name, expected_stdout);
    crate::require_pku!(None);
    let file = c_file_name(name);
    let line = marker_line(name, tag);
    let change_line = change_marker_line(name, tag);
    let mut first = None;
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_exit_code(&r, RACE_EXIT);
        let report = assert_unordered(&r, expect, &file, line, change_line);
        assert_report_count(&r, 1);
        let summary = r
            .summary()
            .unwrap_or_else(|| panic!("no `SUMMARY: PUSh:` line ({mode:?})\n{r}"));
        assert_eq!(
            summary,
            Summary {
                reports: 1,
                data_races: 0,
                unordered_policy_changes: 1,
                annotation_errors: 0
            },
            "summary ({mode:?})\n{r}"
        );
        assert_stdout(&r, expected_stdout);
        if mode == Mode::Preload {
            assert_eq!(report.pid, Some(r.pid), "report pid\n{r}");
        }
        first.get_or_insert(report);
    }
    first
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::parse::{parse_reports, parse_summary};
    use crate::paths::c_dir;

    const SAMPLE_HB: &str = "\
==================
WARNING: PUSh: unordered policy change (pid=77)
  Write at 0x7f0000000008 (offset 8 in object 0x7f0000000000) by thread T1 (tid 78):
    #0 0x5555555551a9 in receiver /src/hb_transfer_race.c:18
    #1 0x7ffff7e2a144 in start_thread (/lib/x86_64-linux-gnu/libc.so.6+0x8a144)
  Policy changed by push_transfer in thread T0 (tid 77), not ordered before this access:
    #0 0x555555555300 in main /src/hb_transfer_race.c:33
  Object 0x7f0000000000 of 16 bytes, policy private(T1)
  allocated by thread T0 (tid 77) at:
    #0 0x555555555280 in main /src/hb_transfer_race.c:27
==================
==================
WARNING: PUSh: unordered policy change (pid=77)
  push_acquire(0x7f0000001000) by thread T1 (tid 78): not ordered after the previous policy change
    #0 0x5555555551c0 in taker /src/hb_acquire_race.c:17
  Previous change by push_release in thread T0 (tid 77):
    #0 0x555555555310 in main /src/hb_acquire_race.c:30
    #1 0x7ffff7dbd24a in __libc_start_call_main (/lib/x86_64-linux-gnu/libc.so.6+0x2724a)
  Object 0x7f0000001000 of 16 bytes, policy private(T1)
==================
SUMMARY: PUSh: 2 reports (0 data races, 2 unordered policy changes, 0 annotation errors)
";

    #[test]
    fn parses_unordered_policy_change_reports() {
        let reports = parse_reports(SAMPLE_HB);
        assert_eq!(reports.len(), 2);

        let access = &reports[0];
        assert_eq!(access.kind, UNORDERED_POLICY_CHANGE);
        assert_eq!(access.pid, Some(77));
        assert_eq!(access.is_write, Some(true));
        assert_eq!(access.access_thread().as_deref(), Some("T1"));
        assert!(access.frame0_at("hb_transfer_race.c", 18));
        assert!(access.first_frame0_at("hb_transfer_race.c", 18));
        assert_eq!(access.frame0_lines().len(), 3);
        assert!(access
            .frame0_after("push_transfer")
            .is_some_and(|f| frame_is_at(f, "hb_transfer_race.c", 33)));
        assert!(access
            .line_after_first_frame("push_transfer")
            .is_some_and(|l| l.contains("thread T0")));
        assert!(access.object_line().unwrap().contains("policy private(T1)"));

        let change = &reports[1];
        assert_eq!(change.kind, UNORDERED_POLICY_CHANGE);
        assert_eq!(change.is_write, None);
        assert_eq!(change.access_line, None);
        assert!(change.first_line().unwrap().starts_with("push_acquire("));
        assert!(change.first_frame0_at("hb_acquire_race.c", 17));
        assert!(change.frame0_at("hb_acquire_race.c", 17));
        assert!(!change.first_frame0_at("hb_acquire_race.c", 30));
        assert!(change
            .frame0_after("push_release")
            .is_some_and(|f| frame_is_at(f, "hb_acquire_race.c", 30)));
        // The call's own name is before the first frame: not a change site.
        assert_eq!(change.frame0_after("push_acquire"), None);

        assert_eq!(
            parse_summary(SAMPLE_HB),
            Some(Summary {
                reports: 2,
                data_races: 0,
                unordered_policy_changes: 2,
                annotation_errors: 0
            })
        );
    }

    #[test]
    fn every_change_marker_is_unique() {
        for entry in fs::read_dir(c_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("c") {
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            for (i, l) in text.lines().enumerate() {
                if let Some(pos) = l.find("/* CHANGE:") {
                    let tag = l[pos + 10..].split(' ').next().unwrap();
                    let line = change_marker_line(path.to_str().unwrap(), tag);
                    assert_eq!(line, i as u32 + 1);
                    // Every change marker pairs with a race marker.
                    marker_line(path.to_str().unwrap(), tag);
                }
            }
        }
    }
}
