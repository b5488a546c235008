//! Machines without protection keys, simulated with PUSH_SIMULATE_NO_PKU=1:
//! `auto` falls back to the portable backend with one line saying so and
//! still reports; `backend=mpk` refuses with exit 2 and the remedy, before
//! the program runs; `push doctor` names the backend `auto` will use.

use push_tests::*;

const NO_PKU: &[(&str, &str)] = &[("PUSH_SIMULATE_NO_PKU", "1")];

fn assert_portable_detection(r: &RunResult) {
    assert_exit_code(r, RACE_EXIT);
    assert_eq!(r.stdout, "started\nresult=42\n", "{r}");
    assert_eq!(
        r.stderr.matches("slower portable mode").count(),
        1,
        "one line says detection runs in the portable mode\n{r}"
    );
    assert_race_access(
        r,
        DATA_RACE,
        Access::Write,
        "no_pku.c",
        marker_line("no_pku", "write"),
    );
    assert_report_count(r, 1);
    assert!(r.stderr.contains("[backend mprotect]"), "{r}");
}

#[test]
fn auto_falls_back_to_the_portable_backend_and_still_reports() {
    let bin = compile_c("no_pku");
    let r = run_cli_env(&bin, &["--backend", "auto"], NO_PKU);
    assert_portable_detection(&r);
    let r = run_preload_env(&bin, "backend=auto", NO_PKU);
    assert_portable_detection(&r);
}

#[test]
fn backend_mpk_refuses_and_explains() {
    let bin = compile_c("no_pku");
    let r = run_cli_env(&bin, &["--backend", "mpk"], NO_PKU);
    assert_exit_code(&r, 2);
    assert!(r.stdout.is_empty(), "the program must not run: {r}");
    assert!(r.stderr.contains("protection keys"), "{r}");
    assert!(
        r.stderr.contains("pku"),
        "the remedy names the CPU flag: {r}"
    );
    assert!(r.stderr.contains("mprotect"), "and the portable mode: {r}");
    let r = run_preload_env(&bin, "backend=mpk", NO_PKU);
    assert_exit_code(&r, 2);
    assert!(r.stdout.is_empty(), "the program must not run: {r}");
    assert!(r.stderr.contains("backend=mprotect"), "{r}");
}

#[test]
fn doctor_names_the_problem_and_the_backend() {
    let out = std::process::Command::new(push_cli_path())
        .arg("doctor")
        .env("PUSH_SIMULATE_NO_PKU", "1")
        .output()
        .expect("push doctor runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "PUSh can still run here\n{text}"
    );
    assert!(text.contains("CPU has PKU:          no"), "{text}");
    assert!(text.contains("backend (auto):       mprotect"), "{text}");
    assert!(text.contains("pku"), "{text}");
}

#[test]
fn doctor_names_mpk_where_the_cpu_has_pku() {
    if !pku_available() {
        record_skip("this CPU has no PKU: doctor's mpk answer cannot be seen");
        return;
    }
    let out = std::process::Command::new(push_cli_path())
        .arg("doctor")
        .output()
        .expect("push doctor runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("backend (auto):       mpk"), "{text}");
}

#[test]
fn the_portable_mode_line_comes_once_per_run_not_per_exec() {
    // A shell that runs the program three times: one process tree, one line.
    let bin = compile_c("no_pku");
    let script = format!("{0} >/dev/null; {0} >/dev/null; {0}", bin.display());
    let r = run_cli_args(
        std::path::Path::new("/bin/sh"),
        &["--backend", "auto"],
        NO_PKU,
        &["-c", &script],
    );
    assert_exit_code(&r, RACE_EXIT);
    assert_eq!(
        r.stderr.matches("slower portable mode").count(),
        1,
        "one line for the whole run\n{r}"
    );
    assert_eq!(r.reports().len(), 3, "each process still reports\n{r}");
}
