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

/// With the program holding three of PUSh's keys, the racing workers must
/// not share a key with `main`, whichever rotation the seed draws: these
/// seeds give each of the 11 rotations once (with 3 slots given away and all
/// aliased to one slot, rotation 8 used to put main and both workers on one
/// key and hide the race; about 1 run in 11 with a random seed).
const ONE_SEED_PER_ROTATION: [u32; 11] = [10, 5, 7, 8, 3, 40, 2, 15, 46, 1, 4];

#[test]
fn races_are_still_reported_with_fewer_domains() {
    require_pku!();
    let bin = compile_c("pkeys_app");
    for seed in ONE_SEED_PER_ROTATION {
        let opt = format!("seed={seed}");
        let r = run_cli_args(&bin, &[], &[("PUSH_OPTIONS", opt.as_str())], &["race"]);
        assert_exit_code(&r, RACE_EXIT);
        assert_report_count(&r, 1);
    }
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
