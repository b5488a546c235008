//! The sharing policies: private (the default), readonly, racy, tracked
//! globals, and misuse of the annotations.

use push_tests::*;

fn policy_of(report: &Option<Report>) -> String {
    report
        .as_ref()
        .and_then(|r| r.object_line().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn private_owner_and_own_objects_are_clean() {
    check_clean("private_clean", "started\nresult=14176\n");
}

#[test]
fn private_written_by_another_thread_is_a_write_race() {
    let r = check_racy(
        "private_race_write",
        "write",
        Access::Write,
        "started\nresult=67\n",
    );
    if r.is_some() {
        assert!(
            policy_of(&r).contains("policy private(T0)"),
            "{:?}",
            policy_of(&r)
        );
    }
}

#[test]
fn private_read_by_another_thread_is_a_read_race() {
    let r = check_racy(
        "private_race_read",
        "read",
        Access::Read,
        "started\nresult=280 seen=50\n",
    );
    if r.is_some() {
        assert!(policy_of(&r).contains("policy private(T0)"));
    }
}

#[test]
fn readonly_read_by_all_is_clean() {
    check_clean("readonly_clean", "started\nresult=359040\n");
}

#[test]
fn readonly_written_is_a_race() {
    let r = check_racy(
        "readonly_race",
        "write",
        Access::Write,
        "started\nresult=98913\n",
    );
    if r.is_some() {
        assert!(policy_of(&r).contains("policy readonly"));
    }
}

#[test]
fn racy_objects_are_never_reported() {
    check_clean("racy_clean", "started\nresult=64\n");
}

#[test]
fn tracked_global_under_its_lock_is_clean() {
    check_clean("global_clean", "started\nresult=4000\n");
}

#[test]
fn tracked_global_unlocked_increment_is_a_race() {
    // `counter++` on a global is one read-modify-write instruction: either
    // access type is acceptable, the line is not.
    let r = check_racy("global_race", "incr", Access::Any, "started\nresult=4001\n");
    if r.is_some() {
        assert!(policy_of(&r).contains("policy protected_by(lock 0x"));
    }
}

#[test]
fn tracked_globals_of_array_type_and_with_initializers() {
    let r = check_racy(
        "global_forms",
        "write",
        Access::Write,
        "started\nanswer=42 primes=2,3,5,7 cfg=3,deep table=1\ntable=9\n",
    );
    if r.is_some() {
        assert!(policy_of(&r).contains("private(T0)"), "{:?}", r);
    }
}

#[test]
fn annotation_misuse_is_reported_and_changes_nothing() {
    let bin = check_native(
        "misuse",
        "started\nmalloc_rc=0\nnonowner_rc_nonzero=0\nresult=11\n",
    );
    require_pku!();
    let einval = marker_line("misuse", "einval");
    let nonowner = marker_line("misuse", "nonowner");
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_exit_code(&r, RACE_EXIT);
        assert_stdout(
            &r,
            "started\nmalloc_rc=EINVAL\nnonowner_rc_nonzero=1\nresult=11\n",
        );
        let e = assert_annotation_error(&r, "push_private", "misuse.c", einval);
        assert!(
            e.first_line().is_some_and(|l| l.contains("EINVAL")),
            "the untracked-pointer error names EINVAL: {e:#?}"
        );
        assert_annotation_error(&r, "push_private", "misuse.c", nonowner);
        // The failed push_private left the object private to main: main's
        // write while the other thread is alive is no data race.
        assert!(r.reports_of(DATA_RACE).is_empty(), "{r}");
        assert_report_count(&r, 2);
        let s = r.summary().unwrap_or_else(|| panic!("no summary\n{r}"));
        assert_eq!(
            (
                s.reports,
                s.data_races,
                s.unordered_policy_changes,
                s.annotation_errors
            ),
            (2, 0, 0, 2),
            "{r}"
        );
    }
}

const PARTITION_OUT: &str = "started\nresult=409204\n";

#[test]
fn each_part_of_a_partitioned_allocation_is_an_object_of_its_own() {
    check_clean("partition", PARTITION_OUT);
    let bin = compile_c("partition");
    require_pku!();
    let line = marker_line("partition", "cross");
    for rep in racy_in_each_mode(&bin, &["cross"], Access::Write, "partition.c", line) {
        let obj = rep.object_line().expect("object line");
        assert!(obj.contains(" of 8192 bytes, policy private(T1)"), "{obj}");
    }
}

#[test]
fn the_parts_of_a_global_array_of_per_thread_structs() {
    let bin = check_native_args("partition", &["global"], PARTITION_OUT);
    require_pku!();
    let line = marker_line("partition", "global");
    for rep in racy_in_each_mode(&bin, &["global"], Access::Write, "partition.c", line) {
        let obj = rep.object_line().expect("object line");
        assert!(
            obj.contains(" of 4096 bytes (global 'Local'), policy private(T4)"),
            "{obj}"
        );
    }
}

#[test]
fn a_part_size_that_is_not_whole_pages_is_refused_with_the_fix() {
    let bin = compile_c("partition");
    require_pku!();
    for mode in MODES {
        let r = run_mode_args(mode, &bin, &["misaligned"]);
        assert_exit_code(&r, RACE_EXIT);
        assert!(r.stdout.contains("misaligned=EINVAL"), "{r}");
        let rep = assert_annotation_error(
            &r,
            "push_partition",
            "partition.c",
            line_containing("partition", "/* ERROR:misaligned"),
        );
        assert!(
            rep.text()
                .contains("not a whole number of pages (4096 bytes)"),
            "{}",
            rep.text()
        );
        assert_report_count(&r, 1);
    }
}

#[test]
fn a_later_part_cannot_be_freed_alone() {
    let bin = compile_c("partition");
    require_pku!();
    for mode in MODES {
        let r = run_mode_args(mode, &bin, &["freepart"]);
        assert_exit_code(&r, RACE_EXIT);
        assert_stdout(&r, PARTITION_OUT);
        let rep = assert_annotation_error(
            &r,
            "push_free",
            "partition.c",
            line_containing("partition", "/* ERROR:freepart"),
        );
        assert!(
            rep.text().contains("a part of a partitioned allocation"),
            "{}",
            rep.text()
        );
        assert_report_count(&r, 1);
    }
}

#[test]
fn the_slices_example_runs_clean_and_reports_its_stray_write() {
    for rep in check_example("slices.c", "stray", "/* thread 0's slice */", Access::Write) {
        let obj = rep.object_line().expect("object line");
        assert!(obj.contains(" of 16384 bytes, policy private(T1)"), "{obj}");
    }
}
