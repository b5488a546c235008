//! Stress: many threads and locks, and the same under aggressive rehashing.

use push_tests::*;

const STRESS_STDOUT: &str =
    "started\nresult=64000 weighted=1056000 checksum=10578933027624775178\n";

#[test]
fn many_threads_many_locks_are_clean() {
    check_clean("stress_locks", STRESS_STDOUT);
}

#[test]
fn many_threads_many_locks_with_rehashing_are_clean() {
    let bin = compile_c("stress_locks");
    require_pku!();
    for seed in ["1", "2", "3"] {
        let r = run_preload(&bin, &format!("rehash_ms=1:seed={seed}"));
        assert_clean(&r);
        assert_stdout(&r, STRESS_STDOUT);
    }
    let r = run_cli(&bin, &["--rehash-ms", "1", "--seed", "4"]);
    assert_clean(&r);
    assert_stdout(&r, STRESS_STDOUT);
}

#[test]
fn condvar_queue_with_rehashing_is_clean() {
    let bin = compile_c("cond_in_object");
    require_pku!();
    let r = run_preload(&bin, "rehash_ms=1:seed=9");
    assert_clean(&r);
    assert_stdout(&r, "started\nresult=50005000 left=0\n");
}
