//! Auto mode (`push run --auto`, `PUSH_OPTIONS=auto=1`): PUSh watches the
//! heap objects of an unannotated program (malloc and its kin, C++ `new`)
//! and reports a data race only when two observed accesses to one address,
//! from different threads, at least one a write, are not ordered by
//! happens-before (mutexes, rwlocks, spinlocks, condvars, barriers,
//! semaphores, pthread_create/join, pthread_once).
//!
//! The programs are `tests/c/auto_*.c` and `auto_cpp_new.cpp`: no `push.h`.
//!
//! * Racy ones repeat one race many times; each must be reported, in both
//!   modes, between its `/* RACE:a */` and `/* RACE:b */` lines (either as
//!   the access, the other as the `Previous` access), with the allocation
//!   at `/* ALLOC */`, and exit 66.
//! * Race-free ones must exit 0 with their native stdout and no report,
//!   with each of 20 seeds (domain placement; 3 inside the QEMU guest, see
//!   `auto_seed_count`).
//! * Without auto mode (the default) nothing is tracked: the racy programs
//!   run as natively.
//!
//! Every check runs its program natively first, then passes `require_pku!`
//! inside the scenario before using the runtime.

use push_tests::*;
use serde_json::Value;

// --- racy: reported with both sites -----------------------------------------

#[test]
fn lock_forgotten_by_one_thread() {
    check_auto_racy("auto_lock_forgotten", "a", "b", "started\nresult=ok\n");
}

#[test]
fn two_locks_for_one_field() {
    check_auto_racy("auto_two_locks", "a", "b", "started\nresult=account 7\n");
}

#[test]
fn unsynchronized_flag() {
    check_auto_racy("auto_flag", "a", "b", "started\nresult=500,1\n");
}

#[test]
fn handoff_through_a_plain_flag() {
    check_auto_racy("auto_handoff_nosync", "a", "b", "started\nresult=367200\n");
}

#[test]
fn item_written_after_it_was_enqueued() {
    check_auto_racy("auto_queue_use_after", "a", "b", "started\nresult=79800\n");
}

#[test]
fn write_during_reads() {
    check_auto_racy(
        "auto_write_during_reads",
        "a",
        "b",
        "started\nresult=10,1800\n",
    );
}

/// Records a skip and says so when `name` is a C++ program and g++ is
/// missing.
fn no_compiler_for(name: &str) -> bool {
    if name.ends_with(".cpp") && !cxx_available() {
        record_skip(&format!("{name}: g++ is not installed"));
        return true;
    }
    false
}

#[test]
fn cpp_object_from_new() {
    let name = "auto_cpp_new.cpp";
    if no_compiler_for(name) {
        return;
    }
    check_auto_racy(name, "a", "b", "started\nresult=progress 3\n");
}

/// The racy programs, with their native stdout.
const RACY: &[(&str, &str)] = &[
    ("auto_lock_forgotten", "started\nresult=ok\n"),
    ("auto_two_locks", "started\nresult=account 7\n"),
    ("auto_flag", "started\nresult=500,1\n"),
    ("auto_handoff_nosync", "started\nresult=367200\n"),
    ("auto_queue_use_after", "started\nresult=79800\n"),
    ("auto_write_during_reads", "started\nresult=10,1800\n"),
    ("auto_cpp_new.cpp", "started\nresult=progress 3\n"),
];

// --- auto mode is off by default ------------------------------------------

/// Without `--auto` / `auto=1`, an unannotated program tracks nothing:
/// the racy programs exit 0 with their native stdout and no report.
#[test]
fn racy_programs_without_auto_report_nothing() {
    for (name, stdout) in RACY {
        if no_compiler_for(name) {
            continue;
        }
        check_auto_off(name, stdout);
    }
}

// --- the report's shape -------------------------------------------------------

