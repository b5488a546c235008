//! protected_by with every kind of lock the runtime interposes: mutexes of
//! all types (lock, trylock, timedlock), rwlocks, spinlocks, and a mutex
//! and condvar living inside the object they protect.

use push_tests::*;

fn object_line(report: &Option<Report>) -> String {
    report
        .as_ref()
        .and_then(|r| r.object_line().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn mutex_default_and_normal_are_clean() {
    check_clean("mutex_normal", "started\nresult=4000,8000,12000\n");
}

#[test]
fn mutex_recursive_nested_locking_is_clean() {
    check_clean("mutex_recursive", "started\nresult=6000,6000,4000\n");
}

#[test]
fn mutex_recursive_access_after_outermost_unlock_is_a_race() {
    let r = check_racy(
        "mutex_recursive_race",
        "after",
        Access::Write,
        "started\nresult=2,5\n",
    );
    if r.is_some() {
        let obj = object_line(&r);
        assert!(
            obj.contains("protected_by(lock 0x") && obj.contains("not held"),
            "{obj}"
        );
    }
}

#[test]
fn mutex_errorcheck_is_clean_and_errors_pass_through() {
    check_clean(
        "mutex_errorcheck",
        "started\ndeadlk=1 eperm=1 eperm2=1\nresult=4000,7\n",
    );
}

#[test]
fn mutex_adaptive_is_clean() {
    check_clean("mutex_adaptive", "started\nresult=4000,8000\n");
}

#[test]
fn mutex_trylock_is_clean() {
    check_clean("mutex_trylock", "started\nbusy=1\nresult=4000,5\n");
}

#[test]
fn mutex_failed_trylock_grants_nothing() {
    let r = check_racy(
        "mutex_trylock_race",
        "write",
        Access::Write,
        "started\nbusy=1\nresult=1,99\n",
    );
    if r.is_some() {
        let obj = object_line(&r);
        assert!(obj.contains("held by T0"), "{obj}");
    }
}

#[test]
fn mutex_timedlock_is_clean() {
    check_clean("mutex_timedlock", "started\ntimedout=1\nresult=4000,3\n");
}

#[test]
fn mutex_access_without_lock_is_a_race() {
    let r = check_racy(
        "mutex_race_nolock",
        "write",
        Access::Write,
        "started\nresult=1000,77\n",
    );
    if r.is_some() {
        let obj = object_line(&r);
        assert!(obj.contains("of 32 bytes"), "{obj}");
        assert!(
            obj.contains("protected_by(lock 0x") && obj.contains("not held"),
            "{obj}"
        );
    }
}

#[test]
fn mutex_access_holding_the_wrong_lock_is_a_race() {
    check_racy(
        "mutex_race_wronglock",
        "read",
        Access::Read,
        "started\nresult=40,45\n",
    );
}

#[test]
fn rwlock_writers_and_concurrent_readers_are_clean() {
    check_clean("rwlock_clean", "started\nresult=12000\n");
}

#[test]
fn rwlock_try_and_timed_forms_are_clean() {
    check_clean(
        "rwlock_try",
        "started\nbusy_w=1 timedout_w=1 busy_r=1 timedout_r=1\nresult=1,2,6\n",
    );
}

#[test]
fn rwlock_write_under_read_lock_is_a_race() {
    let r = check_racy(
        "rwlock_race",
        "write",
        Access::Write,
        "started\nresult=20,21\n",
    );
    if r.is_some() {
        assert!(object_line(&r).contains("protected_by(lock 0x"));
    }
}

#[test]
fn spinlock_is_clean() {
    check_clean("spin_clean", "started\nresult=4000,6000\n");
}

#[test]
fn spinlock_access_without_lock_is_a_race() {
    check_racy(
        "spin_race",
        "write",
        Access::Write,
        "started\nresult=1000,3\n",
    );
}

#[test]
fn mutex_and_condvar_inside_protected_object_are_clean() {
    check_clean("cond_in_object", "started\nresult=50005000 left=0\n");
}

#[test]
fn locks_inside_their_objects_of_every_kind_are_clean() {
    check_clean("lock_in_object", "started\nresult=560000\n");
}

#[test]
fn locks_inside_their_objects_stay_clean_while_rehashing_every_millisecond() {
    let bin = compile_c("lock_in_object");
    require_pku!();
    for options in ["rehash_ms=1:verbose=1", "rehash_ms=1:seed=7:verbose=1"] {
        let r = run_preload(&bin, options);
        assert_exit_code(&r, 0);
        assert!(r.reports().is_empty(), "{r}");
        assert_stdout(&r, "started\nresult=560000\n");
        // Under mprotect no key is shared, so nothing is re-drawn: the
        // run checks only that the locks stay clean.
        if test_backend() == Backend::Mpk {
            assert!(
                r.stat("rehashes").unwrap_or(0) > 0,
                "no rehash happened\n{r}"
            );
        }
    }
}

#[test]
fn access_after_unlocking_a_lock_inside_the_object_is_a_race() {
    check_racy(
        "lock_in_object_race",
        "read",
        Access::Read,
        "started\nresult=1000,1\n",
    );
}

#[test]
fn lock_tables_made_read_only_stay_clean_under_contention() {
    // The words of the packed and the 16 KiB table have an alias, those of
    // the 132 KiB one do not: both paths, with futex sleeps on every kind
    // of word.
    check_clean("lock_table_readonly", "started\nresult=36000,120\n");
}

#[test]
fn a_write_to_a_read_only_lock_table_is_still_reported() {
    check_racy(
        "lock_table_write_race",
        "write",
        Access::Write,
        "started\nresult=1000\n",
    );
}

#[test]
fn a_fork_child_has_lock_words_of_its_own() {
    check_clean("lock_alias_fork", "started\nresult=child-ok,free\n");
}
