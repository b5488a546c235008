//! A correct program behaves exactly as it does without PUSh, even when it
//! does things glibc barely supports: a thread made with raw `clone` that
//! runs on its creator's TLS must never turn into a hang (such a thread and
//! its creator are left unchecked).

use push_tests::*;

#[test]
fn raw_clone_thread_on_its_creators_tls_never_hangs() {
    let bin = check_native("raw_clone", "counter=40000\n");
    require_pku!();
    // The hang was a lost wake-up in glibc's single-threaded lock fast path,
    // a matter of timing: repeat.
    for _ in 0..5 {
        for mode in MODES {
            let r = run_mode(mode, &bin);
            assert!(!r.timed_out, "hang\n{r}");
            assert_clean(&r);
            assert_stdout(&r, "counter=40000\n");
        }
    }
}
