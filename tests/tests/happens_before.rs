//! Happens-before validation of policy changes (docs/model.md, "Happens-before:
//! a wrong annotation cannot hide a race"). Rule 1: a policy change must happen after the object's
//! previous change, unless the same thread made both. Rule 2: another
//! thread's first access under a new policy must happen after the change.
//!
//! The clean programs (`hb_*_clean`) hand objects over (push_transfer then
//! access, push_release then push_acquire, readonly then read,
//! protected_by then access under the lock) ordered through each
//! synchronization the runtime sees. The racy ones (`hb_*_race`) sequence
//! one hand-off only through an atomic flag, which the runtime cannot see:
//! each reports exactly one `unordered policy change`, at the line marked
//! `/* RACE:tag */`, naming the change marked `/* CHANGE:tag */`.
//!
//! Every test runs its program natively first, then passes `require_pku!()`
//! inside `check_clean` / `check_unordered` before using the runtime.

use push_tests::*;

fn object_line(report: &Option<Report>) -> String {
    report
        .as_ref()
        .and_then(|r| r.object_line().map(str::to_string))
        .unwrap_or_default()
}

/// The line naming the change site (after the report's first frame).
fn change_site_line(report: &Report, call: &str) -> String {
    report
        .line_after_first_frame(call)
        .unwrap_or_default()
        .to_string()
}

/// A first access by thread T1 under a policy that thread T0 set, ordered
/// only by something the runtime cannot see: one `unordered policy change`
/// report at the access marked `tag`, naming T0's change and the policy.
fn check_unordered_first_access(
    name: &str,
    tag: &str,
    access: Access,
    change: &str,
    policy: &str,
    expected_stdout: &str,
) {
    let r = check_unordered(
        name,
        tag,
        Unordered::Access { access, change },
        expected_stdout,
    );
    if let Some(report) = &r {
        assert_eq!(report.access_thread().as_deref(), Some("T1"));
        let site = change_site_line(report, change);
        assert!(site.contains("thread T0"), "{}", report.text());
        assert!(object_line(&r).contains(policy), "{}", report.text());
    }
}

/// A change by thread T1 (`call`) not ordered after thread T0's previous
/// change of the object (`previous`).
fn check_unordered_change(
    name: &str,
    tag: &str,
    call: &str,
    previous: &str,
    expected_stdout: &str,
) {
    let r = check_unordered(
        name,
        tag,
        Unordered::Change { call, previous },
        expected_stdout,
    );
    if let Some(report) = &r {
        assert!(
            report
                .first_line()
                .is_some_and(|l| l.contains("by thread T1")),
            "{}",
            report.text()
        );
        let site = change_site_line(report, previous);
        assert!(site.contains("thread T0"), "{}", report.text());
    }
}

// --- ordered through each primitive: clean ---------------------------------

#[test]
fn mutex_orders_policy_changes() {
    check_clean_args("hb_lock_clean", &["mutex"], "started\nresult=101,4,13\n");
}

#[test]
fn rwlock_write_release_orders_later_read_acquire() {
    check_clean_args("hb_lock_clean", &["rwlock"], "started\nresult=107,25,9\n");
}

#[test]
fn rwlock_read_releases_order_later_write_acquire() {
    check_clean("hb_rwlock_rw_clean", "started\nresult=936,-1,-2\n");
}

#[test]
fn spinlock_orders_policy_changes() {
    check_clean_args("hb_lock_clean", &["spin"], "started\nresult=104,10,16\n");
}

#[test]
fn condvar_wait_orders_policy_changes() {
    check_clean("hb_cond_clean", "started\nresult=111,24,23\n");
}

#[test]
fn barrier_orders_arrivals_before_departures() {
    check_clean("hb_barrier_clean", "started\nresult=114,30,144\n");
}

#[test]
fn semaphore_wait_orders_policy_changes() {
    check_clean_args("hb_sem_clean", &["wait"], "started\nresult=116,34,150\n");
}

#[test]
fn semaphore_trywait_orders_policy_changes() {
    check_clean_args("hb_sem_clean", &["trywait"], "started\nresult=118,38,156\n");
}