/// The text report of auto mode: the object line says the object is
/// watched by `--auto`, and both accesses are inside the object (the
/// `offset N in object 0x...` of the access line).
#[test]
fn text_report_names_auto_mode_and_the_object() {
    let name = "auto_lock_forgotten";
    let bin = compile_c(name);
    require_pku!();
    let file = c_file_name(name);
    let (a, b) = (marker_line(name, "a"), marker_line(name, "b"));
    let alloc = line_containing(name, ALLOC_MARKER);
    let r = run_auto(Mode::Cli, &bin, None);
    assert_exit_code(&r, RACE_EXIT);
    let report = assert_auto_race(&r, &file, a, b, alloc);
    let text = report.text();
    let object = report.object_line().unwrap_or_default();
    assert!(object.contains("watched by --auto"), "{text}");
    let access = report.access_line.as_deref().unwrap_or_default();
    let base = object.split_whitespace().nth(1).unwrap_or("?");
    assert!(
        access.contains(&format!("in object {base})")),
        "the access line names the object of the `Object` line\n{text}"
    );
    let previous = report.previous.as_ref().expect("previous access");
    assert!(
        previous.line.contains("by thread T") && previous.line.contains("(tid "),
        "{text}"
    );
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn frame_at(frame: &Value, file: &str, line: u32) -> bool {
    frame["line"] == line
        && frame["file"]
            .as_str()
            .is_some_and(|f| f == file || f.ends_with(&format!("/{file}")))
}

/// `report_format=json`: the report object has `previous_access` with
/// `write`, `address` (the access's), `thread` and `stack`; the two stacks
/// start at the two marked lines, in either order.
#[test]
fn json_report_has_the_previous_access() {
    let name = "auto_lock_forgotten";
    let bin = compile_c(name);
    require_pku!();
    let file = c_file_name(name);
    let (a, b) = (marker_line(name, "a"), marker_line(name, "b"));
    for mode in MODES {
        let r = run_auto_with(
            mode,
            &bin,
            None,
            "report_format=json",
            &["--report-format", "json"],
        );
        assert_exit_code(&r, RACE_EXIT);
        assert!(
            !r.stderr.contains("WARNING: PUSh:"),
            "text in JSON mode\n{r}"
        );
        let lines = json_lines(&r.stderr);
        let races: Vec<&Value> = lines.iter().filter(|v| v["kind"] == "data race").collect();
        let rep = races
            .iter()
            .find(|v| {
                let (acc, prev) = (&v["access"]["stack"][0], &v["previous_access"]["stack"][0]);
                (frame_at(acc, &file, a) && frame_at(prev, &file, b))
                    || (frame_at(acc, &file, b) && frame_at(prev, &file, a))
            })
            .unwrap_or_else(|| {
                panic!("no data race between {file}:{a} and {file}:{b} ({mode:?})\n{r}")
            });
        let prev = &rep["previous_access"];
        assert!(prev["write"].is_boolean(), "{rep}");
        assert!(
            prev["address"]
                .as_str()
                .is_some_and(|s| s.starts_with("0x")),
            "{rep}"
        );
        assert_eq!(prev["address"], rep["access"]["address"], "{rep}");
        assert!(prev["thread"]["id"].is_u64(), "{rep}");
        assert_ne!(prev["thread"]["id"], rep["access"]["thread"]["id"], "{rep}");
        assert!(
            prev["stack"][0]["pc"]
                .as_str()
                .is_some_and(|pc| pc.starts_with("0x")),
            "{rep}"
        );
        assert!(
            prev["write"] == true || rep["access"]["type"] == "write",
            "{rep}"
        );
    }
}

// --- race-free: no report, same stdout, every seed ------------------------------

fn clean(name: &str, expected_stdout: &str) {
    check_auto_clean(name, expected_stdout, auto_seed_count());
}

#[test]
fn clean_allocation_churn_with_frees_by_other_threads() {
    // Small objects of every class allocated, stamped, checked and freed in
    // a loop by 4 threads (slots reused through the threads' slot caches),
    // a third of them freed by the next thread: no two live objects may
    // share memory, and nothing is reported.
    clean("auto_clean_alloc_churn", "started\nresult=16000,0\n");
}

#[test]
fn clean_hand_rolled_spinlock_with_plain_atomic_loads_and_stores() {
    // xchg to take it, relaxed loads to wait, a release store (a plain
    // mov) to give it back: the word is an atomic variable, never a race.
    clean("auto_clean_spin_flag", "started\nresult=6\n");
}

#[test]
fn clean_ioctl_and_getdents_on_memory_another_thread_wrote() {
    // FIONREAD has no size in its number (the object is opened for the
    // call); getdents64's buffer is prepared like read's.
    clean("auto_clean_ioctl", "started\nresult=5,1\n");
}

#[test]
fn clean_atomic_read_modify_writes() {
    check_auto_clean(
        "auto_clean_atomics",
        "started\nresult=6000,12000\n",
        auto_seed_count(),
    );
}

#[test]
fn clean_system_calls_on_memory_other_threads_allocated_or_wrote() {
    check_auto_clean(
        "auto_clean_syscalls",
        "started\nfailed=0 ready=1 got=20 in=hello over a socket wrote=1 cwd=1 stat=1\n",
        auto_seed_count(),
    );
}

#[test]
fn clean_other_system_calls_on_memory_another_thread_wrote() {
    // getrandom, syscall, getrusage, uname, sysinfo, getrlimit,
    // sched_getaffinity, prctl, statfs, waitpid.
    check_auto_clean(
        "auto_clean_kernel_calls",
        "started\nresult=10\n",
        auto_seed_count(),
    );
}

#[test]
fn clean_mutex() {
    clean("auto_clean_mutex", "started\nresult=4000,999\n");
}

#[test]
fn clean_rwlock() {
    clean("auto_clean_rwlock", "started\nresult=300,300,torn=0\n");
}

#[test]
fn clean_spinlock() {
    clean("auto_clean_spin", "started\nresult=3000,1498500\n");
}

#[test]
fn clean_condvar_handshake() {
    clean("auto_clean_cond", "started\nresult=89700\n");
}

#[test]
fn clean_barrier_phases() {
    clean(
        "auto_clean_barrier",
        "started\nresult=11936400,11928400,11920400,11912400\n",
    );
}

#[test]
fn clean_semaphores() {
    clean("auto_clean_sem", "started\nresult=249500,-1\n");
}

#[test]
fn clean_once() {
    clean("auto_clean_once", "started\nresult=17068800,3969\n");
}

#[test]
fn clean_queue_handoff_and_free() {
    clean("auto_clean_queue", "started\nresult=332334000,0\n");
}

#[test]
fn clean_per_thread_slots() {
    clean("auto_clean_slots", "started\nresult=1000,2000,3000,4000\n");
}

#[test]
fn clean_read_mostly() {
    clean("auto_clean_readmostly", "started\nresult=76200\n");
}

#[test]
fn clean_init_before_create() {
    clean("auto_clean_init_create", "started\nresult=79800\n");
}

#[test]
fn clean_result_read_after_join() {
    clean("auto_clean_join", "started\nresult=94240\n");
}

// --- real, unmodified binaries ---------------------------------------------

/// Deterministic, compressible text of about `len` bytes.
fn sample_text(len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "protection",
        "key",
        "race",
        "thread",
        "lock",
        "object",
        "policy",
        "owner",
        "fault",
        "happens",
        "before",
        "window",
        "domain",
        "heap",
        "watch",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(WORDS[(state % WORDS.len() as u64) as usize].as_bytes());
        out.push(if state.is_multiple_of(11) {
            b'\n'
        } else {
            b' '
        });
        if state.is_multiple_of(5) {
            out.extend_from_slice(format!("{}", state % 100_000).as_bytes());
        }
    }
    out
}

