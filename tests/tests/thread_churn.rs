//! Thread churn: a program may create any number of threads over its life
//! (a thread-per-connection server). Records of threads that are gone
//! (joined, or detached and finished) are recycled, so the runtime's memory
//! follows the threads alive at once, and reports keep naming threads by
//! creation order (`T<n>`), whatever record they run on.

use push_tests::*;
use std::time::Duration;

/// `pss_kb first=A last=B` from the second line of stdout.
fn pss_growth_kb(r: &RunResult) -> i64 {
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("pss_kb "))
        .unwrap_or_else(|| panic!("no pss line\n{r}"));
    let num = |key: &str| -> i64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("bad pss line '{line}'"))
    };
    num("last=") - num("first=")
}

fn stat(r: &RunResult, key: &str) -> u64 {
    r.stderr
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in the stats\n{r}"))
}

#[test]
fn a_hundred_thousand_threads_with_bounded_memory() {
    require_pku!();
    // Inside the emulator a tenth: thread creation costs 20x there.
    let (batches, per_batch) = if under_emulation() {
        ("20", "500")
    } else {
        ("100", "1000")
    };
    let threads: u64 = batches.parse::<u64>().unwrap() * per_batch.parse::<u64>().unwrap();
    let bin = compile_c("thread_churn");
    let args = [batches, per_batch];
    let native = run_native_args(&bin, &args);
    assert_exit_code(&native, 0);
    let first_line = native.stdout.lines().next().unwrap().to_string();
    assert_eq!(
        first_line,
        format!(
            "count={threads} results={}",
            expected_results(batches, per_batch)
        )
    );

    let mut cmd = std::process::Command::new(&bin);
    cmd.args(args).env("LD_PRELOAD", libpush_path()).env(
        "PUSH_OPTIONS",
        format!("verbose=1:backend={}", test_backend().name()),
    );
    let r = run_with_timeout(cmd, scaled(Duration::from_secs(300)));
    assert!(!r.timed_out, "{r}");
    assert_clean(&r);
    assert_eq!(r.stdout.lines().next(), Some(first_line.as_str()), "{r}");
    assert_eq!(stat(&r, "threads="), threads + 1, "{r}");
    // Records follow the threads alive at once (1,000 per batch here), not
    // the threads created over the run.
    let records = stat(&r, "thread_records=");
    assert!(
        records <= 2048,
        "{records} thread records for {threads} threads\n{r}"
    );
    assert!(stat(&r, "recycled_records=") > threads / 2, "{r}");
    // Memory after the first tenth of the run and at its end: flat.
    let growth = pss_growth_kb(&r);
    assert!(growth < 4096, "PSS grew by {growth} kB over the run\n{r}");
}

/// The sum of the thread arguments handed back through join.
fn expected_results(batches: &str, per_batch: &str) -> u64 {
    let per: u64 = (0..per_batch.parse::<u64>().unwrap())
        .filter(|i| i % 8 != 0)
        .sum();
    per * batches.parse::<u64>().unwrap()
}

#[test]
fn reports_name_threads_by_creation_order_on_recycled_records() {
    require_pku!();
    let bin = compile_c("thread_churn");
    // 1,500 threads, then the racer: T1501, on a recycled record.
    let r = run_mode_args(Mode::Cli, &bin, &["3", "500", "race"]);
    assert_exit_code(&r, RACE_EXIT);
    let rep = assert_race_access(
        &r,
        DATA_RACE,
        Access::Write,
        "thread_churn.c",
        marker_line("thread_churn", "write"),
    );
    assert_eq!(rep.access_thread().as_deref(), Some("T1501"), "{r}");
    let object = rep.object_line().unwrap_or_default().to_string();
    assert!(object.contains("policy readonly"), "{object}\n{r}");
    assert!(rep.text().contains("allocated by thread T0 "), "{r}");
    assert_report_count(&r, 1);
}