#[test]
fn semaphore_timedwait_orders_policy_changes() {
    check_clean_args(
        "hb_sem_clean",
        &["timedwait"],
        "started\nresult=120,42,162\n",
    );
}

#[test]
fn thread_creation_orders_earlier_policy_changes() {
    check_clean("hb_create_clean", "started\nresult=1240,11,2480,225\n");
}

#[test]
fn join_orders_the_exited_threads_policy_changes() {
    check_clean("hb_join_clean", "started\nresult=8884,-8884,1007\n");
}

#[test]
fn pthread_once_orders_the_init_routines_changes() {
    check_clean("hb_once_clean", "started\nresult=9120,94\n");
}

#[test]
fn annotated_atomic_flag_orders_policy_changes() {
    check_clean("hb_flag_clean", "started\nresult=122,46,25\n");
}

#[test]
fn a_mutex_inside_a_tracked_object_orders_policy_changes() {
    check_clean_args("hb_lock_clean", &["boxed"], "started\nresult=113,28,25\n");
}

#[test]
fn custom_lock_announcements_order_policy_changes() {
    check_clean_args("hb_lock_clean", &["custom"], "started\nresult=110,22,22\n");
}

#[test]
fn a_threads_own_successive_changes_need_no_ordering() {
    check_clean("hb_same_thread_clean", "started\nresult=33,48\n");
}

// --- sequenced only by an invisible atomic: one unordered change -----------

#[test]
fn transfer_then_access_through_an_atomic_flag_is_unordered() {
    check_unordered_first_access(
        "hb_transfer_race",
        "transfer",
        Access::Write,
        "push_transfer",
        "policy private(T1)",
        "started\nresult=12,7\n",
    );
}

#[test]
fn release_then_acquire_through_an_atomic_flag_is_unordered() {
    check_unordered_change(
        "hb_acquire_race",
        "acquire",
        "push_acquire",
        "push_release",
        "started\nresult=21,42\n",
    );
}

#[test]
fn readonly_then_read_through_an_atomic_flag_is_unordered() {
    check_unordered_first_access(
        "hb_readonly_race",
        "readonly",
        Access::Read,
        "push_readonly",
        "policy readonly",
        "started\nresult=149,49\n",
    );
}

#[test]
fn protected_by_without_a_later_release_of_the_lock_is_unordered() {
    check_unordered_first_access(
        "hb_protected_race",
        "protected",
        Access::Write,
        "push_protected_by",
        "policy protected_by(lock 0x",
        "started\nresult=43,42\n",
    );
}

#[test]
fn atomic_flag_without_happens_before_annotations_is_unordered() {
    check_unordered_change(
        "hb_flag_race",
        "private",
        "push_private",
        "push_readonly",
        "started\nresult=24,25\n",
    );
}

#[test]
fn a_changer_reading_its_fresh_readonly_object_faults_once_per_synchronization() {
    let expected = "started\nresult=2250000,15\n";
    check_clean("hb_changer_grant_clean", expected);
    mpk_only!("counts the changer's read grants on the validate_read key");
    let bin = compile_c("hb_changer_grant_clean");
    let r = run_preload(&bin, "verbose=1:rehash_ms=0");
    assert_exit_code(&r, 0);
    assert_stdout(&r, expected);
    // One grant at the first read and one after each of the three
    // synchronizations at most: not a fault per read.
    let grants = r.stat("changer_read_grants").unwrap_or(0);
    assert!(
        (1..=4).contains(&grants),
        "changer_read_grants={grants}\n{r}"
    );
    assert!(r.stat("faults").unwrap_or(99) <= 8, "{r}");
}

#[test]
fn the_changer_read_grant_does_not_hide_a_write_to_the_readonly_object() {
    let bin = compile_c("hb_changer_grant_clean");
    require_pku!();
    let line = marker_line("hb_changer_grant_clean", "write");
    let r = run_preload_args(&bin, "", &[], &["write"]);
    assert_exit_code(&r, RACE_EXIT);
    assert_race_access(
        &r,
        DATA_RACE,
        Access::Write,
        "hb_changer_grant_clean.c",
        line,
    );
    assert_report_count(&r, 1);
}

