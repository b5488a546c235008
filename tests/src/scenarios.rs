//! Scenarios shared by the test files: a clean program, a program with
//! one data race, each run natively and in both runtime modes.

use std::path::{Path, PathBuf};

use crate::assert::{
    assert_clean, assert_exit_code, assert_race_access, assert_report_count, assert_stdout,
};
use crate::compile::compile_c;
use crate::parse::{c_file_name, marker_line, Access, Report, DATA_RACE, SUMMARY_PREFIX};
use crate::run::{run_cli, run_mode_args, run_native_args, run_preload, RunResult, RACE_EXIT};

/// Which ways of running a program under the runtime a scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `LD_PRELOAD=libpush.so`
    Preload,
    /// `push run --`
    Cli,
}

/// Both runtime modes.
pub const MODES: [Mode; 2] = [Mode::Preload, Mode::Cli];

/// Runs `bin` under the runtime in `mode` with default options.
pub fn run_mode(mode: Mode, bin: &Path) -> RunResult {
    match mode {
        Mode::Preload => run_preload(bin, ""),
        Mode::Cli => run_cli(bin, &[]),
    }
}

/// Compiles `name`, runs it natively and checks exit 0 and `expected`
/// stdout, with no `PUSh` on stderr. Returns the binary.
pub fn check_native(name: &str, expected_stdout: &str) -> PathBuf {
    check_native_args(name, &[], expected_stdout)
}

/// [`check_native`] with command-line arguments for the program.
pub fn check_native_args(name: &str, args: &[&str], expected_stdout: &str) -> PathBuf {
    let bin = compile_c(name);
    let native = run_native_args(&bin, args);
    assert_exit_code(&native, 0);
    assert_stdout(&native, expected_stdout);
    assert!(
        !native.stderr.contains("PUSh"),
        "native run mentions PUSh\n{native}"
    );
    bin
}

/// A clean program: natively, under `LD_PRELOAD` and under `push run`, it
/// exits 0 with `expected_stdout`, and under the runtime its stderr does not
/// mention PUSh at all.
pub fn check_clean(name: &str, expected_stdout: &str) {
    check_clean_args(name, &[], expected_stdout)
}

/// [`check_clean`] with command-line arguments for the program.
pub fn check_clean_args(name: &str, args: &[&str], expected_stdout: &str) {
    let bin = check_native_args(name, args, expected_stdout);
    crate::require_pku!();
    for mode in MODES {
        let r = run_mode_args(mode, &bin, args);
        assert_clean(&r);
        assert!(
            !r.stderr.contains("PUSh"),
            "a clean program's stderr must not mention PUSh ({mode:?})\n{r}"
        );
        assert_stdout(&r, expected_stdout);
    }
}

/// A program with exactly one racy access, on the line marked
/// `/* RACE:tag */`: natively it exits 0 with `expected_stdout`; under
/// `LD_PRELOAD` and under `push run` it still prints `expected_stdout` (the
/// default continues after a report), reports exactly one data race of the
/// given access type with frame `#0` at the marker, prints a `SUMMARY:`
/// line and exits 66. Returns the report of the preload run.
pub fn check_racy(name: &str, tag: &str, access: Access, expected_stdout: &str) -> Option<Report> {
    let bin = check_native(name, expected_stdout);
    crate::require_pku!(None);
    let file = c_file_name(name);
    let line = marker_line(name, tag);
    let mut first = None;
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_exit_code(&r, RACE_EXIT);
        let report = assert_race_access(&r, DATA_RACE, access, &file, line);
        assert_report_count(&r, 1);
        assert!(
            r.stderr.lines().any(|l| l.starts_with(SUMMARY_PREFIX)),
            "no `SUMMARY: PUSh:` line ({mode:?})\n{r}"
        );
        assert_stdout(&r, expected_stdout);
        if mode == Mode::Preload {
            assert_eq!(report.pid, Some(r.pid), "report pid\n{r}");
        }
        first.get_or_insert(report);
    }
    first
}

/// Runs `bin` with `args` in both modes: each run exits 66 with a data race
/// of `access` whose frame `#0` is at `file:line`. Returns each run's
/// report, for checks of its other lines. Call after `require_pku!`.
pub fn racy_in_each_mode(
    bin: &Path,
    args: &[&str],
    access: Access,
    file: &str,
    line: u32,
) -> Vec<Report> {
    MODES
        .iter()
        .map(|&mode| {
            let r = run_mode_args(mode, bin, args);
            assert_exit_code(&r, RACE_EXIT);
            assert_race_access(&r, DATA_RACE, access, file, line)
        })
        .collect()
}

/// A shipped example (`examples/<file>`): natively it exits 0; under the
/// runtime, in both modes, it runs clean with the same stdout, and with
/// `racy_arg` it reports a data race of `access` on the line containing
/// `needle`. Returns the racy runs' reports.
pub fn check_example(file: &str, racy_arg: &str, needle: &str, access: Access) -> Vec<Report> {
    let src = crate::paths::repo_root().join("examples").join(file);
    let src = src.to_str().expect("utf-8 path");
    let bin = compile_c(src);
    let native = run_native_args(&bin, &[]);
    assert_exit_code(&native, 0);
    crate::require_pku!(Vec::new());
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_clean(&r);
        assert_stdout(&r, &native.stdout);
    }
    let line = crate::parse::line_containing(src, needle);
    racy_in_each_mode(&bin, &[racy_arg], access, file, line)
}
