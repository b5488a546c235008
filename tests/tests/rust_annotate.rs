//! Rust programs under PUSh through the `push-annotate` crate: the
//! programs of `examples/rust` (built with cargo into
//! `target/rust-annotate`), run natively, under `LD_PRELOAD` and under
//! `push run`; `cargo test` with `push run --` as cargo's runner; and the
//! thread names on report lines (Rust and C).

use push_tests::*;
use std::fs;

#[test]
fn clean_tour_of_every_wrapper_reports_nothing() {
    check_rust_clean(
        "clean_tour",
        "statics total=3000 hits=3000\n\
         once sums=[3720, 3720, 3720]\n\
         queue sum=5050\n\
         rwlock sums=[55, 55, 55]\n\
         barrier totals=[24, 24, 24]\n\
         channels sum=1920 scratch=3\n\
         atomics seen=42\n\
         spinlock count=2000\n\
         done\n",
    );
}

#[test]
fn raw_pointer_written_without_the_lock_is_a_race() {
    let r = check_rust_racy(
        "race_escaped_pointer",
        "escaped",
        Access::Write,
        "counter=10\n",
    );
    if let Some(r) = r {
        let object = r.object_line().unwrap_or_default();
        assert!(object.contains("policy protected_by(lock 0x"), "{r:#?}");
    }
}

#[test]
fn static_mut_counter_incremented_without_the_lock_is_a_race() {
    // `+= 1` compiles to a load, an overflow check and a store (debug
    // build): each access is reported once, both at the marked line.
    let r = check_rust_racy_load_store("race_static_mut", "unlocked", "counter=101\n");
    if let Some(r) = r {
        let object = r.object_line().unwrap_or_default();
        assert!(object.contains("policy protected_by(lock 0x"), "{r:#?}");
    }
}

#[test]
fn buffer_used_by_its_sender_after_send_is_a_race() {
    let r = check_rust_racy(
        "race_use_after_send",
        "after_send",
        Access::Write,
        "sum=8 seen=99\n",
    );
    if let Some(r) = r {
        assert_eq!(r.access_thread().as_deref(), Some("T0"), "{r:#?}");
        let object = r.object_line().unwrap_or_default();
        assert!(object.contains("policy private(T1)"), "{r:#?}");
    }
}

#[test]
fn buffer_shared_with_c_read_too_early_is_a_race() {
    let r = check_rust_racy(
        "race_ffi_buffer",
        "ffi",
        Access::Read,
        "first=8 sum=522240\n",
    );
    if let Some(r) = r {
        let object = r.object_line().unwrap_or_default();
        assert!(
            object.contains("of 4096 bytes, policy private(T1)"),
            "{r:#?}"
        );
    }
}

#[test]
fn report_names_the_rust_thread_in_text_and_json() {
    let bin = rust_example("race_static_mut");
    require_pku!();
    // An unnamed Rust thread carries the program's name (the kernel keeps
    // 15 bytes of it).
    let r = run_preload(&bin, "");
    assert_exit_code(&r, RACE_EXIT);
    let report = r
        .reports_of(DATA_RACE)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no data race\n{r}"));
    assert_eq!(
        report.thread_name().as_deref(),
        Some("race_static_mut"),
        "{r}"
    );

    let r = run_preload(&bin, "report_format=json");
    assert_exit_code(&r, RACE_EXIT);
    let race: serde_json::Value = r
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON report line"))
        .find(|v: &serde_json::Value| v["kind"] == DATA_RACE)
        .unwrap_or_else(|| panic!("no JSON data race\n{r}"));
    assert_eq!(race["access"]["thread"]["name"], "race_static_mut", "{r}");
    let frame0 = &race["access"]["stack"][0];
    let line = rust_marker_line(&rust_example_source("race_static_mut"), "unlocked");
    assert!(
        frame0["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("race_static_mut.rs"))
            && frame0["line"] == line,
        "frame #0 at race_static_mut.rs:{line}: {frame0}\n{r}"
    );
    // Rust symbols are demangled without their hash.
    assert!(
        frame0["function"]
            .as_str()
            .is_some_and(|f| f.starts_with("race_static_mut::main::") && !f.contains("::h")),
        "{frame0}"
    );
}

#[test]
fn report_names_a_c_thread_set_with_pthread_setname_np() {
    let bin = check_native("thread_name_race", "started\nresult=12\n");
    require_pku!();
    let line = marker_line("thread_name_race", "named");
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_exit_code(&r, RACE_EXIT);
        let report = assert_race(&r, DATA_RACE, true, "thread_name_race.c", line);
        assert_eq!(
            report.thread_name().as_deref(),
            Some("intruder \"7\""),
            "{r}"
        );
        assert!(
            report
                .access_line
                .as_deref()
                .is_some_and(|l| l.contains(r#"by thread T1 "intruder \"7\"" (tid "#)),
            "{r}"
        );
    }
}

/// `cargo test` with `runner = ["push", "run", "--"]` in `.cargo/config.toml`
/// (the documented setup, with the absolute path of the built `push`).
#[test]
fn cargo_test_under_the_push_runner_names_the_test() {
    let source = rust_examples_dir().join("tests").join("runner_demo.rs");
    let line = rust_marker_line(&source, "test");

    // Natively (no runner) both tests pass.
    let mut native = cargo_command(&repo_root());
    native.args(["test", "-p", "push-rust-examples", "--test", "runner_demo"]);
    let r = run_with_timeout(native, CARGO_BUILD_TIMEOUT);
    assert!(!r.timed_out, "cargo test timed out\n{r}");
    assert_exit_code(&r, 0);
    assert!(r.stdout.contains("test result: ok. 2 passed"), "{r}");
    assert!(!r.stderr.contains("PUSh"), "{r}");

    require_pku!();
    // A directory inside the repository, so that cargo reads both its
    // config (the runner) and the workspace's (frame pointers).
    let dir = scratch_dir("cargo-runner");
    fs::create_dir_all(dir.join(".cargo")).unwrap();
    fs::write(
        dir.join(".cargo").join("config.toml"),
        format!(
            "[target.x86_64-unknown-linux-gnu]\nrunner = [{:?}, \"run\", \"--\"]\n",
            push_cli_path().display().to_string()
        ),
    )
    .unwrap();
    let mut cmd = cargo_command(&dir);
    cmd.arg("test")
        .arg("--manifest-path")
        .arg(repo_root().join("Cargo.toml"))
        .args(["-p", "push-rust-examples", "--test", "runner_demo"]);
    set_push_options(&mut cmd, "");
    let r = run_with_timeout(cmd, CARGO_BUILD_TIMEOUT);
    assert!(!r.timed_out, "cargo test timed out\n{r}");
    assert_ne!(
        r.code,
        Some(0),
        "cargo test must fail: the binary exits 66\n{r}"
    );
    assert!(
        r.stderr.contains("push") && r.stderr.contains("exit status: 66"),
        "cargo ran the tests through `push run` and saw exit status 66\n{r}"
    );
    // libtest itself saw both tests pass (PUSh lets the access through).
    assert!(r.stdout.contains("test result: ok. 2 passed"), "{r}");
    let report = assert_race(&r, DATA_RACE, true, "runner_demo.rs", line);
    assert_report_count(&r, 1);
    assert_eq!(
        report.thread_name().as_deref(),
        Some("racy_counter"),
        "the report names the test\n{r}"
    );
    assert!(
        report
            .frame0
            .as_deref()
            .is_some_and(|f| f.contains(" in runner_demo::racy_counter ")),
        "{report:#?}"
    );
    let _ = fs::remove_dir_all(&dir);
}
