//! Programs that use protection keys themselves (JITs, language runtimes,
//! wasm engines) share the key space with PUSh: their `pkey_alloc` gets
//! keys even though PUSh took every free one (it gives up domain keys, down
//! to two), and the rights they set on their keys survive PUSh's own PKRU
//! updates and are inherited by new threads. Races are still reported.

use push_tests::*;

#[test]
fn a_program_gets_its_keys_and_keeps_its_rights() {
    let bin = compile_c("pkeys_app");
    let native = run_native(&bin);
    assert_exit_code(&native, 0);
    let expected = native.stdout.clone();
    if expected.starts_with("no protection keys") {
        record_skip("this CPU/kernel has no protection keys: the program cannot use its own");
    }
    require_pku!();
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_clean(&r);
        assert_stdout(&r, &expected);
    }
}

#[test]
fn races_are_still_reported_with_fewer_domains() {
    require_pku!();
    let bin = compile_c("pkeys_app");
    let r = run_cli_args(&bin, &[], &[], &["race"]);
    assert_exit_code(&r, RACE_EXIT);
    assert_race_access(
        &r,
        DATA_RACE,
        Access::Write,
        "pkeys_app.c",
        marker_line("pkeys_app", "write"),
    );
    assert_report_count(&r, 1);
    if test_backend() == Backend::Mpk && r.stdout.starts_with("keys=3") {
        assert!(
            r.stderr
                .contains("[backend mpk, 3 protection keys given to the program]"),
            "{r}"
        );
    }
}
