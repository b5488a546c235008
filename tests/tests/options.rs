//! PUSH_OPTIONS and the flags of `push run`: halt_on_error, exitcode,
//! report_format, rehash_ms, seed, and malformed options.

use push_tests::*;

const TWO: &str = "two_races";
const TWO_STDOUT: &str = "started\nresult=11,22,4\n";

fn check_halted(r: &RunResult) {
    assert_exit_code(r, RACE_EXIT);
    assert_report_count(r, 1);
    assert_race(r, DATA_RACE, true, "two_races.c", marker_line(TWO, "first"));
    assert!(
        !r.stdout.contains("result="),
        "the program must stop at the first report\n{r}"
    );
}

#[test]
fn halt_on_error_stops_at_the_first_report() {
    let bin = check_native(TWO, TWO_STDOUT);
    require_pku!();
    check_halted(&run_preload(&bin, "halt_on_error=1"));
    check_halted(&run_cli(&bin, &["--halt-on-error", "1"]));
}

#[test]
fn halt_on_error_0_continues() {
    let bin = compile_c(TWO);
    require_pku!();
    for r in [
        run_preload(&bin, "halt_on_error=0"),
        run_cli(&bin, &["--halt-on-error", "0"]),
    ] {
        assert_exit_code(&r, RACE_EXIT);
        assert_stdout(&r, TWO_STDOUT);
        assert_report_count(&r, 2);
        assert_race(
            &r,
            DATA_RACE,
            true,
            "two_races.c",
            marker_line(TWO, "first"),
        );
        assert_race(
            &r,
            DATA_RACE,
            true,
            "two_races.c",
            marker_line(TWO, "second"),
        );
    }
}

#[test]
fn exitcode_option() {
    let racy = compile_c("private_race_write");
    let clean = compile_c("private_clean");
    require_pku!();
    let r = run_preload(&racy, "exitcode=3");
    assert_exit_code(&r, 3);
    assert_stdout(&r, "started\nresult=67\n");
    assert_exit_code(&run_cli(&racy, &["--exitcode", "3"]), 3);
    // Nothing reported: the program's own status.
    assert_clean(&run_preload(&clean, "exitcode=3"));
    assert_clean(&run_cli(&clean, &["--exitcode", "3"]));
}

#[test]
fn several_options_separated_by_colons() {
    let bin = compile_c(TWO);
    require_pku!();
    let r = run_preload(&bin, "halt_on_error=0:exitcode=5:report_format=text");
    assert_exit_code(&r, 5);
    assert_report_count(&r, 2);
    let r = run_cli(
        &bin,
        &[
            "--halt-on-error",
            "0",
            "--exitcode",
            "5",
            "--report-format",
            "text",
        ],
    );
    assert_exit_code(&r, 5);
    assert_report_count(&r, 2);
}

fn check_rejected(r: &RunResult, names: &str) {
    assert_exit_code(r, BAD_OPTIONS_EXIT);
    assert!(
        r.stderr.contains(names),
        "the error must name the bad option {names:?}\n{r}"
    );
    assert!(
        !r.stdout.contains("started"),
        "the program must not run\n{r}"
    );
    assert!(!r.stderr.contains("WARNING: PUSh:"), "{r}");
}

#[test]
fn malformed_options_via_preload() {
    let bin = compile_c("private_clean");
    require_pku!();
    for (options, names) in [
        ("bogus=1", "bogus"),
        ("halt_on_error=maybe", "halt_on_error"),
        ("exitcode=abc", "exitcode"),
        ("report_format=xml", "report_format"),
        ("halt_on_error", "halt_on_error"),
        ("halt_on_error=1:bogus=1", "bogus"),
    ] {
        let r = run_preload(&bin, options);
        check_rejected(&r, names);
    }
}

#[test]
fn malformed_options_via_cli() {
    let bin = compile_c("private_clean");
    require_pku!();
    check_rejected(&run_cli(&bin, &["--halt-on-error", "maybe"]), "halt");
    check_rejected(&run_cli(&bin, &["--exitcode", "abc"]), "exitcode");
    check_rejected(&run_cli(&bin, &["--report-format", "xml"]), "report");
    check_rejected(
        &run_cli_env(&bin, &[], &[("PUSH_OPTIONS", "bogus=1")]),
        "bogus",
    );
    check_rejected(
        &run_cli_env(&bin, &[], &[("PUSH_OPTIONS", "exitcode=abc")]),
        "exitcode",
    );
}

