//! Ownership hand-offs: push_transfer, push_release/push_acquire, and
//! objects private to a thread that exited passing to the joiner.

use push_tests::*;

fn object_line(report: &Option<Report>) -> String {
    report
        .as_ref()
        .and_then(|r| r.object_line().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn transfer_then_signal_is_clean() {
    check_clean("transfer_clean", "started\nresult=136\n");
}

#[test]
fn old_owner_touching_after_transfer_is_a_race() {
    let r = check_racy(
        "transfer_race",
        "write",
        Access::Write,
        "started\nresult=100,50\n",
    );
    if let Some(report) = &r {
        assert!(
            object_line(&r).contains("policy private(T1)"),
            "{}",
            object_line(&r)
        );
        assert_eq!(report.access_thread().as_deref(), Some("T0"));
    }
}

#[test]
fn release_acquire_chain_is_clean() {
    check_clean("release_clean", "started\nresult=19,1,2\n");
}

#[test]
fn released_object_used_without_acquire_is_a_race() {
    let r = check_racy(
        "release_race",
        "write",
        Access::Write,
        "started\nresult=1,9\n",
    );
    if r.is_some() {
        assert!(
            object_line(&r).contains("policy released"),
            "{}",
            object_line(&r)
        );
    }
}

#[test]
fn objects_of_a_joined_thread_pass_to_the_joiner() {
    check_clean("join_handoff_clean", "started\nresult=109900\n");
}

#[test]
fn reading_a_live_threads_object_is_a_race() {
    let r = check_racy(
        "join_handoff_race",
        "read",
        Access::Read,
        "started\nresult=4950 first=10\n",
    );
    if r.is_some() {
        assert!(
            object_line(&r).contains("policy private(T1)"),
            "{}",
            object_line(&r)
        );
    }
}
