//! The benchmark harness in quick mode: every workload of `benchmarks/`
//! builds, runs natively, under PUSh and with ThreadSanitizer on a small
//! input, prints the same checksum everywhere (and with one thread), and
//! PUSh reports nothing, on the suite's backend. No timing is asserted.

use push_tests::*;
use std::process::Command;
use std::time::Duration;

const QUICK_TIMEOUT: Duration = Duration::from_secs(600);

#[test]
fn benchmark_harness_quick_mode_passes() {
    // The harness runs the workloads under `push run`: both artifacts must exist.
    let _ = libpush_path();
    let _ = push_cli_path();
    require_pku!();
    let root = repo_root();
    let mut cmd = Command::new("python3");
    cmd.arg(root.join("benchmarks").join("bench.py"))
        .arg("--quick")
        .arg("--backend")
        .arg(test_backend().name())
        .current_dir(&root)
        .env_remove("LD_PRELOAD")
        .env_remove("PUSH_OPTIONS");
    let r = run_with_timeout(cmd, QUICK_TIMEOUT);
    assert!(
        !r.timed_out,
        "bench.py --quick ran past {QUICK_TIMEOUT:?}\n{r}"
    );
    assert_eq!(r.code, Some(0), "bench.py --quick failed\n{r}");
    assert!(
        r.stdout.contains("report: "),
        "bench.py --quick wrote no report\n{r}"
    );
}