#[test]
fn the_changer_read_grant_ends_at_its_next_synchronization() {
    let r = check_unordered(
        "hb_changer_grant_race",
        "theirs",
        Unordered::Access {
            access: Access::Read,
            change: "push_readonly",
        },
        "started\nresult=28020\n",
    );
    if let Some(report) = &r {
        assert_eq!(report.access_thread().as_deref(), Some("T1"));
    }
}

#[test]
fn protected_by_made_while_holding_the_lock_needs_no_validation_faults() {
    let expected = "started\nresult=64064\n";
    check_clean("hb_changer_holds_lock_clean", expected);
    mpk_only!("counts protection-key faults (every first access faults under mprotect)");
    let bin = compile_c("hb_changer_holds_lock_clean");
    let r = run_preload(&bin, "verbose=1:rehash_ms=0");
    assert_exit_code(&r, 0);
    assert_stdout(&r, expected);
    // Packed objects carry the allocating thread's key first: at most a
    // handful of faults in all, not one per object (64) or 15 per object.
    assert!(r.stat("faults").unwrap_or(999) <= 8, "{r}");
}

/// docs/annotating.md's phase pattern: policy changes between two waits of
/// a barrier (each owner its own block, then the serial thread handing
/// read-only blocks back) are ordered for every thread: no report. Made
/// after a single wait instead, they are not: reported.
#[test]
fn policy_changes_between_two_barrier_waits_are_ordered() {
    let out = "started\nsum=8448 first=1000,1001,1002,1003\n";
    check_clean("barrier_phases", out);
    let bin = compile_c("barrier_phases");
    require_pku!();
    for _ in 0..10 {
        for mode in MODES {
            let r = run_mode_args(mode, &bin, &["late"]);
            assert_exit_code(&r, RACE_EXIT);
            let n = r.reports_of(UNORDERED_POLICY_CHANGE).len() + r.reports_of(DATA_RACE).len();
            assert!(n > 0, "a change after a single wait must be reported\n{r}");
        }
    }
}

#[test]
fn policy_changes_registered_for_a_barrier_are_made_when_it_opens() {
    let out = "started\nsum=8704 first=1001,1002,1003,1004\n";
    check_clean("phase_at", out);
    check_clean_args("phase_at", &["custom"], out);
    let bin = compile_c("phase_at");
    require_pku!();
    for _ in 0..5 {
        for mode in MODES {
            for args in [&[][..], &["custom"][..]] {
                let r = run_mode_args(mode, &bin, args);
                assert_clean(&r);
                assert_stdout(&r, out);
            }
        }
    }
}

#[test]
fn a_block_not_registered_for_the_barrier_stays_private() {
    let bin = compile_c("phase_at");
    require_pku!();
    for mode in MODES {
        let r = run_mode_args(mode, &bin, &["forget"]);
        assert_exit_code(&r, RACE_EXIT);
        assert_race_access(
            &r,
            DATA_RACE,
            Access::Read,
            "phase_at.c",
            marker_line("phase_at", "forget"),
        );
        assert!(r.reports_of(UNORDERED_POLICY_CHANGE).is_empty(), "{r}");
    }
}

#[test]
fn registering_a_change_the_caller_may_not_make_is_refused_at_the_call() {
    let bin = compile_c("phase_at");
    require_pku!();
    for mode in MODES {
        let r = run_mode_args(mode, &bin, &["steal"]);
        assert_exit_code(&r, RACE_EXIT);
        assert!(r.stdout.contains("steal=EPERM"), "{r}");
        assert_annotation_error(
            &r,
            "push_readonly_at",
            "phase_at.c",
            line_containing("phase_at", "/* ERROR:steal"),
        );
        assert_report_count(&r, 1);
    }
}

#[test]
fn the_phases_example_runs_clean_and_its_forgotten_block_is_reported() {
    check_example("phases.c", "forget", "/* read every block */", Access::Read);
}
