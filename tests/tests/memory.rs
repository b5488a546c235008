//! The allocator of tracked objects: fork (private copies in the child, a
//! fresh runtime after exec), many small objects, the mapping budget
//! (`max_maps`), push_realloc, and reuse after free.

use push_tests::*;
use std::time::{Duration, Instant};

/// Report blocks proper (data races, unordered policy changes, annotation
/// errors), without the runtime's own `WARNING: PUSh:` warnings (the
/// mapping-budget warning starts the same way).
fn real_reports(r: &RunResult) -> Vec<Report> {
    r.reports()
        .into_iter()
        .filter(|rep| {
            [DATA_RACE, UNORDERED_POLICY_CHANGE, ANNOTATION_ERROR].contains(&rep.kind.as_str())
        })
        .collect()
}

/// Lines of stderr that start a report (`WARNING: PUSh: `) or a runtime
/// warning (`PUSh: warning: `).
fn warning_lines(r: &RunResult) -> Vec<&str> {
    r.stderr
        .lines()
        .filter(|l| l.starts_with("WARNING: PUSh: ") || l.starts_with("PUSh: warning: "))
        .collect()
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let v = f();
    (v, start.elapsed())
}

/// [`check_racy`] for a program run with `args`: natively it exits 0 with
/// `expected_stdout`; under `LD_PRELOAD` and `push run` it prints the same,
/// reports exactly one data race of the given access type at the
/// `/* RACE:tag */` line, prints the summary and exits 66.
fn check_racy_args(name: &str, args: &[&str], tag: &str, access: Access, expected_stdout: &str) {
    let bin = compile_c(name);
    let native = run_native_args(&bin, args);
    assert_exit_code(&native, 0);
    assert_stdout(&native, expected_stdout);
    require_pku!();
    let file = c_file_name(name);
    let line = marker_line(name, tag);
    for mode in MODES {
        let r = run_mode_args(mode, &bin, args);
        assert_exit_code(&r, RACE_EXIT);
        let report = assert_race_access(&r, DATA_RACE, access, &file, line);
        assert_report_count(&r, 1);
        let summary = r
            .summary()
            .unwrap_or_else(|| panic!("no `SUMMARY: PUSh:` line ({mode:?})\n{r}"));
        assert_eq!((summary.reports, summary.data_races), (1, 1), "{r}");
        assert_stdout(&r, expected_stdout);
        if mode == Mode::Preload {
            assert_eq!(report.pid, Some(r.pid), "report pid\n{r}");
        }
    }
}

// ---------------------------------------------------------------------------
// fork
// ---------------------------------------------------------------------------

const FORK_ISOLATION_STDOUT: &str = "started\nchild ok\nparent ok\n";

/// Child exit codes of mem_fork_isolation.c, for failure messages.
const FORK_CHILD_FAILURES: &str = "child exit codes: 10 the dead thread's counter changed in the \
     child (shared mapping), 11/12 the child saw the parent's post-fork writes (32-byte / 64 KiB \
     object), 13 the child's own writes did not read back, 14 a policy call failed in the child, \
     15 new objects garbled, 16 the child's thread failed, 17 pipe, 18 allocation failed";

#[test]
fn fork_gives_the_child_private_copies_of_tracked_objects() {
    let bin = check_native("mem_fork_isolation", FORK_ISOLATION_STDOUT);
    require_pku!();
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert!(
            r.code == Some(0) && r.stdout == FORK_ISOLATION_STDOUT,
            "{FORK_CHILD_FAILURES}\n({mode:?})\n{r}"
        );
        assert_clean(&r);
        assert!(!r.stderr.contains("PUSh"), "({mode:?})\n{r}");
    }
}

