//! Assertions on a [`RunResult`]: exit status, stdout, and the reports.

use crate::parse::{Access, Report, ANNOTATION_ERROR};
use crate::run::RunResult;

/// Asserts the child exited (not killed by a signal) with `code`.
pub fn assert_exit_code(result: &RunResult, code: i32) {
    assert!(
        result.code == Some(code),
        "expected exit code {code}\n{result}"
    );
}

/// Asserts the child was killed by signal `sig`.
pub fn assert_signal(result: &RunResult, sig: i32) {
    assert!(
        result.signal == Some(sig),
        "expected death by signal {sig}\n{result}"
    );
}

/// Asserts a clean run: exit code 0 and no `WARNING: PUSh:` on stderr.
pub fn assert_clean(result: &RunResult) {
    assert!(
        !result.stderr.contains("WARNING: PUSh:"),
        "expected no report\n{result}"
    );
    assert_exit_code(result, 0);
}

/// Asserts that stderr has a report of `kind` whose access is a write
/// (`is_write`) or a read, with frame `#0` at `file:line`; returns it.
pub fn assert_race(
    result: &RunResult,
    kind: &str,
    is_write: bool,
    file: &str,
    line: u32,
) -> Report {
    let access = if is_write {
        Access::Write
    } else {
        Access::Read
    };
    assert_race_access(result, kind, access, file, line)
}

/// [`assert_race`] with the access type as an [`Access`] (`Any` allowed).
pub fn assert_race_access(
    result: &RunResult,
    kind: &str,
    access: Access,
    file: &str,
    line: u32,
) -> Report {
    let reports = result.reports();
    reports
        .iter()
        .find(|r| r.kind == kind && access.matches(r.is_write) && r.frame0_at(file, line))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "expected a `{kind}` report ({access:?}) with frame #0 at {file}:{line}; \
                 parsed {} report(s): {:#?}\n{result}",
                reports.len(),
                reports
                    .iter()
                    .map(|r| (&r.kind, r.is_write, &r.frame0))
                    .collect::<Vec<_>>()
            )
        })
}

/// Asserts that stderr has an `annotation error` report whose first line
/// names `call` (e.g. `push_private`) and whose stack's frame `#0` is at
/// `file:line`; returns it.
pub fn assert_annotation_error(result: &RunResult, call: &str, file: &str, line: u32) -> Report {
    let reports = result.reports();
    reports
        .iter()
        .find(|r| {
            r.kind == ANNOTATION_ERROR
                && r.first_line().is_some_and(|l| l.contains(call))
                && r.frame0_at(file, line)
        })
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "expected an annotation error for {call} at {file}:{line}; parsed: {:#?}\n{result}",
                reports
                    .iter()
                    .map(|r| (&r.kind, r.first_line(), &r.frame0))
                    .collect::<Vec<_>>()
            )
        })
}

/// Asserts exactly `n` report blocks on stderr.
pub fn assert_report_count(result: &RunResult, n: usize) {
    let reports = result.reports();
    assert!(
        reports.len() == n,
        "expected {n} report(s), found {}: {:#?}\n{result}",
        reports.len(),
        reports
            .iter()
            .map(|r| (&r.kind, r.is_write, &r.frame0))
            .collect::<Vec<_>>()
    );
}

/// Asserts stdout equals `expected` exactly.
pub fn assert_stdout(result: &RunResult, expected: &str) {
    assert!(
        result.stdout == expected,
        "expected stdout {expected:?}\n{result}"
    );
}
