//! Periodic rehash: a race hidden because two owners share a protection key
//! is reported once a rehash separates them; rehashing never reports by
//! itself; `rehash_ms=0` keeps the plain owner->key layout.

use push_tests::*;

/// Runs `rehash_hidden` with the worker holding lock `wrong` instead of 0.
fn run_hidden(bin: &std::path::Path, wrong: &str, options: &str) -> RunResult {
    let mut cmd = std::process::Command::new(bin);
    cmd.arg(wrong)
        .env("LD_PRELOAD", libpush_path())
        .env("PUSH_OPTIONS", options);
    run_with_timeout(cmd, std::time::Duration::from_secs(60))
}

/// Rounds per thread of `rehash_stress`: its full size, or a 20th under
/// emulation.
fn stress_rounds() -> &'static str {
    if under_emulation() {
        "6000"
    } else {
        "120000"
    }
}

fn free_keys() -> u32 {
    let out = std::process::Command::new(push_cli_path())
        .arg("doctor")
        .output()
        .expect("push doctor");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("  free protection keys: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn collision_hidden_race_is_reported_after_rehash_for_every_seed() {
    mpk_only!("key collisions and their rehash exist only with protection keys");
    let bin = compile_c("rehash_hidden");
    let native = run_native(&bin);
    assert_exit_code(&native, 0);
    require_pku!();
    let line = marker_line("rehash_hidden", "wronglock");

    // Without rehashing the race stays hidden when the wrong lock shares lock
    // 0's key. Owners become domains in order of appearance: main = 0,
    // lock i = i + 1, so with D domains (free keys minus the 4 reserved)
    // lock D lands on lock 0's domain whatever the seed (the seed rotates
    // every slot alike). That is the collision rehashing must undo.
    let keys = free_keys();
    let wrong = if keys >= 6 {
        (keys - 4).to_string()
    } else {
        "13".to_string()
    };
    if keys == 15 {
        for seed in ["1", "2", "3"] {
            let r = run_hidden(&bin, &wrong, &format!("rehash_ms=0:seed={seed}"));
            assert_exit_code(&r, 0);
            assert!(
                r.reports().is_empty(),
                "expected the collision to hide the race (seed {seed}, lock {wrong}): {r}"
            );
        }
    }

    let mut periods = Vec::new();
    for seed in 1..=20 {
        let r = run_hidden(
            &bin,
            &wrong,
            &format!("rehash_ms=5:seed={seed}:report_format=json"),
        );
        assert_exit_code(&r, 66);
        assert_stdout(&r, "started\nresult=24001\n");
        let reports: Vec<serde_json::Value> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with('{') && l.contains("\"kind\""))
            .map(|l| serde_json::from_str(l).expect("json report"))
            .collect();
        assert_eq!(reports.len(), 1, "seed {seed}: {r}");
        let rep = &reports[0];
        assert_eq!(rep["kind"], "data race", "seed {seed}: {r}");
        // `objs[0][1]++` is one read-modify-write instruction: a write,
        // except that QEMU's emulated CPU reports such a fault on an
        // access-disabled page as a read.
        let access = rep["access"]["type"].as_str().unwrap_or("");
        assert!(
            access == "write" || (under_emulation() && access == "read"),
            "seed {seed}: access {access}: {r}"
        );
        let frame = &rep["access"]["stack"][0];
        assert!(
            frame["file"]
                .as_str()
                .unwrap_or("")
                .ends_with("rehash_hidden.c"),
            "seed {seed}: {r}"
        );
        assert_eq!(frame["line"], line, "seed {seed}: {r}");
        periods.push(rep["period"].as_u64().unwrap_or(0));
    }
    periods.sort_unstable();
    println!(
        "periods until reported over 20 seeds: median {}, max {} ({periods:?})",
        periods[periods.len() / 2],
        periods[periods.len() - 1]
    );
}

#[test]
fn rehashing_every_few_ms_reports_nothing_and_keeps_results() {
    let bin = compile_c("rehash_stress");
    let rounds = stress_rounds();
    let native = run_native_args(&bin, &[rounds]);
    assert_exit_code(&native, 0);
    let total = 64 * rounds.parse::<u64>().unwrap();
    assert_stdout(
        &native,
        &format!("started\nresult={total} private={total}\n"),
    );
    mpk_only!("rehash statistics; 7.7M lock operations are sized for mpk (minutes under mprotect)");
    for seed in ["1", "7"] {
        let r = run_preload_args(
            &bin,
            &format!("rehash_ms=2:seed={seed}:verbose=1"),
            &[],
            &[rounds],
        );
        assert_exit_code(&r, 0);
        assert_eq!(r.stdout, native.stdout, "{r}");
        assert!(r.reports().is_empty(), "{r}");
        assert!(r.stderr.contains("PUSh: stats: rehashes="), "{r}");
        let rehashes: u64 = r
            .stderr
            .split("rehashes=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(rehashes >= 1, "the run must have rehashed: {r}");
    }
}

#[test]
fn rehash_off_keeps_the_plain_layout() {
    let bin = compile_c("rehash_stress");
    mpk_only!("rehash statistics; 7.7M lock operations are sized for mpk (minutes under mprotect)");
    let r = run_preload_args(&bin, "rehash_ms=0:verbose=1", &[], &[stress_rounds()]);
    assert_exit_code(&r, 0);
    assert!(r.reports().is_empty(), "{r}");
    assert!(
        !r.stderr.contains("rehashes="),
        "no rehash statistics when rehash is off: {r}"
    );
}

#[test]
fn locks_inside_objects_survive_rekeying_while_threads_sleep_in_futex() {
    let bin = compile_c("futex_rekey");
    let native = run_native(&bin);
    assert_exit_code(&native, 0);
    assert_stdout(&native, "started\nresult=1200000\n");
    require_pku!();
    // Under mprotect (no keys to re-draw) one run checks the futex path.
    let all = ["hb=0:rehash_ms=1", "rehash_ms=1", "hb=0:rehash_ms=1:seed=3"];
    let runs = if test_backend() == Backend::Mpk {
        &all[..]
    } else {
        &all[1..2]
    };
    for options in runs {
        let r = run_preload(&bin, options);
        assert_exit_code(&r, 0);
        assert_eq!(r.stdout, native.stdout, "{r}");
        assert!(r.reports().is_empty(), "{r}");
    }
}
