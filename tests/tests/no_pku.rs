//! Machines without protection keys, simulated with PUSH_SIMULATE_NO_PKU=1:
//! `push run` refuses with exit 2 and the remedy; the library loaded
//! directly warns once and lets the program run natively.

use push_tests::*;

const NO_PKU: &[(&str, &str)] = &[("PUSH_SIMULATE_NO_PKU", "1")];

#[test]
fn push_run_refuses_and_explains() {
    let bin = compile_c("no_pku");
    let r = run_cli_env(&bin, &[], NO_PKU);
    assert_exit_code(&r, 2);
    assert!(r.stdout.is_empty(), "the program must not run: {r}");
    assert!(r.stderr.contains("protection keys"), "{r}");
    assert!(
        r.stderr.contains("pku"),
        "the remedy names the CPU flag: {r}"
    );
}

#[test]
fn preloaded_library_warns_once_and_runs_natively() {
    let bin = compile_c("no_pku");
    let native = run_native(&bin);
    assert_exit_code(&native, 0);
    let r = run_preload_env(&bin, "", NO_PKU);
    assert_exit_code(&r, 0);
    assert_eq!(r.stdout, native.stdout, "{r}");
    assert_eq!(r.stderr.matches("PUSh: warning").count(), 1, "{r}");
    assert!(r.stderr.contains("without race detection"), "{r}");
    assert!(!r.stderr.contains("WARNING: PUSh"), "{r}");
}

#[test]
fn doctor_names_the_problem() {
    let out = std::process::Command::new(push_cli_path())
        .arg("doctor")
        .env("PUSH_SIMULATE_NO_PKU", "1")
        .output()
        .expect("push doctor runs");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CPU has PKU:          no"), "{text}");
    assert!(text.contains("Problems:"), "{text}");
}
