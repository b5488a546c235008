//! The fault budget of auto mode (`auto_budget=PERCENT`): a thread that
//! has spent its share of time on faults of watched objects parks the
//! objects it faults on, and a sweeper brings them back every 100 ms.
//! Checking becomes sampling: the cost stays bounded, a race that keeps
//! happening is still reported, and no false report appears.
//!
//! `auto_budget_spent.c` and `auto_clean_budget_spent.c` first hand 128
//! objects back and forth between barrier phases (5120 faults, well over a
//! 1% budget's credit on either backend), free them, then race on, or lock
//! around, one more object for about a second: the sweeper brings it back
//! about ten times.

use push_tests::*;

const RACY: &str = "auto_budget_spent";
const RACY_STDOUT: &str = "started\nresult=99840\n";

/// A `name=N` of the `auto:` statistics line (`verbose=1`).
fn auto_stat(r: &RunResult, name: &str) -> u64 {
    r.stderr
        .lines()
        .filter(|l| l.contains("auto: watched="))
        .find_map(|l| l.split(&format!(" {name}=")).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("no `{name}=` in the auto statistics line\n{r}"))
}

fn run_with_budget(mode: Mode, bin: &std::path::Path, percent: &str) -> RunResult {
    run_auto_with(
        mode,
        bin,
        None,
        &format!("auto_budget={percent}:verbose=1"),
        &["--auto-budget", percent, "--verbose", "1"],
    )
}

#[test]
fn a_race_is_still_reported_after_the_budget_is_spent() {
    let bin = check_native(RACY, RACY_STDOUT);
    require_pku!();
    let file = c_file_name(RACY);
    let (a, b) = (marker_line(RACY, "a"), marker_line(RACY, "b"));
    let alloc = line_containing(RACY, ALLOC_MARKER);
    for mode in MODES {
        let r = run_with_budget(mode, &bin, "1");
        assert_eq!(r.code, Some(66), "{mode:?}\n{r}");
        assert_eq!(r.stdout, RACY_STDOUT, "{r}");
        assert_auto_race(&r, &file, a, b, alloc);
        assert_eq!(auto_stat(&r, "budget"), 1, "{r}");
        let parks = auto_stat(&r, "parks");
        assert!(parks > 0, "a 1% budget must park objects here\n{r}");
        let summary = r
            .stderr
            .lines()
            .find(|l| l.starts_with("SUMMARY: PUSh:"))
            .unwrap_or_else(|| panic!("no SUMMARY\n{r}"));
        let paused: u64 = summary
            .strip_suffix(" (cost budget)")
            .and_then(|s| s.rsplit_once(", checking paused "))
            .and_then(|(_, n)| n.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| {
                panic!("the SUMMARY says how often checking paused\n{summary}\n{r}")
            });
        assert!(paused > 0 && paused <= parks, "{summary}\n{r}");
    }
}

/// With no bound every access that faults is checked: nothing parks. The
/// racy object is the 129th small `calloc` of a thread whose window list
/// (128 entries) is full: under `mprotect` its slot was opened to be
/// zeroed and, with no room for the creator's window, once stayed open to
/// every thread (the race went unseen).
#[test]
fn without_a_bound_nothing_parks() {
    let bin = check_native(RACY, RACY_STDOUT);
    require_pku!();
    let file = c_file_name(RACY);
    let (a, b) = (marker_line(RACY, "a"), marker_line(RACY, "b"));
    let alloc = line_containing(RACY, ALLOC_MARKER);
    let r = run_with_budget(Mode::Cli, &bin, "0");
    assert_eq!(r.code, Some(66), "{r}");
    assert_auto_race(&r, &file, a, b, alloc);
    assert_eq!(auto_stat(&r, "parks"), 0, "{r}");
    assert!(!r.stderr.contains("checking paused"), "{r}");
}

#[test]
fn no_false_report_after_the_budget_is_spent() {
    let name = "auto_clean_budget_spent";
    let expected = "started\nresult=99840,12000\n";
    let bin = check_native(name, expected);
    require_pku!();
    for seed in 1..=3u64 {
        let mode = if seed % 2 == 1 {
            Mode::Preload
        } else {
            Mode::Cli
        };
        let r = run_auto_with(
            mode,
            &bin,
            Some(seed),
            "auto_budget=1:verbose=1",
            &["--auto-budget", "1", "--verbose", "1"],
        );
        assert_eq!(r.code, Some(0), "seed {seed}, {mode:?}\n{r}");
        assert!(
            r.reports().is_empty() && !r.stderr.contains("WARNING: PUSh:"),
            "{r}"
        );
        assert_eq!(r.stdout, expected, "{r}");
        assert!(auto_stat(&r, "parks") > 0, "{r}");
    }
}