/// A multi-threaded compressor installed on this machine, run under
/// `push run --auto` through `sh -c` (for the redirections): it compresses
/// and decompresses a generated file to the same bytes as natively, with
/// no report and exit 0. `compress`/`decompress` use `IN`, `OUT` and
/// `BACK` as placeholders.
fn roundtrip_under_auto(tool: &str, compress: &str, decompress: &str) {
    if !std::path::Path::new(&format!("/usr/bin/{tool}")).exists() {
        record_skip(&format!("{tool} is not installed (apt-get install {tool})"));
        return;
    }
    require_pku!();
    let dir = target_dir().join("auto-tools").join(tool);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("input.txt");
    let len = if under_emulation() { 1 << 20 } else { 4 << 20 };
    std::fs::write(&input, sample_text(len)).unwrap();
    let script = |tag: &str| {
        let out = dir.join(format!("{tag}.z"));
        let back = dir.join(format!("{tag}.back"));
        let fill = |s: &str| {
            s.replace("IN", input.to_str().unwrap())
                .replace("OUT", out.to_str().unwrap())
                .replace("BACK", back.to_str().unwrap())
        };
        (
            format!("{} && {}", fill(compress), fill(decompress)),
            out,
            back,
        )
    };
    let (native_script, native_out, _) = script("native");
    let native = std::process::Command::new("/bin/sh")
        .args(["-c", &native_script])
        .status()
        .unwrap();
    assert!(native.success(), "{tool} natively: {native}");
    let (push_script, push_out, push_back) = script("push");
    let r = run_cli_args(
        std::path::Path::new("/bin/sh"),
        &["--auto"],
        &[],
        &["-c", &push_script],
    );
    assert_eq!(r.code, Some(0), "{tool} under push run --auto: {r:?}");
    assert!(
        r.reports_of(DATA_RACE).is_empty() && !r.stderr.contains("WARNING: PUSh"),
        "{tool} under push run --auto reported: {}",
        r.stderr
    );
    assert_eq!(
        std::fs::read(&push_out).unwrap(),
        std::fs::read(&native_out).unwrap(),
        "{tool}: compressed bytes differ from the native run's"
    );
    assert!(
        std::fs::read(&push_back).unwrap() == std::fs::read(&input).unwrap(),
        "{tool}: decompressed bytes differ from the input"
    );
}

