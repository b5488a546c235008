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
use crate::parse::{
    c_file_name, frame_is_at, line_containing, marker_line, Report, DATA_RACE, SUMMARY_PREFIX,
};
use crate::pku::under_emulation;
use crate::run::{run_cli_args, run_preload, RunResult, RACE_EXIT};
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
    let previous = report
        .previous
        .as_ref()
        .expect("found with a previous access");
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
    crate::scenarios::check_native_args(name, &[], expected_stdout)
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
        let mode = if seed % 2 == 1 {
            Mode::Preload
        } else {
            Mode::Cli
        };
        let r = run_auto(mode, &bin, Some(seed));
        assert_clean_run(
            &r,
            expected_stdout,
            &format!("auto mode, seed {seed}, {mode:?}"),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose stderr is one auto-mode report of `auto_lock_forgotten`
    /// with the access at line `access` and the previous one at `previous`.
    fn run_with_report(access: u32, previous: u32, previous_thread: &str) -> RunResult {
        let alloc = line_containing("auto_lock_forgotten", ALLOC_MARKER);
        let stderr = format!(
            "\
==================
WARNING: PUSh: data race (pid=1234)
  Write at 0x7f00001010 (offset 40 in object 0x7f00000fe8) by thread T2 \"prog\" (tid 5678):
    #0 0x55d0c1 in careless /src/tests/c/auto_lock_forgotten.c:{access}
    #1 0x55d0d2 in start_thread (/lib/x86_64-linux-gnu/libc.so.6+0x8a144)

  Previous write at 0x7f00001010 by thread {previous_thread} \"prog\" (tid 5677):
    #0 0x55d0a1 in careful /src/tests/c/auto_lock_forgotten.c:{previous}

  Object 0x7f00000fe8 of 48 bytes, policy racy, watched by --auto
  allocated by thread T0 (tid 5676) at:
    #0 0x55d0f1 in main /src/tests/c/auto_lock_forgotten.c:{alloc}
==================
SUMMARY: PUSh: 1 report (1 data race, 0 unordered policy changes, 0 annotation errors)
"
        );
        RunResult {
            command: "sample".to_string(),
            pid: 1234,
            code: Some(RACE_EXIT),
            signal: None,
            stdout: String::new(),
            stderr,
            timed_out: false,
            threads_at_timeout: String::new(),
        }
    }

    fn lines() -> (u32, u32, u32) {
        let name = "auto_lock_forgotten";
        (
            marker_line(name, "a"),
            marker_line(name, "b"),
            line_containing(name, ALLOC_MARKER),
        )
    }

    #[test]
    fn a_race_is_found_in_either_order() {
        let (a, b, alloc) = lines();
        let file = "auto_lock_forgotten.c";
        for (x, y) in [(a, b), (b, a)] {
            let r = run_with_report(x, y, "T1");
            let report = assert_auto_race(&r, file, a, b, alloc);
            assert!(report.previous.is_some_and(|p| p.frame0_at(file, y)));
        }
    }

    #[test]
    #[should_panic(expected = "expected a data race between")]
    fn a_race_at_other_lines_is_not_the_one() {
        let (a, b, alloc) = lines();
        let r = run_with_report(a, a + 1, "T1");
        assert_auto_race(&r, "auto_lock_forgotten.c", a, b, alloc);
    }

    #[test]
    #[should_panic(expected = "by different threads")]
    fn a_race_within_one_thread_is_refused() {
        let (a, b, alloc) = lines();
        let r = run_with_report(a, b, "T2");
        assert_auto_race(&r, "auto_lock_forgotten.c", a, b, alloc);
    }

    #[test]
    #[should_panic(expected = "allocation stack")]
    fn the_allocation_must_be_at_its_marker() {
        let (a, b, alloc) = lines();
        let r = run_with_report(a, b, "T1");
        assert_auto_race(&r, "auto_lock_forgotten.c", a, b, alloc + 1);
    }

    #[test]
    fn every_racy_auto_program_has_its_markers() {
        let mut racy = 0;
        for entry in std::fs::read_dir(crate::paths::c_dir()).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if !file.starts_with("auto_") || file.ends_with(".h") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                !text.contains("push.h") && !text.contains("push_"),
                "{file}: auto mode's programs are unannotated"
            );
            assert!(text.lines().count() < 80, "{file}: keep it under 80 lines");
            if file.starts_with("auto_clean_") {
                assert!(!text.contains("/* RACE:"), "{file}: clean, but marked racy");
                continue;
            }
            racy += 1;
            marker_line(&file, "a");
            marker_line(&file, "b");
            line_containing(&file, ALLOC_MARKER);
        }
        assert!(racy >= 7, "found only {racy} racy auto programs");
    }
}
