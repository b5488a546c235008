//! Auto mode: `push run --auto` / `PUSH_OPTIONS=auto=1` watches the heap
//! objects of an unannotated program and reports a data race when two
//! observed accesses to one address, from different threads, at least one
//! a write, are not ordered by happens-before. The programs are
//! `tests/c/auto_*.c` (and `auto_cpp_new.cpp`); they include
//! `auto_common.h`, never `push.h`.
//!
//! A racy program marks its two racing accesses `/* RACE:a */` and
//! `/* RACE:b */` (any two tags) and the allocation of the object
//! `/* ALLOC */`. Which side a report names as the access and which as the
//! `Previous read|write` access depends on timing: [`assert_auto_race`]
//! accepts either order.

use std::path::Path;

use crate::assert::{assert_exit_code, assert_stdout};
use crate::compile::compile_c;
use crate::parse::{
    c_file_name, frame_is_at, line_containing, marker_line, Report, DATA_RACE, SUMMARY_PREFIX,
};
use crate::pku::under_emulation;
use crate::run::{run_cli_args, run_native_args, run_preload, RunResult, RACE_EXIT};
use crate::scenarios::{run_mode, Mode, MODES};

/// The option that turns auto mode on (`PUSH_OPTIONS=auto=1`).
pub const AUTO_OPTION: &str = "auto=1";

/// The `push run` flag that turns auto mode on.
pub const AUTO_FLAG: &str = "--auto";

/// The marker of the allocation of a racy program's object.
pub const ALLOC_MARKER: &str = "/* ALLOC */";

/// How many seeds ([`check_auto_clean`]) a race-free program runs with:
/// 20, but 3 inside the QEMU guest of scripts/pku-vm.sh, whose emulated CPU
/// makes every fault and key switch ~100x slower (20 seeds of every clean
/// program would take most of the guest's time budget there; the host
/// passes run the 20 seeds on both backends).
pub fn auto_seed_count() -> u64 {
    if under_emulation() {
        3
    } else {
        20
    }
}

/// Runs `bin` under the runtime in auto mode: under `LD_PRELOAD` with
/// `PUSH_OPTIONS=auto=1[:seed=N]`, or as `push run --auto [--seed N] --`.
/// `extra` adds options in the preload form (`report_format=json`) and
/// flags in the CLI form (`--report-format json`): give each its own.
pub fn run_auto_with(
    mode: Mode,
    bin: &Path,
    seed: Option<u64>,
    extra_option: &str,
    extra_flags: &[&str],
) -> RunResult {
    match mode {
        Mode::Preload => {
            let mut options = vec![AUTO_OPTION.to_string()];
            if let Some(seed) = seed {
                options.push(format!("seed={seed}"));
            }
            if !extra_option.is_empty() {
                options.push(extra_option.to_string());
            }
            run_preload(bin, &options.join(":"))
        }
        Mode::Cli => {
            let seed = seed.map(|s| s.to_string());
            let mut flags = vec![AUTO_FLAG];
            if let Some(seed) = &seed {
                flags.extend(["--seed", seed.as_str()]);
            }
            flags.extend(extra_flags);
            run_cli_args(bin, &flags, &[], &[])
        }
    }
}

/// [`run_auto_with`] with nothing extra.
pub fn run_auto(mode: Mode, bin: &Path, seed: Option<u64>) -> RunResult {
    run_auto_with(mode, bin, seed, "", &[])
}

/// One line per data race report: its frame `#0` and its previous
/// access's, for failure messages.
fn race_pairs(result: &RunResult) -> Vec<(Option<String>, Option<String>)> {
    result
        .reports_of(DATA_RACE)
        .iter()
        .map(|r| {
            (
                r.frame0.clone(),
                r.previous
                    .as_ref()
                    .and_then(|p| p.frame0().map(str::to_string)),
            )
        })
        .collect()
}

/// Asserts that stderr has a data race report of auto mode whose access
/// and previous access have frame `#0` at `file:line_a` and `file:line_b`,
/// in either order; that both are at the same address, from different
/// threads, at least one a write; and that its allocation stack has a frame
/// at `file:alloc_line`. Returns the report.
pub fn assert_auto_race(
    result: &RunResult,
    file: &str,
    line_a: u32,
    line_b: u32,
    alloc_line: u32,
) -> Report {
    let report = result
        .reports_of(DATA_RACE)
        .into_iter()
        .find(|r| {
            let Some(p) = &r.previous else { return false };
            (r.frame0_at(file, line_a) && p.frame0_at(file, line_b))
                || (r.frame0_at(file, line_b) && p.frame0_at(file, line_a))
        })
        .unwrap_or_else(|| {
            panic!(
                "expected a data race between {file}:{line_a} and {file}:{line_b} \
                 (access and `Previous` access, either order); \
                 (frame #0, previous frame #0) of each data race: {:#?}\n{result}",
                race_pairs(result)
            )
        });
    let previous = report.previous.as_ref().expect("found with a previous access");
    let text = report.text();
    assert!(
        report.access_address().is_some() && report.access_address() == previous.address(),
        "the two accesses of a race are at one address\n{text}"
    );
    assert!(
        report.access_thread().is_some() && report.access_thread() != previous.thread(),
        "the two accesses of a race are by different threads\n{text}"
    );
    assert!(
        report.is_write == Some(true) || previous.is_write,
        "one access of a race is a write\n{text}"
    );
    assert!(
        report.object_line().is_some(),
        "no `Object ...` line\n{text}"
    );
    let alloc = report.allocation_stack();
    assert!(
        alloc.iter().any(|f| frame_is_at(f, file, alloc_line)),
        "expected the allocation stack to have a frame at {file}:{alloc_line}: {alloc:#?}\n{text}"
    );
    report
}