#[test]
fn xz_with_two_threads_round_trips_unchanged() {
    roundtrip_under_auto(
        "xz",
        "xz -T2 --block-size=262144 -c IN > OUT",
        "xz -T2 -dc OUT > BACK",
    );
}

#[test]
fn zstd_with_two_threads_round_trips_unchanged() {
    roundtrip_under_auto(
        "zstd",
        "zstd -q -T2 -B1048576 -c IN > OUT",
        "zstd -q -T2 -dc OUT > BACK",
    );
}

#[test]
fn pigz_with_two_threads_round_trips_unchanged() {
    roundtrip_under_auto(
        "pigz",
        "pigz -p 2 -b 128 -n -c IN > OUT",
        "pigz -p 2 -dc OUT > BACK",
    );
}

#[test]
fn gzip_round_trips_unchanged() {
    roundtrip_under_auto("gzip", "gzip -n -c IN > OUT", "gzip -dc OUT > BACK");
}

// --- sampling ------------------------------------------------------------------

/// The `watched=N` of the `auto:` statistics line (`verbose=1`).
fn watched_count(r: &RunResult) -> u64 {
    r.stderr
        .lines()
        .find_map(|l| l.split("auto: watched=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no auto statistics line\n{r}"))
}

#[test]
fn sample_watches_about_that_share_of_allocations() {
    let expected = "started\nresult=7998000\n";
    let bin = check_native("auto_clean_many_allocs", expected);
    require_pku!();
    let all = run_preload(&bin, "auto=1:verbose=1:seed=3");
    assert_clean_stdout(&all, expected);
    let all_watched = watched_count(&all);
    assert!(
        all_watched >= 4000,
        "sample=1 watches every allocation: {all_watched}\n{all}"
    );
    for seed in [3, 4] {
        let r = run_preload(&bin, &format!("auto=1:verbose=1:sample=0.25:seed={seed}"));
        assert_clean_stdout(&r, expected);
        let n = watched_count(&r);
        assert!(
            (700..=1300).contains(&n),
            "sample=0.25 with seed {seed} watched {n} of about 4000 allocations\n{r}"
        );
    }
}

fn assert_clean_stdout(r: &RunResult, expected: &str) {
    assert!(
        !r.stderr.contains("WARNING: PUSh:"),
        "expected no report\n{r}"
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.stdout, expected, "{r}");
}

#[test]
fn summary_counts_objects_no_longer_watched() {
    // Two threads alternating on one field under two locks: the object
    // changes hands until the mode stops watching it; the SUMMARY says how
    // many objects it gave up, as the statistics line does.
    let bin = check_native("auto_two_locks", "started\nresult=account 7\n");
    require_pku!();
    let r = run_cli_args(&bin, &["--auto", "--verbose", "1"], &[], &[]);
    assert_eq!(r.code, Some(66), "{r}");
    let given_up: u64 = r
        .stderr
        .lines()
        .find_map(|l| l.split("given_up=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no auto statistics line\n{r}"));
    let summary = r
        .stderr
        .lines()
        .find(|l| l.starts_with("SUMMARY: PUSh:"))
        .unwrap_or_else(|| panic!("no SUMMARY\n{r}"));
    // The fault budget may also have parked objects (slow faults, as in
    // the QEMU guest): its `, checking paused ...` comes last.
    let summary = summary
        .split(", checking paused ")
        .next()
        .unwrap_or(summary);
    match given_up {
        0 => assert!(!summary.contains("no longer watched"), "{summary}"),
        1 => assert!(
            summary.ends_with(", 1 object no longer watched (shared too finely)"),
            "{summary}"
        ),
        n => assert!(
            summary.ends_with(&format!(
                ", {n} objects no longer watched (shared too finely)"
            )),
            "{summary}"
        ),
    }
}