#[test]
fn fork_isolation_holds_while_rehashing() {
    // A rehash every millisecond: the rehash thread is one more thread
    // that may be busy when fork() is called.
    let bin = compile_c("mem_fork_isolation");
    require_pku!();
    for seed in ["1", "2", "3"] {
        let r = run_preload(&bin, &format!("rehash_ms=1:seed={seed}"));
        assert!(
            r.code == Some(0) && r.stdout == FORK_ISOLATION_STDOUT,
            "{FORK_CHILD_FAILURES}\n(seed {seed})\n{r}"
        );
        assert_clean(&r);
    }
}

#[test]
fn exec_after_fork_runs_a_fresh_runtime() {
    check_clean(
        "mem_fork_exec",
        "started\nexec child ok result=20000\nparent ok\n",
    );
}

#[test]
fn race_in_an_exec_after_fork_is_reported_by_the_exec_image() {
    let bin = compile_c("mem_fork_exec");
    let native = run_native_args(&bin, &["racy"]);
    assert_exit_code(&native, 0);
    assert_stdout(&native, "started\nexec child ok result=20001\nparent ok\n");
    require_pku!();
    let line = marker_line("mem_fork_exec", "exec");
    for mode in MODES {
        let r = run_mode_args(mode, &bin, &["racy"]);
        // The exec'd child reported and exited 66; the parent passes the
        // child's status on.
        assert_exit_code(&r, RACE_EXIT);
        assert_stdout(
            &r,
            "started\nexec child ok result=20001\nparent: child exited 66\n",
        );
        let report = assert_race(&r, DATA_RACE, true, "mem_fork_exec.c", line);
        assert_report_count(&r, 1);
        assert!(
            report
                .object_line()
                .is_some_and(|l| l.contains("policy protected_by(lock 0x")),
            "{}\n{r}",
            report.text()
        );
        // Printed by the exec'd child, not by the parent.
        if mode == Mode::Preload {
            assert!(
                report.pid.is_some() && report.pid != Some(r.pid),
                "the report must come from the child, not the parent (pid {})\n{r}",
                r.pid
            );
        }
        let summaries = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("SUMMARY: PUSh:"))
            .count();
        assert_eq!(summaries, 1, "only the child has something to sum up\n{r}");
        let s = r.summary().expect("summary");
        assert_eq!((s.reports, s.data_races), (1, 1), "{r}");
    }
}

// ---------------------------------------------------------------------------
// Many objects
// ---------------------------------------------------------------------------

const MANY_OBJECTS_STDOUT: &str = "started\n\
    objects=200000 replaced=50000 updates=3200000 bad=0\n\
    checksum=0xc18b09b8cf55d22a\n";

#[test]
fn two_hundred_thousand_small_objects_under_64_locks() {
    // Every object tracked (shard-by-shard allocation keeps neighbouring
    // objects on one key, so the default mapping limit holds them all):
    // same output as natively, no report, no warning, exit 0.
    let bin = compile_c("mem_many_objects");
    // All 200,000 objects always; the 3.2M locked updates only where they
    // are cheap (under mprotect each costs a fault, in the emulated guest
    // far more): elsewhere 0 rounds, checked against the native output.
    let args: &[&str] = if under_emulation() || test_backend() == Backend::Mprotect {
        &["0"]
    } else {
        &[]
    };
    let (native, t) = timed(|| run_native_args(&bin, args));
    eprintln!("mem_many_objects native: {:.2} s", t.as_secs_f64());
    assert_exit_code(&native, 0);
    if args.is_empty() {
        assert_stdout(&native, MANY_OBJECTS_STDOUT);
    }
    let expected = native.stdout.clone();
    require_pku!();

    let (r, t) = timed(|| run_preload_args(&bin, "verbose=1", &[], args));
    eprintln!(
        "mem_many_objects under LD_PRELOAD: {:.2} s, faults={:?} maps_in_use={:?}",
        t.as_secs_f64(),
        r.stat("faults"),
        r.stat("maps_in_use")
    );
    assert_exit_code(&r, 0);
    assert!(
        real_reports(&r).is_empty() && warning_lines(&r).is_empty() && r.summary().is_none(),
        "LD_PRELOAD: no report or warning expected\n{r}"
    );
    assert_eq!(
        r.stat("untracked_allocs"),
        Some(0),
        "every object tracked\n{r}"
    );
    assert_eq!(r.stat("refused_key_changes"), Some(0), "every key set\n{r}");
    assert_stdout(&r, &expected);

    let (r, t) = timed(|| run_cli_args(&bin, &[], &[], args));
    eprintln!("mem_many_objects under push run: {:.2} s", t.as_secs_f64());
    assert_clean(&r);
    assert!(
        warning_lines(&r).is_empty(),
        "push run: no warning expected\n{r}"
    );
    assert_stdout(&r, &expected);
}

