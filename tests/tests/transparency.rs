//! A correct program behaves exactly as it does without PUSh, even when it
//! does things glibc barely supports: a thread made with raw `clone` that
//! runs on its creator's TLS must never turn into a hang (such a thread and
//! its creator are left unchecked).

use push_tests::*;

#[test]
fn raw_clone_thread_on_its_creators_tls_never_hangs() {
    // Natively this program is not reliable (glibc does not support a
    // thread on its creator's TLS): it aborts in a lock assertion or hangs
    // in 1 run of 4 to 8, more on a loaded machine, so its native run is not
    // the reference here. Under PUSh it must always finish with the count.
    let bin = compile_c("raw_clone");
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

#[test]
fn a_runtime_that_cannot_start_says_why_and_the_program_runs() {
    // Under a small address-space limit the runtime cannot reserve its
    // tables: it says so (not "no protection keys") and the program runs
    // as natively.
    let bin = compile_c("private_clean");
    let script = format!("ulimit -v 1000000; exec {}", bin.display());
    let native = run_native_args(std::path::Path::new("/bin/bash"), &["-c", &script]);
    let r = run_preload_args(std::path::Path::new("/bin/bash"), "", &[], &["-c", &script]);
    assert_eq!(r.code, native.code, "{r}");
    assert_eq!(r.stdout, native.stdout, "{r}");
    let warnings: Vec<&str> = r.stderr.lines().filter(|l| l.contains("PUSh")).collect();
    assert_eq!(warnings.len(), 1, "{r}");
    assert!(warnings[0].contains("could not reserve its tables"), "{r}");
    assert!(warnings[0].contains("ulimit -v"), "{r}");
    assert!(
        !r.stderr.contains("protection keys are not available"),
        "{r}"
    );
}