/// Compiles `name`, runs it natively (exit 0, `expected_stdout`, no
/// mention of PUSh) and returns the binary.
fn native_reference(name: &str, expected_stdout: &str) -> std::path::PathBuf {
    let bin = compile_c(name);
    let native = run_native_args(&bin, &[]);
    assert_exit_code(&native, 0);
    assert_stdout(&native, expected_stdout);
    assert!(
        !native.stderr.contains("PUSh"),
        "native run mentions PUSh\n{native}"
    );
    bin
}

/// A racy unannotated program: natively it exits 0 with `expected_stdout`;
/// in auto mode, under `LD_PRELOAD` and under `push run --auto`, it prints
/// the same stdout, reports a data race between the lines marked
/// `/* RACE:tag_a */` and `/* RACE:tag_b */` (either as the access, the
/// other as the previous access) with the allocation at `/* ALLOC */`,
/// prints a `SUMMARY:` line and exits 66. Returns each run's report (none
/// when `require_pku!` skipped).
pub fn check_auto_racy(name: &str, tag_a: &str, tag_b: &str, expected_stdout: &str) -> Vec<Report> {
    let bin = native_reference(name, expected_stdout);
    crate::require_pku!(Vec::new());
    let file = c_file_name(name);
    let line_a = marker_line(name, tag_a);
    let line_b = marker_line(name, tag_b);
    let alloc_line = line_containing(name, ALLOC_MARKER);
    MODES
        .iter()
        .map(|&mode| {
            let r = run_auto(mode, &bin, None);
            assert_exit_code(&r, RACE_EXIT);
            let report = assert_auto_race(&r, &file, line_a, line_b, alloc_line);
            assert!(
                r.stderr.lines().any(|l| l.starts_with(SUMMARY_PREFIX)),
                "no `SUMMARY: PUSh:` line ({mode:?})\n{r}"
            );
            assert_stdout(&r, expected_stdout);
            if mode == Mode::Preload {
                assert_eq!(report.pid, Some(r.pid), "report pid\n{r}");
            }
            report
        })
        .collect()
}

/// A race-free unannotated program: natively it exits 0 with
/// `expected_stdout`; in auto mode with each seed `1..=seeds` (odd seeds
/// under `LD_PRELOAD` with `PUSH_OPTIONS=auto=1:seed=N`, even ones under
/// `push run --auto --seed N`) it exits 0 with the same stdout and no
/// report.
pub fn check_auto_clean(name: &str, expected_stdout: &str, seeds: u64) {
    let bin = native_reference(name, expected_stdout);
    crate::require_pku!();
    for seed in 1..=seeds {
        let mode = if seed % 2 == 1 { Mode::Preload } else { Mode::Cli };
        let r = run_auto(mode, &bin, Some(seed));
        assert_clean_run(&r, expected_stdout, &format!("auto mode, seed {seed}, {mode:?}"));
    }
}

/// Without auto mode (the default) an unannotated program tracks nothing:
/// under `LD_PRELOAD` and under `push run` (no options) it exits 0 with
/// `expected_stdout` and no report, racy or not.
pub fn check_auto_off(name: &str, expected_stdout: &str) {
    let bin = native_reference(name, expected_stdout);
    crate::require_pku!();
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_clean_run(&r, expected_stdout, &format!("auto mode off, {mode:?}"));
    }
}

/// Exit 0, `expected_stdout`, no report block and no summary counting a
/// report; `context` says which run it was.
fn assert_clean_run(r: &RunResult, expected_stdout: &str, context: &str) {
    let reports = r.reports();
    assert!(
        reports.is_empty() && !r.stderr.contains("WARNING: PUSh:"),
        "expected no report ({context}); (frame #0, previous frame #0) of each data race: {:#?}\n{r}",
        race_pairs(r)
    );
    assert!(
        !matches!(r.summary(), Some(s) if s.reports > 0),
        "a summary counts reports ({context})\n{r}"
    );
    assert!(r.code == Some(0), "expected exit code 0 ({context})\n{r}");
    assert!(
        r.stdout == expected_stdout,
        "expected stdout {expected_stdout:?} ({context})\n{r}"
    );
}