// ---------------------------------------------------------------------------
// The mapping budget
// ---------------------------------------------------------------------------

const BUDGET_RESULT: &str = "objects=22000 policy_errors=0 checksum=673819831947845672";
const MAX_MAPS: u64 = 3000;

fn check_budget_stdout(r: &RunResult) -> u64 {
    let lines = r.stdout_lines();
    assert!(
        lines.len() == 3 && lines[0] == "started" && lines[1] == BUDGET_RESULT,
        "expected stdout started / {BUDGET_RESULT} / maps=N\n{r}"
    );
    r.stdout_value("maps")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no maps=N line\n{r}"))
}

#[test]
fn mapping_budget_falls_back_to_untracked_objects_with_one_warning() {
    let bin = compile_c("mem_budget");
    let native = run_native(&bin);
    assert_exit_code(&native, 0);
    check_budget_stdout(&native);
    require_pku!();
    let options = format!("max_maps={MAX_MAPS}:verbose=1");
    let runs = [
        ("LD_PRELOAD", run_preload(&bin, &options)),
        (
            "push run",
            run_cli_env(&bin, &[], &[("PUSH_OPTIONS", options.as_str())]),
        ),
    ];
    for (how, r) in runs {
        assert_exit_code(&r, 0);
        let maps = check_budget_stdout(&r);
        assert!(
            maps < MAX_MAPS,
            "{how}: {maps} mappings with max_maps={MAX_MAPS}\n{r}"
        );
        let budget_lines: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.contains("vm.max_map_count"))
            .collect();
        assert!(
            budget_lines.len() == 1 && budget_lines[0].starts_with("PUSh: warning: "),
            "{how}: expected exactly one `PUSh: warning: ...vm.max_map_count...` line, \
             found {budget_lines:?}\n{r}"
        );
        assert_eq!(
            warning_lines(&r).len(),
            1,
            "{how}: the budget warning must be the only warning (no report)\n{r}"
        );
        assert!(
            real_reports(&r).is_empty(),
            "{how}: no report expected\n{r}"
        );
        assert!(r.summary().is_none(), "{how}: nothing to sum up\n{r}");
        let untracked = r.stat("untracked_allocs");
        let live = r.stat("live_objects");
        assert!(
            untracked.is_some_and(|n| n > 0),
            "{how}: stats must show untracked_allocs > 0 (found {untracked:?})\n{r}"
        );
        assert!(
            live.is_some_and(|n| n > 0),
            "{how}: stats must show live_objects > 0 (found {live:?})\n{r}"
        );
        eprintln!(
            "{how}: maps={maps} untracked_allocs={} live_objects={}",
            untracked.unwrap_or(0),
            live.unwrap_or(0)
        );
    }
}

#[test]
fn no_budget_warning_at_default_options() {
    let bin = compile_c("mem_budget");
    let native = run_native(&bin);
    assert_exit_code(&native, 0);
    check_budget_stdout(&native);
    require_pku!();
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_clean(&r);
        assert!(
            !r.stderr.contains("vm.max_map_count") && !r.stderr.contains("PUSh"),
            "({mode:?}) 20,000 objects fit the default budget\n{r}"
        );
        check_budget_stdout(&r);
    }
}

