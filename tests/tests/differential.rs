//! The two enforcement backends agree report for report: every test program
//! that runs without arguments runs under `mpk` and under `mprotect`, and
//! the sets of reports (kind, access type, frame #0 file:line) must be equal,
//! as must the exit status and stdout. Needs both backends in one place: it
//! runs in the `mpk` pass (directly on a PKU host, or inside the QEMU guest
//! of scripts/pku-vm.sh), and records a skip in the `mprotect` pass.

use push_tests::*;
use std::collections::BTreeSet;

/// Programs of tests/c that take no arguments and whose reports do not
/// depend on timing (no rehash, no hidden collision, no stress sizing).
const PROGRAMS: &[&str] = &[
    "private_clean",
    "private_race_read",
    "private_race_write",
    "readonly_clean",
    "readonly_race",
    "racy_clean",
    "release_clean",
    "release_race",
    "transfer_clean",
    "transfer_race",
    "global_clean",
    "global_race",
    "join_handoff_clean",
    "join_handoff_race",
    "mutex_normal",
    "mutex_race_nolock",
    "mutex_race_wronglock",
    "mutex_recursive_race",
    "mutex_trylock_race",
    "rwlock_clean",
    "rwlock_race",
    "spin_clean",
    "spin_race",
    "cond_in_object",
    "lock_in_object_race",
    "hb_acquire_race",
    "hb_protected_race",
    "hb_readonly_race",
    "hb_transfer_race",
    "hb_flag_race",
    "hb_changer_grant_race",
    "two_races",
    "dedup",
    "misuse",
    "mem_fork_window",
];

/// kind | read/write | file:line of frame #0 (the address dropped).
fn report_set(r: &RunResult) -> BTreeSet<String> {
    r.reports()
        .iter()
        .map(|rep| {
            let access = match rep.is_write {
                Some(true) => "write",
                Some(false) => "read",
                None => "-",
            };
            let site = rep
                .frame0
                .as_deref()
                .and_then(|f| f.split_whitespace().last())
                .unwrap_or("?")
                .rsplit('/')
                .next()
                .unwrap_or("?")
                .to_string();
            format!("{} | {access} | {site}", rep.kind)
        })
        .collect()
}

#[test]
fn both_backends_report_the_same_races() {
    if !pku_available() || test_backend() != Backend::Mpk {
        record_skip("differential runs need both backends; they run in the mpk pass");
        return;
    }
    let mut differences = Vec::new();
    for name in PROGRAMS {
        let bin = compile_c(name);
        let mpk = run_preload(&bin, "backend=mpk:rehash_ms=0");
        let portable = run_preload(&bin, "backend=mprotect");
        let (a, b) = (report_set(&mpk), report_set(&portable));
        if a != b || mpk.code != portable.code || mpk.stdout != portable.stdout {
            differences.push(format!(
                "{name}: mpk exit {:?} {a:?}\n{name}: mprotect exit {:?} {b:?}\n--- mpk stderr\n{}\n--- mprotect stderr\n{}",
                mpk.code, portable.code, mpk.stderr, portable.stderr
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "the backends disagree on {} of {} programs:\n{}",
        differences.len(),
        PROGRAMS.len(),
        differences.join("\n\n")
    );
}