#[test]
fn push_options_env_is_honoured_by_the_cli() {
    let bin = compile_c("private_race_write");
    require_pku!();
    let r = run_cli_env(&bin, &[], &[("PUSH_OPTIONS", "exitcode=7")]);
    assert_exit_code(&r, 7);
    assert_report_count(&r, 1);
}

#[test]
fn rehash_and_seed_keep_reports_exact() {
    let bin = compile_c("private_race_write");
    let file = "private_race_write.c";
    let line = marker_line("private_race_write", "write");
    require_pku!();
    for r in [
        run_preload(&bin, "seed=7:rehash_ms=5"),
        run_preload(&bin, "seed=12345:rehash_ms=1"),
        run_cli(&bin, &["--seed", "7", "--rehash-ms", "5"]),
    ] {
        assert_exit_code(&r, RACE_EXIT);
        assert_stdout(&r, "started\nresult=67\n");
        assert_report_count(&r, 1);
        assert_race(&r, DATA_RACE, true, file, line);
    }
}

/// Suppressions file format (the `suppressions` option's help): lines of
/// `race:PATTERN`, `policy:PATTERN` or `annotation:PATTERN`; a report with a
/// stack frame whose function, file or module contains PATTERN is not shown
/// and does not count.
fn write_suppressions(label: &str, text: &str) -> (std::path::PathBuf, String) {
    let dir = scratch_dir(label);
    let file = dir.join("supp.txt");
    std::fs::write(&file, text).expect("write suppressions");
    let path = file.display().to_string();
    (dir, path)
}

#[test]
fn suppressions_hide_matching_reports() {
    let bin = compile_c(TWO);
    require_pku!();
    // The first race happens in `intruder`, the second in `main`.
    let (dir, supp) = write_suppressions("supp_one", "# comment\nrace:intruder\n");
    for r in [
        run_preload(&bin, &format!("suppressions={supp}")),
        run_cli(&bin, &["--suppressions", &supp]),
    ] {
        assert_exit_code(&r, RACE_EXIT);
        assert_stdout(&r, TWO_STDOUT);
        assert_report_count(&r, 1);
        assert_race(
            &r,
            DATA_RACE,
            true,
            "two_races.c",
            marker_line(TWO, "second"),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Everything in the file suppressed: nothing reported, the program's
    // own exit status.
    let (dir, supp) = write_suppressions("supp_all", "race:two_races.c\n");
    let r = run_preload(&bin, &format!("suppressions={supp}"));
    assert_clean(&r);
    assert_stdout(&r, TWO_STDOUT);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_suppressions_are_rejected_before_the_program_runs() {
    let bin = compile_c("private_clean");
    require_pku!();
    let missing = scratch_dir("supp_missing").join("does-not-exist.txt");
    let missing = missing.display().to_string();
    check_rejected(
        &run_preload(&bin, &format!("suppressions={missing}")),
        "suppressions",
    );
    check_rejected(
        &run_cli(&bin, &["--suppressions", &missing]),
        "does-not-exist",
    );
    let (dir, supp) = write_suppressions("supp_bad", "bogus:pattern\n");
    check_rejected(&run_preload(&bin, &format!("suppressions={supp}")), "bogus");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn push_run_waits_for_the_program_in_the_small_push_wait_process() {
    require_pku!();
    let script = "for i in $(seq 200); do c=$(cat /proc/$PPID/comm); \
                  [ \"$c\" = push-wait ] && break; sleep 0.05; done; echo $c; exit 7";
    let r = run_cli_args(std::path::Path::new("/bin/sh"), &[], &[], &["-c", script]);
    assert_exit_code(&r, 7);
    assert_eq!(r.stdout, "push-wait\n", "{r}");
}

#[test]
fn push_run_rejects_an_unknown_flag_instead_of_running_it() {
    let out = std::process::Command::new(push_cli_path())
        .args(["run", "--bogus", "--", "/bin/true"])
        .output()
        .expect("push runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown flag '--bogus'"), "{err}");
}

/// A forked child races on an object it inherited, with `halt_on_error=1`:
/// the child has no reporter thread, so the SIGSEGV handler (which must not
/// print: that allocates and locks) lets the access through and the report
/// is printed at the child's next hook call or exit, which ends it with 66.
#[test]
fn halt_on_error_in_a_forked_child_without_a_reporter() {
    let bin = compile_c("mem_fork_window");
    require_pku!();
    for r in [
        run_preload(&bin, "halt_on_error=1"),
        run_cli(&bin, &["--halt-on-error", "1"]),
    ] {
        assert!(r.stdout.contains("child=66\n"), "{r}");
        assert_race(
            &r,
            DATA_RACE,
            false,
            "mem_fork_window.c",
            marker_line("mem_fork_window", "child"),
        );
    }
}