#[test]
fn every_object_is_tracked_at_the_default_budget() {
    let bin = compile_c("mem_budget");
    require_pku!();
    let r = run_preload(&bin, "verbose=1");
    assert_exit_code(&r, 0);
    check_budget_stdout(&r);
    assert!(warning_lines(&r).is_empty(), "{r}");
    assert_eq!(r.stat("untracked_allocs"), Some(0), "{r}");
    assert_eq!(r.stat("live_objects"), Some(22000), "{r}");
}

// ---------------------------------------------------------------------------
// realloc
// ---------------------------------------------------------------------------

const REALLOC_STDOUT: &str = "started\n\
    realloc 24->100 ok\n\
    realloc 100->5000 ok\n\
    realloc 5000->100000 ok\n\
    realloc 100000->3000 ok\n\
    realloc 3000->40 ok\n\
    result=10 errors=0\n";

#[test]
fn realloc_keeps_contents_and_policy() {
    check_clean("mem_realloc", REALLOC_STDOUT);
}

#[test]
fn unlocked_write_after_realloc_is_a_race() {
    check_racy_args(
        "mem_realloc",
        &["racy"],
        "after_realloc",
        Access::Write,
        REALLOC_STDOUT,
    );
}

// ---------------------------------------------------------------------------
// Reuse after free
// ---------------------------------------------------------------------------

const REUSE_STDOUT: &str = "started\ncalloc zeroed ok\nreuse ok\nmaps ok\nthreads ok\n";

#[test]
fn freed_objects_are_reused_and_calloc_zeroes_them() {
    let bin = check_native("mem_reuse", REUSE_STDOUT);
    require_pku!();
    for mode in MODES {
        let (r, t) = timed(|| run_mode(mode, &bin));
        let info = r
            .stderr
            .lines()
            .find(|l| l.starts_with("info:"))
            .unwrap_or("");
        eprintln!("mem_reuse ({mode:?}, {:.2} s): {info}", t.as_secs_f64());
        assert_clean(&r);
        assert!(!r.stderr.contains("PUSh"), "({mode:?})\n{r}");
        assert_stdout(&r, REUSE_STDOUT);
    }
}

#[test]
fn a_forked_child_does_not_inherit_another_threads_open_access() {
    // The owner thread keeps writing its private object while main forks:
    // in the child the owner does not exist, and the child's read is a
    // race (under mprotect: the owner's open window must not survive).
    let bin = compile_c("mem_fork_window");
    let native = run_native(&bin);
    assert_exit_code(&native, 0);
    assert_stdout(&native, "started\nchild=0\nowner=2\n");
    require_pku!();
    let r = run_preload(&bin, "");
    assert_exit_code(&r, 0);
    assert_stdout(&r, "started\nchild=66\nowner=2\n");
    assert_race_access(
        &r,
        DATA_RACE,
        Access::Read,
        "mem_fork_window.c",
        marker_line("mem_fork_window", "child"),
    );
    assert_report_count(&r, 1);
}

#[test]
fn clocks_of_destroyed_locks_are_given_back() {
    clocks_are_given_back(&["2", "200000"]);
}

#[test]
fn clocks_of_locks_freed_without_destroy_are_given_back() {
    clocks_are_given_back(&["2", "200000", "free"]);
}

fn clocks_are_given_back(args: &[&str]) {
    require_pku!();
    let bin = compile_c("sync_destroy_churn");
    let native = run_native_args(&bin, args);
    assert_stdout(&native, "count=400000\n");
    let r = run_preload_args(&bin, "verbose=1", &[], args);
    assert_clean(&r);
    assert_stdout(&r, "count=400000\n");
    let bytes: u64 = r
        .stderr
        .split_whitespace()
        .find_map(|w| w.strip_prefix("sync_clock_bytes="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sync_clock_bytes in the stats\n{r}"));
    // 200,000 live rwlocks took about 35 MB of clocks; once destroyed, the
    // tables shrink back (a few MB of minimum capacity remain).
    assert!(
        bytes < 16 << 20,
        "{bytes} bytes of clocks for no live lock\n{r}"
    );
}
